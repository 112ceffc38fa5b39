"""Survivors of the mutation run over risk/lending.py (docs/mutation.md), killed by pinning M1 as
docs/rules.md section 8 states it: new coverage comes from the policy in force on the day (its first
and last days included); after the last active policy ends its coverage goes on, unless the scenario
says ``after_policy_end = "stop"``; before the first one starts, none. The two shipped Guangzhou
policies follow each other: gz-2020 from 2020-07-08 to 2023-07-12, gz-2023 from 2023-07-13 to
2028-01-18."""

from __future__ import annotations

import dataclasses
import datetime as dt

from risk.lending import covering_policy
from risk.synthetic import shipped_policy

d = dt.date
GZ2020, GZ2023 = shipped_policy("gz-2020"), shipped_policy("gz-2023")


def test_a_policy_covers_its_first_and_last_days():
    assert GZ2020.valid_from == d(2020, 7, 8) and GZ2023.valid_to == d(2028, 1, 18)
    for policies in ([GZ2020, GZ2023], [GZ2023, GZ2020]):
        assert covering_policy(policies, d(2020, 7, 8), "stop") is GZ2020
        assert covering_policy(policies, d(2023, 7, 12), "stop") is GZ2020
        assert covering_policy(policies, d(2023, 7, 13), "stop") is GZ2023
        assert covering_policy(policies, d(2028, 1, 18), "stop") is GZ2023
        assert covering_policy(policies, d(2020, 7, 7), "continue") is None  # before the first one


def test_after_the_last_policy_ends_the_last_to_end_goes_on_unless_stop():
    for policies in ([GZ2020, GZ2023], [GZ2023, GZ2020]):
        assert covering_policy(policies, d(2028, 1, 19), "continue") is GZ2023
        assert covering_policy(policies, d(2035, 1, 1), "continue") is GZ2023
        assert covering_policy(policies, d(2028, 1, 19), "stop") is None


def test_a_gap_before_a_later_policy_is_not_covered():
    later = dataclasses.replace(GZ2023, valid_from=d(2024, 1, 1))  # gz-2020 ended 2023-07-12
    assert covering_policy([GZ2020, later], d(2023, 10, 1), "continue") is None
    assert covering_policy([GZ2020, later], d(2024, 1, 1), "continue") is later


def test_each_years_appropriation_is_the_sum_over_the_policies_in_force_on_its_first_day():
    from risk.lending import yearly_appropriations

    # gz-2023: 5 000 000 000 a year; a second yearly policy of 4 000 000 000 in force at the same time
    # (gz-2020 made yearly and extended) adds to it; after both end, the last one's yearly amount goes on
    assert GZ2023.appropriation_kind == "yearly" and GZ2023.appropriation_fen == 5_000_000_000
    other = dataclasses.replace(GZ2020, appropriation_kind="yearly", valid_to=d(2027, 6, 30))
    got = yearly_appropriations([GZ2023, other], d(2026, 1, 1), 4)
    assert got == (9_000_000_000, 9_000_000_000, 5_000_000_000, 5_000_000_000)
