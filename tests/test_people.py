"""People (docs/rules.md section 1): password rules, lockout, admin use cases, the audit trail's
append-only triggers (rule G2) on both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from fund.adapters.db import unit_of_work
from fund.adapters.models.people import AuditRecord, Person as PersonRow
from fund.errors import DomainError
from fund.services import audit, people
from tests.factories import setup_reference
from tests.people_support import PASSWORD, add_staff, fast_passwords  # noqa: F401

pytestmark = pytest.mark.usefixtures("fast_passwords")


@pytest.fixture
def staff(session_factory):
    with unit_of_work(session_factory) as session:
        setup_reference(session)
        return add_staff(session)


@pytest.mark.parametrize("password", ["", "short", "elevenchars", "x" * 129, "fm.officer", "tab\tin the middle"])
def test_password_rules_refuse(password):
    with pytest.raises(DomainError) as info:
        people.check_password(password, login="fm.officer")
    assert info.value.code == "weak_password"


def test_twelve_characters_are_enough():
    assert people.check_password("twelve chars", login="someone") == "twelve chars"


def test_roles_must_fit_the_institution():
    with pytest.raises(DomainError, match="staff may have roles"):
        people.roles_for("bank", ["approver"])
    assert people.roles_for("auditor", ["reader"]) == ("reader",)


def _codes(session_factory, action="sign_in"):
    with unit_of_work(session_factory) as session:
        return [(r.outcome, r.error_code, r.login) for r in session.scalars(
            select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id))]


def test_sign_in_and_lockout(session_factory, staff):
    t0 = dt.datetime(2026, 10, 31, 8, 0, tzinfo=dt.timezone.utc)
    assert people.authenticate(session_factory, "fm.officer", PASSWORD, now=t0).login == "fm.officer"
    for i in range(people.LOCK_AFTER_FAILURES):
        with pytest.raises(DomainError) as info:
            people.authenticate(session_factory, "FM.Officer", "wrong password!", now=t0 + dt.timedelta(minutes=i))
        assert info.value.code == "bad_credentials"
    # locked now: even the right password is refused until 15 minutes after the fifth failure
    with pytest.raises(DomainError) as info:
        people.authenticate(session_factory, "fm.officer", PASSWORD, now=t0 + dt.timedelta(minutes=10))
    assert info.value.code == "login_locked"
    assert people.authenticate(session_factory, "fm.officer", PASSWORD, now=t0 + dt.timedelta(minutes=20)).login == "fm.officer"
    records = _codes(session_factory)
    assert records[0] == ("done", None, "fm.officer")
    assert [r[1] for r in records[1:6]] == ["bad_credentials"] * 5
    assert records[6] == ("refused", "login_locked", "fm.officer")
    assert records[7][0] == "done"


def test_failures_spread_over_more_than_15_minutes_do_not_lock(session_factory, staff):
    t0 = dt.datetime(2026, 10, 31, 8, 0, tzinfo=dt.timezone.utc)
    for i in range(8):
        with pytest.raises(DomainError, match="wrong login or password"):
            people.authenticate(session_factory, "fm.approver", "not the password", now=t0 + dt.timedelta(minutes=4 * i))
    assert people.authenticate(session_factory, "fm.approver", PASSWORD, now=t0 + dt.timedelta(minutes=33)).login == "fm.approver"


def test_unknown_and_disabled_logins_are_bad_credentials(session_factory, staff):
    with pytest.raises(DomainError) as info:
        people.authenticate(session_factory, "nobody", PASSWORD)
    assert info.value.code == "bad_credentials"
    people.disable_user(session_factory, staff["fm.admin"], "bank1.staff")
    with pytest.raises(DomainError) as info:
        people.authenticate(session_factory, "bank1.staff", PASSWORD)
    assert info.value.code == "bad_credentials"
    assert ("refused", "bad_credentials", "nobody") in _codes(session_factory)


def test_admin_use_cases(session_factory, staff):
    admin = staff["fm.admin"]
    new = people.add_user(session_factory, admin, institution="BANK2", login="bank2.staff", display_name="Wang Fang",
                          roles=["staff"], password="a long enough one")
    assert (new.institution_code, new.roles, new.language) == ("BANK2", ("staff",), "zh")
    with pytest.raises(DomainError) as info:
        people.add_user(session_factory, staff["fm.officer"], institution="BANK2", login="x.y", display_name="X",
                        roles=["staff"], password="a long enough one")
    assert info.value.code == "not_admin"
    with pytest.raises(DomainError) as info:
        people.add_user(session_factory, admin, institution="BANK2", login="bank2.staff", display_name="Again",
                        roles=["staff"], password="a long enough one")
    assert info.value.code == "login_taken"
    people.reset_password(session_factory, admin, "bank2.staff", "another long one")
    assert people.authenticate(session_factory, "bank2.staff", "another long one").login == "bank2.staff"
    people.change_password(session_factory, "bank2.staff", "another long one", "a third long password")
    with pytest.raises(DomainError):
        people.authenticate(session_factory, "bank2.staff", "another long one")
    assert {p.login for p in people.list_users(session_factory, staff["bank1.staff"])} == {"bank1.staff"}
    assert _codes(session_factory, "user.add") == [("done", None, "fm.admin"), ("refused", "not_admin", "fm.officer"),
                                                   ("refused", "login_taken", "fm.admin")]


def test_bootstrap_only_on_an_empty_database(session_factory):
    with unit_of_work(session_factory) as session:
        setup_reference(session)
    first = people.bootstrap(session_factory, "root.admin", "First Admin", PASSWORD)
    assert first.roles == ("admin",) and first.institution_code == "FM"
    with pytest.raises(DomainError) as info:
        people.bootstrap(session_factory, "second.admin", "Second", PASSWORD)
    assert info.value.code == "already_bootstrapped"


@pytest.mark.parametrize("statement", ["UPDATE audit_records SET outcome = 'done'", "DELETE FROM audit_records",
                                       "UPDATE journal_entries SET memo = 'x'", "DELETE FROM postings"])
def test_triggers_refuse_update_and_delete(session_factory, staff, statement):
    from fund.services.ledger import appropriate

    with unit_of_work(session_factory) as session:
        appropriate(session, pool="compensation", amount_fen=100, policy_id="gz-2023", business_date=dt.date(2026, 1, 5))
        audit.record(session, staff["fm.admin"], "test.action", "thing:1")
    with pytest.raises((DBAPIError, IntegrityError), match="append-only"):
        with unit_of_work(session_factory) as session:
            session.execute(text(statement))
    with unit_of_work(session_factory) as session:
        assert session.scalar(select(AuditRecord.outcome).where(AuditRecord.action == "test.action")) == "done"


def test_password_is_stored_hashed(session_factory, staff):
    with unit_of_work(session_factory) as session:
        stored = session.scalar(select(PersonRow.password_hash).where(PersonRow.login == "fm.officer"))
    assert PASSWORD not in stored and stored.startswith("$argon2id$")
