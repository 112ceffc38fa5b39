"""Survivors of the mutation run over risk/scenario.py (docs/mutation.md), killed by pinning scenario
files as docs/rules.md section 8 and simulations/README.md ("Scenarios") state them: every key's range,
a refusal naming the key and the bound in one line, the defaults being the baseline's, the document
of a scenario read back to the same scenario, and the sector PD file of M2 (every sector once, each a
probability with its status)."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

from risk.scenario import (
    SECTORS, CollateralTerms, NewLending, PolicyOverride, Sampling, Scenario, ScenarioError,
    load_scenario_file, load_stress_assumptions, parse_scenario, parse_stress_assumptions, scenario_document,
)

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "simulations" / "scenarios" / "baseline.toml"


def _doc(path: str, value) -> dict:
    """A scenario named "x" with one key set: ``path`` is ``key`` or ``table.key``."""
    doc: dict = {"name": "x"}
    *tables, key = path.split(".")
    where = doc
    for table in tables:
        where = where.setdefault(table, {})
    where[key] = value
    return doc


def _refusal(document, **kwargs) -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(document, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------------------------------
# ranges (simulations/README.md "Scenarios"): each bound accepted where the README says it is, refused
# one step past it with a message that names the key, the bound and the value given

#: key, lowest accepted, highest accepted (None: no upper bound), how the low and the high bounds read
#: in the refusal and the values one step outside them
FLOAT_RANGES = [
    ("t_degrees_of_freedom", 2.000001, 1e6, ("> 2", 2.0), ("<= 1e+06", 1e6 + 1)),
    ("asset_correlation", 0.0, 0.999999, (">= 0", -1e-9), ("below 1", 1.0)),
    ("global_loading", 0.0, 1.0, (">= 0", -1e-9), ("<= 1", 1.000001)),
    ("pd_multiplier", 0.0, None, (">= 0", -0.5), None),
    ("collateral.volatility", 0.0, None, (">= 0", -0.1), None),
    ("collateral.global_loading", 0.0, 1.0, (">= 0", -0.1), ("<= 1", 1.5)),
    ("collateral.value_multiplier", 0.0, None, (">= 0", -1.0), None),
    ("collateral.liquidation_haircut", 0.0, 1.0, (">= 0", -0.25), ("<= 1", 1.25)),
    ("collateral.invalidation_multiplier", 0.0, None, (">= 0", -2.0), None),
    ("new_lending.growth", -0.999999, 10.0, ("> -1", -1.0), ("<= 10", 10.5)),
    ("sampling.shift", -8.0, 0.0, (">= -8", -8.5), ("<= 0", 0.25)),
]
INT_RANGES = [
    ("horizon_years", 1, 30, (">= 1", 0), ("<= 30", 31)),
    ("collateral.recovery_lag_years", 0, 30, (">= 0", -1), ("<= 30", 31)),
    ("fund.annual_appropriation_fen", 0, 10**14, (">= 0", -1), (f"<= {10**14}", 10**14 + 1)),
    ("new_lending.annual_volume_fen", 0, 10**15, (">= 0", -1), (f"<= {10**15}", 10**15 + 1)),
    ("policy_override.bank_annual_cap_bp", 0, 10_000, (">= 0", -1), ("<= 10000", 10_001)),
    ("policy_override.single_loan_cap_fen", 1, 10**14, (">= 1", 0), (f"<= {10**14}", 10**14 + 1)),
    ("policy_override.bank_suspension_line_bp", 0, 10_000, (">= 0", -5), ("<= 10000", 20_000)),
]


def _read(scenario: Scenario, path: str):
    attribute = {
        "collateral": "collateral", "new_lending": "new_lending", "sampling": "sampling",
        "policy_override": "policy_override",
    }
    parts = path.split(".")
    if parts[0] == "fund":
        return getattr(scenario, parts[1])
    where = scenario
    for part in parts:
        where = getattr(where, attribute.get(part, part))
    return where


@pytest.mark.parametrize("path, low, high, low_bound, high_bound", FLOAT_RANGES, ids=[r[0] for r in FLOAT_RANGES])
def test_each_number_is_accepted_up_to_its_bounds_and_refused_past_them(path, low, high, low_bound, high_bound):
    for value in (low, high) if high is not None else (low, 1e9):
        got = _read(parse_scenario(_doc(path, value)), path)
        assert got == value and type(got) is float
    text, outside = low_bound
    message = _refusal(_doc(path, outside))
    assert message == f"key {path!r} must be {text}, got {outside:g}"
    if high_bound is not None:
        text, outside = high_bound
        message = _refusal(_doc(path, outside))
        assert message == f"key {path!r} must be {text}, got {outside:g}"


@pytest.mark.parametrize("path, low, high, low_bound, high_bound", INT_RANGES, ids=[r[0] for r in INT_RANGES])
def test_each_integer_is_accepted_up_to_its_bounds_and_refused_past_them(path, low, high, low_bound, high_bound):
    for value in (low, high):
        got = _read(parse_scenario(_doc(path, value)), path)
        assert got == value and type(got) is int
    for text, outside in (low_bound, high_bound):
        assert _refusal(_doc(path, outside)) == f"key {path!r} must be {text}, got {outside}"


@pytest.mark.parametrize("path", [r[0] for r in FLOAT_RANGES] + ["sector_pd_multiplier.other"])
@pytest.mark.parametrize("value", [True, "1.0", float("nan"), float("inf"), -float("inf"), None])
def test_a_number_key_refuses_what_is_not_a_finite_number(path, value):
    message = _refusal(_doc(path, value))
    assert message == f"key {path!r} must be a finite number, got {value!r}"


@pytest.mark.parametrize("path", [r[0] for r in INT_RANGES] + ["policy_override.schemes.50.fund"])
@pytest.mark.parametrize("value", [True, False, 2.0, "3", None])
def test_an_integer_key_refuses_what_is_not_an_integer(path, value):
    message = _refusal(_doc(path, value))
    assert message.startswith(f"key {path!r}") and f"must be an integer, got {value!r}" in message


def test_an_integer_number_is_taken_as_a_float():
    s = parse_scenario({"name": "x", "pd_multiplier": 2, "asset_correlation": 0, "t_degrees_of_freedom": 5})
    assert (s.pd_multiplier, s.asset_correlation, s.t_degrees_of_freedom) == (2.0, 0.0, 5.0)
    assert all(type(v) is float for v in (s.pd_multiplier, s.asset_correlation, s.t_degrees_of_freedom))


def test_every_key_is_read_into_its_own_field():
    doc = {
        "name": "  every key  ", "description": "  all set  ", "horizon_years": 3, "copula": "t",
        "t_degrees_of_freedom": 7.5, "asset_correlation": 0.3, "global_loading": 0.7, "pd_multiplier": 2.5,
        "sector_pd_multiplier": {"new_energy_vehicles": 3.0, "rail_transit": 0.0},
        "collateral": {"volatility": 0.45, "global_loading": 0.8, "value_multiplier": 0.6,
                       "liquidation_haircut": 0.7, "invalidation_multiplier": 2.0, "recovery_lag_years": 2},
        "fund": {"annual_appropriation_fen": 123, "after_policy_end": "stop"},
        "new_lending": {"annual_volume_fen": 456, "growth": 0.05},
        "sampling": {"method": "importance", "shift": -1.5},
        "policy_override": {"schemes": {"50": {"fund": 3000, "bank": 7000}}, "bank_annual_cap_bp": 200,
                            "single_loan_cap_fen": 789, "bank_suspension_line_bp": 150},
    }
    s = parse_scenario(doc, source="somewhere")
    assert s == Scenario(
        name="every key", description="all set", horizon_years=3, copula="t", t_degrees_of_freedom=7.5,
        asset_correlation=0.3, global_loading=0.7, pd_multiplier=2.5,
        sector_pd_multiplier={"new_energy_vehicles": 3.0, "rail_transit": 0.0},
        collateral=CollateralTerms(volatility=0.45, global_loading=0.8, value_multiplier=0.6, liquidation_haircut=0.7,
                                   invalidation_multiplier=2.0, recovery_lag_years=2),
        annual_appropriation_fen=123, after_policy_end="stop",
        new_lending=NewLending(annual_volume_fen=456, growth=0.05),
        sampling=Sampling(method="importance", shift=-1.5),
        policy_override=PolicyOverride(schemes={"50": {"fund": 3000, "bank": 7000}}, bank_annual_cap_bp=200,
                                       single_loan_cap_fen=789, bank_suspension_line_bp=150),
    )
    assert s.source == "somewhere"
    assert s.sector_multiplier("new_energy_vehicles") == 3.0 and s.sector_multiplier("rail_transit") == 0.0
    assert s.sector_multiplier("other") == 1.0 and type(s.sector_multiplier("other")) is float


def test_the_defaults_are_the_baselines():
    """simulations/README.md: "all but name optional, defaults are the baseline's" (its keys as written
    in simulations/scenarios/baseline.toml, which sets new lending as well)."""
    baseline = tomllib.loads(BASELINE.read_text(encoding="utf-8"))
    s = parse_scenario({"name": "x"})
    for key in ("horizon_years", "copula", "t_degrees_of_freedom", "asset_correlation", "global_loading", "pd_multiplier"):
        assert getattr(s, key) == baseline[key], key
    for key, value in baseline["collateral"].items():
        assert getattr(s.collateral, key) == value, key
    assert s.after_policy_end == baseline["fund"]["after_policy_end"] == "continue"
    assert s.new_lending.growth == baseline["new_lending"]["growth"] == 0.0
    # the keys the baseline leaves unset: the policies' appropriation, the database's lending, crude sampling
    assert s.annual_appropriation_fen is None and s.new_lending.annual_volume_fen is None
    assert s.sampling == Sampling("crude", None) and s.sector_pd_multiplier == {} and s.policy_override.empty
    assert s.description == "" and s.source == "" and s == Scenario(name="x")
    assert parse_scenario({"name": "x"}, max_invalidation_probability=0.15) == s


# --------------------------------------------------------------------------------------------------
# keys that are not numbers


def test_a_scenario_must_be_a_table():
    for document in (["name", "x"], "name = 'x'", None):
        assert _refusal(document) == "a scenario must be a table of keys"


def test_an_unknown_key_is_named():
    assert _refusal({"name": "x", "speed": 3}) == "unknown key 'speed'"
    assert _refusal({"name": "x", "zeta": 1, "alpha": 2}) == "unknown key 'alpha'"  # the first in order
    for table in ("collateral", "fund", "new_lending", "sampling", "policy_override"):
        assert _refusal({"name": "x", table: {"colour": 1}}) == f"unknown key '{table}.colour'"
    assert _refusal({"name": "x", "collateral": {"zz": 1, "aa": 2}}) == "unknown key 'collateral.aa'"
    assert _refusal({"name": "x", "sector_pd_multiplier": {"shipbuilding": 2.0}}) == \
        "unknown key 'sector_pd_multiplier.shipbuilding'"


@pytest.mark.parametrize("table", ["sector_pd_multiplier", "collateral", "fund", "new_lending", "sampling", "policy_override"])
def test_a_table_key_must_be_a_table(table):
    for value in (1, "x", [1]):
        assert _refusal({"name": "x", table: value}) == f"key {table!r} must be a table"


def test_name_is_a_non_empty_line_of_at_most_64_characters():
    rule = "key 'name' must be a non-empty string of at most 64 characters"
    for name in ("", "   ", 5, None, "a" * 65):
        assert _refusal({"name": name}) == rule
    assert _refusal({}) == rule
    assert parse_scenario({"name": "a" * 64}).name == "a" * 64
    assert parse_scenario({"name": "  a  "}).name == "a"
    assert parse_scenario({"name": "a"}).name == "a"


def test_description_is_one_line():
    rule = "key 'description' must be a one-line string"
    for description in ("two\nlines", 5, None, ["x"]):
        assert _refusal({"name": "x", "description": description}) == rule
    assert parse_scenario({"name": "x", "description": "  one line  "}).description == "one line"
    assert parse_scenario({"name": "x"}).description == ""


def test_copula_is_gaussian_or_t():
    assert parse_scenario({"name": "x", "copula": "t"}).copula == "t"
    assert parse_scenario({"name": "x", "copula": "gaussian"}).copula == "gaussian"
    assert _refusal({"name": "x", "copula": "clayton"}) == "key 'copula' must be one of gaussian, t, got 'clayton'"


def test_after_policy_end_is_continue_or_stop():
    assert parse_scenario(_doc("fund.after_policy_end", "stop")).after_policy_end == "stop"
    assert parse_scenario(_doc("fund.after_policy_end", "continue")).after_policy_end == "continue"
    assert parse_scenario({"name": "x", "fund": {}}).after_policy_end == "continue"
    assert _refusal(_doc("fund.after_policy_end", "pause")) == \
        "key 'fund.after_policy_end' must be one of continue, stop, got 'pause'"


def test_sampling_method_is_crude_or_importance():
    assert parse_scenario(_doc("sampling.method", "importance")).sampling == Sampling("importance", None)
    assert parse_scenario(_doc("sampling.method", "crude")).sampling.method == "crude"
    assert parse_scenario({"name": "x", "sampling": {}}).sampling == Sampling()
    assert _refusal(_doc("sampling.method", "stratified")) == \
        "key 'sampling.method' must be one of crude, importance, got 'stratified'"


def test_sector_multipliers_are_kept_by_sector():
    every = {sector: 1.0 + k / 10 for k, sector in enumerate(SECTORS)}
    s = parse_scenario({"name": "x", "sector_pd_multiplier": every})
    assert dict(s.sector_pd_multiplier) == every
    assert all(s.sector_multiplier(sector) == value for sector, value in every.items())
    assert parse_scenario(_doc("sector_pd_multiplier.other", 2)).sector_pd_multiplier == {"other": 2.0}
    assert _refusal(_doc("sector_pd_multiplier.other", -2.0)) == "key 'sector_pd_multiplier.other' must be >= 0, got -2"


# --------------------------------------------------------------------------------------------------
# M3: invalidation probability times its multiplier at most 1


def test_invalidation_multiplier_times_the_largest_probability_is_at_most_one():
    assert parse_scenario(_doc("collateral.invalidation_multiplier", 2.0), max_invalidation_probability=0.5) \
        .collateral.invalidation_multiplier == 2.0  # exactly 1
    assert parse_scenario(_doc("collateral.invalidation_multiplier", 4.0), max_invalidation_probability=0.25) \
        .collateral.invalidation_multiplier == 4.0
    message = _refusal(_doc("collateral.invalidation_multiplier", 2.0001), max_invalidation_probability=0.5)
    assert message == ("key 'collateral.invalidation_multiplier' times the largest invalidation probability (0.5) "
                       "must be at most 1, got 2.0001")
    # with the multiplier left at its default of 1, a probability of 1 is allowed and none above it
    assert parse_scenario({"name": "x"}, max_invalidation_probability=1.0).collateral.invalidation_multiplier == 1.0
    assert "at most 1" in _refusal({"name": "x"}, max_invalidation_probability=1.001)
    # without the probability (the caller does not know it) the multiplier is only checked >= 0
    assert parse_scenario(_doc("collateral.invalidation_multiplier", 50.0)).collateral.invalidation_multiplier == 50.0


# --------------------------------------------------------------------------------------------------
# [sampling] shift: one number, or one per year of the horizon (our extension, docs/rules.md M6b)


def test_shift_is_one_number_or_one_per_year():
    assert parse_scenario({"name": "x"}).sampling.shift is None
    assert parse_scenario(_doc("sampling.shift", -1)).sampling.shift == -1.0
    assert parse_scenario(_doc("sampling.shift", 0)).sampling.shift == 0.0
    for given in ([-1, -0.5, 0, -8, -2.25], (-1, -0.5, 0, -8, -2.25)):
        shift = parse_scenario(_doc("sampling.shift", given)).sampling.shift
        assert shift == (-1.0, -0.5, 0.0, -8.0, -2.25) and type(shift) is tuple
        assert all(type(v) is float for v in shift)
    doc = {"name": "x", "horizon_years": 2, "sampling": {"method": "importance", "shift": [-0.5, -0.25]}}
    assert parse_scenario(doc).sampling == Sampling("importance", (-0.5, -0.25))


def test_a_shift_list_must_match_the_horizon():
    for horizon, given in ((5, [-1.0, -1.0, -1.0]), (2, [-1.0, -1.0, -1.0]), (1, [])):
        doc = {"name": "x", "horizon_years": horizon, "sampling": {"shift": given}}
        assert _refusal(doc) == (f"key 'sampling.shift' as a list must give one number per year of the horizon "
                                 f"({horizon}), got {len(given)}")
    assert _refusal(_doc("sampling.shift", [-1.0] * 4)).endswith("(5), got 4")  # the default horizon of 5


def test_each_year_of_a_shift_list_is_checked_and_named():
    good = [-1.0, -1.0, -1.0, -1.0, -1.0]
    for k in (0, 1, 4):
        for bad, text in ((8.5, "must be <= 8, got 8.5"), (-9.0, "must be >= -8, got -9"),
                          ("a", "must be a finite number, got 'a'"), (math.inf, "must be a finite number, got inf")):
            given = list(good)
            given[k] = bad
            assert _refusal(_doc("sampling.shift", given)) == f"key 'sampling.shift[{k}]' {text}"


def test_a_shift_list_may_go_either_way_within_8():
    """simulations/README.md: one shift is M6b's (<= 0); a list gives one number in [-8, 8] a year."""
    shift = parse_scenario(_doc("sampling.shift", [8, -8, 0.5, 0, -0.25])).sampling.shift
    assert shift == (8.0, -8.0, 0.5, 0.0, -0.25) and all(type(v) is float for v in shift)
    assert _refusal(_doc("sampling.shift", 0.5)) == "key 'sampling.shift' must be <= 0, got 0.5"


