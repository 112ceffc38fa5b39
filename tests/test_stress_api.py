"""Stress tests through the API: the fund manager starts one (202 with an id), it runs in the
background, its status and progress are polled, its JSON and plots fetched; bounded size; roles."""

from __future__ import annotations

import time

import pytest

from fund.adapters.db import unit_of_work
from tests.test_api_support import Endpoint, api, problem_of  # noqa: F401  (fixture)

FM, AUDITOR = "fund_manager", "auditor"
START = {"scenario": "recession", "scenarios": 500, "seed": 7}


def _finished_run(api) -> int:
    """A run stored as done, for the read endpoints of the authorisation matrix."""
    from fund.adapters.models.stress import StressRun, StressRunFile

    with unit_of_work(api.session_factory) as session:
        run = StressRun(status="done", scenario_name="baseline", request={}, n_scenarios=10, seed=1,
                        as_of=__import__("datetime").date(2026, 10, 31), progress_done=10,
                        requested_by=api.actors["FM"].institution_id, result={"scenario": "baseline"})
        session.add(run)
        session.flush()
        session.add(StressRunFile(run_id=run.id, name="exceedance.png", media_type="image/png", content=b"\x89PNG"))
        return run.id


API_MATRIX = {
    ("POST", "/api/v1/stress-runs"): Endpoint(
        frozenset({FM}), lambda api, loan: ("POST", "/api/v1/stress-runs", {"json": {**START, "scenarios": 20}}), 202,
        needs_loan=True),
    ("GET", "/api/v1/stress-runs"): Endpoint(
        frozenset({FM, AUDITOR}), lambda api, loan: ("GET", "/api/v1/stress-runs", {"params": {"limit": 5}}), 200),
    ("GET", "/api/v1/stress-runs/{run_id}"): Endpoint(
        frozenset({FM, AUDITOR}), lambda api, loan: ("GET", f"/api/v1/stress-runs/{_finished_run(api)}", {}), 200),
    ("GET", "/api/v1/stress-runs/{run_id}/result"): Endpoint(
        frozenset({FM, AUDITOR}), lambda api, loan: ("GET", f"/api/v1/stress-runs/{_finished_run(api)}/result", {}), 200),
    ("GET", "/api/v1/stress-runs/{run_id}/plots/{name}"): Endpoint(
        frozenset({FM, AUDITOR}),
        lambda api, loan: ("GET", f"/api/v1/stress-runs/{_finished_run(api)}/plots/exceedance.png", {}), 200),
}


