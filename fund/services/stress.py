"""Stress tests (RULES section 8): inputs from files or the database, a run, and its outputs.

* :func:`export_portfolio` reads the live covered loans as of a date (M1) and each bank's cap base
  from the database, as the rows of the documented portfolio and banks CSV files.
* :func:`fund_position_from_ledger` takes the compensation pool's cash and deferred compensation.
* :func:`run_stress` runs a scenario on a book and returns a :class:`~risk.stress_result.StressResult`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fund.domain.policy import Policy, load_policy_file, shipped_policy_paths
from fund.errors import DomainError
from risk.engine import DEFAULT_BATCH, Simulation, prepare, simulate
from risk.portfolio import (
    Book, CapBase, FundPosition, PortfolioError, default_cap_base, policy_appropriations, read_banks_csv,
    read_portfolio_csv,
)
from risk.scenario import Scenario, ScenarioError
from risk.stress_result import StressResult, summarise

LIVE_STATUSES = ("active", "claimed")
MAX_SCENARIOS = 10_000_000


def shipped_policies() -> dict[str, Policy]:
    return {p.id: p for p in (load_policy_file(path) for path in shipped_policy_paths())}


def stored_policies(session: Session) -> dict[str, Policy]:
    from fund.services.policies import list_policies
    from fund.domain.policy import policy_from_json

    return {row.id: policy_from_json(row.document) for row in list_policies(session)}


def active_policies_of(session: Session) -> list[Policy]:
    from fund.services.policies import active_policies

    return list(active_policies(session))


# --------------------------------------------------------------------------------------------------
# inputs from the database


@dataclass(frozen=True)
class Export:
    portfolio: list[dict[str, Any]]
    banks: list[dict[str, Any]]
    as_of: dt.date


def export_portfolio(session: Session, as_of: dt.date) -> Export:
    """M1: live covered loans (``active`` or ``claimed``, ``C > 0``, drawn on or before ``as_of``)
    in registration order, with outstanding principal from repayments paid on or before ``as_of``;
    and per (bank, policy) the in-pool lending of A3 and the fund shares approved in ``as_of``'s year.

    ``ip_value_fen`` is the sum over the pledged assets of the latest model value on or before
    ``as_of`` where one is stored, else the appraised value; ``ip_kind`` is the most valuable asset's.
    A loan is ``bullet`` when one installment carries all its principal, else ``straight_line``.
    """
    from fund.adapters.models.claims import Claim
    from fund.adapters.models.registry import Enterprise, Installment, Institution, IpAsset, Loan, LoanAsset, Repayment
    from fund.adapters.models.valuation import AssetValuation

    loans = session.scalars(
        select(Loan).where(Loan.status.in_(LIVE_STATUSES), Loan.covered_fen > 0, Loan.drawdown_date <= as_of,
                           Loan.policy_id.is_not(None)).order_by(Loan.id)
    ).all()
    codes = dict(session.execute(select(Institution.id, Institution.code)).all())
    loan_ids = [loan.id for loan in loans]
    repaid = dict(session.execute(
        select(Repayment.loan_id, func.coalesce(func.sum(Repayment.principal_fen), 0))
        .where(Repayment.loan_id.in_(loan_ids), Repayment.paid_on <= as_of).group_by(Repayment.loan_id)
    ).all()) if loan_ids else {}
    sectors = dict(session.execute(
        select(Loan.id, Enterprise.sector).join(Enterprise, Enterprise.id == Loan.enterprise_id).where(Loan.id.in_(loan_ids))
    ).all()) if loan_ids else {}
    assets: dict[int, list[tuple[int, str, int]]] = {}
    if loan_ids:
        for loan_id, asset_id, kind, appraised in session.execute(
            select(LoanAsset.loan_id, IpAsset.id, IpAsset.kind, IpAsset.appraised_value_fen)
            .join(IpAsset, IpAsset.id == LoanAsset.asset_id).where(LoanAsset.loan_id.in_(loan_ids))
        ):
            assets.setdefault(loan_id, []).append((asset_id, kind, appraised))
    asset_ids = [a[0] for rows in assets.values() for a in rows]
    model_value: dict[int, int] = {}
    if asset_ids:
        for asset_id, value in session.execute(
            select(AssetValuation.asset_id, AssetValuation.model_value_fen)
            .where(AssetValuation.asset_id.in_(asset_ids), AssetValuation.as_of <= as_of)
            .order_by(AssetValuation.asset_id, AssetValuation.as_of, AssetValuation.id)
        ):
            model_value[asset_id] = value   # the latest one wins
    principal_installments = dict(session.execute(
        select(Installment.loan_id, func.count()).where(Installment.loan_id.in_(loan_ids), Installment.principal_due_fen > 0)
        .group_by(Installment.loan_id)
    ).all()) if loan_ids else {}

    rows = []
    for loan in loans:
        values = [(model_value.get(a_id, appraised), kind) for a_id, kind, appraised in assets.get(loan.id, [])]
        ip_value = sum(v for v, _ in values)
        kind = max(values, key=lambda vk: vk[0])[1] if values else ""
        rows.append({
            "loan_id": str(loan.id), "bank": codes[loan.bank_id], "sector": sectors.get(loan.id, "other"),
            "policy": loan.policy_id, "scheme": loan.scheme_code,
            "pd": "" if loan.pd_bp is None else f"{loan.pd_bp / 10_000:.6g}",
            "principal_fen": loan.principal_fen, "covered_fen": loan.covered_fen,
            "outstanding_fen": loan.principal_fen - int(repaid.get(loan.id, 0)),
            "maturity_date": loan.maturity_date.isoformat(),
            "amortization": "bullet" if principal_installments.get(loan.id, 1) <= 1 else "straight_line",
            "ip_value_fen": ip_value, "ip_kind": kind if ip_value > 0 else (kind or ""),
            "insurer_limit_fen": "" if loan.insurer_limit_fen is None else loan.insurer_limit_fen,
        })

    pairs = sorted({(r["bank"], r["policy"]) for r in rows})
    banks = []
    for bank_code, policy_id in pairs:
        bank_id = next(i for i, c in codes.items() if c == bank_code)
        lending = session.scalar(
            select(func.coalesce(func.sum(Loan.covered_fen), 0)).where(
                Loan.bank_id == bank_id, Loan.policy_id == policy_id, Loan.drawdown_date <= as_of,
                Loan.status != "cancelled", Loan.coverage == "eligible")
        )
        used = session.scalar(
            select(func.coalesce(func.sum(Claim.fund_fen), 0)).where(
                Claim.bank_id == bank_id, Claim.policy_id == policy_id, Claim.status.in_(("approved", "closed")),
                Claim.cap_year == as_of.year)
        )
        banks.append({"bank": bank_code, "policy": policy_id, "in_pool_lending_fen": int(lending),
                      "cap_used_fen": int(used)})
    return Export(portfolio=rows, banks=banks, as_of=as_of)


def fund_position_from_ledger(session: Session) -> tuple[int, int]:
    """The compensation pool's (cash, deferred compensation) in fen."""
    from fund.services.ledger import pool_balance

    balance = pool_balance(session, "compensation")
    return balance.cash_fen, balance.deferred_fen


