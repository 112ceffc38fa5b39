"""Kill tests for the mutation audit of fund/services/subsidies.py (issue 17): the month's preview, its
run, its statement and the subsidy part of the ledger check, each figure asserted as docs/rules.md
section 5 (S1 to S6) and section 6 say, recomputed here from the rules' own formulas, never copied
from the code's output.

One book per backend for the whole module (module-scoped: building it is most of the cost); every
test works in a session that is rolled back at its end (a run writes nothing until its caller
commits), so the tests see the same book and may run in any order.

The book (business date 2026-10-31; gz-2020 and gz-2023 active):

- ``E3`` (loans ``big`` and ``e3``, BANK1): ``big`` (contract rate 300, under the LPR) had February's
  interest subsidised by February's run (99 000 000, the pool paid it), so April's run leaves E3
  1 000 000 of room under gz-2023's 100 000 000 cap (S3): ``big``'s March repayment (paid 2024-03-10,
  not run yet: taken by April's run) reaches the cap, ``e3``'s April line gets 0; both capped.
- ``old`` (BANK2, gz-2020, drawn 2023-03-10, contract 450, share 8000): its one installment due
  2024-03-10 (the 12th month) paid 2024-03-08: LPR 365.
- ``one`` (BANK1, the rules' example: 385 bp, share 10000, 3 875 000 of interest paid on time:
  1 736 201) and ``two`` (BANK2, 520 bp, share 6000), both paid 2024-04-15.
- ``edge`` (BANK1, 14 months): on 2024-04-10 its 12th installment (due 2025-03-15, admitted) and, the
  same day, its 11th (recorded after it: S3 takes the repayment recorded first) and its 13th (due
  after the subsidy months: not admitted).
- ``late_rep`` (BANK1): May's installment reported first (paid 2024-04-20, stored as past due), then
  April's, paid 2024-04-14: on 2024-04-20 nothing was past due, both admitted (S1).
- Not admitted (S1): ``slow`` paid its April installment a day late; ``early`` paid May's installment
  on 2024-04-20 with April's unpaid (past due on the payment date); ``claimed`` paid after its claim
  was filed; ``not_sme`` is ineligible; ``one`` repaid 1 fen of principal with no interest.
- Fees (S6, gz-2023: 5000 bp, 5 000 000 per loan and kind): on ``one`` an appraisal fee of 6 000 001
  paid 2024-03-01 (3 000 000), a second of 5 000 000 paid 2024-04-02 (capped at 2 000 000), an
  insurance fee of 4 000 000 paid 2024-04-03 (2 000 000: its own room); on ``two`` a guarantee fee of
  1 000 001 paid 2024-04-30, the month's last day (500 000) and an appraisal fee paid 2024-05-02
  (after April); on ``old`` (gz-2020 sets no fee subsidy) and on ``not_sme`` (ineligible) an appraisal
  fee each, which never count.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from contextlib import contextmanager
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from fractions import Fraction
from math import floor

import numpy as np
import pytest
from sqlalchemy import func, select, text

from fund.adapters.db import make_engine, make_session_factory, unit_of_work
from fund.adapters.models.ledger import Deferral, JournalEntry, Posting
from fund.adapters.models.payments import PaymentInstruction
from fund.adapters.models.pool import LoanFee
from fund.adapters.models.registry import Institution, Loan
from fund.adapters.models.subsidies import SubsidyLine, SubsidyRun
from fund.domain.dates import add_months
from fund.domain.registry import InstallmentIn
from fund.errors import Conflict, DomainError, Forbidden
from fund.services.fees import FeeIn, record_fee
from fund.services.ledger import appropriate
from fund.services.registry import Actor, move_status, record_repayment, register_loan
from fund.services import subsidies as svc
from tests.conftest import BACKENDS, _truncate_postgres
from tests.factories import application, asset, borrower, bullet_schedule, setup_reference

D = dt.date
BD = D(2026, 10, 31)
MAR15 = D(2024, 3, 15)  # LPR 345 bp (published 2023-08-21)
RATIO = 5000  # subsidy_ratio_bp of every shipped policy


def s2(interest: int, *, share: int, contract: int, lpr: int, markup: int = 0, ratio: int = RATIO) -> int:
    """docs/rules.md S2, written out: one floor of the exact product."""
    cap_rate = Fraction(lpr * (10_000 + markup), 10_000)
    rate = min(Fraction(contract), cap_rate)
    return floor(Fraction(interest) * Fraction(share, 10_000) * rate / contract * Fraction(ratio, 10_000))


@dataclass
class Book:
    db: object
    actors: dict
    loans: dict  # name -> loan id
    enterprises: dict  # loan name -> enterprise id
    reps: dict  # name -> repayment id
    fees: dict  # name -> fee id
    february_run: int
    backend: str


def _loan(s, bank, n, *, drawdown=MAR15, rate=385, share=10_000, interest=3_875_000, months=12, schedule=None, **extra):
    app = application(drawdown=drawdown, contract_rate_bp=rate, ip_share_bp=share, borrower_n=n,
                      borrower=extra.pop("borrower", borrower(n)), maturity_date=add_months(drawdown, months),
                      schedule=schedule or bullet_schedule(1_000_000_000, drawdown, months, interest=interest), **extra)
    return register_loan(s, bank, app, BD)


#: Set by ``python -m simulations.mutation`` (the run's migrated SQLite file): there the SQLite book is
#: built once, by the first pytest run of the mutation run (its statistics run, before any mutant is
#: active), and copied by every later run, so a mutant costs its tests, not the book's five seconds.
_MUTATION_TEMPLATE = "IPFUND_MUTATION_SQLITE_TEMPLATE"


@pytest.fixture(scope="module", params=BACKENDS)
def book(request, tmp_path_factory):
    cached = None
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("subsidies_kills") / "book.sqlite3"
        template = os.environ.get(_MUTATION_TEMPLATE)
        if template:
            cached = Path(template).with_name("subsidies-kills-book.sqlite3")
        if cached is not None and cached.is_file() and cached.with_suffix(".json").is_file():
            shutil.copy(cached, path)
            engine = make_engine(f"sqlite:///{path}")
            saved = json.loads(cached.with_suffix(".json").read_text(encoding="utf-8"))
            with unit_of_work(make_session_factory(engine)) as s:
                actors = {code: Actor.of(s.get(Institution, saved["actors"][code])) for code in saved["actors"]}
            yield Book(make_session_factory(engine), actors, saved["loans"], saved["enterprises"], saved["reps"], saved["fees"],
                       saved["february_run"], "sqlite")
            engine.dispose()
            return
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_base")
        engine = make_engine(url)
        _truncate_postgres(engine)
        engine.dispose()
    engine = make_engine(url)
    db = make_session_factory(engine)
    built = _build(db)
    if cached is not None:
        engine.dispose()
        partial = cached.with_suffix(".partial")
        shutil.copy(path, partial)
        cached.with_suffix(".json").write_text(json.dumps(
            {**{k: v for k, v in built.__dict__.items() if k not in ("db", "actors", "backend")},
             "actors": {code: actor.institution_id for code, actor in built.actors.items()}}), encoding="utf-8")
        partial.replace(cached)
        engine = make_engine(url)
        built.db = make_session_factory(engine)
    yield built
    engine.dispose()


def _build(db) -> Book:
    """The book of the module's docstring, committed."""
    loans, reps, fees = {}, {}, {}
    with unit_of_work(db) as s:
        actors = setup_reference(s)
        b1, b2 = actors["BANK1"], actors["BANK2"]
        loans["big"] = _loan(s, b1, 3, drawdown=D(2024, 1, 10), rate=300, interest=198_000_000, months=2).id
        loans["old"] = _loan(s, b2, 5, drawdown=D(2023, 3, 10), rate=450, share=8_000, months=12,
                             scheme="55", schedule=(InstallmentIn(D(2024, 3, 10), 1_000_000_000, 2_000_000),)).id
        loans["one"] = _loan(s, b1, 1).id
        loans["two"] = _loan(s, b2, 2, rate=520, share=6_000).id
        loans["e3"] = _loan(s, b1, 3).id
        loans["edge"] = _loan(s, b1, 9, interest=1_000_000, months=14).id
        loans["late_rep"] = _loan(s, b1, 11, interest=1_000_000).id
        loans["slow"] = _loan(s, b1, 12).id
        loans["early"] = _loan(s, b1, 13, interest=1_000_000).id
        loans["claimed"] = _loan(s, b1, 14).id
        loans["not_sme"] = _loan(s, b1, 15, borrower=borrower(15, is_sme=False)).id
    with unit_of_work(db) as s:
        b1, b2 = actors["BANK1"], actors["BANK2"]

        def repay(name, loan, due, paid_on, interest, principal=0):
            reps[name] = record_repayment(s, b1 if loan not in ("old", "two") else b2, loans[loan], due, paid_on,
                                          principal, interest, BD).id

        repay("big_feb", "big", D(2024, 2, 10), D(2024, 2, 9), 198_000_000)
        appropriate(s, pool="subsidy", amount_fen=99_000_000, policy_id="gz-2023", business_date=BD)
    with unit_of_work(db) as s:
        february_run = svc.run_month(s, "2024-02", BD, actor=actors["FM"]).run_id
    with unit_of_work(db) as s:
        b1, b2 = actors["BANK1"], actors["BANK2"]
        repay("big_mar", "big", D(2024, 3, 10), D(2024, 3, 10), 198_000_000, 1_000_000_000)
        repay("old", "old", D(2024, 3, 10), D(2024, 3, 8), 2_000_000, 1_000_000_000)
        repay("edge_12", "edge", D(2025, 3, 15), D(2024, 4, 10), 1_000_000)
        repay("edge_11", "edge", D(2025, 2, 15), D(2024, 4, 10), 1_000_000)
        repay("edge_13", "edge", D(2025, 4, 15), D(2024, 4, 10), 1_000_000)
        repay("e3", "e3", D(2024, 4, 15), D(2024, 4, 12), 3_875_000)
        repay("late_may", "late_rep", D(2024, 5, 15), D(2024, 4, 20), 1_000_000)
        repay("late_apr", "late_rep", D(2024, 4, 15), D(2024, 4, 14), 1_000_000)
        repay("one", "one", D(2024, 4, 15), D(2024, 4, 15), 3_875_000)
        repay("two", "two", D(2024, 4, 15), D(2024, 4, 15), 3_875_000)
        repay("one_principal", "one", D(2025, 3, 15), D(2024, 4, 20), 0, 1)
        repay("slow", "slow", D(2024, 4, 15), D(2024, 4, 16), 3_875_000)
        repay("early", "early", D(2024, 5, 15), D(2024, 4, 20), 1_000_000)
        repay("not_sme", "not_sme", D(2024, 4, 15), D(2024, 4, 15), 3_875_000)
        move_status(s, s.get(Loan, loans["claimed"]), "claim_filed", b1.institution_id, BD)
        repay("claimed", "claimed", D(2024, 4, 15), D(2024, 4, 15), 3_875_000)

        def fee(name, loan, kind, amount, paid_on):
            bank = b1 if loan not in ("old", "two") else b2
            fees[name] = record_fee(s, bank, loans[loan], FeeIn(kind, amount, paid_on, "穗评估所", f"K-{name}"), BD).id

        fee("appraisal_1", "one", "appraisal", 6_000_001, D(2024, 3, 1))
        fee("appraisal_2", "one", "appraisal", 5_000_000, D(2024, 4, 2))
        fee("insurance", "one", "insurance", 4_000_000, D(2024, 4, 3))
        fee("guarantee", "two", "guarantee", 1_000_001, D(2024, 4, 30))
        fee("may", "two", "appraisal", 2_000_000, D(2024, 5, 2))
        fee("old", "old", "appraisal", 2_000_000, D(2024, 3, 1))
        fee("not_sme", "not_sme", "appraisal", 1_000_000, D(2024, 4, 1))  # an ineligible loan (no policy): never counts
    with unit_of_work(db) as s:
        enterprises = {name: s.get(Loan, loan_id).enterprise_id for name, loan_id in loans.items()}
    return Book(db, actors, loans, enterprises, reps, fees, february_run, "built")


@contextmanager
def scratch(book: Book):
    """A session whose work is rolled back at the end (nothing a test does stays in the book)."""
    session = book.db()
    try:
        yield session
    finally:
        session.rollback()
        session.close()



# ---- what the rules say April's run takes, written out ----------------------------------------------

LPR_2024 = 345  # on 2024-01-10 and 2024-03-15 (published 2023-08-21)
LPR_2023 = 365  # on 2023-03-10 (published 2022-08-22)
APRIL_LAST = D(2024, 4, 30)


@dataclass(frozen=True)
class Expected:
    """One interest line as docs/rules.md S1 to S3 make it."""

    rep: str
    loan: str
    policy: str
    paid_on: dt.date
    due: dt.date
    interest: int
    contract: int
    share: int
    lpr: int
    computed: int
    amount: int
    capped: bool

    @property
    def rate_e4(self) -> int:  # S2's rate (the smaller of the contract rate and the LPR cap), in bp x 10^4
        return min(self.contract, self.lpr) * 10_000


