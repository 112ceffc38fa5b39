"""`ipfund claims`: default claims, approvals, recoveries (docs/rules.md section 4); `ipfund fund`:
appropriations to the pools. Every command runs as of the business date; ``--as CODE`` names the
acting institution (the bank for its own claims; the fund manager by default elsewhere)."""

from __future__ import annotations

import typer
from rich.table import Table

from fund.cli.common import (
    actor_for,
    console,
    current_business_date,
    fund_manager_actor,
    handle_errors,
    print_json,
    transaction,
)
from fund.domain.money import yuan

app = typer.Typer(help="Default claims, approvals, recoveries (docs/rules.md section 4).", no_args_is_help=True)
fund_app = typer.Typer(help="Fund pools: appropriations.", no_args_is_help=True)

AS_BANK = typer.Option(..., "--as", metavar="CODE", help="The bank acting (its institution code).")
AS_READER = typer.Option(None, "--as", metavar="CODE", help="Read as this institution (default: the fund manager).")
AS_MANAGER = typer.Option(None, "--as", metavar="CODE", help="The fund manager acting (default: the first one).")


def _manager(code: str | None):
    return actor_for(code) if code else fund_manager_actor()


def _show(claim_id: int, actor, as_json: bool) -> None:
    from fund.services.claims import claim_document, claim_for

    with transaction() as session:
        document = claim_document(session, claim_for(session, actor, claim_id))
    if as_json:
        print_json(document)
    else:
        _print_claim(document)


def _line(document: dict) -> str:
    allocation = document["allocation"]
    fund = f" fund {allocation['fund_fen']}" if allocation else ""
    return (f"claim {document['id']} on loan {document['loan_id']}: {document['status']}, "
            f"loss {document['loss_fen']} fen{fund} ({document['policy_id']})")


@app.command("file", help="File a claim on one of the bank's active loans, as of the business date (A1).")
@handle_errors
def file(
    loan_id: int = typer.Argument(..., help="The loan's id."),
    loss_fen: int = typer.Option(..., "--loss-fen", help="Principal loss L claimed, in fen."),
    as_code: str = AS_BANK,
) -> None:
    from fund.services.claims import claim_document, file_claim

    bank, day = actor_for(as_code), current_business_date()
    with transaction() as session:
        typer.echo(_line(claim_document(session, file_claim(session, bank, loan_id, loss_fen, day), detail=False)))


@app.command("lower", help="Lower the loss of a filed claim (approval waits while L exceeds the outstanding principal).")
@handle_errors
def lower(claim_id: int, loss_fen: int = typer.Option(..., "--loss-fen"), as_code: str = AS_BANK) -> None:
    from fund.services.claims import claim_document, lower_loss

    bank, day = actor_for(as_code), current_business_date()
    with transaction() as session:
        typer.echo(_line(claim_document(session, lower_loss(session, bank, claim_id, loss_fen, day), detail=False)))


@app.command("withdraw", help="Withdraw a filed claim; the loan goes back to active (repaid when every installment is paid in full).")
@handle_errors
def withdraw(claim_id: int, as_code: str = AS_BANK, note: str = typer.Option(None, "--note")) -> None:
    from fund.services.claims import claim_document, withdraw_claim

    bank, day = actor_for(as_code), current_business_date()
    with transaction() as session:
        typer.echo(_line(claim_document(session, withdraw_claim(session, bank, claim_id, day, note), detail=False)))


