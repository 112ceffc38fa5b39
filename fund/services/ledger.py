"""The fund's journal (rule L) and its pools (A4, S5).

Every movement of money is one balanced entry; pools pay what cash covers and defer the rest; every
inflow settles deferrals first-in first-out before adding to cash. The arithmetic of A4 is
``risk.allocation.pay_from_cash`` and ``risk.allocation.settle_inflow``, shared with the simulator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fund.adapters.models.ledger import Account, Deferral, DeferralSettlement, JournalEntry, Posting
from fund.errors import DomainError
from fund.services.common import for_update
from risk.allocation import pay_from_cash, settle_inflow

POOLS = ("compensation", "subsidy")
ACCOUNTS = (
    "pool:compensation:cash",
    "pool:subsidy:cash",
    "equity:appropriations",
    "expense:compensation",
    "expense:subsidy",
    "income:recovery",
    "liability:compensation_deferred",
    "liability:subsidy_deferred",
)


def cash_account(pool: str) -> str:
    _check_pool(pool)
    return f"pool:{pool}:cash"


def deferred_account(pool: str) -> str:
    _check_pool(pool)
    return f"liability:{pool}_deferred"


def expense_account(pool: str) -> str:
    _check_pool(pool)
    return f"expense:{pool}"


def _check_pool(pool: str) -> None:
    if pool not in POOLS:
        raise DomainError("invalid_pool", f"pool must be one of {', '.join(POOLS)}", field="pool")


def ensure_accounts(session: Session) -> None:
    existing = set(session.scalars(select(Account.code)))
    session.add_all(Account(code=c, balance_fen=0) for c in ACCOUNTS if c not in existing)
    session.flush()


def post_entry(
    session: Session,
    *,
    cause: str,
    policy_id: str | None,
    postings: Iterable[tuple[str, int]],
    business_date: dt.date,
    ref_type: str | None = None,
    ref_id: int | None = None,
    memo: str | None = None,
    actor_id: int | None = None,
) -> JournalEntry:
    """Append one journal entry; postings (debit positive, credit negative) must sum to zero.
    Zero postings are dropped; stored account balances move with the postings."""
    lines = [(account, amount) for account, amount in postings if amount != 0]
    if sum(amount for _, amount in lines) != 0:
        raise DomainError("unbalanced_entry", f"postings of a {cause} entry sum to {sum(a for _, a in lines)}, not 0")
    if len(lines) < 2:
        raise DomainError("empty_entry", f"a {cause} entry needs two or more non-zero postings")
    entry = JournalEntry(cause=cause, policy_id=policy_id, ref_type=ref_type, ref_id=ref_id,
                         business_date=business_date, memo=memo, actor_id=actor_id)
    session.add(entry)
    session.flush()
    accounts = {a.code: a for a in session.scalars(for_update(session, select(Account).where(Account.code.in_({c for c, _ in lines}))))}
    for code, amount in lines:
        if code not in accounts:
            raise DomainError("unknown_account", f"no account {code!r}")
        accounts[code].balance_fen += amount
        session.add(Posting(entry_id=entry.id, account_code=code, amount_fen=amount))
    session.flush()
    return entry


def lock_pool(session: Session, pool: str) -> Account:
    """Lock the pool's cash account row: approvals and inflows on one pool serialise on it."""
    ensure_accounts(session)
    row = session.scalar(
        for_update(session, select(Account).where(Account.code == cash_account(pool))).execution_options(populate_existing=True)
    )
    assert row is not None
    return row


@dataclass(frozen=True)
class Payment:
    entry_id: int
    paid_fen: int
    deferred_fen: int


def pay_from_pool(
    session: Session, *, pool: str, amount_fen: int, cause: str, policy_id: str | None, ref_type: str, ref_id: int,
    business_date: dt.date, actor_id: int | None = None, memo: str | None = None,
) -> Payment:
    """Expense ``amount_fen``: pool cash pays what it can, the rest is a deferral (a liability)."""
    cash = lock_pool(session, pool)
    paid, deferred = pay_from_cash(cash.balance_fen, amount_fen)
    entry = post_entry(
        session, cause=cause, policy_id=policy_id, business_date=business_date, ref_type=ref_type, ref_id=ref_id,
        memo=memo, actor_id=actor_id,
        postings=[(expense_account(pool), amount_fen), (cash_account(pool), -paid), (deferred_account(pool), -deferred)],
    ) if amount_fen else None
    if deferred:
        session.add(Deferral(pool=pool, ref_type=ref_type, ref_id=ref_id, policy_id=policy_id, amount_fen=deferred,
                             settled_fen=0, entry_id=entry.id, business_date=business_date))
        session.flush()
    return Payment(entry.id if entry else 0, paid, deferred)


@dataclass(frozen=True)
class Inflow:
    entry_id: int
    settled_fen: int
    to_cash_fen: int


