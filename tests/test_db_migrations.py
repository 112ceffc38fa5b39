"""Migrations: an empty database migrates to head, the tables match the models, and commands refuse a
database that is not at head."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import fund.adapters.models  # noqa: F401
from fund.adapters.db import current_revision, head_revision, make_engine, require_head, upgrade
from fund.adapters.models.base import Base
from fund.errors import DatabaseNotReady


def test_empty_sqlite_database_migrates_to_head(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'new.sqlite3'}")
    assert current_revision(engine) is None
    with pytest.raises(DatabaseNotReady, match="ipfund db upgrade"):
        require_head(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    require_head(engine)


@pytest.mark.db
def test_migrated_schema_matches_the_models(engine):
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    assert current_revision(engine) == head_revision()


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'pragmas.sqlite3'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
