"""`ipfund ledger`: the fund's double-entry ledger (docs/rules.md section 6); also `ipfund report fund`."""

from __future__ import annotations

import typer

from fund.cli.common import console, handle_errors, money_table, print_json, session_factory, transaction
from fund.cli.registry import report_app
from fund.domain.money import yuan

app = typer.Typer(help="The fund's double-entry ledger (docs/rules.md section 6).", no_args_is_help=True)


@app.command("check", help="Check every invariant of rule L; exits 1 naming each broken one (and its entry).")
@handle_errors
def check(as_json: bool = typer.Option(False, "--json")) -> None:
    from fund.services.ledger import check_ledger

    with transaction() as session:
        problems = check_ledger(session)
    if as_json:
        print_json({"ok": not problems, "violations": [
            {"rule": p.rule, "entry_id": p.entry_id, "message": p.message} for p in problems]})
    elif not problems:
        typer.echo("ledger ok: every invariant of rule L holds")
    else:
        for problem in problems:
            typer.echo(f"violation {problem}", err=True)
    if problems:
        raise typer.Exit(1)


@app.command("journal", help="List journal entries with their postings (debit positive, credit negative).")
@handle_errors
def journal(
    after_id: int = typer.Option(0, "--after-id"),
    limit: int = typer.Option(None, "--limit"),
    cause: str = typer.Option(None, "--cause"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    from fund.services.ledger import journal as read_journal

    with transaction() as session:
        lines = read_journal(session, after_id=after_id, limit=limit, cause=cause)
    if as_json:
        print_json([line.as_dict() for line in lines])
        return
    table = money_table("entry", "date", "cause", "policy", "ref", "account", "amount", money=("amount",), numbers=("entry",),
                        title="journal (debits positive, credits negative; --json gives exact fen)")
    for line in lines:
        ref = f"{line.ref_type} {line.ref_id}" if line.ref_type and line.ref_id is not None else (line.ref_type or "")
        for k, (account, amount) in enumerate(line.postings):
            head = (str(line.id), line.business_date.isoformat(), line.cause, line.policy_id or "", ref) if k == 0 else ("",) * 5
            table.add_row(*head, account, amount)
    table.print()


@app.command("balances", help="Account balances (stored).")
@handle_errors
def balances(as_json: bool = typer.Option(False, "--json")) -> None:
    from fund.services.ledger import balances as read_balances

    with transaction() as session:
        rows = read_balances(session)
    if as_json:
        print_json(rows)
        return
    table = money_table("account", "balance", money=("balance",), title="balances (debit positive; --json gives exact fen)")
    for code, balance in rows.items():
        table.add_row(code, balance)
    table.print()


def _percent(bp: int | None) -> str:
    """Basis points as a percentage with two decimals (floored, as the bp are): 300 -> ``3.00%``."""
    return "-" if bp is None else f"{bp // 100}.{bp % 100:02d}%"


@report_app.command("fund", help="Cash and deferred per pool, compensation by bank and year, caps and room, leverage, "
                                 "and each bank's loss ratio against the suspension line.")
@handle_errors
def report_fund(as_json: bool = typer.Option(False, "--json")) -> None:
    from fund.services.fund_report import current_fund_report

    report = current_fund_report(session_factory())
    if as_json:
        print_json(report.as_dict())
        return
    console.print(f"fund report as of {report.as_of}")
    pools = money_table("pool", "cash", "deferred", "appropriated", money=("cash", "deferred", "appropriated"), title="pools")
    for p in report.pools:
        pools.add_row(p.pool, p.cash_fen, p.deferred_fen, p.appropriated_fen)
    pools.print()
    comp = money_table("bank", "year", "claims", "approved", "paid", "deferred", "recovered",
                       money=("approved", "paid", "deferred", "recovered"), numbers=("year", "claims"),
                       title="compensation by bank and approval year")
    for c in report.compensation:
        comp.add_row(c.bank, str(c.year), c.claims, c.approved_fen, c.paid_fen, c.deferred_fen, c.recovered_fen)
    comp.print()
    caps = money_table("bank", "policy", "cap bp", "in-pool lending", "cap", "used", "room",
                       money=("in-pool lending", "cap", "used", "room"), numbers=("cap bp",), title=f"bank caps in {report.as_of.year}")
    for c in report.caps:
        caps.add_row(c.bank, c.policy_id, "no cap" if c.cap_bp is None else str(c.cap_bp), c.in_pool_lending_fen,
                     "-" if c.cap_fen is None else c.cap_fen, c.used_fen, "-" if c.room_fen is None else c.room_fen)
    caps.print()
    ratios = money_table("bank", "policy", "in-pool lending", "losses", "ratio", "line", "line amount", "standing",
                         money=("in-pool lending", "losses", "line amount"), numbers=("ratio", "line"),
                         title="loss ratios against the suspension line (B2)")
    for r in report.loss_ratios:
        ratios.add_row(r.bank_code, r.policy_id, r.in_pool_lending_fen, r.losses_fen, _percent(r.ratio_bp),
                       "no line" if r.line_bp is None else _percent(r.line_bp), "-" if r.line_fen is None else r.line_fen,
                       f"suspended since {r.suspended_since}" if r.suspended_since else "in the pool")
    ratios.print()
    lev = report.leverage
    shown = "n/a (nothing appropriated)" if lev.ratio is None else f"{lev.bp // 10000}.{lev.bp % 10000:04d}x (exactly {lev.ratio}; {lev.bp} bp)"
    console.print(f"leverage: covered principal of live loans {yuan(lev.covered_live_fen)} / appropriations "
                  f"{yuan(lev.appropriated_fen)} = {shown}")