def inflow_to_pool(
    session: Session, *, pool: str, amount_fen: int, cause: str, credit_account: str, policy_id: str | None,
    business_date: dt.date, ref_type: str | None = None, ref_id: int | None = None, actor_id: int | None = None,
    memo: str | None = None,
) -> Inflow:
    """An inflow (appropriation, the fund's part of a recovery): settles deferrals oldest first, the
    rest adds to cash. One entry: debit deferred liability and cash, credit ``credit_account``."""
    if amount_fen <= 0:
        raise DomainError("invalid_amount", f"an inflow must be > 0 fen, got {amount_fen}", field="amount_fen")
    lock_pool(session, pool)
    open_deferrals = list(
        session.scalars(
            for_update(session, select(Deferral).where(Deferral.pool == pool, Deferral.settled_fen < Deferral.amount_fen).order_by(Deferral.id))
        )
    )
    settled, to_cash = settle_inflow(amount_fen, [d.amount_fen - d.settled_fen for d in open_deferrals])
    settled_total = sum(settled)
    entry = post_entry(
        session, cause=cause, policy_id=policy_id, business_date=business_date, ref_type=ref_type, ref_id=ref_id,
        actor_id=actor_id, memo=memo,
        postings=[(deferred_account(pool), settled_total), (cash_account(pool), to_cash), (credit_account, -amount_fen)],
    )
    for deferral, part in zip(open_deferrals, settled):
        if part:
            deferral.settled_fen += part
            session.add(DeferralSettlement(deferral_id=deferral.id, entry_id=entry.id, amount_fen=part))
    session.flush()
    return Inflow(entry.id, settled_total, to_cash)


def appropriate(session: Session, *, pool: str, amount_fen: int, policy_id: str | None, business_date: dt.date,
                actor_id: int | None = None, memo: str | None = None) -> Inflow:
    """An appropriation to a pool (equity inflow)."""
    if amount_fen > 10**14:
        raise DomainError("amount_too_large", "an appropriation must be at most 10^14 fen", field="amount_fen")
    return inflow_to_pool(session, pool=pool, amount_fen=amount_fen, cause="appropriation",
                          credit_account="equity:appropriations", policy_id=policy_id, business_date=business_date,
                          actor_id=actor_id, memo=memo)


@dataclass(frozen=True)
class PoolBalance:
    pool: str
    cash_fen: int
    deferred_fen: int


def pool_balance(session: Session, pool: str) -> PoolBalance:
    ensure_accounts(session)
    cash = session.get(Account, cash_account(pool))
    deferred = session.get(Account, deferred_account(pool))
    return PoolBalance(pool, cash.balance_fen if cash else 0, -(deferred.balance_fen if deferred else 0))


def balances(session: Session) -> dict[str, int]:
    return {a.code: a.balance_fen for a in session.scalars(select(Account).order_by(Account.code))}


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    entry_id: int | None = None


def check_ledger(session: Session, extra_checks: Iterable = ()) -> list[Violation]:
    """Every invariant of rule L that the ledger alone can check; areas add theirs via ``extra_checks``
    (callables ``session -> list[Violation]``)."""
    problems: list[Violation] = []
    for entry_id, total, count in session.execute(
        select(Posting.entry_id, func.sum(Posting.amount_fen), func.count()).group_by(Posting.entry_id).order_by(Posting.entry_id)
    ):
        if total != 0:
            problems.append(Violation("entry_sums_to_zero", f"entry {entry_id} sums to {total}", entry_id))
        if count < 2:
            problems.append(Violation("entry_has_two_postings", f"entry {entry_id} has {count} posting", entry_id))
    empty = session.scalars(select(JournalEntry.id).where(~JournalEntry.postings.any()))
    for entry_id in empty:
        problems.append(Violation("entry_has_two_postings", f"entry {entry_id} has no postings", entry_id))
    recomputed = dict(session.execute(select(Posting.account_code, func.sum(Posting.amount_fen)).group_by(Posting.account_code)).all())
    for account in session.scalars(select(Account)):
        expected = int(recomputed.get(account.code, 0) or 0)
        if account.balance_fen != expected:
            problems.append(Violation("stored_balance", f"account {account.code} stores {account.balance_fen}, postings give {expected}"))
    for pool in POOLS:
        balance = pool_balance(session, pool)
        if balance.cash_fen < 0:
            problems.append(Violation("cash_not_negative", f"pool {pool} cash is {balance.cash_fen}"))
        if balance.deferred_fen < 0:
            problems.append(Violation("deferred_not_negative", f"pool {pool} deferred liability is {balance.deferred_fen}"))
        open_total = session.scalar(
            select(func.coalesce(func.sum(Deferral.amount_fen - Deferral.settled_fen), 0)).where(Deferral.pool == pool)
        )
        if int(open_total) != balance.deferred_fen:
            problems.append(Violation("deferrals_match_liability", f"pool {pool}: open deferrals {open_total} != liability {balance.deferred_fen}"))
    for check in (*_area_checks(), *extra_checks):
        problems.extend(check(session))
    return problems


# Areas whose postings must match their own records (claims, subsidy runs) expose
# ``ledger_violations(session) -> list[Violation]``.
AREA_CHECK_MODULES = ("fund.services.claims", "fund.services.subsidies")


def _area_checks() -> list:
    import importlib

    checks = []
    for name in AREA_CHECK_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        if hasattr(module, "ledger_violations"):
            checks.append(module.ledger_violations)
    return checks
