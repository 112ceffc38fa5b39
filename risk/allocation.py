"""Rule A (docs/rules.md section 4) as pure integer functions: the one implementation that both the
claims workflow and the stress simulator use.

Scalar forms work on Python ints (exact at any size); the ``*_array`` forms work on int64 arrays and
give the same integers over the whole range of docs/rules.md section 0 (single amounts up to 10**12 fen).

* A2 :func:`split_loss` -> :class:`Split`
* A3 :func:`cap_room`, :func:`apply_bank_cap`; :func:`approve_claim` and :class:`CapBook` approve
  claims one at a time (A3 cut, then A4 payment)
* A4 :func:`pay_from_cash`, :func:`settle_inflow`
* A5 :func:`recovery_increment`
* numpy forms: :func:`split_loss_array`, :func:`recovery_increment_array`, and for claims approved
  in order without inflows between them (docs/rules.md M4, one simulated year) :func:`cap_in_order_array`
  and :func:`pay_in_order_array`

Loss-sharing schemes always come from the caller as ``{party: ratio_bp}`` (from the policy).
"""

from __future__ import annotations

import operator
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from fund.domain.money import BP_ONE, MAX_SINGLE_AMOUNT_FEN, check_amount
from fund.domain.policy import SCHEME_PARTIES
from risk.kernels import INT64_MAX, NO_CAP, capped_running_sum, mul_div_floor

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


