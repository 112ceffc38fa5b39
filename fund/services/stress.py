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


@dataclass(frozen=True)
class DatabaseInputs:
    book: Book
    cap_base: list[CapBase]
    ledger: tuple[int, int]
    active_policies: list[Policy]
    export: Export


def database_inputs(session: Session, as_of: dt.date, *, default_policy: str | None = None,
                    banks: str | Path | None = None) -> DatabaseInputs:
    """M1 from the database: the export read back through the CSV reader (so both sources get the
    same checks), the ledger's pool position and the active policies."""
    import io

    from risk.portfolio import BANKS_COLUMNS, PORTFOLIO_COLUMNS

    export = export_portfolio(session, as_of)
    if not export.portfolio:
        raise DomainError("empty_book", f"no live covered loans as of {as_of.isoformat()}", field="as_of")
    policies = stored_policies(session)
    portfolio_text = _csv_text(export.portfolio, PORTFOLIO_COLUMNS, "database portfolio")
    banks_source = banks if banks is not None else _csv_text(export.banks, BANKS_COLUMNS, "database banks")
    book, cap_base = load_book(portfolio_text, banks_source, policies, default_policy)
    return DatabaseInputs(book, cap_base, fund_position_from_ledger(session), active_policies_of(session), export)


def _csv_text(rows: list[dict[str, Any]], columns, name: str):
    import csv
    import io

    handle = io.StringIO()
    writer = csv.DictWriter(handle, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in columns})
    handle.seek(0)
    handle.name = name
    return handle


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


# --------------------------------------------------------------------------------------------------
# runs queued through the API and run in the background


#: Bounds of one API run: scenarios, and loan-scenario-years (what the engine's cost grows with at most).
API_MAX_SCENARIOS = 100_000
API_MAX_LOAN_SCENARIO_YEARS = 5 * 10**9
#: At most this many runs queued or running at once (each server runs one at a time).
API_MAX_PENDING_RUNS = 4
PLOT_MEDIA_TYPE = "image/png"


def _now() -> dt.datetime:
    # when a run started and finished is a matter of wall-clock time, not of the business date
    return dt.datetime.now(dt.timezone.utc)


def queue_run(session: Session, actor_id: int, *, scenario_name: str | None, scenario_document: dict | None,
              n_scenarios: int, seed: int, as_of: dt.date | None = None, horizon: int | None = None,
              fund_cash_fen: int | None = None, deferred_fen: int | None = None,
              appropriation_fen: int | None = None):
    """Check a stress test request against the book as of the date and queue it (status ``queued``)."""
    from fund.adapters.models.registry import Loan
    from fund.adapters.models.stress import StressRun
    from fund.services.common import business_date
    from risk.scenario import parse_scenario
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
    document = scenario.to_dict()
    run = StressRun(
        status="queued", scenario_name=scenario.name, n_scenarios=n_scenarios, seed=seed, as_of=as_of, progress_done=0,
        requested_by=actor_id,
        request={"scenario": document, "horizon": horizon, "fund_cash_fen": fund_cash_fen,
                 "deferred_fen": deferred_fen, "appropriation_fen": appropriation_fen},
    )
    session.add(run)
    session.flush()
    return run


def _scenario_from_stored(document: dict) -> Scenario:
    from risk.scenario import parse_scenario

    doc = dict(document)
    collateral = doc.pop("collateral", {})
    appropriation = doc.pop("annual_appropriation_fen", None)
    doc["collateral"] = collateral
    if appropriation is not None:
        doc["fund"] = {"annual_appropriation_fen": appropriation}
    return parse_scenario(doc)


def get_run(session: Session, run_id: int, *, lock: bool = False):
    from fund.adapters.models.stress import StressRun
    from fund.errors import NotFound
    from fund.services.common import for_update

    statement = select(StressRun).where(StressRun.id == run_id)
    run = session.scalar(for_update(session, statement) if lock else statement)
    if run is None:
        raise NotFound("stress_run_not_found", f"no stress run {run_id}", field="run_id")
    return run


