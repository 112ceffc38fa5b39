"""`ipfund subsidies`: Monthly interest-subsidy runs (docs/rules.md section 5): run a month, list runs, write
statements, and a benchmark over a synthetic book of 1.2 million repayments."""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import typer
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from fund.cli.common import (
    actor_for,
    console,
    err_console,
    fail,
    fund_manager_actor,
    handle_errors,
    print_json,
    progress_bar,
    session_factory,
    transaction,
)
from fund.domain.money import yuan

app = typer.Typer(help="Monthly interest-subsidy runs (docs/rules.md section 5).", no_args_is_help=True)

DEFAULT_BENCH_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _result_dict(result) -> dict:
    return {
        "run_id": result.run_id, "month": result.month, "created": result.created,
        "business_date": result.business_date, "lines": result.line_count, "capped_lines": result.capped_count,
        "computed_fen": result.computed_fen, "total_fen": result.total_fen, "paid_fen": result.paid_fen,
        "deferred_fen": result.deferred_fen, "entry_id": result.entry_id,
    }


def _print_result(result) -> None:
    state = "new run" if result.created else "already run: nothing changed"
    console.print(f"subsidy run {result.run_id} for {result.month} ({state}), as of {result.business_date}")
    console.print(f"  lines {result.line_count} ({result.capped_count} capped)")
    console.print(f"  subsidy {result.total_fen} fen ({yuan(result.total_fen)} yuan); before the enterprise cap {result.computed_fen} fen")
    console.print(f"  paid {result.paid_fen} fen, deferred {result.deferred_fen} fen; journal entry {result.entry_id or '-'}")


@app.command("run", help="Run month YYYY-MM as the fund manager: subsidise every eligible repayment paid by the month's "
                         "end (and the business date) that no earlier run took. Running a month again changes nothing.")
@handle_errors
def run(
    month: str = typer.Option(..., "--month", help="YYYY-MM"),
    as_json: bool = typer.Option(False, "--json", help="Print the run as JSON."),
) -> None:
    from fund.services import subsidies

    actor = fund_manager_actor()
    with progress_bar(f"subsidy run {month}") as progress:
        result = subsidies.run(session_factory(), actor, month, progress=progress)
    if as_json:
        print_json(_result_dict(result))
    else:
        _print_result(result)


def _preview_dict(p) -> dict:
    return {
        "month": p.month, "business_date": p.business_date, "already_run": p.already_run, "lines": p.line_count,
        "capped_lines": p.capped_count, "computed_fen": p.computed_fen, "total_fen": p.total_fen, "paid_fen": p.paid_fen,
        "deferred_fen": p.deferred_fen, "pool_cash_fen": p.cash_fen,
        "items": [{
            "repayment_id": ln.repayment_id, "loan_id": ln.loan_id, "enterprise_id": ln.enterprise_id,
            "policy_id": ln.policy_id, "paid_on": ln.paid_on, "interest_fen": ln.interest_fen, "lpr_bp": ln.lpr_bp,
            "computed_fen": ln.computed_fen, "amount_fen": ln.amount_fen, "capped": ln.capped, "paid_fen": ln.paid_fen,
            "deferred_fen": ln.deferred_fen,
        } for ln in p.lines],
    }


@app.command("preview", help="Preview month YYYY-MM: the lines and totals a run would write now, paid and deferred "
                             "from the subsidy pool's cash. Writes nothing.")
@handle_errors
def preview(
    month: str = typer.Option(..., "--month", help="YYYY-MM"),
    shown: int = typer.Option(20, "--lines", min=0, help="How many lines to show (the totals cover them all)."),
    as_json: bool = typer.Option(False, "--json", help="Print the preview and every line as JSON (amounts in fen)."),
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
    console.print(f"  subsidy {yuan_text(result.total_fen)}; before the enterprise cap {yuan_text(result.computed_fen)}")
    console.print(f"  subsidy pool cash {yuan_text(result.cash_fen)}: paid {yuan_text(result.paid_fen)}, "
                  f"deferred {yuan_text(result.deferred_fen)}")
    if shown and result.lines:
        table = money_table("repayment", "loan", "paid on", "interest", "subsidy", "paid", "deferred", "capped",
                            money=("interest", "subsidy", "paid", "deferred"), numbers=("repayment", "loan"),
                            title=f"first {min(shown, result.line_count):,} lines (S3 order)")
        for ln in result.lines[:shown]:
            table.add_row(str(ln.repayment_id), str(ln.loan_id), ln.paid_on.isoformat(), ln.interest_fen, ln.amount_fen,
                          ln.paid_fen, ln.deferred_fen, "yes" if ln.capped else "")
        table.print()


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
    for r in runs:
        console.print(f"{r.run_id:>5}  {r.month}  as of {r.business_date}  {r.line_count:>9} lines  {r.capped_count:>6} capped  "
                      f"{r.total_fen:>16} fen  paid {r.paid_fen}  deferred {r.deferred_fen}")


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
    as_code: str | None = typer.Option(None, "--as", help="Read as this institution (a bank sees only its own loans); default the fund manager."),
) -> None:
    from fund.cli.common import write_statement_file
    from fund.services.statements import subsidy_statement

    actor = actor_for(as_code) if as_code else fund_manager_actor()
    write_statement_file(lambda session: subsidy_statement(session, actor, run_id=run_id, month=month, bank_code=bank,
                                                           enterprise_code=enterprise, lang=lang), fmt, out, lang)


