"""The loan registry as a service: register, repay, cancel, move status. Each public function runs
inside the caller's transaction (``unit_of_work``); the rules themselves are in ``fund.domain``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from collections.abc import Mapping, Sequence

from sqlalchemy import and_, bindparam, func, insert, select, tuple_
from sqlalchemy.orm import Session, lazyload

from fund.adapters.models.registry import (
    BorrowerQuota,
    Enterprise,
    Installment,
    Institution,
    IpAsset,
    Loan,
    LoanAsset,
    LoanEvent,
    PilotCodeAllowance,
    Repayment,
)
from fund.adapters.dialect import bulk_insert, for_update, insert_ignoring_conflicts, insert_returning_ids, writers_serialised
from fund.domain.dates import check_event_date, check_input_date
from fund.domain.identifiers import normalize_ip_number, validate_uscc
from fund.domain.policy import policy_in_force
from fund.domain.registry import (
    AssetIn,
    RepaymentIn,
    BorrowerFacts,
    LoanApplication,
    apply_quota,
    check_application,
    check_scheme_parties,
    decide_eligibility,
)
from fund.domain.status import RELEASED_STATUSES, next_status
from fund.errors import Conflict, DomainError, Forbidden, NotFound
from fund.services.common import SessionFactory, within
from fund.services.common import business_date as read_business_date
from fund.services.paging import after
from fund.services.policies import active_policies


@dataclass(frozen=True)
class Actor:
    """Who calls: an institution (its id, code and kind) and, where a named person acts (a signed-in
    user, or a key issued to a person), that person (``fund.services.people.person_actor``); a bank's
    system key leaves ``person_id`` None.

    >>> Actor(1, "FM", "fund_manager", person_id=7, login="li.officer", roles=("officer",)).has_role("officer")
    True
    """

    institution_id: int
    code: str
    kind: str
    person_id: int | None = None
    login: str | None = None
    display_name: str | None = None
    roles: tuple[str, ...] = ()
    key_prefix: str | None = None

    @classmethod
    def of(cls, inst: Institution) -> "Actor":
        return cls(inst.id, inst.code, inst.kind)

    def has_role(self, role: str) -> bool:
        return self.person_id is not None and role in self.roles


def _credit_code(code: str, allowed: Mapping[str, str], field_name: str) -> tuple[str, str | None]:
    """The normal form of a credit code and, for a pilot code the fund manager allowed (one that
    fails only its check character), the reason stated for it."""
    try:
        return validate_uscc(code, field=field_name), None
    except DomainError as exc:
        if exc.extra.get("problem") != "check_digit":
            raise
        normal = validate_uscc(code, allow_failed_check=True, field=field_name)
        if normal not in allowed:
            raise
        return normal, allowed[normal]


def _normalise(app: LoanApplication, allowed: Mapping[str, str]) -> tuple[LoanApplication, str | None]:
    """Identifiers in their normal form; the pilot-code reason if any code of the loan is one."""
    from dataclasses import replace

    code, reason = _credit_code(app.borrower.credit_code, allowed, "borrower.credit_code")
    reasons = [reason]
    assets = []
    for i, a in enumerate(app.assets):
        owner, owner_reason = _credit_code(a.owner_credit_code, allowed, f"assets[{i}].owner_credit_code")
        reasons.append(owner_reason)
        assets.append(replace(a, number=normalize_ip_number(a.kind, a.number, field=f"assets[{i}].number"), owner_credit_code=owner))
    app = replace(app, borrower=replace(app.borrower, credit_code=code), assets=tuple(assets))
    return app, next((r for r in reasons if r is not None), None)


def allowed_pilot_codes(session: Session, apps: Sequence[LoanApplication]) -> dict[str, str]:
    """The pilot codes among the batch's credit codes that the fund manager allowed, with reasons."""
    codes = set()
    for app in apps:
        for code in (app.borrower.credit_code, *(a.owner_credit_code for a in app.assets)):
            try:
                codes.add(validate_uscc(code, allow_failed_check=True))
            except DomainError:
                pass  # refused with its own message when the item is checked
    rows = session.execute(select(PilotCodeAllowance.credit_code, PilotCodeAllowance.reason).where(PilotCodeAllowance.credit_code.in_(codes)))
    return dict(rows.all())


