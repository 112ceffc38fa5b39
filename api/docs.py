"""The API's documentation pages, served by the app itself and usable without internet:

* ``/schema`` (and ``/schema/swagger``): Swagger UI over the OpenAPI document, its scripts, styles and
  icons served from ``/docs/assets`` out of the ``swagger-ui-py`` package (never from a CDN);
  ``/schema/openapi.json`` the document itself.
* ``/docs/errors`` (HTML) and ``/docs/errors.json``: the catalogue of every problem ``code`` the API
  can answer, with its HTTP status, what it means and what to do, generated from the source: every
  ``DomainError`` (or subclass) raised with a literal code, directly or through a helper that passes
  its first argument on as the code, plus Litestar's own errors and the schema's ``validation_error``.

>>> entry = error_catalogue()["duplicate_contract"]
>>> entry.status
409
"""

from __future__ import annotations

import ast
import html
from dataclasses import dataclass, field
from functools import lru_cache
from http import HTTPStatus
from pathlib import Path
from typing import Any

from litestar import Response, get
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin, YamlRenderPlugin
from litestar.static_files import create_static_files_router

ASSETS_PATH = "/docs/assets"
ERRORS_PATH = "/docs/errors"
SOURCE_ROOTS = ("fund", "api", "risk", "schemas", "simulations")
ROOT = Path(__file__).resolve().parent.parent


def _swagger_static_dir() -> Path:
    import swagger_ui

    return Path(swagger_ui.__file__).parent / "static"


class OfflineSwagger(SwaggerRenderPlugin):
    """Swagger UI from our own assets, without the online validator badge (it would call
    validator.swagger.io)."""

    def render(self, request, openapi_schema: dict[str, Any]) -> bytes:  # noqa: ANN001
        page = super().render(request, openapi_schema)
        return page.replace(b"deepLinking: true,", b"deepLinking: true,\n                  validatorUrl: null,", 1)


def render_plugins() -> list:
    return [
        OfflineSwagger(
            path=["/", "/swagger"],
            js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            css_url=f"{ASSETS_PATH}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
        ),
        JsonRenderPlugin(),
        YamlRenderPlugin(),
    ]


def asset_router():
    return create_static_files_router(
        path=ASSETS_PATH, directories=[_swagger_static_dir()], include_in_schema=False, name="docs-assets",
    )


# The error catalogue.

# What to do, by status, unless a code says better below.
ADVICE_BY_STATUS = {
    400: "send a well-formed JSON body",
    401: "send `Authorization: Bearer <key>` with a valid, unrevoked key (`ipfund keys create`)",
    403: "use a key of an institution (and role) the endpoint allows, as its `x-roles` lists",
    404: "check the id; another bank's record is 404 exactly as if it did not exist",
    405: "use a method the path allows (`OPTIONS` lists them)",
    409: "read the record's current state and decide; resending the same request will not help",
    413: "send a smaller body (split a batch)",
    415: "send the body as `Content-Type: application/json`",
    422: "correct the value named in `field` (and `errors`) and send again with a new Idempotency-Key",
    429: "slow down and retry later",
    500: "retry later; report the time and `instance` to the fund manager if it persists",
    503: "retry later, or ask the operator (`ipfund db upgrade`)",
}
ADVICE = {
    "batch_refused": "nothing was written: fix every item listed in `errors` (by `index`) and send the whole batch again",
    "idempotency_key_in_use": "wait a few seconds and retry with the same key: you then get the first request's answer",
    "idempotency_key_reused": "use a new Idempotency-Key for a new request",
    "validation_error": "fix each field in `errors` (its `code` is the schema rule broken, e.g. string_too_long)",
    "unknown_parameter": "drop or correct the query parameter; the endpoint's parameters are in the OpenAPI document",
    "duplicate_contract": "the contract is registered already: read it with GET /api/v1/loans?... instead of registering again",
    "lpr_not_available": "ask the fund manager to publish the LPR for those dates (or move checked_through)",
    "internal_error": ADVICE_BY_STATUS[500],
}
# Codes the framework or the API layer answers, not raised as DomainError.
FRAMEWORK_CODES = {
    "malformed_json": (400, "the body is not valid JSON, or nested too deeply to read"),
    "unsupported_media_type": (415, "the body is not sent as application/json"),
    "body_too_large": (413, "the body is larger than the limit"),
    "not_found": (404, "no such path"),
    "method_not_allowed": (405, "the path does not take this method"),
    "bad_request": (400, "the request cannot be read"),
    "unauthorized": (401, "not authenticated"),
    "forbidden": (403, "not allowed"),
    "too_many_requests": (429, "too many requests"),
    "client_error": (400, "the request was refused"),
    "validation_error": (422, "the request breaks the schema: type, length, range, pattern, unknown field, a missing "
                              "parameter; `errors` lists each fault with pydantic's code"),
    "internal_error": (500, "an unexpected error; it has been logged"),
}


