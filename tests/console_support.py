"""What the console's tests share: staff users of each role on a demo database, and signing in."""

from __future__ import annotations

import re

from fund.adapters.db import unit_of_work

PASSWORD = "console-test-password-1"
# login -> (institution code, roles, display name, language)
STAFF = {
    "t.officer": ("FM-GZ", ("officer",), "李文 (officer)", "zh"),
    "t.approver": ("FM-GZ", ("approver",), "王芳 (approver)", "zh"),
    "t.both": ("FM-GZ", ("officer", "approver"), "陈明 (officer, approver)", "zh"),
    "t.admin": ("FM-GZ", ("admin",), "赵磊 (admin)", "zh"),
    "t.bank": ("ICBC-GZ", ("staff",), "刘洋 (ICBC staff)", "zh"),
    "t.auditor": ("AUD-GZ", ("reader",), "周静 (auditor)", "en"),
}


def seed_staff(session_factory) -> None:
    """The test users (a cheap password hash: these tests are not about argon2's cost)."""
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher
    from sqlalchemy import select

    from fund.adapters.models.people import Person
    from fund.services import people
    from fund.services.common import institution_by_code

    people.use_hasher(PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),)))
    with unit_of_work(session_factory) as session:
        for login, (code, roles, name, language) in STAFF.items():
            if session.scalar(select(Person.id).where(Person.login == login)) is None:
                people.create_person(session, institution_by_code(session, code), login, name, roles, PASSWORD, language=language)


def csrf_token(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client, login: str, password: str = PASSWORD):
    page = client.get("/console/login")
    return client.post("/console/login", data={"login": login, "password": password, "_csrf_token": csrf_token(page.text)},
                       follow_redirects=False)
