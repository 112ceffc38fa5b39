"""Identifiers of rule I (docs/rules.md section 9): credit codes, patent, trademark and other IP numbers.

Every function takes what a person typed, returns the one stored (normal) form, or raises
``fund.errors.DomainError`` with a stable code, a message saying exactly what is wrong, the caller's
field name, and ``extra["problem"]`` (``"type"``, ``"length"``, ``"character"``, ``"check_digit"``,
``"patent_type"``, ``"kind"``) so a service can tell a mistyped check character apart from anything else.

>>> validate_uscc("91110000 60003734 1l")
'91110000600037341L'
>>> normalize_ip_number("invention_patent", "ZL 2017 1 0601862.3")
'201710601862.3'
"""

from __future__ import annotations

from types import MappingProxyType

from fund.domain.policy import IP_KINDS, PATENT_KINDS
from fund.errors import DomainError

__all__ = [
    "IP_KINDS",
    "PATENT_KINDS",
    "PATENT_TYPE_KINDS",
    "USCC_ALPHABET",
    "normalize_ip_number",
    "normalize_patent_number",
    "normalize_trademark_number",
    "patent_check_char",
    "uscc_check_char",
    "validate_uscc",
]

# ---------------------------------------------------------------------------------------------------
# I1. Unified social credit code (GB 32100-2015)

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # I, O, S, V, Z are never used
_USCC_VALUE = MappingProxyType({char: value for value, char in enumerate(USCC_ALPHABET)})
_USCC_MODULUS = 31
_USCC_WEIGHTS = tuple(pow(3, i, _USCC_MODULUS) for i in range(17))  # 3^(i-1) mod 31, i = 1..17
_USCC_LENGTH = 18

_ASCII_LOWER_TO_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _compact(text: object, *, code: str, field: str, what: str) -> str:
    """Drop all whitespace and upper-case ASCII letters only.

    ``str.upper`` is not used: it turns some non-ASCII letters into ASCII ones (``"ﬀ"`` -> ``"FF"``),
    which would silently accept text the person did not type.
    """
    if not isinstance(text, str):
        raise DomainError(code, f"{what} must be text, got {type(text).__name__}", field=field, problem="type")
    return "".join(text.split()).translate(_ASCII_LOWER_TO_UPPER)


def _uscc_bad_character(text: str, *, code: str, field: str, what: str) -> None:
    for position, char in enumerate(text, start=1):
        if char not in _USCC_VALUE:
            raise DomainError(
                code,
                f"{what} character {position} is {char!r}, which is not allowed "
                f"(allowed: digits 0-9 and letters {USCC_ALPHABET[10:]}; I, O, S, V, Z are never used)",
                field=field,
                problem="character",
                position=position,
                got=char,
            )


