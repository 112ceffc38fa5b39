"""The fund's journal (rule L) and its pools (A4, S5).

Every movement of money is one balanced entry naming its cause and policy; entries are only ever
appended. Pools pay what cash covers and defer the rest; every inflow adds to cash and then settles
deferrals first-in first-out, one ``deferral_settlement`` entry per deferral it settles. The
arithmetic of A4 is ``risk.allocation.pay_from_cash`` and ``risk.allocation.settle_inflow``, shared
with the simulator.

Locking: every pool operation first locks the pool's cash account row (``lock_pool``); entries then
lock the accounts they post to in code order, so two transactions never wait on each other in a
cycle.

>>> cash_account("compensation"), deferred_account("subsidy")
('pool:compensation:cash', 'liability:subsidy_deferred')
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fund.adapters.models.ledger import Account, Deferral, DeferralSettlement, JournalEntry, Posting
from fund.domain.money import MAX_SINGLE_AMOUNT_FEN
from fund.errors import DomainError, Forbidden, NotFound
from fund.services.common import for_update
from fund.services.paging import after
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
    # payments (docs/rules.md section 6): money instructed to the custodian and not yet confirmed, and what is owed to payees
    "pool:compensation:in_transit",
    "pool:subsidy:in_transit",
    "liability:compensation_payable",
    "liability:subsidy_payable",
)
CAUSES = ("appropriation", "claim_approval", "deferral_settlement", "recovery", "subsidy_run", "correction", "reversal",
          "payment_confirmation", "payment_return", "payment_reissue")


def cash_account(pool: str) -> str:
    _check_pool(pool)
    return f"pool:{pool}:cash"


def deferred_account(pool: str) -> str:
    _check_pool(pool)
    return f"liability:{pool}_deferred"


def expense_account(pool: str) -> str:
    _check_pool(pool)
    return f"expense:{pool}"


def in_transit_account(pool: str) -> str:
    _check_pool(pool)
    return f"pool:{pool}:in_transit"


def payable_account(pool: str) -> str:
    _check_pool(pool)
    return f"liability:{pool}_payable"


def spendable_cash(session: Session, pool: str, cash_fen: int) -> int:
    """What A4 and S5 may spend: the pool's cash less the returned payments held for their payees
    (docs/rules.md section 6: a returned amount is instructed again ahead of every deferral)."""
    from fund.services.payments import reserved_fen

    return max(0, cash_fen - reserved_fen(session, pool))


def paid_postings(pool: str, paid_fen: int) -> list[tuple[str, int]]:
    """docs/rules.md section 6: paying ``paid_fen`` out of the pool moves it from cash into transit and owes it to the
    payee (Dr in-transit, Cr cash, Cr payable; the debit of the expense or liability is the caller's)."""
    return [(in_transit_account(pool), paid_fen), (cash_account(pool), -paid_fen), (payable_account(pool), -paid_fen)]


def _check_pool(pool: str) -> None:
    if pool not in POOLS:
        raise DomainError("invalid_pool", f"pool must be one of {', '.join(POOLS)}, got {pool!r}", field="pool")


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
    if cause not in CAUSES:
        raise DomainError("invalid_cause", f"cause must be one of {', '.join(CAUSES)}, got {cause!r}", field="cause")
    lines = [(account, int(amount)) for account, amount in postings if amount != 0]
    total = sum(amount for _, amount in lines)
    if total != 0:
        raise DomainError("unbalanced_entry", f"postings of a {cause} entry sum to {total}, not 0")
    if len(lines) < 2:
        raise DomainError("empty_entry", f"a {cause} entry needs two or more non-zero postings")
    entry = JournalEntry(cause=cause, policy_id=policy_id, ref_type=ref_type, ref_id=ref_id,
                         business_date=business_date, memo=memo, actor_id=actor_id)
    session.add(entry)
    session.flush()
    codes = sorted({c for c, _ in lines})
    accounts = {
        a.code: a
        for a in session.scalars(
            for_update(session, select(Account).where(Account.code.in_(codes)).order_by(Account.code))
            .execution_options(populate_existing=True)
        )
    }
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
    """What a pool paid (A4): ``entry_id`` is 0 when nothing was owed."""

    entry_id: int
    paid_fen: int
    deferred_fen: int


def pay_from_pool(
    session: Session, *, pool: str, amount_fen: int, cause: str, policy_id: str | None, ref_type: str, ref_id: int,
    business_date: dt.date, actor_id: int | None = None, memo: str | None = None, instruct: bool = True,
) -> Payment:
    """Expense ``amount_fen``: pool cash (less returned payments held for their payees) pays what it
    can, the rest is a deferral (a liability). One entry: Dr the pool's expense and, for the paid
    part, Dr in-transit; Cr cash and Cr payable (paid), Cr the deferred liability (docs/rules.md section 6). The paid
    part becomes payment instructions (``instruct=False``: the caller instructs, as a subsidy run
    does once its lines are written)."""
    if amount_fen < 0:
        raise DomainError("invalid_amount", f"an expense must be >= 0 fen, got {amount_fen}", field="amount_fen")
    cash = lock_pool(session, pool)
    paid, deferred = pay_from_cash(spendable_cash(session, pool, cash.balance_fen), amount_fen)
    if amount_fen == 0:
        return Payment(0, 0, 0)
    entry = post_entry(
        session, cause=cause, policy_id=policy_id, business_date=business_date, ref_type=ref_type, ref_id=ref_id,
        memo=memo, actor_id=actor_id,
        postings=[(expense_account(pool), amount_fen), *paid_postings(pool, paid), (deferred_account(pool), -deferred)],
    )
    if instruct and paid:
        from fund.services.payments import instruct as instruct_payment

        instruct_payment(session, pool=pool, ref_type=ref_type, ref_id=ref_id, source_type=ref_type, source_id=ref_id,
                         entry_id=entry.id, offset_fen=0, amount_fen=paid, business_date=business_date)
    if deferred:
        session.add(Deferral(pool=pool, ref_type=ref_type, ref_id=ref_id, policy_id=policy_id, amount_fen=deferred,
                             settled_fen=0, entry_id=entry.id, business_date=business_date))
        session.flush()
    return Payment(entry.id, paid, deferred)


@dataclass(frozen=True)
class SettledDeferral:
    """One deferral (partly) settled by an inflow, and the entry that settled it."""

    deferral_id: int
    ref_type: str
    ref_id: int
    amount_fen: int
    entry_id: int


@dataclass(frozen=True)
class Inflow:
    """What an inflow did (A4): its own entry, the deferrals it settled (oldest first), and what
    stayed in cash."""

    entry_id: int
    settled_fen: int
    to_cash_fen: int
    settlements: tuple[SettledDeferral, ...] = field(default=())


def inflow_to_pool(
    session: Session, *, pool: str, amount_fen: int, cause: str, credit_account: str, policy_id: str | None,
    business_date: dt.date, ref_type: str | None = None, ref_id: int | None = None, actor_id: int | None = None,
    memo: str | None = None,
) -> Inflow:
    """An inflow (appropriation, the fund's part of a recovery) to a pool.

    One entry debits the pool's cash and credits ``credit_account``; then each open deferral,
    oldest first, is settled as far as the inflow reaches, by one ``deferral_settlement`` entry
    (debit the deferred liability, credit cash; ``ref_type="deferral"``, under the deferral's
    policy). Only the rest stays in cash.
    """
    if amount_fen <= 0:
        raise DomainError("invalid_amount", f"an inflow must be > 0 fen, got {amount_fen}", field="amount_fen")
    lock_pool(session, pool)
    open_deferrals = list(
        session.scalars(
            for_update(
                session,
                select(Deferral).where(Deferral.pool == pool, Deferral.settled_fen < Deferral.amount_fen).order_by(Deferral.id),
            ).execution_options(populate_existing=True)
        )
    )
    settled, to_cash = settle_inflow(amount_fen, [d.amount_fen - d.settled_fen for d in open_deferrals])
    entry = post_entry(
        session, cause=cause, policy_id=policy_id, business_date=business_date, ref_type=ref_type, ref_id=ref_id,
        actor_id=actor_id, memo=memo, postings=[(cash_account(pool), amount_fen), (credit_account, -amount_fen)],
    )
    settlements: list[SettledDeferral] = []
    for deferral, part in zip(open_deferrals, settled):
        if not part:
            continue
        settlement = post_entry(
            session, cause="deferral_settlement", policy_id=deferral.policy_id, business_date=business_date,
            ref_type="deferral", ref_id=deferral.id, actor_id=actor_id,
            memo=f"settles {deferral.ref_type} {deferral.ref_id} from entry {entry.id}",
            postings=[(deferred_account(pool), part), *paid_postings(pool, part)],
        )
        from fund.services.payments import instruct as instruct_payment

        instruct_payment(session, pool=pool, ref_type=deferral.ref_type, ref_id=deferral.ref_id, source_type="deferral",
                         source_id=deferral.id, entry_id=settlement.id, offset_fen=deferral.settled_fen, amount_fen=part,
                         business_date=business_date)
        deferral.settled_fen += part
        session.add(DeferralSettlement(deferral_id=deferral.id, entry_id=settlement.id, amount_fen=part))
        settlements.append(SettledDeferral(deferral.id, deferral.ref_type, deferral.ref_id, part, settlement.id))
    session.flush()
    return Inflow(entry.id, sum(settled), to_cash, tuple(settlements))


def appropriate(session: Session, *, pool: str, amount_fen: int, policy_id: str | None, business_date: dt.date,
                actor_id: int | None = None, memo: str | None = None) -> Inflow:
    """An appropriation to a pool (an equity inflow): settles the pool's deferrals first (A4, S5)."""
    _check_pool(pool)
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise DomainError("invalid_amount", f"amount_fen must be an integer number of fen, got {amount_fen!r}", field="amount_fen")
    if amount_fen <= 0:
        raise DomainError("invalid_amount", f"an appropriation must be > 0 fen, got {amount_fen}", field="amount_fen")
    if amount_fen > MAX_SINGLE_AMOUNT_FEN:
        raise DomainError("amount_too_large", f"an appropriation must be at most 10^12 fen, got {amount_fen}", field="amount_fen")
    if policy_id is not None:
        from fund.adapters.models.registry import StoredPolicy

        if session.get(StoredPolicy, policy_id) is None:
            raise NotFound("unknown_policy", f"no stored policy {policy_id!r}", field="policy_id")
    return inflow_to_pool(session, pool=pool, amount_fen=amount_fen, cause="appropriation",
                          credit_account="equity:appropriations", policy_id=policy_id, business_date=business_date,
                          ref_type="pool", actor_id=actor_id, memo=memo)


def record_appropriation(session: Session, actor, *, pool: str, amount_fen: int, policy_id: str | None,
                         business_date: dt.date, memo: str | None = None) -> Inflow:
    """The fund manager records an appropriation (``actor`` is a ``fund.services.registry.Actor``)."""
    if actor.kind != "fund_manager":
        raise Forbidden("forbidden", "only the fund manager records appropriations")
    return appropriate(session, pool=pool, amount_fen=amount_fen, policy_id=policy_id, business_date=business_date,
                       actor_id=actor.institution_id, memo=memo)


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


def appropriated_fen(session: Session, pool: str) -> int:
    """Total appropriated to ``pool`` and not reversed: the cash debits of its appropriation entries, less
    the cash credits of their reversals (docs/rules.md section 6: leverage and the report count only
    appropriations not reversed; a reversal is a ``correction`` naming the entry it reverses)."""
    total = session.scalar(
        select(func.coalesce(func.sum(Posting.amount_fen), 0))
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where((JournalEntry.cause == "appropriation") | ((JournalEntry.cause == "correction") & (JournalEntry.ref_type == "journal_entry")),
               Posting.account_code == cash_account(pool))
    )
    return int(total)


@dataclass(frozen=True)
class JournalLine:
    """One entry as the journal shows it."""

    id: int
    business_date: dt.date
    cause: str
    policy_id: str | None
    ref_type: str | None
    ref_id: int | None
    actor_id: int | None
    memo: str | None
    postings: tuple[tuple[str, int], ...]

    def as_dict(self) -> dict:
        return {
            "id": self.id, "business_date": self.business_date.isoformat(), "cause": self.cause,
            "policy_id": self.policy_id, "ref_type": self.ref_type, "ref_id": self.ref_id, "actor_id": self.actor_id,
            "memo": self.memo, "postings": [{"account": a, "amount_fen": f} for a, f in self.postings],
        }


def journal(session: Session, *, after_id: int = 0, limit: int | None = None, cause: str | None = None,
            ref_type: str | None = None, ref_id: int | None = None) -> list[JournalLine]:
    """Entries in id order (keyset: ``after_id``), each with its postings (debits first)."""
    stmt = select(JournalEntry)
    if cause is not None:
        stmt = stmt.where(JournalEntry.cause == cause)
    if ref_type is not None:
        stmt = stmt.where(JournalEntry.ref_type == ref_type)
    if ref_id is not None:
        stmt = stmt.where(JournalEntry.ref_id == ref_id)
    entries = list(session.scalars(after(stmt, JournalEntry.id, after_id, limit)))
    postings: dict[int, list[tuple[str, int]]] = {e.id: [] for e in entries}
    if entries:
        rows = session.execute(
            select(Posting.entry_id, Posting.account_code, Posting.amount_fen)
            .where(Posting.entry_id.in_(list(postings)))
            .order_by(Posting.entry_id, Posting.id)
        )
        for entry_id, account, amount in rows:
            postings[entry_id].append((account, amount))
    return [
        JournalLine(e.id, e.business_date, e.cause, e.policy_id, e.ref_type, e.ref_id, e.actor_id, e.memo,
                    tuple(sorted(postings[e.id], key=lambda p: (p[1] < 0, p[0]))))
        for e in entries
    ]


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    entry_id: int | None = None

    def __str__(self) -> str:
        where = f"entry {self.entry_id}: " if self.entry_id is not None else ""
        return f"{self.rule}: {where}{self.message}"


def check_ledger(session: Session, extra_checks: Iterable[Callable[[Session], list[Violation]]] = ()) -> list[Violation]:
    """Every invariant of rule L: each entry sums to zero with two or more postings; stored balances
    equal balances recomputed from postings; no pool cash and no deferred liability is negative;
    open deferrals equal the deferred liability and each deferral's settlements add up; a pool holds
    no cash while it owes deferred amounts (A4). Areas add theirs (each claim's postings, each
    subsidy run's entry) via ``ledger_violations(session)``; ``extra_checks`` add more."""
    problems: list[Violation] = []
    for entry_id, total, count in session.execute(
        select(Posting.entry_id, func.sum(Posting.amount_fen), func.count()).group_by(Posting.entry_id).order_by(Posting.entry_id)
    ):
        if total != 0:
            problems.append(Violation("entry_sums_to_zero", f"postings sum to {total}, not 0", entry_id))
        if count < 2:
            problems.append(Violation("entry_has_two_postings", f"has {count} posting", entry_id))
    for entry_id in session.scalars(select(JournalEntry.id).where(~JournalEntry.postings.any()).order_by(JournalEntry.id)):
        problems.append(Violation("entry_has_two_postings", "has no postings", entry_id))
    recomputed = dict(session.execute(select(Posting.account_code, func.sum(Posting.amount_fen)).group_by(Posting.account_code)).all())
    for account in session.scalars(select(Account).order_by(Account.code)):
        expected = int(recomputed.get(account.code, 0) or 0)
        if account.balance_fen != expected:
            problems.append(Violation("stored_balance", f"account {account.code} stores {account.balance_fen}, postings give {expected}"))
    for pool in POOLS:
        problems.extend(_pool_violations(session, pool))
    for check in (*_area_checks(), *extra_checks):
        problems.extend(check(session))
    return problems


def _pool_violations(session: Session, pool: str) -> list[Violation]:
    problems: list[Violation] = []
    balance = pool_balance(session, pool)
    if balance.cash_fen < 0:
        problems.append(Violation("cash_not_negative", f"pool {pool} cash is {balance.cash_fen}"))
    if balance.deferred_fen < 0:
        problems.append(Violation("deferred_not_negative", f"pool {pool} deferred liability is {balance.deferred_fen}"))
    open_total = int(session.scalar(
        select(func.coalesce(func.sum(Deferral.amount_fen - Deferral.settled_fen), 0)).where(Deferral.pool == pool)
    ))
    if open_total != balance.deferred_fen:
        problems.append(Violation("deferrals_match_liability", f"pool {pool}: open deferrals {open_total} != liability {balance.deferred_fen}"))
    spendable = spendable_cash(session, pool, balance.cash_fen)
    if open_total > 0 and spendable > 0:
        problems.append(Violation("settle_before_cash", f"pool {pool} holds {spendable} spendable cash while {open_total} is deferred"))
    settled = dict(session.execute(
        select(DeferralSettlement.deferral_id, func.sum(DeferralSettlement.amount_fen)).group_by(DeferralSettlement.deferral_id)
    ).all())
    for deferral in session.scalars(select(Deferral).where(Deferral.pool == pool).order_by(Deferral.id)):
        if int(settled.get(deferral.id, 0) or 0) != deferral.settled_fen:
            problems.append(Violation(
                "deferral_settlements", f"deferral {deferral.id} records {deferral.settled_fen} settled, its settlements add up to {settled.get(deferral.id, 0)}",
                deferral.entry_id,
            ))
    liability, cash = deferred_account(pool), cash_account(pool)
    rows = session.execute(
        select(DeferralSettlement.entry_id, DeferralSettlement.amount_fen, Posting.account_code, Posting.amount_fen)
        .join(Deferral, Deferral.id == DeferralSettlement.deferral_id)
        .join(Posting, Posting.entry_id == DeferralSettlement.entry_id)
        .where(Deferral.pool == pool)
        .order_by(DeferralSettlement.entry_id, Posting.id)
    )
    by_entry: dict[int, tuple[int, dict[str, int]]] = {}
    for entry_id, amount, account, posted in rows:
        _, accounts = by_entry.setdefault(entry_id, (amount, {}))
        accounts[account] = accounts.get(account, 0) + posted
    for entry_id, (amount, posted) in by_entry.items():
        if posted != {liability: amount, **dict(paid_postings(pool, amount))}:
            problems.append(Violation("deferral_settlements", f"settles {amount} but posts {posted}", entry_id))
    return problems


# Areas whose postings must match their own records (claims, subsidy runs) expose
# ``ledger_violations(session) -> list[Violation]``.
AREA_CHECK_MODULES = ("fund.services.claims", "fund.services.subsidies", "fund.services.payments")


def _area_checks() -> list:
    # imported when called: those modules import this one
    return [importlib.import_module(name).ledger_violations for name in AREA_CHECK_MODULES]
