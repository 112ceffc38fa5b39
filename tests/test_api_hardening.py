"""What a probe of hostile input found (issue 14), each pinned by a test, on SQLite and PostgreSQL:
deeply nested JSON, dates before 1900, grant dates, bodies that are not JSON, timestamps without an
offset, incomplete ``OPTIONS`` answers, answers the OpenAPI document did not list, idempotency claims
of a dead process, and a bank learning another bank's borrower data."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time

import pytest

from api import idempotency as api_idempotency
from api.controllers import loans as loans_controller
from fund.adapters.db import unit_of_work
from fund.services.idempotency import Claim, claim_key, request_fingerprint
from tests.conftest import TEST_BUSINESS_DATE
from tests.test_api_support import api, loan_body, new_key, problem_of  # noqa: F401  (fixture)

pytestmark = pytest.mark.db
UTC = dt.timezone.utc


def _raw_post(api, path: str, content: bytes | str, content_type: str | None):
    headers = api.headers("BANK1", new_key())
    if content_type is not None:
        headers["Content-Type"] = content_type
    return api.client.post(path, content=content, headers=headers)


@pytest.mark.parametrize("path", ["/api/v1/loans", "/api/v1/loans/batch", "/api/v1/repayments/batch"])
def test_json_nested_1000_deep_is_400(api, path):
    for nested in ("[" * 1000 + "]" * 1000, '{"items": ' + "[" * 1000 + "]" * 1000 + "}", '{"a":' * 1000 + "1" + "}" * 1000):
        answer = _raw_post(api, path, nested, "application/json")
        assert answer.status_code == 400, answer.text
        assert problem_of(answer)["code"] == "malformed_json"
    assert api.loan_count() == 0


def test_dates_before_1900_are_422(api):
    for field, value in (("drawdown_date", "0001-01-01"), ("pledge_registered_on", "1899-12-31")):
        answer = api.post("/api/v1/loans", loan_body(**{field: value}))
        assert answer.status_code == 422, answer.text
        problem = problem_of(answer)
        assert (problem["code"], problem["field"]) == ("date_before_1900", field), problem
    borrower = loan_body()
    borrower["borrower"]["registered_on"] = "1000-01-01"
    answer = api.post("/api/v1/loans", borrower)
    assert answer.status_code == 422 and problem_of(answer)["field"] == "borrower.registered_on"
    # 1900-01-01 itself is a date like any other (no policy was in force then: ineligible).
    oldest = api.post("/api/v1/loans", loan_body(drawdown_date="1900-01-01"))
    assert oldest.status_code == 201 and oldest.json()["coverage"] == "ineligible", oldest.text
    loan = api.register()
    repay = api.post(f"/api/v1/loans/{loan['id']}/repayments",
                     {"due_date": loan["schedule"][0]["due_date"], "paid_on": "0001-01-01", "principal_fen": 0, "interest_fen": 1})
    assert repay.status_code == 422 and problem_of(repay)["field"] == "paid_on"
    assert api.loan_count() == 2


def test_a_date_before_1900_in_a_batch_is_a_refused_item(api):
    items = [loan_body() for _ in range(5)]
    items[3]["drawdown_date"] = "0001-01-01"
    items[1]["assets"][0]["filing_date"] = "1899-01-01"
    answer = api.post("/api/v1/loans/batch", {"items": items})
    assert answer.status_code == 422, answer.text
    problem = problem_of(answer)
    assert problem["code"] == "batch_refused"
    assert [(e["index"], e["field"], e["code"]) for e in problem["errors"]] == [
        (1, "items[1].assets[0].filing_date", "date_before_1900"),
        (3, "items[3].drawdown_date", "date_before_1900"),
    ]
    assert api.loan_count() == 0


def test_grant_dates_as_rules_section_0_says(api):
    after_today = loan_body()
    after_today["assets"][0]["grant_date"] = (TEST_BUSINESS_DATE + dt.timedelta(days=1)).isoformat()
    answer = api.post("/api/v1/loans", after_today)
    assert answer.status_code == 422 and problem_of(answer)["field"] == "assets[0].grant_date", answer.text
    before_filing = loan_body()
    filing = dt.date.fromisoformat(before_filing["assets"][0]["filing_date"])
    before_filing["assets"][0]["grant_date"] = (filing - dt.timedelta(days=1)).isoformat()
    answer = api.post("/api/v1/loans", before_filing)
    assert answer.status_code == 422 and problem_of(answer)["field"] == "assets[0].grant_date", answer.text
    on_filing = loan_body()
    on_filing["assets"][0]["grant_date"] = on_filing["assets"][0]["filing_date"]
    assert api.post("/api/v1/loans", on_filing).status_code == 201
    assert api.loan_count() == 1


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None,
                                          "multipart/form-data; boundary=x", "application/jsonx"])
def test_a_body_that_is_not_declared_json_is_415(api, content_type):
    answer = _raw_post(api, "/api/v1/loans", json.dumps(loan_body()), content_type)
    assert answer.status_code == 415, answer.text
    assert problem_of(answer)["code"] == "unsupported_media_type"
    assert api.loan_count() == 0
    for accepted in ("application/json", "application/json; charset=utf-8", "Application/JSON"):
        assert _raw_post(api, "/api/v1/loans", json.dumps(loan_body()), accepted).status_code == 201
    # A POST without a body needs no Content-Type.
    loan = api.register()
    assert api.post(f"/api/v1/loans/{loan['id']}/cancel").status_code == 200


def test_openapi_documents_415_wherever_there_is_a_body(api):
    document = api.client.get("/schema/openapi.json").json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "requestBody" in operation:
                assert "415" in operation["responses"], (method, path)
                assert list(operation["requestBody"]["content"]) == ["application/json"], (method, path)


def test_every_timestamp_carries_its_offset(api):
    from tests.test_claims_api import _claim

    loan = api.register()
    claim_id = _claim(api, loan)
    claim = api.get(f"/api/v1/loans/{loan['id']}/claims/{claim_id}")
    assert claim.status_code == 200, claim.text
    stamps = [e["at"] for e in claim.json()["events"]]
    assert stamps
    for stamp in stamps:
        parsed = dt.datetime.fromisoformat(stamp)
        assert parsed.utcoffset() is not None, stamp
    # Every timestamp of every answer model is of the one type that serialises with its offset.
    from schemas.common import OutModel

    assert not [f"{m.__name__}.{name}" for m, name, info in _answer_fields(OutModel) if _has_naive_datetime(info.annotation, info.metadata)]


def _answer_fields(base):
    stack = list(base.__subclasses__())
    while stack:
        model = stack.pop()
        stack.extend(model.__subclasses__())
        for name, info in model.model_fields.items():
            yield model, name, info


def _has_naive_datetime(annotation, metadata=()) -> bool:
    import typing

    if annotation is dt.datetime:
        return not any(getattr(m, "offset_aware", False) for m in metadata)
    if typing.get_origin(annotation) is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        return _has_naive_datetime(inner, [*metadata, *extra])
    return any(_has_naive_datetime(arg) for arg in typing.get_args(annotation))


def test_options_lists_every_method_of_a_shared_path(api):
    document = api.client.get("/schema/openapi.json").json()
    for path, item in document["paths"].items():
        methods = {m.upper() for m, op in item.items() if isinstance(op, dict) and "responses" in op}
        concrete = re.sub(r"\{[^}]+\}", "1", path)  # ids are integers; a string parameter takes "1" too
        answer = api.client.options(concrete)
        assert answer.status_code == 204, (path, answer.status_code)
        allowed = {m.strip() for m in answer.headers["allow"].split(",")}
        assert methods | {"OPTIONS"} <= allowed, (path, allowed, methods)
    loans = api.client.options("/api/v1/loans")
    assert {"GET", "POST", "OPTIONS"} <= {m.strip() for m in loans.headers["allow"].split(",")}


def test_openapi_documents_the_subsidy_rerun_and_the_xlsx_statement(api):
    document = api.client.get("/schema/openapi.json").json()
    # the POST proposes (202, rule G1); a month run already answers 200 with that run, a schema of its own
    run = document["paths"]["/api/v1/subsidy-runs"]["post"]["responses"]
    assert {"200", "202"} <= set(run) and "201" not in run
    proposal, existing = (run[s]["content"]["application/json"]["schema"] for s in ("202", "200"))
    assert proposal != existing and "SubsidyRun" in str(existing) and "Proposal" in str(proposal), (proposal, existing)
    statement = document["paths"]["/api/v1/subsidy-runs/{run_id}/statement"]["get"]["responses"]["200"]["content"]
    assert {"text/csv; charset=utf-8",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"} <= set(statement), statement


# Idempotency claims of a process that died.


def test_a_retry_after_a_crash_succeeds_within_10_seconds(api):
    body, key = loan_body(), new_key()
    fingerprint = request_fingerprint("POST", "/api/v1/loans", api_idempotency._canonical_body(loans_controller.LoanIn.model_validate(body)))
    crashed_at = dt.datetime.now(UTC) - dt.timedelta(seconds=10)
    with unit_of_work(api.session_factory) as session:  # claimed by a process that died 10 s ago
        assert isinstance(claim_key(session, api.actors["BANK1"].institution_id, key, fingerprint, now=crashed_at), Claim)
    retry = api.post("/api/v1/loans", body, key=key)
    assert retry.status_code == 201, retry.text
    assert api.loan_count() == 1
    # A claim just made (its process alive) still answers 409.
    fresh = new_key()
    with unit_of_work(api.session_factory) as session:
        claim_key(session, api.actors["BANK1"].institution_id, fresh, fingerprint, now=dt.datetime.now(UTC))
    assert problem_of(api.post("/api/v1/loans", body, key=fresh))["code"] == "idempotency_key_in_use"


def test_a_live_request_keeps_its_claim_past_the_stale_limit(api, monkeypatch):
    monkeypatch.setattr(api_idempotency, "HEARTBEAT_EVERY_SECONDS", 0.1)
    monkeypatch.setattr(api_idempotency, "STALE_AFTER", dt.timedelta(seconds=0.6))
    started, release = threading.Event(), threading.Event()
    real = loans_controller._register

    def slow(*args, **kwargs):
        started.set()
        assert release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(loans_controller, "_register", slow)
    body, key = loan_body(), new_key()
    answers = {}
    first = threading.Thread(target=lambda: answers.setdefault("first", api.post("/api/v1/loans", body, key=key)))
    first.start()
    try:
        assert started.wait(30)
        time.sleep(1.5)  # well past the stale limit: only the heartbeat keeps the claim
        running = api.post("/api/v1/loans", body, key=key)
        assert running.status_code == 409 and problem_of(running)["code"] == "idempotency_key_in_use"
    finally:
        release.set()
        first.join(30)
    assert answers["first"].status_code == 201
    assert api.loan_count() == 1


def test_a_bank_never_learns_another_banks_borrower_data(api):
    """RULES section 3: borrower data per loan, as its bank reported it; another bank's report shows
    nowhere in the answers (the data model change is the rev2 area's; this is the API's side)."""
    first = loan_body()
    first["borrower"].update(name="First Bank's Name Ltd", district="Tianhe", is_sme=True)
    loan1 = api.register("BANK1", first)
    second = loan_body()
    second["borrower"] = {**first["borrower"], "name": "Second Name Co", "district": "Panyu", "is_sme": False}
    answer = api.post("/api/v1/loans", second, who="BANK2")
    assert answer.status_code == 201, answer.text
    loan2 = answer.json()
    assert loan2["borrower_name"] == "Second Name Co"
    assert loan2["coverage"] == "ineligible"  # by its own report: not an SME
    for text in (answer.text, api.get(f"/api/v1/loans/{loan2['id']}", who="BANK2").text,
                 api.get(f"/api/v1/loans/{loan2['id']}/coverage", who="BANK2").text,
                 api.get("/api/v1/loans", who="BANK2").text):
        assert "First Bank" not in text and "Tianhe" not in text and "BANK1" not in text
    # The first bank's loan keeps the first report.
    again = api.get(f"/api/v1/loans/{loan1['id']}", who="BANK1").json()
    assert again["borrower_name"] == "First Bank's Name Ltd" and again["coverage"] == "eligible"


def test_a_date_query_parameter_before_1900_is_422(api):
    answer = api.get("/api/v1/loans", params={"drawdown_from": "0185-10-01"})
    assert answer.status_code == 422 and (problem_of(answer)["code"], problem_of(answer)["field"]) == ("date_before_1900", "drawdown_from")
    assert api.get("/api/v1/loans", params={"drawdown_from": "1900-01-01"}).status_code == 200
    repeated = api.get("/api/v1/loans?status=active&status=repaid")
    assert repeated.status_code == 422 and problem_of(repeated)["code"] == "repeated_parameter"
