"""Authentication and roles: every endpoint of the app (taken from its routes, so an endpoint without
a row here fails) called with no key, a malformed, an unknown and a revoked key, each role's key and
another bank's key, with the status each must get. Also the keys themselves (CLI create / list /
revoke, hash-only storage) and the OpenAPI document of roles and errors."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from api.app import api_routes, create_app, routes_with_roles
from fund.adapters.db import unit_of_work
from fund.adapters.models.api import ApiKey
from fund.cli.main import app as cli
from tests.test_api_support import Endpoint, api, loan_body, new_key, problem_of  # noqa: F401  (fixture)

BANK, INSURER, APPRAISER, FM, AUDITOR = "bank", "insurer_or_guarantor", "appraiser", "fund_manager", "auditor"
EVERYONE = frozenset({BANK, INSURER, APPRAISER, FM, AUDITOR})
READ = frozenset({BANK, FM, AUDITOR})


# the report service exists: an import failure is a failure, not an expected 503
from fund.services.reports import portfolio_report as REPORT  # noqa: E402


def _repayment(loan):
    due = loan["schedule"][0]
    return {"due_date": due["due_date"], "paid_on": due["due_date"], "principal_fen": 0, "interest_fen": 1}


MATRIX: dict[tuple[str, str], Endpoint] = {
    ("GET", "/api/v1/me"): Endpoint(EVERYONE, lambda api, loan: ("GET", "/api/v1/me", {}), 200),
    ("GET", "/api/v1/loans"): Endpoint(READ, lambda api, loan: ("GET", "/api/v1/loans", {"params": {"limit": 5}}), 200),
    ("GET", "/api/v1/loans/{loan_id}"): Endpoint(
        READ, lambda api, loan: ("GET", f"/api/v1/loans/{loan['id']}", {}), 200, other_bank=404, needs_loan=True),
    ("GET", "/api/v1/loans/{loan_id}/coverage"): Endpoint(
        READ, lambda api, loan: ("GET", f"/api/v1/loans/{loan['id']}/coverage", {}), 200, other_bank=404, needs_loan=True),
    ("POST", "/api/v1/loans"): Endpoint(
        frozenset({BANK}), lambda api, loan: ("POST", "/api/v1/loans", {"json": loan_body()}), 201),
    ("POST", "/api/v1/loans/batch"): Endpoint(
        frozenset({BANK}), lambda api, loan: ("POST", "/api/v1/loans/batch", {"json": {"items": [loan_body(), loan_body()]}}), 201),
    ("POST", "/api/v1/loans/{loan_id}/repayments"): Endpoint(
        frozenset({BANK}), lambda api, loan: ("POST", f"/api/v1/loans/{loan['id']}/repayments", {"json": _repayment(loan)}),
        201, other_bank=404, needs_loan=True),
    ("POST", "/api/v1/loans/{loan_id}/cancel"): Endpoint(
        frozenset({BANK}), lambda api, loan: ("POST", f"/api/v1/loans/{loan['id']}/cancel", {}), 200, other_bank=404,
        needs_loan=True),
    # Another bank's loan named in a batch item is refused as if it did not exist (422, item loan_not_found).
    ("POST", "/api/v1/repayments/batch"): Endpoint(
        frozenset({BANK}),
        lambda api, loan: ("POST", "/api/v1/repayments/batch", {"json": {"items": [{"loan_id": loan["id"], **_repayment(loan)}]}}),
        201, other_bank=422, needs_loan=True),
    ("GET", "/api/v1/reports/portfolio"): Endpoint(
        frozenset({FM, AUDITOR}), lambda api, loan: ("GET", "/api/v1/reports/portfolio", {}), 200),
}

# Callers: who -> (header value or institution code, the role, expected 401 code or None).
KEYLESS = {
    "no key": (None, "missing_credentials"),
    "not a bearer": ("Basic dXNlcjpwYXNz", "missing_credentials"),
    "malformed key": ("Bearer not-a-key", "invalid_api_key"),
    "unknown key": ("Bearer ipf_abcdefgh_" + "A" * 43, "invalid_api_key"),
    "revoked key": ("revoked", "api_key_revoked"),
}
ROLE_CALLERS = {"BANK1": BANK, "BANK2": BANK, "INS1": INSURER, "GUA1": INSURER, "APR1": APPRAISER, "FM": FM, "AUD": AUDITOR}


def full_matrix() -> dict[tuple[str, str], Endpoint]:
    """This module's rows and those other areas declare in ``tests/test_<area>_api*.py`` (``API_MATRIX``)."""
    table = dict(MATRIX)
    for path in sorted(Path(__file__).parent.glob("test_*api*.py")):
        if path.stem in ("test_api_auth", "test_api_support"):
            continue
        table.update(getattr(importlib.import_module(f"tests.{path.stem}"), "API_MATRIX", {}))
    return table


