"""What the OpenAPI document says beyond what Litestar derives from a handler's signature: other
success answers (a rerun's 200 beside the 201), other media types of a download (CSV and XLSX).

A handler declares them with :func:`documented` around its :func:`api.auth.allow` arguments::

    @post("/", status_code=201, **documented(allow(Role.FUND_MANAGER), also_answers={200: "the month had been run"}))

>>> documented({"opt": {"roles": ()}}, media_types=["text/csv"])["opt"][MEDIA_TYPES_OPT]
('text/csv',)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

ALSO_ANSWERS_OPT = "also_answers"
MEDIA_TYPES_OPT = "media_types"


def documented(
    handler_kwargs: dict[str, Any], *, also_answers: Mapping[int, str] | None = None, media_types: Iterable[str] = ()
) -> dict[str, Any]:
    """``handler_kwargs`` with the documentation of ``also_answers`` (status: description; the body is
    the success answer's) and of the success answer's ``media_types`` (binary downloads)."""
    opt = dict(handler_kwargs.get("opt", {}))
    if also_answers:
        opt[ALSO_ANSWERS_OPT] = dict(also_answers)
    if media_types:
        opt[MEDIA_TYPES_OPT] = tuple(media_types)
    return {**handler_kwargs, "opt": opt}


def add_documented_answers(operation: dict[str, Any], opt: Mapping[str, Any], success_status: int) -> None:
    """Complete one operation of the OpenAPI document in place from the handler's ``opt``."""
    responses = operation["responses"]
    success = responses.get(str(success_status))
    for status, description in (opt.get(ALSO_ANSWERS_OPT) or {}).items():
        if success is not None:
            responses[str(status)] = {**success, "description": description}
    media_types = opt.get(MEDIA_TYPES_OPT) or ()
    if media_types and success is not None:
        success["content"] = {media: {"schema": {"type": "string", "format": "binary"}} for media in media_types}


# Examples: every operation's request body and answers carry one (the main request bodies are
# written by hand in schemas.examples; the rest are generated from the schema).

_EXAMPLE_DATE = "2026-01-15"
_EXAMPLE_TIME = "2026-10-31T08:15:00Z"


def example_of(schema: dict[str, Any], components: Mapping[str, Any], depth: int = 0) -> Any:
    """A value that the JSON ``schema`` describes, for documentation (``$ref`` resolved in
    ``components``; the first of several options; bounds respected).

    >>> example_of({"type": "object", "properties": {"n": {"type": "integer", "minimum": 3}}, "required": ["n"]}, {})
    {'n': 100}
    """
    if depth > 12:
        return None
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return example_of(components.get(name, {}), components, depth + 1)
    for key in ("example", "const", "default"):
        if schema.get(key) is not None:
            return schema[key]
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [o for o in schema.get(key, []) if o.get("type") != "null"]
        if options:
            return example_of({**{k: v for k, v in schema.items() if k != key}, **options[0]}, components, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {name: example_of(sub, components, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        return [example_of(schema.get("items", {}), components, depth + 1)] * max(1, schema.get("minItems", 1))
    if kind == "integer":
        low = schema.get("minimum", schema["exclusiveMinimum"] + 1 if "exclusiveMinimum" in schema else 0)
        high = schema.get("maximum", max(low, 100))
        return max(low, min(100, high))
    if kind == "number":
        return schema.get("minimum", 1.0)
    if kind == "boolean":
        return True
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date":
            return _EXAMPLE_DATE
        if fmt == "date-time":
            return _EXAMPLE_TIME
        if fmt == "binary":
            return None
        text = "example"
        low, high = schema.get("minLength", 1), schema.get("maxLength", 64)
        return (text * (1 + low // len(text)))[:max(low, min(high, len(text)))]
    return None


def add_examples(schema: dict[str, Any], request_examples: Mapping[str, Any]) -> None:
    """Put an example on every operation's request body and on each of its JSON answers, in place."""
    components = schema.get("components", {}).get("schemas", {})
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for content in operation.get("requestBody", {}).get("content", {}).values():
                ref = content.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
                content.setdefault("example", request_examples.get(ref) or example_of(content.get("schema", {}), components))
            for status, response in operation["responses"].items():
                for media, content in response.get("content", {}).items():
                    if "json" not in media or "example" in content:
                        continue
                    value = example_of(content.get("schema", {}), components)
                    if isinstance(value, dict) and media.startswith("application/problem+json"):
                        value.update(status=int(status), code=_example_code(int(status)), type=f"urn:ipfund:problem:{_example_code(int(status))}",
                                     title=HTTPStatus(int(status)).phrase, field=None, errors=[])
                    content["example"] = value


def _example_code(status: int) -> str:
    return {400: "malformed_json", 401: "invalid_api_key", 403: "role_not_allowed", 404: "loan_not_found",
            409: "duplicate_contract", 413: "body_too_large", 415: "unsupported_media_type",
            422: "validation_error", 503: "database_not_migrated"}.get(status, "internal_error")


def add_conditional_read(operation: dict[str, Any]) -> None:
    """Document ``api.conditional`` on a GET answered with JSON: ``If-None-Match``, ``ETag``, 304."""
    from api.conditional import MAX_IF_NONE_MATCH

    success = operation["responses"].get("200")
    if success is None or not any("json" in media for media in success.get("content", {})):
        return
    etag = {"description": "a tag of this answer's body: send it back as If-None-Match", "schema": {"type": "string"}}
    success.setdefault("headers", {})["ETag"] = etag
    operation["responses"]["304"] = {"description": "Not Modified: the answer has not changed since the ETag named",
                                     "headers": {"ETag": etag}}
    parameters = operation.setdefault("parameters", [])
    if not any(p.get("name") == "If-None-Match" for p in parameters):
        parameters.append({
            "name": "If-None-Match", "in": "header", "required": False,
            "description": "the ETag of an answer read before: 304 without a body while it is unchanged",
            "schema": {"type": "string", "maxLength": MAX_IF_NONE_MATCH},
        })


# OpenAPI links: what a client does next with an answer (also the paths of schemathesis' stateful tests).
LINKS: dict[tuple[str, str], dict[str, tuple[str, str, dict[str, str]]]] = {
    ("post", "/api/v1/loans"): {
        "ReadLoan": ("get", "/api/v1/loans/{loan_id}", {"loan_id": "$response.body#/id"}),
        "RepayLoan": ("post", "/api/v1/loans/{loan_id}/repayments", {"loan_id": "$response.body#/id"}),
        "FileClaim": ("post", "/api/v1/loans/{loan_id}/claims", {"loan_id": "$response.body#/id"}),
        "CancelLoan": ("post", "/api/v1/loans/{loan_id}/cancel", {"loan_id": "$response.body#/id"}),
    },
    ("post", "/api/v1/loans/{loan_id}/repayments"): {
        "ReadRepaidLoan": ("get", "/api/v1/loans/{loan_id}", {"loan_id": "$response.body#/loan_id"}),
        "FileClaimAfterRepayment": ("post", "/api/v1/loans/{loan_id}/claims", {"loan_id": "$response.body#/loan_id"}),
    },
}


def add_links(schema: dict[str, Any]) -> None:
    """Put :data:`LINKS` on the success answers of their operations (by operationId), in place."""
    paths = schema.get("paths", {})
    for (method, path), links in LINKS.items():
        operation = paths.get(path, {}).get(method)
        if operation is None:
            continue
        success = next((r for s, r in sorted(operation["responses"].items()) if s.startswith("2")), None)
        if success is None:
            continue
        for name, (target_method, target_path, parameters) in links.items():
            target = paths.get(target_path, {}).get(target_method)
            if target is not None and target.get("operationId"):
                success.setdefault("links", {})[name] = {"operationId": target["operationId"], "parameters": parameters}
