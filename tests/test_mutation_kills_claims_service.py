"""Survivors of the mutation run over fund/services/claims.py (docs/mutation.md), killed by pinning
rule A1 and the claims list as docs/rules.md and the service state them: the loss a bank lowers to
is a single amount of more than 0 fen, refused by name; the list of claims keeps only those of the
status, the loan and the change time asked for. Both backends (the mutation run: SQLite only)."""

from __future__ import annotations

import datetime as dt

import pytest

from fund.errors import DomainError
from fund.services import claims as claims_service
from tests.test_claims_support import World

D = dt.date
DRAWDOWN = D(2026, 1, 15)  # gz-2023: the first installment due 2026-02-15, claims from 90 days after it
OPENS = D(2026, 5, 16)


@pytest.fixture
def world(session_factory) -> World:
    return World.create(session_factory)


def test_a_lowered_loss_is_more_than_0_fen_refused_by_name(world):
    loan = world.register(drawdown=DRAWDOWN)
    claim = world.file(loan.id, 100_000_000, OPENS)
    with pytest.raises(DomainError) as refused:
        world.lower(claim.id, 0, OPENS)
    assert (refused.value.code, refused.value.field, refused.value.message) == (
        "invalid_amount", "loss_fen", "loss_fen must be >= 1 fen, got 0")
    assert world.lower(claim.id, 1, OPENS).loss_fen == 1  # one fen is more than 0


def test_the_claims_list_keeps_the_status_the_loan_and_the_change_time_asked_for(world):
    first = world.register(drawdown=DRAWDOWN, borrower_n=1)
    second = world.register(drawdown=DRAWDOWN, borrower_n=2)
    filed = world.file(first.id, 100_000_000, OPENS)
    withdrawn = world.file(second.id, 100_000_000, OPENS)
    world.withdraw(withdrawn.id, OPENS)
    now = dt.datetime.now(dt.timezone.utc)

    def ids(**filters) -> list[int]:
        with world.session() as s:
            return [c.id for c in claims_service.list_claims(s, world.fm, **filters)]

    assert ids() == [filed.id, withdrawn.id]
    assert ids(status="filed") == [filed.id]
    assert ids(status="withdrawn") == [withdrawn.id]
    assert ids(loan_id=first.id) == [filed.id]
    assert ids(loan_id=second.id) == [withdrawn.id]
    assert ids(updated_since=now - dt.timedelta(days=1)) == [filed.id, withdrawn.id]
    assert ids(updated_since=now + dt.timedelta(days=1)) == []



def _event_notes(world: World, claim_id: int) -> list[tuple[str, str | None]]:
    return [(e["event"], e["note"]) for e in world.show(claim_id)["events"]]


def test_each_claim_step_keeps_its_note_and_the_closing_says_who_and_when(world):
    """A1 with G2's trail: each step of a claim is kept with its note (stripped) or reason, a
    rejection's reason also on the loan's move back to active, and closing records its business date
    and the bank; a recovery (A5) is a single amount of more than 0 fen, its costs 0 or more."""
    from sqlalchemy import select

    from fund.adapters.models.registry import LoanEvent

    drawdown, opens = D(2022, 1, 10), D(2022, 5, 11)  # gz-2020, no bank cap
    world.appropriate(100_000_000, drawdown)
    first, second, third = (world.register(drawdown=drawdown, scheme="55", borrower_n=n) for n in (1, 2, 3))
    bank = world.actors["BANK1"]

    withdrawn = world.file(second.id, 100_000_000, opens)
    with world.session() as s:
        claims_service.withdraw_claim(s, bank, withdrawn.id, opens, note="  no longer pursued ")
    assert _event_notes(world, withdrawn.id)[-1] == ("withdrawn", "no longer pursued")

    rejected = world.file(third.id, 100_000_000, opens)
    world.reject(rejected.id, "evidence missing", opens)
    assert _event_notes(world, rejected.id)[-1] == ("rejected", "evidence missing")
    with world.session() as s:
        loan_note = s.scalars(select(LoanEvent.note).where(LoanEvent.loan_id == third.id).order_by(LoanEvent.id.desc())).first()
    assert loan_note == f"claim {rejected.id}: evidence missing"

    claim = world.file(first.id, 100_000_000, opens)
    world.approve(claim.id, opens)
    for gross, costs, field, message in ((0, 0, "gross_fen", "gross_fen must be >= 1 fen, got 0"),
                                         (10, -1, "costs_fen", "costs_fen must be >= 0 fen, got -1")):
        with pytest.raises(DomainError) as refused:
            world.recover(claim.id, gross, costs, opens)
        assert (refused.value.code, refused.value.field, refused.value.message) == ("invalid_amount", field, message)
    assert world.recover(claim.id, 1, 0, opens).net_fen == 1  # one fen is more than 0
    closed_on = D(2022, 9, 1)
    with world.session() as s:
        claims_service.close_claim(s, bank, claim.id, closed_on, note=" recovery finished ")
    doc = world.show(claim.id)
    assert (doc["closed_on"], doc["closed_by"]) == (closed_on, "BANK1")
    assert _event_notes(world, claim.id)[-1] == ("closed", "recovery finished")
