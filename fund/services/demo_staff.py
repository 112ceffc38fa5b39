"""The demo's staff (docs/rules.md section 1): named people for every institution of the demo book, so
that its sign-offs and audit trail look like real use. Fund manager: an officer, two approvers and an
admin; one staff user per bank, insurer and appraiser; an auditor's reader. Passwords are made from the
seed (``fund.services.people.demo_password``): never use them for real.

>>> [u.login for u in demo_staff(1, [("FM-GZ", "fund_manager"), ("ICBC-GZ", "bank")])]
['fm.officer', 'fm.approver1', 'fm.approver2', 'fm.admin', 'icbc-gz.staff']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fund.adapters.models.people import Person
from fund.adapters.models.registry import Institution
from fund.services import audit
from fund.services.people import create_person, demo_password, person_actor

CREDENTIALS_FILE = Path("var") / "demo-credentials.txt"
FUND_MANAGER_STAFF = (
    ("fm.officer", "李经办 (officer)", ("officer",)),
    ("fm.approver1", "王审批 (approver)", ("approver",)),
    ("fm.approver2", "陈审批 (approver)", ("approver",)),
    ("fm.admin", "赵管理 (admin)", ("admin",)),
)
ROLE_OF_KIND = {"bank": "staff", "insurer": "staff", "guarantor": "staff", "appraiser": "staff", "auditor": "reader"}


@dataclass(frozen=True)
class DemoUser:
    login: str
    display_name: str
    institution: str
    roles: tuple[str, ...]
    password: str


def demo_staff(seed: int, institutions: Iterable[tuple[str, str]]) -> list[DemoUser]:
    """The demo's users for institutions ``(code, kind)``, passwords from ``seed``."""
    out = []
    seen_kinds: set[str] = set()
    for code, kind in institutions:
        # The first fund manager and auditor get the short logins the README names; a second one
        # (a database that holds more than the demo's) gets its code in front, so logins never clash.
        prefix = f"{code.lower()}." if kind in seen_kinds else ""
        seen_kinds.add(kind)
        if kind == "fund_manager":
            out.extend(DemoUser(prefix + login, name, code, roles, demo_password(seed, prefix + login))
                       for login, name, roles in FUND_MANAGER_STAFF)
        elif kind == "auditor":
            login = prefix + "aud.reader"
            out.append(DemoUser(login, "审计 (reader)", code, ("reader",), demo_password(seed, login)))
        elif kind in ROLE_OF_KIND:
            login = f"{code.lower()}.staff"
            out.append(DemoUser(login, f"{code} staff", code, (ROLE_OF_KIND[kind],), demo_password(seed, login)))
    return out


def create_demo_staff(session: Session, seed: int) -> list[DemoUser]:
    """Create the demo's staff on a database without users (else nothing; returns who was created)."""
    if session.scalar(select(func.count()).select_from(Person)):
        return []
    institutions = {i.code: i for i in session.scalars(select(Institution).order_by(Institution.kind, Institution.code))}
    users = demo_staff(seed, [(code, inst.kind) for code, inst in institutions.items()])
    for user in users:
        person = create_person(session, institutions[user.institution], user.login, user.display_name, user.roles, user.password)
        audit.record(session, person_actor(person), "user.add", f"user:{person.login}", detail="demo staff")
    return users


def credentials_text(users: Sequence[DemoUser]) -> str:
    lines = ["# ipfund demo staff: passwords made from the demo seed; for the demo only", "login\tpassword\tinstitution\troles\tname"]
    lines += [f"{u.login}\t{u.password}\t{u.institution}\t{','.join(u.roles)}\t{u.display_name}" for u in users]
    return "\n".join(lines) + "\n"


def write_credentials(users: Sequence[DemoUser], path: Path = CREDENTIALS_FILE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(credentials_text(users), encoding="utf-8")
    path.chmod(0o600)
    return path


def staff_exists(session_factory) -> bool:
    from fund.adapters.db import unit_of_work

    with unit_of_work(session_factory) as session:
        return bool(session.scalar(select(func.count()).select_from(Person)))


def demo_users(session_factory, seed: int) -> list[DemoUser]:
    """The demo's users of the institutions in the database (what ``create_demo_staff`` made)."""
    from fund.adapters.db import unit_of_work

    with unit_of_work(session_factory) as session:
        institutions = [(i.code, i.kind) for i in session.scalars(select(Institution).order_by(Institution.kind, Institution.code))]
    return demo_staff(seed, institutions)
