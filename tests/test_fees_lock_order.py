"""A batch of fee reports locks its loans in ascending id order, the monthly run's order (it locks the
loans with open fees ``ORDER BY id``), so the two cannot deadlock; the batch still records and
answers its fees in the order given. Both backends; the lock order itself on PostgreSQL (SQLite holds
one write lock for the whole transaction)."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import text

from fund.adapters.db import unit_of_work
from fund.services.fees import FeeIn, record_fees
from tests.test_subsidy_runs import loan_with_interest, reference

PAID = dt.date(2024, 4, 20)


def _fee(n: int, amount: int = 1_000_000, kind: str = "appraisal") -> FeeIn:
    return FeeIn(kind, amount, PAID, "穗评估所", f"LOCK-{n}")


def _two_loans(session_factory):
    actors = reference(session_factory)
    bank = actors["BANK1"]
    low = loan_with_interest(session_factory, bank, 3_875_000, n=1)
    high = loan_with_interest(session_factory, bank, 3_875_000, n=2)
    assert low.id < high.id
    return bank, low, high


def test_a_batch_in_descending_loan_order_answers_in_the_order_given(session_factory):
    bank, low, high = _two_loans(session_factory)
    items = [(high.id, _fee(1, 6_000_001)), (low.id, _fee(2, 1_000)), (high.id, _fee(3, 5_000_000)),
             (low.id, _fee(4, 4_000_000, "insurance"))]
    answer = record_fees(session_factory, bank, items)
    assert [(f.loan_id, f.invoice_no, f.kind, f.amount_fen) for f in answer] == [
        (high.id, "LOCK-1", "appraisal", 6_000_001), (low.id, "LOCK-2", "appraisal", 1_000),
        (high.id, "LOCK-3", "appraisal", 5_000_000), (low.id, "LOCK-4", "insurance", 4_000_000)]
    # S6 (gz-2023: ratio 5000, cap 5 000 000 per loan and kind) per item, as given
    assert [(f.subsidy_fen, f.capped) for f in answer] == [(3_000_000, False), (500, False), (2_000_000, True),
                                                          (2_000_000, False)]
    assert len({f.id for f in answer}) == 4


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_batch_waits_for_the_lowest_loan_before_locking_a_higher_one(session_factory, engine):
    """A transaction holds the lower loan (as the run does, having locked in ascending order); a batch
    naming the higher loan first waits for the lower one without having locked the higher: the holder
    can still take the higher loan at once (NOWAIT), as the run would, and no deadlock arises. Before
    the batch locked in id order this NOWAIT failed: the batch held the higher loan."""
    bank, low, high = _two_loans(session_factory)
    answers: dict[str, object] = {}

    def batch() -> None:
        try:
            answers["fees"] = record_fees(session_factory, bank, [(high.id, _fee(11)), (low.id, _fee(12))])
        except BaseException as exc:  # noqa: BLE001
            answers["error"] = exc

    with engine.connect() as holder:
        holder.execute(text("set lock_timeout = '20s'"))
        holder.execute(text("select id from loans where id = :id for update"), {"id": low.id})
        worker = threading.Thread(target=batch)
        worker.start()
        deadline = time.monotonic() + 20
        with engine.connect() as watcher:  # wait until the batch waits on a row lock
            while time.monotonic() < deadline:
                waiting = watcher.execute(text(
                    "select count(*) from pg_stat_activity where datname = current_database() "
                    "and wait_event_type = 'Lock' and pid <> pg_backend_pid()")).scalar_one()
                # pg_stat_activity is read once per transaction: end it, or every later poll repeats the first
                watcher.rollback()
                if waiting or not worker.is_alive():
                    break
                time.sleep(0.02)
        # a batch that ended without waiting says how (its error, or the fees it recorded past the lock)
        assert waiting == 1, f"the batch never waited for the lower loan: {answers!r}"
        taken = holder.execute(text("select id from loans where id = :id for update nowait"), {"id": high.id}).scalar_one()
        assert taken == high.id  # the batch had not locked the higher loan
        holder.commit()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert "error" not in answers, answers.get("error")
    assert [(f.loan_id, f.invoice_no) for f in answers["fees"]] == [(high.id, "LOCK-11"), (low.id, "LOCK-12")]
