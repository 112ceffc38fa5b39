"""The fund report (docs/rules.md A3, A4, L, B2): cash and deferred per pool, compensation approved, paid and
recovered by bank and year, each bank's cap and room, leverage (放大倍数), and each agreed bank's loss
ratio against its policy's suspension line (measured by ``fund.services.pool.loss_ratios``, the code
the approval step measures suspension with).

>>> Leverage.of(20_000_000_000, 5_000_000_000).ratio, Leverage.of(20_000_000_000, 5_000_000_000).bp
('4/1', 40000)
>>> Leverage.of(1, 0).ratio is None
True
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from fractions import Fraction

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import risk.allocation as allocation
from fund.adapters.models.claims import BankCapUsage, Claim
from fund.adapters.models.ledger import Deferral
from fund.adapters.models.registry import Loan
from fund.domain.money import BP_ONE
from fund.domain.pool import LossRatio
from fund.domain.status import LIVE_STATUSES
from fund.services import ledger
from fund.services.common import SessionFactory, business_date, institution_codes, within
from fund.services.claims import DECIDED_STATUSES, in_pool_lending_by
from fund.services.policies import get_policy
from fund.services.pool import loss_ratios


@dataclass(frozen=True)
class PoolLine:
    pool: str
    cash_fen: int
    deferred_fen: int
    appropriated_fen: int


@dataclass(frozen=True)
class CompensationLine:
    """Approved claims of one bank in one approval year: the fund's approved shares, what the pool
    has paid of them (at approval and by settlements since), what is still deferred, and the
    fund's part of the recoveries on them."""

    bank: str
    year: int
    claims: int
    approved_fen: int
    paid_fen: int
    deferred_fen: int
    recovered_fen: int


@dataclass(frozen=True)
class CapLine:
    """A bank's A3 cap for (policy, year) as of the report date; cap and room are ``None`` when
    the policy has no bank cap."""

    bank: str
    policy_id: str
    year: int
    cap_bp: int | None
    in_pool_lending_fen: int
    cap_fen: int | None
    used_fen: int
    room_fen: int | None


@dataclass(frozen=True)
class Leverage:
    """Covered principal of live loans / total appropriations to the compensation pool, as an
    exact ratio ``"a/b"`` and floored to bp; ``None`` while nothing is appropriated."""

    covered_live_fen: int
    appropriated_fen: int
    ratio: str | None
    bp: int | None

    @classmethod
    def of(cls, covered_live_fen: int, appropriated_fen: int) -> "Leverage":
        if appropriated_fen <= 0:
            return cls(covered_live_fen, appropriated_fen, None, None)
        exact = Fraction(covered_live_fen, appropriated_fen)
        return cls(covered_live_fen, appropriated_fen, f"{exact.numerator}/{exact.denominator}",
                   covered_live_fen * BP_ONE // appropriated_fen)


@dataclass(frozen=True)
class FundReport:
    as_of: dt.date
    pools: tuple[PoolLine, ...]
    compensation: tuple[CompensationLine, ...]
    caps: tuple[CapLine, ...]
    leverage: Leverage
    # B2 (docs/rules.md section 12): per (agreed bank, policy), approved covered losses since the
    # agreement or the last lift against in-pool lending and the line
    loss_ratios: tuple[LossRatio, ...] = ()

    def as_dict(self) -> dict:
        data = asdict(self)
        data["loss_ratios"] = [r.as_dict() for r in self.loss_ratios]  # with ratio_bp and suspended
        return data


def current_fund_report(db: SessionFactory | Session) -> FundReport:
    """The use case: :func:`fund_report` as of the business date, read inside its transaction."""
    with within(db) as session:
        return fund_report(session, business_date(session))


def fund_report(session: Session, as_of: dt.date) -> FundReport:
    """The report as of the business date ``as_of``."""
    codes = institution_codes(session)
    pools = tuple(
        PoolLine(pool, balance.cash_fen, balance.deferred_fen, ledger.appropriated_fen(session, pool))
        for pool in ledger.POOLS
        for balance in [ledger.pool_balance(session, pool)]
    )

    settled = dict(session.execute(
        select(Deferral.ref_id, Deferral.settled_fen).where(Deferral.ref_type == "claim")
    ).all())
    lines: dict[tuple[str, int], list[int]] = {}
    for claim in session.scalars(select(Claim).where(Claim.status.in_(DECIDED_STATUSES)).order_by(Claim.id)):
        line = lines.setdefault((codes[claim.bank_id], claim.cap_year), [0, 0, 0, 0, 0])
        paid = claim.paid_fen + settled.get(claim.id, 0)
        line[0] += 1
        line[1] += claim.fund_fen
        line[2] += paid
        line[3] += claim.fund_fen - paid
        line[4] += claim.fund_recovered_fen
    compensation = tuple(CompensationLine(bank, year, *values) for (bank, year), values in sorted(lines.items()))

    used = {(u.bank_id, u.policy_id, u.year): u.used_fen for u in session.scalars(select(BankCapUsage))}
    pairs = session.execute(
        select(Loan.bank_id, Loan.policy_id).where(Loan.policy_id.is_not(None), Loan.covered_fen > 0).distinct()
    ).all()
    caps = []
    policies = {policy_id: get_policy(session, policy_id) for policy_id in {p[1] for p in pairs}}
    lendings = in_pool_lending_by(session, as_of)  # A3, every pair in one query
    for bank_id, policy_id in sorted(pairs, key=lambda p: (codes[p[0]], p[1])):
        policy = policies[policy_id]
        if not policy.accepts_claims:
            continue
        lending = lendings.get((bank_id, policy_id), 0)
        already = used.get((bank_id, policy_id, as_of.year), 0)
        caps.append(CapLine(
            codes[bank_id], policy_id, as_of.year, policy.bank_annual_cap_bp, lending,
            allocation.cap_room(lending, policy.bank_annual_cap_bp, 0), already,
            allocation.cap_room(lending, policy.bank_annual_cap_bp, already),
        ))

    covered_live = int(session.scalar(
        select(func.coalesce(func.sum(Loan.covered_fen), 0)).where(Loan.status.in_(LIVE_STATUSES))
    ))
    leverage = Leverage.of(covered_live, ledger.appropriated_fen(session, "compensation"))
    return FundReport(as_of, pools, compensation, tuple(caps), leverage, tuple(loss_ratios(session, as_of)))
