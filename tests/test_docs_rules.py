"""docs/rules.md cannot drift from the code: every figure of its worked examples (section 10) is
recomputed here through ipfund's own functions and compared with the figure parsed from the page, and
every figure computed here must appear on the page. Pure functions only: no database, a few ms."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest

import risk.allocation as allocation
from fund.domain.dates import add_months
from fund.domain.lpr import shipped_lpr_table
from fund.domain.money import apply_bp, yuan
from fund.domain.policy import load_policy_file, shipped_policy_paths
from fund.domain.registry import BorrowerFacts, InstallmentIn, apply_quota, decide_eligibility
from fund.domain.subsidy import CapState, apply_enterprise_cap, subsidised_rate, subsidy_amount
from risk.valuation import value_asset
from tests.factories import application

RULES_PAGE = Path(__file__).resolve().parent.parent / "docs" / "rules.md"
# | `check.id` | what | 1 000 000 fen | 10,000.00 |
ROW = re.compile(r"^\|\s*`(?P<id>[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)`\s*\|(?P<what>[^|]*)\|\s*(?P<amount>[0-9][0-9 .]*?)\s+(?P<unit>fen|bp|years)\s*\|\s*(?P<yuan>[^|]*?)\s*\|\s*$")


def _page_figures() -> dict[str, tuple[Decimal, str, str]]:
    figures: dict[str, tuple[Decimal, str, str]] = {}
    for line in RULES_PAGE.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            assert match["id"] not in figures, f"{match['id']} appears twice in docs/rules.md"
            figures[match["id"]] = (Decimal(match["amount"].replace(" ", "")), match["unit"], match["yuan"])
    return figures


def _policy(policy_id: str):
    (path,) = [p for p in shipped_policy_paths() if p.stem == policy_id]
    return load_policy_file(path)


def _covered_principal() -> dict[str, tuple[int, str]]:
    """Section 3: C = min(ip_part, single-loan cap, quota left), in registration order."""
    policy = _policy("gz-2023")
    out: dict[str, tuple[int, str]] = {}
    used = 0
    drawdown = dt.date(2026, 1, 15)
    for n, (principal, share) in enumerate([(1_500_000_000, 10_000), (1_200_000_000, 5_000), (800_000_000, 10_000)], 1):
        app = application(principal=principal, ip_share_bp=share, drawdown=drawdown,
                          schedule=(InstallmentIn(add_months(drawdown, 12), principal, 0),))
        decision = decide_eligibility(app, policy, BorrowerFacts(app.borrower.registered_on, True, True))
        assert decision.eligible, decision.reasons
        coverage = apply_quota(decision, policy.borrower_annual_quota_fen, used)
        used += coverage.quota_used_fen
        if n == 1:
            out["cover.1.ip_part"] = (coverage.ip_part_fen, "fen")
        out[f"cover.{n}.c"] = (coverage.covered_fen, "fen")
        out[f"cover.{n}.quota_left"] = (policy.borrower_annual_quota_fen - used, "fen")
    return out


def _splits_and_recoveries() -> dict[str, tuple[int, str]]:
    """Section 4 A2 and A5 under gz-2020's scheme 5311."""
    ratios = dict(_policy("gz-2020").scheme("5311").ratios_bp)
    out: dict[str, tuple[int, str]] = {}
    splits = {}
    for n, (covered, loss) in enumerate([(800_000_000, 600_000_000), (700_000_000, 100_000_005)], 1):
        split = splits[n] = allocation.split_loss(loss, covered, 1_000_000_000, ratios)
        for name in ("base", "fund", "insurer", "appraiser", "bank"):
            out[f"split.{n}.{name}"] = (getattr(split, f"{name}_fen"), "fen")
    first = splits[1]
    net = 120_000_001 - 20_000_000
    out["recovery.1.net"] = (net, "fen")
    for party, fen in allocation.recovery_increment(0, net, first.loss_fen, first.shares()).items():
        out[f"recovery.1.{party}"] = (fen, "fen")
    a = allocation.recovery_increment(0, 50_000_000, first.loss_fen, first.shares())
    b = allocation.recovery_increment(50_000_000, 50_000_001, first.loss_fen, first.shares())
    assert {p: a[p] + b[p] for p in a} == allocation.recovery_increment(0, net, first.loss_fen, first.shares())
    out["recovery.2.bank_first"], out["recovery.2.bank_second"] = (a["bank"], "fen"), (b["bank"], "fen")
    parts = [allocation.recovery_increment(0, net, first.loss_fen, first.shares()),
             allocation.recovery_increment(net, 700_000_000 - net, first.loss_fen, first.shares())]
    for party in ("fund", "insurer", "appraiser", "bank"):
        out[f"recovery.3.{party}"] = (sum(p[party] for p in parts), "fen")
    return out