def _april() -> list[Expected]:
    """April's interest lines in S3 order: payment date, loan registration, repayment registration."""
    one = s2(3_875_000, share=10_000, contract=385, lpr=LPR_2024)
    assert one == 1_736_201  # docs/rules.md section 10, subsidy.gz
    small = s2(1_000_000, share=10_000, contract=385, lpr=LPR_2024)
    big = s2(198_000_000, share=10_000, contract=300, lpr=LPR_2024)
    assert big == 99_000_000
    return [
        Expected("old", "old", "gz-2020", D(2024, 3, 8), D(2024, 3, 10), 2_000_000, 450, 8_000, LPR_2023,
                 s2(2_000_000, share=8_000, contract=450, lpr=LPR_2023), s2(2_000_000, share=8_000, contract=450, lpr=LPR_2023), False),
        # E3 had 99 000 000 from February: this line reaches gz-2023's cap of 100 000 000 (S3)
        Expected("big_mar", "big", "gz-2023", D(2024, 3, 10), D(2024, 3, 10), 198_000_000, 300, 10_000, LPR_2024, big, 1_000_000, True),
        Expected("edge_12", "edge", "gz-2023", D(2024, 4, 10), D(2025, 3, 15), 1_000_000, 385, 10_000, LPR_2024, small, small, False),
        Expected("edge_11", "edge", "gz-2023", D(2024, 4, 10), D(2025, 2, 15), 1_000_000, 385, 10_000, LPR_2024, small, small, False),
        Expected("e3", "e3", "gz-2023", D(2024, 4, 12), D(2024, 4, 15), 3_875_000, 385, 10_000, LPR_2024, one, 0, True),
        Expected("late_apr", "late_rep", "gz-2023", D(2024, 4, 14), D(2024, 4, 15), 1_000_000, 385, 10_000, LPR_2024, small, small, False),
        Expected("one", "one", "gz-2023", D(2024, 4, 15), D(2024, 4, 15), 3_875_000, 385, 10_000, LPR_2024, one, one, False),
        Expected("two", "two", "gz-2023", D(2024, 4, 15), D(2024, 4, 15), 3_875_000, 520, 6_000, LPR_2024,
                 s2(3_875_000, share=6_000, contract=520, lpr=LPR_2024), s2(3_875_000, share=6_000, contract=520, lpr=LPR_2024), False),
        Expected("late_may", "late_rep", "gz-2023", D(2024, 4, 20), D(2024, 5, 15), 1_000_000, 385, 10_000, LPR_2024, small, small, False),
    ]


@dataclass(frozen=True)
class ExpectedFee:
    """One fee line as S6 makes it: floor(fee x 5000 / 10000), the loan's cap per kind filled in order."""

    fee: str
    loan: str
    kind: str
    fee_fen: int
    paid_on: dt.date
    computed: int
    amount: int
    capped: bool


APRIL_FEES = [  # by payment date, then loan, then fee registration
    ExpectedFee("appraisal_1", "one", "appraisal", 6_000_001, D(2024, 3, 1), 3_000_000, 3_000_000, False),  # fee.1
    ExpectedFee("appraisal_2", "one", "appraisal", 5_000_000, D(2024, 4, 2), 2_500_000, 2_000_000, True),  # fee.2
    ExpectedFee("insurance", "one", "insurance", 4_000_000, D(2024, 4, 3), 2_000_000, 2_000_000, False),  # fee.3
    ExpectedFee("guarantee", "two", "guarantee", 1_000_001, D(2024, 4, 30), 500_000, 500_000, False),
]


def paid_parts(amounts: list[int], cash: int) -> list[int]:
    """S5 with the order of section 5: the cash goes to each line in turn, as far as it reaches."""
    parts = []
    for amount in amounts:
        part = max(0, min(amount, cash))
        parts.append(part)
        cash -= part
    return parts


def expected_preview_lines(book: Book, cash: int) -> list[svc.PreviewLine]:
    lines = _april()
    parts = paid_parts([e.amount for e in lines], cash)
    return [svc.PreviewLine(book.reps[e.rep], book.loans[e.loan], book.enterprises[e.loan], e.policy, e.paid_on, e.interest, e.lpr,
                            e.rate_e4, e.computed, e.amount, e.capped, part, e.amount - part) for e, part in zip(lines, parts)]


def expected_fee_lines(book: Book, cash: int) -> list[svc.PreviewFeeLine]:
    interest = sum(e.amount for e in _april())
    parts = paid_parts([f.amount for f in APRIL_FEES], max(0, cash - interest))
    return [svc.PreviewFeeLine(book.fees[f.fee], book.loans[f.loan], book.enterprises[f.loan], "gz-2023", f.kind, f.fee_fen,
                               f.paid_on, f.computed, f.amount, f.capped, part, f.amount - part)
            for f, part in zip(APRIL_FEES, parts)]


def _fund(session, amount: int) -> None:
    if amount:
        appropriate(session, pool="subsidy", amount_fen=amount, policy_id="gz-2023", business_date=BD)


# cash in the subsidy pool: none; part of an interest line (edge_12 gets 300 000 of 448 051); all the
# interest and 2 500 000 of the first fee line; everything
INTEREST_TOTAL = sum(e.amount for e in _april())
FEE_TOTAL = sum(f.amount for f in APRIL_FEES)
CASHES = (0, 648_888 + 1_000_000 + 300_000, INTEREST_TOTAL + 2_500_000, 10**12)


# ---- the preview ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cash", CASHES)
def test_the_preview_shows_every_line_and_total_the_rules_give(book, cash):
    with scratch(book) as s:
        _fund(s, cash)
        preview = svc.preview_month(s, "2024-04", BD, actor=book.actors["FM"])
    lines, fee_lines = expected_preview_lines(book, cash), expected_fee_lines(book, cash)
    assert list(preview.lines) == lines
    assert list(preview.fee_lines) == fee_lines
    total = INTEREST_TOTAL + FEE_TOTAL
    paid = min(cash, total)
    assert (preview.month, preview.business_date, preview.already_run) == ("2024-04", BD, None)
    assert (preview.line_count, preview.capped_count) == (9, 2)
    assert preview.computed_fen == sum(e.computed for e in _april()) + sum(f.computed for f in APRIL_FEES)
    assert (preview.total_fen, preview.paid_fen, preview.deferred_fen, preview.cash_fen) == (total, paid, total - paid, cash)
    assert (preview.fee_line_count, preview.fee_capped_count, preview.fee_computed_fen, preview.fee_total_fen) == (
        4, 1, 8_000_000, FEE_TOTAL)
    assert preview.interest_total_fen == INTEREST_TOTAL
    assert sum(ln.paid_fen for ln in lines + fee_lines) == paid  # the parts add up to the paid total
    assert preview.line_keys() == [(ln.repayment_id, ln.computed_fen, ln.amount_fen, ln.capped) for ln in lines]
    assert preview.fee_line_keys() == [(f.fee_id, f.computed_fen, f.amount_fen, f.capped) for f in fee_lines]


def test_the_preview_of_a_day_before_the_months_end_stops_at_the_business_date(book):
    # S4: nothing paid after the business date; a fee paid on 2024-04-30 is not taken either
    with scratch(book) as s:
        preview = svc.preview_month(s, "2024-04", D(2024, 4, 12), actor=book.actors["AUD"])
    assert [ln.repayment_id for ln in preview.lines] == [book.reps[r] for r in ("old", "big_mar", "edge_12", "edge_11", "e3")]
    assert [f.fee_id for f in preview.fee_lines] == [book.fees["appraisal_1"], book.fees["appraisal_2"], book.fees["insurance"]]
    assert (preview.business_date, preview.line_count, preview.fee_line_count) == (D(2024, 4, 12), 5, 3)


def test_only_the_fund_manager_and_auditors_preview(book):
    with scratch(book) as s:
        by_auditor = svc.preview_month(s, "2024-04", BD, actor=book.actors["AUD"])
        for who in ("BANK1", "INS1", "APR1"):
            with pytest.raises(Forbidden) as refused:
                svc.preview_month(s, "2024-04", BD, actor=book.actors[who])
            assert (refused.value.code, refused.value.message) == (
                "forbidden", "only the fund manager and auditors preview a subsidy run")
    assert list(by_auditor.lines) == expected_preview_lines(book, 0)


def test_the_preview_of_a_month_already_run_names_the_run_and_the_pools_cash(book):
    with scratch(book) as s:
        _fund(s, 1_234_567)
        preview = svc.preview_month(s, "2024-02", BD, actor=book.actors["FM"])
    assert preview == svc.Preview("2024-02", BD, book.february_run, 0, 0, 0, 0, 0, 0, 1_234_567)
    assert (preview.lines, preview.fee_lines, preview.first_lines(5), preview.line_page(0, 5, "-amount")) == ((), (), (), ())
    with pytest.raises(DomainError) as bad:
        preview.line_page(0, 5, "size")
    assert (bad.value.code, bad.value.field) == ("invalid_sort", "sort")


def test_the_preview_refuses_the_months_the_run_refuses(book):
    fm = book.actors["FM"]
    with scratch(book) as s:
        with pytest.raises(Conflict) as earlier:
            svc.preview_month(s, "2024-01", BD, actor=fm)
        assert (earlier.value.code, earlier.value.field, earlier.value.message) == (
            "month_before_latest_run", "month", "month 2024-01 is before the latest run, 2024-02")
        with pytest.raises(DomainError) as future:
            svc.preview_month(s, "2024-05", D(2024, 4, 30), actor=fm)
        assert (future.value.code, future.value.field, future.value.message) == (
            "month_after_business_date", "month", "month 2024-05 starts after the business date 2024-04-30")
        same_day = svc.preview_month(s, "2024-05", D(2024, 5, 1), actor=fm)  # a month starting on the business date runs
        assert same_day.business_date == D(2024, 5, 1)
        with pytest.raises(DomainError) as bad:
            svc.preview_month(s, "2024-13", BD, actor=fm)
        assert (bad.value.code, bad.value.field) == ("invalid_month", "month")


def test_the_preview_reports_its_progress_from_zero_to_done(book):
    seen = []
    with scratch(book) as s:
        svc.preview_month(s, "2024-04", BD, actor=book.actors["FM"], progress=lambda *step: seen.append(step))
    assert seen == [("select", 0, 1), ("select", 1, 1)]


def test_first_lines_and_pages_in_every_order(book):
    with scratch(book) as s:
        _fund(s, CASHES[1])
        preview = svc.preview_month(s, "2024-04", BD, actor=book.actors["FM"])
    lines = expected_preview_lines(book, CASHES[1])
    for n in (0, 1, 3, 9, 20, None):
        assert list(preview.first_lines(n)) == (lines if n is None else lines[:n])
    assert list(preview.first_lines(-1)) == []
    keys = {"repayment": lambda ln: ln.repayment_id, "loan": lambda ln: ln.loan_id, "interest": lambda ln: ln.interest_fen,
            "computed": lambda ln: ln.computed_fen, "amount": lambda ln: ln.amount_fen, "deferred": lambda ln: ln.deferred_fen}
    for key, of in keys.items():
        # equal keys keep S3 order, ascending and descending alike (each line keeps its own paid part)
        assert list(preview.line_page(0, 100, key)) == sorted(lines, key=of), key
        assert list(preview.line_page(0, 100, "-" + key)) == sorted(lines, key=of, reverse=True), key
        assert list(preview.line_page(2, 3, key)) == sorted(lines, key=of)[2:5], key
    assert list(preview.line_page(0, 100, "paid_on")) == lines == list(preview.line_page(0, 100))  # S3 order by default
    assert list(preview.line_page(0, 100, "-paid_on")) == lines[::-1]
    assert list(preview.line_page(7, 5, "paid_on")) == lines[7:]
    assert list(preview.line_page(-3, 2, "paid_on")) == lines[:2]
    assert list(preview.line_page(1, -2, "amount")) == []
    with pytest.raises(DomainError) as bad:
        preview.line_page(0, 5, "-size")
    assert (bad.value.code, bad.value.field) == ("invalid_sort", "sort")
    assert "paid_on, repayment, loan, interest, computed, amount, deferred" in bad.value.message and "'-size'" in bad.value.message


def test_fee_lines_of_a_cut_off_day(book):
    with scratch(book) as s:
        assert [f for f in svc.month_fee_lines(s, APRIL_LAST)] == [
            svc.FeeLine(*f[:10]) for f in (tuple(getattr(x, n) for n in svc.FeeLine.__dataclass_fields__)
                                           for x in expected_fee_lines(book, 0))]
        assert svc.month_fee_lines(s, APRIL_LAST, lock=True) == svc.month_fee_lines(s, APRIL_LAST)
        assert [f.fee_id for f in svc.month_fee_lines(s, D(2024, 4, 29))] == [book.fees[n] for n in ("appraisal_1", "appraisal_2", "insurance")]
        assert svc.month_fee_lines(s, D(2024, 2, 29)) == () == svc.month_fee_lines(s, D(2024, 2, 29), lock=True)


# ---- the run ------------------------------------------------------------------------------------------


def _enterprise_parts(book: Book, cash: int) -> dict[int, int]:
    """What each enterprise is paid now (S5, section 6's payment instructions): its lines' paid parts."""
    parts: dict[int, int] = {}
    for ln in [*expected_preview_lines(book, cash), *expected_fee_lines(book, cash)]:
        if ln.paid_fen:
            parts[ln.enterprise_id] = parts.get(ln.enterprise_id, 0) + ln.paid_fen
    return parts


