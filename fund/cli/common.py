"""What every ``ipfund`` command shares: the database (refused unless at head), the business date,
errors as one plain line, JSON output, the acting institution."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from fund.adapters.db import default_engine, make_session_factory, require_head, unit_of_work
from fund.errors import DomainError

F = TypeVar("F", bound=Callable[..., Any])
console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> None:
    """Print one plain line on stderr and exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def handle_errors(func: F) -> F:
    """Turn DomainError (and bad values) into one plain line and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DomainError as exc:
            where = f" ({exc.field})" if exc.field else ""
            fail(f"{exc.message}{where} [{exc.code}]")
        except (ValueError, OSError) as exc:
            fail(str(exc))

    return wrapper  # type: ignore[return-value]


def session_factory(*, check_head: bool = True) -> sessionmaker[Session]:
    engine = default_engine()
    if check_head:
        require_head(engine)
    return make_session_factory(engine)


def transaction():
    """``with transaction() as session:`` one unit of work on the configured database."""
    return unit_of_work(session_factory())


def current_business_date() -> dt.date:
    from fund.services.common import business_date

    with transaction() as session:
        return business_date(session)


def parse_date(value: str, name: str = "date") -> dt.date:
    from fund.domain.dates import check_input_date

    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise DomainError("invalid_date", f"{name} must be a date YYYY-MM-DD, got {value!r}", field=name) from None
    return check_input_date(day, name)  # docs/rules.md section 0: nothing before 1900-01-01


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=_default) + "\n")


def _default(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def actor_for(code: str):
    """The acting institution (``--as CODE`` on commands that act for one)."""
    from fund.services.common import institution_by_code
    from fund.services.registry import Actor

    with transaction() as session:
        return Actor.of(institution_by_code(session, code))


def fund_manager_actor():
    """The fund manager institution (the first one), for commands the fund manager runs."""
    from fund.services.common import fund_manager
    from fund.services.registry import Actor

    with transaction() as session:
        return Actor.of(fund_manager(session))


# ---- money a person reads (docs/rules.md section 0: yuan with two decimals and separators; JSON keeps fen) ----


def yuan_text(fen: int) -> str:
    """An amount for people: ``1,234.56 yuan`` (never cut, never fen).

    >>> yuan_text(123456)
    '1,234.56 yuan'
    """
    from fund.domain.money import yuan

    return f"{yuan(fen)} yuan"


class MoneyTable:
    """A table for people that never cuts a number: money (given in fen, shown in yuan with
    separators) and other numbers are right-aligned and never wrapped; text columns fold. When even
    the numbers do not fit the terminal (at 80 columns, say), each row is printed as a block of
    ``name: value`` lines instead of a squeezed table.

    >>> t = MoneyTable("bank", "amount", money=("amount",), title="t")
    >>> t.add_row("BANK1", 123456)
    >>> t.cells[0]
    ['BANK1', '1,234.56']
    """

    def __init__(self, *columns: str, money: tuple[str, ...] = (), numbers: tuple[str, ...] = (), title: str | None = None):
        self.columns = columns
        self.money = set(money)
        self.numeric = set(money) | set(numbers)
        self.title = title
        self.cells: list[list[str]] = []

    def header(self, name: str) -> str:
        return f"{name} (yuan)" if name in self.money else name

    def add_row(self, *values: Any) -> None:
        """Money as fen (int) or None; counts as int (shown with separators); ids and text as text."""
        from fund.domain.money import yuan

        row = []
        for name, value in zip(self.columns, values):
            if value is None:
                row.append("")
            elif name in self.money and isinstance(value, int):
                row.append(yuan(value))
            elif isinstance(value, int) and not isinstance(value, bool):
                row.append(f"{value:,}")  # counts; pass ids as text
            else:
                row.append(str(value))
        self.cells.append(row)

    def _needed_width(self) -> int:
        from rich.cells import cell_len

        width = 0
        for k, name in enumerate(self.columns):
            longest = max([cell_len(self.header(name))] + [cell_len(r[k]) for r in self.cells])
            width += (longest if name in self.numeric else min(longest, 6)) + 3
        return width + 1

    def print(self, out: Console | None = None) -> None:
        from rich.table import Table

        out = out or console
        if self.title:
            out.print(self.title)
        if self._needed_width() > out.width:
            for row in self.cells:
                for name, cell in zip(self.columns, row):
                    if cell:
                        out.print(f"  {self.header(name)}: {cell}", overflow="fold")
                out.print("")
            return
        table = Table(show_edge=False, pad_edge=False)
        for name in self.columns:
            if name in self.numeric:
                table.add_column(self.header(name), justify="right", no_wrap=True)
            else:
                table.add_column(name, overflow="fold")
        for row in self.cells:
            table.add_row(*row)
        out.print(table)


def money_table(*columns: str, money: tuple[str, ...] = (), numbers: tuple[str, ...] = (), title: str | None = None) -> MoneyTable:
    return MoneyTable(*columns, money=money, numbers=numbers, title=title)


@contextlib.contextmanager
def progress_bar(description: str, *, enabled: bool = True):
    """The one progress bar of the CLI: rich, on stderr (stdout stays clean for --json), drawn only on
    a terminal and only from the first report on (a command refused before its work starts prints
    its one error line and no bar). Yields a ``(stage, done, total)`` callback as the services take
    it, one bar a stage; a one-stage service's ``(done, total)`` callback is
    ``functools.partial(update, stage)``. ``total`` 0 means not known yet."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=True, disable=not (enabled and err_console.is_terminal),
    )
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        if not bar.disable and not bar.live.is_started:
            bar.start()
        if stage not in tasks:
            tasks[stage] = bar.add_task(f"{description}: {stage}" if stage else description, total=total or None)
        bar.update(tasks[stage], completed=done, total=total or None)

    try:
        yield update
    finally:
        if bar.live.is_started:
            bar.stop()


