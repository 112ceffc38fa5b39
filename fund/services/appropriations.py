"""Appropriations and their reversals (docs/rules.md section 6), both decisions of rule G1.

An appropriation carries the pool, the date received, the policy and the funding document's reference
(拨款文号); a reference held by an appropriation that is not reversed is refused. A reversal is a new
entry of the opposite postings naming the entry it reverses and a reason; an entry is reversed at most
once, and only while its pool's spendable cash covers it (returned payments held for
their payees are not spendable). Deferrals the appropriation settled stay settled (they
were paid); the reversal takes the amount back out of cash.

Both are proposal kinds (``appropriation``, ``appropriation_reversal``): ``propose(db, officer,
"appropriation", {...})`` and an approver's ``sign_off`` execute them.

>>> check_reference(" 穗财预〔2026〕12号 ")
'穗财预〔2026〕12号'
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from fund.adapters.models.people import Appropriation
from fund.domain.money import check_amount
from fund.errors import Conflict, DomainError, Forbidden, NotFound
from fund.services import ledger
from fund.services.common import for_update
from fund.services.proposals import ProposalKind, _int_param, _reason, register_kind
from fund.services.registry import Actor

MAX_REFERENCE = 100
REVERSAL_REF_TYPE = "journal_entry"


@dataclass(frozen=True)
class AppropriationView:
    id: int
    entry_id: int
    pool: str
    amount_fen: int
    policy_id: str | None
    received_on: dt.date
    reference: str
    reversed: bool
    reversal_entry_id: int | None
    reversal_reason: str | None
    settled_fen: int = 0
    to_cash_fen: int = 0
    settlements: tuple[dict, ...] = ()

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _view(row: Appropriation, inflow: ledger.Inflow | None = None) -> AppropriationView:
    settlements = tuple({"deferral_id": s.deferral_id, "ref_type": s.ref_type, "ref_id": s.ref_id, "amount_fen": s.amount_fen,
                         "entry_id": s.entry_id} for s in (inflow.settlements if inflow else ()))
    return AppropriationView(row.id, row.entry_id, row.pool, row.amount_fen, row.policy_id, row.received_on, row.reference,
                             row.reversal_entry_id is not None, row.reversal_entry_id, row.reversal_reason,
                             inflow.settled_fen if inflow else 0, inflow.to_cash_fen if inflow else 0, settlements)


def check_reference(reference: str | None) -> str:
    reference = (reference or "").strip()
    if not reference or len(reference) > MAX_REFERENCE or not reference.isprintable():
        raise DomainError("missing_reference", f"an appropriation names its funding document's reference (1..{MAX_REFERENCE} "
                          "printable characters)", field="reference")
    return reference


def _require_fund_manager(actor: Actor) -> None:
    if actor.kind != "fund_manager":
        raise Forbidden("forbidden", "only the fund manager records appropriations")


def record_appropriation(session: Session, actor: Actor, *, pool: str, amount_fen: int, policy_id: str | None,
                         received_on: dt.date, reference: str, business_date: dt.date, memo: str | None = None) -> AppropriationView:
    """Record an appropriation (the executor of the ``appropriation`` proposal): the inflow to the pool
    (settling deferrals first, A4) and its record with the reference."""
    _require_fund_manager(actor)
    reference = check_reference(reference)
    amount = check_amount("amount_fen", amount_fen, minimum=1)
    if received_on > business_date:
        raise DomainError("dated_after_business_date", f"received_on {received_on} is after the business date {business_date}",
                          field="received_on")
    if received_on < dt.date(1900, 1, 1):
        raise DomainError("date_before_1900", "dates before 1900-01-01 are refused", field="received_on")
    held = session.scalar(select(Appropriation.id).where(Appropriation.live_reference == reference))
    if held is not None:
        raise Conflict("duplicate_reference", f"reference {reference!r} is held by appropriation {held}, which is not reversed",
                       field="reference")
    inflow = ledger.appropriate(session, pool=pool, amount_fen=amount, policy_id=policy_id, business_date=business_date,
                                actor_id=actor.institution_id, memo=memo or f"appropriation {reference}")
    row = Appropriation(entry_id=inflow.entry_id, pool=pool, amount_fen=amount, policy_id=policy_id, received_on=received_on,
                        reference=reference, live_reference=reference, recorded_by=actor.person_id)
    session.add(row)
    session.flush()
    return _view(row, inflow)


def reverse_appropriation(session: Session, actor: Actor, appropriation_id: int, reason: str, business_date: dt.date) -> AppropriationView:
    """Reverse an appropriation's entry (the executor of ``appropriation_reversal``): once, while the
    pool's cash covers it."""
    _require_fund_manager(actor)
    reason = _reason(reason, "a reversal")
    row = session.scalar(for_update(session, select(Appropriation).where(Appropriation.id == appropriation_id))
                         .execution_options(populate_existing=True))
    if row is None:
        raise NotFound("appropriation_not_found", f"no appropriation {appropriation_id}", field="appropriation_id")
    if row.reversal_entry_id is not None:
        raise Conflict("already_reversed", f"appropriation {row.id} was reversed by entry {row.reversal_entry_id}",
                       field="appropriation_id")
    cash = ledger.lock_pool(session, row.pool)
    spendable = ledger.spendable_cash(session, row.pool, cash.balance_fen)  # returned payments stay held for their payees
    if spendable < row.amount_fen:
        raise DomainError("cash_does_not_cover", f"the {row.pool} pool's spendable cash ({spendable} fen of {cash.balance_fen} fen "
                          f"in cash) does not cover the reversal of {row.amount_fen} fen", field="appropriation_id")
    entry = ledger.post_entry(
        session, cause="correction", policy_id=row.policy_id,
        postings=[("equity:appropriations", row.amount_fen), (ledger.cash_account(row.pool), -row.amount_fen)],
        business_date=business_date, ref_type=REVERSAL_REF_TYPE, ref_id=row.entry_id, actor_id=actor.institution_id,
        memo=f"reversal of entry {row.entry_id} (appropriation {row.reference}): {reason}"[:500],
    )
    row.reversal_entry_id, row.reversal_reason, row.reversed_on, row.live_reference = entry.id, reason, business_date, None
    session.flush()
    return _view(row)


