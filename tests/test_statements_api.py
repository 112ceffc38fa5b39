"""Statements a finance officer hands on (issue 13): the subsidy statement's XLSX read back with
openpyxl (title block, Chinese headers, totals equal to the sum of the lines, paid + deferred =
amount per line, frozen header, filter, print settings) and its CSV (BOM, the same totals); a
borrower named like a formula stays text in both; a name XML cannot hold is refused when entered;
compensation by bank over a period. Both backends."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from openpyxl import load_workbook

from fund.adapters.db import unit_of_work
from fund.domain.dates import add_months
from fund.services.ledger import appropriate
from fund.services.registry import record_repayment, register_loan
from fund.services.statements import compensation_statement
from tests.factories import application, borrower, bullet_schedule
from tests.test_api_support import loan_body, problem_of
from tests.test_subsidy_api import BD, DRAWDOWN, run_through_two_people, sub_api  # noqa: F401  (fixture)

FORMULA = '=HYPERLINK("http://example.invalid","x")'
ZH_HEADERS = ("序号", "银行", "贷款编号", "企业名称", "补贴金额（元）", "补贴金额（分）", "已支付（元）", "递延（分）")


def _book(api, names=("Enterprise 901", FORMULA, "Enterprise 903")):
    """Three loans of two banks, each repaid in April 2024; the subsidy pool holds 10,000 yuan, so
    part of the run is deferred."""
    loans = []
    with unit_of_work(api.session_factory) as s:
        for k, (code, name) in enumerate(zip(("BANK1", "BANK2", "BANK1"), names)):
            n = 901 + k
            app = application(drawdown=DRAWDOWN, contract_rate_bp=385, borrower_n=n, borrower=borrower(n, name=name),
                              maturity_date=add_months(DRAWDOWN, 12),
                              schedule=bullet_schedule(1_000_000_000, DRAWDOWN, 12, interest=3_875_000))
            loans.append(register_loan(s, api.actors[code], app, BD))
        appropriate(s, pool="subsidy", amount_fen=1_000_000, policy_id="gz-2023", business_date=BD)
    with unit_of_work(api.session_factory) as s:
        for code, loan in zip(("BANK1", "BANK2", "BANK1"), loans):
            record_repayment(s, api.actors[code], loan.id, dt.date(2024, 4, 15), dt.date(2024, 4, 15), 0, 3_875_000, BD)
    run = run_through_two_people(api, "2024-04")  # rule G1: an officer proposes, an approver signs off
    assert run["created"] is True, run
    return loans, run


def _xlsx(api, run, **params):
    answer = api.get(f"/api/v1/subsidy-runs/{run['id']}/statement", who="FM", params={"format": "xlsx", **params})
    assert answer.status_code == 200, answer.text
    return load_workbook(io.BytesIO(answer.content))  # not read-only: panes, filter and print settings are read back


def _header_at(sheet) -> int:
    return next(r for r in range(1, 30) if sheet.cell(r, 1).value in ("序号", "No.", "银行", "Bank", "统一社会信用代码", "Credit code"))


def test_the_subsidy_statement_xlsx_a_finance_officer_hands_on(sub_api):
    api = sub_api
    loans, run = _book(api)
    book = _xlsx(api, run)
    assert book.sheetnames == ["明细", "按银行合计", "按企业合计"]
    sheet = book["明细"]
    title = {sheet.cell(r, 1).value: sheet.cell(r, 2).value for r in range(2, 9)}
    assert sheet.cell(1, 1).value.startswith("贴息补贴发放明细表")
    assert set(title) == {"基金", "报表", "期间", "政策", "业务日期", "生成时间", "制表"}
    assert (title["期间"], title["政策"], title["业务日期"]) == ("2024-04", "gz-2023", BD.isoformat())
    assert "FM" in title["制表"] and title["基金"]
    head = _header_at(sheet)
    headers = [c.value for c in sheet[head]]
    assert all(h in headers for h in ZH_HEADERS)
    col = {h: k for k, h in enumerate(headers)}
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=head + 1)]
    lines = [r for r in rows if isinstance(r[0], int)]
    (total,) = [r for r in rows if r[0] == "合计"]
    assert len(lines) == 3
    for name in ("补贴金额", "已支付", "递延", "利息"):
        fen = sum(r[col[f"{name}（分）"]] for r in lines)
        assert total[col[f"{name}（分）"]] == fen
        assert Decimal(str(total[col[f"{name}（元）"]])) == Decimal(fen).scaleb(-2)
    for r in lines:
        assert r[col["已支付（分）"]] + r[col["递延（分）"]] == r[col["补贴金额（分）"]]
        assert Decimal(str(r[col["补贴金额（元）"]])) == Decimal(r[col["补贴金额（分）"]]).scaleb(-2)
    assert total[col["已支付（分）"]] == 1_000_000 == run["paid_fen"]
    assert total[col["递延（分）"]] == run["deferred_fen"] > 0
    # frozen header, filter over header and lines, print setup, the signature block
    assert sheet.freeze_panes == f"A{head + 1}"
    assert sheet.auto_filter.ref.startswith(f"A{head}:") and sheet.auto_filter.ref.endswith(str(head + 3))
    assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.fitToWidth == 1
    assert sheet.sheet_properties.pageSetUpPr.fitToPage is True
    assert sheet.print_title_rows == f"${head}:${head}"
    assert sheet.column_dimensions["F"].width >= 20  # the enterprise's name
    assert any(r[0] == "制表人：" for r in rows)
    assert sheet.cell(head + 1, col["补贴金额（元）"] + 1).number_format == "#,##0.00"
    # totals per bank add up to the total
    banks = book["按银行合计"]
    bank_head = _header_at(banks)
    bank_headers = [c.value for c in banks[bank_head]]
    bank_rows = [[c.value for c in r] for r in banks.iter_rows(min_row=bank_head + 1)]
    per_bank = {r[0]: r[bank_headers.index("补贴金额（分）")] for r in bank_rows}
    assert set(per_bank) == {"BANK1", "BANK2", "合计"}
    assert per_bank["BANK1"] + per_bank["BANK2"] == per_bank["合计"] == total[col["补贴金额（分）"]]
    enterprises = book["按企业合计"]
    ent_head = _header_at(enterprises)
    ent_rows = [[c.value for c in r] for r in enterprises.iter_rows(min_row=ent_head + 1)]
    assert len(ent_rows) == 4 and ent_rows[-1][0] == "合计"

    # the CSV: BOM, the same columns and the same totals
    answer = api.get(f"/api/v1/subsidy-runs/{run['id']}/statement", who="FM")
    assert answer.content.startswith("\ufeff".encode("utf-8"))
    table = list(csv.reader(io.StringIO(answer.content.decode("utf-8")[1:])))
    assert table[0] == headers
    (csv_total,) = [r for r in table if r[0] == "合计"]
    assert int(csv_total[col["补贴金额（分）"]]) == total[col["补贴金额（分）"]]
    assert Decimal(csv_total[col["补贴金额（元）"]]) == Decimal(total[col["补贴金额（分）"]]).scaleb(-2)
    assert {r[1] for r in table if r[0] == "银行小计"} == {"BANK1", "BANK2"}
    # English on request
    english = _xlsx(api, run, lang="en")
    assert english.sheetnames[0] == "Lines" and "Subsidy (fen)" in [c.value for c in english["Lines"][_header_at(english["Lines"])]]


def test_a_borrower_named_like_a_formula_stays_text(sub_api):
    api = sub_api
    loans, run = _book(api)
    sheet = _xlsx(api, run)["明细"]
    head = _header_at(sheet)
    name_column = [c.value for c in sheet[head]].index("企业名称") + 1
    cells = [sheet.cell(r, name_column) for r in range(head + 1, head + 4)]
    (formula_cell,) = [c for c in cells if c.value == FORMULA]
    assert formula_cell.data_type == "s"  # a string, not a formula ("f")
    enterprises = _xlsx(api, run)["按企业合计"]
    assert any(c.value == FORMULA and c.data_type == "s" for row in enterprises.iter_rows() for c in row)
    text = api.get(f"/api/v1/subsidy-runs/{run['id']}/statement", who="FM").content.decode("utf-8")[1:]
    fields = [f for row in csv.reader(io.StringIO(text)) for f in row]
    assert "'" + FORMULA in fields  # the apostrophe: spreadsheet programs take the field as text
    assert not any(f.startswith(("=", "+", "@")) or (f.startswith("-") and not f[1:2].isdigit()) for f in fields)


def test_a_name_xml_cannot_hold_is_refused_naming_the_field(sub_api):
    api = sub_api
    body = loan_body(application(borrower_n=950))
    body["borrower"]["name"] = "Enterprise \uffff"
    answer = api.post("/api/v1/loans", body)
    assert answer.status_code == 422
    problem = problem_of(answer)
    fields = [problem.get("field")] + [e.get("field") for e in problem.get("errors", [])]
    assert "borrower.name" in fields, problem
    assert any("U+FFFF" in e.get("message", "") for e in problem.get("errors", [])), problem
    body["borrower"]["name"] = "Enterprise \u4e00\u4e8c"  # Chinese is fine
    assert api.post("/api/v1/loans", body).status_code == 201


def test_compensation_by_bank_over_a_period(sub_api):
    api = sub_api
    with unit_of_work(api.session_factory) as s:
        statement = compensation_statement(s, api.actors["FM"], start=dt.date(2024, 1, 1), end=dt.date(2026, 10, 31))
        data = statement.to_bytes("xlsx")
        assert statement.line_count == 0
    book = load_workbook(io.BytesIO(data))
    sheet = book["明细"]
    head = _header_at(sheet)
    assert "基金补偿（分）" in [c.value for c in sheet[head]]
    assert [c.value for c in sheet[head + 1]][0] == "合计"
