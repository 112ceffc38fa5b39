"""Stress tests (docs/rules.md section 8): inputs from files or the database, a run, and its outputs.

* :func:`export_portfolio` reads the live covered loans as of a date (M1) and each bank's cap base
  from the database, as the rows of the documented portfolio and banks CSV files.
* :func:`fund_position_from_ledger` takes the compensation pool's cash and deferred compensation.
* Use cases (one function each, called by the CLI, the API and the runner): :func:`run` (one
  scenario, stored with its inputs), :func:`compare` and :func:`sweep` (several scenarios on common
  random numbers), :func:`start_run` (queue one for the runner), :func:`show_run`, :func:`run_result`,
  :func:`run_plot`, :func:`list_runs`, and :func:`execute_run` (what the runner does with a run).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fund.domain.policy import Policy, shipped_policies  # noqa: F401  (the CLI reads the shipped policies from here)
from fund.domain.status import LIVE_STATUSES
from fund.errors import DomainError
from risk.engine import DEFAULT_BATCH, Simulation, prepare, simulate
from risk.importance import (
    Shift, choose_spread_details, is_weighted, normal_scale, normal_shift, sampling_text, year_scales, year_shifts,
)
from risk.executors import executor_for
from risk.lending import yearly_appropriations
from risk.portfolio import (
    Book, CapBase, FundPosition, PortfolioError, book_from_rows, cap_base_from_rows, default_cap_base, read_banks_csv,
    read_portfolio_csv,
)
from risk.scenario import Scenario, ScenarioError, parse_scenario, scenario_document
from risk.stress_result import MEASURED, StressResult, summarise
from risk.stress_stats import LEVELS

MAX_SCENARIOS = 10_000_000


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
    and per (bank, policy) the in-pool lending of A3 and the fund shares approved in ``as_of``'s year,
    with B2's reading (``b2_losses_fen``, ``suspended``: :func:`fund.services.pool.b2_readings`), also
    for a bank of the book suspended or with losses under a policy none of its live loans has.

    ``ip_value_fen`` is the sum over the pledged assets of the latest model value on or before
    ``as_of`` where one is stored, else the appraised value; ``ip_kind`` is the most valuable asset's.
    A loan is ``bullet`` when one installment carries all its principal, else ``straight_line``.
    """
    from fund.adapters.models.claims import Claim
    from fund.adapters.models.registry import Installment, Institution, IpAsset, Loan, LoanAsset, Repayment
    from fund.adapters.models.valuation import AssetValuation

    loans = session.scalars(
        select(Loan).where(Loan.status.in_(LIVE_STATUSES), Loan.covered_fen > 0, Loan.drawdown_date <= as_of,
                           Loan.policy_id.is_not(None)).order_by(Loan.id)
    ).all()
    from fund.services.common import institution_codes

    codes = institution_codes(session)
    loan_ids = [loan.id for loan in loans]
    repaid = dict(session.execute(
        select(Repayment.loan_id, func.coalesce(func.sum(Repayment.principal_fen), 0))
        .where(Repayment.loan_id.in_(loan_ids), Repayment.paid_on <= as_of).group_by(Repayment.loan_id)
    ).all()) if loan_ids else {}
    sectors = dict(session.execute(
        select(Loan.id, Loan.borrower_sector).where(Loan.id.in_(loan_ids))  # each loan's own report (docs/rules.md section 3)
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
            "maturity_date": loan.maturity_date.isoformat(), "drawdown_date": loan.drawdown_date.isoformat(),
            "amortization": "bullet" if principal_installments.get(loan.id, 1) <= 1 else "straight_line",
            "ip_value_fen": ip_value, "ip_kind": kind if ip_value > 0 else (kind or ""),
            "insurer_limit_fen": "" if loan.insurer_limit_fen is None else loan.insurer_limit_fen,
        })

    from fund.services.pool import NO_READING, b2_readings

    # B2's reading on the as-of date (approved covered losses since the agreement or the last lift,
    # an open suspension that began on or before it): the simulation's counts start there
    readings = b2_readings(session, as_of)
    pairs = sorted({(r["bank"], r["policy"]) for r in rows})
    book_banks = {bank for bank, _ in pairs}
    for (b_id, p_id), reading in readings.items():
        # a bank of the book suspended, or with losses, under a policy its live loans do not have:
        # M1b's new loans may be covered under it
        code = codes.get(b_id)
        if code in book_banks and (reading.losses_fen or reading.open_suspension is not None) \
                and (code, p_id) not in pairs and p_id is not None:
            pairs.append((code, p_id))
    pairs.sort()
    banks = []
    for bank_code, policy_id in pairs:
        bank_id = next(i for i, c in codes.items() if c == bank_code)
        reading = readings.get((bank_id, policy_id), NO_READING)
        suspension = reading.open_suspension
        suspended = suspension is not None and suspension.suspended_on <= as_of
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
                      "cap_used_fen": int(used), "b2_losses_fen": int(reading.losses_fen), "suspended": suspended})
    return Export(portfolio=rows, banks=banks, as_of=as_of)


