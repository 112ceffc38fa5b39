"""Migration 0013 (RULES revision 2, borrower data per loan) moves existing data, both backends: each
loan gets its own bank's report of the borrower (from ``enterprise_reports``, else the enterprise),
the ``borrower_data_differs`` flag goes, and a downgrade gives the reports back."""

from __future__ import annotations

import datetime as dt
import json
from contextlib import contextmanager

import pytest
from sqlalchemy import inspect, text

from fund.adapters.db import make_engine, scratch_postgres_database, upgrade
from tests.conftest import POSTGRES_URL

COLUMNS = "borrower_name, borrower_district, borrower_sector, borrower_registered_on, borrower_is_sme, borrower_clean_credit"


@contextmanager
def _fresh_database(backend, tmp_path):
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.sqlite3'}"
        return
    try:
        make_engine(POSTGRES_URL).connect().close()
    except Exception:  # noqa: BLE001
        pytest.skip("PostgreSQL is unreachable")
    with scratch_postgres_database(POSTGRES_URL, prefix="ipfund_test_rev2") as url:
        yield url


def _seed(connection) -> None:
    connection.execute(text(
        "INSERT INTO institutions (id, code, name, kind) VALUES (1, 'BANK1', 'First', 'bank'), (2, 'BANK2', 'Second', 'bank')"
    ))
    connection.execute(text(
        "INSERT INTO enterprises (id, credit_code, name, district, sector, registered_on, is_sme, clean_credit, first_reported_by) "
        "VALUES (1, '91440100000000001X', 'First name', 'Huangpu', 'other', :d, :t, :t, 1)"
    ), {"d": dt.date(2015, 1, 1), "t": True})
    loan = (
        "INSERT INTO loans (id, bank_id, contract_no, enterprise_id, principal_fen, contract_rate_bp, drawdown_date, "
        "maturity_date, ip_share_bp, scheme_code, pledge_registration_no, pledge_registered_on, coverage, ineligible_reasons, "
        "ip_part_fen, covered_fen, status, principal_repaid_fen, flags, registered_on) VALUES (:id, :bank, :contract, 1, 100, 385, "
        ":d, :m, 10000, '50', 'PR', :d, 'eligible', '[]', 100, 100, 'active', 0, :flags, :d)"
    )
    day, maturity = dt.date(2026, 1, 15), dt.date(2027, 1, 15)
    connection.execute(text(loan), [
        {"id": 1, "bank": 1, "contract": "A", "d": day, "m": maturity, "flags": json.dumps(["pledge_rate_exceeded"])},
        {"id": 2, "bank": 2, "contract": "B", "d": day, "m": maturity, "flags": json.dumps(["borrower_data_differs", "pilot_credit_code"])},
        {"id": 3, "bank": 2, "contract": "C", "d": day, "m": maturity, "flags": json.dumps([])},  # no report row
    ])
    report = ("INSERT INTO enterprise_reports (enterprise_id, institution_id, loan_id, data, conflicts) "
              "VALUES (1, :bank, :loan, :data, :conflicts)")
    first = {"name": "First name", "district": "Huangpu", "sector": "other", "registered_on": "2015-01-01", "is_sme": True, "clean_credit": True}
    second = {**first, "name": "Second name", "sector": "rail_transit", "registered_on": "2016-02-03", "is_sme": False}
    connection.execute(text(report), [
        {"bank": 1, "loan": 1, "data": json.dumps(first), "conflicts": "[]"},
        {"bank": 2, "loan": 2, "data": json.dumps(second), "conflicts": json.dumps(["is_sme", "name", "registered_on", "sector"])},
    ])


def _loans(connection):
    rows = connection.execute(text(f"SELECT id, flags, {COLUMNS} FROM loans ORDER BY id")).all()
    out = []
    for loan_id, flags, name, district, sector, registered, sme, clean in rows:
        flags = json.loads(flags) if isinstance(flags, str) else flags
        registered = dt.date.fromisoformat(registered) if isinstance(registered, str) else registered
        out.append((loan_id, flags, name, district, sector, registered, bool(sme), bool(clean)))
    return out


def test_borrower_data_move_onto_each_loan_and_back(backend, tmp_path):
    with _fresh_database(backend, tmp_path) as url:
        engine = make_engine(url)
        try:
            upgrade(engine, "0012")
            with engine.begin() as connection:
                _seed(connection)
            upgrade(engine, "0013")
            with engine.connect() as connection:
                assert _loans(connection) == [
                    (1, ["pledge_rate_exceeded"], "First name", "Huangpu", "other", dt.date(2015, 1, 1), True, True),
                    (2, ["pilot_credit_code"], "Second name", "Huangpu", "rail_transit", dt.date(2016, 2, 3), False, True),
                    (3, [], "First name", "Huangpu", "other", dt.date(2015, 1, 1), True, True),
                ]
            from alembic import command

            from fund.adapters.db import alembic_config

            config = alembic_config(url)
            with engine.begin() as connection:
                config.attributes["connection"] = connection
                command.downgrade(config, "0012")
            with engine.connect() as connection:
                rows = connection.execute(text("SELECT loan_id, institution_id, data FROM enterprise_reports ORDER BY loan_id")).all()
                reports = {loan_id: (bank, json.loads(data) if isinstance(data, str) else data) for loan_id, bank, data in rows}
                assert reports[2] == (2, {"name": "Second name", "district": "Huangpu", "sector": "rail_transit",
                                          "registered_on": "2016-02-03", "is_sme": False, "clean_credit": True})
                assert sorted(reports) == [1, 2, 3]
                assert not {c["name"] for c in inspect(connection).get_columns("loans")} & set(COLUMNS.split(", "))
        finally:
            engine.dispose()
