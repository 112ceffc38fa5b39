"""Staff users (docs/rules.md section 1, People): named people of each institution with their roles,
argon2-hashed passwords, sign-in with a lockout, and the fund manager admin's use cases.

Roles by institution kind: the fund manager's ``officer`` (prepares decisions), ``approver`` (signs
them off) and ``admin`` (users, keys); a bank's, insurer's, guarantor's or appraiser's ``staff``; an
auditor's ``reader``. Passwords have at least 12 characters; 5 failed sign-ins within 15 minutes lock
the login for 15 minutes. Every change and every sign-in (failed or not) is an audit record
(``fund.services.audit``).

>>> check_password("correct horse battery", login="li.officer")
'correct horse battery'
>>> roles_for("fund_manager", ["approver", "officer"])
('approver', 'officer')
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from fund.adapters.db import unit_of_work
from fund.adapters.models.api import ApiKey
from fund.adapters.models.people import LANGUAGES, Person as PersonRow, PersonKey
from fund.adapters.models.registry import Institution
from fund.domain.dates import aware_utc
from fund.errors import Conflict, DomainError, Forbidden, NotFound
from fund.services import audit
from fund.services.common import for_update, institution_by_code
from fund.services.registry import Actor

SessionFactory = sessionmaker[Session]

ROLES_BY_KIND: dict[str, tuple[str, ...]] = {
    "fund_manager": ("officer", "approver", "admin"),
    "bank": ("staff",),
    "insurer": ("staff",),
    "guarantor": ("staff",),
    "appraiser": ("staff",),
    "auditor": ("reader",),
}
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
LOCK_AFTER_FAILURES = 5
FAILURE_WINDOW = dt.timedelta(minutes=15)
LOCK_DURATION = dt.timedelta(minutes=15)
LOGIN_ALPHABET = set("abcdefghijklmnopqrstuvwxyz0123456789._-")

# The one password hasher: argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane), about
# 50 ms a hash here. Tests may swap in a cheaper one with ``use_hasher``; stored hashes carry their own
# parameters (and are rehashed at sign-in when these change).
ARGON2_PARAMETERS = {"memory_cost": 19_456, "time_cost": 2, "parallelism": 1}
_hasher = PasswordHash((Argon2Hasher(**ARGON2_PARAMETERS),))


def use_hasher(hasher: PasswordHash) -> PasswordHash:
    """Replace the password hasher (tests: ``PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8),))``);
    returns the previous one."""
    global _hasher
    previous, _hasher = _hasher, hasher
    return previous


@dataclass(frozen=True)
class Person:
    """A staff user as the services see one (never the password hash)."""

    id: int
    institution_id: int
    institution_code: str
    institution_kind: str
    login: str
    display_name: str
    roles: tuple[str, ...]
    language: str
    active: bool
    locked_until: dt.datetime | None = None

    def as_dict(self) -> dict:
        return {
            "login": self.login, "display_name": self.display_name, "institution": self.institution_code,
            "roles": list(self.roles), "language": self.language, "active": self.active,
            "locked_until": self.locked_until.isoformat() if self.locked_until else None,
        }


def person_actor(person: Person, *, key_prefix: str | None = None) -> Actor:
    """The actor of a call made by ``person`` (signed in, or through a key issued to them)."""
    return Actor(person.institution_id, person.institution_code, person.institution_kind, person_id=person.id,
                 login=person.login, display_name=person.display_name, roles=person.roles, key_prefix=key_prefix)


# ---------------------------------------------------------------------------------------------
# input checking
# ---------------------------------------------------------------------------------------------


def check_password(password: str, *, login: str | None = None) -> str:
    """A password that may be set: 12..128 characters, printable, not the login."""
    if not isinstance(password, str) or not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise DomainError("weak_password", f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
                          field="password")
    if not password.isprintable():
        raise DomainError("weak_password", "a password has printable characters only", field="password")
    if login is not None and password.strip().lower() == login.lower():
        raise DomainError("weak_password", "a password must not be the login", field="password")
    return password


def check_login(login: str) -> str:
    login = (login or "").strip().lower()
    if not 2 <= len(login) <= 64 or not set(login) <= LOGIN_ALPHABET:
        raise DomainError("invalid_login", "a login has 2..64 characters: letters, digits, '.', '_' or '-'", field="login")
    return login


def check_display_name(name: str) -> str:
    name = (name or "").strip()
    if not 1 <= len(name) <= 100 or not name.isprintable():
        raise DomainError("invalid_display_name", "a display name has 1..100 printable characters", field="display_name")
    return name


def roles_for(kind: str, roles: Iterable[str]) -> tuple[str, ...]:
    """The roles, checked against what the institution's kind allows, sorted and unique."""
    allowed = ROLES_BY_KIND.get(kind, ())
    chosen = tuple(sorted({r.strip() for r in roles if r.strip()}))
    if not chosen:
        raise DomainError("invalid_roles", f"give at least one role ({', '.join(allowed)})", field="roles")
    wrong = [r for r in chosen if r not in allowed]
    if wrong:
        raise DomainError("invalid_roles", f"a {kind}'s staff may have roles {', '.join(allowed)}, not {', '.join(wrong)}",
                          field="roles")
    return chosen


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise DomainError("invalid_language", f"language must be one of {', '.join(LANGUAGES)}", field="language")
    return language


