"""The stress runner under leases (fund/services/stress_runner.py): several runners polling one
database never run one job twice, a run left ``running`` by a dead process is taken up again once
its lease runs out, and a runner that lost its lease stores nothing."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from fund.adapters.db import unit_of_work
from fund.adapters.models.stress import StressRun
from fund.services import stress as service
from fund.services.stress_runner import StressRunner, claim_next_run, renew_lease


@pytest.fixture
def demo_db(session_factory):
    from fund.services.demo import load_demo

    load_demo(session_factory, seed=1, scale=0.02)
    return session_factory


def _queue(db, scenarios: int = 30) -> int:
    from fund.adapters.models.registry import Institution
    from sqlalchemy import select

    with unit_of_work(db) as session:
        manager = session.scalar(select(Institution.id).where(Institution.kind == "fund_manager"))
        return service.queue_run(session, manager, scenario_name="run_off", scenario_document=None,
                                 n_scenarios=scenarios, seed=5).id


def _row(db, run_id: int) -> StressRun:
    with unit_of_work(db) as session:
        row = session.get(StressRun, run_id)
        session.expunge(row)
        return row


def test_many_runners_claim_one_run_exactly_once(demo_db):
    run_id = _queue(demo_db)
    won: list[int | None] = []
    barrier = threading.Barrier(6)

    def claim(owner: str) -> None:
        barrier.wait()
        won.append(claim_next_run(demo_db, owner))

    threads = [threading.Thread(target=claim, args=(f"runner-{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(w for w in won if w is not None) == [run_id]
    row = _row(demo_db, run_id)
    assert row.status == "running" and row.attempts == 1 and row.lease_owner.startswith("runner-")


def test_two_runners_run_two_jobs_once_each(demo_db):
    first, second = _queue(demo_db), _queue(demo_db)
    runners = [StressRunner(demo_db, owner=f"api-worker-{i}") for i in range(2)]
    threads = [threading.Thread(target=r.run_until_idle) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = [_row(demo_db, first), _row(demo_db, second)]
    assert [r.status for r in rows] == ["done", "done"] and [r.attempts for r in rows] == [1, 1]
    with unit_of_work(demo_db) as session:
        from fund.adapters.models.stress import StressRunFile
        from sqlalchemy import func, select

        files = session.scalar(select(func.count()).select_from(StressRunFile).where(StressRunFile.run_id == first))
    from simulations.report import PLOTS, cjk_font_family, plot_languages

    # stored once: the plots, their copy in each language the console registered in this process
    # (when a CJK font draws them), and report.md
    copies = len(plot_languages()) if cjk_font_family() else 0
    assert files == len(PLOTS) * (1 + copies) + 1


def test_a_run_left_running_by_a_dead_process_is_taken_up_again(demo_db):
    run_id = _queue(demo_db)
    assert claim_next_run(demo_db, "dead-process", lease_seconds=60) == run_id
    # while the lease holds nobody else takes it
    assert claim_next_run(demo_db, "other") is None
    # the process died: its lease runs out without renewal
    with unit_of_work(demo_db) as session:
        session.get(StressRun, run_id).lease_expires_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    assert StressRunner(demo_db, owner="restarted").run_until_idle() == 1
    row = _row(demo_db, run_id)
    assert row.status == "done" and row.attempts == 2 and row.lease_owner == "restarted"
    assert row.result["scenario"] == "run_off"
    # the dead process's lease is gone: it can neither renew nor store
    assert renew_lease(demo_db, run_id, "dead-process") is False


def test_a_runner_that_lost_its_lease_stores_nothing(demo_db):
    run_id = _queue(demo_db)
    assert claim_next_run(demo_db, "slow") == run_id
    with unit_of_work(demo_db) as session:
        session.get(StressRun, run_id).lease_owner = "faster"   # taken over meanwhile
    status = service.execute_run(demo_db, run_id, owner="slow",
                                 heartbeat=lambda done: renew_lease(demo_db, run_id, "slow", done=done))
    assert status == "lost"
    row = _row(demo_db, run_id)
    assert row.status == "running" and row.result is None and row.lease_owner == "faster"


def test_legacy_running_rows_without_a_lease_are_left_alone(demo_db):
    with unit_of_work(demo_db) as session:
        row = StressRun(status="running", scenario_name="baseline", request={}, n_scenarios=10, seed=1,
                        as_of=dt.date(2026, 10, 31), progress_done=0, requested_by=1)
        session.add(row)
    assert claim_next_run(demo_db, "any") is None