@pytest.mark.parametrize("cash", CASHES)
def test_the_run_writes_what_the_rules_give_and_the_preview_showed(book, cash):
    fm = book.actors["FM"]
    seen = []
    total = INTEREST_TOTAL + FEE_TOTAL
    paid = min(cash, total)
    with scratch(book) as s:
        _fund(s, cash)
        preview = svc.preview_month(s, "2024-04", BD, actor=fm)
        loaded = list(s.scalars(select(LoanFee)))
        assert {f.id: f.run_id for f in loaded if f.id == book.fees["appraisal_2"]} == {book.fees["appraisal_2"]: None}
        result = svc.run_month(s, "2024-04", BD, actor=fm, progress=lambda *step: seen.append(step), chunk_size=4)
        assert (result.month, result.created, result.business_date) == ("2024-04", True, BD)
        assert (result.line_count, result.capped_count, result.computed_fen, result.total_fen, result.paid_fen,
                result.deferred_fen) == (9, 2, preview.computed_fen, total, paid, total - paid)
        assert (result.fee_line_count, result.fee_capped_count, result.fee_computed_fen, result.fee_total_fen) == (
            4, 1, 8_000_000, FEE_TOTAL)
        assert result.interest_total_fen == INTEREST_TOTAL
        # each line as S1 to S3 make it, in repayment order, with its cap year (the year of payment)
        written = [(ln.repayment_id, ln.run_id, ln.loan_id, ln.enterprise_id, ln.policy_id, ln.cap_year, ln.interest_fen, ln.lpr_bp,
                    ln.rate_used_bp_e4, ln.computed_fen, ln.amount_fen, ln.capped)
                   for ln in s.scalars(select(SubsidyLine).where(SubsidyLine.run_id == result.run_id).order_by(SubsidyLine.repayment_id))]
        assert written == sorted((book.reps[e.rep], result.run_id, book.loans[e.loan], book.enterprises[e.loan], e.policy, e.paid_on.year,
                                  e.interest, e.lpr, e.rate_e4, e.computed, e.amount, e.capped) for e in _april())
        # the fees it took are marked with the run and their final subsidy; the others are left open
        fees = {f.id: (f.run_id, f.subsidy_fen, f.capped) for f in s.scalars(select(LoanFee))}
        assert fees == {**{book.fees[f.fee]: (result.run_id, f.amount, f.capped) for f in APRIL_FEES},
                        book.fees["may"]: (None, 1_000_000, False), book.fees["old"]: (None, 0, False),
                        book.fees["not_sme"]: (None, 0, False)}
        # and the fee rows this session had read before the run show it too (not what they held before)
        assert {f.id: (f.run_id, f.subsidy_fen) for f in loaded if f.id == book.fees["appraisal_2"]} == {
            book.fees["appraisal_2"]: (result.run_id, 2_000_000)}
        # one entry for the whole run (section 6): two policies, so none on the entry and both in the memo
        entry = s.get(JournalEntry, result.entry_id)
        assert (entry.cause, entry.policy_id, entry.ref_type, entry.ref_id, entry.business_date, entry.actor_id) == (
            "subsidy_run", None, "subsidy_run", result.run_id, BD, fm.institution_id)
        assert entry.memo == "subsidy run 2024-04: 9 lines, 4 fee lines; policies gz-2020, gz-2023"
        postings = {}
        for p in entry.postings:
            postings[p.account_code] = postings.get(p.account_code, 0) + p.amount_fen
        expected_postings = {"expense:subsidy": total, "liability:subsidy_deferred": -(total - paid)}
        if paid:
            expected_postings.update({"pool:subsidy:in_transit": paid, "pool:subsidy:cash": -paid, "liability:subsidy_payable": -paid})
        assert {k: v for k, v in postings.items() if v} == {k: v for k, v in expected_postings.items() if v}
        deferrals = [(d.ref_type, d.ref_id, d.amount_fen) for d in s.scalars(select(Deferral).where(Deferral.pool == "subsidy"))]
        assert deferrals == ([("subsidy_run", result.run_id, total - paid)] if paid < total else [])
        instructions = sorted((i.payee_id, i.payee_type, i.amount_fen, i.entry_id, i.instructed_on) for i in s.scalars(
            select(PaymentInstruction).where(PaymentInstruction.source_type == "subsidy_run", PaymentInstruction.source_id == result.run_id)))
        assert instructions == sorted((e, "enterprise", fen, result.entry_id, BD) for e, fen in _enterprise_parts(book, cash).items())
        assert s.get(SubsidyRun, result.run_id).actor_id == fm.institution_id  # who started the run
        assert svc.ledger_violations(s) == []
        # running the month again changes nothing and shows the run
        again = svc.run_month(s, "2024-04", BD, actor=fm)
        assert again == svc.RunResult(**{**result.__dict__, "created": False})
        listed = svc.list_runs(s)
        assert [(r.month, r.run_id, r.created) for r in listed] == [("2024-02", book.february_run, False), ("2024-04", result.run_id, False)]
        assert listed[1] == again
        feb_entry = s.get(SubsidyRun, book.february_run).entry_id
        assert listed[0] == svc.RunResult(book.february_run, "2024-02", False, BD, 1, 0, 99_000_000, 99_000_000, 99_000_000, 0,
                                          feb_entry, 0, 0, 0, 0)
        assert listed[0].interest_total_fen == 99_000_000
        assert svc.find_run(s, month="2024-04").id == result.run_id == svc.find_run(s, run_id=result.run_id).id
    assert seen == [("select", 0, 1), ("select", 1, 1), ("write", 0, 9), ("write", 4, 9), ("write", 8, 9), ("write", 9, 9)]


def test_a_run_of_one_policys_lines_names_it_and_the_fee_lines_in_its_memo(book):
    fm = book.actors["FM"]
    with scratch(book) as s:
        april = svc.run_month(s, "2024-04", BD, actor=fm)
        fees_only = svc.preview_month(s, "2024-05", BD, actor=fm)
        assert (fees_only.line_count, fees_only.lines, fees_only.first_lines(3)) == (0, (), ())
        assert [(f.fee_id, f.amount_fen, f.paid_fen, f.deferred_fen) for f in fees_only.fee_lines] == [
            (book.fees["may"], 1_000_000, 0, 1_000_000)]
        assert all(fees_only.line_page(0, 10, key) == () and fees_only.line_page(0, 10, "-" + key) == () for key in svc.PREVIEW_SORTS)
        _fund(s, INTEREST_TOTAL + FEE_TOTAL + 400_000)  # settles April's deferral (oldest first, S5), 400 000 left
        may = svc.run_month(s, "2024-05", BD, actor=fm)  # only the appraisal fee on ``two`` paid 2024-05-02 is left
        assert (may.line_count, may.fee_line_count, may.total_fen, may.fee_total_fen, may.paid_fen) == (
            0, 1, 1_000_000, 1_000_000, 400_000)
        assert [(i.payee_id, i.amount_fen) for i in s.scalars(select(PaymentInstruction).where(
            PaymentInstruction.source_type == "subsidy_run", PaymentInstruction.source_id == may.run_id))] == [
            (book.enterprises["two"], 400_000)]
        entry = s.get(JournalEntry, may.entry_id)
        assert (entry.policy_id, entry.memo) == ("gz-2023", "subsidy run 2024-05: 0 lines, 1 fee lines; policies gz-2023")
        february = s.get(JournalEntry, s.get(SubsidyRun, book.february_run).entry_id)
        assert (february.policy_id, february.memo) == ("gz-2023", "subsidy run 2024-02: 1 lines; policies gz-2023")
        # a preview with no interest lines: empty pages in any order, the fee line alone
        empty = svc.preview_month(s, "2024-06", BD, actor=fm)
        assert (empty.line_count, empty.lines, empty.fee_lines, empty.total_fen) == (0, (), (), 0)
        assert all(empty.line_page(0, 10, key) == () for key in svc.PREVIEW_SORTS)
        # May's and June's repayments of ``one``, reported after May's run: June's run has interest lines and no fee line
        for due in (D(2024, 5, 15), D(2024, 6, 15)):
            record_repayment(s, book.actors["BANK1"], book.loans["one"], due, due, 0, 3_875_000, BD)
        june = svc.run_month(s, "2024-06", BD, actor=fm)
        assert (june.line_count, june.fee_line_count, june.total_fen) == (2, 0, 2 * 1_736_201)
        entry = s.get(JournalEntry, june.entry_id)
        assert (entry.policy_id, entry.memo) == ("gz-2023", "subsidy run 2024-06: 2 lines; policies gz-2023")
        july = svc.run_month(s, "2024-07", BD, actor=fm)  # nothing left: no entry
        assert (july.line_count, july.total_fen, july.entry_id) == (0, 0, None)
        assert april.run_id < may.run_id < june.run_id < july.run_id
        assert svc.ledger_violations(s) == []


def test_a_fee_reported_after_the_run_gets_only_the_room_the_run_left(book):
    # S6: a fee a run paid is final and keeps its room in the loan's cap
    with scratch(book) as s:
        svc.run_month(s, "2024-04", BD, actor=book.actors["FM"])
        late = record_fee(s, book.actors["BANK1"], book.loans["one"], FeeIn("appraisal", 400_000, D(2024, 4, 1), "穗评估所", "K-late"), BD)
        other = record_fee(s, book.actors["BANK1"], book.loans["one"], FeeIn("insurance", 7_000_000, D(2024, 5, 3), "穗评估所", "K-late2"), BD)
        lines = svc.month_fee_lines(s, D(2024, 5, 31))
        assert [(f.fee_id, f.kind, f.fee_fen, f.computed_fen, f.amount_fen, f.capped) for f in lines] == [
            (late.id, "appraisal", 400_000, 200_000, 0, True),  # appraisal: 5 000 000 of 5 000 000 used
            (book.fees["may"], "appraisal", 2_000_000, 1_000_000, 1_000_000, False),  # another loan's room
            (other.id, "insurance", 7_000_000, 3_500_000, 3_000_000, True),  # 2 000 000 of insurance used
        ]


def test_only_the_fund_manager_runs_and_a_refused_month_writes_nothing(book):
    with scratch(book) as s:
        for who in ("BANK1", "AUD"):
            with pytest.raises(Forbidden) as refused:
                svc.run_month(s, "2024-04", BD, actor=book.actors[who])
            assert (refused.value.code, refused.value.message) == ("forbidden", "only the fund manager starts a subsidy run")
        with pytest.raises(Conflict) as earlier:
            svc.run_month(s, "2024-01", BD, actor=book.actors["FM"])
        assert earlier.value.code == "month_before_latest_run"
        assert s.scalar(select(func.count()).select_from(SubsidyRun)) == 1


def test_find_run_refusals(book):
    with scratch(book) as s:
        for kwargs in ({}, {"run_id": book.february_run, "month": "2024-02"}):
            with pytest.raises(DomainError) as both:
                svc.find_run(s, **kwargs)
            assert (both.value.code, both.value.field, both.value.message) == ("run_or_month", "run", "give a run id or a month, not both")
        with pytest.raises(DomainError) as missing:
            svc.find_run(s, month="2024-03")
        assert (missing.value.code, missing.value.field, missing.value.message) == (
            "subsidy_run_not_found", "month", "no subsidy run for 2024-03")
        with pytest.raises(DomainError) as missing_id:
            svc.find_run(s, run_id=987_654)
        assert (missing_id.value.code, missing_id.value.field, missing_id.value.message) == (
            "subsidy_run_not_found", "run_id", "no subsidy run 987654")
        with pytest.raises(DomainError) as bad:
            svc.find_run(s, month="2024-00")
        assert bad.value.code == "invalid_month"


# ---- the LPR stop ------------------------------------------------------------------------------------


def test_a_drawdown_past_checked_through_stops_preview_and_run_naming_every_date_and_loan(book):
    # section 2: no rate for a date after checked_through (2025-10-20); nothing is computed or written
    with scratch(book) as s:
        bank = book.actors["BANK1"]
        late = {}
        for n, day in ((31, D(2025, 11, 3)), (32, D(2025, 11, 3)), (33, D(2025, 11, 4))):
            loan = _loan(s, bank, n, drawdown=day, interest=1_000_000, contract_no=f"LPR-{n}",
                         assets=(asset(owner_credit_code=borrower(n).credit_code, serial=90_000 + n),))
            record_repayment(s, bank, loan.id, add_months(day, 1), add_months(day, 1), 0, 1_000_000, BD)
            late[n] = loan.id
        for step in (svc.preview_month, svc.run_month):
            with pytest.raises(DomainError) as stopped:
                step(s, "2025-12", BD, actor=book.actors["FM"])
            e = stopped.value
            assert (e.code, e.field) == ("lpr_not_available", "drawdown_date")
            assert e.message == (f"no LPR for the drawdown date 2025-11-03 (loans {late[31]}, {late[32]}); 2025-11-04 (loans {late[33]}): "
                                 "the table starts on 2015-10-24 and is checked only through 2025-10-20; nothing was written")
            assert e.extra == {"dates": ["2025-11-03", "2025-11-04"], "loan_ids": [late[31], late[32], late[33]]}
        assert s.scalar(select(func.count()).select_from(SubsidyRun)) == 1


def test_the_lpr_stop_lists_ten_dates_and_ten_loans_a_date_and_counts_the_rest(book):
    from fund.services.lpr import lpr_table

    days = [D(2025, 11, k) for k in range(1, 12)]  # eleven dates: one more than listed
    failures = {day: [] for day in days}
    failures[days[0]] = list(range(111, 100, -1))  # eleven loans on the first date (one more than listed), unsorted
    for k, day in enumerate(days[1:], start=1):
        failures[day] = [200 + k]
    with scratch(book) as s:
        table = lpr_table(s)
    with pytest.raises(DomainError) as stopped:
        svc._raise_lpr_stop(table, failures)
    e = stopped.value
    listed = "; ".join([f"2025-11-01 (loans {', '.join(map(str, range(101, 111)))} and 1 more)"]
                       + [f"{days[k].isoformat()} (loans {200 + k})" for k in range(1, 10)] + ["and 1 more date"])
    assert e.message == (f"no LPR for the drawdown date {listed}: the table starts on 2015-10-24 and is checked only through "
                         "2025-10-20; nothing was written")
    assert (e.code, e.field) == ("lpr_not_available", "drawdown_date")
    assert e.extra["dates"] == [d.isoformat() for d in days]
    assert e.extra["loan_ids"] == sorted([*range(101, 112), *range(201, 211)])
    # exactly ten loans and ten dates: nothing "more"
    with pytest.raises(DomainError) as ten:
        svc._raise_lpr_stop(table, {days[k]: ([*range(1, 11)] if k == 0 else [20 + k]) for k in range(10)})
    assert "more" not in ten.value.message and "(loans 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)" in ten.value.message
    # twelve dates: the two not listed are counted in the plural
    with pytest.raises(DomainError) as twelve:
        svc._raise_lpr_stop(table, {D(2025, 11, k): [300 + k] for k in range(1, 13)})
    assert "2025-11-10 (loans 310); and 2 more dates: the table starts" in twelve.value.message