def test_scale_is_one_number_or_one_per_year_each_in_1_to_4():
    """simulations/README.md: ``scale`` one number or a list of one per year, each in [1, 4], default 1
    (unset: ``None``, the engine's choice, as for ``shift``)."""
    assert parse_scenario({"name": "x"}).sampling.scale is None
    for value in (1, 4, 2.5):
        got = parse_scenario(_doc("sampling.scale", value)).sampling
        assert got.scale == float(value) and type(got.scale) is float and got.shift is None
    for bad, text in ((0.99, "must be >= 1, got 0.99"), (4.5, "must be <= 4, got 4.5"),
                      (True, "must be a finite number, got True"), (math.nan, "must be a finite number, got nan")):
        assert _refusal(_doc("sampling.scale", bad)) == f"key 'sampling.scale' {text}"
    scale = parse_scenario(_doc("sampling.scale", [1, 4, 1.5, 2, 3.25])).sampling.scale
    assert scale == (1.0, 4.0, 1.5, 2.0, 3.25) and type(scale) is tuple and all(type(v) is float for v in scale)
    for k in (0, 4):
        for bad, text in ((0.5, "must be >= 1, got 0.5"), (5, "must be <= 4, got 5"), ("a", "must be a finite number, got 'a'")):
            given = [2.0] * 5
            given[k] = bad
            assert _refusal(_doc("sampling.scale", given)) == f"key 'sampling.scale[{k}]' {text}"
    assert _refusal({"name": "x", "horizon_years": 2, "sampling": {"scale": [2.0]}}) == \
        "key 'sampling.scale' as a list must give one number per year of the horizon (2), got 1"
    both = parse_scenario({"name": "x", "horizon_years": 2,
                           "sampling": {"method": "importance", "shift": [0.5, -1.0], "scale": [1.5, 2.0]}}).sampling
    assert both == Sampling("importance", (0.5, -1.0), (1.5, 2.0))
    one = parse_scenario({"name": "x", "sampling": {"method": "importance", "shift": -1.0, "scale": 2.0}}).sampling
    assert one == Sampling("importance", -1.0, 2.0)


