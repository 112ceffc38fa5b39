"""Stress tests (rule M, docs/rules.md section 8): the fund manager starts one (202 with its id); the stress
runner (fund/services/stress_runner.py) runs it under a lease in the database, bounded in size;
anyone allowed lists runs, polls one's status and progress and fetches its JSON result and plots.

Each app holds one runner in ``app.state.stress_runner``; it is started when a run is queued or
polled and stops when nothing is waiting, so a run left ``running`` by a dead process is taken up
again by the next app that looks (once its lease has run out), and several API workers never run
one job twice (the lease is taken by one conditional UPDATE)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter
from sqlalchemy.orm import Session

from api.auth import Role, allow
from api.deps import Caller, Db
from api.idempotency import REPLAYED_RESPONSE_HEADER, IdempotencyKeyHeader, run_idempotent
from fund.services import stress as service
from schemas.common import MAX_ID
from schemas.stress import StressProgressOut, StressRunIn, StressRunOut
from simulations.report import PLOTS

READERS = (Role.FUND_MANAGER, Role.AUDITOR)
RunId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="the stress run's id")]
PlotName = Annotated[str, PathParameter(min_length=1, max_length=64, description="the plot's file name")]
PREFIX = "/api/v1/stress-runs"


def runner_of(request: Request, db) -> Any:
    """The app's stress runner (created on first use), started."""
    from fund.services.stress_runner import StressRunner
    from fund.settings import get_settings

    state = request.app.state
    runner = getattr(state, "stress_runner", None)
    if runner is None:
        settings = get_settings()
        runner = StressRunner(db, exit_when_idle=True, lease_seconds=settings.stress_lease_seconds,
                              executor=None if settings.stress_executor == "local" else settings.stress_executor)
        state.stress_runner = runner
    return runner.start()


def _out(run: service.RunView) -> StressRunOut:
    done = run.status == "done"
    return StressRunOut(
        id=run.id, status=run.status, scenario=run.scenario, scenarios=run.n_scenarios, seed=run.seed,
        as_of=run.as_of, progress=StressProgressOut(done=run.progress_done, total=run.n_scenarios),
        created_at=run.created_at, started_at=run.started_at, finished_at=run.finished_at, seconds=run.seconds,
        error=run.error, result_url=f"{PREFIX}/{run.id}/result" if done else None,
        plot_urls={name: f"{PREFIX}/{run.id}/plots/{name}" for name in PLOTS} if done else {},
    )


class StressController(Controller):
    path = "/stress-runs"
    tags = ["stress"]

    @post(
        "/", status_code=202, sync_to_thread=True, summary="Start a stress test (rule M)",
        response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.FUND_MANAGER, errors=(400, 409, 413)),
    )
    def start(
        self, request: Request, actor: Caller, db: Db, idempotency_key: IdempotencyKeyHeader, data: JSONBody[StressRunIn]
    ) -> Response[StressRunOut]:
        """Queue a stress test of the live covered loans as of `as_of` (the business date unless
        given); 202 with its id. The stress runner takes it under a lease, at most 100,000 scenarios
        and 5x10^9 loan-scenario-years; poll `GET /stress-runs/{id}`."""

        def work(session: Session):
            row = service.queue_run(
                session, actor.institution_id, scenario_name=data.scenario, scenario_document=data.scenario_document,
                n_scenarios=data.scenarios, seed=data.seed, as_of=data.as_of, horizon=data.horizon,
                fund_cash_fen=data.fund_cash_fen, deferred_fen=data.deferred_fen, appropriation_fen=data.appropriation_fen,
            )
            return 202, _out(service.run_view(row))

        response = run_idempotent(request, actor, idempotency_key, data, work)
        runner_of(request, db)
        return response

    @get("/", sync_to_thread=True, summary="Stored stress runs, newest first, with their inputs",
         **allow(*READERS, errors=(422,)))
    def list(
        self, request: Request, db: Db,
        status: Annotated[str | None, QueryParameter(description="queued, running, done or failed", max_length=7,
                                                     pattern="^(queued|running|done|failed)$")] = None,
        scenario: Annotated[str | None, QueryParameter(min_length=1, max_length=64,
                                                       description="only runs of this scenario name")] = None,
        origin: Annotated[str | None, QueryParameter(pattern="^(api|cli)$", max_length=3,
                                                     description="api (queued here) or cli (ipfund stress run)")] = None,
        label: Annotated[str | None, QueryParameter(min_length=1, max_length=64,
                                                    description="only the runs of this comparison or sweep")] = None,
        since: Annotated[dt.date | None, QueryParameter(description="created on or after (UTC), YYYY-MM-DD")] = None,
        until: Annotated[dt.date | None, QueryParameter(description="created on or before (UTC), YYYY-MM-DD")] = None,
        before_id: Annotated[int | None, QueryParameter(ge=1, le=MAX_ID,
                                                        description="cursor: runs with a smaller id")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=service.RUN_LIST_LIMIT, description="at most this many")] = 50,
    ) -> dict[str, Any]:
        """Runs with their status, scenario, seed, as-of date, origin, comparison label and request
        (scenario document and options); `next_before_id` pages on."""
        runs = service.list_runs(db, status=status, scenario=scenario, origin=origin, label=label, since=since,
                                 until=until, before_id=before_id, limit=limit)
        if any(r.status == "queued" or r.status == "running" for r in runs):
            runner_of(request, db)
        items = []
        for r in runs:
            item = _out(r).model_dump(mode="json")
            item.update({"origin": r.origin, "label": r.label, "attempts": r.attempts, "request": dict(r.request)})
            items.append(item)
        return {"items": items, "next_before_id": runs[-1].id if len(runs) == limit else None}

    @get("/{run_id:int}", sync_to_thread=True, summary="A stress test's status and progress",
         **allow(*READERS, errors=(404,)))
    def status(self, request: Request, db: Db, run_id: RunId) -> StressRunOut:
        """Status (`queued`, `running`, `done`, `failed`), progress in scenarios, timings, the error of
        a failed run, and the URLs of the result and plots once done."""
        run = service.show_run(db, run_id)
        if run.status in ("queued", "running"):
            runner_of(request, db)
        return _out(run)

    @get("/{run_id:int}/result", sync_to_thread=True, summary="A finished stress test's figures (JSON)",
         **allow(*READERS, errors=(404, 409)))
    def result(self, db: Db, run_id: RunId) -> dict[str, Any]:
        """The figures of `ipfund stress run --json`: each measure's mean, VaR and ES at 95/99/99.9%
        with 95% intervals, payout by year, p_deferral, p_bank_cap_hit, required_fund_fen, by bank and
        sector, inputs, seed and timing. 409 until the run is done."""
        return service.run_result(db, run_id)

    @get("/{run_id:int}/plots/{name:str}", sync_to_thread=True, summary="A finished stress test's plot (PNG)",
         media_type="image/png", **allow(*READERS, errors=(404, 409)))
    def plot(self, db: Db, run_id: RunId, name: PlotName) -> Response[bytes]:
        """`loss_histogram.png`, `exceedance.png`, `fund_cash_fan.png` or `tail_convergence.png`
        (or `report.md`); 409 until the run is done."""
        content, media_type = service.run_plot(db, run_id, name)
        return Response(content=content, media_type=media_type)
