"""Stress tests (rule M): the scenario library, a copied scenario edited in a form with its ranges
checked, launching a run, its progress (a small script polls a JSON endpoint; without scripts the
page reloads itself), its results (figures with their 95% intervals, the plots), past runs, and two or
more runs side by side."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Response, Template
from litestar.params import FromPath

from api.console.controllers.common import Form, int_or
from fund.adapters.db import unit_of_work
from api.console.i18n import N_
from api.console.web import say, READERS, actor, allow, db, flash, gettext, page, redirect
from fund.errors import DomainError

MEASURES = ("total_loss_fen", "fund_payout_fen", "bank_share_fen", "insurer_share_fen", "recoveries_fen")
MEASURE_NAMES = {
    "total_loss_fen": N_("Total loss"), "fund_payout_fen": N_("Fund payout"), "bank_share_fen": N_("Banks' share"),
    "insurer_share_fen": N_("Insurers' share"), "recoveries_fen": N_("Recoveries"),
}
PLOT_NAMES = {
    "loss_histogram.png": N_("Distribution of the fund's payout"), "exceedance.png": N_("Exceedance curve"),
    "fund_cash_fan.png": N_("Fund cash by year (fan chart)"), "tail_convergence.png": N_("Tail convergence"),
}
MAX_SCENARIOS = 20_000


@dataclass(frozen=True)
class Field:
    """One editable number of a scenario, with the range the form allows (the scenario's own checks
    run too when it is queued)."""

    key: str          # "pd_multiplier" or "collateral.volatility"
    label: str
    low: float
    high: float
    step: str
    integer: bool = False


FIELDS = (
    Field("horizon_years", N_("Horizon (years)"), 1, 30, "1", integer=True),
    Field("asset_correlation", N_("Asset correlation within a sector"), 0, 0.99, "0.01"),
    Field("global_loading", N_("Sector factors' loading on the global factor"), 0, 1, "0.01"),
    Field("pd_multiplier", N_("Default probability multiplier"), 0, 20, "0.05"),
    Field("t_degrees_of_freedom", N_("Degrees of freedom (t copula)"), 2, 100, "0.5"),
    Field("collateral.volatility", N_("IP value volatility"), 0, 3, "0.01"),
    Field("collateral.global_loading", N_("IP values' loading on the global factor"), 0, 1, "0.01"),
    Field("collateral.value_multiplier", N_("IP value multiplier (0.6 = values fall 40%)"), 0, 5, "0.05"),
    Field("collateral.liquidation_haircut", N_("Liquidation haircut"), 0, 1, "0.01"),
    Field("collateral.invalidation_multiplier", N_("IP invalidation multiplier"), 0, 20, "0.1"),
    Field("collateral.recovery_lag_years", N_("Recovery lag (years)"), 0, 30, "1", integer=True),
)


def _get(document: dict, key: str):
    node = document
    for part in key.split("."):
        node = (node or {}).get(part)
    return node


def _set(document: dict, key: str, value) -> None:
    parts = key.split(".")
    node = document
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _library() -> dict:
    from simulations.library import shipped_scenarios

    return {s.name: s for s in shipped_scenarios()}


def edited_document(base: dict, data: dict, language_gettext) -> dict:
    """The base scenario with the form's numbers, each checked against its field's range."""
    import math

    document = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 64:
        raise DomainError("invalid_scenario_field", "name must be 1..64 characters", field="name")
    document["name"] = name
    document["description"] = " ".join(str(data.get("description") or "").split())[:300]
    copula = data.get("copula") or document.get("copula")
    if copula not in ("gaussian", "t"):
        raise DomainError("invalid_scenario_field", "copula must be gaussian or t", field="copula")
    document["copula"] = copula
    for f in FIELDS:
        raw = str(data.get(f.key, "")).strip()
        try:
            value = int(raw) if f.integer else float(raw)
        except ValueError:
            raise DomainError("invalid_scenario_field", f"{f.key} must be a number", field=f.key) from None
        if not math.isfinite(value) or not f.low <= value <= f.high:
            raise DomainError("invalid_scenario_field", f"{f.key} must be {f.low:g}..{f.high:g}, got {raw}", field=f.key)
        _set(document, f.key, value)
    return document


class StressController(Controller):
    path = "/stress"

    @get("/", sync_to_thread=True, **allow(*READERS))
    def library(self, request: Request) -> Template:
        from fund.services.overview import stress_runs

        runs = stress_runs(db(request), actor(request))
        return page(request, "stress.html", "Stress tests", scenarios=list(_library().values()), runs=runs)

    @get("/scenarios/{name:str}", sync_to_thread=True, **allow(*READERS))
    def edit(self, request: Request, name: FromPath[str]) -> Template:
        scenario = _library().get(name)
        if scenario is None:
            raise DomainError("unknown_scenario", f"no shipped scenario {name!r}", field="name")
        document = scenario.to_dict()
        values = {f.key: _get(document, f.key) for f in FIELDS}
        return page(request, "stress_edit.html", "Edit a scenario", base=name, document=document, fields=FIELDS,
                    values=values, copy_name=f"{name}-copy", error=None, scenarios=500, seed=1)

    @post("/runs", sync_to_thread=True, status_code=303, **allow("officer", "approver"))
    def launch(self, request: Request, data: Form) -> Redirect | Template:
        from api.controllers.stress import runner_of
        from fund.services import audit
        from fund.services.stress import start_run

        base_name = str(data.get("base") or "baseline")
        scenario = _library().get(base_name)
        if scenario is None:
            raise DomainError("unknown_scenario", f"no shipped scenario {base_name!r}", field="base")
        who = actor(request)
        n_scenarios = int_or(data.get("scenarios"), 0)
        seed = int_or(data.get("seed"), -1)
        try:
            if not 1 <= n_scenarios <= MAX_SCENARIOS:
                raise DomainError("invalid_scenarios", f"scenarios must be 1..{MAX_SCENARIOS}", field="scenarios")
            if not 0 <= seed < 2**63:
                raise DomainError("invalid_seed", "seed must be an integer >= 0", field="seed")
            if data.get("edited") == "1":
                document, name = edited_document(scenario.to_dict(), data, gettext(request)), None
            else:
                document, name = None, base_name

            run_id = start_run(db(request), who, scenario_name=name, scenario_document=document, n_scenarios=n_scenarios,
                               seed=seed).id
            with unit_of_work(db(request)) as session:
                audit.record(session, who, "stress.start", f"stress_run:{run_id}")
        except DomainError as exc:
            from api.console.web import error_text, language_of

            values = {f.key: data.get(f.key, _get(scenario.to_dict(), f.key)) for f in FIELDS}
            return page(request, "stress_edit.html", "Edit a scenario", status_code=422, base=base_name,
                        document={**scenario.to_dict(), "copula": data.get("copula"), "description": data.get("description", "")},
                        fields=FIELDS, values=values, copy_name=data.get("name") or "", scenarios=data.get("scenarios"),
                        seed=data.get("seed"), error=error_text(exc.code, exc.message, language_of(request)),
                        error_field=exc.field)
        runner_of(request, db(request))
        say(request, "The stress run is queued.")
        return redirect(f"/stress/runs/{run_id}")

    @get("/runs/{run_id:int}", sync_to_thread=True, **allow(*READERS))
    def run(self, request: Request, run_id: FromPath[int]) -> Template:
        run = _run(request, run_id)
        if run["status"] == "queued":
            from api.controllers.stress import runner_of

            runner_of(request, db(request))
        return page(request, "stress_run.html", "Stress run", run=run, measures=MEASURES, measure_names=MEASURE_NAMES,
                    plots=PLOT_NAMES)

    @get("/runs/{run_id:int}/progress.json", sync_to_thread=True, **allow(*READERS))
    def progress(self, request: Request, run_id: FromPath[int]) -> dict:
        run = _run(request, run_id)
        return {"status": run["status"], "done": run["progress_done"], "total": run["n_scenarios"]}

    @get("/runs/{run_id:int}/plots/{name:str}", sync_to_thread=True, **allow(*READERS))
    def plot(self, request: Request, run_id: FromPath[int], name: FromPath[str]) -> Response:
        from fund.adapters.db import unit_of_work
        from fund.errors import NotFound
        from fund.services.stress import run_file
        from simulations.report import localised_name

        from api.console.web import language_of

        if name not in PLOT_NAMES:
            raise DomainError("stress_file_not_found", f"no plot {name!r}", field="name")
        language = language_of(request)
        with unit_of_work(db(request)) as session:
            try:  # the plot drawn in the page's language; the English one for a run drawn without it
                found = run_file(session, run_id, localised_name(name, None if language == "en" else language))
            except NotFound:
                found = run_file(session, run_id, name)
            content, media_type = bytes(found.content), found.media_type
        # the page asks with ?lang=<its language>, so a browser's cached copy is of the right language
        return Response(content=content, media_type=media_type,
                        headers={"Cache-Control": "private, max-age=3600", "Content-Language": language})

    @get("/compare", sync_to_thread=True, **allow(*READERS))
    def compare(self, request: Request) -> Template:
        ids = []
        for value in request.query_params.getall("run", []):
            number = int_or(value, 0)
            if number > 0 and number not in ids:
                ids.append(number)
        runs = [_run(request, i) for i in ids[:6]]
        return page(request, "stress_compare.html", "Compare stress runs", runs=runs, measures=MEASURES,
                    measure_names=MEASURE_NAMES)


def _run(request: Request, run_id: int) -> dict:
    from fund.adapters.db import unit_of_work
    from fund.services.stress import get_run

    with unit_of_work(db(request)) as session:
        run = get_run(session, run_id)
        return {"id": run.id, "status": run.status, "scenario": run.scenario_name, "n_scenarios": run.n_scenarios,
                "seed": run.seed, "as_of": run.as_of, "progress_done": run.progress_done, "created_at": run.created_at,
                "started_at": run.started_at, "finished_at": run.finished_at, "seconds": run.seconds, "error": run.error,
                "result": dict(run.result or {}), "scenario_document": dict((run.request or {}).get("scenario") or {})}
