"""Rule V (docs/rules.md section 7): legal term, relief-from-royalty value and collateral value of pledged IP.

Two forms give the same figures:

* :func:`value_asset` values one asset with plain Python floats and returns a :class:`Valuation`;
* :func:`value_assets` values arrays of assets at once with numpy (no per-asset Python loop) and
  returns a :class:`Valuations`.

Both accumulate the yearly factors by repeated multiplication and add the years in order, so they
perform the same float64 operations in the same order and agree to the fen (the promise tested is
"within 1 fen"). The model runs in float64 (docs/rules.md V2: it is a model, not a payment); every figure
it returns is one floor of its float expression. Rates here are fractions (0.05 = 5%); callers at
the CLI/API edge convert from bp with :meth:`ValuationInputs.from_bp`.

Assumptions of V3 (economic life caps, invalidation probabilities, the liquidation haircut and
usual pledge rates) come from ``risk/assumptions.toml`` via :func:`load_assumptions`.

>>> import datetime as dt
>>> v = value_asset("invention_patent", dt.date(2018, 5, 10), dt.date(2026, 11, 25),
...                 revenue_fen=5_000_000_000, growth=0.05, royalty=0.03, tax=0.15,
...                 discount=0.14, decay=0.08)
>>> v.value_fen, v.collateral_value_fen, v.life_years, v.life_reason
(572743127, 217642388, 10.0, 'economic life cap')
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from fund.domain.dates import add_years
from fund.domain.money import BP_ONE, MAX_SINGLE_AMOUNT_FEN
from fund.domain.policy import IP_KINDS, PATENT_KINDS

VALID_STATUS = "valid"
DAYS_PER_YEAR = 365.25
DESIGN_TERM_CHANGE = dt.date(2021, 6, 1)
"""Designs filed on or after this date have a 15-year term, earlier ones 10 (docs/rules.md V1)."""

FIXED_TERM_YEARS: Mapping[str, int] = MappingProxyType(
    {"invention_patent": 20, "utility_model": 10, "ic_layout": 10, "trademark": 10}
)
ECONOMIC_LIFE_DECIDES = ("trademark", "geographical_indication")
"""Kinds whose legal term does not bound the life used: a trademark is renewable, a GI has no term."""

LIFE_REASONS = ("legal term", "economic life cap", "lapsed", "not valid")
_LEGAL_TERM, _ECONOMIC_CAP, _LAPSED, _NOT_VALID = range(len(LIFE_REASONS))

ASSUMPTION_STATUSES = ("placeholder", "source")
_TWO_63 = 2.0**63
_BP_SQUARED = float(BP_ONE * BP_ONE)


# --------------------------------------------------------------------------------------------------
# Assumptions (V3)


@dataclass(frozen=True)
class Assumption:
    """One assumed figure with its provenance: ``status`` is ``placeholder`` or ``source``."""

    value: int
    status: str
    note: str


@dataclass(frozen=True)
class RiskAssumptions:
    """The V3 assumption set; rates and probabilities in bp, lives in whole years.

    ``provenance`` maps ``"<table>.<kind>"`` (``"liquidation_haircut_bp.all_kinds"`` for the haircut)
    to the :class:`Assumption` read from the file.
    """

    id: str
    economic_life_cap_years: Mapping[str, int]
    invalidation_probability_bp: Mapping[str, int]
    liquidation_haircut_bp: int
    usual_pledge_rate_bp: Mapping[str, int]
    provenance: Mapping[str, Assumption] = field(repr=False)


_PER_KIND_TABLES = {
    "economic_life_cap_years": (1, 100),
    "invalidation_probability_bp": (0, BP_ONE),
    "usual_pledge_rate_bp": (0, BP_ONE),
}


def _read_assumption(table: str, key: str, raw: Any, low: int, high: int) -> Assumption:
    where = f"{table}.{key}"
    if not isinstance(raw, Mapping) or set(raw) != {"value", "status", "note"}:
        raise ValueError(f"assumption {where} must be a table with exactly value, status and note")
    value, status, note = raw["value"], raw["status"], raw["note"]
    if type(value) is not int or not low <= value <= high:
        raise ValueError(f"assumption {where} must be an integer in {low}..{high}, got {value!r}")
    if status not in ASSUMPTION_STATUSES:
        raise ValueError(f"assumption {where} status must be one of {ASSUMPTION_STATUSES}, got {status!r}")
    if not isinstance(note, str) or not note.strip():
        raise ValueError(f"assumption {where} needs a note naming its source")
    return Assumption(value, status, note)


def parse_assumptions(document: Mapping[str, Any]) -> RiskAssumptions:
    """Check a parsed assumptions document and build :class:`RiskAssumptions` (ValueError naming the key)."""
    expected = {"id", "description", "liquidation_haircut_bp", *_PER_KIND_TABLES}
    if set(document) != expected:
        raise ValueError(f"assumptions must have exactly the keys {sorted(expected)}, got {sorted(document)}")
    if not isinstance(document["id"], str) or not document["id"]:
        raise ValueError("assumptions id must be a non-empty string")
    provenance: dict[str, Assumption] = {}
    per_kind: dict[str, Mapping[str, int]] = {}
    for table, (low, high) in _PER_KIND_TABLES.items():
        raw_table = document[table]
        if not isinstance(raw_table, Mapping) or set(raw_table) != set(IP_KINDS):
            raise ValueError(f"assumptions table {table} must name exactly the IP kinds {IP_KINDS}")
        values = {}
        for kind in IP_KINDS:
            item = _read_assumption(table, kind, raw_table[kind], low, high)
            provenance[f"{table}.{kind}"] = item
            values[kind] = item.value
        per_kind[table] = MappingProxyType(values)
    raw_haircut = document["liquidation_haircut_bp"]
    if not isinstance(raw_haircut, Mapping) or set(raw_haircut) != {"all_kinds"}:
        raise ValueError("assumptions table liquidation_haircut_bp must hold exactly all_kinds")
    haircut = _read_assumption("liquidation_haircut_bp", "all_kinds", raw_haircut["all_kinds"], 0, BP_ONE)
    provenance["liquidation_haircut_bp.all_kinds"] = haircut
    return RiskAssumptions(
        id=document["id"],
        economic_life_cap_years=per_kind["economic_life_cap_years"],
        invalidation_probability_bp=per_kind["invalidation_probability_bp"],
        liquidation_haircut_bp=haircut.value,
        usual_pledge_rate_bp=per_kind["usual_pledge_rate_bp"],
        provenance=MappingProxyType(provenance),
    )


def load_assumptions(path: str | Path | None = None) -> RiskAssumptions:
    """Read an assumptions file; by default the one shipped with the package (``risk/assumptions.toml``).

    >>> load_assumptions().liquidation_haircut_bp
    6000
    """
    if path is None:
        return _default_assumptions()
    with open(path, "rb") as handle:
        return parse_assumptions(tomllib.load(handle))


@lru_cache(maxsize=1)
def _default_assumptions() -> RiskAssumptions:
    text = resources.files("risk").joinpath("assumptions.toml").read_text(encoding="utf-8")
    return parse_assumptions(tomllib.loads(text))


# --------------------------------------------------------------------------------------------------
# V1: legal term


def legal_term_years(kind: str, filing_date: dt.date) -> int | None:
    """N of rule V1 (None for a geographical indication, which has no term).

    >>> legal_term_years("design_patent", dt.date(2021, 5, 31)), legal_term_years("design_patent", dt.date(2021, 6, 1))
    (10, 15)
    """
    if kind == "design_patent":
        return 15 if filing_date >= DESIGN_TERM_CHANGE else 10
    if kind == "geographical_indication":
        return None
    if kind not in FIXED_TERM_YEARS:
        raise ValueError(f"kind must be one of {', '.join(IP_KINDS)}, got {kind!r}")
    return FIXED_TERM_YEARS[kind]


def legal_term_end(kind: str, filing_date: dt.date, registration_date: dt.date | None = None) -> dt.date | None:
    """``add_years(start, N)``: the N-th anniversary, the first day no longer in the term (V1).

    ``start`` is the filing date, the registration date for a trademark. None for a GI.

    >>> legal_term_end("invention_patent", dt.date(2020, 2, 29))
    datetime.date(2040, 2, 29)
    >>> legal_term_end("utility_model", dt.date(2020, 2, 29))
    datetime.date(2030, 2, 28)
    """
    years = legal_term_years(kind, filing_date)
    if years is None:
        return None
    if kind == "trademark":
        if registration_date is None:
            raise ValueError("registration_date is required for a trademark (its term runs from it)")
        return add_years(registration_date, years)
    return add_years(filing_date, years)


def remaining_legal_life_years(
    kind: str, filing_date: dt.date, as_of: dt.date, registration_date: dt.date | None = None
) -> float | None:
    """(term end - as_of) in days / 365.25, at least 0; None for a GI (no term).

    >>> round(remaining_legal_life_years("invention_patent", dt.date(2018, 5, 10), dt.date(2026, 11, 25)), 3)
    11.455
    """
    end = legal_term_end(kind, filing_date, registration_date)
    if end is None:
        return None
    return max(0, (end - as_of).days) / DAYS_PER_YEAR


def _add_years_many(start: np.ndarray, years: np.ndarray) -> np.ndarray:
    """Vectorised :func:`fund.domain.dates.add_years` over ``datetime64[D]`` (NaT stays NaT)."""
    month = start.astype("datetime64[M]")
    day_index = (start - month.astype("datetime64[D]")).astype(np.int64)
    target = month + (12 * years).astype("timedelta64[M]")
    target_first = target.astype("datetime64[D]")
    month_length = ((target + np.timedelta64(1, "M")).astype("datetime64[D]") - target_first).astype(np.int64)
    return target_first + np.minimum(day_index, month_length - 1).astype("timedelta64[D]")


# --------------------------------------------------------------------------------------------------
# Inputs and their one check


class ValuationInputError(ValueError):
    """An input of rule V refused: ``argument`` names it, ``index`` is the asset's position for arrays
    (None for one asset)."""

    def __init__(self, message: str, argument: str, index: int | None = None) -> None:
        super().__init__(message)
        self.argument = argument
        self.index = index


@dataclass(frozen=True)
class ValuationInputs:
    """The inputs of one valuation, rates as fractions; ``quality`` is the q of the quality adjustment
    (None: not adjusted)."""

    kind: str
    filing_date: dt.date
    as_of: dt.date
    revenue_fen: int
    growth: float
    royalty: float
    tax: float
    discount: float
    decay: float
    registration_date: dt.date | None = None
    legal_status: str = VALID_STATUS
    quality: float | None = None

    @classmethod
    def from_bp(
        cls,
        kind: str,
        filing_date: dt.date,
        as_of: dt.date,
        *,
        revenue_fen: int,
        growth_bp: int,
        royalty_bp: int,
        tax_bp: int,
        discount_bp: int,
        decay_bp: int,
        registration_date: dt.date | None = None,
        legal_status: str = VALID_STATUS,
        quality: float | None = None,
    ) -> ValuationInputs:
        """Build from integer bp (the CLI/API edge); the ranges are checked when valuing."""
        for name, bp in (("growth_bp", growth_bp), ("royalty_bp", royalty_bp), ("tax_bp", tax_bp),
                         ("discount_bp", discount_bp), ("decay_bp", decay_bp)):
            if type(bp) is not int:
                raise ValueError(f"{name} must be an integer number of bp, got {bp!r}")
        return cls(kind, filing_date, as_of, revenue_fen, growth_bp / BP_ONE, royalty_bp / BP_ONE,
                   tax_bp / BP_ONE, discount_bp / BP_ONE, decay_bp / BP_ONE, registration_date,
                   legal_status, quality)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (dates as ISO strings)."""
        return {
            "kind": self.kind,
            "filing_date": self.filing_date.isoformat(),
            "registration_date": None if self.registration_date is None else self.registration_date.isoformat(),
            "as_of": self.as_of.isoformat(),
            "legal_status": self.legal_status,
            "revenue_fen": self.revenue_fen,
            "growth": self.growth,
            "royalty": self.royalty,
            "tax": self.tax,
            "discount": self.discount,
            "decay": self.decay,
            "quality": self.quality,
        }


