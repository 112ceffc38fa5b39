"""The dialect helpers of ``fund/adapters/dialect.py`` do the same thing on SQLite and PostgreSQL."""

from __future__ import annotations

import doctest

from sqlalchemy import JSON, cast, literal, select

import fund.adapters.dialect as dialect
from fund.adapters.db import unit_of_work
from fund.adapters.models.registry import Institution, SystemSetting


def test_doctests_pass():
    result = doctest.testmod(dialect)
    assert result.attempted > 0 and result.failed == 0


def test_insert_returning_ids_gives_the_ids_in_the_order_given(session_factory):
    rows = [dict(code=f"B{n:02d}", name=f"Bank {n}", kind="bank") for n in (3, 1, 2)]
    with unit_of_work(session_factory) as session:
        ids = dialect.insert_returning_ids(session, Institution, rows)
    with unit_of_work(session_factory) as session:
        stored = {i.id: i.code for i in session.scalars(select(Institution))}
    assert len(set(ids)) == 3
    assert [stored[i] for i in ids] == ["B03", "B01", "B02"]
    # The sequence moved past the ids drawn: a plain insert afterwards takes a new one.
    with unit_of_work(session_factory) as session:
        later = Institution(code="B04", name="Bank 4", kind="bank")
        session.add(later)
        session.flush()
        assert later.id not in ids


def test_insert_ignoring_conflicts_keeps_the_first_row(session_factory):
    with unit_of_work(session_factory) as session:
        dialect.insert_ignoring_conflicts(session, Institution, [dict(code="I1", name="first", kind="insurer")], index_elements=["code"])
        dialect.insert_ignoring_conflicts(
            session, Institution,
            [dict(code="I1", name="second", kind="insurer"), dict(code="I2", name="other", kind="insurer")],
            index_elements=["code"],
        )
        dialect.insert_ignoring_conflicts(session, Institution, [])  # nothing to do
    with unit_of_work(session_factory) as session:
        assert sorted(session.execute(select(Institution.code, Institution.name)).all()) == [("I1", "first"), ("I2", "other")]


def test_bulk_insert_and_insert_tuples_write_every_row(session_factory):
    with unit_of_work(session_factory) as session:
        dialect.bulk_insert(session, SystemSetting, [dict(key=f"k{n}", value=str(n)) for n in range(5)])
        dialect.insert_tuples(session, SystemSetting, ("key", "value"), [(f"t{n}", str(n)) for n in range(5)],
                              copy_types=("varchar", "varchar"))
    with unit_of_work(session_factory) as session:
        stored = dict(session.execute(select(SystemSetting.key, SystemSetting.value)).all())
    assert stored == {**{f"k{n}": str(n) for n in range(5)}, **{f"t{n}": str(n) for n in range(5)}}


def test_json_array_elements_lists_each_element(session_factory, backend):
    array = literal(["b", "a", "b"], JSON)
    if backend == "postgresql":  # a bare parameter has no type there
        array = cast(array, JSON)
    with unit_of_work(session_factory) as session:
        element = dialect.json_array_elements(session, array)
        values = sorted(session.scalars(select(element.c.value)))
    assert values == ["a", "b", "b"]


def test_for_update_locks_on_postgresql_only(session_factory, backend):
    with unit_of_work(session_factory) as session:
        statement = dialect.for_update(session, select(Institution.id))
        sql = str(statement.compile(session.get_bind()))
        assert ("FOR UPDATE" in sql) == (backend == "postgresql")
        assert dialect.writers_serialised(session) == (backend == "sqlite")
        session.execute(statement).all()


def test_larger_page_cache_is_restored_after_the_block(session_factory, backend):
    with unit_of_work(session_factory) as session:
        connection = session.connection()
        before = connection.exec_driver_sql("PRAGMA cache_size").scalar() if backend == "sqlite" else None
        with dialect.larger_page_cache(session, 64 * 1024):
            if backend == "sqlite":
                assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -64 * 1024
        if backend == "sqlite":
            assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == before


def test_copy_rows_with_own_ids_then_the_sequence_moves_past_them(session_factory):
    with unit_of_work(session_factory) as session:
        dialect.copy_rows(session, "institutions", ("id", "code", "name", "kind"),
                          [(41, "C41", "Copied 41", "bank"), (42, "C42", "Copied 42", "bank")])
        dialect.sync_id_sequences(session, ("institutions",))
        dialect.refresh_statistics(session)
    with unit_of_work(session_factory) as session:
        later = Institution(code="C43", name="Added", kind="bank")
        session.add(later)
        session.flush()
        assert later.id > 42
        assert sorted(session.scalars(select(Institution.code))) == ["C41", "C42", "C43"]
