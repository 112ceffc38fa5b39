"""The monthly interest-subsidy run (rule S4), its statements and its ledger check.

A run is set-based: a few queries select the repayments S1 admits that no earlier run took (one row
per repayment) and their loans (one row per loan); S2 and S3 run over those columns with numpy
(exact: one ``Fraction`` per distinct set of loan terms, int64 where no product can pass 2^63 and
Python integers where one could); the lines are written in bulk (binary ``COPY`` on PostgreSQL,
``executemany`` on SQLite) inside the caller's transaction together with the run row and its one
journal entry. Nothing is committed here: a run that dies before the caller commits leaves no trace.

Fee lines (S6) go beside the interest lines: every fee that counts, paid on or before the month's last
day, that no earlier run took (``loan_fees.run_id``), with its subsidy computed as ``fees.refill`` does
(the loan's cap per kind, filled by payment date then registration; fees an earlier run took are final
and keep their room); the run marks them taken. They never count toward S3's cap. The run's total is
its interest lines' plus its fee lines', paid by its one entry; the money takes the interest lines
first (S3 order), then the fee lines (payment date, loan, fee id), for the paid parts, the deferred
parts and the payment instructions alike.

>>> # with unit_of_work(factory) as session:
>>> #     result = run_month(session, "2026-09", business_date(session), actor=fund_manager)
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from itertools import compress
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import Date, and_, case, func, literal, or_, select, update
from sqlalchemy.orm import Session, aliased

from fund.adapters.dialect import for_update, insert_tuples, larger_page_cache, month_end_after, unindexed
from fund.adapters.models.pool import LoanFee
from fund.adapters.models.ledger import Account, Deferral, JournalEntry, Posting
from fund.adapters.models.registry import Enterprise, Installment, Institution, Loan, Repayment, StoredPolicy
from fund.adapters.models.subsidies import SubsidyLine, SubsidyRun
from fund.domain.dates import month_bounds
from fund.domain.fees import fill_cap
from fund.domain.money import BP_ONE, apply_bp
from fund.domain.statements import paid_in_order, paid_part
from fund.domain.subsidy import (
    CapState,
    enterprise_cap_in_order,
    s2_amounts,
    subsidy_factor,
    subsidy_period_end,
)
from fund.errors import Conflict, DomainError, Forbidden, NotFound
from fund.services.ledger import Violation, cash_account, expense_account, lock_pool, pay_from_pool, spendable_cash
from fund.services.lpr import lpr_table
from fund.services.policies import get_policy
from fund.services.common import SessionFactory, within
from fund.services.common import business_date as read_business_date
from fund.services.registry import Actor
from risk.allocation import pay_from_cash

KILL_HOOK_ENV = "IPFUND_TEST_KILL_AFTER_LINES"  # tests only: SIGKILL the run once this many lines are written
LINE_CHUNK = 20_000
LINE_COLUMNS = (
    "repayment_id", "run_id", "loan_id", "enterprise_id", "policy_id", "cap_year", "interest_fen", "lpr_bp",
    "rate_used_bp_e4", "computed_fen", "amount_fen", "capped",
)
_COPY_TYPES = ("int4", "int4", "int4", "int4", "varchar", "int4", "int8", "int4", "int8", "int8", "int8", "bool")
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class RunResult:
    """A run's figures. ``created`` is False when the month had been run already (nothing changed)."""

    run_id: int
    month: str
    created: bool
    business_date: dt.date
    line_count: int
    capped_count: int
    computed_fen: int
    total_fen: int
    paid_fen: int
    deferred_fen: int
    entry_id: int | None
    fee_line_count: int = 0  # S6: the fee lines (total_fen, computed_fen, paid_fen, deferred_fen include them)
    fee_capped_count: int = 0
    fee_computed_fen: int = 0
    fee_total_fen: int = 0
    timings_s: dict[str, float] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, run: SubsidyRun, created: bool, timings_s: dict[str, float] | None = None) -> "RunResult":
        return cls(run.id, run.month, created, run.business_date, run.line_count, run.capped_count, run.computed_fen,
                   run.total_fen, run.paid_fen, run.deferred_fen, run.entry_id, run.fee_line_count or 0,
                   run.fee_capped_count or 0, run.fee_computed_fen or 0, run.fee_total_fen or 0, dict(timings_s or {}))

    @property
    def interest_total_fen(self) -> int:
        return self.total_fen - self.fee_total_fen


def _parse_month(month: str) -> tuple[dt.date, dt.date]:
    try:
        return month_bounds(month)
    except ValueError as exc:
        raise DomainError("invalid_month", str(exc), field="month") from None


def _require_fund_manager(actor: Actor) -> None:
    if actor.kind != "fund_manager":
        raise Forbidden("forbidden", "only the fund manager starts a subsidy run")


def run(db: SessionFactory | Session, actor: Actor, month: str, *, progress: Progress | None = None) -> RunResult:
    """The use case: :func:`run_month` as of the business date, read inside its transaction (the
    caller's when ``db`` is a session: the API's idempotency record, a proposal's sign-off)."""
    with within(db) as session:
        return run_month(session, month, read_business_date(session), actor=actor, progress=progress)


def preview(db: SessionFactory | Session, actor: Actor, month: str, *, progress: Progress | None = None) -> "Preview":
    """The use case: :func:`preview_month` as of the business date, read inside its transaction."""
    with within(db) as session:
        return preview_month(session, month, read_business_date(session), actor=actor, progress=progress)


