"""The institutions of the fund, as every participant may know them: code, name, kind.

>>> from fund.services.institutions import InstitutionView
>>> InstitutionView("BANK1", "Bank One", "bank").kind
'bank'
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from fund.adapters.models.registry import Institution

KINDS = ("bank", "insurer", "guarantor", "appraiser", "fund_manager", "auditor")


@dataclass(frozen=True)
class InstitutionView:
    code: str
    name: str
    kind: str


def list_institutions(session: Session, *, kind: str | None = None) -> list[InstitutionView]:
    """Every institution by code (or those of one ``kind``)."""
    stmt = select(Institution.code, Institution.name, Institution.kind).order_by(Institution.code)
    if kind is not None:
        stmt = stmt.where(Institution.kind == kind)
    return [InstitutionView(*row) for row in session.execute(stmt)]
