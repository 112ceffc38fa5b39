"""The claims workflow (docs/rules.md section 4): a bank files a claim on its loan (A1), lowers its loss or
withdraws it; the fund manager approves it (A2 split, A3 cap, A4 payment) or rejects it with a
reason; the bank reports recoveries (A5) and closes the claim.

The use cases (``file``, ``lower``, ``withdraw``, ``approve``, ``reject``, ``recover``, ``close``,
``show``, ``claims_page``, ``claims_of_loan``) take the session factory, run one transaction and
read the business date inside it (or join the caller's transaction when given a session: the API's
idempotency record); the CLI and the API call them. Each runs one session-level step
(``file_claim``, ``approve_claim``, ...) as of the business date; the steps run inside the caller's
transaction and take the business date as an argument, for services that compose them (a
proposal's sign-off executes ``approve_claim``). Every step goes through one skeleton: authorise
the actor, lock the claim, check the move (``fund.domain.claim``), store, move the loan, log the
event. Loan statuses move only through ``registry.move_status``; every step of a claim
is a ``claim_events`` row (who, which business date, the journal entry it posted). All the
arithmetic of rule A is ``risk.allocation``; this module fetches its inputs, stores its outputs
(the whole allocation and the cap trace, under the loan's policy id) and posts to the ledger.

Locks, always in this order: the claim row, the loan row, the (bank, policy, year) cap usage row,
the compensation pool's cash account (then ``ledger.post_entry`` locks accounts in code order).
On PostgreSQL these are ``SELECT ... FOR UPDATE``; on SQLite every writer holds the database lock
from ``BEGIN IMMEDIATE``. So two approvals never use the same cap room or the same cash.

>>> CLAIM_POOL
'compensation'
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import risk.allocation as allocation
from fund.adapters.dialect import for_update, insert_ignoring_conflicts
from fund.adapters.models.claims import BankCapUsage, Claim, ClaimEvent, ClaimRecovery
from fund.adapters.models.ledger import Deferral, JournalEntry, Posting
from fund.adapters.models.registry import Institution, Loan
from fund.domain import claim as rules
from fund.domain.dates import aware_utc
from fund.domain.money import check_amount
from fund.domain.policy import Policy, PolicyError
from fund.errors import Conflict, DomainError, NotFound
from fund.services import ledger
from fund.services.common import SessionFactory, institution_codes, within
from fund.services.common import business_date as read_business_date
from fund.services.paging import after
from fund.services.policies import get_policy
from fund.services.registry import Actor, earliest_unpaid_due, loan_for, move_status

CLAIM_POOL = "compensation"
RECOVERY_ACCOUNT = "income:recovery"
DECIDED_STATUSES = rules.DECIDED_STATUSES
PARTY_KINDS = {"insurer": ("insurer", "guarantor"), "appraiser": ("appraiser",)}
READ_ALL_KINDS = ("fund_manager", "auditor")


# ---------------------------------------------------------------------------------------------
# input checking, access, and the one transition skeleton
# ---------------------------------------------------------------------------------------------


def _visible(stmt, actor: Actor):
    """Restrict a claims query to what ``actor`` may read: a bank its own claims, an insurer,
    guarantor or appraiser the claims on loans naming it, the fund manager and auditors all."""
    if actor.kind == "bank":
        return stmt.where(Claim.bank_id == actor.institution_id)
    if actor.kind in PARTY_KINDS["insurer"]:
        return stmt.where(Claim.insurer_id == actor.institution_id)
    if actor.kind in PARTY_KINDS["appraiser"]:
        return stmt.where(Claim.appraiser_id == actor.institution_id)
    if actor.kind in READ_ALL_KINDS:
        return stmt
    return stmt.where(False)


def claim_for(session: Session, actor: Actor, claim_id: int, *, lock: bool = False) -> Claim:
    """A claim as ``actor`` may see it (others are 404, as if absent); ``lock`` locks its row."""
    stmt = _visible(select(Claim).where(Claim.id == claim_id), actor)
    if lock:
        stmt = for_update(session, stmt).execution_options(populate_existing=True)
    claim = session.scalar(stmt)
    if claim is None:
        raise NotFound("claim_not_found", f"no claim {claim_id}", field="claim_id")
    return claim


def _authorise(actor: Actor, event: str) -> rules.Step:
    """The step ``event`` of the claim state machine, if ``actor`` may take it (else Forbidden)."""
    step = rules.STEPS[event]
    step.authorise(actor.kind)
    return step


def _open(session: Session, actor: Actor, claim_id: int, step: rules.Step, business_date: dt.date) -> tuple[Claim, Loan | None]:
    """Lock the claim, check that ``step`` may be taken from its status on the business date, and
    lock its loan when the step moves the loan too (locks in the module's order: claim, loan)."""
    claim = claim_for(session, actor, claim_id, lock=True)
    rules.move(claim.status, step.event, claim_id=claim.id)
    rules.check_dated_after(step, business_date, claim)
    loan = loan_for(session, actor, claim.loan_id, lock=True) if step.loan_event else None
    return claim, loan


def _record(session: Session, actor: Actor, claim: Claim, step: rules.Step, business_date: dt.date, *, loan: Loan | None = None,
            decision: rules.Approval | rules.Rejection | rules.Closing | None = None, note: str | None = None,
            loan_note: str | None = None, entry_id: int | None = None) -> None:
    """Take ``step``: store the decision, set the claim's status (the only place that does), move
    the loan (``registry.move_status``) and log the step as a ``claim_events`` row."""
    if decision is not None:
        for name, value in decision.columns().items():
            setattr(claim, name, value)
    claim.status = step.to_status
    if claim.id is None:
        session.add(claim)
        session.flush()
    if step.loan_event is not None:
        assert loan is not None
        move_status(session, loan, step.loan_event, actor.institution_id, business_date, note=loan_note or f"claim {claim.id}")
    session.add(ClaimEvent(claim_id=claim.id, event=step.event, from_status=step.from_status, to_status=claim.status,
                           actor_id=actor.institution_id, business_date=business_date, note=note, entry_id=entry_id))
    session.flush()


def _policy(session: Session, policy_id: str) -> Policy:
    return get_policy(session, policy_id)


# ---------------------------------------------------------------------------------------------
# A1: filing, lowering the loss, withdrawing
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimWindow:
    """A1's window for a loan on a date: ``earliest_due`` is the due date ``m`` of the earliest
    installment not paid in full, open from ``opens`` to ``closes`` (both included)."""

    earliest_due: dt.date | None
    days_past_due: int | None
    opens: dt.date | None
    closes: dt.date | None

    def contains(self, day: dt.date) -> bool:
        return self.opens is not None and self.opens <= day <= self.closes


def claim_window(session: Session, loan: Loan, policy: Policy, on: dt.date) -> ClaimWindow:
    due = earliest_unpaid_due(session, loan.id, on)
    if due is None or not policy.accepts_claims:
        return ClaimWindow(due, None, None, None)
    opens = due + dt.timedelta(days=policy.claim_overdue_days)
    return ClaimWindow(due, (on - due).days, opens, opens + dt.timedelta(days=policy.claim_window_days))


def file_claim(session: Session, bank: Actor, loan_id: int, loss_fen: int, business_date: dt.date) -> Claim:
    """A1: the bank files a claim for principal loss ``loss_fen`` on its ``active`` loan with
    ``C > 0``, on the business date, within the window, one live claim per loan."""
    step = _authorise(bank, "filed")
    loss = check_amount("loss_fen", loss_fen, minimum=1)
    loan = loan_for(session, bank, loan_id, lock=True)
    live = session.scalar(select(Claim.id).where(Claim.loan_id == loan.id, Claim.status.in_(rules.LIVE_STATUSES)))
    if live is not None:
        raise Conflict("claim_exists", f"loan {loan.id} already has claim {live} open", field="loan_id")
    if loan.status != "active":
        raise Conflict("loan_not_active", f"loan {loan.id} is {loan.status}: claims are filed on active loans only", field="loan_id")
    if loan.coverage != "eligible" or loan.policy_id is None or loan.covered_fen <= 0:
        raise DomainError("loan_not_covered", f"loan {loan.id} has no covered principal (C = 0): it cannot be claimed on", field="loan_id")
    rules.not_before(business_date, loan.registered_on, "loan registration")
    policy = _policy(session, loan.policy_id)
    if not policy.accepts_claims:
        raise DomainError("policy_takes_no_claims", f"policy {policy.id} takes no claims", field="loan_id")
    window = claim_window(session, loan, policy, business_date)
    if window.earliest_due is None:
        raise DomainError("nothing_past_due", f"loan {loan.id} has no unpaid installment on {business_date}", field="loan_id")
    if business_date < window.opens:
        raise DomainError(
            "claim_too_early",
            f"the earliest unpaid installment of loan {loan.id} fell due on {window.earliest_due}, {window.days_past_due} days "
            f"before {business_date}; claims open after {policy.claim_overdue_days} days, on {window.opens}",
            field="loan_id",
        )
    if business_date > window.closes:
        raise DomainError(
            "claim_window_closed",
            f"the earliest unpaid installment of loan {loan.id} fell due on {window.earliest_due}; the claim window closed on {window.closes}",
            field="loan_id",
        )
    rules.check_loss_within(loss, loan.outstanding_fen)
    claim = Claim(
        loan_id=loan.id, bank_id=loan.bank_id, insurer_id=loan.insurer_id, appraiser_id=loan.appraiser_id,
        policy_id=loan.policy_id, loss_fen=loss, filed_on=business_date, filed_by=bank.institution_id,
        earliest_unpaid_due=window.earliest_due, days_past_due=window.days_past_due,
        recovered_gross_fen=0, recovered_costs_fen=0, recovered_net_fen=0,
        fund_recovered_fen=0, insurer_recovered_fen=0, appraiser_recovered_fen=0, bank_recovered_fen=0,
    )
    _record(session, bank, claim, step, business_date, loan=loan, note=f"loss {loss} fen")
    return claim


def lower_loss(session: Session, bank: Actor, claim_id: int, loss_fen: int, business_date: dt.date) -> Claim:
    """The bank lowers ``L`` of its filed claim (A1: approval waits until ``L`` is at most the
    outstanding principal)."""
    step = _authorise(bank, "loss_lowered")
    loss = check_amount("loss_fen", loss_fen, minimum=1)
    claim, _ = _open(session, bank, claim_id, step, business_date)
    rules.check_lowered(claim.loss_fen, loss)
    before = claim.loss_fen
    claim.loss_fen = loss
    _record(session, bank, claim, step, business_date, note=f"loss {before} -> {loss} fen")
    return claim


def withdraw_claim(session: Session, bank: Actor, claim_id: int, business_date: dt.date, note: str | None = None) -> Claim:
    """The bank withdraws its filed claim; the loan goes back to ``active`` (``repaid`` when every
    installment is paid in full)."""
    step = _authorise(bank, "withdrawn")
    note = rules.clean_note(note)
    claim, loan = _open(session, bank, claim_id, step, business_date)
    _record(session, bank, claim, step, business_date, loan=loan, note=note)
    return claim


# ---------------------------------------------------------------------------------------------
# the fund manager's decision: A2 split, A3 cap, A4 payment
# ---------------------------------------------------------------------------------------------


def reject_claim(session: Session, manager: Actor, claim_id: int, reason: str, business_date: dt.date) -> Claim:
    """The fund manager rejects a filed claim with a stated reason; the loan goes back to
    ``active`` (``repaid`` when every installment is paid in full)."""
    step = _authorise(manager, "rejected")
    reason = rules.rejection_reason(reason)
    claim, loan = _open(session, manager, claim_id, step, business_date)
    _record(session, manager, claim, step, business_date, loan=loan, decision=rules.Rejection(business_date, manager.institution_id, reason),
            note=reason, loan_note=f"claim {claim.id}: {reason}")
    return claim


def in_pool_lending(session: Session, bank_id: int, policy_id: str, on: dt.date) -> int:
    """A3: the sum of ``C`` over the bank's loans under the policy drawn down on or before ``on``,
    cancelled ones excluded (:func:`in_pool_lending_by` for one bank and policy)."""
    return in_pool_lending_by(session, on, bank_id=bank_id, policy_id=policy_id).get((bank_id, policy_id), 0)


def in_pool_lending_by(session: Session, on: dt.date, *, bank_id: int | None = None,
                       policy_id: str | None = None) -> dict[tuple[int, str], int]:
    """A3's in-pool lending of every (bank, policy) with such loans, in one grouped query; ``bank_id``
    and ``policy_id`` narrow it. A pair without loans is absent (its lending is 0)."""
    where = [Loan.policy_id.is_not(None), Loan.drawdown_date <= on, Loan.status != "cancelled"]
    if bank_id is not None:
        where.append(Loan.bank_id == bank_id)
    if policy_id is not None:
        where.append(Loan.policy_id == policy_id)
    rows = session.execute(
        select(Loan.bank_id, Loan.policy_id, func.coalesce(func.sum(Loan.covered_fen), 0)).where(*where)
        .group_by(Loan.bank_id, Loan.policy_id)
    ).all()
    return {(b, p): int(total) for b, p, total in rows}


def _lock_cap_usage(session: Session, bank_id: int, policy_id: str, year: int) -> BankCapUsage:
    """The (bank, policy, year) cap usage row, created when absent, locked: approvals racing for
    one bank's room serialise on it."""
    insert_ignoring_conflicts(session, BankCapUsage, [dict(bank_id=bank_id, policy_id=policy_id, year=year, used_fen=0)])
    row = session.scalar(
        for_update(
            session,
            select(BankCapUsage).where(BankCapUsage.bank_id == bank_id, BankCapUsage.policy_id == policy_id, BankCapUsage.year == year),
        ).execution_options(populate_existing=True)
    )
    assert row is not None
    return row


def approve_claim(session: Session, manager: Actor, claim_id: int, business_date: dt.date, note: str | None = None) -> Claim:
    """The fund manager approves a filed claim on the business date.

    Refused while ``L`` exceeds the outstanding principal. Otherwise: A2 splits ``L`` with the
    policy's scheme and the loan's insurance limit; A3 cuts the fund's share to the bank's room
    for (policy, approval year); A4 pays it from the compensation pool and defers what cash cannot
    cover. The claim stores the allocation, the cap trace and the payment; the loan becomes
    ``compensated``.
    """
    step = _authorise(manager, "approved")
    note = rules.clean_note(note)
    claim, loan = _open(session, manager, claim_id, step, business_date)
    assert loan is not None
    rules.check_approvable(claim.id, claim.loss_fen, loan.outstanding_fen, business_date)
    policy = _policy(session, claim.policy_id)
    try:
        scheme = policy.scheme(loan.scheme_code)
    except PolicyError as exc:
        raise DomainError("unknown_scheme", str(exc), field="scheme_code") from None
    split = allocation.split_loss(claim.loss_fen, loan.covered_fen, loan.principal_fen, scheme.ratios_bp, loan.insurer_limit_fen)

    year = business_date.year
    usage = _lock_cap_usage(session, claim.bank_id, claim.policy_id, year)
    lending = in_pool_lending(session, claim.bank_id, claim.policy_id, business_date)
    used_before = usage.used_fen
    room = allocation.cap_room(lending, policy.bank_annual_cap_bp, used_before)
    capped = allocation.apply_bank_cap(split, room)
    usage.used_fen = used_before + capped.fund_fen

    payment = ledger.pay_from_pool(
        session, pool=CLAIM_POOL, amount_fen=capped.fund_fen, cause="claim_approval", policy_id=claim.policy_id,
        ref_type="claim", ref_id=claim.id, business_date=business_date, actor_id=manager.institution_id,
        memo=f"claim {claim.id} on loan {loan.id}",
    )
    cap = rules.CapTrace(year=year, cap_bp=policy.bank_annual_cap_bp, in_pool_lending_fen=lending,
                         cap_fen=allocation.cap_room(lending, policy.bank_annual_cap_bp, 0), used_before_fen=used_before, room_fen=room)
    approval = rules.Approval(
        decided_on=business_date, decided_by=manager.institution_id,
        principal_fen=loan.principal_fen, covered_fen=loan.covered_fen, outstanding_fen=loan.outstanding_fen,
        scheme_code=scheme.code, ratios_bp=dict(scheme.ratios_bp), insurer_limit_fen=loan.insurer_limit_fen,
        split=capped, cap=cap, paid_fen=payment.paid_fen, deferred_fen=payment.deferred_fen, entry_id=payment.entry_id or None,
    )
    _record(session, manager, claim, step, business_date, loan=loan, decision=approval, note=note, entry_id=approval.entry_id)
    from fund.services.pool import measure_suspension

    measure_suspension(session, manager, claim, business_date)  # B2: measured at each approval
    return claim


# ---------------------------------------------------------------------------------------------
# A5: recoveries; closing
# ---------------------------------------------------------------------------------------------


def record_recovery(session: Session, bank: Actor, claim_id: int, gross_fen: int, costs_fen: int,
                    business_date: dt.date) -> ClaimRecovery:
    """The bank reports one recovery on its approved claim: ``net = gross - costs >= 0`` is shared
    by A5 (cumulative); the fund's part is an inflow to the compensation pool (A4: it settles
    deferred compensation first), credited to ``income:recovery``."""
    step = _authorise(bank, "recovery")
    gross = check_amount("gross_fen", gross_fen, minimum=1)
    costs = check_amount("costs_fen", costs_fen)
    net = rules.check_net(gross, costs)
    claim, _ = _open(session, bank, claim_id, step, business_date)
    parts = allocation.recovery_increment(claim.recovered_net_fen, net, claim.loss_fen, claim.shares())
    recovery = ClaimRecovery(
        claim_id=claim.id, policy_id=claim.policy_id, gross_fen=gross, costs_fen=costs, net_fen=net,
        cum_net_before_fen=claim.recovered_net_fen, fund_fen=parts["fund"], insurer_fen=parts["insurer"],
        appraiser_fen=parts["appraiser"], bank_fen=parts["bank"], business_date=business_date,
        reported_by=bank.institution_id,
    )
    if parts["fund"] > 0:
        inflow = ledger.inflow_to_pool(
            session, pool=CLAIM_POOL, amount_fen=parts["fund"], cause="recovery", credit_account=RECOVERY_ACCOUNT,
            policy_id=claim.policy_id, business_date=business_date, ref_type="claim", ref_id=claim.id,
            actor_id=bank.institution_id, memo=f"fund's part of a recovery on claim {claim.id}",
        )
        recovery.entry_id = inflow.entry_id
    session.add(recovery)
    claim.recovered_gross_fen += gross
    claim.recovered_costs_fen += costs
    claim.recovered_net_fen += net
    claim.fund_recovered_fen += parts["fund"]
    claim.insurer_recovered_fen += parts["insurer"]
    claim.appraiser_recovered_fen += parts["appraiser"]
    claim.bank_recovered_fen += parts["bank"]
    _record(session, bank, claim, step, business_date, note=f"gross {gross}, costs {costs}, net {net} fen", entry_id=recovery.entry_id)
    return recovery


def close_claim(session: Session, bank: Actor, claim_id: int, business_date: dt.date, note: str | None = None) -> Claim:
    """The bank closes its approved claim (recovery finished); the loan becomes ``closed``."""
    step = _authorise(bank, "closed")
    note = rules.clean_note(note)
    claim, loan = _open(session, bank, claim_id, step, business_date)
    _record(session, bank, claim, step, business_date, loan=loan, decision=rules.Closing(business_date, bank.institution_id), note=note)
    return claim


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------


def list_claims(session: Session, actor: Actor, *, status: str | None = None, bank_code: str | None = None,
                loan_id: int | None = None, after_id: int = 0, limit: int = 100,
                updated_since: dt.datetime | None = None) -> list[Claim]:
    """Claims ``actor`` may read, by id, keyset-paginated (``after_id``); with ``updated_since`` only
    those changed since (``fund.services.changes``)."""
    stmt = _visible(select(Claim), actor)
    if updated_since is not None:
        from fund.services.changes import claim_changed_since

        stmt = stmt.where(claim_changed_since(updated_since))
    if status is not None:
        stmt = stmt.where(Claim.status == status)
    if loan_id is not None:
        stmt = stmt.where(Claim.loan_id == loan_id)
    if bank_code is not None:
        stmt = stmt.join(Institution, Institution.id == Claim.bank_id).where(Institution.code == bank_code)
    return list(session.scalars(after(stmt, Claim.id, after_id, limit)))


def claim_events(session: Session, claim_id: int) -> list[ClaimEvent]:
    return list(session.scalars(select(ClaimEvent).where(ClaimEvent.claim_id == claim_id).order_by(ClaimEvent.id)))


def claim_recoveries(session: Session, claim_id: int) -> list[ClaimRecovery]:
    return list(session.scalars(select(ClaimRecovery).where(ClaimRecovery.claim_id == claim_id).order_by(ClaimRecovery.id)))


def claim_deferral(session: Session, claim_id: int) -> Deferral | None:
    return session.scalar(select(Deferral).where(Deferral.ref_type == "claim", Deferral.ref_id == claim_id))


def claim_document(session: Session, claim: Claim, *, detail: bool = True) -> dict:
    """A claim as JSON-ready data: filing, decision, allocation, cap trace, payment, recoveries
    (and with ``detail`` its events and each recovery)."""
    events = claim_events(session, claim.id) if detail else []
    recoveries = claim_recoveries(session, claim.id) if detail else []
    deferral = claim_deferral(session, claim.id) if claim.deferred_fen else None
    codes = institution_codes(session, {claim.bank_id, claim.insurer_id, claim.appraiser_id, claim.filed_by, claim.decided_by,
                             claim.closed_by, *(e.actor_id for e in events), *(r.reported_by for r in recoveries)})
    approved = claim.fund_fen is not None
    document = {
        "id": claim.id, "loan_id": claim.loan_id, "status": claim.status, "policy_id": claim.policy_id,
        "bank": codes.get(claim.bank_id), "insurer": codes.get(claim.insurer_id), "appraiser": codes.get(claim.appraiser_id),
        "loss_fen": claim.loss_fen, "filed_on": claim.filed_on, "filed_by": codes.get(claim.filed_by),
        "earliest_unpaid_due": claim.earliest_unpaid_due, "days_past_due": claim.days_past_due,
        "decided_on": claim.decided_on, "decided_by": codes.get(claim.decided_by), "reject_reason": claim.reject_reason,
        "allocation": None, "cap": None, "payment": None,
        "recovered": {
            "gross_fen": claim.recovered_gross_fen, "costs_fen": claim.recovered_costs_fen, "net_fen": claim.recovered_net_fen,
            "fund_fen": claim.fund_recovered_fen, "insurer_fen": claim.insurer_recovered_fen,
            "appraiser_fen": claim.appraiser_recovered_fen, "bank_fen": claim.bank_recovered_fen,
        },
        "closed_on": claim.closed_on, "closed_by": codes.get(claim.closed_by),
    }
    if approved:
        document["allocation"] = {
            "policy_id": claim.policy_id, "scheme": claim.scheme_code, "ratios_bp": claim.ratios_bp,
            "principal_fen": claim.principal_fen, "covered_fen": claim.covered_fen, "outstanding_fen": claim.outstanding_fen,
            "loss_fen": claim.loss_fen, "base_fen": claim.base_fen, "insurer_limit_fen": claim.insurer_limit_fen,
            "insurer_cut_fen": claim.insurer_cut_fen, "fund_before_cap_fen": claim.fund_before_cap_fen,
            "fund_fen": claim.fund_fen, "insurer_fen": claim.insurer_fen, "appraiser_fen": claim.appraiser_fen,
            "bank_fen": claim.bank_fen,
        }
        document["cap"] = {
            "policy_id": claim.policy_id, "year": claim.cap_year, "cap_bp": claim.cap_bp,
            "in_pool_lending_fen": claim.in_pool_lending_fen, "cap_fen": claim.cap_fen,
            "already_used_fen": claim.cap_used_before_fen, "room_fen": claim.room_fen, "cut_fen": claim.fund_cut_fen,
        }
        settled = deferral.settled_fen if deferral is not None else 0
        document["payment"] = {
            "policy_id": claim.policy_id, "pool": CLAIM_POOL, "entry_id": claim.approval_entry_id,
            "paid_at_approval_fen": claim.paid_fen, "deferred_at_approval_fen": claim.deferred_fen,
            "deferred_settled_fen": settled, "deferred_open_fen": (claim.deferred_fen or 0) - settled,
            "paid_fen": (claim.paid_fen or 0) + settled,
        }
    if detail:
        document["events"] = [
            {"event": e.event, "from_status": e.from_status, "to_status": e.to_status, "by": codes.get(e.actor_id),
             "business_date": e.business_date, "at": aware_utc(e.created_at), "note": e.note, "entry_id": e.entry_id}
            for e in events
        ]
        document["recoveries"] = [
            {"id": r.id, "business_date": r.business_date, "reported_by": codes.get(r.reported_by), "policy_id": r.policy_id,
             "gross_fen": r.gross_fen, "costs_fen": r.costs_fen, "net_fen": r.net_fen, "cum_net_before_fen": r.cum_net_before_fen,
             "fund_fen": r.fund_fen, "insurer_fen": r.insurer_fen, "appraiser_fen": r.appraiser_fen, "bank_fen": r.bank_fen,
             "entry_id": r.entry_id}
            for r in recoveries
        ]
    return document


# ---------------------------------------------------------------------------------------------
# the use cases: one per step, each one transaction that reads the business date inside it
# ---------------------------------------------------------------------------------------------


def claim_of_loan(session: Session, actor: Actor, loan_id: int, claim_id: int, *, lock: bool = False) -> Claim:
    """The claim ``claim_id`` of loan ``loan_id`` as ``actor`` may see it: the loan first (another
    bank's is ``loan_not_found``), then the claim, which must be that loan's."""
    loan_for(session, actor, loan_id)
    claim = claim_for(session, actor, claim_id, lock=lock)
    if claim.loan_id != loan_id:
        raise NotFound("claim_not_found", f"loan {loan_id} has no claim {claim_id}", field="claim_id")
    return claim


def _of_loan(session: Session, actor: Actor, loan_id: int | None, claim_id: int) -> None:
    if loan_id is not None:
        claim_of_loan(session, actor, loan_id, claim_id)


def file(db: SessionFactory | Session, bank: Actor, loan_id: int, loss_fen: int) -> dict:
    """A1 as of the business date: :func:`file_claim`; returns the claim's document."""
    with within(db) as session:
        return claim_document(session, file_claim(session, bank, loan_id, loss_fen, read_business_date(session)))


def lower(db: SessionFactory | Session, bank: Actor, claim_id: int, loss_fen: int, *, loan_id: int | None = None) -> dict:
    """:func:`lower_loss` as of the business date (``loan_id``: the claim must be that loan's)."""
    with within(db) as session:
        _of_loan(session, bank, loan_id, claim_id)
        return claim_document(session, lower_loss(session, bank, claim_id, loss_fen, read_business_date(session)))


def withdraw(db: SessionFactory | Session, bank: Actor, claim_id: int, *, note: str | None = None, loan_id: int | None = None) -> dict:
    """:func:`withdraw_claim` as of the business date."""
    with within(db) as session:
        _of_loan(session, bank, loan_id, claim_id)
        return claim_document(session, withdraw_claim(session, bank, claim_id, read_business_date(session), note))


def approve(db: SessionFactory | Session, manager: Actor, claim_id: int, *, note: str | None = None, loan_id: int | None = None) -> dict:
    """:func:`approve_claim` (A2, A3, A4) as of the business date."""
    with within(db) as session:
        _of_loan(session, manager, loan_id, claim_id)
        return claim_document(session, approve_claim(session, manager, claim_id, read_business_date(session), note))


def reject(db: SessionFactory | Session, manager: Actor, claim_id: int, reason: str, *, loan_id: int | None = None) -> dict:
    """:func:`reject_claim` as of the business date."""
    with within(db) as session:
        _of_loan(session, manager, loan_id, claim_id)
        return claim_document(session, reject_claim(session, manager, claim_id, reason, read_business_date(session)))


@dataclass(frozen=True)
class RecoveryPosted:
    """One recovery as recorded (its row of the claim's document) and the claim after it."""

    recovery: dict
    claim: dict


def recover(db: SessionFactory | Session, bank: Actor, claim_id: int, gross_fen: int, costs_fen: int = 0, *,
            loan_id: int | None = None) -> RecoveryPosted:
    """:func:`record_recovery` (A5) as of the business date."""
    with within(db) as session:
        _of_loan(session, bank, loan_id, claim_id)
        recovery = record_recovery(session, bank, claim_id, gross_fen, costs_fen, read_business_date(session))
        document = claim_document(session, claim_for(session, bank, claim_id))
        (row,) = [r for r in document["recoveries"] if r["id"] == recovery.id]
        return RecoveryPosted(recovery=row, claim=document)


def close(db: SessionFactory | Session, bank: Actor, claim_id: int, *, note: str | None = None, loan_id: int | None = None) -> dict:
    """:func:`close_claim` as of the business date."""
    with within(db) as session:
        _of_loan(session, bank, loan_id, claim_id)
        return claim_document(session, close_claim(session, bank, claim_id, read_business_date(session), note))


def show(db: SessionFactory | Session, actor: Actor, claim_id: int, *, loan_id: int | None = None) -> dict:
    """One claim's document as ``actor`` may read it."""
    with within(db) as session:
        claim = claim_of_loan(session, actor, loan_id, claim_id) if loan_id is not None else claim_for(session, actor, claim_id)
        return claim_document(session, claim)


def claims_page(db: SessionFactory | Session, actor: Actor, *, status: str | None = None, bank_code: str | None = None,
                loan_id: int | None = None, after_id: int = 0, limit: int = 100, detail: bool = True,
                updated_since: dt.datetime | None = None) -> list[dict]:
    """The documents of the claims ``actor`` may read, by id from ``after_id``, filtered."""
    with within(db) as session:
        claims = list_claims(session, actor, status=status, bank_code=bank_code, loan_id=loan_id, after_id=after_id, limit=limit,
                             updated_since=updated_since)
        return [claim_document(session, c, detail=detail) for c in claims]


def claims_of_loan(db: SessionFactory | Session, actor: Actor, loan_id: int, *, limit: int = 100) -> list[dict]:
    """Every claim filed on a loan ``actor`` may see (another bank's is ``loan_not_found``), oldest first."""
    with within(db) as session:
        loan_for(session, actor, loan_id)
        return [claim_document(session, c) for c in list_claims(session, actor, loan_id=loan_id, limit=limit)]


# ---------------------------------------------------------------------------------------------
# rule L: each claim's postings equal its approved fund share and its recoveries
# ---------------------------------------------------------------------------------------------


def _postings_by_entry(session: Session, cause: str) -> dict[int, tuple[JournalEntry, dict[str, int]]]:
    rows = session.execute(
        select(JournalEntry, Posting.account_code, Posting.amount_fen)
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .where(JournalEntry.cause == cause)
        .order_by(JournalEntry.id, Posting.id)
    )
    entries: dict[int, tuple[JournalEntry, dict[str, int]]] = {}
    for entry, account, amount in rows:
        _, accounts = entries.setdefault(entry.id, (entry, {}))
        accounts[account] = accounts.get(account, 0) + amount
    for entry in session.scalars(select(JournalEntry).where(JournalEntry.cause == cause, ~JournalEntry.postings.any())):
        entries.setdefault(entry.id, (entry, {}))
    return entries


def ledger_violations(session: Session) -> list[ledger.Violation]:
    """Rule L for claims: each approved claim has one ``claim_approval`` entry (none when its fund
    share is 0) posting exactly its fund share, paid and deferred under its policy, and its one
    deferral; each recovery's fund part is one ``recovery`` entry of that amount; the claim's
    running totals equal its recoveries; no party recovers more than it bore; cap usage rows equal
    the fund shares approved per (bank, policy, year); no claim entry points at no claim."""
    Violation = ledger.Violation
    problems: list[Violation] = []
    cash, liability, expense = ledger.cash_account(CLAIM_POOL), ledger.deferred_account(CLAIM_POOL), ledger.expense_account(CLAIM_POOL)
    claims = {c.id: c for c in session.scalars(select(Claim).order_by(Claim.id))}

    approvals: dict[int, list[tuple[JournalEntry, dict[str, int]]]] = {}
    for entry, posted in _postings_by_entry(session, "claim_approval").values():
        if entry.ref_type != "claim" or entry.ref_id not in claims:
            problems.append(Violation("claim_postings", f"claim approval entry refers to {entry.ref_type} {entry.ref_id}, not a claim", entry.id))
            continue
        approvals.setdefault(entry.ref_id, []).append((entry, posted))
    recovery_entries: dict[int, tuple[JournalEntry, dict[str, int]]] = {}
    for entry, posted in _postings_by_entry(session, "recovery").values():
        if entry.ref_type != "claim" or entry.ref_id not in claims:
            problems.append(Violation("claim_postings", f"recovery entry refers to {entry.ref_type} {entry.ref_id}, not a claim", entry.id))
            continue
        recovery_entries[entry.id] = (entry, posted)
    deferrals: dict[int, list[Deferral]] = {}
    for deferral in session.scalars(select(Deferral).where(Deferral.ref_type == "claim").order_by(Deferral.id)):
        deferrals.setdefault(deferral.ref_id, []).append(deferral)
    recoveries: dict[int, list[ClaimRecovery]] = {}
    for recovery in session.scalars(select(ClaimRecovery).order_by(ClaimRecovery.id)):
        recoveries.setdefault(recovery.claim_id, []).append(recovery)

    used: dict[tuple[int, str, int], int] = {}
    seen_recovery_entries: set[int] = set()
    for claim in claims.values():
        entries = approvals.get(claim.id, [])
        if claim.status not in DECIDED_STATUSES:
            for entry, _ in entries:
                problems.append(Violation("claim_postings", f"claim {claim.id} is {claim.status} but has an approval entry", entry.id))
            for deferral in deferrals.get(claim.id, []):
                problems.append(Violation("claim_postings", f"claim {claim.id} is {claim.status} but has deferral {deferral.id}", deferral.entry_id))
            if recoveries.get(claim.id):
                problems.append(Violation("claim_postings", f"claim {claim.id} is {claim.status} but has recoveries"))
            continue
        fund, paid, deferred = claim.fund_fen or 0, claim.paid_fen or 0, claim.deferred_fen or 0
        key = (claim.bank_id, claim.policy_id, claim.cap_year)
        used[key] = used.get(key, 0) + fund
        expected = {a: f for a, f in ((expense, fund), *ledger.paid_postings(CLAIM_POOL, paid), (liability, -deferred)) if f}  # docs/rules.md section 6
        if fund == 0:
            for entry, _ in entries:
                problems.append(Violation("claim_postings", f"claim {claim.id} has a fund share of 0 but an approval entry", entry.id))
        elif len(entries) != 1:
            problems.append(Violation("claim_postings", f"claim {claim.id} has {len(entries)} approval entries, expected 1"))
        else:
            entry, posted = entries[0]
            if posted != expected:
                problems.append(Violation(
                    "claim_postings", f"claim {claim.id}: approval posts {posted}, its fund share {fund} (paid {paid}, deferred {deferred}) gives {expected}",
                    entry.id,
                ))
            if entry.id != claim.approval_entry_id:
                problems.append(Violation("claim_postings", f"claim {claim.id} records approval entry {claim.approval_entry_id}", entry.id))
            if entry.policy_id != claim.policy_id:
                problems.append(Violation("claim_postings", f"claim {claim.id} is under {claim.policy_id}, its entry under {entry.policy_id}", entry.id))
        owed = deferrals.get(claim.id, [])
        if [d.amount_fen for d in owed] != ([deferred] if deferred else []):
            problems.append(Violation(
                "claim_postings", f"claim {claim.id} deferred {deferred} at approval; its deferrals are {[d.amount_fen for d in owed]}",
                claim.approval_entry_id,
            ))

        rows = recoveries.get(claim.id, [])
        totals = {
            "gross": sum(r.gross_fen for r in rows), "costs": sum(r.costs_fen for r in rows), "net": sum(r.net_fen for r in rows),
            "fund": sum(r.fund_fen for r in rows), "insurer": sum(r.insurer_fen for r in rows),
            "appraiser": sum(r.appraiser_fen for r in rows), "bank": sum(r.bank_fen for r in rows),
        }
        stored = {
            "gross": claim.recovered_gross_fen, "costs": claim.recovered_costs_fen, "net": claim.recovered_net_fen,
            "fund": claim.fund_recovered_fen, "insurer": claim.insurer_recovered_fen,
            "appraiser": claim.appraiser_recovered_fen, "bank": claim.bank_recovered_fen,
        }
        if totals != stored:
            problems.append(Violation("claim_recoveries", f"claim {claim.id} stores recovered {stored}, its recoveries add up to {totals}"))
        for party, share in claim.shares().items():
            if stored[party] > share:
                problems.append(Violation("claim_recoveries", f"claim {claim.id}: the {party} recovered {stored[party]}, more than its share {share}"))
        for row in rows:
            if row.policy_id != claim.policy_id:
                problems.append(Violation("claim_recoveries", f"recovery {row.id} of claim {claim.id} is under {row.policy_id}", row.entry_id))
            if row.fund_fen == 0:
                if row.entry_id is not None:
                    problems.append(Violation("claim_postings", f"recovery {row.id} of claim {claim.id} gives the fund 0 but has an entry", row.entry_id))
                continue
            found = recovery_entries.get(row.entry_id)
            if found is None or found[0].ref_id != claim.id:
                problems.append(Violation("claim_postings", f"recovery {row.id} of claim {claim.id} gives the fund {row.fund_fen} and has no recovery entry", row.entry_id))
                continue
            seen_recovery_entries.add(row.entry_id)
            entry, posted = found
            if posted != {cash: row.fund_fen, RECOVERY_ACCOUNT: -row.fund_fen} or entry.policy_id != claim.policy_id:
                problems.append(Violation("claim_postings", f"recovery {row.id} of claim {claim.id}: the fund's part {row.fund_fen} is posted as {posted} under {entry.policy_id}", entry.id))
    for entry_id, (entry, _) in recovery_entries.items():
        if entry_id not in seen_recovery_entries:
            problems.append(Violation("claim_postings", f"recovery entry of claim {entry.ref_id} matches no recorded recovery", entry_id))

    for usage in session.scalars(select(BankCapUsage)):
        approved = used.pop((usage.bank_id, usage.policy_id, usage.year), 0)
        if usage.used_fen != approved:
            problems.append(Violation(
                "cap_usage", f"cap usage of bank {usage.bank_id} under {usage.policy_id} in {usage.year} is {usage.used_fen}, "
                f"approved fund shares add up to {approved}",
            ))
    for (bank_id, policy_id, year), total in used.items():
        if total:
            problems.append(Violation("cap_usage", f"bank {bank_id} under {policy_id} in {year}: {total} approved with no cap usage row"))
    return problems