# ---------------------------------------------------------------------------------------------
# session-level functions
# ---------------------------------------------------------------------------------------------


def _view(row: PersonRow, inst: Institution) -> Person:
    return Person(row.id, inst.id, inst.code, inst.kind, row.login, row.display_name, tuple(row.roles.split(",")),
                  row.language, row.active, aware_utc(row.locked_until))


def _row(session: Session, login: str, *, lock: bool = False) -> tuple[PersonRow, Institution]:
    stmt = select(PersonRow, Institution).join(Institution, Institution.id == PersonRow.institution_id).where(
        PersonRow.login == (login or "").strip().lower())
    if lock:
        stmt = for_update(session, stmt).execution_options(populate_existing=True)
    found = session.execute(stmt).first()
    if found is None:
        raise NotFound("unknown_user", f"no user {login!r}", field="login")
    return found[0], found[1]


def get_person(session: Session, login: str) -> Person:
    return _view(*_row(session, login))


def person_by_id(session: Session, person_id: int) -> Person:
    row = session.get(PersonRow, person_id)
    if row is None:
        raise NotFound("unknown_user", f"no user {person_id}", field="person_id")
    return _view(row, session.get(Institution, row.institution_id))


def person_of_key(session: Session, key_prefix: str) -> Person | None:
    """The person a key was issued to (None for an institution's system key)."""
    found = session.execute(
        select(PersonRow, Institution)
        .join(PersonKey, PersonKey.person_id == PersonRow.id)
        .join(ApiKey, ApiKey.id == PersonKey.key_id)
        .join(Institution, Institution.id == PersonRow.institution_id)
        .where(ApiKey.prefix == key_prefix)
    ).first()
    return _view(found[0], found[1]) if found else None


def _require_admin(actor: Actor) -> None:
    if actor.kind != "fund_manager" or not actor.has_role("admin"):
        raise Forbidden("not_admin", "only a fund manager admin manages users and keys")


def create_person(session: Session, institution: Institution, login: str, display_name: str, roles: Iterable[str],
                  password: str, *, language: str = "zh", now: dt.datetime | None = None) -> Person:
    """Add a staff user (no permission check: the use cases check who asks)."""
    login = check_login(login)
    chosen = roles_for(institution.kind, roles)
    check_password(password, login=login)
    if session.scalar(select(PersonRow.id).where(PersonRow.login == login)) is not None:
        raise Conflict("login_taken", f"login {login!r} is taken", field="login")
    row = PersonRow(institution_id=institution.id, login=login, display_name=check_display_name(display_name),
                    roles=",".join(chosen), active=True, language=check_language(language),
                    password_hash=_hasher.hash(password), password_changed_at=now or audit.utc_now(), failed_sign_ins=0)
    session.add(row)
    session.flush()
    return _view(row, institution)


