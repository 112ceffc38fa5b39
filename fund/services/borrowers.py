"""Borrowers whose data differ between banks (docs/rules.md section 3).

Each loan carries its borrower as its own bank reported it, and eligibility uses that report; a bank
never sees another bank's report. The fund manager (and the auditor, who reads everything) gets this
report: for each borrower that two or more banks reported differently, the fields that differ and
what each bank reported, loan by loan.

>>> BORROWER_FIELDS[:3]
('name', 'district', 'sector')
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from fund.adapters.db import unit_of_work
from fund.adapters.models.registry import Enterprise, Institution, Loan
from fund.errors import Forbidden
from fund.services.registry import Actor

BORROWER_FIELDS = ("name", "district", "sector", "registered_on", "is_sme", "clean_credit")
_COLUMNS = (Loan.borrower_name, Loan.borrower_district, Loan.borrower_sector, Loan.borrower_registered_on,
            Loan.borrower_is_sme, Loan.borrower_clean_credit)


@dataclass(frozen=True)
class BorrowerReport:
    """What one bank reported about the borrower on one loan."""

    bank: str
    loan_id: int
    contract_no: str
    name: str
    district: str
    sector: str
    registered_on: dt.date
    is_sme: bool
    clean_credit: bool

    def value(self, field_name: str) -> object:
        return getattr(self, field_name)


@dataclass(frozen=True)
class BorrowerDifference:
    """A borrower reported differently by two or more banks: ``fields`` lists the fields in which the
    banks' reports differ (in ``BORROWER_FIELDS`` order), ``reports`` every loan's report."""

    credit_code: str
    fields: tuple[str, ...]
    reports: tuple[BorrowerReport, ...]


def borrower_differences(db: sessionmaker[Session], actor: Actor) -> list[BorrowerDifference]:
    """The use case: the report as of now, in one read-only transaction."""
    with unit_of_work(db) as session:
        return borrower_differences_in(session, actor)


def borrower_differences_in(session: Session, actor: Actor) -> list[BorrowerDifference]:
    """Borrowers with loans at two or more banks whose reports differ between banks, by credit code.
    Differences among one bank's own loans alone are not listed (that bank sees its own loans)."""
    if actor.kind not in ("fund_manager", "auditor"):
        raise Forbidden("forbidden", "only the fund manager and auditors read what banks reported about borrowers")
    shared = (
        select(Loan.enterprise_id)
        .group_by(Loan.enterprise_id)
        .having(func.count(func.distinct(Loan.bank_id)) > 1)
    )
    rows = session.execute(
        select(Enterprise.credit_code, Institution.code, Loan.id, Loan.contract_no, *_COLUMNS)
        .join(Enterprise, Enterprise.id == Loan.enterprise_id)
        .join(Institution, Institution.id == Loan.bank_id)
        .where(Loan.enterprise_id.in_(shared))
        .order_by(Enterprise.credit_code, Loan.id)
    ).all()
    by_borrower: dict[str, list[BorrowerReport]] = {}
    for credit_code, *report in rows:
        by_borrower.setdefault(credit_code, []).append(BorrowerReport(*report))
    differences = []
    for credit_code, reports in by_borrower.items():
        fields = tuple(f for f in BORROWER_FIELDS if _differs_between_banks(reports, f))
        if fields:
            differences.append(BorrowerDifference(credit_code, fields, tuple(reports)))
    return differences


def _differs_between_banks(reports: list[BorrowerReport], field_name: str) -> bool:
    """Whether two banks reported different values of the field (on any of their loans)."""
    values_by_bank: dict[str, set[object]] = {}
    for report in reports:
        values_by_bank.setdefault(report.bank, set()).add(report.value(field_name))
    banks = list(values_by_bank.values())
    # banks A and B reported a value each that differ unless both reported one and the same value
    return any(not (a == b and len(a) == 1) for i, a in enumerate(banks) for b in banks[i + 1:])
