"""M6b: the importance-sampling shift of the global factor, chosen from pilot runs (docs/rules.md
section 8).

Moved here from :mod:`risk.engine` (which re-exports every name, so ``from risk.engine import
choose_shift`` keeps working). The pilots run :func:`risk.engine.run_chunk` on a prepared book; the
engine module is imported inside the functions, so either module may be imported first.

>>> from risk.engine import oracle_prepared
>>> prep = oracle_prepared(n_loans=100, pd=0.02, rho=0.2, global_loading=1.0)
>>> choose_shift(prep, seed=1, pilot_scenarios=1000) < 0
True
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from risk.engine import Prepared

#: Spawn key of the pilot runs' stream (no chunk of a run reaches it).
PILOT_STREAM = 1 << 41
#: the pilots' first shift: small (weights near 1), but not 0, so that each scenario's mean factor
#: can be read off its weight
FIRST_PILOT_SHIFT = -0.1
#: the elite of a pilot: its scenarios at or beyond the quantile, and at least this many of its
#: largest (a level the pilot cannot see yet is reached over the rounds, as the shift moves the tail in)
MIN_TAIL_SCENARIOS = 30
#: a shift must keep at least this share of a sample effective (Kish): a yearly shift mu over H years
#: leaves exp(-H mu^2) of it, so long horizons take small yearly shifts
MIN_EFFECTIVE_SHARE = 0.1
#: pilot rounds: the first from FIRST_PILOT_SHIFT, each later one from the mean of the estimates so far
#: after the first (which, from near 0, sees the tail least), and the shift is that mean at the end
PILOT_ROUNDS = 4
#: a shift smaller than this is none
SHIFT_TOLERANCE = 0.05


#: a shift: one number for every year (M6b), or one number per year (our extension, docs/rules.md
#: section 8: ``[sampling] shift`` given as a list)
Shift = float | tuple[float, ...]


def year_shifts(shift: Shift, horizon: int) -> tuple[float, ...]:
    """The mean of each year's global factor under ``shift``: a number repeated ``horizon`` times,
    or the per-year tuple itself (its length must be the horizon).

    >>> year_shifts(-0.5, 3), year_shifts((-0.5, -0.25, 0.0), 3)
    ((-0.5, -0.5, -0.5), (-0.5, -0.25, 0.0))
    """
    return _by_year(shift, horizon, "shift")


def _by_year(value: Shift, horizon: int, what: str) -> tuple[float, ...]:
    """A number repeated ``horizon`` times, or the per-year tuple itself (its length the horizon)."""
    if isinstance(value, (tuple, list)):
        if len(value) != horizon:
            raise ValueError(f"a {what} per year must give {horizon} years, got {len(value)}")
        return tuple(float(s) for s in value)
    return (float(value),) * horizon


def year_scales(scale: Shift, horizon: int) -> tuple[float, ...]:
    """The spread (standard deviation) of each year's global factor under ``scale``: a number
    repeated ``horizon`` times, or the per-year tuple itself (its length must be the horizon).

    >>> year_scales(1.0, 2), year_scales((1.5, 1.0), 2)
    ((1.0, 1.0), (1.5, 1.0))
    """
    values = _by_year(scale, horizon, "spread")
    if not all(s > 0 for s in values):
        raise ValueError(f"every year's spread must be above 0, got {scale!r}")
    return values


def is_scaled(scale: Shift) -> bool:
    """True when some year's factor is drawn with a spread other than 1 (the sample is weighted).

    >>> is_scaled(1.0), is_scaled((1.0, 1.0)), is_scaled((1.0, 1.5))
    (False, False, True)
    """
    return _differs(scale, 1.0)


def _differs(value: Shift, neutral: float) -> bool:
    """True when some year's number (or the one number) is not ``neutral``."""
    if isinstance(value, (tuple, list)):
        return any(float(s) != neutral for s in value)
    return float(value) != neutral


def is_weighted(shift: Shift, scale: Shift = 1.0) -> bool:
    """True when the sampling law differs from M2's (a shift or a spread): the sample is weighted.

    >>> is_weighted(0.0), is_weighted(-0.3), is_weighted(0.0, (1.0, 1.2))
    (False, True, True)
    """
    return is_shifted(shift) or is_scaled(scale)


def is_shifted(shift: Shift) -> bool:
    """True when some year's factor is shifted (the sample is weighted).

    >>> is_shifted(0.0), is_shifted((0.0, 0.0)), is_shifted((0.0, -0.1)), is_shifted(-0.3)
    (False, False, True, True)
    """
    return _differs(shift, 0.0)