# --------------------------------------------------------------------------------------------------
# a run


@dataclass(frozen=True)
class StressRequest:
    scenario: Scenario
    n_scenarios: int
    seed: int
    as_of: dt.date
    horizon: int | None = None
    fund_cash_fen: int | None = None
    deferred_fen: int | None = None
    appropriation_fen: int | None = None
    workers: int = 1
    batch: int = DEFAULT_BATCH


def check_request(request: StressRequest) -> None:
    if not 1 <= request.n_scenarios <= MAX_SCENARIOS:
        raise DomainError("invalid_scenarios", f"scenarios must be 1..{MAX_SCENARIOS}, got {request.n_scenarios}",
                          field="scenarios")
    if request.seed < 0:
        raise DomainError("invalid_seed", "seed must be >= 0", field="seed")
    if request.horizon is not None and not 1 <= request.horizon <= 30:
        raise DomainError("invalid_horizon", f"horizon must be 1..30 years, got {request.horizon}", field="horizon")
    for name in ("fund_cash_fen", "deferred_fen", "appropriation_fen"):
        value = getattr(request, name)
        if value is not None and not 0 <= value <= 10**16:
            raise DomainError(f"invalid_{name}", f"{name} must be in 0..10^16, got {value}", field=name)
    if not 1 <= request.workers <= 64:
        raise DomainError("invalid_workers", f"workers must be 1..64, got {request.workers}", field="workers")
    if not 1 <= request.batch <= 100_000:
        raise DomainError("invalid_batch", f"batch must be 1..100000, got {request.batch}", field="batch")