@app.command("approve", help="Approve a filed claim: A2 split, A3 bank cap, A4 payment from the compensation pool.")
@handle_errors
def approve(
    claim_id: int,
    as_code: str | None = AS_MANAGER,
    note: str = typer.Option(None, "--note"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    from fund.services.claims import approve_claim, claim_document

    manager, day = _manager(as_code), current_business_date()
    with transaction() as session:
        document = claim_document(session, approve_claim(session, manager, claim_id, day, note))
    if as_json:
        print_json(document)
        return
    typer.echo(_line(document))
    payment = document["payment"]
    typer.echo(f"paid {payment['paid_at_approval_fen']} fen, deferred {payment['deferred_at_approval_fen']} fen "
               f"(entry {payment['entry_id']})")


@app.command("reject", help="Reject a filed claim with a stated reason.")
@handle_errors
def reject(
    claim_id: int,
    reason: str = typer.Option(..., "--reason", help="Why (stored with the claim)."),
    as_code: str | None = AS_MANAGER,
) -> None:
    from fund.services.claims import claim_document, reject_claim

    manager, day = _manager(as_code), current_business_date()
    with transaction() as session:
        typer.echo(_line(claim_document(session, reject_claim(session, manager, claim_id, reason, day), detail=False)))


@app.command("recover", help="Report a recovery on an approved claim (A5): gross amount and disposal costs.")
@handle_errors
def recover(
    claim_id: int,
    gross_fen: int = typer.Option(..., "--gross-fen"),
    costs_fen: int = typer.Option(0, "--costs-fen"),
    as_code: str = AS_BANK,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    from fund.services.claims import record_recovery

    bank, day = actor_for(as_code), current_business_date()
    with transaction() as session:
        r = record_recovery(session, bank, claim_id, gross_fen, costs_fen, day)
        parts = {"net_fen": r.net_fen, "fund_fen": r.fund_fen, "insurer_fen": r.insurer_fen,
                 "appraiser_fen": r.appraiser_fen, "bank_fen": r.bank_fen, "entry_id": r.entry_id, "policy_id": r.policy_id}
    if as_json:
        print_json({"claim_id": claim_id, "recovery_id": r.id, **parts})
        return
    typer.echo(f"claim {claim_id}: net {parts['net_fen']} fen -> fund {parts['fund_fen']}, insurer {parts['insurer_fen']}, "
               f"appraiser {parts['appraiser_fen']}, bank {parts['bank_fen']}")


@app.command("close", help="Close an approved claim (recovery finished); the loan becomes closed.")
@handle_errors
def close(claim_id: int, as_code: str = AS_BANK, note: str = typer.Option(None, "--note")) -> None:
    from fund.services.claims import claim_document, close_claim

    bank, day = actor_for(as_code), current_business_date()
    with transaction() as session:
        typer.echo(_line(claim_document(session, close_claim(session, bank, claim_id, day, note), detail=False)))


@app.command("list", help="List the claims the institution may read.")
@handle_errors
def list_(
    as_code: str | None = AS_READER,
    status: str = typer.Option(None, "--status", help="filed, withdrawn, rejected, approved or closed."),
    bank: str = typer.Option(None, "--bank", help="Only this bank's claims."),
    after_id: int = typer.Option(0, "--after-id"),
    limit: int = typer.Option(100, "--limit"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    from fund.services.claims import claim_document, list_claims

    actor = _manager(as_code)
    with transaction() as session:
        rows = [claim_document(session, c, detail=False)
                for c in list_claims(session, actor, status=status, bank_code=bank, after_id=after_id, limit=limit)]
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
def show(claim_id: int, as_code: str | None = AS_READER, as_json: bool = typer.Option(False, "--json")) -> None:
    _show(claim_id, _manager(as_code), as_json)


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
        table.add_column("fen", justify="right")
        for key in ("principal_fen", "covered_fen", "outstanding_fen", "loss_fen", "base_fen", "fund_before_cap_fen",
                    "fund_fen", "insurer_fen", "appraiser_fen", "bank_fen", "insurer_cut_fen"):
            table.add_row(key.removesuffix("_fen"), str(a[key]))
        table.add_row("cap year / bp", f"{c['year']} / {c['cap_bp'] if c['cap_bp'] is not None else 'no cap'}")
        for key in ("in_pool_lending_fen", "cap_fen", "already_used_fen", "room_fen", "cut_fen"):
            table.add_row(f"cap {key.removesuffix('_fen')}", "-" if c[key] is None else str(c[key]))
        for key in ("paid_at_approval_fen", "deferred_at_approval_fen", "deferred_settled_fen", "deferred_open_fen"):
            table.add_row(key.removesuffix("_fen").replace("_", " "), str(p[key]))
        console.print(table)
        r = d["recovered"]
        console.print(f"recovered net {r['net_fen']} (gross {r['gross_fen']}, costs {r['costs_fen']}): fund {r['fund_fen']}, "
                      f"insurer {r['insurer_fen']}, appraiser {r['appraiser_fen']}, bank {r['bank_fen']}")
    for e in d.get("events", []):
        entry = f" entry {e['entry_id']}" if e["entry_id"] else ""
        console.print(f"  {e['business_date']} {e['event']:<12} by {e['by']:<8}{entry} {e['note'] or ''}")


@fund_app.command("appropriate", help="Record an appropriation to a pool; it settles deferred amounts first (A4, S5).")
@handle_errors
def appropriate(
    pool: str = typer.Option(..., "--pool", help="compensation or subsidy"),
    amount_fen: int = typer.Option(..., "--amount-fen"),
    policy: str = typer.Option(None, "--policy", help="The policy the appropriation is made under."),
    memo: str = typer.Option(None, "--memo"),
    as_code: str | None = AS_MANAGER,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    from fund.services.ledger import record_appropriation

    manager, day = _manager(as_code), current_business_date()
    with transaction() as session:
        inflow = record_appropriation(session, manager, pool=pool, amount_fen=amount_fen, policy_id=policy,
                                      business_date=day, memo=memo)
    if as_json:
        print_json({"entry_id": inflow.entry_id, "settled_fen": inflow.settled_fen, "to_cash_fen": inflow.to_cash_fen,
                    "settlements": [{"deferral_id": s.deferral_id, "ref_type": s.ref_type, "ref_id": s.ref_id,
                                     "amount_fen": s.amount_fen, "entry_id": s.entry_id} for s in inflow.settlements]})
        return
    typer.echo(f"appropriated {amount_fen} fen to {pool} (entry {inflow.entry_id}): settled {inflow.settled_fen} fen deferred, "
               f"{inflow.to_cash_fen} fen to cash")