def normal_scale(scale: Shift) -> Shift:
    """One number when every year has the same spread, else the per-year tuple.

    >>> normal_scale((1.0, 1.0)), normal_scale([1.0, 1.5]), normal_scale(2)
    (1.0, (1.0, 1.5), 2.0)
    """
    return _one_or_by_year(scale, "spread")


def normal_shift(shift: Shift) -> Shift:
    """One number when every year has the same shift (so a list of equal numbers runs exactly as
    that number), else the per-year tuple; 0.0 when nothing is shifted.

    >>> normal_shift((-0.4, -0.4)), normal_shift([-0.4, -0.2]), normal_shift((0.0, 0.0)), normal_shift(-1)
    (-0.4, (-0.4, -0.2), 0.0, -1.0)
    """
    return _one_or_by_year(shift, "shift")


def _one_or_by_year(value: Shift, what: str) -> Shift:
    """One number when every year's is the same, else the per-year tuple (-0.0 read as 0.0)."""
    if isinstance(value, (tuple, list)):
        values = tuple(float(s) for s in value)
        if not values:
            raise ValueError(f"a {what} per year needs at least one year")
        if all(v == values[0] for v in values):
            return values[0] + 0.0   # -0.0 is 0.0
        return values
    return float(value) + 0.0


def sampling_text(shift: Shift, scale: Shift = 1.0, digits: int = 2) -> str:
    """The sampling law of the yearly global factors as people read it: the shift, and the spread
    when there is one.

    >>> sampling_text(-0.45), sampling_text((0.5, -1.2), (1.0, 1.6))
    ('shift -0.45', 'shift 0.50, -1.20 by year, spread 1.00, 1.60 by year')
    """
    text = f"shift {shift_text(shift, digits)}"
    if is_scaled(scale):
        scale = normal_scale(scale)
        spread = (", ".join(f"{s:.{digits}f}" for s in scale) + " by year") if isinstance(scale, tuple) \
            else f"{scale:.{digits}f}"
        text += f", spread {spread}"
    return text


def shift_text(shift: Shift, digits: int = 2) -> str:
    """The shift as people read it: ``-0.45``, or ``-0.60, -0.20 by year``.

    >>> shift_text(-0.45), shift_text((-0.6, -0.2)), shift_text(-0.45, 3)
    ('-0.45', '-0.60, -0.20 by year', '-0.450')
    """
    shift = normal_shift(shift)
    if isinstance(shift, tuple):
        return ", ".join(f"{s:.{digits}f}" for s in shift) + " by year"
    return f"{shift:.{digits}f}"


@dataclass(frozen=True)
class ShiftChoice:
    """What :func:`choose_shift_details` found: the shift (0: none) and why."""

    shift: float
    #: the pilots' shifts in order, each the next one's start
    path: tuple[float, ...]
    #: the largest shift allowed by :data:`MIN_EFFECTIVE_SHARE` over the horizon
    bound: float
    #: ``None``, or in plain words why no shift was taken
    reason: str | None = None
    #: the spread of each year's factor (1: none; :func:`choose_spread_details` only)
    scale: Shift = 1.0


def largest_shift(horizon: int) -> float:
    """The largest ``|mu|`` whose weights keep :data:`MIN_EFFECTIVE_SHARE` of a sample effective:
    ``exp(-H mu^2) = share``."""
    return math.sqrt(-math.log(MIN_EFFECTIVE_SHARE) / horizon)


