"""The Monte Carlo stress engine of docs/rules.md section 8 (rule M).

Design, in the order the work is done:

* :func:`prepare` turns a :class:`~risk.portfolio.Book`, a :class:`~risk.scenario.Scenario`, the cap
  base and the fund position into :class:`Prepared`: plain arrays only. Everything that does not
  depend on the random draws is computed once here: each loan's exposure per year (M3), the A2 split
  of that exposure through ``risk.allocation.split_loss_array`` (the claims workflow's code), each
  (bank, policy)'s A3 room per year through ``risk.allocation.cap_room``, and the default groups.
* Loans that share a sector and a PD (or PDs within a factor :data:`PD_BUCKET_RATIO`) form a
  *group*. Given the year's factors, the loans of a group default independently (M2). The engine
  gives each loan a Poisson number of hits with mean ``-log(1 - p)`` (a loan defaults when it has
  one, with probability exactly ``p``): one exponential per (scenario, group) says whether the
  group has a hit at all, the groups that do draw their hits' number (Poisson) and uniform loans
  for them, and where a group's PDs differ each hit is kept with probability ``lambda_i / lambda``
  (thinning), which is exact (:func:`_draw_hits`). The cost grows with the number of defaults, not
  with the number of loans; no normal is drawn per loan and no ``ndtri`` is taken in a chunk.
  A loan that defaulted in an earlier year is dropped from later draws; drawing it again and dropping
  it is the same as the per-loan model, where its later draws are ignored.
* The draws of issue 15 (Poisson hits) replaced those of issue 10 (a binomial count per
  (scenario, group) and draws without replacement), which cost more than the defaults they drew
  on books of many small groups: the same inputs and seed give other figures than before that
  change, with the same distribution (tests/test_stress_oracle.py, tests/test_stress_model_pins.py).
  Issue 15 point 7 drew again once more, the law unchanged: a hit's one uniform ``u`` places it on
  the group's line, ``u n``, whose whole part is the loan and whose fractional part (uniform on
  [0, 1) and independent of the loan) decides the thinning, where a second uniform did before.
* Scenarios run in chunks of ``batch``; chunk ``j`` draws from ``SeedSequence(seed).spawn(n)[j]``,
  so the numbers are the same whatever the number of worker processes (M6). A chunk keeps only a
  few figures per scenario (:class:`ChunkResult`).
* Allocation per year (M4): the appropriation first, then the year's defaults of every scenario of
  the chunk in portfolio order as one array: A3 through ``risk.kernels.capped_granted_in_runs``
  (the form of ``risk.allocation.cap_in_order_array``'s kernel for rows already grouped) with
  one cap group per (scenario, bank, policy), worked through only in the groups whose claims pass
  their room (elsewhere every claim is granted in full), then A4, then the year's recoveries with
  A5's fund part (``risk.allocation.recovery_increment_array``'s kernel
  ``risk.kernels.mul_div_floor``). A chunk reads its per-loan inputs in slot order
  (:class:`SlotArrays`) and keeps its freed temporaries in the C heap (:func:`_keep_heap`: glibc
  otherwise maps and faults in every large temporary afresh). A4 is kept per scenario as the pool's net position
  ``cash - deferred``: paying debits it, an inflow credits it; because an inflow settles deferrals
  before it adds to cash (A4), cash is ``max(net, 0)`` and deferred is ``max(-net, 0)`` at every
  point, which is exactly what ``pay_from_cash`` / ``settle_inflow`` claim by claim give
  (tests/test_stress_engine.py replays them).
* With numba installed (the extra ``ipfund[fast]``), :mod:`risk.compiled` does the integer
  bookkeeping between the draws: placing the hits, the year's new defaults in order without a sort
  (a bitmap per scenario) and the loans already dead (a bitmap, 64 loans a word), one pass over the
  defaults for the runs and sums, and the recoveries' sums. Every random number, ``ndtr``, ``log1p``
  and ``exp`` is numpy's either way, so the figures are the same integers with or without it
  (tests/test_engine_compiled.py); ``USE_COMPILED`` says which form runs.

>>> import datetime as dt
>>> from risk.engine import simulate_oracle_book
>>> result = simulate_oracle_book(n_loans=100, pd=0.02, rho=0.15, n_scenarios=2000, seed=1)
>>> int(result.n_scenarios)
2000
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from fund.domain.dates import add_years
from fund.domain.policy import IP_KINDS, Policy
from risk import compiled
from risk.allocation import UNLIMITED, cap_room, split_loss_array
from risk.importance import (  # noqa: F401  (the chooser's names, re-exported from here)
    FIRST_PILOT_SHIFT, MIN_EFFECTIVE_SHARE, MIN_TAIL_SCENARIOS, PILOT_ROUNDS, PILOT_STREAM, SHIFT_TOLERANCE,
    ShiftChoice, choose_shift, choose_shift_details, largest_shift, year_scales, year_shifts,
)
from risk.kernels import capped_granted_in_runs, mul_div_floor, run_starts
from risk.portfolio import Book, CapBase, FundPosition
from risk.scenario import SECTORS, Scenario, StressAssumptions, load_stress_assumptions

DEFAULT_BATCH = 2048
#: A bucket of one sector holds PDs within this ratio of each other (thinning keeps most hits:
#: fewer, larger groups cost less than the hits thinning drops; 1.25 and 3 measured slower)
PD_BUCKET_RATIO = 2.0
#: A PD shared by at least this many loans of a sector forms a group of its own (no thinning).
SHARED_PD_LOANS = 16
#: A (scenario, group) whose probability is at least this draws one uniform per loan.
DENSE_P = 0.25
#: Chunks with at most this many (scenario, loan) pairs track defaulted loans in a flag array.
DEAD_FLAG_LIMIT = 1 << 25
#: Runs of fewer loan-scenario-years than this do not start worker processes.
SMALL_RUN = 200_000_000
_INT64_MAX = np.iinfo(np.int64).max


# --------------------------------------------------------------------------------------------------
# prepared inputs


@dataclass(frozen=True)
class Prepared:
    """Everything a chunk needs, as arrays (picklable; sent once to each worker)."""

    n_loans: int
    horizon: int
    bank: np.ndarray            # (N,) int32
    sector: np.ndarray          # (N,) int8
    cap_group: np.ndarray       # (N,) int64 index of the (bank, policy) pair
    n_cap_groups: int
    ead: np.ndarray             # (H, N) int64: exposure if the loan defaults in year k
    fund_raw: np.ndarray        # (H, N) int64: A2 fund share before A3
    insurer: np.ndarray         # (H, N) int64
    appraiser: np.ndarray       # (H, N) int64
    room: np.ndarray            # (H, C) int64 A3 room at the start of each year, UNLIMITED for none
    appropriation: np.ndarray   # (H,) int64, arriving at the start of year k (k >= 1; [0] is 0)
    net0: int                   # cash - deferred today
    threshold: np.ndarray       # (N,) float64: Phi^-1(PD) or t_nu^-1(PD)
    liquidation_base: np.ndarray  # (N,) float64: ip_value * value_multiplier * (1 - haircut)
    invalidation: np.ndarray    # (N,) float64 probability
    year_loans: np.ndarray      # for each year k, the slots of each group's loans that can default in it, concatenated
    year_start: np.ndarray      # (H, G) int64: where group g's loans of year k start in year_loans
    group_sector: np.ndarray    # (G,) int64
    group_threshold: np.ndarray  # (G,) float64: the largest threshold in the group
    group_low_threshold: np.ndarray  # (G,) float64: the smallest
    group_mixed: np.ndarray     # (G,) bool: PDs differ within the group (thinning needed)
    group_alive: np.ndarray     # (G, H) int64: loans of the group that can default in year k
    loan_group: np.ndarray      # (N,) int64
    #: default draws number the loans by *slot*: sorted by cap group, portfolio order within each,
    #: so keys ``scenario * N + slot`` sort by (scenario, cap group, portfolio order)
    slot_loan: np.ndarray       # (N,) int64: the loan in each slot
    slot_threshold: np.ndarray  # (N,) float64: threshold / sqrt(1 - rho) of the loan in each slot
    slot_sector: np.ndarray     # (N,) int64
    copula: str
    nu: float
    rho: float
    beta: float
    sigma: float
    beta_v: float
    lag: int
    #: M6b: each year's global factor is drawn from N(shift, scale^2) (0 and 1: crude Monte Carlo); a
    #: tuple gives each year its own mean or spread (risk.importance.year_shifts, year_scales)
    shift: float | tuple[float, ...] = 0.0
    scale: float | tuple[float, ...] = 1.0
    #: B2 in the simulation: ``base`` (H, N) covered loss of A2 per loan and year, ``line`` (H, C)
    #: each cap group's suspension line (UNLIMITED: none), ``start_year`` (N,) the year a new loan is
    #: drawn in (M1b; -1 for today's loans, which a suspension never uncovers), ``b2_start`` (C,)
    #: each cap group's approved covered losses on the run date (since its agreement or last lift),
    #: ``suspended_start`` (C,) whether it is suspended on the run date; None when no policy of the
    #: run has a line and no bank is suspended
    base: np.ndarray | None = None
    line: np.ndarray | None = None
    start_year: np.ndarray | None = None
    b2_start: np.ndarray | None = None
    suspended_start: np.ndarray | None = None

    @property
    def slots(self) -> "SlotArrays":
        """The per-loan arrays a chunk reads, in slot order (made once per process)."""
        cached = self.__dict__.get("_slots")
        if cached is None:
            cached = SlotArrays.of(self)
            object.__setattr__(self, "_slots", cached)
        return cached

    @property
    def any_mixed(self) -> bool:
        return bool(self.group_mixed.any())

    @property
    def n_groups(self) -> int:
        return int(self.group_sector.size)


@dataclass(frozen=True)
class SlotArrays:
    """A chunk's per-loan inputs indexed by slot (:attr:`Prepared.slot_loan` gives the loan of each
    slot), so the year's defaults, which come as slots, read them without a detour through the loan
    number."""

    cap_group: np.ndarray       # (N,) int64
    ead: np.ndarray             # (H, N) int64
    fund_raw: np.ndarray
    insurer: np.ndarray | None  # None when no loan has an insurer share
    appraiser: np.ndarray | None
    base: np.ndarray | None     # B2's covered loss (None: no line)
    start_year: np.ndarray | None
    bank: np.ndarray            # (N,) int64
    sector: np.ndarray          # (N,) int64
    liquidation_base: np.ndarray
    invalidation: np.ndarray
    valued: np.ndarray | None   # (N,) bool; None when every loan has IP value
    #: B2: each cap group's slots end at ``group_end[g]``; its new loans drawn after year k - 1
    #: (start year >= k) start at ``drawn_from[g, k]`` (k = 0..H): within a group today's loans come
    #: first, then the new ones by the year they are drawn (portfolio order), so these are a suffix
    group_end: np.ndarray | None = None
    drawn_from: np.ndarray | None = None

    @classmethod
    def of(cls, prep: "Prepared") -> "SlotArrays":
        s = prep.slot_loan
        insurer = prep.insurer[:, s] if prep.insurer.any() else None
        appraiser = prep.appraiser[:, s] if prep.appraiser.any() else None
        valued = prep.liquidation_base[s] > 0
        return cls(
            cap_group=prep.cap_group[s],
            ead=np.ascontiguousarray(prep.ead[:, s]), fund_raw=np.ascontiguousarray(prep.fund_raw[:, s]),
            insurer=insurer, appraiser=appraiser,
            base=np.ascontiguousarray(prep.base[:, s]) if prep.base is not None else None,
            start_year=prep.start_year[s] if prep.start_year is not None else None,
            bank=prep.bank[s].astype(np.int64), sector=prep.sector[s].astype(np.int64),
            liquidation_base=prep.liquidation_base[s], invalidation=prep.invalidation[s],
            valued=None if valued.all() else valued,
            **cls._b2_ranges(prep),
        )

    @staticmethod
    def _b2_ranges(prep: "Prepared") -> dict:
        if prep.start_year is None:
            return {}
        groups = prep.cap_group[prep.slot_loan]
        start = prep.start_year[prep.slot_loan]
        group_end = np.searchsorted(groups, np.arange(prep.n_cap_groups), side="right")
        group_start = group_end - np.bincount(groups, minlength=prep.n_cap_groups)
        drawn_from = np.empty((prep.n_cap_groups, prep.horizon + 1), dtype=np.int64)
        for g in range(prep.n_cap_groups):
            years = start[group_start[g]:group_end[g]]
            assert (np.diff(years) >= 0).all()
            drawn_from[g] = group_start[g] + np.searchsorted(years, np.arange(prep.horizon + 1), side="left")
        return {"group_end": group_end, "drawn_from": drawn_from}


@dataclass(frozen=True)
class Inputs:
    """What a run was given, for the record (JSON)."""

    as_of: str
    horizon_years: int
    n_loans: int
    n_banks: int
    policies: tuple[str, ...]
    fund_cash_fen: int
    fund_deferred_fen: int
    appropriation_fen: tuple[int, ...]
    scenario: dict
    sector_pd_assumptions: str
    new_lending_fen: int = 0
    new_loans_by_year: tuple[int, ...] = ()
    new_covered_by_year_fen: tuple[int, ...] = ()
    sector_pd: dict = field(default_factory=dict)
    invalidation_probability_bp: dict = field(default_factory=dict)
    #: B2's reading on the run date where it is not nothing: ``{"bank", "policy", "losses_fen",
    #: "suspended"}`` per (bank, policy); the simulation's counts start there
    b2_on_run_date: tuple[dict, ...] = ()


def effective_pd(book: Book, scenario: Scenario, assumptions: StressAssumptions) -> np.ndarray:
    """M2: ``min(1, PD * pd_multiplier * sector_pd_multiplier)``, PD the bank's or the sector's."""
    sector_default = np.array([assumptions.sector_pd[s] for s in SECTORS])
    sector_mult = np.array([scenario.sector_multiplier(s) for s in SECTORS])
    pd = np.where(np.isnan(book.pd), sector_default[book.sector], book.pd)
    return np.minimum(1.0, pd * scenario.pd_multiplier * sector_mult[book.sector])


def exposure_by_year(book: Book, as_of: dt.date, horizon: int, start_year: np.ndarray | None = None) -> np.ndarray:
    """M3: outstanding principal at the start of each simulated year, (H, N) int64 fen.

    Bullet: the outstanding principal until maturity. Straight line: it falls linearly to 0 at
    maturity, ``floor(outstanding * days_left(start_k) / days_left(entry))``, the entry being the
    as-of date for today's loans and the drawdown for M1b's new loans (``start_year``: the year a
    loan is drawn in; before it, 0). A loan whose maturity is on or before the start of year k
    cannot default in it (0)."""
    starts = np.array([np.datetime64(add_years(as_of, k), "D") for k in range(horizon)])
    if start_year is None:
        start_year = np.zeros(book.size, np.int64)
    days_total = (book.maturity - starts[start_year]).astype(np.int64)
    out = np.zeros((horizon, book.size), dtype=np.int64)
    for k in range(horizon):
        start = starts[k]
        days_left = (book.maturity - start).astype(np.int64)
        alive = (days_left > 0) & (start_year <= k)
        # outstanding <= 10**12 and days_left < 10**5.2: the product stays below 2**63
        linear = np.where(alive, book.outstanding_fen * np.maximum(days_left, 0) // np.maximum(days_total, 1), 0)
        out[k] = np.where(alive, np.where(book.straight_line, linear, book.outstanding_fen), 0)
    return out


def _thresholds(pd: np.ndarray, scenario: Scenario) -> np.ndarray:
    with np.errstate(divide="ignore"):
        if scenario.copula == "t":
            from scipy import stats

            return stats.t.ppf(pd, scenario.t_degrees_of_freedom)
        return special.ndtri(pd)


def _groups(sector: np.ndarray, pd: np.ndarray, alive_years: np.ndarray):
    """Loans with PD > 0 that can default in some year, grouped by sector: first the PDs that
    :data:`SHARED_PD_LOANS` or more loans of the sector share (one group each, no thinning: the
    sector's default PD is one), then the other loans in buckets of PDs within
    :data:`PD_BUCKET_RATIO` of each other. The year a loan enters (M1b) is not part of the group:
    each year has its own list of the group's loans alive in it."""
    groups = []
    for s in range(len(SECTORS)):
        members = np.flatnonzero((sector == s) & (pd > 0) & (alive_years > 0))
        if members.size == 0:
            continue
        values, inverse, counts = np.unique(pd[members], return_inverse=True, return_counts=True)
        shared = counts[inverse] >= SHARED_PD_LOANS
        for v in np.flatnonzero(counts >= SHARED_PD_LOANS).tolist():
            groups.append((s, members[inverse == v]))
        rest = members[~shared]
        order = rest[np.argsort(pd[rest], kind="stable")]
        start = 0
        while start < order.size:
            low = pd[order[start]]
            stop = int(np.searchsorted(pd[order], low * PD_BUCKET_RATIO, side="right"))
            stop = max(stop, start + 1)
            groups.append((s, order[start:stop]))
            start = stop
    return groups


def prepare(book: Book, scenario: Scenario, cap_base: list[CapBase], fund: FundPosition, *,
            as_of: dt.date, horizon: int | None = None,
            assumptions: StressAssumptions | None = None, policies: Sequence[Policy] | None = None,
            new_lending_fen: int = 0, seed: int = 0) -> tuple[Prepared, Inputs]:
    """Check and pre-compute the inputs of a run (everything except the default draws).

    ``policies``: the active policies, which cover M1b's new loans (default: the book's);
    ``new_lending_fen``: M1b's ``V`` (the caller resolves the scenario's key or the database's
    default); ``seed``: the run's seed, from which the new loans are sampled (a stream no chunk
    uses). The scenario's ``[policy_override]`` is applied to every policy of the run."""
    from risk.lending import draw_new_lending, override_policies, suspension_line_bp
    from risk.valuation import load_assumptions

    horizon = scenario.horizon_years if horizon is None else int(horizon)
    if not 1 <= horizon <= 30:
        raise ValueError(f"horizon must be 1..30 years, got {horizon}")
    if book.size == 0:
        raise ValueError("the book has no loans")
    if book.size * 10**12 > _INT64_MAX // 4:
        raise ValueError("too many loans for exact int64 sums per scenario")
    if len(fund.appropriation_fen) < horizon:
        raise ValueError(f"fund.appropriation_fen must give {horizon} years, got {len(fund.appropriation_fen)}")
    assumptions = assumptions or load_stress_assumptions()
    v3 = load_assumptions()

    override = scenario.policy_override
    run_policies = override_policies(list(policies) if policies is not None else list(book.policies), override)
    if not override.empty:
        by_id = {p.id: p for p in override_policies(book.policies, override)}
        covered = book.covered_fen
        if override.single_loan_cap_fen is not None:
            # a lower cap lowers today's coverage; a higher one cannot raise what was registered
            covered = np.minimum(covered, override.single_loan_cap_fen)
        book = dataclasses.replace(book, policies=tuple(by_id[p.id] for p in book.policies), covered_fen=covered)
    if new_lending_fen < 0:
        raise ValueError("new lending volume must be >= 0")
    grown = draw_new_lending(book, run_policies, as_of=as_of, horizon=horizon, volume_fen=int(new_lending_fen),
                             growth=scenario.new_lending.growth, after_policy_end=scenario.after_policy_end, seed=seed)
    book, start_year = grown.book, grown.start_year
    if book.size * 10**12 > _INT64_MAX // 4:
        raise ValueError("too many loans (with new lending) for exact int64 sums per scenario")

    pd = effective_pd(book, scenario, assumptions)
    ead = exposure_by_year(book, as_of, horizon, start_year)
    alive_years = (ead > 0).sum(axis=0)
    # ead is non-increasing in k from the year a loan enters (bullet and straight line), so its
    # alive years are one run starting there
    alive_end = start_year + alive_years
    ks = np.arange(horizon)[:, None]
    assert ((ead > 0) == ((ks >= start_year[None, :]) & (ks < alive_end[None, :]))).all()

    fund_bp, insurer_bp, appraiser_bp = (book.ratios_bp(p) for p in ("fund", "insurer", "appraiser"))
    bank_bp = 10_000 - fund_bp - insurer_bp - appraiser_bp
    fund_raw = np.zeros_like(ead)
    insurer = np.zeros_like(ead)
    appraiser = np.zeros_like(ead)
    rows, cols = np.nonzero(ead > 0)
    if rows.size:
        split = split_loss_array(
            ead[rows, cols], book.covered_fen[cols], book.principal_fen[cols],
            {"fund": fund_bp[cols], "insurer": insurer_bp[cols], "appraiser": appraiser_bp[cols], "bank": bank_bp[cols]},
            insurer_limit_fen=book.insurer_limit_fen[cols],
        )
        fund_raw[rows, cols] = split.fund_fen
        base_loss = np.zeros_like(ead)
        base_loss[rows, cols] = split.base_fen
        insurer[rows, cols] = split.insurer_fen
        appraiser[rows, cols] = split.appraiser_fen

    # A3 cap groups: one per (bank, policy) present in the book
    pair_index: dict[tuple[int, int], int] = {}
    cap_group = np.empty(book.size, dtype=np.int64)
    for i, (b, p) in enumerate(zip(book.bank.tolist(), book.policy.tolist())):
        cap_group[i] = pair_index.setdefault((b, p), len(pair_index))
    bases = {(c.bank, c.policy): c for c in cap_base}
    room = np.empty((horizon, len(pair_index)), dtype=np.int64)
    line = np.full((horizon, len(pair_index)), UNLIMITED, dtype=np.int64)
    # B2 on the run date: each pair's approved covered losses since its agreement or last lift, and
    # whether it is suspended (then its new loans are not covered and do not add to its lending)
    b2_start = np.zeros(len(pair_index), dtype=np.int64)
    suspended_start = np.zeros(len(pair_index), dtype=bool)
    for (b, p), g in pair_index.items():
        base = bases.get((book.bank_names[b], book.policies[p].id))
        if base is not None:
            b2_start[g], suspended_start[g] = base.b2_losses_fen, base.suspended
    # M1b: a new loan's C adds to its bank's in-pool lending from the year it is drawn
    new = np.arange(book.size) >= grown.n_today
    added = np.zeros((horizon, len(pair_index)), dtype=np.int64)
    for k in range(horizon):
        entering = new & (start_year == k) & ~suspended_start[cap_group]
        if entering.any():
            added[k] = np.bincount(cap_group[entering], weights=book.covered_fen[entering],
                                   minlength=len(pair_index)).astype(np.int64)
    added = np.cumsum(added, axis=0)
    for (b, p), g in pair_index.items():
        policy = book.policies[p]
        base = bases.get((book.bank_names[b], policy.id))
        if base is None:
            if not new[cap_group == g].all():
                raise ValueError(f"no cap base for bank {book.bank_names[b]!r} and policy {policy.id!r}")
            base = CapBase(book.bank_names[b], policy.id, 0, 0)   # only new loans: nothing lent or used yet
        for k in range(horizon):
            r = cap_room(base.in_pool_lending_fen + int(added[k, g]), policy.bank_annual_cap_bp,
                         base.cap_used_fen if k == 0 else 0)
            room[k, g] = UNLIMITED if r is None else min(r, _INT64_MAX // 2)
            line_bp = suspension_line_bp(policy, override)
            if line_bp is not None:
                line[k, g] = (base.in_pool_lending_fen + int(added[k, g])) * line_bp // 10_000

    appropriation = np.array([0, *fund.appropriation_fen[1:horizon]], dtype=np.int64)
    if scenario.annual_appropriation_fen is not None:
        appropriation[1:] = scenario.annual_appropriation_fen

    threshold = _thresholds(pd, scenario)
    coll = scenario.collateral
    liquidation_base = book.ip_value_fen.astype(np.float64) * coll.value_multiplier * (1.0 - coll.liquidation_haircut)
    kind_prob = np.array([v3.invalidation_probability_bp[k] / 10_000 for k in IP_KINDS] + [0.0])
    invalidation = kind_prob[book.ip_kind] * coll.invalidation_multiplier
    if (invalidation > 1.0 + 1e-12).any():
        raise ValueError("collateral.invalidation_multiplier times an invalidation probability passes 1")
    invalidation = np.minimum(invalidation, 1.0)

    groups = _groups(book.sector, pd, alive_years)
    slot_loan = np.argsort(cap_group, kind="stable")
    loan_slot = np.empty_like(slot_loan)
    loan_slot[slot_loan] = np.arange(book.size)
    group_sector, group_threshold, group_low_threshold, group_mixed = [], [], [], []
    group_alive = np.zeros((len(groups), horizon), dtype=np.int64)
    loan_group = np.full(book.size, -1, dtype=np.int64)
    year_loans, year_start = [], np.zeros((horizon, len(groups)), dtype=np.int64)
    offset = 0
    for k in range(horizon):
        for g, (s, members) in enumerate(groups):
            alive = members[(start_year[members] <= k) & (alive_end[members] > k)]
            year_loans.append(loan_slot[alive])
            year_start[k, g] = offset
            group_alive[g, k] = alive.size
            offset += alive.size
    for g, (s, members) in enumerate(groups):
        group_sector.append(s)
        group_threshold.append(threshold[members].max())
        group_low_threshold.append(threshold[members].min())
        group_mixed.append(bool(pd[members].min() != pd[members].max()))
        loan_group[members] = g

    prepared = Prepared(
        n_loans=book.size, horizon=horizon, bank=book.bank.astype(np.int32), sector=book.sector.astype(np.int8),
        cap_group=cap_group, n_cap_groups=len(pair_index), ead=ead, fund_raw=fund_raw, insurer=insurer,
        appraiser=appraiser, room=room, appropriation=appropriation, net0=fund.cash_fen - fund.deferred_fen,
        threshold=threshold, liquidation_base=liquidation_base, invalidation=invalidation,
        year_loans=np.concatenate(year_loans) if year_loans else np.zeros(0, dtype=np.int64),
        year_start=year_start, group_sector=np.array(group_sector, dtype=np.int64),
        group_threshold=np.array(group_threshold, dtype=np.float64),
        group_low_threshold=np.array(group_low_threshold, dtype=np.float64), group_mixed=np.array(group_mixed, dtype=bool),
        group_alive=group_alive, loan_group=loan_group, slot_loan=slot_loan,
        slot_threshold=threshold[slot_loan] / math.sqrt(1.0 - scenario.asset_correlation),
        slot_sector=book.sector[slot_loan].astype(np.int64),
        copula=scenario.copula,
        nu=float(scenario.t_degrees_of_freedom), rho=scenario.asset_correlation, beta=scenario.global_loading,
        sigma=coll.volatility, beta_v=coll.global_loading, lag=coll.recovery_lag_years,
        **({"base": base_loss, "line": line, "start_year": np.where(new, start_year, -1), "b2_start": b2_start,
            "suspended_start": suspended_start}
           if (line != UNLIMITED).any() or suspended_start.any() else {}),
    )
    inputs = Inputs(
        as_of=as_of.isoformat(), horizon_years=horizon, n_loans=grown.n_today, n_banks=len(book.bank_names),
        policies=tuple(p.id for p in book.policies), fund_cash_fen=fund.cash_fen, fund_deferred_fen=fund.deferred_fen,
        appropriation_fen=tuple(int(a) for a in appropriation), scenario=scenario.to_dict(),
        sector_pd_assumptions=assumptions.id,
        new_lending_fen=int(new_lending_fen), new_loans_by_year=grown.new_loans_by_year,
        new_covered_by_year_fen=grown.new_covered_by_year_fen,
        sector_pd=dict(assumptions.sector_pd),
        invalidation_probability_bp=dict(v3.invalidation_probability_bp),
        b2_on_run_date=tuple({"bank": c.bank, "policy": c.policy, "losses_fen": int(c.b2_losses_fen),
                              "suspended": bool(c.suspended)}
                             for c in cap_base if c.b2_losses_fen or c.suspended),
    )
    return prepared, inputs


# --------------------------------------------------------------------------------------------------
# one chunk


@dataclass
class ChunkResult:
    """Per-scenario figures of one chunk (a few numbers per scenario) and chunk sums."""

    total_loss: np.ndarray      # (B,) int64
    fund_payout: np.ndarray
    bank_share: np.ndarray
    insurer_share: np.ndarray
    appraiser_share: np.ndarray
    recoveries: np.ndarray
    fund_recovered: np.ndarray
    n_defaults: np.ndarray      # (B,) int64
    payout_by_year: np.ndarray  # (B, H) int64
    net_by_year: np.ndarray     # (B, H) int64: cash - deferred at each year end
    cap_hit: np.ndarray         # (B,) bool
    defaults_by_loan: np.ndarray  # (N,) int64, summed over the chunk
    payout_by_bank: np.ndarray  # (n_banks,) float64, summed over the chunk
    loss_by_bank: np.ndarray
    payout_by_sector: np.ndarray  # (9,)
    loss_by_sector: np.ndarray
    defaults_by_sector: np.ndarray
    log_weight: np.ndarray = None  # (B,) float64: M6b log likelihood ratio (0 for crude sampling)
    #: (B,) bool: some bank suspended (B2) during the horizon (one suspended on the run date already
    #: is not counted: Inputs.b2_on_run_date lists those)
    suspended: np.ndarray = None


def _segment_sums(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Exact int64 sums of ``values[bounds[j]:bounds[j+1]]``. The running sum may wrap past 2**63;
    differences of wrapped sums are still exact when each segment's sum fits (modular arithmetic)."""
    running = np.empty(values.size + 1, dtype=np.int64)
    running[0] = 0
    with np.errstate(over="ignore"):
        np.cumsum(values, out=running[1:])
        return running[bounds[1:]] - running[bounds[:-1]]


def _year_rows(keys, n_loans, n_scenarios, cap_group, n_cap_groups, loss_of, raw_of, base_of, insurer_of,
               appraiser_of):
    """The year's defaults from their sorted keys ``scenario * N + slot``: per default, per run of one
    (scenario, cap group), per scenario and per slot (:func:`risk.compiled.year_rows` says what each
    output is; this is its numpy form)."""
    b = keys // n_loans
    slot = keys - b * n_loans
    group = cap_group[slot]
    starts = run_starts(b * n_cap_groups + group)
    bounds = np.append(starts, keys.size)
    scenario_bounds = np.searchsorted(b, np.arange(n_scenarios + 1))
    raw = raw_of[slot]
    loss = loss_of[slot]
    by_scenario = (lambda of: _segment_sums(of[slot], scenario_bounds) if of.size else _NO_INT64)
    return (b, slot, loss, raw, starts, b[starts], group[starts], _segment_sums(raw, bounds),
            _segment_sums(base_of[slot], bounds) if base_of.size else _NO_INT64, np.diff(scenario_bounds),
            _segment_sums(loss, scenario_bounds), by_scenario(insurer_of), by_scenario(appraiser_of),
            np.bincount(slot, minlength=n_loans))


def _merge_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two sorted int64 arrays as one sorted array (O(len(a) + len(b)) for a small ``b``)."""
    if b.size == 0:
        return a
    return np.insert(a, np.searchsorted(a, b), b)


def _draw_hits(rng: np.random.Generator, prep: Prepared, k: int, scale: np.ndarray | None, Z: np.ndarray,
               sqrt_rho: float, sqrt_1mrho: float, kind: type, defaults: tuple | None = None) -> np.ndarray:
    """M2's defaults of year ``k`` for every scenario of the chunk, as keys ``scenario * N + slot``
    (``kind``: int32 where they fit, for a faster sort, else int64) in no order, hits that thinning
    dropped as ``iinfo(kind).max`` (above every key: the caller sorts and cuts them off), a loan possibly more than once (the caller keeps each
    key once). Loans that defaulted in an earlier year are among them (the caller drops them too).

    Given the year's factors, the loans of a group alive in year k default independently, loan i
    with probability ``p_i``. Each loan is given a Poisson number of *hits* with mean
    ``lambda_i = -log(1 - p_i)`` and defaults when it has at least one: ``P = 1 - exp(-lambda_i) =
    p_i``, independently. At the group's largest ``lambda`` (its largest threshold), the hits of
    its ``n`` loans are a Poisson process of rate 1 on ``[0, n lambda]``, each hit on a loan drawn
    uniformly: one standard exponential ``E`` per (scenario, group) is the first hit's arrival, so
    the group has a hit at all when ``E < n lambda`` (the cost of a group without defaults), and
    then ``1 + Poisson(n lambda - E)`` hits fall on uniform loans. Where the group's PDs differ,
    each hit on loan ``i`` is kept with probability ``lambda_i / lambda`` (thinning a Poisson
    process leaves one of rate ``lambda_i``); a bound from the group's smallest threshold keeps most
    hits without computing ``lambda_i``. One uniform ``u`` per hit does both: the hit falls at
    ``x = u n`` on the group's line, on loan ``floor(x)``, and is kept when ``x - floor(x) <
    lambda_i / lambda`` (given the loan, the fractional part is uniform on [0, 1)).
    A (scenario, group) whose largest probability is at least
    :data:`DENSE_P` draws one uniform per loan instead (``u < p_i``).

    ``defaults``, given where :mod:`risk.compiled`'s kernels are (``(dead, check_dead, mark_dead)``),
    has the same draws return the year's new defaults instead: sorted intp keys, each once, without
    the loans flagged in ``dead`` when ``check_dead``, flagged there when ``mark_dead``."""
    n_alive = prep.group_alive[:, k]
    live = np.flatnonzero(n_alive)
    B = Z.shape[0]
    empty = np.zeros(0, dtype=kind)
    dropped = np.iinfo(kind).max
    if live.size == 0:
        return empty if defaults is None else np.zeros(0, np.intp)
    n = n_alive[live].astype(np.float64)
    sectors = prep.group_sector[live]
    # c[b, s] = sqrt(rho) Z / sqrt(1 - rho); the argument of group g is threshold * scale / sqrt(1-rho) - c
    c = Z * (sqrt_rho / sqrt_1mrho)
    arg = (prep.group_threshold[live] / sqrt_1mrho) * scale[:, None] if scale is not None else \
        np.tile(prep.group_threshold[live] / sqrt_1mrho, (B, 1))
    arg -= c[:, sectors]
    # groups hold loans with PD > 0, so thresholds are > -inf and the argument is never NaN
    p_max = special.ndtr(arg)
    dense = p_max >= DENSE_P
    lam = arg   # reuse the buffer: lambda = -log(1 - p), < 0.29 where not dense
    np.negative(p_max, out=lam)
    lam[dense] = 0.0
    np.log1p(lam, out=lam)
    np.negative(lam, out=lam)
    first = rng.standard_exponential(lam.shape)
    mass = lam * n          # n lambda
    # rows (scenario, group) with a hit, as flat indices (1-d gathers are cheaper than 2-d ones)
    rows = np.flatnonzero(first < mass)
    rb, rj = np.divmod(rows, live.size)
    keys = [empty]
    sparse = None
    if rb.size:
        count = 1 + rng.poisson(mass.ravel()[rows] - first.ravel()[rows])
        g = live[rj]
        # one uniform per hit: u n is the hit's place on the group's line [0, n), its whole part
        # the loan and its fractional part a uniform on [0, 1) independent of it, which thinning uses
        u = rng.random(int(count.sum()))
        mixed_row = prep.group_mixed[g]
        thin = bool(mixed_row.any())
        if thin:
            # thinning: keep a hit on loan i with probability lambda_i / lambda, when its fractional
            # part is below that; sure when it is below lambda_low / lambda (1 where PDs are equal)
            mr = np.flatnonzero(mixed_row)
            c_row = c.ravel()[rb * c.shape[1] + sectors[rj]]   # the row's sector term (a group has one sector)
            low = prep.group_low_threshold[g[mr]] / sqrt_1mrho
            if scale is not None:
                low = low * scale[rb[mr]]
            row_lam = lam.ravel()[rows]
            sure = np.ones(rb.size)
            sure[mr] = -np.log1p(-special.ndtr(low - c_row[mr]))
            sure[mr] /= row_lam[mr]
        if defaults is not None:
            slot, unsure, ru = compiled.place_hits(count, n[rj], prep.year_start[k, g], u, prep.year_loans, thin,
                                                   sure if thin else _NO_FLOATS)
        else:
            # indices stay intp: numpy converts an int32 index array on every gather
            rep = np.repeat(np.arange(rb.size), count)
            u *= n[rj][rep]
            pos = u.astype(np.intp)                      # floor: u >= 0
            if thin:
                u -= pos                                 # exact: the fractional part
            pos += prep.year_start[k, g][rep]
            slot = prep.year_loans[pos]
            if thin:
                unsure = np.flatnonzero(u >= sure[rep])
                ru = rep[unsure]
        drop = None
        if thin and unsure.size:
            t_i = prep.slot_threshold[slot[unsure]]
            if scale is not None:
                t_i = t_i * scale[rb[ru]]
            t_i -= c_row[ru]
            lam_i = -np.log1p(-special.ndtr(t_i))
            if defaults is None:
                drop = unsure[u[unsure] * row_lam[ru] >= lam_i]
        if defaults is not None:
            # the kernel drops the thinned hits itself (the same test as the line above)
            sparse = (rb, count, slot, (unsure, ru, lam_i, u, row_lam) if thin and unsure.size else None)
        else:
            # keys in ``kind`` from the start (int32 where they fit: half the bytes to move and sort)
            hb = rb.astype(kind)[rep]
            hb *= prep.n_loans
            hb += slot
            if drop is not None:
                hb[drop] = dropped   # thinned out: sorts after every key, the caller cuts them off
            keys.append(hb)
    dense_keys = np.zeros(0, np.intp)
    db, dj = np.nonzero(dense & (n > 0))
    if db.size:
        m = n[dj].astype(np.int64)
        rep = np.repeat(np.arange(db.size), m)
        g = live[dj]
        pos = np.arange(rep.size) - np.repeat(np.cumsum(m) - m, m) + prep.year_start[k, g][rep]
        slot = prep.year_loans[pos]
        bi = db[rep]
        t_i = prep.slot_threshold[slot]
        if scale is not None:
            t_i = t_i * scale[bi]
        hit = rng.random(rep.size) < special.ndtr(t_i - c[bi, prep.slot_sector[slot]])
        if defaults is not None:
            dense_keys = bi[hit] * prep.n_loans + slot[hit]    # in scenario order (db is)
        else:
            keys.append((bi[hit] * prep.n_loans + slot[hit]).astype(kind))
    if defaults is not None:
        rb, count, slot, thinning = sparse if sparse is not None else (_NO_INTP, _NO_INTP, _NO_INTP, None)
        dead, check_dead, mark_dead = defaults
        return compiled.new_defaults(rb, count, slot, *(thinning or _NO_THINNING), dense_keys,
                                     prep.n_loans, B, dead, check_dead, mark_dead)
    return np.concatenate(keys) if len(keys) > 1 else keys[0]


#: empty arrays, and a dead bitmap for a chunk that keeps its dead loans as sorted keys
_NO_INTP = np.zeros(0, np.intp)
_NO_FLOATS = np.zeros(0)
_NO_INT64 = np.zeros(0, np.int64)
_NO_THINNING = (_NO_INTP, _NO_INTP, _NO_FLOATS, _NO_FLOATS, _NO_FLOATS)
_NO_BITS = np.zeros((1, 1), np.uint64)
#: whether run_chunk uses :mod:`risk.compiled` (numba installed); the figures are the same either way
USE_COMPILED = compiled.AVAILABLE


_FLAGS = threading.local()


def _flag_buffer(size: int) -> np.ndarray:
    """``size`` False flags in a buffer kept per thread between chunks: a fresh 20 MB array costs
    a page fault per 4 KB on first touch, more than clearing the kept one."""
    buffer = getattr(_FLAGS, "buffer", None)
    if buffer is None or buffer.size < size:
        buffer = np.zeros(size, dtype=bool)
        _FLAGS.buffer = buffer
        return buffer
    view = buffer[:size]
    view.fill(False)
    return view


_HEAP = {"kept": False}


def _keep_heap() -> None:
    """Keep a chunk's freed temporaries in the C heap (glibc), once per process.

    A year of a chunk allocates dozens of arrays of a few MB each. With glibc's defaults each of them
    is its own ``mmap``, returned to the kernel when freed, and every 4 KB page of the next one is
    faulted in and zeroed again: on the bench book that was about 30,000 page faults and a third of
    a chunk's CPU time (system time). Raising the mmap threshold to glibc's maximum (32 MB) and the
    trim threshold to 1 GB lets freed blocks be reused instead. Elsewhere than glibc nothing is done.
    :func:`_release_heap` gives the memory back at the end of a run (:func:`simulate`); worker
    processes keep the setting until they exit."""
    if _HEAP["kept"]:
        return
    _HEAP["kept"] = True
    mallopt = _libc_function("mallopt")
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, 32 << 20)
        mallopt(_M_TRIM_THRESHOLD, 1 << 30)


def _release_heap() -> None:
    """Undo :func:`_keep_heap` (glibc's initial thresholds, 128 KB) and return the free heap to the kernel."""
    if not _HEAP["kept"]:
        return
    _HEAP["kept"] = False
    mallopt, trim = _libc_function("mallopt"), _libc_function("malloc_trim")
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, 128 << 10)
        mallopt(_M_TRIM_THRESHOLD, 128 << 10)
    if trim is not None:
        trim(0)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # glibc's malloc.h


def _libc_function(name: str):
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None
    function.restype = ctypes.c_int
    function.argtypes = [ctypes.c_int, ctypes.c_int] if name == "mallopt" else [ctypes.c_size_t]
    return function


def _mark_uncovered(flags: np.ndarray, S: SlotArrays, scenario: np.ndarray, group: np.ndarray, year: int,
                    N: int) -> None:
    """B2: flag as dead, in each ``scenario``, the new loans of cap ``group`` drawn in ``year`` or
    later (its bank is suspended before they are drawn: they are not covered, so no default of
    theirs is ever a claim). ``flags``: a flag per key, or :func:`risk.compiled.dead_bitmap`'s bits."""
    start = S.drawn_from[group, year]
    lengths = S.group_end[group] - start
    if not lengths.any():
        return
    if flags.dtype == np.uint64:
        compiled.mark_dead_ranges(flags, scenario.astype(np.intp), start.astype(np.intp), lengths.astype(np.intp))
        return
    offsets = np.cumsum(lengths) - lengths
    flags[np.repeat(scenario * N + start - offsets, lengths) + np.arange(int(lengths.sum()))] = True


def run_chunk(prep: Prepared, seed: np.random.SeedSequence, n_scenarios: int, trace: list | None = None,
              factors: np.ndarray | None = None) -> ChunkResult:
    """Simulate ``n_scenarios`` scenarios from ``seed`` (one chunk).

    ``trace``, if a list, receives per year ``{"year", "scenario", "loan", "recovered", "arrive"}``:
    the defaults in approval order and their recoveries, for replaying them claim by claim.
    ``factors``, if a ``(n_scenarios, horizon)`` array, receives each year's global factor as drawn
    (the importance-sampling pilots of :mod:`risk.importance` read it).

    A year's defaults are keys ``scenario * N + slot``, sorted once: so they stand in runs of
    one (scenario, cap group), in portfolio order within a run (slots are ordered so). Sums are
    taken per run (exact int64 segment sums) and per scenario from the runs; A3's capped running sum
    is worked through only in the runs whose total passes their room (in the others every claim is
    granted in full, and in a run that passes it the claims' grants add up to the room exactly)."""
    _keep_heap()
    rng = np.random.Generator(np.random.PCG64(seed))
    B, H, N = n_scenarios, prep.horizon, prep.n_loans
    n_sectors = len(SECTORS)
    sqrt_rho, sqrt_1mrho = math.sqrt(prep.rho), math.sqrt(1.0 - prep.rho)
    sqrt_beta, sqrt_1mbeta = math.sqrt(prep.beta), math.sqrt(1.0 - prep.beta)
    sqrt_bv, sqrt_1mbv = math.sqrt(prep.beta_v), math.sqrt(1.0 - prep.beta_v)
    n_banks = int(prep.bank.max()) + 1 if prep.bank.size else 0
    C = prep.n_cap_groups
    S = prep.slots
    key_space = B * N
    kind = np.int32 if key_space < 2**31 else np.int64

    total_loss = np.zeros(B, np.int64)
    fund_payout = np.zeros(B, np.int64)
    bank_share = np.zeros(B, np.int64)
    insurer_share = np.zeros(B, np.int64)
    appraiser_share = np.zeros(B, np.int64)
    recoveries = np.zeros(B, np.int64)
    fund_recovered = np.zeros(B, np.int64)
    n_defaults = np.zeros(B, np.int64)
    payout_by_year = np.zeros((B, H), np.int64)
    recovery_in = np.zeros((B, H), np.int64)     # fund's part of recoveries arriving in year k
    net_by_year = np.zeros((B, H), np.int64)
    cap_hit = np.zeros(B, bool)
    defaults_by_slot = np.zeros(N, np.int64)
    payout_by_bank = np.zeros(n_banks)
    loss_by_bank = np.zeros(n_banks)
    payout_by_sector = np.zeros(n_sectors)
    loss_by_sector = np.zeros(n_sectors)
    defaults_by_sector = np.zeros(n_sectors)
    # loans already defaulted, per key: a flag array when it is small, else sorted keys; with the
    # flags, B2's uncovered loans (a suspended bank's later new loans) are marked dead too
    # (with risk.compiled, a bit per key: a word checks and marks 64 loans, in a 64th of the memory)
    if key_space > (DEAD_FLAG_LIMIT * 8 if USE_COMPILED else DEAD_FLAG_LIMIT):
        dead_flags = None
    else:
        dead_flags = compiled.dead_bitmap(B, N) if USE_COMPILED else _flag_buffer(key_space)
    uncovered_marked = False
    dead = np.zeros(0, dtype=np.int64)
    scenario_edges = np.arange(B + 1)
    net = np.full(B, prep.net0, dtype=np.int64)
    log_weight = np.zeros(B)
    # M6b: each year's factor mean (one number for all years, or one per year: docs/rules.md section 8)
    shifts = year_shifts(prep.shift, H)
    scales = year_scales(prep.scale, H)
    mu = any(shifts) or any(s != 1.0 for s in scales)
    has_insurer, has_appraiser = S.insurer is not None, S.appraiser is not None
    # B2: approved covered losses per (scenario, cap group) and the year each was suspended in (H: never)
    suspending = prep.line is not None
    any_suspended = False
    if suspending:
        # the count starts at each bank's reading on the run date; a bank suspended then is
        # suspended from "year -1" (its new loans, drawn from year 0 on, are not covered)
        b2_start = prep.b2_start if prep.b2_start is not None else np.zeros(C, np.int64)
        base_sum = np.tile(b2_start, B)
        suspended_in = np.full(B * C, H, np.int64)
        if prep.suspended_start is not None and prep.suspended_start.any():
            suspended_in[np.tile(prep.suspended_start, B)] = -1
            any_suspended = True
            if dead_flags is not None:
                groups = np.flatnonzero(prep.suspended_start)
                _mark_uncovered(dead_flags, S, np.repeat(np.arange(B), groups.size), np.tile(groups, B), 0, N)
                uncovered_marked = True
    if mu:
        by_scenario = {name: np.zeros(B * (n_banks if "bank" in name else n_sectors))
                       for name in ("payout_by_bank", "loss_by_bank", "payout_by_sector", "loss_by_sector",
                                    "defaults_by_sector")}

    for k in range(H):
        # M2 factors of this year (M6b: G from N(mu, 1), weighted by exp(-mu G + mu^2 / 2); with a
        # spread s, G = mu + s Z from N(mu, s^2), weighted by s exp(-G^2 / 2 + Z^2 / 2))
        G = rng.standard_normal(B)
        mu_k, s_k = shifts[k], scales[k]
        if s_k != 1.0:
            log_weight += math.log(s_k) + 0.5 * G * G
            G *= s_k
            G += mu_k
            log_weight -= 0.5 * G * G
        elif mu_k:
            G += mu_k
            log_weight += -mu_k * G + 0.5 * mu_k * mu_k
        if factors is not None:
            factors[:, k] = G
        eta = rng.standard_normal((B, n_sectors))
        Z = sqrt_beta * G[:, None] + sqrt_1mbeta * eta
        if prep.copula == "t":
            scale = np.sqrt(rng.chisquare(prep.nu, B) / prep.nu)
        else:
            scale = None

        keys = np.zeros(0, dtype=np.int64)
        if prep.n_groups and USE_COMPILED:
            # nothing is dead in the first year (but a suspended bank's new loans); nothing need be
            # marked in the last
            flags = dead_flags is not None
            keys = _draw_hits(rng, prep, k, scale, Z, sqrt_rho, sqrt_1mrho, kind,
                              defaults=(dead_flags if flags else _NO_BITS, flags and bool(k or uncovered_marked),
                                        flags and k < H - 1))
        elif prep.n_groups:
            hits = _draw_hits(rng, prep, k, scale, Z, sqrt_rho, sqrt_1mrho, kind)
            hits.sort()
            # hits thinning dropped sort last (a cut, instead of a pass over every hit to drop them)
            hits = hits[:int(np.searchsorted(hits, np.iinfo(kind).max))]
            # each (scenario, slot) once: a loan with several hits defaults once
            once = np.ones(hits.size, bool)
            np.not_equal(hits[1:], hits[:-1], out=once[1:])
            hits = hits.astype(np.intp, copy=False)
            if dead_flags is not None:
                if k or uncovered_marked:
                    np.greater(once, dead_flags[hits], out=once)     # once and not dead before
                keys = hits[once]
                if k < H - 1:
                    dead_flags[keys] = True
            else:
                keys = hits[once]
        if prep.n_groups and dead_flags is None:
            if dead.size and keys.size:
                pos = np.minimum(np.searchsorted(dead, keys), dead.size - 1)
                keys = keys[dead[pos] != keys]
            dead = _merge_sorted(dead, keys)
        if suspending and keys.size and any_suspended and dead_flags is None:
            # B2: a suspended bank's loans drawn after its suspension are not covered (with the flag
            # array they are marked dead when the bank is suspended: their hits never get here)
            b = keys // N
            slot = keys - b * N
            covered = suspended_in[b * C + S.cap_group[slot]] >= S.start_year[slot]
            if not covered.all():
                keys = keys[covered]
        (b, slot, loss, raw, starts, run_scenario, run_group, raw_run, base_run, n_k, loss_k, ins_k, appr_k,
         count_k) = (compiled.year_rows if USE_COMPILED else _year_rows)(
            keys, N, B, S.cap_group, C, S.ead[k], S.fund_raw[k], S.base[k] if suspending else _NO_INT64,
            S.insurer[k] if has_insurer else _NO_INT64, S.appraiser[k] if has_appraiser else _NO_INT64)
        # appropriation at the start of the year (year 1's is in today's cash)
        net += prep.appropriation[k]
        if slot.size:
            K = slot.size
            # runs of one (scenario, cap group): one A3 group each (its room), B2's cell
            bounds = np.append(starts, K)
            room = prep.room[k][run_group]
            binding = (room >= 0) & (raw_run > room)
            approved = raw
            cut_rows = None
            if binding.any():
                # A3 claim by claim only where a run passes its room; the rest are granted in full
                bj = np.flatnonzero(binding)
                lengths = bounds[bj + 1] - bounds[bj]
                offsets = np.cumsum(lengths) - lengths
                cut_rows = np.repeat(starts[bj] - offsets, lengths) + np.arange(int(lengths.sum()))
                approved = raw.copy()
                approved[cut_rows] = capped_granted_in_runs(raw[cut_rows], offsets, room[bj])
                cap_hit[run_scenario[bj]] = True
                paid_run = np.where(binding, room, raw_run)    # a capped run's grants add up to its room
            else:
                paid_run = raw_run
            if suspending:
                run_cell = run_scenario * C + run_group
                base_sum[run_cell] += base_run
                line = prep.line[k][run_group]
                newly = (line != UNLIMITED) & (base_sum[run_cell] > line) & (suspended_in[run_cell] == H)
                if newly.any():
                    suspended_in[run_cell[newly]] = k
                    any_suspended = True
                    if dead_flags is not None and k < H - 1:
                        _mark_uncovered(dead_flags, S, run_scenario[newly], run_group[newly], k + 1, N)
                        uncovered_marked = True
            payout_k = _segment_sums(paid_run, np.searchsorted(run_scenario, scenario_edges))
            total_loss += loss_k
            fund_payout += payout_k
            payout_by_year[:, k] = payout_k
            ins_k = ins_k if has_insurer else 0
            appr_k = appr_k if has_appraiser else 0
            # the bank is the residual party claim by claim (A2), so its sums are the residual of the sums
            bank_share += loss_k - payout_k - ins_k - appr_k
            insurer_share += ins_k
            appraiser_share += appr_k
            n_defaults += n_k
            net -= payout_k
            defaults_by_slot += count_k
            if mu:
                sec = S.sector[slot]
                # weighted sums need each scenario's likelihood ratio, known after its last year
                cell_bank = b * n_banks + S.bank[slot]
                cell_sector = b * n_sectors + sec
                by_scenario["payout_by_bank"] += np.bincount(cell_bank, weights=approved, minlength=B * n_banks)
                by_scenario["loss_by_bank"] += np.bincount(cell_bank, weights=loss, minlength=B * n_banks)
                by_scenario["payout_by_sector"] += np.bincount(cell_sector, weights=approved, minlength=B * n_sectors)
                by_scenario["loss_by_sector"] += np.bincount(cell_sector, weights=loss, minlength=B * n_sectors)
                by_scenario["defaults_by_sector"] += np.bincount(cell_sector, minlength=B * n_sectors)
            else:
                # per loan, not per default: the year's defaults of a loan all carry its exposure and
                # A2 share, and only the claims A3 cut differ from it (the cost grows with N, not
                # with the number of defaults)
                loss_slot = count_k * S.ead[k]
                payout_slot = count_k * S.fund_raw[k]
                if cut_rows is not None:
                    payout_slot -= np.bincount(slot[cut_rows], weights=raw[cut_rows] - approved[cut_rows],
                                               minlength=N).astype(np.int64)
                payout_by_bank += np.bincount(S.bank, weights=payout_slot, minlength=n_banks)
                loss_by_bank += np.bincount(S.bank, weights=loss_slot, minlength=n_banks)
                payout_by_sector += np.bincount(S.sector, weights=payout_slot, minlength=n_sectors)
                loss_by_sector += np.bincount(S.sector, weights=loss_slot, minlength=n_sectors)
                defaults_by_sector += np.bincount(S.sector, weights=count_k, minlength=n_sectors)

            # M3 recoveries, received lag years later if within the horizon, for loans with IP value
            arrive = k + prep.lag
            recovered = np.zeros(K, dtype=np.int64) if trace is not None else None
            if arrive < H:
                # rows (of this year's defaults) with IP value; each is invalidated with its kind's
                # probability, else its value is drawn (only those draw a normal)
                rows = None if S.valued is None else np.flatnonzero(S.valued[slot])
                r_slot = slot if rows is None else slot[rows]
                valid = np.flatnonzero(rng.random(r_slot.size) >= S.invalidation[r_slot])
                rows = valid if rows is None else rows[valid]
                r_slot = r_slot[valid]
                r_scenario = b[rows]
                # liquidation value: base * exp(sigma Y - sigma^2 / 2), Y = sqrt(beta_v) G + sqrt(1 - beta_v) xi
                value = rng.standard_normal(rows.size)
                value *= prep.sigma * sqrt_1mbv
                value += (prep.sigma * sqrt_bv * G - 0.5 * prep.sigma**2)[r_scenario]
                np.exp(value, out=value)
                fund_part = None
                if USE_COMPILED:
                    rec, fund_part, rec_k, fits = compiled.recovery_sums(value, rows, r_slot, r_scenario,
                                                                         S.liquidation_base, loss, approved, B)
                    if not fits:
                        fund_part = None
                else:
                    value *= S.liquidation_base[r_slot]
                    np.minimum(value, loss[rows], out=value)   # losses are below 2**53: exact as floats
                    rec = value.astype(np.int64)               # floor, value >= 0; at most the loss
                if recovered is not None:
                    recovered[rows] = rec
                if rows.size:
                    if fund_part is None:
                        # A5: a party's part depends only on its own share, so the fund's alone is asked
                        # for. With nothing recovered before, recovery_increment_array(0, net, L,
                        # {"fund": s}) is floor(min(net, L) s / L) - floor(0 s / L), and net <= L: the
                        # same integers from its kernel directly (risk.compiled.recovery_sums: the same)
                        share, loss_rows = approved[rows], loss[rows]
                        if int(rec.max()) * int(share.max()) <= _INT64_MAX:
                            part = rec * share // loss_rows    # every product fits: mul_div_floor's plain path
                        else:
                            part = mul_div_floor(rec, share, loss_rows)
                        rbounds = np.searchsorted(r_scenario, scenario_edges)
                        fund_part = _segment_sums(part, rbounds)
                        rec_k = _segment_sums(rec, rbounds)
                    recovery_in[:, arrive] += fund_part
                    fund_recovered += fund_part
                    recoveries += rec_k
            if trace is not None:
                trace.append({"year": k, "scenario": b, "loan": prep.slot_loan[slot],
                              "recovered": recovered, "arrive": arrive})
        # the year's recoveries come in last (A4 inflow: settles deferrals first, via the net position)
        net += recovery_in[:, k]
        net_by_year[:, k] = net

    if mu:
        # sums weighted by the likelihood ratio: their mean over scenarios estimates the expectation
        ratio = np.exp(log_weight)
        payout_by_bank = ratio @ by_scenario["payout_by_bank"].reshape(B, n_banks)
        loss_by_bank = ratio @ by_scenario["loss_by_bank"].reshape(B, n_banks)
        payout_by_sector = ratio @ by_scenario["payout_by_sector"].reshape(B, n_sectors)
        loss_by_sector = ratio @ by_scenario["loss_by_sector"].reshape(B, n_sectors)
        defaults_by_sector = ratio @ by_scenario["defaults_by_sector"].reshape(B, n_sectors)
    defaults_by_loan = np.zeros(N, np.int64)
    defaults_by_loan[prep.slot_loan] = defaults_by_slot
    return ChunkResult(
        total_loss=total_loss, fund_payout=fund_payout, bank_share=bank_share, insurer_share=insurer_share,
        appraiser_share=appraiser_share, recoveries=recoveries, fund_recovered=fund_recovered, n_defaults=n_defaults,
        payout_by_year=payout_by_year, net_by_year=net_by_year, cap_hit=cap_hit, defaults_by_loan=defaults_by_loan,
        payout_by_bank=payout_by_bank, loss_by_bank=loss_by_bank, payout_by_sector=payout_by_sector,
        loss_by_sector=loss_by_sector, defaults_by_sector=defaults_by_sector, log_weight=log_weight,
        suspended=((suspended_in.reshape(B, C) >= 0) & (suspended_in.reshape(B, C) < H)).any(axis=1) if suspending
        else np.zeros(B, bool),
    )


# --------------------------------------------------------------------------------------------------
# many chunks, any number of workers


@dataclass
class Simulation:
    """All chunks' per-scenario figures joined in chunk order (identical for any worker count)."""

    n_scenarios: int
    seed: int
    batch: int
    horizon: int
    net0: int
    total_loss: np.ndarray
    fund_payout: np.ndarray
    bank_share: np.ndarray
    insurer_share: np.ndarray
    appraiser_share: np.ndarray
    recoveries: np.ndarray
    fund_recovered: np.ndarray
    n_defaults: np.ndarray
    payout_by_year: np.ndarray
    net_by_year: np.ndarray
    cap_hit: np.ndarray
    defaults_by_loan: np.ndarray
    payout_by_bank: np.ndarray
    loss_by_bank: np.ndarray
    payout_by_sector: np.ndarray
    loss_by_sector: np.ndarray
    defaults_by_sector: np.ndarray
    log_weight: np.ndarray
    suspended: np.ndarray
    shift: float = 0.0
    scale: float | tuple[float, ...] = 1.0
    seconds: float = 0.0
    workers: int = 1
    #: peak resident memory (MB) of the main process and of the largest worker process
    peak_rss_mb: tuple[float, float] = (0.0, 0.0)
    #: CPU seconds the chunks took, summed over processes (wall time on a shared machine hides it)
    cpu_seconds: float = 0.0

    @property
    def deferred_any_year(self) -> np.ndarray:
        """True where compensation is deferred at some year end (net position below 0)."""
        return (self.net_by_year < 0).any(axis=1)

    @property
    def required_net_start(self) -> np.ndarray:
        """Per scenario, the smallest starting net position (cash - deferred) with no deferral at
        any year end: the year-end positions shift one for one with the starting position, because
        nothing in A2/A3 depends on cash."""
        drift = self.net_by_year - self.net0
        return np.maximum(0, -drift.min(axis=1))


_PER_SCENARIO = ("total_loss", "fund_payout", "bank_share", "insurer_share", "appraiser_share", "recoveries",
                 "fund_recovered", "n_defaults", "payout_by_year", "net_by_year", "cap_hit", "log_weight",
                 "suspended")
_SUMMED = ("defaults_by_loan", "payout_by_bank", "loss_by_bank", "payout_by_sector", "loss_by_sector",
           "defaults_by_sector")

_WORKER_PREP: Prepared | None = None


def _init_worker(prep: Prepared) -> None:
    global _WORKER_PREP
    _WORKER_PREP = prep
    if USE_COMPILED:
        compiled.warm_up()


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed_chunk(prep: Prepared, seed: np.random.SeedSequence, size: int) -> tuple[ChunkResult, float]:
    started = time.process_time()
    chunk = run_chunk(prep, seed, size)
    return chunk, time.process_time() - started


def _worker_chunk(index: int, seed: np.random.SeedSequence, size: int) -> tuple[int, ChunkResult, float, float]:
    assert _WORKER_PREP is not None
    chunk, cpu = _timed_chunk(_WORKER_PREP, seed, size)
    return index, chunk, _peak_rss_mb(), cpu


def _worker_chunk_with(prep: Prepared, index: int, seed: np.random.SeedSequence,
                       size: int) -> tuple[int, ChunkResult, float, float]:
    """A chunk on a remote worker (risk.executors): the prepared inputs come with the task."""
    chunk, cpu = _timed_chunk(prep, seed, size)
    return index, chunk, _peak_rss_mb(), cpu


def chunk_plan(n_scenarios: int, batch: int) -> list[int]:
    """Sizes of the chunks: ``batch`` each, the last one what is left."""
    full, rest = divmod(n_scenarios, batch)
    return [batch] * full + ([rest] if rest else [])


def simulate(prep: Prepared, *, n_scenarios: int, seed: int, batch: int = DEFAULT_BATCH, workers: int = 1,
             progress: Callable[[int, int], None] | None = None, small_run: int = SMALL_RUN,
             executor=None) -> Simulation:
    """Run ``n_scenarios`` scenarios in chunks of ``batch``; chunk j uses the j-th child of
    ``SeedSequence(seed)``, so the result depends on (inputs, seed, batch) only, never on ``workers``
    nor on where the chunks run (``executor``: ``None`` for this machine, else a
    :class:`risk.executors.DaskExecutor`). Runs of fewer than ``small_run`` loan-scenario-years stay
    in this process.

    ``progress(done, total)`` is called after each chunk with scenario counts.
    """
    if isinstance(n_scenarios, bool) or not isinstance(n_scenarios, int) or not 1 <= n_scenarios <= 10**8:
        raise ValueError(f"n_scenarios must be an integer in 1..10^8, got {n_scenarios!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 1_000_000:
        raise ValueError(f"batch must be an integer in 1..10^6, got {batch!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 256:
        raise ValueError(f"workers must be an integer in 1..256, got {workers!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    sizes = chunk_plan(n_scenarios, batch)
    seeds = np.random.SeedSequence(seed).spawn(len(sizes))
    results: list[ChunkResult | None] = [None] * len(sizes)
    started = time.perf_counter()
    done = 0
    worker_peak = 0.0
    cpu = 0.0
    # starting worker processes costs about a second: small runs stay in this process (the figures
    # are the same either way)
    in_process = workers == 1 or len(sizes) == 1 or n_scenarios * prep.n_loans * prep.horizon < small_run
    if executor is not None:
        for j, chunk, peak, used in executor.run_chunks(prep, seeds, sizes):
            results[j] = chunk
            worker_peak = max(worker_peak, peak)
            cpu += used
            done += sizes[j]
            if progress:
                progress(done, n_scenarios)
    elif in_process:
        for j, (child, size) in enumerate(zip(seeds, sizes)):
            results[j], used = _timed_chunk(prep, child, size)
            cpu += used
            done += size
            if progress:
                progress(done, n_scenarios)
    else:
        if "forkserver" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["risk.engine"])
        else:
            context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(sizes)), mp_context=context,
                                 initializer=_init_worker, initargs=(prep,)) as pool:
            futures = [pool.submit(_worker_chunk, j, child, size) for j, (child, size) in enumerate(zip(seeds, sizes))]
            for future in as_completed(futures):
                j, chunk, peak, used = future.result()
                results[j] = chunk
                worker_peak = max(worker_peak, peak)
                cpu += used
                done += sizes[j]
                if progress:
                    progress(done, n_scenarios)
    _release_heap()   # this process ran chunks (or pilots before the run): its heap goes back
    joined = {name: np.concatenate([getattr(r, name) for r in results]) for name in _PER_SCENARIO}
    summed = {}
    for name in _SUMMED:
        total = getattr(results[0], name).copy()
        for r in results[1:]:
            total += getattr(r, name)   # in chunk order: float sums identical for any worker count
        summed[name] = total
    return Simulation(n_scenarios=n_scenarios, seed=seed, batch=batch, horizon=prep.horizon, net0=prep.net0,
                      shift=prep.shift, scale=prep.scale,
                      seconds=time.perf_counter() - started, workers=workers,
                      peak_rss_mb=(_peak_rss_mb(), worker_peak), cpu_seconds=cpu, **joined, **summed)


# --------------------------------------------------------------------------------------------------
# M6b: the importance-sampling shift from a pilot run lives in risk.importance (its names are
# imported at the top of this module, so ``from risk.engine import choose_shift`` keeps working)


# --------------------------------------------------------------------------------------------------
# the M7 oracle book (tests and examples)


def oracle_book(n_loans: int, *, principal_fen: int = 100_000_000, sector: str = "other", pd: float | None = None,
                maturity: dt.date = dt.date(2031, 1, 1)) -> Book:
    """M7: ``n_loans`` equal bullet loans, C = principal, no IP value, gz-2020 scheme 55, one sector,
    one bank named ``bank-1`` (the name its by-bank tables show)."""
    from fund.domain.policy import shipped_policy
    from risk.portfolio import make_book

    policy = shipped_policy("gz-2020")
    cols = {
        "loan_id": [f"L{i}" for i in range(n_loans)], "bank": [0] * n_loans, "sector": [SECTORS.index(sector)] * n_loans,
        "policy": [0] * n_loans, "scheme": ["55"] * n_loans, "pd": [math.nan if pd is None else pd] * n_loans,
        "principal_fen": [principal_fen] * n_loans, "covered_fen": [principal_fen] * n_loans,
        "outstanding_fen": [principal_fen] * n_loans, "maturity_date": [maturity] * n_loans,
        "amortization": [False] * n_loans, "ip_value_fen": [0] * n_loans, "ip_kind": [-1] * n_loans,
        "insurer_limit_fen": [UNLIMITED] * n_loans,
    }
    return make_book(cols, ("bank-1",), (policy,))


def oracle_prepared(*, n_loans: int, pd: float, rho: float, copula: str = "gaussian", nu: float = 4.0,
                    principal_fen: int = 100_000_000, global_loading: float = 0.0) -> Prepared:
    """One year of the M7 oracle book with ample cash (global loading 0: one sector factor; 1: the
    sector factor is the global factor, which importance sampling shifts)."""
    from risk.portfolio import default_cap_base
    from risk.scenario import parse_scenario

    book = oracle_book(n_loans, principal_fen=principal_fen, pd=pd)
    scenario = parse_scenario({"name": "oracle", "horizon_years": 1, "copula": copula, "t_degrees_of_freedom": nu,
                               "asset_correlation": rho, "global_loading": global_loading})
    fund = FundPosition(cash_fen=n_loans * principal_fen, deferred_fen=0, appropriation_fen=(0,))
    prep, _ = prepare(book, scenario, default_cap_base(book), fund, as_of=dt.date(2026, 1, 1))
    return prep


def simulate_oracle_book(*, n_loans: int, pd: float, rho: float, n_scenarios: int, seed: int,
                         copula: str = "gaussian", nu: float = 4.0, batch: int = DEFAULT_BATCH,
                         workers: int = 1, principal_fen: int = 100_000_000) -> Simulation:
    """Simulate the M7 oracle book (:func:`oracle_prepared`)."""
    prep = oracle_prepared(n_loans=n_loans, pd=pd, rho=rho, copula=copula, nu=nu, principal_fen=principal_fen)
    return simulate(prep, n_scenarios=n_scenarios, seed=seed, batch=batch, workers=workers)
