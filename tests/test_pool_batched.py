"""B2's reading in one batch (docs/rules.md section 12): ``fund.services.pool.loss_ratios`` reads every
agreement's approved covered losses, in-pool lending and open suspension in a few grouped queries, and
the approval step measures one bank with the same reading narrowed to it. On a book with two banks, two
policies, a rejected claim, a lift on the suspension's own date, claims approved on and after that date
and a second suspension, the batch equals the rule read pair by pair, straight from the tables."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event, func, select

from fund.adapters.db import unit_of_work
from fund.adapters.models.claims import Claim
from fund.adapters.models.pool import BankSuspension, PoolAgreement
from fund.adapters.models.registry import Institution, Loan
from fund.services.pool import NO_READING, b2_readings, loss_ratios
from fund.services.policies import get_policy
from tests.people_support import fast_passwords  # noqa: F401  (fixture)
from tests.test_api_support import api  # noqa: F401  (fixture)
from tests.test_claims_api import _decide, _file, _ok, on  # noqa: F401  (fixture)
from tests.test_pool_api import _loan, _propose, _sign

D = dt.date


def _pair_by_pair(session, b_id: int, policy_id: str, on_day: dt.date) -> tuple[int, int, dt.date | None]:
    """The rule's words, one (bank, policy) at a time: losses since the last lift (claims approved on
    the lift's date only when it is after the suspension's), lending as in A3, the open suspension."""
    last = session.scalar(select(BankSuspension).where(BankSuspension.bank_id == b_id, BankSuspension.policy_id == policy_id,
                                                       BankSuspension.lifted_on.is_not(None))
                          .order_by(BankSuspension.lifted_on.desc(), BankSuspension.id.desc()).limit(1))
    losses = select(func.coalesce(func.sum(Claim.base_fen), 0)).where(
        Claim.bank_id == b_id, Claim.policy_id == policy_id, Claim.status.in_(("approved", "closed")))
    if last is not None:
        losses = losses.where(Claim.decided_on >= last.lifted_on, Claim.decided_on > last.suspended_on)
    lending = select(func.coalesce(func.sum(Loan.covered_fen), 0)).where(
        Loan.bank_id == b_id, Loan.policy_id == policy_id, Loan.drawdown_date <= on_day, Loan.status != "cancelled")
    open_row = session.scalar(select(BankSuspension).where(BankSuspension.bank_id == b_id, BankSuspension.policy_id == policy_id,
                                                           BankSuspension.lifted_on.is_(None)))
    return int(session.scalar(losses)), int(session.scalar(lending)), open_row.suspended_on if open_row else None


def _check_batch_equals_pair_by_pair(api, on_day: dt.date) -> dict:
    with unit_of_work(api.session_factory) as session:
        batch = loss_ratios(session, on_day)
        agreements = session.execute(select(PoolAgreement.bank_id, Institution.code, PoolAgreement.policy_id)
                                     .join(Institution, Institution.id == PoolAgreement.bank_id)).all()
        assert len(batch) == len(agreements) >= 4
        by_key = {(r.bank_code, r.policy_id): r for r in batch}
        for b_id, code, policy_id in agreements:
            r = by_key[(code, policy_id)]
            losses, lending, since = _pair_by_pair(session, b_id, policy_id, on_day)
            line_bp = get_policy(session, policy_id).bank_suspension_line_bp
            assert (r.losses_fen, r.in_pool_lending_fen, r.suspended_since, r.line_bp) == (losses, lending, since, line_bp)
            assert r.line_fen == (None if line_bp is None else lending * line_bp // 10000)
            # the approval step's reading of this one pair is the same reading
            one = b2_readings(session, on_day, bank_id=b_id, policy_id=policy_id).get((b_id, policy_id), NO_READING)
            assert (one.losses_fen, one.lending_fen) == (losses, lending)
            assert (one.open_suspension.suspended_on if one.open_suspension else None) == since
            # a bank's own view is the batch narrowed to it
            assert [x for x in batch if x.bank_code == code] == loss_ratios(session, on_day, bank_id=b_id)
        return by_key


def test_the_batched_loss_ratios_equal_the_rule_read_pair_by_pair(api, on, fast_passwords):
    on(D(2026, 6, 1))
    bank1 = [_loan(api, "BANK1", D(2026, 1, 15)) for _ in range(8)]  # gz-2023: lending 8 000 000 000, line 240 000 000
    bank2 = [_loan(api, "BANK2", D(2026, 2, 1)) for _ in range(4)]
    for loan, loss in zip(bank1, (100_000_000, 90_000_000)):
        _decide(api, _file(api, loan["id"], loss), "approve")
    _decide(api, _file(api, bank2[0]["id"], 70_000_000, who="BANK2"), "approve")
    _decide(api, _file(api, bank2[1]["id"], 55_000_000, who="BANK2"), "reject", {"reason": "documents do not show the default"})  # rejected: not a loss
    mine = _check_batch_equals_pair_by_pair(api, D(2026, 6, 1))
    assert (mine[("BANK1", "gz-2023")].losses_fen, mine[("BANK1", "gz-2023")].suspended_since) == (190_000_000, None)
    assert mine[("BANK2", "gz-2023")].losses_fen == 70_000_000

    _decide(api, _file(api, bank1[2]["id"], 60_000_000), "approve")  # 250 000 000 > 240 000 000: suspended on 06-01
    mine = _check_batch_equals_pair_by_pair(api, D(2026, 6, 1))
    assert (mine[("BANK1", "gz-2023")].losses_fen, mine[("BANK1", "gz-2023")].suspended_since) == (250_000_000, D(2026, 6, 1))

    # lifted on the suspension's own date: what is approved that day no longer counts, what comes after does
    suspension = _ok(api.get("/api/v1/suspensions", who="FM"))["items"][0]
    _sign(api, _propose(api, f"/api/v1/suspensions/{suspension['id']}/lift", {"reason": "the bank's recovery plan accepted"}))
    _decide(api, _file(api, bank1[3]["id"], 30_000_000), "approve")
    mine = _check_batch_equals_pair_by_pair(api, D(2026, 6, 1))
    assert (mine[("BANK1", "gz-2023")].losses_fen, mine[("BANK1", "gz-2023")].suspended_since) == (0, None)

    on(D(2026, 6, 8))
    _decide(api, _file(api, bank1[4]["id"], 200_000_000), "approve")
    _decide(api, _file(api, bank1[5]["id"], 50_000_000), "approve")  # 250 000 000 since the lift: suspended again
    _decide(api, _file(api, bank2[2]["id"], 20_000_000, who="BANK2"), "approve")
    mine = _check_batch_equals_pair_by_pair(api, D(2026, 6, 8))
    assert (mine[("BANK1", "gz-2023")].losses_fen, mine[("BANK1", "gz-2023")].suspended_since) == (250_000_000, D(2026, 6, 8))
    assert (mine[("BANK2", "gz-2023")].losses_fen, mine[("BANK2", "gz-2023")].suspended_since) == (90_000_000, None)
    # an earlier date reads less lending (A3: loans drawn on or before it)
    early = _check_batch_equals_pair_by_pair(api, D(2026, 1, 31))
    assert early[("BANK2", "gz-2023")].in_pool_lending_fen == 0 < mine[("BANK2", "gz-2023")].in_pool_lending_fen


def test_the_report_reads_b2_in_a_few_queries_however_many_agreements(api, on, fast_passwords):
    on(D(2026, 6, 1))
    _decide(api, _file(api, _loan(api, "BANK1", D(2026, 1, 15))["id"], 10_000_000), "approve")
    engine = api.session_factory.kw["bind"]
    seen: list[str] = []
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    with unit_of_work(api.session_factory) as session:
        agreements = session.scalar(select(func.count()).select_from(PoolAgreement))
        policies = session.scalar(select(func.count(PoolAgreement.policy_id.distinct())))
        event.listen(engine, "before_cursor_execute", listener)
        try:
            ratios = loss_ratios(session, D(2026, 6, 1))
        finally:
            event.remove(engine, "before_cursor_execute", listener)
    assert len(ratios) == agreements >= 2 * policies >= 4  # pair by pair this was five queries an agreement
    assert len(seen) <= 4 + policies, seen  # agreements, suspensions, claims, lending, and each policy once
