"""Survivors of the mutation runs over fund/services/claims.py (docs/mutation.md), killed by pinning rule A
(A1's loss, window and steps with their notes, A3's cap per bank and policy on in-pool lending, A5), rule L's
claims check, the claim's document, the claims list and the use cases as docs/rules.md and the service state
them. Both backends (the mutation run: SQLite only); two race tests need PostgreSQL."""

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


# ---------------------------------------------------------------------------------------------
# Rule L for claims (docs/rules.md section 6: "each claim's postings equal its approved fund share and
# its recoveries"): each break below is planted alone and the claims check must name it, with its
# entry, in the words the check uses (ledger_violations called directly, so only its own findings).
# ---------------------------------------------------------------------------------------------

L_DRAWDOWN, L_FILED = D(2022, 1, 10), D(2022, 6, 1)  # gz-2020, no bank cap: loss 300M gives the fund 150M, deferred
CASH, DEFERRED, EXPENSE = "pool:compensation:cash", "liability:compensation_deferred", "expense:compensation"


def _l_approved(world: World, borrower_n: int = 1):
    loan = world.register(drawdown=L_DRAWDOWN, scheme="55", borrower_n=borrower_n)
    return world.approve(world.file(loan.id, 300_000_000, L_FILED).id, L_FILED)


def _claims_check(world: World) -> list[tuple[str, str, int | None]]:
    with world.session() as s:
        return [(v.rule, v.message, v.entry_id) for v in claims_service.ledger_violations(s)]


def _l_sql(world: World, statement: str, **params) -> None:
    from sqlalchemy import text

    with world.session() as s:
        s.execute(text(statement), params)


def _l_post(world: World, cause: str, ref_type: str, ref_id: int, postings, policy_id: str = "gz-2020") -> int:
    from fund.services import ledger

    with world.session() as s:
        return ledger.post_entry(s, cause=cause, policy_id=policy_id, ref_type=ref_type, ref_id=ref_id,
                                 business_date=L_FILED, postings=postings).id


def _l_one(world: World, model, **where):
    from sqlalchemy import select

    with world.session() as s:
        stmt = select(model)
        for column, value in where.items():
            stmt = stmt.where(getattr(model, column) == value)
        row = s.scalars(stmt).one()
        s.expunge(row)
        return row


def test_the_claims_check_names_claim_entries_that_point_at_no_claim(world):
    claim = _l_approved(world)
    assert _claims_check(world) == []
    pair = [(EXPENSE, 5), (DEFERRED, -5)]
    to_loan = _l_post(world, "claim_approval", "loan", claim.id, pair)
    to_nothing = _l_post(world, "claim_approval", "claim", claim.id + 1000, pair)
    recovery_to_loan = _l_post(world, "recovery", "loan", claim.id, [(CASH, 7), ("income:recovery", -7)])
    recovery_to_nothing = _l_post(world, "recovery", "claim", claim.id + 1000, [(CASH, 7), ("income:recovery", -7)])
    assert _claims_check(world) == [
        ("claim_postings", f"claim approval entry refers to loan {claim.id}, not a claim", to_loan),
        ("claim_postings", f"claim approval entry refers to claim {claim.id + 1000}, not a claim", to_nothing),
        ("claim_postings", f"recovery entry refers to loan {claim.id}, not a claim", recovery_to_loan),
        ("claim_postings", f"recovery entry refers to claim {claim.id + 1000}, not a claim", recovery_to_nothing),
    ]


def test_the_claims_check_finds_money_on_a_claim_that_is_not_decided(world):
    from fund.adapters.models.claims import ClaimRecovery
    from fund.adapters.models.ledger import Deferral

    pending = world.file(world.register(drawdown=L_DRAWDOWN, scheme="55", borrower_n=9).id, 300_000_000, L_FILED)  # filed, no money
    claim = _l_approved(world)
    recovery = world.recover(claim.id, 40_000_000, 0, D(2022, 8, 1))  # fund's part 20M
    assert pending.id < claim.id and recovery.fund_fen == 20_000_000 and _claims_check(world) == []
    deferral = _l_one(world, Deferral, ref_type="claim", ref_id=claim.id)
    _l_sql(world, "UPDATE claims SET status = 'filed' WHERE id = :c", c=claim.id)
    bank = world.actors["BANK1"].institution_id
    assert _claims_check(world) == [
        ("claim_postings", f"claim {claim.id} is filed but has an approval entry", claim.approval_entry_id),
        ("claim_postings", f"claim {claim.id} is filed but has deferral {deferral.id}", deferral.entry_id),
        ("claim_postings", f"claim {claim.id} is filed but has recoveries", None),
        ("claim_postings", f"recovery entry of claim {claim.id} matches no recorded recovery", recovery.entry_id),
        ("cap_usage", f"cap usage of bank {bank} under gz-2020 in 2022 is 150000000, approved fund shares add up to 0", None),
    ]
    assert _l_one(world, ClaimRecovery, claim_id=claim.id).entry_id == recovery.entry_id


def test_the_claims_check_wants_one_approval_entry_of_the_claims_policy_and_the_claims_own(world):
    first, second = _l_approved(world, 1), _l_approved(world, 2)
    bank = world.actors["BANK1"].institution_id
    assert _claims_check(world) == []
    extra = _l_post(world, "claim_approval", "claim", first.id, [(EXPENSE, 5), (DEFERRED, -5)])
    assert _claims_check(world) == [("claim_postings", f"claim {first.id} has 2 approval entries, expected 1", None)]

    # The second claim records the first's approval entry and is moved to gz-2023 (its entry stays under gz-2020).
    _l_sql(world, "UPDATE claims SET approval_entry_id = :e, policy_id = 'gz-2023' WHERE id = :c", e=first.approval_entry_id, c=second.id)
    assert _claims_check(world)[1:] == [
        ("claim_postings", f"claim {second.id} records approval entry {first.approval_entry_id}", second.approval_entry_id),
        ("claim_postings", f"claim {second.id} is under gz-2023, its entry under gz-2020", second.approval_entry_id),
        ("cap_usage", f"cap usage of bank {bank} under gz-2020 in 2022 is 300000000, approved fund shares add up to 150000000", None),
        ("cap_usage", f"bank {bank} under gz-2023 in 2022: 150000000 approved with no cap usage row", None),
    ]
    assert extra


def test_the_claims_check_compares_the_approval_entry_with_the_fund_share(world):
    claim = _l_approved(world)  # fund 150M, all deferred: expense 150M, deferred liability -150M
    _l_sql(world, "UPDATE claims SET fund_fen = fund_fen - 1, bank_fen = bank_fen + 1, deferred_fen = deferred_fen - 1 WHERE id = :c", c=claim.id)
    bank = world.actors["BANK1"].institution_id
    assert _claims_check(world) == [
        ("claim_postings", f"claim {claim.id}: approval posts {{'{EXPENSE}': 150000000, '{DEFERRED}': -150000000}}, its fund share "
         f"149999999 (paid 0, deferred 149999999) gives {{'{EXPENSE}': 149999999, '{DEFERRED}': -149999999}}", claim.approval_entry_id),
        ("claim_postings", f"claim {claim.id} deferred 149999999 at approval; its deferrals are [150000000]", claim.approval_entry_id),
        ("cap_usage", f"cap usage of bank {bank} under gz-2020 in 2022 is 150000000, approved fund shares add up to 149999999", None),
    ]


def test_the_claims_check_wants_no_approval_entry_for_a_fund_share_of_0_and_one_deferral_of_the_deferred_part(world):
    from fund.adapters.models.ledger import Deferral

    claim = _l_approved(world)
    deferral = _l_one(world, Deferral, ref_type="claim", ref_id=claim.id)
    # The fund's share moved to the bank, paid and deferred parts to 0: the approval entry is now one too many.
    _l_sql(world, "UPDATE claims SET bank_fen = bank_fen + fund_fen, fund_fen = 0, deferred_fen = 0, paid_fen = 0 WHERE id = :c", c=claim.id)
    bank = world.actors["BANK1"].institution_id
    assert _claims_check(world) == [
        ("claim_postings", f"claim {claim.id} has a fund share of 0 but an approval entry", claim.approval_entry_id),
        ("claim_postings", f"claim {claim.id} deferred 0 at approval; its deferrals are [150000000]", claim.approval_entry_id),
        ("cap_usage", f"cap usage of bank {bank} under gz-2020 in 2022 is 150000000, approved fund shares add up to 0", None),
    ]
    assert deferral.amount_fen == 150_000_000


