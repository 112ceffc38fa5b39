"""The monthly subsidy run (rule S4) on both backends: RULES section 10, the cap across runs, late
reports, reruns, refusals, the LPR stop, the pool shortfall, statements and the ledger check."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy import func, select, text

from fund.adapters.db import unit_of_work
from fund.adapters.models.ledger import Account, Deferral, JournalEntry, Posting
from fund.adapters.models.registry import Repayment
from fund.adapters.models.subsidies import SubsidyLine, SubsidyRun
from fund.domain.dates import add_months
from fund.domain.subsidy import ineligibility_reasons
from fund.errors import Conflict, DomainError, Forbidden
from fund.services.ledger import appropriate, check_ledger
from fund.services.lpr import check_through
from fund.services.registry import move_status, record_repayment, register_loan
from fund.services.subsidies import (
    ledger_violations,
    run_month,
    statement_rows,
    statement_scope,
)
from tests.factories import application, borrower, bullet_schedule, setup_reference

BD = dt.date(2026, 10, 31)
MARCH_15 = dt.date(2024, 3, 15)  # LPR 345 bp (published 2023-08-21)


def reference(session_factory, active=("gz-2020", "gz-2023")):
    with unit_of_work(session_factory) as s:
        return setup_reference(s, active)


def register(session_factory, bank, app):
    with unit_of_work(session_factory) as s:
        return register_loan(s, bank, app, BD)


def repay(session_factory, bank, loan, due, paid_on, interest, principal=0):
    with unit_of_work(session_factory) as s:
        return record_repayment(s, bank, loan.id, due, paid_on, principal, interest, BD)


def run(session_factory, actors, month, business_date=BD):
    with unit_of_work(session_factory) as s:
        return run_month(s, month, business_date, actor=actors["FM"])


def lines_of(session_factory, run_id=None):
    with unit_of_work(session_factory) as s:
        stmt = (select(SubsidyLine).join(Repayment, Repayment.id == SubsidyLine.repayment_id)
                .order_by(Repayment.paid_on, SubsidyLine.loan_id, SubsidyLine.repayment_id))
        if run_id is not None:
            stmt = stmt.where(SubsidyLine.run_id == run_id)
        return list(s.scalars(stmt))


def ledger_clean(session_factory):
    with unit_of_work(session_factory) as s:
        return check_ledger(s) == [] and ledger_violations(s) == []


def loan_with_interest(session_factory, bank, interest, *, drawdown=MARCH_15, rate=385, share=10_000, n=1, months=12):
    return register(
        session_factory, bank,
        application(drawdown=drawdown, contract_rate_bp=rate, ip_share_bp=share, borrower_n=n, borrower=borrower(n),
                    maturity_date=add_months(drawdown, months), schedule=bullet_schedule(1_000_000_000, drawdown, months, interest=interest)),
    )


def test_rules_example_gz_2023(session_factory):
    actors = reference(session_factory)
    bank = actors["BANK1"]
    loan = loan_with_interest(session_factory, bank, 3_875_000)
    repay(session_factory, bank, loan, dt.date(2024, 4, 15), dt.date(2024, 4, 15), 3_875_000)
    result = run(session_factory, actors, "2024-04")
    assert result.created and result.line_count == 1
    assert result.total_fen == 1_736_201
    (line,) = lines_of(session_factory, result.run_id)
    assert (line.amount_fen, line.computed_fen, line.capped) == (1_736_201, 1_736_201, False)
    assert (line.lpr_bp, line.rate_used_bp_e4, line.policy_id, line.cap_year) == (345, 345 * 10_000, "gz-2023", 2024)
    with unit_of_work(session_factory) as s:
        entry = s.get(JournalEntry, result.entry_id)
        assert (entry.cause, entry.policy_id, entry.ref_type, entry.ref_id) == ("subsidy_run", "gz-2023", "subsidy_run", result.run_id)
        assert sorted((p.account_code, p.amount_fen) for p in entry.postings) == [
            ("expense:subsidy", 1_736_201), ("liability:subsidy_deferred", -1_736_201),
        ]
    assert ledger_clean(session_factory)


@pytest.mark.parametrize("rate, share, expected", [(385, 10_000, 1_937_500), (520, 6_000, 1_079_783)])
def test_rules_examples_bj_zgc_2024(session_factory, rate, share, expected):
    actors = reference(session_factory, active=("bj-zgc-2024",))
    bank = actors["BANK1"]
    loan = loan_with_interest(session_factory, bank, 3_875_000, rate=rate, share=share)
    repay(session_factory, bank, loan, dt.date(2024, 4, 15), dt.date(2024, 4, 10), 3_875_000)
    result = run(session_factory, actors, "2024-04")
    (line,) = lines_of(session_factory, result.run_id)
    assert line.amount_fen == expected == result.total_fen
    assert line.rate_used_bp_e4 == min(rate, 483) * 10_000
    assert ledger_clean(session_factory)


def test_rules_example_capped_line_and_the_line_after_it(session_factory):
    actors = reference(session_factory)
    bank = actors["BANK1"]
    # 99 000 000 subsidised in February: contract rate 300 under the LPR, so half the interest.
    big = loan_with_interest(session_factory, bank, 198_000_000, drawdown=dt.date(2024, 1, 10), rate=300)
    repay(session_factory, bank, big, dt.date(2024, 2, 10), dt.date(2024, 2, 9), 198_000_000)
    february = run(session_factory, actors, "2024-02")
    assert (february.total_fen, february.capped_count) == (99_000_000, 0)
    loan = register(session_factory, actors["BANK2"], application(
        drawdown=MARCH_15, contract_rate_bp=385, principal=500_000_000,
        schedule=bullet_schedule(500_000_000, MARCH_15, 12, interest=3_875_000)))
    repay(session_factory, actors["BANK2"], loan, dt.date(2024, 4, 15), dt.date(2024, 4, 15), 3_875_000)
    april = run(session_factory, actors, "2024-04")
    (capped_line,) = lines_of(session_factory, april.run_id)
    assert (capped_line.computed_fen, capped_line.amount_fen, capped_line.capped) == (1_736_201, 1_000_000, True)
    repay(session_factory, actors["BANK2"], loan, dt.date(2024, 5, 15), dt.date(2024, 5, 14), 3_875_000)
    may = run(session_factory, actors, "2024-05")
    (next_line,) = lines_of(session_factory, may.run_id)
    assert (next_line.computed_fen, next_line.amount_fen, next_line.capped) == (1_736_201, 0, True)
    assert may.entry_id is None and may.total_fen == 0 and may.line_count == 1
    assert ledger_clean(session_factory)


def test_cap_order_within_a_run_is_payment_date_then_loan_then_repayment(session_factory):
    actors = reference(session_factory)
    bank = actors["BANK1"]
    big = loan_with_interest(session_factory, bank, 198_000_000, drawdown=dt.date(2024, 1, 10), rate=300)
    repay(session_factory, bank, big, dt.date(2024, 2, 10), dt.date(2024, 2, 9), 198_000_000)
    assert run(session_factory, actors, "2024-02").total_fen == 99_000_000
    first = loan_with_interest(session_factory, bank, 3_875_000)
    second = loan_with_interest(session_factory, bank, 3_875_000)
    b0 = repay(session_factory, bank, first, dt.date(2024, 4, 15), dt.date(2024, 4, 13), 3_875_000)
    early = repay(session_factory, bank, second, dt.date(2024, 4, 15), dt.date(2024, 4, 12), 3_875_000)
    a = repay(session_factory, bank, second, dt.date(2024, 5, 15), dt.date(2024, 5, 13), 1_000_000)
    b1 = repay(session_factory, bank, first, dt.date(2024, 6, 15), dt.date(2024, 5, 13), 2_000_000)
    b2 = repay(session_factory, bank, first, dt.date(2024, 5, 15), dt.date(2024, 5, 13), 3_000_000)
    result = run(session_factory, actors, "2024-05")
    lines = lines_of(session_factory, result.run_id)
    # payment date; then the loan registered first; then the repayment recorded first
    assert [line.repayment_id for line in lines] == [early.id, b0.id, b1.id, b2.id, a.id]
    assert [(line.amount_fen, line.capped) for line in lines] == [(1_000_000, True)] + [(0, True)] * 4
    assert [line.computed_fen for line in lines] == [1_736_201, 1_736_201, 896_103, 1_344_155, 448_051]


def test_a_repayment_reported_late_is_paid_by_the_next_run_once(session_factory):
    actors = reference(session_factory)
    bank = actors["BANK1"]
    loan = loan_with_interest(session_factory, bank, 3_875_000)
    april = run(session_factory, actors, "2024-04")
    assert (april.line_count, april.total_fen, april.entry_id) == (0, 0, None)
    # April's repayment (paid on time) is reported after April's run, and after May's repayment.
    may_rep = repay(session_factory, bank, loan, dt.date(2024, 5, 15), dt.date(2024, 5, 15), 3_875_000)
    april_rep = repay(session_factory, bank, loan, dt.date(2024, 4, 15), dt.date(2024, 4, 14), 3_875_000)
    with unit_of_work(session_factory) as s:  # recorded before April's, May's repayment looked past due
        assert s.get(type(may_rep), may_rep.id).past_due_at_payment is True
    may = run(session_factory, actors, "2024-05")
    assert sorted(line.repayment_id for line in lines_of(session_factory, may.run_id)) == sorted([april_rep.id, may_rep.id])
    assert may.total_fen == 2 * 1_736_201
    june = run(session_factory, actors, "2024-06")
    assert june.line_count == 0
    with unit_of_work(session_factory) as s:
        counts = dict(s.execute(select(SubsidyLine.repayment_id, func.count()).group_by(SubsidyLine.repayment_id)).all())
    assert counts == {april_rep.id: 1, may_rep.id: 1}
    assert ledger_clean(session_factory)


def _snapshot(session_factory):
    with unit_of_work(session_factory) as s:
        return (
            s.scalar(select(func.count()).select_from(SubsidyRun)),
            s.scalar(select(func.count()).select_from(SubsidyLine)),
            s.scalar(select(func.count()).select_from(JournalEntry)),
            s.scalar(select(func.count()).select_from(Posting)),
            s.scalar(select(func.count()).select_from(Deferral)),
            tuple(s.execute(select(Account.code, Account.balance_fen).order_by(Account.code)).all()),
        )


def test_rerunning_a_month_changes_nothing_and_reports_the_run(session_factory):
    actors = reference(session_factory)
    bank = actors["BANK1"]
    loan = loan_with_interest(session_factory, bank, 3_875_000)
    repay(session_factory, bank, loan, dt.date(2024, 4, 15), dt.date(2024, 4, 15), 3_875_000)
    first = run(session_factory, actors, "2024-04")
    before = _snapshot(session_factory)
    # even with a new on-time repayment for that month reported in between
    repay(session_factory, bank, loan, dt.date(2024, 5, 15), dt.date(2024, 4, 30), 3_875_000)
    again = run(session_factory, actors, "2024-04")
    assert not again.created
    assert (again.run_id, again.total_fen, again.line_count, again.entry_id) == (first.run_id, first.total_fen, 1, first.entry_id)
    assert _snapshot(session_factory) == before
    # the next month takes the repayment paid on 2024-04-30
    assert run(session_factory, actors, "2024-05").line_count == 1


def test_an_earlier_month_and_a_future_month_are_refused(session_factory):
    actors = reference(session_factory)
    run(session_factory, actors, "2024-05")
    before = _snapshot(session_factory)
    with pytest.raises(Conflict) as refused:
        run(session_factory, actors, "2024-04")
    assert refused.value.code == "month_before_latest_run"
    with pytest.raises(DomainError) as future:
        run(session_factory, actors, "2026-11")
    assert future.value.code == "month_after_business_date"
    with pytest.raises(DomainError) as bad:
        run(session_factory, actors, "2024-13")
    assert bad.value.code == "invalid_month"
    with pytest.raises(Forbidden):
        with unit_of_work(session_factory) as s:
            run_month(s, "2024-06", BD, actor=actors["BANK1"])
    assert _snapshot(session_factory) == before


def test_a_drawdown_past_checked_through_stops_the_run_naming_date_and_loans(session_factory):
    actors = reference(session_factory)
    bank = actors["BANK1"]
    ok = loan_with_interest(session_factory, bank, 3_875_000)
    drawdown = dt.date(2025, 11, 3)  # the shipped table is checked through 2025-10-20
    late_a = loan_with_interest(session_factory, bank, 1_000_000, drawdown=drawdown, n=2)
    late_b = loan_with_interest(session_factory, bank, 1_000_000, drawdown=drawdown, n=3)
    repay(session_factory, bank, ok, dt.date(2024, 4, 15), dt.date(2024, 4, 15), 3_875_000)
    for loan in (late_a, late_b):
        repay(session_factory, bank, loan, dt.date(2025, 12, 3), dt.date(2025, 12, 1), 1_000_000)
    before = _snapshot(session_factory)
    with pytest.raises(DomainError) as stopped:
        run(session_factory, actors, "2025-12")
    assert stopped.value.code == "lpr_not_available"
    assert "2025-11-03" in stopped.value.message
    assert f"loans {late_a.id}, {late_b.id}" in stopped.value.message
    assert stopped.value.extra["loan_ids"] == [late_a.id, late_b.id]
    assert _snapshot(session_factory) == before
    with unit_of_work(session_factory) as s:
        check_through(s, dt.date(2025, 12, 31), BD)
    done = run(session_factory, actors, "2025-12")
    assert done.line_count == 3


def test_ineligible_repayments_are_not_subsidised_exactly_as_s1_says(session_factory):
    actors = reference(session_factory)
    bank = actors["BANK1"]
    good = loan_with_interest(session_factory, bank, 3_875_000)
    short = loan_with_interest(session_factory, bank, 3_875_000, n=2, months=14)
    not_sme = register(session_factory, bank, application(drawdown=MARCH_15, borrower_n=3, borrower=borrower(3, is_sme=False)))
    claimed = loan_with_interest(session_factory, bank, 3_875_000, n=4)
    reps = [
        repay(session_factory, bank, good, dt.date(2024, 4, 15), dt.date(2024, 4, 16), 3_875_000),  # paid late
        repay(session_factory, bank, good, dt.date(2024, 5, 15), dt.date(2024, 5, 15), 3_875_000),  # fine: April paid by then
        repay(session_factory, bank, good, dt.date(2024, 7, 15), dt.date(2024, 7, 15), 3_875_000),  # June past due
        repay(session_factory, bank, good, dt.date(2025, 3, 15), dt.date(2024, 7, 20), 0, principal=1),  # no interest
        repay(session_factory, bank, short, dt.date(2025, 3, 15), dt.date(2024, 4, 10), 3_875_000),  # 12th month: fine
        repay(session_factory, bank, short, dt.date(2025, 4, 15), dt.date(2024, 4, 10), 3_875_000),  # beyond 12 months
        repay(session_factory, bank, not_sme, dt.date(2024, 4, 15), dt.date(2024, 4, 15), 1_000_000),  # ineligible loan
    ]
    with unit_of_work(session_factory) as s:
        loan = s.get(type(claimed), claimed.id)
        move_status(s, loan, "claim_filed", bank.institution_id, BD)
    reps.append(repay(session_factory, bank, claimed, dt.date(2024, 4, 15), dt.date(2024, 4, 15), 3_875_000))  # claimed
    result = run(session_factory, actors, "2025-03")

    with unit_of_work(session_factory) as s:
        expected = set()
        for r in reps:
            rep = s.merge(r)
            loan, inst = s.get(type(good), rep.loan_id), None
            inst = next(i for i in loan.installments if i.id == rep.installment_id)
            others = [o for o in s.scalars(select(type(rep)).where(type(rep).loan_id == loan.id)) if o.id != rep.id and o.paid_on <= rep.paid_on]
            past_due = any(
                i.due_date < rep.paid_on
                and (sum(o.principal_fen for o in others if o.installment_id == i.id) < i.principal_due_fen
                     or sum(o.interest_fen for o in others if o.installment_id == i.id) < i.interest_due_fen)
                for i in loan.installments
            )
            reasons = ineligibility_reasons(
                loan_eligible=loan.coverage == "eligible", interest_fen=rep.interest_fen, due_date=inst.due_date,
                paid_on=rep.paid_on, drawdown=loan.drawdown_date, subsidy_months=12, past_due_on_payment=past_due,
                loan_status_at_payment=rep.loan_status_at_payment,
            )
            if not reasons:
                expected.add(rep.id)
    assert expected == {reps[1].id, reps[4].id}
    assert {line.repayment_id for line in lines_of(session_factory, result.run_id)} == expected


def test_a_pool_shortfall_is_deferred_and_settled_by_the_next_inflow(session_factory):
    actors = reference(session_factory)
    bank = actors["BANK1"]
    with unit_of_work(session_factory) as s:
        appropriate(s, pool="subsidy", amount_fen=1_000_000, policy_id="gz-2023", business_date=BD)
    loan = loan_with_interest(session_factory, bank, 3_875_000)
    repay(session_factory, bank, loan, dt.date(2024, 4, 15), dt.date(2024, 4, 15), 3_875_000)
    result = run(session_factory, actors, "2024-04")
    assert (result.total_fen, result.paid_fen, result.deferred_fen) == (1_736_201, 1_000_000, 736_201)
    with unit_of_work(session_factory) as s:
        (deferral,) = s.scalars(select(Deferral).where(Deferral.pool == "subsidy"))
        assert (deferral.ref_type, deferral.ref_id, deferral.amount_fen) == ("subsidy_run", result.run_id, 736_201)
        inflow = appropriate(s, pool="subsidy", amount_fen=1_000_000, policy_id="gz-2023", business_date=BD)
        assert (inflow.settled_fen, inflow.to_cash_fen) == (736_201, 263_799)
    assert ledger_clean(session_factory)


def test_the_ledger_check_catches_a_run_whose_lines_do_not_match_its_entry(session_factory):
    actors = reference(session_factory)
    bank = actors["BANK1"]
    loan = loan_with_interest(session_factory, bank, 3_875_000)
    repay(session_factory, bank, loan, dt.date(2024, 4, 15), dt.date(2024, 4, 15), 3_875_000)
    result = run(session_factory, actors, "2024-04")
    assert ledger_clean(session_factory)
    with unit_of_work(session_factory) as s:
        s.execute(text("UPDATE subsidy_lines SET amount_fen = amount_fen - 1 WHERE run_id = :r"), {"r": result.run_id})
    with unit_of_work(session_factory) as s:
        rules = {v.rule for v in check_ledger(s)}
    assert {"subsidy_run_totals", "subsidy_run_entry_equals_lines"} <= rules
    # the copied columns carry no foreign key: the check names a line whose loan differs from its repayment's
    with unit_of_work(session_factory) as s:
        s.execute(text("UPDATE subsidy_lines SET amount_fen = amount_fen + 1, loan_id = loan_id + 1000 WHERE run_id = :r"),
                  {"r": result.run_id})
    with unit_of_work(session_factory) as s:
        rules = {v.rule for v in check_ledger(s)}
    assert "subsidy_line_matches_repayment" in rules
    # a line for a repayment or a run that does not exist is refused by the database itself
    with pytest.raises(IntegrityError):
        with unit_of_work(session_factory) as s:
            s.execute(text("INSERT INTO subsidy_lines (repayment_id, run_id, loan_id, enterprise_id, policy_id, cap_year, "
                           "interest_fen, lpr_bp, rate_used_bp_e4, computed_fen, amount_fen, capped) "
                           "VALUES (999999, 999, 1, 1, 'gz-2023', 2024, 1, 345, 3450000, 0, 0, false)"))


def _csv_lines(text):
    """The line rows of a statement CSV (English headers), total rows left out."""
    assert text.startswith("\ufeff")
    return [r for r in csv.DictReader(io.StringIO(text[1:])) if r["No."].isdigit()]


def test_statements_csv_xlsx_and_what_a_bank_sees(session_factory):
    # issue 13 changed the statement: people's headers (English with lang="en"), yuan beside fen,
    # paid and deferred per line, totals; the same facts are checked as before
    from openpyxl import load_workbook

    from fund.services.statements import subsidy_statement

    actors = reference(session_factory)
    mine = loan_with_interest(session_factory, actors["BANK1"], 3_875_000)
    theirs = register(session_factory, actors["BANK2"], application(
        drawdown=MARCH_15, contract_rate_bp=520, ip_share_bp=6_000, borrower_n=2, borrower=borrower(2),
        schedule=bullet_schedule(1_000_000_000, MARCH_15, 12, interest=3_875_000)))
    repay(session_factory, actors["BANK1"], mine, dt.date(2024, 4, 15), dt.date(2024, 4, 15), 3_875_000)
    repay(session_factory, actors["BANK2"], theirs, dt.date(2024, 4, 15), dt.date(2024, 4, 15), 3_875_000)
    result = run(session_factory, actors, "2024-04")
    with unit_of_work(session_factory) as s:
        everything = subsidy_statement(s, actors["FM"], month="2024-04", lang="en").to_bytes("csv", lang="en").decode()
        rows = _csv_lines(everything)
        assert [r["Bank"] for r in rows] == ["BANK1", "BANK2"]
        first = rows[0]
        assert (first["Loan"], first["Due"], first["Paid on"], first["Interest (fen)"], first["LPR (bp)"],
                first["Rate used (bp)"], first["Subsidy (fen)"], first["Capped"]) == (
            str(mine.id), "2024-04-15", "2024-04-15", "3875000", "345", "345", "1736201", "no")
        assert first["Subsidy (yuan)"] == "17362.01"
        # gz-2023 caps the rate at the LPR: 345 bp of the 520 contract rate
        assert rows[1]["Rate used (bp)"] == "345" and rows[1]["Contract rate (bp)"] == "520"
        bank_view = subsidy_statement(s, actors["BANK2"], run_id=result.run_id, lang="en").to_bytes("csv", lang="en").decode()
        assert [r["Loan"] for r in _csv_lines(bank_view)] == [str(theirs.id)]
        with pytest.raises(Forbidden):
            statement_scope(s, actors["BANK2"], run_id=result.run_id, bank_code="BANK1")
        with pytest.raises(Forbidden):
            statement_scope(s, actors["INS1"], run_id=result.run_id)
        by_enterprise = list(statement_rows(s, statement_scope(s, actors["AUD"], run_id=result.run_id,
                                                                enterprise_code=borrower(2).credit_code)))
        assert [r.loan_id for r in by_enterprise] == [theirs.id]
        data = subsidy_statement(s, actors["FM"], run_id=result.run_id, bank_code="BANK1", lang="en").to_bytes("xlsx", lang="en")
    book = load_workbook(io.BytesIO(data), read_only=True)
    sheet_rows = [r for r in book["Lines"].iter_rows(values_only=True)]
    at = next(k for k, r in enumerate(sheet_rows) if r and r[0] == "No.")
    header, line = sheet_rows[at], sheet_rows[at + 1]
    record = dict(zip(header, line))
    assert (record["Loan"], record["Subsidy (fen)"], record["Capped"], record["Enterprise"]) == (mine.id, 1_736_201, "no", "Enterprise 1")
    by_bank = list(book["Totals by bank"].iter_rows(values_only=True))
    head = next(k for k, r in enumerate(by_bank) if r and r[0] == "Bank")
    bank1 = dict(zip(by_bank[head], by_bank[head + 1]))
    assert (bank1["Bank"], bank1["Subsidy (fen)"], Decimal(str(bank1["Subsidy (yuan)"]))) == ("BANK1", 1_736_201, Decimal("17362.01"))


def test_xlsx_statements_continue_on_a_new_sheet_before_the_row_limit():
    from openpyxl import load_workbook

    from fund.services.statements import SUBSIDY_LAYOUT, TitleBlock, write_xlsx

    rows = [(k, "BANK1", k, f"C-{k}", "91440100000000001X", "E", "gz-2023", "interest", dt.date(2024, 4, 15),
             dt.date(2024, 4, 15), 100, None, 385, 10_000, 345, Decimal("345"), 44, 40 + k, 40 + k, 0, k == 4)
            for k in range(1, 6)]
    title = TitleBlock("Fund", "test", "2024-04", "gz-2023", dt.datetime(2026, 1, 1), "FM", dt.date(2026, 10, 31))
    data = io.BytesIO()
    assert write_xlsx(SUBSIDY_LAYOUT, title, rows, data, lang="en", lines_per_sheet=2).lines == 5
    book = load_workbook(io.BytesIO(data.getvalue()), read_only=True)
    assert book.sheetnames == ["Lines", "Lines 2", "Lines 3", "Totals by bank", "Totals by enterprise"]
    counts = [sum(1 for r in book[name].iter_rows(values_only=True) if r and isinstance(r[0], int))
              for name in book.sheetnames[:3]]
    assert counts == [2, 2, 1]
    (total,) = [r for r in book["Totals by bank"].iter_rows(values_only=True) if r and r[0] == "Total"]
    assert 215 in total  # the subsidy's fen: 41 + 42 + 43 + 44 + 45


def test_a_run_takes_nothing_paid_after_the_business_date(session_factory):
    actors = reference(session_factory)
    bank = actors["BANK1"]
    loan = loan_with_interest(session_factory, bank, 3_875_000)
    early = repay(session_factory, bank, loan, dt.date(2024, 4, 15), dt.date(2024, 4, 15), 3_875_000)
    later = repay(session_factory, bank, loan, dt.date(2024, 5, 15), dt.date(2024, 4, 25), 3_875_000)
    # the business date was set back to 2024-04-20 (as the demo and tests may): April's run stops there
    april = run(session_factory, actors, "2024-04", business_date=dt.date(2024, 4, 20))
    assert [line.repayment_id for line in lines_of(session_factory, april.run_id)] == [early.id]
    assert april.business_date == dt.date(2024, 4, 20)
    may = run(session_factory, actors, "2024-05")
    assert [line.repayment_id for line in lines_of(session_factory, may.run_id)] == [later.id]


def test_two_runs_of_a_month_at_once_make_one_run(session_factory):
    import threading

    actors = reference(session_factory)
    bank = actors["BANK1"]
    for n in range(1, 4):
        loan = loan_with_interest(session_factory, bank, 3_875_000, n=n)
        repay(session_factory, bank, loan, dt.date(2024, 4, 15), dt.date(2024, 4, 15), 3_875_000)
    results, errors = [], []
    barrier = threading.Barrier(2)

    def go():
        try:
            barrier.wait()
            results.append(run(session_factory, actors, "2024-04"))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(r.created for r in results) == [False, True]
    assert len({r.run_id for r in results}) == 1
    assert len(lines_of(session_factory)) == 3
    assert ledger_clean(session_factory)
