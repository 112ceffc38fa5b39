"""The fund's future in the stress model: new lending (docs/rules.md M1b), the policies that cover it after
today's ones end (M1), and a scenario's ``[policy_override]`` what-if.

* :func:`override_policies` applies a :class:`~risk.scenario.PolicyOverride` to the run's policies
  (scheme ratios, A3 bank cap, single-loan cap, B2 suspension line), so the engine's allocation
  (``risk.allocation``, the claims workflow's code) runs on the changed rules.
* :func:`covering_policy` is the policy in force on a simulated year's first day, or the renewal
  assumption of M1 after the last one ends.
* :func:`draw_new_lending` samples each year's new loans from the live book with the run's seed and
  appends them to the book with the year they are drawn in.

>>> import datetime as dt
>>> from risk.synthetic import synthetic_book
>>> book = synthetic_book(200, seed=1)
>>> grown = draw_new_lending(book, book.policies, as_of=dt.date(2026, 1, 1), horizon=3,
...                          volume_fen=2_000_000_000, growth=0.0, after_policy_end="continue", seed=5)
>>> grown.book.size > book.size, int(grown.start_year[:book.size].max()), sorted(set(grown.start_year[book.size:].tolist()))
(True, 0, [0, 1, 2])
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from fund.domain.dates import add_years
from fund.domain.policy import Policy, Scheme
from risk.portfolio import Book
from risk.scenario import PolicyOverride

#: Spawn key of the new-lending stream: no chunk of a run (at most 10^8 of them) reaches it.
LENDING_STREAM = 1 << 40


def override_policies(policies: Sequence[Policy], override: PolicyOverride) -> tuple[Policy, ...]:
    """The policies with the what-if applied (same ids, so cap bases still match).

    A scheme override applies to every policy that has the scheme code; a code no policy has is an
    error (a typo would otherwise change nothing without a word)."""
    if override.empty:
        return tuple(policies)
    known = {code for p in policies for code in p.schemes}
    missing = sorted(set(override.schemes) - known)
    if missing:
        raise ValueError(f"policy_override.schemes.{missing[0]}: no policy of the run has scheme {missing[0]!r} "
                         f"(schemes: {', '.join(sorted(known))})")
    out = []
    for policy in policies:
        schemes = dict(policy.schemes)
        for code, ratios in override.schemes.items():
            if code in schemes:
                schemes[code] = Scheme(code=code, ratios_bp=dict(ratios))
        changes: dict = {"schemes": schemes}
        if override.bank_annual_cap_bp is not None:
            changes["bank_annual_cap_bp"] = override.bank_annual_cap_bp
        if override.single_loan_cap_fen is not None:
            changes["single_loan_cap_fen"] = override.single_loan_cap_fen
        out.append(dataclasses.replace(policy, **changes))
    return tuple(out)


def suspension_line_bp(policy: Policy, override: PolicyOverride) -> int | None:
    """B2's line of a policy after the what-if (``None``: no suspension)."""
    if override.bank_suspension_line_bp is not None:
        return override.bank_suspension_line_bp
    return getattr(policy, "bank_suspension_line_bp", None)


def covering_policy(policies: Sequence[Policy], on: dt.date, after_policy_end: str) -> Policy | None:
    """M1: the policy in force on ``on``; after the last one has ended, that last one (a successor on
    the same terms is assumed) unless ``after_policy_end == "stop"``. Before the first one starts:
    none."""
    for policy in policies:
        if policy.valid_from <= on <= policy.valid_to:
            return policy
    ended = [p for p in policies if p.valid_to < on]
    if after_policy_end == "continue" and ended and not any(p.valid_from > on for p in policies):
        return max(ended, key=lambda p: p.valid_to)
    return None


def yearly_appropriations(policies: Sequence[Policy], as_of: dt.date, horizon_years: int,
                          after_policy_end: str = "continue") -> tuple[int, ...]:
    """M1: each simulated year's appropriation from the policies in force at the start of the year
    (a one-off counts as 0); after the last policy ends, its yearly amount goes on unless ``stop``.

    >>> from risk.synthetic import shipped_policy
    >>> gz = shipped_policy("gz-2023")
    >>> yearly_appropriations([gz], dt.date(2026, 10, 31), 4)
    (5000000000, 5000000000, 5000000000, 5000000000)
    >>> yearly_appropriations([gz], dt.date(2026, 10, 31), 4, "stop")   # gz-2023 ends 2028-01-18
    (5000000000, 5000000000, 0, 0)
    """
    out = []
    for k in range(horizon_years):
        start = add_years(as_of, k)
        in_force = [p for p in policies if p.in_force(start)]
        if in_force:
            out.append(sum(p.yearly_appropriation_fen(start.year) for p in in_force))
            continue
        successor = covering_policy(policies, start, after_policy_end)
        out.append(successor.appropriation_fen if successor is not None and successor.appropriation_kind == "yearly" else 0)
    return tuple(out)


@dataclass(frozen=True)
class GrownBook:
    """Today's book followed by the new loans; ``start_year[i]`` is the simulated year (0-based) loan
    ``i`` is drawn at the start of (0 for today's loans)."""

    book: Book
    start_year: np.ndarray
    n_today: int
    new_loans_by_year: tuple[int, ...]
    new_covered_by_year_fen: tuple[int, ...]
    target_by_year_fen: tuple[int, ...]


