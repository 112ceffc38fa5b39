"""Stress scenarios (docs/rules.md section 8) as data: parsing, range checks and the sector PD assumptions.

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

from fund.domain.registry import SECTORS  # the city's key industries (docs/rules.md M2); array index = position
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


AFTER_POLICY_END = ("continue", "stop")
SAMPLING_METHODS = ("crude", "importance")


@dataclass(frozen=True)
class NewLending:
    """M1b: covered principal drawn each year (``None``: the database's last 12 months, or 0 for a
    portfolio file) growing by ``growth`` a year."""

    annual_volume_fen: int | None = None
    growth: float = 0.0


@dataclass(frozen=True)
class Sampling:
    """M6b: ``crude`` Monte Carlo, or ``importance`` sampling of the global factor with mean
    ``shift`` and spread ``scale`` (both ``None``: chosen from pilot runs). A tuple gives each
    simulated year its own mean or spread (our extensions of M6b, docs/rules.md section 8), one
    number per year of the horizon."""

    method: str = "crude"
    shift: float | tuple[float, ...] | None = None
    scale: float | tuple[float, ...] | None = None


@dataclass(frozen=True)
class PolicyOverride:
    """A what-if on the policies of the run (issue 15, point 5), applied through the same allocation
    code: scheme ratios (by scheme code, every party's bp adding up to 10000), the A3 bank cap, the
    single-loan cap of new loans' coverage and the B2 suspension line. ``None``: the policy's."""

    schemes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    bank_annual_cap_bp: int | None = None
    single_loan_cap_fen: int | None = None
    bank_suspension_line_bp: int | None = None

    @property
    def empty(self) -> bool:
        return not self.schemes and self.bank_annual_cap_bp is None and self.single_loan_cap_fen is None \
            and self.bank_suspension_line_bp is None


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
    #: M1: after the last active policy ends, its appropriation and coverage go on (or ``stop``).
    after_policy_end: str = "continue"
    new_lending: NewLending = field(default_factory=NewLending)
    sampling: Sampling = field(default_factory=Sampling)
    policy_override: PolicyOverride = field(default_factory=PolicyOverride)
    source: str = field(default="", compare=False)

    def sector_multiplier(self, sector: str) -> float:
        return float(self.sector_pd_multiplier.get(sector, 1.0))

    def to_dict(self) -> dict[str, Any]:
        """The scenario as a document with the keys of a scenario file (:func:`scenario_document`)."""
        return scenario_document(self)


def scenario_document(scenario: Scenario) -> dict[str, Any]:
    """One half of the serialisation pair: a scenario as the document of a scenario file (TOML
    tables as dicts, optional keys left out when unset). :func:`parse_scenario` is the other half:
    ``parse_scenario(scenario_document(s)) == s``.

    >>> s = parse_scenario({"name": "x", "fund": {"after_policy_end": "stop"}, "new_lending": {"growth": 0.05}})
    >>> doc = scenario_document(s); doc["fund"], doc["new_lending"]
    ({'after_policy_end': 'stop'}, {'growth': 0.05})
    >>> parse_scenario(doc) == s
    True
    """
    doc: dict[str, Any] = {
        "name": scenario.name, "description": scenario.description, "horizon_years": scenario.horizon_years,
        "copula": scenario.copula, "t_degrees_of_freedom": scenario.t_degrees_of_freedom,
        "asset_correlation": scenario.asset_correlation, "global_loading": scenario.global_loading,
        "pd_multiplier": scenario.pd_multiplier, "sector_pd_multiplier": dict(scenario.sector_pd_multiplier),
        "collateral": asdict(scenario.collateral),
    }
    fund: dict[str, Any] = {}
    if scenario.annual_appropriation_fen is not None:
        fund["annual_appropriation_fen"] = scenario.annual_appropriation_fen
    fund["after_policy_end"] = scenario.after_policy_end
    if scenario.after_policy_end == "continue":
        fund.pop("after_policy_end")
    if fund:
        doc["fund"] = fund
    lending = {k: v for k, v in asdict(scenario.new_lending).items() if v is not None}
    if lending.get("growth") == 0.0:
        lending.pop("growth")
    if lending:
        doc["new_lending"] = lending
    if scenario.sampling != Sampling():
        doc["sampling"] = {k: list(v) if isinstance(v, tuple) else v
                           for k, v in asdict(scenario.sampling).items() if v is not None}
    o = scenario.policy_override
    if not o.empty:
        over: dict[str, Any] = {k: getattr(o, k) for k in ("bank_annual_cap_bp", "single_loan_cap_fen",
                                                          "bank_suspension_line_bp") if getattr(o, k) is not None}
        if o.schemes:
            over["schemes"] = {code: dict(r) for code, r in o.schemes.items()}
        doc["policy_override"] = over
    return doc


_TOP_KEYS = {
    "name", "description", "horizon_years", "copula", "t_degrees_of_freedom", "asset_correlation",
    "global_loading", "pd_multiplier", "sector_pd_multiplier", "collateral", "fund", "new_lending", "sampling",
    "policy_override",
}
_COLLATERAL_KEYS = set(CollateralTerms.__dataclass_fields__)
_FUND_KEYS = {"annual_appropriation_fen", "after_policy_end"}
_LENDING_KEYS = {"annual_volume_fen", "growth"}
_SAMPLING_KEYS = {"method", "shift", "scale"}
_OVERRIDE_KEYS = {"schemes", "bank_annual_cap_bp", "single_loan_cap_fen", "bank_suspension_line_bp"}
_PARTIES = ("fund", "bank", "insurer", "appraiser")


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
    """Check a parsed scenario document (ranges of docs/rules.md M and issue 7) and build a :class:`Scenario`.

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
    after_end = fund.get("after_policy_end", "continue")
    if after_end not in AFTER_POLICY_END:
        raise ScenarioError(f"key 'fund.after_policy_end' must be one of {', '.join(AFTER_POLICY_END)}, got {after_end!r}")
    lending = _table(document, "new_lending", _LENDING_KEYS)
    new_lending = NewLending(
        annual_volume_fen=_integer(lending, "annual_volume_fen", "new_lending.annual_volume_fen", None, low=0, high=10**15),
        growth=_number(lending, "growth", "new_lending.growth", 0.0, above=-1.0, high=10.0),
    )
    sampling_doc = _table(document, "sampling", _SAMPLING_KEYS)
    method = sampling_doc.get("method", "crude")
    if method not in SAMPLING_METHODS:
        raise ScenarioError(f"key 'sampling.method' must be one of {', '.join(SAMPLING_METHODS)}, got {method!r}")
    horizon = _integer(document, "horizon_years", "horizon_years", 5, low=1, high=MAX_HORIZON_YEARS)
    # one shift for all years is M6b's (<= 0); a list (our extension) may go either way, as the
    # chooser's does; a spread is at least 1, so every weight stays bounded
    shift = _per_year(sampling_doc, "shift", horizon, (-8.0, 0.0), (-8.0, 8.0))
    scale = _per_year(sampling_doc, "scale", horizon, (1.0, 4.0), (1.0, 4.0))
    override = _policy_override(_table(document, "policy_override", _OVERRIDE_KEYS))

    return Scenario(
        name=name.strip(),
        description=description.strip(),
        horizon_years=horizon,
        copula=copula,
        t_degrees_of_freedom=_number(document, "t_degrees_of_freedom", "t_degrees_of_freedom", 4.0, above=2.0, high=1e6),
        asset_correlation=_number(document, "asset_correlation", "asset_correlation", 0.15, low=0.0, below=1.0),
        global_loading=_number(document, "global_loading", "global_loading", 0.5, low=0.0, high=1.0),
        pd_multiplier=_number(document, "pd_multiplier", "pd_multiplier", 1.0, low=0.0),
        sector_pd_multiplier=sector_multipliers,
        collateral=collateral,
        annual_appropriation_fen=appropriation,
        after_policy_end=after_end,
        new_lending=new_lending,
        sampling=Sampling(method=method, shift=shift, scale=scale),
        policy_override=override,
        source=source,
    )


def _per_year(sampling_doc: Mapping[str, Any], key: str, horizon: int, one: tuple[float, float],
              each: tuple[float, float]) -> float | tuple[float, ...] | None:
    """``[sampling] shift`` or ``scale``: one number (every year's) within ``one``, or a list of one
    number per year of the horizon (our extension), each within ``each``."""
    if key not in sampling_doc:
        return None
    value = sampling_doc[key]
    if not isinstance(value, (list, tuple)):
        return _number(sampling_doc, key, f"sampling.{key}", 0.0, low=one[0], high=one[1])
    if len(value) != horizon:
        raise ScenarioError(f"key 'sampling.{key}' as a list must give one number per year of the horizon "
                            f"({horizon}), got {len(value)}")
    return tuple(_number({key: v}, key, f"sampling.{key}[{k}]", 0.0, low=each[0], high=each[1])
                 for k, v in enumerate(value))


def _policy_override(table: Mapping[str, Any]) -> PolicyOverride:
    schemes_doc = table.get("schemes", {})
    if not isinstance(schemes_doc, Mapping):
        raise ScenarioError("key 'policy_override.schemes' must be a table of scheme code -> ratios")
    schemes: dict[str, dict[str, int]] = {}
    for code, ratios in schemes_doc.items():
        where = f"policy_override.schemes.{code}"
        if not isinstance(ratios, Mapping):
            raise ScenarioError(f"key {where!r} must be a table of party -> bp")
        unknown = sorted(set(ratios) - set(_PARTIES))
        if unknown:
            raise ScenarioError(f"unknown key {where + '.' + unknown[0]!r}")
        parsed = {party: _integer(ratios, party, f"{where}.{party}", 0, low=0, high=10_000) for party in _PARTIES}
        if sum(parsed.values()) != 10_000:
            raise ScenarioError(f"key {where!r}: the parties' bp must add up to 10000, got {sum(parsed.values())}")
        schemes[str(code)] = {p: v for p, v in parsed.items() if v or p in ("fund", "bank")}
    return PolicyOverride(
        schemes=schemes,
        bank_annual_cap_bp=_integer(table, "bank_annual_cap_bp", "policy_override.bank_annual_cap_bp", None, low=0, high=10_000),
        single_loan_cap_fen=_integer(table, "single_loan_cap_fen", "policy_override.single_loan_cap_fen", None, low=1,
                                     high=10**14),
        bank_suspension_line_bp=_integer(table, "bank_suspension_line_bp", "policy_override.bank_suspension_line_bp",
                                         None, low=0, high=10_000),
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