def sign_in(session: Session, login: str, password: str, now: dt.datetime) -> Person:
    """Check a sign-in and count it (the caller commits the count even when it raises: see
    ``authenticate``). Unknown, disabled and wrong-password logins are all ``bad_credentials``."""
    try:
        row, inst = _row(session, login, lock=True)
    except NotFound:
        _hasher.hash(password or "x")  # the same work as a known login: no timing tells which logins exist
        raise DomainError("bad_credentials", "wrong login or password", field="login") from None
    locked_until = aware_utc(row.locked_until)
    if locked_until is not None and now < locked_until:
        raise DomainError("login_locked", f"login {row.login} is locked after {LOCK_AFTER_FAILURES} failed sign-ins "
                          f"until {locked_until:%Y-%m-%d %H:%M} UTC", field="login")
    ok, rehashed = _hasher.verify_and_update(password, row.password_hash) if password else (False, None)
    if ok and row.active:
        row.failed_sign_ins, row.first_failed_at, row.locked_until = 0, None, None
        if rehashed is not None:  # stored with older parameters than the hasher's
            row.password_hash = rehashed
        session.flush()
        return _view(row, inst)
    first = aware_utc(row.first_failed_at)
    if first is None or now - first > FAILURE_WINDOW:
        row.failed_sign_ins, row.first_failed_at = 1, now
    else:
        row.failed_sign_ins += 1
    if row.failed_sign_ins >= LOCK_AFTER_FAILURES:
        row.locked_until, row.failed_sign_ins, row.first_failed_at = now + LOCK_DURATION, 0, None
    session.flush()
    raise DomainError("bad_credentials", "wrong login or password", field="login")


# ---------------------------------------------------------------------------------------------
# use cases
# ---------------------------------------------------------------------------------------------


def authenticate(db: SessionFactory, login: str, password: str, *, request_id: str | None = None,
                 now: dt.datetime | None = None) -> Person:
    """The active person with this login and password, else DomainError ``bad_credentials`` (or
    ``login_locked`` while locked). The sign-in, failed or not, is an audit record; a failure is
    counted and recorded in a transaction of its own."""
    now = now or audit.utc_now()
    failure: DomainError | None = None
    with unit_of_work(db) as session:
        try:
            person = sign_in(session, login, password, now)
        except DomainError as exc:
            failure = exc  # keep the failure count: this transaction commits
            try:
                found = get_person(session, login)
            except NotFound:
                found = None
        else:
            audit.record(session, person_actor(person), "sign_in", f"user:{person.login}", request_id=request_id, at=now)
            return person
    with unit_of_work(db) as session:
        who = person_actor(found) if found else None
        audit.record(session, who, "sign_in", f"user:{(login or '').strip().lower()[:64]}", "refused",
                     error_code=failure.code, login=(login or "").strip().lower()[:64] or None, request_id=request_id, at=now)
    raise failure


def bootstrap(db: SessionFactory, login: str, display_name: str, password: str, *, institution: str | None = None) -> Person:
    """The first admin, on a database without users: a fund manager person with every fund manager
    role (they add the others)."""
    def work(session: Session) -> Person:
        if session.scalar(select(func.count()).select_from(PersonRow)):
            raise Conflict("already_bootstrapped", "users exist already: an admin adds users (`ipfund users add`)")
        if institution is not None:
            inst = institution_by_code(session, institution, kinds=("fund_manager",))
        else:
            inst = session.scalar(select(Institution).where(Institution.kind == "fund_manager").order_by(Institution.id))
            if inst is None:
                raise DomainError("no_fund_manager", "no fund manager institution: add one with `ipfund institutions add`")
        return create_person(session, inst, login, display_name, ("admin",), password)

    with unit_of_work(db) as session:
        person = work(session)
        audit.record(session, person_actor(person), "user.bootstrap", f"user:{person.login}")
        return person


def add_user_in(session: Session, actor: Actor, *, institution: str, login: str, display_name: str,
                roles: Iterable[str], password: str, language: str = "zh") -> Person:
    """Session-level: an admin adds a staff user to an institution."""
    _require_admin(actor)
    return create_person(session, institution_by_code(session, institution), login, display_name, roles, password,
                         language=language)


def add_user(db: SessionFactory, actor: Actor, *, institution: str, login: str, display_name: str,
             roles: Iterable[str], password: str, language: str = "zh") -> Person:
    """An admin adds a staff user to an institution."""
    roles = tuple(roles)
    return audit.audited(db, actor, "user.add", f"user:{(login or '').strip().lower()[:64]}",
                         lambda session: add_user_in(session, actor, institution=institution, login=login,
                                                     display_name=display_name, roles=roles, password=password,
                                                     language=language),
                         detail=lambda p: {"institution": p.institution_code, "roles": list(p.roles)})


def list_users(db: SessionFactory, actor: Actor, *, institution: str | None = None) -> list[Person]:
    """The fund manager and auditors see every user; another institution's person its own colleagues."""
    with unit_of_work(db) as session:
        stmt = select(PersonRow, Institution).join(Institution, Institution.id == PersonRow.institution_id)
        if actor.kind not in ("fund_manager", "auditor"):
            stmt = stmt.where(Institution.id == actor.institution_id)
        if institution is not None:
            stmt = stmt.where(Institution.code == institution)
        return [_view(r, i) for r, i in session.execute(stmt.order_by(Institution.code, PersonRow.login))]