def _check_scheme(ratios_bp: Mapping[str, object]) -> dict[str, int]:
    """A scheme as docs/rules.md section 2 requires: known parties, ints >= 0 adding up to 10000, the
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
    principal = check_amount("principal_fen", principal_fen, minimum=1)
    loss = check_amount("loss_fen", loss_fen, minimum=1)
    covered = check_amount("covered_fen", covered_fen)
    if loss > principal:
        raise ValueError(f"loss_fen ({loss}) must not exceed principal_fen ({principal})")
    if covered > principal:
        raise ValueError(f"covered_fen ({covered}) must not exceed principal_fen ({principal})")
    ratios = _check_scheme(ratios_bp)
    limit = None if insurer_limit_fen is None else check_amount("insurer_limit_fen", insurer_limit_fen)
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

    docs/rules.md section 10, gz-2020 scheme 5311:

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

    docs/rules.md section 10, "Bank cap and cash":

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
    net = check_amount("net_fen", net_fen)
    loss = check_amount("loss_fen", loss_fen, minimum=1)
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

    docs/rules.md section 10 (the first split's recovery, whole and in two):

    >>> shares = {"fund": 240_000_000, "insurer": 144_000_000, "appraiser": 48_000_000}
    >>> recovery_increment(0, 100_000_001, 600_000_000, shares)
    {'fund': 40000000, 'insurer': 24000000, 'appraiser': 8000000, 'bank': 28000001}
    >>> recovery_increment(50_000_000, 50_000_001, 600_000_000, shares)["bank"]
    14000001

    The bank's part of a single recovery can be negative when several parties' floors step up
    at once (their totals never are); docs/rules.md A5 is literal here:

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


# ---------------------------------------------------------------------------------------------
# numpy forms (same integers as the scalar forms)
# ---------------------------------------------------------------------------------------------

#: In the array forms, an insurer limit or a cap room of ``UNLIMITED`` means "no limit" (``None``).
UNLIMITED = NO_CAP

_INT64_MAX = INT64_MAX


def _as_int64(name: str, value: object) -> np.ndarray:
    """``value`` as an int64 array; floats, bools and integers beyond int64 are refused."""
    array = np.asarray(value)
    if array.dtype == np.bool_ or array.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers that fit int64, got dtype {array.dtype}")
    if array.dtype.kind == "u" and array.size and int(array.max()) > _INT64_MAX:
        raise ValueError(f"{name} must hold integers that fit int64")
    return array.astype(np.int64, copy=False)


def _check_range(name: str, array: np.ndarray, minimum: int, maximum: int | None = MAX_SINGLE_AMOUNT_FEN) -> None:
    if array.size == 0:
        return
    low = int(array.min())
    if low < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {low}")
    if maximum is not None:
        high = int(array.max())
        if high > maximum:
            raise ValueError(f"{name} must be at most {maximum}, got {high}")


#: The exact ``floor(a * b / d)`` kernel, under the name this module's tests have always used.
_mul_div_floor = mul_div_floor


def _check_scheme_arrays(ratios_bp: Mapping[str, object], shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    if not isinstance(ratios_bp, Mapping):
        raise ValueError(f"ratios_bp must be a mapping party -> ratio_bp, got {ratios_bp!r}")
    for party in ratios_bp:
        if party not in SCHEME_PARTIES:
            raise ValueError(f"ratios_bp: unknown party {party!r} (known: {', '.join(SCHEME_PARTIES)})")
    for party in ("bank", "fund"):
        if party not in ratios_bp:
            raise ValueError(f"ratios_bp must include the {party}'s ratio")
    ratios = {}
    for party in SCHEME_PARTIES:
        ratio = _as_int64(f"ratios_bp[{party!r}]", ratios_bp.get(party, 0))
        _check_range(f"ratios_bp[{party!r}]", ratio, 0, BP_ONE)
        ratios[party] = np.broadcast_to(ratio, shape)
    total = sum(ratios.values())
    if total.size and (total != BP_ONE).any():
        bad = int(total[total != BP_ONE].flat[0])
        raise ValueError(f"ratios_bp must add up to {BP_ONE}, got {bad}")
    return ratios


def _check_claim_arrays(
    loss_fen: object,
    covered_fen: object,
    principal_fen: object,
    ratios_bp: Mapping[str, object],
    insurer_limit_fen: object,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray | None]:
    """The array counterpart of :func:`_check_claim_inputs`; all arrays broadcast to one shape."""
    arrays = [
        _as_int64("loss_fen", loss_fen),
        _as_int64("covered_fen", covered_fen),
        _as_int64("principal_fen", principal_fen),
    ]
    limit = None if insurer_limit_fen is None else _as_int64("insurer_limit_fen", insurer_limit_fen)
    shape_of = arrays + ([limit] if limit is not None else [])
    shape_of += [np.asarray(r) for r in ratios_bp.values()] if isinstance(ratios_bp, Mapping) else []
    try:
        shape = np.broadcast_shapes(*(a.shape for a in shape_of))
    except ValueError:
        raise ValueError("loss_fen, covered_fen, principal_fen, ratios and insurer_limit_fen must broadcast together") from None
    loss, covered, principal = (np.broadcast_to(a, shape) for a in arrays)
    _check_range("principal_fen", principal, 1)
    _check_range("loss_fen", loss, 1)
    _check_range("covered_fen", covered, 0)
    if (loss > principal).any():
        raise ValueError("loss_fen must not exceed principal_fen")
    if (covered > principal).any():
        raise ValueError("covered_fen must not exceed principal_fen")
    ratios = _check_scheme_arrays(ratios_bp, shape)
    if limit is not None:
        _check_range("insurer_limit_fen", limit, UNLIMITED)
        limit = np.broadcast_to(limit, shape)
    return loss, covered, principal, ratios, limit


@dataclass(frozen=True)
class SplitArrays:
    """:class:`Split` for many claims at once: one int64 array per figure (no A3 cut yet)."""

    loss_fen: np.ndarray
    base_fen: np.ndarray
    fund_fen: np.ndarray
    insurer_fen: np.ndarray
    appraiser_fen: np.ndarray
    bank_fen: np.ndarray
    insurer_cut_fen: np.ndarray

    def row(self, index: int | tuple[int, ...]) -> Split:
        """One claim's :class:`Split`, with Python ints."""
        return Split(
            loss_fen=int(self.loss_fen[index]),
            base_fen=int(self.base_fen[index]),
            fund_fen=int(self.fund_fen[index]),
            insurer_fen=int(self.insurer_fen[index]),
            appraiser_fen=int(self.appraiser_fen[index]),
            bank_fen=int(self.bank_fen[index]),
            fund_before_cap_fen=int(self.fund_fen[index]),
            insurer_cut_fen=int(self.insurer_cut_fen[index]),
        )


