"""The registry's views: the portfolio report (the statistics-and-monitoring view the city measures
ask for), the loan list and one loan in full.

Every figure is aggregated in SQL (``GROUP BY``); Python only rolls a few hundred grouped rows up
into the report's maps. Definitions (``as_of`` is the business date unless given):

* the book is the loans drawn on or before ``as_of``; status and coverage are the loans' current ones
  (the registry keeps no dated status history to go back to);
* ``principal_fen``: principal of every loan in the book;
* ``covered_fen``: covered principal C, except on cancelled loans (their C went back to the quota);
* ``outstanding_fen``: principal less the principal repaid on or before ``as_of``, on loans that are
  not cancelled or closed (a closed loan's remaining principal is a settled loss, not a claim on the
  borrower the fund follows);
* ``live_covered_fen``: C of live loans (``active``, ``claimed``), the numerator of leverage (rule L);
* ``past_due``: live loans with an installment due before ``as_of`` and not paid in full by then,
  bucketed by the days since the earliest such due date.
"""

from __future__ import annotations

import datetime as dt
import inspect
from typing import Any

from sqlalchemy import String, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from fund.adapters.dialect import json_array_elements
from fund.services.paging import after, check_after_id
from fund.adapters.models.registry import (
    Enterprise,
    Installment,
    Institution,
    IpAsset,
    Loan,
    LoanAsset,
    LoanEvent,
    Repayment,
    StoredPolicy,
)
from fund.domain.registry import REASON_TEXT, SECTORS
from fund.domain.status import LIVE_STATUSES, STATUSES
from fund.errors import DomainError, NotFound
from fund.services.common import business_date, institution_by_code

COVERAGES = ("eligible", "ineligible")
NO_POLICY = "none"
NOT_OUTSTANDING_STATUSES = ("cancelled", "closed")
PAST_DUE_BUCKETS = (("1-30", 1, 30), ("31-90", 31, 90), ("91+", 91, None))
# Words for the flags the registry sets that REASON_TEXT does not cover (yet).
_EXTRA_TEXT = {
    "pilot_credit_code": "the borrower's credit code fails its check digit (an early pilot code, registered by the fund manager with a reason)",
}


def reason_text(code: str) -> str:
    """Words for an ineligibility reason or a flag (the code itself when none are known)."""
    return REASON_TEXT.get(code) or _EXTRA_TEXT.get(code) or code


def _figures() -> dict[str, int]:
    return {"count": 0, "principal_fen": 0, "covered_fen": 0, "outstanding_fen": 0}


def _as_of(session: Session, as_of: dt.date | None) -> dt.date:
    if as_of is None:
        return business_date(session)
    if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
        raise DomainError("invalid_date", f"as_of must be a date, got {as_of!r}", field="as_of")
    return as_of


def _repaid_by(as_of: dt.date):
    """Principal repaid per loan on or before ``as_of``."""
    return (
        select(Repayment.loan_id, func.sum(Repayment.principal_fen).label("repaid_fen"))
        .where(Repayment.paid_on <= as_of)
        .group_by(Repayment.loan_id)
        .subquery("repaid_by")
    )


