"""RULES section 3: every outright refusal stores nothing; statuses move only along the table."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import func, select

from fund.adapters.db import unit_of_work
from fund.adapters.models.registry import Enterprise, Installment, IpAsset, Loan
from fund.domain.registry import InstallmentIn
from fund.domain.status import EVENTS, STATUSES, _MOVES, next_status
from fund.errors import Conflict, DomainError
from fund.services.registry import cancel_loan, move_status, record_repayment, register_loan
from tests.factories import application, asset, setup_reference, with_

BD = dt.date(2026, 10, 31)


@pytest.fixture
def actors(session_factory):
    with unit_of_work(session_factory) as s:
        return setup_reference(s)


def _counts(session_factory):
    with unit_of_work(session_factory) as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in (Loan, Enterprise, IpAsset, Installment))


def _refusal_cases():
    base = application("BASE")
    d = base.drawdown_date
    yield "principal_zero", with_(base, principal_fen=0), "invalid_principal"
    yield "principal_negative", with_(base, principal_fen=-5), "invalid_principal"
    yield "ip_share_zero", with_(base, ip_share_bp=0), "invalid_ip_share"
    yield "ip_share_over", with_(base, ip_share_bp=10_001), "invalid_ip_share"
    yield "maturity_equal", with_(base, maturity_date=d), "maturity_not_after_drawdown"
    yield "maturity_before", with_(base, maturity_date=d - dt.timedelta(days=1)), "maturity_not_after_drawdown"
    sched = list(base.schedule)
    yield "schedule_short", with_(base, schedule=tuple(sched[:-1])), "schedule_mismatch"
    yield "schedule_two_on_one_date", with_(base, schedule=(*sched[:-1], InstallmentIn(sched[0].due_date, sched[-1].principal_due_fen, 0))), "schedule_mismatch"
    yield "schedule_outside", with_(base, schedule=(*sched[:-1], InstallmentIn(base.maturity_date + dt.timedelta(days=1), sched[-1].principal_due_fen, 0))), "schedule_mismatch"
    yield "schedule_before_drawdown", with_(base, schedule=(InstallmentIn(d - dt.timedelta(days=1), 0, 10), *sched)), "schedule_mismatch"
    yield "unknown_scheme", with_(base, scheme_code="5311"), "unknown_scheme"
    gz2020 = application("OLD", drawdown=dt.date(2021, 3, 1), scheme="5311")
    yield "missing_insurer", with_(gz2020, appraiser_code="APR1"), "missing_party"
    yield "missing_appraiser", with_(gz2020, insurer_code="INS1"), "missing_party"
    yield "invalid_uscc", with_(base, borrower=with_(base.borrower, credit_code="91110000600037341M")), "invalid_uscc"
    yield "invalid_patent", with_(base, assets=(with_(base.assets[0], number="202310123456.7"),)), "invalid_patent_number"
    yield "patent_kind_mismatch", with_(base, assets=(with_(base.assets[0], kind="utility_model"),)), "invalid_patent_number"
    yield "invalid_owner_uscc", with_(base, assets=(with_(base.assets[0], owner_credit_code="91350100M000100Y4Z"),)), "invalid_uscc"
    yield "dated_after_business_date", with_(base, drawdown_date=BD + dt.timedelta(days=1), maturity_date=BD + dt.timedelta(days=400)), "dated_after_business_date"


CASES = list(_refusal_cases())


@pytest.mark.parametrize("name, app, code", CASES, ids=[c[0] for c in CASES])
def test_refused_outright_stores_nothing(session_factory, actors, name, app, code):
    before = _counts(session_factory)
    with pytest.raises(DomainError) as info:
        with unit_of_work(session_factory) as s:
            register_loan(s, actors["BANK1"], app, BD)
    assert info.value.code == code, info.value.message
    assert info.value.field
    assert _counts(session_factory) == before


def test_duplicate_contract_is_refused_per_bank(session_factory, actors):
    with unit_of_work(session_factory) as s:
        register_loan(s, actors["BANK1"], application("DUP"), BD)
    with pytest.raises(Conflict) as info:
        with unit_of_work(session_factory) as s:
            register_loan(s, actors["BANK1"], application("DUP"), BD)
    assert info.value.code == "duplicate_contract"
    with unit_of_work(session_factory) as s:  # another bank may use the same contract number
        register_loan(s, actors["BANK2"], application("DUP"), BD)


def test_asset_pledged_on_an_open_loan_is_refused_until_released(session_factory, actors):
    shared = asset(serial=4242)
    with unit_of_work(session_factory) as s:
        first = register_loan(s, actors["BANK1"], application(assets=(shared,)), BD)
    before = _counts(session_factory)
    with pytest.raises(Conflict) as info:
        with unit_of_work(session_factory) as s:
            register_loan(s, actors["BANK2"], application(assets=(shared,)), BD)
    assert info.value.code == "ip_already_pledged"
    assert _counts(session_factory) == before
    with unit_of_work(session_factory) as s:
        cancel_loan(s, actors["BANK1"], first.id, BD)
    with unit_of_work(session_factory) as s:
        register_loan(s, actors["BANK2"], application(assets=(shared,)), BD)


def test_repayments_follow_the_installments(session_factory, actors):
    bank = actors["BANK1"]
    with unit_of_work(session_factory) as s:
        loan = register_loan(s, bank, application(principal=1_200, months=2, drawdown=dt.date(2026, 1, 10)), BD)
    first_due, last_due = dt.date(2026, 2, 10), dt.date(2026, 3, 10)
    with pytest.raises(DomainError) as info:
        with unit_of_work(session_factory) as s:
            record_repayment(s, bank, loan.id, first_due, first_due, 0, 1_000_001, BD)
    assert info.value.code == "repayment_exceeds_due"
    with pytest.raises(DomainError) as info:
        with unit_of_work(session_factory) as s:
            record_repayment(s, bank, loan.id, dt.date(2026, 2, 11), first_due, 0, 1, BD)
    assert info.value.code == "unknown_installment"
    with pytest.raises(DomainError) as info:
        with unit_of_work(session_factory) as s:
            record_repayment(s, actors["BANK2"], loan.id, first_due, first_due, 0, 1, BD)
    assert info.value.code == "loan_not_found"
    with unit_of_work(session_factory) as s:
        on_time = record_repayment(s, bank, loan.id, first_due, first_due, 0, 1_000_000, BD)
        assert not on_time.past_due_at_payment
    with unit_of_work(session_factory) as s:
        late = record_repayment(s, bank, loan.id, last_due, dt.date(2026, 3, 20), 1_200, 1_000_000, BD)
        assert late.past_due_at_payment is True  # the installment paid was itself due before 03-20
    with unit_of_work(session_factory) as s:
        assert s.get(Loan, loan.id).status == "repaid"
    with pytest.raises(Conflict):
        with unit_of_work(session_factory) as s:
            record_repayment(s, bank, loan.id, last_due, last_due, 0, 1, BD)


def test_past_due_is_seen_at_payment_date(session_factory, actors):
    bank = actors["BANK1"]
    with unit_of_work(session_factory) as s:
        loan = register_loan(s, bank, application(principal=1_200, months=3, drawdown=dt.date(2026, 1, 10)), BD)
    with unit_of_work(session_factory) as s:
        # the February installment is unpaid on 03-05: a payment then is made while past due
        rep = record_repayment(s, bank, loan.id, dt.date(2026, 3, 10), dt.date(2026, 3, 5), 0, 1_000_000, BD)
        assert rep.past_due_at_payment is True


def test_cancel_needs_no_repayment(session_factory, actors):
    bank = actors["BANK1"]
    with unit_of_work(session_factory) as s:
        loan = register_loan(s, bank, application(drawdown=dt.date(2026, 1, 10)), BD)
    with unit_of_work(session_factory) as s:
        record_repayment(s, bank, loan.id, dt.date(2026, 2, 10), dt.date(2026, 2, 10), 0, 5, BD)
    with pytest.raises(Conflict) as info:
        with unit_of_work(session_factory) as s:
            cancel_loan(s, bank, loan.id, BD)
    assert info.value.code == "loan_has_repayments"


# The status table of docs/rules.md section 3, written out by hand (not read from the code, so a wrong
# table in fund.domain.status fails here).
TABLE = {
    ("active", "all_repaid"): "repaid",
    ("active", "cancel"): "cancelled",
    ("active", "claim_filed"): "claimed",
    ("claimed", "claim_withdrawn"): "active",
    ("claimed", "claim_rejected"): "active",
    ("claimed", "claim_approved"): "compensated",
    ("compensated", "claim_closed"): "closed",
    ("repaid", "repayment_reversed"): "active",
}
ALLOWED = set(TABLE)


def test_the_code_has_the_table_of_the_rules():
    assert _MOVES == TABLE
    assert set(STATUSES) == {"active", "repaid", "cancelled", "claimed", "compensated", "closed"}


@pytest.mark.parametrize("status, event", [p for p in itertools.product(STATUSES, EVENTS) if p not in ALLOWED])
def test_every_move_outside_the_table_is_refused(status, event):
    with pytest.raises(Conflict) as info:
        next_status(status, event, paid_in_full=True)
    assert info.value.code == "invalid_transition"


@pytest.mark.parametrize("status, event", sorted(ALLOWED))
def test_every_move_in_the_table_is_allowed(status, event):
    assert next_status(status, event, paid_in_full=event == "all_repaid") == TABLE[(status, event)]


def test_withdrawn_claim_on_a_fully_repaid_loan_moves_to_repaid():
    # RULES revision 2: "fully repaid" is every installment paid in full, principal and interest
    for event in ("claim_withdrawn", "claim_rejected"):
        assert next_status("claimed", event, paid_in_full=True) == "repaid"
        assert next_status("claimed", event, paid_in_full=False) == "active"


def test_a_loan_is_repaid_only_when_paid_in_full():
    with pytest.raises(Conflict) as info:
        next_status("active", "all_repaid", paid_in_full=False)
    assert info.value.code == "not_paid_in_full"


def test_status_moves_are_recorded_and_refused_on_stored_loans(session_factory, actors):
    from fund.adapters.models.registry import LoanEvent

    bank = actors["BANK1"]
    with unit_of_work(session_factory) as s:
        loan = register_loan(s, bank, application(), BD)
    for status in STATUSES:
        for event in EVENTS:
            if (status, event) in ALLOWED:
                continue
            with pytest.raises(Conflict):
                with unit_of_work(session_factory) as s:
                    row = s.get(Loan, loan.id)
                    row.status = status
                    move_status(s, row, event, bank.institution_id, BD)
    with unit_of_work(session_factory) as s:
        assert s.get(Loan, loan.id).status == "active"
        assert [e.event for e in s.scalars(select(LoanEvent).where(LoanEvent.loan_id == loan.id))] == ["registered"]


def test_a_batch_with_bad_items_writes_nothing_and_names_each_index(session_factory, actors):
    from fund.services.registry import BatchRefused, register_loans

    shared = asset(serial=777)
    good = [application(f"B-{k}", borrower_n=20 + k) for k in range(5)]
    batch = [
        good[0],
        with_(good[1], principal_fen=0),
        good[2],
        application("B-dup-asset-1", assets=(shared,)),
        application("B-dup-asset-2", assets=(shared,)),
        with_(good[3], contract_no="B-0"),
    ]
    before = _counts(session_factory)
    with pytest.raises(BatchRefused) as info:
        with unit_of_work(session_factory) as s:
            register_loans(s, actors["BANK1"], batch, BD)
    assert [(i, e.code) for i, e in info.value.items] == [
        (1, "invalid_principal"), (4, "ip_already_pledged"), (5, "duplicate_contract"),
    ]
    assert _counts(session_factory) == before
    with unit_of_work(session_factory) as s:
        loans = register_loans(s, actors["BANK1"], good, BD)
    assert [l.contract_no for l in loans] == [f"B-{k}" for k in range(5)]
    assert [l.id for l in loans] == sorted(l.id for l in loans)
