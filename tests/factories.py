"""Builders for tests: reference data, institutions and valid loan applications."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import replace

from sqlalchemy.orm import Session

from fund.domain.registry import AssetIn, BorrowerIn, InstallmentIn, LoanApplication
from fund.services.common import add_institution
from fund.services.policies import load_shipped_policies
from fund.services.pool import agree_all_banks
from fund.services.reference import make_patent_number, make_uscc, seed_reference_data
from fund.services.registry import Actor

_serial = itertools.count(1)

INSTITUTIONS = [
    ("BANK1", "First Bank", "bank"),
    ("BANK2", "Second Bank", "bank"),
    ("INS1", "Insurer One", "insurer"),
    ("GUA1", "Guarantor One", "guarantor"),
    ("APR1", "Appraiser One", "appraiser"),
    ("FM", "Fund Manager", "fund_manager"),
    ("AUD", "Auditor", "auditor"),
]


def setup_reference(session: Session, active: tuple[str, ...] = ("gz-2020", "gz-2023")) -> dict[str, Actor]:
    """Ledger accounts, LPR, the shipped policies (``active`` activated) and the test institutions."""
    seed_reference_data(session)
    load_shipped_policies(session, activate=active)
    actors = {code: Actor.of(add_institution(session, code, name, kind)) for code, name, kind in INSTITUTIONS}
    # B1: the test banks are in the pool under every policy from its first day (tests of B1 itself remove them)
    agree_all_banks(session, ("gz-2020", "gz-2023", "bj-zgc-2024"), reference="test agreement", today=dt.date(2020, 7, 8))
    return actors


def uscc(n: int) -> str:
    return make_uscc(f"9144010{n:010d}")


def borrower(n: int = 1, **overrides) -> BorrowerIn:
    values = dict(
        credit_code=uscc(n), name=f"Enterprise {n}", district="Huangpu", sector="next_generation_it",
        registered_on=dt.date(2015, 1, 1), is_sme=True, clean_credit=True,
    )
    values.update(overrides)
    return BorrowerIn(**values)


def asset(kind: str = "invention_patent", serial: int | None = None, **overrides) -> AssetIn:
    serial = next(_serial) if serial is None else serial
    type_digit = {"invention_patent": 1, "utility_model": 2, "design_patent": 3}.get(kind)
    number = make_patent_number(2018, type_digit, serial) if type_digit else f"{serial:08d}"
    values = dict(
        kind=kind, number=number, title=f"Asset {serial}", filing_date=dt.date(2018, 5, 10),
        legal_status="valid", owner_credit_code=uscc(1), appraised_value_fen=50_000_000_000,
        appraised_on=dt.date(2020, 1, 1),
    )
    values.update(overrides)
    return AssetIn(**values)


def bullet_schedule(principal: int, drawdown: dt.date, months: int = 12, interest: int = 1_000_000) -> tuple[InstallmentIn, ...]:
    from fund.domain.dates import add_months

    return tuple(
        InstallmentIn(add_months(drawdown, k), principal if k == months else 0, interest) for k in range(1, months + 1)
    )


def application(
    contract_no: str | None = None,
    *,
    principal: int = 1_000_000_000,
    ip_share_bp: int = 10_000,
    drawdown: dt.date = dt.date(2026, 1, 15),
    months: int = 12,
    scheme: str = "50",
    borrower_n: int = 1,
    assets: tuple[AssetIn, ...] | None = None,
    **overrides,
) -> LoanApplication:
    from fund.domain.dates import add_months

    contract_no = contract_no or f"C-{next(_serial)}"
    values = dict(
        contract_no=contract_no,
        borrower=borrower(borrower_n),
        principal_fen=principal,
        contract_rate_bp=385,
        drawdown_date=drawdown,
        maturity_date=add_months(drawdown, months),
        ip_share_bp=ip_share_bp,
        scheme_code=scheme,
        assets=assets if assets is not None else (asset(owner_credit_code=uscc(borrower_n)),),
        pledge_registration_no=f"PR-{contract_no}",
        pledge_registered_on=drawdown,
        schedule=bullet_schedule(principal, drawdown, months),
    )
    values.update(overrides)
    return LoanApplication(**values)


def with_(app: LoanApplication, **changes) -> LoanApplication:
    return replace(app, **changes)
