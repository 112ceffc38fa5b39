"""Outputs of a stress run for people: PNG plots (matplotlib, Agg) and a Markdown report.

``render_outputs(result, sim)`` renders them in memory (``{file name: bytes}``: ``result.json``, the
PNG plots of :data:`PLOTS` and ``report.md``); ``write_outputs(result, sim, out_dir)`` writes them.
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import numpy as np

from fund.domain.money import yuan
from risk.engine import Simulation
from risk.stress_result import MEASURED, StressResult

#: matplotlib's pyplot is not thread-safe: runners in one process draw one figure set at a time
_DRAWING = threading.RLock()

PLOTS = ("loss_histogram.png", "exceedance.png", "fund_cash_fan.png", "tail_convergence.png")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _million_yuan(fen: np.ndarray | float) -> np.ndarray | float:
    return np.asarray(fen, dtype=np.float64) / 1e8


def _png(fig) -> bytes:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _fund_var_lines(ax, result: StressResult) -> None:
    for level, style in (("0.99", "--"), ("0.999", ":")):
        v = result.measures["fund_payout_fen"].var[level].value
        ax.axvline(_million_yuan(v), color="#dd8452", linestyle=style, label=f"fund payout VaR {level}")


def plot_loss_histogram(sim: Simulation, result: StressResult) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(_million_yuan(sim.total_loss), bins=80, color="#4c72b0", alpha=0.8, label="gross loss")
    ax.hist(_million_yuan(sim.fund_payout), bins=80, color="#dd8452", alpha=0.7, label="fund payout")
    for level, style in (("0.99", "--"), ("0.999", ":")):
        v = result.measures["total_loss_fen"].var[level].value
        ax.axvline(_million_yuan(v), color="#4c72b0", linestyle=style, label=f"loss VaR {level}")
    _fund_var_lines(ax, result)
    ax.set_xlabel("million yuan over the horizon")
    ax.set_ylabel("scenarios")
    ax.set_title(f"{result.scenario}: loss distribution ({result.n_scenarios:,} scenarios)")
    ax.legend(fontsize=8)
    return _png(fig)


def plot_exceedance(sim: Simulation, result: StressResult) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    n = sim.n_scenarios
    for values, label in ((sim.total_loss, "gross loss"), (sim.fund_payout, "fund payout")):
        x = np.sort(_million_yuan(values))
        exceed = 1.0 - np.arange(1, n + 1) / n
        ax.step(x[:-1], exceed[:-1], where="post", label=label)
    _fund_var_lines(ax, result)
    ax.set_yscale("log")
    ax.set_ylim(max(1.0 / n, 1e-5), 1.0)
    ax.set_xlabel("million yuan over the horizon")
    ax.set_ylabel("P(X > x)")
    ax.set_title(f"{result.scenario}: exceedance curve")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def plot_cash_fan(sim: Simulation, result: StressResult) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    years = np.arange(0, sim.horizon + 1)
    paths = np.concatenate([np.full((sim.n_scenarios, 1), sim.net0), sim.net_by_year], axis=1)
    q = np.quantile(_million_yuan(paths), [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99], axis=0)
    ax.fill_between(years, q[0], q[6], color="#55a868", alpha=0.15, label="1-99%")
    ax.fill_between(years, q[1], q[5], color="#55a868", alpha=0.25, label="5-95%")
    ax.fill_between(years, q[2], q[4], color="#55a868", alpha=0.45, label="25-75%")
    ax.plot(years, q[3], color="#2d6a3e", label="median")
    ax.axhline(0, color="#c44e52", linewidth=1, label="below 0: compensation deferred")
    ax.set_xlabel("year end")
    ax.set_ylabel("pool cash - deferred, million yuan")
    ax.set_title(f"{result.scenario}: compensation pool paths")
    ax.legend(fontsize=8)
    return _png(fig)


def plot_tail_convergence(sim: Simulation, result: StressResult) -> bytes:
    """The fund payout's 99.9% ES and 99% VaR with their 95% intervals on the first n scenarios,
    n growing to the whole run: where the band still narrows, more scenarios would change the tail."""
    from risk.stress_result import convergence_points

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for level, kind, colour in (("0.999", "es", "#c44e52"), ("0.99", "var", "#4c72b0")):
        points = convergence_points(sim, "fund_payout", kind, level)
        n = np.array([p[0] for p in points])
        value = _million_yuan(np.array([p[1] for p in points]))
        low = _million_yuan(np.array([np.nan if p[2] is None else p[2] for p in points], dtype=np.float64))
        high = _million_yuan(np.array([np.nan if p[3] is None else p[3] for p in points], dtype=np.float64))
        ax.plot(n, value, color=colour, label=f"fund payout {kind.upper()} {level}")
        ax.fill_between(n, low, high, color=colour, alpha=0.2, label="95% interval")
    ax.set_xscale("log")
    ax.set_xlabel("scenarios")
    ax.set_ylabel("million yuan over the horizon")
    ax.set_title(f"{result.scenario}: tail estimates against the number of scenarios")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def _cell(e) -> str:
    text = yuan(int(round(e.value)))
    if e.low is None and e.high is None:
        return text
    low = "?" if e.low is None else yuan(int(round(e.low)))
    high = "?" if e.high is None else yuan(int(round(e.high)))
    return f"{text} ({low} to {high})"


def warnings_of(result: StressResult) -> list[str]:
    """Plain warnings a reader must see before the figures."""
    out = []
    i = result.inputs
    if i is not None and i.n_loans == 0:
        out.append("The book is empty: no live covered loans on the as-of date; every figure below is zero.")
    if all(result.measures[name].mean.value == 0 and result.measures[name].var["0.999"].value == 0 for name in MEASURED):
        out.append("Every figure is zero: no scenario had a default (check the book, its dates and the PDs).")
    if result.measures["fund_payout_fen"].var["0.999"].high is None:
        out.append("The fund payout's 99.9% VaR has no upper bound from this sample: run more scenarios "
                   "(or importance sampling, [sampling] method = \"importance\").")
    return out


def markdown_report(result: StressResult) -> str:
    """The report: warnings, inputs and assumptions, every figure with its 95% interval, ES at
    95/99/99.9%, the fund by year, sectors and banks."""
    lines = [f"# Stress test: {result.scenario}", ""]
    for warning in warnings_of(result):
        lines += [f"> **Warning:** {warning}", ""]
    if result.inputs is not None:
        i = result.inputs
        lines += [
            f"As of {i.as_of}, {i.horizon_years} years, {i.n_loans:,} live covered loans of {i.n_banks} banks "
            f"under {', '.join(i.policies)}; {result.n_scenarios:,} scenarios, seed {result.seed}, batch {result.batch}.",
            f"Pool cash today {yuan(i.fund_cash_fen)} yuan, deferred {yuan(i.fund_deferred_fen)} yuan; "
            f"appropriation by year {', '.join(yuan(a) for a in i.appropriation_fen)} yuan.",
            f"Scenario: {i.scenario.get('description', '')}",
            "",
            "## Assumptions used",
            "",
        ]
        sc = i.scenario
        coll = sc.get("collateral", {})
        lines += [
            f"* Defaults: {sc.get('copula')} copula, asset correlation {sc.get('asset_correlation')}, global loading "
            f"{sc.get('global_loading')}, PD multiplier {sc.get('pd_multiplier')}"
            + (f", by sector {sc.get('sector_pd_multiplier')}" if sc.get("sector_pd_multiplier") else "") + ".",
            "* Sector PDs (" + (i.sector_pd_assumptions or "placeholders") + "): "
            + ", ".join(f"{k} {v:.2%}" for k, v in i.sector_pd.items()) + ".",
            "* IP invalidation probabilities by kind: "
            + ", ".join(f"{k} {v / 100:.1f}%" for k, v in i.invalidation_probability_bp.items())
            + f", times {coll.get('invalidation_multiplier')}.",
            f"* Collateral: value x {coll.get('value_multiplier')}, liquidation haircut {coll.get('liquidation_haircut')}, "
            f"volatility {coll.get('volatility')}, recovery after {coll.get('recovery_lag_years')} years.",
            f"* New lending (M1b): {yuan(i.new_lending_fen)} yuan of covered principal a year"
            + (f", growth {sc['new_lending']['growth']:.1%}" if sc.get("new_lending", {}).get("growth") else "")
            + f"; new loans by year {', '.join(f'{n:,}' for n in i.new_loans_by_year)}.",
            f"* After the last policy ends: {sc.get('fund', {}).get('after_policy_end', 'continue')} "
            "(continue: a successor on the same terms is assumed).",
            f"* Sampling: {sc.get('sampling', {}).get('method', 'crude')}"
            + (f", global-factor shift {result.sampling_shift:.3f}" if result.sampling_shift else "") + ".",
        ]
        if sc.get("policy_override"):
            lines.append(f"* Policy what-if: {sc['policy_override']}.")
        lines.append("")
    lines += ["## Figures (yuan; 95% interval in brackets, ? where the sample gives no bound)", ""]
    lines += ["| figure | mean | VaR 95% | VaR 99% | VaR 99.9% |", "| --- | ---: | ---: | ---: | ---: |"]
    for name in MEASURED:
        m = result.measures[name]
        lines.append(f"| {name.removesuffix('_fen')} | " + " | ".join(
            _cell(e) for e in (m.mean, m.var["0.95"], m.var["0.99"], m.var["0.999"])) + " |")
    lines += ["", "| figure | ES 95% | ES 99% | ES 99.9% |", "| --- | ---: | ---: | ---: |"]
    for name in MEASURED:
        m = result.measures[name]
        lines.append(f"| {name.removesuffix('_fen')} | " + " | ".join(_cell(m.es[a]) for a in ("0.95", "0.99", "0.999")) + " |")
    lines += [
        "",
        f"* Probability that compensation is deferred at some year end: {result.p_deferral.value:.2%} "
        f"(95% CI {result.p_deferral.low:.2%} to {result.p_deferral.high:.2%}).",
        f"* Probability that some bank reaches its annual cap: {result.p_bank_cap_hit.value:.2%} "
        f"(95% CI {result.p_bank_cap_hit.low:.2%} to {result.p_bank_cap_hit.high:.2%}).",
        f"* Cash needed today to keep that probability under 1%: {yuan(result.required_fund_fen)} yuan.",
        "",
        "| year | fund payout, mean | p deferred at year end | pool net cash, median |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for y in result.fund_payout_by_year:
        lines.append(f"| {y.year} | {_cell(y.fund_payout_mean_fen)} | {y.p_deferred_at_year_end:.2%} | "
                     f"{yuan(int(round(y.cash_quantiles_fen['p50'])))} |")
    lines += ["", "Sectors driving the fund payout (expected, yuan):", ""]
    top = sorted(result.by_sector.items(), key=lambda kv: -kv[1]["expected_fund_payout_fen"])
    for sector, figures in top:
        if figures["expected_fund_payout_fen"] > 0:
            lines.append(f"* {sector}: {yuan(int(round(figures['expected_fund_payout_fen'])))}")
    banks = sorted(result.by_bank.items(), key=lambda kv: -kv[1]["expected_fund_payout_fen"])[:10]
    lines += ["", "Banks driving the fund payout (expected, yuan, top 10):", ""]
    lines += [f"* {bank}: {yuan(int(round(f['expected_fund_payout_fen'])))}" for bank, f in banks]
    lines += ["", f"Plots: {', '.join(PLOTS)}. Figures: result.json.", ""]
    lines += [f"_{note}_  " for note in result.notes]
    return "\n".join(lines) + "\n"


def render_outputs(result: StressResult, sim: Simulation) -> dict[str, bytes]:
    """Every output file of a run, in memory: ``{name: content}``."""
    files = {"result.json": (json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n").encode("utf-8")}
    with _DRAWING:
        files[PLOTS[0]] = plot_loss_histogram(sim, result)
        files[PLOTS[1]] = plot_exceedance(sim, result)
        files[PLOTS[2]] = plot_cash_fan(sim, result)
        files[PLOTS[3]] = plot_tail_convergence(sim, result)
    files["report.md"] = markdown_report(result).encode("utf-8")
    return files


def write_outputs(result: StressResult, sim: Simulation, out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in render_outputs(result, sim).items():
        (out / name).write_bytes(content)
        paths.append(out / name)
    return paths


def plot_exceedance_overlay(runs: list[tuple[StressResult, Simulation]]) -> bytes:
    """Each scenario's fund payout exceedance curve (solid) and gross loss (dotted) on one plot,
    with each fund payout's 99.9% VaR marked: a comparison at a glance."""
    with _DRAWING:
        return _exceedance_overlay(runs)