@dataclass(frozen=True)
class _Checked:
    kind: np.ndarray  # <U
    filing_date: np.ndarray  # datetime64[D]
    registration_date: np.ndarray  # datetime64[D], NaT when absent
    as_of: np.ndarray  # datetime64[D]
    revenue_fen: np.ndarray  # int64
    growth: np.ndarray
    royalty: np.ndarray
    tax: np.ndarray
    discount: np.ndarray
    decay: np.ndarray
    in_force: np.ndarray  # bool
    quality: np.ndarray  # float64, NaN when not adjusted


_RATE_RULES = (
    # name, test, wording
    ("growth", lambda x: x > -1, "> -1 (-10000 bp)"),
    ("royalty", lambda x: (x >= 0) & (x <= 1), "in 0..1 (0..10000 bp)"),
    ("tax", lambda x: (x >= 0) & (x < 1), "in [0, 1) (0..9999 bp)"),
    ("discount", lambda x: x > -1, "> -1 (-10000 bp)"),
    ("decay", lambda x: (x >= 0) & (x < 1), "in [0, 1) (0..9999 bp)"),
)


def _refuse(message: str, argument: str, index: int = 0, many: bool = False) -> ValuationInputError:
    return ValuationInputError(message + (f" (asset {index})" if many else ""), argument, index if many else None)


