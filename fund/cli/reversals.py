"""``ipfund repayments reverse``: a bank's staff reverses a repayment recorded in error (docs/rules.md
section 3), with a reason."""

from __future__ import annotations

import typer

from fund.cli.common import handle_errors, print_json, session_factory, user_actor, user_option
from fund.domain.money import yuan

app = typer.Typer(help="Repayments: reverse one recorded in error (a bank's staff).", no_args_is_help=True)


@app.command("reverse", help="Reverse a repayment of your bank's loan, with a reason; refused once a claim was filed on the "
                             "loan or a subsidy run exists for its month or later.")
@handle_errors
def reverse(
    loan_id: int = typer.Argument(...),
    repayment_id: int = typer.Argument(...),
    reason: str = typer.Option(..., "--reason"),
    user: str = user_option(),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    from fund.services.repayment_reversals import reverse as reverse_it

    view = reverse_it(session_factory(), user_actor(user), loan_id, repayment_id, reason)
    if as_json:
        print_json(view.as_dict())
        return
    typer.echo(f"repayment {view.repayment_id} of loan {view.loan_id} reversed ({yuan(view.principal_fen)} yuan principal, "
               f"{yuan(view.interest_fen)} yuan interest paid {view.paid_on}); the loan is {view.loan_status}")
