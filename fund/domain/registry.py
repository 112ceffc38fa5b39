"""Rule C as plain code: what a loan registration carries, what is refused outright, and the
coverage decision (eligibility reasons and covered principal)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from fund.domain.dates import add_years, check_event_date, check_input_date
from fund.domain.money import BP_ONE, apply_bp, check_amount
from fund.domain.policy import IP_KINDS, Policy
from fund.domain.vocabulary import LEGAL_STATUS_VALUES, SECTOR_VALUES
from fund.errors import DomainError

SECTORS = SECTOR_VALUES
LEGAL_STATUSES = LEGAL_STATUS_VALUES


@dataclass(frozen=True)
class BorrowerIn:
    credit_code: str
    name: str
    district: str
    sector: str
    registered_on: dt.date
    is_sme: bool
    clean_credit: bool


@dataclass(frozen=True)
class AssetIn:
    kind: str
    number: str
    title: str
    filing_date: dt.date
    legal_status: str
    owner_credit_code: str
    appraised_value_fen: int
    appraised_on: dt.date
    grant_date: dt.date | None = None
    valuation_inputs: dict[str, Any] | None = None


@dataclass(frozen=True)
class InstallmentIn:
    due_date: dt.date
    principal_due_fen: int
    interest_due_fen: int


@dataclass(frozen=True)
class RepaymentIn:
    """A repayment of (part of) the installment due on ``due_date``."""

    due_date: dt.date
    paid_on: dt.date
    principal_fen: int
    interest_fen: int


@dataclass(frozen=True)
class LoanApplication:
    contract_no: str
    borrower: BorrowerIn
    principal_fen: int
    contract_rate_bp: int
    drawdown_date: dt.date
    maturity_date: dt.date
    ip_share_bp: int
    scheme_code: str
    assets: tuple[AssetIn, ...]
    pledge_registration_no: str
    pledge_registered_on: dt.date
    schedule: tuple[InstallmentIn, ...]
    pd_bp: int | None = None
    insurer_code: str | None = None
    insurer_limit_fen: int | None = None
    appraiser_code: str | None = None


def _refuse(code: str, message: str, field_name: str) -> DomainError:
    return DomainError(code, message, field=field_name)


def check_application(app: LoanApplication, business_date: dt.date) -> None:
    """Refusals of docs/rules.md section 3 that need no database, in one place; raises DomainError."""
    if app.principal_fen <= 0:
        raise _refuse("invalid_principal", f"principal_fen must be > 0, got {app.principal_fen}", "principal_fen")
    check_amount("principal_fen", app.principal_fen, minimum=1)
    if not 1 <= app.ip_share_bp <= BP_ONE:
        raise _refuse("invalid_ip_share", f"ip_share_bp must be 1..10000, got {app.ip_share_bp}", "ip_share_bp")
    if app.contract_rate_bp < 1:
        raise _refuse("invalid_rate", f"contract_rate_bp must be >= 1, got {app.contract_rate_bp}", "contract_rate_bp")
    if app.pd_bp is not None and not 0 <= app.pd_bp <= BP_ONE:
        raise _refuse("invalid_pd", f"pd_bp must be 0..10000, got {app.pd_bp}", "pd_bp")
    check_application_dates(app, business_date)
    if app.maturity_date <= app.drawdown_date:
        raise _refuse("maturity_not_after_drawdown", "maturity_date must be after drawdown_date", "maturity_date")
    if app.borrower.sector not in SECTORS:
        raise _refuse("invalid_sector", f"borrower.sector must be one of {', '.join(SECTORS)}", "borrower.sector")
    if app.insurer_limit_fen is not None:
        check_amount("insurer_limit_fen", app.insurer_limit_fen)
    if not app.assets:
        raise _refuse("no_pledged_asset", "a loan must pledge at least one IP asset", "assets")
    seen_assets: set[tuple[str, str]] = set()
    for i, asset in enumerate(app.assets):
        where = f"assets[{i}]"
        if asset.kind not in IP_KINDS:
            raise _refuse("invalid_ip_kind", f"{where}.kind must be one of {', '.join(IP_KINDS)}", f"{where}.kind")
        if asset.legal_status not in LEGAL_STATUSES:
            raise _refuse(
                "invalid_legal_status", f"{where}.legal_status must be one of {', '.join(LEGAL_STATUSES)}", f"{where}.legal_status"
            )
        check_amount(f"{where}.appraised_value_fen", asset.appraised_value_fen)
        key = (asset.kind, asset.number)
        if key in seen_assets:
            raise _refuse("duplicate_asset", f"{where} is pledged twice in this loan", f"{where}.number")
        seen_assets.add(key)
    check_schedule(app)


def check_application_dates(app: LoanApplication, business_date: dt.date) -> None:
    """docs/rules.md section 0 on a registration: events (drawdown, registration in the city, pledge
    registration, filing and grant of an asset, appraisal) not after the business date; schedule
    dates (maturity, due dates) may lie ahead; no date before 1900-01-01; a grant not before its
    filing."""
    for name, value in (
        ("drawdown_date", app.drawdown_date),
        ("borrower.registered_on", app.borrower.registered_on),
        ("pledge_registered_on", app.pledge_registered_on),
    ):
        check_event_date(value, name, business_date)
    check_input_date(app.maturity_date, "maturity_date")
    for i, inst in enumerate(app.schedule):
        check_input_date(inst.due_date, f"schedule[{i}].due_date")
    for i, asset in enumerate(app.assets):
        where = f"assets[{i}]"
        check_event_date(asset.filing_date, f"{where}.filing_date", business_date)
        if asset.grant_date is not None:
            check_event_date(asset.grant_date, f"{where}.grant_date", business_date)
            if asset.grant_date < asset.filing_date:
                raise _refuse("granted_before_filing", f"{where}.grant_date {asset.grant_date} is before its filing date {asset.filing_date}",
                              f"{where}.grant_date")
        check_event_date(asset.appraised_on, f"{where}.appraised_on", business_date)


def check_schedule(app: LoanApplication) -> None:
    if not app.schedule:
        raise _refuse("schedule_mismatch", "the repayment schedule is empty", "schedule")
    dates: set[dt.date] = set()
    total = 0
    for i, inst in enumerate(app.schedule):
        where = f"schedule[{i}]"
        check_amount(f"{where}.principal_due_fen", inst.principal_due_fen)
        check_amount(f"{where}.interest_due_fen", inst.interest_due_fen)
        if inst.due_date in dates:
            raise _refuse("schedule_mismatch", f"{where}: two installments fall due on {inst.due_date}", f"{where}.due_date")
        if not app.drawdown_date <= inst.due_date <= app.maturity_date:
            raise _refuse(
                "schedule_mismatch", f"{where}: due date {inst.due_date} is outside drawdown..maturity", f"{where}.due_date"
            )
        dates.add(inst.due_date)
        total += inst.principal_due_fen
    if total != app.principal_fen:
        raise _refuse(
            "schedule_mismatch",
            f"the schedule's principal dues add up to {total} fen, not the principal {app.principal_fen}",
            "schedule",
        )


def check_scheme_parties(app: LoanApplication, policy: Policy) -> None:
    if app.scheme_code not in policy.schemes:
        raise _refuse("unknown_scheme", f"policy {policy.id} has no scheme {app.scheme_code!r}", "scheme_code")
    scheme = policy.schemes[app.scheme_code]
    if scheme.names_insurer and not app.insurer_code:
        raise _refuse("missing_party", f"scheme {scheme.code} names an insurer or guarantor: insurer_code is required", "insurer_code")
    if scheme.names_appraiser and not app.appraiser_code:
        raise _refuse("missing_party", f"scheme {scheme.code} names an appraiser: appraiser_code is required", "appraiser_code")


@dataclass(frozen=True)
class BorrowerFacts:
    """The borrower data eligibility looks at: this loan's own, as its bank reported it (docs/rules.md
    section 3), never another bank's report."""

    registered_on: dt.date
    is_sme: bool
    clean_credit: bool


