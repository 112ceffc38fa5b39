"""`ipfund stress`: Monte Carlo stress tests (docs/rules.md section 8)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from functools import partial
from pathlib import Path

import typer

from fund.cli.common import fail, handle_errors, parse_date, print_json, progress_bar

app = typer.Typer(help="Monte Carlo stress tests (docs/rules.md section 8).", no_args_is_help=True)


@app.callback()
def _languages() -> None:
    """Stored runs carry the console's Chinese plots too, whichever entrypoint ran them."""
    from api.console.i18n import register_plot_languages

    register_plot_languages()


@app.command("scenarios", help="List the shipped scenarios, one line each.")
@handle_errors
def scenarios() -> None:
    from simulations.library import shipped_scenarios

    for s in shipped_scenarios():
        typer.echo(f"{s.name:<18} {s.description}")


def _default_as_of() -> dt.date:
    from fund.domain.dates import today_in_china
    from fund.settings import get_settings

    return get_settings().business_date or today_in_china()


def _scenario(name_or_file: str):
    from fund.errors import DomainError
    from risk.scenario import ScenarioError
    from simulations.library import resolve_scenario

    try:
        return resolve_scenario(name_or_file)
    except ScenarioError as exc:
        raise DomainError("bad_scenario", str(exc), field="scenario") from None


def _database():
    from fund.cli.common import session_factory

    return session_factory()


def _request(scenario, n_scenarios, seed, as_of, horizon, fund_cash_fen, deferred_fen, appropriation_fen, workers,
             batch, new_lending_fen, executor, portfolio):
    from fund.services import stress as service

    date = parse_date(as_of, "as_of") if as_of else (_default_as_of() if portfolio is not None else None)
    return service.StressRequest(
        scenario=scenario, n_scenarios=n_scenarios, seed=seed, as_of=date, horizon=horizon, fund_cash_fen=fund_cash_fen,
        deferred_fen=deferred_fen, appropriation_fen=appropriation_fen, workers=workers, batch=batch,
        new_lending_fen=new_lending_fen, executor=executor,
    )


_PORTFOLIO = typer.Option(None, "--portfolio", help="Portfolio CSV; without it, the database's live covered loans.")
_BANKS = typer.Option(None, "--banks", help="Banks CSV (bank, policy, in_pool_lending_fen, cap_used_fen).")
_POLICY = typer.Option(None, "--policy", help="Policy id for portfolio rows without one.")
_SCENARIOS = typer.Option(..., "--scenarios", help="Number of scenarios.")
_SEED = typer.Option(..., "--seed", help="Seed (same seed and inputs: same figures).")
_AS_OF = typer.Option(None, "--as-of", help="As-of date YYYY-MM-DD (default: the business date).")
_HORIZON = typer.Option(None, "--horizon", help="Years (default: the scenario's).")
_CASH = typer.Option(None, "--fund-cash-fen", help="Pool cash today (default: the ledger's, or 0 with --portfolio).")
_DEFERRED = typer.Option(None, "--deferred-fen", help="Deferred compensation today (default: the ledger's, or 0).")
_APPROPRIATION = typer.Option(None, "--appropriation-fen",
                              help="Yearly appropriation (default: the active policies'; a scenario's own wins).")
_WORKERS = typer.Option(1, "--workers", help="Worker processes (the figures do not depend on it).")
_BATCH = typer.Option(2048, "--batch", help="Scenarios per chunk (bounds memory; part of the seed's meaning).")
_NEW_LENDING = typer.Option(None, "--new-lending-fen",
                            help="M1b yearly new covered lending V (default: the scenario's, else the database's "
                                 "last 12 months; a portfolio file gets 0).")
_EXECUTOR = typer.Option(None, "--executor", help="local (default) or dask://HOST:PORT (a Dask scheduler).")


@app.command("run", help="Run a stress scenario on the book (the database's, or --portfolio CSV); a database run "
                         "is stored with its inputs (ipfund stress runs).")
