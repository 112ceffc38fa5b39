"""The loan registry as a service: register, repay, cancel, move status. Each public function runs
inside the caller's transaction (``unit_of_work``); the rules themselves are in ``fund.domain``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from fund.adapters.models.registry import (
    BorrowerQuota,
    Enterprise,
    EnterpriseReport,
    Installment,
    Institution,
    IpAsset,
    Loan,
    LoanAsset,
    LoanEvent,
    Repayment,
)
from fund.domain.identifiers import normalize_ip_number, validate_uscc
from fund.domain.policy import Policy
from fund.domain.registry import (
    AssetIn,
    BorrowerFacts,
    LoanApplication,
    apply_quota,
    check_application,
    check_scheme_parties,
    decide_eligibility,
)
from fund.domain.status import RELEASED_STATUSES, next_status
from fund.errors import Conflict, DomainError, Forbidden, NotFound
from fund.services.common import for_update, institution_by_code
from fund.services.policies import active_policy_on


@dataclass(frozen=True)
class Actor:
    """Who calls: an institution (its id, code and kind)."""

    institution_id: int
    code: str
    kind: str

    @classmethod
    def of(cls, inst: Institution) -> "Actor":
        return cls(inst.id, inst.code, inst.kind)


def _normalise(app: LoanApplication, *, allow_pilot_code: bool) -> LoanApplication:
    from dataclasses import replace

    borrower = replace(
        app.borrower,
        credit_code=validate_uscc(app.borrower.credit_code, allow_failed_check=allow_pilot_code, field="borrower.credit_code"),
    )
    assets = tuple(
        replace(
            a,
            number=normalize_ip_number(a.kind, a.number, field=f"assets[{i}].number"),
            owner_credit_code=validate_uscc(a.owner_credit_code, allow_failed_check=allow_pilot_code, field=f"assets[{i}].owner_credit_code"),
        )
        for i, a in enumerate(app.assets)
    )
    return replace(app, borrower=borrower, assets=assets)


def register_loan(
    session: Session,
    bank: Actor,
    app: LoanApplication,
    business_date: dt.date,
    *,
    pilot_code_reason: str | None = None,
) -> Loan:
    """Register one loan with its borrower, schedule and pledged assets (RULES section 3)."""
    if bank.kind != "bank":
        raise Forbidden("forbidden", "only a bank registers loans")
    if pilot_code_reason is not None and not pilot_code_reason.strip():
        raise DomainError("missing_reason", "a pilot credit code needs a stated reason", field="pilot_code_reason")
    app = _normalise(app, allow_pilot_code=pilot_code_reason is not None)
    check_application(app, business_date)

    if session.scalar(select(Loan.id).where(Loan.bank_id == bank.institution_id, Loan.contract_no == app.contract_no)):
        raise Conflict("duplicate_contract", f"contract {app.contract_no!r} is already registered by this bank", field="contract_no")

    policy = active_policy_on(session, app.drawdown_date)
    if policy is not None:
        check_scheme_parties(app, policy)
    insurer_id = appraiser_id = None
    if app.insurer_code:
        insurer_id = institution_by_code(session, app.insurer_code, kinds=("insurer", "guarantor"), field="insurer_code").id
    if app.appraiser_code:
        appraiser_id = institution_by_code(session, app.appraiser_code, kinds=("appraiser",), field="appraiser_code").id

    enterprise, conflicts = _borrower(session, bank, app, pilot_code_reason)
    asset_rows = [_asset(session, asset, i) for i, asset in enumerate(app.assets)]

    decision = decide_eligibility(
        app, policy, BorrowerFacts(enterprise.registered_on, enterprise.is_sme, enterprise.clean_credit)
    )
    quota_year = app.drawdown_date.year if policy is not None else None
    used = 0
    quota_row = None
    if decision.eligible and policy is not None and policy.borrower_annual_quota_fen is not None:
        quota_row = _lock_quota(session, enterprise.id, policy.id, app.drawdown_date.year)
        used = quota_row.used_fen
    coverage = apply_quota(decision, policy.borrower_annual_quota_fen if policy else None, used)
    if quota_row is not None:
        quota_row.used_fen = used + coverage.quota_used_fen

    flags = list(coverage.flags)
    if conflicts:
        flags.append("borrower_data_differs")
    if _pledge_rate_exceeded(coverage.ip_part_fen, app.assets):
        flags.append("pledge_rate_exceeded")
    if pilot_code_reason is not None:
        flags.append("pilot_credit_code")

    loan = Loan(
        bank_id=bank.institution_id,
        contract_no=app.contract_no,
        enterprise_id=enterprise.id,
        principal_fen=app.principal_fen,
        contract_rate_bp=app.contract_rate_bp,
        pd_bp=app.pd_bp,
        drawdown_date=app.drawdown_date,
        maturity_date=app.maturity_date,
        ip_share_bp=app.ip_share_bp,
        scheme_code=app.scheme_code,
        policy_id=policy.id if policy else None,
        insurer_id=insurer_id,
        insurer_limit_fen=app.insurer_limit_fen,
        appraiser_id=appraiser_id,
        pledge_registration_no=app.pledge_registration_no,
        pledge_registered_on=app.pledge_registered_on,
        coverage="eligible" if coverage.eligible else "ineligible",
        ineligible_reasons=list(coverage.reasons),
        ip_part_fen=coverage.ip_part_fen,
        covered_fen=coverage.covered_fen,
        quota_year=quota_year if coverage.eligible else None,
        status="active",
        principal_repaid_fen=0,
        flags=flags,
        registered_on=business_date,
    )
    session.add(loan)
    session.flush()
    session.add_all(
        Installment(
            loan_id=loan.id,
            due_date=i.due_date,
            principal_due_fen=i.principal_due_fen,
            interest_due_fen=i.interest_due_fen,
            principal_paid_fen=0,
            interest_paid_fen=0,
        )
        for i in sorted(app.schedule, key=lambda inst: inst.due_date)
    )
    session.add_all(LoanAsset(loan_id=loan.id, asset_id=a.id) for a in asset_rows)
    session.add(
        EnterpriseReport(
            enterprise_id=enterprise.id, institution_id=bank.institution_id, loan_id=loan.id,
            data=app.borrower.master_data(), conflicts=conflicts,
        )
    )
    _event(session, loan, "registered", None, "active", bank.institution_id, business_date)
    session.flush()
    session.refresh(loan)
    return loan


def _borrower(session: Session, bank: Actor, app: LoanApplication, pilot_reason: str | None) -> tuple[Enterprise, list[str]]:
    b = app.borrower
    enterprise, created = _insert_or_get(
        session, Enterprise, Enterprise.credit_code == b.credit_code, ["credit_code"],
        dict(credit_code=b.credit_code, name=b.name, district=b.district, sector=b.sector,
             registered_on=b.registered_on, is_sme=b.is_sme, clean_credit=b.clean_credit,
             credit_code_override_reason=pilot_reason, first_reported_by=bank.institution_id),
    )
    if created:
        return enterprise, []
    master = {
        "name": enterprise.name, "district": enterprise.district, "sector": enterprise.sector,
        "registered_on": enterprise.registered_on.isoformat(), "is_sme": enterprise.is_sme,
        "clean_credit": enterprise.clean_credit,
    }
    reported = b.master_data()
    return enterprise, sorted(k for k in master if master[k] != reported[k])


def _insert_or_get(session: Session, model, where, conflict_columns: list[str], values: dict):
    """The row matching ``where``, inserted from ``values`` when absent, locked; returns (row, created).
    Safe when two transactions insert the same key at once: the second waits, then reads the first's."""
    if session.get_bind().dialect.name == "postgresql":
        inserted = session.execute(
            pg_insert(model).values(**values).on_conflict_do_nothing(index_elements=conflict_columns).returning(model.id)
        ).scalar()
        row = session.scalar(select(model).where(where).with_for_update().execution_options(populate_existing=True))
        return row, inserted is not None
    row = session.scalar(select(model).where(where))
    if row is not None:
        return row, False
    row = model(**values)
    session.add(row)
    session.flush()
    return row, True


