"""The demo book: a deterministic, realistic loan book for Guangzhou's IP pledge-financing fund.

:func:`build_demo_book` draws the whole book from a seed with a numpy Generator and no clock: the
institutions, about 2,000 enterprises across the nine sectors, about 3,000 loans drawn between
2020-08-01 and 2025-10-20 with their pledged IP, schedules and repayment histories, and the
appropriations. :func:`load_demo` writes it through the registry and ledger services (the same rules
as any bank's registration), a few hundred loans per transaction, as of the business date 2026-10-31.

Figures marked as demo figures are ours (a plausible book, not data): shares of late payers,
defaults, the subsidy-pool appropriation, bank market shares.

>>> book = build_demo_book(seed=7, scale=0.02)
>>> len(book.banks), len(book.loans) >= 60, book.business_date.isoformat()
(12, True, '2026-10-31')
>>> build_demo_book(seed=7, scale=0.02) == book
True
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import json
import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from fund.adapters.db import unit_of_work
from fund.adapters.models.people import Appropriation as AppropriationRecord
from fund.adapters.models.registry import Enterprise, Institution, Loan, Repayment
from fund.domain.dates import add_months
from fund.domain.identifiers import USCC_ALPHABET
from fund.domain.lpr import shipped_lpr_table
from fund.domain.money import BP_ONE, apply_bp
from fund.domain.policy import Policy, policy_in_force, shipped_policies
from fund.domain.registry import SECTORS, AssetIn, BorrowerIn, InstallmentIn, LoanApplication, RepaymentIn
from fund.errors import Conflict, DomainError
from fund.services.common import BUSINESS_DATE_KEY, add_institution, get_setting, set_setting
from fund.services.demo_staff import create_demo_staff
from fund.services.ledger import appropriate
from fund.services.policies import load_shipped_policies
from fund.services.pool import agree_all_banks
from fund.services.reference import make_patent_number, make_uscc, seed_reference_data
from fund.services.registry import Actor, BatchRefused, cancel_loan, record_repayments, register_loans
from risk.valuation import load_assumptions

DEMO_BUSINESS_DATE = dt.date(2026, 10, 31)
FIRST_DRAWDOWN = dt.date(2020, 8, 1)
LAST_DRAWDOWN = dt.date(2025, 10, 20)
DEMO_POLICIES = ("gz-2020", "gz-2023")
DEMO_BOOK_KEY = "demo_book"  # system setting: {"seed", "scale", "state": "loading" | "loaded"}
ENTERPRISES = 2000
LOANS = 3000
LOANS_PER_TRANSACTION = 500
DAY_COUNT_BASIS = 360  # interest accrues actual/360, the usual convention of Chinese bank loans
SUBSIDY_APPROPRIATION_FEN = 300_000_000  # demo figure: 3 million yuan a year to the subsidy pool, 2021..
SUBSIDY_APPROPRIATION_FROM_YEAR = 2021
QUOTA_CLUSTERS = 10  # borrowers drawing three large loans in 2024 (the gz-2023 quota then bites)
LATE_PAYER_SHARE = 0.15  # demo figure

# --------------------------------------------------------------------------------------------------
# Parties


@dataclass(frozen=True)
class InstitutionSpec:
    code: str
    name: str
    kind: str


BANKS = (
    InstitutionSpec("ICBC-GZ", "中国工商银行股份有限公司广州分行", "bank"),
    InstitutionSpec("ABC-GZ", "中国农业银行股份有限公司广州分行", "bank"),
    InstitutionSpec("BOC-GZ", "中国银行股份有限公司广州分行", "bank"),
    InstitutionSpec("CCB-GZ", "中国建设银行股份有限公司广州分行", "bank"),
    InstitutionSpec("BOCOM-GZ", "交通银行股份有限公司广州分行", "bank"),
    InstitutionSpec("CMB-GZ", "招商银行股份有限公司广州分行", "bank"),
    InstitutionSpec("CITIC-GZ", "中信银行股份有限公司广州分行", "bank"),
    InstitutionSpec("SPDB-GZ", "上海浦东发展银行股份有限公司广州分行", "bank"),
    InstitutionSpec("CIB-GZ", "兴业银行股份有限公司广州分行", "bank"),
    InstitutionSpec("CGB-GZ", "广发银行股份有限公司广州分行", "bank"),
    InstitutionSpec("GZCB", "广州银行股份有限公司", "bank"),
    InstitutionSpec("GRCB", "广州农村商业银行股份有限公司", "bank"),
)
BANK_SHARES = (0.13, 0.08, 0.09, 0.11, 0.06, 0.10, 0.06, 0.06, 0.07, 0.06, 0.09, 0.09)  # demo figures
BANK_CONTRACT_PREFIX = {
    "ICBC-GZ": "GS", "ABC-GZ": "NH", "BOC-GZ": "ZH", "CCB-GZ": "JH", "BOCOM-GZ": "JT", "CMB-GZ": "ZS",
    "CITIC-GZ": "ZX", "SPDB-GZ": "PF", "CIB-GZ": "XY", "CGB-GZ": "GF", "GZCB": "GY", "GRCB": "NS",
}
INSURERS = (
    InstitutionSpec("PICC-GZ", "中国人民财产保险股份有限公司广州市分公司", "insurer"),
    InstitutionSpec("PAIC-GZ", "中国平安财产保险股份有限公司广东分公司", "insurer"),
    InstitutionSpec("CPIC-GZ", "中国太平洋财产保险股份有限公司广州分公司", "insurer"),
)
APPRAISERS = (
    InstitutionSpec("APR-ZLYC", "广东中联羊城资产评估有限公司", "appraiser"),
    InstitutionSpec("APR-LX", "广东联信资产评估土地房地产估价有限公司", "appraiser"),
    InstitutionSpec("APR-ZGX", "广东中广信资产评估有限公司", "appraiser"),
    InstitutionSpec("APR-GZL", "国众联资产评估土地房地产估价有限公司", "appraiser"),
)
FUND_MANAGER = InstitutionSpec("FM-GZ", "广州市知识产权质押融资风险补偿基金管理机构", "fund_manager")
AUDITOR = InstitutionSpec("AUD-GZ", "立信会计师事务所（特殊普通合伙）广东分所", "auditor")

# Districts of Guangzhou with their administrative division codes (the 3rd-8th characters of a
# credit code) and a demo share of the city's IP-intensive SMEs.
DISTRICTS = (
    ("Huangpu", "440112", 0.20), ("Tianhe", "440106", 0.17), ("Panyu", "440113", 0.13),
    ("Nansha", "440115", 0.09), ("Baiyun", "440111", 0.09), ("Haizhu", "440105", 0.08),
    ("Huadu", "440114", 0.06), ("Zengcheng", "440118", 0.06), ("Yuexiu", "440104", 0.05),
    ("Liwan", "440103", 0.04), ("Conghua", "440117", 0.03),
)
SECTOR_SHARES = (0.22, 0.08, 0.14, 0.11, 0.04, 0.08, 0.16, 0.04, 0.13)  # in SECTORS order; demo figures
# Annual PD a bank reports, by sector (bp), before a lognormal spread: demo figures.
SECTOR_PD_BP = (180, 220, 160, 200, 140, 190, 200, 170, 260)

_NAME_SYLLABLES = "瑞科华创新博天智恒德安联中宏信盛达泰康鸿海云星启远立明卓越晶迅汇正源能嘉合思睿航"
_SECTOR_NAME_WORDS = {
    "next_generation_it": ("信息科技", "软件", "网络科技", "电子科技", "数据科技"),
    "new_energy_vehicles": ("新能源汽车科技", "动力电池", "汽车电子", "智能驾驶科技"),
    "biomedicine_health": ("生物科技", "医药科技", "医疗器械", "基因科技", "健康科技"),
    "new_materials_chemicals": ("新材料", "化工科技", "高分子材料", "精细化工"),
    "rail_transit": ("轨道交通科技", "轨道装备", "交通技术"),
    "energy_environment": ("环保科技", "节能科技", "能源技术", "环境工程"),
    "intelligent_equipment": ("智能装备", "机器人", "自动化设备", "精密机械"),
    "satellite_beidou": ("北斗科技", "卫星导航", "空间信息技术", "导航科技"),
    "other": ("文化传播", "食品", "设计", "农业科技", "家居用品"),
}
_SECTOR_SUBJECTS = {
    "next_generation_it": ("分布式数据存储", "图像识别", "边缘计算节点", "工业物联网网关", "数据加密传输"),
    "new_energy_vehicles": ("动力电池热管理", "电机控制器", "车载充电", "电池包结构", "整车能量回收"),
    "biomedicine_health": ("核酸检测试剂", "靶向给药", "医用导管", "细胞培养", "体外诊断"),
    "new_materials_chemicals": ("改性塑料", "石墨烯涂层", "水性树脂", "高强度复合材料", "催化剂制备"),
    "rail_transit": ("轨道检测", "列车制动", "受电弓", "信号控制", "车体减振"),
    "energy_environment": ("污水处理", "废气净化", "光伏逆变", "储能电站", "固废资源化"),
    "intelligent_equipment": ("工业机器人关节", "数控机床主轴", "视觉定位", "自动装配", "智能仓储搬运"),
    "satellite_beidou": ("北斗高精度定位", "卫星信号接收", "导航终端", "时空数据处理", "授时模块"),
    "other": ("茶饮制备", "包装结构", "家具连接件", "食品保鲜", "印刷工艺"),
}
_GEOGRAPHICAL_INDICATIONS = ("增城丝苗米", "从化荔枝蜜", "增城迟菜心", "从化荔枝", "番禺鹦哥髻米", "白云萝岗甜橙")

# Kinds of the pledged assets, by era: gz-2020 covers patents only, so banks pledge patents then.
_KINDS_2020 = ("invention_patent", "utility_model", "design_patent")
_KIND_SHARES_2020 = (0.52, 0.38, 0.10)
_KINDS_2023 = ("invention_patent", "utility_model", "design_patent", "trademark", "ic_layout", "geographical_indication")
_KIND_SHARES_2023 = (0.45, 0.28, 0.07, 0.15, 0.03, 0.02)
_PATENT_TYPE_DIGIT = {"invention_patent": 1, "utility_model": 2, "design_patent": 3}
_ROYALTY_BP = {  # demo ranges of royalty rates (relief from royalty), by kind
    "invention_patent": (300, 800), "utility_model": (150, 500), "design_patent": (100, 400),
    "ic_layout": (200, 600), "trademark": (100, 500), "geographical_indication": (100, 300),
}

# --------------------------------------------------------------------------------------------------
# The book as data


RepaymentPlan = RepaymentIn  # one repayment the demo records, against the installment due on due_date


@dataclass(frozen=True)
class DemoLoan:
    bank_code: str
    application: LoanApplication
    repayments: tuple[RepaymentPlan, ...]
    policy_id: str | None  # the active policy in force on the drawdown date
    cancelled: bool = False
    behaviour: str = "on_time"  # on_time, late_payer, defaulted, recently_past_due, cancelled


@dataclass(frozen=True)
class Appropriation:
    pool: str
    amount_fen: int
    policy_id: str
    on: dt.date


@dataclass(frozen=True)
class DemoBook:
    seed: int
    scale: float
    business_date: dt.date
    banks: tuple[InstitutionSpec, ...]
    institutions: tuple[InstitutionSpec, ...]
    loans: tuple[DemoLoan, ...]  # in registration order (drawdown order)
    appropriations: tuple[Appropriation, ...]

    @property
    def enterprise_count(self) -> int:
        return len({loan.application.borrower.credit_code for loan in self.loans})

    @property
    def repayment_count(self) -> int:
        return sum(len(loan.repayments) for loan in self.loans)


def _check_arguments(seed: int, scale: float) -> tuple[int, float]:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DomainError("invalid_seed", f"seed must be an integer >= 0, got {seed!r}", field="seed")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or not 0 < scale <= 1:
        raise DomainError("invalid_scale", f"scale must be a number in (0, 1], got {scale!r}", field="scale")
    return int(seed), float(scale)


# --------------------------------------------------------------------------------------------------
# Drawing the book


@dataclass
class _EnterpriseDraft:
    credit_code: str
    name: str
    district: str
    sector: str
    registered_on: dt.date | None
    is_sme: bool
    clean_credit: bool
    recent: bool  # registered in the city less than a year before its first loan


def _pick(rng: np.random.Generator, options: Sequence, shares: Sequence[float] | None = None):
    """One of ``options``, uniformly or in proportion to ``shares``."""
    if shares is None:
        return options[int(rng.integers(len(options)))]
    cumulative = _cumulative(tuple(shares))
    return options[min(bisect.bisect_right(cumulative, rng.random() * cumulative[-1]), len(options) - 1)]


@lru_cache(maxsize=64)
def _cumulative(shares: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(itertools.accumulate(shares))


def _days(rng: np.random.Generator, low: int, high: int) -> int:
    """An integer number of days in low..high (both included)."""
    return int(rng.integers(low, high + 1))


def _org_code(rng: np.random.Generator, modern: bool) -> str:
    """A 9-character organisation code (GB 11714: 8 characters and a check character)."""
    if modern:  # codes issued since the 2015 reform start with MA
        body = "MA" + "".join(USCC_ALPHABET[int(i)] for i in rng.integers(0, len(USCC_ALPHABET), 6))
    else:
        body = "".join(str(int(d)) for d in rng.integers(0, 10, 8))
    values = [int(c) if c.isdigit() else ord(c) - ord("A") + 10 for c in body]
    check = 11 - sum(v * w for v, w in zip(values, (3, 7, 9, 10, 5, 8, 4, 2))) % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def _enterprises(rng: np.random.Generator, count: int) -> list[_EnterpriseDraft]:
    names: set[str] = set()
    codes: set[str] = set()
    out = []
    for _ in range(count):
        sector = _pick(rng, SECTORS, SECTOR_SHARES)
        district, division, _share = _pick(rng, DISTRICTS, [d[2] for d in DISTRICTS])
        while True:
            a, b = rng.choice(len(_NAME_SYLLABLES), 2, replace=False)
            word = _pick(rng, _SECTOR_NAME_WORDS[sector])
            city = "广州市" if rng.random() < 0.35 else "广州"
            name = f"{city}{_NAME_SYLLABLES[a]}{_NAME_SYLLABLES[b]}{word}有限公司"
            if name not in names:
                break
        names.add(name)
        while True:
            code = make_uscc("91" + division + _org_code(rng, modern=bool(rng.random() < 0.55)))
            if code not in codes:
                break
        codes.add(code)
        out.append(_EnterpriseDraft(code, name, district, sector, None, True, True, False))
    return out


def _drawdown_dates(rng: np.random.Generator, count: int) -> list[dt.date]:
    """Drawdown dates with a volume growing over the years (density 1 + 2t on the window), on
    weekdays (a Saturday or Sunday moves to the Monday)."""
    span = (LAST_DRAWDOWN - FIRST_DRAWDOWN).days
    u = rng.random(count)
    t = (-1.0 + np.sqrt(1.0 + 8.0 * u)) / 2.0  # inverse of the CDF (t + t^2) / 2
    dates = []
    for offset in np.floor(t * span).astype(int):
        day = FIRST_DRAWDOWN + dt.timedelta(days=int(offset))
        if day.weekday() >= 5:
            day += dt.timedelta(days=7 - day.weekday())
        dates.append(min(day, LAST_DRAWDOWN))
    return sorted(dates)


@dataclass
class _LoanDraft:
    drawdown: dt.date
    borrower: int
    bank: str
    cluster: bool = False
    asset_problem: str | None = None  # lapsed, pending, trademark_only
    behaviour: str = "on_time"
    reports_other_district: bool = False


class _Numbers:
    """Unique IP numbers: patents (rule I2, with check digit), trademarks (I3), IC layouts, GIs."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.used: set[tuple[str, str]] = set()

    def draw(self, kind: str, filing: dt.date) -> str:
        while True:
            if kind in _PATENT_TYPE_DIGIT:
                number = make_patent_number(filing.year, _PATENT_TYPE_DIGIT[kind], int(self.rng.integers(0, 10**7)))
            elif kind == "trademark":
                number = str(int(self.rng.integers(1_000_000, 70_000_000)))
            elif kind == "ic_layout":
                number = f"BS.{filing.year % 100:02d}5{int(self.rng.integers(0, 10**5)):05d}.{int(self.rng.integers(0, 10))}"
            else:
                number = f"AGI{filing.year}-{int(self.rng.integers(0, 10**5)):05d}"
            if (kind, number) not in self.used:
                self.used.add((kind, number))
                return number


