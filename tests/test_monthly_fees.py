"""Fee subsidies paid and deferred in the monthly statistics (docs/rules.md section 13 with S6), on both
backends: a run's money goes to its interest lines first and its fee lines last, so what it paid by a
date and what it still owed split between the two parts that way; "paid" is instructed, with the
custodian's confirmations beside it (an enterprise's instruction carries its interest and fee lines
together: the fee part is what the instruction's slice of the run's money puts on its fee lines).
The same figures in the CSV and XLSX of the statistics."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from fund.adapters.db import unit_of_work
from fund.adapters.models.payments import PaymentInstruction
from fund.adapters.models.subsidies import SubsidyLine, SubsidyRun
from fund.services.fees import FeeIn, record_fee
from fund.services.ledger import appropriate, check_ledger
from fund.services.monthly import monthly_statistics
from fund.services.payments import import_confirmations
from fund.services.registry import record_repayment, register_loan
from fund.services.statements import monthly_statement
from fund.services.subsidies import run_month
from tests.factories import application, setup_reference

pytestmark = pytest.mark.db
D = dt.date
DRAWDOWN = D(2024, 1, 15)


@pytest.fixture
def book(session_factory):
    """Two loans of BANK1 (two enterprises), each repaid its February interest; loan A also reports an
    appraisal fee (subsidy 3 000 000). February's run is made on 1 March with an empty subsidy pool:
    everything deferred. 10 March: an appropriation pays the interest lines and 2 000 000 of the fee
    line; 5 April: 1 000 000 more pays the rest."""
    with unit_of_work(session_factory) as s:
        actors = setup_reference(s)
        bank, fm = actors["BANK1"], actors["FM"]
        loans = [register_loan(s, bank, application(drawdown=DRAWDOWN, borrower_n=n), DRAWDOWN) for n in (71, 72)]
        for loan in loans:
            record_repayment(s, bank, loan.id, D(2024, 2, 15), D(2024, 2, 15), 0, 1_000_000, D(2024, 2, 15))
        fee = record_fee(s, bank, loans[0].id, FeeIn("appraisal", 6_000_001, D(2024, 1, 10), "穗评估所", "INV-71"), D(2024, 2, 20))
        assert fee.subsidy_fen == 3_000_000
    with unit_of_work(session_factory) as s:
        run = run_month(s, "2024-02", D(2024, 3, 1), actor=fm)
    with unit_of_work(session_factory) as s:
        row = s.get(SubsidyRun, run.run_id)
        interest = row.total_fen - row.fee_total_fen
        assert (row.fee_total_fen, row.paid_fen, row.deferred_fen) == (3_000_000, 0, interest + 3_000_000) and interest > 0
        by_enterprise = dict(s.execute(select(SubsidyLine.enterprise_id, func.sum(SubsidyLine.amount_fen))
                                       .where(SubsidyLine.run_id == row.id).group_by(SubsidyLine.enterprise_id)).all())
    with unit_of_work(session_factory) as s:
        appropriate(s, pool="subsidy", amount_fen=interest + 2_000_000, policy_id="gz-2023", business_date=D(2024, 3, 10))
    with unit_of_work(session_factory) as s:
        appropriate(s, pool="subsidy", amount_fen=1_000_000, policy_id="gz-2023", business_date=D(2024, 4, 5))
    return session_factory, actors, loans, interest, {k: int(v) for k, v in by_enterprise.items()}


def _stats(factory, actors, month: str):
    with unit_of_work(factory) as s:
        return monthly_statistics(s, actors["FM"], month)


def _figures(paid) -> tuple[int, int, int, int]:
    return paid.granted_fen, paid.paid_fen, paid.confirmed_fen, paid.deferred_fen


def _confirm(factory, actors, enterprise_id: int, settled: dt.date) -> int:
    """Confirm the instructions to ``enterprise_id`` instructed by ``settled`` and not yet confirmed (the
    custodian's file); their sum."""
    with unit_of_work(factory) as s:
        rows = s.execute(select(PaymentInstruction.id, PaymentInstruction.amount_fen).where(
            PaymentInstruction.pool == "subsidy", PaymentInstruction.payee_id == enterprise_id,
            PaymentInstruction.status == "instructed", PaymentInstruction.instructed_on <= settled)).all()
        import_confirmations(s, actors["FM"], [{"instruction_id": str(i), "status": "confirmed", "date": settled.isoformat(),
                                                "bank_reference": f"CUST-{i}"} for i, _ in rows], settled)
    return sum(int(fen) for _, fen in rows)


def test_fee_subsidies_granted_paid_confirmed_and_deferred(book):
    factory, actors, loans, interest, by_enterprise = book
    a, b = loans[0].enterprise_id, loans[1].enterprise_id
    assert set(by_enterprise) == {a, b}

    february = _stats(factory, actors, "2024-02")  # granted in the run's month; paid and owed from 1 March
    assert _figures(february.month.interest_subsidies) == (interest, 0, 0, 0)
    assert _figures(february.month.fee_subsidies) == (3_000_000, 0, 0, 0)

    # March: the run defers everything; the 10 March inflow pays the interest lines, then 2 000 000 of the fee line
    march = _stats(factory, actors, "2024-03")
    assert _figures(march.month.interest_subsidies) == (0, interest, 0, 0)
    assert _figures(march.month.fee_subsidies) == (0, 2_000_000, 0, 1_000_000)
    assert _figures(march.cumulative.fee_subsidies) == (3_000_000, 2_000_000, 0, 1_000_000)
    assert march.pools["subsidy"].deferred_fen == 1_000_000  # the ledger's deferred liability: the fee part owed

    # the custodian confirms enterprise A's instruction of the settlement: its interest line and the fee's 2 000 000
    assert _confirm(factory, actors, a, D(2024, 3, 20)) == by_enterprise[a] + 2_000_000
    march = _stats(factory, actors, "2024-03")
    assert march.month.interest_subsidies.confirmed_fen == by_enterprise[a]
    assert march.month.fee_subsidies.confirmed_fen == 2_000_000

    # April: the 5 April inflow pays the fee line's last 1 000 000; confirmed on 10 April
    assert _confirm(factory, actors, a, D(2024, 4, 10)) == 1_000_000
    april = _stats(factory, actors, "2024-04")
    assert _figures(april.month.interest_subsidies) == (0, 0, 0, 0)
    assert _figures(april.month.fee_subsidies) == (0, 1_000_000, 1_000_000, 0)
    assert _figures(april.cumulative.interest_subsidies) == (interest, interest, by_enterprise[a], 0)
    assert _figures(april.cumulative.fee_subsidies) == (3_000_000, 3_000_000, 3_000_000, 0)
    assert april.notes == ()
    with unit_of_work(factory) as s:
        assert check_ledger(s) == []

    # the same figures in the statistics' CSV and XLSX (exact fen)
    with unit_of_work(factory) as s:
        text = monthly_statement(s, actors["FM"], "2024-03", lang="en").to_bytes("csv", lang="en").decode("utf-8-sig")
        workbook = monthly_statement(s, actors["FM"], "2024-03", lang="en").to_bytes("xlsx", lang="en")
    rows = list(csv.reader(io.StringIO(text)))
    found = {(r[0], r[1]): r[-1] for r in rows if len(r) >= 5 and r[1].startswith("Fee subsidies")}
    assert found == {("month", "Fee subsidies granted"): "0", ("month", "Fee subsidies paid"): "2000000",
                     ("month", "Fee subsidies confirmed"): "2000000", ("month", "Fee subsidies deferred (at the end)"): "1000000",
                     ("cumulative", "Fee subsidies granted"): "3000000", ("cumulative", "Fee subsidies paid"): "2000000",
                     ("cumulative", "Fee subsidies confirmed"): "2000000",
                     ("cumulative", "Fee subsidies deferred (at the end)"): "1000000"}
    interest_paid = {(r[0], r[1]): r[-1] for r in rows if len(r) >= 5 and r[1] == "Interest subsidies paid"}
    assert interest_paid == {("month", "Interest subsidies paid"): str(interest), ("cumulative", "Interest subsidies paid"): str(interest)}
    sheet = load_workbook(io.BytesIO(workbook))["Lines"]
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    header = next(row for row in cells if "Figure" in row)
    fen = next(k for k, h in enumerate(header) if isinstance(h, str) and "(fen)" in h)
    fee_rows = {(row[0], row[1]): row[fen] for row in cells if isinstance(row[1], str) and row[1].startswith("Fee subsidies")}
    assert {k: int(v) for k, v in fee_rows.items()} == {k: int(v) for k, v in found.items()}
