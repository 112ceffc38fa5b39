"""Per-institution API keys: create (the key is shown once), list (prefix only), revoke, authenticate.

A key looks like ``ipf_<8 characters>_<43 characters>``: the first two parts are its public prefix,
the last 256 random bits. Only ``sha256(key)`` is stored; a plain hash is enough because the key is
random, not a password.

>>> from fund.services.keys import key_hash, split_key
>>> split_key("ipf_abcd2345_" + "x" * 43)
'ipf_abcd2345'
>>> len(key_hash("ipf_abcd2345_" + "x" * 43))
64
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from fund.adapters.models.api import ApiKey
from fund.adapters.models.registry import Institution
from fund.errors import DomainError, NotFound, Unauthorized  # noqa: F401  (api.auth imports Unauthorized from here)
from fund.services.common import institution_by_code

KEY_SCHEME = "ipf"
PREFIX_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l
PREFIX_LENGTH = 8
SECRET_BYTES = 32
MAX_KEY_LENGTH = 128
MAX_LABEL_LENGTH = 100
_KEY_RE = re.compile(rf"^({KEY_SCHEME}_[{PREFIX_ALPHABET}]{{{PREFIX_LENGTH}}})_[A-Za-z0-9_-]{{43}}$")


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a key: never the key itself."""

    prefix: str
    institution_code: str
    institution_kind: str
    label: str | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class NewKey:
    """A key just created: ``key`` is the only copy there will ever be."""

    key: str
    info: KeyInfo


@dataclass(frozen=True)
class Authenticated:
    """The institution a presented key belongs to."""

    institution_id: int
    code: str
    kind: str
    key_prefix: str


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def split_key(key: str) -> str | None:
    """The public prefix of a well-formed key, else None."""
    match = _KEY_RE.match(key)
    return match.group(1) if match else None


def _info(row: ApiKey, inst: Institution) -> KeyInfo:
    return KeyInfo(row.prefix, inst.code, inst.kind, row.label, row.created_at, row.revoked_at)


def create_key(session: Session, institution_code: str, *, label: str | None = None) -> NewKey:
    """A new key for the institution; only its hash is stored."""
    inst = institution_by_code(session, institution_code, field="institution")
    if label is not None and (len(label) > MAX_LABEL_LENGTH or not label.isprintable()):
        raise DomainError("invalid_label", f"label must be at most {MAX_LABEL_LENGTH} printable characters", field="label")
    prefix = f"{KEY_SCHEME}_" + "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    key = f"{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    assert split_key(key) == prefix
    row = ApiKey(institution_id=inst.id, prefix=prefix, key_hash=key_hash(key), label=label)
    session.add(row)
    session.flush()
    session.refresh(row)
    return NewKey(key, _info(row, inst))


def list_keys(session: Session, institution_code: str | None = None) -> list[KeyInfo]:
    stmt = select(ApiKey, Institution).join(Institution, Institution.id == ApiKey.institution_id)
    if institution_code is not None:
        stmt = stmt.where(Institution.id == institution_by_code(session, institution_code, field="institution").id)
    return [_info(row, inst) for row, inst in session.execute(stmt.order_by(Institution.code, ApiKey.id))]


def revoke_key(session: Session, prefix: str, *, now: dt.datetime) -> KeyInfo:
    """Revoke the key with this prefix (revoking twice keeps the first time)."""
    found = session.execute(
        select(ApiKey, Institution).join(Institution, Institution.id == ApiKey.institution_id).where(ApiKey.prefix == prefix)
    ).first()
    if found is None:
        raise NotFound("unknown_api_key", f"no API key with prefix {prefix!r}", field="prefix")
    row, inst = found
    if row.revoked_at is None:
        row.revoked_at = now
        session.flush()
    return _info(row, inst)


def authenticate(session: Session, presented: str | None) -> Authenticated:
    """The institution owning ``presented``; Unauthorized when missing, malformed, unknown or revoked."""
    if not presented:
        raise Unauthorized("missing_credentials", "send the API key as 'Authorization: Bearer <key>'", field="Authorization")
    if len(presented) > MAX_KEY_LENGTH or split_key(presented) is None:
        raise Unauthorized("invalid_api_key", "the API key is not valid", field="Authorization")
    found = session.execute(
        select(ApiKey.prefix, ApiKey.revoked_at, Institution.id, Institution.code, Institution.kind)
        .join(Institution, Institution.id == ApiKey.institution_id)
        .where(ApiKey.key_hash == key_hash(presented))
    ).first()
    if found is None:
        raise Unauthorized("invalid_api_key", "the API key is not valid", field="Authorization")
    if found.revoked_at is not None:
        raise Unauthorized("api_key_revoked", "the API key has been revoked", field="Authorization")
    return Authenticated(found.id, found.code, found.kind, found.prefix)
