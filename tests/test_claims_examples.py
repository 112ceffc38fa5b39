"""RULES section 10's worked examples on splits, recoveries, the bank cap and cash, through the
claims service, on SQLite and PostgreSQL; after each the ledger check finds nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.test_claims_support import World

D = dt.date
SPLIT_DRAWDOWN = D(2022, 1, 10)  # gz-2020; first installment due 2022-02-10
SPLIT_FILED = D(2022, 6, 1)  # 111 days past due


@pytest.fixture
def world(session_factory) -> World:
    return World.create(session_factory)


def _split_loan(world: World, ip_share_bp: int, **kw):
    return world.register(
        principal=1_000_000_000, ip_share_bp=ip_share_bp, drawdown=SPLIT_DRAWDOWN, scheme="5311",
        insurer_code="INS1", appraiser_code="APR1", **kw,
    )


def _allocation(doc: dict) -> tuple[int, ...]:
    a = doc["allocation"]
    return a["base_fen"], a["fund_fen"], a["insurer_fen"], a["appraiser_fen"], a["bank_fen"]


def test_split_gz2020_scheme_5311(world):
    """principal 1e9, C 8e8, L 6e8: base 480M; fund 240M; insurer 144M; appraiser 48M; bank 168M.
    C 7e8, L 100 000 005: base 70 000 003; fund 35 000 001; insurer 21M; appraiser 7M; bank 37 000 004."""
    world.appropriate(4_000_000_000, SPLIT_DRAWDOWN, policy_id="gz-2020")
    first = _split_loan(world, 8000)
    second = _split_loan(world, 7000)
    assert (first.covered_fen, second.covered_fen) == (800_000_000, 700_000_000)

    one = world.file(first.id, 600_000_000, SPLIT_FILED)
    two = world.file(second.id, 100_000_005, SPLIT_FILED)
    assert world.loan_status(first.id) == "claimed"
    world.approve(one.id, SPLIT_FILED)
    world.approve(two.id, SPLIT_FILED)

    doc_one, doc_two = world.show(one.id), world.show(two.id)
    assert _allocation(doc_one) == (480_000_000, 240_000_000, 144_000_000, 48_000_000, 168_000_000)
    assert _allocation(doc_two) == (70_000_003, 35_000_001, 21_000_000, 7_000_000, 37_000_004)
    for doc in (doc_one, doc_two):
        assert doc["status"] == "approved" and doc["policy_id"] == "gz-2020"
        assert doc["allocation"]["ratios_bp"] == {"fund": 5000, "insurer": 3000, "appraiser": 1000, "bank": 1000}
        assert doc["cap"]["cap_bp"] is None and doc["cap"]["room_fen"] is None and doc["cap"]["cut_fen"] == 0
        assert doc["payment"]["deferred_at_approval_fen"] == 0
        assert [e["event"] for e in doc["events"]] == ["filed", "approved"]
        assert [e["by"] for e in doc["events"]] == ["BANK1", "FM"]
    assert world.loan_status(first.id) == "compensated"
    assert world.pool().cash_fen == 4_000_000_000 - 240_000_000 - 35_000_001
    assert world.violations() == []


def test_insurance_limit_cuts_the_insurer_share_to_the_bank(world):
    loan = _split_loan(world, 8000, insurer_limit_fen=100_000_000)
    claim = world.file(loan.id, 600_000_000, SPLIT_FILED)
    world.approve(claim.id, SPLIT_FILED)
    doc = world.show(claim.id)
    assert _allocation(doc) == (480_000_000, 240_000_000, 100_000_000, 48_000_000, 212_000_000)
    assert doc["allocation"]["insurer_cut_fen"] == 44_000_000
    # Nothing in the pool: the whole fund share is deferred.
    assert doc["payment"]["paid_at_approval_fen"] == 0 and doc["payment"]["deferred_at_approval_fen"] == 240_000_000
    assert world.pool().deferred_fen == 240_000_000
    assert world.violations() == []


def _recovered(doc: dict) -> tuple[int, int, int, int]:
    r = doc["recovered"]
    return r["fund_fen"], r["insurer_fen"], r["appraiser_fen"], r["bank_fen"]


def test_recovery_on_the_first_split(world):
    """gross 120 000 001, costs 20 000 000: fund 40M, insurer 24M, appraiser 8M, bank 28 000 001;
    the same net as 50M then 50 000 001 gives the same totals; a later total net of 700M leaves
    fund 240M, insurer 144M, appraiser 48M, bank 268M in all."""
    world.appropriate(4_000_000_000, SPLIT_DRAWDOWN, policy_id="gz-2020")
    whole, halves = _split_loan(world, 8000), _split_loan(world, 8000)
    claims = [world.file(loan.id, 600_000_000, SPLIT_FILED) for loan in (whole, halves)]
    for claim in claims:
        world.approve(claim.id, SPLIT_FILED)
    cash_before = world.pool().cash_fen
    on = D(2022, 9, 1)

    rec = world.recover(claims[0].id, 120_000_001, 20_000_000, on)
    assert (rec.net_fen, rec.fund_fen, rec.insurer_fen, rec.appraiser_fen, rec.bank_fen) == (
        100_000_001, 40_000_000, 24_000_000, 8_000_000, 28_000_001)
    assert world.pool().cash_fen == cash_before + 40_000_000

    first = world.recover(claims[1].id, 50_000_000, 0, on)
    second = world.recover(claims[1].id, 50_000_001, 0, on)
    assert (first.bank_fen, second.bank_fen) == (14_000_000, 14_000_001)
    assert _recovered(world.show(claims[1].id)) == _recovered(world.show(claims[0].id)) == (
        40_000_000, 24_000_000, 8_000_000, 28_000_001)

    for claim in claims:
        world.recover(claim.id, 700_000_000 - 100_000_001, 0, D(2023, 3, 1))
        doc = world.show(claim.id)
        assert doc["recovered"]["net_fen"] == 700_000_000
        assert _recovered(doc) == (240_000_000, 144_000_000, 48_000_000, 268_000_000)
    assert world.pool().cash_fen == cash_before + 2 * 240_000_000

    world.close(claims[0].id, D(2023, 3, 2))
    assert world.loan_status(whole.id) == "closed"
    assert world.show(claims[0].id)["status"] == "closed"
    assert world.violations() == []


CAP_DRAWDOWN = D(2026, 1, 15)  # gz-2023; first installment due 2026-02-15


def _in_pool_book(world: World) -> dict[str, object]:
    """BANK1's in-pool lending under gz-2023 of 20 000 000 000: nineteen loans with C = principal =
    1e9 and two with principal 1e9, ip share 5000, C = 5e8 (two loans a borrower: the quota)."""
    loans = []
    for n in range(1, 11):
        loans.append(world.register(borrower_n=n, principal=1_000_000_000, drawdown=CAP_DRAWDOWN))
        if n < 10:
            loans.append(world.register(borrower_n=n, principal=1_000_000_000, drawdown=CAP_DRAWDOWN))
    halves = [world.register(borrower_n=n, principal=1_000_000_000, ip_share_bp=5000, drawdown=CAP_DRAWDOWN) for n in (10, 11)]
    assert [loan.covered_fen for loan in loans] == [1_000_000_000] * 19
    assert [loan.covered_fen for loan in halves] == [500_000_000] * 2
    return {"full": loans, "half": halves}


def test_bank_cap_and_cash(world):
    """Room 1e9 a year, cash 1e9: fund 400M, 450M, then 150M of 300M (cash 0); in 2027 50M all
    deferred; an appropriation of 5e9 settles the 50M first and leaves 4.95e9 in cash."""
    book = _in_pool_book(world)
    world.appropriate(1_000_000_000, CAP_DRAWDOWN, policy_id="gz-2023")
    filed = D(2026, 6, 1)
    expected_2026 = [
        # L, fund, bank, paid, room before, cut
        (800_000_000, 400_000_000, 400_000_000, 400_000_000, 1_000_000_000, 0),
        (900_000_000, 450_000_000, 450_000_000, 450_000_000, 600_000_000, 0),
        (600_000_000, 150_000_000, 450_000_000, 150_000_000, 150_000_000, 150_000_000),
    ]
    for k, (loss, fund, bank, paid, room, cut) in enumerate(expected_2026):
        claim = world.file(book["full"][k].id, loss, filed)
        world.approve(claim.id, D(2026, 7, 1 + k))
        doc = world.show(claim.id)
        assert (doc["allocation"]["fund_fen"], doc["allocation"]["bank_fen"], doc["payment"]["paid_at_approval_fen"]) == (fund, bank, paid)
        assert doc["cap"] == {
            "policy_id": "gz-2023", "year": 2026, "cap_bp": 500, "in_pool_lending_fen": 20_000_000_000,
            "cap_fen": 1_000_000_000, "already_used_fen": 1_000_000_000 - room, "room_fen": room, "cut_fen": cut,
        }
        assert doc["allocation"]["fund_before_cap_fen"] == loss // 2
    assert world.pool().cash_fen == 0

    late = world.file(book["half"][0].id, 200_000_000, D(2027, 1, 5))
    assert world.show(late.id)["days_past_due"] == (D(2027, 1, 5) - D(2026, 2, 15)).days
    world.approve(late.id, D(2027, 1, 5))
    doc = world.show(late.id)
    assert (doc["allocation"]["base_fen"], doc["allocation"]["fund_fen"], doc["allocation"]["bank_fen"]) == (
        100_000_000, 50_000_000, 150_000_000)
    assert (doc["payment"]["paid_at_approval_fen"], doc["payment"]["deferred_at_approval_fen"]) == (0, 50_000_000)
    assert (doc["cap"]["year"], doc["cap"]["already_used_fen"], doc["cap"]["room_fen"]) == (2027, 0, 1_000_000_000)
    assert world.pool().deferred_fen == 50_000_000
    assert world.violations() == []

    inflow = world.appropriate(5_000_000_000, D(2027, 2, 1), policy_id="gz-2023")
    assert (inflow.settled_fen, inflow.to_cash_fen) == (50_000_000, 4_950_000_000)
    assert [(s.ref_type, s.ref_id, s.amount_fen) for s in inflow.settlements] == [("claim", late.id, 50_000_000)]
    assert (world.pool().cash_fen, world.pool().deferred_fen) == (4_950_000_000, 0)
    doc = world.show(late.id)
    assert (doc["payment"]["paid_fen"], doc["payment"]["deferred_open_fen"]) == (50_000_000, 0)
    assert world.violations() == []
