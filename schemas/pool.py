"""Banks in the pool (docs/rules.md section 12): agreements (B1), suspensions and loss ratios (B2)."""

from __future__ import annotations

from pydantic import Field

from schemas.common import IsoDate, OutModel, RecordId, StrictModel, text

BankCode = text(32, "the bank's institution code")
PolicyId = text(40, "policy id, e.g. gz-2023")


class AgreementIn(StrictModel):
    """A bank's pool agreement (入池) under a policy, proposed by an officer (rule G)."""

    bank_code: BankCode
    policy_id: PolicyId
    agreed_on: IsoDate
    reference: text(100, "the agreement's reference")


class AgreementOut(OutModel):
    id: int
    bank_code: str
    bank_name: str
    policy_id: str
    agreed_on: IsoDate = Field(description="the bank takes part under the policy from this date")
    reference: str
    recorded_on: IsoDate


class AgreementList(OutModel):
    items: list[AgreementOut]


class LiftIn(StrictModel):
    reason: text(500, "why the suspension is lifted (kept with it)")


class SuspensionOut(OutModel):
    id: int
    bank_code: str
    policy_id: str
    suspended_on: IsoDate = Field(description="the approval's business date: the bank's loans drawn from it are bank_suspended")
    claim_id: RecordId
    losses_fen: int = Field(description="approved covered losses (sum of base) when suspended")
    in_pool_lending_fen: int
    line_fen: int
    lifted_on: IsoDate | None = None
    lift_reason: str | None = None


class SuspensionList(OutModel):
    items: list[SuspensionOut]


class LossRatioOut(OutModel):
    bank_code: str
    policy_id: str
    losses_fen: int = Field(description="sum of base of approved claims since the agreement or the last lift")
    in_pool_lending_fen: int
    ratio_bp: int | None = Field(description="losses / lending in whole bp (floored); null without lending")
    line_bp: int | None = Field(description="the policy's bank_suspension_line_bp; null: no suspension")
    line_fen: int | None
    suspended: bool
    suspended_since: IsoDate | None = None


class LossRatioList(OutModel):
    items: list[LossRatioOut]