def _filing_and_grant(rng: np.random.Generator, kind: str, drawdown: dt.date) -> tuple[dt.date, dt.date]:
    """Filing (application) and grant (registration) dates of an asset pledged at ``drawdown``."""
    ranges = {  # years before drawdown for the filing; months from filing to grant
        "invention_patent": ((2.5, 12.0), (18, 48)),
        "utility_model": ((1.0, 7.0), (5, 14)),
        "design_patent": ((1.0, 7.0), (4, 10)),
        "trademark": ((2.0, 15.0), (9, 18)),
        "ic_layout": ((1.0, 8.0), (3, 8)),
        "geographical_indication": ((3.0, 12.0), (6, 12)),
    }
    (low_y, high_y), (low_m, high_m) = ranges[kind]
    filing = drawdown - dt.timedelta(days=int(rng.uniform(low_y, high_y) * 365.25))
    filing = max(filing, dt.date(2004, 1, 5))  # new-format patent numbers start 2003-10-01
    grant = add_months(filing, int(rng.integers(low_m, high_m + 1)))
    latest_grant = drawdown - dt.timedelta(days=30)
    if grant > latest_grant:
        grant = max(filing, latest_grant)
    return filing, grant


def _title(rng: np.random.Generator, kind: str, sector: str, borrower_name: str) -> str:
    subject = _pick(rng, _SECTOR_SUBJECTS[sector])
    if kind == "invention_patent":
        return _pick(rng, (f"一种{subject}方法及系统", f"一种{subject}装置及其控制方法", f"{subject}的制备方法"))
    if kind == "utility_model":
        return _pick(rng, (f"一种{subject}装置", f"一种{subject}结构", f"一种便于安装的{subject}组件"))
    if kind == "design_patent":
        return f"{subject}设备外壳"
    if kind == "ic_layout":
        return f"{subject}控制芯片布图设计"
    if kind == "trademark":
        core = borrower_name.removeprefix("广州市").removeprefix("广州")[:2]
        return f"{core}（第{int(rng.integers(1, 46))}类）"
    return _pick(rng, _GEOGRAPHICAL_INDICATIONS)


