"""Survivors of the mutation run over the small rule modules of fund/domain/ (docs/mutation.md),
killed by pinning each rule as docs/rules.md states it: the loan status table (section 3), the
single-amount check and the one floor (section 0), the calendar (section 0), the LPR table
(section 2), banks in the pool (section 12, B1 and B2), sign-off (section 11, G1), the paid part of
a statement line and safe cell text, and fee subsidies (section 5, S6).

Every expectation is written out here from the rules, never taken from the code's own tables."""

from __future__ import annotations

import datetime as dt
import itertools
from types import SimpleNamespace

import pytest

from fund.domain import dates, fees, lpr, money, pool, signoff, statements, status
from fund.errors import Conflict, DomainError

d = dt.date

# --------------------------------------------------------------------------------------------------
# section 3: the loan status table, written out

RULES_3_MOVES = {
    ("active", "all_repaid"): "repaid",
    ("active", "cancel"): "cancelled",
    ("active", "claim_filed"): "claimed",
    ("claimed", "claim_withdrawn"): "active",
    ("claimed", "claim_rejected"): "active",
    ("claimed", "claim_approved"): "compensated",
    ("compensated", "claim_closed"): "closed",
    ("repaid", "repayment_reversed"): "active",
}
LOAN_STATUSES = ("active", "repaid", "cancelled", "claimed", "compensated", "closed")
LOAN_EVENTS = ("all_repaid", "cancel", "claim_filed", "claim_withdrawn", "claim_rejected", "claim_approved", "claim_closed",
               "repayment_reversed")


@pytest.mark.parametrize(("start", "event"), list(itertools.product(LOAN_STATUSES, LOAN_EVENTS)))
def test_every_loan_move_follows_the_table_of_section_3(start, event):
    expected = RULES_3_MOVES.get((start, event))
    if expected is None:
        for paid in (False, True):
            with pytest.raises(Conflict) as refused:
                status.next_status(start, event, paid_in_full=paid)
            assert refused.value.code == "invalid_transition" and refused.value.field == "status"
            assert str(refused.value) == f"a loan that is {start} cannot take the event {event}"
        return
    if event == "all_repaid":
        assert status.next_status(start, event, paid_in_full=True) == "repaid"
        with pytest.raises(Conflict) as refused:
            status.next_status(start, event)
        assert refused.value.code == "not_paid_in_full" and refused.value.field == "status"
        assert str(refused.value) == "a loan is repaid only when every installment is paid in full"
        return
    assert status.next_status(start, event) == expected
    # a withdrawn or rejected claim on a loan paid in full moves it to repaid; nothing else changes
    paid_target = "repaid" if event in ("claim_withdrawn", "claim_rejected") else expected
    assert status.next_status(start, event, paid_in_full=True) == paid_target


# --------------------------------------------------------------------------------------------------
# section 0: one single amount, one floor


def test_a_single_amount_is_whole_fen_from_its_minimum_to_ten_to_the_twelve():
    assert money.check_amount("loss_fen", 0) == 0
    assert money.check_amount("loss_fen", 10**12) == 10**12
    assert money.check_amount("loss_fen", 1, minimum=1) == 1

    class Fen:  # an integer type other than int (numpy's, say) is taken as the int it stands for
        def __index__(self):
            return 42

    assert type(money.check_amount("x", Fen())) is int and money.check_amount("x", Fen()) == 42
    for bad, code, text in ((True, "invalid_amount", "loss_fen must be an integer number of fen, got True"),
                            (False, "invalid_amount", "loss_fen must be an integer number of fen, got False"),
                            ("5", "invalid_amount", "loss_fen must be an integer number of fen, got '5'"),
                            (2.0, "invalid_amount", "loss_fen must be an integer number of fen, got 2.0"),
                            (-1, "invalid_amount", "loss_fen must be >= 0 fen, got -1"),
                            (10**12 + 1, "amount_too_large", "loss_fen must be at most 10^12 fen, got 1000000000001")):
        with pytest.raises(money.AmountError) as refused:
            money.check_amount("loss_fen", bad)
        assert (refused.value.code, refused.value.field, str(refused.value)) == (code, "loss_fen", text)
        assert isinstance(refused.value, ValueError) and isinstance(refused.value, DomainError)
    with pytest.raises(money.AmountError) as refused:
        money.check_amount("loss_fen", 0, minimum=1)
    assert str(refused.value) == "loss_fen must be >= 1 fen, got 0"
    assert money.check_amount("fee_fen", 500, maximum=500) == 500
    with pytest.raises(money.AmountError) as refused:
        money.check_amount("fee_fen", 501, maximum=500)
    assert refused.value.code == "amount_too_large" and str(refused.value) == "fee_fen must be at most 500 fen, got 501"


