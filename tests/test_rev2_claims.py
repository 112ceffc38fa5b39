"""RULES revision 2 on claims (A1, A3), both backends: the bank lowers ``L`` while the claim is filed and
never raises it; only the bank closes an approved claim; A3's room is measured at approval, so a later
cancellation lowers later approvals' room but never undoes one, and the fund report then shows room 0
beside a used figure above the cap."""

from __future__ import annotations

import datetime as dt

import pytest

from fund.errors import DomainError
from fund.services import claims as claims_service
from fund.services.fund_report import fund_report
from fund.services.registry import cancel_loan
from tests.test_claims_support import World

D = dt.date
DRAWDOWN = D(2026, 1, 15)  # gz-2023: claims open 90 days after the first unpaid due date (2026-02-15)
OPENS = D(2026, 5, 16)


@pytest.fixture
def world(session_factory) -> World:
    return World.create(session_factory)


def _refused(code: str, call, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as info:
        call(*args, **kwargs)
    assert info.value.code == code, info.value.message
    return info.value


def test_the_bank_lowers_the_loss_while_filed_and_never_raises_it(world):
    loan = world.register(drawdown=DRAWDOWN, principal=1_000_000_000)
    claim = world.file(loan.id, 600_000_000, OPENS)
    _refused("loss_not_lowered", world.lower, claim.id, 600_000_001, OPENS)  # raising
    _refused("loss_not_lowered", world.lower, claim.id, 600_000_000, OPENS)  # keeping
    _refused("invalid_amount", world.lower, claim.id, 0, OPENS)
    _refused("claim_not_found", world.lower, claim.id, 1, OPENS, bank="BANK2")  # another bank's claim is absent to it
    with world.session() as s:
        _refused("forbidden", claims_service.lower_loss, s, world.fm, claim.id, 1, OPENS)
    assert world.lower(claim.id, 500_000_000, OPENS).loss_fen == 500_000_000
    assert world.lower(claim.id, 499_999_999, OPENS).loss_fen == 499_999_999  # again, still lower
    world.appropriate(1_000_000_000, OPENS)
    world.approve(claim.id, OPENS)
    _refused("invalid_claim_status", world.lower, claim.id, 1, OPENS)  # no longer filed
    doc = world.show(claim.id)
    assert doc["allocation"]["loss_fen"] == 499_999_999
    assert [e["event"] for e in doc["events"]] == ["filed", "loss_lowered", "loss_lowered", "approved"]


def test_only_the_bank_closes_its_approved_claim(world):
    loan = world.register(drawdown=DRAWDOWN)
    claim = world.file(loan.id, 100_000_000, OPENS)
    _refused("invalid_claim_status", world.close, claim.id, OPENS)  # filed, not approved
    world.approve(claim.id, OPENS)
    with world.session() as s:
        _refused("forbidden", claims_service.close_claim, s, world.fm, claim.id, OPENS)
    _refused("claim_not_found", world.close, claim.id, OPENS, bank="BANK2")
    world.close(claim.id, OPENS)
    assert world.loan_status(loan.id) == "closed" and world.show(claim.id)["closed_by"] == "BANK1"
    _refused("invalid_claim_status", world.close, claim.id, OPENS)


def test_a3_is_measured_at_approval_and_reports_show_room_0_above_the_cap(world):
    claimed = world.register(drawdown=DRAWDOWN, principal=1_000_000_000, borrower_n=1)
    spare = world.register(drawdown=DRAWDOWN, principal=1_000_000_000, borrower_n=2)  # in-pool lending 2e9: cap 100M
    later = world.register(drawdown=DRAWDOWN, principal=1_000_000_000, borrower_n=3)
    with world.session() as s:
        cancel_loan(s, world.actors["BANK1"], later.id, DRAWDOWN)  # only two count
    world.appropriate(1_000_000_000, OPENS)
    claim = world.file(claimed.id, 1_000_000_000, OPENS)
    world.approve(claim.id, OPENS)
    cap = world.show(claim.id)["cap"]
    assert (cap["in_pool_lending_fen"], cap["cap_fen"], cap["room_fen"]) == (2_000_000_000, 100_000_000, 100_000_000)
    assert world.show(claim.id)["allocation"]["fund_fen"] == 100_000_000

    with world.session() as s:  # a later cancellation: lending 1e9, cap 50M, already used 100M
        cancel_loan(s, world.actors["BANK1"], spare.id, OPENS)
    assert world.show(claim.id)["allocation"]["fund_fen"] == 100_000_000  # the approval stands
    with world.session() as s:
        [line] = [c for c in fund_report(s, OPENS).caps if c.bank == "BANK1"]
    assert (line.in_pool_lending_fen, line.cap_fen, line.used_fen, line.room_fen) == (1_000_000_000, 50_000_000, 100_000_000, 0)
    assert world.violations() == []  # used above the cap as measured now is no fault: it was within at approval

    other = world.register(drawdown=DRAWDOWN, principal=1_000_000_000, borrower_n=4)
    second = world.file(other.id, 1_000_000_000, OPENS)
    world.approve(second.id, OPENS)  # lending 2e9 again: cap 100M, all used
    doc = world.show(second.id)
    assert (doc["cap"]["room_fen"], doc["allocation"]["fund_fen"], doc["cap"]["cut_fen"]) == (0, 0, 500_000_000)


def test_the_fund_report_over_http_shows_room_0_above_the_cap(session_factory):
    from fund.adapters.db import unit_of_work
    from fund.services.registry import register_loan
    from tests.factories import application
    from tests.test_api_support import make_api

    api = make_api(session_factory)
    bank, fm = api.actors["BANK1"], api.actors["FM"]
    with unit_of_work(session_factory) as s:
        claimed = register_loan(s, bank, application(drawdown=DRAWDOWN, borrower_n=1), DRAWDOWN)
        spare = register_loan(s, bank, application(drawdown=DRAWDOWN, borrower_n=2), DRAWDOWN)
    with unit_of_work(session_factory) as s:
        claim = claims_service.file_claim(s, bank, claimed.id, 1_000_000_000, OPENS)
    with unit_of_work(session_factory) as s:
        claims_service.approve_claim(s, fm, claim.id, OPENS)  # cap 100M of 2e9: the fund's share 100M
    with unit_of_work(session_factory) as s:
        cancel_loan(s, bank, spare.id, OPENS)
    with api.client:
        report = api.get("/api/v1/reports/fund", who="AUD")
    assert report.status_code == 200, report.text
    [line] = [c for c in report.json()["caps"] if c["bank"] == "BANK1" and c["policy_id"] == "gz-2023"]
    assert (line["in_pool_lending_fen"], line["cap_fen"], line["used_fen"], line["room_fen"]) == (
        1_000_000_000, 50_000_000, 100_000_000, 0)
