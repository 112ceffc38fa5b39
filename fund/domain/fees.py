"""S6 (docs/rules.md section 5): fee subsidies.

A fee the borrower paid for a loan (kind ``appraisal``, ``insurance`` or ``guarantee``) earns
``floor(fee * fee_subsidy_ratio_bp / 10000)``; a loan's subsidies of one kind together never pass
``fee_subsidy_cap_fen``: fees fill the cap in order of payment date, then registration order, and the
fee that reaches it gets what room is left (``capped``). A loan has insurance or guarantee fee
subsidies, not both: the first kind reported wins.

docs/rules.md section 10's example (ratio 5000, cap 5 000 000):

>>> [(s.subsidy_fen, s.capped) for s in fill_cap([6_000_001, 5_000_000], 5000, 5_000_000)]
[(3000000, False), (2000000, True)]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fund.domain.money import apply_bp
from fund.errors import Conflict

FEE_KINDS = ("appraisal", "insurance", "guarantee")
EXCLUSIVE_KINDS = ("insurance", "guarantee")


@dataclass(frozen=True)
class FeeSubsidy:
    subsidy_fen: int
    capped: bool


def fill_cap(amounts_in_order: Sequence[int], ratio_bp: int | None, cap_fen: int | None, *, used_fen: int = 0) -> list[FeeSubsidy]:
    """The subsidies of one loan's fees of one kind, in their order (payment date, then registration),
    with ``used_fen`` already taken by fees that are final (paid by a run). No ratio: no subsidies."""
    out: list[FeeSubsidy] = []
    used = used_fen
    for amount in amounts_in_order:
        full = apply_bp(amount, ratio_bp) if ratio_bp is not None else 0
        if cap_fen is None:
            out.append(FeeSubsidy(full, False))
            continue
        given = max(0, min(full, cap_fen - used))
        used += given
        out.append(FeeSubsidy(given, given < full))
    return out


def check_exclusive(kinds_reported: Iterable[str], kind: str) -> None:
    """Refuse insurance when the loan has guarantee fees, and the other way round."""
    if kind not in EXCLUSIVE_KINDS:
        return
    other = next((k for k in kinds_reported if k in EXCLUSIVE_KINDS and k != kind), None)
    if other is not None:
        raise Conflict("fee_kind_excluded", f"the loan has {other} fees: a loan has insurance or guarantee fee subsidies, not both",
                       field="kind")
