"""Reference data every database needs: ledger accounts, the shipped LPR table."""

from __future__ import annotations

from sqlalchemy.orm import Session

from fund.domain.identifiers import patent_check_char, uscc_check_char
from fund.services.ledger import ensure_accounts
from fund.services.lpr import seed_lpr


def seed_reference_data(session: Session) -> None:
    ensure_accounts(session)
    seed_lpr(session)


def make_uscc(body17: str) -> str:
    """A valid unified social credit code from its first 17 characters."""
    return body17 + uscc_check_char(body17)


def make_patent_number(year: int, type_digit: int, serial: int) -> str:
    """A valid new-format patent application number (normal form)."""
    digits = f"{year:04d}{type_digit}{serial:07d}"
    return f"{digits}.{patent_check_char(digits)}"
