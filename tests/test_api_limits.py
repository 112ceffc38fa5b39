"""Every limit of the API, on SQLite and PostgreSQL: body size (413), batch length, page size, string
lengths, amounts and ranges, strict types, unknown fields, bad JSON (422 or 400, never 500), and a
batch with one bad item writing nothing."""

from __future__ import annotations

import copy

from sqlalchemy import func, select

from fund.adapters.db import unit_of_work
from fund.adapters.models.registry import Enterprise, Installment, IpAsset, Repayment
from tests.test_api_support import api, loan_body, make_api, new_key, problem_of  # noqa: F401  (fixture)


def _errors(response) -> list[tuple[str, str]]:
    problem = problem_of(response)
    return [(e["field"], e["code"]) for e in problem["errors"]]


def test_body_larger_than_the_limit_is_413(session_factory):
    limit = 64 * 1024
    api = make_api(session_factory, max_body_bytes=limit)
    with api.client:
        body = loan_body(contract_no="C-big")
        padding = limit - len(str(body))
        big = {"items": [loan_body() for _ in range(padding // 1200 + 2)]}
        answer = api.post("/api/v1/loans/batch", big)
        assert answer.status_code == 413 and problem_of(answer)["code"] == "body_too_large"
        assert api.loan_count() == 0
        assert api.post("/api/v1/loans", body).status_code == 201
    default = make_api(session_factory).client.app
    assert "8388608 bytes" in default.openapi_schema.info.description


def test_batch_length(api):
    too_many = api.post("/api/v1/loans/batch", {"items": [loan_body() for _ in range(1001)]})
    assert too_many.status_code == 422 and ("items", "too_long") in _errors(too_many)
    empty = api.post("/api/v1/loans/batch", {"items": []})
    assert empty.status_code == 422 and ("items", "too_short") in _errors(empty)
    repayments = api.post("/api/v1/repayments/batch", {"items": [
        {"loan_id": 1, "due_date": "2026-02-15", "paid_on": "2026-02-15", "principal_fen": 0, "interest_fen": 1}
    ] * 1001})
    assert repayments.status_code == 422 and ("items", "too_long") in _errors(repayments)
    assert api.loan_count() == 0


def test_a_full_batch_of_1000_is_accepted(api):
    answer = api.post("/api/v1/loans/batch", {"items": [loan_body() for _ in range(1000)]})
    assert answer.status_code == 201, answer.text[:500]
    assert len({i["id"] for i in answer.json()["items"]}) == 1000 and api.loan_count() == 1000


def test_batch_with_one_bad_item_writes_nothing(api):
    def counts():
        with unit_of_work(api.session_factory) as session:
            return tuple(session.scalar(select(func.count()).select_from(t)) for t in (Enterprise, IpAsset, Installment))

    before = (api.loan_count(), counts())
    items = [loan_body() for _ in range(5)]
    items[2]["borrower"]["credit_code"] = "91110000600037341M"  # check character wrong (rule I1)
    items[4]["contract_no"] = items[0]["contract_no"]  # duplicate within the batch
    answer = api.post("/api/v1/loans/batch", {"items": items})
    problem = problem_of(answer)
    assert answer.status_code == 422 and problem["code"] == "batch_refused"
    assert [(e["index"], e["code"], e["field"]) for e in problem["errors"]] == [
        (2, "invalid_uscc", "items[2].borrower.credit_code"),
        (4, "duplicate_contract", "items[4].contract_no"),
    ]
    assert (api.loan_count(), counts()) == before

    # A schema fault in one item: 422 naming the item, nothing written.
    items = [loan_body() for _ in range(3)]
    items[1]["principal_fen"] = -5
    answer = api.post("/api/v1/loans/batch", {"items": items})
    assert answer.status_code == 422 and problem_of(answer)["code"] == "validation_error"
    assert [(e["index"], e["field"], e["code"]) for e in problem_of(answer)["errors"]] == [
        (1, "items[1].principal_fen", "greater_than_equal")
    ]
    assert (api.loan_count(), counts()) == before

    # Every item a duplicate: 409.
    loan = api.register()
    dup = api.post("/api/v1/loans/batch", {"items": [loan_body(contract_no=loan["contract_no"])]})
    assert dup.status_code == 409 and problem_of(dup)["errors"][0]["code"] == "duplicate_contract"


def test_repayment_batch_with_one_bad_item_writes_nothing(api):
    loan = api.register()
    due = loan["schedule"]
    items = [
        {"loan_id": loan["id"], "due_date": due[0]["due_date"], "paid_on": due[0]["due_date"], "principal_fen": 0,
         "interest_fen": due[0]["interest_due_fen"]},
        {"loan_id": loan["id"], "due_date": due[1]["due_date"], "paid_on": due[1]["due_date"], "principal_fen": 0,
         "interest_fen": due[1]["interest_due_fen"]},
        # Pays installment 0 again, beyond what remains due once item 0 is recorded.
        {"loan_id": loan["id"], "due_date": due[0]["due_date"], "paid_on": due[0]["due_date"], "principal_fen": 0,
         "interest_fen": 1},
    ]
    answer = api.post("/api/v1/repayments/batch", {"items": items})
    assert answer.status_code == 422
    assert [(e["index"], e["code"]) for e in problem_of(answer)["errors"]] == [(2, "repayment_exceeds_due")]
    with unit_of_work(api.session_factory) as session:
        assert session.scalar(select(func.count()).select_from(Repayment)) == 0
    assert all(i["interest_paid_fen"] == 0 for i in api.get(f"/api/v1/loans/{loan['id']}").json()["schedule"])
    assert api.post("/api/v1/repayments/batch", {"items": items[:2]}).status_code == 201


def test_page_size_and_cursor(api):
    for params in ({"limit": 0}, {"limit": 501}, {"after_id": -1}, {"after_id": 2**31}, {"limit": "ten"},
                   {"status": "lost"}, {"coverage": "maybe"}, {"drawdown_from": "31/10/2026"}, {"bank": "x" * 33}):
        answer = api.get("/api/v1/loans", params=params)
        assert answer.status_code == 422, (params, answer.text)
        problem = problem_of(answer)
        assert problem["code"] == "validation_error" and problem["field"] == next(iter(params)), (params, problem)
    assert api.get("/api/v1/loans", params={"limit": 500}).status_code == 200
    misspelt = api.get("/api/v1/loans", params={"stauts": "active"})
    assert misspelt.status_code == 422 and (problem_of(misspelt)["code"], problem_of(misspelt)["field"]) == ("unknown_parameter", "stauts")
    assert problem_of(api.get("/api/v1/me", params={"x": "1"}))["code"] == "unknown_parameter"
    reversed_range = api.get("/api/v1/loans", params={"drawdown_from": "2026-05-01", "drawdown_to": "2026-04-01"})
    assert reversed_range.status_code == 422 and problem_of(reversed_range)["code"] == "invalid_range"
    for loan_id in (0, 2**31):
        answer = api.get(f"/api/v1/loans/{loan_id}")
        assert answer.status_code == 422 and problem_of(answer)["field"] == "loan_id"
    assert problem_of(api.get("/api/v1/loans/abc"))["code"] == "not_found"
    assert problem_of(api.get("/api/v1/loans/999999"))["code"] == "loan_not_found"


def test_field_limits_and_strict_types(api):
    cases = [
        # (change to the body, expected (field, code) among the errors)
        (("contract_no",), "x" * 65, ("contract_no", "string_too_long")),
        (("contract_no",), "", ("contract_no", "string_too_short")),
        (("contract_no",), "C-\x00-1", ("contract_no", "string_pattern_mismatch")),
        (("borrower", "name"), "n" * 201, ("borrower.name", "string_too_long")),
        (("borrower", "credit_code"), "9" * 33, ("borrower.credit_code", "string_too_long")),
        (("assets", 0, "title"), "t" * 301, ("assets[0].title", "string_too_long")),
        (("principal_fen",), 10**12 + 1, ("principal_fen", "less_than_equal")),
        (("principal_fen",), 0, ("principal_fen", "greater_than_equal")),
        (("principal_fen",), 10**30, ("principal_fen", "less_than_equal")),
        (("principal_fen",), "1000", ("principal_fen", "int_type")),
        (("principal_fen",), 1000.0, ("principal_fen", "int_type")),
        (("principal_fen",), True, ("principal_fen", "int_type")),
        (("ip_share_bp",), 10_001, ("ip_share_bp", "less_than_equal")),
        (("contract_rate_bp",), 0, ("contract_rate_bp", "greater_than_equal")),
        (("pd_bp",), 10_001, ("pd_bp", "less_than_equal")),
        (("schedule", 0, "interest_due_fen"), -1, ("schedule[0].interest_due_fen", "greater_than_equal")),
        (("borrower", "is_sme"), "yes", ("borrower.is_sme", "bool_type")),
        (("borrower", "is_sme"), 1, ("borrower.is_sme", "bool_type")),
        (("borrower", "sector"), "banking", ("borrower.sector", "literal_error")),
        (("assets", 0, "kind"), "copyright", ("assets[0].kind", "literal_error")),
        (("drawdown_date",), "2026/01/15", ("drawdown_date", "value_error")),
        (("drawdown_date",), "2026-02-30", ("drawdown_date", "value_error")),
        (("drawdown_date",), 20260115, ("drawdown_date", "value_error")),
        (("drawdown_date",), "2026-01-15T00:00:00", ("drawdown_date", "value_error")),
        (("assets",), [], ("assets", "too_short")),
        (("schedule",), [], ("schedule", "too_short")),
        (("unexpected",), 1, ("unexpected", "extra_forbidden")),
        (("borrower", "unexpected"), 1, ("borrower.unexpected", "extra_forbidden")),
        (("borrower",), "Enterprise", ("borrower", "model_type")),
    ]
    for path, value, expected in cases:
        body = loan_body()
        target = body
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        answer = api.post("/api/v1/loans", body)
        assert answer.status_code == 422, (path, value, answer.text)
        assert expected in _errors(answer), (path, value, _errors(answer))
        assert problem_of(answer)["field"] is not None
    body = loan_body()
    body["assets"] = [copy.deepcopy(body["assets"][0]) for _ in range(51)]
    assert ("assets", "too_long") in _errors(api.post("/api/v1/loans", body))
    body = loan_body()
    body["schedule"] = body["schedule"] * 51  # 612 installments
    assert ("schedule", "too_long") in _errors(api.post("/api/v1/loans", body))
    missing = loan_body()
    del missing["borrower"]
    assert ("borrower", "missing") in _errors(api.post("/api/v1/loans", missing))
    assert api.loan_count() == 0


def test_bad_requests_are_problems_never_500(api):
    headers = {**api.headers("BANK1", new_key()), "Content-Type": "application/json"}
    for raw in (b"{not json", b"", b"[1, 2]", b'"a string"', b"null", b'{"items": "x"}', '{"a": "\\ud800"}'.encode()):
        answer = api.client.post("/api/v1/loans", content=raw, headers={**headers, "Idempotency-Key": new_key()})
        assert answer.status_code in (400, 422), (raw, answer.status_code, answer.text)
        assert problem_of(answer)["code"] in ("malformed_json", "validation_error"), raw
    assert problem_of(api.client.post("/api/v1/loans", content=b"{x", headers=headers))["code"] == "malformed_json"
    not_allowed = api.client.delete("/api/v1/loans", headers=api.headers("BANK1"))
    assert not_allowed.status_code == 405 and problem_of(not_allowed)["code"] == "method_not_allowed"
    unknown = api.client.get("/api/v2/loans", headers=api.headers("BANK1"))
    assert unknown.status_code == 404 and problem_of(unknown)["code"] == "not_found"
    assert api.loan_count() == 0
