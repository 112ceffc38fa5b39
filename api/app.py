"""The HTTP API (Litestar): ``create_app(session_factory=None)``; ``ipfund serve`` runs it.

Conventions for a new area (claims, subsidies, valuation, stress, ...):

* Put a ``Controller`` in ``api/controllers/<area>.py`` and add it to ``CONTROLLERS`` below; it is
  mounted under ``/api/v1``. Request and response models go in ``schemas/<area>.py``: subclass
  ``schemas.common.StrictModel`` (requests: strict types, unknown fields refused) and ``OutModel``
  (responses), and bound every string, number and list (``schemas.common`` has the usual types).
* Every handler says who may call it: ``@get(..., **allow(Role.BANK, *READERS, errors=[404]))``
  (``api.auth``). That installs the key guard (401 / 403), documents the roles and the error answers.
  Add the endpoint's row to the authorisation matrix, ``API_MATRIX`` in your
  ``tests/test_<area>_api*.py`` (see ``tests.test_api_support.Endpoint``): an endpoint without a row
  fails ``tests/test_api_auth.py``.
* Handlers are thin and synchronous (``sync_to_thread=True``). Take ``actor: Caller`` (the calling
  institution) and ``db: Db`` (the session factory) from ``api.deps``, and the body as
  ``data: JSONBody[Model]``; call one service per area inside ``with unit_of_work(db) as session:``;
  return a response model.
* Every POST takes ``idempotency_key: IdempotencyKeyHeader`` and returns
  ``run_idempotent(request, actor, idempotency_key, data, work)`` (``api.idempotency``), where
  ``work(session) -> (status, model)`` does its writing in the transaction it is given.
* Refuse with ``fund.errors.DomainError`` (422; ``NotFound`` 404, ``Conflict`` 409, ``Forbidden``
  403): ``api.problems`` turns every error, Litestar's own included, into problem details with a
  stable ``code`` and ``field``. All-or-nothing batches: ``api.batch`` (``apply_in_order``,
  ``BatchRefused`` listing every refused item by index).
"""

from __future__ import annotations

import json
import re
from typing import Any

from litestar import Litestar, Request, Response, Router, get
from litestar.exceptions import HTTPException, SerializationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, ExternalDocumentation, SecurityScheme, Tag
from litestar.plugins.pydantic import PydanticPlugin
from sqlalchemy.orm import Session, sessionmaker

from api.auth import BEARER_SCHEME, ROLES_OPT
from api.console import TEMPLATE_CONFIG as CONSOLE_TEMPLATES, install_console
from api.controllers.audit import AuditController
from api.controllers.borrowers import BorrowerController
from api.controllers.claims import CONTROLLERS as CLAIMS_CONTROLLERS
from api.controllers.reference import CONTROLLERS as REFERENCE_CONTROLLERS
from api.controllers.loans import LoanController, RepaymentController
from api.controllers.payments import PaymentController
from api.controllers.pilot_codes import PilotCodeController
from api.controllers.pool import CONTROLLERS as POOL_CONTROLLERS
from api.controllers.fees import CONTROLLERS as FEE_CONTROLLERS
from api.controllers.reversals import RepaymentReversalController
from api.controllers.proposals import ProposalController
from api.controllers.reports import MeController, ReportController
from api.controllers.stress import StressController
from api.controllers.subsidies import SubsidyController
from api.controllers.users import UserController
from api.controllers.valuation import ValuationController
from api.deps import DEPENDENCIES
from api.request_id import RequestIdMiddleware
from api.docs import DOCS_HANDLERS, ERRORS_PATH, asset_router, render_plugins
from api.conditional import IF_NONE_MATCH, MAX_IF_NONE_MATCH, conditional_get
from api.openapi import add_conditional_read, add_documented_answers, add_examples, add_links
from schemas.examples import REQUEST_EXAMPLES
from api.problems import EXCEPTION_HANDLERS, MalformedJson
from schemas.problems import PROBLEM_MEDIA_TYPE
from fund.errors import DomainError
from fund.settings import get_settings

API_PREFIX = "/api/v1"
API_VERSION = "1.0.0"

