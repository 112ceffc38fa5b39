"""Schemathesis over the whole OpenAPI document, against the ASGI app on SQLite, with valid keys of a
role each operation allows: at least 50 examples per operation (valid and invalid data), no server
error, every status, content type, header and body as documented, invalid data always rejected.

Positive data that the schema accepts may still break a rule no JSON schema can say (a check digit,
a schedule adding up to the principal, a date after the business date): its 422 is expected, so
``positive_data_acceptance`` is not among the checks."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from api.app import api_routes, create_app, routes_with_roles
from fund.adapters.db import make_engine, make_session_factory, unit_of_work
from fund.services.keys import create_key
from fund.services.registry import register_loan
from tests.conftest import TEST_BUSINESS_DATE
from tests.factories import INSTITUTIONS, application, setup_reference
from tests.test_api_support import loan_body

EXAMPLES_PER_OPERATION = 50
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.negative_data_rejection,
]


@pytest.fixture(scope="module")
def served(sqlite_template, tmp_path_factory):
    """The app over a SQLite copy with the reference data, a few loans, and a key per institution."""
    path = tmp_path_factory.mktemp("schemathesis") / "api.sqlite3"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    session_factory = make_session_factory(engine)
    with unit_of_work(session_factory) as session:
        actors = setup_reference(session)
        keys = {code: create_key(session, code).key for code, _, _ in INSTITUTIONS}
        for n in range(5):
            register_loan(session, actors["BANK1"], application(borrower_n=900 + n), TEST_BUSINESS_DATE)
    yield create_app(session_factory), keys
    engine.dispose()


@pytest.fixture(scope="module")
def api_schema(served):
    app, _ = served
    return schemathesis.openapi.from_asgi("/schema/openapi.json", app)


# The operations, from the app's routes (no database needed to list them).
OPERATIONS = [(method, path) for method, path, _ in api_routes()]


def _key_for(roles: list[str], keys: dict[str, str]) -> str:
    if "bank" in roles:
        return keys["BANK1"]
    if "fund_manager" in roles:
        return keys["FM"]
    return keys[{"auditor": "AUD", "appraiser": "APR1", "insurer_or_guarantor": "INS1"}[roles[0]]]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_api_conforms_to_its_schema(api_schema, served, method, path, mode):
    _, keys = served
    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {_key_for(operation.definition.raw.get('x-roles', []), keys)}"}
    calls = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True, database=None)
    def run(case):
        calls.append(case.call_and_validate(headers=headers, checks=CHECKS).status_code)

    run()
    has_inputs = bool(operation.definition.raw.get("parameters") or operation.definition.raw.get("requestBody"))
    if has_inputs:
        assert len(calls) >= EXAMPLES_PER_OPERATION, (len(calls), sorted(set(calls)))
    assert calls


@st.composite
def valid_loans(draw) -> dict:
    """Registrations that pass every rule (which no JSON schema can say), to check the success answers."""
    drawdown = draw(st.dates(dt.date(2023, 7, 13), TEST_BUSINESS_DATE))
    principal = draw(st.integers(1, 10**12))
    app = application(
        principal=principal, ip_share_bp=draw(st.integers(1, 10_000)), drawdown=drawdown,
        months=draw(st.integers(1, 36)), borrower_n=draw(st.integers(1, 50)),
    )
    return loan_body(app, contract_rate_bp=draw(st.integers(1, 100_000)), pd_bp=draw(st.integers(0, 10_000)))


@pytest.mark.parametrize("path", ["/api/v1/loans", "/api/v1/loans/batch"])
def test_valid_registrations_answer_as_documented(api_schema, served, path):
    _, keys = served
    operation = api_schema[path]["POST"]
    body = valid_loans() if path.endswith("loans") else st.lists(valid_loans(), min_size=1, max_size=5).map(lambda i: {"items": i})
    statuses = []

    # The body is drawn below; a placeholder spares schemathesis generating one to be thrown away.
    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE, body={}), body=body)
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True, database=None)
    def run(case, body):
        case.body = body
        case.headers = {**(case.headers or {}), "Idempotency-Key": uuid.uuid4().hex}
        statuses.append(case.call_and_validate(headers={"Authorization": f"Bearer {keys['BANK1']}"}, checks=CHECKS).status_code)

    run()
    assert len(statuses) >= EXAMPLES_PER_OPERATION and set(statuses) == {201}, sorted(set(statuses))
