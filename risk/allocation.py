"""Rule A (RULES section 4) as pure integer functions: the one implementation that both the
claims workflow and the stress simulator use.

Scalar forms work on Python ints (exact at any size); the ``*_array`` forms work on int64 arrays and
give the same integers over the whole range of RULES section 0 (single amounts up to 10**12 fen).

* A2 :func:`split_loss` -> :class:`Split`
* A3 :func:`cap_room`, :func:`apply_bank_cap`; :func:`approve_claim` and :class:`CapBook` approve
  claims one at a time (A3 cut, then A4 payment)
* A4 :func:`pay_from_cash`, :func:`settle_inflow`
* A5 :func:`recovery_increment`

Loss-sharing schemes always come from the caller as ``{party: ratio_bp}`` (from the policy).
"""

from __future__ import annotations

import operator
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from fund.domain.money import BP_ONE, MAX_SINGLE_AMOUNT_FEN
from fund.domain.policy import SCHEME_PARTIES

#: Parties that get a floored share of ``base``; the bank is the residual party.
NON_BANK_PARTIES = ("fund", "insurer", "appraiser")


# ---------------------------------------------------------------------------------------------
# input checking
# ---------------------------------------------------------------------------------------------


def _int(name: str, value: object) -> int:
    """``value`` as a Python int; bools, floats, strings and the like are refused."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def _amount(name: str, value: object, *, minimum: int = 0) -> int:
    amount = _int(name, value)
    if amount < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {amount}")
    if amount > MAX_SINGLE_AMOUNT_FEN:
        raise ValueError(f"{name} must be at most {MAX_SINGLE_AMOUNT_FEN} fen, got {amount}")
    return amount


def _check_scheme(ratios_bp: Mapping[str, object]) -> dict[str, int]:
    """A scheme as RULES section 2 requires: known parties, ints >= 0 adding up to 10000, the
    bank's and the fund's included. Returns the ratios of all four parties (absent ones 0)."""
    if not isinstance(ratios_bp, Mapping):
        raise ValueError(f"ratios_bp must be a mapping party -> ratio_bp, got {ratios_bp!r}")
    ratios = dict.fromkeys(SCHEME_PARTIES, 0)
    for party, ratio in ratios_bp.items():
        if party not in SCHEME_PARTIES:
            raise ValueError(f"ratios_bp: unknown party {party!r} (known: {', '.join(SCHEME_PARTIES)})")
        value = _int(f"ratios_bp[{party!r}]", ratio)
        if value < 0:
            raise ValueError(f"ratios_bp[{party!r}] must be >= 0, got {value}")
        ratios[party] = value
    for party in ("bank", "fund"):
        if party not in ratios_bp:
            raise ValueError(f"ratios_bp must include the {party}'s ratio")
    total = sum(ratios.values())
    if total != BP_ONE:
        raise ValueError(f"ratios_bp must add up to {BP_ONE}, got {total}")
    return ratios


def _check_claim_inputs(
    loss_fen: object,
    covered_fen: object,
    principal_fen: object,
    ratios_bp: Mapping[str, object],
    insurer_limit_fen: object,
) -> tuple[int, int, int, dict[str, int], int | None]:
    """All checks of A2's inputs in one place; returns them as plain ints."""
    principal = _amount("principal_fen", principal_fen, minimum=1)
    loss = _amount("loss_fen", loss_fen, minimum=1)
    covered = _amount("covered_fen", covered_fen)
    if loss > principal:
        raise ValueError(f"loss_fen ({loss}) must not exceed principal_fen ({principal})")
    if covered > principal:
        raise ValueError(f"covered_fen ({covered}) must not exceed principal_fen ({principal})")
    ratios = _check_scheme(ratios_bp)
    limit = None if insurer_limit_fen is None else _amount("insurer_limit_fen", insurer_limit_fen)
    return loss, covered, principal, ratios, limit


