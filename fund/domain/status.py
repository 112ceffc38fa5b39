"""Loan statuses and the only moves allowed (RULES section 3)."""

from __future__ import annotations

from fund.errors import Conflict

STATUSES = ("active", "repaid", "cancelled", "claimed", "compensated", "closed")
EVENTS = ("all_repaid", "cancel", "claim_filed", "claim_withdrawn", "claim_rejected", "claim_approved", "claim_closed")

_MOVES: dict[tuple[str, str], str] = {
    ("active", "all_repaid"): "repaid",
    ("active", "cancel"): "cancelled",
    ("active", "claim_filed"): "claimed",
    ("claimed", "claim_withdrawn"): "active",
    ("claimed", "claim_rejected"): "active",
    ("claimed", "claim_approved"): "compensated",
    ("compensated", "claim_closed"): "closed",
}

# A pledged asset is free again once its loan is in one of these.
RELEASED_STATUSES = ("repaid", "cancelled", "closed")
LIVE_STATUSES = ("active", "claimed")


def next_status(status: str, event: str, *, principal_left_fen: int | None = None) -> str:
    """The status after ``event``, or Conflict(``invalid_transition``).

    A withdrawn or rejected claim on a loan with no principal left moves it to ``repaid``.

    >>> next_status("claimed", "claim_rejected", principal_left_fen=0)
    'repaid'
    """
    try:
        target = _MOVES[(status, event)]
    except KeyError:
        raise Conflict(
            "invalid_transition", f"a loan that is {status} cannot take the event {event}", field="status"
        ) from None
    if event in ("claim_withdrawn", "claim_rejected") and principal_left_fen == 0:
        return "repaid"
    return target
