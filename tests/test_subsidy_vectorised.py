"""The run's vectorised S2 and S3 give the same integers and flags as the scalar rules of the domain,
across the whole range (int64 where it is exact, Python integers where it is not)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fund.domain.subsidy import CapState, apply_enterprise_cap, subsidy_amount, subsidy_factor
from fund.services.subsidies import enterprise_cap_in_order, s2_amounts

terms = st.tuples(
    st.integers(1, 10_000),  # ip share
    st.integers(1, 10**6),  # contract rate (no upper bound in the rules)
    st.integers(1, 10**4),  # LPR
    st.integers(0, 10**5),  # markup
    st.integers(0, 10_000),  # ratio
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**12), terms), min_size=1, max_size=30))
def test_s2_amounts_equal_the_scalar_rule(rows):
    factors = [subsidy_factor(ip_share_bp=t[0], contract_rate_bp=t[1], lpr_bp=t[2], markup_bp=t[3], ratio_bp=t[4]) for _, t in rows]
    got = s2_amounts([i for i, _ in rows], [f.numerator for f in factors], [f.denominator for f in factors])
    expected = [subsidy_amount(i, ip_share_bp=t[0], contract_rate_bp=t[1], lpr_bp=t[2], markup_bp=t[3], ratio_bp=t[4]) for i, t in rows]
    assert got.tolist() == expected


def test_s2_amounts_fall_back_to_python_integers_past_int64():
    # 10^12 * 10^8 passes 2^63: numpy would wrap; the row must still be exact (S2's factor is at most 1).
    assert s2_amounts([10**12, 7], [10**8, 10**8], [3 * 10**8, 3]).tolist() == [10**12 // 3, 7 * 10**8 // 3]
    assert s2_amounts([10**12], [2**70], [2**71]).tolist() == [10**12 // 2]


rows = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 10**12)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(
    rows,
    st.lists(st.one_of(st.none(), st.integers(0, 3 * 10**12)), min_size=5, max_size=5),
    st.lists(st.tuples(st.integers(0, 3 * 10**12), st.booleans()), min_size=5, max_size=5),
)
def test_cap_in_order_equals_the_scalar_rule(lines, caps, prior_raw):
    keys = [k for k, _ in lines]
    amounts = [a for _, a in lines]
    # a key's prior never exceeds its cap, and only a capped key can have been cut
    prior = [CapState(min(g, c) if c is not None else g, cut and c is not None) for (g, cut), c in zip(prior_raw, caps)]
    expected = apply_enterprise_cap(amounts, keys, dict(enumerate(caps)), dict(enumerate(prior)))
    granted, capped = enterprise_cap_in_order(amounts, np.array(keys, dtype=np.int64), caps, prior)
    assert granted.tolist() == list(expected.granted_fen)
    assert capped.tolist() == list(expected.capped)


def test_cap_in_order_beyond_int64_uses_the_scalar_rule():
    amounts = [4 * 10**18, 4 * 10**18, 4 * 10**18]
    granted, capped = enterprise_cap_in_order(amounts, np.array([0, 0, 0]), [10**19], [CapState()])
    assert granted.tolist() == [4 * 10**18, 4 * 10**18, 2 * 10**18] and capped.tolist() == [False, False, True]