def test_a_scale_is_written_to_the_document_and_read_back():
    for sampling in ({"scale": 2.0}, {"method": "importance", "scale": [1.5, 2.0, 4.0, 1.0, 1.0]},
                     {"method": "importance", "shift": [0.5, -1.0, 0.0, 8.0, -8.0], "scale": 3.0}):
        s = parse_scenario({"name": "x", "sampling": sampling})
        doc = scenario_document(s)
        assert doc["sampling"] == {"method": "crude", **sampling}  # the method always written, crude by default
        assert parse_scenario(doc) == s
        _assert_plain(doc)


# --------------------------------------------------------------------------------------------------
# [policy_override] (issue 15, point 5)


def test_override_schemes_keep_fund_and_bank_and_the_parties_given():
    got = parse_scenario(_doc("policy_override.schemes", {
        "50": {"fund": 6000, "bank": 4000},
        "5311": {"fund": 5000, "bank": 1000, "insurer": 3000, "appraiser": 1000},
        "x": {"fund": 0, "bank": 10000, "insurer": 0},
        "y": {"bank": 2000, "insurer": 8000},
        "z": {"fund": 10000},
        "w": {"fund": 7000, "insurer": 3000, "bank": 0, "appraiser": 0},
    })).policy_override
    # fund and bank always named, as a policy file's schemes are ("the bank's included"), even at 0 bp;
    # the insurer and the appraiser only where they take a share
    assert got.schemes == {
        "50": {"fund": 6000, "bank": 4000},
        "5311": {"fund": 5000, "bank": 1000, "insurer": 3000, "appraiser": 1000},
        "x": {"fund": 0, "bank": 10000},
        "y": {"fund": 0, "bank": 2000, "insurer": 8000},
        "z": {"fund": 10000, "bank": 0},
        "w": {"fund": 7000, "bank": 0, "insurer": 3000},
    }
    assert not got.empty
    assert list(parse_scenario(_doc("policy_override.schemes", {50: {"fund": 10000}})).policy_override.schemes) == ["50"]