def _valuation_inputs(rng: np.random.Generator, kind: str, principal_fen: int) -> dict[str, int]:
    """Inputs of the income approach (docs/rules.md V2) in integer fen and bp."""
    revenue_units = int(principal_fen * rng.uniform(1.5, 6.0)) // 1_000_000  # whole 10,000 yuan
    low, high = _ROYALTY_BP[kind]
    return {
        "revenue_fen": max(1, revenue_units) * 1_000_000,
        "growth_bp": int(rng.integers(0, 1501)),
        "royalty_bp": int(rng.integers(low, high + 1)),
        "tax_bp": 1500 if rng.random() < 0.8 else 2500,  # most borrowers are high-tech enterprises
        "discount_bp": int(rng.integers(1000, 1801)),
        "decay_bp": int(rng.integers(0, 501)) if kind in ("trademark", "geographical_indication") else int(rng.integers(300, 1501)),
    }


def _assets(
    rng: np.random.Generator, numbers: _Numbers, draft: _LoanDraft, borrower: _EnterpriseDraft,
    ip_part_fen: int, principal_fen: int, policy: Policy | None,
) -> tuple[AssetIn, ...]:
    gz2020 = policy is not None and "trademark" not in policy.eligible_ip_kinds
    kinds_pool, shares = (_KINDS_2020, _KIND_SHARES_2020) if gz2020 else (_KINDS_2023, _KIND_SHARES_2023)
    count = 1 if draft.asset_problem else int(_pick(rng, (1, 2, 3, 4), (0.70, 0.20, 0.08, 0.02)))
    kinds = [_pick(rng, kinds_pool, shares) for _ in range(count)]
    if draft.asset_problem == "trademark_only":
        kinds = ["trademark"]
    elif draft.asset_problem in ("lapsed", "pending"):
        kinds = [_pick(rng, _KINDS_2020, _KIND_SHARES_2020)]
    elif gz2020 and count > 1 and rng.random() < 0.15:
        kinds[-1] = "trademark"  # a trademark pledged beside patents: covered by the patents only
    if borrower.sector != "other":
        kinds = [k if k != "geographical_indication" else "trademark" for k in kinds]
    # Appraised values: the assets support the IP part at the usual pledge rates (rule V3) with a
    # margin; a few fall short (flagged, not refused).
    pledge_rate_bp = load_assumptions().usual_pledge_rate_bp
    support = ip_part_fen * float(np.exp(rng.normal(math.log(1.4), 0.2)))
    weights = rng.dirichlet(np.ones(count)) if count > 1 else np.ones(1)
    appraised_on = draft.drawdown - dt.timedelta(days=_days(rng, 7, 60))
    out = []
    for kind, weight in zip(kinds, weights):
        filing, grant = _filing_and_grant(rng, kind, draft.drawdown)
        units = math.ceil(support * float(weight) * BP_ONE / pledge_rate_bp[kind] / 1_000_000)
        status = "valid"
        if draft.asset_problem == "lapsed":
            status = "lapsed"  # annuity fees unpaid: the patent is no longer in force
        elif draft.asset_problem == "pending":
            status, grant = "pending", None  # an application, not yet granted
        elif count > 1 and rng.random() < 0.03:
            status = "lapsed"
        with_inputs = kind != "geographical_indication" and rng.random() < 0.45
        out.append(AssetIn(
            kind=kind,
            number=numbers.draw(kind, filing),
            title=_title(rng, kind, borrower.sector, borrower.name),
            filing_date=filing,
            grant_date=grant,
            legal_status=status,
            owner_credit_code=borrower.credit_code,
            appraised_value_fen=max(1, units) * 1_000_000,
            appraised_on=max(appraised_on, grant or filing),
            valuation_inputs=_valuation_inputs(rng, kind, principal_fen) if with_inputs else None,
        ))
    return tuple(out)