def load_book(portfolio: str | Path, banks: str | Path | None, policies: dict[str, Policy],
              default_policy: str | None) -> tuple[Book, list[CapBase]]:
    """Read the portfolio and (optional) banks CSV; errors as DomainError with the file's one line."""
    if default_policy is not None and default_policy not in policies:
        raise DomainError("unknown_policy", f"unknown policy {default_policy!r}", field="policy")
    try:
        book = read_portfolio_csv(portfolio, policies, default_policy=default_policy)
        cap_base = read_banks_csv(banks, book) if banks is not None else default_cap_base(book)
    except PortfolioError as exc:
        raise DomainError("bad_portfolio", str(exc), field="portfolio") from None
    return book, cap_base


def fund_position(request: StressRequest, book: Book, *, ledger: tuple[int, int] | None,
                  active_policies: list[Policy] | None) -> FundPosition:
    """M1: cash and deferrals as given, else the ledger's, else 0; the yearly appropriation as given,
    else from the active policies (or, without a database, the book's policies). A scenario's own
    ``[fund] annual_appropriation_fen`` wins over both (prepare applies it)."""
    horizon = request.horizon or request.scenario.horizon_years
    cash, deferred = ledger if ledger is not None else (0, 0)
    if request.fund_cash_fen is not None:
        cash = request.fund_cash_fen
    if request.deferred_fen is not None:
        deferred = request.deferred_fen
    if cash > 0 and deferred > 0:
        raise DomainError("invalid_fund_position", "cash and deferred compensation cannot both be > 0 (A4 settles "
                          "deferrals first): give the net position", field="deferred_fen")
    if request.appropriation_fen is not None:
        appropriation = (request.appropriation_fen,) * horizon
    else:
        appropriation = policy_appropriations(active_policies if active_policies is not None else book.policies,
                                              request.as_of, horizon)
    return FundPosition(cash_fen=cash, deferred_fen=deferred, appropriation_fen=appropriation)


def run_stress(request: StressRequest, book: Book, cap_base: list[CapBase], fund: FundPosition, *,
               progress: Callable[[int, int], None] | None = None) -> tuple[StressResult, Simulation]:
    """Prepare, simulate and summarise one run."""
    check_request(request)
    try:
        prep, inputs = prepare(book, request.scenario, cap_base, fund, as_of=request.as_of, horizon=request.horizon)
    except (ValueError, ScenarioError) as exc:
        raise DomainError("bad_stress_input", str(exc)) from None
    sim = simulate(prep, n_scenarios=request.n_scenarios, seed=request.seed, batch=request.batch,
                   workers=request.workers, progress=progress)
    result = summarise(sim, scenario_name=request.scenario.name, bank_names=book.bank_names, inputs=inputs,
                       deferred_today_fen=fund.deferred_fen)
    return result, sim
