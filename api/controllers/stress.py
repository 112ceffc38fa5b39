"""Stress tests (rule M, RULES section 8): the fund manager starts one (202 with its id); it runs in
the background, one at a time, bounded in size; anyone allowed polls its status and progress and
fetches its JSON result and plots."""

from __future__ import annotations

import threading
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, PathParameter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.auth import Role, allow
from api.deps import Caller, Db
from api.idempotency import REPLAYED_RESPONSE_HEADER, IdempotencyKeyHeader, run_idempotent
from fund.adapters.db import unit_of_work
from fund.errors import Conflict
from fund.services import stress as service
from schemas.stress import StressProgressOut, StressRunIn, StressRunOut
from simulations.report import PLOTS

from schemas.common import MAX_ID

READERS = (Role.FUND_MANAGER, Role.AUDITOR)
RunId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="the stress run's id")]
PlotName = Annotated[str, PathParameter(min_length=1, max_length=64, description="the plot's file name")]
PREFIX = "/api/v1/stress-runs"

# One background runner per process: runs go one at a time, so a server never computes two at once.
_runner_lock = threading.Lock()
_runner: threading.Thread | None = None


def _idle(session_factory) -> bool:
    """Asked by the runner when it finds nothing queued: stop, unless a run was queued meanwhile."""
    from fund.adapters.models.stress import StressRun

    global _runner
    with _runner_lock:
        with unit_of_work(session_factory) as session:
            queued = session.scalar(select(func.count()).select_from(StressRun).where(StressRun.status == "queued"))
        if queued:
            return False
        _runner = None
        return True


def start_runner(session_factory) -> None:
    """Start the background runner unless it runs already."""
    global _runner
    with _runner_lock:
        if _runner is not None and _runner.is_alive():
            return
        _runner = threading.Thread(
            target=service.run_pending, args=(session_factory,),
            kwargs={"stop_when_idle": lambda: _idle(session_factory)}, name="stress-runner", daemon=True,
        )
        _runner.start()


def _out(run: Any) -> StressRunOut:
    done = run.status == "done"
    return StressRunOut(
        id=run.id, status=run.status, scenario=run.scenario_name, scenarios=run.n_scenarios, seed=run.seed,
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
        given); 202 with its id. It runs in the background, one run at a time per server, at most
        100,000 scenarios and 5x10^9 loan-scenario-years; poll `GET /stress-runs/{id}`."""

        def work(session: Session):
            run = service.queue_run(
                session, actor.institution_id, scenario_name=data.scenario, scenario_document=data.scenario_document,
                n_scenarios=data.scenarios, seed=data.seed, as_of=data.as_of, horizon=data.horizon,
                fund_cash_fen=data.fund_cash_fen, deferred_fen=data.deferred_fen, appropriation_fen=data.appropriation_fen,
            )
            session.flush()
            session.refresh(run)
            return 202, _out(run)

        response = run_idempotent(request, actor, idempotency_key, data, work)
        start_runner(db)
        return response

    @get("/{run_id:int}", sync_to_thread=True, summary="A stress test's status and progress",
         **allow(*READERS, errors=(404,)))
    def status(self, db: Db, run_id: RunId) -> StressRunOut:
        """Status (`queued`, `running`, `done`, `failed`), progress in scenarios, timings, the error of
        a failed run, and the URLs of the result and plots once done."""
        with unit_of_work(db) as session:
            run = service.get_run(session, run_id)
            out = _out(run)
        if out.status == "queued":
            start_runner(db)
        return out

    @get("/{run_id:int}/result", sync_to_thread=True, summary="A finished stress test's figures (JSON)",
         **allow(*READERS, errors=(404, 409)))
    def result(self, db: Db, run_id: RunId) -> dict[str, Any]:
        """The figures of `ipfund stress run --json`: each measure's mean, VaR and ES at 95/99/99.9%
        with 95% intervals, payout by year, p_deferral, p_bank_cap_hit, required_fund_fen, by bank and
        sector, inputs, seed and timing. 409 until the run is done."""
        with unit_of_work(db) as session:
            run = service.get_run(session, run_id)
            if run.status != "done":
                raise Conflict("stress_run_not_done", f"stress run {run_id} is {run.status}", field="run_id")
            return dict(run.result)

    @get("/{run_id:int}/plots/{name:str}", sync_to_thread=True, summary="A finished stress test's plot (PNG)",
         media_type="image/png", **allow(*READERS, errors=(404, 409)))
    def plot(self, db: Db, run_id: RunId, name: PlotName) -> Response[bytes]:
        """`loss_histogram.png`, `exceedance.png` or `fund_cash_fan.png`; 409 until the run is done."""
        with unit_of_work(db) as session:
            run = service.get_run(session, run_id)
            if run.status != "done":
                raise Conflict("stress_run_not_done", f"stress run {run_id} is {run.status}", field="run_id")
            if name not in PLOTS:
                from fund.errors import NotFound

                raise NotFound("stress_file_not_found", f"no plot {name!r} (plots: {', '.join(PLOTS)})", field="name")
            found = service.run_file(session, run_id, name)
            return Response(content=bytes(found.content), media_type=found.media_type)
