"""Settings from the environment, in one place (prefix ``IPFUND_``)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_PATH = Path("var") / "ipfund.sqlite3"


class Settings(BaseSettings):
    """Runtime configuration.

    ``database_url``: SQLAlchemy URL; default a SQLite file under ``./var/`` created on first use.
    ``business_date``: the date the rules run "as of" (docs/rules.md section 0). When unset, the date
    stored in the database by ``ipfund business-date set`` (the demo sets it) applies, else today
    in China Standard Time.
    """

    model_config = SettingsConfigDict(env_prefix="IPFUND_", extra="ignore")

    database_url: str = Field(default=f"sqlite:///{DEFAULT_SQLITE_PATH}")
    business_date: dt.date | None = None
    api_max_body_bytes: int = 8 * 1024 * 1024
    idempotency_ttl_hours: int = 48
    #: where the API's stress runs compute their chunks: ``local`` or ``dask://HOST:PORT``
    stress_executor: str = "local"
    #: how long a stress runner's lease on a run lasts without renewal (a dead runner's run is taken
    #: up again after it)
    stress_lease_seconds: float = 60.0


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()
