"""Rule B (docs/rules.md section 12): pool agreements (B1) and suspensions at the loss line (B2).

The fund manager records a bank's agreement under a policy, and lifts a suspension, through rule G
(proposal kinds ``pool_agreement`` and ``lift_suspension``). Registration asks :func:`bank_reasons_for`
whether a bank may lend under a policy on a drawdown date; the claims approval step calls
:func:`measure_suspension` after each approval.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fund.adapters.models.claims import Claim
from fund.adapters.models.pool import BankSuspension, PoolAgreement
from fund.adapters.models.registry import Institution, StoredPolicy
from fund.domain import pool as rules
from fund.errors import Conflict, DomainError, Forbidden, NotFound
from fund.services import audit
from fund.services.common import SessionFactory, within
from fund.services.common import business_date as read_business_date
from fund.services.proposals import ProposalKind, _date_param, _int_param, _reason, register_kind
from fund.services.registry import Actor

MAX_REFERENCE = 100
APPROVED = ("approved", "closed")


@dataclass(frozen=True)
class AgreementView:
    id: int
    bank_code: str
    bank_name: str
    policy_id: str
    agreed_on: dt.date
    reference: str
    recorded_on: dt.date

    def as_dict(self) -> dict:
        return {"id": self.id, "bank_code": self.bank_code, "bank_name": self.bank_name, "policy_id": self.policy_id,
                "agreed_on": self.agreed_on.isoformat(), "reference": self.reference, "recorded_on": self.recorded_on.isoformat()}


@dataclass(frozen=True)
class SuspensionView:
    id: int
    bank_code: str
    policy_id: str
    suspended_on: dt.date
    claim_id: int
    losses_fen: int
    lending_fen: int
    line_fen: int
    lifted_on: dt.date | None
    lift_reason: str | None

    def as_dict(self) -> dict:
        return {"id": self.id, "bank_code": self.bank_code, "policy_id": self.policy_id,
                "suspended_on": self.suspended_on.isoformat(), "claim_id": self.claim_id, "losses_fen": self.losses_fen,
                "in_pool_lending_fen": self.lending_fen, "line_fen": self.line_fen,
                "lifted_on": self.lifted_on.isoformat() if self.lifted_on else None, "lift_reason": self.lift_reason}


def _require_reader(actor: Actor) -> None:
    if actor.kind not in ("fund_manager", "auditor", "bank"):
        raise Forbidden("forbidden", "only the fund manager, auditors and banks read pool agreements")


def _bank(session: Session, code: str) -> Institution:
    inst = session.scalar(select(Institution).where(Institution.code == code))
    if inst is None:
        raise NotFound("unknown_institution", f"no institution with code {code!r}", field="bank_code")
    if inst.kind != "bank":
        raise DomainError("wrong_institution_kind", f"institution {code} is a {inst.kind}, expected bank", field="bank_code")
    return inst


def _agreement_views(session: Session, stmt) -> list[AgreementView]:
    rows = session.execute(stmt.add_columns(Institution.code, Institution.name).join(Institution, Institution.id == PoolAgreement.bank_id)).all()
    return [AgreementView(a.id, code, name, a.policy_id, a.agreed_on, a.reference, a.recorded_on) for a, code, name in rows]


def _suspension_views(session: Session, stmt) -> list[SuspensionView]:
    rows = session.execute(stmt.add_columns(Institution.code).join(Institution, Institution.id == BankSuspension.bank_id)).all()
    return [SuspensionView(s.id, code, s.policy_id, s.suspended_on, s.claim_id, s.losses_fen, s.lending_fen, s.line_fen,
                           s.lifted_on, s.lift_reason) for s, code in rows]


# ---------------------------------------------------------------------------------------------
# B1: agreements
# ---------------------------------------------------------------------------------------------


def record_agreement(session: Session, actor: Actor, bank_code: str, policy_id: str, agreed_on: dt.date, reference: str,
                     today: dt.date) -> AgreementView:
    """Record a bank's pool agreement under a policy (one per bank and policy)."""
    bank = _bank(session, bank_code)
    if session.get(StoredPolicy, policy_id) is None:
        raise NotFound("unknown_policy", f"no policy {policy_id!r}", field="policy_id")
    if agreed_on > today:
        raise DomainError("dated_after_business_date", f"{agreed_on} is after the business date {today}", field="agreed_on")
    existing = session.scalar(select(PoolAgreement).where(PoolAgreement.bank_id == bank.id, PoolAgreement.policy_id == policy_id))
    if existing is not None:
        raise Conflict("agreement_exists", f"bank {bank_code} has an agreement under {policy_id} since {existing.agreed_on}",
                       field="bank_code")
    row = PoolAgreement(bank_id=bank.id, policy_id=policy_id, agreed_on=agreed_on, reference=reference, recorded_on=today,
                        recorded_by=actor.person_id)
    session.add(row)
    session.flush()
    return _agreement_views(session, select(PoolAgreement).where(PoolAgreement.id == row.id))[0]