def allow_pilot_code(session: Session, actor: Actor, credit_code: str, reason: str, business_date: dt.date) -> PilotCodeAllowance:
    """docs/rules.md I1: some early pilot codes fail the check character; only the fund manager may let one be
    registered, with a stated reason. Length and characters must still be right."""
    if actor.kind != "fund_manager":
        raise Forbidden("forbidden", "only the fund manager allows a pilot credit code")
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise DomainError("missing_reason", "a pilot credit code needs a stated reason (1..500 characters)", field="reason")
    code = validate_uscc(credit_code, allow_failed_check=True, field="credit_code")
    try:
        validate_uscc(code)
    except DomainError:
        pass
    else:
        raise DomainError("not_a_pilot_code", f"{code} passes its check: it needs no allowance", field="credit_code")
    existing = session.get(PilotCodeAllowance, code)
    if existing is not None:
        if existing.reason != reason:
            raise Conflict("pilot_code_allowed", f"{code} is already allowed with another reason", field="credit_code")
        return existing
    row = PilotCodeAllowance(credit_code=code, reason=reason, allowed_by=actor.institution_id, allowed_on=business_date)
    session.add(row)
    session.flush()
    return row


def repayments_by_ids(session: Session, ids: Sequence[int]) -> list[Repayment]:
    """The repayments with these ids, in the order given (a batch reads back what it recorded)."""
    rows = {r.id: r for r in session.scalars(select(Repayment).where(Repayment.id.in_(list(ids))))} if ids else {}
    return [rows[i] for i in ids]


def list_pilot_codes(session: Session) -> list[PilotCodeAllowance]:
    """The allowed pilot credit codes, by code."""
    return list(session.scalars(select(PilotCodeAllowance).order_by(PilotCodeAllowance.credit_code)))


class BatchRefused(DomainError):
    """A batch with one or more refused items: nothing of it is written. ``items`` lists
    ``(index, DomainError)`` for every item at fault. A batch whose every refusal is a conflict (all
    duplicates, say) is itself a ``Conflict`` (``ConflictingBatchRefused``); any other, a plain refusal.

    >>> isinstance(BatchRefused([(0, Conflict("duplicate_contract", "taken"))]), Conflict)
    True
    >>> isinstance(BatchRefused([(0, Conflict("duplicate_contract", "taken")), (1, DomainError("invalid_rate", "0"))]), Conflict)
    False
    """

    def __new__(cls, items: Sequence[tuple[int, DomainError]], *args, **kwargs):
        if cls is BatchRefused and items and all(isinstance(e, Conflict) for _, e in items):
            cls = ConflictingBatchRefused
        return super().__new__(cls)

    def __init__(self, items: Sequence[tuple[int, DomainError]]) -> None:
        items = sorted(items, key=lambda pair: pair[0])
        first_index, first = items[0]
        super().__init__(
            "batch_refused",
            f"{len(items)} item(s) refused, nothing written; item {first_index}: {first.message}",
            field=f"items[{first_index}].{first.field}" if first.field else f"items[{first_index}]",
        )
        self.items = items


class ConflictingBatchRefused(BatchRefused, Conflict):
    """A refused batch whose every item is a conflict."""


def register_loan(
    session: Session,
    bank: Actor,
    app: LoanApplication,
    business_date: dt.date,
) -> Loan:
    """Register one loan with its borrower, schedule and pledged assets (docs/rules.md section 3)."""
    try:
        return register_loans(session, bank, [app], business_date)[0]
    except BatchRefused as refused:
        raise refused.items[0][1] from None