def test_the_one_floor_is_exact_at_any_size():
    assert money.floor_ratio(7, 1, 2) == 3
    assert money.floor_ratio(-7, 1, 2) == -4  # a floor, not a truncation
    assert money.floor_ratio(10**30 + 1, 3, 10**30) == 3
    assert money.apply_bp(1_999_999, 5000) == 999_999
    assert money.apply_bp(10_000, 1) == 1 and money.apply_bp(9_999, 1) == 0
    assert money.floor_ratio(5, 2, 1) == 10
    for bad in (0, -1):
        with pytest.raises(ValueError, match="^denominator must be positive$"):
            money.floor_ratio(5, 1, bad)


def test_yuan_for_people_has_two_decimals_and_thousands_separators():
    assert money.yuan(123_456_789) == "1,234,567.89"
    assert money.yuan(5) == "0.05"
    assert money.yuan(-100) == "-1.00"
    assert money.yuan(-1) == "-0.01"
    assert money.yuan(0) == "0.00"


# --------------------------------------------------------------------------------------------------
# section 0: the calendar


def test_adding_months_keeps_the_day_and_falls_back_to_the_last_day():
    assert dates.add_months(d(2024, 1, 31), 1) == d(2024, 2, 29)
    assert dates.add_months(d(2023, 1, 31), 1) == d(2023, 2, 28)
    assert dates.add_months(d(2024, 11, 15), 2) == d(2025, 1, 15)
    assert dates.add_months(d(2024, 12, 31), 0) == d(2024, 12, 31)
    assert dates.add_months(d(2024, 3, 31), -1) == d(2024, 2, 29)
    assert dates.add_months(d(2024, 1, 10), 12) == d(2025, 1, 10)
    assert dates.add_years(d(2024, 2, 29), 1) == d(2025, 2, 28)
    assert dates.add_years(d(2023, 5, 17), 2) == d(2025, 5, 17)
    assert dates.add_years(d(2024, 5, 17), -1) == d(2023, 5, 17)


def test_today_is_the_date_in_china_not_on_the_computers_clock(monkeypatch):
    instant = dt.datetime(2026, 1, 1, 16, 30, tzinfo=dt.timezone.utc)  # 00:30 on 2 January in Beijing

    class Clock:
        @staticmethod
        def now(tz=None):  # a computer whose own clock runs on UTC
            return instant.astimezone(tz) if tz is not None else instant.replace(tzinfo=None)

    monkeypatch.setattr(dates, "dt", SimpleNamespace(datetime=Clock, date=dt.date))
    assert dates.today_in_china() == d(2026, 1, 2)


def test_the_business_date_defaults_to_today_in_china():
    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    assert dates.today_in_china() in (now, now - dt.timedelta(days=1), now + dt.timedelta(days=1))
    assert dates.CHINA_TZ.key == "Asia/Shanghai"


def test_a_month_is_written_yyyy_mm():
    assert dates.month_bounds("2024-02") == (d(2024, 2, 1), d(2024, 2, 29))
    assert dates.month_bounds("2023-12") == (d(2023, 12, 1), d(2023, 12, 31))
    assert dates.month_bounds("1900-01") == (d(1900, 1, 1), d(1900, 1, 31))
    for bad in ("2024-2", "24-02", "2024-13", "2024/02", "2024-02-01", "", "02-2024", "20240-02"):
        with pytest.raises(ValueError) as refused:
            dates.month_bounds(bad)
        assert str(refused.value) == f"month must be YYYY-MM, got {bad!r}"
    with pytest.raises(ValueError) as refused:
        dates.month_bounds("1899-12")
    assert str(refused.value) == "month 1899-12 is before 1900-01: dates before 1900 are refused"