def portfolio_report(session: Session, as_of: dt.date | None = None) -> dict[str, Any]:
    """Counts and sums of the loan book by coverage, bank, sector, policy and status, with totals,
    flags, ineligibility reasons, past-due loans and (when the valuation service is installed) the
    collateral summary. JSON-ready: amounts are int fen; see the module docstring for definitions.

    >>> report = portfolio_report(session)                                   # doctest: +SKIP
    >>> report["loans"] == sum(e["count"] for e in report["by_status"].values())  # doctest: +SKIP
    True
    """
    as_of = _as_of(session, as_of)
    repaid = _repaid_by(as_of)
    in_book = Loan.drawdown_date <= as_of
    covered = case((Loan.status == "cancelled", 0), else_=Loan.covered_fen)
    outstanding = case(
        (Loan.status.in_(NOT_OUTSTANDING_STATUSES), 0),
        else_=Loan.principal_fen - func.coalesce(repaid.c.repaid_fen, 0),
    )
    policy_key = func.coalesce(Loan.policy_id, literal(NO_POLICY, String))
    grouped = session.execute(
        select(
            Institution.code, Loan.borrower_sector, policy_key, Loan.coverage, Loan.status,
            func.count(Loan.id), func.sum(Loan.principal_fen), func.sum(covered), func.sum(outstanding),
            func.sum(case((Loan.status.in_(LIVE_STATUSES), Loan.covered_fen), else_=0)),
        )
        .join(Institution, Institution.id == Loan.bank_id)
        .outerjoin(repaid, repaid.c.loan_id == Loan.id)
        .where(in_book)
        .group_by(Institution.code, Loan.borrower_sector, policy_key, Loan.coverage, Loan.status)
    ).all()

    banks = session.execute(select(Institution.code, Institution.name).where(Institution.kind == "bank").order_by(Institution.code)).all()
    active_policies = session.scalars(select(StoredPolicy.id).where(StoredPolicy.active.is_(True)).order_by(StoredPolicy.valid_from)).all()
    by_coverage = {key: _figures() for key in COVERAGES}
    by_bank: dict[str, dict[str, Any]] = {code: {"name": name, **_figures()} for code, name in banks}
    by_sector = {key: _figures() for key in SECTORS}
    by_policy: dict[str, dict[str, int]] = {key: _figures() for key in active_policies}
    by_status = {key: _figures() for key in STATUSES}
    totals = {"loans": 0, "principal_fen": 0, "covered_fen": 0, "outstanding_fen": 0, "live_covered_fen": 0}
    for bank, sector, policy, coverage, status, count, principal, covered_sum, outstanding_sum, live_covered in grouped:
        figures = (int(count), int(principal or 0), int(covered_sum or 0), int(outstanding_sum or 0))
        entries = (
            by_coverage.setdefault(coverage, _figures()),
            by_bank.setdefault(bank, {"name": None, **_figures()}),
            by_sector.setdefault(sector, _figures()),
            by_policy.setdefault(policy, _figures()),
            by_status.setdefault(status, _figures()),
        )
        for entry in entries:
            for key, value in zip(("count", "principal_fen", "covered_fen", "outstanding_fen"), figures):
                entry[key] += value
        totals["loans"] += figures[0]
        totals["principal_fen"] += figures[1]
        totals["covered_fen"] += figures[2]
        totals["outstanding_fen"] += figures[3]
        totals["live_covered_fen"] += int(live_covered or 0)

    report: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        **totals,
        "by_coverage": by_coverage,
        "by_bank": by_bank,
        "by_sector": by_sector,
        "by_policy": dict(sorted(by_policy.items(), key=lambda item: (item[0] == NO_POLICY, item[0]))),
        "by_status": by_status,
        "flagged": _flagged(session, as_of),
        "ineligible_reasons": _ineligible_reasons(session, as_of),
        "past_due": _past_due(session, as_of),
    }
    collateral = _collateral(session, as_of)
    if collateral is not None:
        report["collateral"] = collateral
    return report


def _flagged(session: Session, as_of: dt.date) -> dict[str, Any]:
    """Loans with any flag, and the count of loans per flag."""
    any_flag = session.scalar(
        select(func.count(Loan.id)).where(Loan.drawdown_date <= as_of, func.json_array_length(Loan.flags) > 0)
    ) or 0
    element = json_array_elements(session, Loan.flags)
    per_flag = session.execute(
        select(element.c.value, func.count(func.distinct(Loan.id)))
        .select_from(Loan).join(element, literal(True))
        .where(Loan.drawdown_date <= as_of)
        .group_by(element.c.value).order_by(element.c.value)
    ).all()
    return {"loans": int(any_flag), "by_flag": {str(flag): int(count) for flag, count in per_flag}}