def _ok_problem(response, status: int, code: str) -> str | None:
    if response.status_code != status:
        return f"got {response.status_code}, expected {status}: {response.text[:200]}"
    if problem_of(response)["code"] != code:
        return f"code {problem_of(response)['code']}, expected {code}"
    return None


def test_every_endpoint_has_a_matrix_row():
    from fund.adapters.db import make_session_factory  # noqa: F401  (no database needed to list routes)

    routes = api_routes()
    assert len(routes) >= len(MATRIX)
    missing = [(m, p) for m, p, _ in routes if (m, p) not in full_matrix()]
    assert not missing, f"endpoints without a row in the authorisation matrix (add API_MATRIX rows): {missing}"


def test_authorisation_matrix(api):
    table = full_matrix()
    routes = [r for r in routes_with_roles(api.client.app) if (r[0], r[1]) in table]
    assert len(routes) >= len(MATRIX)
    failures = []
    for method, path, code_roles in routes:
        row = table[(method, path)]
        assert set(map(str, code_roles)) == set(row.roles), f"{method} {path}: the code allows {code_roles}, the matrix {row.roles}"

        def call(header: str | None, row=row):
            loan = api.register() if row.needs_loan else None
            verb, url, kwargs = row.request(api, loan)
            headers = {"Idempotency-Key": new_key()} if verb == "POST" else {}
            if header is not None:
                headers["Authorization"] = header
            return api.client.request(verb, url, headers=headers, **kwargs)

        for caller, (header, code) in KEYLESS.items():
            header = f"Bearer {api.revoked}" if header == "revoked" else header
            response = call(header)
            if failure := _ok_problem(response, 401, code):
                failures.append(f"{method} {path} with {caller}: {failure}")
            elif "bearer" not in response.headers.get("www-authenticate", "").lower():
                failures.append(f"{method} {path} with {caller}: no WWW-Authenticate header")
        for caller, role in ROLE_CALLERS.items():
            response = call(f"Bearer {api.keys[caller]}")
            if role not in row.roles:
                failure = _ok_problem(response, 403, "role_not_allowed")
            else:
                expected = row.other_bank if caller == "BANK2" and row.other_bank is not None else row.ok
                failure = None if response.status_code == expected else (
                    f"got {response.status_code}, expected {expected}: {response.text[:200]}")
                if expected == 404 and not failure:
                    failure = _ok_problem(response, 404, "loan_not_found")
            if failure:
                failures.append(f"{method} {path} as {caller}: {failure}")
    assert not failures, "\n".join(failures)


def test_auth_comes_before_validation(api):
    """A bad body without a key is 401, with a key of the wrong role 403: nothing is disclosed about it."""
    no_key = api.client.post("/api/v1/loans", json={"nonsense": 1})
    assert no_key.status_code == 401
    wrong_role = api.client.post("/api/v1/loans", json={"nonsense": 1}, headers=api.headers("FM", new_key()))
    assert wrong_role.status_code == 403 and problem_of(wrong_role)["code"] == "role_not_allowed"