def register_loans(
    session: Session,
    bank: Actor,
    apps: Sequence[LoanApplication],
    business_date: dt.date,
) -> list[Loan]:
    """Register loans all-or-nothing, set-based: a few queries for the whole batch, not per loan.

    Every item is checked before anything is written; if any is refused, BatchRefused lists each
    refused item by index. The borrower quota is consumed in batch order, after every earlier
    registration (the quota rows are locked, so concurrent registrations serialise). A credit code
    that fails its check is accepted only when the fund manager allowed it (``allow_pilot_code``).
    """
    if bank.kind != "bank":
        raise Forbidden("forbidden", "only a bank registers loans")
    allowed = allowed_pilot_codes(session, apps)
    errors: dict[int, DomainError] = {}
    items: list[LoanApplication | None] = []
    reasons: list[str | None] = []
    for index, app in enumerate(apps):
        try:
            app, reason = _normalise(app, allowed)
            check_application(app, business_date)
            items.append(app)
            reasons.append(reason)
        except DomainError as exc:
            errors[index] = exc
            items.append(None)
            reasons.append(None)

    policies = active_policies(session)

    codes = {c for app in items if app for c in (app.insurer_code, app.appraiser_code) if c}
    institutions = {i.code: i for i in session.scalars(select(Institution).where(Institution.code.in_(codes)))} if codes else {}
    contracts = [app.contract_no for app in items if app]
    taken = set(
        session.scalars(select(Loan.contract_no).where(Loan.bank_id == bank.institution_id, Loan.contract_no.in_(contracts)))
    ) if contracts else set()
    pairs = {(a.kind, a.number) for app in items if app for a in app.assets}
    existing_assets = _assets_by_key(session, pairs)
    busy = _busy_asset_ids(session, [a.id for a in existing_assets.values()])

    seen_contracts: set[str] = set()
    seen_assets: dict[tuple[str, str], int] = {}
    for index, app in enumerate(items):
        if app is None:
            continue
        try:
            if app.contract_no in taken or app.contract_no in seen_contracts:
                raise Conflict("duplicate_contract", f"contract {app.contract_no!r} is already registered by this bank", field="contract_no")
            seen_contracts.add(app.contract_no)
            policy = policy_in_force(policies, app.drawdown_date)
            if policy is not None:
                check_scheme_parties(app, policy)
            for field_name, code, kinds in (
                ("insurer_code", app.insurer_code, ("insurer", "guarantor")),
                ("appraiser_code", app.appraiser_code, ("appraiser",)),
            ):
                if code:
                    inst = institutions.get(code)
                    if inst is None:
                        raise NotFound("unknown_institution", f"no institution with code {code!r}", field=field_name)
                    if inst.kind not in kinds:
                        raise DomainError("wrong_institution_kind", f"institution {code} is a {inst.kind}, expected {' or '.join(kinds)}", field=field_name)
            for i, asset in enumerate(app.assets):
                key = (asset.kind, asset.number)
                row = existing_assets.get(key)
                if (row is not None and row.id in busy) or key in seen_assets:
                    raise Conflict("ip_already_pledged", f"{asset.kind} {asset.number} is pledged on a loan that is still open", field=f"assets[{i}].number")
            for asset in app.assets:
                seen_assets[(asset.kind, asset.number)] = index
        except DomainError as exc:
            errors[index] = exc
    if errors:
        raise BatchRefused(sorted(errors.items()))
    ready: list[tuple[LoanApplication, str | None]] = [(app, reason) for app, reason in zip(items, reasons) if app is not None]

    enterprises = _borrowers(session, bank, ready)
    assets = _insert_assets(session, [a for app, _ in ready for a in app.assets], existing_assets)
    # Where writers run side by side (PostgreSQL) another transaction may have pledged an asset since
    # the check above: the asset rows are now locked, so a second look is final.
    if not writers_serialised(session):
        late = _busy_asset_ids(session, [a.id for a in assets.values()])
        for index, (app, _) in enumerate(ready):
            for i, asset in enumerate(app.assets):
                if assets[(asset.kind, asset.number)].id in late:
                    raise BatchRefused([(index, Conflict("ip_already_pledged", f"{asset.kind} {asset.number} is pledged on a loan that is still open", field=f"assets[{i}].number"))])

    from fund.services.pool import bank_standing

    standing = bank_standing(session, bank.institution_id)
    decisions = []
    quota_keys = set()
    for app, _ in ready:
        enterprise = enterprises[app.borrower.credit_code]
        policy = policy_in_force(policies, app.drawdown_date)
        # this loan's own borrower data, as its bank reported it (docs/rules.md section 3)
        decision = decide_eligibility(app, policy, BorrowerFacts(app.borrower.registered_on, app.borrower.is_sme, app.borrower.clean_credit))
        pool_reasons = standing.reasons(policy.id if policy else None, app.drawdown_date)  # B1, B2
        if pool_reasons:
            decision = replace(decision, eligible=False, reasons=decision.reasons + pool_reasons)
        decisions.append((policy, decision))
        if decision.eligible and policy is not None and policy.borrower_annual_quota_fen is not None:
            quota_keys.add((enterprise.id, policy.id, app.drawdown_date.year))
    quotas = _lock_quotas(session, sorted(quota_keys))

    loan_rows = []
    for (app, reason), (policy, decision) in zip(ready, decisions):
        enterprise = enterprises[app.borrower.credit_code]
        quota = quotas.get((enterprise.id, policy.id, app.drawdown_date.year)) if policy else None
        coverage = apply_quota(decision, policy.borrower_annual_quota_fen if policy else None, quota.used_fen if quota else 0)
        if quota is not None:
            quota.used_fen += coverage.quota_used_fen
        flags = list(coverage.flags)
        if _pledge_rate_exceeded(coverage.ip_part_fen, app.assets):
            flags.append("pledge_rate_exceeded")
        if reason is not None:
            flags.append("pilot_credit_code")
        loan_rows.append(dict(
            bank_id=bank.institution_id, contract_no=app.contract_no, enterprise_id=enterprise.id,
            borrower_name=app.borrower.name, borrower_district=app.borrower.district, borrower_sector=app.borrower.sector,
            borrower_registered_on=app.borrower.registered_on, borrower_is_sme=app.borrower.is_sme,
            borrower_clean_credit=app.borrower.clean_credit,
            principal_fen=app.principal_fen, contract_rate_bp=app.contract_rate_bp, pd_bp=app.pd_bp,
            drawdown_date=app.drawdown_date, maturity_date=app.maturity_date, ip_share_bp=app.ip_share_bp,
            scheme_code=app.scheme_code, policy_id=policy.id if policy else None,
            insurer_id=institutions[app.insurer_code].id if app.insurer_code else None,
            insurer_limit_fen=app.insurer_limit_fen,
            appraiser_id=institutions[app.appraiser_code].id if app.appraiser_code else None,
            pledge_registration_no=app.pledge_registration_no, pledge_registered_on=app.pledge_registered_on,
            coverage="eligible" if coverage.eligible else "ineligible", ineligible_reasons=list(coverage.reasons),
            ip_part_fen=coverage.ip_part_fen, covered_fen=coverage.covered_fen,
            quota_year=app.drawdown_date.year if coverage.eligible and policy else None,
            status="active", principal_repaid_fen=0, flags=flags, registered_on=business_date,
        ))
    loan_ids = insert_returning_ids(session, Loan, loan_rows)
    bulk_insert(session, Installment, [
        dict(loan_id=loan_id, due_date=i.due_date, principal_due_fen=i.principal_due_fen,
             interest_due_fen=i.interest_due_fen, principal_paid_fen=0, interest_paid_fen=0)
        for loan_id, (app, _) in zip(loan_ids, ready) for i in sorted(app.schedule, key=lambda inst: inst.due_date)
    ])
    bulk_insert(session, LoanAsset, [
        dict(loan_id=loan_id, asset_id=assets[(a.kind, a.number)].id) for loan_id, (app, _) in zip(loan_ids, ready) for a in app.assets
    ])
    bulk_insert(session, LoanEvent, [
        dict(loan_id=loan_id, event="registered", from_status=None, to_status="active", actor_id=bank.institution_id,
             business_date=business_date, note=None)
        for loan_id in loan_ids
    ])
    session.flush()
    with_inputs = [loan_id for loan_id, (app, _) in zip(loan_ids, ready) if any(a.valuation_inputs for a in app.assets)]
    if with_inputs:
        # Loans registered with valuation inputs get a model value (rule V) as of the registration.
        from fund.services.valuation import value_assets_for_loans

        value_assets_for_loans(session, with_inputs, business_date)
    loans = {
        loan.id: loan
        for loan in session.scalars(
            select(Loan).where(Loan.id.in_(loan_ids)).options(lazyload(Loan.installments)).execution_options(populate_existing=True)
        )
    }
    return [loans[i] for i in loan_ids]