@dataclass(frozen=True)
class RunInputs:
    """What the engine needs besides the scenario: the book, each bank's cap base, the ledger's pool
    position (``None`` for a file), the active policies (``None``: the book's) and M1b's default
    volume (``None``: none known, 0 with a note)."""

    book: Book
    cap_base: list[CapBase]
    ledger: tuple[int, int] | None
    active_policies: list[Policy] | None
    new_lending_default_fen: int | None
    export: Export | None = None


#: kept for callers of the previous name
DatabaseInputs = RunInputs


def new_lending_default(session: Session, as_of: dt.date) -> int:
    """M1b's default ``V``: covered principal of the loans drawn in the 12 months before ``as_of``
    (after ``add_years(as_of, -1)``, up to ``as_of``; cancelled loans left out)."""
    from fund.adapters.models.registry import Loan
    from fund.domain.dates import add_years

    return int(session.scalar(
        select(func.coalesce(func.sum(Loan.covered_fen), 0)).where(
            Loan.drawdown_date > add_years(as_of, -1), Loan.drawdown_date <= as_of, Loan.status != "cancelled",
            Loan.covered_fen > 0)
    ) or 0)


def database_inputs(session: Session, as_of: dt.date, *, default_policy: str | None = None,
                    banks: str | Path | None = None) -> RunInputs:
    """M1 from the database: the export's rows built straight into the engine's book through the
    same validator as a CSV file (:func:`risk.portfolio.book_from_rows`), the ledger's pool position,
    the active policies and M1b's default volume."""
    export = export_portfolio(session, as_of)
    if not export.portfolio:
        raise DomainError("empty_book", f"no live covered loans as of {as_of.isoformat()}", field="as_of")
    policies = stored_policies(session)
    if default_policy is not None and default_policy not in policies:
        raise DomainError("unknown_policy", f"unknown policy {default_policy!r}", field="policy")
    try:
        book = book_from_rows(export.portfolio, policies, default_policy=default_policy, name="database portfolio")
        cap_base = read_banks_csv(banks, book) if banks is not None else \
            cap_base_from_rows(export.banks, book, name="database banks")
    except PortfolioError as exc:
        raise DomainError("bad_portfolio", str(exc), field="portfolio") from None
    return RunInputs(book, cap_base, fund_position_from_ledger(session), active_policies_of(session),
                     new_lending_default(session, as_of), export)


def file_inputs(portfolio, banks, *, default_policy: str | None = None) -> RunInputs:
    """M1 from a portfolio CSV (and optional banks CSV) under the shipped policies."""
    book, cap_base = load_book(portfolio, banks, shipped_policies(), default_policy)
    return RunInputs(book, cap_base, None, None, None)


def fund_position_from_ledger(session: Session) -> tuple[int, int]:
    """The compensation pool's (cash, deferred compensation) in fen."""
    from fund.services.ledger import pool_balance

    balance = pool_balance(session, "compensation")
    return balance.cash_fen, balance.deferred_fen