@dataclass(frozen=True)
class ErrorCode:
    code: str
    status: int
    meanings: tuple[str, ...]
    advice: str
    raised_in: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "status": self.status, "meaning": " / ".join(self.meanings), "what_to_do": self.advice,
                "raised_in": list(self.raised_in)}


def _error_classes(trees: dict[Path, ast.Module]) -> dict[str, int]:
    """Every DomainError class of the source, by name, with the HTTP status that answers it: the
    status of its nearest kind in ``api.problems.STATUS_OF_ERROR`` (or, in older code, its nearest
    ``status_code``), else 422. Found in the syntax trees: nothing is imported."""
    parents: dict[str, list[str]] = {}
    own_status: dict[str, int] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                parents[node.name] = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
                for item in node.body:
                    if (isinstance(item, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "status_code" for t in item.targets)
                            and isinstance(item.value, ast.Constant) and isinstance(item.value.value, int)):
                        own_status[node.name] = item.value.value
    try:
        from api.problems import STATUS_OF_ERROR  # type: ignore[attr-defined]

        own_status.update({kind.__name__: status for kind, status in STATUS_OF_ERROR.items()})
    except ImportError:
        pass

    def status(name: str, seen: frozenset[str] = frozenset()) -> int | None:
        if name in own_status:
            return own_status[name]
        for parent in parents.get(name, ()):
            if parent not in seen and (found := status(parent, seen | {name})) is not None:
                return found
        return None

    def is_error(name: str, seen: frozenset[str] = frozenset()) -> bool:
        return name == "DomainError" or any(p not in seen and is_error(p, seen | {name}) for p in parents.get(name, ()))

    return {name: status(name) or 422 for name in [*parents, "DomainError"] if is_error(name)}


def _text(node: ast.AST | None) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "…" for v in node.values)
    return ""


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def source_files() -> list[Path]:
    return sorted(p for root in SOURCE_ROOTS for p in (ROOT / root).rglob("*.py") if "migrations" not in p.parts)


