"""Rule L: entries balance and are append-only, inflows settle deferrals first-in first-out, and
the check finds every kind of break, naming the entry. Both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from fund.adapters.models.claims import Claim
from fund.errors import DomainError, Forbidden
from fund.services import ledger
from fund.services.fund_report import Leverage, fund_report
from tests.test_claims_support import World

D = dt.date
DRAWDOWN = D(2022, 1, 10)  # gz-2020: no bank cap
FILED = D(2022, 6, 1)


@pytest.fixture
def world(session_factory) -> World:
    return World.create(session_factory)


def _approved(world: World, loss: int, borrower_n: int, on: dt.date = FILED) -> Claim:
    loan = world.register(drawdown=DRAWDOWN, scheme="55", borrower_n=borrower_n)
    claim = world.file(loan.id, loss, on)
    return world.approve(claim.id, on)


def _rules(world: World) -> list[tuple[str, int | None]]:
    return [(v.rule, v.entry_id) for v in world.violations()]


def _sql(world: World, statement: str, **params) -> None:
    with world.session() as s:
        s.execute(text(statement), params)


def test_post_entry_refuses_what_is_not_one_balanced_entry(world):
    with world.session() as s:
        for postings, code in [
            ([("pool:compensation:cash", 5), ("equity:appropriations", -4)], "unbalanced_entry"),
            ([("pool:compensation:cash", 0), ("equity:appropriations", 0)], "empty_entry"),
            ([("pool:compensation:cash", 5), ("nowhere", -5)], "unknown_account"),
        ]:
            with pytest.raises(DomainError) as info:
                with s.begin_nested():
                    ledger.post_entry(s, cause="correction", policy_id=None, postings=postings, business_date=FILED)
            assert info.value.code == code
        with pytest.raises(DomainError, match="cause"):
            ledger.post_entry(s, cause="gift", policy_id=None, postings=[("pool:subsidy:cash", 1), ("equity:appropriations", -1)],
                              business_date=FILED)


def test_entries_and_postings_are_append_only(world):
    world.appropriate(100, DRAWDOWN)
    for statement in ("UPDATE postings SET amount_fen = amount_fen + 1", "DELETE FROM postings",
                      "UPDATE journal_entries SET memo = 'edited'", "DELETE FROM journal_entries"):
        with pytest.raises(DBAPIError, match="append-only"):
            _sql(world, statement)
    assert world.pool().cash_fen == 100 and world.violations() == []


def test_appropriations_are_the_fund_managers_and_checked(world):
    with world.session() as s:
        with pytest.raises(Forbidden):
            ledger.record_appropriation(s, world.actors["BANK1"], pool="compensation", amount_fen=1, policy_id=None, business_date=FILED)
    for amount, pool, policy, code in [(0, "compensation", None, "invalid_amount"), (10**12 + 1, "compensation", None, "amount_too_large"),
                                       (1, "bonus", None, "invalid_pool"), (1, "subsidy", "gz-1999", "unknown_policy"),
                                       (1.5, "subsidy", None, "invalid_amount")]:
        with pytest.raises(DomainError) as info:
            world.appropriate(amount, FILED, pool=pool, policy_id=policy)
        assert info.value.code == code


def test_inflows_settle_deferrals_oldest_first_then_add_to_cash(world):
    first = _approved(world, 300_000_000, 1)  # fund 150M, nothing in the pool: all deferred
    second = _approved(world, 100_000_000, 2, on=FILED + dt.timedelta(days=1))  # fund 50M deferred
    assert world.pool().deferred_fen == 200_000_000
    partial = world.appropriate(170_000_000, D(2022, 7, 1), policy_id="gz-2020")
    assert [(s.ref_id, s.amount_fen) for s in partial.settlements] == [(first.id, 150_000_000), (second.id, 20_000_000)]
    assert (partial.settled_fen, partial.to_cash_fen) == (170_000_000, 0)
    assert (world.pool().cash_fen, world.pool().deferred_fen) == (0, 30_000_000)
    rest = world.appropriate(100_000_000, D(2022, 7, 2), pool="compensation")
    assert [(s.ref_id, s.amount_fen) for s in rest.settlements] == [(second.id, 30_000_000)]
    assert (world.pool().cash_fen, world.pool().deferred_fen) == (70_000_000, 0)
    # The subsidy pool is another pool: its appropriation settles nothing of compensation.
    assert world.appropriate(5, D(2022, 7, 2), pool="subsidy").settlements == ()
    with world.session() as s:
        settlements = ledger.journal(s, cause="deferral_settlement")
        # RULES 6 (revision 2): what a settlement pays goes into transit to the custodian and is owed to the bank
        assert [(e.ref_type, e.policy_id, dict(e.postings)) for e in settlements] == [
            ("deferral", "gz-2020", {"liability:compensation_deferred": 150_000_000, "pool:compensation:in_transit": 150_000_000,
                                 "pool:compensation:cash": -150_000_000, "liability:compensation_payable": -150_000_000}),
            ("deferral", "gz-2020", {"liability:compensation_deferred": 20_000_000, "pool:compensation:in_transit": 20_000_000,
                                 "pool:compensation:cash": -20_000_000, "liability:compensation_payable": -20_000_000}),
            ("deferral", "gz-2020", {"liability:compensation_deferred": 30_000_000, "pool:compensation:in_transit": 30_000_000,
                                 "pool:compensation:cash": -30_000_000, "liability:compensation_payable": -30_000_000}),
        ]
        assert ledger.appropriated_fen(s, "compensation") == 270_000_000
        assert ledger.appropriated_fen(s, "subsidy") == 5
    assert world.violations() == []


def test_the_check_names_an_unbalanced_entry(world):
    entry_id = world.appropriate(1_000, FILED).entry_id
    _sql(world, "INSERT INTO postings (entry_id, account_code, amount_fen) VALUES (:e, 'income:recovery', 7)", e=entry_id)
    rules = _rules(world)
    assert ("entry_sums_to_zero", entry_id) in rules
    assert ("stored_balance", None) in rules  # income:recovery stores 0, postings give 7


def test_the_check_finds_stored_balances_that_drift(world):
    world.appropriate(1_000, FILED)
    _sql(world, "UPDATE accounts SET balance_fen = balance_fen + 1 WHERE code = 'pool:compensation:cash'")
    assert [v.rule for v in world.violations()] == ["stored_balance"]


def test_the_check_ties_each_claim_to_its_postings(world):
    claim = _approved(world, 300_000_000, 1)
    world.appropriate(100_000_000, D(2022, 7, 1))
    world.recover(claim.id, 40_000_000, 0, D(2022, 8, 1))  # fund's part 20M
    assert world.violations() == []
    # A claim whose stored fund share no longer matches its approval entry.
    _sql(world, "UPDATE claims SET fund_fen = fund_fen - 1, bank_fen = bank_fen + 1, deferred_fen = deferred_fen - 1 WHERE id = :c", c=claim.id)
    assert ("claim_postings", claim.approval_entry_id) in _rules(world)
    assert "cap_usage" in [r for r, _ in _rules(world)]
    _sql(world, "UPDATE claims SET fund_fen = fund_fen + 1, bank_fen = bank_fen - 1, deferred_fen = deferred_fen + 1 WHERE id = :c", c=claim.id)
    assert world.violations() == []
    # Running recovery totals that disagree with the recoveries.
    _sql(world, "UPDATE claims SET fund_recovered_fen = fund_recovered_fen + 1, bank_recovered_fen = bank_recovered_fen - 1 WHERE id = :c", c=claim.id)
    assert [r for r, _ in _rules(world)] == ["claim_recoveries"]


def test_the_check_finds_a_stray_claim_entry_and_a_deferral_out_of_step(world):
    claim = _approved(world, 300_000_000, 1)
    with world.session() as s:
        stray = ledger.post_entry(s, cause="claim_approval", policy_id="gz-2020", ref_type="claim", ref_id=claim.id,
                                  business_date=FILED, postings=[("expense:compensation", 5), ("pool:compensation:cash", -5)])
    rules = _rules(world)
    assert ("cash_not_negative", None) in rules
    assert any(rule == "claim_postings" for rule, _ in rules)
    with world.session() as s:
        ledger.post_entry(s, cause="correction", policy_id="gz-2020", business_date=FILED, memo=f"reverses entry {stray.id}",
                          postings=[("expense:compensation", -5), ("pool:compensation:cash", 5)])
    _sql(world, "UPDATE deferrals SET settled_fen = 1")
    rules = [r for r, _ in _rules(world)]
    assert "deferral_settlements" in rules and "deferrals_match_liability" in rules


def test_the_check_finds_cash_held_while_compensation_is_deferred(world):
    _approved(world, 300_000_000, 1)
    with world.session() as s:  # cash posted around the inflow rule
        ledger.post_entry(s, cause="correction", policy_id=None, business_date=FILED,
                          postings=[("pool:compensation:cash", 9), ("equity:appropriations", -9)])
    assert [r for r, _ in _rules(world)] == ["settle_before_cash"]


def test_leverage_is_an_exact_ratio():
    assert (Leverage.of(20_000_000_000, 5_000_000_000).ratio, Leverage.of(20_000_000_000, 5_000_000_000).bp) == ("4/1", 40_000)
    third = Leverage.of(1_000_000_000, 30_000_000)
    assert (third.ratio, third.bp) == ("100/3", 333_333)
    assert Leverage.of(5, 0).ratio is None and Leverage.of(5, 0).bp is None


def test_fund_report(world):
    claim = _approved(world, 300_000_000, 1)  # BANK1, 2022: fund 150M deferred
    world.register("BANK2", drawdown=D(2026, 1, 15), borrower_n=5, on=D(2026, 1, 15))  # live, C 1e9 under gz-2023
    world.appropriate(400_000_000, D(2022, 7, 1))
    world.recover(claim.id, 100_000_000, 20_000_000, D(2022, 8, 1))  # net 80M: fund 40M
    with world.session() as s:
        report = fund_report(s, D(2026, 6, 1))
    pools = {p.pool: (p.cash_fen, p.deferred_fen, p.appropriated_fen) for p in report.pools}
    assert pools == {"compensation": (400_000_000 - 150_000_000 + 40_000_000, 0, 400_000_000), "subsidy": (0, 0, 0)}
    assert [(c.bank, c.year, c.claims, c.approved_fen, c.paid_fen, c.deferred_fen, c.recovered_fen) for c in report.compensation] == [
        ("BANK1", 2022, 1, 150_000_000, 150_000_000, 0, 40_000_000)]
    caps = {(c.bank, c.policy_id): c for c in report.caps}
    bank2 = caps[("BANK2", "gz-2023")]
    assert (bank2.year, bank2.cap_bp, bank2.in_pool_lending_fen, bank2.cap_fen, bank2.used_fen, bank2.room_fen) == (
        2026, 500, 1_000_000_000, 50_000_000, 0, 50_000_000)
    bank1 = caps[("BANK1", "gz-2020")]
    assert (bank1.cap_bp, bank1.cap_fen, bank1.room_fen, bank1.in_pool_lending_fen) == (None, None, None, 1_000_000_000)
    # Live loans: only BANK2's (BANK1's is compensated).
    assert (report.leverage.covered_live_fen, report.leverage.appropriated_fen, report.leverage.ratio, report.leverage.bp) == (
        1_000_000_000, 400_000_000, "5/2", 25_000)