@dataclass(frozen=True)
class EligibilityDecision:
    eligible: bool
    reasons: tuple[str, ...]
    ip_part_fen: int
    capped_fen: int  # min(ip_part, single-loan cap), before the borrower quota


@dataclass(frozen=True)
class Coverage:
    eligible: bool
    reasons: tuple[str, ...]
    ip_part_fen: int
    covered_fen: int
    quota_used_fen: int
    flags: tuple[str, ...] = field(default=())


def decide_eligibility(app: LoanApplication, policy: Policy | None, borrower: BorrowerFacts) -> EligibilityDecision:
    """Eligibility reasons of docs/rules.md section 3 (all that apply, in a fixed order)."""
    ip_part = apply_bp(app.principal_fen, app.ip_share_bp)
    reasons: list[str] = []
    if policy is None:
        reasons.append("no_active_policy")
    if not borrower.is_sme:
        reasons.append("not_sme")
    min_years = policy.min_registration_years if policy else 1
    if borrower.registered_on > add_years(app.drawdown_date, -min_years):
        reasons.append("registered_too_recently")
    if not borrower.clean_credit:
        reasons.append("bad_credit_record")
    kinds = policy.eligible_ip_kinds if policy else ()
    if policy is not None and not any(a.kind in kinds and a.legal_status == "valid" for a in app.assets):
        reasons.append("no_eligible_asset_in_force")
    capped = ip_part
    if policy is not None and policy.single_loan_cap_fen is not None:
        capped = min(capped, policy.single_loan_cap_fen)
    return EligibilityDecision(not reasons, tuple(reasons), ip_part, capped)


def apply_quota(decision: EligibilityDecision, quota_fen: int | None, quota_used_fen: int) -> Coverage:
    """``C = min(ip_part, single-loan cap, quota left)``; ineligible loans get C = 0 and use no quota."""
    if not decision.eligible:
        return Coverage(False, decision.reasons, decision.ip_part_fen, 0, 0)
    if quota_fen is None:
        return Coverage(True, (), decision.ip_part_fen, decision.capped_fen, decision.capped_fen)
    left = max(0, quota_fen - quota_used_fen)
    covered = min(decision.capped_fen, left)
    flags: tuple[str, ...] = ()
    if covered < decision.capped_fen:
        flags = ("borrower_quota_exhausted",) if covered == 0 else ("borrower_quota_limited",)
    return Coverage(True, (), decision.ip_part_fen, covered, covered, flags)


REASON_TEXT = {
    "no_active_policy": "no active policy is in force on the drawdown date",
    "not_sme": "the borrower is not an SME",
    "registered_too_recently": "the borrower was registered in the city less than the required years before drawdown",
    "bad_credit_record": "the borrower has a bad credit record",
    "no_eligible_asset_in_force": "no pledged asset is of a kind the policy covers and in force",
    "bank_not_in_pool": "the bank has no pool agreement under the drawdown policy on the drawdown date (B1)",
    "bank_suspended": "the bank is suspended on the drawdown date: its losses passed the policy's line (B2)",
    "borrower_quota_exhausted": "the borrower's annual quota under this policy is used up: covered principal is 0 and the loan cannot be claimed on",
    "borrower_quota_limited": "the borrower's annual quota under this policy limits the covered principal",
    "pledge_rate_exceeded": "the IP part exceeds the usual pledge rate times the appraised value of the assets",
}