def _as_dates(name: str, value: Any, allow_missing: bool) -> np.ndarray:
    if isinstance(value, dt.datetime) or (
        isinstance(value, (list, tuple)) and any(isinstance(v, dt.datetime) for v in value)
    ):
        raise _refuse(f"{name} must be a date, not a datetime", name)
    try:
        dates = np.asarray(value, dtype="datetime64[D]")
    except (TypeError, ValueError):
        raise _refuse(f"{name} must be a date or an array of dates, got {value!r}", name) from None
    if not allow_missing and np.isnat(dates).any():
        raise _refuse(f"{name} is required", name)
    return dates


def check_valuation_inputs(
    kind: Any,
    filing_date: Any,
    as_of: Any,
    revenue_fen: Any,
    growth: Any,
    royalty: Any,
    tax: Any,
    discount: Any,
    decay: Any,
    registration_date: Any = None,
    legal_status: Any = VALID_STATUS,
    quality: Any = None,
) -> _Checked:
    """The one input check of rule V, for one asset (scalars) or many (arrays, broadcast together).

    Raises :class:`ValuationInputError` (a ValueError) with one message naming the argument (and the
    asset index for arrays), and the same as attributes ``argument`` and ``index``:
    known kind; dates in order (filing <= as_of, filing <= registration <= as_of, registration given
    for a trademark); 0 <= revenue_fen <= 10^12 (an integer); growth > -1; 0 <= royalty <= 1;
    0 <= tax < 1; discount > -1; 0 <= decay < 1; quality, when given, in 0..1; every rate finite.

    >>> try:
    ...     check_valuation_inputs("invention_patent", dt.date(2020, 1, 1), dt.date(2026, 1, 1),
    ...                            1000, 0.0, 1.5, 0.25, 0.1, 0.0)
    ... except ValueError as refused:
    ...     print(refused.argument, refused.index, "|", refused)
    royalty None | royalty must be in 0..1 (0..10000 bp), got 1.5
    """
    many = any(np.ndim(v) > 0 for v in (kind, filing_date, as_of, revenue_fen, growth, royalty, tax,
                                          discount, decay, registration_date, legal_status, quality)
               if not isinstance(v, (str, bytes)))
    kinds = np.asarray(kind, dtype=object)
    filing = _as_dates("filing_date", filing_date, allow_missing=False)
    as_of_d = _as_dates("as_of", as_of, allow_missing=False)
    registration = _as_dates("registration_date", registration_date, allow_missing=True)
    statuses = np.asarray(legal_status, dtype=object)
    try:
        revenue = np.asarray(revenue_fen)
    except OverflowError:
        raise _refuse(f"revenue_fen must be in 0..{MAX_SINGLE_AMOUNT_FEN}", "revenue_fen") from None
    if revenue.dtype == object and all(type(v) is int for v in revenue.ravel().tolist()):
        raise _refuse(f"revenue_fen must be in 0..{MAX_SINGLE_AMOUNT_FEN}", "revenue_fen")  # Python ints past int64
    if revenue.dtype == object or revenue.dtype == bool or not np.issubdtype(revenue.dtype, np.integer):
        raise _refuse(f"revenue_fen must be an integer number of fen, got {revenue_fen!r}", "revenue_fen")
    rates = {}
    for name, value in (("growth", growth), ("royalty", royalty), ("tax", tax), ("discount", discount),
                        ("decay", decay)):
        try:
            rates[name] = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise _refuse(f"{name} must be a number, got {value!r}", name) from None
    try:
        q = np.asarray(np.nan if quality is None else quality, dtype=np.float64)
    except (TypeError, ValueError):
        raise _refuse(f"quality must be a number in 0..1 or None, got {quality!r}", "quality") from None
    try:
        (kinds, filing, as_of_d, registration, statuses, revenue, q, *rate_arrays) = np.broadcast_arrays(
            kinds, filing, as_of_d, registration, statuses, revenue, q, *rates.values()
        )
    except ValueError:
        raise _refuse("array arguments must have the same length (or be scalars)", "kind") from None
    rates = dict(zip(rates, rate_arrays))
    kinds, filing, as_of_d, registration, statuses, revenue, q = (
        np.atleast_1d(a).ravel() for a in (kinds, filing, as_of_d, registration, statuses, revenue, q)
    )
    rates = {name: np.atleast_1d(a).ravel() for name, a in rates.items()}

    known = np.isin(kinds, np.asarray(IP_KINDS, dtype=object))
    if not known.all():
        i = int(np.argmin(known))
        raise _refuse(f"kind must be one of {', '.join(IP_KINDS)}, got {kinds[i]!r}", "kind", i, many)
    bad_status = np.frompyfunc(lambda s: not isinstance(s, str), 1, 1)(statuses).astype(bool)
    if bad_status.any():
        i = int(np.argmax(bad_status))
        raise _refuse(f"legal_status must be a string, got {statuses[i]!r}", "legal_status", i, many)
    checks = (
        (filing > as_of_d, "filing_date", "filing_date must be on or before as_of"),
        (~np.isnat(registration) & (registration < filing), "registration_date",
         "registration_date must be on or after filing_date"),
        (~np.isnat(registration) & (registration > as_of_d), "registration_date",
         "registration_date must be on or before as_of"),
        ((kinds == "trademark") & np.isnat(registration), "registration_date",
         "registration_date is required for a trademark (its term runs from it)"),
        ((revenue < 0) | (revenue > MAX_SINGLE_AMOUNT_FEN), "revenue_fen",
         f"revenue_fen must be in 0..{MAX_SINGLE_AMOUNT_FEN}"),
    )
    for failed, argument, message in checks:
        if failed.any():
            raise _refuse(message, argument, int(np.argmax(failed)), many)
    for name, test, wording in _RATE_RULES:
        x = rates[name]
        with np.errstate(invalid="ignore"):
            failed = ~(np.isfinite(x) & test(x))
        if failed.any():
            i = int(np.argmax(failed))
            raise _refuse(f"{name} must be {wording}, got {float(x[i])!r}", name, i, many)
    failed_q = ~np.isnan(q) & ~((q >= 0) & (q <= 1))
    if failed_q.any():
        i = int(np.argmax(failed_q))
        raise _refuse(f"quality must be in 0..1, got {float(q[i])!r}", "quality", i, many)
    return _Checked(
        kind=kinds.astype(str),
        filing_date=filing,
        registration_date=registration,
        as_of=as_of_d,
        revenue_fen=revenue.astype(np.int64),
        in_force=statuses == VALID_STATUS,
        quality=q,
        **rates,
    )


