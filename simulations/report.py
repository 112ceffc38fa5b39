"""Outputs of a stress run for people: PNG plots (matplotlib, Agg) and a Markdown report.

``render_outputs(result, sim)`` renders them in memory (``{file name: bytes}``: ``result.json``, the
PNG plots of :data:`PLOTS` and ``report.md``); ``write_outputs(result, sim, out_dir)`` writes them.

The plots' words are English message ids passed through a ``gettext`` function (``_``). A language
registered with :func:`register_plot_language` (the console registers Chinese from its catalogue)
gets its own copy of each plot, ``<language>/<plot name>``, drawn with a CJK font; when no CJK font
is installed that copy is left out, a log line says so, and readers get the English plot.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fund.domain.money import yuan
from risk.engine import Simulation
from risk.importance import is_weighted, sampling_text
from risk.stress_result import MEASURED, StressResult

#: matplotlib's pyplot is not thread-safe: runners in one process draw one figure set at a time
_DRAWING = threading.RLock()

PLOTS = ("loss_histogram.png", "exceedance.png", "fund_cash_fan.png", "tail_convergence.png")

log = logging.getLogger("ipfund.plots")
Gettext = Callable[[str], str]
#: fonts with the Chinese glyphs, the first one installed is used (Debian: fonts-noto-cjk)
CJK_FONT_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei")
CJK_FONT_FILES = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",)
#: languages drawn besides English: code -> its gettext (see register_plot_language)
_LANGUAGES: dict[str, Gettext] = {}


def _english(message: str) -> str:
    return message


def register_plot_language(code: str, gettext: Gettext) -> None:
    """Draw every run's plots in ``code`` too (``<code>/<plot name>``), with ``gettext``'s words."""
    if not code or "/" in code or len(code) > 8:
        raise ValueError(f"code must be 1..8 characters without '/', got {code!r}")
    _LANGUAGES[code] = gettext


def plot_languages() -> dict[str, Gettext]:
    return dict(_LANGUAGES)


def localised_name(name: str, language: str | None) -> str:
    """The file name of plot ``name`` in ``language`` (English: the name itself).

    >>> localised_name("exceedance.png", "zh"), localised_name("exceedance.png", None)
    ('zh/exceedance.png', 'exceedance.png')
    """
    return f"{language}/{name}" if language else name


def cjk_font_family() -> str | None:
    """The installed font family with the Chinese glyphs, or None."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FONT_FAMILIES:
        if family in installed:
            return family
    for path in CJK_FONT_FILES:  # a font installed after matplotlib built its cache
        if Path(path).exists():
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
            installed = {f.name for f in font_manager.fontManager.ttflist}
            for family in CJK_FONT_FAMILIES:
                if family in installed:
                    return family
    return None


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


def _fund_var_lines(ax, result: StressResult, _: Gettext) -> None:
    for level, style in (("0.99", "--"), ("0.999", ":")):
        v = result.measures["fund_payout_fen"].var[level].value
        ax.axvline(_million_yuan(v), color="#dd8452", linestyle=style, label=_("fund payout VaR %(level)s") % {"level": level})


def plot_loss_histogram(sim: Simulation, result: StressResult, _: Gettext = _english) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(_million_yuan(sim.total_loss), bins=80, color="#4c72b0", alpha=0.8, label=_("gross loss"))
    ax.hist(_million_yuan(sim.fund_payout), bins=80, color="#dd8452", alpha=0.7, label=_("fund payout"))
    for level, style in (("0.99", "--"), ("0.999", ":")):
        v = result.measures["total_loss_fen"].var[level].value
        ax.axvline(_million_yuan(v), color="#4c72b0", linestyle=style, label=_("loss VaR %(level)s") % {"level": level})
    _fund_var_lines(ax, result, _)
    ax.set_xlabel(_("million yuan over the horizon"))
    ax.set_ylabel(_("number of scenarios"))
    ax.set_title(_("%(scenario)s: loss distribution (%(n)s scenarios)") % {"scenario": result.scenario,
                                                                          "n": f"{result.n_scenarios:,}"})
    ax.legend(fontsize=8)
    return _png(fig)