def _assets_by_key(session: Session, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], IpAsset]:
    found: dict[tuple[str, str], IpAsset] = {}
    ordered = sorted(pairs)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start:start + 500]
        for row in session.scalars(select(IpAsset).where(tuple_(IpAsset.kind, IpAsset.number).in_(chunk))):
            found[(row.kind, row.number)] = row
    return found


def _busy_asset_ids(session: Session, asset_ids: list[int]) -> set[int]:
    """Assets pledged on a loan that is not repaid, cancelled or closed."""
    if not asset_ids:
        return set()
    return set(session.scalars(
        select(LoanAsset.asset_id).join(Loan, Loan.id == LoanAsset.loan_id)
        .where(LoanAsset.asset_id.in_(asset_ids), Loan.status.not_in(RELEASED_STATUSES))
    ))


def _borrowers(session: Session, bank: Actor, ready) -> dict[str, Enterprise]:
    """Enterprises by credit code, created by their first registration. What another bank reported
    about a borrower is never compared with this bank's report here: each loan keeps its own."""
    first_reports: dict[str, tuple] = {}
    for app, reason in ready:
        first_reports.setdefault(app.borrower.credit_code, (app.borrower, reason))
    codes = sorted(first_reports)
    existing = {e.credit_code: e for e in session.scalars(select(Enterprise).where(Enterprise.credit_code.in_(codes)))}
    missing = [
        dict(credit_code=b.credit_code, name=b.name, district=b.district, sector=b.sector, registered_on=b.registered_on,
             is_sme=b.is_sme, clean_credit=b.clean_credit, credit_code_override_reason=reason,
             first_reported_by=bank.institution_id)
        for code, (b, reason) in first_reports.items() if code not in existing
    ]
    if missing:
        insert_ignoring_conflicts(session, Enterprise, missing, index_elements=["credit_code"])
        existing = {e.credit_code: e for e in session.scalars(
            select(Enterprise).where(Enterprise.credit_code.in_(codes)).execution_options(populate_existing=True)
        )}
    return existing


