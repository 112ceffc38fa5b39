"""Survivors of the mutation run over risk/stress_stats.py (docs/mutation.md), killed on small
samples whose answers are worked by hand from the definitions of docs/rules.md section 8 (M5: mean,
VaR and ES at 95%, 99% and 99.9% with 95% confidence intervals; the starting fund size that keeps
the probability of deferral under 1%; M6b's weighted estimators) as the module states them:

* VaR_a = x_(ceil(n a)); ES_a the Acerbi-Tasche average of VaR_u over u in [a, 1];
* the VaR interval [x_(j), x_(k)] from Binomial(n, a), each tail at most 2.5%, computed here with
  exact binomial sums (no scipy);
* the ES interval ES +/- 1.96 sd((X - VaR)^+) / (1 - a) / sqrt(n); the mean's mean +/- 1.96 s / sqrt(n);
* a probability's Wilson score interval;
* the weighted forms with their delta-method (influence function) half widths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest

from risk import stress_stats as ss

Z = 1.959963984540054


def _binomial_cdfs(n: int, a: Fraction) -> list[Fraction]:
    """P(B <= i) for i = 0..n, B ~ Binomial(n, a), exactly."""
    out, total = [], Fraction(0)
    for i in range(n + 1):
        total += math.comb(n, i) * a**i * (1 - a) ** (n - i)
        out.append(total)
    return out


def _order_statistic_bounds(n: int, a: Fraction, tail: Fraction = Fraction(1, 40)) -> tuple[int, int]:
    """1-based j (largest with P(B < j) < 2.5%) and k (smallest with P(B >= k) <= 2.5%), B ~ Bin(n, a)."""
    cdf = _binomial_cdfs(n, a)
    j = max(i for i in range(n + 1) if i == 0 or cdf[i - 1] < tail)
    k = min(i for i in range(1, n + 2) if 1 - cdf[i - 1] <= tail)
    return j, k


# --------------------------------------------------------------------------------------------------
# the VaR interval


def test_the_var_interval_of_a_median_of_twenty_is_the_textbook_sixth_and_fifteenth():
    x = np.arange(10, 201, 10)  # 10, 20, ..., 200
    assert _order_statistic_bounds(20, Fraction(1, 2)) == (6, 15)
    assert ss.var_interval(x, "0.5") == (60.0, 150.0)


@pytest.mark.parametrize(("n", "a"), [(10, "0.99"), (10, "0.05"), (50, "0.9"), (200, "0.95"), (300, "0.99"), (37, "0.5")])
def test_the_var_interval_is_the_binomial_order_statistic_interval(n, a):
    x = np.arange(1, n + 1) * 3.0
    j, k = _order_statistic_bounds(n, Fraction(a))
    low, high = ss.var_interval(x, a)
    assert low == (x[j - 1] if j >= 1 else None)
    assert high == (x[k - 1] if k <= n else None)


def test_a_sample_too_small_gives_no_bound_on_that_side():
    x = np.arange(1.0, 11.0)
    assert ss.var_interval(x, "0.99") == (9.0, None)  # P(B <= 8) = 0.4%, P(B <= 9) = 9.6%; no k <= 10
    assert ss.var_interval(x, "0.05") == (None, 3.0)  # P(B = 0) = 0.95^10 = 60%: no lower bound


# --------------------------------------------------------------------------------------------------
# VaR, ES and their intervals in measures()


def test_measures_of_one_to_ten_at_eighty_percent_worked_by_hand():
    m = ss.measures(np.arange(1, 11), levels=("0.8",))
    var, es = m.var["0.8"], m.es["0.8"]
    assert var.value == 8.0  # x_(ceil(8))
    assert es.value == pytest.approx(9.5, abs=1e-12)  # m = 8: (x_(9) * 1 + x_(10)) / (10 x 0.2)
    # (X - 8)^+ = 0 (eight times), 1, 2: mean 0.3, population variance 0.41
    half = Z * math.sqrt(0.41) / 0.2 / math.sqrt(10)
    assert (es.low, es.high) == (pytest.approx(9.5 - half, abs=1e-12), pytest.approx(9.5 + half, abs=1e-12))
    j, k = _order_statistic_bounds(10, Fraction(4, 5))
    assert (var.low, var.high) == (float(j), float(k) if k <= 10 else None)


def test_es_weights_the_first_tail_point_by_its_share_of_the_level():
    # n a not whole: n = 10, a = 0.75, m = floor(7.5) = 7, x_(8) weighs (8 - 7.5) = 0.5
    x = np.array([5, 1, 9, 3, 7, 2, 8, 4, 10, 6])
    expected = (8 * 0.5 + 9 + 10) / (10 * 0.25)
    assert ss.expected_shortfall(np.sort(x), "0.75") == pytest.approx(expected, abs=1e-12)
    assert ss.measures(x, levels=("0.75",)).es["0.75"].value == pytest.approx(expected, abs=1e-12)
    assert ss.measures(x, levels=("0.75",)).var["0.75"].value == 8.0  # x_(ceil(7.5))


def test_measures_of_an_integer_sample_near_the_int64_limit_are_exact_enough():
    big = 2**62
    x = np.array([big, big, big, big], dtype=np.int64)
    m = ss.measures(x, levels=("0.5",))
    assert m.es["0.5"].value == pytest.approx(float(big), rel=1e-12)
    assert m.mean.value == pytest.approx(float(big), rel=1e-12)


def test_every_level_is_measured_and_the_default_levels_are_m5s():
    assert ss.LEVELS == ("0.95", "0.99", "0.999")
    m = ss.measures(np.arange(1, 2001))
    assert list(m.var) == list(m.es) == ["0.95", "0.99", "0.999"]
    assert [m.var[a].value for a in ss.LEVELS] == [1900.0, 1980.0, 1998.0]
    assert m.es["0.999"].value == pytest.approx(1999.5)


# --------------------------------------------------------------------------------------------------
# the mean and a probability


def test_the_mean_interval_uses_the_sample_standard_deviation():
    e = ss.mean_estimate(np.array([1, 2, 3, 4]))
    half = Z * math.sqrt(5 / 3) / 2  # s^2 = 5/3 with n - 1 = 3
    assert (e.value, e.low, e.high) == (2.5, pytest.approx(2.5 - half, abs=1e-12), pytest.approx(2.5 + half, abs=1e-12))
    one = ss.mean_estimate(np.array([7]))
    assert (one.value, one.low, one.high) == (7.0, -math.inf, math.inf)
    assert ss.measures(np.array([1, 2, 3, 4])).mean == e


def test_a_probability_has_its_wilson_score_interval():
    none = ss.proportion(0, 10)
    assert (none.value, none.low) == (0.0, 0.0)
    assert none.high == pytest.approx(Z * Z / (10 + Z * Z), abs=1e-12)  # 0.2775, the rule-of-three's cousin
    half = ss.proportion(5, 10)
    assert half.value == 0.5
    assert (half.low, half.high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    every = ss.proportion(10, 10)
    assert every.value == 1.0 and every.high == pytest.approx(1.0, abs=1e-12) and every.low == pytest.approx(1 - Z * Z / (10 + Z * Z), abs=1e-12)
    p = ss.proportion(3, 100)
    centre = (0.03 + Z * Z / 200) / (1 + Z * Z / 100)
    width = Z * math.sqrt(0.03 * 0.97 / 100 + Z * Z / 40000) / (1 + Z * Z / 100)
    assert (p.low, p.high) == (pytest.approx(centre - width, abs=1e-12), pytest.approx(centre + width, abs=1e-12))
    for bad in (0, -1):
        with pytest.raises(ValueError, match="^n must be positive$"):
            ss.proportion(0, bad)


# --------------------------------------------------------------------------------------------------
# the starting fund size, against a brute-force search


def _brute_required(values, weights, limit):
    candidates = sorted(set(values))
    for c in candidates:
        if sum(w for v, w in zip(values, weights) if v > c) < limit:
            return c
    raise AssertionError("no candidate")


@pytest.mark.parametrize("seed", range(12))
def test_the_required_start_is_the_smallest_amount_exceeded_with_probability_under_the_limit(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 150))
    values = rng.integers(0, 8, size=n) * 1000  # many ties
    for limit in (0.01, 0.05, 0.3, 1.0):
        expected = _brute_required(values.tolist(), [1 / n] * n, limit - 1e-12)
        assert ss.required_start(values, limit) == expected
    weights = rng.random(n)
    weights /= weights.sum()
    for limit in (0.01, 0.1, 0.5):
        assert ss.weighted_required_start(values, weights, limit) == _brute_required(values.tolist(), weights.tolist(), limit - 1e-12)


def test_the_required_start_on_hand_worked_samples():
    sample = np.array([0, 0, 5, 7] * 25 + [100])  # 101 scenarios: only the 100 may exceed (1 < 1.01)
    assert ss.required_start(sample, 0.01) == 7
    four = np.array([3, 9, 1, 4])
    assert ss.required_start(four, 0.25) == 9  # P(> 4) = 1/4 is not under 1/4
    assert ss.required_start(four, 0.26) == 4
    assert ss.required_start(four, 0.2501) == 4
    assert ss.required_start(four, 0.5) == 4  # P(> 3) = 2/4 is not under 1/2
    assert ss.required_start(four, 0.51) == 3
    assert ss.required_start(four, 0.2) == 9
    assert ss.required_start(four, 1.0) == 1  # P(> 1) = 3/4
    assert ss.required_start(four, 2.0) == 0  # no scenario counts: nothing needs to be held
    assert ss.required_start(four, 1.1) == 0  # the same just above 1, where ceil(n p) - 1 is n (required_start_13)
    w = np.array([0.1, 0.2, 0.3, 0.4])  # 3: 0.1, 9: 0.2, 1: 0.3, 4: 0.4
    assert ss.weighted_required_start(four, w, 0.2) == 9  # P(> 4) = 0.2 is not under 0.2
    assert ss.weighted_required_start(four, w, 0.21) == 4
    assert ss.weighted_required_start(four, w, 0.6) == 4  # P(> 3) = 0.2 + 0.4 = 0.6 is not under 0.6
    assert ss.weighted_required_start(four, w, 0.61) == 3
    assert ss.weighted_required_start(four, w, 0.71) == 1


# --------------------------------------------------------------------------------------------------
# weighted samples (M6b)


def test_normalised_weights_sum_to_one_whatever_the_offset():
    assert ss.normalised_weights(np.log(np.array([1.0, 3.0]))).tolist() == [0.25, 0.75]
    shifted = ss.normalised_weights(np.array([1000.0, 1000.0 + math.log(3.0)]))
    assert shifted == pytest.approx([0.25, 0.75], abs=1e-12)
    low = ss.normalised_weights(np.array([-1000.0, -1000.0 + math.log(3.0)]))
    assert low == pytest.approx([0.25, 0.75], abs=1e-12)
    assert ss.effective_sample_size(np.array([0.25, 0.75])) == pytest.approx(1.6, abs=1e-12)
    assert ss.effective_sample_size(np.full(8, 0.125)) == pytest.approx(8.0, abs=1e-12)


def test_weighted_measures_of_equal_weights_worked_by_hand():
    x = np.arange(1, 11)
    m = ss.weighted_measures(x, np.full(10, 0.1), levels=("0.8",))
    assert m.mean.value == pytest.approx(5.5, abs=1e-12)
    mean_half = Z * math.sqrt(0.01 * 82.5)  # sum (x - 5.5)^2 = 82.5
    assert (m.mean.low, m.mean.high) == (pytest.approx(5.5 - mean_half, abs=1e-12), pytest.approx(5.5 + mean_half, abs=1e-12))
    var = m.var["0.8"]
    assert var.value == 8.0
    # se of the CDF at 8: sqrt(0.01 (8 x 0.2^2 + 2 x 0.8^2)) = sqrt(0.016); 0.8 - 1.96 x 0.1265 = 0.552 -> x = 6
    assert var.low == 6.0 and var.high is None  # 0.8 + 0.248 passes 1
    es = m.es["0.8"]
    assert es.value == pytest.approx(9.5, abs=1e-12)
    # psi = 8 + (x - 8)^+ / 0.2 = 8 (eight times), 13, 18; sum (psi - 9.5)^2 = 8 x 2.25 + 12.25 + 72.25 = 102.5
    es_half = Z * math.sqrt(0.01 * 102.5)
    assert (es.low, es.high) == (pytest.approx(9.5 - es_half, abs=1e-12), pytest.approx(9.5 + es_half, abs=1e-12))


def test_weighted_measures_of_unequal_weights_in_any_order_worked_by_hand():
    x = np.array([4, 1, 3, 2])
    w = np.array([0.4, 0.1, 0.3, 0.2])  # sorted: 1 (0.1), 2 (0.2), 3 (0.3), 4 (0.4); cum 0.1, 0.3, 0.6, 1.0
    m = ss.weighted_measures(x, w, levels=("0.5", "0.25"))
    assert m.mean.value == pytest.approx(3.0, abs=1e-12)
    assert m.var["0.5"].value == 3.0 and m.var["0.25"].value == 2.0
    # ES_0.5: point 3 holds (0.5, 0.6], point 4 (0.6, 1.0]: (0.1 x 3 + 0.4 x 4) / 0.5
    assert m.es["0.5"].value == pytest.approx(3.8, abs=1e-12)
    # ES_0.25: 2 holds (0.25, 0.3], 3 (0.3, 0.6], 4 (0.6, 1]: (0.05 x 2 + 0.3 x 3 + 0.4 x 4) / 0.75
    assert m.es["0.25"].value == pytest.approx(2.6 / 0.75, abs=1e-12)
    # VaR_0.5's CDF se: sqrt(0.16 x 0.25 + 0.01 x 0.25 + 0.09 x 0.25 + 0.04 x 0.25) = sqrt(0.075) = 0.274
    se = math.sqrt(0.075)
    assert 0.5 - Z * se < 0 and 0.5 + Z * se > 1
    assert (m.var["0.5"].low, m.var["0.5"].high) == (None, None)
    mean_half = Z * math.sqrt(0.16 * 1 + 0.01 * 4 + 0.09 * 0 + 0.04 * 1)
    assert m.mean.high == pytest.approx(3.0 + mean_half, abs=1e-12)
    psi = 3 + np.maximum(np.array([4, 1, 3, 2]) - 3, 0) / 0.5  # 5, 3, 3, 3
    es_half = Z * math.sqrt(float(np.dot(w**2, (psi - 3.8) ** 2)))
    assert m.es["0.5"].low == pytest.approx(3.8 - es_half, abs=1e-12)


def test_a_weighted_var_interval_inside_the_sample():
    x = np.arange(1, 401)
    m = ss.weighted_measures(x, np.full(400, 1 / 400), levels=("0.5",))
    se = math.sqrt(400 * (1 / 400) ** 2 * 0.25)  # 0.025
    lo, hi = 0.5 - Z * se, 0.5 + Z * se  # 0.451, 0.549
    assert m.var["0.5"].value == 200.0
    assert m.var["0.5"].low == float(math.ceil(400 * lo - 1e-9))
    assert m.var["0.5"].high == float(math.ceil(400 * hi - 1e-9))


def test_weighted_mean_and_proportion():
    x, w = np.array([1.0, 2.0, 3.0, 4.0]), np.full(4, 0.25)
    e = ss.weighted_mean(x, w)
    half = Z * math.sqrt(0.0625 * 5.0)
    assert (e.value, e.low, e.high) == (2.5, pytest.approx(2.5 - half, abs=1e-12), pytest.approx(2.5 + half, abs=1e-12))
    hits = np.array([1] * 30 + [0] * 70)
    p = ss.weighted_proportion(hits, np.full(100, 0.01))
    half = Z * math.sqrt(1e-4 * (30 * 0.49 + 70 * 0.09))
    assert p.value == pytest.approx(0.3, abs=1e-12)
    assert (p.low, p.high) == (pytest.approx(0.3 - half, abs=1e-12), pytest.approx(0.3 + half, abs=1e-12))
    clipped = ss.weighted_proportion(np.array([1, 0, 0, 1]), np.array([0.1, 0.2, 0.3, 0.4]))
    assert (clipped.value, clipped.low, clipped.high) == (0.5, 0.0, 1.0)
    over = ss.weighted_proportion(np.array([1, 1]), np.array([0.5, 0.5 + 1e-9]))
    assert over.value == 1.0 and over.high == 1.0


# --------------------------------------------------------------------------------------------------
# JSON


@dataclass(frozen=True)
class _Plain:
    n: int
    label: str


def test_results_become_plain_json_values():
    est = ss.Estimate(1.5, None, 2.0)
    assert est.to_dict() == {"value": 1.5, "ci95": [None, 2.0]}
    assert est.half_width == math.inf and ss.Estimate(1.0, 0.5, 2.5).half_width == 1.0
    assert ss.Estimate(1.0, 0.5, None).half_width == math.inf
    m = ss.Measures(est, {"0.95": ss.Estimate(3.0, 2.0, 4.0)}, {"0.95": ss.Estimate(5.0, 4.0, 6.0)})
    assert m.to_dict() == {"mean": {"value": 1.5, "ci95": [None, 2.0]}, "var": {"0.95": {"value": 3.0, "ci95": [2.0, 4.0]}},
                           "es": {"0.95": {"value": 5.0, "ci95": [4.0, 6.0]}}}
    out = ss.to_jsonable({1: (np.int64(7), np.float64(2.5), np.array([1, 2])), "m": m, "p": _Plain(3, "x"),
                          "bad": [float("nan"), np.float64("inf"), -math.inf], "flag": np.bool_(True), "s": "text", "none": None})
    assert out == {"1": [7, 2.5, [1, 2]], "m": m.to_dict(), "p": {"n": 3, "label": "x"}, "bad": [None, None, None],
                   "flag": True, "s": "text", "none": None}
    assert type(out["1"][0]) is int and type(out["1"][1]) is float and type(out["flag"]) is bool
    assert [type(v) for v in out["1"][2]] == [int, int]
    assert ss.to_jsonable(np.float32(0.5)) == 0.5 and type(ss.to_jsonable(np.float32(0.5))) is float
    assert ss.to_jsonable(3) == 3 and type(ss.to_jsonable(3)) is int


# --------------------------------------------------------------------------------------------------
# survivors of the second run


def test_a_probability_of_one_trial_and_an_interval_that_never_leaves_zero_to_one():
    one = ss.proportion(1, 1)
    assert one.value == 1.0 and one.high == 1.0 and one.low == pytest.approx(1 / (1 + Z * Z), abs=1e-12)
    assert ss.proportion(0, 1).low == 0.0
    # the Wilson bounds of 16 of 16 (and 0 of 21) pass 1 (and 0) by a rounding error: clipped
    assert ss.proportion(16, 16).high == 1.0 and ss.proportion(40, 40).high == 1.0
    assert ss.proportion(0, 21).low == 0.0


def test_the_weighted_var_of_the_top_level_is_the_largest_point_and_its_interval_worked_by_hand():
    x = np.arange(1, 11)
    m = ss.weighted_measures(x, np.full(10, 0.1), levels=("0.95", "0.7"))
    assert m.var["0.95"].value == 10.0 == ss.measures(x, levels=("0.95",)).var["0.95"].value
    # a = 0.7, VaR 7: 1{x <= 7} - 0.7 is 0.3 for the seven points at or below it, -0.7 for the three above
    se = math.sqrt(0.01 * (7 * 0.09 + 3 * 0.49))  # sqrt(0.021) = 0.1449
    assert 0.7 - Z * se == pytest.approx(0.416, abs=1e-3) and 0.7 + Z * se == pytest.approx(0.984, abs=1e-3)
    assert (m.var["0.7"].value, m.var["0.7"].low, m.var["0.7"].high) == (7.0, 5.0, 10.0)


def test_the_weighted_required_start_defaults_to_one_percent_and_a_limit_above_one_takes_the_smallest_value():
    values = np.array([0, 0, 5, 7] * 25 + [100])
    w = np.full(101, 1 / 101)
    assert ss.weighted_required_start(values, w) == 7 == ss.weighted_required_start(values, w, 0.01)
    four, w4 = np.array([3, 9, 1, 4]), np.array([0.1, 0.2, 0.3, 0.4])
    assert ss.weighted_required_start(four, w4, 1.5) == 1  # P(> 1) = 0.7 < 1.5; no sample value is smaller


# --------------------------------------------------------------------------------------------------
# survivors of this session's full run


def test_the_es_tail_of_large_integers_is_summed_without_wrapping():
    # x = 0, 0, 2^62, 2^62, 2^62 at a = 0.4: m = floor(2) = 2, the first tail point weighs 3 - 2 = 1,
    # ES = (2^62 + 2^62 + 2^62) / (5 x 0.6) = 2^62; the tail's integer sum 2^63 would wrap int64
    x = np.array([0, 0, 2**62, 2**62, 2**62], dtype=np.int64)
    assert ss.expected_shortfall(x, "0.4") == pytest.approx(2.0**62, rel=1e-12)


def test_the_mean_interval_of_two_points():
    e = ss.mean_estimate(np.array([1, 3]))  # s = sqrt(2), half = 1.96 x sqrt(2) / sqrt(2)
    assert (e.value, e.low, e.high) == (2.0, pytest.approx(2.0 - Z, abs=1e-12), pytest.approx(2.0 + Z, abs=1e-12))


def test_a_sample_that_is_not_a_non_empty_row_is_refused_with_its_message():
    for x in (np.array([]), np.zeros((2, 2))):
        with pytest.raises(ValueError, match=r"^x must be a non-empty 1-d sample$"):
            ss.measures(x)


def test_a_var_interval_whose_lower_bound_is_the_smallest_point():
    # n = 10, a = 0.35: P(B = 0) = 0.65^10 = 1.3% < 2.5% <= P(B <= 1) = 8.6%, so j = 1: the lower bound is x_(1)
    assert _order_statistic_bounds(10, Fraction("0.35"))[0] == 1
    x = np.arange(1.0, 11.0)
    low, high = ss.var_interval(x, "0.35")
    assert low == 1.0 and high == x[_order_statistic_bounds(10, Fraction("0.35"))[1] - 1]


def test_measures_carry_both_bounds_of_the_var_interval():
    m = ss.measures(np.arange(10, 201, 10), levels=("0.5",))  # the textbook 6th and 15th of twenty
    assert (m.var["0.5"].value, m.var["0.5"].low, m.var["0.5"].high) == (100.0, 60.0, 150.0)
