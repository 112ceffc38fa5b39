"""The monthly interest-subsidy run (rule S4), its statements and its ledger check.

A run is set-based: two queries select the repayments S1 admits that no earlier run took, S2 and S3
run over those rows in memory (exact integers, one ``Fraction`` per distinct set of loan terms), and
the lines are written in bulk (``COPY`` on PostgreSQL, ``executemany`` on SQLite) inside the caller's
transaction together with the run row and its one journal entry. Nothing is committed here: a run
that dies before the caller commits leaves no trace.

>>> # with unit_of_work(factory) as session:
>>> #     result = run_month(session, "2026-09", business_date(session), actor=fund_manager)
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import IO, Any, NamedTuple

from sqlalchemy import case, func, insert, or_, select
from sqlalchemy.orm import Session, aliased

from fund.adapters.models.ledger import Deferral, JournalEntry, Posting
from fund.adapters.models.registry import Enterprise, Installment, Institution, Loan, Repayment
from fund.adapters.models.subsidies import SubsidyLine, SubsidyRun
from fund.domain.dates import month_bounds
from fund.domain.money import BP_ONE
from fund.domain.policy import Policy
from fund.domain.subsidy import (
    CapState,
    apply_enterprise_cap,
    subsidised_rate,
    subsidy_factor,
    subsidy_period_end,
)
from fund.errors import Conflict, DomainError, Forbidden, NotFound
from fund.services.ledger import Violation, expense_account, lock_pool, pay_from_pool
from fund.services.lpr import lpr_table
from fund.services.policies import get_policy
from fund.services.registry import Actor

KILL_HOOK_ENV = "IPFUND_TEST_KILL_AFTER_LINES"  # tests only: SIGKILL the run once this many lines are written
LINE_CHUNK = 20_000
LINE_COLUMNS = (
    "run_id", "repayment_id", "loan_id", "enterprise_id", "policy_id", "cap_year", "interest_fen", "lpr_bp",
    "rate_used_bp_e4", "computed_fen", "amount_fen", "capped",
)
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class RunResult:
    """A run's figures. ``created`` is False when the month had been run already (nothing changed)."""

    run_id: int
    month: str
    created: bool
    business_date: dt.date
    line_count: int
    capped_count: int
    computed_fen: int
    total_fen: int
    paid_fen: int
    deferred_fen: int
    entry_id: int | None
    timings_s: dict[str, float] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, run: SubsidyRun, created: bool, timings_s: dict[str, float] | None = None) -> "RunResult":
        return cls(run.id, run.month, created, run.business_date, run.line_count, run.capped_count, run.computed_fen,
                   run.total_fen, run.paid_fen, run.deferred_fen, run.entry_id, dict(timings_s or {}))


class _Candidate(NamedTuple):
    """One repayment the SQL part of S1 admits, with its loan's terms (a tuple: runs hold millions)."""

    repayment_id: int
    loan_id: int
    paid_on: dt.date
    interest_fen: int
    enterprise_id: int
    policy_id: str
    drawdown: dt.date
    contract_rate_bp: int
    ip_share_bp: int
    due_date: dt.date


def _parse_month(month: str) -> tuple[dt.date, dt.date]:
    try:
        return month_bounds(month)
    except ValueError as exc:
        raise DomainError("invalid_month", str(exc), field="month") from None


def _require_fund_manager(actor: Actor) -> None:
    if actor.kind != "fund_manager":
        raise Forbidden("forbidden", "only the fund manager starts a subsidy run")