def load_book(portfolio, banks, policies: dict[str, Policy],
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


# --------------------------------------------------------------------------------------------------
# a run


@dataclass(frozen=True)
class StressRequest:
    """One run's parameters. ``as_of`` ``None``: the business date (read inside the run's
    transaction); ``new_lending_fen`` ``None``: the scenario's ``[new_lending] annual_volume_fen``,
    else the database's last 12 months (0 with a note for a file); ``executor``: ``None`` or
    ``local`` for this machine, ``dask://HOST:PORT`` for a Dask cluster."""

    scenario: Scenario
    n_scenarios: int
    seed: int
    as_of: dt.date | None = None
    horizon: int | None = None
    fund_cash_fen: int | None = None
    deferred_fen: int | None = None
    appropriation_fen: int | None = None
    workers: int = 1
    batch: int = DEFAULT_BATCH
    new_lending_fen: int | None = None
    executor: str | None = None

    def stored(self) -> dict[str, Any]:
        """The request as stored with a run (JSON); :func:`request_from_stored` reads it back."""
        return {"scenario": scenario_document(self.scenario), "horizon": self.horizon,
                "fund_cash_fen": self.fund_cash_fen, "deferred_fen": self.deferred_fen,
                "appropriation_fen": self.appropriation_fen, "new_lending_fen": self.new_lending_fen,
                "batch": self.batch, "workers": self.workers}


def request_from_stored(stored: Mapping[str, Any], *, n_scenarios: int, seed: int, as_of: dt.date,
                        executor: str | None = None) -> StressRequest:
    return StressRequest(
        scenario=parse_scenario(stored["scenario"]), n_scenarios=n_scenarios, seed=seed, as_of=as_of,
        horizon=stored.get("horizon"), fund_cash_fen=stored.get("fund_cash_fen"), deferred_fen=stored.get("deferred_fen"),
        appropriation_fen=stored.get("appropriation_fen"), new_lending_fen=stored.get("new_lending_fen"),
        batch=stored.get("batch") or DEFAULT_BATCH, workers=stored.get("workers") or 1, executor=executor,
    )


def check_request(request: StressRequest) -> None:
    if not 1 <= request.n_scenarios <= MAX_SCENARIOS:
        raise DomainError("invalid_scenarios", f"scenarios must be 1..{MAX_SCENARIOS}, got {request.n_scenarios}",
                          field="scenarios")
    if request.seed < 0:
        raise DomainError("invalid_seed", "seed must be >= 0", field="seed")
    if request.horizon is not None and not 1 <= request.horizon <= 30:
        raise DomainError("invalid_horizon", f"horizon must be 1..30 years, got {request.horizon}", field="horizon")
    for name in ("fund_cash_fen", "deferred_fen", "appropriation_fen", "new_lending_fen"):
        value = getattr(request, name)
        if value is not None and not 0 <= value <= 10**16:
            raise DomainError(f"invalid_{name}", f"{name} must be in 0..10^16, got {value}", field=name)
    if not 1 <= request.workers <= 64:
        raise DomainError("invalid_workers", f"workers must be 1..64, got {request.workers}", field="workers")
    if not 1 <= request.batch <= 100_000:
        raise DomainError("invalid_batch", f"batch must be 1..100000, got {request.batch}", field="batch")
    try:
        executor_for(request.executor)
    except ValueError as exc:
        raise DomainError("invalid_executor", str(exc), field="executor") from None


def fund_position(request: StressRequest, book: Book, *, ledger: tuple[int, int] | None,
                  active_policies: list[Policy] | None) -> FundPosition:
    """M1: cash and deferrals as given, else the ledger's, else 0; the yearly appropriation as given,
    else from the active policies (or, without a database, the book's policies), going on after the
    last one ends unless the scenario says ``[fund] after_policy_end = "stop"``. A scenario's own
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
        appropriation = yearly_appropriations(active_policies if active_policies is not None else book.policies,
                                              request.as_of, horizon, request.scenario.after_policy_end)
    return FundPosition(cash_fen=cash, deferred_fen=deferred, appropriation_fen=appropriation)


def new_lending_volume(request: StressRequest, inputs: RunInputs) -> tuple[int, str | None]:
    """M1b's ``V`` for a run and, where it fell back to 0, the note saying so."""
    if request.new_lending_fen is not None:
        return request.new_lending_fen, None
    if request.scenario.new_lending.annual_volume_fen is not None:
        return request.scenario.new_lending.annual_volume_fen, None
    if inputs.new_lending_default_fen is not None:
        return inputs.new_lending_default_fen, None
    return 0, ("new lending: a portfolio file gives no volume ([new_lending] annual_volume_fen or --new-lending-fen), "
               "so none is simulated (docs/rules.md M1b)")


@dataclass(frozen=True)
class RunOutcome:
    """A finished run: its figures, the simulation (for plots) and, once stored, its id."""

    result: StressResult
    sim: Simulation
    run_id: int | None = None


def run_engine(request: StressRequest, inputs: RunInputs, *, progress: Callable[[int, int], None] | None = None,
               shift: Shift | None = None) -> RunOutcome:
    """Prepare, simulate and summarise one run on ``inputs`` (``request.as_of`` set). Under
    ``[sampling] method = "importance"`` the shift is the scenario's (one number, or one per year),
    and its spread ``scale`` (default 1), else a shift and a spread per year chosen from pilot runs
    (M6b as extended in docs/rules.md section 8, :func:`risk.importance.choose_spread_details`; when
    none is found the run is crude and its notes say why); ``shift`` forces one (spread 1)."""
    check_request(request)
    fund = fund_position(request, inputs.book, ledger=inputs.ledger, active_policies=inputs.active_policies)
    volume, note = new_lending_volume(request, inputs)
    try:
        prep, engine_inputs = prepare(
            inputs.book, request.scenario, inputs.cap_base, fund, as_of=request.as_of, horizon=request.horizon,
            policies=inputs.active_policies, new_lending_fen=volume, seed=request.seed,
        )
    except (ValueError, ScenarioError) as exc:
        raise DomainError("bad_stress_input", str(exc)) from None
    notes = [note] if note else []
    scale: Shift = 1.0
    if shift is None and request.scenario.sampling.method == "importance":
        sampling = request.scenario.sampling
        shift = sampling.shift
        if sampling.scale is not None:
            shift, scale = (0.0 if shift is None else shift), sampling.scale
        elif shift is None:
            choice = choose_spread_details(prep, seed=request.seed)
            shift, scale = choice.shift, choice.scale
            if choice.reason:
                notes.append(f"importance sampling asked for, but no shift was taken ({choice.reason}): "
                             "this run is crude Monte Carlo")
            else:
                notes.append(f"importance sampling: the global factors' law chosen from pilot runs, "
                             f"{sampling_text(shift, scale)}")
    if shift is not None:
        try:
            year_shifts(shift, prep.horizon)
        except ValueError as exc:
            raise DomainError("bad_stress_input", f"sampling.shift: {exc}") from None
        shift = normal_shift(shift)
    try:
        year_scales(scale, prep.horizon)
    except ValueError as exc:
        raise DomainError("bad_stress_input", f"sampling.scale: {exc}") from None
    scale = normal_scale(scale)
    if shift is not None and is_weighted(shift, scale):
        prep = dataclasses.replace(prep, shift=shift, scale=scale)
    sim = simulate(prep, n_scenarios=request.n_scenarios, seed=request.seed, batch=request.batch,
                   workers=request.workers, progress=progress, executor=executor_for(request.executor))
    result = summarise(sim, scenario_name=request.scenario.name, bank_names=inputs.book.bank_names,
                       inputs=engine_inputs, deferred_today_fen=fund.deferred_fen)
    if notes:
        result = dataclasses.replace(result, notes=(*result.notes, *notes))
    return RunOutcome(result, sim)


def run_stress(request: StressRequest, book: Book, cap_base: list[CapBase], fund: FundPosition, *,
               progress: Callable[[int, int], None] | None = None) -> tuple[StressResult, Simulation]:
    """Prepare, simulate and summarise one run on a book with a fund position already resolved."""
    check_request(request)
    try:
        prep, inputs = prepare(book, request.scenario, cap_base, fund, as_of=request.as_of, horizon=request.horizon,
                               new_lending_fen=request.new_lending_fen or 0, seed=request.seed)
    except (ValueError, ScenarioError) as exc:
        raise DomainError("bad_stress_input", str(exc)) from None
    sim = simulate(prep, n_scenarios=request.n_scenarios, seed=request.seed, batch=request.batch,
                   workers=request.workers, progress=progress, executor=executor_for(request.executor))
    result = summarise(sim, scenario_name=request.scenario.name, bank_names=book.bank_names, inputs=inputs,
                       deferred_today_fen=fund.deferred_fen)
    return result, sim


def _resolve_inputs(db, request: StressRequest, *, portfolio=None, banks=None,
                    policy: str | None = None) -> tuple[StressRequest, RunInputs]:
    """The run's inputs: a portfolio file, else the database (the business date read inside the
    same transaction as the book)."""
    from fund.adapters.db import unit_of_work
    from fund.services.common import business_date

    if portfolio is not None:
        if request.as_of is None:
            raise DomainError("missing_as_of", "a portfolio file run needs an as-of date", field="as_of")
        return request, file_inputs(portfolio, banks, default_policy=policy)
    if db is None:
        raise DomainError("no_book", "give a portfolio file or a database")
    with unit_of_work(db) as session:
        as_of = request.as_of or business_date(session)
        inputs = database_inputs(session, as_of, default_policy=policy, banks=banks)
    return dataclasses.replace(request, as_of=as_of), inputs


def run(db, request: StressRequest, *, portfolio=None, banks=None, policy: str | None = None,
        progress: Callable[[int, int], None] | None = None, record: bool = True,
        label: str | None = None) -> RunOutcome:
    """Use case ``ipfund stress run``: one scenario on the database's book (or a portfolio file),
    stored as a finished run with its inputs when it ran on the database (``record``)."""
    check_request(request)
    request, inputs = _resolve_inputs(db, request, portfolio=portfolio, banks=banks, policy=policy)
    outcome = run_engine(request, inputs, progress=progress)
    if record and portfolio is None and db is not None:
        outcome = dataclasses.replace(outcome, run_id=record_run(db, request, outcome, label=label))
    return outcome


def record_run(db, request: StressRequest, outcome: RunOutcome, *, label: str | None = None) -> int | None:
    """Store a run made outside the runner (origin ``cli``) as done, with its inputs, figures and
    files, requested by the fund manager; None when the database has no fund manager."""
    from fund.adapters.db import unit_of_work
    from fund.adapters.models.registry import Institution
    from fund.adapters.models.stress import StressRun

    with unit_of_work(db) as session:
        manager = session.scalar(select(Institution.id).where(Institution.kind == "fund_manager").order_by(Institution.id))
        if manager is None:
            return None
        now = _now()
        row = StressRun(
            status="done", scenario_name=request.scenario.name, n_scenarios=request.n_scenarios, seed=request.seed,
            as_of=request.as_of, progress_done=request.n_scenarios, requested_by=manager, request=request.stored(),
            started_at=now, finished_at=now, seconds=outcome.result.seconds, result=outcome.result.to_dict(),
            origin="cli", label=label, attempts=1,
        )
        session.add(row)
        session.flush()
        _store_files(session, row.id, outcome)
        return row.id


def _store_files(session: Session, run_id: int, outcome: RunOutcome) -> None:
    from fund.adapters.models.stress import StressRunFile
    from simulations.report import PLOTS, render_outputs

    files = render_outputs(outcome.result, outcome.sim)
    # the plots (each registered language's copies, "<language>/<plot>", too) and the report
    for name in (*PLOTS, *(n for n in files if "/" in n and n.endswith(".png")), "report.md"):
        media = PLOT_MEDIA_TYPE if name.endswith(".png") else "text/markdown"
        session.add(StressRunFile(run_id=run_id, name=name, media_type=media, content=files[name]))


# --------------------------------------------------------------------------------------------------
# comparisons and sweeps on common random numbers


@dataclass(frozen=True)
class Comparison:
    """Runs of several scenarios on the same book, seed and batch (common random numbers: chunk j
    of every run draws from the same stream, so differences come from the scenarios, not the noise)."""

    label: str
    outcomes: tuple[RunOutcome, ...]

    def table(self) -> list[dict[str, Any]]:
        """One row per headline figure: each scenario's value and 95% interval."""
        rows = []
        for figure, getter in headline_figures():
            row = {"figure": figure}
            for o in self.outcomes:
                e = getter(o.result)
                row[o.result.scenario] = e.to_dict() if hasattr(e, "to_dict") else {"value": e, "ci95": [None, None]}
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "scenarios": [o.result.scenario for o in self.outcomes],
                "run_ids": [o.run_id for o in self.outcomes], "table": self.table(),
                "results": [o.result.to_dict() for o in self.outcomes]}


