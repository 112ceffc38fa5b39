"""RFC 9457 problem details: the body of every error answer (``application/problem+json``)."""

from __future__ import annotations

from pydantic import Field

from schemas.common import OutModel

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:ipfund:problem:"


class FieldError(OutModel):
    """One fault: a batch item (``index``) or a field of the request."""

    code: str = Field(description="stable machine-readable code, e.g. invalid_uscc, string_too_long")
    message: str
    field: str | None = Field(description="where the fault is, e.g. items[3].borrower.credit_code")
    index: int | None = Field(default=None, description="index of the batch item at fault")


class Problem(OutModel):
    """An error answer. ``code`` is stable; ``field`` names the field at fault (request body fields as
    dotted paths with [index] for list items, or the header or query parameter)."""

    type: str = Field(description=f"{PROBLEM_TYPE_PREFIX}<code>")
    title: str = Field(description="the HTTP status phrase")
    status: int
    detail: str
    instance: str = Field(description="the request path")
    code: str = Field(description="stable machine-readable code")
    field: str | None
    errors: list[FieldError] = Field(description="every fault found (per batch item by index, or per field)")
    request_id: str | None = Field(default=None, description="the request's X-Request-ID: the audit record and the server's log line name it too")
