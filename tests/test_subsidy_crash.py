"""Crash safety (rule S4): a run (an officer's proposal executed by an approver's sign-off, rule G1) killed
with SIGKILL after writing at least 1,000 lines inside its open transaction leaves no run, no line and
no posting, and the proposal open; the sign-off again gives the same lines and totals as an
uninterrupted run over the same book; `ipfund ledger check` passes after each. Both backends."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

from sqlalchemy import func, select

from fund.adapters.db import unit_of_work
from fund.adapters.models.ledger import Account, JournalEntry, Posting
from fund.adapters.models.registry import Institution
from fund.adapters.models.subsidies import SubsidyLine, SubsidyRun
from fund.services.synthetic import load_synthetic_book
from fund.services.ledger import appropriate, check_ledger
from fund.services.registry import Actor
from fund.services.subsidies import KILL_HOOK_ENV, run_month
from tests.conftest import TEST_BUSINESS_DATE
from tests.factories import setup_reference
from tests.people_support import PASSWORD, add_staff

MONTH = "2025-12"  # the synthetic book's loans are drawn in 2024: every installment falls due by then
KILL_AFTER = 1_000


def _ipfund(database_url: str, *args: str, kill_after: int | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, IPFUND_DATABASE_URL=database_url, IPFUND_BUSINESS_DATE=TEST_BUSINESS_DATE.isoformat(),
               IPFUND_PASSWORD=PASSWORD)
    env.pop(KILL_HOOK_ENV, None)
    if kill_after is not None:
        env[KILL_HOOK_ENV] = str(kill_after)
    return subprocess.run([sys.executable, "-m", "fund.cli.main", *args], env=env, capture_output=True, text=True, timeout=300)


def _state(session_factory):
    with unit_of_work(session_factory) as s:
        return {
            "runs": s.scalar(select(func.count()).select_from(SubsidyRun)),
            "lines": s.scalar(select(func.count()).select_from(SubsidyLine)),
            "subsidy_entries": s.scalar(select(func.count()).select_from(JournalEntry).where(JournalEntry.cause == "subsidy_run")),
            "postings": s.scalar(select(func.count()).select_from(Posting)),
            "balances": dict(s.execute(select(Account.code, Account.balance_fen)).all()),
        }


def _lines(session):
    return {
        rid: (amount, computed, capped)
        for rid, amount, computed, capped in session.execute(
            select(SubsidyLine.repayment_id, SubsidyLine.amount_fen, SubsidyLine.computed_fen, SubsidyLine.capped)
        )
    }


def _ledger_check_passes(database_url: str) -> None:
    done = _ipfund(database_url, "ledger", "check", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["ok"] is True


def test_a_killed_run_leaves_nothing_and_the_rerun_completes_it(session_factory, database_url):
    with unit_of_work(session_factory) as s:
        setup_reference(s)
    with unit_of_work(session_factory) as s:
        add_staff(s, {"fm.officer": ("FM", ("officer",)), "fm.approver": ("FM", ("approver",))})
    with unit_of_work(session_factory) as s:
        book = load_synthetic_book(s, loans=250, seed=7, big_share=0.2)
        # less cash than the run needs: part of it is deferred
        appropriate(s, pool="subsidy", amount_fen=50_000_000, policy_id="gz-2023", business_date=TEST_BUSINESS_DATE)
    assert book.repayments == 3_000

    # What an uninterrupted run over this very book gives (rolled back: nothing kept).
    session = session_factory()
    try:
        session.begin()
        fund_manager = Actor.of(session.scalar(select(Institution).where(Institution.kind == "fund_manager")))
        uninterrupted = run_month(session, MONTH, TEST_BUSINESS_DATE, actor=fund_manager)
        expected_lines = _lines(session)
    finally:
        session.rollback()
        session.close()
    assert uninterrupted.line_count >= 2 * KILL_AFTER
    assert 0 < uninterrupted.capped_count < uninterrupted.line_count  # the cap binds for some enterprises
    assert uninterrupted.deferred_fen > 0
    before = _state(session_factory)
    assert (before["runs"], before["lines"], before["subsidy_entries"]) == (0, 0, 0)

    proposed = _ipfund(database_url, "subsidies", "run", "--month", MONTH, "--user", "fm.officer", "--json")
    assert proposed.returncode == 0, proposed.stderr
    proposal = json.loads(proposed.stdout)
    assert (proposal["kind"], proposal["status"]) == ("subsidy_run", "open")
    assert _state(session_factory) == before  # nothing runs on a proposal
    approve = ("proposals", "approve", str(proposal["id"]), "--user", "fm.approver", "--json")

    killed = _ipfund(database_url, *approve, kill_after=KILL_AFTER)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    hook = re.search(r"test hook: (\d+) lines and (\d+) postings written", killed.stderr)
    assert hook, killed.stderr
    assert int(hook.group(1)) >= KILL_AFTER and int(hook.group(2)) >= 2
    assert _state(session_factory) == before  # no run, no line, no entry, no posting, balances unmoved
    with unit_of_work(session_factory) as s:
        assert check_ledger(s) == []
    _ledger_check_passes(database_url)
    still = _ipfund(database_url, "proposals", "show", str(proposal["id"]), "--json")
    assert still.returncode == 0 and json.loads(still.stdout)["status"] == "open", still.stdout + still.stderr

    rerun = _ipfund(database_url, *approve)
    assert rerun.returncode == 0, rerun.stderr
    listed = _ipfund(database_url, "subsidies", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (result,) = json.loads(listed.stdout)
    assert result["month"] == MONTH
    signed = json.loads(_ipfund(database_url, "proposals", "show", str(proposal["id"]), "--json").stdout)
    assert (signed["status"], signed["figures"]["created"], signed["figures"]["run_id"]) == ("executed", True, result["run_id"])
    for name, value in (("lines", uninterrupted.line_count), ("capped_lines", uninterrupted.capped_count),
                        ("computed_fen", uninterrupted.computed_fen), ("total_fen", uninterrupted.total_fen),
                        ("paid_fen", uninterrupted.paid_fen), ("deferred_fen", uninterrupted.deferred_fen)):
        assert result[name] == value, name
    with unit_of_work(session_factory) as s:
        assert _lines(s) == expected_lines
    _ledger_check_passes(database_url)

    again = _ipfund(database_url, "subsidies", "run", "--month", MONTH, "--user", "fm.officer", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["created"] is False, again.stdout + again.stderr
    after = _state(session_factory)
    assert (after["runs"], after["lines"], after["subsidy_entries"]) == (1, uninterrupted.line_count, 1)
