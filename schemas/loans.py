"""Loans, their schedule, pledged assets, coverage decision and repayments, as sent and answered by
the API (docs/rules.md section 3). Amounts are integer fen (``*_fen``), rates integer bp (``*_bp``), dates
``YYYY-MM-DD``.

>>> from schemas.loans import InstallmentIn
>>> InstallmentIn.model_validate({"due_date": "2027-01-15", "principal_due_fen": 0, "interest_due_fen": 385},
...                              strict=True).interest_due_fen
385
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field

from fund.domain import registry as domain
from fund.domain import vocabulary
from schemas.common import (
    MAX_BATCH_ITEMS,
    FenAmount,
    RuleDate as IsoDate,  # the registry refuses dates before 1900 item by item
    OutModel,
    PositiveFen,
    RecordId,
    StrictModel,
    text,
)

# The domain's vocabularies (fund.domain.vocabulary), as the plain strings the API carries.
IpKind = Literal[vocabulary.IP_KIND_VALUES]  # type: ignore[valid-type]
Sector = Literal[vocabulary.SECTOR_VALUES]  # type: ignore[valid-type]
LegalStatus = Literal[vocabulary.LEGAL_STATUS_VALUES]  # type: ignore[valid-type]
LoanStatus = Literal[vocabulary.LOAN_STATUS_VALUES]  # type: ignore[valid-type]
CoverageValue = Literal[vocabulary.COVERAGE_VALUES]  # type: ignore[valid-type]

MAX_ASSETS_PER_LOAN = 50
MAX_INSTALLMENTS = 600  # 50 years of monthly installments
MAX_CONTRACT_RATE_BP = 100_000

CreditCode = text(32, "unified social credit code (GB 32100-2015), 18 characters; spaces are ignored")
ContractNo = text(64, "the bank's contract number, unique per bank")
InstitutionCode = text(32, "institution code, e.g. PICC-GZ")
IpNumber = text(64, "patent application number (rule I2, `CN`/`ZL` prefixes and spaces accepted), trademark registration number, or other IP number")
EnterpriseName = text(200, "registered name")
District = text(64, "district of the city")
IpTitle = text(300, "title of the IP")
SchemeCode = text(16, "loss-sharing scheme of the policy, e.g. 50")
PledgeRegistrationNo = text(64, "pledge registration number")
Bp = Annotated[int, Field(ge=0, le=10_000, description="basis points, 0..10000 (100% = 10000)")]


class BorrowerIn(StrictModel):
    """The borrower as the bank reports it; the first registration sets the fund's master data."""

    credit_code: CreditCode
    name: EnterpriseName
    district: District
    sector: Sector = Field(description="key industry (docs/rules.md section 8)")
    registered_on: IsoDate = Field(description="date registered in the city")
    is_sme: bool = Field(description="small or medium-sized enterprise")
    clean_credit: bool = Field(description="no bad credit record")

    def to_domain(self) -> domain.BorrowerIn:
        return domain.BorrowerIn(**dict(self))


class ValuationInputsIn(StrictModel):
    """Inputs of the relief-from-royalty model (rule V2); rates in bp."""

    revenue_fen: FenAmount = Field(description="annual revenue of the products using the IP")
    growth_bp: Annotated[int, Field(ge=-9_999, le=10_000, description="annual growth, bp (above -100%)")]
    royalty_bp: Bp
    tax_bp: Annotated[int, Field(ge=0, le=9_999, description="tax rate, bp (below 100%)")]
    discount_bp: Annotated[int, Field(ge=1, le=10_000, description="discount rate, bp")]
    decay_bp: Annotated[int, Field(ge=0, le=9_999, description="technology decay, bp (below 100%)")]
    claims_count: Annotated[int, Field(ge=0, le=10_000)] | None = None
    forward_citations: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    family_size: Annotated[int, Field(ge=0, le=10_000)] | None = None


class AssetIn(StrictModel):
    """A pledged IP asset."""

    kind: IpKind
    number: IpNumber
    title: IpTitle
    filing_date: IsoDate
    grant_date: IsoDate | None = Field(default=None, description="grant or registration date")
    legal_status: LegalStatus
    owner_credit_code: CreditCode
    appraised_value_fen: FenAmount = Field(description="the appraiser's value")
    appraised_on: IsoDate
    valuation_inputs: ValuationInputsIn | None = None

    def to_domain(self) -> domain.AssetIn:
        values = dict(self)
        inputs = values.pop("valuation_inputs")
        return domain.AssetIn(**values, valuation_inputs=inputs.model_dump(exclude_none=True) if inputs else None)


class InstallmentIn(StrictModel):
    """One installment of the repayment schedule."""

    due_date: IsoDate
    principal_due_fen: FenAmount
    interest_due_fen: FenAmount