class _Calls(ast.NodeVisitor):
    """One pass over a module: every call with a literal first argument, and every function that passes
    its first parameter on as the first argument of a call (a helper that may forward a code)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ast.Call, str | None]] = []  # (called name, call, enclosing class)
        self.forwarding: dict[str, set[str]] = {}  # function -> names it calls with its first parameter
        self._functions: list[tuple[str, str | None]] = []
        self._classes: list[str] = []

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._classes.append(node.name)
        self.generic_visit(node)
        self._classes.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._functions.append((node.name, node.args.args[0].arg if node.args.args else None))
        self.generic_visit(node)
        self._functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node: ast.Call) -> None:
        name = _called_name(node)
        if name == "__init__" and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Call):
            name = self._classes[-1] if self._classes else None  # super().__init__("code", ...) in an error class
        if name and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                self.calls.append((name, node, self._classes[-1] if self._classes else None))
            elif isinstance(first, ast.Name) and self._functions and first.id == self._functions[-1][1]:
                self.forwarding.setdefault(self._functions[-1][0], set()).add(name)
        self.generic_visit(node)


def raised_codes() -> dict[str, list[tuple[int, str, str]]]:
    """``code -> [(status, message, file), ...]`` for every error raised with a literal code in the
    source, directly (``DomainError("code", "message")``, ``super().__init__("code", ...)`` in an error
    class) or through a helper whose first parameter is passed on as the code (``_refuse("code", ...)``)."""
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in source_files()}
    classes = _error_classes(trees)
    visitors = {}
    for path, tree in trees.items():
        visitors[path] = visitor = _Calls()
        visitor.visit(tree)
    raising = dict(classes)  # callable name -> status of the error it raises with its first argument
    forwarding: dict[str, set[str]] = {}
    for visitor in visitors.values():
        for function, callees in visitor.forwarding.items():
            forwarding.setdefault(function, set()).update(callees)
    grown = True
    while grown:
        grown = False
        for function, callees in forwarding.items():
            status = next((raising[c] for c in sorted(callees) if c in raising), None)
            if function not in raising and status is not None:
                raising[function] = status
                grown = True
    found: dict[str, list[tuple[int, str, str]]] = {}
    for path, visitor in visitors.items():
        where = str(path.relative_to(ROOT))
        for name, call, _ in visitor.calls:
            status = raising.get(name)
            code = call.args[0].value  # type: ignore[attr-defined]
            if status is None or not code.replace("_", "").isalnum() or not code.islower() or code.isdigit():
                continue
            message = _text(call.args[1]) if len(call.args) > 1 else _text(next((k.value for k in call.keywords if k.arg == "message"), None))
            found.setdefault(code, []).append((status, message, where))
    return found


@lru_cache(maxsize=1)
def error_catalogue() -> dict[str, ErrorCode]:
    """Every problem ``code``, sorted; see the module docstring."""
    from api.problems import HTTP_CODES

    entries: dict[str, ErrorCode] = {}
    for code, sites in raised_codes().items():
        statuses = sorted({s for s, _, _ in sites})
        meanings = tuple(dict.fromkeys(m for _, m, _ in sites if m))[:4] or (code.replace("_", " "),)
        entries[code] = ErrorCode(code, statuses[-1] if 422 not in statuses else 422, meanings,
                                  ADVICE.get(code, ADVICE_BY_STATUS.get(statuses[0], ADVICE_BY_STATUS[422])),
                                  tuple(sorted({w for _, _, w in sites})))
    framework = dict(FRAMEWORK_CODES)
    for status, code in HTTP_CODES.items():
        framework.setdefault(code, (status, HTTPStatus(status).description))
    for code, (status, meaning) in framework.items():
        entries.setdefault(code, ErrorCode(code, status, (meaning,), ADVICE.get(code, ADVICE_BY_STATUS.get(status, ""))))
    return dict(sorted(entries.items()))


def _catalogue_html() -> str:
    rows = "\n".join(
        f"<tr id='{e.code}'><td><code>{e.code}</code></td><td>{e.status}</td><td>{html.escape(' / '.join(e.meanings))}</td>"
        f"<td>{html.escape(e.advice)}</td></tr>"
        for e in error_catalogue().values()
    )
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>ipfund API: error codes</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}}</style>
</head><body><h1>Error codes</h1>
<p>Every error answer is RFC 9457 problem details (<code>application/problem+json</code>) whose <code>code</code> is one of
these ({len(error_catalogue())} codes, generated from the source). <code>…</code> stands for a value of the request.
The same list as JSON: <a href="{ERRORS_PATH}.json">{ERRORS_PATH}.json</a>; the API: <a href="/schema">/schema</a>.</p>
<table><thead><tr><th>code</th><th>HTTP status</th><th>meaning</th><th>what to do</th></tr></thead><tbody>
{rows}
</tbody></table></body></html>"""


@get(ERRORS_PATH, include_in_schema=False, sync_to_thread=False, media_type="text/html; charset=utf-8")
def errors_page() -> Response[str]:
    return Response(_catalogue_html(), media_type="text/html; charset=utf-8")


@get(f"{ERRORS_PATH}.json", include_in_schema=False, sync_to_thread=False)
def errors_json() -> dict[str, Any]:
    return {"items": [e.as_json() for e in error_catalogue().values()]}


DOCS_HANDLERS = [errors_page, errors_json]
