"""The CLI's foundation commands: migrate, refuse a database not at head, policies, LPR, errors as one line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.people_support import fast_passwords  # noqa: F401

from fund.cli.main import app
from fund.settings import reset_settings_cache

runner = CliRunner()


@pytest.fixture
def fresh_db(tmp_path, monkeypatch):
    monkeypatch.setenv("IPFUND_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    reset_settings_cache()
    return tmp_path


def invoke(*args):
    return runner.invoke(app, list(args))


PASSWORD = "correct horse battery staple"


@pytest.fixture
def people(monkeypatch, fast_passwords):
    """The fund manager's first admin, an officer and an approver, made through the CLI (docs/rules.md
    section 11: decisions are proposed by one person and signed off by another)."""
    monkeypatch.setenv("IPFUND_PASSWORD", PASSWORD)
    monkeypatch.setenv("IPFUND_NEW_PASSWORD", PASSWORD)

    def make() -> None:
        if "FM" not in invoke("institutions", "list").output:
            assert invoke("institutions", "add", "FM", "Fund Manager", "--kind", "fund_manager").exit_code == 0
        assert invoke("users", "bootstrap", "--login", "root.admin", "--name", "First Admin").exit_code == 0
        for login, role in (("fm.officer", "officer"), ("fm.approver", "approver")):
            added = invoke("users", "add", login, "--institution", "FM", "--name", login, "--role", role, "--user", "root.admin")
            assert added.exit_code == 0, added.output

    return make


def decide(*args):
    """The officer proposes (the command given), the approver signs off: the sign-off's result."""
    proposed = invoke(*args, "--user", "fm.officer")
    if proposed.exit_code != 0:
        return proposed
    proposal_id = proposed.output.split()[1]
    assert "waiting for an approver's sign-off" in proposed.output
    return invoke("proposals", "approve", proposal_id, "--user", "fm.approver")


def test_commands_refuse_an_unmigrated_database_with_one_line(fresh_db):
    result = invoke("policies", "list")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "ipfund db upgrade" in lines[0]


def test_upgrade_then_policies_and_lpr(fresh_db, people):
    assert invoke("db", "upgrade").exit_code == 0
    people()
    first = invoke("policies", "load")
    assert first.exit_code == 0 and first.output.count("loaded") == 3
    again = invoke("policies", "load")
    assert again.exit_code == 0 and again.output.count("unchanged") == 3
    assert decide("policies", "activate", "gz-2023").exit_code == 0
    overlap = decide("policies", "activate", "bj-zgc-2024")
    assert overlap.exit_code == 1 and "overlaps active policy gz-2023" in overlap.output
    assert invoke("lpr", "rate", "2024-03-15").output.strip() == "345"
    late = invoke("lpr", "rate", "2026-01-01")
    assert late.exit_code == 1 and "2026-01-01" in late.output
    refused = decide("lpr", "add", "2025-10-20", "290")
    assert refused.exit_code == 1 and "checked_through" in refused.output
    assert decide("lpr", "add", "2025-11-20", "290").exit_code == 0
    assert decide("lpr", "check-through", "2025-12-19").exit_code == 0
    assert invoke("lpr", "rate", "2025-12-01").output.strip() == "290"


def test_business_date_setting(fresh_db, monkeypatch):
    assert invoke("db", "upgrade").exit_code == 0
    assert invoke("business-date", "show").output.strip() == "2026-10-31"  # the test environment sets it
    monkeypatch.delenv("IPFUND_BUSINESS_DATE")
    reset_settings_cache()
    assert invoke("business-date", "set", "2026-10-15").exit_code == 0
    assert invoke("business-date", "show").output.strip() == "2026-10-15"
    bad = invoke("business-date", "set", "2026-13-01")
    assert bad.exit_code == 1 and bad.output.startswith("error:")


def test_every_command_has_help():
    import typer.main

    command = typer.main.get_command(app)

    def walk(cmd, path):
        yield path
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, [*path, name])

    for path in walk(command, []):
        result = invoke(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def test_pilot_code_allowance_through_the_cli(fresh_db, people):
    from fund.services.reference import make_uscc

    good = make_uscc("91440101MA5CXXXX0")
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    assert invoke("db", "upgrade").exit_code == 0
    people()
    assert invoke("institutions", "add", "BANK1", "First Bank", "--kind", "bank").exit_code == 0
    assert invoke("users", "add", "bank1.staff", "--institution", "BANK1", "--name", "Bank staff", "--role", "staff",
                  "--user", "root.admin").exit_code == 0
    nobody = invoke("pilot-codes", "allow", bad, "--reason", "issued in the 2016 pilot", "--user", "bank1.staff")
    assert nobody.exit_code == 1 and "fund manager" in nobody.output
    allowed = decide("pilot-codes", "allow", bad, "--reason", "issued in the 2016 pilot")
    assert allowed.exit_code == 0, allowed.output
    listed = invoke("pilot-codes", "list")
    assert bad in listed.output and "2016 pilot" in listed.output
    refused = decide("pilot-codes", "allow", good, "--reason", "x")
    assert refused.exit_code == 1 and "passes its check" in refused.output