def _asset(session: Session, asset: AssetIn, index: int) -> IpAsset:
    row, created = _insert_or_get(
        session, IpAsset, (IpAsset.kind == asset.kind) & (IpAsset.number == asset.number), ["kind", "number"],
        dict(kind=asset.kind, number=asset.number, title=asset.title, filing_date=asset.filing_date,
             grant_date=asset.grant_date, legal_status=asset.legal_status, owner_credit_code=asset.owner_credit_code,
             appraised_value_fen=asset.appraised_value_fen, appraised_on=asset.appraised_on,
             valuation_inputs=asset.valuation_inputs),
    )
    if not created:
        busy = session.scalar(
            select(Loan.id)
            .join(LoanAsset, LoanAsset.loan_id == Loan.id)
            .where(LoanAsset.asset_id == row.id, Loan.status.not_in(RELEASED_STATUSES))
            .limit(1)
        )
        if busy is not None:
            raise Conflict(
                "ip_already_pledged", f"{asset.kind} {asset.number} is pledged on a loan that is still open",
                field=f"assets[{index}].number",
            )
    return row


def _pledge_rate_exceeded(ip_part_fen: int, assets: tuple[AssetIn, ...]) -> bool:
    try:
        from risk.valuation import pledge_rate_exceeded
    except ImportError:  # the valuation module lands separately
        return False
    return pledge_rate_exceeded(ip_part_fen, [(a.kind, a.appraised_value_fen) for a in assets])


