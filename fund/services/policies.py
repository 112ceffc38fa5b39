"""Stored policies: load (immutable, by content hash), list, activate.

A policy is immutable: a changed document under a stored id is refused (a revision takes a new id).
One exception, for the policies the project ships: when a release of ipfund gives a shipped policy
parameters it did not have (docs/rules.md section 2, revision 2: ``fee_subsidy_ratio_bp``,
``fee_subsidy_cap_fen`` and ``bank_suspension_line_bp`` in gz-2023), a database that loaded the earlier
shipped file would refuse the new one. Loading the current shipped file over a row that holds an
*earlier shipped* release of the same policy (its content hash is listed in
:data:`EARLIER_SHIPPED_RELEASES`) upgrades the row in place, keeping its activation, with an audit
record (``policy.upgrade``: the two hashes and the keys added). Only added keys are accepted that way:
every value of the earlier release must be unchanged. Any other mismatch is refused as before.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

# Content hashes of earlier releases of the shipped policy files, by policy id: a stored row with one
# of them is upgraded in place by loading the current shipped file.
EARLIER_SHIPPED_RELEASES: dict[str, frozenset[str]] = {
    # gz-2023 before revision 2's fee subsidy (S6) and suspension line (B2) parameters
    "gz-2023": frozenset({"ddaca4b46f5097a422e522b832e64bd484dee44a32997b9c9225b46dc667129e"}),
}


@dataclass(frozen=True)
class PolicyLoad:
    """What loading a policy did: ``loaded`` (a new row), ``unchanged`` (the same content was stored)
    or ``upgraded`` (an earlier shipped release replaced in place; ``previous_hash`` and ``added``)."""

    row: StoredPolicy
    outcome: str
    previous_hash: str | None = None
    added: tuple[str, ...] = ()

    @property
    def created(self) -> bool:
        return self.outcome == "loaded"


def load_policy(session: Session, path: Path, *, actor: Any = None) -> tuple[StoredPolicy, bool]:
    """Store the policy in ``path``; returns (row, created). Same content again is a no-op; a changed
    document under an existing id is refused (an earlier shipped release is upgraded: module doc)."""
    done = load_policy_path(session, path, actor=actor)
    return done.row, done.created


def load_policy_path(session: Session, path: Path, *, actor: Any = None) -> PolicyLoad:
    """:func:`load_policy` saying what it did (the CLI prints it)."""
    try:
        policy = load_policy_file(path)
    except PolicyError as exc:
        raise DomainError("invalid_policy", str(exc), field="policy") from None
    return save_policy(session, policy, actor=actor)


def load_shipped_policies(session: Session, *, activate: tuple[str, ...] = ()) -> list[StoredPolicy]:
    """Store every shipped policy (a no-op for those stored already, an upgrade for an earlier shipped
    release) and activate the ``activate`` ids in the order given; the stored rows by id."""
    rows = [store_policy(session, policy)[0] for policy in shipped_policies().values()]
    for policy_id in activate:
        activate_policy(session, policy_id)
    return rows


def store_policy(session: Session, policy: Policy, *, actor: Any = None) -> tuple[StoredPolicy, bool]:
    done = save_policy(session, policy, actor=actor)
    return done.row, done.created


def save_policy(session: Session, policy: Policy, *, actor: Any = None) -> PolicyLoad:
    """Store ``policy``: a new row, a no-op for the same content, an in-place upgrade of an earlier
    shipped release (audited), else ``policy_changed``."""
    existing = session.get(StoredPolicy, policy.id)
    if existing is None:
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
        return PolicyLoad(row, "loaded")
    if existing.content_hash == policy.content_hash:
        return PolicyLoad(existing, "unchanged")
    added = _shipped_upgrade(existing, policy)
    if added is None:
        raise Conflict(
            "policy_changed",
            f"policy {policy.id} is stored with other content (stored hash {existing.content_hash[:12]}, "
            f"this file {policy.content_hash[:12]}): a changed policy needs a new id",
            field="id",
        )
    return _upgrade(session, existing, policy, added, actor)


def _shipped_upgrade(existing: StoredPolicy, policy: Policy) -> tuple[str, ...] | None:
    """The keys an in-place upgrade adds, or None when this is no upgrade of an earlier shipped release
    to the current shipped file (or when it would change a value the earlier release had)."""
    if existing.content_hash not in EARLIER_SHIPPED_RELEASES.get(policy.id, frozenset()):
        return None
    shipped = shipped_policies().get(policy.id)
    if shipped is None or shipped.content_hash != policy.content_hash:
        return None
    before = json.loads(existing.document)
    after = json.loads(policy_document_json(policy))
    if any(key not in after or after[key] != value for key, value in before.items()):
        return None
    return tuple(sorted(set(after) - set(before)))


def _upgrade(session: Session, row: StoredPolicy, policy: Policy, added: tuple[str, ...], actor: Any) -> PolicyLoad:
    from fund.services import audit

    previous = row.content_hash
    row.name, row.valid_from, row.valid_to = policy.name, policy.valid_from, policy.valid_to
    row.content_hash, row.document = policy.content_hash, policy_document_json(policy)
    session.flush()
    audit.record(session, actor, "policy.upgrade", f"policy:{policy.id}",
                 detail={"from_hash": previous, "to_hash": policy.content_hash, "added": list(added), "active": row.active})
    return PolicyLoad(row, "upgraded", previous, added)


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