def test_override_scheme_ratios_add_up_to_10000():
    for ratios, total in (({"fund": 6000, "bank": 5000}, 11000), ({"fund": 1000}, 1000), ({}, 0),
                          ({"fund": 2500, "bank": 2500, "insurer": 2500, "appraiser": 2499}, 9999)):
        assert _refusal(_doc("policy_override.schemes", {"50": ratios})) == \
            f"key 'policy_override.schemes.50': the parties' bp must add up to 10000, got {total}"


def test_override_scheme_refusals_name_the_key():
    assert _refusal(_doc("policy_override.schemes", [1, 2])) == \
        "key 'policy_override.schemes' must be a table of scheme code -> ratios"
    assert _refusal(_doc("policy_override.schemes", {"50": 5000})) == \
        "key 'policy_override.schemes.50' must be a table of party -> bp"
    assert _refusal(_doc("policy_override.schemes", {"50": {"fund": 5000, "colour": 1, "bank": 5000}})) == \
        "unknown key 'policy_override.schemes.50.colour'"
    assert _refusal(_doc("policy_override.schemes", {"50": {"zz": 1, "aa": 1}})) == \
        "unknown key 'policy_override.schemes.50.aa'"
    for party in ("fund", "bank", "insurer", "appraiser"):
        assert _refusal(_doc("policy_override.schemes", {"50": {party: 10001}})) == \
            f"key 'policy_override.schemes.50.{party}' must be <= 10000, got 10001"
        assert _refusal(_doc("policy_override.schemes", {"50": {party: -1, "fund" if party != "fund" else "bank": 10001}})) \
            .startswith("key 'policy_override.schemes.50.")
        assert parse_scenario(_doc("policy_override.schemes", {"50": {party: 10000}})) \
            .policy_override.schemes["50"][party] == 10000
    assert _refusal(_doc("policy_override.schemes", {"50": {"bank": -1, "fund": 10001}})) == \
        "key 'policy_override.schemes.50.fund' must be <= 10000, got 10001"  # the parties in order: fund first


