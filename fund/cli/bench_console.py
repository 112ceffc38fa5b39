"""``ipfund bench console``: server time per console page (p50 and p95) on the demo book.

It builds a fresh SQLite database with the demo book (``--scale``, default the whole book), adds one
staff user per role and a filed claim, then fetches each page ``--requests`` times in-process
(Litestar's test client: the time is the server's own, no network) and prints p50 / p95 per page
against the 300 ms target, with the machine it ran on and its load. Beside the wall times it prints the
process's CPU time per request (p50; the test client's own share is in it too): on a machine other
work keeps busy the wall time grows with the load, the CPU time much less, so a figure taken there can
be judged against a quiet machine's. ``--url`` measures an existing database instead
(it must hold the demo book; the users are added if missing).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

import typer

from fund.cli.bench import app
from fund.cli.common import handle_errors

TARGET_P95_MS = 300.0
PAGES = (
    ("t.officer", "/console/dashboard"),
    ("t.officer", "/console/claims"),
    ("t.officer", "/console/claims/{claim}"),
    ("t.officer", "/console/proposals"),
    ("t.officer", "/console/loans"),
    ("t.officer", "/console/loans?sort=-principal&page=3"),
    ("t.officer", "/console/loans?borrower=科技&status=active"),
    ("t.officer", "/console/loans/{loan}"),
    ("t.officer", "/console/subsidies"),
    ("t.officer", "/console/subsidies?month={month}"),
    ("t.officer", "/console/stress"),
    ("t.officer", "/console/reports"),
    ("t.officer", "/console/ledger"),
    ("t.officer", "/console/audit"),
    ("t.admin", "/console/admin"),
    ("t.bank", "/console/bank/loans"),
    ("t.bank", "/console/bank/claims"),
    ("t.bank", "/console/bank/claims/{claim}"),
)


def _load() -> tuple[float, float, float]:
    import os

    try:
        return os.getloadavg()
    except OSError:  # not on this platform
        return (float("nan"),) * 3


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


PASSWORD = "bench-console-password"
STAFF = {"t.officer": ("FM-GZ", ("officer",)), "t.admin": ("FM-GZ", ("admin",)), "t.bank": (None, ("staff",))}


def _claimable(factory, bank_code: str) -> int | None:
    """A loan of the bank a claim may be filed on today (tried in a savepoint rolled back)."""
    from sqlalchemy import select

    from fund.adapters.db import unit_of_work
    from fund.adapters.models.registry import Institution, Loan
    from fund.errors import DomainError
    from fund.services.claims import file_claim
    from fund.services.common import business_date
    from fund.services.registry import Actor

    with unit_of_work(factory) as session:
        bank = session.scalar(select(Institution).where(Institution.code == bank_code))
        if bank is None:
            return None
        today = business_date(session)
        for loan_id in session.scalars(select(Loan.id).where(Loan.bank_id == bank.id, Loan.status == "active",
                                                             Loan.covered_fen > 0).order_by(Loan.id)):
            savepoint = session.begin_nested()
            try:
                file_claim(session, Actor.of(bank), loan_id, 100, today)
                return loan_id
            except DomainError:
                pass
            finally:
                savepoint.rollback()
    return None


def _staff(factory, bank: str) -> None:
    from sqlalchemy import select

    from fund.adapters.db import unit_of_work
    from fund.adapters.models.people import Person
    from fund.services import people
    from fund.services.common import institution_by_code

    with unit_of_work(factory) as session:
        for login, (code, roles) in STAFF.items():
            if session.scalar(select(Person.id).where(Person.login == login)) is None:
                people.create_person(session, institution_by_code(session, code or bank), login, login, roles, PASSWORD)


def _sign_in(client, login: str) -> None:
    import re

    form = client.get("/console/login")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', form.text).group(1)
    answer = client.post("/console/login", data={"login": login, "password": PASSWORD, "_csrf_token": token},
                         follow_redirects=False)
    if answer.status_code != 303:
        raise typer.BadParameter(f"{login} could not sign in ({answer.status_code})")


def _prepare(url: str | None, scale: float, folder: Path) -> tuple[str, dict]:
    import os

    from fund.adapters.db import make_engine, make_session_factory, unit_of_work, upgrade
    from fund.services.demo import load_demo
    from fund.services.reference import seed_reference_data

    os.environ.setdefault("IPFUND_BUSINESS_DATE", "2026-10-31")
    url = url or f"sqlite:///{folder / 'console.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with unit_of_work(factory) as session:
        seed_reference_data(session)
    typer.echo(load_demo(factory, seed=1, scale=scale, if_empty=True))
    loans = {code: _claimable(factory, code) for code in ("ICBC-GZ", "CITIC-GZ", "GZCB", "GRCB", "CCB-GZ")}
    bank = next((code for code, loan in loans.items() if loan), "ICBC-GZ")
    _staff(factory, bank)
    engine.dispose()
    return url, {"bank": bank, "loans": [loans[bank]] if loans.get(bank) else []}


@app.command("console", help="p50 / p95 server time per console page on the demo book (target: p95 < 300 ms on SQLite).")
@handle_errors
def bench_console(
    requests: int = typer.Option(20, min=3, help="Requests per page."),
    scale: float = typer.Option(1.0, help="Demo book scale (0, 1]."),
    url: str = typer.Option(None, help="An existing database holding the demo book (default: a fresh SQLite file)."),
    only: str = typer.Option(None, help="Only the pages whose path contains this text (e.g. subsidies)."),
) -> None:
    import logging
    import re

    from litestar.testing import TestClient

    from api.app import create_app
    from fund.adapters.db import make_engine, make_session_factory
    from fund.adapters.machine import machine_info

    started = ", ".join(f"{x:.2f}" for x in _load())
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("ipfund.api.requests").setLevel(logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="ipfund-bench-console-"))
    try:
        database, found = _prepare(url, scale, folder)
        app_ = create_app(make_session_factory(make_engine(database)))
        values = {"loan": found["loans"][0] if found["loans"] else 1, "claim": 0, "month": "2026-10"}
        with TestClient(app_) as bank:  # one filed claim, so that the claim pages have something to show
            _sign_in(bank, "t.bank")
            if found["loans"]:
                form = bank.get(f"/console/bank/loans/{values['loan']}")
                token = re.search(r'name="_csrf_token" value="([^"]+)"', form.text).group(1)
                answer = bank.post(f"/console/bank/loans/{values['loan']}/claims", data={"loss": "10000", "_csrf_token": token},
                                   files={"documents": ("notice.pdf", b"%PDF-1.4 bench", "application/pdf")}, follow_redirects=False)
                values["claim"] = int(answer.headers.get("location", "/0").rsplit("/", 1)[-1] or 0)
        rows = []
        for login in dict.fromkeys(login for login, _ in PAGES):  # one signed-in client per person, in turn
            with TestClient(app_) as client:
                _sign_in(client, login)
                for who, template in PAGES:
                    if who != login or ("{claim}" in template and not values["claim"]) or (only and only not in template):
                        continue
                    path = template.format(**values)
                    client.get(path)  # warm
                    times, cpu = [], []
                    for _ in range(requests):
                        start, start_cpu = time.perf_counter(), time.process_time()
                        answer = client.get(path)
                        times.append((time.perf_counter() - start) * 1000)
                        cpu.append((time.process_time() - start_cpu) * 1000)
                        if answer.status_code != 200:
                            raise typer.BadParameter(f"{path} answered {answer.status_code}")
                    rows.append((path, login, statistics.median(times), _percentile(times, 0.95), statistics.median(cpu)))
        if not rows:
            raise typer.BadParameter(f"no page's path contains {only!r}")
        width = max(len(r[0]) for r in rows)
        typer.echo(f"{'page':<{width}}  {'as':<10} {'p50 ms':>8} {'p95 ms':>8} {'CPU p50 ms':>11}")
        for path, login, p50, p95, cpu_p50 in rows:
            flag = "" if p95 < TARGET_P95_MS else f"  over {TARGET_P95_MS:.0f} ms"
            typer.echo(f"{path:<{width}}  {login:<10} {p50:>8.1f} {p95:>8.1f} {cpu_p50:>11.1f}{flag}")
        slow = [r for r in rows if r[3] >= TARGET_P95_MS]
        typer.echo(f"{len(rows)} pages, {requests} requests each; {len(slow)} over the {TARGET_P95_MS:.0f} ms p95 target")
        info = machine_info("litestar", "sqlalchemy", "sqlite")
        typer.echo("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
        typer.echo("load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.2f}" for x in _load()) + f" (at the start: {started}); {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
