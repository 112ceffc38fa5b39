"""Outputs of a stress run for people: PNG plots (matplotlib, Agg) and a short Markdown report.

``write_outputs(result, sim, out_dir)`` writes ``result.json``, ``loss_histogram.png``,
``exceedance.png``, ``fund_cash_fan.png`` and ``report.md`` and returns their paths.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fund.domain.money import yuan
from risk.engine import Simulation
from risk.stress_result import MEASURED, StressResult

PLOTS = ("loss_histogram.png", "exceedance.png", "fund_cash_fan.png")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _million_yuan(fen: np.ndarray | float) -> np.ndarray | float:
    return np.asarray(fen, dtype=np.float64) / 1e8


def plot_loss_histogram(sim: Simulation, result: StressResult, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(_million_yuan(sim.total_loss), bins=80, color="#4c72b0", alpha=0.8, label="gross loss")
    ax.hist(_million_yuan(sim.fund_payout), bins=80, color="#dd8452", alpha=0.7, label="fund payout")
    for level, style in (("0.99", "--"), ("0.999", ":")):
        v = result.measures["total_loss_fen"].var[level].value
        ax.axvline(_million_yuan(v), color="#4c72b0", linestyle=style, label=f"loss VaR {level}")
    ax.set_xlabel("million yuan over the horizon")
    ax.set_ylabel("scenarios")
    ax.set_title(f"{result.scenario}: loss distribution ({result.n_scenarios:,} scenarios)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_exceedance(sim: Simulation, result: StressResult, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    n = sim.n_scenarios
    for values, label in ((sim.total_loss, "gross loss"), (sim.fund_payout, "fund payout")):
        x = np.sort(_million_yuan(values))
        exceed = 1.0 - np.arange(1, n + 1) / n
        ax.step(x[:-1], exceed[:-1], where="post", label=label)
    ax.set_yscale("log")
    ax.set_ylim(max(1.0 / n, 1e-5), 1.0)
    ax.set_xlabel("million yuan over the horizon")
    ax.set_ylabel("P(X > x)")
    ax.set_title(f"{result.scenario}: exceedance curve")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_cash_fan(sim: Simulation, result: StressResult, path: Path) -> None:
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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown_report(result: StressResult) -> str:
    lines = [f"# Stress test: {result.scenario}", ""]
    if result.inputs is not None:
        i = result.inputs
        lines += [
            f"As of {i.as_of}, {i.horizon_years} years, {i.n_loans:,} live covered loans of {i.n_banks} banks "
            f"under {', '.join(i.policies)}; {result.n_scenarios:,} scenarios, seed {result.seed}.",
            f"Pool cash today {yuan(i.fund_cash_fen)} yuan, deferred {yuan(i.fund_deferred_fen)} yuan; "
            f"appropriation by year {', '.join(yuan(a) for a in i.appropriation_fen)} yuan.",
            f"Scenario: {i.scenario.get('description', '')}",
            "",
        ]
    lines += ["| figure (yuan) | mean | VaR 95% | VaR 99% | VaR 99.9% | ES 99% |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name in MEASURED:
        m = result.measures[name]
        cells = [m.mean.value, m.var["0.95"].value, m.var["0.99"].value, m.var["0.999"].value, m.es["0.99"].value]
        lines.append(f"| {name.removesuffix('_fen')} | " + " | ".join(yuan(int(round(c))) for c in cells) + " |")
    lines += [
        "",
        f"* Probability that compensation is deferred at some year end: {result.p_deferral.value:.2%} "
        f"(95% CI {result.p_deferral.low:.2%} to {result.p_deferral.high:.2%}).",
        f"* Probability that some bank reaches its annual cap: {result.p_bank_cap_hit.value:.2%}.",
        f"* Cash needed today to keep that probability under 1%: {yuan(result.required_fund_fen)} yuan.",
        "* Fund payout by year (mean, yuan): "
        + ", ".join(f"year {y.year} {yuan(int(round(y.fund_payout_mean_fen.value)))}" for y in result.fund_payout_by_year)
        + ".",
        "",
        "Sectors driving the fund payout (expected, yuan):",
        "",
    ]
    top = sorted(result.by_sector.items(), key=lambda kv: -kv[1]["expected_fund_payout_fen"])
    for sector, figures in top:
        if figures["expected_fund_payout_fen"] > 0:
            lines.append(f"* {sector}: {yuan(int(round(figures['expected_fund_payout_fen'])))}")
    banks = sorted(result.by_bank.items(), key=lambda kv: -kv[1]["expected_fund_payout_fen"])[:10]
    lines += ["", "Banks driving the fund payout (expected, yuan, top 10):", ""]
    lines += [f"* {bank}: {yuan(int(round(f['expected_fund_payout_fen'])))}" for bank, f in banks]
    lines += ["", "Plots: loss_histogram.png, exceedance.png, fund_cash_fan.png. Figures: result.json.", ""]
    lines += [f"_{note}_  " for note in result.notes]
    return "\n".join(lines) + "\n"


def write_outputs(result: StressResult, sim: Simulation, out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "result.json", out / PLOTS[0], out / PLOTS[1], out / PLOTS[2], out / "report.md"]
    paths[0].write_text(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    plot_loss_histogram(sim, result, paths[1])
    plot_exceedance(sim, result, paths[2])
    plot_cash_fan(sim, result, paths[3])
    paths[4].write_text(markdown_report(result), encoding="utf-8")
    return paths
