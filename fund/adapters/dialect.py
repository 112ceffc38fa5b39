"""What differs between SQLite and PostgreSQL, one function each: row locks, inserts that may race,
bulk inserts (COPY), ids drawn ahead, JSON array elements, the page cache. The services call these and
never look at the dialect themselves.

SQLite runs every transaction under the whole database's write lock from its first statement
(``BEGIN IMMEDIATE``, see ``fund.adapters.db``), so what a transaction checked stays true until it
ends. PostgreSQL lets writers run side by side: rows that guard a limit are locked (``FOR UPDATE``)
and an insert that another transaction may have made meanwhile ignores the conflict.

>>> from sqlalchemy import create_engine, select, Column, Integer, MetaData, Table
>>> from sqlalchemy.orm import Session
>>> counters = Table("counters", MetaData(), Column("id", Integer, primary_key=True), Column("n", Integer))
>>> engine = create_engine("sqlite://")
>>> counters.metadata.create_all(engine)
>>> with Session(engine) as session:
...     insert_ignoring_conflicts(session, counters, [{"id": 1, "n": 0}, {"id": 1, "n": 5}])
...     writers_serialised(session), session.execute(for_update(session, select(counters.c.n))).all()
(True, [(0,)])
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Select, Table, func, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

POSTGRESQL = "postgresql"
SQLITE = "sqlite"


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _table(model_or_table: Any) -> Table:
    return model_or_table if isinstance(model_or_table, Table) else model_or_table.__table__


def writers_serialised(session: Session) -> bool:
    """True where the open transaction holds the database's write lock (SQLite): a check made
    earlier in the transaction is final, and no row needs a lock of its own."""
    return _dialect(session) == SQLITE


def for_update(session: Session, statement: Select) -> Select:
    """Lock the selected rows on PostgreSQL; SQLite already holds the write lock (BEGIN IMMEDIATE).

    Either way the rows are read as they stand now, replacing what the session already holds of
    them (``populate_existing``): sessions keep their objects past a commit (``expire_on_commit`` is
    off), so a row loaded before another transaction changed it would otherwise be decided on, and
    written back, with its old values."""
    if _dialect(session) == POSTGRESQL:
        statement = statement.with_for_update()
    return statement.execution_options(populate_existing=True)


def conflict_insert(session: Session, model_or_table: Any):
    """The dialect's ``INSERT`` that takes ``.on_conflict_do_nothing()`` / ``.on_conflict_do_update()``
    (PostgreSQL's and SQLite's ``ON CONFLICT`` clauses share one form)."""
    insert = postgresql.insert if _dialect(session) == POSTGRESQL else sqlite.insert
    return insert(model_or_table)


def insert_ignoring_conflicts(session: Session, model_or_table: Any, rows: Sequence[dict], *,
                              index_elements: Sequence[str] | None = None) -> None:
    """Insert the rows, skipping each one whose key exists (``INSERT .. ON CONFLICT DO NOTHING``):
    for rows created on first use that another transaction may be creating at the same moment."""
    if not rows:
        return
    statement = conflict_insert(session, model_or_table).on_conflict_do_nothing(
        index_elements=list(index_elements) if index_elements else None
    )
    session.execute(statement, list(rows))


def bulk_insert(session: Session, model_or_table: Any, rows: list[dict]) -> None:
    """Insert many rows in the caller's transaction with few round trips: COPY on PostgreSQL (no
    statement to parse, however many rows), a plain executemany on SQLite (in process, already fast).
    Rows are dicts of column name to value; columns a row leaves out take their defaults."""
    if not rows:
        return
    table = _table(model_or_table)
    if _dialect(session) != POSTGRESQL:
        session.execute(table.insert(), rows)  # Core: no ORM bulk machinery per row
        return
    from psycopg.types.json import Jsonb

    names = list(rows[0])
    json_columns = {c.name for c in table.columns if c.type.__class__.__name__ == "JSON"}
    columns = ", ".join(f'"{name}"' for name in names)
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([Jsonb(row[n]) if n in json_columns and row[n] is not None else row[n] for n in names])


def insert_tuples(session: Session, model_or_table: Any, columns: Sequence[str], rows: Sequence[tuple],
                  *, copy_types: Sequence[str]) -> None:
    """Insert rows given as tuples in ``columns`` order, the fastest way each database has: binary
    COPY on PostgreSQL (``copy_types`` are the columns' PostgreSQL type names), the driver's
    executemany on SQLite, SQLAlchemy's insert elsewhere."""
    table = _table(model_or_table)
    connection = session.connection()
    dialect = connection.dialect.name
    names = ", ".join(columns)
    if dialect == POSTGRESQL:
        with connection.connection.cursor() as cursor:
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(list(copy_types))
                for row in rows:
                    copy.write_row(row)
    elif dialect == SQLITE:
        marks = ", ".join("?" for _ in columns)
        cursor = connection.connection.cursor()
        cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)
        cursor.close()
    else:
        connection.execute(table.insert(), [dict(zip(columns, row)) for row in rows])


