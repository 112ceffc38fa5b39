"""Engine and session factory: SQLite (WAL, foreign keys, busy timeout, BEGIN IMMEDIATE) or
PostgreSQL (psycopg 3); the migration-head check every command runs first."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from fund.errors import DatabaseNotReady
from fund.settings import get_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine for ``url``; SQLite files get their folder created on first use."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            **kwargs,
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    # Writers take the database lock at the start of the transaction (BEGIN IMMEDIATE), so two
    # writers never both read a limit and then both write past it. Threads of this process first
    # queue on a lock of their own: SQLite's busy handler would make them poll with sleeps growing to
    # 100 ms and serve them in no fair order, which is what the tail latency of a busy API is made of.
    writer_lock = threading.Lock()
    holders: set[int] = set()

    def _release(dbapi_connection) -> None:  # noqa: ANN001
        if id(dbapi_connection) in holders:
            holders.discard(id(dbapi_connection))
            writer_lock.release()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # noqa: ANN001
        dbapi_connection = connection.connection.dbapi_connection
        if id(dbapi_connection) not in holders:
            if not writer_lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
                raise TimeoutError("the SQLite database stayed locked past the busy timeout")
            holders.add(id(dbapi_connection))
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(dbapi_connection)
            raise

    def _on_transaction_end(connection) -> None:  # noqa: ANN001
        _release(connection.connection.dbapi_connection)

    event.listen(engine, "commit", _on_transaction_end)
    event.listen(engine, "rollback", _on_transaction_end)
    # A connection returned to the pool never keeps the lock, whatever ended its transaction.
    event.listen(engine, "checkin", lambda dbapi_connection, _record: _release(dbapi_connection))


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@lru_cache(maxsize=4)
def engine_for(url: str) -> Engine:
    return make_engine(url)


def default_engine() -> Engine:
    return engine_for(get_settings().database_url)


@contextmanager
def unit_of_work(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    session = session_factory()
    try:
        with session.begin():
            yield session
    finally:
        session.close()


def alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        if "alembic_version" not in inspect(connection).get_table_names():
            return None
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def require_head(engine: Engine) -> None:
    """Refuse a database that is not migrated to head, with one line saying what to run."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        where = "an empty database" if current is None else f"revision {current}"
        raise DatabaseNotReady(
            "database_not_migrated",
            f"the database is at {where}, not at head {head}: run `ipfund db upgrade`",
        )


def server_version(url: str) -> str:
    """The database server's version (PostgreSQL's ``server_version``; SQLite's library version)."""
    from sqlalchemy import text

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                return str(connection.execute(text("show server_version")).scalar())
            return str(connection.execute(text("select sqlite_version()")).scalar())
    finally:
        engine.dispose()


@contextmanager
def scratch_postgres_database(server_url: str, prefix: str = "ipfund_scratch") -> Iterator[str]:
    """A new, empty database on the PostgreSQL server of ``server_url`` (for benchmarks); its URL is
    yielded and the database dropped afterwards."""
    import uuid

    from sqlalchemy import text

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
