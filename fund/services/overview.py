"""Read models of the web console: the dashboard's figures and alerts, the claims queue, the loan
search (server-side filters, sorting and paging over books of 100,000 loans), the stress runs list.
Each is one use case (one read transaction) composing the areas' own services where they exist.

>>> SORTS["-principal"]
('principal', True)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from fund.adapters.db import unit_of_work
from fund.adapters.models.claims import Claim
from fund.adapters.models.ledger import JournalEntry
from fund.adapters.models.registry import Enterprise, Institution, Loan
from fund.domain.status import LIVE_STATUSES
from fund.errors import DomainError, Forbidden
from fund.services.common import business_date
from fund.services.registry import Actor

SessionFactory = sessionmaker[Session]
NEAR_CAP_SHARE = (8, 10)  # a bank is "near" its cap once it has used 80% of it
MAX_PER_PAGE = 200
LOAN_SORT_COLUMNS = {
    "id": Loan.id, "bank": Institution.code, "contract": Loan.contract_no, "borrower": Loan.borrower_name,
    "drawdown": Loan.drawdown_date, "principal": Loan.principal_fen, "covered": Loan.covered_fen,
    "outstanding": Loan.principal_fen - Loan.principal_repaid_fen, "status": Loan.status, "coverage": Loan.coverage,
}
SORTS = {**{k: (k, False) for k in LOAN_SORT_COLUMNS}, **{f"-{k}": (k, True) for k in LOAN_SORT_COLUMNS}}


def _require_reader(actor: Actor) -> None:
    if actor.kind not in ("fund_manager", "auditor"):
        raise Forbidden("forbidden", "only the fund manager and auditors read the whole book")


@dataclass(frozen=True)
class Alert:
    code: str  # lpr_not_checked, bank_over_cap, bank_near_cap, bank_suspended, bank_near_line, deferrals_outstanding, claims_waiting, proposals_waiting
    severity: str  # bad, warn
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StressSummary:
    run_id: int
    scenario: str
    as_of: dt.date
    finished_at: dt.datetime | None
    horizon_years: int | None
    p_deferral: float | None
    required_fund_fen: int | None


@dataclass(frozen=True)
class Dashboard:
    business_date: dt.date
    report: Any  # fund.services.fund_report.FundReport
    appropriated_this_year_fen: int
    compensation_this_year: tuple[dict[str, Any], ...]
    claims_waiting: int
    proposals_waiting: int
    alerts: tuple[Alert, ...]
    stress: StressSummary | None
    in_transit_fen: dict[str, int]
    # B2 (docs/rules.md section 12): each agreed bank's approved covered losses against its line
    loss_ratios: tuple[Any, ...] = ()  # fund.domain.pool.LossRatio


def _appropriated_in(session: Session, year: int) -> int:
    from fund.adapters.models.ledger import Posting

    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    # an appropriation entry credits its source once, for the whole amount (what it settles is an entry of its own)
    total = session.scalar(
        select(func.coalesce(func.sum(Posting.amount_fen), 0))
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(JournalEntry.cause == "appropriation", JournalEntry.business_date >= start,
               JournalEntry.business_date <= end, Posting.amount_fen < 0)
    )
    return -int(total or 0)


def _latest_baseline(session: Session) -> StressSummary | None:
    from fund.adapters.models.stress import StressRun

    run = session.scalar(select(StressRun).where(StressRun.status == "done", StressRun.scenario_name == "baseline")
                         .order_by(StressRun.finished_at.desc(), StressRun.id.desc()).limit(1))
    if run is None:
        return None
    result = run.result or {}
    required = result.get("required_fund_fen")
    if isinstance(required, dict):
        required = required.get("value", required.get("point"))
    p_deferral = result.get("p_deferral")
    if isinstance(p_deferral, dict):
        p_deferral = p_deferral.get("value", p_deferral.get("point", p_deferral.get("estimate")))
    horizon = (result.get("inputs") or {}).get("horizon_years") or (run.request or {}).get("horizon") \
        or ((run.request or {}).get("scenario") or {}).get("horizon_years")
    return StressSummary(run.id, run.scenario_name, run.as_of, run.finished_at, horizon,
                         float(p_deferral) if p_deferral is not None else None,
                         int(required) if required is not None else None)


def _open_proposals(session: Session) -> int:
    try:
        from fund.adapters.models.people import Proposal
    except ImportError:  # pragma: no cover
        return 0
    return session.scalar(select(func.count()).select_from(Proposal).where(Proposal.status == "open")) or 0


def _in_transit(session: Session) -> dict[str, int]:
    """Payments instructed and not yet confirmed, by pool (the ledger's in-transit accounts)."""
    from fund.services import ledger

    balances = ledger.balances(session)
    return {pool: balances.get(f"pool:{pool}:in_transit", 0) for pool in ledger.POOLS}


def dashboard(db: SessionFactory, actor: Actor) -> Dashboard:
    """The fund manager's and auditors' first page, as of the business date."""
    from fund.services.fund_report import fund_report
    from fund.services.lpr import lpr_table

    _require_reader(actor)
    with unit_of_work(db) as session:
        today = business_date(session)
        report = fund_report(session, today)
        alerts: list[Alert] = []
        try:
            checked = lpr_table(session).checked_through
        except DomainError:
            checked = None
        if checked is None or checked < today:
            alerts.append(Alert("lpr_not_checked", "bad", {"checked_through": checked, "business_date": today}))
        for cap in report.caps:
            if cap.cap_fen is None:
                continue
            if cap.used_fen >= cap.cap_fen and cap.cap_fen > 0 or (cap.room_fen == 0 and cap.used_fen > 0):
                alerts.append(Alert("bank_over_cap", "bad", {"bank": cap.bank, "policy": cap.policy_id,
                                                             "used_fen": cap.used_fen, "cap_fen": cap.cap_fen}))
            elif cap.cap_fen > 0 and cap.used_fen * NEAR_CAP_SHARE[1] >= cap.cap_fen * NEAR_CAP_SHARE[0]:
                alerts.append(Alert("bank_near_cap", "warn", {"bank": cap.bank, "policy": cap.policy_id,
                                                              "used_fen": cap.used_fen, "cap_fen": cap.cap_fen}))
        for pool in report.pools:
            if pool.deferred_fen > 0:
                alerts.append(Alert("deferrals_outstanding", "warn", {"pool": pool.pool, "deferred_fen": pool.deferred_fen}))
        waiting = session.scalar(select(func.count()).select_from(Claim).where(Claim.status == "filed")) or 0
        if waiting:
            alerts.append(Alert("claims_waiting", "warn", {"count": waiting}))
        ratios = report.loss_ratios  # B2, measured by fund.services.pool.loss_ratios inside the fund report
        for r in ratios:
            if r.suspended_since is not None:
                alerts.append(Alert("bank_suspended", "bad", {"bank": r.bank_code, "policy": r.policy_id,
                                                              "since": r.suspended_since, "losses_fen": r.losses_fen}))
            elif r.line_fen and r.losses_fen * NEAR_CAP_SHARE[1] >= r.line_fen * NEAR_CAP_SHARE[0]:
                alerts.append(Alert("bank_near_line", "warn", {"bank": r.bank_code, "policy": r.policy_id,
                                                               "losses_fen": r.losses_fen, "line_fen": r.line_fen}))
        proposals = _open_proposals(session)
        if proposals:
            alerts.append(Alert("proposals_waiting", "warn", {"count": proposals}))
        this_year = tuple(
            {"bank": cap.bank, "policy": cap.policy_id, "used_fen": cap.used_fen, "cap_fen": cap.cap_fen, "room_fen": cap.room_fen}
            for cap in report.caps
        )
        return Dashboard(today, report, _appropriated_in(session, today.year), this_year, waiting, proposals,
                         tuple(alerts), _latest_baseline(session), _in_transit(session), ratios)


@dataclass(frozen=True)
class QueueLine:
    claim_id: int
    loan_id: int
    bank: str
    borrower: str
    contract_no: str
    status: str
    filed_on: dt.date
    days_past_due: int
    loss_fen: int
    fund_fen: int | None
    documents: int


def claims_queue(db: SessionFactory, actor: Actor, *, status: str | None = "filed", bank: str | None = None,
                 page: int = 1, per_page: int = 50) -> tuple[list[QueueLine], int]:
    """Claims by status (filed first: the fund manager's queue), oldest first, with their documents'
    count; another institution sees only its own bank's claims."""
    from fund.adapters.models.console import ClaimDocument

    per_page = max(1, min(per_page, MAX_PER_PAGE))
    with unit_of_work(db) as session:
        where = []
        if actor.kind not in ("fund_manager", "auditor"):
            where.append(Claim.bank_id == actor.institution_id)
        if status:
            where.append(Claim.status == status)
        if bank:
            where.append(Institution.code == bank)
        documents = (select(func.count()).select_from(ClaimDocument).where(ClaimDocument.claim_id == Claim.id)
                     .correlate(Claim).scalar_subquery())
        base = (select(Claim, Institution.code, Loan.borrower_name, Loan.contract_no, documents)
                .join(Loan, Loan.id == Claim.loan_id).join(Institution, Institution.id == Claim.bank_id)
                .join(Enterprise, Enterprise.id == Loan.enterprise_id).where(*where))
        total = session.scalar(select(func.count()).select_from(Claim).join(Institution, Institution.id == Claim.bank_id)
                               .where(*where)) or 0
        rows = session.execute(base.order_by(Claim.filed_on, Claim.id).offset((max(page, 1) - 1) * per_page).limit(per_page)).all()
        return [QueueLine(c.id, c.loan_id, code, name, contract, c.status, c.filed_on, c.days_past_due, c.loss_fen,
                          c.fund_fen, n) for c, code, name, contract, n in rows], total


@dataclass(frozen=True)
class LoanLine:
    id: int
    bank: str
    contract_no: str
    borrower_credit_code: str
    borrower: str
    drawdown_date: dt.date
    principal_fen: int
    covered_fen: int
    outstanding_fen: int
    status: str
    coverage: str
    policy_id: str | None


def search_loans(db: SessionFactory, actor: Actor, *, bank: str | None = None, borrower: str | None = None,
                 contract: str | None = None, status: str | None = None, coverage: str | None = None,
                 sort: str = "-id", page: int = 1, per_page: int = 50) -> tuple[list[LoanLine], int]:
    """Loans matching the filters, sorted on the server (``sort``: a key of :data:`SORTS`) and paged
    (page numbers, ``per_page`` at most 200). ``borrower`` matches a credit code exactly or by prefix,
    or a name by substring. A bank sees only its own loans."""
    from fund.domain.status import STATUSES

    if sort not in SORTS:
        raise DomainError("invalid_sort", f"sort must be one of {', '.join(SORTS)}", field="sort")
    if status and status not in STATUSES:
        raise DomainError("invalid_status", "unknown status", field="status")
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    key, descending = SORTS[sort]
    column = LOAN_SORT_COLUMNS[key]
    with unit_of_work(db) as session:
        where = []
        if actor.kind == "bank":
            where.append(Loan.bank_id == actor.institution_id)
        elif actor.kind not in ("fund_manager", "auditor"):
            raise Forbidden("forbidden", "only banks, the fund manager and auditors read loans")
        if bank:
            where.append(Institution.code == bank.strip())
        if borrower:
            text = borrower.strip()
            where.append(or_(Enterprise.credit_code.startswith(text.upper()), Loan.borrower_name.contains(text)))
        if contract:
            where.append(Loan.contract_no.startswith(contract.strip()))
        if status:
            where.append(Loan.status == status)
        if coverage:
            where.append(Loan.coverage == coverage)
        joined = lambda stmt: stmt.join(Institution, Institution.id == Loan.bank_id).join(Enterprise, Enterprise.id == Loan.enterprise_id)  # noqa: E731
        counted = select(func.count()).select_from(Loan)
        if bank:  # the count joins only the tables its filters name
            counted = counted.join(Institution, Institution.id == Loan.bank_id)
        if borrower:
            counted = counted.join(Enterprise, Enterprise.id == Loan.enterprise_id)
        total = session.scalar(counted.where(*where)) or 0
        order = [column.desc() if descending else column.asc()]
        if key != "id":
            order.append(Loan.id.desc() if descending else Loan.id.asc())
        stmt = joined(select(Loan.id, Institution.code, Loan.contract_no, Enterprise.credit_code, Loan.borrower_name,
                             Loan.drawdown_date, Loan.principal_fen, Loan.covered_fen,
                             Loan.principal_fen - Loan.principal_repaid_fen, Loan.status, Loan.coverage, Loan.policy_id)
                      .select_from(Loan)).where(*where).order_by(*order).offset((max(page, 1) - 1) * per_page).limit(per_page)
        return [LoanLine(*row) for row in session.execute(stmt).all()], total


@dataclass(frozen=True)
class StressRunLine:
    id: int
    scenario: str
    status: str
    n_scenarios: int
    seed: int
    as_of: dt.date
    progress_done: int
    created_at: dt.datetime | None
    finished_at: dt.datetime | None
    p_deferral: float | None
    required_fund_fen: int | None


def stress_runs(db: SessionFactory, actor: Actor, *, limit: int = 50) -> list[StressRunLine]:
    """The latest stress runs, newest first."""
    from fund.adapters.models.stress import StressRun

    _require_reader(actor)
    with unit_of_work(db) as session:
        runs = session.scalars(select(StressRun).order_by(StressRun.id.desc()).limit(max(1, min(limit, 500))))
        out = []
        for run in runs:
            result = run.result or {}
            p, required = result.get("p_deferral"), result.get("required_fund_fen")
            p = p.get("value", p.get("point")) if isinstance(p, dict) else p
            required = required.get("value", required.get("point")) if isinstance(required, dict) else required
            out.append(StressRunLine(run.id, run.scenario_name, run.status, run.n_scenarios, run.seed, run.as_of,
                                     run.progress_done, run.created_at, run.finished_at, p, required))
        return out


def institutions(db: SessionFactory, actor: Actor) -> list[tuple[str, str, str]]:
    """(code, name, kind) of every institution."""
    _require_reader(actor)
    with unit_of_work(db) as session:
        return [tuple(r) for r in session.execute(select(Institution.code, Institution.name, Institution.kind).order_by(Institution.kind, Institution.code))]


@dataclass(frozen=True)
class ClaimPage:
    claim: dict[str, Any]  # fund.services.claims.claim_document
    borrower: str
    contract_no: str
    documents: tuple[Any, ...]
    proposals: tuple[Any, ...]
    approval_now: dict[str, Any] | None  # the allocation and cap trace approval would compute now


def claim_page(db: SessionFactory, actor: Actor, claim_id: int) -> ClaimPage:
    """A claim with its documents, proposals and (while filed, for the fund manager) what approving it
    now would compute: ``approve_claim`` run in a savepoint that is rolled back, so the figures are the
    approval's own (A2 split, A3 cap trace, A4 payment), written nowhere."""
    from fund.services import claim_documents, claims

    with unit_of_work(db) as session:
        claim = claims.claim_for(session, actor, claim_id)
        document = claims.claim_document(session, claim)
        loan = session.get(Loan, claim.loan_id)
        documents = tuple(claim_documents.list_documents(session, actor, claim_id))
        # the borrower as this loan's bank reported it (docs/rules.md section 3); read before the savepoint expires them
        borrower, contract_no = loan.borrower_name, loan.contract_no
        approval_now = None
        if claim.status == "filed" and actor.kind == "fund_manager":
            savepoint = session.begin_nested()
            try:
                approved = claims.approve_claim(session, actor, claim_id, business_date(session))
                figures = claims.claim_document(session, approved, detail=False)
                approval_now = {"allocation": figures["allocation"], "cap": figures["cap"], "payment": figures["payment"]}
            except DomainError as exc:
                approval_now = {"error": exc}
            finally:
                savepoint.rollback()
    proposals: tuple[Any, ...] = ()
    if actor.kind in ("fund_manager", "auditor"):
        from fund.services.proposals import list_proposals

        proposals = tuple(list_proposals(db, actor, target=f"claim:{claim_id}"))
    return ClaimPage(document, borrower, contract_no, documents, proposals, approval_now)
