"""Rule A (RULES section 4): the listed properties, with hypothesis, over the whole range of
single amounts (up to 10**12 fen) and random valid schemes."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fund.domain.policy import load_policy_file, shipped_policy_paths
from risk.allocation import (
    NON_BANK_PARTIES,
    UNLIMITED,
    CapBook,
    apply_bank_cap,
    cap_in_order_array,
    cap_room,
    pay_from_cash,
    pay_in_order_array,
    recovery_increment,
    recovery_increment_array,
    settle_inflow,
    split_loss,
    split_loss_array,
)
from risk.allocation import _mul_div_floor

MAX_FEN = 10**12
INT64_MAX = 2**63 - 1
PARTIES = ("fund", "insurer", "appraiser", "bank")

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEQUENCE_SETTINGS = settings(SETTINGS, max_examples=200)  # list-drawing tests: generation dominates

SHIPPED_SCHEMES = [
    dict(scheme.ratios_bp)
    for policy in map(load_policy_file, shipped_policy_paths())
    for scheme in policy.schemes.values()
]

# amounts across the whole range, with weight on the huge end (where L * C passes 2**63) and the
# small end (where floors bite)
amounts = st.one_of(
    st.integers(1, MAX_FEN),
    st.integers(MAX_FEN - 10**6, MAX_FEN),
    st.integers(3 * 10**9, MAX_FEN),
    st.integers(1, 10_000),
)


@st.composite
def random_schemes(draw) -> dict[str, int]:
    parties = ["fund", "bank"] + sorted(draw(st.sets(st.sampled_from(["insurer", "appraiser"]))))
    cuts = sorted(draw(st.lists(st.integers(0, 10_000), min_size=len(parties) - 1, max_size=len(parties) - 1)))
    bounds = [0, *cuts, 10_000]
    return {party: bounds[i + 1] - bounds[i] for i, party in enumerate(parties)}


schemes = st.one_of(st.sampled_from(SHIPPED_SCHEMES), random_schemes())


@st.composite
def claims(draw) -> tuple[int, int, int, dict[str, int], int | None]:
    principal = draw(amounts)
    loss = draw(st.one_of(st.integers(1, principal), st.just(principal)))
    covered = draw(st.one_of(st.integers(0, principal), st.just(principal), st.just(0)))
    limit = draw(st.one_of(st.none(), st.integers(0, MAX_FEN), st.integers(0, 10_000)))
    return loss, covered, principal, draw(schemes), limit


# -- A2 -----------------------------------------------------------------------------------------


@SETTINGS
@given(claims())
def test_split_parts_add_up_and_are_never_negative(claim):
    loss, covered, principal, ratios, limit = claim
    split = split_loss(loss, covered, principal, ratios, limit)
    parts = split.parts()
    assert sum(parts.values()) == loss == split.loss_fen
    assert all(part >= 0 for part in parts.values())
    assert split.base_fen == math.floor(Fraction(loss * covered, principal)) <= loss
    fund_ceiling = split.base_fen * ratios["fund"] // 10_000
    assert split.fund_fen <= fund_ceiling
    assert split.fund_fen == fund_ceiling == split.fund_before_cap_fen  # no A3 cut yet
    insurer_uncut = split.base_fen * ratios.get("insurer", 0) // 10_000
    assert split.insurer_fen == (insurer_uncut if limit is None else min(insurer_uncut, limit))
    assert split.insurer_cut_fen == insurer_uncut - split.insurer_fen
    assert split.appraiser_fen == split.base_fen * ratios.get("appraiser", 0) // 10_000
    assert split_loss(loss, covered, principal, dict(reversed(list(ratios.items()))), limit) == split


@SETTINGS
@given(claims(), st.one_of(st.none(), st.integers(0, MAX_FEN), st.integers(0, 10_000)))
def test_bank_cap_moves_only_the_cut_and_never_raises_the_fund(claim, room):
    loss, covered, principal, ratios, limit = claim
    split = split_loss(loss, covered, principal, ratios, limit)
    capped = apply_bank_cap(split, room)
    assert sum(capped.parts().values()) == loss
    assert all(part >= 0 for part in capped.parts().values())
    assert capped.fund_fen <= split.base_fen * ratios["fund"] // 10_000
    assert capped.fund_fen == (split.fund_fen if room is None else min(split.fund_fen, room))
    assert capped.fund_cut_fen == split.fund_fen - capped.fund_fen
    assert capped.fund_before_cap_fen == split.fund_fen
    assert capped.bank_fen == split.bank_fen + capped.fund_cut_fen
    assert (capped.insurer_fen, capped.appraiser_fen) == (split.insurer_fen, split.appraiser_fen)


# -- scalar == numpy ----------------------------------------------------------------------------


@SEQUENCE_SETTINGS
@given(st.lists(claims(), min_size=1, max_size=12))
def test_split_array_equals_scalar_to_the_fen(rows):
    loss, covered, principal, ratios, limits = zip(*rows)
    per_row_ratios = {party: [r.get(party, 0) for r in ratios] for party in PARTIES}
    limit_array = [UNLIMITED if limit is None else limit for limit in limits]
    arrays = split_loss_array(loss, covered, principal, per_row_ratios, limit_array)
    for field in ("loss_fen", "base_fen", "fund_fen", "insurer_fen", "appraiser_fen", "bank_fen", "insurer_cut_fen"):
        assert getattr(arrays, field).dtype == np.int64
    for i, row in enumerate(rows):
        assert arrays.row(i) == split_loss(*row)


@SEQUENCE_SETTINGS
@given(st.lists(claims(), min_size=1, max_size=12), schemes)
def test_split_array_with_one_scheme_equals_scalar(rows, ratios):
    loss, covered, principal, _, _ = zip(*rows)
    arrays = split_loss_array(np.array(loss), np.array(covered), np.array(principal), ratios)
    for i in range(len(rows)):
        assert arrays.row(i) == split_loss(loss[i], covered[i], principal[i], ratios)


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.one_of(st.integers(0, 2**40 - 1), st.integers(2**40 - 2**20, 2**40 - 1)),
            st.one_of(st.integers(0, 2**40 - 1), st.integers(2**40 - 2**20, 2**40 - 1)),
            st.integers(1, 2**40 - 1),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_exact_multiply_divide_is_exact_up_to_2_pow_40(rows):
    # the helper's own contract: any operands below 2**40 whose quotient fits int64
    rows = [(a, b, d) for a, b, d in rows if a * b // d <= INT64_MAX]
    if not rows:
        return
    a, b, d = (np.array(column, dtype=np.int64) for column in zip(*rows))
    assert _mul_div_floor(a, b, d).tolist() == [x * y // z for x, y, z in rows]


def test_exact_path_is_taken_where_int64_would_wrap():
    loss = covered = principal = np.array([MAX_FEN, MAX_FEN - 1, 999_999_999_989], dtype=np.int64)
    with np.errstate(over="ignore"):
        wrapped = loss * covered // principal
    exact = split_loss_array(loss, covered, principal, {"fund": 5000, "bank": 5000}).base_fen
    assert exact.tolist() == loss.tolist()  # C == principal, so base == L
    assert wrapped.tolist() != exact.tolist()


# -- A3 and A4 over sequences -------------------------------------------------------------------

banks = st.sampled_from(["b1", "b2", "b3"])
policies = st.sampled_from(["gz-2023", "gz-2020"])
years = st.sampled_from([2026, 2027])
events = st.one_of(
    st.tuples(st.just("claim"), banks, policies, years, claims()),
    st.tuples(st.just("inflow"), st.one_of(st.integers(0, MAX_FEN), st.integers(0, 10**6))),
)


@st.composite
def cap_worlds(draw):
    lending = {
        (bank, policy): draw(st.one_of(st.integers(0, 10**15), st.integers(0, 10**8)))
        for bank in ("b1", "b2", "b3")
        for policy in ("gz-2023", "gz-2020")
    }
    cap_bp = {"gz-2023": draw(st.one_of(st.none(), st.integers(0, 10_000))), "gz-2020": draw(st.one_of(st.none(), st.integers(0, 10_000)))}
    cash = draw(st.one_of(st.integers(0, 10**13), st.integers(0, 10**6)))
    return lending, cap_bp, cash, draw(st.lists(events, min_size=1, max_size=20))


def _run_book(world):
    lending, cap_bp, cash, sequence = world
    book = CapBook(cash_fen=cash)
    log = []
    for n, event in enumerate(sequence):
        if event[0] == "inflow":
            log.append(book.inflow(event[1]))
            continue
        _, bank, policy, year, claim = event
        split = split_loss(*claim)
        log.append(book.approve(split, key=(bank, policy, year), in_pool_lending_fen=lending[bank, policy],
                                cap_bp=cap_bp[policy], tag=n))
    return book, log


@SEQUENCE_SETTINGS
@given(cap_worlds())
def test_approved_fund_shares_never_exceed_the_cap_and_cash_is_conserved(world):
    lending, cap_bp, cash, sequence = world
    book = CapBook(cash_fen=cash)
    approved: dict[tuple, int] = {}
    paid_total = deferred_total = to_cash_total = settled_total = 0
    for n, event in enumerate(sequence):
        if event[0] == "inflow":
            settlement = book.inflow(event[1])
            assert sum(part for _, part in settlement.settled) + settlement.to_cash_fen == event[1]
            to_cash_total += settlement.to_cash_fen
            settled_total += sum(part for _, part in settlement.settled)
        else:
            _, bank, policy, year, claim = event
            key = (bank, policy, year)
            split = split_loss(*claim)
            room = cap_room(lending[bank, policy], cap_bp[policy], approved.get(key, 0))
            approval = book.approve(split, key=key, in_pool_lending_fen=lending[bank, policy], cap_bp=cap_bp[policy], tag=n)
            assert approval.room_before_fen == room
            assert approval.split.fund_fen == (split.fund_fen if room is None else min(split.fund_fen, room))
            assert sum(approval.split.parts().values()) == split.loss_fen
            assert approval.paid_fen + approval.deferred_fen == approval.split.fund_fen
            assert min(approval.paid_fen, approval.deferred_fen) >= 0
            approved[key] = approved.get(key, 0) + approval.split.fund_fen
            paid_total += approval.paid_fen
            deferred_total += approval.deferred_fen
        assert book.cash_fen >= 0
        assert book.cash_fen == 0 or book.deferred_fen == 0  # deferrals are settled before cash grows
        assert book.cash_fen == cash + to_cash_total - paid_total
        assert book.deferred_fen == deferred_total - settled_total
    assert book.used_fen == {key: value for key, value in approved.items()}
    for (bank, policy, year), total in approved.items():
        if cap_bp[policy] is not None:
            assert total <= lending[bank, policy] * cap_bp[policy] // 10_000


@SEQUENCE_SETTINGS
@given(cap_worlds())
def test_same_claims_in_same_order_give_the_same_result(world):
    first_book, first_log = _run_book(world)
    second_book, second_log = _run_book(world)
    assert first_log == second_log
    assert first_book == second_book


@SEQUENCE_SETTINGS
@given(cap_worlds())
def test_book_equals_the_primitives_in_order(world):
    lending, cap_bp, cash, sequence = world
    book, log = _run_book(world)
    used: dict[tuple, int] = {}
    deferred: list[list] = []
    for n, (event, logged) in enumerate(zip(sequence, log)):
        if event[0] == "inflow":
            settled, left = settle_inflow(event[1], [owed for _, owed in deferred])
            assert logged.settled == tuple((entry[0], part) for entry, part in zip(deferred, settled) if part)
            assert logged.to_cash_fen == left
            deferred = [[tag, owed - part] for (tag, owed), part in zip(deferred, settled) if owed > part]
            cash += left
        else:
            _, bank, policy, year, claim = event
            key = (bank, policy, year)
            capped = apply_bank_cap(split_loss(*claim), cap_room(lending[bank, policy], cap_bp[policy], used.get(key, 0)))
            paid, owed = pay_from_cash(cash, capped.fund_fen)
            assert (logged.split, logged.paid_fen, logged.deferred_fen) == (capped, paid, owed)
            used[key] = used.get(key, 0) + capped.fund_fen
            cash -= paid
            if owed:
                deferred.append([n, owed])
    assert (book.cash_fen, book.deferred) == (cash, deferred)


@SETTINGS
@given(
    st.lists(st.tuples(st.one_of(st.integers(0, MAX_FEN), st.integers(0, 1000)), st.integers(0, 3)), min_size=0, max_size=40),
    st.lists(st.one_of(st.just(UNLIMITED), st.integers(0, 10**13), st.integers(0, 2000)), min_size=4, max_size=4),
    st.one_of(st.integers(0, 10**14), st.integers(0, 3000)),
)
def test_cap_and_pay_in_order_arrays_equal_one_at_a_time(rows, rooms, cash):
    fund = [f for f, _ in rows]
    group = [g for _, g in rows]
    approved = cap_in_order_array(np.array(fund, dtype=np.int64), np.array(group, dtype=np.int64), np.array(rooms))
    paid, deferred = pay_in_order_array(approved, cash)
    used = [0, 0, 0, 0]
    expected_approved, expected_paid, expected_deferred = [], [], []
    for f, g in rows:
        room = None if rooms[g] == UNLIMITED else max(0, rooms[g] - used[g])
        take = f if room is None else min(f, room)
        used[g] += take
        p, d = pay_from_cash(cash, take)
        cash -= p
        expected_approved.append(take)
        expected_paid.append(p)
        expected_deferred.append(d)
    assert approved.tolist() == expected_approved
    assert paid.tolist() == expected_paid
    assert deferred.tolist() == expected_deferred
    for g, room in enumerate(rooms):
        if room != UNLIMITED:
            assert used[g] <= room


# -- A5 -----------------------------------------------------------------------------------------

nets = st.one_of(st.integers(0, MAX_FEN), st.integers(0, 10_000), st.integers(0, 3))


@st.composite
def recovered_claims(draw):
    claim = draw(claims())
    split = apply_bank_cap(split_loss(*claim), draw(st.one_of(st.none(), st.integers(0, MAX_FEN))))
    net_list = draw(st.lists(nets, min_size=1, max_size=8))
    if draw(st.booleans()):  # reach the loss fen by fen, where the floors step up together
        net_list = [max(0, split.loss_fen - draw(st.integers(1, 4))), 1, 1, 1, 1, *net_list]
    return split, net_list


@SETTINGS
@given(recovered_claims())
def test_recoveries_add_up_and_no_party_recovers_more_than_it_bore(case):
    split, net_list = case
    shares, loss = split.shares(), split.loss_fen
    cum = 0
    totals = dict.fromkeys(PARTIES, 0)
    for net in net_list:
        parts = recovery_increment(cum, net, loss, shares)
        assert set(parts) == set(PARTIES)
        assert sum(parts.values()) == net
        assert all(parts[p] >= 0 for p in NON_BANK_PARTIES)
        # the bank's part of one recovery is >= 0 except when several floors step up together
        assert parts["bank"] > -len(NON_BANK_PARTIES)
        cum += net
        for party, part in parts.items():
            totals[party] += part
        for party, share in shares.items():
            assert totals[party] == min(cum * share // loss, share) <= share
        assert totals["bank"] >= 0
        assert sum(totals.values()) == cum
    if cum <= MAX_FEN:  # the same net reported at once
        assert recovery_increment(0, cum, loss, shares) == totals


@SETTINGS
@given(recovered_claims(), st.data())
def test_a_recovery_split_in_two_gives_the_same_totals(case, data):
    split, net_list = case
    shares, loss = split.shares(), split.loss_fen
    whole_cum = parts_cum = 0
    whole = dict.fromkeys(PARTIES, 0)
    halves = dict.fromkeys(PARTIES, 0)
    for net in net_list:
        for party, part in recovery_increment(whole_cum, net, loss, shares).items():
            whole[party] += part
        whole_cum += net
        first = data.draw(st.integers(0, net))
        for piece in (first, net - first):
            for party, part in recovery_increment(parts_cum, piece, loss, shares).items():
                halves[party] += part
            parts_cum += piece
    assert halves == whole


@SEQUENCE_SETTINGS
@given(
    st.lists(
        st.tuples(
            recovered_claims(),
            st.one_of(st.integers(0, 2 * MAX_FEN), st.integers(0, INT64_MAX), st.just(INT64_MAX)),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_recovery_array_equals_scalar_to_the_fen(rows):
    cum_before, net, loss = [], [], []
    shares = {party: [] for party in NON_BANK_PARTIES}
    for (split, net_list), before in rows:
        cum_before.append(before)
        net.append(net_list[0])
        loss.append(split.loss_fen)
        for party, share in split.shares().items():
            shares[party].append(share)
    arrays = recovery_increment_array(cum_before, net, loss, shares)
    assert all(part.dtype == np.int64 for part in arrays.values())
    for i, ((split, _), _) in enumerate(rows):
        expected = recovery_increment(cum_before[i], net[i], loss[i], split.shares())
        assert {party: int(part[i]) for party, part in arrays.items()} == expected