def headline_figures() -> list[tuple[str, Callable[[StressResult], Any]]]:
    out: list[tuple[str, Callable[[StressResult], Any]]] = []
    for name in MEASURED:
        short = name.removesuffix("_fen")
        out.append((f"{short} mean", lambda r, n=name: r.measures[n].mean))
        for a in LEVELS:
            out.append((f"{short} VaR {a}", lambda r, n=name, a=a: r.measures[n].var[a]))
        for a in LEVELS:
            out.append((f"{short} ES {a}", lambda r, n=name, a=a: r.measures[n].es[a]))
    out.append(("p_deferral", lambda r: r.p_deferral))
    out.append(("p_bank_cap_hit", lambda r: r.p_bank_cap_hit))
    out.append(("required_fund_fen", lambda r: r.required_fund_fen))
    return out


def compare(db, scenarios: list[Scenario], request: StressRequest, *, portfolio=None, banks=None,
            policy: str | None = None, progress: Callable[[int, int], None] | None = None,
            record: bool = True, label: str | None = None) -> Comparison:
    """Use case ``ipfund stress compare``: every scenario on the same inputs, seed and batch (common
    random numbers), each stored as a run of the comparison."""
    if len(scenarios) < 2:
        raise DomainError("invalid_comparison", "compare at least two scenarios", field="scenario")
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise DomainError("invalid_comparison", "scenario names must differ within a comparison", field="scenario")
    check_request(dataclasses.replace(request, scenario=scenarios[0]))
    base, inputs = _resolve_inputs(db, dataclasses.replace(request, scenario=scenarios[0]), portfolio=portfolio,
                                   banks=banks, policy=policy)
    label = label or f"compare:{base.seed}:{_now().strftime('%Y%m%dT%H%M%S')}"
    outcomes = []
    for scenario in scenarios:
        one = dataclasses.replace(base, scenario=scenario)
        outcome = run_engine(one, inputs, progress=progress)
        if record and portfolio is None and db is not None:
            outcome = dataclasses.replace(outcome, run_id=record_run(db, one, outcome, label=label[:64]))
        outcomes.append(outcome)
    return Comparison(label[:64], tuple(outcomes))