def _lock_quota(session: Session, enterprise_id: int, policy_id: str, year: int) -> BorrowerQuota:
    """The quota row, locked, so registrations racing for one borrower's quota serialise."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            pg_insert(BorrowerQuota)
            .values(enterprise_id=enterprise_id, policy_id=policy_id, year=year, used_fen=0)
            .on_conflict_do_nothing()
        )
    elif session.get(BorrowerQuota, (enterprise_id, policy_id, year)) is None:
        session.add(BorrowerQuota(enterprise_id=enterprise_id, policy_id=policy_id, year=year, used_fen=0))
        session.flush()
    row = session.scalar(
        for_update(
            session,
            select(BorrowerQuota).where(
                BorrowerQuota.enterprise_id == enterprise_id, BorrowerQuota.policy_id == policy_id, BorrowerQuota.year == year
            ),
        ).execution_options(populate_existing=True)
    )
    assert row is not None
    return row


def _event(session: Session, loan: Loan, event: str, from_status: str | None, to_status: str, actor_id: int | None,
           business_date: dt.date, note: str | None = None) -> None:
    session.add(LoanEvent(loan_id=loan.id, event=event, from_status=from_status, to_status=to_status,
                          actor_id=actor_id, business_date=business_date, note=note))


def move_status(session: Session, loan: Loan, event: str, actor_id: int | None, business_date: dt.date, note: str | None = None) -> str:
    """Apply one event of the status table; refuses every other move."""
    target = next_status(loan.status, event, principal_left_fen=loan.outstanding_fen)
    _event(session, loan, event, loan.status, target, actor_id, business_date, note)
    loan.status = target
    return target


def loan_for(session: Session, actor: Actor, loan_id: int, *, lock: bool = False) -> Loan:
    """A loan as the actor may see it: a bank sees only its own (others are 404, as if absent)."""
    stmt = select(Loan).where(Loan.id == loan_id)
    if actor.kind == "bank":
        stmt = stmt.where(Loan.bank_id == actor.institution_id)
    elif actor.kind not in ("fund_manager", "auditor"):
        raise NotFound("loan_not_found", f"no loan {loan_id}", field="loan_id")
    if lock:
        stmt = for_update(session, stmt)
    loan = session.scalar(stmt)
    if loan is None:
        raise NotFound("loan_not_found", f"no loan {loan_id}", field="loan_id")
    return loan


def earliest_unpaid_due(session: Session, loan_id: int, on: dt.date) -> dt.date | None:
    """Due date of the earliest installment not paid in full by ``on`` (repayments paid on or before it)."""
    paid = (
        select(
            Repayment.installment_id,
            func.sum(Repayment.principal_fen).label("p"),
            func.sum(Repayment.interest_fen).label("i"),
        )
        .where(Repayment.loan_id == loan_id, Repayment.paid_on <= on)
        .group_by(Repayment.installment_id)
        .subquery()
    )
    return session.scalar(
        select(func.min(Installment.due_date))
        .outerjoin(paid, paid.c.installment_id == Installment.id)
        .where(
            Installment.loan_id == loan_id,
            (func.coalesce(paid.c.p, 0) < Installment.principal_due_fen)
            | (func.coalesce(paid.c.i, 0) < Installment.interest_due_fen),
        )
    )


def record_repayment(
    session: Session,
    bank: Actor,
    loan_id: int,
    due_date: dt.date,
    paid_on: dt.date,
    principal_fen: int,
    interest_fen: int,
    business_date: dt.date,
) -> Repayment:
    """Record a repayment against the installment due on ``due_date`` (RULES section 3)."""
    if bank.kind != "bank":
        raise Forbidden("forbidden", "only a bank records repayments")
    loan = loan_for(session, bank, loan_id, lock=True)
    if loan.status not in ("active", "claimed"):
        raise Conflict("loan_not_open", f"loan {loan.id} is {loan.status}: repayments are recorded on active and claimed loans only", field="loan_id")
    if principal_fen < 0 or interest_fen < 0 or principal_fen + interest_fen == 0:
        raise DomainError("invalid_amount", "principal_fen and interest_fen must be >= 0 and not both 0", field="principal_fen")
    if paid_on > business_date:
        raise DomainError("dated_after_business_date", f"paid_on {paid_on} is after the business date {business_date}", field="paid_on")
    if paid_on < loan.drawdown_date:
        raise DomainError("paid_before_drawdown", f"paid_on {paid_on} is before the drawdown {loan.drawdown_date}", field="paid_on")
    inst = session.scalar(
        for_update(session, select(Installment).where(Installment.loan_id == loan.id, Installment.due_date == due_date))
    )
    if inst is None:
        raise DomainError("unknown_installment", f"loan {loan.id} has no installment due on {due_date}", field="due_date")
    if principal_fen > inst.principal_due_fen - inst.principal_paid_fen:
        raise DomainError("repayment_exceeds_due", f"principal {principal_fen} exceeds the {inst.principal_due_fen - inst.principal_paid_fen} fen still due on {due_date}", field="principal_fen")
    if interest_fen > inst.interest_due_fen - inst.interest_paid_fen:
        raise DomainError("repayment_exceeds_due", f"interest {interest_fen} exceeds the {inst.interest_due_fen - inst.interest_paid_fen} fen still due on {due_date}", field="interest_fen")
    earliest = earliest_unpaid_due(session, loan.id, paid_on)
    past_due = earliest is not None and earliest < paid_on
    repayment = Repayment(
        loan_id=loan.id, installment_id=inst.id, paid_on=paid_on, principal_fen=principal_fen,
        interest_fen=interest_fen, loan_status_at_payment=loan.status, past_due_at_payment=past_due,
        recorded_by=bank.institution_id,
    )
    inst.principal_paid_fen += principal_fen
    inst.interest_paid_fen += interest_fen
    loan.principal_repaid_fen += principal_fen
    session.add(repayment)
    if loan.status == "active" and loan.outstanding_fen == 0:
        move_status(session, loan, "all_repaid", bank.institution_id, business_date)
    session.flush()
    return repayment


def cancel_loan(session: Session, bank: Actor, loan_id: int, business_date: dt.date) -> Loan:
    """Cancel an active loan with no repayment recorded; its covered principal goes back to the quota."""
    if bank.kind != "bank":
        raise Forbidden("forbidden", "only the loan's bank cancels it")
    loan = loan_for(session, bank, loan_id, lock=True)
    if session.scalar(select(Repayment.id).where(Repayment.loan_id == loan.id).limit(1)) is not None:
        raise Conflict("loan_has_repayments", f"loan {loan.id} has repayments recorded and cannot be cancelled", field="loan_id")
    move_status(session, loan, "cancel", bank.institution_id, business_date)
    if loan.covered_fen and loan.policy_id and loan.quota_year is not None:
        quota = _lock_quota(session, loan.enterprise_id, loan.policy_id, loan.quota_year)
        quota.used_fen -= loan.covered_fen
    return loan


def loan_policy(session: Session, loan: Loan) -> Policy | None:
    from fund.services.policies import get_policy

    return get_policy(session, loan.policy_id) if loan.policy_id else None


def list_loans(
    session: Session,
    actor: Actor,
    *,
    status: str | None = None,
    coverage: str | None = None,
    drawdown_from: dt.date | None = None,
    drawdown_to: dt.date | None = None,
    bank_code: str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[Loan]:
    """Loans the actor may see, by id, keyset-paginated (``after_id``)."""
    stmt = select(Loan).where(Loan.id > after_id)
    if actor.kind == "bank":
        stmt = stmt.where(Loan.bank_id == actor.institution_id)
    elif actor.kind not in ("fund_manager", "auditor"):
        return []
    elif bank_code:
        stmt = stmt.join(Institution, Institution.id == Loan.bank_id).where(Institution.code == bank_code)
    conditions = []
    if status:
        conditions.append(Loan.status == status)
    if coverage:
        conditions.append(Loan.coverage == coverage)
    if drawdown_from:
        conditions.append(Loan.drawdown_date >= drawdown_from)
    if drawdown_to:
        conditions.append(Loan.drawdown_date <= drawdown_to)
    if conditions:
        stmt = stmt.where(and_(*conditions))
    return list(session.scalars(stmt.order_by(Loan.id).limit(limit)))


def loan_assets(session: Session, loan_id: int) -> list[IpAsset]:
    return list(
        session.scalars(select(IpAsset).join(LoanAsset, LoanAsset.asset_id == IpAsset.id).where(LoanAsset.loan_id == loan_id).order_by(IpAsset.id))
    )
