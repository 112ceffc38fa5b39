"""Rule B (docs/rules.md section 12): banks in the pool.

B1: a bank takes part under a policy from the date of its pool agreement. B2: an approval that makes
the bank's approved covered losses under the policy exceed ``floor(in_pool_lending * line / 10000)``
suspends it from that approval's business date until the fund manager lifts the suspension.

>>> import datetime as dt
>>> d = dt.date
>>> bank_reasons(d(2026, 3, 1), agreed_on=d(2026, 1, 1), suspensions=[(d(2026, 2, 1), None)])
('bank_suspended',)
>>> bank_reasons(d(2025, 12, 31), agreed_on=d(2026, 1, 1), suspensions=[])
('bank_not_in_pool',)
>>> loss_line_fen(10_000_000_000, 300), passes_line(310_000_000, 10_000_000_000, 300), passes_line(270_000_000, 10_000_000_000, 300)
(300000000, True, False)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from fund.domain.money import apply_bp

REASONS = {
    "bank_not_in_pool": "the bank has no pool agreement under the drawdown policy on the drawdown date (B1)",
    "bank_suspended": "the bank is suspended on the drawdown date: its losses passed the policy's line (B2)",
}


def suspended_on(day: dt.date, suspensions: Iterable[tuple[dt.date, dt.date | None]]) -> bool:
    """Whether ``day`` falls in a suspension: from its date, before the date it was lifted."""
    return any(start <= day and (lifted is None or day < lifted) for start, lifted in suspensions)


def bank_reasons(drawdown: dt.date, *, agreed_on: dt.date | None,
                 suspensions: Iterable[tuple[dt.date, dt.date | None]]) -> tuple[str, ...]:
    """The B1/B2 eligibility reasons of a loan drawn on ``drawdown`` (empty: the bank may lend)."""
    if agreed_on is None or drawdown < agreed_on:
        return ("bank_not_in_pool",)
    if suspended_on(drawdown, suspensions):
        return ("bank_suspended",)
    return ()


def loss_line_fen(in_pool_lending_fen: int, line_bp: int) -> int:
    """``floor(in_pool_lending * line / 10000)``."""
    return apply_bp(in_pool_lending_fen, line_bp)


def passes_line(losses_fen: int, in_pool_lending_fen: int, line_bp: int | None) -> bool:
    """B2: losses *exceed* the line (reaching it exactly does not suspend); no line, no suspension."""
    return line_bp is not None and losses_fen > loss_line_fen(in_pool_lending_fen, line_bp)


@dataclass(frozen=True)
class LossRatio:
    """A bank's standing under a policy: approved covered losses (since agreement or last lift)
    against its in-pool lending and the line."""

    bank_code: str
    policy_id: str
    losses_fen: int
    in_pool_lending_fen: int
    line_bp: int | None
    line_fen: int | None
    suspended_since: dt.date | None

    @property
    def ratio_bp(self) -> int | None:
        """Losses over lending in whole bp (floored); None without lending."""
        return self.losses_fen * 10000 // self.in_pool_lending_fen if self.in_pool_lending_fen else None

    def as_dict(self) -> dict:
        return {"bank_code": self.bank_code, "policy_id": self.policy_id, "losses_fen": self.losses_fen,
                "in_pool_lending_fen": self.in_pool_lending_fen, "ratio_bp": self.ratio_bp, "line_bp": self.line_bp,
                "line_fen": self.line_fen, "suspended": self.suspended_since is not None,
                "suspended_since": self.suspended_since.isoformat() if self.suspended_since else None}