def quality_adjusted_royalty(royalty: float, quality: float | None) -> float:
    """``min(1, royalty * (0.5 + q))``; the royalty unchanged when q is None. See :func:`quality_scores`."""
    if quality is None or math.isnan(quality):
        return royalty
    return min(1.0, royalty * (0.5 + quality))


# --------------------------------------------------------------------------------------------------
# V2 + V3, one asset


@dataclass(frozen=True)
class Valuation:
    """One asset's rule V result.

    ``value_fen`` = floor(V2 value); ``collateral_value_fen`` = floor(value * (1 - p) * (1 - haircut))
    taken on the unfloored value; ``life_years`` is T; ``cash_flows_fen[t-1]`` = floor of year t's
    after-tax royalty saved, weighted for a partial last year (undiscounted), and
    ``present_values_fen[t-1]`` = floor of the same discounted to ``as_of``; each is floored on its
    own, so their sum may fall short of ``value_fen`` by less than one fen per year.
    """

    value_fen: int
    collateral_value_fen: int
    life_years: float
    life_reason: str
    legal_term_end: dt.date | None
    legal_life_years: float | None
    royalty_used: float
    cash_flows_fen: tuple[int, ...]
    present_values_fen: tuple[int, ...]
    inputs: ValuationInputs
    assumptions_id: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "value_fen": self.value_fen,
            "collateral_value_fen": self.collateral_value_fen,
            "life_years": self.life_years,
            "life_reason": self.life_reason,
            "legal_term_end": None if self.legal_term_end is None else self.legal_term_end.isoformat(),
            "legal_life_years": self.legal_life_years,
            "royalty_used": self.royalty_used,
            "cash_flows_fen": list(self.cash_flows_fen),
            "present_values_fen": list(self.present_values_fen),
            "inputs": self.inputs.as_dict(),
            "assumptions_id": self.assumptions_id,
        }


