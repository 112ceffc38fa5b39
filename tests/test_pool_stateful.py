"""A hypothesis state machine for rule B and S6 (docs/rules.md sections 12 and 5) on SQLite: random
registrations (by banks in and out of the pool), claims filed and approved (suspending banks at the
300 bp line), suspensions lifted, agreements recorded and fees reported, the business date moving
forward. After every step the ledger check is empty, every loan's B1/B2 reasons are what the model
of agreements and suspension spells says, and a loan's fee subsidies of one kind never pass the cap
nor mix insurance and guarantee."""

from __future__ import annotations

import datetime as dt
import itertools
import shutil

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import select

from fund.adapters.db import make_engine, make_session_factory
from fund.adapters.models.pool import BankSuspension, LoanFee
from fund.adapters.models.registry import Loan
from fund.domain.fees import FEE_KINDS
from fund.errors import DomainError
from fund.services import pool
from fund.services.common import add_institution
from fund.services.fees import FeeIn, record_fee
from fund.services.registry import Actor
from tests.test_claims_support import World

D = dt.date
START = D(2026, 1, 1)
CAP = 5_000_000
_files, _invoices = itertools.count(), itertools.count(1)


class PoolMachine(RuleBasedStateMachine):
    template = None
    workdir = None

    def __init__(self) -> None:
        super().__init__()
        self.path = self.workdir / f"pool-{next(_files)}.sqlite3"
        shutil.copy(self.template, self.path)
        self.engine = make_engine(f"sqlite:///{self.path}")
        self.world = World.create(make_session_factory(self.engine))
        with self.world.session() as s:
            self.world.actors["BANK3"] = Actor.of(add_institution(s, "BANK3", "Third Bank", "bank"))  # not in the pool
        self.today = START
        self.agreed = {"BANK1": D(2023, 7, 13), "BANK2": D(2023, 7, 13)}  # gz-2023 agreements (the factories')
        self.loans: list[dict] = []
        self.claims: list[int] = []

    def teardown(self) -> None:
        self.engine.dispose()
        self.path.unlink(missing_ok=True)

    @initialize()
    def start(self) -> None:
        for n in range(3):
            self.register("BANK1", n, 300_000_000, 250)

    @rule(days=st.integers(1, 60))
    def advance(self, days) -> None:
        self.today = min(self.today + dt.timedelta(days=days), D(2027, 12, 1))

    @rule(bank=st.sampled_from(["BANK1", "BANK2", "BANK3"]), borrower=st.integers(1, 50),
          principal=st.sampled_from([1_000_000, 100_000_000, 300_000_000, 1_000_000_000]), back=st.integers(0, 300))
    def register(self, bank, borrower, principal, back) -> None:
        drawdown = max(self.today - dt.timedelta(days=back), D(2023, 7, 13))
        loan = self.world.register(bank, on=self.today, principal=principal, drawdown=drawdown, borrower_n=borrower)
        self.loans.append({"id": loan.id, "bank": bank, "drawdown": drawdown, "principal": principal})

    @precondition(lambda self: self.loans)
    @rule(pick=st.integers(0, 10**6), share_bp=st.sampled_from([100, 1_000, 5_000, 10_000]))
    def file_and_approve(self, pick, share_bp) -> None:
        loan = self.loans[pick % len(self.loans)]
        try:
            claim = self.world.file(loan["id"], max(1, loan["principal"] * share_bp // 10_000), self.today, loan["bank"])
            self.world.approve(claim.id, self.today)
        except DomainError:
            return
        self.claims.append(claim.id)

    @rule(pick=st.integers(0, 10**6))
    def lift(self, pick) -> None:
        with self.world.session() as s:
            open_ = list(s.scalars(select(BankSuspension.id).where(BankSuspension.lifted_on.is_(None))))
            if open_:
                pool.lift_suspension(s, self.world.fm, open_[pick % len(open_)], "plan accepted", self.today)

    @rule(on_back=st.integers(0, 200))
    def agree_bank3(self, on_back) -> None:
        with self.world.session() as s:
            try:
                pool.record_agreement(s, self.world.fm, "BANK3", "gz-2023", self.today - dt.timedelta(days=on_back), "R", self.today)
            except DomainError as exc:
                assert exc.code == "agreement_exists"
                return
        self.agreed["BANK3"] = self.today - dt.timedelta(days=on_back)

    @precondition(lambda self: self.loans)
    @rule(pick=st.integers(0, 10**6), kind=st.sampled_from(FEE_KINDS), amount=st.integers(1, 8_000_000), back=st.integers(0, 400))
    def fee(self, pick, kind, amount, back) -> None:
        loan = self.loans[pick % len(self.loans)]
        try:
            with self.world.session() as s:
                record_fee(s, self.world.actors[loan["bank"]], loan["id"],
                           FeeIn(kind, amount, self.today - dt.timedelta(days=back), "issuer", f"I-{next(_invoices)}"), self.today)
        except DomainError as exc:
            assert exc.code == "fee_kind_excluded", exc.code

    @invariant()
    def rules_hold(self) -> None:
        with self.world.session() as s:
            assert self.world.violations() == []
            spells: dict[int, list] = {}
            for row in s.scalars(select(BankSuspension)):
                spells.setdefault(row.bank_id, []).append((row.suspended_on, row.lifted_on))
            codes = {a.institution_id: c for c, a in self.world.actors.items()}
            for loan in s.scalars(select(Loan)):
                bank = codes[loan.bank_id]
                agreed = self.agreed.get(bank)
                pool_reasons = [r for r in loan.ineligible_reasons if r in ("bank_not_in_pool", "bank_suspended")]
                if agreed is None or loan.drawdown_date < agreed:
                    # registered before its bank agreed, or never agreed
                    assert pool_reasons == ["bank_not_in_pool"] or bank == "BANK3"
                elif pool_reasons == ["bank_not_in_pool"]:
                    assert bank == "BANK3"  # registered before BANK3's agreement was recorded
                else:
                    covering = [(a, b) for a, b in spells.get(loan.bank_id, []) if a <= loan.drawdown_date and (b is None or loan.drawdown_date < b)]
                    if not covering:
                        assert pool_reasons == []
                    elif any(loan.registered_on > a for a, _ in covering):
                        assert pool_reasons == ["bank_suspended"]
            fees: dict[tuple, list] = {}
            for f in s.scalars(select(LoanFee)):
                fees.setdefault((f.loan_id, f.kind), []).append(f.subsidy_fen)
            for (loan_id, kind), subsidies in fees.items():
                assert sum(subsidies) <= CAP
            kinds_by_loan: dict[int, set] = {}
            for loan_id, kind in fees:
                kinds_by_loan.setdefault(loan_id, set()).add(kind)
            assert all(not {"insurance", "guarantee"} <= k for k in kinds_by_loan.values())
            for row in s.scalars(select(BankSuspension).where(BankSuspension.lifted_on.is_(None))):
                assert row.losses_fen > row.line_fen


def test_pool_and_fees_follow_the_rules(sqlite_template, tmp_path_factory):
    PoolMachine.template = sqlite_template
    PoolMachine.workdir = tmp_path_factory.mktemp("pool-machine")
    run_state_machine_as_test(PoolMachine, settings=settings(
        max_examples=12, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
