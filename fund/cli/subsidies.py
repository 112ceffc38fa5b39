"""`ipfund subsidies`: Monthly interest-subsidy runs (docs/rules.md section 5): propose a month's run (an
approver signs it off: rule G1, section 11), list runs, write
statements, and a benchmark over a synthetic book of 1.2 million repayments."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import typer

from fund.cli.common import (
    console,
    err_console,
    fail,
    fund_manager_actor,
    handle_errors,
    money_table,
    print_json,
    progress_bar,
    session_factory,
    reader_actor,
    transaction,
    user_actor,
    user_option,
)
from fund.domain.money import yuan

app = typer.Typer(help="Monthly interest-subsidy runs (docs/rules.md section 5).", no_args_is_help=True)

DEFAULT_BENCH_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _result_dict(result, fee_items: list[dict] | None = None) -> dict:
    """A run's figures in fen: ``lines``/``capped_lines`` count the interest lines, ``fee_*`` the fee
    lines (S6); the money figures are the whole run's. ``fee_items`` when given (the run's fee lines)."""
    out = {
        "run_id": result.run_id, "month": result.month, "created": result.created,
        "business_date": result.business_date, "lines": result.line_count, "capped_lines": result.capped_count,
        "computed_fen": result.computed_fen, "total_fen": result.total_fen, "paid_fen": result.paid_fen,
        "deferred_fen": result.deferred_fen, "entry_id": result.entry_id, "interest_total_fen": result.interest_total_fen,
        "fee_lines": result.fee_line_count, "fee_capped_lines": result.fee_capped_count,
        "fee_computed_fen": result.fee_computed_fen, "fee_total_fen": result.fee_total_fen,
    }
    if fee_items is not None:
        out["fee_items"] = fee_items
    return out


def _fee_item(f, paid_fen: int) -> dict:
    """One fee line (a service ``FeeLine`` or ``PreviewFeeLine``) with its paid part, in fen."""
    return {"fee_id": f.fee_id, "loan_id": f.loan_id, "enterprise_id": f.enterprise_id, "policy_id": f.policy_id,
            "kind": f.kind, "fee_fen": f.fee_fen, "paid_on": f.paid_on, "computed_fen": f.computed_fen,
            "amount_fen": f.amount_fen, "capped": f.capped, "paid_fen": paid_fen, "deferred_fen": f.amount_fen - paid_fen}


def _run_fee_items(result) -> list[dict]:
    """The run's fee lines in its money order with their parts paid so far (S6), as its statement shows."""
    if not result.fee_line_count:
        return []
    from fund.services import subsidies

    with transaction() as session:
        run = subsidies.find_run(session, run_id=result.run_id)
        return [_fee_item(f, paid) for f, paid in subsidies.run_fee_lines_paid(session, run)]


def _fee_figures_line(count: int, capped: int, total_fen: int, computed_fen: int, interest_fen: int) -> str:
    from fund.cli.common import yuan_text

    return (f"  interest lines {yuan_text(interest_fen)}; fee lines {count:,} ({capped:,} capped) {yuan_text(total_fen)}, "
            f"before the loan's cap {yuan_text(computed_fen)}")


def _print_fee_table(items: list[dict], shown: int | None, count: int) -> None:
    """The fee lines (a second table, after the interest lines'), the first ``shown`` (None: all)."""
    if not items or shown == 0:
        return
    take = items if shown is None else items[:shown]
    title = "fee lines (payment date, loan, fee; paid after every interest line)"
    if len(take) < count:
        title = f"first {len(take):,} of {count:,} " + title
    table = money_table("fee", "loan", "kind", "paid on", "fee", "before cap", "subsidy", "paid", "deferred", "capped",
                        money=("fee", "before cap", "subsidy", "paid", "deferred"), numbers=("fee", "loan"), title=title)
    for f in take:
        table.add_row(str(f["fee_id"]), str(f["loan_id"]), f["kind"], f["paid_on"].isoformat(), f["fee_fen"],
                      f["computed_fen"], f["amount_fen"], f["paid_fen"], f["deferred_fen"], "yes" if f["capped"] else "")
    table.print()


