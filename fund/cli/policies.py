"""`ipfund policies`: load, list, show, activate."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from fund.cli.common import console, handle_errors, print_json, transaction, user_actor, user_option

app = typer.Typer(help="Policies as data (docs/rules.md section 2): immutable documents, activated by the fund manager.", no_args_is_help=True)


@app.command("load", help="Store policy files (default: the shipped ones). The same file again is a no-op; a changed file "
                           "under a stored id is refused, except the current shipped file over an earlier shipped release of "
                           "the same policy, which is upgraded in place (audited).")
@handle_errors
def load(paths: list[Path] = typer.Argument(None, help="Policy TOML files."),
         user: str = user_option(required=False)) -> None:
    from fund.domain.policy import shipped_policy_paths
    from fund.services.policies import load_policy_path

    actor = user_actor(user) if user else None  # who the audit record of an upgrade names
    for path in paths or shipped_policy_paths():
        with transaction() as session:
            done = load_policy_path(session, path, actor=actor)
            row = done.row
            if done.outcome == "upgraded":
                typer.echo(f"{row.id}: upgraded in place from the earlier shipped release ({done.previous_hash[:12]} -> "
                           f"{row.content_hash[:12]}; added {', '.join(done.added)}){'; still active' if row.active else ''}")
            else:
                typer.echo(f"{row.id}: {'loaded' if done.created else 'already stored, unchanged'} ({row.content_hash[:12]})")


@app.command("list", help="List stored policies.")
@handle_errors
def list_(as_json: bool = typer.Option(False, "--json")) -> None:
    from fund.services.policies import list_policies

    with transaction() as session:
        rows = [
            {"id": p.id, "valid_from": p.valid_from, "valid_to": p.valid_to, "active": p.active, "content_hash": p.content_hash}
            for p in list_policies(session)
        ]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        console.print(f"{r['id']:<14} {r['valid_from']} .. {r['valid_to']}  {'active' if r['active'] else 'inactive':<8} {r['content_hash'][:12]}")


@app.command("show", help="Print a stored policy document as JSON.")
@handle_errors
def show(policy_id: str) -> None:
    from fund.services.policies import stored_policy

    with transaction() as session:
        row = stored_policy(session, policy_id)
        print_json({"id": row.id, "active": row.active, "content_hash": row.content_hash, "document": json.loads(row.document)})


@app.command("activate", help="Propose activating a stored policy (officer; an approver signs it off: docs/rules.md "
                               "section 11, G1); refused when its dates overlap an active policy.")
@handle_errors
def activate(policy_id: str, user: str = user_option()) -> None:
    from fund.cli.proposals import propose_and_print

    propose_and_print(user, "policy_activation", {"policy_id": policy_id})