def insert_returning_ids(session: Session, model_or_table: Any, rows: list[dict]) -> list[int]:
    """Insert rows; their ids (column ``id``) in the order given. On PostgreSQL the ids are drawn from
    the sequence first and the rows go in by COPY (a 1000-row ``INSERT .. RETURNING`` spends most of
    its time having its parameters parsed on the client)."""
    table = _table(model_or_table)
    if _dialect(session) != POSTGRESQL:
        return list(session.scalars(table.insert().returning(table.c.id, sort_by_parameter_order=True), rows))
    ids = list(session.scalars(
        text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n) ORDER BY 1"),
        {"table": table.name, "n": len(rows)},
    ))
    bulk_insert(session, table, [{"id": row_id, **row} for row_id, row in zip(ids, rows)])
    return ids


def json_array_elements(session: Session, column):
    """A table of the elements of a JSON array column (SQLite ``json_each``, PostgreSQL
    ``json_array_elements_text``), to join laterally; its one column is ``value``."""
    if _dialect(session) == POSTGRESQL:
        return func.json_array_elements_text(column).table_valued("value").lateral("element")
    return func.json_each(column).table_valued("value").alias("element")  # SQLite joins it laterally as is


def unindexed(session: Session, column):
    """``column`` for a comparison that should not pick an index: on SQLite a unary ``+`` (SQLite's own
    way to keep a term off its indexes, for a range that covers most of a table, where a scan beats
    looking every row up from the index); PostgreSQL's planner weighs that itself, so the column as is."""
    if _dialect(session) == SQLITE:
        from sqlalchemy.sql import operators
        from sqlalchemy.sql.elements import UnaryExpression

        return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)
    return column


def month_end_after(session: Session, day_column, months: int):
    """The last day of the month ``months`` after the month of ``day_column``, in SQL (a date on
    PostgreSQL, ISO text on SQLite: each compares with the other dates of its dialect): at or after
    ``add_months(day, months)`` whatever the day, so a bound that keeps every date up to it."""
    months = int(months)
    if _dialect(session) == POSTGRESQL:
        from sqlalchemy import Date, DateTime, cast, literal_column

        start = func.date_trunc("month", cast(day_column, DateTime))
        return cast(start + func.make_interval(0, literal_column(str(months + 1))) - literal_column("interval '1 day'"), Date)
    return func.date(day_column, "start of month", f"{months + 1:+d} months", "-1 day")


@contextmanager
def larger_page_cache(session: Session, kib: int) -> Iterator[None]:
    """SQLite's page cache (2 MiB by default) raised to ``kib`` for the block, then restored (the
    connection returns to the pool); PostgreSQL sizes its buffers itself, so nothing is done there."""
    connection = session.connection()
    if connection.dialect.name != SQLITE:
        yield
        return
    previous = int(connection.exec_driver_sql("PRAGMA cache_size").scalar())
    connection.exec_driver_sql(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {previous}")


def copy_rows(session: Session, table_name: str, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """Insert tuples in ``columns`` order into ``table_name``: text COPY on PostgreSQL, the driver's
    executemany on SQLite with dates as ISO text (the form SQLAlchemy stores a ``Date`` in there).
    For bulk loaders that write ids of their own (then :func:`sync_id_sequences`)."""
    if not rows:
        return
    names = ", ".join(columns)
    raw = session.connection().connection
    if _dialect(session) == POSTGRESQL:
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY {table_name} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    as_text = [tuple(v.isoformat() if type(v) is dt.date else v for v in row) for row in rows]
    cursor = raw.cursor()
    cursor.executemany(f"INSERT INTO {table_name} ({names}) VALUES ({', '.join('?' for _ in columns)})", as_text)
    cursor.close()


def sync_id_sequences(session: Session, table_names: Sequence[str]) -> None:
    """After rows were written with explicit ids: PostgreSQL's id sequences moved past the largest id
    (SQLite takes the next id from the table itself)."""
    if _dialect(session) != POSTGRESQL:
        return
    for table in table_names:
        session.execute(text(f"select setval(pg_get_serial_sequence('{table}', 'id'), (select max(id) from {table}))"))


def refresh_statistics(session: Session) -> None:
    """The planner's statistics brought up to date after a bulk load (``ANALYZE``)."""
    session.execute(text("ANALYZE"))
