"""The stress runner: a worker that takes queued stress runs from the database and runs them, one at a
time per runner, started by the API app (``api/app.py``) or on its own (``ipfund stress runner``).

Runs are held by a *lease* in the database (``stress_runs.lease_owner``, ``lease_expires_at``):

* a runner takes a run with one conditional UPDATE (``queued``, or ``running`` with a lease that ran
  out), so when several API workers poll the same database exactly one of them gets each run;
* while it runs, the runner renews its lease with each progress report; a runner that dies stops
  renewing, and once the lease runs out another runner takes the run up again (``attempts`` + 1);
* a runner that finds its lease gone (taken up by another) stops without storing anything, and the
  final store checks the owner, so a run is never stored twice.

Lease times are wall-clock (UTC): they are about processes, not about the business date.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import uuid
from dataclasses import dataclass

from sqlalchemy import or_, select, update

from fund.adapters.db import unit_of_work
from fund.adapters.models.stress import StressRun

DEFAULT_LEASE_SECONDS = 60.0
DEFAULT_POLL_SECONDS = 1.0
#: A run taken up this many times without finishing is marked failed (it kills its runner).
MAX_ATTEMPTS = 3


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def new_owner() -> str:
    """A runner's name: host, process and a random part (unique across API workers)."""
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim_next_run(db, owner: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS,
                   now: dt.datetime | None = None) -> int | None:
    """Take the oldest run that is queued, or running under a lease that ran out; None if there is
    none or another runner took it first. One conditional UPDATE decides, so two runners never both
    get a run (on SQLite and PostgreSQL alike, without row locks)."""
    now = now or _now()
    takeable = or_(StressRun.status == "queued",
                   (StressRun.status == "running") & (StressRun.lease_expires_at.is_not(None))
                   & (StressRun.lease_expires_at < now))
    for _ in range(3):
        with unit_of_work(db) as session:
            candidate = session.scalar(select(StressRun.id).where(takeable).order_by(StressRun.id).limit(1))
            if candidate is None:
                return None
            attempts = session.scalar(select(StressRun.attempts).where(StressRun.id == candidate)) or 0
            if attempts >= MAX_ATTEMPTS:
                session.execute(update(StressRun).where(StressRun.id == candidate, takeable).values(
                    status="failed", finished_at=now, lease_expires_at=None,
                    error=f"taken up {attempts} times without finishing (its runner died each time)"))
                continue
            taken = session.execute(
                update(StressRun).where(StressRun.id == candidate, takeable).values(
                    status="running", lease_owner=owner, lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
                    started_at=now, attempts=StressRun.attempts + 1, error=None)
            ).rowcount
            if taken == 1:
                return candidate
    return None


def renew_lease(db, run_id: int, owner: str, *, done: int | None = None,
                lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
    """Extend ``owner``'s lease on a run (and store its progress); False if the lease is no longer
    the owner's."""
    values: dict = {"lease_expires_at": _now() + dt.timedelta(seconds=lease_seconds)}
    if done is not None:
        values["progress_done"] = done
    with unit_of_work(db) as session:
        return session.execute(
            update(StressRun).where(StressRun.id == run_id, StressRun.lease_owner == owner,
                                    StressRun.status == "running").values(**values)
        ).rowcount == 1


@dataclass
class StressRunner:
    """A background thread running queued stress runs under leases (one at a time)."""

    db: object
    owner: str = ""
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    poll_seconds: float = DEFAULT_POLL_SECONDS
    executor: str | None = None

    #: stop when nothing is waiting (the API starts it again when a run is queued or polled)
    exit_when_idle: bool = False

    def __post_init__(self) -> None:
        self.owner = self.owner or new_owner()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._running = False
        self._lock = threading.Lock()

    def run_once(self) -> str | None:
        """Take and run one run; its final status, or None when nothing was waiting."""
        run_id = claim_next_run(self.db, self.owner, lease_seconds=self.lease_seconds)
        if run_id is None:
            return None
        return self._run_claimed(run_id)

    def run_until_idle(self) -> int:
        """Run waiting runs until none is left; how many ran."""
        count = 0
        while self.run_once() is not None:
            count += 1
        return count

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_once()
            except Exception:  # noqa: BLE001  (a database hiccup must not kill the runner; try again)
                ran = None
            if ran is None:
                if self.exit_when_idle:
                    # decided under the lock that start() takes: a run queued before start() is
                    # called is either seen by this last look or by a new thread
                    with self._lock:
                        try:
                            waiting = claim_next_run(self.db, self.owner, lease_seconds=self.lease_seconds)
                        except Exception:  # noqa: BLE001
                            waiting = None
                        if waiting is None:
                            self._running = False
                            return
                    self._run_claimed(waiting)
                    continue
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
        self._running = False

    def _run_claimed(self, run_id: int) -> str:
        from fund.services.stress import execute_run

        return execute_run(self.db, run_id, owner=self.owner, executor=self.executor,
                           heartbeat=lambda done: renew_lease(self.db, run_id, self.owner, done=done,
                                                              lease_seconds=self.lease_seconds),
                           progress_every_seconds=min(1.0, self.lease_seconds / 4))

    def start(self) -> "StressRunner":
        """Start the thread unless it runs already."""
        with self._lock:
            if self._running and self._thread is not None and self._thread.is_alive():
                return self
            self._stop.clear()
            self._running = True
            self._thread = threading.Thread(target=self._loop, name=f"stress-runner {self.owner}", daemon=True)
            self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """Look for work now (a run was just queued)."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the current run (a run in progress keeps its lease until it runs out)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