def lending_targets(volume_fen: int, growth: float, horizon: int) -> tuple[int, ...]:
    """M1b: ``floor(V * (1 + growth)^(k-1))`` for years k = 1..H."""
    return tuple(int(math.floor(volume_fen * (1.0 + growth) ** k)) for k in range(horizon))


def draw_new_lending(book: Book, policies: Sequence[Policy], *, as_of: dt.date, horizon: int, volume_fen: int,
                     growth: float, after_policy_end: str, seed: int) -> GrownBook:
    """M1b: at the start of each year k, loans sampled with replacement from today's book (bank,
    sector, scheme, PD, term, size, IP value) until the next one would pass the year's target of
    covered principal; each covered under the policy of :func:`covering_policy` (its scheme if the
    policy has it, else the policy's first), ``C = min(principal, single-loan cap)``, outstanding =
    principal, maturity = drawdown + the sampled loan's term (from its drawdown date where known,
    else its remaining term)."""
    targets = lending_targets(volume_fen, growth, horizon)
    n_today = book.size
    if volume_fen <= 0 or n_today == 0:
        return GrownBook(book, np.zeros(n_today, np.int64), n_today, (0,) * horizon, (0,) * horizon, targets)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(LENDING_STREAM,))))
    as_of64 = np.datetime64(as_of, "D")
    drawdown = book.drawdown if book.drawdown is not None else np.full(n_today, np.datetime64("NaT"), "datetime64[D]")
    known = ~np.isnat(drawdown)
    term_days = np.where(known, (book.maturity - np.where(known, drawdown, as_of64)).astype(np.int64),
                         (book.maturity - as_of64).astype(np.int64))
    term_days = np.maximum(term_days, 1)
    policy_list = list(book.policies)
    policy_index = {p.id: i for i, p in enumerate(policy_list)}
    by_id = {p.id: p for p in policies}
    picks, years, policy_of, scheme_of, covered_of = [], [], [], [], []
    counts, sums = [], []
    for k in range(horizon):
        start = add_years(as_of, k)
        cover = covering_policy(policies, start, after_policy_end)
        target = targets[k]
        if cover is None or target <= 0:
            counts.append(0)
            sums.append(0)
            continue
        cover = by_id[cover.id]
        if cover.id not in policy_index:
            policy_index[cover.id] = len(policy_list)
            policy_list.append(cover)
        cap = cover.single_loan_cap_fen
        chosen: list[np.ndarray] = []
        total = 0
        while True:
            block = rng.integers(0, n_today, 256)
            c = book.principal_fen[block] if cap is None else np.minimum(book.principal_fen[block], cap)
            running = total + np.cumsum(c)
            fits = int(np.searchsorted(running, target, side="right"))
            chosen.append(block[:fits])
            if fits < block.size:
                total = int(running[fits - 1]) if fits else total
                break
            total = int(running[-1])
        idx = np.concatenate(chosen)
        picks.append(idx)
        years.append(np.full(idx.size, k, np.int64))
        cov = book.principal_fen[idx] if cap is None else np.minimum(book.principal_fen[idx], cap)
        covered_of.append(cov)
        first_scheme = next(iter(cover.schemes))
        scheme_of.extend(s if s in cover.schemes else first_scheme for s in (book.scheme[i] for i in idx.tolist()))
        policy_of.append(np.full(idx.size, policy_index[cover.id], np.int32))
        counts.append(int(idx.size))
        sums.append(int(cov.sum()))
    if not picks:
        return GrownBook(book, np.zeros(n_today, np.int64), n_today, tuple(counts), tuple(sums), targets)
    idx = np.concatenate(picks)
    year = np.concatenate(years)
    starts = np.array([np.datetime64(add_years(as_of, k), "D") for k in range(horizon)])
    drawn = starts[year]
    new = Book(
        loan_id=book.loan_id + tuple(f"new-{y + 1}-{j}" for j, y in enumerate(year.tolist())),
        bank=np.concatenate([book.bank, book.bank[idx]]),
        bank_names=book.bank_names,
        policy=np.concatenate([book.policy, np.concatenate(policy_of)]),
        policies=tuple(policy_list),
        scheme=book.scheme + tuple(scheme_of),
        sector=np.concatenate([book.sector, book.sector[idx]]),
        pd=np.concatenate([book.pd, book.pd[idx]]),
        principal_fen=np.concatenate([book.principal_fen, book.principal_fen[idx]]),
        covered_fen=np.concatenate([book.covered_fen, np.concatenate(covered_of)]),
        outstanding_fen=np.concatenate([book.outstanding_fen, book.principal_fen[idx]]),
        maturity=np.concatenate([book.maturity, drawn + term_days[idx].astype("timedelta64[D]")]),
        straight_line=np.concatenate([book.straight_line, book.straight_line[idx]]),
        ip_value_fen=np.concatenate([book.ip_value_fen, book.ip_value_fen[idx]]),
        ip_kind=np.concatenate([book.ip_kind, book.ip_kind[idx]]),
        insurer_limit_fen=np.concatenate([book.insurer_limit_fen, book.insurer_limit_fen[idx]]),
        drawdown=np.concatenate([drawdown, drawn]),
    )
    return GrownBook(new, np.concatenate([np.zeros(n_today, np.int64), year]), n_today, tuple(counts), tuple(sums),
                     targets)
