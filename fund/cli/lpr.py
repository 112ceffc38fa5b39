"""`ipfund lpr`: the 1-year LPR table."""

from __future__ import annotations

import typer

from fund.cli.common import console, current_business_date, handle_errors, parse_date, print_json, transaction, user_option

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


@app.command("add", help="Propose a publication dated after checked_through (officer; an approver signs it off: "
                          "docs/rules.md section 11, G1).")
@handle_errors
def add(date: str = typer.Argument(..., help="Publication date YYYY-MM-DD."), rate_bp: int = typer.Argument(..., help="Rate in bp."),
        user: str = user_option()) -> None:
    from fund.cli.proposals import propose_and_print

    propose_and_print(user, "lpr_publication", {"published_on": parse_date(date).isoformat(), "rate_bp": rate_bp})


@app.command("check-through", help="Propose moving checked_through forward: the table is known complete up to DATE "
                                    "(officer; an approver signs it off).")
@handle_errors
def check_through(date: str = typer.Argument(..., help="YYYY-MM-DD"), user: str = user_option()) -> None:
    from fund.cli.proposals import propose_and_print

    propose_and_print(user, "lpr_checked_through", {"through": parse_date(date).isoformat()})


@app.command("rate", help="The LPR in force on a date.")
@handle_errors
def rate(date: str) -> None:
    from fund.services.lpr import lpr_table

    with transaction() as session:
        typer.echo(f"{lpr_table(session).rate_on(parse_date(date))}")