def test_keys_cli_create_list_revoke(api, engine):
    runner = CliRunner()
    created = runner.invoke(cli, ["keys", "create", "--institution", "BANK2", "--label", "core banking"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[0]
    assert key.startswith("ipf_") and len(key) == 56
    me = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200 and me.json()["institution_code"] == "BANK2"
    prefix = me.json()["key_prefix"]
    secret = key[len(prefix) + 1:]
    assert key == f"{prefix}_{secret}" and len(secret) == 43

    with unit_of_work(api.session_factory) as session:  # only the hash is stored, nowhere the key
        row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
        stored = " ".join(str(getattr(row, c.key)) for c in ApiKey.__table__.columns)
        assert secret not in stored

    listed = runner.invoke(cli, ["keys", "list", "--institution", "BANK2"])
    assert listed.exit_code == 0 and prefix in listed.stdout and key not in listed.stdout
    assert secret not in listed.stdout

    revoked = runner.invoke(cli, ["keys", "revoke", prefix])
    assert revoked.exit_code == 0, revoked.output
    after = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert after.status_code == 401 and problem_of(after)["code"] == "api_key_revoked"
    assert "revoked" in runner.invoke(cli, ["keys", "list", "--institution", "BANK2"]).stdout
    # The institution's other key still works.
    assert api.get("/api/v1/me", who="BANK2").status_code == 200

    unknown = runner.invoke(cli, ["keys", "create", "--institution", "NOBODY"])
    assert unknown.exit_code == 1 and "unknown_institution" in unknown.output


def test_openapi_documents_roles_errors_and_limits(api):
    assert api.client.get("/schema").status_code == 200
    document = api.client.get("/schema/openapi.json").json()
    routes = routes_with_roles(api.client.app)
    operations = {(m, p): document["paths"][p][m.lower()] for m, p, _ in routes}
    assert len(operations) == len(routes)
    for (method, path), operation in operations.items():
        roles = [str(r) for r in dict(((m, p), r) for m, p, r in routes)[(method, path)]]
        assert operation["x-roles"] == roles and "**Roles:**" in operation["description"], (method, path)
        assert operation["security"] == [{"BearerAuth": []}]
        for status in ("401", "403", "422"):
            content = operation["responses"][status]["content"]
            assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}, (method, path, status)
        if method == "POST":
            assert {"409", "413"} <= set(operation["responses"]) or path.endswith("/cancel"), (method, path)
            header = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
            assert header and header[0]["required"] is True and header[0]["in"] == "header", (method, path)
    # Every request field is bounded: strings by length, integers by range, lists by length.
    schemas = document["components"]["schemas"]
    unbounded = []

    def walk(name: str, schema: dict, where: str) -> None:
        kinds = [schema] + schema.get("anyOf", []) + schema.get("oneOf", [])
        for s in kinds:
            if "$ref" in s:
                continue
            if s.get("type") == "string" and "enum" not in s and "const" not in s and s.get("format") != "date":
                if "maxLength" not in s:
                    unbounded.append(f"{where}: string without maxLength")
            if s.get("type") == "integer" and ("minimum" not in s or "maximum" not in s):
                unbounded.append(f"{where}: integer without minimum and maximum")
            if s.get("type") == "array":
                if "maxItems" not in s:
                    unbounded.append(f"{where}: array without maxItems")
                walk(name, s.get("items", {}), f"{where}[]")
            for prop, sub in s.get("properties", {}).items():
                walk(name, sub, f"{where}.{prop}")

    request_models = {
        ref.split("/")[-1]
        for operation in operations.values()
        for content in operation.get("requestBody", {}).get("content", {}).values()
        for ref in [content["schema"].get("$ref", "")]
        if ref
    }
    seen: set[str] = set()
    queue = list(request_models)
    while queue:
        name = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        walk(name, schemas[name], name)
        queue.extend(ref.split("/")[-1] for ref in _refs(schemas[name]))
    assert {"LoanIn", "LoanBatchIn", "RepaymentIn", "RepaymentBatchIn"} <= seen
    assert not unbounded, unbounded
    assert schemas["LoanBatchIn"]["properties"]["items"]["maxItems"] == 1000
    for operation in operations.values():
        for parameter in operation.get("parameters", []):
            s = parameter["schema"]
            options = s.get("oneOf", [s])
            for option in options:
                bounds = {**s, **option}  # Litestar may put the bounds beside the oneOf
                if option.get("type") == "integer":
                    assert "minimum" in bounds and "maximum" in bounds, parameter
                if option.get("type") == "string" and option.get("format") != "date" and "enum" not in bounds:
                    assert "maxLength" in bounds, parameter


def _refs(schema) -> list[str]:
    if isinstance(schema, dict):
        return [schema["$ref"]] if "$ref" in schema else [r for v in schema.values() for r in _refs(v)]
    if isinstance(schema, list):
        return [r for v in schema for r in _refs(v)]
    return []


def test_create_app_refuses_an_unmigrated_database(tmp_path, monkeypatch):
    from fund.errors import DatabaseNotReady
    from fund.settings import reset_settings_cache

    monkeypatch.setenv("IPFUND_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    reset_settings_cache()
    try:
        create_app()
    except DatabaseNotReady as exc:
        assert exc.code == "database_not_migrated"
    else:
        raise AssertionError("create_app accepted a database that is not at head")