def list_appropriations(session: Session, *, pool: str | None = None) -> list[AppropriationView]:
    stmt = select(Appropriation).order_by(Appropriation.id)
    if pool is not None:
        stmt = stmt.where(Appropriation.pool == pool)
    return [_view(r) for r in session.scalars(stmt)]


def live_appropriated_fen(session: Session, pool: str) -> int:
    """Appropriated to ``pool`` and not reversed (leverage and the report count these):
    ``ledger.appropriated_fen`` nets each reversal against its appropriation."""
    return ledger.appropriated_fen(session, pool)


# ---------------------------------------------------------------------------------------------
# proposal kinds
# ---------------------------------------------------------------------------------------------


def _check_appropriation(params: dict) -> dict:
    from fund.services.proposals import _date_param

    pool = params.get("pool", "compensation")
    if pool not in ledger.POOLS:
        raise DomainError("invalid_pool", f"pool must be one of {', '.join(ledger.POOLS)}", field="pool")
    policy_id = params.get("policy_id")
    if policy_id is not None and (not isinstance(policy_id, str) or not 1 <= len(policy_id) <= 32):
        raise DomainError("invalid_parameter", "policy_id must be 1..32 characters", field="policy_id")
    memo = (params.get("memo") or "").strip() or None
    return {"pool": pool, "amount_fen": check_amount("amount_fen", params.get("amount_fen"), minimum=1), "policy_id": policy_id,
            "received_on": _date_param(params, "received_on"), "reference": check_reference(params.get("reference")),
            "memo": memo[:500] if memo else None}


def _execute_appropriation(session: Session, actor: Actor, params: dict, today: dt.date) -> dict:
    view = record_appropriation(session, actor, pool=params["pool"], amount_fen=params["amount_fen"],
                                policy_id=params["policy_id"], received_on=dt.date.fromisoformat(params["received_on"]),
                                reference=params["reference"], business_date=today, memo=params["memo"])
    # no new ids here: the preview (computed in a rolled-back savepoint) and the sign-off compare like with like
    return {"pool": view.pool, "amount_fen": view.amount_fen, "reference": view.reference, "settled_fen": view.settled_fen,
            "to_cash_fen": view.to_cash_fen, "settlements": [
                {k: v for k, v in s.items() if k != "entry_id"} for s in view.settlements]}


def _execute_reversal(session: Session, actor: Actor, params: dict, today: dt.date) -> dict:
    view = reverse_appropriation(session, actor, params["appropriation_id"], params["reason"], today)
    return {"appropriation_id": view.id, "pool": view.pool, "amount_fen": view.amount_fen, "entry_id": view.entry_id}


register_kind(ProposalKind(
    "appropriation", "record an appropriation to a pool", _check_appropriation,
    lambda p: f"appropriation:{p['reference']}"[:80], _execute_appropriation,
))
register_kind(ProposalKind(
    "appropriation_reversal", "reverse an appropriation's entry",
    lambda p: {"appropriation_id": _int_param(p, "appropriation_id"), "reason": _reason(p.get("reason"), "a reversal")},
    lambda p: f"appropriation:{p['appropriation_id']}", _execute_reversal,
))