def list_agreements(db: SessionFactory | Session, actor: Actor, *, bank_code: str | None = None,
                    policy_id: str | None = None) -> list[AgreementView]:
    """Agreements by bank and policy. Which banks are in the pool is public (funds publish their
    cooperating banks); their losses and suspensions are not (a bank sees its own)."""
    _require_reader(actor)
    stmt = select(PoolAgreement).order_by(PoolAgreement.id)
    if bank_code is not None:
        stmt = stmt.where(Institution.code == bank_code)
    if policy_id is not None:
        stmt = stmt.where(PoolAgreement.policy_id == policy_id)
    with within(db) as session:
        return _agreement_views(session, stmt)


def get_agreement(db: SessionFactory | Session, actor: Actor, agreement_id: int) -> AgreementView:
    _require_reader(actor)
    stmt = select(PoolAgreement).where(PoolAgreement.id == agreement_id)
    with within(db) as session:
        found = _agreement_views(session, stmt)
    if not found:
        raise NotFound("agreement_not_found", f"no pool agreement {agreement_id}", field="agreement_id")
    return found[0]


def agree_all_banks(session: Session, policy_ids: Iterable[str], *, reference: str, today: dt.date) -> int:
    """Seed data (tests, demo, synthetic books): every bank agrees under each policy from its first
    day. Not a decision of rule G: only for books built by the project itself."""
    count = 0
    banks = session.scalars(select(Institution.id).where(Institution.kind == "bank")).all()
    for policy_id in policy_ids:
        policy = session.get(StoredPolicy, policy_id)
        if policy is None:
            continue
        have = set(session.scalars(select(PoolAgreement.bank_id).where(PoolAgreement.policy_id == policy_id)))
        for bank_id in banks:
            if bank_id not in have:
                session.add(PoolAgreement(bank_id=bank_id, policy_id=policy_id, agreed_on=policy.valid_from,
                                          reference=reference, recorded_on=today))
                count += 1
    session.flush()
    return count


# ---------------------------------------------------------------------------------------------
# what registration asks
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BankStanding:
    """A bank's agreement date and suspension spells under each policy (for one registration batch)."""

    agreed_on: dict[str, dt.date]
    suspensions: dict[str, list[tuple[dt.date, dt.date | None]]]

    def reasons(self, policy_id: str | None, drawdown: dt.date) -> tuple[str, ...]:
        if policy_id is None:
            return ()
        return rules.bank_reasons(drawdown, agreed_on=self.agreed_on.get(policy_id),
                                  suspensions=self.suspensions.get(policy_id, ()))


def bank_standing(session: Session, bank_id: int) -> BankStanding:
    agreed = dict(session.execute(select(PoolAgreement.policy_id, PoolAgreement.agreed_on).where(PoolAgreement.bank_id == bank_id)).all())
    spells: dict[str, list[tuple[dt.date, dt.date | None]]] = {}
    for policy_id, start, lifted in session.execute(
        select(BankSuspension.policy_id, BankSuspension.suspended_on, BankSuspension.lifted_on).where(BankSuspension.bank_id == bank_id)
    ):
        spells.setdefault(policy_id, []).append((start, lifted))
    return BankStanding(agreed, spells)


# ---------------------------------------------------------------------------------------------
# B2: suspension
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class B2Reading:
    """What B2 reads of a (bank, policy) on a date: approved covered losses since the agreement or
    the last lift, in-pool lending (A3) and the open suspension, if any."""

    losses_fen: int
    lending_fen: int
    open_suspension: BankSuspension | None


NO_READING = B2Reading(0, 0, None)