def plot_exceedance(sim: Simulation, result: StressResult, _: Gettext = _english) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    n = sim.n_scenarios
    for values, label in ((sim.total_loss, _("gross loss")), (sim.fund_payout, _("fund payout"))):
        x = np.sort(_million_yuan(values))
        exceed = 1.0 - np.arange(1, n + 1) / n
        ax.step(x[:-1], exceed[:-1], where="post", label=label)
    _fund_var_lines(ax, result, _)
    ax.set_yscale("log")
    ax.set_ylim(max(1.0 / n, 1e-5), 1.0)
    ax.set_xlabel(_("million yuan over the horizon"))
    ax.set_ylabel("P(X > x)")
    ax.set_title(_("%(scenario)s: exceedance curve") % {"scenario": result.scenario})
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def plot_cash_fan(sim: Simulation, result: StressResult, _: Gettext = _english) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    years = np.arange(0, sim.horizon + 1)
    paths = np.concatenate([np.full((sim.n_scenarios, 1), sim.net0), sim.net_by_year], axis=1)
    q = np.quantile(_million_yuan(paths), [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99], axis=0)
    ax.fill_between(years, q[0], q[6], color="#55a868", alpha=0.15, label="1-99%")
    ax.fill_between(years, q[1], q[5], color="#55a868", alpha=0.25, label="5-95%")
    ax.fill_between(years, q[2], q[4], color="#55a868", alpha=0.45, label="25-75%")
    ax.plot(years, q[3], color="#2d6a3e", label=_("median"))
    ax.axhline(0, color="#c44e52", linewidth=1, label=_("below 0: compensation deferred"))
    ax.set_xlabel(_("year end"))
    ax.set_ylabel(_("pool cash - deferred, million yuan"))
    ax.set_title(_("%(scenario)s: compensation pool paths") % {"scenario": result.scenario})
    ax.legend(fontsize=8)
    return _png(fig)


def plot_tail_convergence(sim: Simulation, result: StressResult, _: Gettext = _english) -> bytes:
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
        label = _("fund payout ES %(level)s") if kind == "es" else _("fund payout VaR %(level)s")
        ax.plot(n, value, color=colour, label=label % {"level": level})
        ax.fill_between(n, low, high, color=colour, alpha=0.2, label=_("95% CI"))
    ax.set_xscale("log")
    ax.set_xlabel(_("number of scenarios"))
    ax.set_ylabel(_("million yuan over the horizon"))
    ax.set_title(_("%(scenario)s: tail estimates against the number of scenarios") % {"scenario": result.scenario})
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
            + (f", global factor: {sampling_text(result.sampling_shift, result.sampling_scale, 3)}"
               if is_weighted(result.sampling_shift, result.sampling_scale) else "") + ".",
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


_DRAWERS = (plot_loss_histogram, plot_exceedance, plot_cash_fan, plot_tail_convergence)


def draw_plots(result: StressResult, sim: Simulation, _: Gettext = _english, *,
               font_family: str | None = None) -> dict[str, bytes]:
    """The plots of :data:`PLOTS` with ``_``'s words (in ``font_family`` when given)."""
    import matplotlib

    settings = {"font.family": [font_family, "DejaVu Sans"], "axes.unicode_minus": False} if font_family else {}
    with _DRAWING, matplotlib.rc_context(settings):
        return {name: draw(sim, result, _) for name, draw in zip(PLOTS, _DRAWERS)}


def localised_plots(result: StressResult, sim: Simulation,
                    languages: dict[str, Gettext] | None = None) -> dict[str, bytes]:
    """Each language's copy of the plots (``<language>/<plot name>``); none without a CJK font."""
    languages = plot_languages() if languages is None else languages
    if not languages:
        return {}
    family = cjk_font_family()
    if family is None:
        log.warning("no CJK font installed (%s): stress plots for %s are drawn with English labels only",
                    ", ".join(CJK_FONT_FAMILIES[:1]), ", ".join(sorted(languages)))
        return {}
    files = {}
    for code, gettext in languages.items():
        for name, content in draw_plots(result, sim, gettext, font_family=family).items():
            files[localised_name(name, code)] = content
    return files


def render_outputs(result: StressResult, sim: Simulation,
                   languages: dict[str, Gettext] | None = None) -> dict[str, bytes]:
    """Every output file of a run, in memory: ``{name: content}``; the plots in English under their
    names and in each registered language (or ``languages``) under ``<language>/<name>``."""
    files = {"result.json": (json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n").encode("utf-8")}
    files.update(draw_plots(result, sim))
    files.update(localised_plots(result, sim, languages))
    files["report.md"] = markdown_report(result).encode("utf-8")
    return files


def write_outputs(result: StressResult, sim: Simulation, out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in render_outputs(result, sim).items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
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
        if is_weighted(sim.shift, sim.scale):
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