def sweep_scenarios(scenario: Scenario, key: str, values: list[str]) -> list[Scenario]:
    """One scenario per value of one key (``pd_multiplier``, ``collateral.value_multiplier``,
    ``new_lending.growth``...), named ``<name> key=value``; each checked as a scenario file is.

    >>> from risk.scenario import parse_scenario
    >>> [s.pd_multiplier for s in sweep_scenarios(parse_scenario({"name": "b"}), "pd_multiplier", ["1", "2.5"])]
    [1.0, 2.5]
    """
    import tomllib

    from risk.scenario import _max_invalidation_probability

    if not values:
        raise DomainError("invalid_sweep", "give at least one value", field="values")
    out = []
    for text in values:
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text
        document = scenario_document(scenario)
        table = document
        parts = key.split(".")
        for part in parts[:-1]:
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                raise DomainError("invalid_sweep", f"key {key!r} is not a table key", field="key")
        table[parts[-1]] = value
        document["name"] = f"{scenario.name} {key}={text}"[:64]
        try:
            out.append(parse_scenario(document, max_invalidation_probability=_max_invalidation_probability()))
        except ScenarioError as exc:
            raise DomainError("invalid_sweep", str(exc), field="key") from None
    return out


def sweep(db, scenario: Scenario, key: str, values: list[str], request: StressRequest, **options) -> Comparison:
    """Use case ``ipfund stress sweep``: one key of one scenario over values, on common random numbers."""
    scenarios = sweep_scenarios(scenario, key, values)
    if len(scenarios) == 1:
        scenarios = [scenario, *scenarios]
    return compare(db, scenarios, request, label=options.pop("label", None) or
                   f"sweep:{scenario.name}:{key}"[:64], **options)