def choose_shift_details(prep: Prepared, *, seed: int, pilot_scenarios: int = 2000,
                         level: str = "0.999") -> ShiftChoice:
    """M6b's automatic shift by the cross-entropy method. The shift that brings the sampling law of
    the yearly factors closest (Kullback-Leibler) to their law given the tail event is the tail's
    mean factor: ``mu = E[mean_k G_k | payout >= VaR]``. A pilot of ``pilot_scenarios`` scenarios
    with G ~ N(mu, 1) estimates it by the weighted mean of ``mean_k G_k`` over its elite (the
    scenarios at or beyond its weighted ``level`` quantile, and at least :data:`MIN_TAIL_SCENARIOS`
    of its largest, so a tail the pilot cannot see yet is approached in rounds); the estimate is the
    next pilot's shift; the shift is the mean of the estimates of the :data:`PILOT_ROUNDS` rounds
    after the first (each from the same law, so their mean is the less noisy one). The shift is
    bounded by :func:`largest_shift`: the weights keep :data:`MIN_EFFECTIVE_SHARE` of the sample
    effective. A shift smaller than the tolerance is
    none (0): the payout's tail does not come from low global factors (for example when B2's
    suspension line stops new coverage as losses grow), and a reason says so; likewise when the fund
    pays nothing in the pilot. Pilots draw from their own stream of the run's seed: the same
    inputs and seed give the same shift.
    """
    from risk.engine import run_chunk
    from risk.stress_stats import normalised_weights

    bound = largest_shift(prep.horizon)
    mu, path, estimates = max(FIRST_PILOT_SHIFT, -bound), [], []
    for round_ in range(PILOT_ROUNDS):
        path.append(mu)
        pilot_seed = np.random.SeedSequence(seed, spawn_key=(PILOT_STREAM, round_))
        chunk = run_chunk(dataclasses.replace(prep, shift=mu), pilot_seed, pilot_scenarios)
        x = chunk.fund_payout
        if not (x > 0).any():
            return ShiftChoice(0.0, tuple(path), bound, "the fund pays nothing in the pilot run")
        w = normalised_weights(chunk.log_weight)
        # log w = -mu sum_k G_k + H mu^2 / 2: each scenario's mean yearly factor
        mean_factor = (0.5 * prep.horizon * mu * mu - chunk.log_weight) / (prep.horizon * mu)
        elite = _elite(x, w, level)
        estimate = float(np.dot(w[elite], mean_factor[elite]) / w[elite].sum())
        estimates.append(min(0.0, max(estimate, -bound)))
        later = estimates[1:] or estimates
        mu = sum(later) / len(later)
        if abs(mu) < SHIFT_TOLERANCE:
            break
    if abs(mu) < SHIFT_TOLERANCE:
        return ShiftChoice(0.0, tuple(path), bound,
                           f"the fund payout's {level} tail does not come with low global factors "
                           f"(their mean there {mu:+.2f} a year): no shift")
    # two decimals, toward 0 (so never past the bound)
    return ShiftChoice(math.ceil(mu * 100) / 100, tuple(path), bound)


def choose_year_shifts_details(prep: Prepared, *, seed: int, pilot_scenarios: int = 2000,
                               level: str = "0.999") -> ShiftChoice:
    """A shift per simulated year by the cross-entropy method (our extension of M6b, docs/rules.md
    section 8). Over the family of laws with year ``k``'s factor from N(mu_k, 1), the one closest
    (Kullback-Leibler) to the factors' law given the tail event has ``mu_k = E[G_k | payout >=
    VaR]``: a tail that comes from bad early years (before B2's suspension line stops new coverage)
    gets its shift there. Pilots as :func:`choose_shift_details` (same stream, rounds, elite and
    first shift in every year), each year's estimate the elite's weighted mean of that year's drawn
    factor; the vector is bounded so the weights keep :data:`MIN_EFFECTIVE_SHARE` of a sample
    effective (``exp(-sum mu_k^2)``, scaled down as a whole when over) and each entry rounded toward
    0 to two decimals. ``shift`` is a tuple, or one number when every year's is the same; 0 (with a
    reason) as the single chooser when the fund pays nothing or no year's shift reaches
    :data:`SHIFT_TOLERANCE`. ``path`` holds each pilot's mean yearly shift.

    >>> from risk.engine import oracle_prepared
    >>> prep = oracle_prepared(n_loans=100, pd=0.02, rho=0.2, global_loading=1.0)
    >>> choose_year_shifts_details(prep, seed=1, pilot_scenarios=1000).shift < 0   # one year: one number
    True
    """
    from risk.engine import run_chunk
    from risk.stress_stats import normalised_weights

    H = prep.horizon
    bound = largest_shift(H)            # per year, when every year takes the same
    budget = -math.log(MIN_EFFECTIVE_SHARE)   # sum over years of mu_k^2
    mu = np.full(H, max(FIRST_PILOT_SHIFT, -bound))
    path, estimates = [], []
    for round_ in range(PILOT_ROUNDS):
        path.append(float(mu.mean()))
        pilot_seed = np.random.SeedSequence(seed, spawn_key=(PILOT_STREAM, round_))
        factors = np.empty((pilot_scenarios, H))
        chunk = run_chunk(dataclasses.replace(prep, shift=normal_shift(tuple(mu.tolist()))), pilot_seed,
                          pilot_scenarios, factors=factors)
        x = chunk.fund_payout
        if not (x > 0).any():
            return ShiftChoice(0.0, tuple(path), bound, "the fund pays nothing in the pilot run")
        w = normalised_weights(chunk.log_weight)
        elite = _elite(x, w, level)
        estimate = np.minimum(0.0, w[elite] @ factors[elite] / w[elite].sum())
        estimates.append(_within_budget(estimate, budget))
        later = estimates[1:] or estimates
        mu = _within_budget(np.mean(later, axis=0), budget)
        if np.abs(mu).max() < SHIFT_TOLERANCE:
            break
    if np.abs(mu).max() < SHIFT_TOLERANCE:
        return ShiftChoice(0.0, tuple(path), bound,
                           f"the fund payout's {level} tail does not come with low global factors in any year "
                           f"(their mean there at most {np.abs(mu).max():.2f} below 0): no shift")
    # two decimals, toward 0 (so never past the bound)
    return ShiftChoice(normal_shift(tuple(math.ceil(m * 100) / 100 for m in mu.tolist())), tuple(path), bound)