def _insert_assets(session: Session, assets_in: list[AssetIn], existing: dict[tuple[str, str], IpAsset]) -> dict[tuple[str, str], IpAsset]:
    missing: dict[tuple[str, str], dict] = {}
    for a in assets_in:
        key = (a.kind, a.number)
        if key not in existing and key not in missing:
            missing[key] = dict(kind=a.kind, number=a.number, title=a.title, filing_date=a.filing_date, grant_date=a.grant_date,
                                legal_status=a.legal_status, owner_credit_code=a.owner_credit_code,
                                appraised_value_fen=a.appraised_value_fen, appraised_on=a.appraised_on,
                                valuation_inputs=a.valuation_inputs)
    insert_ignoring_conflicts(session, IpAsset, list(missing.values()), index_elements=["kind", "number"])
    keys = {(a.kind, a.number) for a in assets_in}
    if not missing and writers_serialised(session):  # nothing new and nothing to lock
        return {k: existing[k] for k in keys}
    rows: dict[tuple[str, str], IpAsset] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), 500):
        stmt = select(IpAsset).where(tuple_(IpAsset.kind, IpAsset.number).in_(ordered[start:start + 500])).order_by(IpAsset.id)
        for row in session.scalars(for_update(session, stmt).execution_options(populate_existing=True)):
            rows[(row.kind, row.number)] = row
    return rows


def _pledge_rate_exceeded(ip_part_fen: int, assets: tuple[AssetIn, ...]) -> bool:
    from risk.valuation import pledge_rate_exceeded  # numpy: loaded only when a loan is registered

    return pledge_rate_exceeded(ip_part_fen, [(a.kind, a.appraised_value_fen) for a in assets])


def _lock_quotas(session: Session, keys: list[tuple[int, str, int]]) -> dict[tuple[int, str, int], BorrowerQuota]:
    """Quota rows for (enterprise, policy, year), created when absent and locked in key order, so
    registrations racing for one borrower's quota serialise (and never deadlock)."""
    if not keys:
        return {}
    insert_ignoring_conflicts(session, BorrowerQuota, [dict(enterprise_id=e, policy_id=p, year=y, used_fen=0) for e, p, y in keys])
    rows = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        stmt = (
            select(BorrowerQuota)
            .where(tuple_(BorrowerQuota.enterprise_id, BorrowerQuota.policy_id, BorrowerQuota.year).in_(chunk))
            .order_by(BorrowerQuota.enterprise_id, BorrowerQuota.policy_id, BorrowerQuota.year)
        )
        for row in session.scalars(for_update(session, stmt).execution_options(populate_existing=True)):
            rows[(row.enterprise_id, row.policy_id, row.year)] = row
    return rows


def _lock_quota(session: Session, enterprise_id: int, policy_id: str, year: int) -> BorrowerQuota:
    return _lock_quotas(session, [(enterprise_id, policy_id, year)])[(enterprise_id, policy_id, year)]


def _event(session: Session, loan: Loan, event: str, from_status: str | None, to_status: str, actor_id: int | None,
           business_date: dt.date, note: str | None = None) -> None:
    session.add(LoanEvent(loan_id=loan.id, event=event, from_status=from_status, to_status=to_status,
                          actor_id=actor_id, business_date=business_date, note=note))


_NEEDS_PAID_IN_FULL = ("all_repaid", "claim_withdrawn", "claim_rejected")


def paid_in_full(session: Session, loan_id: int) -> bool:
    """Whether every installment of the loan is paid in full, principal and interest (docs/rules.md section 3:
    the condition for ``repaid``)."""
    unpaid = session.scalar(
        select(Installment.id).where(
            Installment.loan_id == loan_id,
            (Installment.principal_paid_fen < Installment.principal_due_fen)
            | (Installment.interest_paid_fen < Installment.interest_due_fen),
        ).limit(1)
    )
    return unpaid is None


def move_status(session: Session, loan: Loan, event: str, actor_id: int | None, business_date: dt.date, note: str | None = None,
                *, all_paid: bool | None = None) -> str:
    """Apply one event of the status table; refuses every other move. ``all_paid`` (every installment
    paid in full) is looked up when the event needs it and the caller does not know it."""
    if all_paid is None and event in _NEEDS_PAID_IN_FULL:
        all_paid = paid_in_full(session, loan.id)
    target = next_status(loan.status, event, paid_in_full=bool(all_paid))
    _event(session, loan, event, loan.status, target, actor_id, business_date, note)
    loan.status = target
    return target


