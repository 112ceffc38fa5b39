"""Approvals racing for one bank's cap room and one pool's cash (RULES A3, A4): run at once in
threads, they never approve past the cap nor pay past the cash, and the ledger stays balanced.
Both backends: PostgreSQL serialises on row locks, SQLite on BEGIN IMMEDIATE."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from fund.adapters.models.claims import BankCapUsage, Claim
from tests.test_claims_support import World

D = dt.date
DRAWDOWN = D(2026, 1, 15)  # gz-2023: bank cap 500 bp
ON = D(2026, 6, 1)
THREADS = 6


def _run_at_once(calls) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(calls))

    def run(call):
        try:
            barrier.wait(timeout=30)
            call()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "an approval hung"
    return errors


@pytest.fixture
def world(session_factory) -> World:
    return World.create(session_factory)


def _filed_claims(world: World, bank: str, count: int, first_borrower: int, loss: int) -> list[int]:
    ids = []
    for k in range(count):
        loan = world.register(bank, drawdown=DRAWDOWN, borrower_n=first_borrower + k, principal=1_000_000_000)
        ids.append(world.file(loan.id, loss, ON, bank=bank).id)
    return ids


def test_racing_approvals_never_pass_one_banks_cap_nor_the_pools_cash(world):
    """Six loans with C = 1e9: in-pool lending 6e9, cap 300M. Each claim's fund share is 100M
    (600M asked). Pool cash 250M. Whatever the order: 300M approved, 250M paid, 50M deferred."""
    claim_ids = _filed_claims(world, "BANK1", THREADS, 1, 200_000_000)
    world.appropriate(250_000_000, DRAWDOWN)
    errors = _run_at_once([lambda cid=cid: world.approve(cid, ON) for cid in claim_ids])
    assert errors == []

    with world.session() as s:
        claims = list(s.scalars(select(Claim).order_by(Claim.id)))
        usage = s.scalar(select(BankCapUsage))
    assert all(c.status == "approved" for c in claims)
    fund = [c.fund_fen for c in claims]
    assert sum(fund) == 300_000_000 == usage.used_fen
    assert sum(c.paid_fen for c in claims) == 250_000_000
    assert sum(c.deferred_fen for c in claims) == 50_000_000
    # Each approval saw the room the earlier ones left: the rooms it recorded chain exactly.
    chain = sorted(claims, key=lambda c: c.cap_used_before_fen)
    used = 0
    for claim in chain:
        assert claim.cap_used_before_fen == used and claim.room_fen == 300_000_000 - used
        used += claim.fund_fen
    pool = world.pool()
    assert (pool.cash_fen, pool.deferred_fen) == (0, 50_000_000)
    assert world.violations() == []


def test_racing_approvals_of_two_banks_share_one_pools_cash(world):
    """Two banks, separate caps (room 150M each), one pool holding 170M: 300M approved, 170M paid."""
    ids = _filed_claims(world, "BANK1", 3, 1, 200_000_000) + _filed_claims(world, "BANK2", 3, 10, 200_000_000)
    world.appropriate(170_000_000, DRAWDOWN)
    errors = _run_at_once([lambda cid=cid: world.approve(cid, ON) for cid in ids])
    assert errors == []
    with world.session() as s:
        claims = list(s.scalars(select(Claim)))
    by_bank: dict[int, int] = {}
    for claim in claims:
        by_bank[claim.bank_id] = by_bank.get(claim.bank_id, 0) + claim.fund_fen
    assert sorted(by_bank.values()) == [150_000_000, 150_000_000]
    assert sum(c.paid_fen for c in claims) == 170_000_000
    assert world.pool().cash_fen == 0 and world.pool().deferred_fen == 130_000_000
    assert world.violations() == []


def test_one_claim_approved_twice_at_once_is_approved_once(world):
    (claim_id,) = _filed_claims(world, "BANK1", 1, 1, 100_000_000)
    world.appropriate(1_000_000_000, DRAWDOWN)
    errors = _run_at_once([lambda: world.approve(claim_id, ON) for _ in range(3)])
    assert len(errors) == 2 and all(getattr(e, "code", None) == "invalid_claim_status" for e in errors)
    assert world.pool().cash_fen == 1_000_000_000 - 50_000_000
    assert world.violations() == []


def test_appropriations_and_recoveries_racing_with_approvals_keep_the_pool_whole(world):
    """Approvals, appropriations and recoveries at once on one pool: cash never negative,
    deferrals settled first, ledger balanced, and cash + open deferrals adds up."""
    approved = _filed_claims(world, "BANK1", 2, 1, 100_000_000)
    world.appropriate(40_000_000, DRAWDOWN)
    for cid in approved:
        world.approve(cid, ON)  # 50M each (room 100M): 40M paid, 60M deferred
    pending = _filed_claims(world, "BANK2", 3, 10, 100_000_000)  # 50M each, room 150M
    calls = [lambda cid=cid: world.approve(cid, ON) for cid in pending]
    calls += [lambda: world.appropriate(30_000_000, ON) for _ in range(2)]
    calls += [lambda cid=cid: world.recover(cid, 20_000_000, 0, ON) for cid in approved]  # fund's part 10M each
    assert _run_at_once(calls) == []
    pool = world.pool()
    # Money in: 40M + 60M + 20M = 120M; owed in all: 100M + 150M = 250M.
    assert pool.cash_fen == 0 and pool.deferred_fen == 250_000_000 - 120_000_000
    assert world.violations() == []