def test_dates_before_1900_and_events_after_the_business_date_are_refused():
    assert dates.check_input_date(d(1900, 1, 1), "paid_on") == d(1900, 1, 1)
    with pytest.raises(DomainError) as refused:
        dates.check_input_date(d(1899, 12, 31), "granted_on")
    assert (refused.value.code, refused.value.field) == ("date_before_1900", "granted_on")
    assert str(refused.value) == "granted_on 1899-12-31 is before 1900-01-01: dates before 1900 are refused"
    business = d(2026, 1, 1)
    assert dates.check_event_date(business, "paid_on", business) == business
    with pytest.raises(DomainError) as refused:
        dates.check_event_date(d(2026, 1, 2), "drawdown_on", business)
    assert (refused.value.code, refused.value.field) == ("dated_after_business_date", "drawdown_on")
    assert str(refused.value) == "drawdown_on 2026-01-02 is after the business date 2026-01-01"
    with pytest.raises(DomainError) as refused:
        dates.check_event_date(d(1899, 1, 1), "paid_on", business)
    assert refused.value.code == "date_before_1900" and refused.value.field == "paid_on"


# --------------------------------------------------------------------------------------------------
# section 2: the LPR table


def _table(*rows, through=d(2024, 12, 31)):
    return lpr.LprTable(tuple(rows), checked_through=through)


def test_the_rate_on_a_date_is_the_latest_publication_on_or_before_it():
    table = _table((d(2024, 1, 22), 345), (d(2024, 7, 22), 335), (d(2024, 10, 21), 310))
    assert table.rate_on(d(2024, 1, 22)) == 345
    assert table.rate_on(d(2024, 7, 21)) == 345
    assert table.rate_on(d(2024, 7, 22)) == 335
    assert table.rate_on(d(2024, 10, 20)) == 335
    assert table.rate_on(d(2024, 10, 21)) == 310
    assert table.rate_on(d(2024, 12, 31)) == 310


def test_lpr_lookups_outside_the_table_fail_naming_the_date():
    table = _table((d(2024, 1, 22), 345), through=d(2024, 6, 30))
    with pytest.raises(DomainError) as refused:
        table.rate_on(d(2024, 1, 21))
    assert (refused.value.code, refused.value.field) == ("lpr_date_before_table", "date")
    assert str(refused.value) == "no LPR for 2024-01-21: the table starts on 2024-01-22"
    with pytest.raises(DomainError) as refused:
        table.rate_on(d(2024, 7, 1))
    assert (refused.value.code, refused.value.field) == ("lpr_date_after_checked_through", "date")
    assert str(refused.value) == "no LPR for 2024-07-01: the table is checked only through 2024-06-30"


def test_an_lpr_table_is_refused_empty_unsorted_twice_dated_or_with_a_rate_below_one_bp():
    cases = (((), "lpr_empty", "the LPR table has no publication"),
             (((d(2024, 2, 1), 345), (d(2024, 1, 1), 350)), "lpr_unsorted",
              "LPR publications must be dated in increasing order, once each"),
             (((d(2024, 1, 1), 345), (d(2024, 1, 1), 345)), "lpr_unsorted",
              "LPR publications must be dated in increasing order, once each"),
             (((d(2024, 1, 1), 345), (d(2024, 2, 1), 0)), "lpr_invalid_rate", "LPR rates must be positive basis points"),
             (((d(2024, 1, 1), -5),), "lpr_invalid_rate", "LPR rates must be positive basis points"))
    for rows, code, text in cases:
        with pytest.raises(DomainError) as refused:
            _table(*rows)
        assert (refused.value.code, str(refused.value)) == (code, text)
    assert _table((d(2024, 1, 1), 1)).rate_on(d(2024, 1, 1)) == 1


LPR_CSV = """# the 1-year LPR
# checked_through=2024-12-31
published_on,rate_bp

2024-01-22,345
   # a note
2024-07-22,335
"""


def test_the_lpr_file_gives_its_rows_and_its_checked_through_line():
    table = lpr.parse_lpr_csv(LPR_CSV)
    assert table.publications == ((d(2024, 1, 22), 345), (d(2024, 7, 22), 335))
    assert table.checked_through == d(2024, 12, 31)
    with pytest.raises(DomainError) as refused:
        lpr.parse_lpr_csv("published_on,rate_bp\n2024-01-22,345\n")
    assert refused.value.code == "lpr_no_checked_through"
    assert str(refused.value) == "the LPR file has no '# checked_through=' line"
    spaced = lpr.parse_lpr_csv("#checked_through= 2025-01-31 \npublished_on,rate_bp\n2024-01-22,345\n")
    assert spaced.checked_through == d(2025, 1, 31)