def run_month(
    session: Session,
    month: str,
    business_date: dt.date,
    *,
    actor: Actor,
    progress: Progress | None = None,
    chunk_size: int = LINE_CHUNK,
) -> RunResult:
    """Run month ``YYYY-MM`` (RULES S4) inside the caller's transaction.

    Takes every repayment S1 admits, paid on or before the month's last day and not after the
    business date, that no earlier run took; applies S2 and S3 (payment date, loan registration,
    repayment registration order); writes the run, its lines and one journal entry paying the total
    from the subsidy pool (S5: what cash cannot cover is deferred). A month already run is reported
    unchanged; a month before the latest run, or one starting after the business date, is refused.
    """
    _require_fund_manager(actor)
    first_day, last_day = _parse_month(month)
    if first_day > business_date:
        raise DomainError("month_after_business_date", f"month {month} starts after the business date {business_date}", field="month")
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    lock_pool(session, "subsidy")  # subsidy runs (and inflows to the subsidy pool) serialise on this row
    existing = session.scalar(select(SubsidyRun).where(SubsidyRun.month == month))
    if existing is not None:
        return RunResult.of(existing, created=False)
    latest = session.scalar(select(func.max(SubsidyRun.month)))
    if latest is not None and month < latest:
        raise Conflict("month_before_latest_run", f"month {month} is before the latest run, {latest}", field="month")
    cutoff = min(last_day, business_date)

    candidates = _select_candidates(session, cutoff)
    timings["select"] = time.perf_counter() - clock
    clock = time.perf_counter()

    policies = {pid: get_policy(session, pid) for pid in sorted({c.policy_id for c in candidates})}
    candidates = _within_subsidy_months(candidates, policies)
    lpr_of = _lpr_by_drawdown(session, candidates)
    candidates.sort(key=lambda c: (c.paid_on, c.loan_id, c.repayment_id))  # S3 order

    factors: dict[tuple[int, int, int, str], tuple[Fraction, int]] = {}
    computed: list[int] = []
    keys: list[tuple[int, str, int]] = []
    rates: list[int] = []
    for c in candidates:
        terms = (c.ip_share_bp, c.contract_rate_bp, lpr_of[c.drawdown], c.policy_id)
        known = factors.get(terms)
        if known is None:
            sub = policies[c.policy_id].subsidy
            factor = subsidy_factor(ip_share_bp=c.ip_share_bp, contract_rate_bp=c.contract_rate_bp, lpr_bp=terms[2],
                                    markup_bp=sub.lpr_markup_bp, ratio_bp=sub.ratio_bp)
            rate_e4 = subsidised_rate(c.contract_rate_bp, terms[2], sub.lpr_markup_bp) * BP_ONE
            assert rate_e4.denominator == 1
            known = factors[terms] = (factor, int(rate_e4))
        factor, rate_e4 = known
        computed.append((c.interest_fen * factor.numerator) // factor.denominator)  # S2: one floor
        keys.append((c.enterprise_id, c.policy_id, c.paid_on.year))
        rates.append(rate_e4)
    caps = {key: policies[key[1]].subsidy.enterprise_annual_cap_fen for key in set(keys)}
    capped_lines = apply_enterprise_cap(computed, keys, caps, _prior_cap_states(session, set(keys)))
    granted, capped = capped_lines.granted_fen, capped_lines.capped
    total = sum(granted)
    timings["compute"] = time.perf_counter() - clock
    clock = time.perf_counter()

    run = SubsidyRun(
        month=month, period_end=last_day, business_date=business_date, line_count=len(candidates),
        capped_count=sum(capped), computed_fen=sum(computed), total_fen=total, paid_fen=total, deferred_fen=0,
        entry_id=None, actor_id=actor.institution_id,
    )
    session.add(run)
    session.flush()
    if total:
        policy_ids = sorted({key[1] for key in caps})
        payment = pay_from_pool(
            session, pool="subsidy", amount_fen=total, cause="subsidy_run",
            policy_id=policy_ids[0] if len(policy_ids) == 1 else None,
            ref_type="subsidy_run", ref_id=run.id, business_date=business_date, actor_id=actor.institution_id,
            memo=f"subsidy run {month}: {len(candidates)} lines, policies {', '.join(policy_ids)}",
        )
        run.entry_id, run.paid_fen, run.deferred_fen = payment.entry_id, payment.paid_fen, payment.deferred_fen
        session.flush()
    timings["ledger"] = time.perf_counter() - clock
    clock = time.perf_counter()

    rows = [
        (run.id, c.repayment_id, c.loan_id, c.enterprise_id, c.policy_id, key[2], c.interest_fen, lpr_of[c.drawdown],
         rate, amount, give, flag)
        for c, key, rate, amount, give, flag in zip(candidates, keys, rates, computed, granted, capped)
    ]
    _write_lines(session, rows, chunk_size, progress)
    timings["write"] = time.perf_counter() - clock
    return RunResult.of(run, created=True, timings_s=timings)


def _candidate_statement(cutoff: dt.date):
    """S1's conditions that need no calendar arithmetic, in SQL (the subsidy-months limit is applied in
    Python: ``add_months`` clamps to the month's end)."""
    r, i, loan = Repayment, Installment, Loan
    taken = select(SubsidyLine.id).where(SubsidyLine.repayment_id == r.id).exists()
    return (
        select(r.id, r.loan_id, r.paid_on, r.interest_fen, loan.enterprise_id, loan.policy_id, loan.drawdown_date,
               loan.contract_rate_bp, loan.ip_share_bp, i.due_date)
        .join(i, i.id == r.installment_id)
        .join(loan, loan.id == r.loan_id)
        .where(
            r.paid_on <= cutoff,
            ~taken,  # S4: no earlier run took it
            loan.coverage == "eligible",  # S1: the loan is eligible
            loan.policy_id.is_not(None),
            r.interest_fen > 0,  # S1: it pays interest
            r.paid_on <= i.due_date,  # S1: paid on or before the due date
            r.loan_status_at_payment == "active",  # S1: the loan was active then
        )
    )


def _past_due_now(r):
    """Some installment of the repayment's loan was past due on its payment date, counting every other
    repayment recorded so far with a payment date on or before it (the registry counts those recorded
    before it; like the registry, the repayment itself does not count)."""
    inst, paid = aliased(Installment), aliased(Repayment)
    paid_sum = lambda column: (  # noqa: E731
        select(func.coalesce(func.sum(column), 0))
        .where(paid.loan_id == r.loan_id, paid.installment_id == inst.id, paid.paid_on <= r.paid_on, paid.id != r.id)
        .scalar_subquery()
    )
    return (
        select(inst.id)
        .where(
            inst.loan_id == r.loan_id,
            inst.due_date < r.paid_on,
            or_(inst.principal_due_fen > paid_sum(paid.principal_fen), inst.interest_due_fen > paid_sum(paid.interest_fen)),
        )
        .exists()
    )


def _select_candidates(session: Session, cutoff: dt.date) -> list[_Candidate]:
    """Repayments S1 admits (up to the subsidy-months limit) that no run took.

    ``past_due_at_payment`` was computed when the repayment was recorded; a repayment recorded later
    with an earlier payment date can only lower it, so rows stored as not past due are final and the
    rows stored as past due are checked again against every repayment recorded now.
    """
    base = _candidate_statement(cutoff)
    not_flagged = base.where(Repayment.past_due_at_payment.is_(False))
    flagged_now_clear = base.where(Repayment.past_due_at_payment.is_(True), ~_past_due_now(Repayment))
    make = _Candidate._make
    out = [make(row) for row in session.execute(not_flagged)]
    out.extend(make(row) for row in session.execute(flagged_now_clear))
    return out


def _within_subsidy_months(candidates: list[_Candidate], policies: dict[str, Policy]) -> list[_Candidate]:
    limit_of: dict[tuple[dt.date, int], dt.date] = {}
    kept = []
    for c in candidates:
        months = policies[c.policy_id].subsidy.months
        limit = limit_of.get((c.drawdown, months))
        if limit is None:
            limit = limit_of[(c.drawdown, months)] = subsidy_period_end(c.drawdown, months)
        if c.due_date <= limit:
            kept.append(c)
    return kept


def _lpr_by_drawdown(session: Session, candidates: Sequence[_Candidate]) -> dict[dt.date, int]:
    """LPR on each drawdown date; drawdowns the table cannot answer stop the run, naming them and their loans."""
    table = lpr_table(session)
    rates: dict[dt.date, int] = {}
    failures: dict[dt.date, set[int]] = {}
    for c in candidates:
        if c.drawdown in rates:
            continue
        if c.drawdown in failures:
            failures[c.drawdown].add(c.loan_id)
            continue
        try:
            rates[c.drawdown] = table.rate_on(c.drawdown)
        except DomainError:
            failures[c.drawdown] = {c.loan_id}
    if failures:
        parts = []
        for day in sorted(failures)[:10]:
            loans = sorted(failures[day])
            more = f" and {len(loans) - 10} more" if len(loans) > 10 else ""
            parts.append(f"{day.isoformat()} (loans {', '.join(map(str, loans[:10]))}{more})")
        if len(failures) > 10:
            parts.append(f"and {len(failures) - 10} more dates")
        raise DomainError(
            "lpr_not_available",
            f"no LPR for the drawdown date {'; '.join(parts)}: the table starts on {table.publications[0][0].isoformat()} "
            f"and is checked only through {table.checked_through.isoformat()}; nothing was written",
            field="drawdown_date",
            dates=[d.isoformat() for d in sorted(failures)],
            loan_ids=sorted(set().union(*failures.values())),
        )
    return rates


def _prior_cap_states(session: Session, keys: set[tuple[int, str, int]]) -> dict[tuple[int, str, int], CapState]:
    """What earlier runs granted per (enterprise, policy, year), and whether they cut a line there."""
    if not keys:
        return {}
    years = sorted({k[2] for k in keys})
    line = SubsidyLine
    stmt = (
        select(line.enterprise_id, line.policy_id, line.cap_year, func.sum(line.amount_fen),
               func.max(case((line.capped, 1), else_=0)))
        .where(line.cap_year.in_(years))
        .group_by(line.enterprise_id, line.policy_id, line.cap_year)
    )
    states = {}
    for ent, pol, year, granted, cut in session.execute(stmt):
        key = (ent, pol, year)
        if key in keys:
            states[key] = CapState(int(granted), bool(cut))
    return states


def _write_lines(session: Session, rows: list[tuple], chunk_size: int, progress: Progress | None) -> None:
    kill_after = int(os.environ.get(KILL_HOOK_ENV) or 0)
    connection = session.connection()
    dialect = connection.dialect.name
    total = len(rows)
    if progress:
        progress("write", 0, total)
    for start in range(0, total, chunk_size):
        chunk = rows[start : start + chunk_size]
        if dialect == "postgresql":
            with connection.connection.cursor() as cursor:
                with cursor.copy(f"COPY subsidy_lines ({', '.join(LINE_COLUMNS)}) FROM STDIN") as copy:
                    for row in chunk:
                        copy.write_row(row)
        elif dialect == "sqlite":
            marks = ", ".join("?" for _ in LINE_COLUMNS)
            cursor = connection.connection.cursor()
            cursor.executemany(f"INSERT INTO subsidy_lines ({', '.join(LINE_COLUMNS)}) VALUES ({marks})", chunk)
            cursor.close()
        else:
            connection.execute(insert(SubsidyLine), [dict(zip(LINE_COLUMNS, row)) for row in chunk])
        done = start + len(chunk)
        if progress:
            progress("write", done, total)
        if kill_after and done >= kill_after:
            _die_for_test(session, rows[0][0])


def _die_for_test(session: Session, run_id: int) -> None:
    """The crash-safety test hook: report the lines visible inside the open transaction, then SIGKILL."""
    written = session.scalar(select(func.count()).select_from(SubsidyLine).where(SubsidyLine.run_id == run_id))
    postings = session.scalar(
        select(func.count()).select_from(Posting).join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(JournalEntry.ref_type == "subsidy_run", JournalEntry.ref_id == run_id)
    )
    sys.stderr.write(f"test hook: {written} lines and {postings} postings written in the open transaction of run {run_id}; SIGKILL\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


# ---- runs ---------------------------------------------------------------------------------------


def list_runs(session: Session) -> list[RunResult]:
    return [RunResult.of(r, created=False) for r in session.scalars(select(SubsidyRun).order_by(SubsidyRun.month))]


def find_run(session: Session, *, run_id: int | None = None, month: str | None = None) -> SubsidyRun:
    """The run with this id or for this month (exactly one of them)."""
    if (run_id is None) == (month is None):
        raise DomainError("run_or_month", "give a run id or a month, not both", field="run")
    if month is not None:
        _parse_month(month)
        run = session.scalar(select(SubsidyRun).where(SubsidyRun.month == month))
        if run is None:
            raise NotFound("subsidy_run_not_found", f"no subsidy run for {month}", field="month")
        return run
    run = session.get(SubsidyRun, run_id)
    if run is None:
        raise NotFound("subsidy_run_not_found", f"no subsidy run {run_id}", field="run_id")
    return run


# ---- the ledger check (rule L) ------------------------------------------------------------------


def ledger_violations(session: Session) -> list[Violation]:
    """Each subsidy run's entry equals the sum of its lines (and its stored totals); no subsidy entry
    or subsidy deferral without its run."""
    problems: list[Violation] = []
    line = SubsidyLine
    sums = {
        run_id: (int(total), int(computed), count, int(capped))
        for run_id, total, computed, count, capped in session.execute(
            select(line.run_id, func.sum(line.amount_fen), func.sum(line.computed_fen), func.count(),
                   func.sum(case((line.capped, 1), else_=0))).group_by(line.run_id)
        )
    }
    expense = {
        entry_id: int(amount)
        for entry_id, amount in session.execute(
            select(Posting.entry_id, func.sum(Posting.amount_fen))
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(JournalEntry.cause == "subsidy_run", Posting.account_code == expense_account("subsidy"))
            .group_by(Posting.entry_id)
        )
    }
    entries = {
        e.id: e for e in session.scalars(select(JournalEntry).where(JournalEntry.cause == "subsidy_run"))
    }
    deferred = {
        ref_id: int(amount)
        for ref_id, amount in session.execute(
            select(Deferral.ref_id, func.sum(Deferral.amount_fen))
            .where(Deferral.pool == "subsidy", Deferral.ref_type == "subsidy_run").group_by(Deferral.ref_id)
        )
    }
    runs = list(session.scalars(select(SubsidyRun).order_by(SubsidyRun.id)))
    run_ids = {r.id for r in runs}
    for run in runs:
        total, computed, count, capped = sums.get(run.id, (0, 0, 0, 0))
        where = f"subsidy run {run.id} ({run.month})"
        if (run.total_fen, run.computed_fen, run.line_count, run.capped_count) != (total, computed, count, capped):
            problems.append(Violation("subsidy_run_totals", f"{where} stores total {run.total_fen}, computed {run.computed_fen}, "
                                      f"{run.line_count} lines, {run.capped_count} capped; its lines give {total}, {computed}, {count}, {capped}"))
        if run.entry_id is None:
            if total:
                problems.append(Violation("subsidy_run_entry", f"{where}: lines total {total} but the run has no entry"))
            continue
        entry = entries.get(run.entry_id)
        if entry is None or entry.ref_type != "subsidy_run" or entry.ref_id != run.id:
            problems.append(Violation("subsidy_run_entry", f"{where}: entry {run.entry_id} is not a subsidy_run entry of this run", run.entry_id))
            continue
        if expense.get(entry.id, 0) != total:
            problems.append(Violation("subsidy_run_entry_equals_lines",
                                      f"{where}: entry {entry.id} expenses {expense.get(entry.id, 0)}, its lines total {total}", entry.id))
        if deferred.get(run.id, 0) != run.deferred_fen or run.paid_fen + run.deferred_fen != total:
            problems.append(Violation("subsidy_run_deferral", f"{where}: paid {run.paid_fen} + deferred {run.deferred_fen} "
                                      f"(deferrals {deferred.get(run.id, 0)}) against lines {total}", entry.id))
    referenced = {r.entry_id for r in runs}
    for entry_id, entry in entries.items():
        if entry_id not in referenced:
            problems.append(Violation("subsidy_entry_without_run", f"subsidy_run entry {entry_id} belongs to no run", entry_id))
    for ref_id in deferred:
        if ref_id not in run_ids:
            problems.append(Violation("subsidy_deferral_without_run", f"a subsidy deferral names run {ref_id}, which does not exist"))
    orphan_lines = set(sums) - run_ids
    for run_id in sorted(orphan_lines):
        problems.append(Violation("subsidy_lines_without_run", f"lines name run {run_id}, which does not exist"))
    return problems


# ---- statements ---------------------------------------------------------------------------------

STATEMENT_COLUMNS = (
    "month", "run_id", "line_id", "bank", "loan_id", "contract_no", "enterprise_credit_code", "enterprise_name",
    "policy_id", "installment_due", "paid_on", "interest_fen", "contract_rate_bp", "ip_share_bp", "lpr_bp",
    "rate_used_bp", "computed_fen", "amount_fen", "capped",
)


@dataclass(frozen=True)
class StatementRow:
    month: str
    run_id: int
    line_id: int
    bank: str
    loan_id: int
    contract_no: str
    enterprise_credit_code: str
    enterprise_name: str
    policy_id: str
    installment_due: dt.date
    paid_on: dt.date
    interest_fen: int
    contract_rate_bp: int
    ip_share_bp: int
    lpr_bp: int
    rate_used_bp: Decimal  # exact: at most four decimals
    computed_fen: int
    amount_fen: int
    capped: bool

    def values(self) -> tuple:
        return tuple(getattr(self, name) for name in STATEMENT_COLUMNS)


@dataclass(frozen=True)
class StatementScope:
    run: SubsidyRun
    bank_code: str | None
    enterprise_code: str | None

    @property
    def title(self) -> str:
        parts = [f"subsidy run {self.run.id} ({self.run.month})"]
        if self.bank_code:
            parts.append(f"bank {self.bank_code}")
        if self.enterprise_code:
            parts.append(f"enterprise {self.enterprise_code}")
        return ", ".join(parts)


def statement_scope(
    session: Session, actor: Actor, *, run_id: int | None = None, month: str | None = None,
    bank_code: str | None = None, enterprise_code: str | None = None,
) -> StatementScope:
    """Who may see which lines: a bank only its own loans' lines (naming another bank is refused);
    the fund manager and auditors everything."""
    if actor.kind == "bank":
        if bank_code is not None and bank_code != actor.code:
            raise Forbidden("forbidden", "a bank sees only its own loans' subsidy lines", field="bank")
        bank_code = actor.code
    elif actor.kind not in ("fund_manager", "auditor"):
        raise Forbidden("forbidden", "only the fund manager, auditors and banks read subsidy statements")
    run = find_run(session, run_id=run_id, month=month)
    if bank_code is not None and session.scalar(select(Institution.id).where(Institution.code == bank_code, Institution.kind == "bank")) is None:
        raise NotFound("unknown_institution", f"no bank with code {bank_code!r}", field="bank")
    return StatementScope(run, bank_code, enterprise_code)


def statement_rows(session: Session, scope: StatementScope, *, batch: int = 10_000) -> Iterator[StatementRow]:
    """The scope's lines in run order (the S3 order), streamed."""
    line, loan, ent, rep, inst, bank = SubsidyLine, Loan, Enterprise, Repayment, Installment, Institution
    stmt = (
        select(line.id, bank.code, loan.id, loan.contract_no, ent.credit_code, ent.name, line.policy_id, inst.due_date,
               rep.paid_on, line.interest_fen, loan.contract_rate_bp, loan.ip_share_bp, line.lpr_bp, line.rate_used_bp_e4,
               line.computed_fen, line.amount_fen, line.capped)
        .join(loan, loan.id == line.loan_id)
        .join(bank, bank.id == loan.bank_id)
        .join(ent, ent.id == line.enterprise_id)
        .join(rep, rep.id == line.repayment_id)
        .join(inst, inst.id == rep.installment_id)
        .where(line.run_id == scope.run.id)
        .order_by(line.id)
    )
    if scope.bank_code is not None:
        stmt = stmt.where(bank.code == scope.bank_code)
    if scope.enterprise_code is not None:
        stmt = stmt.where(ent.credit_code == scope.enterprise_code)
    month, run_id = scope.run.month, scope.run.id
    for row in session.execute(stmt.execution_options(yield_per=batch)):
        (line_id, bank_code, loan_id, contract_no, code, name, policy_id, due, paid_on, interest, contract_rate,
         share, lpr, rate_e4, computed, amount, capped) = row
        yield StatementRow(month, run_id, line_id, bank_code, loan_id, contract_no, code, name, policy_id, due, paid_on,
                           interest, contract_rate, share, lpr, Decimal(rate_e4) / BP_ONE, computed, amount, bool(capped))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def write_statement_csv(rows: Iterable[StatementRow], out: IO[str]) -> int:
    """CSV with a header line; money in fen, rates in bp. Returns the number of lines written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(STATEMENT_COLUMNS)
    count = 0
    for row in rows:
        writer.writerow([_text(v) for v in row.values()])
        count += 1
    return count


def write_statement_xlsx(rows: Iterable[StatementRow], out: IO[bytes] | str, *, title: str = "subsidy statement") -> int:
    """XLSX (openpyxl, streamed): sheet ``lines`` with the statement, sheet ``summary`` with totals."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("lines")
    sheet.append(list(STATEMENT_COLUMNS))
    count = interest = computed = amount = capped = 0
    for row in rows:
        values = list(row.values())
        values[STATEMENT_COLUMNS.index("installment_due")] = row.installment_due
        values[STATEMENT_COLUMNS.index("paid_on")] = row.paid_on
        sheet.append(values)
        count += 1
        interest += row.interest_fen
        computed += row.computed_fen
        amount += row.amount_fen
        capped += row.capped
    summary = book.create_sheet("summary")
    for label, value in (("statement", title), ("lines", count), ("capped lines", capped), ("interest_fen", interest),
                         ("computed_fen", computed), ("amount_fen", amount)):
        summary.append([label, value])
    book.save(out)
    return count


def statement_bytes(session: Session, scope: StatementScope, fmt: str) -> bytes:
    """The whole statement in memory (for downloads): ``csv`` or ``xlsx``."""
    if fmt == "csv":
        text = io.StringIO()
        write_statement_csv(statement_rows(session, scope), text)
        return text.getvalue().encode("utf-8")
    if fmt == "xlsx":
        data = io.BytesIO()
        write_statement_xlsx(statement_rows(session, scope), data, title=scope.title)
        return data.getvalue()
    raise DomainError("invalid_format", f"format must be csv or xlsx, got {fmt!r}", field="format")
