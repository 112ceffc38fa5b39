"""``ipfund proposals``: rule G1 (docs/rules.md section 11). An officer proposes a decision (the
commands for decisions, e.g. ``ipfund claims approve``, make proposals too); an approver who did not
make it signs it off (``approve``), or declines it with a reason; the maker may withdraw it."""

from __future__ import annotations

import json

import typer

from fund.cli.common import console, handle_errors, print_json, reader_actor, session_factory, user_actor, user_option
from fund.errors import DomainError

app = typer.Typer(help="Two-person sign-off (rule G1): list, show, propose, approve, decline, withdraw.", no_args_is_help=True)


def _params(pairs: list[str]) -> dict:
    """``key=value`` pairs; values that read as JSON (numbers, true, null, quoted) are taken as such."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise DomainError("invalid_parameter", f"parameters are key=value, got {pair!r}", field="param")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def print_proposal(view, *, as_json: bool = False) -> None:
    if as_json:
        print_json(view.as_dict())
        return
    typer.echo(view.line())
    if view.status == "open":
        typer.echo(f"  will do (as computed on {view.proposed_on}): {json.dumps(view.preview, ensure_ascii=False, sort_keys=True)}")
        typer.echo(f"  waiting for an approver's sign-off: ipfund proposals approve {view.id} --user LOGIN")
    elif view.figures is not None:
        differ = " (differs from the preview)" if view.figures_differ else ""
        typer.echo(f"  did (on {view.decided_on}): {json.dumps(view.figures, ensure_ascii=False, sort_keys=True)}{differ}")
    elif view.decline_reason:
        typer.echo(f"  declined: {view.decline_reason}")


def propose_and_print(user: str, kind: str, params: dict, note: str | None = None, as_json: bool = False) -> None:
    """What the decision commands of other areas call: propose as ``--user`` and print the proposal."""
    from fund.services.proposals import propose

    print_proposal(propose(session_factory(), user_actor(user), kind, params, note=note), as_json=as_json)


@app.command("list", help="List proposals (open ones first when --status open).")
@handle_errors
def list_(
    status: str = typer.Option(None, "--status", help="open, executed, declined or withdrawn."),
    kind: str = typer.Option(None, "--kind"),
    target: str = typer.Option(None, "--target", help="e.g. claim:12"),
    user: str = user_option(required=False),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    from fund.services.proposals import list_proposals

    found = list_proposals(session_factory(), reader_actor(user), status=status, kind=kind, target=target, limit=500)
    if as_json:
        print_json([v.as_dict() for v in found])
        return
    for view in found:
        console.print(view.line(), markup=False)


@app.command("show", help="One proposal: what it will do as computed when proposed and, once signed off, what it did.")
@handle_errors
def show(proposal_id: int, user: str = user_option(required=False), as_json: bool = typer.Option(False, "--json")) -> None:
    from fund.services.proposals import get_proposal

    print_proposal(get_proposal(session_factory(), reader_actor(user), proposal_id), as_json=as_json)


@app.command("propose", help="Propose a decision of any kind: KIND and --param key=value (e.g. lpr_checked_through --param through=2026-10-31).")
@handle_errors
def propose_cmd(
    kind: str = typer.Argument(..., help="claim_approval, claim_rejection, appropriation, appropriation_reversal, subsidy_run, "
                                         "policy_activation, lpr_publication, lpr_checked_through, pilot_code, ..."),
    param: list[str] = typer.Option([], "--param", help="key=value; repeat."),
    note: str = typer.Option(None, "--note"),
    user: str = user_option(),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    propose_and_print(user, kind, _params(param), note, as_json)


@app.command("approve", help="Sign off a proposal you did not make (approver): recomputed and executed as of the business date.")
@handle_errors
def approve(proposal_id: int, user: str = user_option(), as_json: bool = typer.Option(False, "--json")) -> None:
    from fund.services.proposals import sign_off

    print_proposal(sign_off(session_factory(), user_actor(user), proposal_id), as_json=as_json)


@app.command("decline", help="Decline a proposal with a reason (approver).")
@handle_errors
def decline(proposal_id: int, reason: str = typer.Option(..., "--reason"), user: str = user_option()) -> None:
    from fund.services.proposals import decline as decline_proposal

    print_proposal(decline_proposal(session_factory(), user_actor(user), proposal_id, reason))


@app.command("withdraw", help="Withdraw a proposal you made.")
@handle_errors
def withdraw(proposal_id: int, user: str = user_option()) -> None:
    from fund.services.proposals import withdraw as withdraw_proposal

    print_proposal(withdraw_proposal(session_factory(), user_actor(user), proposal_id))
