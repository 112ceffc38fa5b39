"""Every failure as RFC 9457 problem details (``application/problem+json``) with a stable ``code``
and the ``field`` at fault: refusals of the services (``DomainError``), Litestar's own errors
(validation, unknown route, body too large, ...) and, as a last resort, unexpected errors (500,
logged, no details leaked)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from fund.errors import Conflict, DomainError, Forbidden, NotFound, Unauthorized, Unavailable
from fund.services.audit import current_request_id
from schemas.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_PREFIX, FieldError, Problem

log = logging.getLogger("ipfund.api")

# Litestar's own HTTP errors, by status, as stable codes.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}

# What each documented error status means, for the OpenAPI description of every endpoint.
STATUS_MEANING = {
    400: "the body is not valid JSON, or nested too deeply to read (`malformed_json`)",
    415: "the body is not sent as `application/json` (`unsupported_media_type`)",
    401: "no API key, or an unknown or revoked one (`missing_credentials`, `invalid_api_key`, `api_key_revoked`)",
    403: "the caller's role may not call this endpoint (`role_not_allowed`)",
    404: "no such record, or one the caller may not see (another bank's loan is 404, exactly as if it did not exist)",
    409: "a conflict: `duplicate_contract`, `ip_already_pledged`, a status move the loan cannot take, or "
    "`idempotency_key_in_use` (the first request with this Idempotency-Key is still running)",
    413: "the body is larger than the limit (`body_too_large`)",
    503: "the report is not available in this version (`report_unavailable`)",
    422: "the request breaks a limit or a rule: `validation_error` (the schema: type, length, range, unknown field; "
    "`errors` lists each field; `unknown_parameter` for a query parameter the endpoint does not take), a rule of docs/rules.md (`invalid_uscc`, `invalid_patent_number`, `schedule_mismatch`, ...), "
    "`batch_refused` (`errors` lists every refused item by `index`), or `idempotency_key_reused` "
    "(the Idempotency-Key was first used with another body)",
}


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str,
    field: str | None = None,
    errors: Iterable[FieldError] = (),
) -> Problem:
    return Problem(
        type=PROBLEM_TYPE_PREFIX + code,
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=instance,
        code=code,
        field=field,
        errors=list(errors),
        request_id=current_request_id(),
    )


def problem_response(p: Problem, headers: Mapping[str, str] | None = None) -> Response[bytes]:
    return Response(
        content=p.model_dump_json().encode(),
        status_code=p.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


def item_field(index: int, field: str | None) -> str:
    return f"items[{index}].{field}" if field else f"items[{index}]"


#: The HTTP status of each kind of refusal (``fund.errors``); any other DomainError is 422.
STATUS_OF_ERROR: Mapping[type[DomainError], int] = {
    Unauthorized: 401, Forbidden: 403, NotFound: 404, Conflict: 409, Unavailable: 503,
}


def status_of(exc: DomainError) -> int:
    """The HTTP status answering a refusal: its nearest kind's, else 422.

    >>> from fund.errors import DatabaseNotReady
    >>> status_of(DatabaseNotReady("database_not_migrated", "run ipfund db upgrade")), status_of(DomainError("x", "y"))
    (503, 422)
    """
    for kind in type(exc).__mro__:
        status = STATUS_OF_ERROR.get(kind)
        if status is not None:
            return status
    return 422


def domain_problem(exc: DomainError, instance: str, *, status: int | None = None) -> Problem:
    """The problem for a refusal; a batch refusal lists every refused item by index."""
    items: list[tuple[int, DomainError]] = list(getattr(exc, "items", None) or [])
    errors = [
        FieldError(code=e.code, message=e.message, field=item_field(i, e.field), index=i) for i, e in items
    ]
    return problem(status or status_of(exc), exc.code, exc.message, instance=instance, field=exc.field, errors=errors)


def on_domain_error(request: Request, exc: DomainError) -> Response[bytes]:
    headers = {"WWW-Authenticate": 'Bearer realm="ipfund"'} if status_of(exc) == 401 else None
    return problem_response(domain_problem(exc, request.url.path), headers)


_MISSING = re.compile(r"Missing required (\w+) parameter '([^']+)'", re.IGNORECASE)


def _pydantic_field(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def validation_errors(exc: ValidationException) -> list[FieldError]:
    """Each fault of a Litestar validation error, with the pydantic error type as its code when the body
    was at fault."""
    cause = exc.__cause__
    raw = getattr(cause, "errors", None)
    if isinstance(raw, list) and raw and isinstance(raw[0], dict) and "type" in raw[0]:
        out = []
        for err in raw:
            loc = [p for p in err.get("loc", ()) if p != "data"]
            # A BeforeValidator's wrapper adds "function-before[...]" steps to the location.
            loc = [p for p in loc if not (isinstance(p, str) and "[" in p and p.endswith("]"))]
            field = _pydantic_field(loc) or None
            index = loc[1] if len(loc) > 1 and loc[0] == "items" and isinstance(loc[1], int) else None
            out.append(FieldError(code=str(err["type"]), message=str(err.get("msg", "invalid value")), field=field, index=index))
        return out
    out = []
    for message in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(message, dict):
            continue
        text = str(message.get("message", "invalid value"))
        missing = _MISSING.search(text)
        key = message.get("key") or (missing.group(2) if missing else None)
        out.append(FieldError(code="missing" if missing else "invalid_value", message=text, field=key))
    return out


def _wire_name(request: Request, field: str | None) -> str | None:
    """A parameter as the client sends it (``Idempotency-Key``), not as the handler names it."""
    handler = request.scope.get("route_handler")
    parameters = getattr(getattr(handler, "parsed_fn_signature", None), "parameters", {})
    definition = getattr(parameters.get(field), "kwarg_definition", None) if field else None
    return getattr(definition, "name", None) or field


def on_validation_error(request: Request, exc: ValidationException) -> Response[bytes]:
    errors = [e.model_copy(update={"field": _wire_name(request, e.field)}) for e in validation_errors(exc)]
    if not errors and (missing := _MISSING.search(str(exc.detail))):
        errors = [FieldError(code="missing", message=f"the {missing.group(1)} parameter {missing.group(2)} is required",
                             field=missing.group(2))]
    if not errors and "json" in str(exc.detail).lower():
        return problem_response(problem(400, "malformed_json", "the body is not valid JSON", instance=request.url.path))
    first = errors[0] if errors else None
    detail = f"{first.field}: {first.message}" if first and first.field else (first.message if first else str(exc.detail))
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return problem_response(
        problem(422, "validation_error", detail, instance=request.url.path, field=first.field if first else None, errors=errors)
    )


class MalformedJson(HTTPException):
    """A body that cannot be decoded as JSON (400 ``malformed_json``)."""

    status_code = 400


def on_http_error(request: Request, exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    if status >= 500:
        return on_unexpected_error(request, exc)
    code = HTTP_CODES.get(status, "client_error")
    detail = str(exc.detail) if exc.detail else HTTPStatus(status).phrase
    if isinstance(exc, MalformedJson):
        code = "malformed_json"
    elif status == 400 and isinstance(exc.__cause__, SerializationException):
        code, detail = "malformed_json", "the body is not valid JSON"
    headers = dict(exc.headers or {})
    return problem_response(problem(status, code, detail, instance=request.url.path), headers)


def on_unexpected_error(request: Request, exc: Exception) -> Response[bytes]:
    log.exception("unexpected error on %s %s (request_id=%s)", request.method, request.url.path, current_request_id(), exc_info=exc)
    return problem_response(
        problem(500, "internal_error", "an unexpected error occurred; it has been logged", instance=request.url.path)
    )


EXCEPTION_HANDLERS = {
    DomainError: on_domain_error,
    ValidationException: on_validation_error,
    HTTPException: on_http_error,
    Exception: on_unexpected_error,
}


def problem_responses(statuses: Iterable[int]) -> dict[int, ResponseSpec]:
    """OpenAPI documentation of error answers (problem details) for these statuses."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_MEDIA_TYPE,
            description=f"{HTTPStatus(status).phrase}: {STATUS_MEANING.get(status, HTTPStatus(status).description)}",
            generate_examples=False,
        )
        for status in sorted(set(statuses))
    }