def _print_result(result, fee_items: list[dict]) -> None:
    state = "new run" if result.created else "already run: nothing changed"
    console.print(f"subsidy run {result.run_id} for {result.month} ({state}), as of {result.business_date}")
    console.print(f"  lines {result.line_count} ({result.capped_count} capped)")
    console.print(f"  subsidy {yuan(result.total_fen)} yuan; before the caps {yuan(result.computed_fen)} yuan")
    console.print(_fee_figures_line(result.fee_line_count, result.fee_capped_count, result.fee_total_fen,
                                    result.fee_computed_fen, result.interest_total_fen))
    console.print(f"  paid {yuan(result.paid_fen)} yuan, deferred {yuan(result.deferred_fen)} yuan; journal entry {result.entry_id or '-'}")
    _print_fee_table(fee_items, None, result.fee_line_count)


@app.command("run", help="Propose running month YYYY-MM (rule G1): an officer proposes, an approver signs off with "
                         "`ipfund proposals approve ID --user LOGIN`, which runs it then: every eligible repayment paid by the "
                         "month's end (and the business date) that no earlier run took. A month run already is reported "
                         "(nothing changes, nothing is proposed).")
@handle_errors
def run(
    month: str = typer.Option(..., "--month", help="YYYY-MM"),
    user: str = user_option(),
    note: str | None = typer.Option(None, "--note", help="A note for the approver."),
    as_json: bool = typer.Option(False, "--json", help="Print the proposal (or the existing run) as JSON."),
) -> None:
    from fund.cli.proposals import print_proposal
    from fund.services.proposals import propose_run
    from fund.services.subsidies import RunResult

    outcome = propose_run(session_factory(), user_actor(user), month, note=note)
    if not isinstance(outcome, RunResult):
        print_proposal(outcome, as_json=as_json)
    elif as_json:
        print_json(_result_dict(outcome, _run_fee_items(outcome)))
    else:
        _print_result(outcome, _run_fee_items(outcome))


def _preview_dict(p) -> dict:
    return {
        "month": p.month, "business_date": p.business_date, "already_run": p.already_run, "lines": p.line_count,
        "capped_lines": p.capped_count, "computed_fen": p.computed_fen, "total_fen": p.total_fen, "paid_fen": p.paid_fen,
        "deferred_fen": p.deferred_fen, "pool_cash_fen": p.cash_fen, "interest_total_fen": p.interest_total_fen,
        "fee_lines": p.fee_line_count, "fee_capped_lines": p.fee_capped_count, "fee_computed_fen": p.fee_computed_fen,
        "fee_total_fen": p.fee_total_fen, "fee_items": [_fee_item(f, f.paid_fen) for f in p.fee_lines],
        "items": [{
            "repayment_id": ln.repayment_id, "loan_id": ln.loan_id, "enterprise_id": ln.enterprise_id,
            "policy_id": ln.policy_id, "paid_on": ln.paid_on, "interest_fen": ln.interest_fen, "lpr_bp": ln.lpr_bp,
            "computed_fen": ln.computed_fen, "amount_fen": ln.amount_fen, "capped": ln.capped, "paid_fen": ln.paid_fen,
            "deferred_fen": ln.deferred_fen,
        } for ln in p.lines],
    }


@app.command("preview", help="Preview month YYYY-MM: the lines and totals a run would write now, paid and deferred "
                             "from the subsidy pool's cash: the interest lines, then the fee lines (a second table). "
                             "Writes nothing.")
@handle_errors
def preview(
    month: str = typer.Option(..., "--month", help="YYYY-MM"),
    shown: int = typer.Option(20, "--lines", min=0, help="How many lines of each table to show (the totals cover them all)."),
    as_json: bool = typer.Option(False, "--json", help="Print the preview and every line, interest and fee, as JSON (amounts in fen)."),
) -> None:
    from fund.cli.common import money_table, yuan_text
    from fund.services import subsidies

    actor = fund_manager_actor()
    with progress_bar(f"subsidy preview {month}") as progress:
        result = subsidies.preview(session_factory(), actor, month, progress=progress)
    if as_json:
        print_json(_preview_dict(result))
        return
    if result.already_run is not None:
        console.print(f"{month} was run already (run {result.already_run}): a run now would change nothing")
        return
    console.print(f"preview of the subsidy run for {month} as of {result.business_date} (nothing written)")
    console.print(f"  lines {result.line_count:,} ({result.capped_count:,} capped)")
    console.print(f"  subsidy {yuan_text(result.total_fen)}; before the caps {yuan_text(result.computed_fen)}")
    console.print(_fee_figures_line(result.fee_line_count, result.fee_capped_count, result.fee_total_fen,
                                    result.fee_computed_fen, result.interest_total_fen))
    console.print(f"  subsidy pool cash {yuan_text(result.cash_fen)}: paid {yuan_text(result.paid_fen)}, "
                  f"deferred {yuan_text(result.deferred_fen)}")
    if shown and result.line_count:
        table = money_table("repayment", "loan", "paid on", "interest", "subsidy", "paid", "deferred", "capped",
                            money=("interest", "subsidy", "paid", "deferred"), numbers=("repayment", "loan"),
                            title=f"first {min(shown, result.line_count):,} lines (S3 order)")
        for ln in result.first_lines(shown):
            table.add_row(str(ln.repayment_id), str(ln.loan_id), ln.paid_on.isoformat(), ln.interest_fen, ln.amount_fen,
                          ln.paid_fen, ln.deferred_fen, "yes" if ln.capped else "")
        table.print()
    _print_fee_table([_fee_item(f, f.paid_fen) for f in result.fee_lines[:shown]], shown, result.fee_line_count)