def _ineligible_reasons(session: Session, as_of: dt.date) -> dict[str, int]:
    """Ineligible loans per reason (a loan with several reasons counts under each)."""
    element = json_array_elements(session, Loan.ineligible_reasons)
    rows = session.execute(
        select(element.c.value, func.count(func.distinct(Loan.id)))
        .select_from(Loan).join(element, literal(True))
        .where(Loan.drawdown_date <= as_of, Loan.coverage == "ineligible")
        .group_by(element.c.value).order_by(element.c.value)
    ).all()
    return {str(reason): int(count) for reason, count in rows}


def _earliest_unpaid(as_of: dt.date):
    """Per loan, the due date of the earliest installment due before ``as_of`` and not paid in full by
    ``as_of`` (repayments dated on or before it)."""
    paid = (
        select(
            Repayment.installment_id,
            func.sum(Repayment.principal_fen).label("principal_fen"),
            func.sum(Repayment.interest_fen).label("interest_fen"),
        )
        .where(Repayment.paid_on <= as_of)
        .group_by(Repayment.installment_id)
        .subquery("paid")
    )
    return (
        select(Installment.loan_id, func.min(Installment.due_date).label("due_date"))
        .outerjoin(paid, paid.c.installment_id == Installment.id)
        .where(
            Installment.due_date < as_of,
            or_(
                func.coalesce(paid.c.principal_fen, 0) < Installment.principal_due_fen,
                func.coalesce(paid.c.interest_fen, 0) < Installment.interest_due_fen,
            ),
        )
        .group_by(Installment.loan_id)
        .subquery("earliest_unpaid")
    )


def _past_due(session: Session, as_of: dt.date) -> dict[str, Any]:
    earliest = _earliest_unpaid(as_of)
    repaid = _repaid_by(as_of)
    bucket_columns = []
    for name, low, high in PAST_DUE_BUCKETS:
        # days past due = as_of - due date; in low..high <=> due date in [as_of - high, as_of - low]
        condition = earliest.c.due_date <= as_of - dt.timedelta(days=low)
        if high is not None:
            condition = and_(condition, earliest.c.due_date >= as_of - dt.timedelta(days=high))
        bucket_columns.append(func.sum(case((condition, 1), else_=0)).label(name))
    row = session.execute(
        select(
            func.count(Loan.id),
            func.coalesce(func.sum(Loan.principal_fen - func.coalesce(repaid.c.repaid_fen, 0)), 0),
            func.coalesce(func.sum(Loan.covered_fen), 0),
            *bucket_columns,
        )
        .join(earliest, earliest.c.loan_id == Loan.id)
        .outerjoin(repaid, repaid.c.loan_id == Loan.id)
        .where(Loan.drawdown_date <= as_of, Loan.status.in_(LIVE_STATUSES))
    ).one()
    count, outstanding_sum, covered_sum, *buckets = row
    return {
        "loans": int(count),
        "outstanding_fen": int(outstanding_sum),
        "covered_fen": int(covered_sum),
        "by_days": {name: int(n or 0) for (name, _, _), n in zip(PAST_DUE_BUCKETS, buckets)},
    }


def _collateral(session: Session, as_of: dt.date) -> dict[str, Any] | None:
    """``fund.services.valuation.collateral_summary`` when that service is installed."""
    try:
        from fund.services.valuation import collateral_summary
    except ImportError as exc:
        if getattr(exc, "name", None) not in (None, "fund.services.valuation"):
            raise  # the module exists but something it needs is broken: say so
        return None
    if "as_of" in inspect.signature(collateral_summary).parameters:
        return collateral_summary(session, as_of=as_of)
    return collateral_summary(session)


# --------------------------------------------------------------------------------------------------
# Loans