def test_the_claims_check_ties_each_recovery_to_its_own_entry(world):
    first, second = _l_approved(world, 1), _l_approved(world, 2)
    one = world.recover(first.id, 40_000_000, 0, D(2022, 8, 1))  # fund 20M each
    two = world.recover(second.id, 40_000_000, 0, D(2022, 8, 1))
    assert _claims_check(world) == []
    # first: its row points at the second's entry; second: its row is moved to gz-2023.
    _l_sql(world, "UPDATE claim_recoveries SET entry_id = :e WHERE id = :r", e=two.entry_id, r=one.id)
    _l_sql(world, "UPDATE claim_recoveries SET policy_id = 'gz-2023' WHERE id = :r", r=two.id)
    assert _claims_check(world) == [
        ("claim_postings", f"recovery {one.id} of claim {first.id} gives the fund 20000000 and has no recovery entry", two.entry_id),
        ("claim_recoveries", f"recovery {two.id} of claim {second.id} is under gz-2023", two.entry_id),
        ("claim_postings", f"recovery entry of claim {first.id} matches no recorded recovery", one.entry_id),
    ]
    # The first row pointed at a new entry crediting its 20M to the income account in two postings (the check adds
    # them up: it matches), then the second row with no entry at all, then with one under another policy.
    _l_sql(world, "UPDATE claim_recoveries SET policy_id = 'gz-2020' WHERE id = :r", r=two.id)
    wrong = _l_post(world, "recovery", "claim", first.id, [(CASH, 20_000_000), ("income:recovery", -19_000_000), ("income:recovery", -1_000_000)])
    _l_sql(world, "UPDATE claim_recoveries SET entry_id = :e WHERE id = :r", e=wrong, r=one.id)
    assert _claims_check(world) == [("claim_postings", f"recovery entry of claim {first.id} matches no recorded recovery", one.entry_id)]
    _l_sql(world, "UPDATE claim_recoveries SET entry_id = NULL WHERE id = :r", r=two.id)
    assert _claims_check(world) == [
        ("claim_postings", f"recovery {two.id} of claim {second.id} gives the fund 20000000 and has no recovery entry", None),
        ("claim_postings", f"recovery entry of claim {first.id} matches no recorded recovery", one.entry_id),
        ("claim_postings", f"recovery entry of claim {second.id} matches no recorded recovery", two.entry_id),
    ]
    wrong_policy = _l_post(world, "recovery", "claim", second.id, [(CASH, 20_000_000), ("income:recovery", -20_000_000)], "gz-2023")
    _l_sql(world, "UPDATE claim_recoveries SET entry_id = :e WHERE id = :r", e=wrong_policy, r=two.id)
    assert _claims_check(world)[0] == (
        "claim_postings", f"recovery {two.id} of claim {second.id}: the fund's part 20000000 is posted as "
        f"{{'{CASH}': 20000000, 'income:recovery': -20000000}} under gz-2023", wrong_policy)


def test_the_claims_check_finds_a_fund_part_of_0_with_an_entry_and_a_party_past_its_share(world):
    claim = _l_approved(world)
    recovery = world.recover(claim.id, 40_000_000, 0, D(2022, 8, 1))
    # The row's fund part given to the bank (the claim's totals moved alike): the row has an entry it should not.
    _l_sql(world, "UPDATE claim_recoveries SET bank_fen = bank_fen + fund_fen, fund_fen = 0 WHERE id = :r", r=recovery.id)
    _l_sql(world, "UPDATE claims SET bank_recovered_fen = bank_recovered_fen + fund_recovered_fen, fund_recovered_fen = 0 WHERE id = :c", c=claim.id)
    assert _claims_check(world) == [
        ("claim_postings", f"recovery {recovery.id} of claim {claim.id} gives the fund 0 but has an entry", recovery.entry_id),
        ("claim_postings", f"recovery entry of claim {claim.id} matches no recorded recovery", recovery.entry_id),
    ]
    # The claim's stored fund total past the fund's share (one fen), then at exactly its share (allowed).
    _l_sql(world, "UPDATE claims SET fund_recovered_fen = 150000001 WHERE id = :c", c=claim.id)
    found = _claims_check(world)
    totals = {"gross": 40_000_000, "costs": 0, "net": 40_000_000, "fund": 0, "insurer": 0, "appraiser": 0, "bank": 40_000_000}
    assert found[0] == ("claim_recoveries", f"claim {claim.id} stores recovered {dict(totals, fund=150_000_001)}, "
                        f"its recoveries add up to {totals}", None)
    assert found[1] == ("claim_recoveries", f"claim {claim.id}: the fund recovered 150000001, more than its share 150000000", None)
    _l_sql(world, "UPDATE claims SET fund_recovered_fen = 150000000 WHERE id = :c", c=claim.id)
    assert [v[0] for v in _claims_check(world)] == ["claim_recoveries", "claim_postings", "claim_postings"]


def test_the_claims_check_sees_claim_entries_with_no_postings_and_only_its_own_causes(world):
    """An entry with no postings is still an entry: two empty approval entries are two more approval
    entries, an empty recovery entry matches no recovery; an empty entry of another cause is not the
    claims check's."""
    from fund.adapters.models.ledger import JournalEntry

    claim = _l_approved(world)
    with world.session() as s:
        empty = [JournalEntry(cause=cause, policy_id="gz-2020", ref_type=ref_type, ref_id=ref_id, business_date=L_FILED)
                 for cause, ref_type, ref_id in (("claim_approval", "claim", claim.id), ("claim_approval", "claim", claim.id),
                                                 ("recovery", "claim", claim.id), ("correction", None, None))]
        s.add_all(empty)
        s.flush()
        approval, _, recovery, _ = (e.id for e in empty)
    assert _claims_check(world) == [
        ("claim_postings", f"claim {claim.id} has 3 approval entries, expected 1", None),
        ("claim_postings", f"recovery entry of claim {claim.id} matches no recorded recovery", recovery),
    ]
    assert approval > claim.approval_entry_id


# ---------------------------------------------------------------------------------------------
# A5 recoveries (record_recovery) and the claim's document
# ---------------------------------------------------------------------------------------------


def test_a_fund_part_of_one_fen_is_posted_by_the_bank_and_the_step_keeps_its_amounts(world):
    """A5 with rule L and G2: a recovery whose fund part is 1 fen is still an inflow to the pool (one
    ``recovery`` entry of 1 fen, here settling the deferred compensation first), posted in the bank's
    name; the claim's step records gross, costs and net."""
    from fund.services import ledger

    claim = _l_approved(world)  # fund 150M of a 300M loss, all deferred
    recovery = world.recover(claim.id, 3, 1, D(2022, 8, 1))  # net 2: the fund's half is 1 fen
    assert (recovery.net_fen, recovery.fund_fen) == (2, 1)
    assert recovery.entry_id is not None and _claims_check(world) == []
    with world.session() as s:
        (line,) = ledger.journal(s, cause="recovery", ref_type="claim", ref_id=claim.id)
        assert line.id == recovery.entry_id
        assert (line.actor_id, line.memo) == (world.actors["BANK1"].institution_id, f"fund's part of a recovery on claim {claim.id}")
        assert dict(line.postings) == {CASH: 1, "income:recovery": -1}
    event = world.show(claim.id)["events"][-1]
    assert (event["event"], event["note"], event["entry_id"], event["by"]) == (
        "recovery", "gross 3, costs 1, net 2 fen", recovery.entry_id, "BANK1")


def test_the_claim_document_times_its_events_in_utc(world):
    """G2: the clock time of each step is UTC (an aware datetime on both backends)."""
    claim = _l_approved(world)
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    for event in world.show(claim.id)["events"]:
        assert event["at"].utcoffset() == dt.timedelta(0)
        assert before < event["at"] < before + dt.timedelta(minutes=10)