@handle_errors
def run(
    scenario: str = typer.Option(..., "--scenario", help="A shipped scenario name or a scenario .toml file."),
    portfolio: Path = _PORTFOLIO, banks: Path = _BANKS, policy: str = _POLICY, n_scenarios: int = _SCENARIOS,
    seed: int = _SEED, as_of: str = _AS_OF, horizon: int = _HORIZON, fund_cash_fen: int = _CASH,
    deferred_fen: int = _DEFERRED, appropriation_fen: int = _APPROPRIATION, workers: int = _WORKERS,
    batch: int = _BATCH, new_lending_fen: int = _NEW_LENDING, executor: str = _EXECUTOR,
    out: Path = typer.Option(None, "--out", help="Directory for result.json, PNG plots and report.md."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
) -> None:
    from fund.services import stress as service

    chosen = _scenario(scenario)
    request = _request(chosen, n_scenarios, seed, as_of, horizon, fund_cash_fen, deferred_fen, appropriation_fen,
                       workers, batch, new_lending_fen, executor, portfolio)
    service.check_request(request)
    with progress_bar(f"stress {chosen.name}") as bar:
        outcome = service.run(None if portfolio is not None else _database(), request, portfolio=portfolio,
                              banks=banks, policy=policy, progress=partial(bar, ""))
    if out is not None:
        from simulations.report import write_outputs

        paths = write_outputs(outcome.result, outcome.sim, out)
        if not as_json:
            typer.echo(f"wrote {', '.join(str(p) for p in paths)}", err=True)
    if as_json:
        print_json(outcome.result.to_dict())
    else:
        _print_summary(outcome.result)
        if outcome.run_id is not None:
            typer.echo(f"stored as stress run {outcome.run_id}", err=True)


@app.command("compare", help="Several scenarios on the same book, seed and batch (common random numbers): one "
                             "table of every headline figure with intervals, overlaid exceedance curves, a report.")
@handle_errors
def compare(
    scenario: list[str] = typer.Option(..., "--scenario", help="A scenario (name or .toml); give two or more."),
    portfolio: Path = _PORTFOLIO, banks: Path = _BANKS, policy: str = _POLICY, n_scenarios: int = _SCENARIOS,
    seed: int = _SEED, as_of: str = _AS_OF, horizon: int = _HORIZON, fund_cash_fen: int = _CASH,
    deferred_fen: int = _DEFERRED, appropriation_fen: int = _APPROPRIATION, workers: int = _WORKERS,
    batch: int = _BATCH, new_lending_fen: int = _NEW_LENDING, executor: str = _EXECUTOR,
    out: Path = typer.Option(None, "--out", help="Directory for comparison.json, report.md, exceedance_overlay.png."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON on stdout."),
) -> None:
    from fund.services import stress as service

    chosen = [_scenario(s) for s in scenario]
    request = _request(chosen[0], n_scenarios, seed, as_of, horizon, fund_cash_fen, deferred_fen, appropriation_fen,
                       workers, batch, new_lending_fen, executor, portfolio)
    with progress_bar("stress compare") as bar:
        comparison = service.compare(None if portfolio is not None else _database(), chosen, request,
                                     portfolio=portfolio, banks=banks, policy=policy, progress=partial(bar, ""))
    _finish_comparison(comparison, out, as_json)


@app.command("sweep", help="One scenario with one key over several values, on common random numbers "
                           "(e.g. --key pd_multiplier --values 1,1.5,2).")
@handle_errors
def sweep(
    scenario: str = typer.Option(..., "--scenario", help="A shipped scenario name or a scenario .toml file."),
    key: str = typer.Option(..., "--key", help="A scenario key, dotted for tables: collateral.value_multiplier."),
    values: str = typer.Option(..., "--values", help="Comma-separated values (TOML literals: 1.5, \"stop\")."),
    portfolio: Path = _PORTFOLIO, banks: Path = _BANKS, policy: str = _POLICY, n_scenarios: int = _SCENARIOS,
    seed: int = _SEED, as_of: str = _AS_OF, horizon: int = _HORIZON, fund_cash_fen: int = _CASH,
    deferred_fen: int = _DEFERRED, appropriation_fen: int = _APPROPRIATION, workers: int = _WORKERS,
    batch: int = _BATCH, new_lending_fen: int = _NEW_LENDING, executor: str = _EXECUTOR,
    out: Path = typer.Option(None, "--out", help="Directory for comparison.json, report.md, exceedance_overlay.png."),
    as_json: bool = typer.Option(False, "--json", help="Print the sweep as JSON on stdout."),
) -> None:
    from fund.services import stress as service

    chosen = _scenario(scenario)
    request = _request(chosen, n_scenarios, seed, as_of, horizon, fund_cash_fen, deferred_fen, appropriation_fen,
                       workers, batch, new_lending_fen, executor, portfolio)
    with progress_bar(f"stress sweep {key}") as bar:
        comparison = service.sweep(None if portfolio is not None else _database(), chosen, key,
                                   [v.strip() for v in values.split(",") if v.strip()], request,
                                   portfolio=portfolio, banks=banks, policy=policy, progress=partial(bar, ""))
    _finish_comparison(comparison, out, as_json)


def _finish_comparison(comparison, out: Path | None, as_json: bool) -> None:
    from fund.services import stress as service

    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name, content in service.comparison_outputs(comparison).items():
            (out / name).write_bytes(content)
        if not as_json:
            typer.echo(f"wrote {out}/comparison.json, report.md, exceedance_overlay.png", err=True)
    if as_json:
        print_json(comparison.to_dict())
    else:
        typer.echo(service.comparison_report(comparison))


@app.command("runs", help="Stored stress runs, newest first (API and CLI), with their inputs.")
@handle_errors
def runs(
    status: str = typer.Option(None, "--status", help="queued, running, done or failed."),
    scenario: str = typer.Option(None, "--scenario", help="Only runs of this scenario name."),
    origin: str = typer.Option(None, "--origin", help="api or cli."),
    label: str = typer.Option(None, "--label", help="Only the runs of this comparison or sweep."),
    since: str = typer.Option(None, "--since", help="Created on or after YYYY-MM-DD (UTC)."),
    until: str = typer.Option(None, "--until", help="Created on or before YYYY-MM-DD (UTC)."),
    limit: int = typer.Option(50, "--limit", help="At most this many (1..200)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    from dataclasses import asdict

    from fund.services import stress as service

    found = service.list_runs(_database(), status=status, scenario=scenario, origin=origin, label=label,
                              since=parse_date(since, "since") if since else None,
                              until=parse_date(until, "until") if until else None, limit=limit)
    if as_json:
        print_json([asdict(r) for r in found])
        return
    for r in found:
        typer.echo(f"{r.id:>6}  {r.status:<8} {r.origin:<4} {r.scenario:<24} {r.n_scenarios:>9,} scenarios  seed {r.seed:<8} "
                   f"as of {r.as_of.isoformat()}  {r.label or ''}")


@app.command("runner", help="Run queued API stress runs under leases until stopped (or --until-idle).")
@handle_errors
def runner(
    until_idle: bool = typer.Option(False, "--until-idle", help="Stop when nothing is waiting."),
    executor: str = _EXECUTOR,
) -> None:
    import time

    from fund.services.stress_runner import StressRunner
    from fund.settings import get_settings

    settings = get_settings()
    worker = StressRunner(_database(), lease_seconds=settings.stress_lease_seconds,
                          executor=executor or (None if settings.stress_executor == "local" else settings.stress_executor))
    if until_idle:
        typer.echo(f"ran {worker.run_until_idle()} stress runs")
        return
    worker.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        worker.stop()


def _print_summary(result) -> None:
    from rich.console import Console
    from rich.table import Table

    from fund.domain.money import yuan
    from risk.stress_result import MEASURED

    table = Table(title=f"{result.scenario}: {result.n_scenarios:,} scenarios, seed {result.seed} (million yuan)")
    for column in ("figure", "mean", "VaR 95%", "VaR 99%", "VaR 99.9%", "ES 99%"):
        table.add_column(column, justify="right" if column != "figure" else "left")
    for name in MEASURED:
        m = result.measures[name]
        cells = [m.mean.value, m.var["0.95"].value, m.var["0.99"].value, m.var["0.999"].value, m.es["0.99"].value]
        table.add_row(name.removesuffix("_fen"), *(f"{c / 1e8:,.2f}" for c in cells))
    console = Console()
    console.print(table)
    console.print(f"p_deferral {result.p_deferral.value:.4f}  p_bank_cap_hit {result.p_bank_cap_hit.value:.4f}  "
                  f"required_fund {yuan(result.required_fund_fen)} yuan  ({result.seconds:.2f} s)")


@app.command("export-portfolio", help="Write the database's live covered loans (and banks' cap base) as CSV files.")
@handle_errors
def export_portfolio(
    out: Path = typer.Option(..., "--out", help="Portfolio CSV to write."),
    banks_out: Path = typer.Option(None, "--banks-out", help="Banks CSV to write (default: banks.csv beside --out)."),
    as_of: str = typer.Option(None, "--as-of", help="As-of date YYYY-MM-DD (default: the business date)."),
    as_json: bool = typer.Option(False, "--json", help="Print counts and fund position as JSON."),
) -> None:
    from fund.cli.common import transaction
    from fund.services import stress as service
    from fund.services.common import business_date
    from risk.portfolio import write_banks_csv, write_portfolio_csv

    with transaction() as session:
        date = parse_date(as_of, "as_of") if as_of else business_date(session)
        export = service.export_portfolio(session, date)
        cash, deferred = service.fund_position_from_ledger(session)
        new_lending = service.new_lending_default(session, date)
    banks_path = banks_out or out.with_name("banks.csv")
    n_loans = write_portfolio_csv(export.portfolio, out)
    n_banks = write_banks_csv(export.banks, banks_path)
    summary = {"as_of": date.isoformat(), "loans": n_loans, "bank_policy_rows": n_banks, "portfolio": str(out),
               "banks": str(banks_path), "fund_cash_fen": cash, "deferred_fen": deferred,
               "new_lending_fen": new_lending}
    if as_json:
        print_json(summary)
    else:
        typer.echo(f"{n_loans} loans to {out}, {n_banks} bank rows to {banks_path} (as of {date.isoformat()}; "
                   f"pool cash {cash} fen, deferred {deferred} fen)")


def _echo_importance(s: dict) -> None:
    from risk.importance import sampling_text

    c, w = s["crude"], s["importance"]
    typer.echo(f"importance sampling ({s['scenario']}, {s['figure']}, 2% relative half-width): crude needs "
               f"{c['scenarios_needed']:,} scenarios, weighted ({sampling_text(w['shift'], w.get('scale', 1.0))}) "
               f"{w['scenarios_needed']:,}: "
               f"{s['scenarios_fewer_by']:.1f}x fewer, variance reduction {s['variance_reduction']:.1f}; "
               f"intervals overlap: {s['intervals_overlap']}")
    check = s.get("check_at_scenarios_needed")
    if check:
        typer.echo(f"  check: weighted at {check['scenarios']:,} scenarios, relative half-width "
                   f"{check['relative_half_width']:.2%} ({'met' if check['met'] else 'NOT met'})")
    for warning in s.get("warnings", ()):
        typer.echo(f"  WARNING: {warning}")
    for line in s.get("comparisons", ()):
        typer.echo(f"  for comparison: {line}")


@app.command("bench", help="Benchmark: synthetic 10,000-loan book, 5 years, 100,000 scenarios, against a dense "
                           "numpy reference and the random-number limit.")
@handle_errors
def bench(
    loans: int = typer.Option(10_000, "--loans"),
    horizon: int = typer.Option(5, "--horizon"),
    n_scenarios: int = typer.Option(100_000, "--scenarios"),
    reference_scenarios: int = typer.Option(10_000, "--reference-scenarios",
                                            help="Scenarios for the dense reference and the random-number limit (rates compare)."),
    workers: int = typer.Option(2, "--workers"),
    seed: int = typer.Option(1, "--seed"),
    new_lending_fen: int = typer.Option(200_000_000_000, "--new-lending-fen",
                                        help="M1b yearly new covered lending on the synthetic book (0: none)."),
    importance: bool = typer.Option(True, "--importance/--no-importance",
                                    help="Measure importance sampling on the demo book's recession scenario."),
    large_book_loans: int = typer.Option(100_000, "--large-book-loans", help="Loans of the large-book run (0: none)."),
    importance_only: bool = typer.Option(False, "--importance-only",
                                         help="Run only the importance-sampling part (the demo book's recession)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    from simulations.bench import importance_sampling_bench, run_bench

    if importance_only:
        s = importance_sampling_bench(seed=seed)
        if as_json:
            print_json({"importance_sampling": s})
        else:
            _echo_importance(s)
        return
    if loans < 1 or n_scenarios < 1 or reference_scenarios < 1 or not 1 <= horizon <= 30 or not 1 <= workers <= 64:
        fail("loans, scenarios, reference scenarios and workers must be >= 1, horizon 1..30")
    with progress_bar("bench engine") as bar:
        result = run_bench(n_loans=loans, horizon=horizon, n_scenarios=n_scenarios,
                           reference_scenarios=reference_scenarios, workers=workers, seed=seed, progress=partial(bar, ""),
                           importance=importance, large_book_loans=large_book_loans, new_lending_fen=new_lending_fen)
    if as_json:
        print_json(result.to_dict())
        return
    m, i = result.machine, result.inputs
    typer.echo(f"machine: {m['cpu']} (family/model {m.get('cpu_family_model', '?')}), {m['logical_cores']} logical CPUs, "
               f"Python {m['python']}, numpy {m['numpy']}")
    typer.echo(f"engine's integer passes: {m.get('compiled_kernels', '?')}")
    if result.sort_probe:
        p = result.sort_probe
        typer.echo(f"numpy here: {p['sort_ns_per_key']:.1f} ns a key to sort {p['keys']:,} int32 keys, "
                   f"{p['standard_normal_ns']:.1f} ns a standard normal (numpy's form of the engine sorts such keys)")
    typer.echo(f"inputs: {i['loans']:,} loans, {i['horizon_years']} years, {i['scenarios']:,} scenarios, "
               f"{i['workers']} workers, batch {i['batch']}, seed {i['seed']}, {i['groups']} default groups; "
               f"{result.mean_defaults_per_scenario:.1f} defaults per scenario")
    typer.echo(f"{'':<28} {'scenarios':>9} {'wall s':>9} {'M/s wall':>10} {'CPU s':>9} {'M/CPU-s':>9}   "
               "(M = million loan-scenario-years)")
    for t in (result.engine, result.dense_reference, result.random_number_limit):
        typer.echo(f"{t.name:<28} {t.scenarios:>9,} {t.seconds:>9.2f} {t.loan_scenario_years_per_second / 1e6:>10.1f} "
                   f"{t.cpu_seconds:>9.2f} {t.loan_scenario_years_per_cpu_second / 1e6:>9.1f}")
    if result.engine_numpy_form:
        t = result.engine_numpy_form["timing"]
        typer.echo(f"{t['name']:<28} {t['scenarios']:>9,} {t['seconds']:>9.2f} {t['loan_scenario_years_per_second'] / 1e6:>10.1f} "
                   f"{t['cpu_seconds']:>9.2f} {t['loan_scenario_years_per_cpu_second'] / 1e6:>9.1f}   (1 process; figures "
                   f"{'the same as' if result.engine_numpy_form['same_figures_as_compiled'] else 'DIFFERENT from'} the engine's)")
    typer.echo(f"engine on {i['workers']} free cores (rate per CPU-second x workers): "
               f"{result.engine.loan_scenario_years_per_cpu_second * i['workers'] / 1e6:.1f} M/s")
    pk = result.peak_memory_mb
    typer.echo(f"peak memory: main {pk['main_process_engine']:.0f} MB, largest worker {pk['largest_engine_worker']:.0f} MB, "
               f"engine total at most {pk['engine_total_upper_bound']:.0f} MB")
    t = result.targets
    typer.echo(f"targets: >= 100 M/s {'met' if t['rate_met'] else 'NOT met'}; "
               f"< 1.5 GB {'met' if t['memory_met'] else 'NOT met'}; engine per CPU-second "
               f"{t['cpu_rate_vs_random_number_limit']:.1f}x the random-number limit (target >= 5x)")
    if result.importance_sampling:
        _echo_importance(result.importance_sampling)
    if result.large_book:
        b = result.large_book
        typer.echo(f"large book: {b['loans']:,} loans x {b['scenarios']:,} scenarios x {b['horizon_years']} years in "
                   f"{b['seconds']:.1f} s ({b['loan_scenario_years_per_cpu_second'] / 1e6:.0f} M per CPU-second), "
                   f"peak at most {b['peak_memory_mb']['total_upper_bound']:.0f} MB")