@app.command("list", help="List subsidy runs.")
@handle_errors
def list_(as_json: bool = typer.Option(False, "--json")) -> None:
    from fund.services.subsidies import list_runs

    with transaction() as session:
        runs = list_runs(session)
    if as_json:
        print_json([_result_dict(r) | {"created": None} for r in runs])
        return
    if not runs:
        console.print("no subsidy run yet")
    table = money_table("run", "month", "as of", "lines", "capped", "subsidy", "paid", "deferred",
                        money=("subsidy", "paid", "deferred"), numbers=("run", "lines", "capped"))
    for r in runs:
        table.add_row(str(r.run_id), r.month, r.business_date.isoformat(), r.line_count, r.capped_count, r.total_fen, r.paid_fen,
                      r.deferred_fen)
    if runs:
        table.print()


@app.command("statement", help="Write a run's statement (all lines, one bank's or one enterprise's) as XLSX or CSV: title "
                               "block, headers in Chinese (--lang en: English), yuan and exact fen, paid and deferred per line, "
                               "totals per bank, per enterprise and in all.")
@handle_errors
def statement(
    run_id: int | None = typer.Option(None, "--run", help="Run id."),
    month: str | None = typer.Option(None, "--month", help="Or the run's month, YYYY-MM."),
    bank: str | None = typer.Option(None, "--bank", help="Only this bank's loans (institution code)."),
    enterprise: str | None = typer.Option(None, "--enterprise", help="Only this enterprise (unified social credit code)."),
    fmt: str = typer.Option(..., "--format", help="xlsx or csv."),
    out: Path = typer.Option(..., "--out", help="File to write."),
    lang: str = typer.Option("zh", "--lang", help="zh (default) or en."),
    user: str | None = typer.Option(None, "--user", envvar="IPFUND_USER", metavar="LOGIN",
                                    help="Read as this person (a bank's staff see only their bank's loans; the password "
                                         "is asked for or taken from IPFUND_PASSWORD); default the fund manager."),
) -> None:
    from fund.cli.common import write_statement_file
    from fund.services.statements import subsidy_statement

    actor = reader_actor(user)
    write_statement_file(lambda session: subsidy_statement(session, actor, run_id=run_id, month=month, bank_code=bank,
                                                           enterprise_code=enterprise, lang=lang), fmt, out, lang)


# ---- a synthetic book and the benchmark ----------------------------------------------------------


def _bench_one(url: str, *, loans: int, seed: int, month: str, business_date: dt.date) -> dict:
    from fund.adapters.db import make_engine, make_session_factory, server_version, unit_of_work, upgrade
    from fund.adapters.dialect import refresh_statistics
    from fund.services.common import fund_manager
    from fund.services.ledger import appropriate, check_ledger
    from fund.services.registry import Actor
    from fund.services.subsidies import run_month
    from fund.services.synthetic import load_synthetic_book

    engine = make_engine(url)
    try:
        upgrade(engine)
        factory = make_session_factory(engine)
        clock = time.perf_counter()
        with unit_of_work(factory) as session:
            book = load_synthetic_book(session, loans=loans, seed=seed)
        build_s = time.perf_counter() - clock
        with unit_of_work(factory) as session:
            refresh_statistics(session)
        with unit_of_work(factory) as session:
            fm = Actor.of(fund_manager(session))
            # less than the run needs (about 1.9 x 10^11 fen for the default book): the rest is deferred (S5)
            appropriate(session, pool="subsidy", amount_fen=10**11, policy_id="gz-2023", business_date=business_date)
        load_before = os.getloadavg()[0]
        clock, cpu = time.perf_counter(), time.process_time()
        with unit_of_work(factory) as session:
            result = run_month(session, month, business_date, actor=fm)
            before_commit = time.perf_counter()
        run_s = time.perf_counter() - clock
        run_cpu_s = time.process_time() - cpu
        commit_s = time.perf_counter() - before_commit
        load_after = os.getloadavg()[0]
        clock = time.perf_counter()
        with unit_of_work(factory) as session:
            again = run_month(session, month, business_date, actor=fm)
        rerun_s = time.perf_counter() - clock
        clock = time.perf_counter()
        with unit_of_work(factory) as session:
            problems = check_ledger(session)
        check_s = time.perf_counter() - clock
        server = server_version(url) if engine.dialect.name == "postgresql" else ""
        return {
            "backend": engine.dialect.name, "server": server, "book": book, "build_s": build_s, "run_s": run_s,
            "run_cpu_s": run_cpu_s, "load_1min": (load_before, load_after),
            "phases_s": result.timings_s | {"commit": commit_s}, "result": result, "rerun_s": rerun_s,
            "rerun_unchanged": (not again.created and again.total_fen == result.total_fen), "check_s": check_s,
            "ledger_problems": len(problems),
        }
    finally:
        engine.dispose()