def run_month(
    session: Session,
    month: str,
    business_date: dt.date,
    *,
    actor: Actor,
    progress: Progress | None = None,
    chunk_size: int = LINE_CHUNK,
) -> RunResult:
    """Run month ``YYYY-MM`` (docs/rules.md S4) inside the caller's transaction.

    Takes every repayment S1 admits, paid on or before the month's last day and not after the
    business date, that no earlier run took; applies S2 and S3 (payment date, loan registration,
    repayment registration order); takes the fees that count paid by the same day that no earlier run
    took (S6, beside S3's cap); writes the run, its lines, marks its fees and one journal entry paying
    the total from the subsidy pool (S5: what cash cannot cover is deferred). A month already run is reported
    unchanged; a month before the latest run, or one starting after the business date, is refused.
    """
    _require_fund_manager(actor)
    report = progress or (lambda stage, done, total: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    lock_pool(session, "subsidy")  # subsidy runs (and inflows to the subsidy pool) serialise on this row
    last_day, existing = _check_month(session, month, business_date)
    if existing is not None:
        return RunResult.of(existing, created=False)

    # SQLite's page cache raised for the run: the line index and the key checks of a million
    # inserts then stay in memory.
    with larger_page_cache(session, SQLITE_RUN_CACHE_KIB):
        return _run(session, month, last_day, business_date, actor, report, chunk_size, timings, clock)


def _check_month(session: Session, month: str, business_date: dt.date) -> tuple[dt.date, SubsidyRun | None]:
    """The month's last day and its existing run (None if not run yet); refuses a month starting
    after the business date or before the latest run. Shared by the run and its preview."""
    first_day, last_day = _parse_month(month)
    if first_day > business_date:
        raise DomainError("month_after_business_date", f"month {month} starts after the business date {business_date}", field="month")
    existing = session.scalar(select(SubsidyRun).where(SubsidyRun.month == month))
    if existing is not None:
        return last_day, existing
    latest = session.scalar(select(func.max(SubsidyRun.month)))
    if latest is not None and month < latest:
        raise Conflict("month_before_latest_run", f"month {month} is before the latest run, {latest}", field="month")
    return last_day, None


def _month_lines(session: Session, last_day: dt.date, business_date: dt.date, report: Progress,
                 timings: dict[str, float], clock: float) -> "_Lines":
    """The lines a run of the month would write now (S1..S3): the computation the run and the
    preview share. Reads only."""
    with _collector_paused():
        report("select", 0, 1)
        policies = {pid: get_policy(session, pid) for pid in session.scalars(select(StoredPolicy.id).order_by(StoredPolicy.id))}
        rows, loan_rows = _select_candidates(session, min(last_day, business_date), policies)
        report("select", 1, 1)
        timings["select"] = time.perf_counter() - clock
        clock = time.perf_counter()
        lines = _compute_lines(session, rows, loan_rows, policies)
        del rows, loan_rows
        timings["compute"] = time.perf_counter() - clock
    return lines


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while the candidate rows (tens of thousands of
    tuples, none in a cycle) are fetched and computed: otherwise their allocation sets off full
    collections that walk every object, a third of a console preview's time. Resumed after (left
    alone when it was paused already)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _run(session: Session, month: str, last_day: dt.date, business_date: dt.date, actor: Actor, report: Progress,
         chunk_size: int, timings: dict[str, float], clock: float) -> RunResult:
    fee_lines = month_fee_lines(session, min(last_day, business_date), lock=True)
    lines = _month_lines(session, last_day, business_date, report, timings, clock)
    clock = time.perf_counter()

    fees = FeeTotals.of(fee_lines)
    total = lines.total_fen + fees.total_fen
    policy_ids = tuple(sorted(set(lines.policy_ids) | {f.policy_id for f in fee_lines}))
    run = SubsidyRun(
        month=month, period_end=last_day, business_date=business_date, line_count=lines.count,
        capped_count=lines.capped_count, computed_fen=lines.computed_total_fen + fees.computed_fen, total_fen=total,
        paid_fen=total, deferred_fen=0, entry_id=None, actor_id=actor.institution_id, fee_line_count=fees.count,
        fee_capped_count=fees.capped_count, fee_computed_fen=fees.computed_fen, fee_total_fen=fees.total_fen,
    )
    session.add(run)
    session.flush()
    if total:
        fee_memo = f", {fees.count} fee lines" if fees.count else ""
        payment = pay_from_pool(
            session, pool="subsidy", amount_fen=total, cause="subsidy_run",
            policy_id=policy_ids[0] if len(policy_ids) == 1 else None,  # several policies: named in the memo and on each line
            ref_type="subsidy_run", ref_id=run.id, business_date=business_date, actor_id=actor.institution_id,
            memo=f"subsidy run {month}: {lines.count} lines{fee_memo}; policies {', '.join(policy_ids)}",
            instruct=False,  # instructed per enterprise below, once the lines are written
        )
        run.entry_id, run.paid_fen, run.deferred_fen = payment.entry_id, payment.paid_fen, payment.deferred_fen
        session.flush()
    timings["ledger"] = time.perf_counter() - clock
    clock = time.perf_counter()
    _write_lines(session, run.id, lines, chunk_size, report)
    _take_fees(session, run.id, fee_lines)
    timings["write"] = time.perf_counter() - clock
    if run.paid_fen:
        from fund.services.payments import instruct_enterprises

        instruct_enterprises(session, pool="subsidy", source_type="subsidy_run", source_id=run.id, entry_id=run.entry_id,
                             parts=_paid_by_enterprise(lines, run.paid_fen, fee_lines), business_date=business_date)
    return RunResult.of(run, created=True, timings_s=timings)


# ---- fee lines (S6) -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeeLine:
    """A fee a run takes (or would take): its subsidy after the loan's cap for the kind (``amount_fen``)
    and before it (``computed_fen``)."""

    fee_id: int
    loan_id: int
    enterprise_id: int
    policy_id: str
    kind: str
    fee_fen: int
    paid_on: dt.date
    computed_fen: int
    amount_fen: int
    capped: bool


@dataclass(frozen=True)
class FeeTotals:
    count: int = 0
    capped_count: int = 0
    computed_fen: int = 0
    total_fen: int = 0

    @classmethod
    def of(cls, fee_lines: Sequence[FeeLine]) -> "FeeTotals":
        return cls(len(fee_lines), sum(1 for f in fee_lines if f.capped), sum(f.computed_fen for f in fee_lines),
                   sum(f.amount_fen for f in fee_lines))


def month_fee_lines(session: Session, cutoff: dt.date, *, lock: bool = False) -> tuple[FeeLine, ...]:
    """The fee lines a run with this cut-off day would take now, in the run's money order (payment
    date, loan, fee id): every fee no run took, paid on or before ``cutoff``, that counts (S6); its
    subsidy as ``fees.refill`` computes it (each loan's fees of a kind fill the cap by payment date,
    then registration, after the room fees taken earlier keep). Three queries, whatever the count.

    ``lock`` (the run): the loans of those fees are locked first, so a fee reported meanwhile waits
    for the run (and then sees the taken fees as final); fees of loans not locked are left for the
    next run."""
    from fund.services.fees import counts_on_terms

    open_fee = and_(LoanFee.run_id.is_(None), LoanFee.paid_on <= cutoff)
    loans_with_open = select(LoanFee.loan_id).where(open_fee)
    locked: set[int] | None = None
    if lock:
        locked = set(session.scalars(for_update(session, select(Loan.id).where(Loan.id.in_(loans_with_open))
                                                .order_by(Loan.id))))
        if not locked:
            return ()
    rows = session.execute(
        select(LoanFee.id, LoanFee.loan_id, LoanFee.kind, LoanFee.amount_fen, LoanFee.paid_on, Loan.enterprise_id,
               Loan.policy_id, Loan.coverage, Loan.status, Loan.drawdown_date)
        .join(Loan, Loan.id == LoanFee.loan_id)
        .where(open_fee)
        .order_by(LoanFee.loan_id, LoanFee.kind, LoanFee.paid_on, LoanFee.id)
    ).all()
    if locked is not None:
        rows = [r for r in rows if r.loan_id in locked]
    if not rows:
        return ()
    used = {
        (loan_id, kind): int(fen)
        for loan_id, kind, fen in session.execute(
            select(LoanFee.loan_id, LoanFee.kind, func.sum(LoanFee.subsidy_fen))
            .where(LoanFee.run_id.is_not(None), LoanFee.loan_id.in_(loans_with_open))
            .group_by(LoanFee.loan_id, LoanFee.kind)
        )
    }
    policies: dict[str, Any] = {}
    out: list[FeeLine] = []
    start = 0
    while start < len(rows):
        loan_id, kind = rows[start].loan_id, rows[start].kind
        stop = start
        while stop < len(rows) and rows[stop].loan_id == loan_id and rows[stop].kind == kind:
            stop += 1
        group = rows[start:stop]
        start = stop
        first = group[0]
        if first.policy_id is None:
            continue
        policy = policies.get(first.policy_id)
        if policy is None:
            policy = policies[first.policy_id] = get_policy(session, first.policy_id)
        counting = [r for r in group if counts_on_terms(r.coverage, r.status, _as_date(r.drawdown_date), policy,
                                                        _as_date(r.paid_on))]
        filled = fill_cap([r.amount_fen for r in counting], policy.fee_subsidy_ratio_bp, policy.fee_subsidy_cap_fen,
                          used_fen=used.get((loan_id, kind), 0))
        for r, result in zip(counting, filled):
            out.append(FeeLine(r.id, r.loan_id, r.enterprise_id, r.policy_id, r.kind, r.amount_fen, _as_date(r.paid_on),
                               apply_bp(r.amount_fen, policy.fee_subsidy_ratio_bp), result.subsidy_fen, result.capped))
    out.sort(key=lambda f: (f.paid_on, f.loan_id, f.fee_id))
    return tuple(out)


def _take_fees(session: Session, run_id: int, fee_lines: Sequence[FeeLine]) -> None:
    """Mark the fees taken by the run, with their final subsidy (S6: a fee a run paid is final)."""
    if not fee_lines:
        return
    session.execute(update(LoanFee), [{"id": f.fee_id, "run_id": run_id, "subsidy_fen": f.amount_fen, "capped": f.capped}
                                      for f in fee_lines])
    for obj in list(session.identity_map.values()):
        if isinstance(obj, LoanFee):
            session.expire(obj)


@dataclass(frozen=True)
class PreviewLine:
    """One line a run would write now, with the part the pool's cash would pay (in S3 order)."""

    repayment_id: int
    loan_id: int
    enterprise_id: int
    policy_id: str
    paid_on: dt.date
    interest_fen: int
    lpr_bp: int
    rate_used_bp_e4: int
    computed_fen: int
    amount_fen: int
    capped: bool
    paid_fen: int
    deferred_fen: int