def test_an_lpr_file_with_a_value_not_of_its_kind_is_refused_naming_it():
    """docs/rules.md section 2: one checked_through date. A comment line holding two of them is not
    read as either (kills parse_lpr_csv_15, _16, _19: split, rsplit or split twice took one)."""
    doubled = "# checked_through=2024-12-31 checked_through=2025-06-30\npublished_on,rate_bp\n2024-01-22,345\n"
    for text, what in ((doubled, "checked_through date"),
                       ("# checked_through=2024-12-31\npublished_on,rate_bp\n2024-13-22,345\n", "published_on date"),
                       ("# checked_through=2024-12-31\npublished_on,rate_bp\n2024-01-22,3.45\n", "rate_bp"),
                       ("# checked_through=2024-12-31\npublished_on,rate_bp\n2024-01-22\n", "rate_bp")):
        with pytest.raises(DomainError) as refused:
            lpr.parse_lpr_csv(text)
        assert refused.value.code == "lpr_bad_file"
        assert str(refused.value).startswith(f"the LPR file's {what} is not one value of its kind: ")


def test_the_shipped_lpr_table_is_the_published_one():
    table = lpr.shipped_lpr_table()
    # the published 1-year LPR: 3.45% from 2024-01-22 (unchanged since 2023-08-21), 3.35% from 2024-07-22
    assert table.rate_on(d(2024, 7, 21)) == 345
    assert table.rate_on(d(2024, 7, 22)) == 335


# --------------------------------------------------------------------------------------------------
# section 12: banks in the pool


def test_a_bank_lends_in_the_pool_from_its_agreement_date():
    agreed = d(2026, 1, 1)
    assert pool.bank_reasons(d(2025, 12, 31), agreed_on=agreed, suspensions=[]) == ("bank_not_in_pool",)
    assert pool.bank_reasons(agreed, agreed_on=agreed, suspensions=[]) == ()
    assert pool.bank_reasons(d(2026, 6, 1), agreed_on=None, suspensions=[]) == ("bank_not_in_pool",)
    # no agreement outranks a suspension
    assert pool.bank_reasons(d(2025, 12, 31), agreed_on=agreed, suspensions=[(d(2025, 1, 1), None)]) == ("bank_not_in_pool",)


def test_a_suspension_runs_from_its_date_until_the_day_it_is_lifted():
    agreed = d(2026, 1, 1)
    spans = [(d(2026, 3, 1), d(2026, 4, 1))]
    assert pool.bank_reasons(d(2026, 2, 28), agreed_on=agreed, suspensions=spans) == ()
    assert pool.bank_reasons(d(2026, 3, 1), agreed_on=agreed, suspensions=spans) == ("bank_suspended",)
    assert pool.bank_reasons(d(2026, 3, 31), agreed_on=agreed, suspensions=spans) == ("bank_suspended",)
    assert pool.bank_reasons(d(2026, 4, 1), agreed_on=agreed, suspensions=spans) == ()
    open_span = [(d(2026, 3, 1), None)]
    assert pool.suspended_on(d(2030, 1, 1), open_span) and not pool.suspended_on(d(2026, 2, 28), open_span)
    assert pool.suspended_on(d(2026, 5, 2), [(d(2026, 3, 1), d(2026, 4, 1)), (d(2026, 5, 1), None)])
    assert not pool.suspended_on(d(2026, 4, 15), [(d(2026, 3, 1), d(2026, 4, 1)), (d(2026, 5, 1), None)])
    assert not pool.suspended_on(d(2026, 4, 15), [])


def test_losses_must_exceed_the_line_to_suspend():
    lending = 10_000_000_001
    assert pool.loss_line_fen(lending, 300) == 300_000_000  # floor(10 000 000 001 x 300 / 10000)
    assert not pool.passes_line(300_000_000, lending, 300)  # reaching it exactly does not suspend
    assert pool.passes_line(300_000_001, lending, 300)
    assert not pool.passes_line(10**15, lending, None)  # no line, no suspension