#: the spread chooser's law from the elite's weighted mean ``m_k`` and variance ``v_k`` of each
#: year's factor: mean ``SPREAD_MEAN_SHARE * m_k``, variance ``max(1, SPREAD_VARIANCE_FACTOR * v_k)``.
#: The cross-entropy optimum itself (``m_k``, ``v_k``) leaves the scenarios just outside the elite
#: with heavy weights; a law wider than M2's in every year (variance at least 1) keeps every weight
#: bounded. Chosen on the demo book's recession (simulations/README.md: estimated on 700,000 crude
#: scenarios over a grid of both numbers, then measured by replication).
SPREAD_MEAN_SHARE = 0.75
SPREAD_VARIANCE_FACTOR = 1.5


def second_moment_of_weights(shift: Shift, scale: Shift, horizon: int) -> float:
    """``E[w^2]`` under the sampling law (``E_p[p / q]``): per year ``s^2 / sqrt(2 s^2 - 1)
    exp(mu^2 / (2 s^2 - 1))`` for a factor from N(mu, s^2) (``exp(mu^2)`` at s = 1); its inverse is
    the share of a sample that stays effective (Kish). Infinite when some ``s^2 <= 1/2``.

    >>> round(second_moment_of_weights(-0.5, 1.0, 2), 4) == round(math.exp(0.5), 4)
    True
    """
    total = 1.0
    for mu, s in zip(year_shifts(shift, horizon), year_scales(scale, horizon)):
        d = 2 * s * s - 1
        if d <= 0:
            return math.inf
        total *= s * s / math.sqrt(d) * math.exp(mu * mu / d)
    return total


