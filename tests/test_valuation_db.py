"""Rule V in the database, on SQLite and PostgreSQL: valuations at registration, revaluing the book,
and the collateral coverage summary."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, func, select

from fund.adapters.db import unit_of_work
from fund.adapters.models.registry import IpAsset, Loan
from fund.adapters.models.valuation import AssetValuation
from fund.errors import DomainError
from fund.services.registry import cancel_loan, register_loan
from fund.services.valuation import collateral_summary, revalue_book, value_assets_for_loan
from risk.valuation import load_assumptions, value_asset
from tests.factories import application, asset, borrower, setup_reference, uscc

BD = dt.date(2026, 10, 31)  # the tests' business date
INPUTS = dict(revenue_fen=5_000_000_000, growth_bp=500, royalty_bp=300, tax_bp=1500, discount_bp=1400, decay_bp=800)

pytestmark = pytest.mark.db


@pytest.fixture
def actors(session_factory):
    with unit_of_work(session_factory) as s:
        return setup_reference(s)


def register(session_factory, bank, n, assets, principal=1_000_000_000, sector="next_generation_it"):
    app = application(principal=principal, borrower_n=n, borrower=borrower(n, sector=sector), assets=assets)
    with unit_of_work(session_factory) as s:
        return register_loan(s, bank, app, BD)


def model(kind, filing, as_of, inputs, grant=None, status="valid"):
    return value_asset(kind, filing, as_of, revenue_fen=inputs["revenue_fen"], growth=inputs["growth_bp"] / 10_000,
                       royalty=inputs["royalty_bp"] / 10_000, tax=inputs["tax_bp"] / 10_000,
                       discount=inputs["discount_bp"] / 10_000, decay=inputs["decay_bp"] / 10_000,
                       registration_date=grant if kind == "trademark" else None, legal_status=status)


def appraisal_collateral(kind, appraised):
    a = load_assumptions()
    return appraised * (10_000 - a.invalidation_probability_bp[kind]) * (10_000 - a.liquidation_haircut_bp) // 10**8


def summary(session_factory, **kw):
    with unit_of_work(session_factory) as s:
        return collateral_summary(s, **kw)


def stored(session_factory, as_of):
    with unit_of_work(session_factory) as s:
        return {row.asset_id: row for row in s.scalars(select(AssetValuation).where(AssetValuation.as_of == as_of))}


def test_value_assets_for_loan_stores_the_model_beside_the_appraisal(session_factory, actors):
    valued_asset = asset("invention_patent", owner_credit_code=uscc(1), valuation_inputs=INPUTS)
    plain_asset = asset("utility_model", owner_credit_code=uscc(1))
    loan = register(session_factory, actors["BANK1"], 1, (valued_asset, plain_asset))
    expected = model("invention_patent", valued_asset.filing_date, BD, INPUTS)
    for _ in range(2):  # valuing again on the same date replaces the row
        with unit_of_work(session_factory) as s:
            rows = value_assets_for_loan(s, loan.id, BD)
        assert len(rows) == 1
    row = rows[0]
    assert (row.model_value_fen, row.collateral_value_fen) == (expected.value_fen, expected.collateral_value_fen)
    assert row.appraised_value_fen == valued_asset.appraised_value_fen and row.appraised_on == valued_asset.appraised_on
    assert row.inputs == INPUTS and row.as_of == BD
    assert (row.life_years, row.life_reason) == (expected.life_years, expected.life_reason)
    assert row.assumptions_id == load_assumptions().id
    assert len(stored(session_factory, BD)) == 1


def corrupt_inputs(session_factory, asset_in, document):
    """Stored inputs that registration would refuse today (data from before the check)."""
    with unit_of_work(session_factory) as s:
        row = s.scalar(select(IpAsset).where(IpAsset.kind == asset_in.kind, IpAsset.number == asset_in.number))
        row.valuation_inputs = document


def test_registration_values_assets_and_refuses_bad_inputs(session_factory, actors):
    good = asset("invention_patent", owner_credit_code=uscc(1), valuation_inputs=INPUTS)
    loan = register(session_factory, actors["BANK1"], 1, (good,))
    assert [r.model_value_fen for r in stored(session_factory, BD).values()] == [
        model("invention_patent", good.filing_date, BD, INPUTS).value_fen]
    bad = asset("invention_patent", owner_credit_code=uscc(2), valuation_inputs={**INPUTS, "royalty_bp": 20_000})
    with pytest.raises(DomainError) as refused:
        register(session_factory, actors["BANK1"], 2, (bad,))
    assert refused.value.code == "invalid_valuation_inputs" and "royalty must be in 0..1" in refused.value.message
    with unit_of_work(session_factory) as s:
        assert s.scalar(select(func.count()).select_from(Loan)) == 1
    assert len(stored(session_factory, BD)) == 1

    corrupt_inputs(session_factory, good, {**INPUTS, "growth_bp": -10_000})
    with pytest.raises(DomainError) as error:
        with unit_of_work(session_factory) as s:
            value_assets_for_loan(s, loan.id, BD)
    assert error.value.code == "invalid_valuation_inputs"
    assert "growth must be > -1" in error.value.message and good.number in error.value.message
    corrupt_inputs(session_factory, good, {**INPUTS, "revenue_fen": 10**12, "growth_bp": 1_000_000})
    with pytest.raises(DomainError, match="2\\^63"):
        with unit_of_work(session_factory) as s:
            value_assets_for_loan(s, loan.id, BD)
    with pytest.raises(DomainError) as missing:
        with unit_of_work(session_factory) as s:
            value_assets_for_loan(s, 10_000, BD)
    assert missing.value.code == "loan_not_found"


def test_revalue_book_and_collateral_coverage(session_factory, actors):
    bank1, bank2 = actors["BANK1"], actors["BANK2"]
    invention = asset("invention_patent", owner_credit_code=uscc(1), valuation_inputs=INPUTS)
    mark_grant = dt.date(2019, 1, 1)
    mark_inputs = {**INPUTS, "royalty_bp": 100, "revenue_fen": 800_000_000}
    mark = asset("trademark", owner_credit_code=uscc(2), filing_date=dt.date(2017, 6, 1), grant_date=mark_grant,
                 valuation_inputs=mark_inputs)
    design = asset("design_patent", owner_credit_code=uscc(2), appraised_value_fen=100_000_000)
    malformed = asset("utility_model", owner_credit_code=uscc(3), valuation_inputs=INPUTS,
                      appraised_value_fen=300_000_000)
    released = asset("invention_patent", owner_credit_code=uscc(4), valuation_inputs=INPUTS)
    loan1 = register(session_factory, bank1, 1, (invention,))
    loan2 = register(session_factory, bank2, 2, (mark, design), principal=500_000_000, sector="biomedicine_health")
    loan3 = register(session_factory, bank1, 3, (malformed,), principal=200_000_000)
    loan4 = register(session_factory, bank1, 4, (released,))
    with unit_of_work(session_factory) as s:
        cancel_loan(s, bank1, loan4.id, BD)
        s.execute(delete(AssetValuation))  # start from a book that was never model-valued
    corrupt_inputs(session_factory, malformed, {**INPUTS, "tax_bp": "15%"})

    before = summary(session_factory)
    appraised = invention.appraised_value_fen
    assert before["by_bank"]["BANK1"]["collateral_value_fen"] == (
        appraisal_collateral("invention_patent", appraised) + appraisal_collateral("utility_model", 300_000_000))
    assert before["total"]["model_valued_assets"] == 0 and before["total"]["appraisal_based_assets"] == 4

    calls = []
    result = revalue_book(session_factory, BD, progress=lambda done, total: calls.append((done, total)))
    assert result.assets_valued == 2 and calls[0] == (0, 2) and calls[-1] == (2, 2)
    assert [(s.kind, s.number) for s in result.skipped] == [("utility_model", malformed.number)]
    assert "tax_bp must be an integer" in result.skipped[0].reason

    expected_invention = model("invention_patent", invention.filing_date, BD, INPUTS)
    expected_mark = model("trademark", mark.filing_date, BD, mark_inputs, grant=mark_grant)
    rows = stored(session_factory, BD)
    assert len(rows) == 2
    by_value = sorted((r.model_value_fen, r.collateral_value_fen, r.life_reason) for r in rows.values())
    assert by_value == sorted([
        (expected_invention.value_fen, expected_invention.collateral_value_fen, expected_invention.life_reason),
        (expected_mark.value_fen, expected_mark.collateral_value_fen, expected_mark.life_reason),
    ])
    assert result.model_value_fen == expected_invention.value_fen + expected_mark.value_fen
    assert result.collateral_value_fen == expected_invention.collateral_value_fen + expected_mark.collateral_value_fen

    after = summary(session_factory)
    bank1_collateral = expected_invention.collateral_value_fen + appraisal_collateral("utility_model", 300_000_000)
    bank1_covered = loan1.covered_fen + loan3.covered_fen
    assert after["by_bank"]["BANK1"] == {
        "loans": 2, "covered_fen": bank1_covered, "collateral_value_fen": bank1_collateral,
        "coverage_bp": bank1_collateral * 10_000 // bank1_covered,
        "model_collateral_value_fen": expected_invention.collateral_value_fen,
        "appraisal_collateral_value_fen": appraisal_collateral("utility_model", 300_000_000),
        "model_valued_assets": 1, "appraisal_based_assets": 1,
    }
    bank2_collateral = expected_mark.collateral_value_fen + appraisal_collateral("design_patent", 100_000_000)
    assert after["by_bank"]["BANK2"]["collateral_value_fen"] == bank2_collateral
    assert after["by_bank"]["BANK2"]["coverage_bp"] == bank2_collateral * 10_000 // loan2.covered_fen
    assert after["by_sector"]["biomedicine_health"]["collateral_value_fen"] == bank2_collateral
    assert after["by_sector"]["next_generation_it"]["loans"] == 2
    assert after["total"]["covered_fen"] == bank1_covered + loan2.covered_fen
    assert after["total"]["collateral_value_fen"] == bank1_collateral + bank2_collateral
    assert after != before

    # Again on the same date: replaced, not added; a summary as of an earlier date ignores these rows.
    revalue_book(session_factory, BD)
    with unit_of_work(session_factory) as s:
        assert s.scalar(select(func.count()).select_from(AssetValuation)) == 2
    assert summary(session_factory, as_of=BD - dt.timedelta(days=1)) == {**before, "as_of": "2026-10-30"}


def test_revalue_with_quality_records_q(session_factory, actors):
    a1 = asset("invention_patent", owner_credit_code=uscc(1),
               valuation_inputs={**INPUTS, "claims_count": 10, "forward_citations": 1, "family_size": 1})
    a2 = asset("invention_patent", owner_credit_code=uscc(2), filing_date=dt.date(2020, 3, 3),
               valuation_inputs={**INPUTS, "claims_count": 30, "forward_citations": 9, "family_size": 4})
    register(session_factory, actors["BANK1"], 1, (a1,))
    register(session_factory, actors["BANK1"], 2, (a2,))
    plain = revalue_book(session_factory, BD)
    adjusted = revalue_book(session_factory, BD, quality=True)
    rows = sorted(stored(session_factory, BD).values(), key=lambda r: r.inputs["claims_count"])
    assert [r.inputs["quality"] for r in rows] == [0.0, 1.0]  # a2 is better on every feature, longer life too
    worse = model("invention_patent", a1.filing_date, BD, {**INPUTS, "royalty_bp": 150})
    better = model("invention_patent", a2.filing_date, BD, {**INPUTS, "royalty_bp": 450})
    assert abs(rows[0].model_value_fen - worse.value_fen) <= 1 and abs(rows[1].model_value_fen - better.value_fen) <= 1
    assert adjusted.quality_adjusted and not plain.quality_adjusted
    assert rows[0].model_value_fen < plain.model_value_fen / 2 < rows[1].model_value_fen


def test_revalue_refuses_a_date_after_the_business_date(session_factory, actors):
    with pytest.raises(DomainError) as error:
        revalue_book(session_factory, BD + dt.timedelta(days=1))
    assert error.value.code == "dated_after_business_date"