def test_a_loss_ratio_reads_in_whole_bp_floored():
    ratio = pool.LossRatio("B1", "gz-2023", 333, 100_000, 300, 3000, d(2026, 3, 1))
    assert ratio.ratio_bp == 33  # 333 x 10000 / 100000 = 33.3
    assert pool.LossRatio("B1", "gz-2023", 5, 0, None, None, None).ratio_bp is None
    assert ratio.as_dict() == {"bank_code": "B1", "policy_id": "gz-2023", "losses_fen": 333, "in_pool_lending_fen": 100_000,
                               "ratio_bp": 33, "line_bp": 300, "line_fen": 3000, "suspended": True,
                               "suspended_since": "2026-03-01"}
    free = pool.LossRatio("B2", "gz-2023", 0, 10, 300, 0, None).as_dict()
    assert free["suspended"] is False and free["suspended_since"] is None and free["ratio_bp"] == 0


# --------------------------------------------------------------------------------------------------
# section 11: two people, one below the policy's single sign-off amount


def test_an_officer_proposes_and_another_person_an_approver_signs_off():
    assert signoff.may_propose(("officer",)) and signoff.may_propose(("approver", "officer"))
    assert not signoff.may_propose(("approver",)) and not signoff.may_propose(())
    ok = signoff.decide_signoff(maker_id=1, signer_id=2, signer_roles=("approver",))
    assert ok.allowed and not ok.single and ok.code is None
    not_approver = signoff.decide_signoff(maker_id=1, signer_id=2, signer_roles=("officer",))
    assert (not_approver.allowed, not_approver.code) == (False, "not_an_approver")
    assert not_approver.message == "only an approver of the fund manager signs off proposals"
    same = signoff.decide_signoff(maker_id=3, signer_id=3, signer_roles=("officer", "approver"))
    assert (same.allowed, same.code, same.single) == (False, "same_person", False)
    assert same.message == "you made this proposal: another person (an approver) must sign it off"


def test_one_person_suffices_only_below_the_threshold_and_never_for_a_rejection():
    def own(share, below, roles=("officer",), rejection=False):
        return signoff.decide_signoff(maker_id=5, signer_id=5, signer_roles=roles, fund_share_fen=share,
                                      single_signoff_below_fen=below, is_rejection=rejection)

    assert own(99, 100).allowed and own(99, 100).single
    assert own(99, 100, roles=("approver",)).single
    assert not own(100, 100).allowed and own(100, 100).code == "same_person"  # below, not at
    assert not own(99, None).allowed  # by default always two
    assert not own(None, 100).allowed
    assert not own(99, 100, rejection=True).allowed
    assert not own(99, 100, roles=("reader",)).allowed
    assert not own(99, 100, roles=()).allowed
    assert signoff.single_signoff_applies(99, 100) and not signoff.single_signoff_applies(100, 100)
    assert not signoff.single_signoff_applies(99, 100, is_rejection=True)
    assert not signoff.single_signoff_applies(None, 100) and not signoff.single_signoff_applies(99, None)
    # another person below the threshold is an ordinary two-person sign-off
    other = signoff.decide_signoff(maker_id=5, signer_id=6, signer_roles=("approver",), fund_share_fen=1,
                                   single_signoff_below_fen=100)
    assert other.allowed and not other.single


def test_whether_a_makers_own_signoff_can_be_allowed_at_all():
    assert signoff.could_be_single(False, True, 100)
    assert not signoff.could_be_single(True, True, 100)
    assert not signoff.could_be_single(False, False, 100)
    assert not signoff.could_be_single(False, True, None)
    assert signoff.could_be_single(False, True, 0)


def test_an_approver_other_than_the_maker_declines_and_only_the_maker_withdraws():
    declined = signoff.decide_decline(maker_id=1, decider_id=2, decider_roles=("approver",))
    assert declined.allowed and declined.code is None
    own = signoff.decide_decline(maker_id=1, decider_id=1, decider_roles=("approver",))
    assert (own.allowed, own.code, own.message) == (False, "same_person", "you made this proposal: withdraw it instead")
    officer = signoff.decide_decline(maker_id=1, decider_id=2, decider_roles=("officer",))
    assert (officer.allowed, officer.code) == (False, "not_an_approver")
    assert officer.message == "only an approver of the fund manager declines proposals"
    assert signoff.decide_withdraw(maker_id=1, person_id=1).allowed
    other = signoff.decide_withdraw(maker_id=1, person_id=2)
    assert (other.allowed, other.code, other.message) == (False, "not_the_maker", "only the person who made a proposal withdraws it")


