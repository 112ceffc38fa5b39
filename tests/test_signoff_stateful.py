"""Rule G1 and G2 as a state machine (docs/rules.md section 11), on both backends: people make,
sign off (one at a time and two at once), decline and withdraw proposals in any order. After every
step: nothing executed without two different people (or, for an approval below the threshold, one),
each proposal executed at most once and exactly when the model says, one audit record for every step
and every refusal, the ledger check empty."""

from __future__ import annotations

import itertools
import threading
import uuid

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select

from fund.adapters.db import unit_of_work
from fund.adapters.models.ledger import JournalEntry
from fund.adapters.models.people import AuditRecord, Proposal
from fund.errors import DomainError
from fund.services import ledger, proposals
from tests.factories import setup_reference
from tests.people_support import add_staff, fast_passwords  # noqa: F401

pytestmark = pytest.mark.usefixtures("fast_passwords")
THRESHOLD = 500  # single_signoff_below_fen of the test kind's policy
PEOPLE = {
    "off1": ("FM", ("officer",)), "off2": ("FM", ("officer",)), "both": ("FM", ("approver", "officer")),
    "app1": ("FM", ("approver",)), "app2": ("FM", ("approver",)), "bank": ("BANK1", ("staff",)),
}


def _grant(session, actor, params, today):
    """The test kind's executor: an inflow to the compensation pool, named by the proposal's token."""
    ledger.appropriate(session, pool="compensation", amount_fen=params["amount_fen"], policy_id=None, business_date=today,
                       memo=params["token"])
    return {"amount_fen": params["amount_fen"]}


GRANT = proposals.ProposalKind(
    "test_grant", "a grant (test)", lambda p: {"amount_fen": int(p["amount_fen"]), "token": str(p["token"])},
    lambda p: f"grant:{p['token']}", _grant, fund_share=lambda f: f["amount_fen"], policy_of=lambda s, p: "test-policy",
)
REJECT = proposals.ProposalKind(  # a rejection: always two people, whatever the amount
    "test_rejection", "a rejection (test)", lambda p: {"token": str(p["token"])}, lambda p: f"grant:{p['token']}",
    lambda s, a, p, d: {"rejected": True}, fund_share=lambda f: 0, policy_of=lambda s, p: "test-policy", is_rejection=True,
)


def _outcome(call) -> str:
    try:
        return call().status
    except DomainError as exc:
        return exc.code