def _schedule(principal_fen: int, rate_bp: int, drawdown: dt.date, months: int, amortising: bool) -> tuple[InstallmentIn, ...]:
    """Monthly interest (actual/360 on the principal outstanding, one floor per installment) with the
    principal at maturity (bullet) or in equal monthly parts, the remainder on the last (amortising)."""
    dues = [add_months(drawdown, k) for k in range(1, months + 1)]
    if amortising:
        part = principal_fen // months
        principal_dues = [part] * (months - 1) + [principal_fen - part * (months - 1)]
    else:
        principal_dues = [0] * (months - 1) + [principal_fen]
    out = []
    outstanding = principal_fen
    previous = drawdown
    for due, principal_due in zip(dues, principal_dues):
        interest = outstanding * rate_bp * (due - previous).days // (BP_ONE * DAY_COUNT_BASIS)
        out.append(InstallmentIn(due, principal_due, interest))
        outstanding -= principal_due
        previous = due
    return tuple(out)


def _repayments(
    rng: np.random.Generator, schedule: tuple[InstallmentIn, ...], behaviour: str, business_date: dt.date,
    missed_from: dt.date | None,
) -> tuple[RepaymentPlan, ...]:
    """What the borrower paid by the business date. On-time payers pay on the due date (now and then
    a few days late); late payers often pay weeks late, sometimes interest first and principal later;
    a defaulted loan pays nothing from its first missed installment on. Older installments are paid
    first (a payment is never dated after the next installment's first payment), so the payment that
    repays the last of the principal is the loan's last."""
    parts: list[list] = []  # per installment: [installment, interest paid on, principal paid on]
    for inst in schedule:
        if inst.due_date > business_date or (missed_from is not None and inst.due_date >= missed_from):
            break
        late = 0
        if behaviour == "late_payer" and rng.random() < 0.3:
            late = _days(rng, 3, 75)
        elif rng.random() < 0.02:
            late = _days(rng, 1, 10)
        interest_on = inst.due_date + dt.timedelta(days=late)
        principal_on = interest_on
        if late > 20 and inst.principal_due_fen and inst.interest_due_fen and rng.random() < 0.3:
            principal_on = interest_on + dt.timedelta(days=_days(rng, 5, 30))
        parts.append([inst, interest_on, principal_on])
    next_first: dt.date | None = None
    for part in reversed(parts):
        if next_first is not None:
            part[1], part[2] = min(part[1], next_first), min(part[2], next_first)
        next_first = part[1]
    plans: list[RepaymentPlan] = []
    for inst, interest_on, principal_on in parts:
        if interest_on == principal_on:
            if interest_on <= business_date and inst.principal_due_fen + inst.interest_due_fen:
                plans.append(RepaymentPlan(inst.due_date, interest_on, inst.principal_due_fen, inst.interest_due_fen))
            continue
        if interest_on <= business_date:
            plans.append(RepaymentPlan(inst.due_date, interest_on, 0, inst.interest_due_fen))
        if principal_on <= business_date:
            plans.append(RepaymentPlan(inst.due_date, principal_on, inst.principal_due_fen, 0))
    return tuple(sorted(plans, key=lambda p: (p.paid_on, p.due_date, p.principal_fen)))