def list_loan_summaries(
    session: Session,
    *,
    bank_code: str | None = None,
    status: str | None = None,
    coverage: str | None = None,
    after_id: int = 0,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Loans by id (keyset pagination with ``after_id``), one flat row each, for the fund manager's
    and auditor's view. Unknown filter values are refused, not silently matched by nothing."""
    if status is not None and status not in STATUSES:
        raise DomainError("invalid_status", f"status must be one of {', '.join(STATUSES)}", field="status")
    if coverage is not None and coverage not in COVERAGES:
        raise DomainError("invalid_coverage", f"coverage must be one of {', '.join(COVERAGES)}", field="coverage")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
        raise DomainError("invalid_limit", f"limit must be 1..10000, got {limit!r}", field="limit")
    check_after_id(after_id)
    stmt = after(
        select(
            Loan.id, Institution.code, Loan.contract_no, Enterprise.credit_code, Loan.borrower_name, Loan.borrower_sector,
            Loan.drawdown_date, Loan.maturity_date, Loan.principal_fen, Loan.covered_fen,
            (Loan.principal_fen - Loan.principal_repaid_fen), Loan.policy_id, Loan.scheme_code, Loan.coverage,
            Loan.status, Loan.flags,
        )
        .join(Institution, Institution.id == Loan.bank_id)
        .join(Enterprise, Enterprise.id == Loan.enterprise_id),
        Loan.id, after_id, limit,
    )
    if bank_code is not None:
        bank = institution_by_code(session, bank_code, kinds=("bank",), field="bank")
        stmt = stmt.where(Loan.bank_id == bank.id)
    if status is not None:
        stmt = stmt.where(Loan.status == status)
    if coverage is not None:
        stmt = stmt.where(Loan.coverage == coverage)
    keys = ("id", "bank", "contract_no", "borrower_credit_code", "borrower", "sector", "drawdown_date",
            "maturity_date", "principal_fen", "covered_fen", "outstanding_fen", "policy_id", "scheme_code",
            "coverage", "status", "flags")
    return [dict(zip(keys, row)) for row in session.execute(stmt).all()]


def _institution(session: Session, institution_id: int | None) -> dict[str, str] | None:
    if institution_id is None:
        return None
    inst = session.get(Institution, institution_id)
    return {"code": inst.code, "name": inst.name} if inst else None


def loan_detail(session: Session, loan_id: int, as_of: dt.date | None = None) -> dict[str, Any]:
    """One loan in full: terms, borrower, coverage with its reasons in words, pledged assets, the
    schedule (paid so far and whether past due on ``as_of``), repayments and status events."""
    as_of = _as_of(session, as_of)
    loan = session.get(Loan, loan_id)
    if loan is None:
        raise NotFound("loan_not_found", f"no loan {loan_id}", field="loan_id")
    enterprise = session.get(Enterprise, loan.enterprise_id)
    installments = session.scalars(select(Installment).where(Installment.loan_id == loan.id).order_by(Installment.due_date)).all()
    repayments = session.execute(
        select(Repayment.id, Installment.due_date, Repayment.paid_on, Repayment.principal_fen, Repayment.interest_fen,
               Repayment.past_due_at_payment, Repayment.loan_status_at_payment)
        .join(Installment, Installment.id == Repayment.installment_id)
        .where(Repayment.loan_id == loan.id)
        .order_by(Repayment.paid_on, Repayment.id)
    ).all()
    paid_by_as_of: dict[dt.date, tuple[int, int]] = {}
    for _id, due, paid_on, principal, interest, _past, _status in repayments:
        if paid_on <= as_of:
            p, i = paid_by_as_of.get(due, (0, 0))
            paid_by_as_of[due] = (p + principal, i + interest)
    schedule = []
    for inst in installments:
        paid_p, paid_i = paid_by_as_of.get(inst.due_date, (0, 0))
        in_full = paid_p >= inst.principal_due_fen and paid_i >= inst.interest_due_fen
        state = "paid" if in_full else ("past_due" if inst.due_date < as_of else ("partly_paid" if paid_p or paid_i else "not_yet_due"))
        schedule.append({
            "due_date": inst.due_date, "principal_due_fen": inst.principal_due_fen, "interest_due_fen": inst.interest_due_fen,
            "principal_paid_fen": inst.principal_paid_fen, "interest_paid_fen": inst.interest_paid_fen, "state": state,
            "days_past_due": (as_of - inst.due_date).days if state == "past_due" else 0,
        })
    assets = session.scalars(
        select(IpAsset).join(LoanAsset, LoanAsset.asset_id == IpAsset.id).where(LoanAsset.loan_id == loan.id).order_by(IpAsset.id)
    ).all()
    actor = aliased(Institution)
    events = session.execute(
        select(LoanEvent.event, LoanEvent.from_status, LoanEvent.to_status, LoanEvent.business_date, actor.code, LoanEvent.note)
        .outerjoin(actor, actor.id == LoanEvent.actor_id)
        .where(LoanEvent.loan_id == loan.id)
        .order_by(LoanEvent.id)
    ).all()
    return {
        "id": loan.id,
        "as_of": as_of,
        "bank": _institution(session, loan.bank_id),
        "contract_no": loan.contract_no,
        "borrower": {
            # as this loan's bank reported it (docs/rules.md section 3), never another bank's report
            "credit_code": enterprise.credit_code, "name": loan.borrower_name, "district": loan.borrower_district,
            "sector": loan.borrower_sector, "registered_on": loan.borrower_registered_on, "is_sme": loan.borrower_is_sme,
            "clean_credit": loan.borrower_clean_credit,
        },
        "principal_fen": loan.principal_fen,
        "contract_rate_bp": loan.contract_rate_bp,
        "pd_bp": loan.pd_bp,
        "drawdown_date": loan.drawdown_date,
        "maturity_date": loan.maturity_date,
        "ip_share_bp": loan.ip_share_bp,
        "policy_id": loan.policy_id,
        "scheme_code": loan.scheme_code,
        "insurer": _institution(session, loan.insurer_id),
        "insurer_limit_fen": loan.insurer_limit_fen,
        "appraiser": _institution(session, loan.appraiser_id),
        "pledge_registration_no": loan.pledge_registration_no,
        "pledge_registered_on": loan.pledge_registered_on,
        "coverage": loan.coverage,
        "ineligible_reasons": [{"code": r, "text": reason_text(r)} for r in loan.ineligible_reasons],
        "ip_part_fen": loan.ip_part_fen,
        "covered_fen": loan.covered_fen,
        "quota_year": loan.quota_year,
        "flags": [{"code": f, "text": reason_text(f)} for f in loan.flags],
        "status": loan.status,
        "principal_repaid_fen": loan.principal_repaid_fen,
        "outstanding_fen": loan.principal_fen - loan.principal_repaid_fen,
        "registered_on": loan.registered_on,
        "assets": [
            {
                "kind": a.kind, "number": a.number, "title": a.title, "filing_date": a.filing_date,
                "grant_date": a.grant_date, "legal_status": a.legal_status, "owner_credit_code": a.owner_credit_code,
                "appraised_value_fen": a.appraised_value_fen, "appraised_on": a.appraised_on,
                "valuation_inputs": a.valuation_inputs,
            }
            for a in assets
        ],
        "schedule": schedule,
        "repayments": [
            {"due_date": due, "paid_on": paid_on, "principal_fen": principal, "interest_fen": interest,
             "past_due_at_payment": past, "loan_status_at_payment": status}
            for _id, due, paid_on, principal, interest, past, status in repayments
        ],
        "events": [
            {"event": e, "from_status": f, "to_status": t, "business_date": d, "actor": code, "note": note}
            for e, f, t, d, code, note in events
        ],
    }