@dataclass(frozen=True)
class Preview:
    """What running ``month`` now would write (docs/rules.md S4), written nowhere. ``already_run`` names the
    month's run when there is one: running it again would change nothing, so there are no lines."""

    month: str
    business_date: dt.date
    already_run: int | None
    line_count: int
    capped_count: int
    computed_fen: int
    total_fen: int
    paid_fen: int
    deferred_fen: int
    cash_fen: int
    fee_lines: tuple["PreviewFeeLine", ...] = ()
    fee_line_count: int = 0  # S6: the fee lines (computed_fen, total_fen, paid_fen, deferred_fen include them)
    fee_capped_count: int = 0
    fee_computed_fen: int = 0
    fee_total_fen: int = 0
    # the interest lines, columnar in S3 order with their paid parts; PreviewLine objects are made
    # when asked for (a page showing the first hundred of 30 000 lines makes a hundred)
    columns: "_PreviewColumns | None" = field(default=None, compare=False, repr=False)

    @property
    def interest_total_fen(self) -> int:
        return self.total_fen - self.fee_total_fen

    @cached_property
    def lines(self) -> tuple[PreviewLine, ...]:
        """Every interest line, in S3 order."""
        return self.first_lines(None)

    def first_lines(self, n: int | None) -> tuple[PreviewLine, ...]:
        """The first ``n`` interest lines in S3 order (None: all)."""
        return self.columns.lines(n) if self.columns is not None else ()

    def line_page(self, offset: int, n: int, sort: str = "paid_on") -> tuple[PreviewLine, ...]:
        """``n`` interest lines from ``offset`` (0-based) in the order ``sort``: a key of
        :data:`PREVIEW_SORTS`, ``-key`` descending; ``paid_on`` is S3 order, and lines with equal keys
        keep it. Each line's paid and deferred parts are its parts in S3 order, whatever the sort."""
        if self.columns is None:
            _sort_key(sort)
            return ()
        return self.columns.lines(n, offset, self.columns.positions(sort))

    def line_keys(self) -> list[tuple]:
        """(repayment, amount before and after the cap, capped) per line: what a run's lines hold too."""
        return [(ln.repayment_id, ln.computed_fen, ln.amount_fen, ln.capped) for ln in self.lines]

    def fee_line_keys(self) -> list[tuple]:
        """(fee, amount before and after the loan's cap, capped) per fee line: what the run marks on the fees."""
        return [(ln.fee_id, ln.computed_fen, ln.amount_fen, ln.capped) for ln in self.fee_lines]


# The orders a preview's lines can be read in (Preview.line_page): a line's field, or "paid_on": S3's.
PREVIEW_SORTS = ("paid_on", "repayment", "loan", "interest", "computed", "amount", "deferred")


def _sort_key(sort: str) -> tuple[str, bool]:
    key, descending = (sort[1:], True) if sort.startswith("-") else (sort, False)
    if key not in PREVIEW_SORTS:
        raise DomainError("invalid_sort", f"sort must be one of {', '.join(PREVIEW_SORTS)} (- before for descending), got {sort!r}",
                          field="sort")
    return key, descending


@dataclass(frozen=True)
class _PreviewColumns:
    """A preview's interest lines in S3 order, one array per field of :class:`PreviewLine`."""

    lines_: "_Lines"
    order: np.ndarray
    amounts: np.ndarray
    paid: np.ndarray

    def positions(self, sort: str) -> np.ndarray:
        """The lines' positions in S3 order, sorted by ``sort`` (ties kept in S3 order)."""
        key, descending = _sort_key(sort)
        if key == "paid_on":
            positions = np.arange(len(self.order))
            return positions[::-1] if descending else positions
        ln = self.lines_
        by_line = {"repayment": ln.repayment_id, "loan": ln.loan_id, "interest": ln.interest_fen, "computed": ln.computed_fen}
        if key in by_line:
            values = by_line[key][self.order]
        else:
            values = self.amounts if key == "amount" else self.amounts - self.paid
        return np.argsort(-values if descending else values, kind="stable")

    def lines(self, n: int | None, offset: int = 0, positions: np.ndarray | None = None) -> tuple[PreviewLine, ...]:
        """``n`` lines (None: all) from ``offset`` of ``positions`` (default: S3 order)."""
        ln = self.lines_
        offset = max(0, offset)
        window = slice(offset, None if n is None else offset + max(0, n))
        if positions is None:
            take, amounts, paid = self.order[window], self.amounts[window].tolist(), self.paid[window].tolist()
        else:
            at = positions[window]
            take, amounts, paid = self.order[at], self.amounts[at].tolist(), self.paid[at].tolist()
        rows = zip(take.tolist(), ln.repayment_id[take].tolist(), ln.loan_id[take].tolist(), ln.enterprise_id[take].tolist(),
                   ln.paid_day[take].tolist(), ln.interest_fen[take].tolist(), ln.lpr_bp[take].tolist(),
                   ln.rate_used_bp_e4[take].tolist(), ln.computed_fen[take].tolist(), ln.capped[take].tolist(), amounts, paid)
        return tuple(
            PreviewLine(rep, loan, ent, ln.policy_id[i], dt.date.fromordinal(day), interest, lpr, rate, computed, amount,
                        capped, part, amount - part)
            for i, rep, loan, ent, day, interest, lpr, rate, computed, capped, amount, part in rows
        )


@dataclass(frozen=True)
class PreviewFeeLine(FeeLine):
    """One fee line a run would take now (S6), with the part the pool's cash would pay (after every
    interest line, in the fee lines' order)."""

    paid_fen: int
    deferred_fen: int


def preview_month(session: Session, month: str, business_date: dt.date, *, actor: Actor,
                  progress: Progress | None = None) -> Preview:
    """The lines and totals a run of ``month`` would write now, paid and deferred, writing nothing
    (the same computation as ``run_month``; the pool's cash is read, not locked).

    >>> # with unit_of_work(factory) as session:
    >>> #     preview_month(session, "2026-09", business_date(session), actor=fund_manager).total_fen
    """
    if actor.kind not in ("fund_manager", "auditor"):
        raise Forbidden("forbidden", "only the fund manager and auditors preview a subsidy run")
    report = progress or (lambda stage, done, total: None)
    last_day, existing = _check_month(session, month, business_date)
    cash = session.get(Account, cash_account("subsidy"))
    cash_fen = spendable_cash(session, "subsidy", cash.balance_fen if cash is not None else 0)  # less returned payments held
    if existing is not None:
        return Preview(month, business_date, existing.id, 0, 0, 0, 0, 0, 0, cash_fen)
    fee_lines = month_fee_lines(session, min(last_day, business_date))
    lines = _month_lines(session, last_day, business_date, report, {}, time.perf_counter())
    fees = FeeTotals.of(fee_lines)
    paid_total, deferred_total = pay_from_cash(cash_fen, lines.total_fen + fees.total_fen)
    order = np.lexsort((lines.repayment_id, lines.loan_id, lines.paid_day))  # S3 order
    amounts = lines.amount_fen[order]
    before = np.cumsum(amounts) - amounts  # what the lines before each one take (exact: int64 or Python integers)
    paid = np.minimum(np.maximum(paid_total - before, 0), amounts)  # fund.domain.statements.paid_part, per line
    fee_paid = paid_in_order([f.amount_fen for f in fee_lines], paid_total - min(paid_total, lines.total_fen))
    fee_out = tuple(PreviewFeeLine(f.fee_id, f.loan_id, f.enterprise_id, f.policy_id, f.kind, f.fee_fen, f.paid_on,
                                   f.computed_fen, f.amount_fen, f.capped, p, f.amount_fen - p)
                    for f, p in zip(fee_lines, fee_paid))
    return Preview(month, business_date, None, lines.count, lines.capped_count, lines.computed_total_fen + fees.computed_fen,
                   lines.total_fen + fees.total_fen, paid_total, deferred_total, cash_fen, fee_out, fees.count,
                   fees.capped_count, fees.computed_fen, fees.total_fen, _PreviewColumns(lines, order, amounts, paid))