class SignOff(RuleBasedStateMachine):
    db = None
    staff = None

    def __init__(self):
        super().__init__()
        self.model: dict[int, dict] = {}
        self.entries_checked = -1
        with unit_of_work(self.db) as s:
            self.audit_count = s.scalar(select(func.count()).select_from(AuditRecord))

    made = Bundle("proposals")

    def _expect_records(self, calls: int) -> None:
        with unit_of_work(self.db) as s:
            now = s.scalar(select(func.count()).select_from(AuditRecord))
        assert now - self.audit_count == calls, f"{now - self.audit_count} audit records for {calls} calls"
        self.audit_count = now

    def _sign_expectation(self, p: dict, who: str) -> str:
        roles = PEOPLE[who][1]
        if PEOPLE[who][0] != "FM":
            return "forbidden"
        if p["status"] != "open":
            return "proposal_not_open"
        if who == p["maker"]:
            single = p["kind"] == "test_grant" and p["amount"] < THRESHOLD
            return "executed" if single and ("officer" in roles or "approver" in roles) else "same_person"
        return "executed" if "approver" in roles else "not_an_approver"

    @rule(target=made, maker=st.sampled_from(sorted(PEOPLE)), amount=st.sampled_from([100, 499, 500, 10_000]),
          rejection=st.booleans())
    def propose(self, maker, amount, rejection):
        token = uuid.uuid4().hex[:12]
        kind = "test_rejection" if rejection else "test_grant"
        params = {"token": token} if rejection else {"amount_fen": amount, "token": token}
        expected = "forbidden" if PEOPLE[maker][0] != "FM" else ("open" if "officer" in PEOPLE[maker][1] else "not_an_officer")
        try:
            view = proposals.propose(self.db, self.staff[maker], kind, params)
        except DomainError as exc:
            assert exc.code == expected
            self._expect_records(1)
            return None
        assert expected == "open"
        self.model[view.id] = {"maker": maker, "kind": kind, "amount": amount, "token": token, "status": "open", "signer": None}
        self._expect_records(1)
        return view.id

    @rule(pid=made, who=st.sampled_from(sorted(PEOPLE)))
    def sign_off(self, pid, who):
        if pid is None:
            return
        p = self.model[pid]
        expected = self._sign_expectation(p, who)
        assert _outcome(lambda: proposals.sign_off(self.db, self.staff[who], pid)) == expected
        if expected == "executed":
            p["status"], p["signer"] = "executed", who
        self._expect_records(1)

    @rule(pid=made, pair=st.sampled_from(list(itertools.permutations(sorted(PEOPLE), 2))))
    def two_sign_offs_at_once(self, pid, pair):
        if pid is None:
            return
        p = self.model[pid]
        results: dict[str, str] = {}
        barrier = threading.Barrier(2)

        def sign(who):
            barrier.wait(timeout=30)
            results[who] = _outcome(lambda: proposals.sign_off(self.db, self.staff[who], pid))

        threads = [threading.Thread(target=sign, args=(who,)) for who in pair]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        executed = [who for who, outcome in results.items() if outcome == "executed"]
        assert len(executed) <= 1
        allowed = {who for who in pair if self._sign_expectation(p, who) == "executed"}
        assert set(executed) <= allowed and (bool(executed) == bool(allowed))
        for who in pair:  # the other saw it executed already, or was refused for its own reason
            if who not in executed:
                assert results[who] in ("proposal_not_open", self._sign_expectation(p, who))
        if executed:
            p["status"], p["signer"] = "executed", executed[0]
        self._expect_records(2)

    @rule(pid=made, who=st.sampled_from(sorted(PEOPLE)), reason=st.sampled_from(["", "the figures are wrong"]))
    def decline(self, pid, who, reason):
        if pid is None:
            return
        p = self.model[pid]
        if PEOPLE[who][0] != "FM":
            expected = "forbidden"
        elif not reason:
            expected = "missing_reason"
        elif p["status"] != "open":
            expected = "proposal_not_open"
        elif who == p["maker"]:
            expected = "same_person"
        else:
            expected = "declined" if "approver" in PEOPLE[who][1] else "not_an_approver"
        assert _outcome(lambda: proposals.decline(self.db, self.staff[who], pid, reason)) == expected
        if expected == "declined":
            p["status"] = "declined"
        self._expect_records(1)

    @rule(pid=made, who=st.sampled_from(sorted(PEOPLE)))
    def withdraw(self, pid, who):
        if pid is None:
            return
        p = self.model[pid]
        if PEOPLE[who][0] != "FM":
            expected = "forbidden"
        elif p["status"] != "open":
            expected = "proposal_not_open"
        else:
            expected = "withdrawn" if who == p["maker"] else "not_the_maker"
        assert _outcome(lambda: proposals.withdraw(self.db, self.staff[who], pid)) == expected
        if expected == "withdrawn":
            p["status"] = "withdrawn"
        self._expect_records(1)

    @invariant()
    def stored_as_the_model_says(self):
        ids = {p["maker"]: self.staff[p["maker"]].person_id for p in self.model.values()}
        with unit_of_work(self.db) as s:
            rows = {r.id: r for r in s.scalars(select(Proposal).where(Proposal.id.in_(list(self.model))))} if self.model else {}
            grants = dict(s.execute(select(JournalEntry.memo, func.count()).where(
                JournalEntry.memo.in_([p["token"] for p in self.model.values()])).group_by(JournalEntry.memo)).all())
            entries = s.scalar(select(func.count()).select_from(JournalEntry))
            if entries != self.entries_checked:  # the check runs again whenever the journal changed
                assert ledger.check_ledger(s) == []
                self.entries_checked = entries
        for pid, p in self.model.items():
            row = rows[pid]
            assert row.status == p["status"] and row.proposed_by == ids[p["maker"]]
            if row.status == "executed":
                assert row.decided_by == self.staff[p["signer"]].person_id
                # two different people, or one for an approval below the threshold
                assert row.decided_by != row.proposed_by or (row.single_signoff and p["kind"] == "test_grant" and p["amount"] < THRESHOLD)
            executions = grants.get(p["token"], 0)
            assert executions == (1 if p["kind"] == "test_grant" and row.status == "executed" else 0)


@pytest.mark.db
def test_sign_off_state_machine(session_factory, monkeypatch):
    proposals.register_kind(GRANT)
    proposals.register_kind(REJECT)
    real = proposals._threshold
    monkeypatch.setattr(proposals, "_threshold",
                        lambda session, kind, params: THRESHOLD if kind.name.startswith("test_") else real(session, kind, params))
    with unit_of_work(session_factory) as s:
        setup_reference(s)
        staff = add_staff(s, PEOPLE)
    SignOff.db, SignOff.staff = session_factory, staff
    run_state_machine_as_test(SignOff, settings=settings(
        max_examples=100, stateful_step_count=5, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