def write_statement_file(build, fmt: str, out, lang: str) -> None:
    """Build a statement in one transaction (``build(session) -> Statement``) and write it to ``out``
    with a progress bar; print what was written, the total in yuan."""
    from fund.services.statements import FORMATS

    if fmt not in FORMATS:
        fail(f"--format must be xlsx or csv, got {fmt!r}")
    with transaction() as session:
        statement = build(session)
        with progress_bar(statement.filename) as progress:
            if fmt == "csv":
                with open(out, "w", encoding="utf-8", newline="") as handle:
                    written = statement.write("csv", handle, lang=lang, progress=progress)
            else:
                written = statement.write("xlsx", str(out), lang=lang, progress=progress)
    amounts = dict(zip([c.key for c in statement.layout.columns if c.kind == "money"], written.totals_fen))
    shown = ", ".join(f"{key} {yuan_text(fen)}" for key, fen in amounts.items())
    typer.echo(f"{written.lines:,} lines written to {out}; totals: {shown}")


# ---- acting as a person (docs/rules.md section 1 and 11): --user LOGIN, password from a prompt or IPFUND_PASSWORD ----

PASSWORD_ENV = "IPFUND_PASSWORD"


def user_option(required: bool = True):
    """The ``--user LOGIN`` option of a command that acts as a person (``IPFUND_USER`` works too)."""
    return typer.Option(... if required else None, "--user", envvar="IPFUND_USER", metavar="LOGIN",
                        help=f"Your login; the password is asked for (or taken from {PASSWORD_ENV}).")


def password_for(login: str, *, env: str = PASSWORD_ENV, confirm: bool = False) -> str:
    import os

    return os.environ.get(env) or typer.prompt(f"password for {login}", hide_input=True, confirmation_prompt=confirm)


def user_actor(login: str):
    """Sign ``login`` in (a failed sign-in is an audit record and counts towards the lockout) and return
    the person as the services' actor. One CLI call is one request id in the audit trail."""
    from fund.services.audit import bind_request_id, current_request_id, new_request_id
    from fund.services.people import authenticate, person_actor

    if current_request_id() is None:
        bind_request_id(new_request_id())
    return person_actor(authenticate(session_factory(), login, password_for(login)))


def reader_actor(login: str | None):
    """Who reads: the person when ``--user`` is given, else the fund manager institution."""
    return user_actor(login) if login else fund_manager_actor()