# ---- a synthetic book and the benchmark ----------------------------------------------------------


@dataclass(frozen=True)
class BookSummary:
    enterprises: int
    loans: int
    installments: int
    repayments: int
    late_repayments: int
    ineligible_loans: int


def load_synthetic_book(
    session: Session,
    *,
    loans: int,
    seed: int = 1,
    drawdown_year: int = 2024,
    loans_per_enterprise: int = 5,
    late_share: float = 0.02,
    non_sme_share: float = 0.02,
    big_share: float = 0.02,
    policy_id: str = "gz-2023",
) -> BookSummary:
    """Bulk-load a deterministic book consistent with the rules, in the caller's transaction: loans
    drawn in ``drawdown_year`` under ``policy_id`` (which must be active then), 12 monthly installments
    each, amortising, every installment repaid in full in one repayment, on time (up to 5 days early) or,
    for ``late_share`` of them, 1..20 days late (then past due when paid). Enterprises of ``non_sme_share``
    are not SMEs: their loans are ineligible. ``big_share`` of loans are 50 times larger, so some
    enterprises reach their annual subsidy cap. Covered principal follows rule C (single-loan cap and
    the borrower quota in registration order). Written with COPY (PostgreSQL) or executemany (SQLite);
    loan events and borrower reports, which no rule here reads, are not written.
    """
    from fund.adapters.models.registry import Institution, StoredPolicy
    from fund.domain.dates import add_months
    from fund.services.common import add_institution
    from fund.services.policies import activate_policy, get_policy, load_shipped_policies
    from fund.services.reference import make_patent_number, make_uscc, seed_reference_data

    seed_reference_data(session)
    if session.get(StoredPolicy, policy_id) is None:
        load_shipped_policies(session)
    activate_policy(session, policy_id)
    policy = get_policy(session, policy_id)
    bank_ids = [add_institution(session, f"SYN-BANK{i}", f"Synthetic Bank {i}", "bank").id for i in range(1, 4)]
    if session.scalar(select(Institution.id).where(Institution.kind == "fund_manager")) is None:
        add_institution(session, "FM", "Fund Manager", "fund_manager")
    session.flush()

    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    day = (lambda d: d.isoformat()) if sqlite else (lambda d: d)
    start = {t: int(connection.execute(text(f"select coalesce(max(id), 0) from {t}")).scalar()) + 1
             for t in ("enterprises", "loans", "installments", "repayments", "ip_assets")}
    rng = np.random.default_rng(seed)
    n_ent = -(-loans // loans_per_enterprise)
    non_sme = rng.random(n_ent) < non_sme_share
    enterprise_rows = [
        (start["enterprises"] + e, make_uscc(f"92{seed % 100:02d}{start['enterprises'] + e:013d}"), f"Synthetic enterprise {e}",
         "Huangpu", "next_generation_it", day(dt.date(2015, 1, 1)), not bool(non_sme[e]), True, bank_ids[0])
        for e in range(n_ent)
    ]
    _bulk(connection, "enterprises", ("id", "credit_code", "name", "district", "sector", "registered_on", "is_sme",
                                      "clean_credit", "first_reported_by"), enterprise_rows)

    first_day = dt.date(drawdown_year, 1, 1)
    offsets = np.sort(rng.integers(0, 365, loans))  # registration order follows drawdown
    principal = rng.integers(1_000_000, 500_000_000, loans) * np.where(rng.random(loans) < big_share, 50, 1)
    rates = rng.integers(250, 600, loans)
    shares = rng.integers(3_000, 10_001, loans)
    owner = rng.integers(0, n_ent, loans)
    early = rng.integers(0, 6, (loans, 12))
    late = np.where(rng.random((loans, 12)) < late_share, rng.integers(1, 21, (loans, 12)), 0)
    quota_used: dict[int, int] = {}
    loan_rows, asset_rows, link_rows, inst_rows, rep_rows = [], [], [], [], []
    inst_id, rep_id = start["installments"], start["repayments"]
    late_count = ineligible = 0
    json_empty, json_not_sme = "[]", '["not_sme"]'
    for k in range(loans):
        loan_id = start["loans"] + k
        ent = int(owner[k])
        p, rate, share = int(principal[k]), int(rates[k]), int(shares[k])
        drawdown = first_day + dt.timedelta(days=int(offsets[k]))
        ip_part = p * share // 10_000
        eligible = not non_sme[ent]
        if eligible:
            capped = min(ip_part, policy.single_loan_cap_fen or ip_part)
            used = quota_used.get(ent, 0)
            covered = min(capped, max(0, (policy.borrower_annual_quota_fen or capped + used) - used))
            quota_used[ent] = used + covered
        else:
            covered = 0
            ineligible += 1
        bank_id = bank_ids[k % len(bank_ids)]
        asset_id = start["ip_assets"] + k
        loan_rows.append((
            loan_id, bank_id, f"SYN-{seed}-{loan_id}", start["enterprises"] + ent, p, rate, day(drawdown),
            day(add_months(drawdown, 12)), share, "50", policy_id, f"PR-SYN-{seed}-{loan_id}", day(drawdown),
            "eligible" if eligible else "ineligible", json_empty if eligible else json_not_sme, ip_part, covered,
            drawdown_year if eligible else None, "repaid", p, json_empty, day(drawdown),
        ))
        asset_rows.append((asset_id, "invention_patent", make_patent_number(2017, 1, asset_id), f"Synthetic patent {asset_id}",
                           day(dt.date(2017, 3, 1)), "valid", enterprise_rows[ent][1], 10 * p, day(drawdown)))
        link_rows.append((loan_id, asset_id))
        outstanding = p
        for m in range(12):
            due = add_months(drawdown, m + 1)
            principal_due = p - (p // 12) * 11 if m == 11 else p // 12
            interest_due = outstanding * rate // 120_000
            outstanding -= principal_due
            inst_rows.append((inst_id, loan_id, day(due), principal_due, interest_due, principal_due, interest_due))
            days_late = int(late[k, m])
            paid_on = due + dt.timedelta(days=days_late) if days_late else max(drawdown, due - dt.timedelta(days=int(early[k, m])))
            late_count += days_late > 0
            rep_rows.append((rep_id, loan_id, inst_id, day(paid_on), principal_due, interest_due, "active", days_late > 0, bank_id))
            inst_id += 1
            rep_id += 1
    _bulk(connection, "ip_assets", ("id", "kind", "number", "title", "filing_date", "legal_status", "owner_credit_code",
                                    "appraised_value_fen", "appraised_on"), asset_rows)
    _bulk(connection, "loans", ("id", "bank_id", "contract_no", "enterprise_id", "principal_fen", "contract_rate_bp",
                                "drawdown_date", "maturity_date", "ip_share_bp", "scheme_code", "policy_id",
                                "pledge_registration_no", "pledge_registered_on", "coverage", "ineligible_reasons",
                                "ip_part_fen", "covered_fen", "quota_year", "status", "principal_repaid_fen", "flags",
                                "registered_on"), loan_rows)
    _bulk(connection, "loan_assets", ("loan_id", "asset_id"), link_rows)
    _bulk(connection, "installments", ("id", "loan_id", "due_date", "principal_due_fen", "interest_due_fen",
                                       "principal_paid_fen", "interest_paid_fen"), inst_rows)
    _bulk(connection, "repayments", ("id", "loan_id", "installment_id", "paid_on", "principal_fen", "interest_fen",
                                     "loan_status_at_payment", "past_due_at_payment", "recorded_by"), rep_rows)
    quota_rows = [(start["enterprises"] + ent, policy_id, drawdown_year, used) for ent, used in quota_used.items()]
    _bulk(connection, "borrower_quotas", ("enterprise_id", "policy_id", "year", "used_fen"), quota_rows)
    if not sqlite:
        for table in ("enterprises", "loans", "installments", "repayments", "ip_assets"):
            connection.execute(text(f"select setval(pg_get_serial_sequence('{table}', 'id'), (select max(id) from {table}))"))
    return BookSummary(n_ent, loans, len(inst_rows), len(rep_rows), late_count, ineligible)


def _bulk(connection, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    if not rows:
        return
    raw = connection.connection
    if connection.dialect.name == "postgresql":
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    cursor = raw.cursor()
    cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})", rows)
    cursor.close()


def _bench_one(url: str, *, loans: int, seed: int, month: str, business_date: dt.date) -> dict:
    from fund.adapters.db import make_engine, make_session_factory, unit_of_work, upgrade
    from fund.services.ledger import appropriate, check_ledger
    from fund.services.registry import Actor
    from fund.adapters.models.registry import Institution
    from fund.services.subsidies import run_month

    engine = make_engine(url)
    try:
        upgrade(engine)
        factory = make_session_factory(engine)
        clock = time.perf_counter()
        with unit_of_work(factory) as session:
            book = load_synthetic_book(session, loans=loans, seed=seed)
        build_s = time.perf_counter() - clock
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("ANALYZE"))
            else:
                connection.exec_driver_sql("ANALYZE")
        with unit_of_work(factory) as session:
            fm = Actor.of(session.scalar(select(Institution).where(Institution.kind == "fund_manager")))
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
        server = ""
        if engine.dialect.name == "postgresql":
            with engine.connect() as connection:
                server = connection.execute(text("show server_version")).scalar()
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