def loan_for(session: Session, actor: Actor, loan_id: int, *, lock: bool = False) -> Loan:
    """A loan as the actor may see it: a bank sees only its own (others are 404, as if absent). With
    ``lock``, its row is locked and read again (the session may hold an older copy)."""
    stmt = select(Loan).where(Loan.id == loan_id)
    if actor.kind == "bank":
        stmt = stmt.where(Loan.bank_id == actor.institution_id)
    elif actor.kind not in ("fund_manager", "auditor"):
        raise NotFound("loan_not_found", f"no loan {loan_id}", field="loan_id")
    if lock:  # read again under the lock: a loan this session loaded earlier may have changed since
        stmt = for_update(session, stmt).execution_options(populate_existing=True)
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
    """Record one repayment against the installment due on ``due_date`` (docs/rules.md section 3)."""
    try:
        [repayment_id] = record_repayments(
            session, bank, [(loan_id, RepaymentIn(due_date, paid_on, principal_fen, interest_fen))], business_date
        )
    except BatchRefused as refused:
        raise refused.items[0][1] from None
    return session.get(Repayment, repayment_id)


def record_repayments(
    session: Session, bank: Actor, payments: Sequence[tuple[int, RepaymentIn]], business_date: dt.date
) -> int:
    """Record repayments all-or-nothing, in the order given, set-based (a few statements for the
    whole batch). Each names its loan and the installment (due date) it pays (docs/rules.md section 3):
    recorded on ``active`` and ``claimed`` loans only, never more than remains due; the payment's
    ``past_due_at_payment`` is seen at its paid-on date; a loan whose installments are all paid in
    full (principal and interest) moves to ``repaid``. Returns the new repayments' ids in the order given; if any item is refused,
    BatchRefused names each by index and nothing is written."""
    if bank.kind != "bank":
        raise Forbidden("forbidden", "only a bank records repayments")
    if not payments:
        return 0
    loan_ids = sorted({loan_id for loan_id, _ in payments})
    loans = {
        loan.id: loan
        for loan in session.scalars(
            for_update(session, select(Loan).where(Loan.id.in_(loan_ids), Loan.bank_id == bank.institution_id))
            .options(lazyload(Loan.installments))
        )
    }
    installments: dict[tuple[int, dt.date], _Installment] = {}
    schedule_of: dict[int, list[_Installment]] = {}
    for row in session.execute(
        for_update(session, select(
            Installment.id, Installment.loan_id, Installment.due_date, Installment.principal_due_fen,
            Installment.interest_due_fen, Installment.principal_paid_fen, Installment.interest_paid_fen,
        ).where(Installment.loan_id.in_(list(loans))).order_by(Installment.loan_id, Installment.due_date))
    ):
        inst = _Installment(*row)
        installments[inst.loan_id, inst.due_date] = inst
        schedule_of.setdefault(inst.loan_id, []).append(inst)
    by_id = {inst.id: inst for inst in installments.values()}
    for inst_id, paid_on, principal, interest in session.execute(
        select(Repayment.installment_id, Repayment.paid_on, Repayment.principal_fen, Repayment.interest_fen)
        .where(Repayment.loan_id.in_(list(loans)))
    ):
        by_id[inst_id].add_payment(paid_on, principal, interest)

    rows = []
    changed: dict[int, _Installment] = {}
    errors: list[tuple[int, DomainError]] = []
    for index, (loan_id, plan) in enumerate(payments):
        try:
            _check_repayment(loans.get(loan_id), loan_id, plan, installments, business_date)
        except DomainError as exc:
            errors.append((index, exc))
            continue
        loan = loans[loan_id]
        inst = installments[loan.id, plan.due_date]
        principal_fen, interest_fen, paid_on = plan.principal_fen, plan.interest_fen, plan.paid_on
        past_due = _past_due(schedule_of[loan.id], paid_on)
        rows.append(dict(
            loan_id=loan.id, installment_id=inst.id, paid_on=paid_on, principal_fen=principal_fen,
            # S1 looks at the status just before the payment: one that completes the loan still sees active
            interest_fen=interest_fen, loan_status_at_payment=loan.status, past_due_at_payment=past_due,
            recorded_by=bank.institution_id,
        ))
        inst.add_payment(paid_on, principal_fen, interest_fen)
        inst.principal_paid_fen += principal_fen
        inst.interest_paid_fen += interest_fen
        loan.principal_repaid_fen += principal_fen
        changed[inst.id] = inst
        if loan.status == "active" and all(i.paid_in_full for i in schedule_of[loan.id]):
            move_status(session, loan, "all_repaid", bank.institution_id, business_date, all_paid=True)
    if errors:
        raise BatchRefused(errors)
    _update_paid(session, list(changed.values()))
    ids = list(session.scalars(insert(Repayment).returning(Repayment.id, sort_by_parameter_order=True), rows)) if rows else []
    for obj in list(session.identity_map.values()):  # ORM copies of the rows updated above are stale
        if isinstance(obj, Installment) and obj.id in changed:
            session.expire(obj)
    session.flush()
    return ids