def test_the_claim_document_times_its_events_in_utc_whatever_the_servers_time_zone(world, backend):
    """G2 on a PostgreSQL server set to another time zone (Asia/Shanghai, as a server in Guangzhou may
    well be): the stored instants come back in that zone, and the document gives the same instants in
    UTC. (SQLite stores naive UTC text: the other test covers it.)"""
    if backend != "postgresql":
        pytest.skip("a session time zone is PostgreSQL's")
    from sqlalchemy import text

    claim = _l_approved(world)
    utc = [e["at"] for e in world.show(claim.id)["events"]]
    with world.session() as s:
        s.execute(text("SET TIME ZONE 'Asia/Shanghai'"))
        shanghai = claims_service.claim_document(s, claims_service.claim_for(s, world.fm, claim.id))["events"]
    assert [e["at"] for e in shanghai] == utc  # the same instants
    assert all(e["at"].utcoffset() == dt.timedelta(0) for e in shanghai)


def test_the_claim_document_shows_its_own_deferral(world):
    """A4 in the claim's document: the settled part of a deferred claim is that of its own deferral,
    not another claim's nor a subsidy deferral with the same number."""
    from fund.adapters.models.ledger import Deferral

    loan = world.register(drawdown=L_DRAWDOWN, scheme="55", borrower_n=1)
    first = world.file(loan.id, 300_000_000, L_FILED)
    entry = world.appropriate(1, L_FILED)  # 1 fen to the pool; an entry for the planted row below
    with world.session() as s:  # a subsidy deferral numbered like the claim, older than the claim's own
        s.add(Deferral(pool="subsidy", ref_type="subsidy_line", ref_id=first.id, policy_id="gz-2020", amount_fen=5,
                       settled_fen=3, entry_id=entry.entry_id, business_date=L_FILED))
    first = world.approve(first.id, L_FILED)  # the 1 fen held is paid, 149 999 999 deferred
    second = _l_approved(world, 2)  # nothing held: 150M deferred
    assert (first.paid_fen, first.deferred_fen, second.deferred_fen) == (1, 149_999_999, 150_000_000)
    world.appropriate(10_000_000, D(2022, 7, 1))  # settles the first claim's deferral first (FIFO)
    payments = {c.id: world.show(c.id)["payment"] for c in (first, second)}
    assert [(p["deferred_settled_fen"], p["deferred_open_fen"], p["paid_fen"]) for p in payments.values()] == [
        (10_000_000, 139_999_999, 10_000_001), (0, 150_000_000, 0)]


def test_the_claim_document_is_the_apis_claim_with_every_figure_of_a1_to_a5(world):
    """The claim's document is the API's ``ClaimOut`` (every field, no other) before and after approval,
    and carries A2's split, the cap trace, A4's payment and A5's recovery as computed here by hand:
    loss 300M on a 1000M loan fully covered, scheme 5311 (fund 50%, insurer 30%, appraiser 10%, bank
    10%), paid in full from 1000M held; a recovery of 40M less 1M costs shares its net 39M in the same
    proportions."""
    from schemas.claims import ClaimOut

    world.appropriate(1_000_000_000, L_DRAWDOWN)
    loan = world.register(drawdown=L_DRAWDOWN, scheme="5311", insurer_code="INS1", appraiser_code="APR1", borrower_n=1)
    filed = world.file(loan.id, 300_000_000, L_FILED)
    ClaimOut.model_validate(world.show(filed.id))
    claim = world.approve(filed.id, L_FILED)
    recovery = world.recover(claim.id, 40_000_000, 1_000_000, D(2022, 8, 1))
    doc = world.show(claim.id)
    ClaimOut.model_validate(doc)
    assert {k: doc[k] for k in ("id", "loan_id", "status", "policy_id", "bank", "insurer", "appraiser", "loss_fen", "filed_on",
                                "filed_by", "decided_on", "decided_by", "closed_on", "closed_by")} == {
        "id": claim.id, "loan_id": loan.id, "status": "approved", "policy_id": "gz-2020", "bank": "BANK1", "insurer": "INS1",
        "appraiser": "APR1", "loss_fen": 300_000_000, "filed_on": L_FILED, "filed_by": "BANK1", "decided_on": L_FILED,
        "decided_by": "FM", "closed_on": None, "closed_by": None}
    assert (doc["earliest_unpaid_due"], doc["days_past_due"]) == (D(2022, 2, 10), 111)  # the first installment, unpaid
    assert doc["allocation"] == {
        "policy_id": "gz-2020", "scheme": "5311", "ratios_bp": {"fund": 5000, "insurer": 3000, "appraiser": 1000, "bank": 1000},
        "principal_fen": 1_000_000_000, "covered_fen": 1_000_000_000, "outstanding_fen": 1_000_000_000, "loss_fen": 300_000_000,
        "base_fen": 300_000_000, "insurer_limit_fen": None, "insurer_cut_fen": 0, "fund_before_cap_fen": 150_000_000,
        "fund_fen": 150_000_000, "insurer_fen": 90_000_000, "appraiser_fen": 30_000_000, "bank_fen": 30_000_000}
    assert doc["cap"] == {"policy_id": "gz-2020", "year": 2022, "cap_bp": None, "in_pool_lending_fen": 1_000_000_000, "cap_fen": None,
                          "already_used_fen": 0, "room_fen": None, "cut_fen": 0}
    assert doc["payment"] == {"policy_id": "gz-2020", "pool": "compensation", "entry_id": claim.approval_entry_id,
                              "paid_at_approval_fen": 150_000_000, "deferred_at_approval_fen": 0, "deferred_settled_fen": 0,
                              "deferred_open_fen": 0, "paid_fen": 150_000_000}
    shares = {"fund_fen": 19_500_000, "insurer_fen": 11_700_000, "appraiser_fen": 3_900_000, "bank_fen": 3_900_000}
    assert doc["recovered"] == {"gross_fen": 40_000_000, "costs_fen": 1_000_000, "net_fen": 39_000_000, **shares}
    assert doc["recoveries"] == [{"id": recovery.id, "business_date": D(2022, 8, 1), "reported_by": "BANK1", "policy_id": "gz-2020",
                                  "gross_fen": 40_000_000, "costs_fen": 1_000_000, "net_fen": 39_000_000, "cum_net_before_fen": 0,
                                  **shares, "entry_id": recovery.entry_id}]
    assert [(e["event"], e["by"], e["business_date"]) for e in doc["events"]] == [
        ("filed", "BANK1", L_FILED), ("approved", "FM", L_FILED), ("recovery", "BANK1", D(2022, 8, 1))]


# ---------------------------------------------------------------------------------------------
# A3: the bank's cap per (bank, policy, year), on in-pool lending as of the approval date
# ---------------------------------------------------------------------------------------------

A3_DRAWN, A3_APPROVED = D(2023, 8, 1), D(2023, 12, 1)  # gz-2023 (from 2023-07-13): first due 2023-09-01, claims from 2023-11-30


