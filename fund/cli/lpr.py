"""`ipfund lpr`: the 1-year LPR table."""

from __future__ import annotations

import typer

from fund.cli.common import console, current_business_date, handle_errors, parse_date, print_json, transaction

app = typer.Typer(help="The 1-year LPR table (docs/rules.md section 2).", no_args_is_help=True)


@app.command("list", help="List publications and checked_through.")
@handle_errors
def list_(as_json: bool = typer.Option(False, "--json")) -> None:
    from fund.services.lpr import lpr_table

    with transaction() as session:
        table = lpr_table(session)
    if as_json:
        print_json({"checked_through": table.checked_through, "publications": [{"published_on": d, "rate_bp": r} for d, r in table.publications]})
        return
    for d, r in table.publications:
        console.print(f"{d}  {r} bp")
    console.print(f"checked through {table.checked_through}")


@app.command("add", help="Add a publication dated after checked_through.")
@handle_errors
def add(date: str = typer.Argument(..., help="Publication date YYYY-MM-DD."), rate_bp: int = typer.Argument(..., help="Rate in bp.")) -> None:
    from fund.services.lpr import add_publication

    with transaction() as session:
        add_publication(session, parse_date(date), rate_bp)
    typer.echo(f"added {date} {rate_bp} bp")


@app.command("check-through", help="Move checked_through forward: the table is known complete up to DATE.")
@handle_errors
def check_through(date: str = typer.Argument(..., help="YYYY-MM-DD")) -> None:
    from fund.services.lpr import check_through as move

    day = parse_date(date)
    bd = current_business_date()
    with transaction() as session:
        move(session, day, bd)
    typer.echo(f"checked through {day}")


@app.command("rate", help="The LPR in force on a date.")
@handle_errors
def rate(date: str) -> None:
    from fund.services.lpr import lpr_table

    with transaction() as session:
        typer.echo(f"{lpr_table(session).rate_on(parse_date(date))}")
