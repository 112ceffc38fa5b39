"""Stress scenarios (RULES section 8) as data: parsing, range checks and the sector PD assumptions.

A scenario is a small TOML document a fund manager copies and edits (the shipped ones are in
``simulations/scenarios/``). :func:`parse_scenario` checks every key and raises :class:`ScenarioError`
whose one-line message names the key at fault.

>>> s = parse_scenario({"name": "mild", "pd_multiplier": 1.5, "collateral": {"value_multiplier": 0.8}})
>>> s.pd_multiplier, s.collateral.value_multiplier, s.copula
(1.5, 0.8, 'gaussian')
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from fund.domain.registry import SECTORS  # the city's key industries (RULES M2); array index = position
COPULAS = ("gaussian", "t")
MAX_HORIZON_YEARS = 30


class ScenarioError(ValueError):
    """A scenario document breaks a rule; the one-line message names the key."""


@dataclass(frozen=True)
class CollateralTerms:
    """M3: IP liquidation values and invalidation."""

    volatility: float = 0.35
    global_loading: float = 0.5
    value_multiplier: float = 1.0
    liquidation_haircut: float = 0.6
    invalidation_multiplier: float = 1.0
    recovery_lag_years: int = 1


@dataclass(frozen=True)
class Scenario:
    """One stress scenario; the defaults are the baseline's."""

    name: str
    description: str = ""
    horizon_years: int = 5
    copula: str = "gaussian"
    t_degrees_of_freedom: float = 4.0
    asset_correlation: float = 0.15
    global_loading: float = 0.5
    pd_multiplier: float = 1.0
    sector_pd_multiplier: Mapping[str, float] = field(default_factory=dict)
    collateral: CollateralTerms = field(default_factory=CollateralTerms)
    #: ``None``: the policies' (or the ledger's, or the caller's) yearly appropriation (M1).
    annual_appropriation_fen: int | None = None
    source: str = field(default="", compare=False)

    def sector_multiplier(self, sector: str) -> float:
        return float(self.sector_pd_multiplier.get(sector, 1.0))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("source")
        return data


_TOP_KEYS = {
    "name", "description", "horizon_years", "copula", "t_degrees_of_freedom", "asset_correlation",
    "global_loading", "pd_multiplier", "sector_pd_multiplier", "collateral", "fund",
}
_COLLATERAL_KEYS = set(CollateralTerms.__dataclass_fields__)
_FUND_KEYS = {"annual_appropriation_fen"}


def _number(doc: Mapping[str, Any], key: str, where: str, default: float, *, low: float | None = None,
            high: float | None = None, below: float | None = None, above: float | None = None) -> float:
    if key not in doc:
        return default
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ScenarioError(f"key {where!r} must be a finite number, got {value!r}")
    value = float(value)
    if low is not None and value < low:
        raise ScenarioError(f"key {where!r} must be >= {low:g}, got {value:g}")
    if high is not None and value > high:
        raise ScenarioError(f"key {where!r} must be <= {high:g}, got {value:g}")
    if below is not None and value >= below:
        raise ScenarioError(f"key {where!r} must be below {below:g}, got {value:g}")
    if above is not None and value <= above:
        raise ScenarioError(f"key {where!r} must be > {above:g}, got {value:g}")
    return value


