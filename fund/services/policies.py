"""Stored policies: load (immutable, by content hash), list, activate."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from fund.adapters.models.registry import StoredPolicy
from fund.domain.policy import (
    Policy,
    PolicyError,
    load_policy_file,
    policy_document_json,
    policy_from_json,
    policy_in_force,
    shipped_policies,
)
from fund.errors import Conflict, DomainError, NotFound


def load_policy(session: Session, path: Path) -> tuple[StoredPolicy, bool]:
    """Store the policy in ``path``; returns (row, created). Same content again is a no-op; a changed
    document under an existing id is refused."""
    try:
        policy = load_policy_file(path)
    except PolicyError as exc:
        raise DomainError("invalid_policy", str(exc), field="policy") from None
    return store_policy(session, policy)


def load_shipped_policies(session: Session, *, activate: tuple[str, ...] = ()) -> list[StoredPolicy]:
    """Store every shipped policy (a no-op for those stored already) and activate the ``activate`` ids
    in the order given; the stored rows by id."""
    rows = [store_policy(session, policy)[0] for policy in shipped_policies().values()]
    for policy_id in activate:
        activate_policy(session, policy_id)
    return rows


def store_policy(session: Session, policy: Policy) -> tuple[StoredPolicy, bool]:
    existing = session.get(StoredPolicy, policy.id)
    if existing is not None:
        if existing.content_hash != policy.content_hash:
            raise Conflict(
                "policy_changed",
                f"policy {policy.id} is stored with another content (hash {existing.content_hash[:12]}); a revision needs a new id",
                field="id",
            )
        return existing, False
    row = StoredPolicy(
        id=policy.id,
        name=policy.name,
        valid_from=policy.valid_from,
        valid_to=policy.valid_to,
        content_hash=policy.content_hash,
        document=policy_document_json(policy),
        active=False,
    )
    session.add(row)
    session.flush()
    return row, True


def stored_policy(session: Session, policy_id: str) -> StoredPolicy:
    """The stored row of a policy (document, hash, active flag); NotFound when none has the id."""
    row = session.get(StoredPolicy, policy_id)
    if row is None:
        raise NotFound("unknown_policy", f"no stored policy {policy_id!r}", field="policy_id")
    return row


def get_policy(session: Session, policy_id: str) -> Policy:
    row = session.get(StoredPolicy, policy_id)
    if row is None:
        raise NotFound("unknown_policy", f"no stored policy {policy_id!r}", field="policy_id")
    return policy_from_json(row.document)


def list_policies(session: Session) -> list[StoredPolicy]:
    return list(session.scalars(select(StoredPolicy).order_by(StoredPolicy.valid_from)))


def activate_policy(session: Session, policy_id: str) -> StoredPolicy:
    row = session.get(StoredPolicy, policy_id)
    if row is None:
        raise NotFound("unknown_policy", f"no stored policy {policy_id!r}: load it first", field="policy_id")
    if row.active:
        return row
    candidate = policy_from_json(row.document)
    for other in active_policies(session):
        if candidate.overlaps(other):
            raise Conflict(
                "policy_overlap",
                f"policy {row.id} ({row.valid_from}..{row.valid_to}) overlaps active policy {other.id} "
                f"({other.valid_from}..{other.valid_to})",
                field="policy_id",
            )
    row.active = True
    return row


def active_policy_on(session: Session, on: dt.date) -> Policy | None:
    return policy_in_force(active_policies(session), on)


def active_policies(session: Session) -> list[Policy]:
    rows = session.scalars(select(StoredPolicy).where(StoredPolicy.active.is_(True)).order_by(StoredPolicy.valid_from))
    return [policy_from_json(r.document) for r in rows]
