"""The parts that make a month's preview fast give the same figures as the plain code they replace:
day numbers and years through numpy, S2's factors remembered, the cut-off kept off the payment-date
index (the same rows on both backends), and the first lines of a preview made on their own."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from fund.adapters.db import unit_of_work
from fund.adapters.dialect import unindexed
from fund.adapters.models.registry import Repayment
from fund.domain.subsidy import subsidy_factor
from fund.services.subsidies import _day_numbers, _factor_parts, _years_of_days, preview_month
from tests.test_subsidy_runs import BD, MARCH_15, loan_with_interest, reference, repay

days = st.dates(dt.date(1900, 1, 1), dt.date(2200, 12, 31))


@settings(max_examples=200, deadline=None)
@given(st.lists(days, max_size=40))
def test_day_numbers_and_years_equal_the_calendar(values):
    ordinals = [d.toordinal() for d in values]
    assert _day_numbers(values).tolist() == ordinals
    assert _day_numbers([d.isoformat() for d in values]).tolist() == ordinals  # SQLite gives ISO text
    assert _years_of_days(np.array(ordinals, dtype=np.int64)).tolist() == [d.year for d in values]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10_000), st.integers(1, 2_000), st.integers(1, 1_000), st.integers(0, 20_000), st.integers(0, 10_000))
def test_remembered_factors_equal_s2(share, contract, lpr, markup, ratio):
    factor = subsidy_factor(ip_share_bp=share, contract_rate_bp=contract, lpr_bp=lpr, markup_bp=markup, ratio_bp=ratio)
    assert _factor_parts((share, contract, lpr, markup, ratio)) == (factor.numerator, factor.denominator)
    assert _factor_parts((share, contract, lpr, markup, ratio)) == (factor.numerator, factor.denominator)  # from memory


def test_an_unindexed_cut_off_selects_the_same_rows_and_first_lines_are_the_lines_head(session_factory):
    actors = reference(session_factory)
    bank = actors["BANK1"]
    loans = [loan_with_interest(session_factory, bank, 3_875_000 + n, n=n) for n in (1, 2, 3)]
    for n, loan in enumerate(loans, start=1):
        for k in range(1, 6):
            due = dt.date(2024, 3 + k, 15)
            repay(session_factory, bank, loan, due, due, 3_875_000 + n)
    with unit_of_work(session_factory) as s:
        for cutoff in (MARCH_15, dt.date(2024, 5, 15), dt.date(2024, 6, 30), BD):
            plain = s.scalars(select(Repayment.id).where(Repayment.paid_on <= cutoff).order_by(Repayment.id)).all()
            kept_off = s.scalars(select(Repayment.id).where(unindexed(s, Repayment.paid_on) <= cutoff).order_by(Repayment.id)).all()
            assert plain == kept_off
        assert len(plain) == 15
        preview = preview_month(s, "2024-08", BD, actor=actors["FM"])
    assert preview.line_count == 15 == len(preview.lines)
    for n in (0, 1, 7, 15, 100):
        assert preview.first_lines(n) == preview.lines[:n]
    assert [ln.paid_on for ln in preview.lines] == sorted(ln.paid_on for ln in preview.lines)  # S3 order
    assert sum(ln.paid_fen for ln in preview.lines) == preview.paid_fen
