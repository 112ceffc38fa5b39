"""``ipfund audit list``: the audit trail (docs/rules.md section 11, G2), for auditors and the fund
manager, filtered by person, institution, action, target and time."""

from __future__ import annotations

import typer

from fund.cli.common import handle_errors, parse_date, print_json, reader_actor, session_factory, user_option

app = typer.Typer(help="The audit trail (rule G2): who did what, and what was refused.", no_args_is_help=True)


@app.command("list", help="Audit records in order, with the person's name: --target claim:12, --person LOGIN, --action, --from/--to DATE.")
@handle_errors
def list_(
    person: str = typer.Option(None, "--person", help="A login."),
    institution: str = typer.Option(None, "--institution", help="An institution code."),
    action: str = typer.Option(None, "--action", help="e.g. claim_approval.sign_off"),
    target: str = typer.Option(None, "--target", help="e.g. claim:12"),
    since: str = typer.Option(None, "--from", help="First day (UTC), YYYY-MM-DD."),
    until: str = typer.Option(None, "--to", help="Last day (UTC), YYYY-MM-DD."),
    after_id: int = typer.Option(0, "--after-id"),
    limit: int = typer.Option(100, "--limit"),
    user: str = user_option(required=False),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    from fund.services.audit import read_audit

    page = read_audit(session_factory(), reader_actor(user), person=person, institution=institution, action=action, target=target,
                      since=parse_date(since, "from") if since else None, until=parse_date(until, "to") if until else None,
                      after_id=after_id, limit=limit)
    if as_json:
        print_json({"items": [r.as_dict() for r in page.records], "next_after_id": page.next_after_id})
        return
    for r in page.records:
        who = f"{r.display_name} ({r.login})" if r.display_name else (r.login or f"key {r.key_prefix}" if r.key_prefix else r.institution or "-")
        outcome = r.outcome if r.outcome == "done" else f"refused [{r.error_code}]"
        typer.echo(f"{r.id:>6}  {r.at:%Y-%m-%d %H:%M:%S}  {r.business_date}  {r.institution or '-'}  {who}  {r.action}  "
                   f"{r.target or '-'}  {outcome}")
    if page.next_after_id:
        typer.echo(f"more: --after-id {page.next_after_id}")