def _overflow(index: int | None) -> ValuationInputError:
    where = "" if index is None else f" (asset {index})"
    return ValuationInputError(f"the inputs imply an amount of 2^63 fen or more{where}; check revenue_fen and growth",
                               "revenue_fen", index)


def value_asset(
    kind: str,
    filing_date: dt.date,
    as_of: dt.date,
    *,
    revenue_fen: int,
    growth: float,
    royalty: float,
    tax: float,
    discount: float,
    decay: float,
    registration_date: dt.date | None = None,
    legal_status: str = VALID_STATUS,
    quality: float | None = None,
    assumptions: RiskAssumptions | None = None,
) -> Valuation:
    """Rules V1-V3 for one asset (relief from royalty, then collateral value).

    ``T = min(remaining legal life, economic life cap)`` (the cap alone for trademarks and GIs);
    ``value = sum_{t=1..ceil(T)} w_t R0 (1+g)^t (1-d)^t rho (1-tau) / (1+r)^t`` with
    ``w_t = min(1, T - (t-1))``. An asset whose legal status is not ``"valid"``, or whose term has
    ended, is worth 0. ``quality`` (0..1) multiplies the royalty by ``0.5 + q`` (capped at 1).

    >>> v = value_asset("utility_model", dt.date(2017, 3, 1), dt.date(2026, 9, 1), revenue_fen=100_000_000,
    ...                 growth=0.0, royalty=0.05, tax=0.25, discount=0.0, decay=0.0)
    >>> v.life_reason, round(v.life_years, 4), v.cash_flows_fen, v.value_fen
    ('legal term', 0.4956, (1858316,), 1858316)
    """
    assumptions = assumptions or load_assumptions()
    checked = check_valuation_inputs(kind, filing_date, as_of, revenue_fen, growth, royalty, tax, discount,
                                     decay, registration_date, legal_status, quality)
    inputs = ValuationInputs(kind, filing_date, as_of, int(revenue_fen), float(growth), float(royalty),
                             float(tax), float(discount), float(decay), registration_date, legal_status,
                             None if quality is None else float(quality))
    cap = float(assumptions.economic_life_cap_years[kind])
    term_end = legal_term_end(kind, filing_date, registration_date)
    legal_life = remaining_legal_life_years(kind, filing_date, as_of, registration_date)
    if not bool(checked.in_force[0]):
        life, reason = 0.0, LIFE_REASONS[_NOT_VALID]
    elif kind in ECONOMIC_LIFE_DECIDES:
        life, reason = cap, LIFE_REASONS[_ECONOMIC_CAP]
    elif legal_life == 0:
        life, reason = 0.0, LIFE_REASONS[_LAPSED]
    elif legal_life >= cap:
        life, reason = cap, LIFE_REASONS[_ECONOMIC_CAP]
    else:
        life, reason = legal_life, LIFE_REASONS[_LEGAL_TERM]

    rho = quality_adjusted_royalty(inputs.royalty, inputs.quality)
    after_tax = 1.0 - inputs.tax
    growth_step, decay_step, discount_step = 1.0 + inputs.growth, 1.0 - inputs.decay, 1.0 + inputs.discount
    growth_t = decay_t = discount_t = 1.0
    value = 0.0
    cash_flows: list[int] = []
    present_values: list[int] = []
    for t in range(1, math.ceil(life) + 1):
        growth_t *= growth_step
        decay_t *= decay_step
        discount_t *= discount_step
        weight = min(1.0, life - (t - 1))
        cash_flow = weight * inputs.revenue_fen * growth_t * decay_t * rho * after_tax
        present_value = cash_flow / discount_t
        value += present_value
        if not (cash_flow < _TWO_63 and present_value < _TWO_63):
            raise _overflow(None)
        cash_flows.append(math.floor(cash_flow))
        present_values.append(math.floor(present_value))
    if not value < _TWO_63:
        raise _overflow(None)
    keep = (BP_ONE - assumptions.invalidation_probability_bp[kind]) * (BP_ONE - assumptions.liquidation_haircut_bp)
    collateral = value * keep / _BP_SQUARED
    return Valuation(
        value_fen=math.floor(value),
        collateral_value_fen=math.floor(collateral),
        life_years=life,
        life_reason=reason,
        legal_term_end=term_end,
        legal_life_years=legal_life,
        royalty_used=rho,
        cash_flows_fen=tuple(cash_flows),
        present_values_fen=tuple(present_values),
        inputs=inputs,
        assumptions_id=assumptions.id,
    )