# ---------------------------------------------------------------------------------------------
# A2: the split
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """One claim's loss ``L`` shared out (A2, and A3's cut once :func:`apply_bank_cap` ran).

    ``fund_fen + insurer_fen + appraiser_fen + bank_fen == loss_fen``. ``fund_before_cap_fen`` is
    the fund's A2 share before any A3 cut, ``fund_cut_fen`` what A3 moved to the bank, and
    ``insurer_cut_fen`` what the insurance limit moved to the bank.
    """

    loss_fen: int
    base_fen: int
    fund_fen: int
    insurer_fen: int
    appraiser_fen: int
    bank_fen: int
    fund_before_cap_fen: int
    fund_cut_fen: int = 0
    insurer_cut_fen: int = 0

    def shares(self) -> dict[str, int]:
        """The non-bank parties' approved shares, as :func:`recovery_increment` takes them."""
        return {"fund": self.fund_fen, "insurer": self.insurer_fen, "appraiser": self.appraiser_fen}

    def parts(self) -> dict[str, int]:
        """Every party's part, the bank's included; the parts add up to ``loss_fen``."""
        return {**self.shares(), "bank": self.bank_fen}


def split_loss(
    loss_fen: int,
    covered_fen: int,
    principal_fen: int,
    ratios_bp: Mapping[str, int],
    insurer_limit_fen: int | None = None,
) -> Split:
    """A2: share a principal loss ``L`` between the scheme's parties.

    ``base = floor(L * C / principal)``; each non-bank party gets ``floor(base * ratio / 10000)``,
    the insurer's share then cut to ``insurer_limit_fen`` (``None``: no limit); the bank takes
    the rest, so the parts add up to ``L`` exactly.

    RULES section 10, gz-2020 scheme 5311:

    >>> s = split_loss(600_000_000, 800_000_000, 1_000_000_000,
    ...                {"fund": 5000, "insurer": 3000, "appraiser": 1000, "bank": 1000})
    >>> s.base_fen, s.fund_fen, s.insurer_fen, s.appraiser_fen, s.bank_fen
    (480000000, 240000000, 144000000, 48000000, 168000000)
    >>> split_loss(600_000_000, 800_000_000, 1_000_000_000,
    ...            {"fund": 5000, "insurer": 3000, "appraiser": 1000, "bank": 1000},
    ...            insurer_limit_fen=100_000_000).parts()
    {'fund': 240000000, 'insurer': 100000000, 'appraiser': 48000000, 'bank': 212000000}
    """
    loss, covered, principal, ratios, limit = _check_claim_inputs(
        loss_fen, covered_fen, principal_fen, ratios_bp, insurer_limit_fen
    )
    base = loss * covered // principal
    fund = base * ratios["fund"] // BP_ONE
    insurer_uncut = base * ratios["insurer"] // BP_ONE
    insurer = insurer_uncut if limit is None else min(insurer_uncut, limit)
    appraiser = base * ratios["appraiser"] // BP_ONE
    return Split(
        loss_fen=loss,
        base_fen=base,
        fund_fen=fund,
        insurer_fen=insurer,
        appraiser_fen=appraiser,
        bank_fen=loss - fund - insurer - appraiser,
        fund_before_cap_fen=fund,
        insurer_cut_fen=insurer_uncut - insurer,
    )


# ---------------------------------------------------------------------------------------------
# A3: the bank's annual cap
# ---------------------------------------------------------------------------------------------


