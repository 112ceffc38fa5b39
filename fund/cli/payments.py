"""`ipfund payments`: payment instructions for the fund's custodian bank (docs/rules.md section 6): list
them, export a pool's batch (XLSX or CSV), import the custodian's confirmation file (all or
nothing), and instruct a returned payment again once the payee's details are corrected."""

from __future__ import annotations

from pathlib import Path

import typer

from fund.cli.common import (
    current_business_date,
    fund_manager_actor,
    handle_errors,
    money_table,
    print_json,
    progress_bar,
    session_factory,
    transaction,
    write_statement_file,
    yuan_text,
)

app = typer.Typer(help="Payment instructions for the custodian bank (docs/rules.md section 6).", no_args_is_help=True)


@app.command("list", help="List payment instructions (status instructed, confirmed, returned or owed_again).")
@handle_errors
def list_(
    pool: str | None = typer.Option(None, "--pool", help="compensation or subsidy."),
    status: str | None = typer.Option(None, "--status", help="instructed, confirmed, returned or owed_again."),
    after: int = typer.Option(0, "--after", help="Only instructions after this id (paging)."),
    limit: int = typer.Option(100, "--limit", min=1, max=10_000),
    as_json: bool = typer.Option(False, "--json", help="JSON (amounts in fen)."),
) -> None:
    from fund.services.payments import list_instructions

    actor = fund_manager_actor()
    with transaction() as session:
        items = list_instructions(session, actor, pool=pool, status=status, after_id=after, limit=limit)
    if as_json:
        print_json([i.as_dict() for i in items])
        return
    table = money_table("id", "pool", "payee", "name", "source", "amount", "status", "on", money=("amount",), numbers=("id",),
                        title=f"{len(items):,} payment instructions")
    for i in items:
        state = "returned, owed again" if i.owed_again else i.status
        table.add_row(str(i.id), i.pool, i.payee_code, i.payee_name, f"{i.source_type} {i.source_id}", i.amount_fen, state,
                      (i.settled_on or i.instructed_on).isoformat())
    table.print()


@app.command("export", help="Write a pool's batch for the custodian: every instruction still instructed (reissued returns first).")
@handle_errors
def export(
    pool: str = typer.Option(..., "--pool", help="compensation or subsidy."),
    fmt: str = typer.Option("xlsx", "--format", help="xlsx or csv."),
    out: Path | None = typer.Option(None, "--out", help="File to write (default payments-POOL.xlsx|csv)."),
    lang: str = typer.Option("zh", "--lang", help="zh (default) or en."),
) -> None:
    from fund.services.payments import export_statement

    actor = fund_manager_actor()
    write_statement_file(lambda session: export_statement(session, actor, pool, lang=lang), fmt, out or Path(f"payments-{pool}.{fmt}"), lang)


@app.command("confirm", help="Import the custodian's confirmation file (CSV or XLSX with instruction_id, status "
                             "confirmed|returned, date, bank_reference[, note]): all or nothing; bad rows are named.")
@handle_errors
def confirm(file: Path = typer.Option(..., "--file", exists=True, dir_okay=False, help="The confirmation file.")) -> None:
    from fund.services.payments import confirm_file

    actor = fund_manager_actor()
    with progress_bar("confirmations") as progress:
        progress("import", 0, 1)
        result = confirm_file(session_factory(), actor, file)
        progress("import", 1, 1)
    typer.echo(f"{result.confirmed:,} confirmed ({yuan_text(result.confirmed_fen)}), "
               f"{result.returned:,} returned ({yuan_text(result.returned_fen)}: owed again, held in cash for the payees)")


@app.command("reissue", help="Instruct a returned payment again (after the payee's details are corrected), from the cash held for it.")
@handle_errors
def reissue(
    instruction_id: int = typer.Option(..., "--id", help="The returned instruction."),
    note: str | None = typer.Option(None, "--note", help="What was corrected."),
) -> None:
    from fund.services.payments import reissue as reissue_payment

    actor = fund_manager_actor()
    business_date = current_business_date()
    with transaction() as session:
        view = reissue_payment(session, actor, instruction_id, business_date, note=note)
    typer.echo(f"instruction {view.id} pays {yuan_text(view.amount_fen)} to {view.payee_code} again (instead of {instruction_id})")
