"""The API's documentation without internet: ``/schema`` and every asset it loads come from the app
(no URL of another host), and ``/docs/errors`` lists every problem ``code`` the source can raise
(compared with a scan of the source of its own), linked from the OpenAPI document."""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.problems import HTTP_CODES
from tests.test_api_support import api  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def client(sqlite_template, tmp_path_factory):
    import shutil

    from fund.adapters.db import make_engine, make_session_factory

    path = tmp_path_factory.mktemp("docs") / "docs.sqlite3"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with TestClient(create_app(make_session_factory(engine))) as client:
        yield client
    engine.dispose()


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


def _foreign(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.scheme and parts.scheme not in ("data",)) or bool(parts.netloc)


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
def test_the_docs_page_and_its_assets_come_from_the_app(client, page):
    answer = client.get(page)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    links = _Links()
    links.feed(answer.text)
    assert len(links.urls) >= 4, links.urls  # a stylesheet, two scripts, an icon
    assert not [u for u in links.urls if _foreign(u)], links.urls
    # No other host named anywhere in the page outside the inlined OpenAPI document's text.
    page_text = answer.text.replace("http://www.w3.org/", "")
    assert not re.findall(r"https?://(?!testserver)[^\s'\"<>]+", page_text.split("spec:")[0]), page_text[:500]
    assert "validatorUrl: null" in answer.text
    for url in links.urls:
        asset = client.get(url)
        assert asset.status_code == 200 and asset.content, url
        if url.endswith(".css"):  # a stylesheet loads nothing from elsewhere (SVG namespaces are names, not loads)
            loads = re.findall(r"url\(\s*['\"]?([^'\")]+)", asset.text)
            assert not [u for u in loads if _foreign(u) and not u.startswith("data:")], loads


def test_the_openapi_document_links_the_error_catalogue(client):
    document = client.get("/schema/openapi.json").json()
    assert document["externalDocs"]["url"] == "/docs/errors"
    assert "/docs/errors" in document["info"]["description"]


def _codes_in_source() -> set[str]:
    """Codes of every error raised with a literal code: calls of the error classes (found by importing
    the app) or of a function whose name says it refuses, plus ``super().__init__("code", ...)``."""
    import fund.errors

    def subclasses(cls):
        return {cls.__name__} | {n for sub in cls.__subclasses__() for n in subclasses(sub)}

    names = subclasses(fund.errors.DomainError) | {"_refuse", "refuse", "_refusal"}
    codes: set[str] = set()
    for root in ("fund", "api", "risk", "schemas", "simulations"):
        for path in (ROOT / root).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                super_init = name == "__init__" and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)
                first = node.args[0]
                if (name in names or super_init) and isinstance(first, ast.Constant) and isinstance(first.value, str) \
                        and re.fullmatch(r"[a-z][a-z0-9_]*", first.value) and "_" in first.value + "_":
                    codes.add(first.value)
    return codes


def test_the_error_catalogue_lists_every_code_of_the_source(client):
    listed = {e["code"]: e for e in client.get("/docs/errors.json").json()["items"]}
    found = _codes_in_source()
    assert len(found) > 100
    missing = sorted(found - set(listed))
    assert not missing, missing
    framework = set(HTTP_CODES.values()) | {"validation_error", "malformed_json", "internal_error", "batch_refused"}
    assert framework <= set(listed)
    assert not sorted(set(listed) - found - framework - {"client_error"}), "codes listed that nothing raises"
    for entry in listed.values():
        assert entry["meaning"] and entry["what_to_do"] and 400 <= entry["status"] <= 599, entry
    # Statuses as the API answers them.
    assert {c: listed[c]["status"] for c in ("duplicate_contract", "loan_not_found", "role_not_allowed", "invalid_api_key",
                                             "invalid_uscc", "database_not_migrated", "unsupported_media_type")} == {
        "duplicate_contract": 409, "loan_not_found": 404, "role_not_allowed": 403, "invalid_api_key": 401,
        "invalid_uscc": 422, "database_not_migrated": 503, "unsupported_media_type": 415,
    }
    page = client.get("/docs/errors")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert all(f"<code>{code}</code>" in page.text for code in listed)


def test_every_operation_has_request_and_answer_examples(client):
    document = client.get("/schema/openapi.json").json()
    missing = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                if "example" not in content:
                    missing.append(f"{method} {path} request {media}")
            for status, response in operation["responses"].items():
                for media, content in response.get("content", {}).items():
                    if "json" in media and "example" not in content:
                        missing.append(f"{method} {path} {status} {media}")
            assert any(s.startswith("2") and r.get("content") for s, r in operation["responses"].items()) \
                or "204" in operation["responses"] or method == "get", (method, path)
    assert not missing, missing
    loans = document["paths"]["/api/v1/loans"]["post"]
    assert loans["requestBody"]["content"]["application/json"]["example"]["borrower"]["credit_code"]
    problem = loans["responses"]["409"]["content"]["application/problem+json"]["example"]
    assert problem["status"] == 409 and problem["code"]


def test_the_hand_written_examples_are_accepted(api):
    from schemas.examples import LOAN, REPAYMENT

    loan = api.post("/api/v1/loans", LOAN)
    assert loan.status_code == 201, loan.text
    repaid = api.post(f"/api/v1/loans/{loan.json()['id']}/repayments", REPAYMENT)
    assert repaid.status_code == 201, repaid.text
