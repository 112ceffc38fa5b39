"""Statistics of a stress run (docs/rules.md M5): mean, VaR and ES with 95% confidence intervals, and the
fund-level figures. Results are small frozen dataclasses with ``to_dict()`` for JSON.

Definitions, over a sample ``x_(1) <= ... <= x_(n)``:

* ``VaR_a`` is the smallest x with ``P(X <= x) >= a`` under the empirical law: ``x_(ceil(n a))``.
* ``ES_a = 1/(1-a) * integral_a^1 VaR_u du`` (Acerbi-Tasche) under the empirical law, with
  ``m = floor(n a)``: ``(x_(m+1) ((m+1) - n a) + sum_{i>m+1} x_(i)) / (n (1-a))``.

95% intervals:

* VaR: the distribution-free order-statistic interval ``[x_(j), x_(k)]``, ``j`` and ``k`` from the
  Binomial(n, a) law of the number of sample points at or below the true quantile, each tail at
  most 2.5% (``None`` where the sample is too small to give a bound).
* ES: the normal interval from its influence function, ``ES +/- 1.96 sqrt(Var((X - VaR)^+) / n) / (1-a)``
  (the asymptotic law of the Acerbi-Tasche estimator; no random numbers, so it is reproducible).
* mean: ``mean +/- 1.96 s / sqrt(n)``.
* probabilities: Wilson score interval.

>>> import numpy as np
>>> m = measures(np.arange(1, 1001))
>>> m.var["0.99"].value, m.es["0.99"].value
(990.0, 995.5)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, Mapping

import numpy as np
from scipy import stats

LEVELS = ("0.95", "0.99", "0.999")
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A figure with its 95% confidence interval (``None``: no bound from this sample)."""

    value: float
    low: float | None
    high: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci95": [self.low, self.high]}

    @property
    def half_width(self) -> float:
        if self.low is None or self.high is None:
            return math.inf
        return (self.high - self.low) / 2


@dataclass(frozen=True)
class Measures:
    mean: Estimate
    var: Mapping[str, Estimate]
    es: Mapping[str, Estimate]

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean.to_dict(),
            "var": {a: e.to_dict() for a, e in self.var.items()},
            "es": {a: e.to_dict() for a, e in self.es.items()},
        }


def _level(a: str | float) -> Fraction:
    level = Fraction(str(a))
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {a}")
    return level


def var_index(n: int, a: str | float) -> int:
    """0-based index of ``VaR_a`` in the sorted sample: ``ceil(n a) - 1``."""
    return max(0, math.ceil(n * _level(a)) - 1)


def value_at_risk(sorted_x: np.ndarray, a: str | float) -> float:
    return float(sorted_x[var_index(sorted_x.size, a)])


def expected_shortfall(sorted_x: np.ndarray, a: str | float) -> float:
    """Acerbi-Tasche ES of the empirical law (see the module docstring)."""
    n = sorted_x.size
    level = _level(a)
    m = math.floor(n * level)
    if m >= n:
        return float(sorted_x[-1])
    first_weight = float((m + 1) - n * level)
    tail = float(np.sum(sorted_x[m + 1:], dtype=np.float64))
    return (float(sorted_x[m]) * first_weight + tail) / float(n * (1 - level))


def var_interval(sorted_x: np.ndarray, a: str | float, confidence: float = 0.95) -> tuple[float | None, float | None]:
    """Order-statistic interval ``[x_(j), x_(k)]`` (1-based) with ``P(B < j) <= 2.5%`` and
    ``P(B >= k) <= 2.5%``, ``B ~ Binomial(n, a)``."""
    n = sorted_x.size
    level = float(_level(a))
    tail = (1 - confidence) / 2
    j = int(stats.binom.ppf(tail, n, level))          # P(B <= j - 1) < tail
    k = int(stats.binom.ppf(1 - tail, n, level)) + 1  # P(B >= k) <= tail
    low = float(sorted_x[j - 1]) if j >= 1 else None
    high = float(sorted_x[k - 1]) if k <= n else None
    return low, high


def es_interval(sorted_x: np.ndarray, a: str | float, es: float, var: float) -> tuple[float, float]:
    n = sorted_x.size
    level = float(_level(a))
    excess = np.maximum(sorted_x.astype(np.float64) - var, 0.0)
    sd = float(np.std(excess)) / (1 - level)
    half = Z95 * sd / math.sqrt(n)
    return es - half, es + half


def mean_estimate(x: np.ndarray) -> Estimate:
    n = x.size
    values = x.astype(np.float64)
    mean = float(values.mean())
    half = Z95 * float(values.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf
    return Estimate(mean, mean - half, mean + half)


def measures(x: np.ndarray, levels: tuple[str, ...] = LEVELS) -> Measures:
    """Mean, VaR and ES at ``levels``, each with its 95% interval."""
    x = np.asarray(x)
    if x.ndim != 1 or x.size == 0:
        raise ValueError("x must be a non-empty 1-d sample")
    sorted_x = np.sort(x)
    var, es = {}, {}
    for a in levels:
        v = value_at_risk(sorted_x, a)
        low, high = var_interval(sorted_x, a)
        var[a] = Estimate(v, low, high)
        e = expected_shortfall(sorted_x, a)
        elow, ehigh = es_interval(sorted_x, a, e, v)
        es[a] = Estimate(e, elow, ehigh)
    return Measures(mean_estimate(x), var, es)


def proportion(hits: int, n: int) -> Estimate:
    """A probability with its Wilson score interval."""
    if n <= 0:
        raise ValueError("n must be positive")
    p = hits / n
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half))