def test_the_bank_cap_is_per_bank_and_policy_on_the_lending_drawn_by_the_approval_date(world):
    """A3: ``cap = floor(in_pool_lending x 500 / 10000)`` under gz-2023, with in-pool lending the sum of
    ``C`` over this bank's loans under this policy drawn on or before the approval date (a loan drawn
    that very day counts; a cancelled one does not; another bank's and another policy's do not), and
    the room what this bank has used under this policy this year: not what the same bank used under
    gz-2020 that year, nor what another bank used under gz-2023. The fund report lists each pair so."""
    from fund.services.fund_report import fund_report
    from fund.services.registry import cancel_loan

    bank1 = world.actors["BANK1"]
    # BANK1 under gz-2020 in the same year 2023: no cap; its fund share 150M is used under gz-2020 only.
    old = world.register(drawdown=L_DRAWDOWN, scheme="55", borrower_n=1)
    old_claim = world.approve(world.file(old.id, 300_000_000, D(2023, 3, 1)).id, D(2023, 3, 1))
    assert (old_claim.fund_fen, world.show(old_claim.id)["cap"]["year"]) == (150_000_000, 2023)

    claimed = world.register(drawdown=A3_DRAWN, borrower_n=2)  # BANK1, C 1e9
    cancelled = world.register(drawdown=A3_DRAWN, principal=300_000_000, borrower_n=3)
    with world.session() as s:
        cancel_loan(s, bank1, cancelled.id, A3_DRAWN)
    other_bank = world.register("BANK2", drawdown=A3_DRAWN, borrower_n=4)  # BANK2, C 1e9
    claim1 = world.file(claimed.id, 20_000_000, A3_APPROVED)
    claim2 = world.file(other_bank.id, 20_000_000, A3_APPROVED, bank="BANK2")
    world.register(drawdown=A3_APPROVED, principal=500_000_000, borrower_n=5)  # BANK1, drawn on the approval date

    world.approve(claim1.id, A3_APPROVED)
    world.approve(claim2.id, A3_APPROVED)
    cap = {"policy_id": "gz-2023", "year": 2023, "cap_bp": 500, "cut_fen": 0}
    assert world.show(claim1.id)["cap"] == dict(cap, in_pool_lending_fen=1_500_000_000, cap_fen=75_000_000, already_used_fen=0,
                                                room_fen=75_000_000)
    assert world.show(claim2.id)["cap"] == dict(cap, in_pool_lending_fen=1_000_000_000, cap_fen=50_000_000, already_used_fen=0,
                                                room_fen=50_000_000)
    assert world.violations() == []

    with world.session() as s:
        lines = [(c.bank, c.policy_id, c.year, c.cap_bp, c.in_pool_lending_fen, c.cap_fen, c.used_fen, c.room_fen)
                 for c in fund_report(s, A3_APPROVED).caps]
    assert lines == [
        ("BANK1", "gz-2020", 2023, None, 1_000_000_000, None, 150_000_000, None),
        ("BANK1", "gz-2023", 2023, 500, 1_500_000_000, 75_000_000, 10_000_000, 65_000_000),
        ("BANK2", "gz-2023", 2023, 500, 1_000_000_000, 50_000_000, 10_000_000, 40_000_000),
    ]


def test_in_pool_lending_is_a3s_sum_for_each_bank_and_policy_and_0_without_loans(world):
    """A3's in-pool lending as the approval step and the fund report read it: per (bank, policy), the sum
    of ``C`` over the loans drawn on or before the date, cancelled ones excluded; narrowed to one bank
    or one policy it holds only theirs, and a bank with no loans under a policy has 0."""
    from fund.services.registry import cancel_loan

    bank1, bank2 = world.actors["BANK1"].institution_id, world.actors["BANK2"].institution_id
    world.register(drawdown=L_DRAWDOWN, scheme="55", principal=400_000_000, borrower_n=1)  # BANK1 gz-2020
    world.register(drawdown=A3_DRAWN, borrower_n=2)  # BANK1 gz-2023, 1e9
    world.register(drawdown=A3_APPROVED, principal=600_000_000, borrower_n=3)  # BANK1 gz-2023, drawn on the day
    gone = world.register(drawdown=A3_DRAWN, principal=300_000_000, borrower_n=4)
    with world.session() as s:
        cancel_loan(s, world.actors["BANK1"], gone.id, A3_DRAWN)
    world.register("BANK2", drawdown=A3_DRAWN, principal=700_000_000, borrower_n=5)  # BANK2 gz-2023
    world.register("BANK2", drawdown=A3_APPROVED + dt.timedelta(days=1), principal=200_000_000, borrower_n=6)  # the day after

    every = {(bank1, "gz-2020"): 400_000_000, (bank1, "gz-2023"): 1_600_000_000, (bank2, "gz-2023"): 700_000_000}
    with world.session() as s:
        assert claims_service.in_pool_lending_by(s, A3_APPROVED) == every
        assert claims_service.in_pool_lending_by(s, A3_APPROVED, bank_id=bank1) == {k: v for k, v in every.items() if k[0] == bank1}
        assert claims_service.in_pool_lending_by(s, A3_APPROVED, policy_id="gz-2023") == {
            k: v for k, v in every.items() if k[1] == "gz-2023"}
        assert claims_service.in_pool_lending_by(s, A3_APPROVED, bank_id=bank2, policy_id="gz-2023") == {(bank2, "gz-2023"): 700_000_000}
        assert claims_service.in_pool_lending(s, bank1, "gz-2023", A3_APPROVED) == 1_600_000_000
        assert claims_service.in_pool_lending(s, bank2, "gz-2023", A3_APPROVED + dt.timedelta(days=1)) == 900_000_000
        assert claims_service.in_pool_lending(s, bank2, "gz-2020", A3_APPROVED) == 0
        assert claims_service.in_pool_lending(s, bank1, "gz-2023", A3_DRAWN - dt.timedelta(days=1)) == 0


# ---------------------------------------------------------------------------------------------
# The approval step's refusals and note (A1 at approval; G2)
# ---------------------------------------------------------------------------------------------


def test_approval_keeps_its_note_and_refuses_by_name_a_loss_above_the_outstanding_or_a_scheme_the_policy_lacks(world):
    """A1 at approval: while ``L`` exceeds the outstanding principal the approval is refused, naming the
    claim, both amounts and the approval date; a loan whose scheme its claim's policy does not have is
    refused as ``unknown_scheme`` (planted: registration never lets one in); neither refusal changes the
    claim. The approval's note is kept on its step (stripped)."""
    loan = world.register(drawdown=DRAWDOWN, principal=1_000_000_000)
    claim = world.file(loan.id, 900_000_000, OPENS)
    world.repay("BANK1", loan.id, D(2027, 1, 15), D(2026, 6, 1), 200_000_000)
    with pytest.raises(DomainError) as refused:
        world.approve(claim.id, D(2026, 6, 2))
    assert (refused.value.code, refused.value.field, refused.value.message) == (
        "loss_exceeds_outstanding", "loss_fen",
        f"claim {claim.id}: loss 900000000 exceeds the outstanding principal 800000000 on 2026-06-02; the bank must lower it first")
    world.lower(claim.id, 800_000_000, D(2026, 6, 2))

    _l_sql(world, "UPDATE loans SET scheme_code = '5311' WHERE id = :l", l=loan.id)  # gz-2023 has scheme 50 only
    with pytest.raises(DomainError) as refused:
        world.approve(claim.id, D(2026, 6, 3))
    assert (refused.value.code, refused.value.field, refused.value.message) == (
        "unknown_scheme", "scheme_code", "policy gz-2023 has no scheme '5311'")
    assert world.show(claim.id)["status"] == "filed"

    _l_sql(world, "UPDATE loans SET scheme_code = '50' WHERE id = :l", l=loan.id)
    with world.session() as s:
        claims_service.approve_claim(s, world.fm, claim.id, D(2026, 6, 3), note="  evidence read ")
    assert _event_notes(world, claim.id)[-1] == ("approved", "evidence read")


# ---------------------------------------------------------------------------------------------
# Rule L for claims: every recovery of a claim is checked, after one the fund has no part of and
# after one with no entry
# ---------------------------------------------------------------------------------------------


def test_the_claims_check_goes_on_past_a_recovery_without_a_fund_part_and_past_one_without_an_entry(world):
    """A5 with rule L: a net of 1 fen on a 300M loss gives the fund (half of it) 0 and needs no entry; the
    next recovery's entry is still matched. With a recovery's entry removed, the check names that
    recovery and its orphaned entry, and still matches the later recoveries of the same claim."""
    claim = _l_approved(world)
    nothing = world.recover(claim.id, 1, 0, D(2022, 8, 1))
    assert (nothing.fund_fen, nothing.entry_id) == (0, None)
    first = world.recover(claim.id, 40_000_000, 0, D(2022, 8, 2))
    second = world.recover(claim.id, 40_000_000, 0, D(2022, 8, 3))
    assert first.fund_fen > 0 and second.fund_fen > 0 and _claims_check(world) == []
    _l_sql(world, "UPDATE claim_recoveries SET entry_id = NULL WHERE id = :r", r=first.id)
    assert _claims_check(world) == [
        ("claim_postings", f"recovery {first.id} of claim {claim.id} gives the fund {first.fund_fen} and has no recovery entry", None),
        ("claim_postings", f"recovery entry of claim {claim.id} matches no recorded recovery", first.entry_id),
    ]


# ---------------------------------------------------------------------------------------------
# The claims list's page: 100 claims by default (the API's default page size)
# ---------------------------------------------------------------------------------------------


