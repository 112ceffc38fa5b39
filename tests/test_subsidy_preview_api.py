"""The subsidy preview (RULES S4): it writes nothing (every table's row count and every balance are
unchanged) and its lines and totals are those of the run that follows. Both backends, through the
service, the CLI and the API."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from fund.adapters.db import unit_of_work
from fund.adapters.models.base import Base
from fund.adapters.models.subsidies import SubsidyLine
from fund.errors import Conflict
from fund.services.ledger import appropriate, balances
from fund.services.subsidies import preview_month, run_month
from tests.test_subsidy_api import API_MATRIX as _SUBSIDY_MATRIX, BD, FM, AUDITOR, Endpoint, _book, sub_api  # noqa: F401
from tests.test_subsidy_api import run_through_two_people
from tests.test_subsidy_runs import loan_with_interest, reference, repay

API_MATRIX = {
    ("GET", "/api/v1/subsidy-runs/preview"): Endpoint(
        frozenset({FM, AUDITOR}), lambda api, loan: ("GET", "/api/v1/subsidy-runs/preview", {"params": {"month": "2024-04"}}), 200),
}


def snapshot(session_factory):
    with unit_of_work(session_factory) as s:
        counts = {t.name: s.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}
        return counts, balances(s)


def run_lines(session_factory, run_id):
    with unit_of_work(session_factory) as s:
        return [(ln.repayment_id, ln.computed_fen, ln.amount_fen, ln.capped)
                for ln in s.scalars(select(SubsidyLine).where(SubsidyLine.run_id == run_id))]


def test_preview_writes_nothing_and_equals_the_run(session_factory):
    actors = reference(session_factory)
    bank = actors["BANK1"]
    # two loans; the big one reaches the enterprise cap, and the pool covers only part of the month
    small = loan_with_interest(session_factory, bank, 3_875_000)
    big = loan_with_interest(session_factory, bank, 250_000_000, rate=300, n=1)
    for loan, interest in ((small, 3_875_000), (big, 250_000_000)):
        repay(session_factory, bank, loan, dt.date(2024, 4, 15), dt.date(2024, 4, 14), interest)
    with unit_of_work(session_factory) as s:
        appropriate(s, pool="subsidy", amount_fen=50_000_000, policy_id="gz-2023", business_date=BD)
    before = snapshot(session_factory)
    with unit_of_work(session_factory) as s:
        preview = preview_month(s, "2024-04", BD, actor=actors["FM"])
    assert snapshot(session_factory) == before
    assert preview.already_run is None and preview.line_count == 2 and preview.capped_count >= 1
    assert preview.total_fen == sum(ln.amount_fen for ln in preview.lines)
    assert (preview.paid_fen, preview.deferred_fen) == (50_000_000, preview.total_fen - 50_000_000)
    assert all(ln.paid_fen + ln.deferred_fen == ln.amount_fen for ln in preview.lines)
    assert sum(ln.paid_fen for ln in preview.lines) == preview.paid_fen
    with unit_of_work(session_factory) as s:
        result = run_month(s, "2024-04", BD, actor=actors["FM"])
    assert sorted(preview.line_keys()) == sorted(run_lines(session_factory, result.run_id))
    assert (preview.total_fen, preview.computed_fen, preview.paid_fen, preview.deferred_fen, preview.capped_count) == (
        result.total_fen, result.computed_fen, result.paid_fen, result.deferred_fen, result.capped_count)
    with unit_of_work(session_factory) as s:
        again = preview_month(s, "2024-04", BD, actor=actors["FM"])
        assert again.already_run == result.run_id and again.lines == ()
        with pytest.raises(Conflict):
            preview_month(s, "2024-03", BD, actor=actors["FM"])


def test_preview_through_the_api_writes_nothing(sub_api):
    api = sub_api
    _book(api)
    before = snapshot(api.session_factory)
    answer = api.get("/api/v1/subsidy-runs/preview", who="AUD", params={"month": "2024-04"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert snapshot(api.session_factory) == before
    assert (body["lines"], body["total_fen"], body["already_run"]) == (2, 1_736_201 + 771_274, None)
    assert [i["amount_fen"] for i in body["items"]] and sum(i["amount_fen"] for i in body["items"]) == body["total_fen"]
    run = run_through_two_people(api, "2024-04")  # a run is an officer's proposal and an approver's sign-off (G1)
    assert run["total_fen"] == body["total_fen"] and run["deferred_fen"] == body["deferred_fen"]
    assert api.get("/api/v1/subsidy-runs/preview", who="BANK1", params={"month": "2024-04"}).status_code == 403