def test_an_override_is_empty_only_with_nothing_set():
    assert PolicyOverride().empty and parse_scenario({"name": "x", "policy_override": {}}).policy_override.empty
    for override in (PolicyOverride(schemes={"50": {"fund": 10000}}), PolicyOverride(bank_annual_cap_bp=0),
                     PolicyOverride(single_loan_cap_fen=1), PolicyOverride(bank_suspension_line_bp=0)):
        assert not override.empty


# --------------------------------------------------------------------------------------------------
# scenario_document: the scenario as the document of a scenario file, read back to the same scenario


SCENARIOS = [
    {"name": "x"},
    {"name": "stop only", "fund": {"after_policy_end": "stop"}},
    {"name": "appropriation only", "fund": {"annual_appropriation_fen": 0}},
    {"name": "no new lending", "new_lending": {"annual_volume_fen": 0}},
    {"name": "growth only", "new_lending": {"growth": 0.05}},
    {"name": "importance", "sampling": {"method": "importance"}},
    {"name": "shift", "sampling": {"shift": -0.5}},
    {"name": "shift zero", "sampling": {"shift": 0.0}},
    {"name": "shifts", "horizon_years": 3, "sampling": {"method": "importance", "shift": [-0.5, 0.0, -1.0]}},
    {"name": "cap", "policy_override": {"bank_annual_cap_bp": 0}},
    {"name": "loan cap", "policy_override": {"single_loan_cap_fen": 100}},
    {"name": "line", "policy_override": {"bank_suspension_line_bp": 0}},
    {"name": "ratios", "policy_override": {"schemes": {"50": {"fund": 3000, "bank": 7000}}}},
    {"name": "every", "description": "d", "horizon_years": 7, "copula": "t", "t_degrees_of_freedom": 3.5,
     "asset_correlation": 0.25, "global_loading": 0.75, "pd_multiplier": 1.75,
     "sector_pd_multiplier": {"other": 2.0, "rail_transit": 0.5},
     "collateral": {"volatility": 0.5, "global_loading": 0.25, "value_multiplier": 0.5, "liquidation_haircut": 0.75,
                    "invalidation_multiplier": 1.5, "recovery_lag_years": 3},
     "fund": {"annual_appropriation_fen": 10**9, "after_policy_end": "stop"},
     "new_lending": {"annual_volume_fen": 10**10, "growth": -0.5},
     "sampling": {"method": "importance", "shift": -2.0},
     "policy_override": {"schemes": {"50": {"fund": 3000, "bank": 6000, "insurer": 1000}}, "bank_annual_cap_bp": 100,
                         "single_loan_cap_fen": 10**8, "bank_suspension_line_bp": 250}},
]


