"""The claim state machine (RULES section 4) as plain rules, and the claims service setting a
claim's status in one place only."""

from __future__ import annotations

import doctest
import itertools
import pathlib

import pytest

from fund.domain import claim
from fund.errors import Conflict, Forbidden


def test_doctests_pass():
    result = doctest.testmod(claim, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(("status", "event"), list(itertools.product((None, *claim.STATUSES), claim.EVENTS)))
def test_each_step_is_taken_from_its_one_status_only(status, event):
    step = claim.STEPS[event]
    if status == step.from_status:
        assert claim.move(status, event).to_status == step.to_status
    else:
        with pytest.raises(Conflict) as refused:
            claim.move(status, event, claim_id=3)
        assert refused.value.code == "invalid_claim_status"


def test_the_table_of_moves():
    moves = {(s.from_status, s.event): s.to_status for s in claim.STEPS.values()}
    assert moves == {
        (None, "filed"): "filed", ("filed", "loss_lowered"): "filed", ("filed", "withdrawn"): "withdrawn",
        ("filed", "rejected"): "rejected", ("filed", "approved"): "approved", ("approved", "recovery"): "approved",
        ("approved", "closed"): "closed",
    }
    deciders = {s.event for s in claim.STEPS.values() if s.actor_kind == claim.FUND_MANAGER}
    assert deciders == {"approved", "rejected"}
    for step in claim.STEPS.values():
        with pytest.raises(Forbidden):
            step.authorise("auditor")


def test_the_service_sets_a_claim_status_in_one_place():
    source = (pathlib.Path(__file__).parents[1] / "fund" / "services" / "claims.py").read_text()
    assert source.count(".status = ") == 1
    assert 'status="' not in source