def split_loss_array(
    loss_fen: object,
    covered_fen: object,
    principal_fen: object,
    ratios_bp: Mapping[str, object],
    insurer_limit_fen: object = None,
) -> SplitArrays:
    """A2 over int64 arrays (broadcast together): the same integers as :func:`split_loss`.

    Ratios may be ints or arrays per claim; ``insurer_limit_fen`` is ``None`` (no limits) or
    ints / an array where :data:`UNLIMITED` marks a claim without a limit. Products ``L * C`` up
    to 10**24 are computed exactly (never wrapped).

    >>> s = split_loss_array([600_000_000, 10**12], [800_000_000, 10**12 - 1], [1_000_000_000, 10**12],
    ...                      {"fund": 5000, "insurer": 3000, "appraiser": 1000, "bank": 1000},
    ...                      insurer_limit_fen=[UNLIMITED, 10**11])
    >>> s.base_fen.tolist(), s.insurer_fen.tolist(), s.bank_fen.tolist()
    ([480000000, 999999999999], [144000000, 100000000000], [168000000, 300000000002])
    """
    loss, covered, principal, ratios, limit = _check_claim_arrays(
        loss_fen, covered_fen, principal_fen, ratios_bp, insurer_limit_fen
    )
    base = mul_div_floor(loss, covered, principal)
    fund = base * ratios["fund"] // BP_ONE
    insurer_uncut = base * ratios["insurer"] // BP_ONE
    insurer = insurer_uncut if limit is None else np.where(limit == UNLIMITED, insurer_uncut, np.minimum(insurer_uncut, limit))
    appraiser = base * ratios["appraiser"] // BP_ONE
    return SplitArrays(
        loss_fen=np.array(loss),
        base_fen=base,
        fund_fen=fund,
        insurer_fen=insurer,
        appraiser_fen=appraiser,
        bank_fen=loss - fund - insurer - appraiser,
        insurer_cut_fen=insurer_uncut - insurer,
    )


def recovery_increment_array(
    cum_before_net_fen: object, net_fen: object, loss_fen: object, shares: Mapping[str, object]
) -> dict[str, np.ndarray]:
    """A5 over int64 arrays (broadcast together): the same integers as :func:`recovery_increment`.

    >>> parts = recovery_increment_array([0, 50_000_000], [100_000_001, 50_000_001], 600_000_000,
    ...                                  {"fund": 240_000_000, "insurer": 144_000_000, "appraiser": 48_000_000})
    >>> {party: part.tolist() for party, part in parts.items()}
    {'fund': [40000000, 20000000], 'insurer': [24000000, 12000000], 'appraiser': [8000000, 4000000], 'bank': [28000001, 14000001]}
    """
    cum_before = _as_int64("cum_before_net_fen", cum_before_net_fen)
    net = _as_int64("net_fen", net_fen)
    loss = _as_int64("loss_fen", loss_fen)
    if not isinstance(shares, Mapping):
        raise ValueError(f"shares must be a mapping party -> fen, got {shares!r}")
    share_arrays = {}
    for party, share in shares.items():
        if party not in NON_BANK_PARTIES:
            raise ValueError(
                f"shares: {party!r} is not a non-bank party ({', '.join(NON_BANK_PARTIES)}); "
                "the bank takes the rest"
            )
        share_arrays[party] = _as_int64(f"shares[{party!r}]", share)
    try:
        shape = np.broadcast_shapes(cum_before.shape, net.shape, loss.shape, *(s.shape for s in share_arrays.values()))
    except ValueError:
        raise ValueError("cum_before_net_fen, net_fen, loss_fen and shares must broadcast together") from None
    cum_before, net, loss = (np.broadcast_to(a, shape) for a in (cum_before, net, loss))
    _check_range("cum_before_net_fen", cum_before, 0, None)
    _check_range("net_fen", net, 0)
    _check_range("loss_fen", loss, 1)
    total = np.zeros(shape, dtype=np.int64)
    for party, share in share_arrays.items():
        _check_range(f"shares[{party!r}]", share, 0)
        share_arrays[party] = np.broadcast_to(share, shape)
        total = total + share_arrays[party]
    if (total > loss).any():
        raise ValueError("shares must not add up to more than loss_fen")
    # min(floor(cum * s / L), s) == floor(min(cum, L) * s / L): clip first, so every product is
    # below 10**24 and cum_before + net cannot overflow.
    before = np.minimum(cum_before, loss)
    after = np.minimum(before + net, loss)
    parts = {
        party: mul_div_floor(after, share, loss) - mul_div_floor(before, share, loss)
        for party, share in share_arrays.items()
    }
    parts["bank"] = net - sum(parts.values(), np.zeros(shape, dtype=np.int64))
    return parts