# Every controller of the API, mounted under /api/v1. Add yours here.
CONTROLLERS: list[type] = [
    MeController,
    LoanController,
    RepaymentController,
    ReportController,
    ValuationController,
    PilotCodeController,
    *POOL_CONTROLLERS,
    *FEE_CONTROLLERS,
    StressController,
    SubsidyController,
    PaymentController,
    *CLAIMS_CONTROLLERS,
    *REFERENCE_CONTROLLERS,
    BorrowerController,
    UserController,
    ProposalController,
    AuditController,
    RepaymentReversalController,
]

DESCRIPTION = """\
The API banks, the fund manager and auditors integrate with (the rules it applies: docs/rules.md, by section).

* **Authentication**: `Authorization: Bearer <key>`, one key per institution
  (`ipfund keys create --institution CODE`). No key, an unknown or a revoked key: 401. The role follows
  the institution's kind (bank; insurer or guarantor; appraiser; fund manager; auditor); each endpoint
  lists the roles that may call it, any other gets 403.
* **Money** is integer fen (`*_fen`, 1 yuan = 100 fen, single amounts at most 10^12), **rates** integer
  basis points (`*_bp`, 100% = 10000), **dates** ISO 8601 `YYYY-MM-DD`. Integers must be JSON integers,
  dates strings; unknown fields are refused.
* **Idempotency**: every POST requires an `Idempotency-Key` header (see the parameter).
* **Errors** are RFC 9457 problem details (`application/problem+json`) with a stable `code`, the `field`
  at fault, and `errors` listing every fault (batch items by `index`). Every `code`, with its status, its
  meaning and what to do: [/docs/errors](/docs/errors) (JSON: `/docs/errors.json`).
* **Limits**: request body at most {max_body} bytes (413 beyond); batches 1..1000 items; pages 1..500
  loans (keyset: `after_id`); text fields bounded as documented per field (422 beyond).
* Another bank's loan is 404 for every method, exactly as if it did not exist.
"""


