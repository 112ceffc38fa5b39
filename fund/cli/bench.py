"""`ipfund bench api`: throughput and latency of the HTTP API against a running server.

For each backend asked for, it makes a fresh database (a SQLite file; a new database on the
PostgreSQL server), migrates and seeds it (policies, one bank, its API key), starts `ipfund serve` on a
free port, then measures:

* batches: ``--loans`` loans (10,000) registered through ``POST /api/v1/loans/batch`` in batches of
  ``--batch-size`` (1,000), one after the other: loans per second;
* single POSTs: ``--singles`` loans registered one per ``POST /api/v1/loans`` by ``--clients`` (16)
  concurrent clients: p50 / p99 latency and requests per second.

``--url URL --key KEY`` targets a server that is already running instead (its database must have the
shipped policies ``gz-2023`` active and the key must be a bank's). Prints the machine it ran on.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import typer

from fund.cli.common import handle_errors

app = typer.Typer(help="Benchmarks (not tests).", no_args_is_help=True)

BUSINESS_DATE = dt.date(2026, 10, 31)
DEFAULT_POSTGRES = os.environ.get("IPFUND_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BANK_CODE = "BENCH-BANK"


@app.callback()
def _group() -> None:
    """Benchmarks (not tests)."""


@dataclass(frozen=True)
class ApiFigures:
    backend: str
    loans: int
    batch_size: int
    batch_seconds: float
    loans_per_second: float
    batch_p50_ms: float
    batch_max_ms: float
    batch_server_cpu_ms_per_loan: float
    singles: int
    clients: int
    single_seconds: float
    singles_per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    single_server_cpu_ms_per_request: float
    load_average: str
    errors: int
    get_p50_ms: float = 0.0  # GET /loans/{id} from the same clients, after the POSTs
    get_p99_ms: float = 0.0


# --------------------------------------------------------------------------------------------------
# Loans to send


class LoanMaker:
    """Valid, distinct loan registrations (fresh borrowers, assets and contract numbers)."""

    def __init__(self, run: str) -> None:
        from fund.services.reference import make_patent_number, make_uscc

        self._uscc = make_uscc
        self._patent = make_patent_number
        self._run = run
        self._n = 0

    def body(self) -> dict:
        from fund.domain.dates import add_months

        self._n += 1
        n = self._n
        credit_code = self._uscc(f"9144{int(self._run[:6], 16) % 1000:03d}{n:010d}")
        drawdown = dt.date(2025, 1, 1) + dt.timedelta(days=n % 600)
        months = 12
        principal = 100_000_000 + (n % 97) * 1_000_000
        schedule = [
            {"due_date": add_months(drawdown, k).isoformat(), "principal_due_fen": principal if k == months else 0,
             "interest_due_fen": principal * 385 // 10_000 // 12}
            for k in range(1, months + 1)
        ]
        return {
            "contract_no": f"B-{self._run}-{n}",
            "borrower": {"credit_code": credit_code, "name": f"Enterprise {n}", "district": "Huangpu",
                         "sector": "next_generation_it", "registered_on": "2015-01-01", "is_sme": True, "clean_credit": True},
            "principal_fen": principal,
            "contract_rate_bp": 385,
            "drawdown_date": drawdown.isoformat(),
            "maturity_date": add_months(drawdown, months).isoformat(),
            "ip_share_bp": 10_000,
            "scheme_code": "50",
            "assets": [{"kind": "invention_patent", "number": self._patent(2019, 1, (int(self._run[:6], 16) * 100_000 + n) % 10**7),
                        "title": f"Patent {n}", "filing_date": "2019-03-01", "legal_status": "valid",
                        "owner_credit_code": credit_code, "appraised_value_fen": 2 * principal, "appraised_on": "2024-12-01"}],
            "pledge_registration_no": f"PR-{self._run}-{n}",
            "pledge_registered_on": drawdown.isoformat(),
            "schedule": schedule,
        }


# --------------------------------------------------------------------------------------------------
# Databases and the server


def _prepare_database(url: str) -> str:
    """Migrate, seed the policies and one bank; returns a new API key of that bank."""
    from fund.adapters.db import make_engine, make_session_factory, unit_of_work, upgrade
    from fund.services.common import add_institution
    from fund.services.keys import create_key
    from fund.services.policies import load_shipped_policies
    from fund.services.reference import seed_reference_data

    engine = make_engine(url)
    try:
        upgrade(engine)
        with unit_of_work(make_session_factory(engine)) as session:
            seed_reference_data(session)
            load_shipped_policies(session, activate=("gz-2020", "gz-2023"))
            add_institution(session, BANK_CODE, "Benchmark Bank", "bank")
            from fund.services.pool import agree_all_banks

            agree_all_banks(session, ("gz-2020", "gz-2023"), reference="benchmark pool agreement", today=dt.date(2020, 7, 8))
            return create_key(session, BANK_CODE, label="bench").key
    finally:
        engine.dispose()


@contextmanager
def _database(backend: str, postgres_url: str):
    """A fresh database URL for the backend, removed afterwards."""
    if backend == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="ipfund-bench-"))
        try:
            yield f"sqlite:///{folder / 'bench.sqlite3'}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    from fund.adapters.db import scratch_postgres_database

    with scratch_postgres_database(postgres_url, prefix="ipfund_bench") as url:
        yield url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _server(database_url: str, workers: int, log: Path):
    """``ipfund serve`` on a free port; yields its base URL."""
    import httpx

    port = _free_port()
    env = {**os.environ, "IPFUND_DATABASE_URL": database_url, "IPFUND_BUSINESS_DATE": BUSINESS_DATE.isoformat()}
    command = [sys.executable, "-m", "fund.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers)]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}: see {log}")
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer within 60 s: see {log}")
            time.sleep(0.2)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


# --------------------------------------------------------------------------------------------------
# Measuring


def server_cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of the server process and its children (Linux /proc; 0 elsewhere).
    The machine may be shared: CPU per loan says what the server costs, whatever else runs."""
    if pid is None or not Path("/proc").exists():
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:  # fields[1] is the parent pid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))]