class LoanIn(StrictModel):
    """A loan registration (docs/rules.md section 3). Refused outright (nothing stored) when the schedule does
    not add up to the principal, an asset is pledged on another open loan, an identifier is invalid,
    the contract number is already registered by this bank, and the other cases of section 3."""

    contract_no: ContractNo
    borrower: BorrowerIn
    principal_fen: PositiveFen
    contract_rate_bp: Annotated[int, Field(ge=1, le=MAX_CONTRACT_RATE_BP, description="annual contract rate, bp")]
    pd_bp: Bp | None = Field(default=None, description="the bank's annual PD for the borrower, bp")
    drawdown_date: IsoDate
    maturity_date: IsoDate
    ip_share_bp: Annotated[int, Field(ge=1, le=10_000, description="part of the loan secured by covered IP, bp")]
    scheme_code: SchemeCode
    insurer_code: InstitutionCode | None = Field(default=None, description="insurer or guarantor, when the scheme names one")
    insurer_limit_fen: FenAmount | None = Field(default=None, description="insurance or guarantee limit")
    appraiser_code: InstitutionCode | None = Field(default=None, description="appraiser, when the scheme names one")
    assets: list[AssetIn] = Field(min_length=1, max_length=MAX_ASSETS_PER_LOAN)
    pledge_registration_no: PledgeRegistrationNo
    pledge_registered_on: IsoDate
    schedule: list[InstallmentIn] = Field(min_length=1, max_length=MAX_INSTALLMENTS)

    def to_domain(self) -> domain.LoanApplication:
        values = {name: value for name, value in self if name not in ("borrower", "assets", "schedule")}
        return domain.LoanApplication(
            **values,
            borrower=self.borrower.to_domain(),
            assets=tuple(a.to_domain() for a in self.assets),
            schedule=tuple(domain.InstallmentIn(i.due_date, i.principal_due_fen, i.interest_due_fen) for i in self.schedule),
        )


class LoanBatchIn(StrictModel):
    """Up to 1000 loans, registered all-or-nothing."""

    items: list[LoanIn] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)


class InstallmentOut(OutModel):
    due_date: dt.date
    principal_due_fen: int
    interest_due_fen: int
    principal_paid_fen: int
    interest_paid_fen: int


class AssetOut(OutModel):
    kind: str
    number: str = Field(description="normal form")
    title: str
    filing_date: dt.date
    grant_date: dt.date | None
    legal_status: str
    owner_credit_code: str
    appraised_value_fen: int
    appraised_on: dt.date


class LoanSummary(OutModel):
    """A loan as listed."""

    id: int
    bank_code: str
    contract_no: str
    borrower_credit_code: str
    principal_fen: int
    drawdown_date: dt.date
    maturity_date: dt.date
    policy_id: str | None
    scheme_code: str
    status: LoanStatus
    coverage: CoverageValue
    ip_part_fen: int
    covered_fen: int
    principal_repaid_fen: int
    outstanding_fen: int
    flags: list[str]
    registered_on: dt.date


class LoanOut(LoanSummary):
    """A loan with its schedule and pledged assets."""

    borrower_name: str
    contract_rate_bp: int
    pd_bp: int | None
    ip_share_bp: int
    insurer_code: str | None
    insurer_limit_fen: int | None
    appraiser_code: str | None
    pledge_registration_no: str
    pledge_registered_on: dt.date
    ineligible_reasons: list[str]
    schedule: list[InstallmentOut]
    assets: list[AssetOut]


class LoanPage(OutModel):
    """One page of loans, by id; pass ``next_after_id`` as ``after_id`` for the next page."""

    items: list[LoanSummary]
    next_after_id: int | None = Field(description="cursor of the next page; null on the last page")


class LoanBatchOut(OutModel):
    """The loans of a batch, in the order sent."""

    items: list[LoanSummary]


class Reason(OutModel):
    code: str
    text: str


class CoverageOut(OutModel):
    """The coverage decision of rule C, fixed at registration."""

    loan_id: int
    policy_id: str | None
    scheme_code: str
    coverage: CoverageValue
    reasons: list[Reason] = Field(description="why the loan is ineligible (empty when eligible)")
    flags: list[Reason] = Field(description="notes on the decision, e.g. the borrower quota limited C")
    ip_part_fen: int = Field(description="floor(principal * ip_share_bp / 10000)")
    covered_fen: int = Field(description="covered principal C")
    quota_year: int | None
    claimable: bool = Field(description="eligible with C > 0: a default claim may be filed")


class RepaymentIn(StrictModel):
    """A repayment of the installment due on ``due_date``."""

    due_date: IsoDate = Field(description="due date of the installment paid")
    paid_on: IsoDate
    principal_fen: FenAmount
    interest_fen: FenAmount


class RepaymentItemIn(RepaymentIn):
    loan_id: RecordId


class RepaymentBatchIn(StrictModel):
    """Up to 1000 repayments, recorded all-or-nothing, in the order sent."""

    items: list[RepaymentItemIn] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)


class RepaymentOut(OutModel):
    id: int
    loan_id: int
    due_date: dt.date
    paid_on: dt.date
    principal_fen: int
    interest_fen: int
    past_due_at_payment: bool = Field(description="an installment of the loan was past due on the payment date")
    loan_status: LoanStatus = Field(description="the loan's status once the request is recorded")


class RepaymentPage(OutModel):
    items: list[RepaymentOut]
    next_after_id: int | None


class RepaymentBatchOut(OutModel):
    items: list[RepaymentOut]


def reason(code: str) -> dict[str, Any]:
    return {"code": code, "text": domain.REASON_TEXT.get(code, code.replace("_", " "))}