def comparison_report(comparison: Comparison) -> str:
    """The Markdown report of a comparison: one table of every headline figure with intervals."""
    from fund.domain.money import yuan

    names = [o.result.scenario for o in comparison.outcomes]
    first = comparison.outcomes[0].result
    lines = [f"# Stress comparison {comparison.label}", ""]
    if first.inputs is not None:
        lines += [f"As of {first.inputs.as_of}, {first.inputs.n_loans:,} live covered loans; {first.n_scenarios:,} "
                  f"scenarios each, seed {first.seed}, batch {first.batch}: common random numbers (the same draws "
                  "for every scenario).", ""]
    lines += ["Figures in yuan (probabilities as such), 95% interval in brackets.", "",
              "| figure | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
    for figure, getter in headline_figures():
        cells = []
        for o in comparison.outcomes:
            e = getter(o.result)
            if not hasattr(e, "value"):
                cells.append(yuan(int(e)))
                continue
            fmt = (lambda v: f"{v:.2%}") if figure.startswith("p_") else (lambda v: yuan(int(round(v))))
            low = "?" if e.low is None else fmt(e.low)
            high = "?" if e.high is None else fmt(e.high)
            cells.append(f"{fmt(e.value)} ({low} to {high})")
        lines.append(f"| {figure} | " + " | ".join(cells) + " |")
    lines += ["", "Plot: exceedance_overlay.png (each scenario's fund payout and gross loss).", ""]
    return "\n".join(lines) + "\n"


def comparison_outputs(comparison: Comparison) -> dict[str, bytes]:
    """The comparison's files in memory: ``comparison.json``, ``report.md``, ``exceedance_overlay.png``."""
    import json

    from simulations.report import plot_exceedance_overlay

    return {
        "comparison.json": (json.dumps(comparison.to_dict(), ensure_ascii=False, indent=2) + "\n").encode("utf-8"),
        "report.md": comparison_report(comparison).encode("utf-8"),
        "exceedance_overlay.png": plot_exceedance_overlay([(o.result, o.sim) for o in comparison.outcomes]),
    }


# --------------------------------------------------------------------------------------------------
# runs queued through the API and run by the runner (fund/services/stress_runner.py)


#: Bounds of one API run: scenarios, and loan-scenario-years (what the engine's cost grows with at most).
API_MAX_SCENARIOS = 100_000
API_MAX_LOAN_SCENARIO_YEARS = 5 * 10**9
#: At most this many runs queued or running at once.
API_MAX_PENDING_RUNS = 4
PLOT_MEDIA_TYPE = "image/png"


def _now() -> dt.datetime:
    # when a run started and finished is a matter of wall-clock time, not of the business date
    return dt.datetime.now(dt.timezone.utc)


def start_run(db, actor, *, scenario_name: str | None, scenario_document: dict | None, n_scenarios: int, seed: int,
              as_of: dt.date | None = None, horizon: int | None = None, fund_cash_fen: int | None = None,
              deferred_fen: int | None = None, appropriation_fen: int | None = None):
    """Use case "start a stress run": check it against the book and queue it (the runner takes it)."""
    from fund.adapters.db import unit_of_work

    with unit_of_work(db) as session:
        run_row = queue_run(session, actor.institution_id, scenario_name=scenario_name,
                            scenario_document=scenario_document, n_scenarios=n_scenarios, seed=seed, as_of=as_of,
                            horizon=horizon, fund_cash_fen=fund_cash_fen, deferred_fen=deferred_fen,
                            appropriation_fen=appropriation_fen)
        return run_view(run_row)


def queue_run(session: Session, actor_id: int, *, scenario_name: str | None, scenario_document: dict | None,
              n_scenarios: int, seed: int, as_of: dt.date | None = None, horizon: int | None = None,
              fund_cash_fen: int | None = None, deferred_fen: int | None = None,
              appropriation_fen: int | None = None):
    """Check a stress test request against the book as of the date and queue it (status ``queued``)."""
    from fund.adapters.models.registry import Loan
    from fund.adapters.models.stress import StressRun
    from fund.services.common import business_date
    from simulations.library import resolve_scenario

    if (scenario_name is None) == (scenario_document is None):
        raise DomainError("invalid_scenario", "give exactly one of scenario (a shipped name) and scenario_document",
                          field="scenario")
    try:
        if scenario_name is not None:
            if "/" in scenario_name or scenario_name.endswith(".toml"):
                raise ScenarioError(f"unknown scenario {scenario_name!r}")
            scenario = resolve_scenario(scenario_name)
        else:
            from risk.scenario import _max_invalidation_probability

            scenario = parse_scenario(scenario_document, max_invalidation_probability=_max_invalidation_probability())
    except ScenarioError as exc:
        raise DomainError("invalid_scenario", str(exc), field="scenario_document" if scenario_document else "scenario") from None
    if not 1 <= n_scenarios <= API_MAX_SCENARIOS:
        raise DomainError("invalid_scenarios", f"scenarios must be 1..{API_MAX_SCENARIOS} through the API",
                          field="scenarios")
    today = business_date(session)
    as_of = as_of or today
    if as_of > today:
        raise DomainError("date_after_business_date", f"as_of {as_of.isoformat()} is after the business date", field="as_of")
    request = StressRequest(scenario=scenario, n_scenarios=n_scenarios, seed=seed, as_of=as_of, horizon=horizon,
                            fund_cash_fen=fund_cash_fen, deferred_fen=deferred_fen, appropriation_fen=appropriation_fen)
    check_request(request)
    loans = session.scalar(
        select(func.count()).select_from(Loan).where(Loan.status.in_(LIVE_STATUSES), Loan.covered_fen > 0,
                                                     Loan.drawdown_date <= as_of, Loan.policy_id.is_not(None))
    ) or 0
    if loans == 0:
        raise DomainError("empty_book", f"no live covered loans as of {as_of.isoformat()}", field="as_of")
    work = loans * n_scenarios * (horizon or scenario.horizon_years)
    if work > API_MAX_LOAN_SCENARIO_YEARS:
        raise DomainError("stress_too_large", f"{loans} loans x {n_scenarios} scenarios x years is {work} loan-scenario-"
                          f"years, more than {API_MAX_LOAN_SCENARIO_YEARS} for one run: use fewer scenarios",
                          field="scenarios")
    pending = session.scalar(select(func.count()).select_from(StressRun)
                             .where(StressRun.status.in_(("queued", "running")))) or 0
    if pending >= API_MAX_PENDING_RUNS:
        from fund.errors import Conflict

        raise Conflict("stress_queue_full", f"{pending} stress runs are queued or running; try again when one is done")
    row = StressRun(
        status="queued", scenario_name=scenario.name, n_scenarios=n_scenarios, seed=seed, as_of=as_of, progress_done=0,
        requested_by=actor_id, request=request.stored(), origin="api", attempts=0,
    )
    session.add(row)
    session.flush()
    session.refresh(row)
    return row


@dataclass(frozen=True)
class RunView:
    """A stored run as the entrypoints show it."""

    id: int
    status: str
    scenario: str
    n_scenarios: int
    seed: int
    as_of: dt.date
    progress_done: int
    created_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    seconds: float | None
    error: str | None
    origin: str
    label: str | None
    attempts: int
    request: Mapping[str, Any]


def run_view(row) -> RunView:
    return RunView(id=row.id, status=row.status, scenario=row.scenario_name, n_scenarios=row.n_scenarios, seed=row.seed,
                   as_of=row.as_of, progress_done=row.progress_done, created_at=row.created_at,
                   started_at=row.started_at, finished_at=row.finished_at, seconds=row.seconds, error=row.error,
                   origin=row.origin or "api", label=row.label, attempts=row.attempts or 0, request=dict(row.request or {}))


def get_run(session: Session, run_id: int, *, lock: bool = False):
    from fund.adapters.models.stress import StressRun
    from fund.errors import NotFound
    from fund.services.common import for_update

    statement = select(StressRun).where(StressRun.id == run_id)
    row = session.scalar(for_update(session, statement) if lock else statement)
    if row is None:
        raise NotFound("stress_run_not_found", f"no stress run {run_id}", field="run_id")
    return row


def show_run(db, run_id: int) -> RunView:
    """Use case: one run's status and progress."""
    from fund.adapters.db import unit_of_work

    with unit_of_work(db) as session:
        return run_view(get_run(session, run_id))


def run_result(db, run_id: int) -> dict[str, Any]:
    """Use case: a finished run's figures (409 ``stress_run_not_done`` before)."""
    from fund.adapters.db import unit_of_work
    from fund.errors import Conflict

    with unit_of_work(db) as session:
        row = get_run(session, run_id)
        if row.status != "done":
            raise Conflict("stress_run_not_done", f"stress run {run_id} is {row.status}", field="run_id")
        return dict(row.result)


def run_file(session: Session, run_id: int, name: str):
    from fund.adapters.models.stress import StressRunFile
    from fund.errors import NotFound

    get_run(session, run_id)
    found = session.get(StressRunFile, (run_id, name))
    if found is None:
        raise NotFound("stress_file_not_found", f"stress run {run_id} has no file {name!r}", field="name")
    return found


def run_plot(db, run_id: int, name: str) -> tuple[bytes, str]:
    """Use case: a finished run's plot or report, ``(content, media type)``."""
    from fund.adapters.db import unit_of_work
    from fund.errors import Conflict, NotFound
    from simulations.report import PLOTS

    with unit_of_work(db) as session:
        row = get_run(session, run_id)
        if row.status != "done":
            raise Conflict("stress_run_not_done", f"stress run {run_id} is {row.status}", field="run_id")
        if name not in (*PLOTS, "report.md"):
            raise NotFound("stress_file_not_found", f"no plot {name!r} (plots: {', '.join(PLOTS)})", field="name")
        found = run_file(session, run_id, name)
        return bytes(found.content), found.media_type


RUN_LIST_LIMIT = 200


def list_runs(db, *, status: str | None = None, scenario: str | None = None, origin: str | None = None,
              label: str | None = None, since: dt.date | None = None, until: dt.date | None = None,
              before_id: int | None = None, limit: int = 50) -> list[RunView]:
    """Use case ``ipfund stress runs`` / ``GET /stress-runs``: stored runs, newest first, with their
    inputs; filters by status, scenario name, origin, comparison label and creation date (UTC, both
    included); ``before_id`` pages on (the last id of the previous page)."""
    from fund.adapters.db import unit_of_work
    from fund.adapters.models.stress import RUN_STATUSES, StressRun

    if status is not None and status not in RUN_STATUSES:
        raise DomainError("invalid_status", f"status must be one of {', '.join(RUN_STATUSES)}", field="status")
    if origin is not None and origin not in ("api", "cli"):
        raise DomainError("invalid_origin", "origin must be api or cli", field="origin")
    if not 1 <= limit <= RUN_LIST_LIMIT:
        raise DomainError("invalid_limit", f"limit must be 1..{RUN_LIST_LIMIT}", field="limit")
    statement = select(StressRun).order_by(StressRun.id.desc()).limit(limit)
    if status is not None:
        statement = statement.where(StressRun.status == status)
    if scenario is not None:
        statement = statement.where(StressRun.scenario_name == scenario)
    if origin is not None:
        statement = statement.where(StressRun.origin == origin)
    if label is not None:
        statement = statement.where(StressRun.label == label)
    if since is not None:
        statement = statement.where(StressRun.created_at >= dt.datetime.combine(since, dt.time(), dt.timezone.utc))
    if until is not None:
        statement = statement.where(StressRun.created_at < dt.datetime.combine(until + dt.timedelta(days=1), dt.time(),
                                                                                dt.timezone.utc))
    if before_id is not None:
        statement = statement.where(StressRun.id < before_id)
    with unit_of_work(db) as session:
        return [run_view(row) for row in session.scalars(statement)]


def execute_run(db, run_id: int, *, owner: str | None = None, executor: str | None = None,
                heartbeat: Callable[[int], bool] | None = None, progress_every_seconds: float = 0.5) -> str:
    """Run a claimed run: the book from the database as of its date, the engine, its result and
    files stored; any failure is stored as the run's error. ``heartbeat(done)`` is called with the
    progress at most every ``progress_every_seconds`` and returns False when the runner lost the
    run's lease (another runner took it up): the run then stops without storing anything.
    Returns the run's final status (``done``, ``failed`` or ``lost``)."""
    import time

    from fund.adapters.db import unit_of_work

    class _LeaseLost(Exception):
        pass

    try:
        with unit_of_work(db) as session:
            row = get_run(session, run_id)
            request = request_from_stored(row.request, n_scenarios=row.n_scenarios, seed=row.seed, as_of=row.as_of,
                                          executor=executor)
            inputs = database_inputs(session, row.as_of)
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if done < total and now - last[0] < progress_every_seconds:
                return
            last[0] = now
            if heartbeat is not None:
                if not heartbeat(done):
                    raise _LeaseLost()
            else:
                with unit_of_work(db) as s:
                    get_run(s, run_id).progress_done = done

        outcome = run_engine(request, inputs, progress=progress)
        with unit_of_work(db) as session:
            row = get_run(session, run_id, lock=True)
            if owner is not None and row.lease_owner != owner:
                return "lost"
            row.status, row.finished_at, row.seconds = "done", _now(), outcome.result.seconds
            row.progress_done = row.n_scenarios
            row.result = outcome.result.to_dict()
            row.lease_expires_at = None
            _store_files(session, run_id, outcome)
        return "done"
    except _LeaseLost:
        return "lost"
    except Exception as exc:  # noqa: BLE001  (the run records why it failed)
        message = str(exc) if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
        try:
            with unit_of_work(db) as session:
                row = get_run(session, run_id, lock=True)
                if owner is not None and row.lease_owner != owner:
                    return "lost"
                row.status, row.finished_at, row.error = "failed", _now(), message[:500]
                row.lease_expires_at = None
        except Exception:  # noqa: BLE001  (the database itself is gone; nothing to record in)
            pass
        return "failed"
