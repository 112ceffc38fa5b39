"""RULES revision 2 section 2: the policy parameters of S6, B2 and G1 (docs/rules.md section 2)."""

from __future__ import annotations

import copy

import pytest

from fund.domain.policy import PolicyError, parse_policy, shipped_policy


def test_shipped_policies_carry_the_fee_suspension_and_signoff_parameters():
    gz = shipped_policy("gz-2023")
    assert (gz.fee_subsidy_ratio_bp, gz.fee_subsidy_cap_fen, gz.bank_suspension_line_bp, gz.single_signoff_below_fen) == (
        5000, 5_000_000, 300, None)
    for other in ("gz-2020", "bj-zgc-2024"):
        policy = shipped_policy(other)
        assert (policy.fee_subsidy_ratio_bp, policy.fee_subsidy_cap_fen, policy.bank_suspension_line_bp,
                policy.single_signoff_below_fen) == (None, None, None, None)


@pytest.mark.parametrize("key, value", [
    ("fee_subsidy_ratio_bp", 10001), ("fee_subsidy_ratio_bp", -1), ("fee_subsidy_ratio_bp", "half"),
    ("fee_subsidy_cap_fen", -5), ("fee_subsidy_cap_fen", 1.5),
    ("bank_suspension_line_bp", 0), ("bank_suspension_line_bp", 10001), ("bank_suspension_line_bp", True),
    ("single_signoff_below_fen", 0), ("single_signoff_below_fen", "100"),
])
def test_a_bad_value_is_refused_naming_the_key(key, value):
    document = copy.deepcopy(dict(shipped_policy("gz-2023").document))
    document[key] = value
    with pytest.raises(PolicyError, match=key):
        parse_policy(document)


def test_a_fee_cap_without_a_fee_ratio_is_refused():
    document = copy.deepcopy(dict(shipped_policy("gz-2020").document))
    document["fee_subsidy_cap_fen"] = 100
    with pytest.raises(PolicyError, match="fee_subsidy_ratio_bp"):
        parse_policy(document)
    document["single_signoff_below_fen"] = 1_000
    del document["fee_subsidy_cap_fen"]
    assert parse_policy(document).single_signoff_below_fen == 1_000
