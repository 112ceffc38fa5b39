"""Survivors of the mutation run over fund/domain/claim.py (docs/mutation.md), killed by pinning the
claim rules of docs/rules.md section 4 (A1 filing, lowering, approval; A5 recoveries; the claim's
steps and who takes each; section 11's reasons) with their codes, fields and messages, and what an
approval, a rejection and a closing store."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from fund.domain import claim
from fund.errors import Conflict, DomainError, Forbidden

d = dt.date

#: docs/rules.md section 4: each step, the status it starts from, where it goes, who takes it.
STEPS = {
    "filed": (None, "filed", "bank"),
    "loss_lowered": ("filed", "filed", "bank"),
    "withdrawn": ("filed", "withdrawn", "bank"),
    "rejected": ("filed", "rejected", "fund_manager"),
    "approved": ("filed", "approved", "fund_manager"),
    "recovery": ("approved", "approved", "bank"),
    "closed": ("approved", "closed", "bank"),
}
#: what each step is called in a refusal ("only a filed claim can be <verb>"), and what its taker does
WORDS = {
    "filed": ("filed", "files claims"),
    "loss_lowered": ("lowered", "lowers a claim's loss"),
    "withdrawn": ("withdrawn", "withdraws claims"),
    "rejected": ("rejected", "rejects claims"),
    "approved": ("approved", "approves claims"),
    "recovery": ("given recoveries", "reports recoveries"),
    "closed": ("closed", "closes claims"),
}


@pytest.mark.parametrize("event", list(STEPS))
def test_each_step_names_its_status_and_its_taker_when_refused(event):
    start, _, taker = STEPS[event]
    verb, does = WORDS[event]
    wrong = "closed" if start != "closed" else "filed"
    with pytest.raises(Conflict) as refused:
        claim.move(wrong, event, claim_id=12)
    assert (refused.value.code, refused.value.field) == ("invalid_claim_status", "claim_id")
    assert str(refused.value) == f"claim 12 is {wrong}: only a {start} claim can be {verb}"
    step = claim.move(start, event)
    step.authorise(taker)
    other = "bank" if taker == "fund_manager" else "fund_manager"
    with pytest.raises(Forbidden) as forbidden:
        step.authorise(other)
    who = "the fund manager" if taker == "fund_manager" else "a bank"
    assert (forbidden.value.code, str(forbidden.value)) == ("forbidden", f"only {who} {does}")


def test_what_each_step_makes_the_loan_do_and_which_date_it_follows():
    # the loan's events (section 3): filing claims it, withdrawal and rejection give it back, approval
    # compensates it, closing closes it; lowering the loss and a recovery leave it as it is
    loan_events = {e: s.loan_event for e, s in claim.STEPS.items()}
    assert loan_events == {"filed": "claim_filed", "loss_lowered": None, "withdrawn": "claim_withdrawn",
                           "rejected": "claim_rejected", "approved": "claim_approved", "recovery": None,
                           "closed": "claim_closed"}
    afters = {e: s.after for e, s in claim.STEPS.items()}
    assert afters == {"filed": None, "loss_lowered": "filed_on", "withdrawn": "filed_on", "rejected": "filed_on",
                      "approved": "filed_on", "recovery": "decided_on", "closed": "decided_on"}


def test_a_step_is_not_dated_before_the_claim_date_it_follows():
    filed = SimpleNamespace(filed_on=d(2026, 2, 1), decided_on=None)
    for event in ("loss_lowered", "withdrawn", "rejected", "approved"):
        claim.check_dated_after(claim.STEPS[event], d(2026, 2, 1), filed)  # the same day is fine
        with pytest.raises(DomainError) as refused:
            claim.check_dated_after(claim.STEPS[event], d(2026, 1, 31), filed)
        assert (refused.value.code, refused.value.field) == ("dated_before_filing_date", "business_date")
        assert str(refused.value) == "the business date 2026-01-31 is before the filing date (2026-02-01)"
    approved = {"filed_on": d(2026, 2, 1), "decided_on": d(2026, 3, 1)}
    for event in ("recovery", "closed"):
        claim.check_dated_after(claim.STEPS[event], d(2026, 3, 1), approved)
        with pytest.raises(DomainError) as refused:
            claim.check_dated_after(claim.STEPS[event], d(2026, 2, 28), approved)
        assert (refused.value.code, refused.value.field) == ("dated_before_approval_date", "business_date")
        assert str(refused.value) == "the business date 2026-02-28 is before the approval date (2026-03-01)"
    # a new claim follows no claim date
    claim.check_dated_after(claim.STEPS["filed"], d(1999, 1, 1), None)
    claim.not_before(d(2026, 1, 1), None, "approval date")
    claim.not_before(d(2026, 1, 2), d(2026, 1, 1), "approval date")


def test_a_note_is_stripped_kept_to_500_characters_and_none_when_empty():
    assert claim.clean_note(None) is None
    assert claim.clean_note("") is None
    assert claim.clean_note("  \n ") is None
    assert claim.clean_note(" paid in kind\n") == "paid in kind"
    assert claim.clean_note("x" * 500) == "x" * 500
    assert claim.clean_note("  " + "x" * 500 + "  ") == "x" * 500  # the limit applies to the stripped note
    with pytest.raises(DomainError) as refused:
        claim.clean_note("x" * 501)
    assert (refused.value.code, refused.value.field) == ("note_too_long", "note")
    assert str(refused.value) == "a note or reason is at most 500 characters"


def test_a_rejection_needs_a_stated_reason():
    assert claim.rejection_reason("  no default notice ") == "no default notice"
    for empty in (None, "", "   "):
        with pytest.raises(DomainError) as refused:
            claim.rejection_reason(empty)
        assert (refused.value.code, refused.value.field) == ("missing_reason", "reason")
        assert str(refused.value) == "a rejection needs a stated reason"
    with pytest.raises(DomainError) as refused:
        claim.rejection_reason("x" * 501)
    assert refused.value.code == "note_too_long"


def test_a1_the_loss_is_at_most_the_outstanding_principal_at_filing_and_at_approval():
    claim.check_loss_within(500, 500)
    claim.check_loss_within(1, 500)
    with pytest.raises(DomainError) as refused:
        claim.check_loss_within(501, 500)
    assert (refused.value.code, refused.value.field) == ("loss_exceeds_outstanding", "loss_fen")
    assert str(refused.value) == "loss_fen 501 exceeds the outstanding principal 500"
    claim.check_approvable(4, 500, 500, d(2026, 5, 1))
    with pytest.raises(DomainError) as refused:
        claim.check_approvable(4, 501, 500, d(2026, 5, 1))
    assert (refused.value.code, refused.value.field) == ("loss_exceeds_outstanding", "loss_fen")
    assert str(refused.value) == ("claim 4: loss 501 exceeds the outstanding principal 500 on 2026-05-01; "
                                  "the bank must lower it first")


def test_a1_a_filed_loss_may_be_lowered_never_raised_nor_kept():
    claim.check_lowered(100, 99)
    claim.check_lowered(100, 0)
    for new in (100, 101):
        with pytest.raises(DomainError) as refused:
            claim.check_lowered(100, new)
        assert (refused.value.code, refused.value.field) == ("loss_not_lowered", "loss_fen")
        assert str(refused.value) == f"the new loss {new} must be below the claimed 100"


def test_a5_net_is_gross_less_costs_and_never_negative():
    assert claim.check_net(100, 30) == 70
    assert claim.check_net(100, 100) == 0
    assert claim.check_net(100, 0) == 100
    with pytest.raises(DomainError) as refused:
        claim.check_net(100, 101)
    assert (refused.value.code, refused.value.field) == ("negative_net", "costs_fen")
    assert str(refused.value) == "costs 101 exceed the gross recovery 100: net must be >= 0"


def test_an_approval_stores_every_figure_of_the_decision_under_its_own_name():
    split = SimpleNamespace(base_fen=80, fund_before_cap_fen=40, insurer_cut_fen=3, fund_cut_fen=10, fund_fen=30,
                            insurer_fen=21, appraiser_fen=8, bank_fen=21)
    ratios = {"fund": 5000, "insurer": 3000, "appraiser": 1000, "bank": 1000}
    approval = claim.Approval(d(2026, 3, 1), 9, 1000, 800, 900, "5311", ratios, 24, split,
                              claim.CapTrace(2026, 500, 600, 30, 5, 25), paid_fen=20, deferred_fen=10, entry_id=4)
    columns = approval.columns()
    assert columns == {
        "decided_on": d(2026, 3, 1), "decided_by": 9, "principal_fen": 1000, "covered_fen": 800, "outstanding_fen": 900,
        "scheme_code": "5311", "ratios_bp": ratios, "insurer_limit_fen": 24, "base_fen": 80, "fund_before_cap_fen": 40,
        "insurer_cut_fen": 3, "fund_fen": 30, "insurer_fen": 21, "appraiser_fen": 8, "bank_fen": 21, "cap_year": 2026,
        "cap_bp": 500, "in_pool_lending_fen": 600, "cap_fen": 30, "cap_used_before_fen": 5, "room_fen": 25,
        "fund_cut_fen": 10, "paid_fen": 20, "deferred_fen": 10, "approval_entry_id": 4,
    }
    columns["ratios_bp"]["fund"] = 0  # the stored ratios are a copy
    assert approval.ratios_bp["fund"] == 5000


def test_a_rejection_and_a_closing_store_who_decided_when():
    assert claim.Rejection(d(2026, 3, 2), 7, "no notice").columns() == {
        "decided_on": d(2026, 3, 2), "decided_by": 7, "reject_reason": "no notice"}
    assert claim.Closing(d(2026, 9, 30), 11).columns() == {"closed_on": d(2026, 9, 30), "closed_by": 11}