def measure(base: str, key: str, *, backend: str, loans: int, batch_size: int, singles: int, clients: int,
            server_pid: int | None = None) -> ApiFigures:
    import httpx

    maker = LoanMaker(uuid.uuid4().hex)
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    timeout = httpx.Timeout(300.0)

    # Batches, encoded before the clock starts.
    batches = [json.dumps({"items": [maker.body() for _ in range(min(batch_size, loans - start))]}).encode()
               for start in range(0, loans, batch_size)]
    errors = 0
    batch_times = []
    with httpx.Client(base_url=base, timeout=timeout) as client:
        warm = client.post("/api/v1/loans", content=json.dumps(maker.body()).encode(),
                           headers={**auth, "Idempotency-Key": uuid.uuid4().hex})
        if warm.status_code != 201:
            raise RuntimeError(f"warm-up registration failed: {warm.status_code} {warm.text[:300]}")
        cpu0 = server_cpu_seconds(server_pid)
        started = time.perf_counter()
        for body in batches:
            t0 = time.perf_counter()
            answer = client.post("/api/v1/loans/batch", content=body, headers={**auth, "Idempotency-Key": uuid.uuid4().hex})
            batch_times.append(time.perf_counter() - t0)
            if answer.status_code != 201:
                errors += 1
                typer.echo(f"batch refused: {answer.status_code} {answer.text[:300]}", err=True)
        batch_seconds = time.perf_counter() - started
        batch_cpu = server_cpu_seconds(server_pid) - cpu0

    # Single POSTs from concurrent clients.
    bodies = [json.dumps(maker.body()).encode() for _ in range(singles)]
    shares = [bodies[i::clients] for i in range(clients)]
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    failures = [0]

    reads: list[float] = []
    read_barrier = threading.Barrier(clients + 1)

    def client_run(share: list[bytes]) -> None:
        mine, bad, ids, read = [], 0, [], []
        with httpx.Client(base_url=base, timeout=timeout) as client:
            client.get("/health")
            barrier.wait()
            for body in share:
                t0 = time.perf_counter()
                answer = client.post("/api/v1/loans", content=body, headers={**auth, "Idempotency-Key": uuid.uuid4().hex})
                mine.append(time.perf_counter() - t0)
                bad += answer.status_code != 201
                if answer.status_code == 201:
                    ids.append(answer.json()["id"])
            read_barrier.wait()  # the reads, all clients at once, after every POST
            for loan_id in ids:
                t0 = time.perf_counter()
                answer = client.get(f"/api/v1/loans/{loan_id}", headers=auth)
                read.append(time.perf_counter() - t0)
                bad += answer.status_code != 200
        with lock:
            latencies.extend(mine)
            reads.extend(read)
            failures[0] += bad

    threads = [threading.Thread(target=client_run, args=(share,)) for share in shares]
    for t in threads:
        t.start()
    cpu0 = server_cpu_seconds(server_pid)
    barrier.wait()
    started = time.perf_counter()
    read_barrier.wait()  # every POST answered
    single_seconds = time.perf_counter() - started
    single_cpu = server_cpu_seconds(server_pid) - cpu0
    for t in threads:
        t.join()
    return ApiFigures(
        backend=backend, loans=loans, batch_size=batch_size, batch_seconds=round(batch_seconds, 3),
        loans_per_second=round(loans / batch_seconds, 1), batch_p50_ms=round(1000 * statistics.median(batch_times), 1),
        batch_max_ms=round(1000 * max(batch_times), 1),
        batch_server_cpu_ms_per_loan=round(1000 * batch_cpu / loans, 2), singles=singles, clients=clients,
        single_seconds=round(single_seconds, 3), singles_per_second=round(singles / single_seconds, 1),
        p50_ms=round(1000 * _percentile(latencies, 0.50), 1), p99_ms=round(1000 * _percentile(latencies, 0.99), 1),
        max_ms=round(1000 * max(latencies), 1),
        single_server_cpu_ms_per_request=round(1000 * single_cpu / singles, 2),
        load_average=" ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "",
        errors=errors + failures[0],
        get_p50_ms=round(1000 * _percentile(reads, 0.50), 1) if reads else 0.0,
        get_p99_ms=round(1000 * _percentile(reads, 0.99), 1) if reads else 0.0,
    )


