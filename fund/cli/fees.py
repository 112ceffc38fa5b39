"""``ipfund fees``: fees a bank reports for its loans and their subsidies (docs/rules.md section 5, S6)."""

from __future__ import annotations

import typer

from fund.cli.common import handle_errors, money_table, parse_date, print_json, reader_actor, session_factory, user_actor, user_option

app = typer.Typer(help="Appraisal, insurance and guarantee fees of loans and their subsidies (docs/rules.md section 5, S6).",
                  no_args_is_help=True)


@app.command("record", help="Report a fee the borrower paid for a loan, as a staff member of its bank (--user LOGIN).")
@handle_errors
def record(
    loan_id: int = typer.Argument(...),
    kind: str = typer.Option(..., help="appraisal, insurance or guarantee."),
    amount_fen: int = typer.Option(..., "--amount-fen", help="The fee in fen."),
    paid_on: str = typer.Option(..., "--paid-on", help="Date paid, YYYY-MM-DD."),
    issuer: str = typer.Option(..., help="Who issued the invoice."),
    invoice: str = typer.Option(..., help="The invoice number (unique per issuer)."),
    user: str = user_option(),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    from fund.services.fees import FeeIn, record_one

    view = record_one(session_factory(), user_actor(user), loan_id,
                      FeeIn(kind, amount_fen, parse_date(paid_on, "--paid-on"), issuer, invoice))
    if as_json:
        print_json(view.as_dict())
        return
    _table([view])


@app.command("list", help="List fees and their subsidies (one loan's with --loan); a bank's staff see their bank's.")
@handle_errors
def list_(loan_id: int = typer.Option(None, "--loan"), user: str = user_option(required=False), as_json: bool = typer.Option(False, "--json")) -> None:
    from fund.services.fees import list_fees

    rows = list_fees(session_factory(), reader_actor(user), loan_id=loan_id)
    if as_json:
        print_json([r.as_dict() for r in rows])
        return
    _table(rows)


def _table(rows) -> None:
    table = money_table("id", "loan", "kind", "fee", "paid on", "issuer", "invoice", "subsidy", "capped", "run",
                        money=("fee", "subsidy"), numbers=("id", "loan"), title=f"{len(rows):,} fees")
    for r in rows:
        table.add_row(str(r.id), str(r.loan_id), r.kind, r.amount_fen, r.paid_on.isoformat(), r.issuer, r.invoice_no, r.subsidy_fen,
                      "capped" if r.capped else "", str(r.run_id) if r.run_id else "")
    table.print()
