"""Monthly statistics for the city's IP bureau (docs/rules.md section 13, rule R; the seed's measure 24): for
a month and cumulatively since the fund began, and at the month's end.

Definitions (where docs/rules.md is silent, the project's reading):

* A loan counts in the month of its **drawdown** (the lending the bureau follows; the registration
  date is the system's), under its bank, its borrower's sector and district as its bank reported
  them, and the IP kind of its most valuable pledged asset (highest appraised value, then the lowest
  asset id, as in M1). Cancelled loans are left out (a cancelled loan never lent). ``covered_fen`` is C.
* **Enterprises served**: distinct borrowers of the counted loans with ``C > 0``.
* **Claims**: filed by filing date (the loss claimed); approved by decision date (the fund's share);
  rejected by decision date (the loss claimed).
* **Paid** means instructed: money that left a pool's cash in the period (at approval or a run,
  and when an inflow settled a deferral), with the part the custodian has confirmed beside it;
  **deferred** is what is still owed from the deferrals at the period's end.
* **Subsidies**: a run is granted in its month; its interest part is ``total - fee_total``, its fee
  part (S6) ``fee_total``. Its lines take its money interest first, fee lines last, so what it had
  paid by a date splits by ``fund.domain.subsidy.split_paid`` and what it still owes is owed on the fee
  lines first. Confirmed: an enterprise's instruction pays its interest and fee lines together; its
  fee part is what its slice of the run's money puts on the enterprise's fee lines.
* Month-end figures (pools, leverage, past due) are computed from dated records, not from current
  statuses: a loan is *live* at the month's end when it was drawn by then, is not cancelled, had no
  claim approved by then, and some installment was not paid in full by then. Past due: live loans
  with an installment due before the month's last day ``d`` and not paid in full by ``d``, by
  ``d - m`` (``m`` the earliest such due date, as in A1): 1-30, 31-90, 91-365, over 365 days, with
  the principal outstanding at ``d``.
* Leverage: C of loans live at the month's end / appropriations to the compensation pool dated by then,
  less their reversals (``fund.services.ledger.appropriated_fen``'s reading, dated).

Every figure is a grouped SQL query; Python only files the grouped rows. Lending and claims give the
month and the cumulative figures in one query each (conditional sums); leverage and the past-due
buckets come from one query over the loans live at the month's end, which reads what each installment
had been paid by then as its running paid columns corrected by the few repayments paid later (and the
reversed ones), instead of summing every repayment of the book (``_loans_at``).

>>> # with unit_of_work(factory) as session:
>>> #     stats = monthly_statistics(session, actor, "2026-09"); stats.month.lending.total.covered_fen
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from sqlalchemy import and_, case, func, literal_column, or_, select, union_all
from sqlalchemy.orm import Session

from fund.adapters.models.claims import Claim, ClaimRecovery
from fund.adapters.models.ledger import Deferral, DeferralSettlement, JournalEntry, Posting
from fund.adapters.models.people import RepaymentReversal
from fund.adapters.models.registry import Installment, Institution, IpAsset, Loan, LoanAsset, Repayment
from fund.adapters.models.subsidies import SubsidyRun
from fund.domain.dates import month_bounds
from fund.errors import DomainError, Forbidden

FUND_BEGAN = dt.date(1900, 1, 1)  # "since the fund began": every dated record counts
PAST_DUE_BUCKETS = (("1-30", 1, 30), ("31-90", 31, 90), ("91-365", 91, 365), ("over 365", 366, None))
POOLS = ("compensation", "subsidy")


@dataclass(frozen=True)
class Lent:
    """Loans and their principal and covered principal C."""

    loans: int = 0
    principal_fen: int = 0
    covered_fen: int = 0


@dataclass(frozen=True)
class Lending:
    total: Lent
    by_bank: dict[str, Lent]
    by_sector: dict[str, Lent]
    by_district: dict[str, Lent]
    by_ip_kind: dict[str, Lent]
    enterprises_served: int


@dataclass(frozen=True)
class Counted:
    count: int = 0
    amount_fen: int = 0


@dataclass(frozen=True)
class Claims:
    filed: Counted  # the loss claimed
    approved: Counted  # the fund's approved share
    rejected: Counted  # the loss claimed


@dataclass(frozen=True)
class Paid:
    """What a pool owed for a cause: ``paid_fen`` instructed (left cash) in the period, of which
    ``confirmed_fen`` confirmed by the custodian; ``deferred_fen`` still owed at the period's end."""

    granted_fen: int = 0
    paid_fen: int = 0
    confirmed_fen: int = 0
    deferred_fen: int = 0


