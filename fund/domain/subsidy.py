"""Rule S as plain code: which repayment earns an interest subsidy (S1), how much (S2, exact fractions
and one floor) and the enterprise's annual cap (S3).

The run (``fund.services.subsidies``) feeds these functions with rows it read in a few queries; nothing
here touches a database, a clock or a float.

>>> import datetime as dt
>>> subsidy_amount(3_875_000, ip_share_bp=10_000, contract_rate_bp=385, lpr_bp=345, markup_bp=0, ratio_bp=5_000)
1736201
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from fund.domain.dates import add_months
from fund.domain.money import BP_ONE, check_amount
from risk.kernels import capped_running_sum, mul_div_floor

# S1 reasons, in the order they are reported.
LOAN_INELIGIBLE = "loan_ineligible"
NO_INTEREST = "no_interest"
BEYOND_SUBSIDY_MONTHS = "beyond_subsidy_months"
PAID_LATE = "paid_late"
PAST_DUE = "past_due"
LOAN_NOT_ACTIVE = "loan_not_active"
S1_REASONS = (LOAN_INELIGIBLE, NO_INTEREST, BEYOND_SUBSIDY_MONTHS, PAID_LATE, PAST_DUE, LOAN_NOT_ACTIVE)


def _check_int(name: str, value: int, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bounds}, got {value}")


def check_subsidy_terms(*, ip_share_bp: int, contract_rate_bp: int, lpr_bp: int, markup_bp: int, ratio_bp: int) -> None:
    """Input checks of S2's loan and policy terms, in one place (ValueError naming the argument)."""
    _check_int("ip_share_bp", ip_share_bp, 1, BP_ONE)
    _check_int("contract_rate_bp", contract_rate_bp, 1)
    _check_int("lpr_bp", lpr_bp, 1)
    _check_int("markup_bp", markup_bp, 0)
    _check_int("ratio_bp", ratio_bp, 0, BP_ONE)


def subsidised_rate(contract_rate_bp: int, lpr_bp: int, markup_bp: int) -> Fraction:
    """``min(contract_rate, LPR * (10000 + markup_bp) / 10000)`` in bp, exact.

    >>> subsidised_rate(385, 345, 4000)
    Fraction(385, 1)
    >>> subsidised_rate(520, 336, 4000)
    Fraction(2352, 5)
    """
    cap_rate = Fraction(lpr_bp * (BP_ONE + markup_bp), BP_ONE)
    return min(Fraction(contract_rate_bp), cap_rate)


def subsidy_factor(*, ip_share_bp: int, contract_rate_bp: int, lpr_bp: int, markup_bp: int, ratio_bp: int) -> Fraction:
    """The exact fraction of a repayment's interest that S2 subsidises:
    ``ip_share/10000 * rate/contract_rate * subsidy_ratio/10000``.

    >>> subsidy_factor(ip_share_bp=10_000, contract_rate_bp=385, lpr_bp=345, markup_bp=0, ratio_bp=5_000)
    Fraction(69, 154)
    """
    check_subsidy_terms(ip_share_bp=ip_share_bp, contract_rate_bp=contract_rate_bp, lpr_bp=lpr_bp,
                        markup_bp=markup_bp, ratio_bp=ratio_bp)
    rate = subsidised_rate(contract_rate_bp, lpr_bp, markup_bp)
    # ip_share/10000 * rate/contract * ratio/10000 as one fraction (one normalisation)
    return Fraction(ip_share_bp * ratio_bp * rate.numerator, BP_ONE * BP_ONE * contract_rate_bp * rate.denominator)


def subsidy_amount(interest_fen: int, *, ip_share_bp: int, contract_rate_bp: int, lpr_bp: int, markup_bp: int,
                   ratio_bp: int) -> int:
    """S2: ``floor(interest * ip_share/10000 * rate/contract_rate * subsidy_ratio/10000)``, one floor of the
    exact product.

    >>> subsidy_amount(3_875_000, ip_share_bp=6_000, contract_rate_bp=520, lpr_bp=345, markup_bp=4_000, ratio_bp=5_000)
    1079783
    """
    check_amount("interest_fen", interest_fen)
    factor = subsidy_factor(ip_share_bp=ip_share_bp, contract_rate_bp=contract_rate_bp, lpr_bp=lpr_bp,
                            markup_bp=markup_bp, ratio_bp=ratio_bp)
    return floor_times(interest_fen, factor)


