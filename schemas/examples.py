"""Examples of the main request bodies, shown in the OpenAPI document (each valid as it stands: a test
registers the loan example against a fresh database). Other bodies and every answer get an example
generated from their schema (``api.openapi.example_of``).

>>> from schemas.loans import LoanIn
>>> LoanIn.model_validate(LOAN, strict=False).principal_fen
1000000000
"""

from __future__ import annotations

from typing import Any

CREDIT_CODE = "91440101000001234L"  # a valid unified social credit code (check character L)

LOAN: dict[str, Any] = {
    "contract_no": "GZ-2026-000123",
    "borrower": {
        "credit_code": CREDIT_CODE, "name": "广州示例科技有限公司", "district": "Huangpu", "sector": "next_generation_it",
        "registered_on": "2015-03-02", "is_sme": True, "clean_credit": True,
    },
    "principal_fen": 1_000_000_000,
    "contract_rate_bp": 385,
    "pd_bp": 150,
    "drawdown_date": "2026-01-15",
    "maturity_date": "2027-01-15",
    "ip_share_bp": 10_000,
    "scheme_code": "50",
    "assets": [{
        "kind": "invention_patent", "number": "ZL 202110123456.7", "title": "一种示例方法", "filing_date": "2021-03-01",
        "grant_date": "2023-06-20", "legal_status": "valid", "owner_credit_code": CREDIT_CODE,
        "appraised_value_fen": 2_000_000_000, "appraised_on": "2025-12-20",
    }],
    "pledge_registration_no": "GZ-PLEDGE-2026-0042",
    "pledge_registered_on": "2026-01-10",
    "schedule": [
        {"due_date": "2026-07-15", "principal_due_fen": 0, "interest_due_fen": 19_250_000},
        {"due_date": "2027-01-15", "principal_due_fen": 1_000_000_000, "interest_due_fen": 19_250_000},
    ],
}
REPAYMENT: dict[str, Any] = {"due_date": "2026-07-15", "paid_on": "2026-07-15", "principal_fen": 0, "interest_fen": 19_250_000}

# Request bodies by model name.
REQUEST_EXAMPLES: dict[str, Any] = {
    "LoanIn": LOAN,
    "LoanBatchIn": {"items": [LOAN]},
    "RepaymentIn": REPAYMENT,
    "RepaymentBatchIn": {"items": [{**REPAYMENT, "loan_id": 1}]},
}
