"""Request and response models of the valuation endpoints (rule V, docs/rules.md section 7)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from schemas.common import MAX_BATCH_ITEMS, FenAmount, IsoDate, OutModel, StrictModel
from schemas.loans import IpKind, LegalStatus

# Rates in bp, bounded where the model is defined (rule V2: growth > -1, 0 <= royalty <= 1,
# 0 <= tax < 1, discount > -1, 0 <= decay < 1) and, for growth and discount, at 1000% a year.
GrowthBp = Annotated[int, Field(ge=-9_999, le=100_000, description="annual growth of the revenue, bp, -9999..100000")]
RoyaltyBp = Annotated[int, Field(ge=0, le=10_000, description="royalty rate, bp, 0..10000")]
TaxBp = Annotated[int, Field(ge=0, le=9_999, description="income tax rate, bp, 0..9999 (2500; 1500 for a high-tech enterprise)")]
DiscountBp = Annotated[int, Field(ge=-9_999, le=100_000, description="discount rate, bp, -9999..100000")]
DecayBp = Annotated[int, Field(ge=0, le=9_999, description="technology decay a year, bp, 0..9999")]


class AssetValuationIn(StrictModel):
    """One asset to value by relief from royalty (V2) and its collateral value (V3)."""

    kind: IpKind
    filing_date: IsoDate
    registration_date: IsoDate | None = Field(default=None, description="registration date; required for a trademark")
    as_of: IsoDate = Field(description="valuation date")
    legal_status: LegalStatus = "valid"
    revenue_fen: FenAmount = Field(description="annual revenue of the products using the IP")
    growth_bp: GrowthBp
    royalty_bp: RoyaltyBp
    tax_bp: TaxBp
    discount_bp: DiscountBp
    decay_bp: DecayBp


class ValuationBatchIn(StrictModel):
    items: list[AssetValuationIn] = Field(min_length=1, max_length=MAX_BATCH_ITEMS,
                                          description=f"1..{MAX_BATCH_ITEMS} assets")


class AssetValuationOut(OutModel):
    """The model's figures for one asset; money in fen, each figure one floor of the model's float."""

    value_fen: int = Field(description="V2 value, floor")
    collateral_value_fen: int = Field(description="floor(value * (1 - invalidation probability) * (1 - haircut))")
    life_years: float = Field(description="life T used")
    life_reason: str = Field(description="legal term, economic life cap, lapsed or not valid")
    legal_term_end: IsoDate | None = Field(description="the N-th anniversary of the filing (registration) date; none for a GI")
    legal_life_years: float | None = Field(description="remaining legal life, days / 365.25; none for a GI")
    royalty_used: float
    cash_flows_fen: list[int] = Field(description="after-tax royalty saved in each year t = 1..ceil(T), undiscounted")
    present_values_fen: list[int] = Field(description="the same discounted to as_of")
    assumptions_id: str = Field(description="the assumption set of V3 used")


class ValuationBatchOut(OutModel):
    items: list[AssetValuationOut] = Field(description="in the order sent")
