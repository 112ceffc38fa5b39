"""``ipfund users``: staff users (docs/rules.md section 1). ``bootstrap`` makes the first admin on a
database without users; an admin then adds, disables and resets the others and issues personal keys.
Passwords are asked for (or read from ``IPFUND_PASSWORD`` for your own, ``IPFUND_NEW_PASSWORD`` for the
one being set)."""

from __future__ import annotations

import typer

from fund.cli.common import console, handle_errors, password_for, print_json, reader_actor, session_factory, user_actor, user_option

app = typer.Typer(help="Staff users: bootstrap, add, list, disable, reset-password, passwd, key.", no_args_is_help=True)
NEW_PASSWORD_ENV = "IPFUND_NEW_PASSWORD"


def _line(person) -> str:
    state = "active" if person.active else "disabled"
    return f"{person.login}  {person.display_name}  {person.institution_code}  {','.join(person.roles)}  {state}"


@app.command("bootstrap", help="Create the first admin on a database without users (a fund manager person).")
@handle_errors
def bootstrap(
    login: str = typer.Option(..., "--login"),
    name: str = typer.Option(..., "--name", help="Display name."),
    institution: str = typer.Option(None, "--institution", help="The fund manager's code (default: the first one)."),
) -> None:
    from fund.services.people import bootstrap as make_first

    person = make_first(session_factory(), login, name, password_for(login, env=NEW_PASSWORD_ENV, confirm=True),
                        institution=institution)
    typer.echo(f"admin {person.login} ({person.display_name}) of {person.institution_code} created")


@app.command("add", help="Add a staff user to an institution (admin).")
@handle_errors
def add(
    login: str = typer.Argument(...),
    institution: str = typer.Option(..., "--institution"),
    name: str = typer.Option(..., "--name", help="Display name."),
    roles: list[str] = typer.Option(..., "--role", help="officer, approver, admin (fund manager); staff; reader (auditor). Repeat."),
    language: str = typer.Option("zh", "--language", help="zh or en (the console's language)."),
    user: str = user_option(),
) -> None:
    from fund.services.people import add_user

    admin = user_actor(user)
    person = add_user(session_factory(), admin, institution=institution, login=login, display_name=name, roles=roles,
                      password=password_for(login, env=NEW_PASSWORD_ENV, confirm=True), language=language)
    typer.echo(_line(person))


@app.command("list", help="List staff users (never a password).")
@handle_errors
def list_users(
    institution: str = typer.Option(None, "--institution"),
    user: str = user_option(required=False),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    from fund.services.people import list_users as listed

    found = listed(session_factory(), reader_actor(user), institution=institution)
    if as_json:
        print_json([p.as_dict() for p in found])
        return
    for person in found:
        console.print(_line(person), markup=False)


@app.command("disable", help="Disable a staff user (admin); kept, since the audit trail names them.")
@handle_errors
def disable(login: str = typer.Argument(...), user: str = user_option()) -> None:
    from fund.services.people import disable_user

    typer.echo(_line(disable_user(session_factory(), user_actor(user), login)))


@app.command("reset-password", help=f"Set a user's password (admin; lifts a lockout). The new one from a prompt or {NEW_PASSWORD_ENV}.")
@handle_errors
def reset(login: str = typer.Argument(...), user: str = user_option()) -> None:
    from fund.services.people import reset_password

    admin = user_actor(user)
    person = reset_password(session_factory(), admin, login, password_for(login, env=NEW_PASSWORD_ENV, confirm=True))
    typer.echo(f"password of {person.login} reset")


@app.command("passwd", help=f"Change your own password (the new one from a prompt or {NEW_PASSWORD_ENV}).")
@handle_errors
def passwd(user: str = user_option()) -> None:
    from fund.services.people import change_password

    old = password_for(user)
    person = change_password(session_factory(), user, old, password_for(user, env=NEW_PASSWORD_ENV, confirm=True))
    typer.echo(f"password of {person.login} changed")


@app.command("key", help="Issue an API key to a fund manager person (admin): calls with it act as that person. Printed once.")
@handle_errors
def key(login: str = typer.Argument(...), label: str = typer.Option(None, "--label"), user: str = user_option()) -> None:
    from fund.services.people import issue_person_key

    new = issue_person_key(session_factory(), user_actor(user), login, label=label)
    typer.echo(new.key)
    typer.echo(f"prefix {new.info.prefix} for {login}: store the key now, it is not shown again", err=True)