def _wait(api, run_id: int, seconds: float = 90.0) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        body = api.get(f"/api/v1/stress-runs/{run_id}", who="FM").json()
        if body["status"] in ("done", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


@pytest.fixture
def demo_api(api):
    from fund.services.demo import build_demo_book, load_demo  # noqa: F401

    load_demo(api.session_factory, seed=1, scale=0.02)
    return api


def test_start_poll_and_fetch_result_and_plots(demo_api):
    api = demo_api
    response = api.post("/api/v1/stress-runs", START, who="FM")
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["status"] in ("queued", "running", "done") and started["progress"]["total"] == 500
    body = _wait(api, started["id"])
    assert body["status"] == "done", body
    assert body["progress"] == {"done": 500, "total": 500} and body["seconds"] > 0
    result = api.get(body["result_url"], who="AUD")
    assert result.status_code == 200
    figures = result.json()
    assert figures["scenario"] == "recession" and figures["seed"] == 7 and figures["n_scenarios"] == 500
    assert set(figures["total_loss_fen"]["var"]) == {"0.95", "0.99", "0.999"}
    for name, url in body["plot_urls"].items():
        plot = api.get(url, who="FM")
        assert plot.status_code == 200 and plot.headers["content-type"].startswith("image/png")
        assert plot.content[:8] == b"\x89PNG\r\n\x1a\n", name
    # the same request again (another key) gives the same figures
    again = _wait(api, api.post("/api/v1/stress-runs", START, who="FM").json()["id"])
    same = api.get(again["result_url"], who="FM").json()
    assert same["total_loss_fen"] == figures["total_loss_fen"]


def test_inline_scenario_and_refusals(demo_api):
    api = demo_api
    doc = {"name": "mine", "horizon_years": 2, "pd_multiplier": 3.0, "collateral": {"value_multiplier": 0.5}}
    response = api.post("/api/v1/stress-runs", {"scenario_document": doc, "scenarios": 200, "seed": 1}, who="FM")
    assert response.status_code == 202, response.text
    assert _wait(api, response.json()["id"])["status"] == "done"
    bad = api.post("/api/v1/stress-runs", {"scenario_document": {**doc, "asset_correlation": 1.0}, "scenarios": 10,
                                           "seed": 1}, who="FM")
    assert bad.status_code == 422 and "'asset_correlation'" in problem_of(bad)["detail"]
    too_many = api.post("/api/v1/stress-runs", {**START, "scenarios": 100_001}, who="FM")
    assert too_many.status_code == 422
    both = api.post("/api/v1/stress-runs", {**START, "scenario_document": doc}, who="FM")
    assert both.status_code == 422 and problem_of(both)["code"] == "invalid_scenario"
    unknown = api.post("/api/v1/stress-runs", {**START, "scenario": "doomsday"}, who="FM")
    assert unknown.status_code == 422
    assert api.get("/api/v1/stress-runs/999999", who="FM").status_code == 404


def test_result_is_409_until_done_and_empty_book_is_refused(api):
    empty = api.post("/api/v1/stress-runs", START, who="FM")
    assert empty.status_code == 422 and problem_of(empty)["code"] == "empty_book"
    from fund.adapters.models.stress import StressRun

    with unit_of_work(api.session_factory) as session:
        run = StressRun(status="running", scenario_name="baseline", request={}, n_scenarios=10, seed=1,
                        as_of=__import__("datetime").date(2026, 10, 31), progress_done=3,
                        requested_by=api.actors["FM"].institution_id)
        session.add(run)
        session.flush()
        run_id = run.id
    body = api.get(f"/api/v1/stress-runs/{run_id}", who="AUD").json()
    assert body["progress"] == {"done": 3, "total": 10} and body["result_url"] is None
    assert api.get(f"/api/v1/stress-runs/{run_id}/result", who="FM").status_code == 409
    assert api.get(f"/api/v1/stress-runs/{run_id}/plots/exceedance.png", who="FM").status_code == 409


def test_at_most_four_runs_pending(demo_api):
    from fund.adapters.models.stress import StressRun

    with unit_of_work(demo_api.session_factory) as session:
        for _ in range(4):
            session.add(StressRun(status="running", scenario_name="baseline", request={}, n_scenarios=10, seed=1,
                                  as_of=__import__("datetime").date(2026, 10, 31), progress_done=0,
                                  requested_by=demo_api.actors["FM"].institution_id))
    full = demo_api.post("/api/v1/stress-runs", START, who="FM")
    assert full.status_code == 409 and problem_of(full)["code"] == "stress_queue_full"


def test_runs_are_listed_with_filters(demo_api):
    api = demo_api
    done_id = _finished_run(api)
    queued = api.post("/api/v1/stress-runs", {**START, "scenarios": 50}, who="FM").json()["id"]
    _wait(api, queued)
    listed = api.get("/api/v1/stress-runs", who="AUD").json()
    assert [item["id"] for item in listed["items"]][:2] == [queued, done_id] and listed["next_before_id"] is None
    item = listed["items"][0]
    assert item["origin"] == "api" and item["attempts"] == 1 and item["request"]["scenario"]["name"] == "recession"
    only = api.get("/api/v1/stress-runs", who="FM", params={"scenario": "baseline"}).json()["items"]
    assert [i["id"] for i in only] == [done_id]
    page = api.get("/api/v1/stress-runs", who="FM", params={"limit": 1}).json()
    assert len(page["items"]) == 1 and page["next_before_id"] == queued
    rest = api.get("/api/v1/stress-runs", who="FM", params={"before_id": page["next_before_id"]}).json()["items"]
    assert [i["id"] for i in rest] == [done_id]
    assert api.get("/api/v1/stress-runs", who="FM", params={"status": "lost"}).status_code in (400, 422)


def test_api_run_on_a_dask_cluster_gives_the_local_result(demo_api, monkeypatch):
    distributed = pytest.importorskip("distributed")
    from fund.settings import reset_settings_cache

    api = demo_api
    body = {**START, "scenarios": 300}
    local = _wait(api, api.post("/api/v1/stress-runs", body, who="FM").json()["id"])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None,
                                  protocol="tcp") as cluster:
        monkeypatch.setenv("IPFUND_STRESS_EXECUTOR", "dask://" + cluster.scheduler_address)
        reset_settings_cache()
        api.client.app.state.stress_runner = None     # a runner with the new setting
        remote = _wait(api, api.post("/api/v1/stress-runs", body, who="FM").json()["id"])
    reset_settings_cache()
    assert local["status"] == remote["status"] == "done"
    a = api.get(local["result_url"], who="FM").json()
    b = api.get(remote["result_url"], who="FM").json()
    a.pop("timing"), b.pop("timing")
    assert a == b