def required_start(required_per_scenario: np.ndarray, max_probability: float = 0.01) -> int:
    """The smallest starting amount ``c`` with ``P(required > c) < max_probability`` under the
    sample: the ``j+1``-th largest value, ``j`` the most scenarios allowed to exceed it.

    >>> required_start(np.array([0, 0, 5, 7] * 25 + [100]), 0.01)
    7
    """
    r = np.sort(np.asarray(required_per_scenario))[::-1]
    n = r.size
    allowed = math.ceil(max_probability * n) - 1   # strictly fewer than max_probability * n exceed
    if allowed >= n:
        return 0
    return int(r[max(allowed, 0)])


def to_jsonable(value: Any) -> Any:
    """Dataclasses, numpy scalars and arrays as plain JSON values."""
    if hasattr(value, "to_dict"):
        return to_jsonable(value.to_dict())
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if hasattr(value, "__dataclass_fields__"):
        return to_jsonable(asdict(value))
    return value


# --------------------------------------------------------------------------------------------------
# weighted samples (M6b importance sampling): self-normalised estimators


def normalised_weights(log_weight: np.ndarray) -> np.ndarray:
    """Self-normalised weights (summing to 1) from per-scenario log likelihood ratios.

    >>> normalised_weights(np.log(np.array([1.0, 3.0]))).tolist()
    [0.25, 0.75]
    """
    lw = np.asarray(log_weight, dtype=np.float64)
    w = np.exp(lw - lw.max())
    return w / w.sum()


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size of normalised weights."""
    return float(1.0 / np.sum(np.square(weights)))


def _weighted_quantile(sorted_x: np.ndarray, cum: np.ndarray, level: float) -> float:
    """The smallest x with weighted P(X <= x) >= level."""
    i = int(np.searchsorted(cum, level - 1e-15, side="left"))
    return float(sorted_x[min(i, sorted_x.size - 1)])


def weighted_measures(x: np.ndarray, weights: np.ndarray, levels: tuple[str, ...] = LEVELS) -> Measures:
    """Mean, VaR and ES at ``levels`` of a weighted sample (weights summing to 1), each with a 95%
    interval from its influence function (delta method for self-normalised estimators):

    * mean: ``sqrt(sum w_i^2 (x_i - mean)^2)``;
    * VaR_a: the CDF's interval at the VaR, ``a +/- 1.96 sqrt(sum w_i^2 (1{x_i <= VaR} - a)^2)``,
      mapped back through the weighted quantile (``None`` where it passes 1 or 0);
    * ES_a (Acerbi-Tasche on the weighted law): ``psi_i = VaR + (x_i - VaR)^+ / (1-a)``,
      ``sqrt(sum w_i^2 (psi_i - ES)^2)``.

    With equal weights the point estimates are those of :func:`measures`.

    >>> m = weighted_measures(np.arange(1, 1001), np.full(1000, 1e-3))
    >>> m.var["0.99"].value, round(m.es["0.99"].value, 6)
    (990.0, 995.5)
    """
    x = np.asarray(x)
    w = np.asarray(weights, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    sx = x[order].astype(np.float64)
    sw = w[order]
    cum = np.cumsum(sw)
    cum /= cum[-1]
    w2 = np.square(w)
    xf = x.astype(np.float64)
    mean = float(np.dot(w, xf))
    half = Z95 * math.sqrt(float(np.dot(w2, np.square(xf - mean))))
    var, es = {}, {}
    previous = np.concatenate(([0.0], cum[:-1]))
    for a in levels:
        level = float(_level(a))
        v = _weighted_quantile(sx, cum, level)
        se = math.sqrt(float(np.dot(w2, np.square((xf <= v) - level))))
        lo_level, hi_level = level - Z95 * se, level + Z95 * se
        low = _weighted_quantile(sx, cum, lo_level) if lo_level > 0 else None
        high = _weighted_quantile(sx, cum, hi_level) if hi_level < cum[-1] - 1e-12 else None
        var[a] = Estimate(v, low, high)
        # integral of VaR_u over u in [a, 1]: each sorted point holds the mass (previous, cum] above a
        mass = np.clip(cum, level, 1.0) - np.clip(previous, level, 1.0)
        e = float(np.dot(mass, sx)) / (1.0 - level)
        psi = v + np.maximum(xf - v, 0.0) / (1.0 - level)
        ehalf = Z95 * math.sqrt(float(np.dot(w2, np.square(psi - e))))
        es[a] = Estimate(e, e - ehalf, e + ehalf)
    return Measures(Estimate(mean, mean - half, mean + half), var, es)


def weighted_mean(x: np.ndarray, weights: np.ndarray) -> Estimate:
    xf = np.asarray(x, dtype=np.float64)
    mean = float(np.dot(weights, xf))
    half = Z95 * math.sqrt(float(np.dot(np.square(weights), np.square(xf - mean))))
    return Estimate(mean, mean - half, mean + half)


def weighted_proportion(hits: np.ndarray, weights: np.ndarray) -> Estimate:
    """A probability from a weighted sample with its normal interval, clipped to [0, 1]."""
    h = np.asarray(hits, dtype=np.float64)
    p = min(1.0, float(np.dot(weights, h)))
    half = Z95 * math.sqrt(float(np.dot(np.square(weights), np.square(h - p))))
    return Estimate(p, max(0.0, p - half), min(1.0, p + half))


def weighted_required_start(required_per_scenario: np.ndarray, weights: np.ndarray, max_probability: float = 0.01) -> int:
    """The smallest starting amount ``c`` with weighted ``P(required > c) < max_probability``."""
    r = np.asarray(required_per_scenario)
    order = np.argsort(-r, kind="stable")
    tail = np.cumsum(weights[order])       # weight of the scenarios needing at least r[order[j]]
    j = int(np.searchsorted(tail, max_probability - 1e-15, side="left"))  # first position reaching the limit
    return int(r[order[min(j, r.size - 1)]])
