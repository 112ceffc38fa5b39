"""``ipfund agreements``: banks in the pool (docs/rules.md section 12). An officer proposes a bank's
pool agreement or a suspension's lift (rule G: an approver signs it off with ``ipfund proposals
approve``); everyone with a reader's right lists agreements, suspensions and loss ratios."""

from __future__ import annotations

import typer

from fund.cli.common import (console, handle_errors, money_table, parse_date, print_json, reader_actor, session_factory,
                             user_option)

app = typer.Typer(help="Banks' pool agreements (B1) and suspensions at the loss line (B2), docs/rules.md section 12.",
                  no_args_is_help=True)


@app.command("list", help="List pool agreements (bank, policy, from which date, reference).")
@handle_errors
def list_(
    bank: str = typer.Option(None, "--bank", help="Only this bank's code."),
    policy: str = typer.Option(None, "--policy", help="Only under this policy."),
    user: str = user_option(required=False),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    from fund.services.pool import list_agreements

    rows = list_agreements(session_factory(), reader_actor(user), bank_code=bank, policy_id=policy)
    if as_json:
        print_json([r.as_dict() for r in rows])
        return
    for r in rows:
        console.print(f"{r.id}  {r.bank_code} ({r.bank_name})  {r.policy_id}  from {r.agreed_on}  {r.reference}", markup=False)


@app.command("show", help="One pool agreement by id.")
@handle_errors
def show(agreement_id: int = typer.Argument(...), user: str = user_option(required=False),
         as_json: bool = typer.Option(False, "--json")) -> None:
    from fund.services.pool import get_agreement

    view = get_agreement(session_factory(), reader_actor(user), agreement_id)
    if as_json:
        print_json(view.as_dict())
        return
    for name, value in view.as_dict().items():
        console.print(f"{name}: {value}", markup=False)


@app.command("propose", help="Propose recording a bank's pool agreement under a policy (an approver signs it off).")
@handle_errors
def propose(
    bank: str = typer.Argument(..., help="The bank's institution code."),
    policy: str = typer.Argument(..., help="The policy id, e.g. gz-2023."),
    agreed_on: str = typer.Option(..., "--on", help="The agreement's date, YYYY-MM-DD: the bank takes part from it."),
    reference: str = typer.Option(..., help="The agreement's reference."),
    user: str = user_option(),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    from fund.cli.proposals import propose_and_print

    propose_and_print(user, "pool_agreement", {"bank_code": bank, "policy_id": policy,
                                               "agreed_on": parse_date(agreed_on, "--on").isoformat(), "reference": reference},
                      as_json=as_json)


@app.command("suspensions", help="List banks' suspensions (B2), open ones only with --open.")
@handle_errors
def suspensions(open_only: bool = typer.Option(False, "--open"), user: str = user_option(required=False),
                as_json: bool = typer.Option(False, "--json")) -> None:
    from fund.services.pool import list_suspensions

    rows = list_suspensions(session_factory(), reader_actor(user), open_only=open_only)
    if as_json:
        print_json([r.as_dict() for r in rows])
        return
    table = money_table("id", "bank", "policy", "suspended on", "claim", "losses", "line", "lifted on", money=("losses", "line"),
                        numbers=("id", "claim"), title=f"{len(rows):,} suspensions")
    for r in rows:
        table.add_row(str(r.id), r.bank_code, r.policy_id, r.suspended_on.isoformat(), str(r.claim_id), r.losses_fen, r.line_fen,
                      r.lifted_on.isoformat() if r.lifted_on else "-")
    table.print()


@app.command("lift", help="Propose lifting a suspension with a reason (an approver signs it off).")
@handle_errors
def lift(suspension_id: int = typer.Argument(...), reason: str = typer.Option(..., help="Why (kept with the lift)."),
         user: str = user_option(), as_json: bool = typer.Option(False, "--json")) -> None:
    from fund.cli.proposals import propose_and_print

    propose_and_print(user, "lift_suspension", {"suspension_id": suspension_id, "reason": reason}, as_json=as_json)


@app.command("loss-ratios", help="Each bank's approved covered losses against its suspension line, as of the business date.")
@handle_errors
def loss_ratios(user: str = user_option(required=False), as_json: bool = typer.Option(False, "--json")) -> None:
    from fund.services.pool import bank_loss_ratios

    rows = bank_loss_ratios(session_factory(), reader_actor(user))
    if as_json:
        print_json([r.as_dict() for r in rows])
        return
    table = money_table("bank", "policy", "losses", "in-pool lending", "ratio bp", "line bp", "line", "suspended since",
                        money=("losses", "in-pool lending", "line"), numbers=("ratio bp", "line bp"), title="loss ratios (B2)")
    for r in rows:
        table.add_row(r.bank_code, r.policy_id, r.losses_fen, r.in_pool_lending_fen, "-" if r.ratio_bp is None else str(r.ratio_bp),
                      "-" if r.line_bp is None else str(r.line_bp), r.line_fen,
                      r.suspended_since.isoformat() if r.suspended_since else "-")
    table.print()