@get("/health", include_in_schema=False, sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


def _default_session_factory() -> sessionmaker[Session]:
    from fund.adapters.db import default_engine, make_session_factory, require_head

    engine = default_engine()
    require_head(engine)
    return make_session_factory(engine)


def _pydantic_models() -> dict[str, tuple[type, str]]:
    """Request (validation) and response (serialization) models by class name; names used twice are
    left out."""
    from schemas.common import OutModel, StrictModel

    found: dict[str, list[tuple[type, str]]] = {}
    for base, mode in ((StrictModel, "validation"), (OutModel, "serialization")):
        stack = list(base.__subclasses__())
        while stack:
            cls = stack.pop()
            stack.extend(cls.__subclasses__())
            if (cls, mode) not in found.get(cls.__name__, []):
                found.setdefault(cls.__name__, []).append((cls, mode))
    return {name: entries[0] for name, entries in found.items() if len(entries) == 1}


def _problem_response(status: int) -> dict[str, Any]:
    from http import HTTPStatus

    from api.problems import STATUS_MEANING

    return {
        "description": f"{HTTPStatus(status).phrase}: {STATUS_MEANING.get(status, HTTPStatus(status).description)}",
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _finish_openapi(app: Litestar) -> None:
    """Complete the generated OpenAPI document in place: each endpoint's roles (description and
    ``x-roles``), 400 and 413 wherever there is a body, and the schemas of our pydantic models as pydantic writes them, so that every limit
    (length, range, pattern; also on optional fields and list items, which Litestar's generator
    drops) is documented."""
    from litestar._openapi.plugin import OpenAPIPlugin
    from pydantic.json_schema import models_json_schema

    schema = app.plugins.get(OpenAPIPlugin).provide_openapi_schema()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            roles = handler.opt.get(ROLES_OPT)
            if roles is None or not handler.include_in_schema:
                continue
            for method in handler.http_methods:
                operation = schema["paths"][route.path_format][method.lower()]
                names = [str(r) for r in roles]
                operation["x-roles"] = names
                operation["description"] = (operation.get("description", "").rstrip() + f"\n\n**Roles:** {', '.join(names)}.").strip()
                responses = operation["responses"]
                add_documented_answers(operation, handler.opt, handler.status_code)
                if method == "GET":
                    add_conditional_read(operation)
                if "requestBody" in operation:  # any body may be malformed or too large
                    for status in (400, 413, 415):
                        responses.setdefault(str(status), _problem_response(status))
                for status, response in responses.items():  # every error answer is problem details
                    if int(status) >= 400 and PROBLEM_MEDIA_TYPE not in response.get("content", {}):
                        responses[status] = _problem_response(int(status))
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    models = [entry for name, entry in _pydantic_models().items() if name in components]
    if models:
        _, definitions = models_json_schema(models, ref_template="#/components/schemas/{model}")
        components.update(definitions.get("$defs", {}))
    add_examples(schema, REQUEST_EXAMPLES)
    add_links(schema)


def _query_parameters(app: Litestar, *, dates_only: bool = False) -> dict[tuple[str, str], frozenset[str]]:
    """The query parameters each operation documents (or those that are dates), by (method, path template)."""
    from litestar._openapi.plugin import OpenAPIPlugin

    def is_date(parameter: dict[str, Any]) -> bool:
        return '"format": "date"' in json.dumps(parameter.get("schema", {}))

    schema = app.plugins.get(OpenAPIPlugin).provide_openapi_schema()
    return {
        (method.upper(), path): frozenset(p["name"] for p in operation.get("parameters", [])
                                          if p["in"] == "query" and (is_date(p) or not dates_only))
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "responses" in operation
    }


JSON_MEDIA_TYPE = "application/json"


async def check_request(request: Request) -> None:
    """Checks of every ``/api/v1`` request after the key guard, before its parameters and body are
    parsed: the query parameters (:func:`refuse_unknown_query_parameters`) and the body
    (:func:`refuse_undeclared_or_unreadable_json`)."""
    await refuse_undeclared_or_unreadable_json(request)
    await refuse_unknown_query_parameters(request)
    if len(request.headers.get(IF_NONE_MATCH, "")) > MAX_IF_NONE_MATCH:
        raise DomainError("invalid_parameter", f"{IF_NONE_MATCH} is at most {MAX_IF_NONE_MATCH} characters", field=IF_NONE_MATCH)


async def refuse_undeclared_or_unreadable_json(request: Request) -> None:
    """A handler taking a JSON body refuses a body sent as anything but ``application/json`` (415
    ``unsupported_media_type``: a form or a text is never guessed to be JSON), and JSON nested too
    deeply to decode (400 ``malformed_json``, instead of a ``RecursionError``). A POST without a body
    (``/cancel``) needs no ``Content-Type``."""
    handler = request.scope.get("route_handler")
    if handler is None or "data" not in getattr(handler, "parsed_fn_signature").parameters:
        return
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != JSON_MEDIA_TYPE:
        raise HTTPException(
            status_code=415,
            detail=f"the body must be sent as {JSON_MEDIA_TYPE}, not {media_type or 'without a Content-Type'}",
        )
    try:
        await request.json()  # decoded once: the body parameter reuses it
    except RecursionError:
        raise MalformedJson(detail="the body is not valid JSON: nested too deeply") from None
    except SerializationException as exc:
        raise MalformedJson(detail="the body is not valid JSON") from exc


async def refuse_unknown_query_parameters(request: Request) -> None:
    """Unknown query parameters are refused (422), like unknown body fields: a misspelt filter must not
    silently widen a list. Runs after the key guard, before validation."""
    allowed = request.app.state.query_parameters.get((request.method, request.scope.get("path_template")))
    if allowed is None:
        return
    repeated = sorted(name for name in set(request.query_params) if len(request.query_params.getall(name)) > 1)
    if repeated:  # no parameter takes a list: a second value would be silently dropped
        raise DomainError("repeated_parameter", f"query parameter {repeated[0]!r} is given more than once", field=repeated[0])
    for name in request.app.state.date_query_parameters.get((request.method, request.scope.get("path_template")), ()):
        value = request.query_params.get(name)
        if value and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) and value < "1900-01-01":  # docs/rules.md section 0
            raise DomainError("date_before_1900", f"{name} {value} is before 1900-01-01: dates before 1900 are refused", field=name)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise DomainError(
            "unknown_parameter", f"unknown query parameter {unknown[0]!r}; this endpoint takes {', '.join(sorted(allowed)) or 'none'}",
            field=unknown[0],
        )


def create_app(session_factory: sessionmaker[Session] | None = None, *, max_body_bytes: int | None = None) -> Litestar:
    """The Litestar app over ``session_factory`` (default: the configured database, refused unless
    migrated to head)."""
    settings = get_settings()
    max_body = max_body_bytes or settings.api_max_body_bytes
    api = Router(path=API_PREFIX, route_handlers=CONTROLLERS, dependencies=DEPENDENCIES,
                 before_request=check_request, middleware=[conditional_get])
    openapi = OpenAPIConfig(
        title="ipfund API",
        version=API_VERSION,
        description=DESCRIPTION.format(max_body=max_body),
        path="/schema",
        render_plugins=render_plugins(),  # Swagger UI from our own assets: the docs work without internet
        external_docs=ExternalDocumentation(url=ERRORS_PATH, description="every error code: HTTP status, meaning, what to do"),
        create_examples=False,
        use_handler_docstrings=True,
        components=Components(
            security_schemes={
                BEARER_SCHEME: SecurityScheme(type="http", scheme="bearer", description="the institution's API key")
            }
        ),
        tags=[
            Tag(name="keys", description="the caller's key"),
            Tag(name="loans", description="loans: registration, reading, coverage, repayment, cancellation"),
            Tag(name="repayments", description="repayments in batches"),
            Tag(name="reports", description="reports for the fund manager and auditors"),
            Tag(name="reference", description="the LPR table, policies and institutions"),
        ],
    )
    app = Litestar(
        route_handlers=[api, health, asset_router(), *DOCS_HANDLERS],
        template_config=CONSOLE_TEMPLATES,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        middleware=[RequestIdMiddleware],  # X-Request-ID (api/request_id.py)
        openapi_config=openapi,
        plugins=[PydanticPlugin(validate_strict=True)],
        request_max_body_size=max_body,
        debug=False,
    )
    _complete_options_answers(app)
    app.state.session_factory = session_factory or _default_session_factory()
    install_console(app)  # the web console under /console/ (api/console)
    _finish_openapi(app)
    app.state.query_parameters = _query_parameters(app)
    app.state.date_query_parameters = _query_parameters(app, dates_only=True)
    return app


def _complete_options_answers(app: Litestar) -> None:
    """``OPTIONS`` answers list every method of the path. Litestar's automatic answer lists only the
    methods of the controller that declared the path first (``GET`` of ``/loans`` without its
    ``POST``): each route's automatic OPTIONS handler is given the route's whole method set."""
    from litestar.routes import HTTPRoute

    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        allow_header = ", ".join(sorted(route.methods))
        for handler in route.route_handlers:
            if handler.http_methods == {"OPTIONS"} and not handler.include_in_schema:
                handler._fn = _options_answer(allow_header)  # the automatic handler's own function, replaced


def _options_answer(allow_header: str):
    def options_handler(scope: Any) -> Response:
        return Response(content=None, status_code=204, headers={"Allow": allow_header}, media_type="text/plain")

    return options_handler


def api_routes() -> list[tuple[str, str, tuple[Any, ...]]]:
    """``routes_with_roles`` of the API alone, without a database (for the tests' route lists)."""
    return routes_with_roles(Litestar(route_handlers=[Router(path=API_PREFIX, route_handlers=CONTROLLERS, dependencies=DEPENDENCIES)],
                                      openapi_config=None, debug=False))


def routes_with_roles(app: Litestar) -> list[tuple[str, str, tuple[Any, ...]]]:
    """``(method, path, roles)`` of every API endpoint (the authorisation matrix is generated from it;
    Litestar's automatic OPTIONS answers carry no data and are left out)."""
    out = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not route.path_format.startswith(API_PREFIX):
                continue
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                out.append((method, route.path_format, tuple(handler.opt.get(ROLES_OPT) or ())))
    return sorted(out)