# ---- the statement ----------------------------------------------------------------------------------

BANK_OF = {"old": ("BANK2", "Second Bank"), "two": ("BANK2", "Second Bank")}  # every other loan is BANK1's ("First Bank")
BORROWER_N = {"big": 3, "e3": 3, "old": 5, "one": 1, "two": 2, "edge": 9, "late_rep": 11}


def expected_statement(book: Book, s, run_id: int, paid_total: int) -> list[dict]:
    """The run's statement rows as section 5 says (interest lines in S3 order, then the fee lines), with
    each line's paid part of ``paid_total`` in that order; the loan's registry facts read from the loan."""
    rows = []
    lines = _april()
    parts = paid_parts([e.amount for e in lines] + [f.amount for f in APRIL_FEES], paid_total)
    for k, item in enumerate([*lines, *APRIL_FEES]):
        loan = s.get(Loan, book.loans[item.loan])
        code, name = BANK_OF.get(item.loan, ("BANK1", "First Bank"))
        n = BORROWER_N[item.loan]
        row = dict(month="2024-04", run_id=run_id, bank=code, loan_id=loan.id, contract_no=loan.contract_no,
                   enterprise_credit_code=borrower(n).credit_code, enterprise_name=f"Enterprise {n}",
                   paid_on=item.paid_on, contract_rate_bp=loan.contract_rate_bp, ip_share_bp=loan.ip_share_bp,
                   computed_fen=item.computed, amount_fen=item.amount, capped=item.capped, paid_fen=parts[k],
                   deferred_fen=item.amount - parts[k], bank_name=name)
        if isinstance(item, Expected):
            assert (loan.contract_rate_bp, loan.ip_share_bp) == (item.contract, item.share)
            row.update(repayment_id=book.reps[item.rep], policy_id=item.policy, installment_due=item.due, interest_fen=item.interest,
                       lpr_bp=item.lpr, rate_used_bp=Decimal(min(item.contract, item.lpr)), line_kind="interest", fee_id=None,
                       fee_fen=None)
        else:
            row.update(repayment_id=None, policy_id="gz-2023", installment_due=None, interest_fen=None, lpr_bp=None,
                       rate_used_bp=None, line_kind=item.kind, fee_id=book.fees[item.fee], fee_fen=item.fee_fen)
        rows.append(row)
    return rows


def _as_dicts(rows) -> list[dict]:
    return [dict(zip(svc.STATEMENT_COLUMNS, r.values())) for r in rows]


def test_the_statement_lists_every_line_with_its_parts_for_each_reader(book):
    fm = book.actors["FM"]
    with scratch(book) as s:
        _fund(s, CASHES[2])
        result = svc.run_month(s, "2024-04", BD, actor=fm)
        everything = expected_statement(book, s, result.run_id, CASHES[2])
        scope = svc.statement_scope(s, fm, month="2024-04")
        assert scope.title == f"subsidy run {result.run_id} (2024-04)"
        rows = list(svc.statement_rows(s, scope, batch=2))
        assert _as_dicts(rows) == everything
        assert all(isinstance(r.rate_used_bp, Decimal) for r in rows if r.line_kind == "interest")
        assert svc.statement_line_count(s, scope) == 13
        assert svc.run_paid_total(s, scope.run) == CASHES[2]
        # a bank sees its own loans' lines, with the same parts as the fund's statement
        mine = svc.statement_scope(s, book.actors["BANK2"], run_id=result.run_id)
        assert (mine.bank_code, mine.title) == ("BANK2", f"subsidy run {result.run_id} (2024-04), bank BANK2")
        assert _as_dicts(svc.statement_rows(s, mine)) == [r for r in everything if r["bank"] == "BANK2"]
        assert svc.statement_line_count(s, mine) == 3
        same = svc.statement_scope(s, book.actors["BANK2"], run_id=result.run_id, bank_code="BANK2")
        assert same.bank_code == "BANK2"
        # one enterprise (the fund manager or an auditor may also name a bank)
        ent = svc.statement_scope(s, book.actors["AUD"], run_id=result.run_id, enterprise_code=borrower(1).credit_code)
        assert ent.title == f"subsidy run {result.run_id} (2024-04), enterprise {borrower(1).credit_code}"
        assert _as_dicts(svc.statement_rows(s, ent)) == [r for r in everything if r["enterprise_credit_code"] == borrower(1).credit_code]
        assert svc.statement_line_count(s, ent) == 4
        both = svc.statement_scope(s, fm, run_id=result.run_id, bank_code="BANK1", enterprise_code=borrower(2).credit_code)
        assert both.title == f"subsidy run {result.run_id} (2024-04), bank BANK1, enterprise {borrower(2).credit_code}"
        assert (list(svc.statement_rows(s, both)), svc.statement_line_count(s, both)) == ([], 0)
        bank1_two = svc.statement_scope(s, fm, run_id=result.run_id, bank_code="BANK2", enterprise_code=borrower(2).credit_code)
        assert _as_dicts(svc.statement_rows(s, bank1_two)) == [r for r in everything if r["loan_id"] == book.loans["two"]]
        assert svc.statement_line_count(s, bank1_two) == 2
        # an inflow settles the run's deferral (S5): the lines' paid parts follow, in the same order
        _fund(s, 1_000_000)
        assert svc.run_paid_total(s, scope.run) == CASHES[2] + 1_000_000
        assert _as_dicts(svc.statement_rows(s, scope)) == expected_statement(book, s, result.run_id, CASHES[2] + 1_000_000)
        assert _as_dicts(svc.statement_rows(s, mine)) == [
            r for r in expected_statement(book, s, result.run_id, CASHES[2] + 1_000_000) if r["bank"] == "BANK2"]
        # a run without fee lines lists only its interest lines
        feb = svc.statement_scope(s, fm, run_id=book.february_run)
        (line,) = svc.statement_rows(s, feb)
        assert (line.repayment_id, line.amount_fen, line.paid_fen, line.deferred_fen, line.line_kind) == (
            book.reps["big_feb"], 99_000_000, 99_000_000, 0, "interest")
        assert svc.statement_line_count(s, feb) == 1


def test_statement_scope_refusals(book):
    with scratch(book) as s:
        run_id = book.february_run
        with pytest.raises(Forbidden) as other_bank:
            svc.statement_scope(s, book.actors["BANK2"], run_id=run_id, bank_code="BANK1")
        assert (other_bank.value.code, other_bank.value.field, other_bank.value.message) == (
            "forbidden", "bank", "a bank sees only its own loans' subsidy lines")
        for who in ("INS1", "APR1", "GUA1"):
            with pytest.raises(Forbidden) as refused:
                svc.statement_scope(s, book.actors[who], run_id=run_id)
            assert (refused.value.code, refused.value.message) == (
                "forbidden", "only the fund manager, auditors and banks read subsidy statements")
        for code in ("NOPE", "INS1"):  # not a bank at all, or an institution that is not a bank
            with pytest.raises(DomainError) as unknown:
                svc.statement_scope(s, book.actors["AUD"], run_id=run_id, bank_code=code)
            assert (unknown.value.code, unknown.value.field, unknown.value.message) == (
                "unknown_institution", "bank", f"no bank with code {code!r}")


# ---- the ledger check (rule L, section 6: each subsidy run's entry equals its lines) ------------------


def _run_april(book: Book, s, cash: int = CASHES[1]) -> tuple[int, int, int]:
    _fund(s, cash)
    result = svc.run_month(s, "2024-04", BD, actor=book.actors["FM"])
    assert svc.ledger_violations(s) == []
    return result.run_id, result.entry_id, result.total_fen


def _violations(s, sql, **params) -> list[tuple]:
    """The subsidy findings of rule L's check after one planted break (SQL, or a function of the
    session), undone after."""
    savepoint = s.begin_nested()
    try:
        if callable(sql):
            sql(s)
            s.flush()
        else:
            s.execute(text(sql), params)
        s.expire_all()
        return [(v.rule, v.message, v.entry_id) for v in svc.ledger_violations(s)]
    finally:
        savepoint.rollback()
        s.expire_all()


def test_the_ledger_check_names_each_break_of_a_runs_totals(book):
    with scratch(book) as s:
        run_id, entry_id, total = _run_april(book, s)
        computed = sum(e.computed for e in _april()) + 8_000_000
        paid = CASHES[1]
        where = f"subsidy run {run_id} (2024-04)"
        assert _violations(s, "UPDATE subsidy_runs SET total_fen = total_fen + 1, deferred_fen = deferred_fen + 1 WHERE id = :r",
                           r=run_id) == [
            ("subsidy_run_totals", f"{where} stores total {total + 1}, computed {computed}, 9 lines, 2 capped; "
             f"its lines give {total}, {computed}, 9, 2", None),
            ("subsidy_run_deferral", f"{where}: paid {paid} + deferred {total - paid + 1} (deferrals {total - paid}) "
             f"against lines {total}", entry_id)]
        for column, stored in (("computed_fen", (total, computed - 1, 9, 2)), ("line_count", (total, computed, 8, 2)),
                               ("capped_count", (total, computed, 9, 1))):
            assert _violations(s, f"UPDATE subsidy_runs SET {column} = {column} - 1 WHERE id = :r", r=run_id) == [
                ("subsidy_run_totals", f"{where} stores total {stored[0]}, computed {stored[1]}, {stored[2]} lines, {stored[3]} capped; "
                 f"its lines give {total}, {computed}, 9, 2", None)], column
        for column, stored in (("fee_total_fen", (7_499_999, 8_000_000, 4, 1)), ("fee_computed_fen", (7_500_000, 7_999_999, 4, 1)),
                               ("fee_line_count", (7_500_000, 8_000_000, 3, 1)), ("fee_capped_count", (7_500_000, 8_000_000, 4, 0))):
            assert _violations(s, f"UPDATE subsidy_runs SET {column} = {column} - 1 WHERE id = :r", r=run_id) == [
                ("subsidy_run_fee_totals", f"{where} stores fee lines total {stored[0]}, computed {stored[1]}, {stored[2]} lines, "
                 f"{stored[3]} capped; its fees give 7500000, 8000000, 4, 1", None)], column
        # a fee line above its own subsidy before the cap; and one raised within it (the sums still differ)
        fee = book.fees["appraisal_1"]
        raised = _violations(s, "UPDATE loan_fees SET subsidy_fen = subsidy_fen + 1 WHERE id = :f", f=fee)
        tail = [
            ("subsidy_run_totals", f"{where} stores total {total}, computed {computed}, 9 lines, 2 capped; "
             f"its lines give {total + 1}, {computed}, 9, 2", None),
            ("subsidy_run_fee_totals", f"{where} stores fee lines total 7500000, computed 8000000, 4 lines, 1 capped; "
             "its fees give 7500001, 8000000, 4, 1", None),
            ("subsidy_run_entry_equals_lines", f"{where}: entry {entry_id} expenses {total}, its lines total {total + 1}", entry_id),
            ("subsidy_run_deferral", f"{where}: paid {paid} + deferred {total - paid} (deferrals {total - paid}) against lines {total + 1}",
             entry_id),
        ]
        assert raised == [("subsidy_fee_line_range", f"fee {fee} (run {run_id}) has subsidy 3000001 above its amount before the cap, "
                           "3000000", None), *tail]
        assert _violations(s, "UPDATE loan_fees SET subsidy_fen = subsidy_fen + 1 WHERE id = :f", f=book.fees["appraisal_2"]) == tail
        # a capped mark and a computed amount (of a policy with a fee ratio) come from the fee itself
        assert _violations(s, "UPDATE loan_fees SET capped = NOT capped WHERE id = :f", f=fee) == [
            ("subsidy_run_fee_totals", f"{where} stores fee lines total 7500000, computed 8000000, 4 lines, 1 capped; "
             "its fees give 7500000, 8000000, 4, 2", None)]
        assert _violations(s, "UPDATE loan_fees SET amount_fen = amount_fen + 2 WHERE id = :f", f=fee) == [
            ("subsidy_run_totals", f"{where} stores total {total}, computed {computed}, 9 lines, 2 capped; "
             f"its lines give {total}, {computed + 1}, 9, 2", None),
            ("subsidy_run_fee_totals", f"{where} stores fee lines total 7500000, computed 8000000, 4 lines, 1 capped; "
             "its fees give 7500000, 8000001, 4, 1", None)]
        # a fee of a loan drawn when no policy was in force (no policy) marked taken: its subsidy before the cap is 0
        bank = book.actors["BANK1"]
        nopol = _loan(s, bank, 46, drawdown=D(2020, 3, 2), contract_no="NOPOL-46",
                      assets=(asset(owner_credit_code=borrower(46).credit_code, serial=90_046),))
        assert nopol.policy_id is None
        stray = record_fee(s, bank, nopol.id, FeeIn("appraisal", 1_000_000, D(2020, 3, 1), "穗评估所", "K-nopol"), BD).id
        assert _violations(s, "UPDATE loan_fees SET run_id = :r, subsidy_fen = 1 WHERE id = :f", r=run_id, f=stray)[0] == (
            "subsidy_fee_line_range", f"fee {stray} (run {run_id}) has subsidy 1 above its amount before the cap, 0", None)
        # a fee of a loan without a fee subsidy (gz-2020) marked taken: its subsidy before the cap is 0
        assert _violations(s, "UPDATE loan_fees SET run_id = :r, subsidy_fen = 1 WHERE id = :f", r=run_id, f=book.fees["old"])[0] == (
            "subsidy_fee_line_range", f"fee {book.fees['old']} (run {run_id}) has subsidy 1 above its amount before the cap, 0", None)


