"""`ipfund claims`: default claims, approvals, recoveries (docs/rules.md section 4); `ipfund fund`:
appropriations to the pools and their reversals (section 6). Every command runs as of the business
date and acts as a person: ``--user LOGIN`` (the password from a prompt or ``IPFUND_PASSWORD``), a
bank's staff for its own claims. Approving or rejecting a claim and appropriating are decisions of
rule G1 (section 11): the command makes a proposal, which an approver signs off with ``ipfund
proposals approve``. Reading commands read as ``--user`` or, without it, as the fund manager."""

from __future__ import annotations

import typer
from rich.table import Table

from fund.cli.common import (
    console,
    current_business_date,
    handle_errors,
    parse_date,
    print_json,
    reader_actor,
    session_factory,
    transaction,
    user_actor,
    user_option,
)
from fund.cli.proposals import propose_and_print
from fund.domain.money import yuan

app = typer.Typer(help="Default claims, approvals, recoveries (docs/rules.md section 4).", no_args_is_help=True)
fund_app = typer.Typer(help="Fund pools: appropriations and their reversals (proposals of rule G1).", no_args_is_help=True)

AS_USER = user_option()
AS_READER = user_option(required=False)


def _show(claim_id: int, actor, as_json: bool) -> None:
    from fund.services import claims

    document = claims.show(session_factory(), actor, claim_id)
    if as_json:
        print_json(document)
    else:
        _print_claim(document)


def _line(document: dict) -> str:
    allocation = document["allocation"]
    fund = f", fund {yuan(allocation['fund_fen'])}" if allocation else ""
    return (f"claim {document['id']} on loan {document['loan_id']}: {document['status']}, "
            f"loss {yuan(document['loss_fen'])} yuan{fund} ({document['policy_id']})")


def _audited(actor, action: str, target: str, work):
    """One bank step as one transaction with its audit record (rule G2); a refusal recorded on its own."""
    from fund.services import audit

    return audit.audited(session_factory(), actor, action, target, work)


@app.command("file", help="File a claim on one of the bank's active loans, as of the business date (A1).")
@handle_errors
def file(
    loan_id: int = typer.Argument(..., help="The loan's id."),
    loss_fen: int = typer.Option(..., "--loss-fen", help="Principal loss L claimed, in fen."),
    user: str = AS_USER,
) -> None:
    from fund.services import claims

    actor = user_actor(user)
    typer.echo(_line(_audited(actor, "claims.file", f"loan:{loan_id}", lambda s: claims.file(s, actor, loan_id, loss_fen))))


@app.command("lower", help="Lower the loss of a filed claim (approval waits while L exceeds the outstanding principal).")
@handle_errors
def lower(claim_id: int, loss_fen: int = typer.Option(..., "--loss-fen"), user: str = AS_USER) -> None:
    from fund.services import claims

    actor = user_actor(user)
    typer.echo(_line(_audited(actor, "claims.lower", f"claim:{claim_id}", lambda s: claims.lower(s, actor, claim_id, loss_fen))))


@app.command("withdraw", help="Withdraw a filed claim; the loan goes back to active (repaid when every installment is paid in full).")
@handle_errors
def withdraw(claim_id: int, user: str = AS_USER, note: str = typer.Option(None, "--note")) -> None:
    from fund.services import claims

    actor = user_actor(user)
    typer.echo(_line(_audited(actor, "claims.withdraw", f"claim:{claim_id}", lambda s: claims.withdraw(s, actor, claim_id, note=note))))


@app.command("approve", help="Propose a filed claim's approval (officer): the A2 split, A3 cap and A4 payment as computed "
                               "now are stored; an approver signs it off (ipfund proposals approve).")