def cap_in_order_array(fund_fen: object, group: object, room_fen: object) -> np.ndarray:
    """A3 for claims approved in the given order: each claim's fund share cut to what is left of
    its group's room (group = one (bank, policy, year); ``room_fen[g]`` is the room before the
    first claim, :data:`UNLIMITED` for no cap). Returns the approved fund shares; the bank gets
    ``fund_fen - approved`` on top of its share. The same as :meth:`CapBook.approve` claim by
    claim, because a group's approved total after ``k`` claims is
    ``min(room, fund_1 + ... + fund_k)``.

    >>> cap_in_order_array([400_000_000, 450_000_000, 300_000_000, 70], [0, 0, 0, 1],
    ...                    [1_000_000_000, UNLIMITED]).tolist()
    [400000000, 450000000, 150000000, 70]
    """
    fund = _as_int64("fund_fen", fund_fen)
    groups = _as_int64("group", group)
    room = _as_int64("room_fen", room_fen)
    if fund.ndim != 1 or groups.shape != fund.shape or room.ndim != 1:
        raise ValueError("fund_fen and group must be 1-d arrays of one length, room_fen 1-d")
    _check_range("fund_fen", fund, 0)
    _check_range("group", groups, 0, room.size - 1)
    _check_range("room_fen", room, UNLIMITED, None)
    if fund.size * MAX_SINGLE_AMOUNT_FEN > _INT64_MAX:
        raise ValueError(f"at most {_INT64_MAX // MAX_SINGLE_AMOUNT_FEN} claims at once")
    if fund.size == 0:
        return fund.copy()
    return capped_running_sum(fund, groups, room).granted


def pay_in_order_array(amount_fen: object, cash_fen: int) -> tuple[np.ndarray, np.ndarray]:
    """A4 for approved fund shares paid in the given order from ``cash_fen`` with no inflow in
    between: returns ``(paid, deferred)`` per claim, as :func:`pay_from_cash` claim by claim.

    >>> paid, deferred = pay_in_order_array([400, 450, 150, 50], 1000)
    >>> paid.tolist(), deferred.tolist()
    ([400, 450, 150, 0], [0, 0, 0, 50])
    """
    amount = _as_int64("amount_fen", amount_fen)
    cash = _int("cash_fen", cash_fen)
    if amount.ndim != 1:
        raise ValueError("amount_fen must be a 1-d array")
    _check_range("amount_fen", amount, 0)
    if cash < 0:
        raise ValueError(f"cash_fen must be >= 0, got {cash}")
    if amount.size * MAX_SINGLE_AMOUNT_FEN > _INT64_MAX:
        raise ValueError(f"at most {_INT64_MAX // MAX_SINGLE_AMOUNT_FEN} claims at once")
    cash = min(cash, _INT64_MAX)
    running = np.cumsum(amount)
    paid = np.minimum(running, cash) - np.minimum(running - amount, cash)
    return paid, amount - paid
