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