def _uscc_check_value(body: str) -> str:
    total = sum(_USCC_VALUE[char] * weight for char, weight in zip(body, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(_USCC_MODULUS - total % _USCC_MODULUS) % _USCC_MODULUS]


def uscc_check_char(first17: str, *, field: str = "credit_code") -> str:
    """The check character (18th) of a unified social credit code from its first 17 characters.

    Whitespace is dropped and ASCII letters upper-cased first, as in :func:`validate_uscc`.

    >>> uscc_check_char("91110000600037341")
    'L'
    >>> uscc_check_char("91512081ma62k0260")
    'E'
    """
    what = "the first 17 characters of the credit code"
    body = _compact(first17, code="invalid_uscc", field=field, what=what)
    if len(body) != _USCC_LENGTH - 1:
        raise DomainError(
            "invalid_uscc",
            f"{what} must be 17 characters, got {len(body)}",
            field=field,
            problem="length",
            got=len(body),
        )
    _uscc_bad_character(body, code="invalid_uscc", field=field, what=what)
    return _uscc_check_value(body)


def validate_uscc(code: str, allow_failed_check: bool = False, *, field: str = "credit_code") -> str:
    """Check a unified social credit code (rule I1) and return its normal form.

    The normal form has no whitespace and upper-case letters. With ``allow_failed_check=True`` a code
    whose only fault is its check character is accepted: early pilot codes that only the fund manager
    may register, with a stated reason (the caller enforces who, and records the reason). Length and
    character set are always enforced.

    >>> validate_uscc(" 91512081MA62K0260E ")
    '91512081MA62K0260E'
    >>> validate_uscc("91110000600037341M")
    Traceback (most recent call last):
    ...
    fund.errors.DomainError: credit code check character (18th) is wrong: expected 'L', got 'M'
    >>> validate_uscc("91110000600037341M", allow_failed_check=True)
    '91110000600037341M'
    """
    what = "credit code"
    text = _compact(code, code="invalid_uscc", field=field, what=what)
    if len(text) != _USCC_LENGTH:
        raise DomainError(
            "invalid_uscc",
            f"{what} must be {_USCC_LENGTH} characters, got {len(text)}",
            field=field,
            problem="length",
            got=len(text),
        )
    _uscc_bad_character(text, code="invalid_uscc", field=field, what=what)
    expected = _uscc_check_value(text[:-1])
    if text[-1] != expected and not allow_failed_check:
        raise DomainError(
            "invalid_uscc",
            f"{what} check character (18th) is wrong: expected {expected!r}, got {text[-1]!r}",
            field=field,
            problem="check_digit",
            expected=expected,
            got=text[-1],
        )
    return text


# ---------------------------------------------------------------------------------------------------
# I2. Patent application numbers; I3. trademark numbers; other IP kinds


# The type digit is the 5th digit of a 12-digit number and the 3rd of an 8-digit (pre-2003-10-01) one.
PATENT_TYPE_KINDS = MappingProxyType(
    {
        "1": "invention_patent",
        "2": "utility_model",
        "3": "design_patent",
        "8": "invention_patent",  # PCT application entering China
        "9": "utility_model",  # PCT application entering China
    }
)
_PATENT_WEIGHTS = MappingProxyType({12: (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5), 8: (2, 3, 4, 5, 6, 7, 8, 9)})
_PATENT_TYPE_INDEX = MappingProxyType({12: 4, 8: 2})
_PATENT_PREFIXES = ("CN", "ZL")
_ASCII_DIGITS = frozenset("0123456789")
_OTHER_IP_MAX_LENGTH = 64
_TRADEMARK_MAX_DIGITS = 12


def _check_kind(kind: object, allowed: tuple[str, ...]) -> str:
    if kind not in allowed:
        raise DomainError(
            "invalid_ip_kind",
            f"IP kind must be one of {', '.join(allowed)}; got {kind!r}",
            field="kind",
            problem="kind",
            got=kind,
        )
    return kind  # type: ignore[return-value]


def patent_check_char(digits: str) -> str:
    """The check character of a patent application number's 12 (or older 8) digits: ``0``-``9`` or ``X``.

    >>> patent_check_char("201710601862")
    '3'
    >>> patent_check_char("95115608")
    'X'
    """
    if not isinstance(digits, str) or len(digits) not in _PATENT_WEIGHTS or not set(digits) <= _ASCII_DIGITS:
        raise ValueError(f"digits must be 12 or 8 ASCII digits, got {digits!r}")
    remainder = sum(int(d) * w for d, w in zip(digits, _PATENT_WEIGHTS[len(digits)], strict=True)) % 11
    return "X" if remainder == 10 else str(remainder)


def normalize_patent_number(number: str, kind: str, *, field: str = "number") -> str:
    """Check a patent application number (rule I2) against its declared kind; return the stored form.

    Accepted: an optional ``CN`` or ``ZL`` prefix, whitespace anywhere, a lower-case ``x``, and the
    ``.`` before the check character may be left out. Stored form: the 12 digits (8 for numbers filed
    before 2003-10-01), ``.``, the check character. The type digit (5th of 12, 3rd of 8) must mean the
    declared kind: 1 or 8 an invention, 2 or 9 a utility model, 3 a design.

    >>> normalize_patent_number("CN 95115608.x", "invention_patent")
    '95115608.X'
    >>> normalize_patent_number("2013106997442", "invention_patent")
    '201310699744.2'
    >>> normalize_patent_number("201710601862.3", "utility_model")
    Traceback (most recent call last):
    ...
    fund.errors.DomainError: patent number 201710601862.3 has type digit 1 (invention_patent), but the declared kind is utility_model
    """
    kind = _check_kind(kind, PATENT_KINDS)
    code = "invalid_patent_number"
    text = _compact(number, code=code, field=field, what="patent number")
    for prefix in _PATENT_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    if text.count(".") > 1 or ("." in text and text.index(".") != len(text) - 2):
        raise DomainError(
            code,
            f"patent number {text!r}: a '.' may appear only once, just before the check character",
            field=field,
            problem="character",
        )
    digits, check = text.replace(".", "")[:-1], text[-1:]
    if len(digits) not in _PATENT_WEIGHTS:
        raise DomainError(
            code,
            f"patent number must be 12 digits (8 before 2003-10-01) followed by a check character; "
            f"got {len(digits) + len(check)} characters in {text!r}",
            field=field,
            problem="length",
            got=len(digits) + len(check),
        )
    for position, char in enumerate(digits, start=1):
        if char not in _ASCII_DIGITS:
            raise DomainError(
                code,
                f"patent number character {position} is {char!r}; the first {len(digits)} must be digits 0-9",
                field=field,
                problem="character",
                position=position,
                got=char,
            )
    if check not in _ASCII_DIGITS and check != "X":
        raise DomainError(
            code,
            f"patent number check character is {check!r}; it must be a digit 0-9 or X",
            field=field,
            problem="character",
            position=len(digits) + 1,
            got=check,
        )
    stored = f"{digits}.{check}"
    expected = patent_check_char(digits)
    if check != expected:
        raise DomainError(
            code,
            f"patent number {stored} has a wrong check character: expected {expected!r}, got {check!r}",
            field=field,
            problem="check_digit",
            expected=expected,
            got=check,
        )
    type_digit = digits[_PATENT_TYPE_INDEX[len(digits)]]
    type_kind = PATENT_TYPE_KINDS.get(type_digit)
    if type_kind is None:
        raise DomainError(
            code,
            f"patent number {stored} has type digit {type_digit}, which is no patent type "
            f"(1 or 8 invention_patent, 2 or 9 utility_model, 3 design_patent)",
            field=field,
            problem="patent_type",
            got=type_digit,
        )
    if type_kind != kind:
        raise DomainError(
            code,
            f"patent number {stored} has type digit {type_digit} ({type_kind}), "
            f"but the declared kind is {kind}",
            field=field,
            problem="kind",
            expected=kind,
            got=type_kind,
        )
    return stored


def normalize_trademark_number(number: str, *, field: str = "number") -> str:
    """Check a trademark registration number (rule I3: digits only, no check digit), 1 to 12 digits.

    >>> normalize_trademark_number(" 1234 5678 ")
    '12345678'
    """
    code = "invalid_trademark_number"
    text = _compact(number, code=code, field=field, what="trademark number")
    if not 1 <= len(text) <= _TRADEMARK_MAX_DIGITS:
        raise DomainError(
            code,
            f"trademark number must be 1 to {_TRADEMARK_MAX_DIGITS} digits, got {len(text)} characters",
            field=field,
            problem="length",
            got=len(text),
        )
    for position, char in enumerate(text, start=1):
        if char not in _ASCII_DIGITS:
            raise DomainError(
                code,
                f"trademark number character {position} is {char!r}; only digits 0-9 are allowed",
                field=field,
                problem="character",
                position=position,
                got=char,
            )
    return text


def _normalize_other_ip_number(number: object, *, field: str) -> str:
    code = "invalid_ip_number"
    if not isinstance(number, str):
        raise DomainError(code, f"IP number must be text, got {type(number).__name__}", field=field, problem="type")
    text = number.strip()
    if not 1 <= len(text) <= _OTHER_IP_MAX_LENGTH:
        raise DomainError(
            code,
            f"IP number must be 1 to {_OTHER_IP_MAX_LENGTH} characters after trimming, got {len(text)}",
            field=field,
            problem="length",
            got=len(text),
        )
    for position, char in enumerate(text, start=1):
        if not char.isprintable():
            raise DomainError(
                code,
                f"IP number character {position} ({char!r}) is not printable",
                field=field,
                problem="character",
                position=position,
                got=char,
            )
    return text


def normalize_ip_number(kind: str, number: str, *, field: str = "number") -> str:
    """The stored form of an IP asset's number, by kind (rule I2, I3; other kinds: trimmed text).

    Patents go to :func:`normalize_patent_number`, trademarks to :func:`normalize_trademark_number`;
    ``geographical_indication`` and ``ic_layout`` numbers are trimmed, non-empty, at most 64 printable
    characters. An unknown kind raises ``DomainError("invalid_ip_kind", field="kind")``.

    >>> normalize_ip_number("trademark", "4 567 890")
    '4567890'
    >>> normalize_ip_number("ic_layout", "  BS.12500123.4 ")
    'BS.12500123.4'
    """
    kind = _check_kind(kind, IP_KINDS)
    if kind in PATENT_KINDS:
        return normalize_patent_number(number, kind, field=field)
    if kind == "trademark":
        return normalize_trademark_number(number, field=field)
    return _normalize_other_ip_number(number, field=field)