def cap_room(in_pool_lending_fen: int, cap_bp: int | None, fund_approved_this_year_fen: int) -> int | None:
    """A3: room left under the bank's annual cap for one (bank, policy, year); ``None``: no cap.

    ``room = max(0, floor(in_pool_lending * cap_bp / 10000) - fund shares already approved)``.

    >>> cap_room(20_000_000_000, 500, 850_000_000)
    150000000
    >>> cap_room(20_000_000_000, None, 850_000_000) is None
    True
    """
    lending = _int("in_pool_lending_fen", in_pool_lending_fen)
    used = _int("fund_approved_this_year_fen", fund_approved_this_year_fen)
    if lending < 0:
        raise ValueError(f"in_pool_lending_fen must be >= 0, got {lending}")
    if used < 0:
        raise ValueError(f"fund_approved_this_year_fen must be >= 0, got {used}")
    if cap_bp is None:
        return None
    cap = _int("cap_bp", cap_bp)
    if not 0 <= cap <= BP_ONE:
        raise ValueError(f"cap_bp must be between 0 and {BP_ONE}, got {cap}")
    return max(0, lending * cap // BP_ONE - used)


def apply_bank_cap(split: Split, room_fen: int | None) -> Split:
    """A3: cut the fund's share to ``room_fen`` (``None``: no cap); the cut goes to the bank.

    >>> s = split_loss(600_000_000, 1_000_000_000, 1_000_000_000, {"fund": 5000, "bank": 5000})
    >>> c = apply_bank_cap(s, 150_000_000)
    >>> c.fund_fen, c.bank_fen, c.fund_before_cap_fen, c.fund_cut_fen
    (150000000, 450000000, 300000000, 150000000)
    """
    if not isinstance(split, Split):
        raise ValueError(f"split must be a Split, got {split!r}")
    if room_fen is None:
        return split
    room = _int("room_fen", room_fen)
    if room < 0:
        raise ValueError(f"room_fen must be >= 0, got {room}")
    cut = max(0, split.fund_fen - room)
    if cut == 0:
        return split
    return replace(
        split,
        fund_fen=split.fund_fen - cut,
        bank_fen=split.bank_fen + cut,
        fund_cut_fen=split.fund_cut_fen + cut,
    )


# ---------------------------------------------------------------------------------------------
# A4: cash and deferral
# ---------------------------------------------------------------------------------------------


def pay_from_cash(cash_fen: int, amount_fen: int) -> tuple[int, int]:
    """A4: pay ``amount_fen`` from ``cash_fen``; returns ``(paid, deferred)``.

    >>> pay_from_cash(100, 150)
    (100, 50)
    """
    if cash_fen < 0 or amount_fen < 0:
        raise ValueError("cash and amount must be >= 0")
    paid = min(cash_fen, amount_fen)
    return paid, amount_fen - paid


def settle_inflow(amount_fen: int, deferred_fifo_fen: Sequence[int]) -> tuple[list[int], int]:
    """A4: an inflow first settles deferred amounts, oldest first; the rest adds to cash.

    Returns ``(settled per deferral, in the given order; amount left for cash)``.

    >>> settle_inflow(70, [50, 40])
    ([50, 20], 0)
    """
    if amount_fen < 0:
        raise ValueError("inflow must be >= 0")
    left = amount_fen
    settled: list[int] = []
    for owed in deferred_fifo_fen:
        if owed < 0:
            raise ValueError("deferred amounts must be >= 0")
        part = min(left, owed)
        settled.append(part)
        left -= part
    return settled, left


# ---------------------------------------------------------------------------------------------
# A3 + A4: approving claims one at a time
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Approval:
    """One approved claim: the split after A3's cut, and how A4 paid the fund's share."""

    split: Split
    room_before_fen: int | None
    paid_fen: int
    deferred_fen: int


def approve_claim(split: Split, room_fen: int | None, cash_fen: int) -> Approval:
    """A3 then A4 for one claim: cut the fund's share to the room, pay it from cash, defer the rest.

    The caller must have settled older deferrals first (A4: cash is 0 while any is owed).

    >>> s = split_loss(600_000_000, 1_000_000_000, 1_000_000_000, {"fund": 5000, "bank": 5000})
    >>> a = approve_claim(s, room_fen=150_000_000, cash_fen=100_000_000)
    >>> a.split.fund_fen, a.paid_fen, a.deferred_fen
    (150000000, 100000000, 50000000)
    """
    capped = apply_bank_cap(split, room_fen)
    cash = _int("cash_fen", cash_fen)
    if cash < 0:
        raise ValueError(f"cash_fen must be >= 0, got {cash}")
    paid, deferred = pay_from_cash(cash, capped.fund_fen)
    return Approval(split=capped, room_before_fen=room_fen, paid_fen=paid, deferred_fen=deferred)


@dataclass(frozen=True)
class Settlement:
    """What one inflow did (A4): deferrals settled as ``(tag, fen)`` oldest first, and the rest
    that went to cash."""

    settled: tuple[tuple[Hashable, int], ...]
    to_cash_fen: int


@dataclass
class CapBook:
    """The mutable A3/A4 state for approving claims one at a time, in memory (no database).

    ``used_fen`` holds the fund shares already approved per cap key (the caller's choice of key,
    normally ``(bank, policy, year)``), ``cash_fen`` the pool's cash and ``deferred`` the owed
    compensation as ``[tag, fen]`` pairs in approval order. The stress engine runs one book per
    scenario; the claims workflow can load one from the database for a batch.

    RULES section 10, "Bank cap and cash":

    >>> book = CapBook(cash_fen=1_000_000_000)
    >>> scheme = {"fund": 5000, "bank": 5000}
    >>> for year, loss, covered in [(2026, 800_000_000, 1_000_000_000), (2026, 900_000_000, 1_000_000_000),
    ...                             (2026, 600_000_000, 1_000_000_000), (2027, 200_000_000, 500_000_000)]:
    ...     a = book.approve(split_loss(loss, covered, 1_000_000_000, scheme), key=("b1", "gz-2023", year),
    ...                      in_pool_lending_fen=20_000_000_000, cap_bp=500)
    ...     print(year, a.split.fund_fen, a.split.bank_fen, a.paid_fen, a.deferred_fen)
    2026 400000000 400000000 400000000 0
    2026 450000000 450000000 450000000 0
    2026 150000000 450000000 150000000 0
    2027 50000000 150000000 0 50000000
    >>> book.inflow(5_000_000_000).to_cash_fen, book.cash_fen
    (4950000000, 4950000000)
    """

    cash_fen: int = 0
    deferred: list[list] = field(default_factory=list)
    used_fen: dict[Hashable, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cash_fen = _int("cash_fen", self.cash_fen)
        if self.cash_fen < 0:
            raise ValueError(f"cash_fen must be >= 0, got {self.cash_fen}")
        entries: list[list] = []
        for i, entry in enumerate(self.deferred):
            tag, owed = (None, entry) if not isinstance(entry, (tuple, list)) else entry
            owed = _int(f"deferred[{i}]", owed)
            if owed < 0:
                raise ValueError(f"deferred[{i}] must be >= 0, got {owed}")
            if owed:
                entries.append([tag, owed])
        self.deferred = entries
        if self.cash_fen > 0 and self.deferred:
            raise ValueError("cash_fen must be 0 while compensation is deferred (A4 settles it first)")
        used = {}
        for key, value in dict(self.used_fen).items():
            used[key] = _int(f"used_fen[{key!r}]", value)
            if used[key] < 0:
                raise ValueError(f"used_fen[{key!r}] must be >= 0, got {used[key]}")
        self.used_fen = used

    @property
    def deferred_fen(self) -> int:
        """Compensation owed in all."""
        return sum(owed for _, owed in self.deferred)

    def room(self, key: Hashable, in_pool_lending_fen: int, cap_bp: int | None) -> int | None:
        """A3's room for ``key`` now."""
        return cap_room(in_pool_lending_fen, cap_bp, self.used_fen.get(key, 0))

    def approve(
        self,
        split: Split,
        *,
        key: Hashable,
        in_pool_lending_fen: int,
        cap_bp: int | None,
        tag: Hashable = None,
    ) -> Approval:
        """Approve one claim: A3 cut against ``key``'s room, then A4 payment; updates the book.

        ``tag`` (say the claim id) labels the deferral, if any, for :meth:`inflow`'s report.
        """
        approval = approve_claim(split, self.room(key, in_pool_lending_fen, cap_bp), self.cash_fen)
        self.used_fen[key] = self.used_fen.get(key, 0) + approval.split.fund_fen
        self.cash_fen -= approval.paid_fen
        if approval.deferred_fen:
            self.deferred.append([tag, approval.deferred_fen])
        return approval

    def inflow(self, amount_fen: int) -> Settlement:
        """A4: an inflow settles deferrals first-in first-out; the rest adds to cash."""
        amount = _int("amount_fen", amount_fen)
        settled, left = settle_inflow(amount, [owed for _, owed in self.deferred])
        report = tuple((entry[0], part) for entry, part in zip(self.deferred, settled) if part)
        self.deferred = [[tag, owed - part] for (tag, owed), part in zip(self.deferred, settled) if owed > part]
        self.cash_fen += left
        return Settlement(settled=report, to_cash_fen=left)


# ---------------------------------------------------------------------------------------------
# A5: recoveries
# ---------------------------------------------------------------------------------------------


def _check_recovery_inputs(
    cum_before_net_fen: object, net_fen: object, loss_fen: object, shares: Mapping[str, object]
) -> tuple[int, int, int, dict[str, int]]:
    cum_before = _int("cum_before_net_fen", cum_before_net_fen)
    if cum_before < 0:
        raise ValueError(f"cum_before_net_fen must be >= 0, got {cum_before}")
    net = _amount("net_fen", net_fen)
    loss = _amount("loss_fen", loss_fen, minimum=1)
    if not isinstance(shares, Mapping):
        raise ValueError(f"shares must be a mapping party -> fen, got {shares!r}")
    checked: dict[str, int] = {}
    for party, share in shares.items():
        if party not in NON_BANK_PARTIES:
            raise ValueError(
                f"shares: {party!r} is not a non-bank party ({', '.join(NON_BANK_PARTIES)}); "
                "the bank takes the rest"
            )
        value = _int(f"shares[{party!r}]", share)
        if value < 0:
            raise ValueError(f"shares[{party!r}] must be >= 0, got {value}")
        checked[party] = value
    total = sum(checked.values())
    if total > loss:
        raise ValueError(f"shares add up to {total}, more than loss_fen ({loss})")
    return cum_before, net, loss, checked


def recovered_to_date(cum_net_fen: int, loss_fen: int, share_fen: int) -> int:
    """A5: what a non-bank party holds in all once ``cum_net_fen`` is recovered:
    ``min(floor(cum * share / L), share)`` (no checks; :func:`recovery_increment` checks).

    >>> recovered_to_date(100_000_001, 600_000_000, 240_000_000)
    40000000
    """
    return min(cum_net_fen, loss_fen) * share_fen // loss_fen


def recovery_increment(
    cum_before_net_fen: int, net_fen: int, loss_fen: int, shares: Mapping[str, int]
) -> dict[str, int]:
    """A5: share one recovery's ``net_fen`` out; returns each party's part, the bank's included.

    Each non-bank party ``p`` holds in all ``min(floor(cum * share_p / L), share_p)``; this
    recovery gives it the increase of that figure from ``cum_before_net_fen`` to
    ``cum_before_net_fen + net_fen``, and the bank takes the rest, so the parts add up to
    ``net_fen``. ``shares`` are the approved shares (after the insurance limit and A3's cut),
    e.g. :meth:`Split.shares`.

    RULES section 10 (the first split's recovery, whole and in two):

    >>> shares = {"fund": 240_000_000, "insurer": 144_000_000, "appraiser": 48_000_000}
    >>> recovery_increment(0, 100_000_001, 600_000_000, shares)
    {'fund': 40000000, 'insurer': 24000000, 'appraiser': 8000000, 'bank': 28000001}
    >>> recovery_increment(50_000_000, 50_000_001, 600_000_000, shares)["bank"]
    14000001

    The bank's part of a single recovery can be negative when several parties' floors step up
    at once (their totals never are); RULES A5 is literal here:

    >>> recovery_increment(599_999_999, 1, 600_000_000, shares)["bank"]
    -2
    """
    cum_before, net, loss, checked = _check_recovery_inputs(cum_before_net_fen, net_fen, loss_fen, shares)
    cum_after = cum_before + net
    parts = {
        party: recovered_to_date(cum_after, loss, share) - recovered_to_date(cum_before, loss, share)
        for party, share in checked.items()
    }
    parts["bank"] = net - sum(parts.values())
    return parts