def _assign_loans(
    rng: np.random.Generator, enterprises: list[_EnterpriseDraft], n_loans: int, n_clusters: int,
    bank_codes: list[str],
) -> list[_LoanDraft]:
    """Who borrows when from which bank. Every enterprise borrows at least once; ``n_clusters``
    enterprises draw three large loans from three banks within a few months of 2024 (the borrower
    quota of gz-2023 then limits or exhausts their cover); the rest go to repeat borrowers."""
    n_ent = len(enterprises)
    drafts: list[_LoanDraft] = []
    cluster_ids = [int(i) for i in rng.choice(n_ent, n_clusters, replace=False)]
    for ent in cluster_ids:
        start = dt.date(2024, 1, 8) + dt.timedelta(days=_days(rng, 0, 200))
        banks = rng.choice(len(bank_codes), 3, replace=False)
        for k, bank in enumerate(banks):
            day = start + dt.timedelta(days=30 * k + _days(rng, 0, 20))
            if day.weekday() >= 5:
                day += dt.timedelta(days=7 - day.weekday())
            drafts.append(_LoanDraft(day, ent, bank_codes[int(bank)], cluster=True))
    others = [i for i in range(n_ent) if i not in set(cluster_ids)]
    remaining = n_loans - len(drafts)
    # Each other enterprise once, then repeat borrowers (a few enterprises borrow often).
    activity = rng.pareto(2.0, n_ent) + 1.0
    activity[cluster_ids] = 0.0
    extra = rng.choice(n_ent, remaining - len(others), p=activity / activity.sum()) if remaining > len(others) else []
    borrowers = np.concatenate([np.asarray(others, dtype=int), np.asarray(extra, dtype=int)])
    rng.shuffle(borrowers)
    for day, ent in zip(_drawdown_dates(rng, len(borrowers)), borrowers):
        drafts.append(_LoanDraft(day, int(ent), _pick(rng, bank_codes, BANK_SHARES)))
    drafts.sort(key=lambda d: d.drawdown)  # registration order; sort is stable
    return drafts


@dataclass(frozen=True)
class _Terms:
    policy: Policy | None
    principal_fen: int
    ip_share_bp: int
    months: int
    amortising: bool
    rate_bp: int


def _scaled(share: float, total: int, at_least: int = 1) -> int:
    return max(at_least, round(share * total))


def _mark_ineligible_borrowers(rng: np.random.Generator, enterprises: list[_EnterpriseDraft], excluded: set[int]) -> None:
    """Each reason of docs/rules.md section 3 about the borrower, at least once: not an SME, a bad credit
    record, registered in the city less than a year before its first loan."""
    chosen = [int(i) for i in rng.permutation([i for i in range(len(enterprises)) if i not in excluded])]
    n = len(enterprises)
    n_not_sme, n_bad, n_recent = _scaled(0.02, n), _scaled(0.02, n), _scaled(0.015, n)
    for i in chosen[:n_not_sme]:
        enterprises[i].is_sme = False
    for i in chosen[n_not_sme:n_not_sme + n_bad]:
        enterprises[i].clean_credit = False
    for i in chosen[n_not_sme + n_bad:n_not_sme + n_bad + n_recent]:
        enterprises[i].recent = True


def _set_registration_dates(rng: np.random.Generator, enterprises: list[_EnterpriseDraft], first_drawdown: dict[int, dt.date]) -> None:
    for i, ent in enumerate(enterprises):
        first = first_drawdown[i]
        if ent.recent:
            ent.registered_on = first - dt.timedelta(days=_days(rng, 20, 330))
        else:
            years = float(rng.uniform(1.5, 20.0))
            ent.registered_on = max(dt.date(1995, 3, 1), first - dt.timedelta(days=int(years * 365.25)))


