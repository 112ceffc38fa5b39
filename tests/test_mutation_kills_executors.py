"""Survivors of the mutation review of risk/executors.py (docs/mutation.md), killed by pinning where a
stress run's chunks are computed (docs/rules.md section 8, M6: the figures are the same wherever the
chunks run): ``None`` or ``"local"`` is this machine, ``dask://HOST:PORT`` a Dask scheduler
(``tcp://`` unless the address names its own protocol), anything else refused in one line; the run's
client is the run's own (not made the caller's default) and says how to install Dask when it is
missing."""

from __future__ import annotations

import sys

import pytest

from risk.executors import DaskExecutor, _client, executor_for


def test_local_and_none_are_this_machine():
    assert executor_for(None) is None and executor_for("local") is None


@pytest.mark.parametrize(("spec", "address"), [
    ("dask://scheduler.example:8786", "tcp://scheduler.example:8786"),
    ("dask://10.0.0.1:1", "tcp://10.0.0.1:1"),
    ("dask://tcp://scheduler.example:8786", "tcp://scheduler.example:8786"),
    ("dask://tls://scheduler.example:8786", "tls://scheduler.example:8786"),
    ("dask://inproc://10.0.0.1/1/2", "inproc://10.0.0.1/1/2"),
    ("dask://x", "tcp://x"),
])
def test_a_dask_spec_names_the_scheduler(spec, address):
    assert executor_for(spec) == DaskExecutor(address)


@pytest.mark.parametrize("spec", ["dask://", "spark://x", "", "LOCAL", "Dask://x:1", "x dask://h:1", 8786, ["dask://h:1"]])
def test_anything_else_is_refused_in_one_line_naming_what_was_given(spec):
    with pytest.raises(ValueError) as refused:
        executor_for(spec)
    assert str(refused.value) == f"executor must be 'local' or 'dask://HOST:PORT', got {spec!r}"


def test_without_dask_the_refusal_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)   # import distributed raises ImportError
    with pytest.raises(ValueError) as refused:
        _client("tcp://scheduler.example:8786")
    assert str(refused.value) == "the dask executor needs dask[distributed]: pip install 'ipfund[dask]'"
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


def test_the_runs_client_is_its_own_and_gives_up_on_a_scheduler_it_cannot_reach(monkeypatch):
    # a client made the default would be the one later dask calls of the caller's program use; a
    # client without a timeout would wait for ever on an unreachable scheduler (30 s is distributed's
    # own default connect timeout)
    distributed = pytest.importorskip("distributed")
    made = []
    monkeypatch.setattr(distributed, "Client", lambda *args, **kwargs: made.append((args, kwargs)) or "client")
    assert _client("tcp://scheduler.example:8786") == "client"
    assert made == [(("tcp://scheduler.example:8786",), {"set_as_default": False, "timeout": 30})]


def test_the_chunks_run_on_the_scheduler_named_not_on_a_cluster_of_their_own():
    # a client given no address starts a local cluster of its own: the figures would be the same (M6),
    # but the chunks would not run where the spec says; the named scheduler must have run them
    import datetime as dt

    distributed = pytest.importorskip("distributed")
    from risk.engine import prepare, simulate
    from risk.portfolio import FundPosition, default_cap_base
    from risk.scenario import parse_scenario
    from risk.synthetic import synthetic_book

    book = synthetic_book(300, seed=2)
    scenario = parse_scenario({"name": "d", "horizon_years": 3, "pd_multiplier": 2.0})
    prep, _ = prepare(book, scenario, default_cap_base(book), FundPosition(10**10, 0, (10**9,) * 3),
                      as_of=dt.date(2026, 1, 1), new_lending_fen=2 * 10**10, seed=4)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None,
                                  protocol="tcp") as cluster:
        executor = executor_for("dask://" + cluster.scheduler_address)
        run = simulate(prep, n_scenarios=2000, seed=9, batch=500, executor=executor)
        assert run.fund_payout.shape == (2000,)
        # the prepared book scattered there and the chunk tasks (dask drops the leading underscore)
        assert {"Prepared", "worker_chunk_with"} <= set(cluster.scheduler.task_prefixes), \
            sorted(cluster.scheduler.task_prefixes)