def run_file(session: Session, run_id: int, name: str):
    from fund.adapters.models.stress import StressRunFile
    from fund.errors import NotFound

    get_run(session, run_id)
    found = session.get(StressRunFile, (run_id, name))
    if found is None:
        raise NotFound("stress_file_not_found", f"stress run {run_id} has no file {name!r}", field="name")
    return found


def claim_next_run(session: Session) -> int | None:
    """Move the oldest queued run to ``running`` (one claimer wins) and return its id."""
    from fund.adapters.models.stress import StressRun
    from fund.services.common import for_update

    run = session.scalar(for_update(session, select(StressRun).where(StressRun.status == "queued")
                                    .order_by(StressRun.id).limit(1)))
    if run is None:
        return None
    run.status, run.started_at = "running", _now()
    return run.id


def execute_run(session_factory, run_id: int, *, progress_every_seconds: float = 0.5) -> None:
    """Run a claimed run: book from the database as of its date, the engine, its result and plots
    stored; any failure is stored as the run's error."""
    import tempfile
    import time

    from fund.adapters.db import unit_of_work
    from fund.adapters.models.stress import StressRunFile

    try:
        with unit_of_work(session_factory) as session:
            run = get_run(session, run_id)
            stored = dict(run.request)
            request = StressRequest(
                scenario=_scenario_from_stored(stored["scenario"]), n_scenarios=run.n_scenarios, seed=run.seed,
                as_of=run.as_of, horizon=stored.get("horizon"), fund_cash_fen=stored.get("fund_cash_fen"),
                deferred_fen=stored.get("deferred_fen"), appropriation_fen=stored.get("appropriation_fen"),
            )
            inputs = database_inputs(session, run.as_of)
        fund = fund_position(request, inputs.book, ledger=inputs.ledger, active_policies=inputs.active_policies)
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if done < total and now - last[0] < progress_every_seconds:
                return
            last[0] = now
            with unit_of_work(session_factory) as s:
                get_run(s, run_id).progress_done = done

        result, sim = run_stress(request, inputs.book, inputs.cap_base, fund, progress=progress)
        from simulations.report import PLOTS, write_outputs

        with tempfile.TemporaryDirectory() as tmp:
            write_outputs(result, sim, tmp)
            files = {name: (Path(tmp) / name).read_bytes() for name in PLOTS}
            report = (Path(tmp) / "report.md").read_bytes()
        with unit_of_work(session_factory) as session:
            run = get_run(session, run_id, lock=True)
            run.status, run.finished_at, run.seconds = "done", _now(), result.seconds
            run.progress_done = run.n_scenarios
            run.result = result.to_dict()
            for name, content in files.items():
                session.add(StressRunFile(run_id=run_id, name=name, media_type=PLOT_MEDIA_TYPE, content=content))
            session.add(StressRunFile(run_id=run_id, name="report.md", media_type="text/markdown", content=report))
    except Exception as exc:  # noqa: BLE001  (the run records why it failed)
        message = str(exc) if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
        try:
            with unit_of_work(session_factory) as session:
                run = get_run(session, run_id, lock=True)
                run.status, run.finished_at, run.error = "failed", _now(), message[:500]
        except Exception:  # noqa: BLE001  (the database itself is gone; nothing to record in)
            pass


def run_pending(session_factory, *, stop_when_idle: Callable[[], bool] | None = None) -> int:
    """Run queued runs one at a time, oldest first, until none is left; returns how many ran.

    ``stop_when_idle`` is asked, when no run is queued, whether to stop (the API's runner asks it
    under its lock, so a run queued meanwhile is never left behind)."""
    from fund.adapters.db import unit_of_work

    count = 0
    while True:
        with unit_of_work(session_factory) as session:
            run_id = claim_next_run(session)
        if run_id is None:
            if stop_when_idle is None or stop_when_idle():
                return count
            continue
        execute_run(session_factory, run_id)
        count += 1