def _integer(doc: Mapping[str, Any], key: str, where: str, default: int | None, *, low: int, high: int | None = None) -> int | None:
    if key not in doc:
        return default
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(f"key {where!r} must be an integer, got {value!r}")
    if value < low:
        raise ScenarioError(f"key {where!r} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ScenarioError(f"key {where!r} must be <= {high}, got {value}")
    return value


def _table(doc: Mapping[str, Any], key: str, allowed: set[str] | None) -> Mapping[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, Mapping):
        raise ScenarioError(f"key {key!r} must be a table")
    if allowed is not None:
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise ScenarioError(f"unknown key {key + '.' + unknown[0]!r}")
    return value


def parse_scenario(document: Mapping[str, Any], *, source: str = "",
                   max_invalidation_probability: float | None = None) -> Scenario:
    """Check a parsed scenario document (ranges of RULES M and issue 7) and build a :class:`Scenario`.

    ``max_invalidation_probability`` (the largest per-kind invalidation probability in force) lets
    the check of M3 "invalidation probability times its multiplier is at most 1" name the key.
    """
    if not isinstance(document, Mapping):
        raise ScenarioError("a scenario must be a table of keys")
    unknown = sorted(set(document) - _TOP_KEYS)
    if unknown:
        raise ScenarioError(f"unknown key {unknown[0]!r}")
    name = document.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise ScenarioError("key 'name' must be a non-empty string of at most 64 characters")
    description = document.get("description", "")
    if not isinstance(description, str) or "\n" in description:
        raise ScenarioError("key 'description' must be a one-line string")
    copula = document.get("copula", "gaussian")
    if copula not in COPULAS:
        raise ScenarioError(f"key 'copula' must be one of {', '.join(COPULAS)}, got {copula!r}")

    sector_raw = _table(document, "sector_pd_multiplier", set(SECTORS))
    sector_multipliers = {
        sector: _number(sector_raw, sector, f"sector_pd_multiplier.{sector}", 1.0, low=0.0)
        for sector in SECTORS if sector in sector_raw
    }
    coll = _table(document, "collateral", _COLLATERAL_KEYS)
    base = CollateralTerms()
    collateral = CollateralTerms(
        volatility=_number(coll, "volatility", "collateral.volatility", base.volatility, low=0.0),
        global_loading=_number(coll, "global_loading", "collateral.global_loading", base.global_loading, low=0.0, high=1.0),
        value_multiplier=_number(coll, "value_multiplier", "collateral.value_multiplier", base.value_multiplier, low=0.0),
        liquidation_haircut=_number(coll, "liquidation_haircut", "collateral.liquidation_haircut",
                                    base.liquidation_haircut, low=0.0, high=1.0),
        invalidation_multiplier=_number(coll, "invalidation_multiplier", "collateral.invalidation_multiplier",
                                        base.invalidation_multiplier, low=0.0),
        recovery_lag_years=_integer(coll, "recovery_lag_years", "collateral.recovery_lag_years",
                                    base.recovery_lag_years, low=0, high=MAX_HORIZON_YEARS),
    )
    if max_invalidation_probability is not None and \
            max_invalidation_probability * collateral.invalidation_multiplier > 1.0 + 1e-12:
        raise ScenarioError(
            f"key 'collateral.invalidation_multiplier' times the largest invalidation probability "
            f"({max_invalidation_probability:g}) must be at most 1, got {collateral.invalidation_multiplier:g}"
        )
    fund = _table(document, "fund", _FUND_KEYS)
    appropriation = _integer(fund, "annual_appropriation_fen", "fund.annual_appropriation_fen", None, low=0, high=10**14)

    return Scenario(
        name=name.strip(),
        description=description.strip(),
        horizon_years=_integer(document, "horizon_years", "horizon_years", 5, low=1, high=MAX_HORIZON_YEARS),
        copula=copula,
        t_degrees_of_freedom=_number(document, "t_degrees_of_freedom", "t_degrees_of_freedom", 4.0, above=2.0, high=1e6),
        asset_correlation=_number(document, "asset_correlation", "asset_correlation", 0.15, low=0.0, below=1.0),
        global_loading=_number(document, "global_loading", "global_loading", 0.5, low=0.0, high=1.0),
        pd_multiplier=_number(document, "pd_multiplier", "pd_multiplier", 1.0, low=0.0),
        sector_pd_multiplier=sector_multipliers,
        collateral=collateral,
        annual_appropriation_fen=appropriation,
        source=source,
    )


def _max_invalidation_probability() -> float:
    from risk.valuation import load_assumptions

    return max(load_assumptions().invalidation_probability_bp.values()) / 10_000


def load_scenario_file(path: str | Path) -> Scenario:
    """Read and check one scenario file; errors name the file and the key in one line."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not UTF-8 text") from None
    try:
        return parse_scenario(document, source=str(path), max_invalidation_probability=_max_invalidation_probability())
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from None


# --------------------------------------------------------------------------------------------------
# sector default PDs (placeholders, risk/stress_assumptions.toml)


@dataclass(frozen=True)
class StressAssumptions:
    id: str
    sector_pd: Mapping[str, float]
    status: Mapping[str, str]


def parse_stress_assumptions(document: Mapping[str, Any]) -> StressAssumptions:
    """Check the sector PD file: every sector key once, each a probability in [0, 1] with a status."""
    table = document.get("sector_pd")
    if not isinstance(table, Mapping) or set(table) != set(SECTORS):
        raise ValueError(f"stress assumptions: table 'sector_pd' must name exactly the sectors {', '.join(SECTORS)}")
    pds, status = {}, {}
    for sector in SECTORS:
        item = table[sector]
        if not isinstance(item, Mapping) or set(item) != {"value", "status", "note"}:
            raise ValueError(f"stress assumptions: 'sector_pd.{sector}' must have exactly value, status and note")
        value = item["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(f"stress assumptions: 'sector_pd.{sector}.value' must be a probability in [0, 1]")
        if item["status"] not in ("placeholder", "source"):
            raise ValueError(f"stress assumptions: 'sector_pd.{sector}.status' must be placeholder or source")
        pds[sector], status[sector] = float(value), item["status"]
    return StressAssumptions(id=str(document.get("id", "")), sector_pd=pds, status=status)


def load_stress_assumptions(path: str | Path | None = None) -> StressAssumptions:
    """The sector PDs; by default the shipped placeholders.

    >>> load_stress_assumptions().sector_pd["other"]
    0.03
    """
    if path is None:
        text = resources.files("risk").joinpath("stress_assumptions.toml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return parse_stress_assumptions(tomllib.loads(text))
