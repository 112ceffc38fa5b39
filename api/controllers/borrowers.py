"""Borrowers reported differently by banks (docs/rules.md section 3): each loan keeps its own bank's
report of the borrower and a bank never sees another bank's; the fund manager and auditors read the
borrowers whose data differ between banks."""

from __future__ import annotations

from dataclasses import asdict

from litestar import Controller, get

from api.auth import Role, allow
from api.deps import Caller, Db
from fund.services.borrowers import borrower_differences
from schemas.borrowers import BorrowerDifferenceList, BorrowerDifferenceOut


class BorrowerController(Controller):
    path = "/borrowers"
    tags = ["borrowers"]

    @get("/differences", sync_to_thread=True, summary="Borrowers whose data differ between banks",
         **allow(Role.FUND_MANAGER, Role.AUDITOR))
    def differences(self, actor: Caller, db: Db) -> BorrowerDifferenceList:
        """Each borrower that two or more banks reported differently, by credit code: the fields that
        differ (name, district, sector, registered_on, is_sme, clean_credit) and each loan's report.
        Eligibility uses each loan's own report (docs/rules.md section 3)."""
        return BorrowerDifferenceList(items=[
            BorrowerDifferenceOut.model_validate(asdict(d)) for d in borrower_differences(db, actor)
        ])
