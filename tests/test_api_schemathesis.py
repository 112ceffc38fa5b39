"""Schemathesis over the whole OpenAPI document, against the ASGI app, with valid keys of a role each
operation allows: 100 examples per operation (50 valid for the schema, 50 invalid), no server error,
every status, content type, header and body as documented, invalid data always rejected; the whole
document on SQLite, the stateful test on SQLite and PostgreSQL (about 2.5 minutes of CPU in all).

Positive data that the schema accepts may still break a rule no JSON schema can say (a check digit,
a schedule adding up to the principal, a date after the business date): its 422 is expected, so
``positive_data_acceptance`` is not among the checks of random data. Registrations that pass every
rule are drawn for half of the ``POST /loans`` and ``/loans/batch`` cases (at least 30% answer 201),
and a stateful test follows the OpenAPI links: register, repay, file a claim.

Hypothesis health checks are on, except ``too_slow`` (schemathesis draws bodies of up to 1000 loans
with every field bounded; on a shared 2-core machine that takes longer than the check allows, and it
says nothing about the API) and ``filter_too_much`` (schemathesis rejects drawn values that do not
serialise to the schema, e.g. text a header cannot carry; the ratio depends on the schema, not on the
test)."""

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

EXAMPLES_PER_MODE = 50  # positive and negative: 100 examples per operation
HEALTH_CHECKS_OFF = [HealthCheck.too_slow, HealthCheck.filter_too_much]  # see the module docstring
VALID_BODY_PATHS = {"/api/v1/loans": "one", "/api/v1/loans/batch": "batch"}
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
    mixes_valid_bodies = method == "POST" and path in VALID_BODY_PATHS and mode == GenerationMode.POSITIVE
    valid_bodies = _valid_bodies(VALID_BODY_PATHS.get(path, "one")) if mixes_valid_bodies else st.none()

    @given(case=operation.as_strategy(generation_mode=mode), valid=valid_bodies)
    @settings(max_examples=EXAMPLES_PER_MODE, deadline=None, suppress_health_check=HEALTH_CHECKS_OFF,
              derandomize=True, database=None)
    def run(case, valid):
        if valid is not None:
            case.body = valid
        # The key goes into the case itself, so that the checks judge the request as it is sent.
        case.headers = {**(case.headers or {}), **headers, "Idempotency-Key": uuid.uuid4().hex} if method == "POST" \
            else {**(case.headers or {}), **headers}
        calls.append((case.call_and_validate(checks=CHECKS).status_code, valid is not None))

    run()
    has_inputs = bool(operation.definition.raw.get("parameters") or operation.definition.raw.get("requestBody"))
    if has_inputs:
        assert len(calls) >= EXAMPLES_PER_MODE, (len(calls), sorted(set(calls)))
    assert calls
    if mixes_valid_bodies:
        created = sum(1 for status, _ in calls if status == 201)
        assert created >= 0.3 * len(calls), (created, len(calls), sorted(set(calls)))
        assert {status for status, valid in calls if valid} == {201}, sorted(set(calls))


def _valid_bodies(kind: str):
    """Half of the cases get a registration that passes every rule (None: keep the generated body)."""
    body = valid_loans() if kind == "one" else st.lists(valid_loans(), min_size=1, max_size=3).map(lambda i: {"items": i})
    return st.one_of(body, st.none())  # the valid body first: Hypothesis favours the first branch


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
    @settings(max_examples=EXAMPLES_PER_MODE, deadline=None, suppress_health_check=HEALTH_CHECKS_OFF,
              derandomize=True, database=None)
    def run(case, body):
        case.body = body
        case.headers = {**(case.headers or {}), "Idempotency-Key": uuid.uuid4().hex}
        statuses.append(case.call_and_validate(headers={"Authorization": f"Bearer {keys['BANK1']}"}, checks=CHECKS).status_code)

    run()
    assert len(statuses) >= EXAMPLES_PER_MODE and set(statuses) == {201}, sorted(set(statuses))


# Stateful: the OpenAPI links register -> repay -> file a claim, with data that passes the rules, on
# both backends. Every loan has an installment due on STATEFUL_DUE and left unpaid in full, so that a
# claim on it is in time (90 days overdue by the business date).
STATEFUL_DRAWDOWN = dt.date(2026, 1, 15)
STATEFUL_DUE = dt.date(2026, 2, 15)


@st.composite
def stateful_loans(draw) -> dict:
    app = application(principal=draw(st.integers(1_000_000, 10**10)), drawdown=STATEFUL_DRAWDOWN,
                      months=draw(st.integers(2, 24)), borrower_n=draw(st.integers(1, 30)))
    return loan_body(app, contract_rate_bp=draw(st.integers(1, 2_000)))


def _stateful_bodies():
    repayment = st.fixed_dictionaries({
        "due_date": st.just(STATEFUL_DUE.isoformat()), "paid_on": st.just(STATEFUL_DUE.isoformat()),
        "principal_fen": st.just(0), "interest_fen": st.integers(1, 999_999),  # short of the 1,000,000 due
    })
    return {
        ("POST", "/api/v1/loans"): stateful_loans(),
        ("POST", "/api/v1/loans/{loan_id}/repayments"): repayment,
        ("POST", "/api/v1/loans/{loan_id}/claims"): st.fixed_dictionaries({"loss_fen": st.integers(1, 1_000_000)}),
    }


def test_stateful_register_repay_claim(session_factory):
    with unit_of_work(session_factory) as session:
        setup_reference(session)
        key = create_key(session, "BANK1").key
    app = create_app(session_factory)
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app).include(
        path_regex=r"^/api/v1/loans(/\{loan_id\}(/repayments|/claims|/cancel)?)?$", method_regex="^(GET|POST)$")
    bodies = _stateful_bodies()

    @schema.hook
    def flatmap_body(context, body):  # noqa: ANN001  (the rules' valid data for the linked operations)
        operation = context.operation
        strategy = bodies.get((operation.method.upper(), operation.path)) if operation is not None else None
        return strategy if strategy is not None else st.just(body)

    statuses: dict[str, list[int]] = {}

    class Stateful(schema.as_state_machine()):
        def get_call_kwargs(self, case):  # noqa: ANN001
            headers = {"Authorization": f"Bearer {key}"}
            if case.method.upper() == "POST":
                headers["Idempotency-Key"] = uuid.uuid4().hex
            return {"headers": headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):  # noqa: ANN001
            statuses.setdefault(f"{case.method.upper()} {case.operation.path}", []).append(response.status_code)
            # Bodies and headers are ours (flatmap_body, get_call_kwargs), whatever mode a step was drawn in:
            # the checks of what the API answers apply; whether the drawn data was invalid does not.
            case.validate_response(response, checks=[c for c in CHECKS if c is not schemathesis.checks.negative_data_rejection],
                                   transport_kwargs=kwargs or None)

    Stateful.run(settings=settings(max_examples=25, stateful_step_count=5, deadline=None, derandomize=True,
                                   database=None, suppress_health_check=HEALTH_CHECKS_OFF))
    assert 201 in statuses.get("POST /api/v1/loans", []), statuses
    assert 201 in statuses.get("POST /api/v1/loans/{loan_id}/repayments", []), statuses
    assert 201 in statuses.get("POST /api/v1/loans/{loan_id}/claims", []), statuses