def test_the_ledger_check_names_each_break_of_a_runs_entry_and_deferral(book):
    with scratch(book) as s:
        run_id, entry_id, total = _run_april(book, s)
        paid, deferred = CASHES[1], total - CASHES[1]
        where = f"subsidy run {run_id} (2024-04)"
        without_run = ("subsidy_entry_without_run", f"subsidy_run entry {entry_id} belongs to no run", entry_id)
        assert _violations(s, "UPDATE subsidy_runs SET entry_id = NULL WHERE id = :r", r=run_id) == [
            ("subsidy_run_entry", f"{where}: lines total {total} but the run has no entry", None), without_run]
        planted: list[int] = []

        def entry_of(ref_type, ref_id, postings=()):
            """A new subsidy_run entry (entries are append-only) that the run is made to name instead of its own."""
            def plant(s):
                entry = JournalEntry(cause="subsidy_run", policy_id=None, ref_type=ref_type, ref_id=ref_id, business_date=BD)
                s.add(entry)
                s.flush()
                for account, fen in postings:
                    s.add(Posting(entry_id=entry.id, account_code=account, amount_fen=fen))
                s.get(SubsidyRun, run_id).entry_id = entry.id
                planted[:] = [entry.id]
            return plant

        for ref_type, ref_id in (("subsidy_run", run_id + 1000), ("claim", run_id), ("subsidy_run", book.february_run)):
            assert _violations(s, entry_of(ref_type, ref_id)) == [
                ("subsidy_run_entry", f"{where}: entry {planted[0]} is not a subsidy_run entry of this run", planted[0]),
                without_run], (ref_type, ref_id)
        feb_entry = s.get(SubsidyRun, book.february_run).entry_id  # another run's entry
        assert _violations(s, "UPDATE subsidy_runs SET entry_id = :f WHERE id = :r", f=feb_entry, r=run_id) == [
            ("subsidy_run_entry", f"{where}: entry {feb_entry} is not a subsidy_run entry of this run", feb_entry), without_run]
        # an entry of this run whose expense is not the lines' total (the expense postings summed; no other account counts)
        assert _violations(s, entry_of("subsidy_run", run_id, [("expense:subsidy", total - 1), ("expense:subsidy", 2),
                                                               ("liability:subsidy_deferred", -total - 1)])) == [
            ("subsidy_run_entry_equals_lines", f"{where}: entry {planted[0]} expenses {total + 1}, its lines total {total}", planted[0]),
            without_run]
        assert _violations(s, entry_of("subsidy_run", run_id)) == [
            ("subsidy_run_entry_equals_lines", f"{where}: entry {planted[0]} expenses 0, its lines total {total}", planted[0]), without_run]
        assert _violations(s, entry_of("subsidy_run", run_id, [("expense:subsidy", total), ("pool:subsidy:cash", 5),
                                                               ("liability:subsidy_deferred", -total - 5)])) == [without_run]
        assert _violations(s, "DELETE FROM deferrals WHERE ref_type = 'subsidy_run' AND ref_id = :r", r=run_id) == [
            ("subsidy_run_deferral", f"{where}: paid {paid} + deferred {deferred} (deferrals 0) against lines {total}", entry_id)]
        assert _violations(s, "UPDATE subsidy_runs SET paid_fen = paid_fen + 1, deferred_fen = deferred_fen - 1 WHERE id = :r",
                           r=run_id) == [
            ("subsidy_run_deferral", f"{where}: paid {paid + 1} + deferred {deferred - 1} (deferrals {deferred}) against lines {total}",
             entry_id)]
        insert = ("INSERT INTO deferrals (pool, ref_type, ref_id, policy_id, amount_fen, settled_fen, entry_id, business_date) "
                  "VALUES (:pool, :ref_type, :ref, NULL, 5, 0, :e, :day)")
        assert _violations(s, insert, pool="subsidy", ref_type="subsidy_run", ref=999_999, e=entry_id, day=BD) == [
            ("subsidy_deferral_without_run", "a subsidy deferral names run 999999, which does not exist", None)]
        # another pool's deferral or another cause's is not the run's
        assert _violations(s, insert, pool="compensation", ref_type="subsidy_run", ref=run_id, e=entry_id, day=BD) == []
        assert _violations(s, insert, pool="subsidy", ref_type="claim", ref=run_id, e=entry_id, day=BD) == []
        assert _violations(s, insert, pool="subsidy", ref_type="subsidy_run", ref=run_id, e=entry_id, day=BD) == [
            ("subsidy_run_deferral", f"{where}: paid {paid} + deferred {deferred} (deferrals {deferred + 5}) against lines {total}",
             entry_id)]


def test_the_ledger_check_names_a_line_that_does_not_copy_its_repayment(book):
    with scratch(book) as s:
        run_id, _, _ = _run_april(book, s)
        rep = book.reps["two"]
        for change in ("interest_fen = interest_fen + 1", "loan_id = loan_id + 1000", "enterprise_id = enterprise_id + 1",
                       "policy_id = 'gz-2020'"):
            found = _violations(s, f"UPDATE subsidy_lines SET {change} WHERE repayment_id = :p", p=rep)
            assert ("subsidy_line_matches_repayment", f"the line of repayment {rep} (run {run_id}) names another loan, enterprise, "
                    "policy or interest than the repayment and its loan", None) in found, change
            assert {v[0] for v in found} == {"subsidy_line_matches_repayment"}, change
        two = _violations(s, "UPDATE subsidy_lines SET interest_fen = interest_fen + 1 WHERE repayment_id IN (:a, :b)",
                          a=book.reps["one"], b=book.reps["old"])
        assert [v[1].split(" (")[0] for v in two] == [f"the line of repayment {book.reps['old']}", f"the line of repayment {book.reps['one']}"]


def test_the_preview_spends_only_cash_not_held_for_a_returned_payment(book):
    # section 6: a returned amount waits in cash for its payee, ahead of every deferral; it is not spendable
    from fund.services.payments import import_confirmations

    with scratch(book) as s:
        (feb,) = s.scalars(select(PaymentInstruction).where(PaymentInstruction.source_type == "subsidy_run",
                                                            PaymentInstruction.source_id == book.february_run))
        assert (feb.amount_fen, feb.status) == (99_000_000, "instructed")
        import_confirmations(s, book.actors["FM"], [{"instruction_id": str(feb.id), "status": "returned", "date": BD.isoformat(),
                                                     "bank_reference": "", "note": "account closed"}], BD)
        held = svc.preview_month(s, "2024-04", BD, actor=book.actors["FM"])
        assert (held.cash_fen, held.paid_fen) == (0, 0)
        _fund(s, CASHES[1])
        preview = svc.preview_month(s, "2024-04", BD, actor=book.actors["FM"])
        assert (preview.cash_fen, preview.paid_fen) == (CASHES[1], CASHES[1])
        assert list(preview.lines) == expected_preview_lines(book, CASHES[1])
        done = svc.preview_month(s, "2024-02", BD, actor=book.actors["FM"])
        assert (done.already_run, done.cash_fen) == (book.february_run, CASHES[1])


def test_the_fee_part_of_a_slice_of_the_runs_money_falls_on_the_fee_lines_after_every_interest_line(book):
    # section 5: the money reaches the interest lines first (S3 order), then the fee lines (payment date, loan, fee)
    with scratch(book) as s:
        run_id, _, total = _run_april(book, s)
        one, two = book.enterprises["one"], book.enterprises["two"]
        assert svc.fee_parts(s, run_id, 0, INTEREST_TOTAL) == {}
        assert svc.fee_parts(s, run_id, 0, INTEREST_TOTAL + 1) == {one: 1}
        assert svc.fee_parts(s, run_id, INTEREST_TOTAL, INTEREST_TOTAL + 4_000_000) == {one: 4_000_000}
        assert svc.fee_parts(s, run_id, INTEREST_TOTAL + 6_900_000, total) == {one: 100_000, two: 500_000}
        assert svc.fee_parts(s, run_id, INTEREST_TOTAL + 7_000_000, total + 10**9) == {two: 500_000}
        assert svc.fee_parts(s, run_id, 0, total) == {one: 7_000_000, two: 500_000}
        assert svc.fee_parts(s, book.february_run, 0, 10**9) == {}  # a run without fee lines
        assert svc.fee_parts(s, 987_654, 0, 10**9) == {}  # no such run
        assert [(f.fee_id, f.kind, f.fee_fen, f.computed_fen, f.amount_fen, f.capped)
                for f in svc.run_fee_lines(s, s.get(SubsidyRun, run_id))] == [
            (book.fees[f.fee], f.kind, f.fee_fen, f.computed, f.amount, f.capped) for f in APRIL_FEES]
        assert svc.run_fee_lines(s, s.get(SubsidyRun, book.february_run)) == []
        # a fee of a policy without fee subsidies (gz-2020) marked taken by hand: its subsidy before the cap is 0 (S6)
        s.execute(text("UPDATE loan_fees SET run_id = :r WHERE id = :f"), {"r": run_id, "f": book.fees["old"]})
        s.expire_all()
        taken = {f.fee_id: (f.computed_fen, f.amount_fen) for f in svc.run_fee_lines(s, s.get(SubsidyRun, run_id))}
        assert taken[book.fees["old"]] == (0, 0) and len(taken) == 5


def test_the_use_cases_run_as_of_the_business_date(book):
    # section 0: jobs run as of the business date (the tests' 2026-10-31)
    seen = []
    with scratch(book) as s:
        preview = svc.preview(s, book.actors["AUD"], "2024-04", progress=lambda *step: seen.append(("preview", *step)))
        assert (preview.business_date, list(preview.lines)) == (BD, expected_preview_lines(book, 0))
        result = svc.run(s, book.actors["FM"], "2024-04", progress=lambda *step: seen.append(("run", *step)))
        assert (result.business_date, result.created, result.total_fen) == (BD, True, INTEREST_TOTAL + FEE_TOTAL)
    assert seen == [("preview", "select", 0, 1), ("preview", "select", 1, 1), ("run", "select", 0, 1), ("run", "select", 1, 1),
                    ("run", "write", 0, 9), ("run", "write", 9, 9)]


def test_a_preview_leaves_the_garbage_collector_as_it_found_it(book):
    import gc

    with scratch(book) as s:
        assert gc.isenabled()
        svc.preview_month(s, "2024-04", BD, actor=book.actors["FM"])
        assert gc.isenabled()
        gc.disable()
        try:
            svc.preview_month(s, "2024-04", BD, actor=book.actors["FM"])
            assert not gc.isenabled()
        finally:
            gc.enable()


def test_may_after_april_takes_late_reports_and_only_what_s1_admits(book):
    """S1 and S4 on May, after April's run: a repayment stored as past due (its earlier installment
    reported after it) is admitted once nothing was past due on its payment date, counting a payment of
    the earlier installment made that same day and leaving out the installment due that day itself; a
    reversed repayment is no payment (section 3); April's lines of another policy are final and not May's."""
    from fund.services.repayment_reversals import reverse_repayment

    fm, bank = book.actors["FM"], book.actors["BANK1"]
    small, one = s2(1_000_000, share=10_000, contract=385, lpr=LPR_2024), 1_736_201
    with scratch(book) as s:
        _fund(s, INTEREST_TOTAL + FEE_TOTAL + 2 * small + 100)  # April paid in full; 2 * small + 100 left for May
        april = svc.run_month(s, "2024-04", BD, actor=fm)
        p, q = (_loan(s, bank, n, interest=1_000_000, contract_no=f"MAY-{n}",
                      assets=(asset(owner_credit_code=borrower(n).credit_code, serial=90_000 + n),)).id for n in (41, 42))
        p_may = record_repayment(s, bank, p, D(2024, 5, 15), D(2024, 5, 15), 0, 1_000_000, BD)  # April unpaid when recorded
        p_apr = record_repayment(s, bank, p, D(2024, 4, 15), D(2024, 4, 15), 0, 1_000_000, BD)  # reported late, on time
        q_may = record_repayment(s, bank, q, D(2024, 5, 15), D(2024, 5, 10), 0, 1_000_000, BD)
        q_apr = record_repayment(s, bank, q, D(2024, 4, 15), D(2024, 5, 10), 0, 1_000_000, BD)  # paid late: not admitted
        assert (p_may.past_due_at_payment, q_may.past_due_at_payment) == (True, True)
        keyed_twice = record_repayment(s, bank, book.loans["one"], D(2024, 5, 15), D(2024, 5, 14), 0, 3_875_000, BD)
        reverse_repayment(s, bank, book.loans["one"], keyed_twice.id, "keyed twice", BD)
        one_may = record_repayment(s, bank, book.loans["one"], D(2024, 5, 15), D(2024, 5, 15), 0, 3_875_000, BD)
        preview = svc.preview_month(s, "2024-05", BD, actor=fm)
        e_p, e_q = (s.get(Loan, loan_id).enterprise_id for loan_id in (p, q))
        assert [(ln.repayment_id, ln.loan_id, ln.enterprise_id, ln.paid_on, ln.computed_fen, ln.amount_fen, ln.capped)
                for ln in preview.lines] == [
            (p_apr.id, p, e_p, D(2024, 4, 15), small, small, False),
            (q_may.id, q, e_q, D(2024, 5, 10), small, small, False),
            (one_may.id, book.loans["one"], book.enterprises["one"], D(2024, 5, 15), one, one, False),
            (p_may.id, p, e_p, D(2024, 5, 15), small, small, False),
        ]
        assert q_apr.id not in {ln.repayment_id for ln in preview.lines}
        assert [f.fee_id for f in preview.fee_lines] == [book.fees["may"]]
        may = svc.run_month(s, "2024-05", BD, actor=fm)
        assert sorted(preview.line_keys()) == sorted(
            (ln.repayment_id, ln.computed_fen, ln.amount_fen, ln.capped)
            for ln in s.scalars(select(SubsidyLine).where(SubsidyLine.run_id == may.run_id)))
        assert (may.line_count, may.total_fen, may.paid_fen) == (4, 3 * small + one + 1_000_000, 2 * small + 100)
        # the statement in S3 order (on 2024-05-15 the loan registered first comes first, though its repayment was
        # recorded later), the paid money taken in that order, the fee line last
        rows = svc.statement_rows(s, svc.statement_scope(s, fm, run_id=may.run_id))
        assert [(r.repayment_id, r.fee_id, r.amount_fen, r.paid_fen, r.deferred_fen) for r in rows] == [
            (p_apr.id, None, small, small, 0), (q_may.id, None, small, small, 0), (one_may.id, None, one, 100, one - 100),
            (p_may.id, None, small, 0, small), (None, book.fees["may"], 1_000_000, 0, 1_000_000)]
        assert april.run_id < may.run_id
        assert svc.ledger_violations(s) == []


