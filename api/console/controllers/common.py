"""Shared pieces of the console's controllers: form bodies, the audit wrapper for steps whose service
does not record them itself, figures from a form."""

from __future__ import annotations

from typing import Annotated, Any

from litestar.enums import RequestEncodingType
from litestar.params import Body

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
Multipart = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]


def text(data: dict[str, Any], name: str, *, limit: int = 500) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value[:limit] if value else None


def int_or(value: Any, default: int) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default


def audited_step(request, action: str, target: str, work):
    """Run ``work(session)`` in one transaction as the signed-in person, recorded in the audit trail
    (a refusal too, with its code)."""
    from api.console.web import actor, db
    from fund.services import audit

    return audit.audited(db(request), actor(request), action, target, work)