def floor_times(interest_fen: int, factor: Fraction) -> int:
    """``floor(interest * factor)`` for an exact fraction (Python integers: exact at any size)."""
    return (interest_fen * factor.numerator) // factor.denominator


def subsidy_amounts(interests_fen: Sequence[int], factors: Sequence[Fraction]) -> list[int]:
    """S2 for many repayments at once: ``floor(interest_i * factor_i)``; the factors come from
    ``subsidy_factor`` (one per distinct set of terms). Same integers as ``subsidy_amount`` row by row.

    >>> f = subsidy_factor(ip_share_bp=10_000, contract_rate_bp=385, lpr_bp=345, markup_bp=0, ratio_bp=5_000)
    >>> subsidy_amounts([3_875_000, 0, 1], [f, f, f])
    [1736201, 0, 0]
    """
    if len(interests_fen) != len(factors):
        raise ValueError("interests_fen and factors must have the same length")
    return [(i * f.numerator) // f.denominator for i, f in zip(interests_fen, factors)]


def s2_amounts(interest_fen: Sequence[int] | np.ndarray, numerators: Sequence[int] | np.ndarray,
               denominators: Sequence[int] | np.ndarray) -> np.ndarray:
    """S2's array form: ``floor(interest * numerator / denominator)`` per row, exactly, as int64 (each
    result is at most the interest, since S2's factor is at most 1), through the shared exact kernel
    (int64 where the product stays below 2^63, exact otherwise). The numerators and denominators are
    those of :func:`subsidy_factor` (one Fraction per set of loan terms), so each row equals
    :func:`subsidy_amount` (tested).

    >>> f = subsidy_factor(ip_share_bp=10_000, contract_rate_bp=385, lpr_bp=345, markup_bp=0, ratio_bp=5_000)
    >>> s2_amounts([3_875_000, 10**12], [f.numerator] * 2, [f.denominator] * 2).tolist()
    [1736201, 448051948051]
    """
    if len(interest_fen) == 0:
        return np.zeros(0, dtype=np.int64)
    return mul_div_floor(interest_fen, numerators, denominators)


def subsidy_period_end(drawdown: dt.date, months: int) -> dt.date:
    """Last due date whose interest can be subsidised: ``add_months(drawdown, subsidy_months)``."""
    return add_months(drawdown, months)


def ineligibility_reasons(
    *,
    loan_eligible: bool,
    interest_fen: int,
    due_date: dt.date,
    paid_on: dt.date,
    drawdown: dt.date,
    subsidy_months: int,
    past_due_on_payment: bool,
    loan_status_at_payment: str,
) -> tuple[str, ...]:
    """S1: why a repayment earns no subsidy (empty when it earns one), all reasons that apply.

    ``past_due_on_payment``: some installment of the loan was past due on ``paid_on``.
    ``loan_status_at_payment``: the loan's status just before the payment (revision 2 of the rules), so the
    payment that completes a loan, and moves it to ``repaid``, still sees ``active``.

    >>> ineligibility_reasons(loan_eligible=True, interest_fen=10, due_date=dt.date(2024, 4, 15),
    ...     paid_on=dt.date(2024, 4, 16), drawdown=dt.date(2024, 3, 15), subsidy_months=12,
    ...     past_due_on_payment=False, loan_status_at_payment="active")
    ('paid_late',)
    """
    reasons = []
    if not loan_eligible:
        reasons.append(LOAN_INELIGIBLE)
    if interest_fen <= 0:
        reasons.append(NO_INTEREST)
    if due_date > subsidy_period_end(drawdown, subsidy_months):
        reasons.append(BEYOND_SUBSIDY_MONTHS)
    if paid_on > due_date:
        reasons.append(PAID_LATE)
    if past_due_on_payment:
        reasons.append(PAST_DUE)
    if loan_status_at_payment != "active":
        reasons.append(LOAN_NOT_ACTIVE)
    return tuple(reasons)


@dataclass(frozen=True)
class CapState:
    """Where one (enterprise, policy, year) stands: subsidy granted so far, and whether a line was
    already cut (every later line is then marked capped)."""

    granted_fen: int = 0
    cut: bool = False


@dataclass(frozen=True)
class CappedLines:
    granted_fen: tuple[int, ...]
    capped: tuple[bool, ...]
    states: Mapping[Hashable, CapState]


def apply_enterprise_cap(
    amounts_fen: Sequence[int],
    keys: Sequence[Hashable],
    caps_fen: Mapping[Hashable, int | None],
    prior: Mapping[Hashable, CapState] | None = None,
) -> CappedLines:
    """S3 over lines already in S3 order (payment date, loan registration, repayment registration).

    ``keys[i]`` is line i's (enterprise, policy, year of payment); ``caps_fen[key]`` its annual cap
    (None: no cap); ``prior`` what earlier runs granted (final). A line gets ``min(amount, room left)``;
    a line cut below its amount, and every later line of the key, is marked capped.

    >>> key = ("E1", "gz-2023", 2024)
    >>> r = apply_enterprise_cap([1_736_201, 1_736_201], [key, key], {key: 100_000_000}, {key: CapState(99_000_000)})
    >>> r.granted_fen, r.capped
    ((1000000, 0), (True, True))
    """
    if len(amounts_fen) != len(keys):
        raise ValueError("amounts_fen and keys must have the same length")
    running: dict[Hashable, list] = {k: [s.granted_fen, s.cut] for k, s in (prior or {}).items()}
    granted: list[int] = []
    capped: list[bool] = []
    for amount, key in zip(amounts_fen, keys):
        if amount < 0:
            raise ValueError(f"amounts_fen must be >= 0, got {amount}")
        state = running.get(key)
        if state is None:
            state = running[key] = [0, False]
        cap = caps_fen[key]
        if cap is None:
            give = amount
        else:
            give = min(amount, max(0, cap - state[0]))
            if give < amount:
                state[1] = True
        state[0] += give
        granted.append(give)
        capped.append(state[1])
    states = {k: CapState(g, c) for k, (g, c) in running.items()}
    return CappedLines(tuple(granted), tuple(capped), states)


def enterprise_cap_in_order(
    amounts_fen: Sequence[int] | np.ndarray, key_of_row: np.ndarray, caps_fen: Sequence[int | None],
    prior: Sequence[CapState],
) -> tuple[np.ndarray, np.ndarray]:
    """S3's array form over rows already in S3 order: the same integers and flags as
    :func:`apply_enterprise_cap` (tested). ``key_of_row`` numbers each row's (enterprise, policy,
    year) 0..K-1; ``caps_fen[k]`` (None: no cap) and ``prior[k]`` belong to key k. Returns (granted,
    capped) arrays: int64 granted when the run's sums fit it, Python integers otherwise.

    A key's room is what its cap leaves after earlier runs; the lines take it in order (the shared
    capped running sum), and a line is capped when its key was cut in an earlier run or the amounts up
    to and including it pass the room: once one line is cut, every later one is capped too.

    >>> granted, capped = enterprise_cap_in_order([60, 60, 5], np.array([0, 0, 1]), [100, None], [CapState(), CapState()])
    >>> granted.tolist(), capped.tolist()
    ([60, 40, 5], [False, True, False])
    """
    if len(amounts_fen) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    rooms = [None if cap is None else max(0, cap - state.granted_fen) for cap, state in zip(caps_fen, prior)]
    was_cut = np.array([state.cut for state in prior], dtype=bool)
    keys = np.asarray(key_of_row, dtype=np.int64)
    taken = capped_running_sum(amounts_fen, keys, rooms)
    return taken.granted, was_cut[keys] | taken.over


def cap_states(rows: Iterable[tuple[Hashable, int, bool]]) -> dict[Hashable, CapState]:
    """CapState per key from (key, granted_fen total, any line capped) rows of earlier runs."""
    return {key: CapState(int(granted), bool(cut)) for key, granted, cut in rows}


def split_paid(interest_fen: int, fee_fen: int, paid_fen: int) -> tuple[int, int]:
    """A run's money paid so far (``paid_fen``: paid at the run plus settled since), split between its
    interest lines and its fee lines (S6). The run's lines take its money in one order, the interest
    lines first (S3 order), then the fee lines (payment date, loan, fee registration): so the
    interest part is paid first. What is still deferred splits the same way.

    >>> split_paid(1_000, 300, 1_100)
    (1000, 100)
    >>> split_paid(1_000, 300, 400)
    (400, 0)
    """
    if min(interest_fen, fee_fen, paid_fen) < 0 or paid_fen > interest_fen + fee_fen:
        raise ValueError(f"paid {paid_fen} must be 0..{interest_fen + fee_fen} (interest {interest_fen}, fees {fee_fen})")
    interest_paid = min(paid_fen, interest_fen)
    return interest_paid, paid_fen - interest_paid
