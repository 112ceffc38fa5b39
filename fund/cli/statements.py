"""`ipfund statements` (compensation by bank over a period) and `ipfund report monthly` (docs/rules.md section 13):
files people hand on, tables people read (yuan, never cut at 80 columns)."""

from __future__ import annotations

from pathlib import Path

import typer

from fund.cli.common import (
    console,
    handle_errors,
    money_table,
    parse_date,
    print_json,
    progress_bar,
    reader_actor,
    transaction,
    user_option,
    write_statement_file,
)

app = typer.Typer(help="Statements as XLSX or CSV (compensation by bank over a period).", no_args_is_help=True)


@app.command("compensation", help="Compensation by bank over a period: every claim approved from --from to --to "
                                  "with the fund's share, paid, deferred and recovered; totals per bank, per enterprise and in all.")
@handle_errors
def compensation(
    start: str = typer.Option(..., "--from", help="First day, YYYY-MM-DD."),
    end: str = typer.Option(..., "--to", help="Last day, YYYY-MM-DD."),
    bank: str | None = typer.Option(None, "--bank", help="Only this bank (institution code)."),
    fmt: str = typer.Option("xlsx", "--format", help="xlsx or csv."),
    out: Path = typer.Option(..., "--out", help="File to write."),
    lang: str = typer.Option("zh", "--lang", help="zh (default) or en."),
    user: str | None = user_option(required=False),
) -> None:
    from fund.services.statements import compensation_statement

    actor = reader_actor(user)  # the person reading (--user), else the fund manager
    first, last = parse_date(start, "from"), parse_date(end, "to")
    write_statement_file(lambda session: compensation_statement(session, actor, start=first, end=last, bank_code=bank,
                                                                lang=lang), fmt, out, lang)


def monthly(
    month: str = typer.Option(..., "--month", help="YYYY-MM"),
    fmt: str = typer.Option("table", "--format", help="table, json, xlsx or csv."),
    out: Path | None = typer.Option(None, "--out", help="File to write (xlsx and csv; default monthly-YYYY-MM.xlsx|csv)."),
    lang: str = typer.Option("zh", "--lang", help="zh (default) or en (table, xlsx and csv)."),
    user: str | None = user_option(required=False),
) -> None:
    """Monthly statistics (docs/rules.md section 13): loans and covered principal by bank, sector, district and IP
    kind, enterprises served, claims, compensation paid and deferred by bank, recoveries, subsidies,
    pools at the month's end, leverage and loans past due; for the month and cumulatively."""
    from fund.services.monthly import figure_rows, monthly_statistics
    from fund.services.statements import monthly_statement

    if fmt not in ("table", "json", "xlsx", "csv"):
        raise typer.BadParameter("--format must be table, json, xlsx or csv")
    actor = reader_actor(user)  # the person reading (--user), else the fund manager
    if fmt in ("xlsx", "csv"):
        target = out or Path(f"monthly-{month}.{fmt}")
        write_statement_file(lambda session: monthly_statement(session, actor, month, lang=lang), fmt, target, lang)
        return
    with progress_bar(f"monthly statistics {month}") as progress:
        progress("read", 0, 1)
        with transaction() as session:
            stats = monthly_statistics(session, actor, month)
        progress("read", 1, 1)
    if fmt == "json":
        print_json(stats.as_dict())
        return
    table = money_table("period", "figure", "breakdown", "count", "amount", money=("amount",), numbers=("count",),
                        title=f"monthly statistics {month} (as of {stats.business_date})")
    for row in figure_rows(stats, lang):
        table.add_row(*row)
    table.print()
    for note in stats.notes:
        console.print(f"note: {note}")


def register(report_app: typer.Typer) -> None:
    """Add ``monthly`` to the ``ipfund report`` group."""
    report_app.command("monthly", help="Monthly statistics (docs/rules.md section 13) as a table, JSON, XLSX or CSV.")(handle_errors(monthly))




def bench_statements(
    lines: int = typer.Option(1_000_000, "--lines", min=1, help="Lines in the synthetic statement."),
    fmt: str = typer.Option("xlsx", "--format", help="xlsx or csv."),
    out: Path | None = typer.Option(None, "--out", help="Keep the file here (default: a temporary file, removed)."),
) -> None:
    """Benchmark (not a test): write a synthetic subsidy statement of ``--lines`` lines (rows made on
    the fly, as the database would stream them) and report wall time, CPU time, peak memory and size."""
    import datetime as dt
    import os
    import resource
    import tempfile
    import time
    from decimal import Decimal

    from fund.services.statements import CHINA, SUBSIDY_LAYOUT, TitleBlock, write_csv, write_xlsx

    def rows():
        due = dt.date(2025, 6, 15)
        rate = Decimal("345")
        for k in range(1, lines + 1):
            amount = 1_000 + k % 997 * 1_013
            paid = amount if k % 10 else amount // 2
            yield (k, f"BANK{k % 12 + 1}", k, f"C-{k:08d}", f"91440100{k % 100_000:09d}X", f"Enterprise {k % 100_000}", "gz-2023",
                   due, due, amount * 4, 385, 10_000, 345, rate, amount, amount, paid, amount - paid, k % 50 == 0)

    title = TitleBlock("Benchmark fund", "statement benchmark", "2025-06", "gz-2023", dt.datetime.now(CHINA), "bench",
                       dt.date(2026, 10, 31))
    target = out or Path(tempfile.mkdtemp()) / f"statement.{fmt}"
    before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    clock, cpu = time.perf_counter(), time.process_time()
    with progress_bar(f"statement of {lines:,} lines") as progress:
        if fmt == "csv":
            with open(target, "w", encoding="utf-8", newline="") as handle:
                written = write_csv(SUBSIDY_LAYOUT, rows(), handle, progress=progress, total=lines)
        else:
            written = write_xlsx(SUBSIDY_LAYOUT, title, rows(), str(target), progress=progress, total=lines)
    wall, cpu_s = time.perf_counter() - clock, time.process_time() - cpu
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    size = target.stat().st_size
    typer.echo(f"{written.lines:,} lines to {fmt.upper()} in {wall:.1f} s wall ({cpu_s:.1f} s CPU, load average "
               f"{os.getloadavg()[0]:.1f}); peak memory {peak_kib / 1024:.0f} MiB (process before writing: "
               f"{before_kib / 1024:.0f} MiB); file {size / 2**20:.1f} MiB")
    if out is None:
        target.unlink()
        target.parent.rmdir()


def register_bench(bench_app: typer.Typer) -> None:
    """Add ``statements`` to the ``ipfund bench`` group."""
    bench_app.command("statements", help="Benchmark a 1,000,000-line statement to XLSX (time and peak memory).")(
        handle_errors(bench_statements))