def _128_claims(world: World):
    """128 claims on one loan, planted by copying a withdrawn claim's row (the workflow would take minutes for
    as many): the loan and the claims' ids in order."""
    from sqlalchemy import text

    from fund.adapters.models.claims import Claim

    loan = world.register(drawdown=DRAWDOWN)
    world.withdraw(world.file(loan.id, 100_000_000, OPENS).id, OPENS)
    columns = ", ".join(c.name for c in Claim.__table__.columns if c.name != "id")
    for _ in range(7):  # 1, 2, 4, ..., 128 rows
        _l_sql(world, f"INSERT INTO claims ({columns}) SELECT {columns} FROM claims")
    with world.session() as s:
        every = list(s.scalars(text("SELECT id FROM claims ORDER BY id")))
    assert len(every) == 128
    return loan, every


def test_the_claims_list_gives_a_page_of_100_by_default(world):
    """The claims list the console's loan page reads without a limit holds a page of 100 claims, as the
    API's page does by default; the rest follow after the last id."""
    _, every = _128_claims(world)
    with world.session() as s:
        first = [c.id for c in claims_service.list_claims(s, world.fm)]
        rest = [c.id for c in claims_service.list_claims(s, world.fm, after_id=first[-1])]
    assert first == every[:100] and rest == every[100:]


def test_the_use_cases_page_of_claims_and_a_loans_claims_hold_100_by_default(world):
    """The use cases' page of claims and a loan's claims (what the CLI and the API call) hold 100 claims when
    no limit is given, the API's default page and the CLI's default ``--limit``."""
    loan, every = _128_claims(world)
    assert [c["id"] for c in claims_service.claims_page(world.session_factory, world.fm, detail=False)] == every[:100]
    assert [c["id"] for c in claims_service.claims_of_loan(world.session_factory, world.fm, loan.id)] == every[:100]


def test_an_approval_measures_the_room_after_another_approval_committed_meanwhile(world, backend):
    """A3: two approvals never use the same room, even when they arrive together. A transaction that read
    the bank's cap usage row before another approval committed still measures its room after that
    approval: the row is read again under its lock. (PostgreSQL only: on SQLite a writer holds the database
    lock from BEGIN IMMEDIATE, so no other approval can commit in between.)"""
    if backend != "postgresql":
        pytest.skip("SQLite serialises whole transactions: no approval can commit inside another")
    from fund.adapters.models.claims import BankCapUsage

    bank = world.actors["BANK1"].institution_id
    first, second = (world.file(world.register(drawdown=DRAWDOWN, borrower_n=n).id, 160_000_000, OPENS) for n in (1, 2))
    _l_sql(world, "INSERT INTO bank_cap_usage (bank_id, policy_id, year, used_fen) VALUES (:b, 'gz-2023', 2026, 0)", b=bank)
    with world.session() as s:  # lending 2e9, cap 100M; each claim's fund share is 80M
        seen = s.get(BankCapUsage, (bank, "gz-2023", 2026))  # kept: the session's identity map holds it weakly
        assert seen.used_fen == 0
        world.approve(first.id, OPENS)  # another transaction: 80M of the room used, committed
        claims_service.approve_claim(s, world.fm, second.id, OPENS)
        assert seen.used_fen == 100_000_000  # 80M and the 20M left: the cap, used in full
    cap = world.show(second.id)["cap"]
    assert (cap["cap_fen"], cap["already_used_fen"], cap["room_fen"], cap["cut_fen"]) == (100_000_000, 80_000_000, 20_000_000, 60_000_000)
    assert world.violations() == []


def test_a_decision_reads_the_claim_again_under_its_lock(world, backend):
    """Rule A's steps from the claim's status as it stands: a transaction that read a filed claim before
    the bank withdrew it (committed meanwhile) cannot approve it; it sees the withdrawal under the claim's
    lock. (PostgreSQL only, for the reason above.)"""
    if backend != "postgresql":
        pytest.skip("SQLite serialises whole transactions: no withdrawal can commit inside another")
    claim = world.file(world.register(drawdown=DRAWDOWN).id, 100_000_000, OPENS)
    with world.session() as s:
        seen = claims_service.claim_for(s, world.fm, claim.id)  # kept: the session's identity map holds it weakly
        assert seen.status == "filed"
        world.withdraw(claim.id, OPENS)  # another transaction, committed
        with pytest.raises(DomainError) as refused:
            claims_service.approve_claim(s, world.fm, claim.id, OPENS)
        assert (refused.value.code, seen.status) == ("invalid_claim_status", "withdrawn")
    assert world.show(claim.id)["status"] == "withdrawn"


# ---------------------------------------------------------------------------------------------
# The use cases the CLI and the API call: each step as of the business date, on the loan's own claim
# ---------------------------------------------------------------------------------------------


def _as_of(world: World, monkeypatch, day: dt.date) -> None:
    """The business date as ``ipfund business-date set`` stores it in the database (no configured one)."""
    from fund.services.common import BUSINESS_DATE_KEY, set_setting
    from fund.settings import reset_settings_cache

    monkeypatch.delenv("IPFUND_BUSINESS_DATE", raising=False)
    reset_settings_cache()
    with world.session() as s:
        set_setting(s, BUSINESS_DATE_KEY, day.isoformat())