def _mark_asset_problems(rng: np.random.Generator, drafts: list[_LoanDraft], candidates: list[int], gz2020_end: dt.date) -> None:
    """Loans whose only pledged asset is not in force (lapsed, or an application still pending) or,
    under gz-2020, a trademark: no eligible asset in force."""
    n_problems = _scaled(0.015, len(drafts), at_least=3)
    gz2020 = [i for i in candidates if drafts[i].drawdown <= gz2020_end]
    trademark_only = [int(i) for i in rng.choice(gz2020, max(1, n_problems // 3), replace=False)]
    rest = [i for i in candidates if i not in set(trademark_only)]
    others = [int(i) for i in rng.choice(rest, n_problems - len(trademark_only), replace=False)]
    for i in trademark_only:
        drafts[i].asset_problem = "trademark_only"
    for k, i in enumerate(others):
        drafts[i].asset_problem = "lapsed" if k % 3 else "pending"


def _loan_terms(rng: np.random.Generator, drafts: list[_LoanDraft], policies: Sequence[Policy]) -> list[_Terms]:
    """Principal in whole 10,000 yuan (1-30 million yuan, most near 5 million; quota clusters large),
    IP share, term, repayment shape and a contract rate of LPR plus a spread, within 300-600 bp."""
    lpr = shipped_lpr_table()
    terms = (6, 12, 18, 24, 36)
    term_shares = (0.03, 0.38, 0.08, 0.28, 0.23)
    out = []
    for draft in drafts:
        if draft.cluster:
            principal_units = int(rng.integers(1500, 3001))
            ip_share = int(rng.integers(70, 101)) * 100
        else:
            principal_units = min(3000, max(100, round(math.exp(rng.normal(math.log(500), 0.7)))))
            ip_share = 10_000 if rng.random() < 0.4 else int(rng.integers(30, 96)) * 100
        months = int(_pick(rng, terms, term_shares))
        amortising = months > 6 and rng.random() < 0.4
        rate = min(600, max(300, lpr.rate_on(draft.drawdown) + int(rng.integers(10, 200))))
        out.append(_Terms(policy_in_force(policies, draft.drawdown), principal_units * 1_000_000, ip_share, months, amortising, rate))
    return out


def _assign_behaviours(
    rng: np.random.Generator, drafts: list[_LoanDraft], schedules: list[tuple[InstallmentIn, ...]], pool: list[int],
    default_window: tuple[dt.date, dt.date], business_date: dt.date,
) -> dict[int, dt.date]:
    """Repayment behaviour, returning each missing payer's first missed due date: a few defaults
    (first missed installment in ``default_window``, never the first installment), a few loans
    recently past due (an installment of the last two months unpaid), a few registrations the bank
    cancels (drawn since June 2025), a share of late payers; the rest pay on time."""
    n = len(drafts)
    n_default, n_recent_due, n_cancel = _scaled(0.015, n, at_least=2), _scaled(0.01, n), _scaled(0.003, n)
    order = [int(x) for x in rng.permutation(pool)]
    missed_from: dict[int, dt.date] = {}
    picked: set[int] = set()
    for i in order:
        dues = [s.due_date for s in schedules[i][1:]]
        in_window = [d for d in dues if default_window[0] <= d <= default_window[1]]
        if len(missed_from) < n_default and in_window:
            missed_from[i] = in_window[0]
            drafts[i].behaviour = "defaulted"
            picked.add(i)
    recent_window = (add_months(business_date, -2), business_date)
    recent_due = 0
    for i in order:
        if i in picked or recent_due >= n_recent_due:
            continue
        in_window = [s.due_date for s in schedules[i] if recent_window[0] <= s.due_date < recent_window[1]]
        if in_window:
            missed_from[i] = in_window[0]
            drafts[i].behaviour = "recently_past_due"
            picked.add(i)
            recent_due += 1
    cancelled = 0
    for i in order:
        if i not in picked and cancelled < n_cancel and drafts[i].drawdown >= dt.date(2025, 6, 1):
            drafts[i].behaviour = "cancelled"
            picked.add(i)
            cancelled += 1
    for i in order:
        if i not in picked and rng.random() < LATE_PAYER_SHARE:
            drafts[i].behaviour = "late_payer"
    return missed_from


def _mark_other_district_reports(rng: np.random.Generator, drafts: list[_LoanDraft], loans_of: dict[int, list[int]]) -> None:
    """A later bank reports another district for a few repeat borrowers (kept as that bank's report
    and flagged by the registry, never overwriting the master data)."""
    repeats = [idx for idxs in loans_of.values() for idx in idxs[1:]]
    if repeats:
        for i in rng.choice(repeats, min(len(repeats), _scaled(0.01, len(drafts))), replace=False):
            drafts[int(i)].reports_other_district = True


class _Sequences:
    """Contract numbers per (bank, year) and pledge registration numbers per year."""

    def __init__(self) -> None:
        self.contracts: Counter[tuple[str, int]] = Counter()
        self.pledges: Counter[int] = Counter()

    def contract_no(self, bank: str, year: int) -> str:
        self.contracts[bank, year] += 1
        return f"{BANK_CONTRACT_PREFIX[bank]}ZY{year}-{self.contracts[bank, year]:04d}"

    def pledge_no(self, year: int) -> str:
        self.pledges[year] += 1
        return f"Y{year}44{self.pledges[year]:06d}"


def _application(
    rng: np.random.Generator, numbers: _Numbers, sequences: _Sequences, draft: _LoanDraft, ent: _EnterpriseDraft,
    terms: _Terms, schedule: tuple[InstallmentIn, ...],
) -> LoanApplication:
    policy, principal = terms.policy, terms.principal_fen
    scheme = "50"
    insurer = appraiser = None
    insurer_limit = None
    if policy is not None and policy.id == "gz-2020":
        scheme = _pick(rng, ("55", "5311", "541"), (0.55, 0.25, 0.20))
    if policy is not None:
        named = policy.scheme(scheme)
        if named.names_insurer:
            insurer = _pick(rng, INSURERS).code
            insurer_limit = apply_bp(principal, int(_pick(rng, (3000, 4000, 5000, 6000))))
        if named.names_appraiser:
            appraiser = _pick(rng, APPRAISERS).code
    assets = _assets(rng, numbers, draft, ent, apply_bp(principal, terms.ip_share_bp), principal, policy)
    district = ent.district
    if draft.reports_other_district:
        district = _pick(rng, [d[0] for d in DISTRICTS if d[0] != ent.district])
    year = draft.drawdown.year
    contract_no, pledge_no = sequences.contract_no(draft.bank, year), sequences.pledge_no(year)
    pd_bp = None
    if rng.random() < 0.65:
        pd_bp = min(1500, max(20, round(SECTOR_PD_BP[SECTORS.index(ent.sector)] * math.exp(rng.normal(0.0, 0.5)))))
    return LoanApplication(
        contract_no=contract_no,
        borrower=BorrowerIn(ent.credit_code, ent.name, district, ent.sector, ent.registered_on, ent.is_sme, ent.clean_credit),
        principal_fen=principal,
        contract_rate_bp=terms.rate_bp,
        drawdown_date=draft.drawdown,
        maturity_date=schedule[-1].due_date,
        ip_share_bp=terms.ip_share_bp,
        scheme_code=scheme,
        assets=assets,
        pledge_registration_no=pledge_no,
        pledge_registered_on=draft.drawdown - dt.timedelta(days=_days(rng, 0, 6)),
        schedule=schedule,
        pd_bp=pd_bp,
        insurer_code=insurer,
        insurer_limit_fen=insurer_limit,
        appraiser_code=appraiser,
    )


def build_demo_book(seed: int, *, scale: float = 1.0, business_date: dt.date = DEMO_BUSINESS_DATE) -> DemoBook:
    """Draw the demo book from ``seed`` (``scale`` shrinks it, for tests: 0.05 gives about 100
    enterprises and 150 loans). Pure: no database, no clock.

    >>> book = build_demo_book(1, scale=0.02)
    >>> sorted({loan.application.scheme_code for loan in book.loans})
    ['50', '5311', '541', '55']
    """
    seed, scale = _check_arguments(seed, scale)
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    policies = sorted((p for p in shipped_policies().values() if p.id in DEMO_POLICIES), key=lambda p: p.valid_from)
    n_enterprises = max(len(SECTORS) * 2, round(ENTERPRISES * scale))
    n_clusters = _scaled(QUOTA_CLUSTERS / ENTERPRISES, n_enterprises)
    n_loans = max(n_enterprises + 2 * n_clusters, round(LOANS * scale))

    enterprises = _enterprises(rng, n_enterprises)
    for sector, ent in zip(SECTORS, enterprises):  # every sector present at any scale
        ent.sector = sector
    drafts = _assign_loans(rng, enterprises, n_loans, n_clusters, [b.code for b in BANKS])
    first_drawdown: dict[int, dt.date] = {}
    loans_of: dict[int, list[int]] = {}
    for index, draft in enumerate(drafts):
        first_drawdown.setdefault(draft.borrower, draft.drawdown)
        loans_of.setdefault(draft.borrower, []).append(index)

    _mark_ineligible_borrowers(rng, enterprises, {d.borrower for d in drafts if d.cluster})
    _set_registration_dates(rng, enterprises, first_drawdown)
    eligible_borrower = [e.is_sme and e.clean_credit and not e.recent for e in (enterprises[d.borrower] for d in drafts)]
    candidates = [i for i, d in enumerate(drafts) if not d.cluster and eligible_borrower[i]]
    _mark_asset_problems(rng, drafts, candidates, policies[0].valid_to)
    pool = [i for i in candidates if drafts[i].asset_problem is None]
    terms = _loan_terms(rng, drafts, policies)
    schedules = [_schedule(t.principal_fen, t.rate_bp, d.drawdown, t.months, t.amortising) for t, d in zip(terms, drafts)]
    missed_from = _assign_behaviours(rng, drafts, schedules, pool, _default_window(policies, business_date), business_date)
    _mark_other_district_reports(rng, drafts, loans_of)

    numbers, sequences = _Numbers(rng), _Sequences()
    loans: list[DemoLoan] = []
    for index, (draft, loan_terms, schedule) in enumerate(zip(drafts, terms, schedules)):
        application = _application(rng, numbers, sequences, draft, enterprises[draft.borrower], loan_terms, schedule)
        cancelled = draft.behaviour == "cancelled"
        repayments = () if cancelled else _repayments(rng, schedule, draft.behaviour, business_date, missed_from.get(index))
        policy_id = loan_terms.policy.id if loan_terms.policy else None
        loans.append(DemoLoan(draft.bank, application, repayments, policy_id, cancelled, draft.behaviour))

    return DemoBook(
        seed=seed,
        scale=scale,
        business_date=business_date,
        banks=BANKS,
        institutions=(*BANKS, *INSURERS, *APPRAISERS, FUND_MANAGER, AUDITOR),
        loans=tuple(loans),
        appropriations=_appropriations(policies, business_date),
    )


def _default_window(policies: Sequence[Policy], business_date: dt.date) -> tuple[dt.date, dt.date]:
    """First missed due dates that make a loan claimable on the business date (rule A1:
    ``claim_overdue_days <= d - m <= claim_overdue_days + claim_window_days``) under every
    policy, with two weeks' margin at the old end so claims can still be filed for a while."""
    overdue = max(p.claim_overdue_days or 0 for p in policies)
    window = min(p.claim_window_days or 0 for p in policies)
    return business_date - dt.timedelta(days=overdue + window - 14), business_date - dt.timedelta(days=overdue + 1)


def _appropriations(policies: Sequence[Policy], business_date: dt.date) -> tuple[Appropriation, ...]:
    """Appropriations to the compensation pool as the active policies set them (a one-off on the
    policy's first day; a yearly one on its first day, then on 15 January of each later year), and
    a demo figure to the subsidy pool each year, all up to the business date."""
    out: list[Appropriation] = []
    for policy in policies:
        if policy.appropriation_kind == "once":
            out.append(Appropriation("compensation", policy.appropriation_fen, policy.id, policy.valid_from))
        elif policy.appropriation_kind == "yearly":
            for year in range(policy.valid_from.year, policy.valid_to.year + 1):
                on = policy.valid_from if year == policy.valid_from.year else dt.date(year, 1, 15)
                out.append(Appropriation("compensation", policy.appropriation_fen, policy.id, on))
    for year in range(SUBSIDY_APPROPRIATION_FROM_YEAR, business_date.year + 1):
        on = dt.date(year, 1, 15)
        policy = policy_in_force(policies, on)
        if policy is not None:
            out.append(Appropriation("subsidy", SUBSIDY_APPROPRIATION_FEN, policy.id, on))
    return tuple(sorted((a for a in out if a.on <= business_date), key=lambda a: (a.on, a.pool)))


# --------------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class _Marker:
    seed: int
    scale: float
    state: str


def _marker(session: Session) -> _Marker | None:
    raw = get_setting(session, DEMO_BOOK_KEY)
    if raw is None:
        return None
    data = json.loads(raw)
    return _Marker(int(data["seed"]), float(data["scale"]), str(data["state"]))


def _set_marker(session: Session, seed: int, scale: float, state: str) -> None:
    set_setting(session, DEMO_BOOK_KEY, json.dumps({"seed": seed, "scale": scale, "state": state}))


def _setup(session: Session, book: DemoBook) -> None:
    """Business date, reference data, policies, institutions and appropriations: one transaction."""
    set_setting(session, BUSINESS_DATE_KEY, book.business_date.isoformat())
    seed_reference_data(session)
    load_shipped_policies(session, activate=DEMO_POLICIES)
    ids = {spec.code: add_institution(session, spec.code, spec.name, spec.kind).id for spec in book.institutions}
    # B1: the demo's banks joined the pool under each policy on its first day (docs/rules.md section 12)
    agree_all_banks(session, DEMO_POLICIES, reference="demo pool agreement", today=book.business_date)
    for a in book.appropriations:
        inflow = appropriate(session, pool=a.pool, amount_fen=a.amount_fen, policy_id=a.policy_id, business_date=a.on,
                             actor_id=ids[FUND_MANAGER.code], memo=f"demo book: {a.pool} pool appropriation {a.on.year}")
        # each with its funding document's reference (docs/rules.md section 6)
        reference = f"穗财demo〔{a.on.year}〕{a.pool}-{a.on:%m%d}号"
        session.add(AppropriationRecord(entry_id=inflow.entry_id, pool=a.pool, amount_fen=a.amount_fen, policy_id=a.policy_id,
                                        received_on=a.on, reference=reference, live_reference=reference))
    _set_marker(session, book.seed, book.scale, "loading")


def _batches(items: Sequence[DemoLoan], size: int) -> Iterator[Sequence[DemoLoan]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _segments(loans: Sequence[DemoLoan]) -> list[dict[str, list[DemoLoan]]]:
    """The batch as rounds of per-bank groups, each group one ``register_loans`` call, keeping the
    order that matters: a borrower's loans through different banks are registered in drawdown order
    (its master data is set by its first registration, and its quota is consumed in registration
    order), so such a loan goes to a later round than the borrower's earlier loan; loans of unrelated
    borrowers may be registered in any order."""
    rounds: list[dict[str, list[DemoLoan]]] = []
    last: dict[str, tuple[int, str]] = {}  # borrower -> (round, bank) of its latest loan so far
    for loan in loans:
        code = loan.application.borrower.credit_code
        index = 0
        if code in last:
            previous_round, previous_bank = last[code]
            index = previous_round + (previous_bank != loan.bank_code)
        last[code] = (index, loan.bank_code)
        if index == len(rounds):
            rounds.append({})
        rounds[index].setdefault(loan.bank_code, []).append(loan)
    return rounds


def _write_batch(session: Session, banks: dict[str, Actor], batch: Sequence[DemoLoan], business_date: dt.date) -> None:
    """Register a batch of loans, record their repayments and cancel those the bank cancels."""
    registered: list[tuple[int, DemoLoan]] = []
    for segment in _segments(batch):
        for code, loans in segment.items():
            try:
                rows = register_loans(session, banks[code], [loan.application for loan in loans], business_date)
            except BatchRefused as refused:  # the book breaks a rule: a bug of this module
                index, error = refused.items[0]
                raise DomainError("demo_book_refused", f"demo loan {loans[index].application.contract_no} of {code} "
                                  f"was refused: {error.message}", field=error.field) from None
            registered.extend((row.id, loan) for row, loan in zip(rows, loans))
    by_bank: dict[str, list[tuple[int, RepaymentPlan]]] = {}
    for loan_id, loan in registered:
        by_bank.setdefault(loan.bank_code, []).extend((loan_id, plan) for plan in loan.repayments)
    for code, payments in by_bank.items():
        record_repayments(session, banks[code], payments, business_date)
    for loan_id, loan in registered:
        if loan.cancelled:
            cancel_loan(session, banks[loan.bank_code], loan_id, business_date)


def load_demo(
    session_factory: sessionmaker[Session],
    seed: int,
    if_empty: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    *,
    scale: float = 1.0,
) -> str:
    """Load the demo book drawn from ``seed`` and return a one-line summary.

    Loading the same book again changes nothing; a load that stopped half-way resumes where it
    stopped (each batch of loans is one transaction), with or without ``if_empty``. A database
    holding another seed's (or scale's) demo book, or loans that are not the demo's, is refused
    with ``Conflict("database_not_empty")``; with ``if_empty=True`` it is left alone and the summary
    says so. ``progress(stage, done, total)`` hears of each batch of loans written (the CLI draws a
    bar with it). ``scale`` (0, 1] shrinks the book for tests.

    Loans go through ``register_loans`` (the registry's rules, a bank's batch at a time, each
    borrower's loans in drawdown order); repayments through :func:`record_repayments`.
    """
    seed, scale = _check_arguments(seed, scale)
    with unit_of_work(session_factory) as session:
        finished = _already(session, seed, scale, if_empty)
    if finished is not None:
        return finished
    book = build_demo_book(seed, scale=scale)
    with unit_of_work(session_factory) as session:
        finished = _already(session, seed, scale, if_empty)  # again, now holding the write lock
        if finished is not None:
            return finished
        if _marker(session) is None:
            _setup(session, book)
        banks = {i.code: Actor.of(i) for i in session.scalars(select(Institution).where(Institution.kind == "bank"))}
        done = {(code, contract) for code, contract in session.execute(select(Institution.code, Loan.contract_no).join(Institution, Institution.id == Loan.bank_id))}
    pending = [loan for loan in book.loans if (loan.bank_code, loan.application.contract_no) not in done]
    report = progress or (lambda stage, done, total: None)
    written = len(book.loans) - len(pending)
    report("loans", written, len(book.loans))
    for batch in _batches(pending, LOANS_PER_TRANSACTION):
        with unit_of_work(session_factory) as session:
            _write_batch(session, banks, batch, book.business_date)
        written += len(batch)
        report("loans", written, len(book.loans))
    with unit_of_work(session_factory) as session:
        create_demo_staff(session, seed)  # named people for every institution (fund.services.demo_staff)
        _set_marker(session, seed, scale, "loaded")
        return _summary(session, seed)


def _already(session: Session, seed: int, scale: float, if_empty: bool) -> str | None:
    """The summary when there is nothing to do; None to load (or resume); Conflict when the
    database holds something else."""
    marker = _marker(session)
    loan_count = session.scalar(select(func.count()).select_from(Loan)) or 0
    if marker is not None and (marker.seed, marker.scale) == (seed, scale):
        if marker.state == "loaded":
            return f"demo book (seed {seed}) already loaded: {loan_count} loans; nothing changed"
        return None  # a load that stopped half-way: resume
    if marker is None and not loan_count:
        return None
    if marker is not None:
        what = f"the demo book with seed {marker.seed}" + (f" at scale {marker.scale:g}" if marker.scale != 1.0 else "")
    else:
        what = f"{loan_count} loans that are not the demo book's"
    if if_empty:
        return f"database not empty ({what}): demo book not loaded"
    raise Conflict("database_not_empty", f"the database already holds {what}: the demo book (seed {seed}) loads only into an empty database")


def _summary(session: Session, seed: int) -> str:
    loans = session.scalar(select(func.count()).select_from(Loan)) or 0
    ineligible = session.scalar(select(func.count()).select_from(Loan).where(Loan.coverage == "ineligible")) or 0
    enterprises = session.scalar(select(func.count()).select_from(Enterprise)) or 0
    repayments = session.scalar(select(func.count()).select_from(Repayment)) or 0
    institutions = session.scalar(select(func.count()).select_from(Institution)) or 0
    date = get_setting(session, BUSINESS_DATE_KEY)
    return (f"demo book (seed {seed}) loaded: {institutions} institutions, {enterprises} enterprises, {loans} loans "
            f"({ineligible} ineligible), {repayments} repayments; business date {date}")
