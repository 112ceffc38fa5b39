"""Shared by the API tests: an app over the test database with one API key per test institution (and
a revoked one), request bodies from the factories' loan applications."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from fund.adapters.db import unit_of_work
from fund.adapters.models.registry import Loan
from fund.domain.registry import LoanApplication
from fund.services.keys import create_key, revoke_key
from fund.services.registry import Actor
from tests.factories import INSTITUTIONS, application, setup_reference

_borrowers = itertools.count(1000)


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def loan_body(app: LoanApplication | None = None, **overrides: Any) -> dict[str, Any]:
    """The JSON body of a loan registration (a fresh borrower each time unless ``app`` is given)."""
    app = app or application(borrower_n=next(_borrowers))
    body = jsonable(dataclasses.asdict(app))
    for asset in body["assets"]:
        if asset["valuation_inputs"] is None:
            del asset["valuation_inputs"]
    for name in ("pd_bp", "insurer_code", "insurer_limit_fen", "appraiser_code"):
        if body[name] is None:
            del body[name]
    body.update(overrides)
    return body


def new_key() -> str:
    return uuid.uuid4().hex


@dataclass
class Api:
    """A test client with keys: ``keys[code]`` for every test institution, ``revoked`` (BANK1's, revoked)."""

    client: TestClient
    session_factory: sessionmaker[Session]
    actors: dict[str, Actor]
    keys: dict[str, str]
    revoked: str

    def headers(self, who: str | None = "BANK1", idempotency_key: str | None = None, **extra: str) -> dict[str, str]:
        headers = dict(extra)
        if who is not None:
            headers["Authorization"] = f"Bearer {self.keys.get(who, who)}"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def post(self, path: str, body: Any = None, who: str | None = "BANK1", key: str | None = None, **kwargs):
        headers = self.headers(who, key or new_key())
        if body is None:
            return self.client.post(path, headers=headers, **kwargs)
        return self.client.post(path, headers=headers, json=body, **kwargs)

    def get(self, path: str, who: str | None = "BANK1", **kwargs):
        return self.client.get(path, headers=self.headers(who), **kwargs)

    def register(self, who: str = "BANK1", body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.post("/api/v1/loans", body or loan_body(), who=who)
        assert response.status_code == 201, response.text
        return response.json()

    def loan_count(self) -> int:
        with unit_of_work(self.session_factory) as session:
            return session.scalar(select(func.count()).select_from(Loan))


def make_api(session_factory: sessionmaker[Session], **app_options: Any) -> Api:
    with unit_of_work(session_factory) as session:
        actors = setup_reference(session)
        keys = {code: create_key(session, code).key for code, _, _ in INSTITUTIONS}
        revoked = create_key(session, "BANK1", label="old")
        revoke_key(session, revoked.info.prefix, now=dt.datetime.now(dt.timezone.utc))
    client = TestClient(create_app(session_factory, **app_options))
    return Api(client, session_factory, actors, keys, revoked.key)


@pytest.fixture
def api(session_factory):
    api = make_api(session_factory)
    with api.client:
        yield api


def problem_of(response) -> dict[str, Any]:
    """The problem details of an error answer, checked to be RFC 9457 with a code."""
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body = response.json()
    assert body["status"] == response.status_code
    assert body["type"] == f"urn:ipfund:problem:{body['code']}"
    assert body["code"] and body["title"] and body["detail"]
    return body


@dataclass(frozen=True)
class Endpoint:
    """One row of the authorisation matrix (``tests/test_api_auth.py``).

    ``roles``: the roles that may call it, written by hand (the test checks the code agrees).
    ``request(api, loan)``: ``(method, url, kwargs)`` of a valid call, ``loan`` a fresh loan of BANK1
    (created only when ``needs_loan``). ``ok``: the status a caller with an allowed role gets;
    ``other_bank``: what BANK2 gets when the call names BANK1's loan (404, as if it did not exist).
    Other areas add rows in their own ``tests/test_<area>_api*.py`` as a dict ``API_MATRIX``.
    """

    roles: frozenset[str]
    request: Any
    ok: int
    other_bank: int | None = None
    needs_loan: bool = False
