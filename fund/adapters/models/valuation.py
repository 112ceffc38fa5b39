"""Table of rule V: each model valuation of a pledged asset, with the inputs and assumptions it used
and the appraiser's figure beside it (docs/rules.md section 7)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fund.adapters.models.base import Base, Fen, created_at_column


class AssetValuation(Base):
    """One asset valued as of one date; revaluing the same asset as of the same date replaces it.

    ``life_years`` is the life T used (a model figure, not money); ``inputs`` holds the valuation
    inputs as given (rates in bp) plus the quality score used, if any.
    """

    __tablename__ = "asset_valuations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("ip_assets.id"), index=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_value_fen: Mapped[int] = mapped_column(Fen)
    collateral_value_fen: Mapped[int] = mapped_column(Fen)
    appraised_value_fen: Mapped[int] = mapped_column(Fen)
    appraised_on: Mapped[dt.date] = mapped_column(Date)
    life_years: Mapped[float] = mapped_column(Float)
    life_reason: Mapped[str] = mapped_column(String(32))
    assumptions_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = created_at_column()
    __table_args__ = (
        UniqueConstraint("asset_id", "as_of", name="uq_asset_valuations_asset_as_of"),
        CheckConstraint("model_value_fen >= 0", name="model_value_non_negative"),
        CheckConstraint(
            "collateral_value_fen >= 0 and collateral_value_fen <= model_value_fen", name="collateral_range"
        ),
        CheckConstraint("appraised_value_fen >= 0", name="appraised_non_negative"),
        CheckConstraint(
            "life_reason in ('legal term','economic life cap','lapsed','not valid')", name="life_reason"
        ),
    )
