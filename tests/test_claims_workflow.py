"""The claims workflow (RULES A1 and section 3's status table): the window, the loss, one live
claim per loan, who may do what, withdrawals and rejections, approval waiting for a lower loss,
recoveries and closing, the event trail, and what each institution may read. Both backends."""

from __future__ import annotations

import datetime as dt

import pytest

from fund.errors import DomainError
from fund.services import claims as claims_service
from fund.services.registry import cancel_loan
from tests.factories import borrower
from tests.test_claims_support import World

D = dt.date
DRAWDOWN = D(2026, 1, 15)  # gz-2023: overdue 90 days, window 365 days
FIRST_DUE = D(2026, 2, 15)
OPENS = FIRST_DUE + dt.timedelta(days=90)  # 2026-05-16
CLOSES = OPENS + dt.timedelta(days=365)  # 2027-05-16


@pytest.fixture
def world(session_factory) -> World:
    return World.create(session_factory)


def _refused(code: str, call, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as info:
        call(*args, **kwargs)
    assert info.value.code == code, info.value.message
    return info.value


def test_the_window_counts_from_the_earliest_unpaid_installment(world):
    loan = world.register(drawdown=DRAWDOWN)
    error = _refused("claim_too_early", world.file, loan.id, 100_000_000, OPENS - dt.timedelta(days=1))
    assert str(OPENS) in error.message and str(FIRST_DUE) in error.message
    claim = world.file(loan.id, 100_000_000, OPENS)
    assert (claim.earliest_unpaid_due, claim.days_past_due) == (FIRST_DUE, 90)
    world.withdraw(claim.id, OPENS)
    assert world.loan_status(loan.id) == "active"
    again = world.file(loan.id, 100_000_000, CLOSES)  # a withdrawn claim may be filed again in the window
    assert again.days_past_due == 455
    world.withdraw(again.id, CLOSES)
    _refused("claim_window_closed", world.file, loan.id, 100_000_000, CLOSES + dt.timedelta(days=1))


def test_paying_the_first_installment_moves_the_window(world):
    loan = world.register(drawdown=DRAWDOWN)
    world.repay("BANK1", loan.id, FIRST_DUE, FIRST_DUE, 0, 1_000_000)  # interest of installment 1 in full
    _refused("claim_too_early", world.file, loan.id, 100_000_000, OPENS)
    claim = world.file(loan.id, 100_000_000, D(2026, 3, 15) + dt.timedelta(days=90))
    assert claim.earliest_unpaid_due == D(2026, 3, 15)


def test_loss_must_be_positive_and_at_most_outstanding(world):
    loan = world.register(drawdown=DRAWDOWN, principal=1_000_000_000)
    _refused("invalid_amount", world.file, loan.id, 0, OPENS)
    _refused("invalid_amount", world.file, loan.id, True, OPENS)
    _refused("loss_exceeds_outstanding", world.file, loan.id, 1_000_000_001, OPENS)
    assert world.file(loan.id, 1_000_000_000, OPENS).loss_fen == 1_000_000_000


def test_one_live_claim_per_loan_and_only_the_banks_own_active_covered_loans(world):
    loan = world.register(drawdown=DRAWDOWN)
    world.file(loan.id, 100_000_000, OPENS)
    _refused("claim_exists", world.file, loan.id, 100_000_000, OPENS)
    _refused("loan_not_found", world.file, loan.id, 100_000_000, OPENS, bank="BANK2")

    ineligible = world.register(drawdown=DRAWDOWN, borrower=borrower(7, is_sme=False), borrower_n=7)
    assert ineligible.covered_fen == 0
    _refused("loan_not_covered", world.file, ineligible.id, 100_000_000, OPENS)

    cancelled = world.register(drawdown=DRAWDOWN, borrower_n=3)
    with world.session() as s:
        cancel_loan(s, world.actors["BANK1"], cancelled.id, DRAWDOWN)
    _refused("loan_not_active", world.file, cancelled.id, 100_000_000, OPENS)

    with world.session() as s:
        _refused("forbidden", claims_service.file_claim, s, world.fm, loan.id, 1, OPENS)


def test_a_claim_is_not_filed_before_the_loan_was_registered(world):
    loan = world.register(drawdown=DRAWDOWN, on=OPENS + dt.timedelta(days=10))
    _refused("dated_before_loan_registration", world.file, loan.id, 100_000_000, OPENS)


def test_reject_needs_the_fund_manager_and_a_reason_then_the_claim_may_be_filed_again(world):
    loan = world.register(drawdown=DRAWDOWN)
    claim = world.file(loan.id, 300_000_000, OPENS)
    _refused("missing_reason", world.reject, claim.id, "  ", OPENS)
    with world.session() as s:
        _refused("forbidden", claims_service.reject_claim, s, world.actors["BANK1"], claim.id, "no", OPENS)
        _refused("forbidden", claims_service.approve_claim, s, world.actors["BANK1"], claim.id, OPENS)
    world.reject(claim.id, "collateral not enforced", D(2026, 6, 1))
    doc = world.show(claim.id)
    assert doc["status"] == "rejected" and doc["reject_reason"] == "collateral not enforced"
    assert (doc["decided_on"], doc["decided_by"]) == (D(2026, 6, 1), "FM")
    assert world.loan_status(loan.id) == "active"
    _refused("invalid_claim_status", world.approve, claim.id, D(2026, 6, 2))
    assert world.file(loan.id, 300_000_000, D(2026, 6, 2)).status == "filed"
    assert world.violations() == []


def test_approval_waits_until_the_bank_lowers_the_loss_below_the_outstanding_principal(world):
    loan = world.register(drawdown=DRAWDOWN, principal=1_000_000_000)
    world.appropriate(1_000_000_000, DRAWDOWN)
    claim = world.file(loan.id, 900_000_000, OPENS)
    maturity = D(2027, 1, 15)
    world.repay("BANK1", loan.id, maturity, D(2026, 6, 1), 200_000_000)  # repayments still land on a claimed loan
    _refused("loss_exceeds_outstanding", world.approve, claim.id, D(2026, 6, 2))
    _refused("loss_not_lowered", world.lower, claim.id, 900_000_000, D(2026, 6, 2))
    world.lower(claim.id, 800_000_000, D(2026, 6, 2))
    world.approve(claim.id, D(2026, 6, 3))
    doc = world.show(claim.id)
    assert doc["allocation"]["loss_fen"] == 800_000_000 and doc["allocation"]["outstanding_fen"] == 800_000_000
    # C = principal, so base = L; the bank's cap (500 bp of 1e9) cuts the fund's 400M to 50M.
    assert (doc["allocation"]["fund_before_cap_fen"], doc["allocation"]["fund_fen"], doc["cap"]["cut_fen"]) == (
        400_000_000, 50_000_000, 350_000_000)
    assert [e["event"] for e in doc["events"]] == ["filed", "loss_lowered", "approved"]
    assert doc["events"][1]["note"] == "loss 900000000 -> 800000000 fen"


def test_withdrawing_when_every_installment_is_paid_in_full_moves_the_loan_to_repaid(world):
    # RULES revision 2: with the principal all repaid but interest still due the loan goes back to
    # active (revision 1 moved it to repaid); only when every installment is paid in full, repaid.
    loan = world.register(drawdown=DRAWDOWN, principal=1_000_000_000)
    claim = world.file(loan.id, 500_000_000, OPENS)
    world.repay("BANK1", loan.id, D(2027, 1, 15), D(2026, 6, 1), 1_000_000_000)
    assert world.loan_status(loan.id) == "claimed"
    _refused("loss_exceeds_outstanding", world.approve, claim.id, D(2026, 6, 1))
    world.withdraw(claim.id, D(2026, 6, 1))
    assert world.loan_status(loan.id) == "active"

    other = world.register(drawdown=DRAWDOWN, principal=1_000_000_000, borrower_n=2)
    claim = world.file(other.id, 500_000_000, OPENS)
    dues = [D(2026, m, 15) for m in range(2, 13)] + [D(2027, 1, 15)]
    for due in dues:
        world.repay("BANK1", other.id, due, D(2026, 6, 1), 1_000_000_000 if due == dues[-1] else 0, 1_000_000)
    assert world.loan_status(other.id) == "claimed"
    world.reject(claim.id, "paid in full meanwhile", D(2026, 6, 1))
    assert world.loan_status(other.id) == "repaid"


def test_dates_run_forward(world):
    loan = world.register(drawdown=DRAWDOWN)
    claim = world.file(loan.id, 100_000_000, OPENS)
    _refused("dated_before_filing_date", world.approve, claim.id, OPENS - dt.timedelta(days=1))
    world.approve(claim.id, OPENS)
    _refused("dated_before_approval_date", world.recover, claim.id, 10, 0, OPENS - dt.timedelta(days=1))
    _refused("dated_before_approval_date", world.close, claim.id, OPENS - dt.timedelta(days=1))


def test_recoveries_and_closing_follow_approval(world):
    drawdown, opens = D(2022, 1, 10), D(2022, 2, 10) + dt.timedelta(days=90)  # gz-2020: no bank cap
    world.appropriate(100_000_000, drawdown)
    loan = world.register(drawdown=drawdown, scheme="55")
    claim = world.file(loan.id, 400_000_000, opens)
    _refused("invalid_claim_status", world.recover, claim.id, 10, 0, opens)
    _refused("invalid_claim_status", world.close, claim.id, opens)
    world.approve(claim.id, opens)  # fund 200M: 100M paid, 100M deferred
    assert (world.pool().cash_fen, world.pool().deferred_fen) == (0, 100_000_000)
    _refused("negative_net", world.recover, claim.id, 10, 11, opens)
    _refused("invalid_amount", world.recover, claim.id, 0, 0, opens)
    _refused("claim_not_found", world.recover, claim.id, 10, 0, opens, bank="BANK2")
    # The fund's part of a recovery settles deferred compensation first (A4).
    rec = world.recover(claim.id, 110_000_000, 10_000_000, D(2022, 8, 1))
    assert (rec.net_fen, rec.fund_fen, rec.bank_fen) == (100_000_000, 50_000_000, 50_000_000)
    assert (world.pool().cash_fen, world.pool().deferred_fen) == (0, 50_000_000)
    assert world.show(claim.id)["payment"]["paid_fen"] == 150_000_000
    world.close(claim.id, D(2022, 9, 1))
    assert world.loan_status(loan.id) == "closed"
    _refused("invalid_claim_status", world.recover, claim.id, 10, 0, D(2022, 9, 2))
    _refused("loan_not_active", world.file, loan.id, 1, D(2022, 9, 2))
    doc = world.show(claim.id)
    assert [(e["event"], e["by"], e["from_status"], e["to_status"]) for e in doc["events"]] == [
        ("filed", "BANK1", None, "filed"), ("approved", "FM", "filed", "approved"),
        ("recovery", "BANK1", "approved", "approved"), ("closed", "BANK1", "approved", "closed"),
    ]
    assert doc["events"][2]["entry_id"] == doc["recoveries"][0]["entry_id"] is not None
    assert world.violations() == []


def test_a_cap_room_of_zero_approves_with_no_fund_share_and_no_entry(world):
    first = world.register(drawdown=DRAWDOWN, borrower_n=1)
    second = world.register(drawdown=DRAWDOWN, borrower_n=2)  # in-pool lending 2e9: cap 100M
    a = world.file(first.id, 1_000_000_000, OPENS)
    b = world.file(second.id, 1_000_000_000, OPENS)
    world.approve(a.id, OPENS)
    world.approve(b.id, OPENS)
    doc_a, doc_b = world.show(a.id), world.show(b.id)
    assert (doc_a["allocation"]["fund_fen"], doc_a["cap"]["cut_fen"]) == (100_000_000, 400_000_000)
    assert (doc_b["allocation"]["fund_fen"], doc_b["allocation"]["bank_fen"], doc_b["cap"]["room_fen"]) == (0, 1_000_000_000, 0)
    assert doc_b["payment"]["entry_id"] is None and doc_b["events"][-1]["entry_id"] is None
    # A recovery on it gives the fund nothing and posts nothing.
    rec = world.recover(b.id, 300_000_000, 0, OPENS)
    assert (rec.fund_fen, rec.bank_fen, rec.entry_id) == (0, 300_000_000, None)
    assert world.violations() == []


def test_cancelled_loans_leave_in_pool_lending_and_later_drawdowns_do_not_count(world):
    loan = world.register(drawdown=DRAWDOWN, borrower_n=1)
    cancelled = world.register(drawdown=DRAWDOWN, borrower_n=2)
    world.register(drawdown=D(2026, 5, 20), borrower_n=3, on=D(2026, 5, 20))  # drawn after the approval date
    with world.session() as s:
        cancel_loan(s, world.actors["BANK1"], cancelled.id, DRAWDOWN)
    world.register(drawdown=DRAWDOWN, borrower_n=4, principal=1_000_000_000, bank="BANK2")  # another bank
    claim = world.file(loan.id, 1_000_000_000, OPENS)
    world.approve(claim.id, OPENS)
    cap = world.show(claim.id)["cap"]
    assert (cap["in_pool_lending_fen"], cap["cap_fen"], cap["room_fen"]) == (1_000_000_000, 50_000_000, 50_000_000)


def test_each_institution_reads_the_claims_it_is_party_to(world):
    gz2020 = dict(drawdown=D(2022, 1, 10), scheme="5311", insurer_code="INS1", appraiser_code="APR1")
    shared = world.register(**gz2020)
    guaranteed = world.register(drawdown=D(2022, 1, 10), scheme="541", insurer_code="GUA1", borrower_n=2)
    other = world.register("BANK2", drawdown=D(2022, 1, 10), scheme="55", borrower_n=3)
    on = D(2022, 6, 1)
    c1 = world.file(shared.id, 100, on)
    c2 = world.file(guaranteed.id, 100, on)
    c3 = world.file(other.id, 100, on, bank="BANK2")

    def visible(code: str) -> list[int]:
        with world.session() as s:
            return [c.id for c in claims_service.list_claims(s, world.actors[code])]

    assert visible("BANK1") == [c1.id, c2.id]
    assert visible("BANK2") == [c3.id]
    assert visible("INS1") == [c1.id]
    assert visible("GUA1") == [c2.id]
    assert visible("APR1") == [c1.id]
    assert visible("FM") == visible("AUD") == [c1.id, c2.id, c3.id]
    with world.session() as s:
        _refused("claim_not_found", claims_service.claim_for, s, world.actors["INS1"], c2.id)
        _refused("claim_not_found", claims_service.claim_for, s, world.actors["BANK2"], c1.id)
        assert [c.id for c in claims_service.list_claims(s, world.fm, bank_code="BANK2")] == [c3.id]
        assert [c.id for c in claims_service.list_claims(s, world.fm, after_id=c1.id, limit=1)] == [c2.id]