def _update_paid(session: Session, installments: list[_Installment]) -> None:
    """Store the paid amounts of many installments in one executemany (on PostgreSQL psycopg
    pipelines it; measured faster there than one UPDATE .. FROM (VALUES ..))."""
    if not installments:
        return
    table = Installment.__table__
    session.execute(
        table.update().where(table.c.id == bindparam("installment_id")).values(
            principal_paid_fen=bindparam("principal_paid"), interest_paid_fen=bindparam("interest_paid")),
        [{"installment_id": i.id, "principal_paid": i.principal_paid_fen, "interest_paid": i.interest_paid_fen} for i in installments],
    )


@dataclass
class _Installment:
    id: int
    loan_id: int
    due_date: dt.date
    principal_due_fen: int
    interest_due_fen: int
    principal_paid_fen: int
    interest_paid_fen: int
    payments: list[tuple[dt.date, int, int]] = field(default_factory=list)  # (paid on, principal, interest)
    paid_in_full_on: dt.date | None = None  # the first date by which the payments cover both dues

    @property
    def paid_in_full(self) -> bool:
        return self.principal_paid_fen >= self.principal_due_fen and self.interest_paid_fen >= self.interest_due_fen

    def add_payment(self, paid_on: dt.date, principal_fen: int, interest_fen: int) -> None:
        self.payments.append((paid_on, principal_fen, interest_fen))
        self.payments.sort(key=lambda p: p[0])
        principal = interest = 0
        self.paid_in_full_on = None
        for day, p, i in self.payments:
            principal, interest = principal + p, interest + i
            if principal >= self.principal_due_fen and interest >= self.interest_due_fen:
                self.paid_in_full_on = day
                break


def _past_due(schedule: list[_Installment], on: dt.date) -> bool:
    """Whether an installment due before ``on`` is not paid in full by ``on`` (counting payments dated
    on or before it), as ``fund.services.registry.earliest_unpaid_due(...) < on``."""
    for inst in schedule:  # by due date
        if inst.due_date >= on:
            return False
        if inst.paid_in_full_on is None or inst.paid_in_full_on > on:
            return True
    return False


def _check_repayment(loan: Loan | None, loan_id: int, plan: RepaymentIn, installments: dict, business_date: dt.date) -> None:
    principal_fen, interest_fen, paid_on = plan.principal_fen, plan.interest_fen, plan.paid_on
    if loan is None:
        raise NotFound("loan_not_found", f"no loan {loan_id}", field="loan_id")
    if loan.status not in ("active", "claimed"):
        raise Conflict("loan_not_open", f"loan {loan.id} is {loan.status}: repayments are recorded on active and claimed loans only", field="loan_id")
    if principal_fen < 0 or interest_fen < 0 or principal_fen + interest_fen == 0:
        raise DomainError("invalid_amount", "principal_fen and interest_fen must be >= 0 and not both 0", field="principal_fen")
    check_event_date(paid_on, "paid_on", business_date)
    check_input_date(plan.due_date, "due_date")
    if paid_on < loan.drawdown_date:
        raise DomainError("paid_before_drawdown", f"paid_on {paid_on} is before the drawdown {loan.drawdown_date}", field="paid_on")
    inst = installments.get((loan.id, plan.due_date))
    if inst is None:
        raise DomainError("unknown_installment", f"loan {loan.id} has no installment due on {plan.due_date}", field="due_date")
    if principal_fen > inst.principal_due_fen - inst.principal_paid_fen:
        raise DomainError("repayment_exceeds_due", f"principal {principal_fen} exceeds the {inst.principal_due_fen - inst.principal_paid_fen} fen still due on {plan.due_date}", field="principal_fen")
    if interest_fen > inst.interest_due_fen - inst.interest_paid_fen:
        raise DomainError("repayment_exceeds_due", f"interest {interest_fen} exceeds the {inst.interest_due_fen - inst.interest_paid_fen} fen still due on {plan.due_date}", field="interest_fen")


# ---- the use cases: each one transaction reading the business date inside it (or the caller's) ----


