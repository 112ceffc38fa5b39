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
    "t.bank": ("", ("staff",), "刘洋 (bank staff)", "zh"),
    "t.bank2": ("", ("staff",), "Sam Li (bank staff)", "en"),
    "t.auditor": ("AUD-GZ", ("reader",), "周静 (auditor)", "en"),
}


def use_cheap_hasher() -> None:
    """A cheap password hash: these tests are not about argon2's cost."""
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    from fund.services import people

    people.use_hasher(PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),)))


def seed_staff(session_factory, banks: tuple[str, str] = ("CITIC-GZ", "GZCB")) -> None:
    """The test users; ``t.bank`` and ``t.bank2`` work at ``banks``."""
    from sqlalchemy import select

    from fund.adapters.models.people import Person
    from fund.services import people
    from fund.services.common import institution_by_code

    use_cheap_hasher()
    with unit_of_work(session_factory) as session:
        for login, (code, roles, name, language) in STAFF.items():
            code = code or {"t.bank": banks[0], "t.bank2": banks[1]}[login]
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


def claimable_loans(session_factory, bank_code: str, *, limit: int = 3) -> list[int]:
    """Loans of ``bank_code`` a claim may be filed on today (tried in savepoints rolled back)."""
    from sqlalchemy import select

    from fund.adapters.models.registry import Institution, Loan
    from fund.errors import DomainError
    from fund.services.claims import file_claim
    from fund.services.common import business_date
    from fund.services.registry import Actor

    found = []
    with unit_of_work(session_factory) as session:
        bank = session.scalar(select(Institution).where(Institution.code == bank_code))
        actor = Actor.of(bank)
        today = business_date(session)
        for loan in session.scalars(select(Loan).where(Loan.bank_id == bank.id, Loan.status == "active", Loan.covered_fen > 0)
                                    .order_by(Loan.id)):
            savepoint = session.begin_nested()
            try:
                file_claim(session, actor, loan.id, 100, today)
                found.append(loan.id)
            except DomainError:
                pass
            finally:
                savepoint.rollback()
            if len(found) >= limit:
                break
    return found


DEMO_SCALE = 0.05


def prepare_demo(path) -> dict:
    """A demo database at ``path`` (a small demo book, the test users, each bank user's claimable
    loans); returns ``{"url": ..., "claimable": {login: [loan ids]}}``."""
    import os

    from fund.adapters.db import make_engine, make_session_factory, upgrade
    from fund.services.demo import load_demo
    from fund.services.reference import seed_reference_data
    from fund.settings import reset_settings_cache

    os.environ.setdefault("IPFUND_BUSINESS_DATE", "2026-10-31")
    reset_settings_cache()
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with unit_of_work(factory) as session:
        seed_reference_data(session)
    use_cheap_hasher()  # the demo's own staff too
    load_demo(factory, seed=1, scale=DEMO_SCALE)
    banks = [code for code in ("CITIC-GZ", "GZCB", "ICBC-GZ", "GRCB", "CCB-GZ", "BOC-GZ", "ABC-GZ", "CMB-GZ", "SPDB-GZ",
                               "CIB-GZ", "CGB-GZ", "BOCOM-GZ") if claimable_loans(factory, code, limit=1)]
    banks = (banks + ["ICBC-GZ", "CCB-GZ"])[:2]
    seed_staff(factory, (banks[0], banks[1]))
    claimable = {"t.bank": claimable_loans(factory, banks[0]), "t.bank2": claimable_loans(factory, banks[1])}
    engine.dispose()
    return {"url": url, "claimable": claimable, "banks": banks}
