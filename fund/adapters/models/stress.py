"""Tables of the stress tests run through the API (docs/rules.md section 8): each run's request, status,
progress and result, and the plots it drew."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, DateTime, Float, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from fund.adapters.models.base import Base, created_at_column

RUN_STATUSES = ("queued", "running", "done", "failed")


class StressRun(Base):
    """One stress test: queued by the fund manager, run in the background, its result kept."""

    __tablename__ = "stress_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    scenario_name: Mapped[str] = mapped_column(String(64))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    n_scenarios: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    as_of: Mapped[dt.date] = mapped_column(Date)
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    requested_by: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    created_at: Mapped[dt.datetime] = created_at_column()
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    seconds: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(String(500))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: the runner holding the run (``running``) and until when; a run whose lease has run out was
    #: left by a dead process and is taken up again (fund/services/stress_runner.py)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: ``api`` (queued and run by the runner) or ``cli`` (run by ``ipfund stress run``, stored done)
    origin: Mapped[str] = mapped_column(String(8), default="api")
    #: the comparison or sweep a run belongs to (``compare:...``, ``sweep:...``), else None
    label: Mapped[str | None] = mapped_column(String(64), index=True)

    __table_args__ = (
        CheckConstraint("status in ('queued','running','done','failed')", name="status"),
        CheckConstraint("n_scenarios >= 1", name="scenarios_positive"),
        CheckConstraint("progress_done >= 0 and progress_done <= n_scenarios", name="progress_range"),
    )


class StressRunFile(Base):
    """A file a run wrote (its PNG plots), kept with the run."""

    __tablename__ = "stress_run_files"

    run_id: Mapped[int] = mapped_column(ForeignKey("stress_runs.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