def _bank_cap_and_cash() -> dict[str, tuple[int, str]]:
    """Section 4 A3 and A4, approving one claim at a time with the code the claims service uses."""
    scheme = dict(_policy("gz-2023").scheme("50").ratios_bp)
    lending, cap_bp = 20_000_000_000, 500
    book = allocation.CapBook(cash_fen=1_000_000_000)
    out: dict[str, tuple[int, str]] = {"cap.room": (allocation.cap_room(lending, cap_bp, 0), "fen")}
    claims = [(2026, 800_000_000, 1_000_000_000), (2026, 900_000_000, 1_000_000_000), (2026, 600_000_000, 1_000_000_000),
              (2027, 200_000_000, 500_000_000)]
    for n, (year, loss, covered) in enumerate(claims, 1):
        key = ("bank", "gz-2023", year)
        if n == 3:
            out["cap.3.room"] = (book.room(key, lending, cap_bp), "fen")
        approval = book.approve(allocation.split_loss(loss, covered, 1_000_000_000, scheme), key=key,
                                in_pool_lending_fen=lending, cap_bp=cap_bp, tag=n)
        out[f"cap.{n}.fund"], out[f"cap.{n}.bank"] = (approval.split.fund_fen, "fen"), (approval.split.bank_fen, "fen")
        out[f"cap.{n}.paid"] = (approval.paid_fen, "fen")
        if n == 3:
            out["cap.3.cash"] = (book.cash_fen, "fen")
        if n == 4:
            out["cap.4.base"], out["cap.4.deferred"] = (approval.split.base_fen, "fen"), (approval.deferred_fen, "fen")
    settlement = book.inflow(5_000_000_000)
    out["cap.5.settled"] = (sum(fen for _, fen in settlement.settled), "fen")
    out["cap.5.cash"] = (book.cash_fen, "fen")
    return out


def _subsidies() -> dict[str, tuple[int, str]]:
    """Section 5 S2 and S3 with the shipped policies' parameters and the shipped LPR table."""
    lpr = shipped_lpr_table().rate_on(dt.date(2024, 3, 15))
    out: dict[str, tuple[int, str]] = {"subsidy.lpr": (lpr, "bp")}

    def amount(policy_id: str, interest: int, rate: int, share: int) -> int:
        terms = _policy(policy_id).subsidy
        return subsidy_amount(interest, ip_share_bp=share, contract_rate_bp=rate, lpr_bp=lpr,
                              markup_bp=terms.lpr_markup_bp, ratio_bp=terms.ratio_bp)

    bj = _policy("bj-zgc-2024").subsidy
    cap_rate = subsidised_rate(10**6, lpr, bj.lpr_markup_bp)  # a contract rate far above: the cap itself
    assert cap_rate.denominator == 1
    out["subsidy.bj.cap_rate"] = (int(cap_rate), "bp")
    out["subsidy.gz"] = (amount("gz-2023", 3_875_000, 385, 10_000), "fen")
    out["subsidy.bj"] = (amount("bj-zgc-2024", 3_875_000, 385, 10_000), "fen")
    out["subsidy.bj_high"] = (amount("bj-zgc-2024", 3_875_000, 520, 6_000), "fen")
    key = ("E1", "gz-2023", 2024)
    gz = _policy("gz-2023").subsidy
    line = out["subsidy.gz"][0]
    capped = apply_enterprise_cap([line, line], [key, key], {key: gz.enterprise_annual_cap_fen}, {key: CapState(99_000_000)})
    assert capped.capped == (True, True)
    out["subsidy.cap.1"], out["subsidy.cap.2"] = (capped.granted_fen[0], "fen"), (capped.granted_fen[1], "fen")
    return out