@pytest.mark.parametrize("document", SCENARIOS, ids=[d["name"] for d in SCENARIOS])
def test_a_scenarios_document_reads_back_to_the_same_scenario(document):
    s = parse_scenario(document)
    doc = scenario_document(s)
    assert parse_scenario(doc) == s
    assert s.to_dict() == doc
    # the document is a scenario file's: tables as dicts, lists (not tuples), every key known
    _assert_plain(doc)


def _assert_plain(value) -> None:
    assert not isinstance(value, tuple)
    if isinstance(value, dict):
        for item in value.values():
            _assert_plain(item)
    elif isinstance(value, list):
        for item in value:
            _assert_plain(item)


def test_the_document_gives_every_key_that_is_set_and_leaves_out_the_unset_tables():
    doc = scenario_document(parse_scenario({"name": "x"}))
    assert doc == {
        "name": "x", "description": "", "horizon_years": 5, "copula": "gaussian", "t_degrees_of_freedom": 4.0,
        "asset_correlation": 0.15, "global_loading": 0.5, "pd_multiplier": 1.0, "sector_pd_multiplier": {},
        "collateral": {"volatility": 0.35, "global_loading": 0.5, "value_multiplier": 1.0, "liquidation_haircut": 0.6,
                       "invalidation_multiplier": 1.0, "recovery_lag_years": 1},
    }
    every = scenario_document(parse_scenario(SCENARIOS[-1]))
    assert every == {**SCENARIOS[-1], "t_degrees_of_freedom": 3.5}
    # each optional table holds exactly what was set
    assert scenario_document(parse_scenario(SCENARIOS[1]))["fund"] == {"after_policy_end": "stop"}
    assert scenario_document(parse_scenario(SCENARIOS[2]))["fund"] == {"annual_appropriation_fen": 0}
    assert scenario_document(parse_scenario(SCENARIOS[3]))["new_lending"] == {"annual_volume_fen": 0}
    assert scenario_document(parse_scenario(SCENARIOS[4]))["new_lending"] == {"growth": 0.05}
    assert scenario_document(parse_scenario(SCENARIOS[5]))["sampling"] == {"method": "importance"}
    assert scenario_document(parse_scenario(SCENARIOS[6]))["sampling"] == {"method": "crude", "shift": -0.5}
    assert scenario_document(parse_scenario(SCENARIOS[7]))["sampling"] == {"method": "crude", "shift": 0.0}
    assert scenario_document(parse_scenario(SCENARIOS[8]))["sampling"] == {"method": "importance",
                                                                           "shift": [-0.5, 0.0, -1.0]}
    assert scenario_document(parse_scenario(SCENARIOS[9]))["policy_override"] == {"bank_annual_cap_bp": 0}
    assert scenario_document(parse_scenario(SCENARIOS[10]))["policy_override"] == {"single_loan_cap_fen": 100}
    assert scenario_document(parse_scenario(SCENARIOS[11]))["policy_override"] == {"bank_suspension_line_bp": 0}
    assert scenario_document(parse_scenario(SCENARIOS[12]))["policy_override"] == \
        {"schemes": {"50": {"fund": 3000, "bank": 7000}}}
    for k in range(1, 13):
        extra = set(scenario_document(parse_scenario(SCENARIOS[k]))) - set(doc)
        assert len(extra) == 1, SCENARIOS[k]


