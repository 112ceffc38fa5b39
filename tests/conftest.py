"""Database fixtures: every test that takes ``session_factory`` (or ``engine``) runs on SQLite and on
PostgreSQL. PostgreSQL is skipped when unreachable, unless CI or IPFUND_REQUIRE_POSTGRES is set:
then it fails."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from fund.adapters.db import make_engine, make_session_factory, upgrade
import fund.adapters.models  # noqa: F401  (registers every table)
from fund.adapters.models.base import Base

POSTGRES_URL = os.environ.get("IPFUND_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = bool(os.environ.get("CI") or os.environ.get("IPFUND_REQUIRE_POSTGRES"))
BACKENDS = ("sqlite", "postgresql")
# Tests run "as of" a fixed business date unless they set another.
TEST_BUSINESS_DATE = dt.date(2026, 10, 31)


@pytest.fixture(autouse=True)
def _business_date(monkeypatch):
    from fund.settings import reset_settings_cache

    monkeypatch.setenv("IPFUND_BUSINESS_DATE", TEST_BUSINESS_DATE.isoformat())
    reset_settings_cache()
    yield
    reset_settings_cache()


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated to head once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_base() -> str:
    """A per-worker database on the PostgreSQL server, migrated to head once."""
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        message = f"PostgreSQL at {make_url(POSTGRES_URL).render_as_string(hide_password=True)} is unreachable: {exc.__class__.__name__}"
        if REQUIRE_POSTGRES:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    name = f"ipfund_test_{_worker()}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_postgres(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def database_url(backend, request, tmp_path) -> str:
    if backend == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_base")
    engine = make_engine(url)
    _truncate_postgres(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(database_url, monkeypatch) -> Engine:
    from fund.settings import reset_settings_cache

    monkeypatch.setenv("IPFUND_DATABASE_URL", database_url)
    reset_settings_cache()
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine):
    return make_session_factory(engine)


@pytest.fixture
def ascii_locale():
    """The process's character type set to the C locale (ASCII) for one test, as on a machine without a
    UTF-8 locale: a file written or read in the locale's encoding would then fail on non-ASCII text."""
    import locale

    old = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        assert locale.getencoding().lower() not in ("utf-8", "utf8")
        yield
    finally:
        locale.setlocale(locale.LC_CTYPE, old)