def _spread_law(mean: np.ndarray, variance: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """The law :data:`SPREAD_MEAN_SHARE` and :data:`SPREAD_VARIANCE_FACTOR` make of an elite's mean and
    variance, drawn in toward M2's (mean and log spread by one factor) until it keeps
    :data:`MIN_EFFECTIVE_SHARE` of a sample effective."""
    mu = SPREAD_MEAN_SHARE * mean
    log_s = 0.5 * np.log(np.maximum(1.0, SPREAD_VARIANCE_FACTOR * variance))
    limit = 1.0 / MIN_EFFECTIVE_SHARE
    factor, low, high = 1.0, 0.0, 1.0
    if second_moment_of_weights(tuple(mu), tuple(np.exp(log_s)), horizon) > limit:
        for _ in range(40):   # bisection on the factor (the moment grows with it)
            factor = 0.5 * (low + high)
            if second_moment_of_weights(tuple(factor * mu), tuple(np.exp(factor * log_s)), horizon) > limit:
                high = factor
            else:
                low = factor
        factor = low
    return factor * mu, np.exp(factor * log_s)


def choose_spread_details(prep: Prepared, *, seed: int, pilot_scenarios: int = 2000,
                          level: str = "0.999") -> ShiftChoice:
    """A shift and a spread per simulated year (our extension of M6b, docs/rules.md section 8): year
    ``k``'s global factor from N(mu_k, s_k^2), weighted by ``prod_k s_k exp(-G_k^2 / 2 + Z_k^2 / 2)``
    (``G_k = mu_k + s_k Z_k``). Under B2's suspension line the fund payout's tail is a mixture (bad
    years early stop new coverage, so the largest payouts come with good early years and one or more
    bad later ones, the bad year differing from scenario to scenario): the tail's factors are spread
    wider than M2's in the later years, which a shift alone cannot follow.

    Pilots as :func:`choose_year_shifts_details` (same stream, rounds and elite; the first from
    :data:`FIRST_PILOT_SHIFT` in every year and spread 1): each round estimates the elite's weighted
    mean and variance of each year's drawn factor; the law is made from the mean of the estimates
    after the first by :func:`_spread_law` (mean shrunk, variance inflated, at least 1, within
    :data:`MIN_EFFECTIVE_SHARE`) and is the next pilot's. Shifts are rounded toward 0 and spreads
    toward 1, to two decimals. No shift (with a reason) when the fund pays nothing in a pilot or the
    law is within :data:`SHIFT_TOLERANCE` of M2's in every year.

    >>> from risk.engine import oracle_prepared
    >>> prep = oracle_prepared(n_loans=100, pd=0.02, rho=0.2, global_loading=1.0)
    >>> choice = choose_spread_details(prep, seed=1, pilot_scenarios=1000)
    >>> choice.shift < 0, choice.scale >= 1
    (True, True)
    """
    from risk.engine import run_chunk
    from risk.stress_stats import normalised_weights

    H = prep.horizon
    mu, s = np.full(H, max(FIRST_PILOT_SHIFT, -largest_shift(H))), np.ones(H)
    path, means, variances = [], [], []
    for round_ in range(PILOT_ROUNDS):
        path.append(float(mu.mean()))
        pilot_seed = np.random.SeedSequence(seed, spawn_key=(PILOT_STREAM, round_))
        factors = np.empty((pilot_scenarios, H))
        chunk = run_chunk(dataclasses.replace(prep, shift=normal_shift(tuple(mu.tolist())),
                                              scale=normal_scale(tuple(s.tolist()))),
                          pilot_seed, pilot_scenarios, factors=factors)
        x = chunk.fund_payout
        if not (x > 0).any():
            return ShiftChoice(0.0, tuple(path), largest_shift(H), "the fund pays nothing in the pilot run")
        w = normalised_weights(chunk.log_weight)
        elite = _elite(x, w, level)
        we = w[elite] / w[elite].sum()
        mean = we @ factors[elite]
        means.append(mean)
        variances.append(we @ np.square(factors[elite] - mean))
        later = slice(1, None) if len(means) > 1 else slice(None)
        mu, s = _spread_law(np.mean(means[later], axis=0), np.mean(variances[later], axis=0), H)
    shift = tuple(math.copysign(math.floor(abs(m) * 100) / 100, m) + 0.0 for m in mu.tolist())
    scale = tuple(math.floor(v * 100) / 100 for v in s.tolist())
    if max(abs(m) for m in shift) < SHIFT_TOLERANCE and max(v - 1.0 for v in scale) < SHIFT_TOLERANCE:
        return ShiftChoice(0.0, tuple(path), largest_shift(H),
                           f"the fund payout's {level} tail comes with the global factors of M2 in every year "
                           "(neither shifted nor spread): no shift")
    return ShiftChoice(normal_shift(shift), tuple(path), largest_shift(H), scale=normal_scale(scale))


def _elite(x: np.ndarray, w: np.ndarray, level: str) -> np.ndarray:
    """A pilot's elite: the paying scenarios at or beyond its weighted ``level`` quantile, and at
    least :data:`MIN_TAIL_SCENARIOS` of its largest."""
    from risk.stress_stats import weighted_measures

    quantile = weighted_measures(x, w, levels=(level,)).var[level].value
    kth = float(np.sort(x)[-MIN_TAIL_SCENARIOS]) if x.size > MIN_TAIL_SCENARIOS else float(x.min())
    return (x >= min(quantile, kth)) & (x > 0)


def _within_budget(mu: np.ndarray, budget: float) -> np.ndarray:
    """``mu`` scaled down as a whole so that ``sum mu_k^2 <= budget``."""
    total = float(np.dot(mu, mu))
    return mu * math.sqrt(budget / total) if total > budget else mu


def choose_shift(prep: Prepared, *, seed: int, pilot_scenarios: int = 2000, level: str = "0.999") -> float:
    """M6b's automatic shift (0: none); :func:`choose_shift_details` says how it was found."""
    return choose_shift_details(prep, seed=seed, pilot_scenarios=pilot_scenarios, level=level).shift
