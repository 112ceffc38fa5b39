"""A default claim (docs/rules.md section 4): its statuses, the only moves allowed, who takes each, and the
decision an approval records. Plain Python; ``fund.services.claims`` loads a claim, asks this module
and stores what it says. The loan's own state machine is ``fund.domain.status``.

| from | step | to | who | the loan |
| --- | --- | --- | --- | --- |
| (new) | ``filed`` | ``filed`` | bank | ``claim_filed`` |
| ``filed`` | ``loss_lowered`` | ``filed`` | bank | |
| ``filed`` | ``withdrawn`` | ``withdrawn`` | bank | ``claim_withdrawn`` |
| ``filed`` | ``rejected`` | ``rejected`` | fund manager | ``claim_rejected`` |
| ``filed`` | ``approved`` | ``approved`` | fund manager | ``claim_approved`` |
| ``approved`` | ``recovery`` | ``approved`` | bank | |
| ``approved`` | ``closed`` | ``closed`` | bank | ``claim_closed`` |

>>> move("filed", "approved").to_status
'approved'
>>> move("withdrawn", "approved", claim_id=7)
Traceback (most recent call last):
...
fund.errors.Conflict: claim 7 is withdrawn: only a filed claim can be approved
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from fund.domain.vocabulary import CLAIM_STATUS_VALUES, DECIDED_CLAIM_STATUSES, LIVE_CLAIM_STATUSES, InstitutionKind
from fund.errors import Conflict, DomainError, Forbidden

STATUSES = CLAIM_STATUS_VALUES
#: A loan carries at most one claim in these statuses.
LIVE_STATUSES = LIVE_CLAIM_STATUSES
#: Claims whose allocation stands (approved, then perhaps closed).
DECIDED_STATUSES = DECIDED_CLAIM_STATUSES

BANK = InstitutionKind.BANK.value
FUND_MANAGER = InstitutionKind.FUND_MANAGER.value
#: The longest note or reason a step keeps.
MAX_NOTE_LENGTH = 500


@dataclass(frozen=True)
class Step:
    """One move of a claim. ``event`` is what ``claim_events`` records; ``from_status`` is ``None``
    for a new claim; ``loan_event`` the move it makes the loan take (``fund.domain.status``);
    ``after`` the claim date the business date must not precede (``filed_on`` or ``decided_on``)."""

    event: str
    from_status: str | None
    to_status: str
    actor_kind: str
    does: str
    verb: str
    loan_event: str | None = None
    after: str | None = None

    def authorise(self, actor_kind: str) -> None:
        """Forbidden unless ``actor_kind`` takes this step.

        >>> STEPS["approved"].authorise("bank")
        Traceback (most recent call last):
        ...
        fund.errors.Forbidden: only the fund manager approves claims
        """
        if actor_kind != self.actor_kind:
            who = "the fund manager" if self.actor_kind == FUND_MANAGER else "a bank"
            raise Forbidden("forbidden", f"only {who} {self.does}")


STEPS: dict[str, Step] = {
    step.event: step
    for step in (
        Step("filed", None, "filed", BANK, "files claims", "filed", loan_event="claim_filed"),
        Step("loss_lowered", "filed", "filed", BANK, "lowers a claim's loss", "lowered", after="filed_on"),
        Step("withdrawn", "filed", "withdrawn", BANK, "withdraws claims", "withdrawn", loan_event="claim_withdrawn", after="filed_on"),
        Step("rejected", "filed", "rejected", FUND_MANAGER, "rejects claims", "rejected", loan_event="claim_rejected", after="filed_on"),
        Step("approved", "filed", "approved", FUND_MANAGER, "approves claims", "approved", loan_event="claim_approved", after="filed_on"),
        Step("recovery", "approved", "approved", BANK, "reports recoveries", "given recoveries", after="decided_on"),
        Step("closed", "approved", "closed", BANK, "closes claims", "closed", loan_event="claim_closed", after="decided_on"),
    )
}
EVENTS = tuple(STEPS)

#: How the business date check names each claim date.
_DATE_NAMES = {"filed_on": "filing date", "decided_on": "approval date"}


def move(status: str | None, event: str, *, claim_id: int | None = None) -> Step:
    """The step ``event`` from ``status``, or Conflict(``invalid_claim_status``)."""
    step = STEPS[event]
    if status != step.from_status:
        raise Conflict(
            "invalid_claim_status",
            f"claim {claim_id} is {status}: only a {step.from_status} claim can be {step.verb}",
            field="claim_id",
        )
    return step


def check_dated_after(step: Step, business_date: dt.date, claim_dates: Any) -> None:
    """A step is not dated before the claim date it follows (the filing or the approval).

    >>> check_dated_after(STEPS["closed"], dt.date(2026, 1, 1), {"decided_on": dt.date(2026, 2, 1)})
    Traceback (most recent call last):
    ...
    fund.errors.DomainError: the business date 2026-01-01 is before the approval date (2026-02-01)
    """
    if step.after is None:
        return
    earlier = claim_dates[step.after] if isinstance(claim_dates, dict) else getattr(claim_dates, step.after)
    not_before(business_date, earlier, _DATE_NAMES[step.after])


def not_before(business_date: dt.date, earlier: dt.date | None, what: str) -> None:
    """DomainError(``dated_before_<what>``) when the business date precedes ``earlier``."""
    if earlier is not None and business_date < earlier:
        raise DomainError("dated_before_" + what.replace(" ", "_"), f"the business date {business_date} is before the {what} ({earlier})",
                          field="business_date")


def clean_note(text: str | None) -> str | None:
    """A note or reason as stored: stripped, ``None`` when empty, at most 500 characters.

    >>> clean_note("  paid in kind ")
    'paid in kind'
    >>> clean_note("   ") is None
    True
    """
    if text is None:
        return None
    text = text.strip()
    if len(text) > MAX_NOTE_LENGTH:
        raise DomainError("note_too_long", f"a note or reason is at most {MAX_NOTE_LENGTH} characters", field="note")
    return text or None


def rejection_reason(text: str | None) -> str:
    """A rejection's stated reason (required).

    >>> rejection_reason(" ")
    Traceback (most recent call last):
    ...
    fund.errors.DomainError: a rejection needs a stated reason
    """
    reason = clean_note(text)
    if not reason:
        raise DomainError("missing_reason", "a rejection needs a stated reason", field="reason")
    return reason


# ---------------------------------------------------------------------------------------------
# A1: the loss L
# ---------------------------------------------------------------------------------------------


def check_loss_within(loss_fen: int, outstanding_fen: int) -> None:
    """A1 at filing: ``L`` is at most the outstanding principal."""
    if loss_fen > outstanding_fen:
        raise DomainError("loss_exceeds_outstanding", f"loss_fen {loss_fen} exceeds the outstanding principal {outstanding_fen}",
                          field="loss_fen")


def check_lowered(current_fen: int, new_fen: int) -> None:
    """A1: while filed, ``L`` may be lowered, never raised (nor kept).

    >>> check_lowered(100, 100)
    Traceback (most recent call last):
    ...
    fund.errors.DomainError: the new loss 100 must be below the claimed 100
    """
    if new_fen >= current_fen:
        raise DomainError("loss_not_lowered", f"the new loss {new_fen} must be below the claimed {current_fen}", field="loss_fen")


def check_approvable(claim_id: int, loss_fen: int, outstanding_fen: int, business_date: dt.date) -> None:
    """A1 at approval: refused while ``L`` exceeds the outstanding principal on the approval date."""
    if loss_fen > outstanding_fen:
        raise DomainError(
            "loss_exceeds_outstanding",
            f"claim {claim_id}: loss {loss_fen} exceeds the outstanding principal {outstanding_fen} on "
            f"{business_date}; the bank must lower it first",
            field="loss_fen",
        )


def check_net(gross_fen: int, costs_fen: int) -> int:
    """A5: ``net = gross - costs >= 0``.

    >>> check_net(100, 30)
    70
    """
    if costs_fen > gross_fen:
        raise DomainError("negative_net", f"costs {costs_fen} exceed the gross recovery {gross_fen}: net must be >= 0", field="costs_fen")
    return gross_fen - costs_fen


# ---------------------------------------------------------------------------------------------
# the decision an approval records (A2 split, A3 cap trace, A4 payment)
# ---------------------------------------------------------------------------------------------


class CappedSplit(Protocol):
    """What an approval takes from rule A (``risk.allocation.Split`` after ``apply_bank_cap``)."""

    base_fen: int
    fund_before_cap_fen: int
    insurer_cut_fen: int
    fund_cut_fen: int
    fund_fen: int
    insurer_fen: int
    appraiser_fen: int
    bank_fen: int


@dataclass(frozen=True)
class CapTrace:
    """A3 as measured at approval: ``cap_fen`` and ``room_fen`` are ``None`` when the policy has no
    bank cap; ``used_before_fen`` is what the bank's earlier approvals used this year."""

    year: int
    cap_bp: int | None
    in_pool_lending_fen: int
    cap_fen: int | None
    used_before_fen: int
    room_fen: int | None


