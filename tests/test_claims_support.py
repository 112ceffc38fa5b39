"""Helpers for the claims and ledger tests (no tests here): a small world of institutions and
policies, and one transaction per service call, each on its own business date."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fund.adapters.db import unit_of_work
from fund.services import claims as claims_service
from fund.services import ledger
from fund.services.registry import Actor, record_repayment, register_loan
from tests.factories import application, setup_reference


@dataclass
class World:
    """The test institutions on one database; each method is one unit of work."""

    session_factory: object
    actors: dict[str, Actor]

    @classmethod
    def create(cls, session_factory, active=("gz-2020", "gz-2023")) -> "World":
        with unit_of_work(session_factory) as s:
            actors = setup_reference(s, active=active)
        return cls(session_factory, actors)

    @property
    def fm(self) -> Actor:
        return self.actors["FM"]

    def session(self):
        return unit_of_work(self.session_factory)

    def register(self, bank: str = "BANK1", *, on: dt.date | None = None, **kw):
        app = application(**kw)
        with self.session() as s:
            return register_loan(s, self.actors[bank], app, on or app.drawdown_date)

    def repay(self, bank: str, loan_id: int, due: dt.date, paid_on: dt.date, principal: int, interest: int = 0):
        with self.session() as s:
            return record_repayment(s, self.actors[bank], loan_id, due, paid_on, principal, interest, paid_on)

    def appropriate(self, amount: int, on: dt.date, pool: str = "compensation", policy_id: str | None = None):
        with self.session() as s:
            return ledger.record_appropriation(s, self.fm, pool=pool, amount_fen=amount, policy_id=policy_id, business_date=on)

    def file(self, loan_id: int, loss: int, on: dt.date, bank: str = "BANK1"):
        with self.session() as s:
            return claims_service.file_claim(s, self.actors[bank], loan_id, loss, on)

    def approve(self, claim_id: int, on: dt.date):
        with self.session() as s:
            return claims_service.approve_claim(s, self.fm, claim_id, on)

    def reject(self, claim_id: int, reason: str, on: dt.date):
        with self.session() as s:
            return claims_service.reject_claim(s, self.fm, claim_id, reason, on)

    def withdraw(self, claim_id: int, on: dt.date, bank: str = "BANK1"):
        with self.session() as s:
            return claims_service.withdraw_claim(s, self.actors[bank], claim_id, on)

    def lower(self, claim_id: int, loss: int, on: dt.date, bank: str = "BANK1"):
        with self.session() as s:
            return claims_service.lower_loss(s, self.actors[bank], claim_id, loss, on)

    def recover(self, claim_id: int, gross: int, costs: int, on: dt.date, bank: str = "BANK1"):
        with self.session() as s:
            return claims_service.record_recovery(s, self.actors[bank], claim_id, gross, costs, on)

    def close(self, claim_id: int, on: dt.date, bank: str = "BANK1"):
        with self.session() as s:
            return claims_service.close_claim(s, self.actors[bank], claim_id, on)

    def show(self, claim_id: int, as_: str = "FM") -> dict:
        with self.session() as s:
            return claims_service.claim_document(s, claims_service.claim_for(s, self.actors[as_], claim_id))

    def pool(self, pool: str = "compensation") -> ledger.PoolBalance:
        with self.session() as s:
            return ledger.pool_balance(s, pool)

    def violations(self) -> list[ledger.Violation]:
        with self.session() as s:
            return ledger.check_ledger(s)

    def loan_status(self, loan_id: int) -> str:
        from fund.adapters.models.registry import Loan

        with self.session() as s:
            return s.get(Loan, loan_id).status
