"""The portfolio report against a small book built by hand, whose every figure is worked out below;
the loan list and loan detail; the CLI commands over a migrated database."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from fund.adapters.db import unit_of_work
from fund.domain.dates import add_months
from fund.domain.registry import REASON_TEXT, SECTORS, InstallmentIn
from fund.errors import DomainError, NotFound
from fund.services.registry import cancel_loan, record_repayment, register_loan
from fund.services.reports import list_loan_summaries, loan_detail, portfolio_report
from tests.factories import application, asset, borrower, setup_reference, uscc

pytestmark = pytest.mark.db
BD = dt.date(2026, 10, 31)
M = 1_000_000  # 10,000 yuan in fen


def _pay(s, bank, loan, *, through=BD, late: dict[dt.date, dt.date] | None = None, skip=()):
    """Pay each installment due on or before ``through`` in full on its due date (or as ``late`` says)."""
    for inst in sorted(loan.installments, key=lambda i: i.due_date):
        if inst.due_date <= through and inst.due_date not in skip:
            paid_on = (late or {}).get(inst.due_date, inst.due_date)
            record_repayment(s, bank, loan.id, inst.due_date, paid_on, inst.principal_due_fen, inst.interest_due_fen, BD)


@pytest.fixture
def book(session_factory):
    """Eight loans (amounts in fen):

    L1 BANK1 b1 IT        gz-2023 2026-01-15  1500 M  C 1000 M (single-loan cap)  interest paid to date
    L2 BANK2 b2 biomed    gz-2020 2021-03-10   600 M  C  300 M (ip share 50%)     repaid in full (2021-06-10)
    L3 BANK1 b3 other     gz-2023 2025-05-20   200 M  not an SME: C 0             1st of 2 parts paid, 2nd past due
    L4 BANK2 b4 IT        gz-2023 2026-03-02   400 M  C 400 M                     cancelled
    L5 BANK1 b5 equipment no policy 2020-05-11 200 M  C 0 (no active policy)      nothing paid
    L6 BANK2 b1 IT        gz-2023 2026-02-02  1200 M  C 1000 M (quota now used)   interest paid to date
    L7 BANK1 b1 IT        gz-2023 2026-04-01   300 M  C 0, quota exhausted        interest paid to date
    L8 BANK2 b6 rail      gz-2023 2026-06-01   100 M  C 100 M, pledge rate flag   Sep paid late, Oct unpaid
    """
    ids = {}
    with unit_of_work(session_factory) as s:
        actors = setup_reference(s)
        b1, b2 = actors["BANK1"], actors["BANK2"]

        def reg(name, bank, n, principal, drawdown, *, sector="next_generation_it", **kw):
            kw.setdefault("assets", (asset(owner_credit_code=uscc(n)),))
            app = application(f"{name}-C", principal=principal, drawdown=drawdown, borrower_n=n,
                              borrower=borrower(n, sector=sector, **kw.pop("borrower_overrides", {})), **kw)
            loan = register_loan(s, bank, app, BD)
            ids[name] = loan.id
            return loan

        l1 = reg("L1", b1, 1, 1500 * M, dt.date(2026, 1, 15))
        _pay(s, b1, l1)
        l2 = reg("L2", b2, 2, 600 * M, dt.date(2021, 3, 10), sector="biomedicine_health", months=3, ip_share_bp=5000, scheme="55")
        _pay(s, b2, l2)
        d3 = dt.date(2025, 5, 20)
        l3 = reg("L3", b1, 3, 200 * M, d3, sector="other", borrower_overrides={"is_sme": False},
                 maturity_date=add_months(d3, 2),
                 schedule=(InstallmentIn(add_months(d3, 1), 100 * M, M), InstallmentIn(add_months(d3, 2), 100 * M, M)))
        _pay(s, b1, l3, through=add_months(d3, 1))
        l4 = reg("L4", b2, 4, 400 * M, dt.date(2026, 3, 2))
        cancel_loan(s, b2, l4.id, BD)
        reg("L5", b1, 5, 200 * M, dt.date(2020, 5, 11), sector="intelligent_equipment", months=3)
        l6 = reg("L6", b2, 1, 1200 * M, dt.date(2026, 2, 2))
        _pay(s, b2, l6)
        l7 = reg("L7", b1, 1, 300 * M, dt.date(2026, 4, 1))
        _pay(s, b1, l7)
        l8 = reg("L8", b2, 6, 100 * M, dt.date(2026, 6, 1), sector="rail_transit",
                 assets=(asset(owner_credit_code=uscc(6), appraised_value_fen=100 * M),))
        _pay(s, b2, l8, late={dt.date(2026, 9, 1): dt.date(2026, 9, 20)}, skip=(dt.date(2026, 10, 1),))
    return ids


def fig(count, principal, covered, outstanding):
    return {"count": count, "principal_fen": principal * M, "covered_fen": covered * M, "outstanding_fen": outstanding * M}


ZERO = fig(0, 0, 0, 0)


def test_hand_built_book_figures(session_factory, book):
    with unit_of_work(session_factory) as s:
        report = portfolio_report(s)
    assert report["as_of"] == "2026-10-31"
    assert (report["loans"], report["principal_fen"], report["covered_fen"], report["outstanding_fen"], report["live_covered_fen"]) == (
        8, 4500 * M, 2400 * M, 3400 * M, 2100 * M)
    assert report["by_coverage"] == {"eligible": fig(6, 4100, 2400, 3100), "ineligible": fig(2, 400, 0, 300)}
    assert report["by_bank"] == {
        "BANK1": {"name": "First Bank", **fig(4, 2200, 1000, 2100)},
        "BANK2": {"name": "Second Bank", **fig(4, 2300, 1400, 1300)},
    }
    expected_sectors = {key: ZERO for key in SECTORS} | {
        "next_generation_it": fig(4, 3400, 2000, 3000),
        "biomedicine_health": fig(1, 600, 300, 0),
        "other": fig(1, 200, 0, 100),
        "intelligent_equipment": fig(1, 200, 0, 200),
        "rail_transit": fig(1, 100, 100, 100),
    }
    assert report["by_sector"] == expected_sectors
    assert report["by_policy"] == {"gz-2020": fig(1, 600, 300, 0), "gz-2023": fig(6, 3700, 2100, 3200), "none": fig(1, 200, 0, 200)}
    assert list(report["by_policy"]) == ["gz-2020", "gz-2023", "none"]
    assert report["by_status"] == {
        "active": fig(6, 3500, 2100, 3400), "repaid": fig(1, 600, 300, 0), "cancelled": fig(1, 400, 0, 0),
        "claimed": ZERO, "compensated": ZERO, "closed": ZERO,
    }
    assert report["flagged"] == {"loans": 2, "by_flag": {"borrower_quota_exhausted": 1, "pledge_rate_exceeded": 1}}
    assert report["ineligible_reasons"] == {"no_active_policy": 1, "not_sme": 1}
    # Live loans past due: L3 (since 2025-07-20, 468 days), L5 (since 2020-06-11), L8 (since 2026-10-01, 30 days).
    assert report["past_due"] == {"loans": 3, "outstanding_fen": 400 * M, "covered_fen": 100 * M,
                                  "by_days": {"1-30": 1, "31-90": 0, "91+": 2}}
    # Every map adds up to the totals.
    for key in ("by_coverage", "by_bank", "by_sector", "by_policy", "by_status"):
        for figure in ("count", "principal_fen", "covered_fen", "outstanding_fen"):
            total = report["loans"] if figure == "count" else report[figure]
            assert sum(entry[figure] for entry in report[key].values()) == total, (key, figure)
    json.dumps(report)  # JSON-ready as it stands


def test_as_of_takes_the_book_drawn_by_then_and_repayments_dated_by_then(session_factory, book):
    with unit_of_work(session_factory) as s:
        march = portfolio_report(s, dt.date(2026, 3, 1))
        may_2021 = portfolio_report(s, dt.date(2021, 5, 1))
    # L1, L2, L3, L5, L6 drawn by 2026-03-01; L4 (03-02), L7, L8 not yet.
    assert (march["loans"], march["principal_fen"], march["outstanding_fen"]) == (5, 3700 * M, 3000 * M)
    assert march["past_due"]["loans"] == 2 and march["past_due"]["by_days"]["91+"] == 2
    assert march["flagged"]["loans"] == 0 and march["ineligible_reasons"] == {"no_active_policy": 1, "not_sme": 1}
    # In May 2021 L2 (repaid on 2021-06-10) still owed its principal; only L2 and L5 were drawn.
    assert (may_2021["loans"], may_2021["outstanding_fen"]) == (2, 800 * M)
    assert may_2021["by_status"]["repaid"] == fig(1, 600, 300, 600)
    assert may_2021["past_due"]["loans"] == 1  # L5; L2's interest was paid on its due dates


def test_report_on_an_empty_registry_has_every_key(session_factory):
    with unit_of_work(session_factory) as s:
        setup_reference(s)
        report = portfolio_report(s)
    assert report["loans"] == 0 and report["covered_fen"] == 0 and report["outstanding_fen"] == 0
    assert set(report["by_sector"]) == set(SECTORS) and set(report["by_coverage"]) == {"eligible", "ineligible"}
    assert set(report["by_bank"]) == {"BANK1", "BANK2"} and "none" not in report["by_policy"]
    assert report["flagged"] == {"loans": 0, "by_flag": {}} and report["past_due"]["loans"] == 0


def test_collateral_summary_is_included_when_the_valuation_service_exists(session_factory, book):
    with unit_of_work(session_factory) as s:
        report = portfolio_report(s)
    # Live loans with C > 0: L1, L6, L8.
    assert report["collateral"]["total"]["loans"] == 3
    assert report["collateral"]["total"]["covered_fen"] == 2100 * M


def test_loan_list_filters_and_pages(session_factory, book):
    with unit_of_work(session_factory) as s:
        bank2 = list_loan_summaries(s, bank_code="BANK2")
        ineligible = list_loan_summaries(s, coverage="ineligible")
        page1 = list_loan_summaries(s, limit=3)
        page2 = list_loan_summaries(s, limit=3, after_id=page1[-1]["id"])
        with pytest.raises(DomainError) as bad_status:
            list_loan_summaries(s, status="lost")
        with pytest.raises(NotFound):
            list_loan_summaries(s, bank_code="NOPE")
        with pytest.raises(DomainError) as not_a_bank:
            list_loan_summaries(s, bank_code="INS1")
    assert [r["id"] for r in bank2] == sorted(book[k] for k in ("L2", "L4", "L6", "L8"))
    assert {r["id"] for r in ineligible} == {book["L3"], book["L5"]}
    assert [r["id"] for r in page1 + page2] == sorted(book.values())[:6]
    assert bad_status.value.code == "invalid_status" and not_a_bank.value.code == "wrong_institution_kind"
    l8 = next(r for r in bank2 if r["id"] == book["L8"])
    assert (l8["bank"], l8["contract_no"], l8["sector"], l8["covered_fen"], l8["flags"]) == (
        "BANK2", "L8-C", "rail_transit", 100 * M, ["pledge_rate_exceeded"])


def test_loan_detail_explains_coverage_and_the_schedule(session_factory, book):
    with unit_of_work(session_factory) as s:
        l3 = loan_detail(s, book["L3"])
        l7 = loan_detail(s, book["L7"])
        l4 = loan_detail(s, book["L4"])
        with pytest.raises(NotFound):
            loan_detail(s, 10**6)
    assert l3["ineligible_reasons"] == [{"code": "not_sme", "text": REASON_TEXT["not_sme"]}]
    assert [(i["state"], i["days_past_due"]) for i in l3["schedule"]] == [("paid", 0), ("past_due", 468)]
    assert l3["outstanding_fen"] == 100 * M and len(l3["repayments"]) == 1
    assert l7["flags"] == [{"code": "borrower_quota_exhausted", "text": REASON_TEXT["borrower_quota_exhausted"]}]
    assert l7["covered_fen"] == 0 and l7["borrower"]["credit_code"] == uscc(1)
    assert [(e["event"], e["to_status"], e["actor"]) for e in l4["events"]] == [
        ("registered", "active", "BANK2"), ("cancel", "cancelled", "BANK2")]
    assert l4["assets"][0]["kind"] == "invention_patent" and l4["bank"] == {"code": "BANK2", "name": "Second Bank"}


def run(*args):
    from fund.cli.main import app

    return CliRunner().invoke(app, list(args))


def test_cli_report_and_loans_commands(session_factory, book):
    result = run("report", "portfolio", "--json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    with unit_of_work(session_factory) as s:
        assert printed == json.loads(json.dumps(portfolio_report(s)))
    assert printed["loans"] == 8 and printed["by_bank"]["BANK2"]["covered_fen"] == 1400 * M

    earlier = json.loads(run("report", "portfolio", "--json", "--as-of", "2026-03-01").stdout)
    assert earlier["loans"] == 5
    table = run("report", "portfolio")
    assert table.exit_code == 0 and "By sector" in table.stdout and "rail_transit" in table.stdout

    listed = json.loads(run("loans", "list", "--json", "--bank", "BANK1", "--status", "active").stdout)
    assert [r["id"] for r in listed] == sorted(book[k] for k in ("L1", "L3", "L5", "L7"))
    shown = run("loans", "show", str(book["L5"]), "--json")
    assert json.loads(shown.stdout)["ineligible_reasons"][0]["text"] == REASON_TEXT["no_active_policy"]
    words = run("loans", "show", str(book["L5"]))
    assert words.exit_code == 0 and "no active policy is in force" in " ".join(words.stdout.split())

    missing = run("loans", "show", "999999")
    assert missing.exit_code == 1 and missing.output.strip().startswith("error: no loan 999999")
    bad = run("loans", "list", "--coverage", "maybe")
    assert bad.exit_code == 1 and "[invalid_coverage]" in bad.output
