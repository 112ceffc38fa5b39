"""`ipfund keys`: per-institution API keys (the key is printed once; only its hash is stored)."""

from __future__ import annotations

import datetime as dt

import typer

from fund.cli.common import console, handle_errors, print_json, transaction

app = typer.Typer(help="API keys of institutions: create (printed once), list (prefix only), revoke.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """API keys of institutions."""


@app.command("create", help="Create an API key for an institution and print it once (only its hash is stored).")
@handle_errors
def create(
    institution: str = typer.Option(..., "--institution", help="Institution code, e.g. ICBC-GZ."),
    label: str | None = typer.Option(None, help="A note to tell keys apart, e.g. 'core banking, prod'."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: key, prefix, institution."),
) -> None:
    from fund.services.keys import create_key

    with transaction() as session:
        new = create_key(session, institution, label=label)
    if as_json:
        print_json({"key": new.key, "prefix": new.info.prefix, "institution": new.info.institution_code,
                    "kind": new.info.institution_kind})
        return
    typer.echo(new.key)
    typer.echo(
        f"key {new.info.prefix} for {new.info.institution_code} ({new.info.institution_kind}): shown once, store it now; "
        "send it as 'Authorization: Bearer <key>'",
        err=True,
    )


@app.command("list", help="List API keys (prefix only, never the key).")
@handle_errors
def list_(
    institution: str | None = typer.Option(None, "--institution", help="Only this institution's keys."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    from fund.services.keys import list_keys

    with transaction() as session:
        keys = list_keys(session, institution)
    rows = [
        {"prefix": k.prefix, "institution": k.institution_code, "kind": k.institution_kind, "label": k.label,
         "created_at": k.created_at, "revoked_at": k.revoked_at, "active": k.active}
        for k in keys
    ]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        state = "active" if row["active"] else f"revoked {row['revoked_at']:%Y-%m-%d %H:%M}"
        console.print(f"{row['prefix']:<14} {row['institution']:<16} {row['kind']:<13} {state:<24} {row['label'] or ''}")


@app.command("revoke", help="Revoke an API key by its prefix (it stops working at once).")
@handle_errors
def revoke(prefix: str = typer.Argument(..., help="The key's prefix, as `ipfund keys list` shows it.")) -> None:
    from fund.services.keys import revoke_key

    with transaction() as session:
        info = revoke_key(session, prefix, now=dt.datetime.now(dt.timezone.utc))
    typer.echo(f"revoked {info.prefix} of {info.institution_code}")