# --------------------------------------------------------------------------------------------------
# V1-V3, many assets at once


@dataclass(frozen=True)
class Valuations:
    """Rule V over n assets; the same figures as :class:`Valuation`, one entry (row) per asset.

    ``cash_flows_fen`` and ``present_values_fen`` are (n, H) with H the longest horizon
    ``max ceil(T)``; years beyond an asset's own ``ceil(T)`` hold 0. ``legal_term_end`` is NaT and
    ``legal_life_years`` NaN for a GI.
    """

    value_fen: np.ndarray  # int64 (n,)
    collateral_value_fen: np.ndarray  # int64 (n,)
    life_years: np.ndarray  # float64 (n,)
    life_reason: np.ndarray  # str (n,)
    legal_term_end: np.ndarray  # datetime64[D] (n,)
    legal_life_years: np.ndarray  # float64 (n,)
    royalty_used: np.ndarray  # float64 (n,)
    cash_flows_fen: np.ndarray  # int64 (n, H)
    present_values_fen: np.ndarray  # int64 (n, H)
    assumptions_id: str

    def __len__(self) -> int:
        return int(self.value_fen.shape[0])


def _per_kind(kinds: np.ndarray, table: Mapping[str, int]) -> np.ndarray:
    order = np.asarray(IP_KINDS)
    sorter = np.argsort(order)
    codes = sorter[np.searchsorted(order, kinds, sorter=sorter)]
    return np.asarray([table[k] for k in IP_KINDS], dtype=np.int64)[codes]


def _legal_terms(checked: _Checked) -> tuple[np.ndarray, np.ndarray]:
    """Term ends (NaT for a GI) and remaining legal lives in years (NaN for a GI)."""
    kinds = checked.kind
    years = _per_kind(kinds, {**FIXED_TERM_YEARS, "design_patent": 10, "geographical_indication": 0})
    years = np.where((kinds == "design_patent") & (checked.filing_date >= np.datetime64(DESIGN_TERM_CHANGE, "D")),
                     15, years)
    start = np.where(kinds == "trademark", checked.registration_date, checked.filing_date)
    no_term = kinds == "geographical_indication"
    start = np.where(no_term, np.datetime64("NaT", "D"), start)
    term_end = _add_years_many(start, years)
    days = (term_end - checked.as_of).astype("timedelta64[D]")
    legal_life = np.where(no_term, np.nan, np.maximum(0, days.astype(np.int64)) / DAYS_PER_YEAR)
    return term_end, legal_life


def remaining_legal_life_years_many(kind: Any, filing_date: Any, as_of: Any, registration_date: Any = None) -> np.ndarray:
    """Vectorised :func:`remaining_legal_life_years` (NaN for a GI); dates as arrays of dates."""
    kinds = np.atleast_1d(np.asarray(kind, dtype=object))
    zeros = np.zeros(kinds.shape, dtype=np.int64)
    checked = check_valuation_inputs(kinds, filing_date, as_of, zeros, 0.0, 0.0, 0.0, 0.0, 0.0,
                                     registration_date)
    return _legal_terms(checked)[1]