def test_the_use_cases_take_each_step_as_of_the_business_date_on_the_loans_own_claim(world, monkeypatch):
    """Section 4 through the use cases (one transaction each, dated by the business date stored in the
    database): filing, lowering, approving with a note, two recoveries (costs 0 when not given), closing with
    a note; withdrawing with a note and rejecting with a reason on another loan. Given a loan, each step and the document refuse a
    claim that is not that loan's (``claim_not_found``); the loan's claims are listed oldest first, and the
    page of claims filters and leaves out events and recoveries when asked for the summary."""
    from fund.errors import NotFound

    db, bank, fm = world.session_factory, world.actors["BANK1"], world.fm
    world.appropriate(1_000_000_000, L_DRAWDOWN)
    loan = world.register(drawdown=L_DRAWDOWN, scheme="55", borrower_n=1)
    other = world.register(drawdown=L_DRAWDOWN, scheme="55", borrower_n=2)

    _as_of(world, monkeypatch, L_FILED)
    doc = claims_service.file(db, bank, loan.id, 300_000_000)
    cid = doc["id"]
    assert (doc["status"], doc["loan_id"], doc["loss_fen"], doc["filed_on"], doc["filed_by"]) == ("filed", loan.id, 300_000_000, L_FILED, "BANK1")
    steps = {
        "lower": lambda: claims_service.lower(db, bank, cid, 200_000_000, loan_id=other.id),
        "withdraw": lambda: claims_service.withdraw(db, bank, cid, loan_id=other.id),
        "approve": lambda: claims_service.approve(db, fm, cid, loan_id=other.id),
        "reject": lambda: claims_service.reject(db, fm, cid, "no", loan_id=other.id),
        "show": lambda: claims_service.show(db, fm, cid, loan_id=other.id),
    }
    for name, step in steps.items():
        with pytest.raises(NotFound) as refused:
            step()
        assert (name, refused.value.code, refused.value.field, refused.value.message) == (
            name, "claim_not_found", "claim_id", f"loan {other.id} has no claim {cid}")

    _as_of(world, monkeypatch, D(2022, 6, 2))
    doc = claims_service.lower(db, bank, cid, 200_000_000, loan_id=loan.id)
    assert (doc["loss_fen"], doc["events"][-1]["business_date"], doc["events"][-1]["note"]) == (
        200_000_000, D(2022, 6, 2), "loss 300000000 -> 200000000 fen")
    _as_of(world, monkeypatch, D(2022, 6, 3))
    doc = claims_service.approve(db, fm, cid, note=" evidence read ", loan_id=loan.id)
    assert (doc["status"], doc["decided_on"], doc["decided_by"], doc["allocation"]["fund_fen"], doc["payment"]["paid_fen"]) == (
        "approved", D(2022, 6, 3), "FM", 100_000_000, 100_000_000)
    assert (doc["events"][-1]["event"], doc["events"][-1]["business_date"], doc["events"][-1]["note"]) == (
        "approved", D(2022, 6, 3), "evidence read")
    for step in (lambda: claims_service.recover(db, bank, cid, 1, loan_id=other.id),
                 lambda: claims_service.close(db, bank, cid, loan_id=other.id)):
        with pytest.raises(NotFound) as refused:
            step()
        assert (refused.value.code, refused.value.message) == ("claim_not_found", f"loan {other.id} has no claim {cid}")

    _as_of(world, monkeypatch, D(2022, 8, 1))
    posted = claims_service.recover(db, bank, cid, 40_000_000, 1_000_000, loan_id=loan.id)
    assert {k: posted.recovery[k] for k in ("business_date", "reported_by", "gross_fen", "costs_fen", "net_fen", "fund_fen", "bank_fen")} == {
        "business_date": D(2022, 8, 1), "reported_by": "BANK1", "gross_fen": 40_000_000, "costs_fen": 1_000_000,
        "net_fen": 39_000_000, "fund_fen": 19_500_000, "bank_fen": 19_500_000}
    assert posted.claim["recovered"]["net_fen"] == 39_000_000 and posted.claim["recoveries"][-1] == posted.recovery
    second = claims_service.recover(db, bank, cid, 2_000_000)
    assert (second.recovery["costs_fen"], second.recovery["net_fen"], second.claim["recovered"]["net_fen"]) == (0, 2_000_000, 41_000_000)
    assert [r["id"] for r in second.claim["recoveries"]] == [posted.recovery["id"], second.recovery["id"]]

    _as_of(world, monkeypatch, D(2022, 9, 1))
    doc = claims_service.close(db, bank, cid, note=" recovery finished ", loan_id=loan.id)
    assert (doc["status"], doc["closed_on"], doc["closed_by"], doc["events"][-1]["note"]) == ("closed", D(2022, 9, 1), "BANK1", "recovery finished")
    assert claims_service.show(db, fm, cid, loan_id=loan.id) == claims_service.show(db, bank, cid) == doc

    withdrawn = claims_service.file(db, bank, other.id, 100_000_000)["id"]
    doc = claims_service.withdraw(db, bank, withdrawn, note=" filed in error ", loan_id=other.id)
    assert (doc["status"], doc["events"][-1]["business_date"], doc["events"][-1]["note"]) == ("withdrawn", D(2022, 9, 1), "filed in error")
    rejected = claims_service.file(db, bank, other.id, 100_000_000)["id"]
    doc = claims_service.reject(db, fm, rejected, "evidence missing", loan_id=other.id)
    assert (doc["status"], doc["reject_reason"], doc["decided_on"]) == ("rejected", "evidence missing", D(2022, 9, 1))

    assert [c["id"] for c in claims_service.claims_of_loan(db, bank, other.id)] == [withdrawn, rejected]
    assert [c["id"] for c in claims_service.claims_of_loan(db, bank, other.id, limit=1)] == [withdrawn]
    with pytest.raises(NotFound) as refused:
        claims_service.claims_of_loan(db, world.actors["BANK2"], other.id)
    assert refused.value.code == "loan_not_found"
    page = claims_service.claims_page(db, fm)
    assert [c["id"] for c in page] == [cid, withdrawn, rejected]
    assert [c["id"] for c in claims_service.claims_page(db, fm, status="rejected")] == [rejected]
    assert [c["id"] for c in claims_service.claims_page(db, fm, loan_id=other.id, after_id=withdrawn)] == [rejected]
    assert [c["id"] for c in claims_service.claims_page(db, fm, loan_id=loan.id)] == [cid]   # claims_page_10, _18
    assert [c["id"] for c in claims_service.claims_page(db, fm, bank_code="BANK1", limit=2)] == [cid, withdrawn]
    assert claims_service.claims_page(db, fm, bank_code="BANK2") == []
    summary = claims_service.claims_page(db, fm, status="closed", detail=False)
    assert [c["id"] for c in summary] == [cid] and "events" not in summary[0] and "recoveries" not in summary[0]
    assert claims_service.claims_page(db, fm, status="closed")[0] == claims_service.show(db, fm, cid)
    assert claims_service.claims_page(db, fm, updated_since=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)) == []


def test_a_claim_window_holds_both_its_ends_and_no_window_holds_nothing():
    """A1: ``claim_overdue_days <= d - m <= claim_overdue_days + claim_window_days``, both ends included (gz-2023:
    from 90 to 455 days after ``m``); without an unpaid installment, or under a policy taking no claims, there is
    no window and no day is in it."""
    due = D(2026, 2, 15)
    window = claims_service.ClaimWindow(due, 100, due + dt.timedelta(days=90), due + dt.timedelta(days=455))
    inside = [window.contains(due + dt.timedelta(days=n)) for n in (89, 90, 91, 454, 455, 456)]
    assert inside == [False, True, True, True, True, False]
    assert not claims_service.ClaimWindow(due, None, None, None).contains(due + dt.timedelta(days=90))


def _row_free(world: World, table: str, row_id: int) -> bool:
    """Whether another transaction can lock the row now (PostgreSQL's ``FOR UPDATE NOWAIT``)."""
    from sqlalchemy import exc, text

    other = world.session_factory()
    try:
        other.execute(text(f"SELECT id FROM {table} WHERE id = :r FOR UPDATE NOWAIT"), {"r": row_id})
        return True
    except exc.OperationalError:
        return False
    finally:
        other.rollback()
        other.close()


def test_a_loans_claim_is_locked_only_when_asked(world, backend):
    """The locks of the module's docstring are taken by the steps that change a claim: reading a loan's claim
    (``claim_of_loan``, what ``show`` and the use cases' loan check call) leaves its row free for another
    transaction's ``FOR UPDATE``; asked to lock, it holds it. (PostgreSQL only: SQLite takes no row locks.)"""
    if backend != "postgresql":
        pytest.skip("SQLite takes no row locks: a writer holds the whole database from BEGIN IMMEDIATE")
    loan = world.register(drawdown=DRAWDOWN)
    claim = world.file(loan.id, 100_000_000, OPENS)

    def free_for_another_transaction() -> bool:
        return _row_free(world, "claims", claim.id)

    with world.session() as s:
        assert claims_service.claim_of_loan(s, world.fm, loan.id, claim.id).id == claim.id
        assert free_for_another_transaction()
        assert claims_service.claim_for(s, world.fm, claim.id).id == claim.id  # what the documents read
        assert free_for_another_transaction()
    with world.session() as s:
        assert claims_service.claim_of_loan(s, world.fm, loan.id, claim.id, lock=True).id == claim.id
        assert not free_for_another_transaction()
    assert free_for_another_transaction()


