"""Building blocks of every request and response model: strict models that refuse unknown fields,
money in fen, rates in bp, ISO 8601 dates, bounded text.

Strictness: an integer field takes a JSON integer only (not ``1.0``, ``"1"`` or ``true``), a date a
``YYYY-MM-DD`` string only, a boolean ``true``/``false`` only.

>>> from schemas.common import StrictModel, FenAmount, IsoDate
>>> class Example(StrictModel):
...     amount_fen: FenAmount
...     on: IsoDate
>>> Example.model_validate({"amount_fen": 5, "on": "2026-01-31"}, strict=True).on.isoformat()
'2026-01-31'
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WrapSerializer
from pydantic_core import PydanticCustomError

from fund.domain.dates import aware_utc
from fund.domain.money import MAX_SINGLE_AMOUNT_FEN

# Largest id or cursor a client may send (ids are 32-bit integers in the database).
MAX_ID = 2**31 - 1
MAX_BATCH_ITEMS = 1000
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100

# Text: no control characters (they cannot be stored in PostgreSQL and are never meant).
_TEXT_PATTERN = r"^[^\x00-\x1f\x7f]+$"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
EARLIEST_DATE = dt.date(1900, 1, 1)


def _iso_date_any_year(value: Any) -> Any:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a calendar date") from None
    raise ValueError("must be a date written YYYY-MM-DD")


def _iso_date(value: Any) -> Any:
    return _not_before_1900(_iso_date_any_year(value))


def _not_before_1900(value: dt.date) -> dt.date:
    # docs/rules.md section 0: a date before 1900-01-01 is refused as input (the rules refuse it too; here it
    # is refused before any rule runs, so that no date arithmetic ever sees year 1).
    if value < EARLIEST_DATE:
        raise PydanticCustomError("date_before_1900", "{date} is before 1900-01-01: dates before 1900 are refused",
                                  {"date": value.isoformat()})
    return value


def _no_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text") from None
    return value


def storable_text(value: str) -> str:
    """The one check of text a person or a bank enters: refused when it holds a character that XML
    (so no XLSX statement) cannot hold, such as U+FFFF, so that it can never break a file later.

    >>> storable_text("ok")
    'ok'
    """
    from fund.domain.statements import xml_unsafe_position

    at = xml_unsafe_position(value)
    if at is not None:
        raise ValueError(f"holds U+{ord(value[at]):04X} at position {at + 1}, which a statement file cannot hold")
    return value


class StrictModel(BaseModel):
    """Base of request models: unknown fields are refused, types are not coerced."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class OutModel(BaseModel):
    """Base of response models (built from trusted data; no extra fields either)."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date), Field(description="ISO 8601 date, YYYY-MM-DD, from 1900-01-01")]
# A date the rules check (a loan's, a repayment's): one before 1900 is refused by the rules with the
# others of its item, so that a batch names every refused item (``batch_refused``).
RuleDate = Annotated[dt.date, BeforeValidator(_iso_date_any_year), Field(description="ISO 8601 date, YYYY-MM-DD, from 1900-01-01")]


def text(max_length: int, description: str, *, min_length: int = 1, pattern: str = _TEXT_PATTERN) -> Any:
    """A bounded text field without control characters."""
    return Annotated[
        str,
        Field(min_length=min_length, max_length=max_length, pattern=pattern, description=description),
        BeforeValidator(_no_surrogates),
        AfterValidator(storable_text),  # after the pattern: a control character is reported as the pattern's
    ]


FenAmount = Annotated[
    int, Field(ge=0, le=MAX_SINGLE_AMOUNT_FEN, description="amount in fen (1 yuan = 100 fen), 0..10^12")
]
PositiveFen = Annotated[
    int, Field(ge=1, le=MAX_SINGLE_AMOUNT_FEN, description="amount in fen (1 yuan = 100 fen), 1..10^12")
]
RecordId = Annotated[int, Field(ge=1, le=MAX_ID, description=f"record id, 1..{MAX_ID}")]


class _OffsetAware:
    """Marks the one timestamp type (a test finds every answer's timestamps are of it)."""

    offset_aware = True


Timestamp = Annotated[
    dt.datetime,
    AfterValidator(aware_utc),
    WrapSerializer(lambda value, serialize: serialize(aware_utc(value))),
    _OffsetAware(),
    Field(description="RFC 3339 timestamp with its offset (stored in UTC), e.g. 2026-10-31T08:15:00Z"),
]
"""A point in time in an answer, always written with its offset.

>>> class Stamped(OutModel):
...     at: Timestamp
>>> Stamped.model_construct(at=dt.datetime(2026, 10, 31, 8, 15)).model_dump_json()
'{"at":"2026-10-31T08:15:00Z"}'
"""
