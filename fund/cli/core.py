"""Top-level commands: db, serve, demo, business-date, institutions."""

from __future__ import annotations

import typer

from fund.cli.common import console, handle_errors, parse_date, print_json, progress_bar, session_factory, transaction, user_option

db_app = typer.Typer(help="The database: migrations.", no_args_is_help=True)
business_app = typer.Typer(help="The business date the rules run as of.", no_args_is_help=True)
pilot_app = typer.Typer(help="Early pilot credit codes that fail their check (docs/rules.md section 9 (I1)): the fund manager allows them.", no_args_is_help=True)
institutions_app = typer.Typer(help="Institutions: banks, insurers, guarantors, appraisers, fund manager, auditors.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(business_app, name="business-date")
    app.add_typer(institutions_app, name="institutions")
    app.add_typer(pilot_app, name="pilot-codes")
    app.command("serve", help="Start the HTTP API (Litestar, uvicorn).")(serve)
    app.command("demo", help="Load the deterministic demo book (business date 2026-10-31); loading it twice changes nothing.")(demo)


@db_app.command("upgrade", help="Migrate the database to head and seed reference data (ledger accounts, the LPR table).")
@handle_errors
def db_upgrade() -> None:
    from fund.adapters.db import default_engine, head_revision, upgrade
    from fund.adapters.db import unit_of_work
    from fund.services.reference import seed_reference_data

    engine = default_engine()
    upgrade(engine)
    with unit_of_work(session_factory()) as session:
        seed_reference_data(session)
    typer.echo(f"database at head {head_revision()}: {engine.url.render_as_string(hide_password=True)}")


@db_app.command("current", help="Show the database's migration revision.")
@handle_errors
def db_current() -> None:
    from fund.adapters.db import current_revision, default_engine, head_revision

    typer.echo(f"current {current_revision(default_engine())}, head {head_revision()}")


@handle_errors
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, help="Worker processes."),
) -> None:
    import uvicorn

    session_factory()  # refuse a database that is not at head before starting
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="info")


@handle_errors
def demo(
    seed: int = typer.Option(1, help="Seed of the deterministic demo book."),
    if_empty: bool = typer.Option(False, "--if-empty", help="Do nothing when the database already has loans."),
    scale: float = typer.Option(1.0, "--scale", help="A smaller book, (0, 1] of the full one (quick looks and tests)."),
) -> None:
    from fund.services.demo import load_demo
    from fund.services.demo_staff import staff_exists

    factory = session_factory()
    had_staff = staff_exists(factory)
    with progress_bar("demo book") as bar:
        summary = load_demo(factory, seed=seed, if_empty=if_empty, progress=bar, scale=scale)
    typer.echo(summary)
    if not had_staff and staff_exists(factory):
        _print_demo_staff(factory, seed)


def _print_demo_staff(factory, seed: int) -> None:
    """The demo's logins and passwords, printed this once and written to var/demo-credentials.txt."""
    from fund.services.demo_staff import demo_users, write_credentials

    users = demo_users(factory, seed)
    path = write_credentials(users)
    typer.echo(f"demo staff ({len(users)} people; passwords made from the seed, for the demo only; also in {path}):")
    for u in users:
        typer.echo(f"  {u.login:<18} {u.password}  {u.institution:<10} {','.join(u.roles)}")
    typer.echo("sign in to the console as one of them (ipfund serve, then open")
    typer.echo("http://127.0.0.1:8000/console/), or act as one on the command line with")
    typer.echo("--user LOGIN (the password is asked for, or set IPFUND_PASSWORD)")


@business_app.command("show", help="Print the business date in force.")
@handle_errors
def business_show() -> None:
    from fund.services.common import business_date

    with transaction() as session:
        typer.echo(business_date(session).isoformat())


@business_app.command("set", help="Store the business date in the database (IPFUND_BUSINESS_DATE overrides it).")
@handle_errors
def business_set(date: str = typer.Argument(..., help="YYYY-MM-DD")) -> None:
    from fund.domain.dates import check_input_date
    from fund.services.common import BUSINESS_DATE_KEY, set_setting

    day = check_input_date(parse_date(date), "date")
    with transaction() as session:
        set_setting(session, BUSINESS_DATE_KEY, day.isoformat())
    typer.echo(f"business date {day.isoformat()}")


@institutions_app.command("add", help="Add an institution (idempotent for the same data).")
@handle_errors
def institutions_add(
    code: str = typer.Argument(..., help="Short code, e.g. ICBC-GZ."),
    name: str = typer.Argument(...),
    kind: str = typer.Option(..., help="bank, insurer, guarantor, appraiser, fund_manager or auditor."),
) -> None:
    from fund.services.common import add_institution

    with transaction() as session:
        inst = add_institution(session, code, name, kind)
        typer.echo(f"{inst.code} {inst.kind} {inst.name}")


@institutions_app.command("list", help="List institutions.")
@handle_errors
def institutions_list(as_json: bool = typer.Option(False, "--json")) -> None:
    from fund.services.common import list_institutions

    with transaction() as session:
        rows = [{"code": i.code, "name": i.name, "kind": i.kind} for i in list_institutions(session)]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        console.print(f"{row['code']:<16} {row['kind']:<13} {row['name']}")


@pilot_app.command("allow", help="Allow an early pilot credit code that fails only its check character, with a stated reason.")
@handle_errors
def pilot_allow(
    credit_code: str = typer.Argument(..., help="The 18-character code."),
    reason: str = typer.Option(..., help="Why this code is genuine (kept with the allowance)."),
    user: str = user_option(),
) -> None:
    """Propose the allowance (officer); an approver signs it off (docs/rules.md section 11, G1)."""
    from fund.cli.proposals import propose_and_print

    propose_and_print(user, "pilot_code", {"credit_code": credit_code, "reason": reason})


@pilot_app.command("list", help="List the allowed pilot credit codes.")
@handle_errors
def pilot_list(as_json: bool = typer.Option(False, "--json")) -> None:
    from fund.services.registry import list_pilot_codes

    with transaction() as session:
        rows = [{"credit_code": r.credit_code, "reason": r.reason, "allowed_on": r.allowed_on} for r in list_pilot_codes(session)]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        console.print(f"{r['credit_code']}  {r['allowed_on']}  {r['reason']}")
