"""Reference data over HTTP, on both backends: the LPR table (read by everyone; publications and
checked_through changed only through rule G: a proposal signed off by another person), the policies
and the institutions; and their rows of the authorisation matrix."""

from __future__ import annotations

import pytest

from fund.services import people
from tests.people_support import add_staff, fast_passwords  # noqa: F401  (fixture)
from tests.test_api_support import Endpoint, api, problem_of  # noqa: F401  (fixture)

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("fast_passwords")]
EVERYONE = frozenset({"bank", "insurer_or_guarantor", "appraiser", "fund_manager", "auditor"})
ONLY_FM = frozenset({"fund_manager"})

# An institutional fund manager key reads; proposing needs a person (403 person_required).
API_MATRIX = {
    ("GET", "/api/v1/lpr"): Endpoint(EVERYONE, lambda api, loan: ("GET", "/api/v1/lpr", {}), 200),
    ("POST", "/api/v1/lpr/publications"): Endpoint(ONLY_FM, lambda api, loan: (
        "POST", "/api/v1/lpr/publications", {"json": {"published_on": "2026-11-20", "rate_bp": 300}}), 403),
    ("POST", "/api/v1/lpr/checked-through"): Endpoint(ONLY_FM, lambda api, loan: (
        "POST", "/api/v1/lpr/checked-through", {"json": {"through": "2026-10-30"}}), 403),
    ("GET", "/api/v1/policies"): Endpoint(EVERYONE, lambda api, loan: ("GET", "/api/v1/policies", {}), 200),
    ("GET", "/api/v1/policies/{policy_id}"): Endpoint(EVERYONE, lambda api, loan: ("GET", "/api/v1/policies/gz-2023", {}), 200),
    ("GET", "/api/v1/institutions"): Endpoint(EVERYONE, lambda api, loan: ("GET", "/api/v1/institutions", {}), 200),
}


def _personal(api, login: str) -> dict[str, str]:
    from fund.adapters.db import unit_of_work

    if not hasattr(api, "staff"):
        with unit_of_work(api.session_factory) as session:
            api.staff = add_staff(session)
    key = people.issue_person_key(api.session_factory, api.staff["fm.admin"], login).key
    return {"Authorization": f"Bearer {key}"}


def test_the_lpr_table_is_read_by_everyone_and_changed_through_rule_g(api):
    table = api.get("/api/v1/lpr", who="BANK1").json()
    assert table["items"] and table["checked_through"]
    assert all(isinstance(r["rate_bp"], int) and r["rate_bp"] > 0 for r in table["items"])
    assert [r["published_on"] for r in table["items"]] == sorted(r["published_on"] for r in table["items"])
    officer, approver = _personal(api, "fm.officer"), _personal(api, "fm.approver")
    through = table["checked_through"]
    import datetime as dt

    day = (dt.date.fromisoformat(through) + dt.timedelta(days=1)).isoformat()
    proposed = api.client.post("/api/v1/lpr/publications", json={"published_on": day, "rate_bp": 301},
                               headers={**officer, "Idempotency-Key": "lpr-1"})
    assert proposed.status_code == 202, proposed.text
    proposal = proposed.json()
    assert proposal["kind"] == "lpr_publication" and proposal["status"] == "open"
    assert day not in [r["published_on"] for r in api.get("/api/v1/lpr").json()["items"]]  # not before sign-off
    signed = api.client.post(f"/api/v1/proposals/{proposal['id']}/approve", headers={**approver, "Idempotency-Key": "lpr-2"})
    assert signed.status_code == 200, signed.text
    assert {"published_on": day, "rate_bp": 301} in api.get("/api/v1/lpr").json()["items"]
    # A publication on or before checked_through is refused when proposed.
    early = api.client.post("/api/v1/lpr/publications", json={"published_on": through, "rate_bp": 301},
                            headers={**officer, "Idempotency-Key": "lpr-3"})
    assert early.status_code in (409, 422) and problem_of(early)["code"] == "lpr_before_checked_through", early.text
    moved = api.client.post("/api/v1/lpr/checked-through", json={"through": day}, headers={**officer, "Idempotency-Key": "lpr-4"})
    assert moved.status_code == 202 and moved.json()["kind"] == "lpr_checked_through", moved.text


def test_policies_and_institutions(api):
    policies = {p["id"]: p for p in api.get("/api/v1/policies", who="INS1").json()["items"]}
    assert {"gz-2020", "gz-2023"} <= set(policies) and policies["gz-2023"]["active"] is True
    one = api.get("/api/v1/policies/gz-2023", who="BANK2")
    assert one.status_code == 200 and one.json()["document"] and one.json()["content_hash"] == policies["gz-2023"]["content_hash"]
    assert one.json()["loaded_at"].endswith(("Z", "+00:00"))
    missing = api.get("/api/v1/policies/no-such-policy")
    assert missing.status_code == 404 and problem_of(missing)["code"] == "unknown_policy"
    institutions = api.get("/api/v1/institutions", who="APR1").json()["items"]
    assert {"BANK1", "BANK2", "FM", "INS1", "APR1"} <= {i["code"] for i in institutions}
    assert all(i["name"] and i["kind"] for i in institutions)
    banks = api.get("/api/v1/institutions", params={"kind": "bank"}).json()["items"]
    assert banks and {i["kind"] for i in banks} == {"bank"}