@dataclass(frozen=True)
class Recoveries:
    count: int = 0
    gross_fen: int = 0
    net_fen: int = 0
    fund_fen: int = 0


@dataclass(frozen=True)
class PeriodFigures:
    """One period's figures: the month, or everything up to its end."""

    start: dt.date
    end: dt.date
    lending: Lending
    claims: Claims
    compensation_by_bank: dict[str, Paid]
    compensation: Paid
    recoveries: Recoveries
    interest_subsidies: Paid
    fee_subsidies: Paid


@dataclass(frozen=True)
class PoolAtEnd:
    cash_fen: int
    in_transit_fen: int
    deferred_fen: int
    payable_fen: int


@dataclass(frozen=True)
class PastDue:
    loans: int = 0
    outstanding_fen: int = 0


@dataclass(frozen=True)
class Leverage:
    live_covered_fen: int
    appropriated_fen: int

    @property
    def ratio_e4(self) -> int | None:
        """Leverage times 10^4, floored (None before any appropriation)."""
        return None if not self.appropriated_fen else self.live_covered_fen * 10_000 // self.appropriated_fen

    def text(self) -> str:
        """``12.34x`` (floored to two decimals) or ``-``."""
        r = self.ratio_e4
        return "-" if r is None else f"{r // 10_000:,}.{r % 10_000 // 100:02d}x"


@dataclass(frozen=True)
class MonthlyStatistics:
    """The month's statistics (docs/rules.md section 13): ``month`` and ``cumulative`` periods, and month-end figures."""

    month_key: str
    business_date: dt.date
    month: PeriodFigures
    cumulative: PeriodFigures
    pools: dict[str, PoolAtEnd]
    leverage: Leverage
    past_due: dict[str, PastDue]
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict:
        """JSON-ready (amounts in fen, dates ISO)."""
        data = asdict(self)
        data["leverage"]["ratio_e4"] = self.leverage.ratio_e4
        data["this_month"] = data.pop("month")
        data["month"] = data.pop("month_key")
        return _iso(data)