def value_assets(
    kind: Any,
    filing_date: Any,
    as_of: Any,
    *,
    revenue_fen: Any,
    growth: Any,
    royalty: Any,
    tax: Any,
    discount: Any,
    decay: Any,
    registration_date: Any = None,
    legal_status: Any = VALID_STATUS,
    quality: Any = None,
    assumptions: RiskAssumptions | None = None,
) -> Valuations:
    """Vectorised :func:`value_asset`: every argument an array over assets (or a scalar, broadcast).

    Dates are ``datetime64[D]`` arrays or sequences of ``datetime.date`` (``None``/NaT for a missing
    registration date); ``quality`` NaN means "not adjusted". The years are laid on a grid
    ``t = 1..H`` with ``H = max ceil(T)``; a year beyond an asset's own ``ceil(T)`` is masked out.

    >>> v = value_assets(["invention_patent", "design_patent"], [dt.date(2018, 5, 10), dt.date(2021, 6, 1)],
    ...                  dt.date(2026, 11, 25), revenue_fen=[5_000_000_000, 0], growth=0.05, royalty=0.03,
    ...                  tax=0.15, discount=0.14, decay=0.08)
    >>> v.value_fen.tolist(), v.collateral_value_fen.tolist(), v.cash_flows_fen.shape
    ([572743127, 0], [217642388, 0], (2, 10))
    """
    assumptions = assumptions or load_assumptions()
    c = check_valuation_inputs(kind, filing_date, as_of, revenue_fen, growth, royalty, tax, discount, decay,
                               registration_date, legal_status, quality)
    term_end, legal_life = _legal_terms(c)
    cap = _per_kind(c.kind, assumptions.economic_life_cap_years).astype(np.float64)
    economic_decides = np.isin(c.kind, ECONOMIC_LIFE_DECIDES)
    legal_or_cap = np.where(economic_decides, cap, np.minimum(legal_life, cap))
    reason = np.select(
        [~c.in_force, economic_decides, legal_life == 0, legal_life >= cap],
        [_NOT_VALID, _ECONOMIC_CAP, _LAPSED, _ECONOMIC_CAP],
        default=_LEGAL_TERM,
    )
    life = np.where((reason == _NOT_VALID) | (reason == _LAPSED), 0.0, legal_or_cap)

    rho = np.where(np.isnan(c.quality), c.royalty, np.minimum(1.0, c.royalty * (0.5 + c.quality)))
    horizon_years = np.ceil(life).astype(np.int64)
    horizon = int(horizon_years.max(initial=0))
    t = np.arange(1, horizon + 1)
    in_life = t[None, :] <= horizon_years[:, None]
    weight = np.where(in_life, np.minimum(1.0, life[:, None] - (t[None, :] - 1).astype(np.float64)), 0.0)
    n = c.kind.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):
        growth_t = np.cumprod(np.broadcast_to((1.0 + c.growth)[:, None], (n, horizon)), axis=1)
        decay_t = np.cumprod(np.broadcast_to((1.0 - c.decay)[:, None], (n, horizon)), axis=1)
        discount_t = np.cumprod(np.broadcast_to((1.0 + c.discount)[:, None], (n, horizon)), axis=1)
        cash_flow = weight * c.revenue_fen[:, None] * growth_t * decay_t * rho[:, None] * (1.0 - c.tax)[:, None]
        present_value = cash_flow / discount_t
        cash_flow = np.where(in_life, cash_flow, 0.0)
        present_value = np.where(in_life, present_value, 0.0)
        value = np.cumsum(present_value, axis=1)[:, -1] if horizon else np.zeros(n)
        too_big = ~(value < _TWO_63) | ~((cash_flow < _TWO_63) & (present_value < _TWO_63)).all(axis=1)
    if too_big.any():
        raise _overflow(int(np.argmax(too_big)))
    keep = ((BP_ONE - _per_kind(c.kind, assumptions.invalidation_probability_bp))
            * (BP_ONE - assumptions.liquidation_haircut_bp)).astype(np.float64)
    collateral = value * keep / _BP_SQUARED
    return Valuations(
        value_fen=np.floor(value).astype(np.int64),
        collateral_value_fen=np.floor(collateral).astype(np.int64),
        life_years=life,
        life_reason=np.asarray(LIFE_REASONS)[reason],
        legal_term_end=term_end,
        legal_life_years=legal_life,
        royalty_used=rho,
        cash_flows_fen=np.floor(cash_flow).astype(np.int64),
        present_values_fen=np.floor(present_value).astype(np.int64),
        assumptions_id=assumptions.id,
    )


# --------------------------------------------------------------------------------------------------
# Quality adjustment (beyond V; off by default)


