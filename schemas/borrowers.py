"""Borrowers whose data differ between banks, as the API answers the fund manager and auditors
(docs/rules.md section 3)."""

from __future__ import annotations

from pydantic import Field

from schemas.common import IsoDate, OutModel


class BorrowerReportOut(OutModel):
    """What one bank reported about the borrower on one of its loans."""

    bank: str = Field(description="the reporting bank's institution code")
    loan_id: int
    contract_no: str
    name: str
    district: str
    sector: str
    registered_on: IsoDate = Field(description="registered in the city on")
    is_sme: bool
    clean_credit: bool


class BorrowerDifferenceOut(OutModel):
    credit_code: str = Field(description="the borrower's unified social credit code")
    fields: list[str] = Field(description="the fields two or more banks reported differently")
    reports: list[BorrowerReportOut] = Field(description="every loan's report, by loan id")


class BorrowerDifferenceList(OutModel):
    items: list[BorrowerDifferenceOut]