def _valuation() -> dict[str, tuple[object, str]]:
    """Section 7 V1-V3."""
    v = value_asset("invention_patent", dt.date(2018, 5, 10), dt.date(2026, 11, 25), revenue_fen=5_000_000_000,
                    growth=0.05, royalty=0.03, tax=0.15, discount=0.14, decay=0.08)
    return {
        "valuation.legal_life": (Decimal(str(round(v.legal_life_years, 3))), "years"),
        "valuation.t": (Decimal(str(v.life_years)).normalize(), "years"),
        "valuation.value": (v.value_fen, "fen"),
        "valuation.collateral": (v.collateral_value_fen, "fen"),
    }


def _fees_and_suspension() -> dict[str, tuple[int, str]]:
    """S6 and B2 through ipfund's own rules (``fund.domain.fees``, ``fund.domain.pool``) with the shipped
    gz-2023 parameters; the API tests run the same examples end to end (tests/test_fees_api.py,
    tests/test_pool_api.py)."""
    from fund.domain.fees import check_exclusive, fill_cap
    from fund.domain.policy import shipped_policy
    from fund.domain.pool import loss_line_fen, passes_line
    from fund.errors import Conflict

    gz = shipped_policy("gz-2023")
    ratio, cap, line_bp = gz.fee_subsidy_ratio_bp, gz.fee_subsidy_cap_fen, gz.bank_suspension_line_bp
    first, second = fill_cap([6_000_001, 5_000_000], ratio, cap)
    assert second.capped and not first.capped
    (insurance,) = fill_cap([4_000_000], ratio, cap)  # another kind: its own room
    with pytest.raises(Conflict):
        check_exclusive(["appraisal", "insurance"], "guarantee")
    lending = 10_000_000_000
    losses_1, losses_2 = 120_000_000 + 150_000_000, 120_000_000 + 150_000_000 + 40_000_000
    assert not passes_line(losses_1, lending, line_bp) and passes_line(losses_2, lending, line_bp)
    return {
        "fee.1": (first.subsidy_fen, "fen"), "fee.2": (second.subsidy_fen, "fen"), "fee.3": (insurance.subsidy_fen, "fen"),
        "suspension.line": (loss_line_fen(lending, line_bp), "fen"),
        "suspension.1.losses": (losses_1, "fen"),
        "suspension.2.losses": (losses_2, "fen"),
    }


def _computed() -> dict[str, tuple[object, str]]:
    figures: dict[str, tuple[object, str]] = {}
    for part in (_covered_principal, _splits_and_recoveries, _bank_cap_and_cash, _subsidies, _valuation, _fees_and_suspension):
        figures.update(part())
    return figures


PAGE = _page_figures()
COMPUTED = _computed()


def test_the_page_and_the_code_name_the_same_figures():
    assert len(PAGE) >= 60
    assert sorted(set(COMPUTED) - set(PAGE)) == [], "computed here but missing from docs/rules.md"
    assert sorted(set(PAGE) - set(COMPUTED)) == [], "on docs/rules.md but not computed here"


@pytest.mark.parametrize("check", sorted(PAGE))
def test_each_figure_on_the_page_is_what_the_code_computes(check):
    amount, unit, yuan_text = PAGE[check]
    value, expected_unit = COMPUTED[check]
    assert unit == expected_unit, f"{check}: the page says {unit}, the code gives {expected_unit}"
    assert amount == Decimal(value), f"{check}: docs/rules.md says {amount} {unit}, the code computes {value}"
    if unit == "fen":
        assert yuan_text == yuan(int(amount)), f"{check}: {amount} fen is {yuan(int(amount))} yuan, the page says {yuan_text}"
    else:
        assert yuan_text == "—"
