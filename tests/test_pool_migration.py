"""Migration 0011 (docs/rules.md section 12, B1): a database from before pool agreements, holding the
demo book, migrates to head with every loan's coverage unchanged: each bank with loans under a
policy gets an agreement dated at its first drawdown under it, so recomputing B1/B2 for every loan
finds no reason."""

from __future__ import annotations

from alembic import command
from sqlalchemy import delete, select

import fund.services.demo as demo
from fund.adapters.db import alembic_config, make_engine, make_session_factory, unit_of_work, upgrade
from fund.adapters.models.pool import PoolAgreement
from fund.adapters.models.registry import Loan
from fund.services.pool import bank_standing


def _coverage(session) -> dict[int, tuple]:
    return {row.id: (row.coverage, tuple(row.ineligible_reasons), row.covered_fen)
            for row in session.scalars(select(Loan).order_by(Loan.id))}


def test_a_database_before_0011_with_the_demo_book_migrates_keeping_every_loans_coverage(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        upgrade(engine)
        factory = make_session_factory(engine)
        demo.load_demo(factory, seed=3, scale=0.03)
        with unit_of_work(factory) as session:
            before = _coverage(session)
            session.execute(delete(PoolAgreement))  # the demo's own agreements: a book from before rule B has none
        assert before and any(c[0] == "eligible" for c in before.values())
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0010")
        upgrade(engine)
        with unit_of_work(factory) as session:
            assert _coverage(session) == before
            agreements = {(a.bank_id, a.policy_id): a.agreed_on for a in session.scalars(select(PoolAgreement))}
            loans = session.execute(select(Loan.bank_id, Loan.policy_id, Loan.drawdown_date).where(Loan.policy_id.is_not(None))).all()
            assert set(agreements) == {(bank, policy) for bank, policy, _ in loans}
            for bank, policy, drawdown in loans:
                assert agreements[(bank, policy)] <= drawdown
                assert bank_standing(session, bank).reasons(policy, drawdown) == ()
            firsts = {}
            for bank, policy, drawdown in loans:
                firsts[(bank, policy)] = min(drawdown, firsts.get((bank, policy), drawdown))
            assert agreements == firsts
    finally:
        engine.dispose()
