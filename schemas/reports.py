"""Reports as JSON."""

from __future__ import annotations

from pydantic import Field

from schemas.common import OutModel


class Me(OutModel):
    """The institution a key belongs to."""

    institution_code: str
    institution_kind: str
    role: str = Field(description="role of the API: bank, insurer_or_guarantor, appraiser, fund_manager or auditor")
    key_prefix: str