def b2_readings(session: Session, on: dt.date, *, bank_id: int | None = None,
                policy_id: str | None = None) -> dict[tuple[int, str], B2Reading]:
    """B2's reading of every (bank, policy) as of ``on`` in three grouped queries (``bank_id`` and
    ``policy_id`` narrow it): the one definition the approval step (:func:`measure_suspension`) and
    the report (:func:`loss_ratios`) share. A pair with no loans, claims or suspensions is absent
    (:data:`NO_READING`).

    Losses: the sum of ``base`` of the bank's approved claims under the policy since its last lift
    (or since its agreement: every claim is). Claims approved on the lift's date count only when
    that date is after the suspension's (the lifted suspension counted those before)."""
    from fund.services.claims import in_pool_lending_by

    def narrowed(stmt, model):
        if bank_id is not None:
            stmt = stmt.where(model.bank_id == bank_id)
        if policy_id is not None:
            stmt = stmt.where(model.policy_id == policy_id)
        return stmt

    last_lift: dict[tuple[int, str], BankSuspension] = {}
    open_rows: dict[tuple[int, str], BankSuspension] = {}
    for row in session.scalars(narrowed(select(BankSuspension), BankSuspension).order_by(BankSuspension.id)):
        key = (row.bank_id, row.policy_id)
        if row.lifted_on is None:
            open_rows.setdefault(key, row)
        elif key not in last_lift or (row.lifted_on, row.id) > (last_lift[key].lifted_on, last_lift[key].id):
            last_lift[key] = row
    losses: dict[tuple[int, str], int] = {}
    approved = narrowed(select(Claim.bank_id, Claim.policy_id, Claim.decided_on, func.sum(Claim.base_fen))
                        .where(Claim.status.in_(APPROVED)), Claim)
    for b_id, p_id, decided_on, base in session.execute(approved.group_by(Claim.bank_id, Claim.policy_id, Claim.decided_on)):
        key = (b_id, p_id)
        last = last_lift.get(key)
        if last is not None and (decided_on is None or decided_on < last.lifted_on or decided_on <= last.suspended_on):
            continue
        losses[key] = losses.get(key, 0) + int(base or 0)
    lending = in_pool_lending_by(session, on, bank_id=bank_id, policy_id=policy_id)
    return {key: B2Reading(losses.get(key, 0), lending.get(key, 0), open_rows.get(key))
            for key in losses.keys() | lending.keys() | open_rows.keys()}


def measure_suspension(session: Session, actor: Actor, claim: Claim, today: dt.date) -> BankSuspension | None:
    """B2, called by the approval step after an approval: suspend the bank from ``today`` when its
    approved covered losses under the policy pass the line. Returns the new suspension, if any."""
    from fund.services.policies import get_policy

    policy = get_policy(session, claim.policy_id)
    if policy.bank_suspension_line_bp is None:
        return None
    reading = b2_readings(session, today, bank_id=claim.bank_id, policy_id=claim.policy_id).get(
        (claim.bank_id, claim.policy_id), NO_READING)
    if reading.open_suspension is not None:
        return None
    losses, lending = reading.losses_fen, reading.lending_fen
    if not rules.passes_line(losses, lending, policy.bank_suspension_line_bp):
        return None
    row = BankSuspension(bank_id=claim.bank_id, policy_id=claim.policy_id, suspended_on=today, claim_id=claim.id,
                         losses_fen=losses, lending_fen=lending, line_fen=rules.loss_line_fen(lending, policy.bank_suspension_line_bp))
    session.add(row)
    session.flush()
    audit.record(session, actor, "bank.suspend", f"bank_suspension:{row.id}", business_date=today,
                 detail={"claim": claim.id, "policy": claim.policy_id, "losses_fen": losses, "line_fen": row.line_fen})
    return row


def lift_suspension(session: Session, actor: Actor, suspension_id: int, reason: str, today: dt.date) -> SuspensionView:
    row = session.get(BankSuspension, suspension_id)
    if row is None:
        raise NotFound("suspension_not_found", f"no suspension {suspension_id}", field="suspension_id")
    if row.lifted_on is not None:
        raise Conflict("suspension_lifted", f"suspension {suspension_id} was lifted on {row.lifted_on}", field="suspension_id")
    row.lifted_on, row.lift_reason, row.lifted_by = today, reason, actor.person_id
    session.flush()
    return _suspension_views(session, select(BankSuspension).where(BankSuspension.id == row.id))[0]