@dataclass(frozen=True)
class Approval:
    """Everything an approval stores on its claim: the loan's figures as of approval, the scheme,
    the split after A3's cut, the cap trace and how A4 paid the fund's share.

    >>> from types import SimpleNamespace as S
    >>> split = S(base_fen=80, fund_before_cap_fen=40, insurer_cut_fen=0, fund_cut_fen=10,
    ...           fund_fen=30, insurer_fen=0, appraiser_fen=0, bank_fen=70)
    >>> a = Approval(dt.date(2026, 3, 1), 9, 1000, 800, 900, "55", {"fund": 5000, "bank": 5000}, None, split,
    ...              CapTrace(2026, 500, 600, 30, 0, 30), paid_fen=20, deferred_fen=10, entry_id=4)
    >>> a.columns()["fund_fen"], a.columns()["room_fen"], a.columns()["approval_entry_id"]
    (30, 30, 4)
    """

    decided_on: dt.date
    decided_by: int
    principal_fen: int
    covered_fen: int
    outstanding_fen: int
    scheme_code: str
    ratios_bp: dict[str, int]
    insurer_limit_fen: int | None
    split: CappedSplit
    cap: CapTrace
    paid_fen: int
    deferred_fen: int
    entry_id: int | None

    def columns(self) -> dict[str, Any]:
        """The claim's stored fields, by name."""
        s, c = self.split, self.cap
        return {
            "decided_on": self.decided_on, "decided_by": self.decided_by,
            "principal_fen": self.principal_fen, "covered_fen": self.covered_fen, "outstanding_fen": self.outstanding_fen,
            "scheme_code": self.scheme_code, "ratios_bp": dict(self.ratios_bp), "insurer_limit_fen": self.insurer_limit_fen,
            "base_fen": s.base_fen, "fund_before_cap_fen": s.fund_before_cap_fen, "insurer_cut_fen": s.insurer_cut_fen,
            "fund_fen": s.fund_fen, "insurer_fen": s.insurer_fen, "appraiser_fen": s.appraiser_fen, "bank_fen": s.bank_fen,
            "cap_year": c.year, "cap_bp": c.cap_bp, "in_pool_lending_fen": c.in_pool_lending_fen, "cap_fen": c.cap_fen,
            "cap_used_before_fen": c.used_before_fen, "room_fen": c.room_fen, "fund_cut_fen": s.fund_cut_fen,
            "paid_fen": self.paid_fen, "deferred_fen": self.deferred_fen, "approval_entry_id": self.entry_id,
        }


@dataclass(frozen=True)
class Rejection:
    """What a rejection stores on its claim."""

    decided_on: dt.date
    decided_by: int
    reason: str

    def columns(self) -> dict[str, Any]:
        return {"decided_on": self.decided_on, "decided_by": self.decided_by, "reject_reason": self.reason}


@dataclass(frozen=True)
class Closing:
    """What closing stores on its claim."""

    closed_on: dt.date
    closed_by: int

    def columns(self) -> dict[str, Any]:
        return {"closed_on": self.closed_on, "closed_by": self.closed_by}
