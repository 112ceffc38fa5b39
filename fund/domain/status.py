"""Loan statuses and the only moves allowed (docs/rules.md section 3)."""

from __future__ import annotations

from fund.domain.vocabulary import LIVE_LOAN_STATUSES, LOAN_STATUS_VALUES, RELEASED_LOAN_STATUSES
from fund.errors import Conflict

STATUSES = LOAN_STATUS_VALUES
EVENTS = ("all_repaid", "cancel", "claim_filed", "claim_withdrawn", "claim_rejected", "claim_approved", "claim_closed",
          "repayment_reversed")

_MOVES: dict[tuple[str, str], str] = {
    ("active", "all_repaid"): "repaid",
    ("active", "cancel"): "cancelled",
    ("active", "claim_filed"): "claimed",
    ("claimed", "claim_withdrawn"): "active",
    ("claimed", "claim_rejected"): "active",
    ("claimed", "claim_approved"): "compensated",
    ("compensated", "claim_closed"): "closed",
    ("repaid", "repayment_reversed"): "active",
}

# A pledged asset is free again once its loan is in one of these.
RELEASED_STATUSES = RELEASED_LOAN_STATUSES
LIVE_STATUSES = LIVE_LOAN_STATUSES


def next_status(status: str, event: str, *, paid_in_full: bool = False) -> str:
    """The status after ``event``, or Conflict(``invalid_transition``).

    ``paid_in_full``: every installment of the loan is paid in full, principal and interest. A
    withdrawn or rejected claim on such a loan moves it to ``repaid``, not back to ``active``; and
    only such a loan takes ``all_repaid``.

    >>> next_status("claimed", "claim_rejected", paid_in_full=True)
    'repaid'
    >>> next_status("claimed", "claim_rejected", paid_in_full=False)
    'active'
    """
    try:
        target = _MOVES[(status, event)]
    except KeyError:
        raise Conflict(
            "invalid_transition", f"a loan that is {status} cannot take the event {event}", field="status"
        ) from None
    if event == "all_repaid" and not paid_in_full:
        raise Conflict("not_paid_in_full", "a loan is repaid only when every installment is paid in full", field="status")
    if event in ("claim_withdrawn", "claim_rejected") and paid_in_full:
        return "repaid"
    return target
