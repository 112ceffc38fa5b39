"""Query parameters shared by several endpoints.

``updated_since`` is read as a bounded string and parsed here, not declared as a ``datetime``: the
OpenAPI document bounds every string parameter (``maxLength``), and Litestar cannot put a length
bound on a ``datetime`` parameter (the bound reaches msgspec, which refuses it on every request).

>>> updated_since_of("2026-10-31T16:00:00+08:00").isoformat()
'2026-10-31T16:00:00+08:00'
>>> updated_since_of(None) is None
True
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar.params import QueryParameter

from fund.errors import DomainError

MAX_MOMENT_LENGTH = 40  # "2026-10-31T08:00:00.123456+08:00" is 32

UpdatedSince = Annotated[str | None, QueryParameter(
    min_length=1, max_length=MAX_MOMENT_LENGTH, schema_extra={"format": "date-time"},
    description="only records changed at or after this moment, RFC 3339 with its offset, e.g. 2026-10-31T08:00:00Z")]


def updated_since_of(value: str | None, name: str = "updated_since") -> dt.datetime | None:
    """The moment an ``updated_since`` parameter names (RFC 3339; ``Z`` is UTC; without an offset, UTC);
    422 ``invalid_date`` when it is not one."""
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise DomainError("invalid_date", f"{name} must be an RFC 3339 date-time, got {value[:MAX_MOMENT_LENGTH]!r}",
                          field=name) from None