def test_the_claims_check_and_the_document_go_by_id_whatever_order_the_database_stores_rows_in(world, backend):
    """Rule L's findings come claim by claim, deferral by deferral and recovery by recovery in id order, and a
    claim's document lists its steps and recoveries in the order they were taken (G2), however the database
    happens to store the rows: on PostgreSQL an updated row is written anew, after the others, so a query
    without ``ORDER BY`` returns it last. (PostgreSQL only: SQLite stores these tables in id order, so any scan
    returns them in that order.)"""
    if backend != "postgresql":
        pytest.skip("SQLite stores a table in id order: a scan without ORDER BY is already in id order")
    from fund.adapters.models.ledger import Deferral

    first, second = _l_approved(world, 1), _l_approved(world, 2)  # fund 150M each, all deferred
    one = world.recover(first.id, 40_000_000, 0, D(2022, 8, 1))  # the fund's part 20M
    two = world.recover(first.id, 20_000_000, 0, D(2022, 8, 2))  # 10M
    assert _claims_check(world) == []

    # The document: the first step and the first recovery written again with their own ids (stored last, and
    # last in their claim's index too), still listed first.
    _l_sql(world, "WITH gone AS (DELETE FROM claim_events WHERE id = (SELECT min(id) FROM claim_events WHERE claim_id = :c) "
                  "RETURNING *) INSERT INTO claim_events SELECT * FROM gone", c=first.id)
    _l_sql(world, "WITH gone AS (DELETE FROM claim_recoveries WHERE id = :r RETURNING *) INSERT INTO claim_recoveries SELECT * FROM gone",
           r=one.id)
    doc = world.show(first.id)
    assert [e["event"] for e in doc["events"]] == ["filed", "approved", "recovery", "recovery"]
    assert [r["id"] for r in doc["recoveries"]] == [one.id, two.id]

    # Claims: each records the other's approval entry (the second claim's row rewritten first).
    for claim, other in ((second, first), (first, second)):
        _l_sql(world, "UPDATE claims SET approval_entry_id = :e WHERE id = :c", e=other.approval_entry_id, c=claim.id)
    assert _claims_check(world) == [
        ("claim_postings", f"claim {first.id} records approval entry {second.approval_entry_id}", first.approval_entry_id),
        ("claim_postings", f"claim {second.id} records approval entry {first.approval_entry_id}", second.approval_entry_id),
    ]
    for claim in (second, first):
        _l_sql(world, "UPDATE claims SET approval_entry_id = :e WHERE id = :c", e=claim.approval_entry_id, c=claim.id)

    # Deferrals: a second deferral of 1 fen planted on the first claim, then its own deferral rewritten.
    own = _l_one(world, Deferral, ref_type="claim", ref_id=first.id)
    _l_sql(world, "INSERT INTO deferrals (pool, ref_type, ref_id, policy_id, amount_fen, settled_fen, entry_id, business_date) "
                  "SELECT pool, ref_type, ref_id, policy_id, 1, 0, entry_id, business_date FROM deferrals WHERE id = :d", d=own.id)
    _l_sql(world, "UPDATE deferrals SET amount_fen = amount_fen WHERE id = :d", d=own.id)
    assert _claims_check(world) == [
        ("claim_postings", f"claim {first.id} deferred 150000000 at approval; its deferrals are [150000000, 1]", first.approval_entry_id)]
    _l_sql(world, "DELETE FROM deferrals WHERE ref_type = 'claim' AND ref_id = :c AND id <> :d", c=first.id, d=own.id)

    # Recoveries: both of the first claim's lose their entry (the second's row rewritten first).
    for recovery in (two, one):
        _l_sql(world, "UPDATE claim_recoveries SET entry_id = NULL WHERE id = :r", r=recovery.id)
    assert _claims_check(world) == [
        ("claim_postings", f"recovery {one.id} of claim {first.id} gives the fund 20000000 and has no recovery entry", None),
        ("claim_postings", f"recovery {two.id} of claim {first.id} gives the fund 10000000 and has no recovery entry", None),
        ("claim_postings", f"recovery entry of claim {first.id} matches no recorded recovery", one.entry_id),
        ("claim_postings", f"recovery entry of claim {first.id} matches no recorded recovery", two.entry_id),
    ]


def test_an_approval_posts_in_the_managers_name_and_its_step_and_suspension_say_so(world):
    """A4 with G2: the approval's payment is one ``claim_approval`` entry posted in the fund manager's name
    with its memo, the approval step points at that entry, the claim keeps the loan's insurance limit as
    approved (A2's input), and B2's suspension that this approval triggers is audited as the fund manager's
    (gz-2023: line 300 bp of BANK1's in-pool lending 1e9 is 30M; the approved base 100M exceeds it)."""
    from sqlalchemy import select

    from fund.adapters.models.people import AuditRecord
    from fund.services import ledger

    world.appropriate(1_000_000_000, DRAWDOWN)
    loan = world.register(drawdown=DRAWDOWN, principal=1_000_000_000, insurer_code="INS1", insurer_limit_fen=70_000_000)
    claim = world.approve(world.file(loan.id, 100_000_000, OPENS).id, OPENS)
    fm = world.fm.institution_id
    assert claim.approval_entry_id is not None
    with world.session() as s:
        (line,) = ledger.journal(s, cause="claim_approval", ref_type="claim", ref_id=claim.id)
        assert (line.id, line.actor_id, line.memo) == (claim.approval_entry_id, fm, f"claim {claim.id} on loan {loan.id}")
        audits = [(a.action, a.institution_id, a.business_date) for a in s.scalars(select(AuditRecord).where(AuditRecord.action == "bank.suspend"))]
    assert audits == [("bank.suspend", fm, OPENS)]
    doc = world.show(claim.id)
    assert doc["allocation"]["insurer_limit_fen"] == 70_000_000
    assert [(e["event"], e["entry_id"]) for e in doc["events"]] == [("filed", None), ("approved", claim.approval_entry_id)]


def test_a_step_locks_its_claim_and_only_a_step_that_moves_the_loan_locks_the_loan(world, backend):
    """The module's locks: every step locks its claim row first, and its loan row too when the step moves the
    loan (approval, withdrawal, rejection, closing), before reading it (the approval's outstanding principal);
    lowering the loss leaves the loan free. (PostgreSQL only: SQLite takes no row locks.)"""
    if backend != "postgresql":
        pytest.skip("SQLite takes no row locks: a writer holds the whole database from BEGIN IMMEDIATE")
    loan = world.register(drawdown=DRAWDOWN)
    claim = world.file(loan.id, 100_000_000, OPENS)
    with world.session() as s:  # the skeleton of an approval, opened: nothing written yet
        claims_service._open(s, world.fm, claim.id, claims_service._authorise(world.fm, "approved"), OPENS)
        assert (_row_free(world, "claims", claim.id), _row_free(world, "loans", loan.id)) == (False, False)
    with world.session() as s:
        claims_service.lower_loss(s, world.actors["BANK1"], claim.id, 90_000_000, OPENS)
        assert (_row_free(world, "claims", claim.id), _row_free(world, "loans", loan.id)) == (False, True)


def test_a_step_refused_for_the_claims_status_names_the_claim(world):
    """Rule A's steps from their one status: a step the claim's status does not allow is refused
    ``invalid_claim_status``, naming the claim, its status and the status the step needs."""
    claim = world.file(world.register(drawdown=DRAWDOWN).id, 100_000_000, OPENS)
    world.withdraw(claim.id, OPENS)
    for step, verb in ((lambda: world.withdraw(claim.id, OPENS), "withdrawn"), (lambda: world.approve(claim.id, OPENS), "approved"),
                       (lambda: world.close(claim.id, OPENS), None)):
        with pytest.raises(DomainError) as refused:
            step()
        needs = "approved claim can be closed" if verb is None else f"filed claim can be {verb}"
        assert (refused.value.code, refused.value.field, refused.value.message) == (
            "invalid_claim_status", "claim_id", f"claim {claim.id} is withdrawn: only a {needs}")


def test_a_claim_not_found_is_named_and_an_actor_of_no_reading_kind_sees_no_claim(world):
    """A claim the actor may not see is ``claim_not_found`` on ``claim_id``, naming the number asked for; an
    actor of a kind the claims' readers do not include (a bank, a party to the loan, the fund manager,
    an auditor) sees no claim at all, in the list or by number."""
    from fund.errors import NotFound
    from fund.services.registry import Actor

    claim = world.file(world.register(drawdown=DRAWDOWN).id, 100_000_000, OPENS)
    stranger = Actor(world.fm.institution_id, "FM", "clerk")
    for actor, claim_id in ((world.fm, claim.id + 1), (world.actors["BANK2"], claim.id), (stranger, claim.id)):
        with world.session() as s, pytest.raises(NotFound) as refused:
            claims_service.claim_for(s, actor, claim_id)
        assert (refused.value.code, refused.value.field, refused.value.message) == ("claim_not_found", "claim_id", f"no claim {claim_id}")
    with world.session() as s:
        assert claims_service.list_claims(s, stranger) == []
        assert [c.id for c in claims_service.list_claims(s, world.fm)] == [claim.id]


def test_each_claim_step_that_moves_the_loan_is_the_loans_event_by_whoever_took_it(world):
    """G2 on the loan's trail: filing moves the loan in the bank's name, the approval in the fund manager's,
    each with its business date and a note naming the claim."""
    from sqlalchemy import select

    from fund.adapters.models.registry import LoanEvent

    loan = world.register(drawdown=DRAWDOWN)
    claim = world.approve(world.file(loan.id, 100_000_000, OPENS).id, D(2026, 5, 20))
    with world.session() as s:
        events = [(e.event, e.actor_id, e.business_date, e.note) for e in
                  s.scalars(select(LoanEvent).where(LoanEvent.loan_id == loan.id).order_by(LoanEvent.id))][-2:]
    assert events == [("claim_filed", world.actors["BANK1"].institution_id, OPENS, f"claim {claim.id}"),
                      ("claim_approved", world.fm.institution_id, D(2026, 5, 20), f"claim {claim.id}")]