def test_the_statement_splits_a_partly_paid_run_in_s3_order_and_counts_only_this_runs_settlements(book):
    # S5 and section 5: the run's paid money reaches its lines in S3 order; what inflows settle later of
    # its own deferral is paid too; nothing of another run, pool or cause counts
    fm = book.actors["FM"]
    with scratch(book) as s:
        run_id, entry_id, total = _run_april(book, s, CASHES[1])
        scope = svc.statement_scope(s, fm, run_id=run_id)
        assert _as_dicts(svc.statement_rows(s, scope)) == expected_statement(book, s, run_id, CASHES[1])
        feb = s.get(SubsidyRun, book.february_run)
        assert (svc.run_paid_total(s, scope.run), svc.run_paid_total(s, feb)) == (CASHES[1], 99_000_000)
        insert = ("INSERT INTO deferrals (pool, ref_type, ref_id, policy_id, amount_fen, settled_fen, entry_id, business_date) "
                  "VALUES (:pool, :ref_type, :ref, NULL, 50, 50, :e, :day)")
        s.execute(text(insert), {"pool": "compensation", "ref_type": "subsidy_run", "ref": run_id, "e": entry_id, "day": BD})
        s.execute(text(insert), {"pool": "subsidy", "ref_type": "claim", "ref": run_id, "e": entry_id, "day": BD})
        assert svc.run_paid_total(s, scope.run) == CASHES[1]
        _fund(s, 1_000_000)  # settles 1 000 000 of April's deferral (the oldest)
        assert (svc.run_paid_total(s, scope.run), svc.run_paid_total(s, feb)) == (CASHES[1] + 1_000_000, 99_000_000)
        assert _as_dicts(svc.statement_rows(s, scope)) == expected_statement(book, s, run_id, CASHES[1] + 1_000_000)


def test_fee_lines_go_by_payment_date_then_loan_then_fee_whatever_order_they_were_reported(book):
    # section 5 (fee lines in the monthly run): by payment date, then loan registration, then fee registration
    fm, b1, b2 = book.actors["FM"], book.actors["BANK1"], book.actors["BANK2"]
    with scratch(book) as s:
        def fee(bank, loan, kind, amount, paid_on, invoice):
            return record_fee(s, bank, book.loans[loan], FeeIn(kind, amount, paid_on, "穗评估所", invoice), BD).id

        on_two = fee(b2, "two", "appraisal", 600_000, D(2024, 4, 5), "X-1")  # reported first, on the later-registered loan
        on_one = fee(b1, "one", "insurance", 400_000, D(2024, 4, 5), "X-2")  # the same day, on the earlier loan
        on_edge = fee(b1, "edge", "appraisal", 1_000_000, D(2024, 3, 20), "X-3")  # reported last, paid before most
        cash = INTEREST_TOTAL + 3_000_000 + 250_000
        _fund(s, cash)
        order = [book.fees["appraisal_1"], on_edge, book.fees["appraisal_2"], book.fees["insurance"], on_one, on_two,
                 book.fees["guarantee"]]
        amounts = [3_000_000, 500_000, 2_000_000, 2_000_000, 200_000, 300_000, 500_000]
        parts = paid_parts(amounts, cash - INTEREST_TOTAL)
        preview = svc.preview_month(s, "2024-04", BD, actor=fm)
        assert [(f.fee_id, f.amount_fen, f.paid_fen) for f in preview.fee_lines] == list(zip(order, amounts, parts))
        assert [f.fee_id for f in svc.month_fee_lines(s, APRIL_LAST)] == order
        result = svc.run_month(s, "2024-04", BD, actor=fm)
        assert [f.fee_id for f in svc.run_fee_lines(s, s.get(SubsidyRun, result.run_id))] == order
        rows = [r for r in svc.statement_rows(s, svc.statement_scope(s, fm, run_id=result.run_id)) if r.line_kind != "interest"]
        assert [(r.fee_id, r.amount_fen, r.paid_fen, r.deferred_fen) for r in rows] == [
            (f, a, p, a - p) for f, a, p in zip(order, amounts, parts)]
        assert svc.fee_parts(s, result.run_id, INTEREST_TOTAL + 3_000_000, INTEREST_TOTAL + 3_500_000) == {
            book.enterprises["edge"]: 500_000}


def test_two_repayments_stored_as_past_due_on_one_loan_are_judged_each_on_its_own_payment_date(book):
    # S1: "on the payment date no installment of the loan was past due", counting the payments made by then
    fm, bank = book.actors["FM"], book.actors["BANK1"]
    with scratch(book) as s:
        svc.run_month(s, "2024-04", BD, actor=fm)
        loan = _loan(s, bank, 43, interest=1_000_000, contract_no="MAY-43",
                     assets=(asset(owner_credit_code=borrower(43).credit_code, serial=90_043),)).id
        early_may = record_repayment(s, bank, loan, D(2024, 5, 15), D(2024, 4, 20), 0, 1_000_000, BD)  # April unpaid then
        june = record_repayment(s, bank, loan, D(2024, 6, 15), D(2024, 5, 10), 0, 1_000_000, BD)  # April paid by then
        april = record_repayment(s, bank, loan, D(2024, 4, 15), D(2024, 5, 1), 0, 1_000_000, BD)  # paid late
        assert (early_may.past_due_at_payment, june.past_due_at_payment) == (True, True)
        preview = svc.preview_month(s, "2024-05", BD, actor=fm)
        mine = [ln.repayment_id for ln in preview.lines if ln.loan_id == loan]
        assert mine == [june.id]
        assert april.id not in mine


def test_an_earlier_installment_past_due_by_its_principal_keeps_a_later_repayment_out(book):
    # S1 with section 3: an installment is paid when both its principal and its interest are
    fm, bank = book.actors["FM"], book.actors["BANK1"]
    schedule = (InstallmentIn(D(2024, 4, 15), 1, 1_000_000), InstallmentIn(D(2024, 5, 15), 1, 1_000_000),
                InstallmentIn(D(2025, 3, 15), 999_999_998, 1_000_000))
    with scratch(book) as s:
        svc.run_month(s, "2024-04", BD, actor=fm)
        full, short = (_loan(s, bank, n, interest=1_000_000, contract_no=f"MAY-{n}", schedule=schedule,
                             assets=(asset(owner_credit_code=borrower(n).credit_code, serial=90_000 + n),)).id for n in (44, 45))
        full_may = record_repayment(s, bank, full, D(2024, 5, 15), D(2024, 5, 10), 1, 1_000_000, BD)  # April unpaid then
        full_apr = record_repayment(s, bank, full, D(2024, 4, 15), D(2024, 4, 15), 1, 1_000_000, BD)  # in full, on time
        short_may = record_repayment(s, bank, short, D(2024, 5, 15), D(2024, 5, 10), 1, 1_000_000, BD)
        short_apr = record_repayment(s, bank, short, D(2024, 4, 15), D(2024, 4, 15), 0, 1_000_000, BD)  # its 1 fen unpaid
        assert (full_may.past_due_at_payment, short_may.past_due_at_payment) == (True, True)
        preview = svc.preview_month(s, "2024-05", BD, actor=fm)
        taken = {ln.repayment_id for ln in preview.lines if ln.loan_id in (full, short)}
        assert taken == {full_apr.id, full_may.id, short_apr.id}


def test_the_use_cases_read_the_business_date_stored_in_the_database(book):
    # section 0: without IPFUND_BUSINESS_DATE the business date is the one stored (ipfund business-date set)
    from fund.services.common import BUSINESS_DATE_KEY, set_setting
    from fund.settings import reset_settings_cache

    configured = os.environ.pop("IPFUND_BUSINESS_DATE", None)
    reset_settings_cache()
    try:
        with scratch(book) as s:
            set_setting(s, BUSINESS_DATE_KEY, "2024-04-12")
            preview = svc.preview(s, book.actors["FM"], "2024-04")
            assert (preview.business_date, preview.line_count) == (D(2024, 4, 12), 5)
            result = svc.run(s, book.actors["FM"], "2024-04")
            assert (result.business_date, result.line_count) == (D(2024, 4, 12), 5)
    finally:
        if configured is not None:
            os.environ["IPFUND_BUSINESS_DATE"] = configured
        reset_settings_cache()


# ---- session 5: the earlier survivors and the mutants no earlier run reached ---------------------------


def test_the_ledger_check_goes_on_to_the_next_run_after_a_run_without_its_own_entry(book):
    # rule L: every run is checked, whatever an earlier run's finding; the runs in id order
    with scratch(book) as s:
        run_id, entry_id, total = _run_april(book, s)
        paid, deferred = CASHES[1], total - CASHES[1]
        feb, feb_entry = book.february_run, s.get(SubsidyRun, book.february_run).entry_id
        april_deferral = ("subsidy_run_deferral", f"subsidy run {run_id} (2024-04): paid {paid} + deferred {deferred} "
                          f"(deferrals 0) against lines {total}", entry_id)
        feb_without_run = ("subsidy_entry_without_run", f"subsidy_run entry {feb_entry} belongs to no run", feb_entry)

        def breaks(feb_change):
            def plant(s):
                s.execute(text(f"UPDATE subsidy_runs SET {feb_change} WHERE id = :f"), {"f": feb})
                s.execute(text("DELETE FROM deferrals WHERE ref_type = 'subsidy_run' AND ref_id = :r"), {"r": run_id})
            return plant

        assert _violations(s, breaks("entry_id = NULL")) == [
            ("subsidy_run_entry", f"subsidy run {feb} (2024-02): lines total 99000000 but the run has no entry", None),
            april_deferral, feb_without_run]
        assert _violations(s, breaks(f"entry_id = {entry_id}")) == [
            ("subsidy_run_entry", f"subsidy run {feb} (2024-02): entry {entry_id} is not a subsidy_run entry of this run", entry_id),
            april_deferral, feb_without_run]


def test_the_ledger_check_takes_a_runs_entry_without_expense_postings_as_expensing_0(book):
    # rule L: a run's entry expenses what its expense postings add up to: none is 0, which lines of 0 match
    with scratch(book) as s:
        run_id, entry_id, total = _run_april(book, s)
        paid, deferred = CASHES[1], total - CASHES[1]
        computed = sum(e.computed for e in _april()) + 8_000_000
        where = f"subsidy run {run_id} (2024-04)"
        planted: list[int] = []

        def zeroed_with_a_bare_entry(s):
            s.execute(text("UPDATE subsidy_lines SET amount_fen = 0 WHERE run_id = :r"), {"r": run_id})
            s.execute(text("UPDATE loan_fees SET subsidy_fen = 0 WHERE run_id = :r"), {"r": run_id})
            entry = JournalEntry(cause="subsidy_run", policy_id=None, ref_type="subsidy_run", ref_id=run_id, business_date=BD)
            s.add(entry)
            s.flush()
            s.get(SubsidyRun, run_id).entry_id = entry.id
            planted[:] = [entry.id]

        assert _violations(s, zeroed_with_a_bare_entry) == [
            ("subsidy_run_totals", f"{where} stores total {total}, computed {computed}, 9 lines, 2 capped; "
             f"its lines give 0, {computed}, 9, 2", None),
            ("subsidy_run_fee_totals", f"{where} stores fee lines total 7500000, computed 8000000, 4 lines, 1 capped; "
             "its fees give 0, 8000000, 4, 1", None),
            ("subsidy_run_deferral", f"{where}: paid {paid} + deferred {deferred} (deferrals {deferred}) against lines 0", planted[0]),
            ("subsidy_entry_without_run", f"subsidy_run entry {entry_id} belongs to no run", entry_id)]


def test_an_earlier_installment_of_only_1_fen_of_principal_or_of_interest_unpaid_keeps_a_later_repayment_out(book):
    # S1 with section 3: an installment is paid when both its principal and its interest are, however small
    fm, bank = book.actors["FM"], book.actors["BANK1"]
    schedules = {
        47: (InstallmentIn(D(2024, 4, 15), 1, 0), InstallmentIn(D(2024, 5, 15), 0, 1_000_000),
             InstallmentIn(D(2025, 3, 15), 999_999_999, 1_000_000)),  # April: 1 fen of principal, no interest
        48: (InstallmentIn(D(2024, 4, 15), 0, 1), InstallmentIn(D(2024, 5, 15), 0, 1_000_000),
             InstallmentIn(D(2025, 3, 15), 1_000_000_000, 1_000_000)),  # April: 1 fen of interest, no principal
    }
    with scratch(book) as s:
        svc.run_month(s, "2024-04", BD, actor=fm)
        loans = {n: _loan(s, bank, n, interest=1_000_000, contract_no=f"MAY-{n}", schedule=schedules[47 if n % 2 else 48],
                          assets=(asset(owner_credit_code=borrower(n).credit_code, serial=90_000 + n),)).id
                 for n in (47, 48, 49, 50)}  # 49 and 50: the same schedules, April paid in full before May's payment
        may = {n: record_repayment(s, bank, loans[n], D(2024, 5, 15), D(2024, 5, 10), 0, 1_000_000, BD) for n in loans}
        april = {n: record_repayment(s, bank, loans[n], D(2024, 4, 15), D(2024, 5, 9), *((1, 0) if n % 2 else (0, 1)), BD)
                 for n in (49, 50)}  # paid late, recorded after May's
        assert all(rep.past_due_at_payment for rep in may.values())
        preview = svc.preview_month(s, "2024-05", BD, actor=fm)
        taken = {ln.repayment_id for ln in preview.lines if ln.loan_id in loans.values()}
        assert taken == {may[49].id, may[50].id}  # 47, 48: April's 1 fen was past due on 2024-05-10
        assert april[50].interest_fen == 1 and april[50].id not in taken  # paid after its due date (S1)