def register(db: SessionFactory | Session, bank: Actor, apps: Sequence[LoanApplication]) -> list[Loan]:
    """:func:`register_loans` (all or nothing) as of the business date."""
    with within(db) as session:
        return register_loans(session, bank, apps, read_business_date(session))


def repay(db: SessionFactory | Session, bank: Actor, loan_id: int, payment: RepaymentIn) -> Repayment:
    """:func:`record_repayment` as of the business date."""
    with within(db) as session:
        return record_repayment(session, bank, loan_id, payment.due_date, payment.paid_on, payment.principal_fen,
                                payment.interest_fen, read_business_date(session))


def repay_many(db: SessionFactory | Session, bank: Actor, payments: Sequence[tuple[int, RepaymentIn]]) -> list[Repayment]:
    """:func:`record_repayments` (all or nothing, in order) as of the business date; the repayments recorded."""
    with within(db) as session:
        ids = record_repayments(session, bank, payments, read_business_date(session))
        return repayments_by_ids(session, ids) if ids else []


def cancel(db: SessionFactory | Session, bank: Actor, loan_id: int) -> Loan:
    """:func:`cancel_loan` as of the business date."""
    with within(db) as session:
        loan = cancel_loan(session, bank, loan_id, read_business_date(session))
        session.flush()
        return loan


def cancel_loan(session: Session, bank: Actor, loan_id: int, business_date: dt.date) -> Loan:
    """Cancel an active loan with no repayment recorded; its covered principal goes back to the quota."""
    if bank.kind != "bank":
        raise Forbidden("forbidden", "only the loan's bank cancels it")
    loan = loan_for(session, bank, loan_id, lock=True)
    from fund.adapters.models.people import RepaymentReversal  # reversed repayments aside (docs/rules.md section 3)

    reversed_ids = select(RepaymentReversal.repayment_id).where(RepaymentReversal.loan_id == loan.id)
    if session.scalar(select(Repayment.id).where(Repayment.loan_id == loan.id, Repayment.id.not_in(reversed_ids)).limit(1)) is not None:
        raise Conflict("loan_has_repayments", f"loan {loan.id} has repayments recorded and cannot be cancelled", field="loan_id")
    move_status(session, loan, "cancel", bank.institution_id, business_date)
    if loan.covered_fen and loan.policy_id and loan.quota_year is not None:
        quota = _lock_quota(session, loan.enterprise_id, loan.policy_id, loan.quota_year)
        quota.used_fen -= loan.covered_fen
    return loan


def list_loans(
    session: Session,
    actor: Actor,
    *,
    status: str | None = None,
    coverage: str | None = None,
    drawdown_from: dt.date | None = None,
    drawdown_to: dt.date | None = None,
    bank_code: str | None = None,
    updated_since: dt.datetime | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[Loan]:
    """Loans the actor may see, by id, keyset-paginated (``after_id``); with ``updated_since`` only
    those changed since (``fund.services.changes``)."""
    stmt = select(Loan)
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
    if updated_since:
        from fund.services.changes import loan_changed_since

        conditions.append(loan_changed_since(updated_since))
    if conditions:
        stmt = stmt.where(and_(*conditions))
    return list(session.scalars(after(stmt, Loan.id, after_id, limit)))


def credit_codes(session: Session, enterprise_ids: set[int]) -> dict[int, str]:
    """Borrowers' credit codes by enterprise id (one query for a page of loans)."""
    if not enterprise_ids:
        return {}
    return dict(session.execute(select(Enterprise.id, Enterprise.credit_code).where(Enterprise.id.in_(enterprise_ids))).all())


def loan_schedule(session: Session, loan_id: int) -> list[Installment]:
    """The loan's installments by due date."""
    return list(session.scalars(select(Installment).where(Installment.loan_id == loan_id).order_by(Installment.due_date)))


def repayment_context(session: Session, repayments: Sequence[Repayment]) -> tuple[dict[int, dt.date], dict[int, str]]:
    """For a list of repayments: the due date of each installment paid, and each loan's status now."""
    if not repayments:
        return {}, {}
    dues = dict(session.execute(
        select(Installment.id, Installment.due_date).where(Installment.id.in_({r.installment_id for r in repayments}))
    ).all())
    statuses = dict(session.execute(select(Loan.id, Loan.status).where(Loan.id.in_({r.loan_id for r in repayments}))).all())
    return dues, statuses


def loan_assets(session: Session, loan_id: int) -> list[IpAsset]:
    return list(
        session.scalars(select(IpAsset).join(LoanAsset, LoanAsset.asset_id == IpAsset.id).where(LoanAsset.loan_id == loan_id).order_by(IpAsset.id))
    )