@app.command("bench", help="Benchmark (not a test): build a synthetic book (default 100,000 loans x 12 monthly repayments) "
                           "in scratch databases and time one subsidy run over all its repayments on SQLite and PostgreSQL.")
@handle_errors
def bench(
    loans: int = typer.Option(100_000, help="Loans in the book (12 repayments each)."),
    backend: str = typer.Option("both", help="sqlite, postgresql or both."),
    postgres_url: str = typer.Option(DEFAULT_BENCH_POSTGRES_URL, "--postgres-url",
                                     help="A PostgreSQL server; the benchmark creates a scratch database there and drops it."),
    sqlite_dir: Path | None = typer.Option(None, "--sqlite-dir", help="Folder for the scratch SQLite file (default a temporary folder)."),
    seed: int = typer.Option(1, help="Seed of the synthetic book."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    import tempfile

    if backend not in ("sqlite", "postgresql", "both"):
        fail("--backend must be sqlite, postgresql or both")
    if loans < 1:
        fail("--loans must be >= 1")
    month, business_date = "2025-12", dt.date(2026, 1, 31)  # drawdowns in 2024: every installment falls due by 2025-12
    from fund.adapters.machine import machine_info

    machine = machine_info("sqlite", "sqlalchemy")
    outcomes = []
    if backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(dir=sqlite_dir) as folder:
            err_console.print(f"sqlite: building {loans} loans ...")
            outcomes.append(_bench_one(f"sqlite:///{Path(folder) / 'bench.sqlite3'}", loans=loans, seed=seed, month=month,
                                       business_date=business_date))
    if backend in ("postgresql", "both"):
        from fund.adapters.db import scratch_postgres_database

        with scratch_postgres_database(postgres_url, prefix="ipfund_bench") as url:
            err_console.print(f"postgresql: building {loans} loans ...")
            outcomes.append(_bench_one(url, loans=loans, seed=seed, month=month, business_date=business_date))
    if as_json:
        print_json({"machine": machine, "runs": [
            {k: (v.__dict__ if hasattr(v, "__dict__") and not isinstance(v, dict) else v) for k, v in o.items()} for o in outcomes
        ]})
        return
    console.print("machine: " + "; ".join(f"{k} {v}" for k, v in machine.items()))
    for o in outcomes:
        r, b = o["result"], o["book"]
        name = o["backend"] + (f" {o['server']}" if o["server"] else "")
        console.print(f"[bold]{name}[/bold]: book {b.loans} loans, {b.repayments} repayments ({b.late_repayments} late, "
                      f"{b.ineligible_loans} loans ineligible), built in {o['build_s']:.1f} s")
        console.print(f"  run {r.month}: {o['run_s']:.1f} s wall ({o['run_cpu_s']:.1f} s CPU in this process; load average "
                      f"{o['load_1min'][0]:.1f} before, {o['load_1min'][1]:.1f} after) for {r.line_count} lines "
                      f"({r.capped_count} capped), total {r.total_fen} fen, paid {r.paid_fen}, deferred {r.deferred_fen}")
        console.print("  phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in o["phases_s"].items()))
        console.print(f"  rerun of the month {o['rerun_s']:.2f} s (unchanged: {o['rerun_unchanged']}); "
                      f"ledger check {o['check_s']:.1f} s, {o['ledger_problems']} problems")
    import resource

    console.print(f"peak memory of the benchmark process (book building included): "
                  f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
