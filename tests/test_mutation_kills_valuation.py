"""Survivors of the mutation run over risk/valuation.py (docs/mutation.md), killed by pinning rule V
as docs/rules.md section 7 states it and the shapes the CLI and API are given: the bp edge
(``from_bp``: integer bp, rates as fractions), the JSON forms, the assumptions file of V3 (every figure
an integer in its range with a status and a note; the liquidation haircut one figure for all kinds),
the pledge-rate flag (``ip_part x 10000 > sum(rate_bp x appraised value)``, exact), and the quality
features' refusals. Expected figures are worked by hand or read from docs/rules.md section 10.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import tomllib
from pathlib import Path

import pytest

from risk import valuation as v
from risk.valuation import Assumption, ValuationInputs

ROOT = Path(__file__).resolve().parent.parent
KINDS_TEXT = "invention_patent, utility_model, design_patent, trademark, geographical_indication, ic_layout"


def refused(message: str):
    return pytest.raises(ValueError, match=f"^{re.escape(message)}$")


def _document() -> dict:
    with open(ROOT / "risk" / "assumptions.toml", "rb") as handle:
        return tomllib.load(handle)


# --------------------------------------------------------------------------------------------------
# the bp edge and the JSON forms


def test_from_bp_takes_integer_bp_and_keeps_every_other_input():
    got = ValuationInputs.from_bp("trademark", dt.date(2018, 5, 10), dt.date(2026, 11, 25), revenue_fen=5_000_000_000,
                                  growth_bp=500, royalty_bp=300, tax_bp=1500, discount_bp=1400, decay_bp=800,
                                  registration_date=dt.date(2019, 1, 2), legal_status="lapsed", quality=0.7)
    assert got == ValuationInputs("trademark", dt.date(2018, 5, 10), dt.date(2026, 11, 25), 5_000_000_000,
                                  0.05, 0.03, 0.15, 0.14, 0.08, dt.date(2019, 1, 2), "lapsed", 0.7)
    plain = ValuationInputs.from_bp("invention_patent", dt.date(2018, 5, 10), dt.date(2026, 11, 25), revenue_fen=1,
                                    growth_bp=-500, royalty_bp=0, tax_bp=0, discount_bp=0, decay_bp=0)
    assert (plain.registration_date, plain.legal_status, plain.quality, plain.growth) == (None, "valid", None, -0.05)


@pytest.mark.parametrize("name", ["growth_bp", "royalty_bp", "tax_bp", "discount_bp", "decay_bp"])
@pytest.mark.parametrize("bad", [1.5, True, "500"])
def test_from_bp_refuses_bp_that_are_not_integers_naming_them(name, bad):
    args = {"revenue_fen": 1, "growth_bp": 0, "royalty_bp": 0, "tax_bp": 0, "discount_bp": 0, "decay_bp": 0} | {name: bad}
    with refused(f"{name} must be an integer number of bp, got {bad!r}"):
        ValuationInputs.from_bp("invention_patent", dt.date(2018, 5, 10), dt.date(2026, 11, 25), **args)


def test_the_json_form_of_inputs():
    inputs = ValuationInputs("trademark", dt.date(2018, 5, 10), dt.date(2026, 11, 25), 7, 0.05, 0.03, 0.15, 0.14, 0.08,
                             dt.date(2019, 1, 2), "lapsed", 0.7)
    assert inputs.as_dict() == {
        "kind": "trademark", "filing_date": "2018-05-10", "registration_date": "2019-01-02", "as_of": "2026-11-25",
        "legal_status": "lapsed", "revenue_fen": 7, "growth": 0.05, "royalty": 0.03, "tax": 0.15, "discount": 0.14,
        "decay": 0.08, "quality": 0.7}
    bare = ValuationInputs("utility_model", dt.date(2020, 1, 1), dt.date(2021, 1, 1), 0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert bare.as_dict()["registration_date"] is None and bare.as_dict()["quality"] is None
    assert bare.as_dict()["legal_status"] == "valid"


def test_the_json_form_of_the_worked_valuation_of_section_10():
    # invention patent filed 2018-05-10, valued 2026-11-25: R0 5 000 000 000, g 5%, rho 3%, tau 15%, r 14%, d 8%
    result = v.value_asset("invention_patent", dt.date(2018, 5, 10), dt.date(2026, 11, 25), revenue_fen=5_000_000_000,
                           growth=0.05, royalty=0.03, tax=0.15, discount=0.14, decay=0.08)
    d = result.as_dict()
    assert set(d) == {"value_fen", "collateral_value_fen", "life_years", "life_reason", "legal_term_end", "legal_life_years",
                      "royalty_used", "cash_flows_fen", "present_values_fen", "inputs", "assumptions_id"}
    assert (d["value_fen"], d["collateral_value_fen"]) == (572_743_127, 217_642_388)
    assert (d["life_years"], d["life_reason"]) == (10.0, "economic life cap")
    assert round(d["legal_life_years"], 3) == 11.455
    assert d["legal_term_end"] == result.legal_term_end.isoformat() and d["legal_term_end"].startswith("2038-05-")
    assert d["royalty_used"] == 0.03 and d["assumptions_id"] == "rule-v-2026-01"
    assert d["cash_flows_fen"] == list(result.cash_flows_fen) and len(d["cash_flows_fen"]) == 10
    assert d["present_values_fen"] == list(result.present_values_fen) and len(d["present_values_fen"]) == 10
    assert isinstance(d["cash_flows_fen"], list) and isinstance(d["present_values_fen"], list)
    assert d["inputs"] == result.inputs.as_dict() and d["inputs"]["revenue_fen"] == 5_000_000_000
    none = v.value_asset("geographical_indication", dt.date(2018, 5, 10), dt.date(2026, 11, 25), revenue_fen=1,
                         growth=0.0, royalty=0.0, tax=0.0, discount=0.0, decay=0.0)
    assert none.as_dict()["legal_term_end"] is None  # no term (V1)


# --------------------------------------------------------------------------------------------------
# the assumptions file (V3)


def test_the_shipped_assumptions_keep_each_figure_with_its_provenance():
    doc = _document()
    a = v.parse_assumptions(doc)
    assert a.id == "rule-v-2026-01"
    assert dict(a.usual_pledge_rate_bp) == {"invention_patent": 2500, "utility_model": 1500, "design_patent": 1500,
                                            "ic_layout": 1500, "trademark": 5000, "geographical_indication": 5000}
    assert a.liquidation_haircut_bp == 6000
    raw = doc["liquidation_haircut_bp"]["all_kinds"]
    assert a.provenance["liquidation_haircut_bp.all_kinds"] == Assumption(6000, raw["status"], raw["note"])
    raw = doc["economic_life_cap_years"]["invention_patent"]
    assert a.provenance["economic_life_cap_years.invention_patent"] == Assumption(10, raw["status"], raw["note"])
    assert len(a.provenance) == 3 * 6 + 1


def test_assumption_bounds_are_inclusive():
    doc = _document()
    doc["invalidation_probability_bp"]["trademark"]["value"] = 0
    doc["usual_pledge_rate_bp"]["trademark"]["value"] = 10_000
    doc["economic_life_cap_years"]["trademark"]["value"] = 100
    doc["liquidation_haircut_bp"]["all_kinds"]["value"] = 0
    a = v.parse_assumptions(doc)
    assert (a.invalidation_probability_bp["trademark"], a.usual_pledge_rate_bp["trademark"],
            a.economic_life_cap_years["trademark"], a.liquidation_haircut_bp) == (0, 10_000, 100, 0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(id=""), "assumptions id must be a non-empty string"),
        (lambda d: d.update(id=5), "assumptions id must be a non-empty string"),
        (lambda d: d.update(liquidation_haircut_bp=6000), "assumptions table liquidation_haircut_bp must hold exactly all_kinds"),
        (lambda d: d["liquidation_haircut_bp"].update(other=d["liquidation_haircut_bp"]["all_kinds"]),
         "assumptions table liquidation_haircut_bp must hold exactly all_kinds"),
        (lambda d: d["liquidation_haircut_bp"]["all_kinds"].update(value=-1),
         "assumption liquidation_haircut_bp.all_kinds must be an integer in 0..10000, got -1"),
        (lambda d: d["usual_pledge_rate_bp"]["trademark"].update(value=10_001),
         "assumption usual_pledge_rate_bp.trademark must be an integer in 0..10000, got 10001"),
        (lambda d: d["economic_life_cap_years"]["ic_layout"].update(value=0),
         "assumption economic_life_cap_years.ic_layout must be an integer in 1..100, got 0"),
    ],
)
def test_assumption_refusals_name_the_key(change, message):
    doc = copy.deepcopy(_document())
    change(doc)
    with refused(message):
        v.parse_assumptions(doc)


# --------------------------------------------------------------------------------------------------
# the pledge-rate flag (V3)


def test_the_pledge_limit_is_floored_once_over_all_assets():
    doc = _document()
    doc["usual_pledge_rate_bp"]["invention_patent"]["value"] = 1
    one_bp = v.parse_assumptions(doc)
    # 1 bp of 9 999 fen is 0.9999 fen: floored to 0; of 10 000 fen, 1 fen
    assert v.usual_pledge_limit_fen([("invention_patent", 9_999)], one_bp) == 0
    assert v.usual_pledge_limit_fen([("invention_patent", 10_000)], one_bp) == 1
    assert v.usual_pledge_limit_fen([]) == 0
    assert v.usual_pledge_limit_fen([("invention_patent", 0)]) == 0  # an appraised value of 0 is allowed
    assert v.pledge_rate_exceeded(0, []) is False
    assert v.pledge_rate_exceeded(1, [("trademark", 0)]) is True


def test_pledge_refusals():
    with refused(f"kind must be one of {KINDS_TEXT}, got 'song'"):
        v.usual_pledge_limit_fen([("song", 5)])
    with refused("appraised_value_fen must be an integer >= 0, got -1"):
        v.usual_pledge_limit_fen([("trademark", -1)])
    with refused("appraised_value_fen must be an integer >= 0, got 1.5"):
        v.pledge_rate_exceeded(1, [("trademark", 1.5)])
    for bad in (-1, 1.5, True):
        with refused(f"ip_part_fen must be an integer >= 0, got {bad!r}"):
            v.pledge_rate_exceeded(bad, [("trademark", 5)])


# --------------------------------------------------------------------------------------------------
# the quality features


def test_quality_feature_refusals():
    with refused("kind and every quality feature must have the same length"):
        v.quality_scores(["invention_patent", "trademark"], [1], [1], [1], [1.0])
    with refused("forward_citations must be finite and >= 0 (asset 1)"):
        v.quality_scores(["invention_patent", "invention_patent"], [3, 4], [0, -2], [1, 1], [5.0, 5.0])
    with refused("claims_count must be finite and >= 0 (asset 0)"):
        v.quality_scores(["invention_patent"], [float("inf")], [0], [1], [5.0])