def _paid_by_enterprise(lines: "_Lines", paid_fen: int, fee_lines: Sequence[FeeLine] = ()) -> dict[int, int]:
    """Per enterprise, the paid parts of its lines: the run's paid money taken by the interest lines in
    S3 order, then by the fee lines in their order."""
    out: dict[int, int] = {}
    left = paid_fen
    if lines.count:
        order = np.lexsort((lines.repayment_id, lines.loan_id, lines.paid_day))
        amounts = lines.amount_fen[order]
        before = np.cumsum(amounts) - amounts
        paid = np.clip(paid_fen - before, 0, amounts)
        enterprises, where = np.unique(lines.enterprise_id[order], return_inverse=True)
        sums = np.zeros(len(enterprises), dtype=np.int64)
        np.add.at(sums, where.reshape(-1), paid)
        out = {int(e): int(fen) for e, fen in zip(enterprises.tolist(), sums.tolist()) if fen}
        left -= int(sum(out.values()))
    for f, part in zip(fee_lines, paid_in_order([f.amount_fen for f in fee_lines], left)):
        if part:
            out[f.enterprise_id] = out.get(f.enterprise_id, 0) + part
    return out


SQLITE_RUN_CACHE_KIB = 256 * 1024


# Columns of the candidate query (one row per repayment) and of the loan query (one row per loan).
_REP_ID, _LOAN_ID, _PAID_ON, _INTEREST, _DUE, _PAST_DUE = range(6)  # _PAST_DUE: fetched, then split off
_L_ID, _L_ENTERPRISE, _L_POLICY, _L_DRAWDOWN, _L_CONTRACT, _L_SHARE = range(6)


def _candidate_statement(session: Session, cutoff: dt.date, months_of: dict[str, int]):
    """S1's conditions in SQL. The subsidy-months limit is exact in Python (``add_months`` clamps to
    the month's end, per loan); SQL drops only what lies past its month's end (``months_of``: each
    policy's subsidy months), a bound at or after the limit: on a book older than its subsidy
    period most repayments fall there and are never fetched. Registration order is id order.
    The cut-off day covers nearly every repayment, so it is kept off the payment-date index (SQLite
    would otherwise look each row up from it: four times the work of a scan on the demo book)."""
    r, i, loan = Repayment, Installment, Loan
    period_bound = case(  # a policy the map does not know (none should be) is left to the exact check
        *((loan.policy_id == pid, month_end_after(session, loan.drawdown_date, months)) for pid, months in sorted(months_of.items())),
        else_=literal(dt.date.max, Date),
    )
    # S1: the loan is eligible; each eligible loan's bound computed once (materialised: not per repayment)
    eligible = (select(loan.id.label("loan_id"), period_bound.label("last_due"))
                .where(loan.coverage == "eligible", loan.policy_id.is_not(None))
                .cte("eligible_loans").prefix_with("MATERIALIZED"))
    taken = select(SubsidyLine.repayment_id).where(SubsidyLine.repayment_id == r.id).exists()
    from fund.adapters.models.people import RepaymentReversal

    reversed_ = select(RepaymentReversal.repayment_id).where(RepaymentReversal.repayment_id == r.id).exists()
    return (
        select(r.id, r.loan_id, r.paid_on, r.interest_fen, i.due_date)
        .join(eligible, eligible.c.loan_id == unindexed(session, r.loan_id))  # still one scan of the repayments
        .join(i, i.id == r.installment_id)
        .where(
            unindexed(session, r.paid_on) <= cutoff,
            ~taken,  # S4: no earlier run took it
            ~reversed_,  # a reversed repayment is no payment (docs/rules.md section 3)
            r.interest_fen > 0,  # S1: it pays interest
            r.paid_on <= i.due_date,  # S1: paid on or before the due date
            r.loan_status_at_payment == "active",  # S1: the loan was active then
            i.due_date <= eligible.c.last_due,  # S1: due within the subsidy months (the bound; exact in _compute_lines)
        )
    )


def _still_past_due(session: Session, flagged) -> set[int]:
    """Ids among the ``flagged`` repayments (a select of repayments stored as past due) for which some
    installment of the loan is past due on the payment date, counting every other repayment recorded so
    far with a payment date on or before it (the registry counted those recorded before it; like the
    registry, the repayment itself does not count). One grouped join, no per-row subquery."""
    fl = flagged.with_only_columns(Repayment.id, Repayment.loan_id, Repayment.paid_on).cte("flagged")
    inst, paid = aliased(Installment), aliased(Repayment)
    stmt = (
        select(fl.c.id)
        .join(inst, and_(inst.loan_id == fl.c.loan_id, inst.due_date < fl.c.paid_on))
        .outerjoin(paid, and_(paid.loan_id == fl.c.loan_id, paid.installment_id == inst.id,
                              paid.paid_on <= fl.c.paid_on, paid.id != fl.c.id))
        .group_by(fl.c.id, inst.id, inst.principal_due_fen, inst.interest_due_fen)
        .having(or_(func.coalesce(func.sum(paid.principal_fen), 0) < inst.principal_due_fen,
                    func.coalesce(func.sum(paid.interest_fen), 0) < inst.interest_due_fen))
    )
    return set(session.scalars(stmt))


def _select_candidates(session: Session, cutoff: dt.date, policies: dict[str, Any]) -> tuple[list[tuple], list[tuple]]:
    """Repayments S1 admits (up to the subsidy-months limit's bound) that no run took, and their
    loans: the repayments as columns (repayment, loan, paid on, interest, due date), one row per loan
    (the loan's terms are not repeated per repayment).

    ``past_due_at_payment`` was computed when the repayment was recorded; a repayment recorded later
    with an earlier payment date can only lower it, so rows stored as not past due are final and the
    rows stored as past due are checked again against every repayment recorded now.
    """
    base = _candidate_statement(session, cutoff, {pid: policy.subsidy.months for pid, policy in policies.items()})
    fetched = _fetch_tuples(session, base.add_columns(Repayment.past_due_at_payment))  # one scan; split here
    if not fetched:
        return [], []
    columns = list(zip(*fetched))
    del fetched
    flags = columns.pop(_PAST_DUE)
    if any(flags):
        still = _still_past_due(session, base.where(Repayment.past_due_at_payment.is_(True)))
        if still:
            keep = [not (flag and rep in still) for rep, flag in zip(columns[_REP_ID], flags)]
            columns = [tuple(compress(column, keep)) for column in columns]
            if not columns[_REP_ID]:
                return [], []
    loan_ids = set(columns[_LOAN_ID])
    low, high = min(loan_ids), max(loan_ids)
    loans = _fetch_tuples(
        session,
        select(Loan.id, Loan.enterprise_id, Loan.policy_id, Loan.drawdown_date, Loan.contract_rate_bp, Loan.ip_share_bp)
        .where(Loan.id.between(low, high), Loan.coverage == "eligible", Loan.policy_id.is_not(None))
        .order_by(Loan.id),
    )
    return columns, [loan for loan in loans if loan[_L_ID] in loan_ids]


def _fetch_tuples(session: Session, stmt) -> list[tuple]:
    """All rows of ``stmt`` as the driver's tuples (no per-value conversion: SQLite gives dates as ISO
    text, PostgreSQL as dates; ``_day_numbers`` accepts both)."""
    connection = session.connection()
    compiled = stmt.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    if compiled.positional:
        params: Any = tuple(_driver_value(compiled.params[name]) for name in compiled.positiontup)
    else:
        params = compiled.params
    cursor = connection.connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        return cursor.fetchall()
    finally:
        cursor.close()


def _driver_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _as_date(value: Any) -> dt.date:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def _day_numbers(values: Sequence[Any]) -> np.ndarray:
    """Proleptic ordinals of dates given as ``date`` or ISO text (numpy parses both at C speed; any
    other form is converted value by value, each distinct value once)."""
    try:
        return np.array(values, dtype="datetime64[D]").astype(np.int64) + _EPOCH_ORDINAL
    except (TypeError, ValueError):
        ordinal = {v: _as_date(v).toordinal() for v in set(values)}
        return np.fromiter(map(ordinal.__getitem__, values), dtype=np.int64, count=len(values))


