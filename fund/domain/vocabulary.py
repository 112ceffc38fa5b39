"""The fund's vocabularies, defined once (docs/rules.md sections 1, 3, 4 and 8): every key a record, a
policy file, a request or the OpenAPI may hold. The rules, the services and ``schemas/`` take their
keys from here; the ``*_VALUES`` tuples are the plain strings in declaration order (what the
database columns, the CSV files and the API carry).

>>> IpKind.TRADEMARK == "trademark"
True
>>> values(ClaimStatus)
('filed', 'withdrawn', 'rejected', 'approved', 'closed')
"""

from __future__ import annotations

from enum import StrEnum


def values(vocabulary: type[StrEnum]) -> tuple[str, ...]:
    """The keys of a vocabulary as plain strings, in declaration order."""
    return tuple(member.value for member in vocabulary)


class IpKind(StrEnum):
    """Kinds of pledged IP (docs/rules.md section 3)."""

    INVENTION_PATENT = "invention_patent"
    UTILITY_MODEL = "utility_model"
    DESIGN_PATENT = "design_patent"
    TRADEMARK = "trademark"
    GEOGRAPHICAL_INDICATION = "geographical_indication"
    IC_LAYOUT = "ic_layout"


class Sector(StrEnum):
    """A borrower's sector: the keys of the stress model's sector table (docs/rules.md section 8)."""

    NEXT_GENERATION_IT = "next_generation_it"
    NEW_ENERGY_VEHICLES = "new_energy_vehicles"
    BIOMEDICINE_HEALTH = "biomedicine_health"
    NEW_MATERIALS_CHEMICALS = "new_materials_chemicals"
    RAIL_TRANSIT = "rail_transit"
    ENERGY_ENVIRONMENT = "energy_environment"
    INTELLIGENT_EQUIPMENT = "intelligent_equipment"
    SATELLITE_BEIDOU = "satellite_beidou"
    OTHER = "other"


class LegalStatus(StrEnum):
    """The legal status of a pledged IP asset; only ``valid`` is in force."""

    VALID = "valid"
    PENDING = "pending"
    LAPSED = "lapsed"
    INVALIDATED = "invalidated"
    EXPIRED = "expired"


class LoanStatus(StrEnum):
    """A loan's statuses (docs/rules.md section 3; the moves are ``fund.domain.status``)."""

    ACTIVE = "active"
    REPAID = "repaid"
    CANCELLED = "cancelled"
    CLAIMED = "claimed"
    COMPENSATED = "compensated"
    CLOSED = "closed"


class Coverage(StrEnum):
    """Rule C's decision on a loan."""

    ELIGIBLE = "eligible"
    INELIGIBLE = "ineligible"


class ClaimStatus(StrEnum):
    """A claim's statuses (docs/rules.md section 4; the moves are ``fund.domain.claim``)."""

    FILED = "filed"
    WITHDRAWN = "withdrawn"
    REJECTED = "rejected"
    APPROVED = "approved"
    CLOSED = "closed"


class InstitutionKind(StrEnum):
    """Kinds of institution (docs/rules.md section 1)."""

    BANK = "bank"
    INSURER = "insurer"
    GUARANTOR = "guarantor"
    APPRAISER = "appraiser"
    FUND_MANAGER = "fund_manager"
    AUDITOR = "auditor"


IP_KIND_VALUES = values(IpKind)
SECTOR_VALUES = values(Sector)
LEGAL_STATUS_VALUES = values(LegalStatus)
LOAN_STATUS_VALUES = values(LoanStatus)
COVERAGE_VALUES = values(Coverage)
CLAIM_STATUS_VALUES = values(ClaimStatus)
INSTITUTION_KIND_VALUES = values(InstitutionKind)

#: Loans that still carry risk: their covered principal counts in exposure and stress runs.
LIVE_LOAN_STATUSES = (LoanStatus.ACTIVE.value, LoanStatus.CLAIMED.value)
#: A pledged asset is free again once its loan is in one of these.
RELEASED_LOAN_STATUSES = (LoanStatus.REPAID.value, LoanStatus.CANCELLED.value, LoanStatus.CLOSED.value)
#: A loan carries at most one claim in these statuses.
LIVE_CLAIM_STATUSES = (ClaimStatus.FILED.value, ClaimStatus.APPROVED.value)
#: Claims whose allocation stands (approved, then perhaps closed).
DECIDED_CLAIM_STATUSES = (ClaimStatus.APPROVED.value, ClaimStatus.CLOSED.value)
