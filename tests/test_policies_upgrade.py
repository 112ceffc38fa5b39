"""A database that loaded an earlier shipped release of a policy takes the current shipped file in
place (docs/rules.md section 2: revision 2 gave gz-2023 its fee subsidy and suspension line
parameters), keeping its activation, with an audit record; every other changed document under a stored
id is still refused with one line naming both hashes, and nothing changes. Both backends."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from fund.adapters.db import unit_of_work
from fund.adapters.models.people import AuditRecord
from fund.adapters.models.registry import StoredPolicy
from fund.cli.main import app
from fund.domain.policy import load_policy_file, parse_policy, policy_document_json, shipped_policy, shipped_policy_paths
from fund.errors import Conflict
from fund.services.policies import (
    EARLIER_SHIPPED_RELEASES,
    activate_policy,
    get_policy,
    load_policy,
    load_policy_path,
    load_shipped_policies,
    store_policy,
)
from tests.factories import setup_reference
from tests.people_support import PASSWORD, add_staff, fast_passwords  # noqa: F401  (fixture)

REVISION_2_KEYS = ("bank_suspension_line_bp", "fee_subsidy_cap_fen", "fee_subsidy_ratio_bp")


def _path(policy_id: str):
    return next(p for p in shipped_policy_paths() if p.stem == policy_id)


def _earlier_gz_2023():
    """gz-2023 as shipped before revision 2: the current file without the parameters it added."""
    document = dict(shipped_policy("gz-2023").document)
    for key in REVISION_2_KEYS:
        document.pop(key)
    return parse_policy(document)


def _stored(session_factory) -> StoredPolicy:
    with unit_of_work(session_factory) as s:
        row = s.get(StoredPolicy, "gz-2023")
        s.expunge(row)
        return row


def _upgrades(session_factory) -> list[AuditRecord]:
    with unit_of_work(session_factory) as s:
        return list(s.scalars(select(AuditRecord).where(AuditRecord.action == "policy.upgrade").order_by(AuditRecord.id)))


def test_the_listed_hash_is_the_earlier_shipped_release():
    earlier = _earlier_gz_2023()
    assert EARLIER_SHIPPED_RELEASES["gz-2023"] == {earlier.content_hash}
    assert earlier.content_hash != shipped_policy("gz-2023").content_hash
    assert earlier.bank_suspension_line_bp is None and earlier.fee_subsidy_ratio_bp is None


def test_loading_the_shipped_file_upgrades_the_earlier_release_in_place(session_factory):
    earlier = _earlier_gz_2023()
    with unit_of_work(session_factory) as s:
        store_policy(s, earlier)  # a database that loaded the file before revision 2
        activate_policy(s, "gz-2023")
        assert get_policy(s, "gz-2023").bank_suspension_line_bp is None
    with unit_of_work(session_factory) as s:
        done = load_policy_path(s, _path("gz-2023"))
        assert (done.outcome, done.previous_hash, done.added, done.created) == ("upgraded", earlier.content_hash, REVISION_2_KEYS, False)
    row = _stored(session_factory)
    current = shipped_policy("gz-2023")
    assert (row.content_hash, row.active) == (current.content_hash, True)
    with unit_of_work(session_factory) as s:
        policy = get_policy(s, "gz-2023")
    assert (policy.bank_suspension_line_bp, policy.fee_subsidy_ratio_bp, policy.fee_subsidy_cap_fen) == (300, 5000, 5_000_000)
    [record] = _upgrades(session_factory)
    assert (record.target, record.outcome) == ("policy:gz-2023", "done")
    assert json.loads(record.detail) == {"from_hash": earlier.content_hash, "to_hash": current.content_hash,
                                         "added": list(REVISION_2_KEYS), "active": True}
    with unit_of_work(session_factory) as s:  # again: the same content, a no-op, no second record
        again = load_policy_path(s, _path("gz-2023"))
        assert again.outcome == "unchanged"
    assert len(_upgrades(session_factory)) == 1


def test_the_shipped_policies_of_the_demo_and_the_tests_upgrade_too(session_factory):
    with unit_of_work(session_factory) as s:
        store_policy(s, _earlier_gz_2023())
    with unit_of_work(session_factory) as s:
        rows = {r.id: r.content_hash for r in load_shipped_policies(s)}
    assert rows["gz-2023"] == shipped_policy("gz-2023").content_hash
    assert len(_upgrades(session_factory)) == 1


def test_any_other_change_under_a_stored_id_is_refused_and_changes_nothing(session_factory, tmp_path):
    earlier = _earlier_gz_2023()
    with unit_of_work(session_factory) as s:
        store_policy(s, earlier)
    # a file that is not the current shipped one, over the earlier release: refused
    edited = tmp_path / "gz-2023.toml"
    edited.write_text(_path("gz-2023").read_text().replace("bank_suspension_line_bp = 300", "bank_suspension_line_bp = 250"))
    with pytest.raises(Conflict) as info:
        with unit_of_work(session_factory) as s:
            load_policy(s, edited)
    assert info.value.code == "policy_changed" and "\n" not in info.value.message
    assert earlier.content_hash[:12] in info.value.message and "needs a new id" in info.value.message
    assert _stored(session_factory).content_hash == earlier.content_hash and _upgrades(session_factory) == []


def test_a_stored_document_that_no_release_shipped_is_not_upgraded(session_factory):
    document = dict(_earlier_gz_2023().document)
    document["bank_annual_cap_bp"] = 600  # the fund's own edit of the earlier file: not a shipped release
    custom = parse_policy(document)
    with unit_of_work(session_factory) as s:
        store_policy(s, custom)
    with pytest.raises(Conflict) as info:
        with unit_of_work(session_factory) as s:
            load_policy(s, _path("gz-2023"))
    assert info.value.code == "policy_changed" and custom.content_hash[:12] in info.value.message
    assert _stored(session_factory).content_hash == custom.content_hash and _upgrades(session_factory) == []


def test_ipfund_policies_load_upgrades_as_the_person_of_user_and_refuses_in_one_line(session_factory, fast_passwords, tmp_path):
    with unit_of_work(session_factory) as s:
        setup_reference(s, active=())  # loads the shipped policies; gz-2023 is then put back to the earlier release
        add_staff(s, {"fm.admin": ("FM", ("admin",))})
        earlier = _earlier_gz_2023()
        row = s.get(StoredPolicy, "gz-2023")
        row.content_hash, row.document = earlier.content_hash, policy_document_json(earlier)
    env = {"IPFUND_PASSWORD": PASSWORD}
    loaded = CliRunner().invoke(app, ["policies", "load", "--user", "fm.admin"], env=env)
    assert loaded.exit_code == 0, loaded.output
    line = next(line for line in loaded.output.splitlines() if line.startswith("gz-2023:"))
    assert line.startswith(f"gz-2023: upgraded in place from the earlier shipped release ({earlier.content_hash[:12]} -> ")
    assert "added bank_suspension_line_bp, fee_subsidy_cap_fen, fee_subsidy_ratio_bp" in line
    assert "gz-2020: already stored, unchanged" in loaded.output
    [record] = _upgrades(session_factory)
    assert record.login == "fm.admin" and record.person_id is not None
    edited = tmp_path / "gz-2023.toml"
    edited.write_text(_path("gz-2023").read_text().replace("claim_window_days = 365", "claim_window_days = 400"))
    refused = CliRunner().invoke(app, ["policies", "load", str(edited)], env=env)
    assert refused.exit_code == 1
    assert [line for line in refused.output.splitlines() if line.strip()] == [
        f"error: policy gz-2023 is stored with other content (stored hash {shipped_policy('gz-2023').content_hash[:12]}, "
        f"this file {load_policy_file(edited).content_hash[:12]}): a changed policy needs a new id (id) [policy_changed]"]