def disable_user_in(session: Session, actor: Actor, login: str) -> Person:
    """Session-level: an admin disables a user (kept, never deleted: the audit trail names them)."""
    _require_admin(actor)
    row, inst = _row(session, login, lock=True)
    if row.id == actor.person_id:
        raise DomainError("cannot_disable_self", "an admin does not disable their own login", field="login")
    row.active = False
    session.flush()
    return _view(row, inst)


def disable_user(db: SessionFactory, actor: Actor, login: str) -> Person:
    """An admin disables a user."""
    return audit.audited(db, actor, "user.disable", f"user:{(login or '').strip().lower()[:64]}",
                         lambda session: disable_user_in(session, actor, login))


def reset_password_in(session: Session, actor: Actor, login: str, new_password: str) -> Person:
    """Session-level: an admin sets a new password (and lifts a lock)."""
    _require_admin(actor)
    row, inst = _row(session, login, lock=True)
    row.password_hash = _hasher.hash(check_password(new_password, login=row.login))
    row.password_changed_at = audit.utc_now()
    row.failed_sign_ins, row.first_failed_at, row.locked_until = 0, None, None
    session.flush()
    return _view(row, inst)


def reset_password(db: SessionFactory, actor: Actor, login: str, new_password: str) -> Person:
    """An admin sets a new password (and lifts a lock)."""
    return audit.audited(db, actor, "user.reset_password", f"user:{(login or '').strip().lower()[:64]}",
                         lambda session: reset_password_in(session, actor, login, new_password))


def change_password(db: SessionFactory, login: str, old_password: str, new_password: str) -> Person:
    """A person changes their own password (signing in with the old one)."""
    person = authenticate(db, login, old_password)
    actor = person_actor(person)

    def work(session: Session) -> Person:
        row, inst = _row(session, person.login, lock=True)
        if new_password == old_password:
            raise DomainError("password_unchanged", "the new password must differ from the old one", field="password")
        row.password_hash = _hasher.hash(check_password(new_password, login=row.login))
        row.password_changed_at = audit.utc_now()
        session.flush()
        return _view(row, inst)

    return audit.audited(db, actor, "user.change_password", f"user:{person.login}", work)


def set_language(db: SessionFactory, actor: Actor, language: str) -> Person:
    """A person chooses the console's language (``zh`` or ``en``)."""
    def work(session: Session) -> Person:
        if actor.person_id is None:
            raise Forbidden("person_required", "only a signed-in person has a language")
        row = session.get(PersonRow, actor.person_id)
        row.language = check_language(language)
        session.flush()
        return _view(row, session.get(Institution, row.institution_id))

    return audit.audited(db, actor, "user.language", f"user:{actor.login}", work)


def issue_person_key(db: SessionFactory, actor: Actor, login: str, *, label: str | None = None):
    """An admin issues an API key to a fund manager person: calls with it act as that person (rule G
    applies to them as to a signed-in person). Returns ``fund.services.keys.NewKey`` (shown once)."""
    from fund.services.keys import create_key

    def work(session: Session):
        _require_admin(actor)
        row, inst = _row(session, login)
        if inst.kind != "fund_manager":
            raise DomainError("not_a_fund_manager_person", "personal keys are for the fund manager's staff; "
                              "other institutions' systems use institutional keys", field="login")
        if not row.active:
            raise DomainError("user_disabled", f"user {row.login} is disabled", field="login")
        new = create_key(session, inst.code, label=label or f"personal: {row.login}")
        key_id = session.scalar(select(ApiKey.id).where(ApiKey.prefix == new.info.prefix))
        session.add(PersonKey(key_id=key_id, person_id=row.id))
        session.flush()
        return new

    return audit.audited(db, actor, "key.create", f"user:{(login or '').strip().lower()[:64]}", work,
                         detail=lambda new: {"prefix": new.info.prefix})


def demo_password(seed: int, login: str) -> str:
    """A reproducible password for a demo user (never for real use): 20 characters from the seed.

    >>> demo_password(1, "fm.officer") == demo_password(1, "fm.officer") != demo_password(2, "fm.officer")
    True
    """
    import hashlib

    digest = hashlib.sha256(f"ipfund-demo:{seed}:{login}".encode()).hexdigest()
    return f"demo-{digest[:15]}"


def random_password() -> str:
    return secrets.token_urlsafe(15)
