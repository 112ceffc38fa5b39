"""Rule G1 (docs/rules.md section 11): proposals made by an officer and signed off by another person,
declined, withdrawn; two sign-offs at once execute once; appropriation references and reversals
(section 6). Both backends."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from fund.adapters.db import unit_of_work
from fund.adapters.models.claims import Claim
from fund.adapters.models.people import AuditRecord, Proposal
from fund.errors import DomainError
from fund.services import appropriations, ledger, proposals
from tests.people_support import add_staff, fast_passwords  # noqa: F401
from tests.test_claims_support import World

pytestmark = pytest.mark.usefixtures("fast_passwords")
D = dt.date
DRAWDOWN, FILED = D(2026, 1, 15), D(2026, 6, 1)


@pytest.fixture
def world(session_factory) -> World:
    return World.create(session_factory)


@pytest.fixture
def staff(world):
    with world.session() as s:
        return add_staff(s)


def _claim(world: World, borrower: int = 1, loss: int = 100_000_000) -> int:
    loan = world.register("BANK1", drawdown=DRAWDOWN, borrower_n=borrower, principal=1_000_000_000)
    return world.file(loan.id, loss, FILED).id


def _audit(world: World, target: str) -> list[tuple[str, str, str | None, str | None]]:
    with world.session() as s:
        return [(r.action, r.outcome, r.error_code, r.login)
                for r in s.scalars(select(AuditRecord).where(AuditRecord.target == target).order_by(AuditRecord.id))]


def test_claim_approval_needs_a_second_person(world, staff):
    claim_id = _claim(world)
    world.appropriate(1_000_000_000, DRAWDOWN)
    db = world.session_factory
    made = proposals.propose(db, staff["fm.officer"], "claim_approval", {"claim_id": claim_id})
    assert made.status == "open" and made.preview["fund_fen"] == 50_000_000
    with world.session() as s:
        assert s.get(Claim, claim_id).status == "filed"  # the preview wrote nothing
    with pytest.raises(DomainError) as info:
        proposals.sign_off(db, staff["fm.officer"], made.id)
    assert info.value.code == "same_person"
    with pytest.raises(DomainError) as info:
        proposals.sign_off(db, staff["bank1.staff"], made.id)
    assert info.value.code == "forbidden"
    with pytest.raises(DomainError) as info:
        proposals.sign_off(db, staff["fm.officer2"], made.id)
    assert info.value.code == "not_an_approver"
    done = proposals.sign_off(db, staff["fm.approver"], made.id)
    assert done.status == "executed" and done.figures["fund_fen"] == 50_000_000 and done.figures_differ is False
    assert (done.proposed_by, done.decided_by) == ("fm.officer", "fm.approver")
    assert world.show(claim_id)["status"] == "approved"
    with pytest.raises(DomainError) as info:
        proposals.sign_off(db, staff["fm.approver2"], made.id)
    assert info.value.code == "proposal_not_open"
    assert _audit(world, f"claim:{claim_id}") == [
        ("claim_approval.propose", "done", None, "fm.officer"),
        ("claim_approval.sign_off", "refused", "same_person", "fm.officer"),
        ("claim_approval.sign_off", "refused", "forbidden", "bank1.staff"),
        ("claim_approval.sign_off", "refused", "not_an_approver", "fm.officer2"),
        ("claim_approval.sign_off", "done", None, "fm.approver"),
        ("claim_approval.sign_off", "refused", "proposal_not_open", "fm.approver2"),
    ]
    assert world.violations() == []


def test_both_figures_are_kept_where_they_differ(world, staff):
    claim_id = _claim(world)
    world.appropriate(10_000_000, DRAWDOWN)
    db = world.session_factory
    made = proposals.propose(db, staff["fm.officer"], "claim_approval", {"claim_id": claim_id})
    assert (made.preview["paid_fen"], made.preview["deferred_fen"]) == (10_000_000, 40_000_000)
    world.appropriate(30_000_000, DRAWDOWN)
    done = proposals.sign_off(db, staff["fm.approver"], made.id)
    assert done.figures_differ is True and (done.figures["paid_fen"], done.figures["deferred_fen"]) == (40_000_000, 10_000_000)
    assert done.preview["paid_fen"] == 10_000_000


def test_decline_withdraw_and_who_may(world, staff):
    db = world.session_factory
    first, second = _claim(world, 1), _claim(world, 2)
    a = proposals.propose(db, staff["fm.officer"], "claim_rejection", {"claim_id": first, "reason": "documents missing"})
    with pytest.raises(DomainError) as info:
        proposals.propose(db, staff["fm.officer2"], "claim_rejection", {"claim_id": first, "reason": "again"})
    assert info.value.code == "proposal_exists"
    with pytest.raises(DomainError) as info:
        proposals.propose(db, staff["fm.approver"], "claim_rejection", {"claim_id": second, "reason": "x"})
    assert info.value.code == "not_an_officer"
    with pytest.raises(DomainError) as info:
        proposals.decline(db, staff["fm.approver"], a.id, "")
    assert info.value.code == "missing_reason"
    declined = proposals.decline(db, staff["fm.approver"], a.id, "the loss is documented")
    assert declined.status == "declined" and declined.decline_reason == "the loss is documented"
    assert world.show(first)["status"] == "filed"
    b = proposals.propose(db, staff["fm.officer"], "claim_rejection", {"claim_id": second, "reason": "late"})
    with pytest.raises(DomainError) as info:
        proposals.withdraw(db, staff["fm.officer2"], b.id)
    assert info.value.code == "not_the_maker"
    assert proposals.withdraw(db, staff["fm.officer"], b.id).status == "withdrawn"
    c = proposals.propose(db, staff["fm.officer"], "claim_rejection", {"claim_id": second, "reason": "late"})
    assert proposals.sign_off(db, staff["fm.approver2"], c.id).figures["status"] == "rejected"
    listed = proposals.list_proposals(db, staff["aud.reader"], status="open")
    assert listed == []
    assert [p.status for p in proposals.list_proposals(db, staff["aud.reader"])] == ["declined", "withdrawn", "executed"]


def test_an_institutional_fund_manager_key_cannot_decide(world, staff):
    with pytest.raises(DomainError) as info:
        proposals.propose(world.session_factory, world.fm, "claim_approval", {"claim_id": _claim(world)})
    assert info.value.code == "person_required"


def test_two_sign_offs_at_once_execute_once(world, staff):
    claim_id = _claim(world)
    world.appropriate(1_000_000_000, DRAWDOWN)
    db = world.session_factory
    made = proposals.propose(db, staff["fm.officer"], "claim_approval", {"claim_id": claim_id})
    barrier, results, errors = threading.Barrier(2), [], []

    def sign(who):
        try:
            barrier.wait(timeout=30)
            results.append(proposals.sign_off(db, staff[who], made.id))
        except DomainError as exc:
            errors.append(exc.code)

    threads = [threading.Thread(target=sign, args=(who,)) for who in ("fm.approver", "fm.approver2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 1 and errors == ["proposal_not_open"]
    assert world.pool().cash_fen == 1_000_000_000 - 50_000_000
    with world.session() as s:
        assert s.scalar(select(Proposal.status).where(Proposal.id == made.id)) == "executed"
    assert world.violations() == []


def _appropriation(db, staff, reference: str, amount: int = 300_000_000, **extra):
    made = proposals.propose(db, staff["fm.officer"], "appropriation",
                             {"pool": "compensation", "amount_fen": amount, "policy_id": "gz-2023",
                              "received_on": "2026-10-20", "reference": reference, **extra})
    return proposals.sign_off(db, staff["fm.approver"], made.id)


def test_a_reused_reference_is_refused_until_reversed(world, staff):
    db = world.session_factory
    _appropriation(db, staff, "穗财预〔2026〕12号")
    with pytest.raises(DomainError) as info:
        _appropriation(db, staff, " 穗财预〔2026〕12号 ")
    assert info.value.code == "duplicate_reference"
    with world.session() as s:
        (first,) = appropriations.list_appropriations(s)
    made = proposals.propose(db, staff["fm.officer"], "appropriation_reversal",
                             {"appropriation_id": first.id, "reason": "entered twice by the bureau"})
    proposals.sign_off(db, staff["fm.approver"], made.id)
    again = _appropriation(db, staff, "穗财预〔2026〕12号")  # the reversed one no longer holds it
    assert again.status == "executed"


def test_a_reversal_restores_every_balance(world, staff):
    db = world.session_factory
    with world.session() as s:
        before = ledger.balances(s)
    _appropriation(db, staff, "REF-1", 300_000_000)
    with world.session() as s:
        (row,) = appropriations.list_appropriations(s)
        assert ledger.balances(s)["pool:compensation:cash"] == before.get("pool:compensation:cash", 0) + 300_000_000
    made = proposals.propose(db, staff["fm.officer"], "appropriation_reversal", {"appropriation_id": row.id, "reason": "wrong pool"})
    assert made.preview["amount_fen"] == 300_000_000
    proposals.sign_off(db, staff["fm.approver"], made.id)
    with world.session() as s:
        after = ledger.balances(s)
        assert {k: v for k, v in after.items() if v} == {k: v for k, v in before.items() if v}
        assert appropriations.live_appropriated_fen(s, "compensation") == 0
    with pytest.raises(DomainError) as info:
        proposals.propose(db, staff["fm.officer"], "appropriation_reversal", {"appropriation_id": row.id, "reason": "again"})
    assert info.value.code == "already_reversed"
    assert world.violations() == []


def test_a_reversal_needs_the_cash(world, staff):
    db = world.session_factory
    claim_id = _claim(world)
    _appropriation(db, staff, "REF-2", 60_000_000)
    approval = proposals.propose(db, staff["fm.officer"], "claim_approval", {"claim_id": claim_id})
    proposals.sign_off(db, staff["fm.approver"], approval.id)  # pays 50M of the 60M
    with world.session() as s:
        (row,) = appropriations.list_appropriations(s)
    with pytest.raises(DomainError) as info:
        proposals.propose(db, staff["fm.officer"], "appropriation_reversal", {"appropriation_id": row.id, "reason": "x"})
    assert info.value.code == "cash_does_not_cover"


def test_a_reversal_cannot_take_a_returned_payment_held_for_its_payee(world, staff):
    """docs/rules.md section 6: a returned payment stays in the pool's cash but is held for its payee, ahead
    of everything else; reversing an appropriation may take only the cash left beside it."""
    from fund.services.common import business_date
    from fund.services.payments import import_confirmations, list_instructions, reserved_fen

    db = world.session_factory
    claim_id = _claim(world)
    _appropriation(db, staff, "REF-3", 60_000_000)
    approval = proposals.propose(db, staff["fm.officer"], "claim_approval", {"claim_id": claim_id})
    proposals.sign_off(db, staff["fm.approver"], approval.id)  # pays 50M of the 60M, 10M left
    with world.session() as s:
        (paid,) = list_instructions(s, world.fm, pool="compensation")
        import_confirmations(s, world.fm, [{"instruction_id": str(paid.id), "status": "returned", "date": business_date(s).isoformat(),
                                            "bank_reference": "", "note": "account closed"}], business_date(s))
    with world.session() as s:
        assert ledger.balances(s)["pool:compensation:cash"] == 60_000_000  # the returned 50M is back in cash ...
        assert reserved_fen(s, "compensation") == paid.amount_fen == 50_000_000  # ... held for the bank
        (row,) = appropriations.list_appropriations(s)
    with pytest.raises(DomainError) as info:
        proposals.propose(db, staff["fm.officer"], "appropriation_reversal", {"appropriation_id": row.id, "reason": "x"})
    assert info.value.code == "cash_does_not_cover"
    assert world.violations() == []
