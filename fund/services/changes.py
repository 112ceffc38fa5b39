"""What changed since a moment, for integrators polling the API (``updated_since``): a loan changed
when it was registered, a repayment was recorded on it, it moved status (a loan event), or a claim on
it moved (a claim event).

>>> import datetime as dt
>>> as_utc(dt.datetime(2026, 10, 31, 16, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))).isoformat()
'2026-10-31T08:00:00'
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, select, union

from fund.adapters.models.claims import Claim, ClaimEvent
from fund.adapters.models.registry import Loan, LoanEvent, Repayment


def as_utc(moment: dt.datetime) -> dt.datetime:
    """The moment in UTC without its offset, as every stored time is kept (a naive moment is UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc)
    return moment.replace(tzinfo=None)


def loan_changed_since(since: dt.datetime) -> ColumnElement[bool]:
    """A condition on ``Loan``: it changed at or after ``since``."""
    moment = as_utc(since)
    changed = union(
        select(Loan.id.label("loan_id")).where(Loan.created_at >= moment),
        select(Repayment.loan_id).where(Repayment.created_at >= moment),
        select(LoanEvent.loan_id).where(LoanEvent.created_at >= moment),
        select(Claim.loan_id).join(ClaimEvent, ClaimEvent.claim_id == Claim.id).where(ClaimEvent.created_at >= moment),
    ).subquery()
    return Loan.id.in_(select(changed.c.loan_id))


def claim_changed_since(since: dt.datetime) -> ColumnElement[bool]:
    """A condition on ``Claim``: it was filed, moved (a claim event) or recovered at or after ``since``."""
    from fund.adapters.models.claims import ClaimRecovery

    moment = as_utc(since)
    changed = union(
        select(Claim.id.label("claim_id")).where(Claim.created_at >= moment),
        select(ClaimEvent.claim_id).where(ClaimEvent.created_at >= moment),
        select(ClaimRecovery.claim_id).where(ClaimRecovery.created_at >= moment),
    ).subquery()
    return Claim.id.in_(select(changed.c.claim_id))
