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
    if isinstance(shift, (tuple, list)):
        if len(shift) != horizon:
            raise ValueError(f"a shift per year must give {horizon} years, got {len(shift)}")
        return tuple(float(s) for s in shift)
    return (float(shift),) * horizon


def is_shifted(shift: Shift) -> bool:
    """True when some year's factor is shifted (the sample is weighted).

    >>> is_shifted(0.0), is_shifted((0.0, 0.0)), is_shifted((0.0, -0.1)), is_shifted(-0.3)
    (False, False, True, True)
    """
    if isinstance(shift, (tuple, list)):
        return any(float(s) != 0.0 for s in shift)
    return float(shift) != 0.0


def normal_shift(shift: Shift) -> Shift:
    """One number when every year has the same shift (so a list of equal numbers runs exactly as
    that number), else the per-year tuple; 0.0 when nothing is shifted.

    >>> normal_shift((-0.4, -0.4)), normal_shift([-0.4, -0.2]), normal_shift((0.0, 0.0)), normal_shift(-1)
    (-0.4, (-0.4, -0.2), 0.0, -1.0)
    """
    if isinstance(shift, (tuple, list)):
        values = tuple(float(s) for s in shift)
        if not values:
            raise ValueError("a shift per year needs at least one year")
        if all(v == values[0] for v in values):
            return values[0] + 0.0   # -0.0 is 0.0
        return values
    return float(shift) + 0.0


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