def test_the_runs_are_listed_in_month_order_whatever_order_they_were_stored_in(book):
    with scratch(book) as s:
        run_id, _, _ = _run_april(book, s)
        s.execute(text("UPDATE subsidy_runs SET month = '2024-01' WHERE id = :r"), {"r": run_id})
        s.expire_all()
        assert [(r.month, r.run_id) for r in svc.list_runs(s)] == [("2024-01", run_id), ("2024-02", book.february_run)]


def _without_foreign_key_checks(s) -> None:
    """Foreign keys left unchecked until the (rolled back) end of the transaction: the only way to plant a
    line whose repayment or run does not exist, which the ledger check still looks for."""
    if s.get_bind().dialect.name == "sqlite":
        s.execute(text("PRAGMA defer_foreign_keys = ON"))
    else:
        s.execute(text("SET LOCAL session_replication_role = replica"))


def test_the_ledger_check_names_a_line_without_its_repayment_and_lines_or_fees_naming_no_run(book):
    # rule L: every line names an existing run and repayment (the lines' own keys, checked here too)
    with scratch(book) as s:
        feb, feb_entry = book.february_run, s.get(SubsidyRun, book.february_run).entry_id
        where = f"subsidy run {feb} (2024-02)"

        def line_without_repayment(s):
            _without_foreign_key_checks(s)
            s.execute(text("UPDATE subsidy_lines SET repayment_id = 999999 WHERE repayment_id = :p"), {"p": book.reps["big_feb"]})

        assert _violations(s, line_without_repayment) == [
            ("subsidy_line_without_repayment", f"run {feb} has a line for repayment 999999, which does not exist", None)]

        def nothing_of_their_run(s):
            _without_foreign_key_checks(s)
            s.execute(text("UPDATE subsidy_lines SET run_id = 999999 WHERE run_id = :r"), {"r": feb})
            s.execute(text("UPDATE loan_fees SET run_id = 999998 WHERE id = :f"), {"f": book.fees["appraisal_1"]})

        assert _violations(s, nothing_of_their_run) == [
            ("subsidy_run_totals", f"{where} stores total 99000000, computed 99000000, 1 lines, 0 capped; its lines give 0, 0, 0, 0", None),
            ("subsidy_run_entry_equals_lines", f"{where}: entry {feb_entry} expenses 99000000, its lines total 0", feb_entry),
            ("subsidy_run_deferral", f"{where}: paid 99000000 + deferred 0 (deferrals 0) against lines 0", feb_entry),
            ("subsidy_lines_without_run", "lines name run 999998, which does not exist", None),  # a fee line's run
            ("subsidy_lines_without_run", "lines name run 999999, which does not exist", None),
        ]


def test_a_runs_result_carries_its_timings_and_a_listed_run_none(book):
    # the console's run command reports these phases (fund/cli/subsidies.py)
    with scratch(book) as s:
        started = time.perf_counter()
        result = svc.run_month(s, "2024-04", BD, actor=book.actors["FM"])
        took = time.perf_counter() - started
        assert set(result.timings_s) == {"select", "compute", "ledger", "write"}
        assert all(isinstance(t, float) and t >= 0 for t in result.timings_s.values())
        assert sum(result.timings_s.values()) <= took  # consecutive phases of the call
        assert [r.timings_s for r in svc.list_runs(s)] == [{}, {}]
        assert svc.run_month(s, "2024-04", BD, actor=book.actors["FM"]).timings_s == {}


def test_the_run_marks_each_fee_it_takes_with_the_subsidy_it_paid(book):
    # S6: a fee a run paid is final, with the subsidy and the capped mark of its fee line (whatever was stored before)
    with scratch(book) as s:
        s.execute(text("UPDATE loan_fees SET subsidy_fen = 1, capped = NOT capped WHERE run_id IS NULL"))
        s.expire_all()
        run_id = svc.run_month(s, "2024-04", BD, actor=book.actors["FM"]).run_id
        marked = {f.id: (f.run_id, f.subsidy_fen, f.capped) for f in s.scalars(select(LoanFee).where(LoanFee.run_id == run_id))}
        assert marked == {book.fees[f.fee]: (run_id, f.amount, f.capped) for f in APRIL_FEES}


class _HookFired(Exception):
    pass


def test_the_crash_hook_fires_once_the_lines_it_names_are_written_and_reports_them(book, monkeypatch, capfd):
    # the crash-safety test's hook (tests/test_subsidy_crash.py kills a run with it in a child process): here its
    # SIGKILL is caught, so the hook's trigger and report are checked in process
    fired = []

    def kill(pid, sig):
        fired.append((pid, sig))
        raise _HookFired

    monkeypatch.setenv(svc.KILL_HOOK_ENV, "4")
    monkeypatch.setattr(os, "kill", kill)
    with scratch(book) as s:
        _fund(s, CASHES[1])
        with pytest.raises(_HookFired):
            svc.run_month(s, "2024-04", BD, actor=book.actors["FM"], chunk_size=4)
        (run,) = s.scalars(select(SubsidyRun).where(SubsidyRun.month == "2024-04"))
        written = s.scalar(select(func.count()).select_from(SubsidyLine).where(SubsidyLine.run_id == run.id))
        postings = s.scalar(select(func.count()).select_from(Posting).where(Posting.entry_id == run.entry_id))
        run_id = run.id
    assert fired == [(os.getpid(), signal.SIGKILL)]
    assert (written, postings) == (4, 5)  # the first chunk; expense, deferred, in transit, cash, payable
    assert (f"test hook: 4 lines and 5 postings written in the open transaction of run {run_id}; SIGKILL\n"
            in capfd.readouterr().err)
    # the hook fires when a chunk reaches the count, not only past it; never without the variable
    monkeypatch.setenv(svc.KILL_HOOK_ENV, "9")
    with scratch(book) as s, pytest.raises(_HookFired):
        svc.run_month(s, "2024-04", BD, actor=book.actors["FM"], chunk_size=4)
    monkeypatch.delenv(svc.KILL_HOOK_ENV)
    with scratch(book) as s:
        assert svc.run_month(s, "2024-04", BD, actor=book.actors["FM"], chunk_size=4).line_count == 9
    assert len(fired) == 2


def test_the_run_locks_the_loans_of_the_fees_it_takes_until_its_transaction_ends(book):
    # a fee reported meanwhile waits for the run (its loan's row is locked): PostgreSQL (SQLite locks the whole file)
    if book.db.kw["bind"].dialect.name == "sqlite":
        pytest.skip("row locks: PostgreSQL only")
    from sqlalchemy.exc import OperationalError

    with scratch(book) as s, scratch(book) as other:
        svc.run_month(s, "2024-04", BD, actor=book.actors["FM"])
        lock = text("SELECT id FROM loans WHERE id = :l FOR UPDATE NOWAIT")
        for name in ("one", "two"):  # April's fee lines are on these loans
            savepoint = other.begin_nested()
            with pytest.raises(OperationalError, match="could not obtain lock"):
                other.execute(lock, {"l": book.loans[name]})
            savepoint.rollback()
        assert other.scalar(lock, {"l": book.loans["edge"]}) == book.loans["edge"]  # no fee: not locked
    with scratch(book) as s, scratch(book) as other:  # a preview reads and locks nothing
        svc.preview_month(s, "2024-04", BD, actor=book.actors["FM"])
        assert other.scalar(text("SELECT id FROM loans WHERE id = :l FOR UPDATE NOWAIT"), {"l": book.loans["one"]}) == book.loans["one"]


def test_the_ledger_check_names_the_first_20_lines_of_each_kind_of_break_by_repayment(book):
    # rule L's report of broken lines stops at 20 of each kind (the lowest repayment ids), however many there are
    bank = book.actors["BANK1"]
    schedule = tuple(InstallmentIn(add_months(MAR15, k), 1_000_000_000 if k == 24 else 0, 1_000) for k in range(1, 25))
    with scratch(book) as s:
        feb = book.february_run
        loan = _loan(s, bank, 51, months=24, schedule=schedule, contract_no="LONG-51",
                     assets=(asset(owner_credit_code=borrower(51).credit_code, serial=90_051),))
        reps = [record_repayment(s, bank, loan.id, inst.due_date, inst.due_date, 0, 1_000, BD).id for inst in schedule]
        columns = ("repayment_id, run_id, loan_id, enterprise_id, policy_id, cap_year, interest_fen, lpr_bp, rate_used_bp_e4, "
                   "computed_fen, amount_fen, capped")
        insert = text(f"INSERT INTO subsidy_lines ({columns}) VALUES (:rep, :run, :loan, :ent, 'gz-2023', 2024, :interest, 345, "
                      "3450000, 0, 0, false)")

        def lines_for(rep_ids, *, interest):
            def plant(s):
                _without_foreign_key_checks(s)
                for rep in reversed(rep_ids):  # stored against the order reported
                    s.execute(insert, {"rep": rep, "run": feb, "loan": loan.id, "ent": loan.enterprise_id, "interest": interest})
            return plant

        def of_kind(found, rule):
            return [v for v in found if v[0] == rule]

        mismatched = of_kind(_violations(s, lines_for(reps, interest=999)), "subsidy_line_matches_repayment")
        assert mismatched == [("subsidy_line_matches_repayment", f"the line of repayment {rep} (run {feb}) names another loan, "
                               "enterprise, policy or interest than the repayment and its loan", None) for rep in reps[:20]]
        missing = of_kind(_violations(s, lines_for(range(990_001, 990_025), interest=1_000)), "subsidy_line_without_repayment")
        assert missing == [("subsidy_line_without_repayment", f"run {feb} has a line for repayment {rep}, which does not exist", None)
                           for rep in range(990_001, 990_021)]


def test_the_cap_room_earlier_runs_used_is_summed_per_enterprise_policy_and_year(book):
    # S3: the cap is per enterprise, policy and year of payment; earlier runs' grants count, and whether they cut a line
    with scratch(book) as s:
        _run_april(book, s)
        # E3's lines in two years of one policy, and edge's under two policies in one year (each its own key)
        s.execute(text("UPDATE subsidy_lines SET cap_year = 2025 WHERE repayment_id = :p"), {"p": book.reps["e3"]})
        s.execute(text("UPDATE subsidy_lines SET policy_id = 'gz-2020' WHERE repayment_id = :p"), {"p": book.reps["edge_11"]})
        lines = s.execute(select(SubsidyLine.enterprise_id, SubsidyLine.policy_id, SubsidyLine.cap_year, SubsidyLine.amount_fen,
                                 SubsidyLine.capped)).all()
        policy_index = {"gz-2020": 0, "gz-2023": 1}
        expected: dict[int, tuple[int, bool]] = {}
        for enterprise, policy, year, amount, capped in lines:
            code = (enterprise * 2 + policy_index[policy]) * 10_000 + year
            granted, cut = expected.get(code, (0, False))
            expected[code] = (granted + amount, cut or bool(capped))
        e3, edge, small = book.enterprises["big"], book.enterprises["edge"], s2(1_000_000, share=10_000, contract=385, lpr=LPR_2024)
        assert expected[(e3 * 2 + 1) * 10_000 + 2024] == (100_000_000, True)  # February's and April's
        assert expected[(e3 * 2 + 1) * 10_000 + 2025] == (0, True)
        assert expected[(edge * 2 + 0) * 10_000 + 2024] == expected[(edge * 2 + 1) * 10_000 + 2024] == (small, False)
        absent = [(book.enterprises["one"] * 2 + 0) * 10_000 + 2024, (book.enterprises["slow"] * 2 + 1) * 10_000 + 2024]
        keys = sorted([*expected, *absent])
        prior = svc._prior_cap_states(s, np.array(keys, dtype=np.int64), policy_index)
        assert [(p.granted_fen, p.cut) for p in prior] == [expected.get(k, (0, False)) for k in keys]


def test_s1s_subsidy_months_end_on_the_drawdown_day_twelve_months_on_even_at_a_months_end(book):
    # S1: due within the policy's 12 subsidy months from the drawdown date (add_months: the 31st stays the month's end)
    fm, bank = book.actors["FM"], book.actors["BANK1"]
    mid = (InstallmentIn(D(2025, 3, 15), 0, 1_000_000), InstallmentIn(D(2025, 3, 20), 1_000_000_000, 1_000_000))
    end = (InstallmentIn(D(2025, 3, 31), 1_000_000_000, 1_000_000),)
    with scratch(book) as s:
        svc.run_month(s, "2024-04", BD, actor=fm)
        a = _loan(s, bank, 52, months=13, schedule=mid, contract_no="LIMIT-52",
                  assets=(asset(owner_credit_code=borrower(52).credit_code, serial=90_052),)).id
        b = _loan(s, bank, 53, drawdown=D(2024, 3, 31), schedule=end, contract_no="LIMIT-53",
                  assets=(asset(owner_credit_code=borrower(53).credit_code, serial=90_053),)).id
        on_limit = record_repayment(s, bank, a, D(2025, 3, 15), D(2024, 5, 6), 0, 1_000_000, BD)
        past = record_repayment(s, bank, a, D(2025, 3, 20), D(2024, 5, 6), 0, 1_000_000, BD)  # 5 days past the 12 months
        month_end = record_repayment(s, bank, b, D(2025, 3, 31), D(2024, 5, 6), 0, 1_000_000, BD)
        preview = svc.preview_month(s, "2024-05", BD, actor=fm)
        taken = {ln.repayment_id for ln in preview.lines if ln.loan_id in (a, b)}
        assert taken == {on_limit.id, month_end.id} and past.id not in taken


