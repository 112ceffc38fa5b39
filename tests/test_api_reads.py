"""Conditional reads of loans and claims, on both backends: an ``ETag`` on every JSON read, ``304``
for an ``If-None-Match`` naming it while nothing changed, a new tag once the loan or claim changes."""

from __future__ import annotations

import pytest

from tests.test_api_support import api, problem_of  # noqa: F401  (fixture)

pytestmark = pytest.mark.db


def _conditional(api, url: str, tag: str):
    return api.client.get(url, headers={**api.headers("BANK1"), "If-None-Match": tag})


def test_a_loan_read_is_conditional(api):
    loan = api.register()
    url = f"/api/v1/loans/{loan['id']}"
    first = api.get(url)
    tag = first.headers["etag"]
    assert first.status_code == 200 and tag.startswith('"') and tag.endswith('"')
    assert api.get(url).headers["etag"] == tag  # the same answer, the same tag
    unchanged = _conditional(api, url, tag)
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged.headers["etag"] == tag
    assert _conditional(api, url, f'W/{tag}, "other"').status_code == 304
    assert _conditional(api, url, '"something else"').status_code == 200
    repaid = api.post(f"{url}/repayments", {"due_date": loan["schedule"][0]["due_date"], "paid_on": "2026-02-15",
                                            "principal_fen": 0, "interest_fen": 1})
    assert repaid.status_code == 201, repaid.text
    changed = _conditional(api, url, tag)
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    # Lists and the coverage decision too; another bank's loan is 404 whatever it sends.
    page = api.get("/api/v1/loans")
    assert _conditional(api, "/api/v1/loans", page.headers["etag"]).status_code == 304
    other = api.client.get(url, headers={**api.headers("BANK2"), "If-None-Match": "*"})
    assert other.status_code == 404 and problem_of(other)["code"] == "loan_not_found"


def test_a_claim_read_is_conditional(api):
    from tests.test_claims_api import _claim

    loan = api.register()
    url = f"/api/v1/loans/{loan['id']}/claims/{_claim(api, loan)}"
    first = api.get(url)
    assert first.status_code == 200, first.text
    tag = first.headers["etag"]
    assert _conditional(api, url, tag).status_code == 304
    withdrawn = api.post(f"{url}/withdraw")
    assert withdrawn.status_code == 200, withdrawn.text
    assert _conditional(api, url, tag).status_code == 200


def test_the_openapi_document_says_so(api):
    document = api.client.get("/schema/openapi.json").json()
    read = document["paths"]["/api/v1/loans/{loan_id}"]["get"]
    assert "304" in read["responses"] and "ETag" in read["responses"]["200"]["headers"]
    assert any(p["name"] == "If-None-Match" and p["in"] == "header" for p in read["parameters"])


def test_loans_updated_since(api):
    import datetime as dt
    import time

    first, second = api.register(), api.register()
    time.sleep(1.1)  # stored times have whole seconds on SQLite
    since = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    time.sleep(1.1)
    assert api.get("/api/v1/loans", params={"updated_since": since.isoformat()}).json()["items"] == []
    repaid = api.post(f"/api/v1/loans/{second['id']}/repayments", {
        "due_date": second["schedule"][0]["due_date"], "paid_on": "2026-02-15", "principal_fen": 0, "interest_fen": 1})
    assert repaid.status_code == 201, repaid.text
    third = api.register()
    changed = api.get("/api/v1/loans", params={"updated_since": since.isoformat().replace("+00:00", "Z")})
    assert changed.status_code == 200, changed.text
    assert [loan["id"] for loan in changed.json()["items"]] == [second["id"], third["id"]]
    in_china = since.astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat()  # the same moment, another offset
    assert [loan["id"] for loan in api.get("/api/v1/loans", params={"updated_since": in_china}).json()["items"]] == [
        second["id"], third["id"]]
    assert first["id"] not in [loan["id"] for loan in changed.json()["items"]]


def test_claims_updated_since(api):
    import datetime as dt
    import time

    from tests.test_claims_api import _claim

    old, fresh = api.register(), api.register()
    old_claim = _claim(api, old)
    time.sleep(1.1)  # stored times have whole seconds on SQLite
    since = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    time.sleep(1.1)
    fresh_claim = _claim(api, fresh)
    listed = api.get("/api/v1/claims", params={"updated_since": since.isoformat()})
    assert listed.status_code == 200, listed.text
    assert [c["id"] for c in listed.json()["items"]] == [fresh_claim]
    withdrawn = api.post(f"/api/v1/loans/{old['id']}/claims/{old_claim}/withdraw")
    assert withdrawn.status_code == 200, withdrawn.text
    assert [c["id"] for c in api.get("/api/v1/claims", params={"updated_since": since.isoformat()}).json()["items"]] == [
        old_claim, fresh_claim]