def machine_info(postgres_url: str | None) -> dict[str, str]:
    """The machine (``fund.adapters.machine``) and, given a server, its PostgreSQL version."""
    from fund.adapters.machine import machine_info as read_machine

    info = read_machine("litestar", "sqlalchemy", "sqlite")
    if postgres_url:
        try:
            from fund.adapters.db import server_version

            info["postgresql"] = server_version(postgres_url)
        except Exception as exc:  # noqa: BLE001
            info["postgresql"] = f"unreachable ({exc.__class__.__name__})"
    return info


@app.command("api", help="Loans/s through the batch endpoint and p50/p99 of single POSTs under concurrent clients, "
                         "against a server started here (SQLite and PostgreSQL) or --url.")
@handle_errors
def bench_api(
    backend: str = typer.Option("both", help="sqlite, postgresql or both (ignored with --url)."),
    postgres_url: str = typer.Option(DEFAULT_POSTGRES, help="PostgreSQL server to create the benchmark database on."),
    loans: int = typer.Option(10_000, min=1, help="Loans to register through the batch endpoint."),
    batch_size: int = typer.Option(1_000, min=1, max=1_000, help="Loans per batch."),
    singles: int = typer.Option(2_000, min=16, help="Single POSTs to time."),
    clients: int = typer.Option(16, min=1, help="Concurrent clients for the single POSTs."),
    workers: int = typer.Option(1, min=1, help="Server worker processes."),
    url: str | None = typer.Option(None, help="Target this running server instead of starting one."),
    key: str | None = typer.Option(None, help="A bank's API key on --url."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    results: list[ApiFigures] = []
    if url:
        if not key:
            raise typer.BadParameter("--url needs --key")
        results.append(measure(url, key, backend="given", loans=loans, batch_size=batch_size, singles=singles, clients=clients))
    else:
        backends = ("sqlite", "postgresql") if backend == "both" else (backend,)
        for name in backends:
            if name not in ("sqlite", "postgresql"):
                raise typer.BadParameter(f"unknown backend {name!r}")
            with _database(name, postgres_url) as database_url:
                bank_key = _prepare_database(database_url)
                log = Path(tempfile.gettempdir()) / f"ipfund-bench-{name}.log"
                typer.echo(f"{name}: server log {log}", err=True)
                with _server(database_url, workers, log) as (base, pid):
                    results.append(measure(base, bank_key, backend=name, loans=loans, batch_size=batch_size,
                                           singles=singles, clients=clients, server_pid=pid))
    info = machine_info(postgres_url if (url is None and backend != "sqlite") else None)
    if as_json:
        typer.echo(json.dumps({"machine": info, "results": [asdict(r) for r in results]}, indent=2))
        return
    typer.echo("machine: " + ", ".join(f"{k} {v}" for k, v in info.items() if v))
    typer.echo(f"server: ipfund serve, {workers} worker(s); business date {BUSINESS_DATE}")
    for r in results:
        typer.echo(
            f"{r.backend:<10} batch: {r.loans} loans in {r.loans // r.batch_size} x {r.batch_size}: {r.batch_seconds:.2f} s, "
            f"{r.loans_per_second:,.0f} loans/s (per batch p50 {r.batch_p50_ms:.0f} ms, max {r.batch_max_ms:.0f} ms; "
            f"server CPU {r.batch_server_cpu_ms_per_loan:.2f} ms per loan)"
        )
        typer.echo(
            f"{'':<10} single POST /loans, {r.clients} clients, {r.singles} requests: p50 {r.p50_ms:.1f} ms, "
            f"p99 {r.p99_ms:.1f} ms, max {r.max_ms:.1f} ms, {r.singles_per_second:,.0f} req/s; server CPU "
            f"{r.single_server_cpu_ms_per_request:.1f} ms per request; errors {r.errors}; load average {r.load_average}"
        )
        typer.echo(f"{'':<10} GET /loans/{{id}}, {r.clients} clients: p50 {r.get_p50_ms:.1f} ms, p99 {r.get_p99_ms:.1f} ms")
from fund.cli import bench_console  # noqa: E402,F401  (ipfund bench console)