# --------------------------------------------------------------------------------------------------
# statements: the paid part of each line, and text a spreadsheet shows as text


def test_the_cash_pays_the_lines_in_their_order():
    assert statements.paid_in_order([300, 200, 500], 400) == [300, 100, 0]
    assert statements.paid_in_order([300, 200, 500], 1000) == [300, 200, 500]
    assert statements.paid_in_order([300, 200, 500], 5000) == [300, 200, 500]
    assert statements.paid_in_order([300, 200], 0) == [0, 0]
    assert statements.paid_in_order([300, 200], -50) == [0, 0]
    assert statements.paid_in_order([], 100) == []
    assert statements.paid_in_order([0, 100], 50) == [0, 50]
    for before, amount, total, paid in ((300, 200, 400, 100), (0, 200, 400, 200), (500, 200, 400, 0), (300, 200, 500, 200),
                                        (300, 200, 600, 200)):
        assert statements.paid_part(before, amount, total) == paid


def test_text_that_starts_like_a_formula_gets_a_leading_apostrophe():
    for risky in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert statements.safe_cell_text(risky) == "'" + risky
    for plain in ("", "ok", "a=b", "1-2", " =x"):
        assert statements.safe_cell_text(plain) == plain


def test_the_first_character_xml_cannot_hold():
    assert statements.xml_unsafe_position("ok") is None
    assert statements.xml_unsafe_position("") is None
    assert statements.xml_unsafe_position("a\tb\nc\rd") is None
    assert statements.xml_unsafe_position("ab\x00") == 2
    assert statements.xml_unsafe_position("\x0bx\x01") == 0
    assert statements.xml_unsafe_position("x\ufffe") == 1


# --------------------------------------------------------------------------------------------------
# section 5, S6: fee subsidies


def test_fee_subsidies_fill_the_cap_in_order_and_the_fee_reaching_it_gets_the_room_left():
    got = fees.fill_cap([6_000_001, 5_000_000], 5000, 5_000_000)
    assert [(s.subsidy_fen, s.capped) for s in got] == [(3_000_000, False), (2_000_000, True)]
    after_cap = fees.fill_cap([1_000, 1_000], 5000, 500)
    assert [(s.subsidy_fen, s.capped) for s in after_cap] == [(500, False), (0, True)]
    exact = fees.fill_cap([1_000, 1_000], 5000, 1_000)
    assert [(s.subsidy_fen, s.capped) for s in exact] == [(500, False), (500, False)]
    used = fees.fill_cap([1_000], 5000, 800, used_fen=400)
    assert [(s.subsidy_fen, s.capped) for s in used] == [(400, True)]
    over = fees.fill_cap([1_000], 5000, 800, used_fen=900)  # a cap already passed gives nothing, never less
    assert [(s.subsidy_fen, s.capped) for s in over] == [(0, True)]
    uncapped = fees.fill_cap([3, 1_000_001], 5000, None)
    assert [(s.subsidy_fen, s.capped) for s in uncapped] == [(1, False), (500_000, False)]
    assert [(s.subsidy_fen, s.capped) for s in fees.fill_cap([1_000], None, 100)] == [(0, False)]
    assert [(s.subsidy_fen, s.capped) for s in fees.fill_cap([1_000], None, None)] == [(0, False)]


def test_a_loan_has_insurance_or_guarantee_fee_subsidies_not_both():
    fees.check_exclusive(["appraisal", "insurance"], "insurance")
    fees.check_exclusive(["insurance", "guarantee"], "appraisal")
    fees.check_exclusive([], "guarantee")
    with pytest.raises(Conflict) as refused:
        fees.check_exclusive(["appraisal", "insurance"], "guarantee")
    assert (refused.value.code, refused.value.field) == ("fee_kind_excluded", "kind")
    assert str(refused.value) == "the loan has insurance fees: a loan has insurance or guarantee fee subsidies, not both"
    with pytest.raises(Conflict) as refused:
        fees.check_exclusive(["guarantee"], "insurance")
    assert str(refused.value).startswith("the loan has guarantee fees")
