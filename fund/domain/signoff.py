"""Who may do what with a proposal (docs/rules.md section 11, G1), as plain rules over ids and roles.

A decision is prepared by one person of the fund manager (an ``officer``) and signed off by another
(an ``approver``). Nobody signs off a proposal they made, under any session or key (the person is
compared, not the key). A policy may set ``single_signoff_below_fen``: an approval whose fund share,
as recomputed at sign-off, is below it needs one person (the maker may then sign it off); rejections
always need two.

>>> decide_signoff(maker_id=1, signer_id=2, signer_roles=("approver",)).allowed
True
>>> decide_signoff(maker_id=1, signer_id=1, signer_roles=("officer", "approver")).code
'same_person'
>>> decide_signoff(maker_id=1, signer_id=1, signer_roles=("officer",), fund_share_fen=99, single_signoff_below_fen=100).single
True
>>> decide_signoff(maker_id=1, signer_id=1, signer_roles=("officer",), fund_share_fen=99, single_signoff_below_fen=100,
...                is_rejection=True).code
'same_person'
"""

from __future__ import annotations

from dataclasses import dataclass

PROPOSER_ROLE = "officer"
SIGNER_ROLE = "approver"


@dataclass(frozen=True)
class SignoffDecision:
    """``allowed``; else ``code`` and ``message`` of the refusal. ``single``: one person sufficed."""

    allowed: bool
    code: str | None = None
    message: str | None = None
    single: bool = False


def may_propose(roles: tuple[str, ...]) -> bool:
    """Officers prepare decisions.

    >>> may_propose(("officer",)), may_propose(("approver",))
    (True, False)
    """
    return PROPOSER_ROLE in roles


def single_signoff_applies(fund_share_fen: int | None, single_signoff_below_fen: int | None, *, is_rejection: bool = False) -> bool:
    """One person is enough: an approval whose fund share is below the policy's threshold.

    >>> single_signoff_applies(500, None), single_signoff_applies(500, 501), single_signoff_applies(501, 501)
    (False, True, False)
    """
    if is_rejection or fund_share_fen is None or single_signoff_below_fen is None:
        return False
    return fund_share_fen < single_signoff_below_fen


def could_be_single(is_rejection: bool, has_fund_share: bool, single_signoff_below_fen: int | None) -> bool:
    """Whether a maker's own sign-off can possibly be allowed, before anything is recomputed: only
    when a threshold is set and the kind is an approval with a fund share."""
    return not is_rejection and has_fund_share and single_signoff_below_fen is not None


def decide_signoff(*, maker_id: int, signer_id: int, signer_roles: tuple[str, ...], is_rejection: bool = False,
                   fund_share_fen: int | None = None, single_signoff_below_fen: int | None = None) -> SignoffDecision:
    """May ``signer_id`` sign off a proposal made by ``maker_id``, with the recomputed fund share?"""
    if signer_id == maker_id:
        if single_signoff_applies(fund_share_fen, single_signoff_below_fen, is_rejection=is_rejection) and (
                PROPOSER_ROLE in signer_roles or SIGNER_ROLE in signer_roles):
            return SignoffDecision(True, single=True)
        return SignoffDecision(False, "same_person",
                               "you made this proposal: another person (an approver) must sign it off")
    if SIGNER_ROLE not in signer_roles:
        return SignoffDecision(False, "not_an_approver", "only an approver of the fund manager signs off proposals")
    return SignoffDecision(True)


def decide_decline(*, maker_id: int, decider_id: int, decider_roles: tuple[str, ...]) -> SignoffDecision:
    """An approver other than the maker declines (the maker withdraws instead).

    >>> decide_decline(maker_id=1, decider_id=1, decider_roles=("approver",)).code
    'same_person'
    """
    if decider_id == maker_id:
        return SignoffDecision(False, "same_person", "you made this proposal: withdraw it instead")
    if SIGNER_ROLE not in decider_roles:
        return SignoffDecision(False, "not_an_approver", "only an approver of the fund manager declines proposals")
    return SignoffDecision(True)


def decide_withdraw(*, maker_id: int, person_id: int) -> SignoffDecision:
    """Only the maker withdraws.

    >>> decide_withdraw(maker_id=1, person_id=2).code
    'not_the_maker'
    """
    if person_id != maker_id:
        return SignoffDecision(False, "not_the_maker", "only the person who made a proposal withdraws it")
    return SignoffDecision(True)