def test_a_loans_fees_of_one_kind_fill_its_cap_by_payment_date_whatever_their_kinds_and_registration_order(book):
    # S6 (fees.refill): per loan and kind, the cap (5 000 000 under gz-2023) is filled by payment date, then registration
    fm, bank = book.actors["FM"], book.actors["BANK1"]
    with scratch(book) as s:
        loan = _loan(s, bank, 54, contract_no="FEES-54", assets=(asset(owner_credit_code=borrower(54).credit_code, serial=90_054),)).id

        def fee(kind, amount, paid_on):
            return record_fee(s, bank, loan, FeeIn(kind, amount, paid_on, "穗评估所", f"K-54-{kind}-{paid_on}"), BD).id

        later = fee("appraisal", 8_000_000, D(2024, 4, 20))  # reported first, paid last
        first = fee("appraisal", 4_000_000, D(2024, 4, 10))
        between = fee("insurance", 6_000_000, D(2024, 4, 12))  # another kind paid between them: its own room
        preview = svc.preview_month(s, "2024-04", BD, actor=fm)
        mine = [(f.fee_id, f.computed_fen, f.amount_fen, f.capped) for f in preview.fee_lines if f.loan_id == loan]
        assert mine == [(first, 2_000_000, 2_000_000, False), (between, 3_000_000, 3_000_000, False),
                        (later, 4_000_000, 3_000_000, True)]


# ---- session 6: the open survivors ------------------------------------------------------------------


def test_a_month_refused_as_text_is_named_in_the_refusal(book):
    # the run's month is YYYY-MM; a refusal names what was given (fund.domain.dates.month_bounds's message)
    with scratch(book) as s:
        for month in ("2024-13", "April"):
            with pytest.raises(DomainError) as refused:
                svc.find_run(s, month=month)
            assert (refused.value.code, refused.value.message) == ("invalid_month", f"month must be YYYY-MM, got {month!r}")


def test_a_repayment_of_1_fen_of_interest_is_a_line_of_0(book):
    # S1: a repayment earns a line when it pays interest (interest_fen > 0); S2 floors 1 fen's subsidy to 0
    fm, bank = book.actors["FM"], book.actors["BANK1"]
    with scratch(book) as s:
        loan = _loan(s, bank, 61, contract_no="FEN-61", assets=(asset(owner_credit_code=borrower(61).credit_code, serial=90_061),)).id
        rep = record_repayment(s, bank, loan, D(2024, 4, 15), D(2024, 4, 10), 0, 1, BD)  # April's installment, on time
        preview = svc.preview_month(s, "2024-04", BD, actor=fm)
        mine = [(ln.repayment_id, ln.interest_fen, ln.computed_fen, ln.amount_fen) for ln in preview.lines if ln.loan_id == loan]
        assert mine == [(rep.id, 1, s2(1, share=10_000, contract=385, lpr=LPR_2024), 0)]
        assert preview.line_count == len(_april()) + 1


def test_fees_taken_earlier_keep_their_room_per_loan_even_of_one_kind_on_two_loans(book):
    # S6: a fee a run paid keeps its room in its own loan's cap per kind (5 000 000 under gz-2023); another loan's
    # fees of the same kind take nothing from it
    fm, b1, b2 = book.actors["FM"], book.actors["BANK1"], book.actors["BANK2"]
    with scratch(book) as s:
        earlier = record_fee(s, b2, book.loans["two"], FeeIn("appraisal", 9_000_000, D(2024, 4, 5), "穗评估所", "R-61"), BD).id
        run_id = svc.run_month(s, "2024-04", BD, actor=fm).run_id
        assert {f.fee_id: f.amount_fen for f in svc.run_fee_lines(s, s.get(SubsidyRun, run_id))}[earlier] == 4_500_000
        # "one"'s appraisals took 3 000 000 + 2 000 000 in April (its cap), "two"'s 4 500 000
        on_one = record_fee(s, b1, book.loans["one"], FeeIn("appraisal", 1_000_000, D(2024, 5, 3), "穗评估所", "R-62"), BD).id
        lines = svc.month_fee_lines(s, D(2024, 5, 31))
        assert [(f.fee_id, f.computed_fen, f.amount_fen, f.capped) for f in lines] == [
            (book.fees["may"], 1_000_000, 500_000, True),  # paid 2024-05-02: the 500 000 "two" has left
            (on_one, 500_000, 0, True),  # "one" has no room left
        ]


def test_a_fee_on_a_loan_cancelled_since_is_never_taken(book):
    # S6: a fee counts when its loan is eligible and not cancelled
    fm, bank = book.actors["FM"], book.actors["BANK1"]
    from fund.services.registry import cancel_loan

    with scratch(book) as s:
        loan = _loan(s, bank, 62, contract_no="CXL-62", assets=(asset(owner_credit_code=borrower(62).credit_code, serial=90_062),)).id
        fee = record_fee(s, bank, loan, FeeIn("appraisal", 1_000_000, D(2024, 4, 5), "穗评估所", "C-62"), BD).id
        assert [f.fee_id for f in svc.month_fee_lines(s, APRIL_LAST) if f.loan_id == loan] == [fee]  # counts while active
        cancel_loan(s, bank, loan, BD)
        s.flush()
        assert [f.fee_id for f in svc.month_fee_lines(s, APRIL_LAST) if f.loan_id == loan] == []
        assert [f.fee_id for f in svc.preview_month(s, "2024-04", BD, actor=fm).fee_lines] == [book.fees[f.fee] for f in APRIL_FEES]


def test_the_enterprise_cap_is_the_policy_of_the_line_for_an_enterprise_numbered_in_the_thousands(book):
    # S3: the cap is per enterprise, policy and year, each policy's own (gz-2023: 100 000 000; gz-2020: 50 000 000),
    # whatever the enterprise's number: E3 renumbered 5000 (a book of thousands of enterprises)
    with scratch(book) as s:
        _without_foreign_key_checks(s)
        e3 = book.enterprises["big"]
        for table in ("enterprises", "loans", "subsidy_lines"):
            column = "id" if table == "enterprises" else "enterprise_id"
            s.execute(text(f"UPDATE {table} SET {column} = 5000 WHERE {column} = :e"), {"e": e3})
        s.expire_all()
        preview = svc.preview_month(s, "2024-04", BD, actor=book.actors["FM"])
        mine = {ln.repayment_id: (ln.enterprise_id, ln.policy_id, ln.amount_fen, ln.capped) for ln in preview.lines
                if ln.loan_id in (book.loans["big"], book.loans["e3"])}
        assert mine == {book.reps["big_mar"]: (5000, "gz-2023", 1_000_000, True), book.reps["e3"]: (5000, "gz-2023", 0, True)}


def test_the_crash_hook_counts_only_its_runs_postings(book, monkeypatch, capfd):
    # the hook reports the run's lines and the postings of the run's own entry, not another entry naming the same id
    from fund.services.ledger import cash_account, expense_account

    def kill(pid, sig):
        raise _HookFired

    monkeypatch.setattr(os, "kill", kill)
    with scratch(book) as s:
        _fund(s, CASHES[1])
        run_id = svc.run_month(s, "2024-04", BD, actor=book.actors["FM"]).run_id
        other = JournalEntry(cause="correction", ref_type="claim", ref_id=run_id, business_date=BD, memo="same id, other kind")
        s.add(other)
        s.flush()
        s.add_all([Posting(entry_id=other.id, account_code=cash_account("subsidy"), amount_fen=1),
                   Posting(entry_id=other.id, account_code=expense_account("subsidy"), amount_fen=-1)])
        s.flush()
        with pytest.raises(_HookFired):
            svc._die_for_test(s, run_id)
    assert (f"test hook: 9 lines and 5 postings written in the open transaction of run {run_id}; SIGKILL\n"
            in capfd.readouterr().err)


def test_a_per_loan_column_past_int64_is_spread_as_python_integers(book):
    # _per_row's docstring: int64 when every value fits, else Python integers (exact)
    big = 2**63 + 7
    spread = svc._per_row([big, 3], np.array([1, 0, 0, 1]))
    assert spread.tolist() == [3, big, big, 3] and spread.dtype == object  # not numpy's uint64 either
    assert svc._per_row([2, 3], np.array([1, 0])).dtype == np.int64


def test_a_fee_of_a_loan_under_no_policy_leaves_the_next_loans_fees_to_the_run(book):
    # S6: a fee counts under its loan's policy; a loan drawn when no policy was in force (before gz-2020's
    # 2020-07-08) has none, and the fees of the loans registered after it still count
    bank = book.actors["BANK1"]
    with scratch(book) as s:
        bare = _loan(s, bank, 63, drawdown=D(2020, 1, 10), months=60, contract_no="BARE-63",
                     assets=(asset(owner_credit_code=borrower(63).credit_code, serial=90_063),))
        assert bare.policy_id is None
        later = _loan(s, bank, 64, contract_no="NEXT-64", assets=(asset(owner_credit_code=borrower(64).credit_code, serial=90_064),)).id
        record_fee(s, bank, bare.id, FeeIn("appraisal", 1_000_000, D(2024, 4, 5), "穗评估所", "B-63"), BD)
        fee = record_fee(s, bank, later, FeeIn("appraisal", 1_000_000, D(2024, 4, 6), "穗评估所", "B-64"), BD).id
        lines = svc.month_fee_lines(s, APRIL_LAST)
        assert [(f.fee_id, f.amount_fen) for f in lines if f.loan_id in (bare.id, later)] == [(fee, 500_000)]


@pytest.mark.parametrize("cash", CASHES)
def test_a_runs_fee_lines_carry_what_its_money_paid_of_them_after_every_interest_line(book, cash):
    # S5 and section 5: the run's paid money goes to every interest line first, then to the fee lines in
    # their order; what an inflow settles later of the run's own deferral is paid too
    with scratch(book) as s:
        run_id, _, total = _run_april(book, s, cash)
        run = s.get(SubsidyRun, run_id)

        def expected(paid_total: int) -> list[tuple[int, int, int]]:
            parts = paid_parts([f.amount for f in APRIL_FEES], max(0, paid_total - INTEREST_TOTAL))
            return [(book.fees[f.fee], f.amount, part) for f, part in zip(APRIL_FEES, parts)]

        paid = min(cash, total)
        assert [(f.fee_id, f.amount_fen, part) for f, part in svc.run_fee_lines_paid(s, run)] == expected(paid)
        if paid < total:
            _fund(s, 1_000_000)  # settles up to 1 000 000 of the run's deferral
            s.expire_all()
            paid = min(paid + 1_000_000, total)
            assert [(f.fee_id, f.amount_fen, part) for f, part in svc.run_fee_lines_paid(s, run)] == expected(paid)
        assert svc.run_fee_lines_paid(s, s.get(SubsidyRun, book.february_run)) == []  # a run without fee lines


def test_ties_of_one_loan_and_day_go_by_repayment_and_fee_id_however_the_rows_are_stored(book):
    # section 5: a run's interest lines in S3 order (payment date, loan, repayment) and its fee lines by
    # payment date, loan and fee id, whatever the storage order: on PostgreSQL a row deleted and inserted again
    # is stored after the others (in the table and in its indexes), so an order without its last key would
    # follow storage (checked with each of the two rows of a tie moved last in turn; an UPDATE would not do:
    # a HOT update keeps the row's place in its indexes)
    if book.db.kw["bind"].dialect.name == "sqlite":
        pytest.skip("SQLite stores a table in id order: a scan without ORDER BY is already in id order")
    fm, bank = book.actors["FM"], book.actors["BANK1"]
    schedule = (InstallmentIn(D(2024, 5, 15), 1, 1_000_000), InstallmentIn(D(2024, 6, 15), 1, 1_000_000),
                InstallmentIn(D(2025, 3, 15), 999_999_998, 1_000_000))
    with scratch(book) as s:
        svc.run_month(s, "2024-04", BD, actor=fm)
        loan = _loan(s, bank, 46, interest=1_000_000, contract_no="TIE-46", schedule=schedule,
                     assets=(asset(owner_credit_code=borrower(46).credit_code, serial=90_046),)).id
        reps = [record_repayment(s, bank, loan, due, D(2024, 5, 10), 1, 1_000_000, BD).id
                for due in (D(2024, 5, 15), D(2024, 6, 15))]  # both paid early, on one day
        fees = [record_fee(s, bank, loan, FeeIn(kind, 400_000, D(2024, 5, 12), "穗评估所", f"T-{kind}"), BD).id
                for kind in ("appraisal", "insurance")]
        run = s.get(SubsidyRun, svc.run_month(s, "2024-05", BD, actor=fm).run_id)
        scope = svc.statement_scope(s, fm, run_id=run.id)

        def order():
            s.expire_all()
            rows = [r for r in svc.statement_rows(s, scope) if r.loan_id == loan]
            return ([r.repayment_id for r in rows if r.repayment_id is not None],
                    [f.fee_id for f in svc.run_fee_lines(s, run) if f.loan_id == loan])

        assert order() == (reps, fees)
        for rep, fee in zip(reps, fees):  # the first of each tie stored last, then the second
            s.execute(text("WITH gone AS (DELETE FROM subsidy_lines WHERE repayment_id = :r RETURNING *) "
                           "INSERT INTO subsidy_lines SELECT * FROM gone"), {"r": rep})
            s.execute(text("WITH gone AS (DELETE FROM loan_fees WHERE id = :f RETURNING *) "
                           "INSERT INTO loan_fees SELECT * FROM gone"), {"f": fee})
            assert order() == (reps, fees)