@lru_cache(maxsize=65_536)
def _period_end_day(drawdown: dt.date, months: int) -> int:
    """S1's last admitted due date as a day number (a pure function of its arguments: remembered)."""
    return subsidy_period_end(drawdown, months).toordinal()


@lru_cache(maxsize=65_536)
def _factor_parts(terms: tuple[int, int, int, int, int]) -> tuple[int, int]:
    """S2's exact factor of (ip share, contract rate, LPR, markup, ratio) as (numerator, denominator):
    a pure function of the five integers, remembered across runs and previews."""
    factor = subsidy_factor(ip_share_bp=terms[0], contract_rate_bp=terms[1], lpr_bp=terms[2], markup_bp=terms[3], ratio_bp=terms[4])
    return factor.numerator, factor.denominator


@dataclass(frozen=True)
class _Lines:
    """The run's lines, columnar (numpy where numeric), in repayment-id order (the table's key order)."""

    repayment_id: np.ndarray
    loan_id: np.ndarray
    enterprise_id: np.ndarray
    policy_id: np.ndarray  # of str (object)
    cap_year: np.ndarray
    interest_fen: np.ndarray
    lpr_bp: np.ndarray
    rate_used_bp_e4: np.ndarray
    computed_fen: np.ndarray
    amount_fen: np.ndarray
    capped: np.ndarray
    policy_ids: tuple[str, ...]
    paid_day: np.ndarray  # the payment date's ordinal: with loan_id and repayment_id, the S3 order

    @property
    def count(self) -> int:
        return len(self.repayment_id)

    @property
    def total_fen(self) -> int:
        return sum(self.amount_fen.tolist())  # Python integers: exact at any size

    @property
    def computed_total_fen(self) -> int:
        return sum(self.computed_fen.tolist())

    @property
    def capped_count(self) -> int:
        return int(np.count_nonzero(self.capped))

    @classmethod
    def empty(cls) -> "_Lines":
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, np.zeros(0, dtype=object), z, z, z, z, z, z, np.zeros(0, dtype=bool), (), z)


