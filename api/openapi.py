"""What the OpenAPI document says beyond what Litestar derives from a handler's signature: other
success answers (a rerun's 200 beside the 201), other media types of a download (CSV and XLSX).

A handler declares them with :func:`documented` around its :func:`api.auth.allow` arguments::

    @post("/", status_code=201, **documented(allow(Role.FUND_MANAGER), also_answers={200: "the month had been run"}))

>>> documented({"opt": {"roles": ()}}, media_types=["text/csv"])["opt"][MEDIA_TYPES_OPT]
('text/csv',)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
