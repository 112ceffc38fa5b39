"""Scale-out on Dask (risk/executors.py): the figures of a run on a 2-worker cluster are those of a
local run for the same seed and batch (RULES M6)."""

from __future__ import annotations

import numpy as np
import pytest

from risk.engine import simulate
from risk.executors import executor_for

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None,
                                  protocol="tcp") as running:
        yield running


def test_dask_run_equals_local_run_for_the_same_seed_and_batch(cluster):
    import datetime as dt

    from risk.engine import prepare
    from risk.portfolio import FundPosition, default_cap_base
    from risk.scenario import parse_scenario
    from risk.stress_result import summarise
    from risk.synthetic import synthetic_book

    book = synthetic_book(300, seed=2)
    scenario = parse_scenario({"name": "d", "horizon_years": 3, "pd_multiplier": 2.0})
    prep, inputs = prepare(book, scenario, default_cap_base(book), FundPosition(10**10, 0, (10**9,) * 3),
                           as_of=dt.date(2026, 1, 1), new_lending_fen=2 * 10**10, seed=4)
    local = simulate(prep, n_scenarios=3000, seed=9, batch=500)
    remote = simulate(prep, n_scenarios=3000, seed=9, batch=500, executor=executor_for("dask://" + cluster.scheduler_address))
    for name in ("total_loss", "fund_payout", "net_by_year", "payout_by_bank", "defaults_by_loan"):
        assert np.array_equal(getattr(local, name), getattr(remote, name)), name
    a = summarise(local, scenario_name="d", bank_names=book.bank_names, inputs=inputs).to_dict()
    b = summarise(remote, scenario_name="d", bank_names=book.bank_names, inputs=inputs).to_dict()
    a.pop("timing"), b.pop("timing")
    assert a == b


def test_bad_executor_is_refused_in_one_line():
    with pytest.raises(ValueError, match="dask://HOST:PORT"):
        executor_for("spark://x")