def _iso(value):
    if isinstance(value, dict):
        return {k: _iso(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_iso(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def monthly_statistics(session: Session, actor, month: str) -> MonthlyStatistics:
    """The statistics of ``month`` (``YYYY-MM``), read as of the business date; the fund manager and
    auditors read them."""
    from fund.services.common import business_date

    if actor.kind not in ("fund_manager", "auditor"):
        raise Forbidden("forbidden", "only the fund manager and auditors read the monthly statistics")
    try:
        first, last = month_bounds(month)
    except ValueError as exc:
        raise DomainError("invalid_month", str(exc), field="month") from None
    today = business_date(session)
    if first > today:
        raise DomainError("month_after_business_date", f"month {month} starts after the business date {today}", field="month")
    end = min(last, today)
    balances = _balances_at(session, end)
    leverage, past_due = _month_end_loans(session, end)
    return MonthlyStatistics(
        month, today, *_periods(session, first, end, month),
        {pool: _pool_at(balances, pool) for pool in POOLS}, leverage, past_due,
    )


# ---- one period -----------------------------------------------------------------------------------


def _periods(session: Session, first: dt.date, end: dt.date, month: str) -> tuple[PeriodFigures, PeriodFigures]:
    """The month (``first`` to ``end``) and everything up to ``end``: each group of figures for both
    periods in one pass (conditional sums in SQL, or one read split in Python)."""
    lending = _lending(session, first, end)
    claims = _claims(session, first, end)
    compensation = _compensation_by_bank(session, first, end)
    recoveries = _recoveries(session, first, end)
    subsidies = _subsidies(session, first, end, month)
    return tuple(
        PeriodFigures(start, end, lending[k], claims[k], compensation[k], _sum_paid(compensation[k].values()), recoveries[k],
                      *subsidies[k])
        for k, start in enumerate((first, FUND_BEGAN))
    )


def _sum_paid(items: Iterable[Paid]) -> Paid:
    items = list(items)
    return Paid(sum(p.granted_fen for p in items), sum(p.paid_fen for p in items), sum(p.confirmed_fen for p in items),
                sum(p.deferred_fen for p in items))


def _top_asset_kind():
    """Per loan, the kind of its most valuable asset (highest appraised value, then lowest id)."""
    rank = func.row_number().over(partition_by=LoanAsset.loan_id,
                                  order_by=(IpAsset.appraised_value_fen.desc(), IpAsset.id)).label("rank")
    ranked = (select(LoanAsset.loan_id.label("loan_id"), IpAsset.kind.label("kind"), rank)
              .join(IpAsset, IpAsset.id == LoanAsset.asset_id).subquery("ranked_assets"))
    return select(ranked.c.loan_id, ranked.c.kind).where(ranked.c.rank == 1).subquery("top_asset")


LENDING_GROUPS = ("by_bank", "by_sector", "by_district", "by_ip_kind")


def _lending(session: Session, first: dt.date, end: dt.date) -> tuple[Lending, Lending]:
    """Lending of the month (drawn from ``first`` to ``end``) and cumulative (drawn by ``end``), by
    bank, sector, district and IP kind: one statement, each breakdown grouped in SQL, the month's
    figures as conditional sums beside the cumulative ones."""
    top = _top_asset_kind()
    in_month = Loan.drawdown_date >= first
    drawn = (Loan.drawdown_date.between(FUND_BEGAN, end), Loan.status != "cancelled")
    figures = (func.sum(case((in_month, 1), else_=0)), func.sum(case((in_month, Loan.principal_fen), else_=0)),
               func.sum(case((in_month, Loan.covered_fen), else_=0)),
               func.count(Loan.id), func.sum(Loan.principal_fen), func.sum(Loan.covered_fen))
    kind = func.coalesce(top.c.kind, literal_column("'none'"))  # no bound parameter: GROUP BY must repeat it exactly
    parts = []
    for group, key in zip(LENDING_GROUPS, (Institution.code, Loan.borrower_sector, Loan.borrower_district, kind)):
        stmt = (select(literal_column(f"'{group}'").label("grouping"), key.label("name"), *figures)
                .join(Institution, Institution.id == Loan.bank_id))
        if group == "by_ip_kind":
            stmt = stmt.outerjoin(top, top.c.loan_id == Loan.id)
        parts.append(stmt.where(*drawn).group_by(key))
    maps: dict[str, tuple[dict[str, Lent], dict[str, Lent]]] = {group: ({}, {}) for group in LENDING_GROUPS}
    for group, name, m_loans, m_principal, m_covered, loans, principal, covered in session.execute(union_all(*parts)).all():
        month_map, cumulative_map = maps[group]
        if m_loans:
            month_map[name] = Lent(int(m_loans), int(m_principal or 0), int(m_covered or 0))
        cumulative_map[name] = Lent(int(loans), int(principal or 0), int(covered or 0))
    month_served, served = session.execute(
        select(func.count(func.distinct(case((in_month, Loan.enterprise_id), else_=None))), func.count(func.distinct(Loan.enterprise_id)))
        .where(*drawn, Loan.covered_fen > 0)
    ).one()
    out = []
    for index, count in enumerate((month_served, served)):
        groups = [dict(sorted(maps[group][index].items())) for group in LENDING_GROUPS]
        banks = groups[0].values()
        total = Lent(sum(v.loans for v in banks), sum(v.principal_fen for v in banks), sum(v.covered_fen for v in banks))
        out.append(Lending(total, *groups, int(count or 0)))
    return out[0], out[1]


def _claims(session: Session, first: dt.date, end: dt.date) -> tuple[Claims, Claims]:
    """Claims of the month and cumulative: filed by filing date (the loss), approved by decision date
    (the fund's share), rejected by decision date (the loss); one query."""
    filed = Claim.filed_on.between(FUND_BEGAN, end)
    decided = Claim.decided_on.between(FUND_BEGAN, end)
    row = session.execute(select(
        *_both(filed, Claim.filed_on >= first, Claim.loss_fen),
        *_both(and_(Claim.fund_fen.is_not(None), decided), Claim.decided_on >= first, Claim.fund_fen),
        *_both(and_(Claim.status == "rejected", decided), Claim.decided_on >= first, Claim.loss_fen),
    )).one()
    v = [int(x or 0) for x in row]
    month = Claims(Counted(v[0], v[1]), Counted(v[4], v[5]), Counted(v[8], v[9]))
    cumulative = Claims(Counted(v[2], v[3]), Counted(v[6], v[7]), Counted(v[10], v[11]))
    return month, cumulative


def _both(when, in_month, amount):
    """(count, sum) in the month and (count, sum) in all, of the rows matching ``when``."""
    month = and_(when, in_month)
    return (func.sum(case((month, 1), else_=0)), func.sum(case((month, amount), else_=0)),
            func.sum(case((when, 1), else_=0)), func.sum(case((when, amount), else_=0)))


def _cash_out(session: Session, pool: str, first: dt.date, end: dt.date, direct_ref: str) -> tuple[dict[int, int], dict[int, int]]:
    """Per ref id, money that left the pool's cash for a cause in the month (from ``first``) and up to
    ``end``: credits to cash by the cause's own entries (``ref_type == direct_ref``) and by
    settlements of its deferrals."""
    cash = f"pool:{pool}:cash"
    in_month = JournalEntry.business_date >= first
    direct = session.execute(
        select(JournalEntry.ref_id, -func.sum(case((in_month, Posting.amount_fen), else_=0)), -func.sum(Posting.amount_fen))
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .where(JournalEntry.ref_type == direct_ref, JournalEntry.cause != "recovery", Posting.account_code == cash,
               Posting.amount_fen < 0, JournalEntry.business_date.between(FUND_BEGAN, end))
        .group_by(JournalEntry.ref_id)
    ).all()
    settled = session.execute(
        select(Deferral.ref_id, func.sum(case((in_month, DeferralSettlement.amount_fen), else_=0)), func.sum(DeferralSettlement.amount_fen))
        .join(DeferralSettlement, DeferralSettlement.deferral_id == Deferral.id)
        .join(JournalEntry, JournalEntry.id == DeferralSettlement.entry_id)
        .where(Deferral.pool == pool, Deferral.ref_type == direct_ref, JournalEntry.business_date.between(FUND_BEGAN, end))
        .group_by(Deferral.ref_id)
    ).all()
    month: dict[int, int] = {}
    cumulative: dict[int, int] = {}
    for ref_id, in_the_month, in_all in [*direct, *settled]:
        month[ref_id] = month.get(ref_id, 0) + int(in_the_month or 0)
        cumulative[ref_id] = cumulative.get(ref_id, 0) + int(in_all or 0)
    return month, cumulative


def _open_deferred(session: Session, pool: str, ref_type: str, end: dt.date) -> dict[int, int]:
    """Per ref id, what its deferrals still owed at ``end`` (deferred by then, less settlements by then)."""
    settled = (
        select(DeferralSettlement.deferral_id, func.sum(DeferralSettlement.amount_fen).label("fen"))
        .join(JournalEntry, JournalEntry.id == DeferralSettlement.entry_id)
        .where(JournalEntry.business_date <= end)
        .group_by(DeferralSettlement.deferral_id).subquery("settled_by_end")
    )
    rows = session.execute(
        select(Deferral.ref_id, func.sum(Deferral.amount_fen - func.coalesce(settled.c.fen, 0)))
        .outerjoin(settled, settled.c.deferral_id == Deferral.id)
        .where(Deferral.pool == pool, Deferral.ref_type == ref_type, Deferral.business_date <= end)
        .group_by(Deferral.ref_id)
    ).all()
    return {ref_id: int(fen or 0) for ref_id, fen in rows}


def _confirmed(session: Session, pool: str, ref_type: str, start: dt.date, end: dt.date) -> dict[int, int]:
    """Per ref id, the payments of the period the custodian confirmed (none before payment instructions exist)."""
    try:
        from fund.services.payments import confirmed_by_ref
    except ImportError:
        return {}
    return confirmed_by_ref(session, pool, ref_type, start, end)


def _compensation_by_bank(session: Session, first: dt.date, end: dt.date) -> tuple[dict[str, Paid], dict[str, Paid]]:
    claims = session.execute(select(Claim.id, Institution.code, Claim.fund_fen, Claim.decided_on)
                             .join(Institution, Institution.id == Claim.bank_id)).all()
    bank_of = {claim_id: code for claim_id, code, _, _ in claims}
    granted = [{}, {}]
    for claim_id, _, fund_fen, decided_on in claims:
        if fund_fen is not None and decided_on is not None and FUND_BEGAN <= decided_on <= end:
            if decided_on >= first:
                granted[0][claim_id] = fund_fen
            granted[1][claim_id] = fund_fen
    paid = _cash_out(session, "compensation", first, end, "claim")
    deferred = _open_deferred(session, "compensation", "claim", end)  # at the end: the same for both periods
    out = []
    for k, start in enumerate((first, FUND_BEGAN)):
        confirmed = _confirmed(session, "compensation", "claim", start, end)
        by_bank: dict[str, list[int]] = {}
        for source, slot in ((granted[k], 0), (paid[k], 1), (confirmed, 2), (deferred, 3)):
            for claim_id, fen in source.items():
                if fen:
                    by_bank.setdefault(bank_of.get(claim_id, "?"), [0, 0, 0, 0])[slot] += int(fen)
        out.append({code: Paid(*v) for code, v in sorted(by_bank.items())})
    return out[0], out[1]


def _recoveries(session: Session, first: dt.date, end: dt.date) -> tuple[Recoveries, Recoveries]:
    r = ClaimRecovery
    in_month = r.business_date >= first
    row = session.execute(
        select(*[func.sum(case((in_month, column), else_=0)) for column in (literal_column("1"), r.gross_fen, r.net_fen, r.fund_fen)],
               func.count(r.id), func.sum(r.gross_fen), func.sum(r.net_fen), func.sum(r.fund_fen))
        .where(r.business_date.between(FUND_BEGAN, end))
    ).one()
    v = [int(x or 0) for x in row]
    return Recoveries(*v[:4]), Recoveries(*v[4:])


def _subsidies(session: Session, first: dt.date, end: dt.date, month: str) -> tuple[tuple[Paid, Paid], tuple[Paid, Paid]]:
    """(interest, fee) subsidies of the month and cumulative. A run's lines take its money in one
    order, its interest lines first, then its fee lines (S6): what a run had paid by a date splits
    between the two parts by ``fund.domain.subsidy.split_paid``, and so does what it still owed."""
    runs = {run_id: (month_key, int(total), int(fee or 0)) for run_id, month_key, total, fee in session.execute(
        select(SubsidyRun.id, SubsidyRun.month, SubsidyRun.total_fen, SubsidyRun.fee_total_fen))}
    paid = _cash_out(session, "subsidy", first, end, "subsidy_run")
    deferred = _open_deferred(session, "subsidy", "subsidy_run", end)
    out = []
    for k, start in enumerate((first, FUND_BEGAN)):
        interest, fee = [0, 0, 0, 0], [0, 0, 0, 0]  # granted, paid, confirmed, deferred
        for run_id, (month_key, total, fee_total) in runs.items():
            if month_key <= month and (k == 1 or month_key >= month):  # granted in the run's month
                interest[0] += total - fee_total
                fee[0] += fee_total
        for run_id in set(paid[k]) | set(deferred):
            _, total, fee_total = runs.get(run_id, (None, 0, 0))
            through_end = paid[1].get(run_id, 0)  # paid by the period's end ...
            before = through_end - paid[k].get(run_id, 0)  # ... and before its start
            now_interest, now_fee = _split(total, fee_total, through_end)
            then_interest, then_fee = _split(total, fee_total, before)
            interest[1] += now_interest - then_interest
            fee[1] += now_fee - then_fee
            owed = deferred.get(run_id, 0)  # owed at the end: the fee lines are paid last, so they are owed first
            fee_owed = min(owed, fee_total)
            interest[3] += owed - fee_owed
            fee[3] += fee_owed
        confirmed = sum(_confirmed(session, "subsidy", "subsidy_run", start, end).values())
        fee[2] = _fee_confirmed(session, {i: r for i, r in runs.items() if r[2]}, start, end)
        interest[2] = confirmed - fee[2]
        out.append((Paid(*interest), Paid(*fee)))
    return out[0], out[1]


def _split(total_fen: int, fee_total_fen: int, paid_fen: int) -> tuple[int, int]:
    from fund.domain.subsidy import split_paid

    return split_paid(total_fen - fee_total_fen, fee_total_fen, paid_fen)


def _fee_confirmed(session: Session, runs: dict[int, tuple[str, int, int]], start: dt.date, end: dt.date) -> int:
    """The fee lines' part of the subsidy payments of the period the custodian confirmed (the same
    instructions as ``_confirmed``). A run's money is paid to each enterprise in one instruction for its
    interest and fee lines together; the fee part of an instruction is what the instruction's slice of
    the run's money (``[0, paid at the run)`` for the run's own, ``[paid at the run + settled before,
    ... + this settlement)`` for a deferral's settlement) puts on that enterprise's fee lines."""
    if not runs:
        return 0
    from fund.adapters.models.payments import PaymentInstruction as P
    from fund.services.subsidies import fee_parts

    confirmed = (P.pool == "subsidy", P.payee_type == "enterprise", P.status == "confirmed", P.instructed_on.between(start, end),
                 P.settled_on <= end)
    at_run = dict(session.execute(select(SubsidyRun.id, SubsidyRun.paid_fen).where(SubsidyRun.id.in_(list(runs)))).all())
    slices: dict[tuple[int, int, int], list[tuple[int, int]]] = {}  # (run, low, high) -> [(enterprise, fen)]
    for run_id, enterprise_id, fen in session.execute(
            select(P.source_id, P.payee_id, P.amount_fen).where(P.source_type == "subsidy_run", P.source_id.in_(list(runs)), *confirmed)):
        slices.setdefault((run_id, 0, int(at_run[run_id])), []).append((enterprise_id, int(fen)))
    settled = session.execute(
        select(P.entry_id, P.payee_id, P.amount_fen, Deferral.id, Deferral.ref_id).join(Deferral, Deferral.id == P.source_id)
        .where(P.source_type == "deferral", Deferral.ref_type == "subsidy_run", Deferral.ref_id.in_(list(runs)), *confirmed)).all()
    if settled:
        offsets: dict[tuple[int, int], tuple[int, int]] = {}  # (deferral, settlement entry) -> slice of the deferral
        for deferral_id in {row[3] for row in settled}:
            before = 0
            for entry_id, fen in session.execute(select(DeferralSettlement.entry_id, DeferralSettlement.amount_fen)
                                                 .where(DeferralSettlement.deferral_id == deferral_id).order_by(DeferralSettlement.id)):
                offsets[(deferral_id, entry_id)] = (before, before + int(fen))
                before += int(fen)
        for entry_id, enterprise_id, fen, deferral_id, run_id in settled:
            low, high = offsets[(deferral_id, entry_id)]
            paid_at_run = int(at_run[run_id])
            slices.setdefault((run_id, paid_at_run + low, paid_at_run + high), []).append((enterprise_id, int(fen)))
    total = 0
    for (run_id, low, high), payments in slices.items():
        interest_fen = runs[run_id][1] - runs[run_id][2]
        if high <= interest_fen:
            continue
        parts = fee_parts(session, run_id, max(low, interest_fen), high)
        for enterprise_id, fen in payments:
            total += min(fen, parts.get(enterprise_id, 0))
    return total


# ---- at the month's end ---------------------------------------------------------------------------


def _balances_at(session: Session, end: dt.date) -> dict[str, int]:
    return {code: int(fen or 0) for code, fen in session.execute(
        select(Posting.account_code, func.sum(Posting.amount_fen))
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(JournalEntry.business_date <= end)
        .group_by(Posting.account_code)
    ).all()}


def _pool_at(b: dict[str, int], pool: str) -> PoolAtEnd:
    return PoolAtEnd(b.get(f"pool:{pool}:cash", 0), b.get(f"pool:{pool}:in_transit", 0),
                     -b.get(f"liability:{pool}_deferred", 0), -b.get(f"liability:{pool}_payable", 0))


def _paid_moves(end: dt.date):
    """Repayments that make what was paid by ``end`` differ from the running paid columns of the
    installments and loans (every repayment not reversed): those paid after ``end``, taken off. A
    reversed repayment was recorded in error (docs/rules.md section 3): it is in no column and paid
    nothing, in any month. Few for a recent month, and the date index finds them."""
    return (select(Repayment.installment_id, Repayment.loan_id, (-Repayment.principal_fen).label("principal_fen"),
                   (-Repayment.interest_fen).label("interest_fen"))
            .where(Repayment.paid_on > end, Repayment.id.not_in(select(RepaymentReversal.repayment_id)))
            .cte("paid_moves"))


def _loans_at(end: dt.date):
    """Per loan with an installment not paid in full by ``end``: the earliest due date before ``end``
    of such an installment (``earliest``, NULL when none) and the principal repaid by ``end``
    (``repaid_fen``). What was paid by ``end`` is the sum of the repayments paid by then, read as
    the running paid columns plus the moves of :func:`_paid_moves`."""
    moves = _paid_moves(end)
    by_installment = (select(moves.c.installment_id, func.sum(moves.c.principal_fen).label("principal_fen"),
                             func.sum(moves.c.interest_fen).label("interest_fen"))
                      .group_by(moves.c.installment_id).subquery("moved_by_installment"))
    by_loan = (select(moves.c.loan_id, func.sum(moves.c.principal_fen).label("principal_fen"))
               .group_by(moves.c.loan_id).subquery("moved_by_loan"))
    unpaid = or_(Installment.principal_paid_fen + func.coalesce(by_installment.c.principal_fen, 0) < Installment.principal_due_fen,
                 Installment.interest_paid_fen + func.coalesce(by_installment.c.interest_fen, 0) < Installment.interest_due_fen)
    maybe_unpaid = or_(Installment.principal_paid_fen < Installment.principal_due_fen,  # unpaid now, or moved
                       Installment.interest_paid_fen < Installment.interest_due_fen,
                       Installment.id.in_(select(moves.c.installment_id)))
    unpaid_loans = (
        select(Installment.loan_id,
               func.min(case((Installment.due_date < end, Installment.due_date), else_=None)).label("earliest"))
        .outerjoin(by_installment, by_installment.c.installment_id == Installment.id)
        .where(maybe_unpaid, unpaid)
        .group_by(Installment.loan_id).subquery("unpaid_loans")
    )
    return (
        select(unpaid_loans.c.loan_id, unpaid_loans.c.earliest,
               (Loan.principal_repaid_fen + func.coalesce(by_loan.c.principal_fen, 0)).label("repaid_fen"))
        .join(Loan, Loan.id == unpaid_loans.c.loan_id)
        .outerjoin(by_loan, by_loan.c.loan_id == unpaid_loans.c.loan_id)
        .subquery("loans_at_end")
    )


def _month_end_loans(session: Session, end: dt.date) -> tuple[Leverage, dict[str, PastDue]]:
    """Leverage and past-due buckets at ``end`` from one grouped query over the loans *live* then
    (drawn by ``end``, not cancelled, no claim approved by then, something unpaid by then)."""
    at = _loans_at(end)
    approved = select(Claim.loan_id).where(Claim.fund_fen.is_not(None), Claim.decided_on <= end)
    bucket = case(
        *[(at.c.earliest >= end - dt.timedelta(days=high), name) for name, low, high in PAST_DUE_BUCKETS if high is not None],
        (at.c.earliest.is_not(None), PAST_DUE_BUCKETS[-1][0]),
        else_=None,
    ).label("bucket")
    rows = session.execute(
        select(bucket, func.count(Loan.id), func.coalesce(func.sum(Loan.principal_fen - at.c.repaid_fen), 0),
               func.coalesce(func.sum(Loan.covered_fen), 0))
        .join(at, at.c.loan_id == Loan.id)
        .where(Loan.drawdown_date <= end, Loan.status != "cancelled", Loan.id.not_in(approved))
        .group_by(bucket)
    ).all()
    found = {name: PastDue(int(n), int(fen)) for name, n, fen, _ in rows if name is not None}
    covered = sum(int(c or 0) for *_, c in rows)
    appropriated = session.scalar(
        select(func.coalesce(func.sum(Posting.amount_fen), 0)).join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where((JournalEntry.cause == "appropriation") | ((JournalEntry.cause == "correction") & (JournalEntry.ref_type == "journal_entry")),
               Posting.account_code == "pool:compensation:cash", JournalEntry.business_date <= end)  # reversals net out, as in the ledger
    )
    return Leverage(covered, int(appropriated or 0)), {name: found.get(name, PastDue()) for name, _, _ in PAST_DUE_BUCKETS}


# ---- as a table (CLI, XLSX, CSV) ------------------------------------------------------------------

_LABELS = {
    "lending": ("贷款发放", "Loans drawn"), "covered": ("其中：覆盖本金", "of which covered principal"),
    "by_bank": ("按银行", "by bank"), "by_sector": ("按行业", "by sector"), "by_district": ("按区", "by district"),
    "by_ip_kind": ("按知识产权类型", "by IP kind"), "served": ("服务企业数", "Enterprises served"),
    "filed": ("理赔申请", "Claims filed"), "approved": ("理赔批准（基金分担）", "Claims approved (fund share)"),
    "rejected": ("理赔驳回", "Claims rejected"), "comp_granted": ("风险补偿：批准", "Compensation approved"),
    "comp_paid": ("风险补偿：已支付", "Compensation paid"), "comp_confirmed": ("风险补偿：托管行已确认", "Compensation confirmed"),
    "comp_deferred": ("风险补偿：递延（期末）", "Compensation deferred (at the end)"), "recoveries": ("追偿（净额）", "Recoveries (net)"),
    "recoveries_fund": ("追偿：基金部分", "Recoveries: the fund's part"), "sub_granted": ("贴息：核定", "Interest subsidies granted"),
    "sub_paid": ("贴息：已支付", "Interest subsidies paid"), "sub_confirmed": ("贴息：托管行已确认", "Interest subsidies confirmed"),
    "sub_deferred": ("贴息：递延（期末）", "Interest subsidies deferred (at the end)"),
    "fee_granted": ("费用补贴：核定", "Fee subsidies granted"), "fee_paid": ("费用补贴：已支付", "Fee subsidies paid"),
    "fee_confirmed": ("费用补贴：托管行已确认", "Fee subsidies confirmed"),
    "fee_deferred": ("费用补贴：递延（期末）", "Fee subsidies deferred (at the end)"),
    "month": ("本月", "month"), "cumulative": ("累计", "cumulative"), "month_end": ("月末", "month end"),
    "cash": ("现金", "cash"), "in_transit": ("在途", "in transit"), "deferred": ("递延负债", "deferred liability"),
    "payable": ("应付", "payable"), "pool": ("资金池", "pool"), "past_due": ("逾期贷款", "Loans past due"),
    "days": ("天", "days"), "leverage_covered": ("放大倍数：在贷覆盖本金", "Leverage: live covered principal"),
    "leverage_appropriated": ("放大倍数：补偿池拨款", "Leverage: appropriated to the compensation pool"),
    "leverage": ("放大倍数", "Leverage"),
}


def label(key: str, lang: str) -> str:
    return _LABELS[key][0 if lang == "zh" else 1]


def figure_rows(stats: MonthlyStatistics, lang: str = "zh") -> list[tuple[str, str, str, int | None, int | None]]:
    """The statistics as rows of (period, figure, breakdown, count, amount in fen): what the CLI
    table, the XLSX and the CSV show."""
    rows: list[tuple[str, str, str, int | None, int | None]] = []
    for key, period in (("month", stats.month), ("cumulative", stats.cumulative)):
        p = label(key, lang)
        lend = period.lending
        rows.append((p, label("lending", lang), "", lend.total.loans, lend.total.principal_fen))
        rows.append((p, label("covered", lang), "", None, lend.total.covered_fen))
        for group in ("by_bank", "by_sector", "by_district", "by_ip_kind"):
            for name, lent in getattr(lend, group).items():
                rows.append((p, f"{label('covered', lang)} {label(group, lang)}", name, lent.loans, lent.covered_fen))
        rows.append((p, label("served", lang), "", lend.enterprises_served, None))
        for name in ("filed", "approved", "rejected"):
            c = getattr(period.claims, name)
            rows.append((p, label(name, lang), "", c.count, c.amount_fen))
        for bank, paid in period.compensation_by_bank.items():
            rows += [(p, label("comp_granted", lang), bank, None, paid.granted_fen), (p, label("comp_paid", lang), bank, None, paid.paid_fen),
                     (p, label("comp_confirmed", lang), bank, None, paid.confirmed_fen),
                     (p, label("comp_deferred", lang), bank, None, paid.deferred_fen)]
        c = period.compensation
        rows += [(p, label("comp_granted", lang), "", None, c.granted_fen), (p, label("comp_paid", lang), "", None, c.paid_fen),
                 (p, label("comp_confirmed", lang), "", None, c.confirmed_fen), (p, label("comp_deferred", lang), "", None, c.deferred_fen)]
        r = period.recoveries
        rows += [(p, label("recoveries", lang), "", r.count, r.net_fen), (p, label("recoveries_fund", lang), "", None, r.fund_fen)]
        s = period.interest_subsidies
        rows += [(p, label("sub_granted", lang), "", None, s.granted_fen), (p, label("sub_paid", lang), "", None, s.paid_fen),
                 (p, label("sub_confirmed", lang), "", None, s.confirmed_fen), (p, label("sub_deferred", lang), "", None, s.deferred_fen)]
        f = period.fee_subsidies
        rows += [(p, label("fee_granted", lang), "", None, f.granted_fen), (p, label("fee_paid", lang), "", None, f.paid_fen),
                 (p, label("fee_confirmed", lang), "", None, f.confirmed_fen), (p, label("fee_deferred", lang), "", None, f.deferred_fen)]
    end = label("month_end", lang)
    for pool, at in stats.pools.items():
        for name in ("cash", "in_transit", "deferred", "payable"):
            rows.append((end, f"{label('pool', lang)} {pool}: {label(name, lang)}", "", None, getattr(at, name + "_fen")))
    rows += [(end, label("leverage_covered", lang), "", None, stats.leverage.live_covered_fen),
             (end, label("leverage_appropriated", lang), "", None, stats.leverage.appropriated_fen),
             (end, label("leverage", lang), stats.leverage.text(), None, None)]
    for bucket, due in stats.past_due.items():
        rows.append((end, label("past_due", lang), f"{bucket} {label('days', lang)}", due.loans, due.outstanding_fen))
    return rows
