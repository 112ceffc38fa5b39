"""Request and response models of the stress-test endpoints (rule M, docs/rules.md section 8)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field

from schemas.common import IsoDate, OutModel, StrictModel, Timestamp, text

MAX_FUND_FEN = 10**16


class StressRunIn(StrictModel):
    """A stress test to run on the book as of a date (the business date unless given). Give either a
    shipped scenario by name or a whole scenario document (the keys of a scenario TOML file)."""

    scenario: text(64, "a shipped scenario: baseline, recession, nev_shock, invalidation_wave, fat_tails, budget_freeze") | None = None
    scenario_document: dict[str, Any] | None = Field(
        default=None, description="a scenario as a JSON object with the keys of a scenario file (name, horizon_years, "
                                  "copula, ..., collateral {...}, fund {...})")
    scenarios: int = Field(ge=1, le=100_000, description="number of scenarios, 1..100000 through the API")
    seed: int = Field(ge=0, le=2**53, description="seed: the same seed and inputs give the same figures")
    as_of: IsoDate | None = Field(default=None, description="as-of date (default: the business date)")
    horizon: int | None = Field(default=None, ge=1, le=30, description="years (default: the scenario's)")
    fund_cash_fen: int | None = Field(default=None, ge=0, le=MAX_FUND_FEN, description="pool cash today (default: the ledger's)")
    deferred_fen: int | None = Field(default=None, ge=0, le=MAX_FUND_FEN, description="deferred compensation today (default: the ledger's)")
    appropriation_fen: int | None = Field(default=None, ge=0, le=MAX_FUND_FEN,
                                          description="yearly appropriation (default: the active policies'; a scenario's own wins)")


class StressProgressOut(OutModel):
    done: int
    total: int


class StressRunOut(OutModel):
    id: int
    status: Literal["queued", "running", "done", "failed"]
    scenario: str
    scenarios: int
    seed: int
    as_of: dt.date
    progress: StressProgressOut
    created_at: Timestamp | None
    started_at: Timestamp | None
    finished_at: Timestamp | None
    seconds: float | None
    error: str | None
    result_url: str | None
    plot_urls: dict[str, str]