def _exceedance_overlay(runs: list[tuple[StressResult, Simulation]]) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    floor = 1.0
    for index, (result, sim) in enumerate(runs):
        colour = f"C{index % 10}"
        w = None
        if sim.shift:
            from risk.stress_stats import normalised_weights

            w = normalised_weights(sim.log_weight)
        for values, style, label in ((sim.fund_payout, "-", "fund payout"), (sim.total_loss, ":", "gross loss")):
            order = np.argsort(values, kind="stable")
            x = _million_yuan(values[order])
            exceed = 1.0 - (np.cumsum(w[order]) if w is not None else np.arange(1, sim.n_scenarios + 1) / sim.n_scenarios)
            ax.step(x[:-1], np.maximum(exceed[:-1], 1e-12), where="post", color=colour, linestyle=style,
                    label=f"{result.scenario}: {label}")
        ax.axvline(_million_yuan(result.measures["fund_payout_fen"].var["0.999"].value), color=colour,
                   linestyle="--", linewidth=0.8)
        floor = min(floor, 1.0 / sim.n_scenarios)
    ax.set_yscale("log")
    ax.set_ylim(max(floor, 1e-6), 1.0)
    ax.set_xlabel("million yuan over the horizon (dashed: fund payout VaR 99.9%)")
    ax.set_ylabel("P(X > x)")
    ax.set_title("exceedance curves, common random numbers")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)