def _compute_lines(session: Session, columns: list[tuple], loan_rows: list[tuple], stored: dict[str, Any]) -> _Lines:
    """S1's subsidy-months limit, the LPR stop, S2 and S3 over the candidate columns (repayment,
    loan, paid on, interest, due date; ``stored``: the policies by id)."""
    if not columns:
        return _Lines.empty()
    rep_col, loan_col, paid_col, interest_col, due_col = columns
    n = len(rep_col)
    loan_ids = np.fromiter((loan[_L_ID] for loan in loan_rows), dtype=np.int64, count=len(loan_rows))  # sorted
    row_loan = np.searchsorted(loan_ids, np.fromiter(loan_col, dtype=np.int64, count=n))
    policies = {pid: stored.get(pid) or get_policy(session, pid) for pid in sorted({loan[_L_POLICY] for loan in loan_rows})}

    # Per loan: the last due date S1 admits (add_months clamps), as a day number.
    drawdowns = [_as_date(loan[_L_DRAWDOWN]) for loan in loan_rows]
    months_of = {pid: policy.subsidy.months for pid, policy in policies.items()}
    limit_day = np.fromiter((_period_end_day(day, months_of[loan[_L_POLICY]]) for day, loan in zip(drawdowns, loan_rows)),
                            dtype=np.int64, count=len(loan_rows))
    keep = _day_numbers(due_col) <= limit_day[row_loan]
    kept = np.flatnonzero(keep)
    row_loan = row_loan[kept]

    # Per loan with a line: the LPR on its drawdown date (all failures named at once), S2's factor
    # (one exact Fraction per set of terms), the rate used in bp x 10^4.
    table = lpr_table(session)
    lpr_of_day: dict[dt.date, int] = {}
    failures: dict[dt.date, list[int]] = {}
    n_loans = len(loan_rows)
    numerators, denominators = [0] * n_loans, [1] * n_loans
    lpr = np.zeros(n_loans, dtype=np.int64)
    rate_e4 = np.zeros(n_loans, dtype=np.int64)
    for u in np.unique(row_loan).tolist():
        loan, day = loan_rows[u], drawdowns[u]
        if day not in lpr_of_day:
            try:
                lpr_of_day[day] = table.rate_on(day)
            except DomainError:
                failures.setdefault(day, []).append(loan[_L_ID])
                continue
        sub = policies[loan[_L_POLICY]].subsidy
        terms = (loan[_L_SHARE], loan[_L_CONTRACT], lpr_of_day[day], sub.lpr_markup_bp, sub.ratio_bp)
        numerators[u], denominators[u] = _factor_parts(terms)
        lpr[u] = terms[2]
        rate_e4[u] = min(terms[1] * BP_ONE, terms[2] * (BP_ONE + terms[3]))  # min(contract, LPR x (1 + markup)), x 10^4
    if failures:
        _raise_lpr_stop(table, failures)

    # The kept rows, in S3 order: payment date, loan registration (id), repayment registration (id).
    rep_ids = np.fromiter(rep_col, dtype=np.int64, count=n)[kept]
    paid_days = _day_numbers(paid_col)[kept]
    interest = np.fromiter(interest_col, dtype=np.int64, count=n)[kept]  # single amounts are at most 10^12
    order = np.lexsort((rep_ids, loan_ids[row_loan], paid_days))
    rep_ids, paid_days, interest, row_loan = rep_ids[order], paid_days[order], interest[order], row_loan[order]
    computed = s2_amounts(interest, _per_row(numerators, row_loan), _per_row(denominators, row_loan))

    # S3, per (enterprise, policy, year of payment).
    policy_names = list(policies)
    policy_index = {pid: k for k, pid in enumerate(policy_names)}
    loan_policy = np.array([policy_index[loan[_L_POLICY]] for loan in loan_rows], dtype=np.int64)
    loan_enterprise = np.array([loan[_L_ENTERPRISE] for loan in loan_rows], dtype=np.int64)
    years = _years_of_days(paid_days)
    enterprise, policy_of_row = loan_enterprise[row_loan], loan_policy[row_loan]
    n_policies = len(policy_names)
    key_code = (enterprise * n_policies + policy_of_row) * 10_000 + years
    key_values, key_of_row = np.unique(key_code, return_inverse=True)
    key_of_row = key_of_row.reshape(-1)
    key_policy = (key_values // 10_000 % n_policies).tolist()
    prior = _prior_cap_states(session, key_values, policy_index)
    cap_of_policy = [policies[name].subsidy.enterprise_annual_cap_fen for name in policy_names]
    granted, capped = enterprise_cap_in_order(computed, key_of_row, [cap_of_policy[k] for k in key_policy], prior)

    # Back to repayment-id order for writing.
    by_id = np.argsort(rep_ids, kind="stable")
    row_loan = row_loan[by_id]
    return _Lines(
        repayment_id=rep_ids[by_id],
        loan_id=loan_ids[row_loan],
        enterprise_id=enterprise[by_id],
        policy_id=np.array(policy_names, dtype=object)[policy_of_row[by_id]],
        cap_year=years[by_id],
        interest_fen=interest[by_id],
        lpr_bp=lpr[row_loan],
        rate_used_bp_e4=rate_e4[row_loan],
        computed_fen=computed[by_id],
        amount_fen=granted[by_id],
        capped=capped[by_id],
        policy_ids=tuple(sorted({policy_names[k] for k in set(key_policy)})),
        paid_day=paid_days[by_id],
    )


def _per_row(per_loan: list[int], row_loan: np.ndarray) -> np.ndarray:
    """A per-loan column spread over the rows: int64 when every value fits, else Python integers."""
    try:
        return np.array(per_loan, dtype=np.int64)[row_loan]
    except OverflowError:
        return np.array(per_loan, dtype=object)[row_loan]


def _raise_lpr_stop(table, failures: dict[dt.date, list[int]]) -> None:
    parts = []
    for day in sorted(failures)[:10]:
        loans = sorted(failures[day])
        more = f" and {len(loans) - 10} more" if len(loans) > 10 else ""
        parts.append(f"{day.isoformat()} (loans {', '.join(map(str, loans[:10]))}{more})")
    if len(failures) > 10:
        extra = len(failures) - 10
        parts.append(f"and {extra} more date{'s' if extra > 1 else ''}")
    raise DomainError(
        "lpr_not_available",
        f"no LPR for the drawdown date {'; '.join(parts)}: the table starts on {table.publications[0][0].isoformat()} "
        f"and is checked only through {table.checked_through.isoformat()}; nothing was written",
        field="drawdown_date",
        dates=[d.isoformat() for d in sorted(failures)],
        loan_ids=sorted(loan for loans in failures.values() for loan in loans),
    )


def _years_of_days(days: np.ndarray) -> np.ndarray:
    """The calendar year of each day number (proleptic ordinal), exactly, in one numpy pass."""
    as_dates = (days - _EPOCH_ORDINAL).astype("datetime64[D]")
    return as_dates.astype("datetime64[Y]").astype(np.int64) + 1970


def _prior_cap_states(session: Session, key_values: np.ndarray, policy_index: dict[str, int]) -> list[CapState]:
    """What earlier runs granted per (enterprise, policy, year), and whether they cut a line there,
    for each of the run's keys (coded ``(enterprise * policies + policy) * 10000 + year``, sorted)."""
    empty = CapState()
    prior = [empty] * len(key_values)
    if not len(key_values):
        return prior
    n_policies = len(policy_index)
    years = sorted(set((key_values % 10_000).tolist()))
    line = SubsidyLine
    stmt = (
        select(line.enterprise_id, line.policy_id, line.cap_year, func.sum(line.amount_fen),
               func.max(case((line.capped, 1), else_=0)))
        .where(line.cap_year.in_(years))
        .group_by(line.enterprise_id, line.policy_id, line.cap_year)
    )
    codes, states = [], []
    for ent, pol, year, granted, cut in session.execute(stmt):
        if pol in policy_index:
            codes.append((ent * n_policies + policy_index[pol]) * 10_000 + year)
            states.append(CapState(int(granted), bool(cut)))
    if codes:
        where = np.searchsorted(key_values, np.array(codes, dtype=np.int64))
        for k, code, state in zip(where.tolist(), codes, states):
            if k < len(key_values) and int(key_values[k]) == code:
                prior[k] = state
    return prior


def _write_lines(session: Session, run_id: int, lines: _Lines, chunk_size: int, report: Progress) -> None:
    """Bulk insert in key order: COPY on PostgreSQL, executemany on SQLite, SQLAlchemy elsewhere."""
    kill_after = int(os.environ.get(KILL_HOOK_ENV) or 0)
    total = lines.count
    report("write", 0, total)
    columns = (lines.repayment_id, np.full(total, run_id, dtype=np.int64), lines.loan_id, lines.enterprise_id,
               lines.policy_id, lines.cap_year, lines.interest_fen, lines.lpr_bp, lines.rate_used_bp_e4, lines.computed_fen,
               lines.amount_fen, lines.capped)
    for start in range(0, total, chunk_size):
        stop = min(total, start + chunk_size)
        chunk = list(zip(*(c[start:stop].tolist() if isinstance(c, np.ndarray) else c[start:stop] for c in columns)))
        insert_tuples(session, SubsidyLine, LINE_COLUMNS, chunk, copy_types=_COPY_TYPES)
        done = start + len(chunk)
        report("write", done, total)
        if kill_after and done >= kill_after:
            _die_for_test(session, run_id)


def _die_for_test(session: Session, run_id: int) -> None:
    """The crash-safety test hook: report the lines visible inside the open transaction, then SIGKILL."""
    written = session.scalar(select(func.count()).select_from(SubsidyLine).where(SubsidyLine.run_id == run_id))
    postings = session.scalar(
        select(func.count()).select_from(Posting).join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(JournalEntry.ref_type == "subsidy_run", JournalEntry.ref_id == run_id)
    )
    sys.stderr.write(f"test hook: {written} lines and {postings} postings written in the open transaction of run {run_id}; SIGKILL\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


# ---- runs ---------------------------------------------------------------------------------------


def list_runs(session: Session) -> list[RunResult]:
    return [RunResult.of(r, created=False) for r in session.scalars(select(SubsidyRun).order_by(SubsidyRun.month))]


def find_run(session: Session, *, run_id: int | None = None, month: str | None = None) -> SubsidyRun:
    """The run with this id or for this month (exactly one of them)."""
    if (run_id is None) == (month is None):
        raise DomainError("run_or_month", "give a run id or a month, not both", field="run")
    if month is not None:
        _parse_month(month)
        run = session.scalar(select(SubsidyRun).where(SubsidyRun.month == month))
        if run is None:
            raise NotFound("subsidy_run_not_found", f"no subsidy run for {month}", field="month")
        return run
    run = session.get(SubsidyRun, run_id)
    if run is None:
        raise NotFound("subsidy_run_not_found", f"no subsidy run {run_id}", field="run_id")
    return run


# ---- the ledger check (rule L) ------------------------------------------------------------------


def ledger_violations(session: Session) -> list[Violation]:
    """Each subsidy run's entry equals the sum of its lines, interest and fee (and its stored totals);
    no subsidy entry or subsidy deferral without its run; every line names an existing run and
    repayment and copies the repayment's loan, enterprise, policy and interest (the lines carry no
    foreign keys); a fee a run took never passes its own subsidy before the cap."""
    problems: list[Violation] = []
    line = SubsidyLine
    fee_sums: dict[int, list[int]] = {}  # run -> [total, computed, count, capped]
    policies: dict[str, Any] = {}
    for run_id, fee_id, amount, subsidy, capped, policy_id in session.execute(
        select(LoanFee.run_id, LoanFee.id, LoanFee.amount_fen, LoanFee.subsidy_fen, LoanFee.capped, Loan.policy_id)
        .join(Loan, Loan.id == LoanFee.loan_id).where(LoanFee.run_id.is_not(None))
    ):
        if policy_id not in policies:
            policies[policy_id] = get_policy(session, policy_id) if policy_id else None
        policy = policies[policy_id]
        ratio = policy.fee_subsidy_ratio_bp if policy is not None else None
        computed = apply_bp(amount, ratio) if ratio is not None else 0
        if subsidy > computed:
            problems.append(Violation("subsidy_fee_line_range", f"fee {fee_id} (run {run_id}) has subsidy {subsidy} "
                                      f"above its amount before the cap, {computed}"))
        sums_of_run = fee_sums.setdefault(run_id, [0, 0, 0, 0])
        sums_of_run[0] += subsidy
        sums_of_run[1] += computed
        sums_of_run[2] += 1
        sums_of_run[3] += bool(capped)
    sums = {
        run_id: (int(total), int(computed), count, int(capped))
        for run_id, total, computed, count, capped in session.execute(
            select(line.run_id, func.sum(line.amount_fen), func.sum(line.computed_fen), func.count(),
                   func.sum(case((line.capped, 1), else_=0))).group_by(line.run_id)
        )
    }
    expense = {
        entry_id: int(amount)
        for entry_id, amount in session.execute(
            select(Posting.entry_id, func.sum(Posting.amount_fen))
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(JournalEntry.cause == "subsidy_run", Posting.account_code == expense_account("subsidy"))
            .group_by(Posting.entry_id)
        )
    }
    entries = {
        e.id: e for e in session.scalars(select(JournalEntry).where(JournalEntry.cause == "subsidy_run"))
    }
    deferred = {
        ref_id: int(amount)
        for ref_id, amount in session.execute(
            select(Deferral.ref_id, func.sum(Deferral.amount_fen))
            .where(Deferral.pool == "subsidy", Deferral.ref_type == "subsidy_run").group_by(Deferral.ref_id)
        )
    }
    runs = list(session.scalars(select(SubsidyRun).order_by(SubsidyRun.id)))
    run_ids = {r.id for r in runs}
    for run in runs:
        total, computed, count, capped = sums.get(run.id, (0, 0, 0, 0))
        fee_total, fee_computed, fee_count, fee_capped = fee_sums.get(run.id, (0, 0, 0, 0))
        total, computed = total + fee_total, computed + fee_computed
        where = f"subsidy run {run.id} ({run.month})"
        if (run.total_fen, run.computed_fen, run.line_count, run.capped_count) != (total, computed, count, capped):
            problems.append(Violation("subsidy_run_totals", f"{where} stores total {run.total_fen}, computed {run.computed_fen}, "
                                      f"{run.line_count} lines, {run.capped_count} capped; its lines give {total}, {computed}, {count}, {capped}"))
        stored_fees = (run.fee_total_fen, run.fee_computed_fen, run.fee_line_count, run.fee_capped_count)
        if stored_fees != (fee_total, fee_computed, fee_count, fee_capped):
            problems.append(Violation("subsidy_run_fee_totals", f"{where} stores fee lines total {stored_fees[0]}, computed "
                                      f"{stored_fees[1]}, {stored_fees[2]} lines, {stored_fees[3]} capped; its fees give "
                                      f"{fee_total}, {fee_computed}, {fee_count}, {fee_capped}"))
        if run.entry_id is None:
            if total:
                problems.append(Violation("subsidy_run_entry", f"{where}: lines total {total} but the run has no entry"))
            continue
        entry = entries.get(run.entry_id)
        if entry is None or entry.ref_type != "subsidy_run" or entry.ref_id != run.id:
            problems.append(Violation("subsidy_run_entry", f"{where}: entry {run.entry_id} is not a subsidy_run entry of this run", run.entry_id))
            continue
        if expense.get(entry.id, 0) != total:
            problems.append(Violation("subsidy_run_entry_equals_lines",
                                      f"{where}: entry {entry.id} expenses {expense.get(entry.id, 0)}, its lines total {total}", entry.id))
        if deferred.get(run.id, 0) != run.deferred_fen or run.paid_fen + run.deferred_fen != total:
            problems.append(Violation("subsidy_run_deferral", f"{where}: paid {run.paid_fen} + deferred {run.deferred_fen} "
                                      f"(deferrals {deferred.get(run.id, 0)}) against lines {total}", entry.id))
    referenced = {r.entry_id for r in runs}
    for entry_id, entry in entries.items():
        if entry_id not in referenced:
            problems.append(Violation("subsidy_entry_without_run", f"subsidy_run entry {entry_id} belongs to no run", entry_id))
    for ref_id in deferred:
        if ref_id not in run_ids:
            problems.append(Violation("subsidy_deferral_without_run", f"a subsidy deferral names run {ref_id}, which does not exist"))
    mismatched = session.execute(
        select(line.repayment_id, line.run_id)
        .join(Repayment, Repayment.id == line.repayment_id)
        .join(Loan, Loan.id == Repayment.loan_id)
        .where(or_(line.loan_id != Repayment.loan_id, line.enterprise_id != Loan.enterprise_id,
                   line.policy_id != Loan.policy_id, line.interest_fen != Repayment.interest_fen))
        .order_by(line.repayment_id)
        .limit(20)
    ).all()
    missing = session.execute(
        select(line.repayment_id, line.run_id)
        .outerjoin(Repayment, Repayment.id == line.repayment_id)
        .where(Repayment.id.is_(None))
        .order_by(line.repayment_id)
        .limit(20)
    ).all()
    for repayment_id, run_id in missing:
        problems.append(Violation("subsidy_line_without_repayment",
                                  f"run {run_id} has a line for repayment {repayment_id}, which does not exist"))
    for repayment_id, run_id in mismatched:
        problems.append(Violation("subsidy_line_matches_repayment",
                                  f"the line of repayment {repayment_id} (run {run_id}) names another loan, enterprise, "
                                  "policy or interest than the repayment and its loan"))
    orphan_lines = (set(sums) | set(fee_sums)) - run_ids
    for run_id in sorted(orphan_lines):
        problems.append(Violation("subsidy_lines_without_run", f"lines name run {run_id}, which does not exist"))
    return problems


# ---- statements ---------------------------------------------------------------------------------

STATEMENT_COLUMNS = (
    "month", "run_id", "repayment_id", "bank", "loan_id", "contract_no", "enterprise_credit_code", "enterprise_name",
    "policy_id", "installment_due", "paid_on", "interest_fen", "contract_rate_bp", "ip_share_bp", "lpr_bp",
    "rate_used_bp", "computed_fen", "amount_fen", "capped", "paid_fen", "deferred_fen", "bank_name", "line_kind", "fee_id",
    "fee_fen",
)
LINE_KINDS = ("interest", "appraisal", "insurance", "guarantee")  # a statement row's kind: interest or the fee's kind


@dataclass(frozen=True)
class StatementRow:
    month: str
    run_id: int
    repayment_id: int | None  # None on a fee line
    bank: str
    loan_id: int
    contract_no: str
    enterprise_credit_code: str
    enterprise_name: str
    policy_id: str
    installment_due: dt.date | None  # None on a fee line
    paid_on: dt.date
    interest_fen: int | None  # None on a fee line
    contract_rate_bp: int
    ip_share_bp: int
    lpr_bp: int | None  # None on a fee line
    rate_used_bp: Decimal | None  # exact: at most four decimals; None on a fee line
    computed_fen: int
    amount_fen: int
    capped: bool
    paid_fen: int = 0  # paid so far: lines take the run's paid total in S3 order (fund.domain.statements)
    deferred_fen: int = 0
    bank_name: str = ""
    line_kind: str = "interest"  # or the fee's kind (S6)
    fee_id: int | None = None
    fee_fen: int | None = None  # the fee the borrower paid (fee lines)

    def values(self) -> tuple:
        return tuple(getattr(self, name) for name in STATEMENT_COLUMNS)


@dataclass(frozen=True)
class StatementScope:
    run: SubsidyRun
    bank_code: str | None
    enterprise_code: str | None

    @property
    def title(self) -> str:
        parts = [f"subsidy run {self.run.id} ({self.run.month})"]
        if self.bank_code:
            parts.append(f"bank {self.bank_code}")
        if self.enterprise_code:
            parts.append(f"enterprise {self.enterprise_code}")
        return ", ".join(parts)


def statement_scope(
    session: Session, actor: Actor, *, run_id: int | None = None, month: str | None = None,
    bank_code: str | None = None, enterprise_code: str | None = None,
) -> StatementScope:
    """Who may see which lines: a bank only its own loans' lines (naming another bank is refused);
    the fund manager and auditors everything."""
    if actor.kind == "bank":
        if bank_code is not None and bank_code != actor.code:
            raise Forbidden("forbidden", "a bank sees only its own loans' subsidy lines", field="bank")
        bank_code = actor.code
    elif actor.kind not in ("fund_manager", "auditor"):
        raise Forbidden("forbidden", "only the fund manager, auditors and banks read subsidy statements")
    run = find_run(session, run_id=run_id, month=month)
    if bank_code is not None and session.scalar(select(Institution.id).where(Institution.code == bank_code, Institution.kind == "bank")) is None:
        raise NotFound("unknown_institution", f"no bank with code {bank_code!r}", field="bank")
    return StatementScope(run, bank_code, enterprise_code)


def statement_line_count(session: Session, scope: StatementScope) -> int:
    """How many lines the scope's statement holds, interest and fee (for progress bars)."""
    line, loan, ent, bank = SubsidyLine, Loan, Enterprise, Institution
    stmt = select(func.count()).select_from(line).where(line.run_id == scope.run.id)
    if scope.bank_code is not None:
        stmt = stmt.join(loan, loan.id == line.loan_id).join(bank, bank.id == loan.bank_id).where(bank.code == scope.bank_code)
    if scope.enterprise_code is not None:
        stmt = stmt.join(ent, ent.id == line.enterprise_id).where(ent.credit_code == scope.enterprise_code)
    fees = 0
    if scope.run.fee_line_count:
        fees = int(session.scalar(_scoped_fees(select(func.count()).select_from(LoanFee), scope)) or 0)
    return int(session.scalar(stmt) or 0) + fees


def _scoped_fees(stmt, scope: StatementScope):
    """``stmt`` over the run's fee lines, joined to their loan, its bank and enterprise, within the scope."""
    stmt = (stmt.join(Loan, Loan.id == LoanFee.loan_id).join(Institution, Institution.id == Loan.bank_id)
            .join(Enterprise, Enterprise.id == Loan.enterprise_id).where(LoanFee.run_id == scope.run.id))
    if scope.bank_code is not None:
        stmt = stmt.where(Institution.code == scope.bank_code)
    if scope.enterprise_code is not None:
        stmt = stmt.where(Enterprise.credit_code == scope.enterprise_code)
    return stmt


def run_paid_total(session: Session, run: SubsidyRun) -> int:
    """What the run has paid so far: its paid part plus what inflows settled of its deferral since."""
    settled = session.scalar(select(func.coalesce(func.sum(Deferral.settled_fen), 0))
                             .where(Deferral.pool == "subsidy", Deferral.ref_type == "subsidy_run", Deferral.ref_id == run.id))
    return run.paid_fen + int(settled or 0)


def statement_rows(session: Session, scope: StatementScope, *, batch: int = 10_000) -> Iterator[StatementRow]:
    """The scope's lines in run order, streamed, each with its paid and deferred part: the interest
    lines in S3 order, then the fee lines (payment date, loan, fee id). The run's paid total is taken
    by its lines in that order, over the whole run: a bank's statement shows the same parts as the
    fund's."""
    line, loan, ent, rep, inst, bank = SubsidyLine, Loan, Enterprise, Repayment, Installment, Institution
    s3_order = (rep.paid_on, line.loan_id, line.repayment_id)
    before = (func.sum(line.amount_fen).over(order_by=s3_order) - line.amount_fen).label("before_fen")
    ranked = (
        select(line.repayment_id.label("repayment_id"), before)
        .join(rep, rep.id == line.repayment_id)
        .where(line.run_id == scope.run.id)
        .subquery()
    )
    paid_total = run_paid_total(session, scope.run)
    stmt = (
        select(line.repayment_id, bank.code, loan.id, loan.contract_no, ent.credit_code, loan.borrower_name, line.policy_id, inst.due_date,
               rep.paid_on, line.interest_fen, loan.contract_rate_bp, loan.ip_share_bp, line.lpr_bp, line.rate_used_bp_e4,
               line.computed_fen, line.amount_fen, line.capped, ranked.c.before_fen, bank.name)
        .join(ranked, ranked.c.repayment_id == line.repayment_id)
        .join(loan, loan.id == line.loan_id)
        .join(bank, bank.id == loan.bank_id)
        .join(ent, ent.id == line.enterprise_id)
        .join(rep, rep.id == line.repayment_id)
        .join(inst, inst.id == rep.installment_id)
        .where(line.run_id == scope.run.id)
        .order_by(rep.paid_on, line.loan_id, line.repayment_id)  # the S3 order
    )
    if scope.bank_code is not None:
        stmt = stmt.where(bank.code == scope.bank_code)
    if scope.enterprise_code is not None:
        stmt = stmt.where(ent.credit_code == scope.enterprise_code)
    month, run_id = scope.run.month, scope.run.id
    for row in session.execute(stmt.execution_options(yield_per=batch)):
        (repayment_id, bank_code, loan_id, contract_no, code, name, policy_id, due, paid_on, interest, contract_rate,
         share, lpr, rate_e4, computed, amount, capped, before_fen, bank_name) = row
        paid = paid_part(int(before_fen), amount, paid_total)
        yield StatementRow(month, run_id, repayment_id, bank_code, loan_id, contract_no, code, name, policy_id, _as_date(due),
                           _as_date(paid_on), interest, contract_rate, share, lpr, Decimal(rate_e4) / BP_ONE, computed, amount,
                           bool(capped), paid, amount - paid, bank_name)
    if scope.run.fee_line_count:
        yield from _fee_statement_rows(session, scope, paid_total)


def run_fee_lines(session: Session, run: SubsidyRun) -> list[FeeLine]:
    """The fee lines a run took, in its money order (payment date, loan, fee id)."""
    if not run.fee_line_count:
        return []
    rows = session.execute(
        select(LoanFee.id, LoanFee.loan_id, Loan.enterprise_id, Loan.policy_id, LoanFee.kind, LoanFee.amount_fen,
               LoanFee.paid_on, LoanFee.subsidy_fen, LoanFee.capped)
        .join(Loan, Loan.id == LoanFee.loan_id).where(LoanFee.run_id == run.id)
        .order_by(LoanFee.paid_on, LoanFee.loan_id, LoanFee.id)
    ).all()
    ratios = {pid: get_policy(session, pid).fee_subsidy_ratio_bp for pid in {r.policy_id for r in rows}}
    return [FeeLine(r.id, r.loan_id, r.enterprise_id, r.policy_id, r.kind, r.amount_fen, _as_date(r.paid_on),
                    apply_bp(r.amount_fen, ratios[r.policy_id]) if ratios[r.policy_id] is not None else 0, r.subsidy_fen,
                    bool(r.capped)) for r in rows]


def run_fee_lines_paid(session: Session, run: SubsidyRun) -> list[tuple[FeeLine, int]]:
    """The fee lines a run took, in its money order, each with its part paid so far: the run's paid
    money (its paid part and what inflows settled of its deferral since) goes to every interest line
    first, then to the fee lines in order (docs/rules.md section 5, S6), as its statement shows."""
    fee_lines = run_fee_lines(session, run)
    if not fee_lines:
        return []
    paid_total = run_paid_total(session, run)
    interest_total = run.total_fen - (run.fee_total_fen or 0)
    parts = paid_in_order([f.amount_fen for f in fee_lines], paid_total - min(paid_total, interest_total))
    return list(zip(fee_lines, parts))


def fee_parts(session: Session, run_id: int, low_fen: int, high_fen: int) -> dict[int, int]:
    """Per enterprise, the part of the run's money from ``low_fen`` to ``high_fen`` that falls on its
    fee lines (which come after every interest line): for the payment instructions of a deferral's
    settlement (``fund.services.payments.subsidy_parts`` adds the interest lines' parts)."""
    run = session.get(SubsidyRun, run_id)
    parts: dict[int, int] = {}
    if run is None or not run.fee_line_count:
        return parts
    before = run.total_fen - run.fee_total_fen
    for f in run_fee_lines(session, run):
        lo, hi = max(low_fen, before), min(high_fen, before + f.amount_fen)
        if hi > lo:
            parts[f.enterprise_id] = parts.get(f.enterprise_id, 0) + hi - lo
        before += f.amount_fen
    return parts


def _fee_statement_rows(session: Session, scope: StatementScope, paid_total: int) -> Iterator[StatementRow]:
    """The run's fee lines within the scope, after every interest line in the money order."""
    run = scope.run
    before = run.total_fen - run.fee_total_fen  # every interest line comes first
    in_scope = set(session.scalars(_scoped_fees(select(LoanFee.id), scope)))
    fee_lines = run_fee_lines(session, run)
    loans = {r.id: r for r in session.execute(
        select(Loan.id, Loan.contract_no, Loan.borrower_name, Loan.contract_rate_bp, Loan.ip_share_bp, Institution.code,
               Institution.name, Enterprise.credit_code)
        .join(Institution, Institution.id == Loan.bank_id).join(Enterprise, Enterprise.id == Loan.enterprise_id)
        .where(Loan.id.in_({f.loan_id for f in fee_lines if f.fee_id in in_scope}))
    )}
    for f in fee_lines:
        if f.fee_id in in_scope:
            loan = loans[f.loan_id]
            paid = paid_part(before, f.amount_fen, paid_total)
            yield StatementRow(run.month, run.id, None, loan.code, f.loan_id, loan.contract_no, loan.credit_code,
                               loan.borrower_name, f.policy_id, None, f.paid_on, None, loan.contract_rate_bp, loan.ip_share_bp,
                               None, None, f.computed_fen, f.amount_fen, f.capped, paid, f.amount_fen - paid, loan.name,
                               f.kind, f.fee_id, f.fee_fen)
        before += f.amount_fen