def list_suspensions(db: SessionFactory | Session, actor: Actor, *, open_only: bool = False) -> list[SuspensionView]:
    _require_reader(actor)
    stmt = select(BankSuspension).order_by(BankSuspension.id)
    if actor.kind == "bank":
        stmt = stmt.where(BankSuspension.bank_id == actor.institution_id)
    if open_only:
        stmt = stmt.where(BankSuspension.lifted_on.is_(None))
    with within(db) as session:
        return _suspension_views(session, stmt)


def loss_ratios(session: Session, on: dt.date, *, bank_id: int | None = None) -> list[rules.LossRatio]:
    """Each agreed bank's approved covered losses against its line under each policy, as of ``on``:
    :func:`b2_readings` (what approval measures) for every agreement at once."""
    from fund.services.policies import get_policy

    stmt = (select(PoolAgreement.bank_id, Institution.code, PoolAgreement.policy_id)
            .join(Institution, Institution.id == PoolAgreement.bank_id).order_by(Institution.code, PoolAgreement.policy_id))
    if bank_id is not None:
        stmt = stmt.where(PoolAgreement.bank_id == bank_id)
    agreements = session.execute(stmt).all()
    if not agreements:
        return []
    readings = b2_readings(session, on, bank_id=bank_id)
    line_bps = {policy_id: get_policy(session, policy_id).bank_suspension_line_bp for policy_id in {a[2] for a in agreements}}
    out = []
    for b_id, code, policy_id in agreements:
        line_bp = line_bps[policy_id]
        reading = readings.get((b_id, policy_id), NO_READING)
        out.append(rules.LossRatio(code, policy_id, reading.losses_fen, reading.lending_fen, line_bp,
                                   rules.loss_line_fen(reading.lending_fen, line_bp) if line_bp is not None else None,
                                   reading.open_suspension.suspended_on if reading.open_suspension else None))
    return out


def bank_loss_ratios(db: SessionFactory | Session, actor: Actor) -> list[rules.LossRatio]:
    """Use case: the loss ratios as of the business date (a bank sees its own)."""
    _require_reader(actor)
    with within(db) as session:
        return loss_ratios(session, read_business_date(session), bank_id=actor.institution_id if actor.kind == "bank" else None)


# ---------------------------------------------------------------------------------------------
# rule G kinds
# ---------------------------------------------------------------------------------------------


def _check_agreement(params: dict) -> dict:
    bank = str(params.get("bank_code") or "").strip()
    policy_id = str(params.get("policy_id") or "").strip()
    reference = str(params.get("reference") or "").strip()
    if not bank or len(bank) > 32:
        raise DomainError("invalid_parameter", "bank_code must be 1..32 characters", field="bank_code")
    if not policy_id or len(policy_id) > 40:
        raise DomainError("invalid_parameter", "policy_id must be 1..40 characters", field="policy_id")
    if not reference or len(reference) > MAX_REFERENCE:
        raise DomainError("invalid_reference", f"an agreement has a reference of 1..{MAX_REFERENCE} characters", field="reference")
    return {"bank_code": bank, "policy_id": policy_id, "agreed_on": _date_param(params, "agreed_on"), "reference": reference}


def _execute_agreement(session: Session, actor: Actor, params: dict, today: dt.date) -> dict:
    view = record_agreement(session, actor, params["bank_code"], params["policy_id"], dt.date.fromisoformat(params["agreed_on"]),
                            params["reference"], today)
    return {"agreement_id": view.id, "bank_code": view.bank_code, "policy_id": view.policy_id,
            "agreed_on": view.agreed_on.isoformat(), "reference": view.reference}


def _check_lift(params: dict) -> dict:
    return {"suspension_id": _int_param(params, "suspension_id"), "reason": _reason(params.get("reason"), "lifting a suspension")}


def _execute_lift(session: Session, actor: Actor, params: dict, today: dt.date) -> dict:
    view = lift_suspension(session, actor, params["suspension_id"], params["reason"], today)
    return {"suspension_id": view.id, "bank_code": view.bank_code, "policy_id": view.policy_id,
            "lifted_on": view.lifted_on.isoformat() if view.lifted_on else None, "reason": view.lift_reason}


register_kind(ProposalKind(
    "pool_agreement", "record a bank's pool agreement under a policy (B1)", _check_agreement,
    lambda p: f"agreement:{p['bank_code']}:{p['policy_id']}", _execute_agreement,
))
register_kind(ProposalKind(
    "lift_suspension", "lift a bank's suspension with a reason (B2)", _check_lift,
    lambda p: f"bank_suspension:{p['suspension_id']}", _execute_lift,
))