@handle_errors
def approve(
    claim_id: int,
    user: str = AS_USER,
    note: str = typer.Option(None, "--note"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    propose_and_print(user, "claim_approval", {"claim_id": claim_id, "note": note}, as_json=as_json)


@app.command("reject", help="Propose a filed claim's rejection with a stated reason (officer); an approver signs it off.")
@handle_errors
def reject(
    claim_id: int,
    reason: str = typer.Option(..., "--reason", help="Why (stored with the claim)."),
    user: str = AS_USER,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    propose_and_print(user, "claim_rejection", {"claim_id": claim_id, "reason": reason}, as_json=as_json)


@app.command("recover", help="Report a recovery on an approved claim (A5): gross amount and disposal costs.")
@handle_errors
def recover(
    claim_id: int,
    gross_fen: int = typer.Option(..., "--gross-fen"),
    costs_fen: int = typer.Option(0, "--costs-fen"),
    user: str = AS_USER,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    from fund.services import claims

    actor = user_actor(user)
    r = _audited(actor, "claims.recover", f"claim:{claim_id}",
                 lambda s: claims.recover(s, actor, claim_id, gross_fen, costs_fen)).recovery
    parts = {key: r[key] for key in ("net_fen", "fund_fen", "insurer_fen", "appraiser_fen", "bank_fen", "entry_id", "policy_id")}
    if as_json:
        print_json({"claim_id": claim_id, "recovery_id": r["id"], **parts})
        return
    typer.echo(f"claim {claim_id}: net {yuan(parts['net_fen'])} yuan -> fund {yuan(parts['fund_fen'])}, "
               f"insurer {yuan(parts['insurer_fen'])}, appraiser {yuan(parts['appraiser_fen'])}, bank {yuan(parts['bank_fen'])}")


@app.command("close", help="Close an approved claim (recovery finished); the loan becomes closed.")
@handle_errors
def close(claim_id: int, user: str = AS_USER, note: str = typer.Option(None, "--note")) -> None:
    from fund.services import claims

    actor = user_actor(user)
    typer.echo(_line(_audited(actor, "claims.close", f"claim:{claim_id}", lambda s: claims.close(s, actor, claim_id, note=note))))


@app.command("list", help="List the claims the institution may read.")
@handle_errors
def list_(
    user: str | None = AS_READER,
    status: str = typer.Option(None, "--status", help="filed, withdrawn, rejected, approved or closed."),
    bank: str = typer.Option(None, "--bank", help="Only this bank's claims."),
    after_id: int = typer.Option(0, "--after-id"),
    limit: int = typer.Option(100, "--limit"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    from fund.services import claims

    rows = claims.claims_page(session_factory(), reader_actor(user), status=status, bank_code=bank, after_id=after_id, limit=limit,
                              detail=False)
    if as_json:
        print_json(rows)
        return
    table = Table()
    for column in ("id", "loan", "bank", "status", "filed", "loss (yuan)", "fund (yuan)", "paid (yuan)", "policy"):
        table.add_column(column, justify="right" if "yuan" in column or column in ("id", "loan") else "left")
    for r in rows:
        fund = r["allocation"]["fund_fen"] if r["allocation"] else None
        paid = r["payment"]["paid_fen"] if r["payment"] else None
        table.add_row(str(r["id"]), str(r["loan_id"]), r["bank"], r["status"], r["filed_on"].isoformat(), yuan(r["loss_fen"]),
                      "" if fund is None else yuan(fund), "" if paid is None else yuan(paid), r["policy_id"])
    console.print(table)


@app.command("show", help="Show one claim: allocation, cap trace, payment, recoveries and its events.")
@handle_errors
def show(claim_id: int, user: str | None = AS_READER, as_json: bool = typer.Option(False, "--json")) -> None:
    _show(claim_id, reader_actor(user), as_json)


def _print_claim(d: dict) -> None:
    console.print(_line(d))
    console.print(f"filed {d['filed_on']} by {d['filed_by']}; earliest unpaid due {d['earliest_unpaid_due']} "
                  f"({d['days_past_due']} days)")
    if d["reject_reason"]:
        console.print(f"rejected {d['decided_on']} by {d['decided_by']}: {d['reject_reason']}")
    if d["allocation"]:
        a, c, p = d["allocation"], d["cap"], d["payment"]
        table = Table(title=f"allocation ({a['policy_id']}, scheme {a['scheme']})", show_header=False)
        table.add_column("item")
        table.add_column("yuan", justify="right", no_wrap=True)
        for key in ("principal_fen", "covered_fen", "outstanding_fen", "loss_fen", "base_fen", "fund_before_cap_fen",
                    "fund_fen", "insurer_fen", "appraiser_fen", "bank_fen", "insurer_cut_fen"):
            table.add_row(key.removesuffix("_fen"), yuan(a[key]) if a[key] is not None else "-")
        table.add_row("cap year / bp", f"{c['year']} / {c['cap_bp'] if c['cap_bp'] is not None else 'no cap'}")
        for key in ("in_pool_lending_fen", "cap_fen", "already_used_fen", "room_fen", "cut_fen"):
            table.add_row(f"cap {key.removesuffix('_fen')}", "-" if c[key] is None else yuan(c[key]))
        for key in ("paid_at_approval_fen", "deferred_at_approval_fen", "deferred_settled_fen", "deferred_open_fen"):
            table.add_row(key.removesuffix("_fen").replace("_", " "), yuan(p[key]))
        console.print(table)
        r = d["recovered"]
        console.print(f"recovered net {yuan(r['net_fen'])} yuan (gross {yuan(r['gross_fen'])}, costs {yuan(r['costs_fen'])}): "
                      f"fund {yuan(r['fund_fen'])}, insurer {yuan(r['insurer_fen'])}, appraiser {yuan(r['appraiser_fen'])}, "
                      f"bank {yuan(r['bank_fen'])}")
    from api.console.format import history_note  # the console's rule for notes: amounts in yuan

    for e in d.get("events", []):
        entry = f" entry {e['entry_id']}" if e["entry_id"] else ""
        note = history_note(e["note"], lambda message: message)  # the message ids are the English text
        console.print(f"  {e['business_date']} {e['event']:<12} by {e['by']:<8}{entry} {note}", markup=False)


@fund_app.command("appropriate", help="Propose an appropriation to a pool (officer): date received, policy and the funding "
                                       "document's reference (unique while not reversed). Signed off, it settles deferred "
                                       "amounts first (A4, S5).")
@handle_errors
def appropriate(
    pool: str = typer.Option(..., "--pool", help="compensation or subsidy"),
    amount_fen: int = typer.Option(..., "--amount-fen"),
    reference: str = typer.Option(..., "--reference", help="The funding document's reference (拨款文号)."),
    received_on: str = typer.Option(None, "--received-on", help="Date received, YYYY-MM-DD (default: the business date)."),
    policy: str = typer.Option(None, "--policy", help="The policy the appropriation is made under."),
    memo: str = typer.Option(None, "--memo"),
    user: str = AS_USER,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    received = parse_date(received_on, "received_on") if received_on else current_business_date()
    propose_and_print(user, "appropriation", {"pool": pool, "amount_fen": amount_fen, "reference": reference,
                                              "received_on": received.isoformat(), "policy_id": policy, "memo": memo},
                      as_json=as_json)


@fund_app.command("reverse", help="Propose the reversal of an appropriation's entry, with a reason (officer): once, while "
                                   "the pool's cash covers it.")
@handle_errors
def reverse(
    appropriation_id: int = typer.Argument(..., help="The appropriation's id (ipfund fund appropriations)."),
    reason: str = typer.Option(..., "--reason"),
    user: str = AS_USER,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    propose_and_print(user, "appropriation_reversal", {"appropriation_id": appropriation_id, "reason": reason}, as_json=as_json)


@fund_app.command("appropriations", help="List appropriations with their references; reversed ones say so.")
@handle_errors
def appropriations_list(pool: str = typer.Option(None, "--pool"), as_json: bool = typer.Option(False, "--json")) -> None:
    from fund.services.appropriations import list_appropriations

    with transaction() as session:
        rows = list_appropriations(session, pool=pool)
    if as_json:
        print_json([r.as_dict() for r in rows])
        return
    for r in rows:
        state = f"reversed (entry {r.reversal_entry_id}: {r.reversal_reason})" if r.reversed else "live"
        console.print(f"{r.id:>4}  {r.pool:<12} {yuan(r.amount_fen):>20}  received {r.received_on}  {r.reference}  "
                      f"{r.policy_id or '-'}  entry {r.entry_id}  {state}", markup=False)
