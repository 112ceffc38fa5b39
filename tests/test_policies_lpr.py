"""Policies as data and the LPR table (RULES section 2)."""

from __future__ import annotations

import datetime as dt

import pytest

from fund.adapters.db import unit_of_work
from fund.domain.lpr import LprTable, shipped_lpr_table
from fund.domain.policy import PolicyError, parse_policy, shipped_policy_paths
from fund.errors import Conflict, DomainError
from fund.services.lpr import add_publication, check_through, lpr_table, seed_lpr
from fund.services.policies import activate_policy, active_policy_on, list_policies, load_policy


def _path(policy_id):
    return next(p for p in shipped_policy_paths() if p.stem == policy_id)


def test_policy_loaded_twice_is_a_no_op_and_a_changed_one_is_refused(session_factory, tmp_path):
    with unit_of_work(session_factory) as s:
        row, created = load_policy(s, _path("gz-2023"))
        assert created
    reformatted = tmp_path / "gz-2023.toml"
    reformatted.write_text("# a comment changes nothing\n" + _path("gz-2023").read_text())
    with unit_of_work(session_factory) as s:
        again, created = load_policy(s, reformatted)
        assert not created and again.content_hash == row.content_hash
    changed = tmp_path / "gz-2023-changed.toml"
    changed.write_text(_path("gz-2023").read_text().replace("bank_annual_cap_bp = 500", "bank_annual_cap_bp = 600"))
    with pytest.raises(Conflict) as info:
        with unit_of_work(session_factory) as s:
            load_policy(s, changed)
    assert info.value.code == "policy_changed"
    with unit_of_work(session_factory) as s:
        assert [p.id for p in list_policies(s)] == ["gz-2023"]


def test_overlapping_activation_is_refused(session_factory):
    with unit_of_work(session_factory) as s:
        for path in shipped_policy_paths():
            load_policy(s, path)
        activate_policy(s, "gz-2020")
        activate_policy(s, "gz-2023")
    with pytest.raises(Conflict) as info:
        with unit_of_work(session_factory) as s:
            activate_policy(s, "bj-zgc-2024")
    assert info.value.code == "policy_overlap" and "gz-2023" in info.value.message
    with unit_of_work(session_factory) as s:
        assert active_policy_on(s, dt.date(2024, 6, 1)).id == "gz-2023"
        assert active_policy_on(s, dt.date(2023, 7, 12)).id == "gz-2020"
        assert active_policy_on(s, dt.date(2020, 7, 7)) is None


def test_scheme_ratios_must_add_up_to_10000():
    import tomllib

    doc = tomllib.loads(_path("gz-2020").read_text())
    doc["schemes"]["5311"]["bank"] = 999
    with pytest.raises(PolicyError, match="5311"):
        parse_policy(doc)
    doc["schemes"]["5311"]["bank"] = 1000
    doc["schemes"]["5311"].pop("bank")
    doc["schemes"]["5311"]["fund"] = 6000
    with pytest.raises(PolicyError, match="bank"):
        parse_policy(doc)


def test_shipped_policies_carry_the_rules_parameters():
    from fund.domain.policy import load_policy_file

    gz2023 = load_policy_file(_path("gz-2023"))
    assert gz2023.single_loan_cap_fen == 1_000_000_000 and gz2023.borrower_annual_quota_fen == 2_000_000_000
    assert gz2023.bank_annual_cap_bp == 500 and gz2023.subsidy.enterprise_annual_cap_fen == 100_000_000
    gz2020 = load_policy_file(_path("gz-2020"))
    assert dict(gz2020.schemes["5311"].ratios_bp) == {"fund": 5000, "insurer": 3000, "appraiser": 1000, "bank": 1000}
    assert gz2020.appropriation_kind == "once" and gz2020.yearly_appropriation_fen(2021) == 0
    bj = load_policy_file(_path("bj-zgc-2024"))
    assert bj.subsidy.lpr_markup_bp == 4000 and not bj.accepts_claims


def test_lpr_lookups():
    table = shipped_lpr_table()
    assert table.rate_on(dt.date(2024, 3, 15)) == 345
    assert table.rate_on(dt.date(2024, 7, 22)) == 335
    assert table.rate_on(dt.date(2024, 7, 21)) == 345
    with pytest.raises(DomainError) as before:
        table.rate_on(dt.date(2015, 10, 23))
    assert before.value.code == "lpr_date_before_table" and "2015-10-23" in before.value.message
    with pytest.raises(DomainError) as after:
        table.rate_on(table.checked_through + dt.timedelta(days=1))
    assert after.value.code == "lpr_date_after_checked_through" and "2025-10-21" in after.value.message
    assert table.rate_on(table.checked_through) == 300


def test_lpr_table_in_the_database(session_factory):
    with unit_of_work(session_factory) as s:
        assert seed_lpr(s)
        assert not seed_lpr(s)
    with unit_of_work(session_factory) as s:
        with pytest.raises(Conflict):
            add_publication(s, dt.date(2025, 10, 20), 290)
    with unit_of_work(session_factory) as s:
        add_publication(s, dt.date(2025, 11, 20), 290)
        check_through(s, dt.date(2025, 12, 19), dt.date(2026, 10, 31))
    with unit_of_work(session_factory) as s:
        table = lpr_table(s)
        assert table.rate_on(dt.date(2025, 12, 1)) == 290
        with pytest.raises(DomainError):
            table.rate_on(dt.date(2025, 12, 20))


def test_lpr_table_refuses_unsorted_rows():
    with pytest.raises(DomainError):
        LprTable(((dt.date(2020, 1, 2), 400), (dt.date(2020, 1, 1), 400)), dt.date(2020, 2, 1))