def test_the_document_is_a_copy():
    s = parse_scenario(SCENARIOS[-1])
    doc = scenario_document(s)
    doc["sector_pd_multiplier"]["other"] = 9.0
    doc["policy_override"]["schemes"]["50"]["fund"] = 0
    doc["collateral"]["volatility"] = 9.0
    assert s.sector_multiplier("other") == 2.0 and s.policy_override.schemes["50"]["fund"] == 3000
    assert s.collateral.volatility == 0.5


# --------------------------------------------------------------------------------------------------
# load_scenario_file: one line naming the file (and the key)


def test_a_scenario_file_reads_with_its_path_as_source(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\npd_multiplier = 2\n[collateral]\ninvalidation_multiplier = 6.5\n', encoding="utf-8")
    for given in (path, str(path)):
        s = load_scenario_file(given)
        assert s.name == "mine" and s.pd_multiplier == 2.0 and s.collateral.invalidation_multiplier == 6.5
        assert s.source == str(path)


def test_a_bad_scenario_file_is_refused_in_one_line_naming_it(tmp_path):
    path = tmp_path / "mine.toml"

    def refusal() -> str:
        with pytest.raises(ScenarioError) as info:
            load_scenario_file(path)
        message = str(info.value)
        assert "\n" not in message and info.value.__cause__ is None and info.value.__suppress_context__
        return message

    assert refusal() == f"{path}: cannot read: No such file or directory"
    path.write_text('name = "mine"\nhorizon_years = \n', encoding="utf-8")
    assert refusal().startswith(f"{path}: not valid TOML: ")
    path.write_bytes(b'name = "\xff\xfe"\n')
    assert refusal() == f"{path}: not UTF-8 text"
    path.write_text('name = "mine"\nhorizon_years = 31\n', encoding="utf-8")
    assert refusal() == f"{path}: key 'horizon_years' must be <= 30, got 31"
    # M3 with the shipped valuation assumptions: the largest invalidation probability is 1500 bp
    path.write_text('name = "mine"\n[collateral]\ninvalidation_multiplier = 6.7\n', encoding="utf-8")
    assert refusal() == (f"{path}: key 'collateral.invalidation_multiplier' times the largest invalidation "
                         f"probability (0.15) must be at most 1, got 6.7")
    directory = tmp_path / "dir.toml"
    directory.mkdir()
    with pytest.raises(ScenarioError) as info:
        load_scenario_file(directory)
    assert str(info.value) == f"{directory}: cannot read: Is a directory"


def test_scenario_and_sector_pd_files_are_read_as_utf8_whatever_the_locale(tmp_path, ascii_locale):
    path = tmp_path / "mine.toml"
    path.write_text('name = "经济衰退"\ndescription = "PD 翻倍"\npd_multiplier = 2.0\n', encoding="utf-8")
    s = load_scenario_file(path)
    assert (s.name, s.description, s.pd_multiplier) == ("经济衰退", "PD 翻倍", 2.0)
    pd_path = tmp_path / "pd.toml"
    pd_path.write_text('id = "广州-2026"\n[sector_pd]\n' + "".join(
        f'{sector} = {{ value = 0.02, status = "source", note = "广州市统计" }}\n' for sector in SECTORS), encoding="utf-8")
    assert load_stress_assumptions(pd_path).id == "广州-2026"


# --------------------------------------------------------------------------------------------------
# M2's sector PDs (risk/stress_assumptions.toml)


def _sector_file(**changes) -> dict:
    table = {sector: {"value": 0.02, "status": "placeholder", "note": "n"} for sector in SECTORS}
    table.update(changes)
    return {"id": "test", "sector_pd": table}


def test_the_shipped_sector_pds_are_the_files():
    shipped = tomllib.loads((ROOT / "risk" / "stress_assumptions.toml").read_text(encoding="utf-8"))
    a = load_stress_assumptions()
    assert a.id == shipped["id"] == "stress-2026-01"
    assert dict(a.sector_pd) == {sector: shipped["sector_pd"][sector]["value"] for sector in SECTORS}
    assert dict(a.status) == {sector: "placeholder" for sector in SECTORS}
    assert list(a.sector_pd) == list(SECTORS)


def test_a_sector_pd_file_by_path(tmp_path):
    path = tmp_path / "pd.toml"
    lines = ['id = "mine"', "[sector_pd]"]
    lines += [f'{sector} = {{ value = {k / 100}, status = "{"source" if k % 2 else "placeholder"}", note = "n" }}'
              for k, sector in enumerate(SECTORS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for given in (path, str(path)):
        a = load_stress_assumptions(given)
        assert a.id == "mine"
        assert dict(a.sector_pd) == {sector: k / 100 for k, sector in enumerate(SECTORS)}
        assert dict(a.status) == {sector: "source" if k % 2 else "placeholder" for k, sector in enumerate(SECTORS)}
        assert all(type(v) is float for v in a.sector_pd.values())


def test_sector_pds_are_probabilities_with_a_status():
    every = parse_stress_assumptions(_sector_file(other={"value": 0, "status": "source", "note": ""},
                                                  rail_transit={"value": 1, "status": "placeholder", "note": ""}))
    assert every.sector_pd["other"] == 0.0 and every.sector_pd["rail_transit"] == 1.0
    assert type(every.sector_pd["other"]) is float and every.status["other"] == "source"
    assert every.id == "test"
    assert parse_stress_assumptions({"sector_pd": _sector_file()["sector_pd"]}).id == ""
    assert parse_stress_assumptions({"id": 7, "sector_pd": _sector_file()["sector_pd"]}).id == "7"


def test_a_bad_sector_pd_file_is_refused_naming_the_key():
    every = ", ".join(SECTORS)
    table_rule = f"stress assumptions: table 'sector_pd' must name exactly the sectors {every}"
    missing = _sector_file()
    del missing["sector_pd"]["other"]
    for document in ({}, {"sector_pd": [1]}, missing, _sector_file(shipbuilding={"value": 0.1, "status": "source", "note": ""})):
        with pytest.raises(ValueError) as info:
            parse_stress_assumptions(document)
        assert str(info.value) == table_rule
    for sector in (SECTORS[0], "other"):
        for item, rule in (
            (0.02, f"'sector_pd.{sector}' must have exactly value, status and note"),
            ({"value": 0.02, "status": "source"}, f"'sector_pd.{sector}' must have exactly value, status and note"),
            ({"value": 0.02, "status": "source", "note": "", "x": 1},
             f"'sector_pd.{sector}' must have exactly value, status and note"),
            ({"value": 1.01, "status": "source", "note": ""}, f"'sector_pd.{sector}.value' must be a probability in [0, 1]"),
            ({"value": -0.01, "status": "source", "note": ""}, f"'sector_pd.{sector}.value' must be a probability in [0, 1]"),
            ({"value": True, "status": "source", "note": ""}, f"'sector_pd.{sector}.value' must be a probability in [0, 1]"),
            ({"value": "0.1", "status": "source", "note": ""}, f"'sector_pd.{sector}.value' must be a probability in [0, 1]"),
            ({"value": 0.1, "status": "guess", "note": ""}, f"'sector_pd.{sector}.status' must be placeholder or source"),
        ):
            with pytest.raises(ValueError) as info:
                parse_stress_assumptions(_sector_file(**{sector: item}))
            assert str(info.value) == f"stress assumptions: {rule}"
