"""The result of a stress run (docs/rules.md M5) as one JSON-serialisable dataclass.

>>> from risk.engine import simulate_oracle_book
>>> sim = simulate_oracle_book(n_loans=200, pd=0.02, rho=0.15, n_scenarios=1000, seed=7)
>>> r = summarise(sim, scenario_name="oracle", bank_names=("bank-1",), inputs=None)
>>> sorted(r.to_dict()['total_loss_fen'])
['es', 'mean', 'var']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from risk.engine import Inputs, Simulation
from risk.importance import is_weighted, normal_scale, normal_shift
from risk.scenario import SECTORS
from risk.stress_stats import (
    Estimate, Measures, effective_sample_size, mean_estimate, measures, normalised_weights, proportion, required_start,
    to_jsonable, weighted_mean, weighted_measures, weighted_proportion, weighted_required_start,
)

MEASURED = ("total_loss_fen", "fund_payout_fen", "bank_share_fen", "insurer_share_fen", "recoveries_fen")
FAN_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class YearFigures:
    year: int
    fund_payout_mean_fen: Estimate
    fund_payout_var99_fen: float
    p_deferred_at_year_end: float
    cash_quantiles_fen: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"year": self.year, "mean": self.fund_payout_mean_fen.to_dict(),
                "var_0.99": self.fund_payout_var99_fen, "p_deferred_at_year_end": self.p_deferred_at_year_end,
                "net_cash_quantiles_fen": dict(self.cash_quantiles_fen)}


@dataclass(frozen=True)
class StressResult:
    scenario: str
    n_scenarios: int
    seed: int
    batch: int
    workers: int
    seconds: float
    measures: Mapping[str, Measures]
    fund_payout_by_year: tuple[YearFigures, ...]
    p_deferral: Estimate
    p_bank_cap_hit: Estimate
    required_fund_fen: int
    defaults_mean: Estimate
    by_bank: Mapping[str, Mapping[str, float]]
    by_sector: Mapping[str, Mapping[str, float]]
    inputs: Inputs | None = None
    notes: tuple[str, ...] = field(default=())
    #: B2: the probability that some bank is suspended during the horizon
    p_bank_suspended: Estimate | None = None
    #: M6b: the global factor's shift (0: crude Monte Carlo; a tuple: one per year) and the weights'
    #: effective sample size
    sampling_shift: float | tuple[float, ...] = 0.0
    effective_scenarios: float | None = None
    #: the spread of each year's global factor (1: M2's; our extension of M6b, docs/rules.md section 8)
    sampling_scale: float | tuple[float, ...] = 1.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scenario": self.scenario}
        for name in MEASURED:
            out[name] = self.measures[name].to_dict()
        out.update({
            "fund_payout_by_year_fen": [y.to_dict() for y in self.fund_payout_by_year],
            "fund_cash_by_year_fen": [{"year": y.year, **y.cash_quantiles_fen} for y in self.fund_payout_by_year],
            "p_deferral": self.p_deferral.to_dict(),
            "p_bank_cap_hit": self.p_bank_cap_hit.to_dict(),
            "p_bank_suspended": self.p_bank_suspended.to_dict() if self.p_bank_suspended is not None else None,
            "required_fund_fen": self.required_fund_fen,
            "defaults": self.defaults_mean.to_dict(),
            "by_bank": {k: dict(v) for k, v in self.by_bank.items()},
            "by_sector": {k: dict(v) for k, v in self.by_sector.items()},
            "inputs": to_jsonable(self.inputs) if self.inputs is not None else None,
            "seed": self.seed,
            "n_scenarios": self.n_scenarios,
            "batch": self.batch,
            "workers": self.workers,
            "sampling": {"method": "importance" if is_weighted(self.sampling_shift, self.sampling_scale) else "crude",
                         "shift": self.sampling_shift, "scale": self.sampling_scale,
                         "effective_scenarios": self.effective_scenarios},
            "timing": {"seconds": round(self.seconds, 3),
                       "loan_scenario_years_per_second": self._rate()},
            "notes": list(self.notes),
        })
        return to_jsonable(out)

    def _rate(self) -> float | None:
        if self.inputs is None or self.seconds <= 0:
            return None
        return self.inputs.n_loans * self.inputs.horizon_years * self.n_scenarios / self.seconds


def summarise(sim: Simulation, *, scenario_name: str, bank_names: tuple[str, ...], inputs: Inputs | None,
              deferred_today_fen: int = 0) -> StressResult:
    """M5 figures of a simulation; under importance sampling (M6b) the self-normalised weighted
    estimators of :mod:`risk.stress_stats`."""
    n = sim.n_scenarios
    weighted = is_weighted(sim.shift, sim.scale)
    w = normalised_weights(sim.log_weight) if weighted else None
    samples = {
        "total_loss_fen": sim.total_loss, "fund_payout_fen": sim.fund_payout, "bank_share_fen": sim.bank_share,
        "insurer_share_fen": sim.insurer_share, "recoveries_fen": sim.recoveries,
    }
    years = []
    for k in range(sim.horizon):
        payout = sim.payout_by_year[:, k]
        net = sim.net_by_year[:, k]
        if weighted:
            m = weighted_measures(payout, w, levels=("0.99",))
            q = [weighted_measures(net, w, levels=(f"{a:g}",)).var[f"{a:g}"].value for a in FAN_QUANTILES]
            years.append(YearFigures(
                year=k + 1, fund_payout_mean_fen=m.mean, fund_payout_var99_fen=m.var["0.99"].value,
                p_deferred_at_year_end=float(np.dot(w, net < 0)),
                cash_quantiles_fen={f"p{int(round(a * 100)):02d}": float(v) for a, v in zip(FAN_QUANTILES, q)},
            ))
            continue
        q = np.quantile(net.astype(np.float64), FAN_QUANTILES)
        years.append(YearFigures(
            year=k + 1,
            fund_payout_mean_fen=mean_estimate(payout),
            fund_payout_var99_fen=float(np.sort(payout)[max(0, -(-n * 99 // 100) - 1)]),
            p_deferred_at_year_end=float((net < 0).mean()),
            cash_quantiles_fen={f"p{int(round(a * 100)):02d}": float(v) for a, v in zip(FAN_QUANTILES, q)},
        ))
    by_bank = {
        name: {"expected_fund_payout_fen": float(sim.payout_by_bank[i] / n),
               "expected_loss_fen": float(sim.loss_by_bank[i] / n)}
        for i, name in enumerate(bank_names)
    }
    by_sector = {
        name: {"expected_fund_payout_fen": float(sim.payout_by_sector[i] / n),
               "expected_loss_fen": float(sim.loss_by_sector[i] / n),
               "expected_defaults": float(sim.defaults_by_sector[i] / n)}
        for i, name in enumerate(SECTORS)
    }
    if weighted:
        figures = {name: weighted_measures(x, w) for name, x in samples.items()}
        p_deferral = weighted_proportion(sim.deferred_any_year, w)
        p_cap = weighted_proportion(sim.cap_hit, w)
        p_suspended = weighted_proportion(sim.suspended, w)
        required = weighted_required_start(sim.required_net_start, w)
        defaults = weighted_mean(sim.n_defaults, w)
    else:
        figures = {name: measures(x) for name, x in samples.items()}
        p_deferral = proportion(int(sim.deferred_any_year.sum()), n)
        p_cap = proportion(int(sim.cap_hit.sum()), n)
        p_suspended = proportion(int(sim.suspended.sum()), n)
        required = required_start(sim.required_net_start)
        defaults = mean_estimate(sim.n_defaults)
    notes = [
        "required_fund_fen: the smallest cash today (with today's deferred compensation owed) that keeps "
        "p_deferral under 1% in this sample",
        "ES intervals: influence-function normal interval; VaR intervals: order-statistic binomial interval",
        "A3 caps reset per simulated year (as-of anniversaries), not per calendar year",
    ]
    if weighted:
        notes[1] = ("importance sampling (M6b): self-normalised weighted estimators; every interval from the "
                    "estimator's influence function over the weighted sample; by-bank and by-sector figures weighted "
                    "by the likelihood ratio")
    return StressResult(
        scenario=scenario_name, n_scenarios=n, seed=sim.seed, batch=sim.batch, workers=sim.workers,
        seconds=sim.seconds,
        measures=figures,
        fund_payout_by_year=tuple(years),
        p_deferral=p_deferral,
        p_bank_cap_hit=p_cap,
        required_fund_fen=required + deferred_today_fen,
        defaults_mean=defaults,
        by_bank=by_bank, by_sector=by_sector, inputs=inputs,
        notes=tuple(notes),
        p_bank_suspended=p_suspended,
        sampling_shift=normal_shift(sim.shift), sampling_scale=normal_scale(sim.scale),
        effective_scenarios=effective_sample_size(w) if weighted else float(n),
    )


def convergence_points(sim: Simulation, figure: str, kind: str, level: str, *, points: int = 24) -> list[tuple]:
    """``(n, estimate, low, high)`` of one figure's VaR or ES on the first ``n`` scenarios, for ``n``
    on a geometric grid up to the whole run (the tail-convergence plot)."""
    x = getattr(sim, figure)
    total = sim.n_scenarios
    start = min(total, 100)
    grid = sorted({int(v) for v in np.geomspace(start, total, points)} | {total})
    out = []
    for n in grid:
        if is_weighted(sim.shift, sim.scale):
            m = weighted_measures(x[:n], normalised_weights(sim.log_weight[:n]), levels=(level,))
        else:
            m = measures(x[:n], levels=(level,))
        e = (m.es if kind == "es" else m.var)[level]
        out.append((n, e.value, e.low, e.high))
    return out