def test_a1_refuses_a_claim_with_nothing_unpaid_and_a_policy_without_claims_has_no_window(world):
    """A1: the window runs from the earliest installment not paid in full; a loan with none (every installment
    paid, the loan left ``active`` by SQL: the registry would have made it ``repaid``) is refused
    ``nothing_past_due`` by name; under a policy that takes no claims the window is absent but ``m`` is
    still the earliest unpaid due date."""
    import dataclasses

    from fund.services.policies import get_policy

    loan = world.register(drawdown=D(2026, 1, 15), months=2, principal=100_000_000)
    with world.session() as s:
        policy = get_policy(s, "gz-2023")
        from fund.adapters.models.registry import Loan

        assert claims_service.claim_window(s, s.get(Loan, loan.id), dataclasses.replace(policy, claim_overdue_days=None), OPENS) == (
            claims_service.ClaimWindow(D(2026, 2, 15), None, None, None))
    world.repay("BANK1", loan.id, D(2026, 2, 15), D(2026, 2, 15), 0, 1_000_000)
    world.repay("BANK1", loan.id, D(2026, 3, 15), D(2026, 3, 15), 100_000_000, 1_000_000)
    _l_sql(world, "UPDATE loans SET status = 'active' WHERE id = :l", l=loan.id)
    with pytest.raises(DomainError) as refused:
        world.file(loan.id, 50_000_000, OPENS)
    assert (refused.value.code, refused.value.field, refused.value.message) == (
        "nothing_past_due", "loan_id", f"loan {loan.id} has no unpaid installment on {OPENS}")


def test_a1_refuses_each_claim_it_does_not_take_by_name_and_keeps_the_filings_note(world):
    """A1's refusals, each by code, field and message: a loss of 0 fen, a second live claim, a loan not
    ``active`` or with ``C = 0`` (both planted by SQL), a day before the window opens (89 days after ``m``
    under gz-2023) or after it closes (456 days); the filing's step notes its loss."""
    loan = world.register(drawdown=DRAWDOWN)
    refusals = []

    def refused(loss, day, target=loan.id):
        with pytest.raises(DomainError) as caught:
            world.file(target, loss, day)
        refusals.append((caught.value.code, caught.value.field, caught.value.message))

    refused(0, OPENS)
    refused(100_000_000, D(2026, 5, 15))
    refused(100_000_000, D(2027, 5, 17))
    claim = world.file(loan.id, 100_000_000, OPENS)
    refused(100_000_000, OPENS)
    other = world.register(drawdown=DRAWDOWN, borrower_n=2)
    _l_sql(world, "UPDATE loans SET status = 'repaid' WHERE id = :l", l=other.id)
    refused(100_000_000, OPENS, other.id)
    _l_sql(world, "UPDATE loans SET status = 'active', covered_fen = 0 WHERE id = :l", l=other.id)
    refused(100_000_000, OPENS, other.id)
    assert refusals == [
        ("invalid_amount", "loss_fen", "loss_fen must be >= 1 fen, got 0"),
        ("claim_too_early", "loan_id", f"the earliest unpaid installment of loan {loan.id} fell due on 2026-02-15, 89 days "
         "before 2026-05-15; claims open after 90 days, on 2026-05-16"),
        ("claim_window_closed", "loan_id", f"the earliest unpaid installment of loan {loan.id} fell due on 2026-02-15; "
         "the claim window closed on 2027-05-16"),
        ("claim_exists", "loan_id", f"loan {loan.id} already has claim {claim.id} open"),
        ("loan_not_active", "loan_id", f"loan {other.id} is repaid: claims are filed on active loans only"),
        ("loan_not_covered", "loan_id", f"loan {other.id} has no covered principal (C = 0): it cannot be claimed on"),
    ]
    assert _event_notes(world, claim.id) == [("filed", "loss 100000000 fen")]


def test_a1_takes_claims_only_on_an_eligible_covered_loan_under_a_policy_that_takes_claims(world):
    """A1 (a claim on an ``active`` loan with ``C > 0``) with section 3 (a loan is registered ``eligible``
    under its policy, else its ``C`` is 0) and section 2 (``bj-zgc-2024`` takes no claims): a loan not
    eligible, or under no policy, is refused ``loan_not_covered`` whatever its covered-principal column
    holds; a loan under a policy without claim windows is refused ``policy_takes_no_claims`` by field and
    message; ``C`` of 1 fen is more than 0, so that loan is claimed on. These loans are planted by SQL
    (registration never makes the first two; ``bj-zgc-2024`` cannot be active with ``gz-2023``)."""
    ineligible, no_policy, no_claims, one_fen = (world.register(drawdown=DRAWDOWN, borrower_n=n) for n in (1, 2, 3, 4))
    _l_sql(world, "UPDATE loans SET coverage = 'ineligible' WHERE id = :l", l=ineligible.id)
    _l_sql(world, "UPDATE loans SET policy_id = NULL WHERE id = :l", l=no_policy.id)
    _l_sql(world, "UPDATE loans SET policy_id = 'bj-zgc-2024' WHERE id = :l", l=no_claims.id)
    _l_sql(world, "UPDATE loans SET covered_fen = 1 WHERE id = :l", l=one_fen.id)
    refusals = []
    for loan in (ineligible, no_policy, no_claims):
        with pytest.raises(DomainError) as refused:
            world.file(loan.id, 100_000_000, OPENS)
        refusals.append((refused.value.code, refused.value.field, refused.value.message))
    assert refusals == [
        ("loan_not_covered", "loan_id", f"loan {ineligible.id} has no covered principal (C = 0): it cannot be claimed on"),
        ("loan_not_covered", "loan_id", f"loan {no_policy.id} has no covered principal (C = 0): it cannot be claimed on"),
        ("policy_takes_no_claims", "loan_id", "policy bj-zgc-2024 takes no claims"),
    ]
    claim = world.file(one_fen.id, 100_000_000, OPENS)
    assert (claim.loan_id, claim.status, claim.policy_id) == (one_fen.id, "filed", "gz-2023")


def test_a_filing_locks_its_loan_before_checking_it(world, backend, monkeypatch):
    """A1's one live claim per loan under the module's locks: filing locks the loan row when it first reads
    it, so another transaction cannot take the loan (another filing, a repayment) between the checks of its
    claims, status and window and the filing's own move of the loan; the lock ends with the filing's
    transaction. The filing is observed at its window check. (PostgreSQL only: SQLite takes no row locks.)"""
    if backend != "postgresql":
        pytest.skip("SQLite takes no row locks: a writer holds the whole database from BEGIN IMMEDIATE")
    loan = world.register(drawdown=DRAWDOWN)
    free_at_the_window_check = []
    window = claims_service.claim_window

    def observed(*args, **kwargs):
        free_at_the_window_check.append(_row_free(world, "loans", loan.id))
        return window(*args, **kwargs)

    monkeypatch.setattr(claims_service, "claim_window", observed)
    claim = world.file(loan.id, 100_000_000, OPENS)
    assert (claim.status, free_at_the_window_check) == ("filed", [False])
    assert _row_free(world, "loans", loan.id)


def test_a_decision_reads_the_loan_again_under_its_lock(world, backend):
    """A1 as the loan stands: a transaction that loaded the loan before a repayment committed meanwhile
    cannot approve a loss above what is now outstanding; it sees the repayment under the loan's lock
    (``loan_for(lock=True)`` reads the row again). (PostgreSQL only: SQLite serialises whole transactions.)"""
    from fund.services.registry import loan_for

    if backend != "postgresql":
        pytest.skip("SQLite serialises whole transactions: no repayment can commit inside another")
    loan = world.register(drawdown=DRAWDOWN, principal=100_000_000)
    claim = world.file(loan.id, 100_000_000, OPENS)
    with world.session() as s:
        seen = loan_for(s, world.fm, loan.id)  # kept: the session's identity map holds it weakly
        assert seen.outstanding_fen == 100_000_000
        world.repay("BANK1", loan.id, D(2027, 1, 15), OPENS, 40_000_000)  # another transaction, committed
        with pytest.raises(DomainError) as refused:
            claims_service.approve_claim(s, world.fm, claim.id, OPENS)
        assert (refused.value.code, seen.outstanding_fen) == ("loss_exceeds_outstanding", 60_000_000)
    assert world.show(claim.id)["status"] == "filed"