def percentile_ranks(values: Any) -> np.ndarray:
    """Percentile rank of each value among all of them, in 0..1.

    With ``r_i`` the 1-based rank of ``x_i`` in ascending order, ties taking the average of the
    ranks they span, the percentile rank is ``(r_i - 1) / (n - 1)``: 0 for the strict minimum, 1 for
    the strict maximum; a single value, or values all equal, get 0.5.

    >>> percentile_ranks([10, 20, 20, 40]).tolist()
    [0.0, 0.5, 0.5, 1.0]
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    n = x.shape[0]
    if n == 1:
        return np.full(1, 0.5)
    ordered = np.sort(x)
    below = np.searchsorted(ordered, x, side="left")
    at_or_below = np.searchsorted(ordered, x, side="right")
    average_rank = (below + 1 + at_or_below) / 2.0
    return (average_rank - 1.0) / max(n - 1, 1)


QUALITY_FEATURES = ("claims_count", "forward_citations", "family_size", "legal_life_years")


def quality_scores(kind: Any, claims_count: Any, forward_citations: Any, family_size: Any,
                   legal_life_years: Any) -> np.ndarray:
    """Quality score q in 0..1 for each patent of a book; NaN where it does not apply.

    For each patent kind (invention, utility model, design) separately, take the patents of that
    kind having all four features (claims count, forward citations, family size, remaining legal
    life in years); q is the mean of the four :func:`percentile_ranks` within that group. The
    royalty is then multiplied by ``0.5 + q`` (see :func:`quality_adjusted_royalty`): the median
    patent keeps its royalty, the best of its kind gets 1.5 times it, the worst half of it.

    Limits: q is relative to the book, not to the market; a patent's q changes when others join or
    leave the book, so a stored valuation records the q it used. A lone patent of its kind (or a
    kind whose patents tie on everything) gets q = 0.5, i.e. no adjustment. The four features are
    weighted equally and counted, not judged (a citation from a weak patent counts as one from a
    strong one); claims and families of design patents say little. The adjusted royalty is capped
    at 100% of revenue. Other kinds, and patents with a missing feature (NaN), get NaN.

    >>> quality_scores(["invention_patent"] * 3 + ["trademark"], [10, 20, 30, 0], [0, 5, 9, 0],
    ...                [1, 1, 3, 0], [5.0, 9.0, 12.0, 0]).tolist()
    [0.0625, 0.4375, 1.0, nan]
    """
    kinds = np.asarray(kind, dtype=object).ravel()
    features = np.stack([np.asarray(f, dtype=np.float64).ravel() for f in
                         (claims_count, forward_citations, family_size, legal_life_years)])
    if features.shape[1] != kinds.shape[0]:
        raise ValueError("kind and every quality feature must have the same length")
    with np.errstate(invalid="ignore"):
        negative = (features < 0) | np.isinf(features)
    if negative.any():
        feature, i = np.argwhere(negative)[0]
        raise ValueError(f"{QUALITY_FEATURES[feature]} must be finite and >= 0 (asset {i})")
    q = np.full(kinds.shape[0], np.nan)
    complete = ~np.isnan(features).any(axis=0)
    for patent_kind in PATENT_KINDS:
        members = np.flatnonzero(complete & (kinds == patent_kind))
        if members.size:
            ranks = [percentile_ranks(features[f, members]) for f in range(len(QUALITY_FEATURES))]
            q[members] = np.mean(ranks, axis=0)
    return q


# --------------------------------------------------------------------------------------------------
# V3 pledge-rate flag


def _checked_pledges(assets: Iterable[tuple[str, int]], assumptions: RiskAssumptions) -> int:
    total = 0
    for kind, appraised_value_fen in assets:
        if kind not in assumptions.usual_pledge_rate_bp:
            raise ValueError(f"kind must be one of {', '.join(IP_KINDS)}, got {kind!r}")
        if type(appraised_value_fen) is not int or appraised_value_fen < 0:
            raise ValueError(f"appraised_value_fen must be an integer >= 0, got {appraised_value_fen!r}")
        total += assumptions.usual_pledge_rate_bp[kind] * appraised_value_fen
    return total


def usual_pledge_limit_fen(assets: Iterable[tuple[str, int]], assumptions: RiskAssumptions | None = None) -> int:
    """floor(sum over assets of usual pledge rate(kind) * appraised value), exact.

    >>> usual_pledge_limit_fen([("invention_patent", 1_000_000_001), ("trademark", 3)])
    250000001
    """
    return _checked_pledges(assets, assumptions or load_assumptions()) // BP_ONE


def pledge_rate_exceeded(ip_part_fen: int, assets: Iterable[tuple[str, int]],
                        assumptions: RiskAssumptions | None = None) -> bool:
    """V3 flag: ``ip_part`` exceeds the sum over the pledged assets of ``pledge rate(kind) * appraised
    value``, compared exactly as ``ip_part * 10000 > sum(rate_bp * value)``.

    >>> pledge_rate_exceeded(250_000_000, [("invention_patent", 1_000_000_000)])
    False
    >>> pledge_rate_exceeded(250_000_001, [("invention_patent", 1_000_000_000)])
    True
    """
    if type(ip_part_fen) is not int or ip_part_fen < 0:
        raise ValueError(f"ip_part_fen must be an integer >= 0, got {ip_part_fen!r}")
    return ip_part_fen * BP_ONE > _checked_pledges(assets, assumptions or load_assumptions())
