"""A hypothesis state machine drives random registrations (by banks in and out of the pool), claims,
withdrawals, rejections, approvals, appropriations, recoveries, closings, pool agreements, lifted
suspensions, reported fees and monthly subsidy runs paying the fee lines against a real database
(SQLite and PostgreSQL), with the business date moving forward. After every step that touched the
database the ledger check finds nothing and the database matches an in-memory model of coverage
(B1, B2, the borrower quota), the claim window, each party's shares and recoveries, the bank caps,
both pools' cash and deferrals, the agreements and suspensions, the fee subsidies and the runs that
paid them, computed here with plain ints (never by calling the services, ``risk.allocation`` or
``fund.domain``): docs/rules.md sections 3, 4 (rule A), 5 (S4, S6) and 12 (rule B).

The run counts the kinds of step that test the model's hard parts (:data:`STEP_FLOORS`: an approval
under a bank cap, a cut by the cap, a cut because the cap remembers what the year already used, a
deferral, a partial first-in-first-out settlement across several open deferrals, a recovery, a
close, an agreement, a registration outside the pool or while suspended, a suspension, a lift, a
suspension measured again after a lift, fees subsidised, cut by the cap, reordered by a late fee
and refused for mixing insurance and guarantee, runs paying fee lines and deferring, fees after a
run), prints them and asserts a floor for each: a machine
that never reaches the cap cannot catch a cap that forgets what was used, nor one that settles the
newest deferral first.

The draws are shaped for that: runs start mostly in gz-2023's years; a few loans per bank, so that
several claims fall in one bank-year; losses drawn as a share of the bank's in-pool lending (so that
the 500 bp cap and the 300 bp line are in reach: a loss of 6% of the lending takes 3% as the fund's
share, under the cap alone and cut by it after one earlier approval); little or no cash, so that
approvals defer; inflows sized to settle part of the queue."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import shutil
from collections import Counter

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import select, text

import fund.adapters.models  # noqa: F401  (registers every table, for emptying PostgreSQL)
from fund.adapters.db import make_engine, make_session_factory
from fund.adapters.models.base import Base
from fund.adapters.models.claims import BankCapUsage, Claim
from fund.adapters.models.ledger import Deferral
from fund.adapters.models.pool import BankSuspension, LoanFee, PoolAgreement
from fund.adapters.models.registry import Loan
from fund.errors import DomainError
from fund.adapters.models.subsidies import SubsidyRun
from fund.services import ledger, subsidies
from fund.services import pool as pool_service
from fund.services.common import add_institution
from fund.services.fees import FeeIn, record_fee
from fund.services.registry import Actor
from tests.test_claims_support import World

D = dt.date
GZ2020_FROM, GZ2020_TO, GZ2023_FROM, GZ2023_TO = D(2020, 7, 8), D(2023, 7, 12), D(2023, 7, 13), D(2028, 1, 18)
LAST_DAY = D(2027, 12, 31)
SCHEMES = {  # as the shipped policy files say; the model keeps its own copy
    "gz-2020": {"55": {"fund": 5000, "bank": 5000},
                "5311": {"fund": 5000, "insurer": 3000, "appraiser": 1000, "bank": 1000},
                "541": {"fund": 5000, "insurer": 4000, "bank": 1000}},
    "gz-2023": {"50": {"fund": 5000, "bank": 5000}},
}
#: the business dates a run may start on: gz-2020's years, the turn of the policies, gz-2023's years
#: (most of them: its bank cap, loss line and fee subsidies are what the machine is for), among them
#: the first days of a year whose book was drawn the year before (the quota goes by drawdown year,
#: the cap by approval year)
STARTS = (D(2021, 3, 1), D(2023, 10, 9), D(2024, 9, 2), D(2025, 5, 6), D(2025, 11, 3), D(2026, 3, 2), D(2027, 1, 4))
BANKS = ("BANK1", "BANK2", "BANK3")  # BANK3 is added by the machine with no pool agreement (B1)
#: the agreements the factories record: BANK1 and BANK2 under each policy from its first day
FACTORY_AGREEMENTS = {(bank, policy): start for bank in ("BANK1", "BANK2")
                      for policy, start in (("gz-2020", GZ2020_FROM), ("gz-2023", GZ2023_FROM))}
#: each step kind must happen at least this many times over the run's examples. The examples are
#: derandomized, so the counts are the same on every run and on both backends; each floor is about
#: half of what the run takes today (printed beside it), so a change of the draws that loses a kind fails.
STEP_FLOORS = {
    "approved under a cap": 23, "cut by the cap": 16, "cut after the year's earlier use": 10, "deferral": 36,
    "partial FIFO settlement": 18, "recovery": 21, "close": 11,
    "agreement recorded": 14, "registered outside the pool": 35, "registered while suspended": 1, "suspended": 17,
    "lift": 9, "suspended again after a lift": 0,  # not reached by these draws yet: counted and printed
    "fee subsidised": 64, "fee cut by the loan's cap": 16, "fee reordered by a late fee": 21, "fee refused: insurance or guarantee": 12,
    "monthly run paid fee lines": 12, "monthly run deferred": 12, "fee after a run paid the loan's fees": 12,
}
EXAMPLES, STEPS = 40, 24
FEES_PER_RUN = 10  # fees reported per example at most (so that they do not crowd out the claims)
GZ2023_SINGLE_CAP, GZ2023_QUOTA, GZ2023_BANK_CAP_BP = 1_000_000_000, 2_000_000_000, 500
GZ2023_SUSPENSION_LINE_BP = 300  # B2
GZ2023_FEE_RATIO_BP, GZ2023_FEE_CAP, GZ2023_SUBSIDY_MONTHS = 5000, 5_000_000, 12  # S6
OVERDUE_DAYS, WINDOW_DAYS = 90, 365
MAX_FEN = 10**12
FEE_KINDS = ("appraisal", "insurance", "guarantee")

amounts = st.one_of(st.integers(1, MAX_FEN), st.integers(1, 10_000), st.sampled_from([1, 10**8, 10**9, MAX_FEN]))
book_principals = st.integers(10**7, 10**9)  # covered in full under gz-2023 (the single-loan cap is 10**9)
IP_SHARES = (10_000, 7_000, 10_000, 3_333)  # of the book's loans, in turn
_files, _invoices = itertools.count(), itertools.count(1)


def add_months(day: dt.date, months: int) -> dt.date:
    """docs/rules.md section 0: keep the day of month, clamped to the month's end (the model's own)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    following = D(year + (month == 12), month % 12 + 1, 1)
    return D(year, month, min(day.day, (following - dt.timedelta(days=1)).day))


def _empty_postgres(engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def _world(engine) -> World:
    world = World.create(make_session_factory(engine))
    with world.session() as s:
        world.actors["BANK3"] = Actor.of(add_institution(s, "BANK3", "Third Bank", "bank"))
    return world


def sqlite_worlds(template, workdir):
    """A fresh SQLite file at head for each example."""
    def new():
        path = workdir / f"machine-{next(_files)}.sqlite3"
        shutil.copy(template, path)
        engine = make_engine(f"sqlite:///{path}")

        def dispose() -> None:
            engine.dispose()
            for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                leftover.unlink(missing_ok=True)
        return _world(engine), dispose
    return new


def postgres_worlds(engine):
    """The worker's PostgreSQL database, emptied for each example."""
    def new():
        _empty_postgres(engine)
        return _world(engine), lambda: None
    return new


class ClaimsMachine(RuleBasedStateMachine):
    new_world = None  # set by the test: a fresh database for each example
    outcomes: Counter = Counter()  # over all runs: which paths the machine took
    kinds: Counter = Counter()  # over all runs: the step kinds of STEP_FLOORS

    def __init__(self) -> None:
        super().__init__()
        self.world, self._dispose = type(self).new_world()
        self.bank_ids = {code: self.world.actors[code].institution_id for code in BANKS}
        self.today = STARTS[0]
        self.loans: list[dict] = []
        self.claims: list[dict] = []
        self.quota: dict[tuple, int] = {}
        self.cap_used: dict[tuple, int] = {}
        self.agreed: dict[tuple, dt.date] = dict(FACTORY_AGREEMENTS)  # (bank, policy) -> agreed on (B1)
        self.spells: list[dict] = []  # B2 suspensions in the order they happened
        self.cash = {"compensation": 0, "subsidy": 0}
        self.deferrals: list[list[int]] = []  # [claim id, open fen], approval order
        self.subsidy_deferrals: list[list[int]] = []  # [subsidy run id, open fen], run order
        self.runs: list[dict] = []  # monthly subsidy runs (S4), in the order they were made
        self.fees: list[dict] = []
        self.invoices: list[str] = []
        self.unchanged = False  # no service was called since the last check

    def teardown(self) -> None:
        self._dispose()

    # -- helpers -------------------------------------------------------------------------------

    def _expect(self, name: str, code: str | None, call, *args):
        """Run a service call; the model says it succeeds (``code`` None) or fails with ``code``."""
        self.outcomes[f"{name}: {code or 'done'}"] += 1
        try:
            result = call(*args)
        except DomainError as exc:
            assert code is not None, f"{name} refused with {exc.code}: {exc.message}"
            assert exc.code == code, f"{name}: expected {code}, got {exc.code}: {exc.message}"
            return None
        assert code is None, f"{name}: expected refusal {code}, but it went through"
        return result

    @staticmethod
    def _choose(items: list, pick: int, aim: bool, fits):
        """One of ``items``: with ``aim``, one that ``fits`` when there is one (so that more steps
        go through, not only refusals)."""
        fitting = [item for item in items if fits(item)] if aim else []
        pool = fitting or items
        return pool[pick % len(pool)]

    def _in_window(self, loan: dict) -> bool:
        days = (self.today - loan["first_due"]).days
        return loan["status"] == "active" and loan["covered"] > 0 and OVERDUE_DAYS <= days <= OVERDUE_DAYS + WINDOW_DAYS

    def _lending(self, bank: str, policy: str) -> int:
        """A3's in-pool lending on the business date (no loan is cancelled here)."""
        return sum(loan["covered"] for loan in self.loans
                   if loan["bank"] == bank and loan["policy"] == policy and loan["drawdown"] <= self.today)

    def _suspended_on(self, bank: str, policy: str, day: dt.date) -> bool:
        """B2: ``day`` falls in a suspension of the bank: on or after its date, before its lift."""
        return any(s["bank"] == bank and s["policy"] == policy and s["from"] <= day and (s["lifted"] is None or day < s["lifted"])
                   for s in self.spells)

    def _losses(self, bank: str, policy: str) -> int:
        """B2: the ``base`` of the bank's approved (or closed) claims under the policy since its
        agreement, or, after a lift, of those approved on or after the lift's date (after the
        suspension's own date when the lift fell on it)."""
        lifted = [s for s in self.spells if s["bank"] == bank and s["policy"] == policy and s["lifted"] is not None]
        last = max(lifted, key=lambda s: (s["lifted"], self.spells.index(s))) if lifted else None
        return sum(c["base"] for c in self.claims
                   if c["loan"]["bank"] == bank and c["loan"]["policy"] == policy and c["status"] in ("approved", "closed")
                   and (last is None or (c["decided_on"] >= last["lifted"] and c["decided_on"] > last["from"])))

    def _inflow(self, pool: str, amount: int) -> None:
        if pool == "compensation" and len(self.deferrals) >= 2 and 0 < amount < sum(d[1] for d in self.deferrals):
            self.kinds["partial FIFO settlement"] += 1
        queue = self.deferrals if pool == "compensation" else self.subsidy_deferrals
        for deferral in queue:
            part = min(amount, deferral[1])
            deferral[1] -= part
            amount -= part
        queue[:] = [d for d in queue if d[1]]
        self.cash[pool] += amount

    def _refill(self, loan: dict, kind: str) -> None:
        """S6: a loan's fees of one kind fill its cap in order of payment date, then registration,
        after the room of those a monthly run paid (final)."""
        group = [f for f in self.fees if f["loan"] is loan and f["kind"] == kind]
        used = sum(f["subsidy"] for f in group if f["run"] is not None)
        for fee in sorted((f for f in group if f["run"] is None), key=lambda f: (f["paid_on"], f["id"])):
            counts = (loan["eligible"] and loan["policy"] == "gz-2023"
                      and fee["paid_on"] <= add_months(loan["drawdown"], GZ2023_SUBSIDY_MONTHS))
            full = fee["amount"] * GZ2023_FEE_RATIO_BP // 10_000 if counts else 0
            given = max(0, min(full, GZ2023_FEE_CAP - used))
            used += given
            fee.update(subsidy=given, capped=given < full, counts=counts)

    # -- rules ---------------------------------------------------------------------------------

    @initialize(principals=st.lists(book_principals, min_size=6, max_size=9),
                cash=st.one_of(st.just(0), st.just(0), st.just(0), st.integers(0, 10**9)),
                start=st.sampled_from(STARTS))
    def open_book(self, principals, cash, start) -> None:
        """A few loans drawn some 250 days back (claimable at once; gz-2023's when the run starts in
        its years, so its bank cap is in play), split between the two banks in the pool, one more
        for the bank outside it, and little or no cash."""
        self.today = start
        for n, principal in enumerate(principals):  # some loans only partly secured by IP: base < L (A2, pro rata)
            self.register("BANK1" if n % 2 else "BANK2", n % 4 + 1, principal, IP_SHARES[n % 4], 250 - n, 0, "INS1", None)
        self.register("BANK3", 5, principals[0], 10_000, 250, 0, "INS1", None)
        if cash:
            self.appropriate("compensation", cash, None)

    @rule(days=st.one_of(st.integers(1, 20), st.integers(1, 90)), next_year=st.sampled_from([False] * 7 + [True]))
    def advance(self, days: int, next_year: bool) -> None:
        """The business date moves on, sometimes to the first days of the next year (a new year's
        bank cap and borrower quota). Nothing in the database changes, so the next check is skipped."""
        if next_year:
            self.today = D(self.today.year + 1, 1, 1) + dt.timedelta(days=days % 7)
        self.today = min(self.today + dt.timedelta(days=0 if next_year else days), LAST_DAY)
        self.unchanged = True

    @rule(bank=st.sampled_from(BANKS), borrower=st.integers(1, 5), principal=st.one_of(amounts, book_principals),
          ip_share=st.one_of(st.just(10_000), st.integers(1, 10_000)), back=st.one_of(st.integers(0, 400), st.integers(0, 20)),
          scheme_pick=st.integers(0, 2), insurer=st.sampled_from(["INS1", "GUA1"]),
          limit=st.one_of(st.none(), st.integers(0, MAX_FEN)))
    def register(self, bank, borrower, principal, ip_share, back, scheme_pick, insurer, limit) -> None:
        drawdown = max(self.today - dt.timedelta(days=back), GZ2020_FROM)
        policy = "gz-2020" if drawdown <= GZ2020_TO else "gz-2023"
        scheme = sorted(SCHEMES[policy])[scheme_pick % len(SCHEMES[policy])]
        ratios = SCHEMES[policy][scheme]
        parties = {}
        if ratios.get("insurer"):
            parties.update(insurer_code=insurer, insurer_limit_fen=limit)
        if ratios.get("appraiser"):
            parties.update(appraiser_code="APR1")
        loan = self.world.register(bank, on=self.today, principal=principal, ip_share_bp=ip_share, drawdown=drawdown,
                                   scheme=scheme, borrower_n=borrower, **parties)
        ip_part = principal * ip_share // 10_000
        agreed_on = self.agreed.get((bank, policy))
        if agreed_on is None or drawdown < agreed_on:
            reasons = ["bank_not_in_pool"]  # B1
            self.kinds["registered outside the pool"] += 1
        elif self._suspended_on(bank, policy, drawdown):
            reasons = ["bank_suspended"]  # B2: no quota used
            self.kinds["registered while suspended"] += 1
        else:
            reasons = []
        covered = 0 if reasons else ip_part
        if not reasons and policy == "gz-2023":
            key = (borrower, policy, drawdown.year)
            covered = min(ip_part, GZ2023_SINGLE_CAP, max(0, GZ2023_QUOTA - self.quota.get(key, 0)))
            self.quota[key] = self.quota.get(key, 0) + covered
        got = (loan.policy_id, loan.covered_fen, loan.status, loan.coverage, list(loan.ineligible_reasons))
        assert got == (policy, covered, "active", "ineligible" if reasons else "eligible", reasons), (bank, drawdown, got)
        self.loans.append({
            "id": loan.id, "bank": bank, "policy": policy, "principal": principal, "covered": covered,
            "eligible": not reasons, "drawdown": drawdown, "first_due": add_months(drawdown, 1), "ratios": ratios,
            "limit": parties.get("insurer_limit_fen"), "status": "active",
        })

    @precondition(lambda self: self.loans)
    @rule(pick=st.integers(0, 10**6), aim=st.integers(0, 4), raw_loss=amounts, within=st.integers(0, 4),
          share_bp=st.sampled_from([10, 300, 600, 1_000, 2_000, 10_000]))
    def file(self, pick, aim, raw_loss, within, share_bp) -> None:
        """A claim on a loan (mostly one in its window); the loss a share of the principal or (under
        gz-2023) of the bank's in-pool lending, so that small claims pass under a bank cap and large
        ones are cut by it."""
        self._file(pick, aim, raw_loss, within, share_bp)

    def _file(self, pick, aim, raw_loss, within, share_bp) -> dict | None:
        loan = self._choose(self.loans, pick, aim > 0, self._in_window)
        lending = self._lending(loan["bank"], loan["policy"])
        loss = (raw_loss if within == 0 else 1 + (raw_loss - 1) % loan["principal"] if within == 1 else
                max(1, loan["principal"] * share_bp // 10_000) if within == 2 or loan["policy"] != "gz-2023" else
                max(1, min(loan["principal"], lending * share_bp // 10_000)))
        days = (self.today - loan["first_due"]).days
        live = any(c["loan"] is loan and c["status"] in ("filed", "approved") for c in self.claims)
        code = (
            "claim_exists" if live else
            "loan_not_active" if loan["status"] != "active" else
            "loan_not_covered" if loan["covered"] == 0 else
            "claim_too_early" if days < OVERDUE_DAYS else
            "claim_window_closed" if days > OVERDUE_DAYS + WINDOW_DAYS else
            "loss_exceeds_outstanding" if loss > loan["principal"] else None
        )
        claim = self._expect("file", code, self.world.file, loan["id"], loss, self.today, loan["bank"])
        if claim is not None:
            loan["status"] = "claimed"
            claim = {"id": claim.id, "loan": loan, "loss": loss, "status": "filed", "filed_on": self.today, "shares": None,
                     "base": 0, "decided_on": None, "cum_net": 0, "recovered": dict.fromkeys(("fund", "insurer", "appraiser", "bank"), 0)}
            self.claims.append(claim)
        return claim

    def _claim(self, pick: int, aim: bool, status: str) -> dict:
        return self._choose(self.claims, pick, aim, lambda claim: claim["status"] == status)

    @precondition(lambda self: self.claims)
    @rule(pick=st.integers(0, 10**6), aim=st.integers(0, 3), action=st.sampled_from(["approve"] * 6 + ["reject", "withdraw"]))
    def decide(self, pick, aim, action) -> None:
        """The bank withdraws a claim, or the fund manager rejects or (more often) approves one."""
        claim = self._claim(pick, aim > 0, "filed")
        code = None if claim["status"] == "filed" else "invalid_claim_status"
        if action == "withdraw":
            call, args = self.world.withdraw, (claim["id"], self.today, claim["loan"]["bank"])
        elif action == "reject":
            call, args = self.world.reject, (claim["id"], "not documented", self.today)
        else:
            call, args = self.world.approve, (claim["id"], self.today)
        if self._expect(action, code, call, *args) is None:
            return
        if action != "approve":
            claim["status"] = {"withdraw": "withdrawn", "reject": "rejected"}[action]
            claim["loan"]["status"] = "active"
            return
        loan, loss = claim["loan"], claim["loss"]
        base = loss * loan["covered"] // loan["principal"]
        shares = {p: base * loan["ratios"].get(p, 0) // 10_000 for p in ("fund", "insurer", "appraiser")}
        if loan["limit"] is not None:
            shares["insurer"] = min(shares["insurer"], loan["limit"])
        if loan["policy"] == "gz-2023":
            key = (loan["bank"], loan["policy"], self.today.year)
            lending = self._lending(loan["bank"], loan["policy"])
            cap = lending * GZ2023_BANK_CAP_BP // 10_000
            used = self.cap_used.get(key, 0)
            room = max(0, cap - used)
            if shares["fund"] > room:
                self.kinds["cut by the cap"] += 1
                if used and shares["fund"] <= cap:  # a cap that forgot the year's use would not cut it
                    self.kinds["cut after the year's earlier use"] += 1
            elif shares["fund"]:
                self.kinds["approved under a cap"] += 1
            shares["fund"] = min(shares["fund"], room)
            self.cap_used[key] = used + shares["fund"]
        paid = min(self.cash["compensation"], shares["fund"])
        self.cash["compensation"] -= paid
        if shares["fund"] > paid:
            self.kinds["deferral"] += 1
            self.deferrals.append([claim["id"], shares["fund"] - paid])
        claim.update(status="approved", shares=shares, bank=loss - sum(shares.values()), base=base, decided_on=self.today)
        loan["status"] = "compensated"
        if loan["policy"] == "gz-2023":
            self._measure_suspension(claim, lending)

    def _measure_suspension(self, claim: dict, lending: int) -> None:
        """B2: the approval that takes the bank's losses past 300 bp of its lending suspends it from today."""
        bank, policy = claim["loan"]["bank"], claim["loan"]["policy"]
        if any(s["bank"] == bank and s["policy"] == policy and s["lifted"] is None for s in self.spells):
            return
        losses, line = self._losses(bank, policy), lending * GZ2023_SUSPENSION_LINE_BP // 10_000
        if losses > line:
            if any(s["bank"] == bank and s["policy"] == policy for s in self.spells):
                self.kinds["suspended again after a lift"] += 1
            self.spells.append({"bank": bank, "policy": policy, "from": self.today, "claim": claim["id"], "losses": losses,
                                "lending": lending, "line": line, "lifted": None})
            self.kinds["suspended"] += 1

    def _years_approvals(self) -> list[dict]:
        """The in-window gz-2023 loans of banks that had an approval under gz-2023 this year."""
        banks = {c["loan"]["bank"] for c in self.claims if c["decided_on"] and c["decided_on"].year == self.today.year
                 and c["loan"]["policy"] == "gz-2023" and c["status"] in ("approved", "closed")}
        return [loan for loan in self.loans if loan["bank"] in banks and loan["policy"] == "gz-2023" and self._in_window(loan)]

    @precondition(lambda self: self._years_approvals())
    @rule(pick=st.integers(0, 10**6), share_bp=st.sampled_from([600, 1_000, 300, 2_000]))
    def another_claim_in_the_bank_year(self, pick, share_bp) -> None:
        """A claim of a bank that had one approved this year, approved at once: the cap's room is
        what the year left (a cap that forgot the year's use would pay more)."""
        loans = self._years_approvals()
        loan = loans[pick % len(loans)]
        claim = self._file(self.loans.index(loan), 0, 1, 3, share_bp)
        if claim is not None:
            self.decide(self.claims.index(claim), 0, "approve")

    def _banks_with_claimable_loans(self) -> list[str]:
        """Banks with two or more gz-2023 loans in their claim window."""
        counts = Counter(loan["bank"] for loan in self.loans if loan["policy"] == "gz-2023" and self._in_window(loan))
        return sorted(bank for bank, n in counts.items() if n >= 2)

    @precondition(lambda self: self._banks_with_claimable_loans())
    @rule(pick=st.integers(0, 10**6), shares=st.lists(st.sampled_from([600, 1_000, 300, 2_000]), min_size=2, max_size=3))
    def claims_of_a_bank_year(self, pick, shares) -> None:
        """A bank files claims on two or three of its gz-2023 loans, each a share of its in-pool
        lending, and the fund manager approves them the same day: the first ones take the cap's room,
        the next ones what the year left (a cap that forgot the year's use would pay them more).
        When the bank is suspended, the fund manager often lifts its suspension first (B2: its
        losses then count from the lift, and these claims may suspend it again)."""
        banks = self._banks_with_claimable_loans()
        bank = banks[pick % len(banks)]
        open_spells = [s for s in self.spells if s["bank"] == bank and s["lifted"] is None]
        if open_spells and pick % 3:
            self._lift_spell(open_spells[0])
        for share_bp in shares:
            loans = [loan for loan in self.loans if loan["bank"] == bank and loan["policy"] == "gz-2023" and self._in_window(loan)]
            if not loans:
                return
            claim = self._file(self.loans.index(loans[pick % len(loans)]), 0, 1, 3, share_bp)
            if claim is not None:
                self.decide(self.claims.index(claim), 0, "approve")

    @precondition(lambda self: any(s["lifted"] is None for s in self.spells))
    @rule(pick=st.integers(0, 10**6), borrower=st.integers(1, 5), principal=book_principals, back=st.sampled_from([0, 0, 1, 5, 30]))
    def register_at_a_suspended_bank(self, pick, borrower, principal, back) -> None:
        """A suspended bank registers a loan drawn lately: before its suspension's date it is covered,
        on or after it not (B2)."""
        spells = [s for s in self.spells if s["lifted"] is None]
        self.register(spells[pick % len(spells)]["bank"], borrower, principal, 10_000, back, 0, "INS1", None)

    # the same steps aimed at a claim they can take (so approvals, recoveries and closes are many,
    # not drowned by refusals on claims in the wrong status)
    def _has(self, status: str) -> bool:
        return any(claim["status"] == status for claim in self.claims)

    @precondition(lambda self: self._has("filed"))
    @rule(pick=st.integers(0, 10**6))
    def approve_a_filed_claim(self, pick) -> None:
        self.decide(pick, 1, "approve")

    @precondition(lambda self: self._has("approved"))
    @rule(pick=st.integers(0, 10**6), gross=amounts, costs_pick=st.integers(0, MAX_FEN))
    def recover_on_an_approved_claim(self, pick, gross, costs_pick) -> None:
        self.recover(pick, 1, gross, costs_pick, "part")

    @precondition(lambda self: any(claim["status"] == "approved" and claim["cum_net"] for claim in self.claims))
    @rule(pick=st.integers(0, 10**6))
    def close_a_recovered_claim(self, pick) -> None:
        """The bank closes an approved claim it has recovered on (not all at once: recoveries come first)."""
        recovered = [claim for claim in self.claims if claim["status"] == "approved" and claim["cum_net"]]
        self.close(self.claims.index(recovered[pick % len(recovered)]), False)

    @precondition(lambda self: any(self._in_window(loan) for loan in self.loans))
    @rule(pick=st.integers(0, 10**6), share_bp=st.sampled_from([600, 1_000, 2_000, 10_000, 300]),
          approve=st.sampled_from([True, True, True, False]))
    def file_in_the_window(self, pick, share_bp, approve) -> None:
        """A claim of a share of the bank's lending on a loan in its window, often approved at once
        (so that one bank-year sees several approvals)."""
        claim = self._file(pick, 1, 1, 3, share_bp)
        if claim is not None and approve:
            self.decide(self.claims.index(claim), 0, "approve")

    @precondition(lambda self: self.deferrals or self.subsidy_deferrals or not any(self.cash.values()))
    @rule(pool=st.sampled_from(["compensation", "compensation", "subsidy"]), amount=st.one_of(st.integers(1, 10**7), amounts),
          part=st.sampled_from([None, 2, 3]))
    def appropriate(self, pool, amount, part) -> None:
        """Money in; with ``part``, a share of what is deferred (so settlements are often partial)."""
        deferred = sum(d[1] for d in (self.deferrals if pool == "compensation" else self.subsidy_deferrals))
        if part and deferred > 1:
            amount = max(1, deferred // part - 1)
        elif not deferred:
            amount = 1 + (amount - 1) % 10**7  # a little cash: later approvals and runs still defer
        self.world.appropriate(amount, self.today, pool=pool)
        self._inflow(pool, amount)

    @precondition(lambda self: len(self.deferrals) >= 2)
    @rule(how=st.sampled_from(["first", "first+1", "first-1", "all-1", "some"]), some=st.integers(1, MAX_FEN))
    def settle_part_of_the_queue(self, how, some) -> None:
        """An appropriation that settles the oldest deferral exactly, or a fen more or less, or all
        but one fen, or some of the queue: where first-in first-out and last-in first-out differ."""
        first, total = self.deferrals[0][1], sum(d[1] for d in self.deferrals)
        amount = {"first": first, "first+1": first + 1, "first-1": max(1, first - 1), "all-1": total - 1,
                  "some": 1 + (some - 1) % (total - 1)}[how]
        self.appropriate("compensation", amount, None)

    @precondition(lambda self: self.claims)
    @rule(pick=st.integers(0, 10**6), aim=st.integers(0, 3), gross=amounts, costs_pick=st.integers(0, MAX_FEN),
          costs_kind=st.sampled_from(["none", "part", "part", "any"]))
    def recover(self, pick, aim, gross, costs_pick, costs_kind) -> None:
        claim = self._claim(pick, aim > 0, "approved")
        costs = {"none": 0, "part": costs_pick % (gross + 1), "any": costs_pick}[costs_kind]
        code = ("negative_net" if costs > gross else "invalid_claim_status" if claim["status"] != "approved" else None)
        if self._expect("recover", code, self.world.recover, claim["id"], gross, costs, self.today, claim["loan"]["bank"]) is None:
            return
        net, loss = gross - costs, claim["loss"]
        before, after = claim["cum_net"], claim["cum_net"] + net

        def held(cum: int, share: int) -> int:
            return min(cum * share // loss, share)

        parts = {p: held(after, s) - held(before, s) for p, s in claim["shares"].items()}
        parts["bank"] = net - sum(parts.values())
        for party, part in parts.items():
            claim["recovered"][party] += part
        claim["cum_net"] = after
        self.kinds["recovery"] += 1
        if parts["fund"]:
            self._inflow("compensation", parts["fund"])

    @precondition(lambda self: self.claims)
    @rule(pick=st.integers(0, 10**6), aim=st.booleans())
    def close(self, pick, aim) -> None:
        claim = self._claim(pick, aim, "approved")
        code = None if claim["status"] == "approved" else "invalid_claim_status"
        if self._expect("close", code, self.world.close, claim["id"], self.today, claim["loan"]["bank"]) is not None:
            claim["status"], claim["loan"]["status"] = "closed", "closed"
            self.kinds["close"] += 1

    # -- rule B: agreements and lifts; S6: fees ------------------------------------------------------

    def _agree(self, bank: str, policy: str, agreed_on: dt.date) -> None:
        with self.world.session() as s:
            pool_service.record_agreement(s, self.world.fm, bank, policy, agreed_on, f"agreement of {bank}", self.today)

    @precondition(lambda self: not all((bank, policy) in self.agreed for bank in BANKS for policy in ("gz-2020", "gz-2023")))
    @rule(bank=st.sampled_from(["BANK3", "BANK3", "BANK3", "BANK1"]), policy=st.sampled_from(["gz-2023", "gz-2023", "gz-2020"]),
          back=st.integers(-30, 400))
    def agree(self, bank, policy, back) -> None:
        """B1: the fund manager records a bank's pool agreement, dated on or before the business date."""
        agreed_on = self.today - dt.timedelta(days=back)
        code = ("dated_after_business_date" if agreed_on > self.today else
                "agreement_exists" if (bank, policy) in self.agreed else None)
        self._expect("agree", code, self._agree, bank, policy, agreed_on)
        if code is None:
            self.agreed[(bank, policy)] = agreed_on
            self.kinds["agreement recorded"] += 1

    def _lift(self, index: int) -> None:
        with self.world.session() as s:
            ids = list(s.scalars(select(BankSuspension.id).order_by(BankSuspension.id)))
            pool_service.lift_suspension(s, self.world.fm, ids[index], "recovery plan accepted", self.today)

    @precondition(lambda self: self.spells)
    @rule(pick=st.integers(0, 10**6))
    def lift(self, pick) -> None:
        """B2: the fund manager lifts a suspension (now and then one lifted already: refused)."""
        self._lift_spell(self._choose(self.spells, pick, pick % 5 > 0, lambda s: s["lifted"] is None))

    def _lift_spell(self, spell: dict) -> None:
        code = "suspension_lifted" if spell["lifted"] is not None else None
        self._expect("lift", code, self._lift, self.spells.index(spell))
        if code is None:
            spell["lifted"] = self.today
            self.kinds["lift"] += 1

    def _record_fee(self, bank: str, loan_id: int, fee: FeeIn) -> int:
        with self.world.session() as s:
            return record_fee(s, self.world.actors[bank], loan_id, fee, self.today).id

    @precondition(lambda self: self.fees and len(self.fees) < FEES_PER_RUN)
    @rule(pick=st.integers(0, 10**6), amount=st.sampled_from([12_000_000, 6_000_000, 3_000_000, 10_000_001]), earlier=st.integers(0, 60))
    def report_an_earlier_fee(self, pick, amount, earlier) -> None:
        """A fee of the kind of one already reported on its loan, paid before it but reported now: it
        takes its place in the loan's cap, ahead of the later ones that are not paid yet."""
        counting = [f for f in self.fees if f["counts"]] or self.fees
        fee = counting[pick % len(counting)]
        back = (self.today - fee["paid_on"]).days + earlier
        self._report_fee(fee["loan"], fee["kind"], amount, back, f"INV-{next(_invoices)}")

    def _loans_in_fee_term(self) -> list[dict]:
        return [loan for loan in self.loans if loan["eligible"] and loan["policy"] == "gz-2023"
                and self.today <= add_months(loan["drawdown"], GZ2023_SUBSIDY_MONTHS)]

    @precondition(lambda self: self._loans_in_fee_term() and len(self.fees) < FEES_PER_RUN)
    @rule(pick=st.integers(0, 10**6), kind=st.sampled_from(["appraisal", "insurance"]),
          fees=st.lists(st.tuples(st.sampled_from([6_000_000, 12_000_000, 3_000_000, 10_000_001]), st.integers(0, 90)), min_size=2, max_size=3))
    def fees_of_a_loan(self, pick, kind, fees) -> None:
        """A bank reports two or three fees of one kind on a loan in its subsidy term, in any order
        of their payment dates: together they pass the loan's cap, and one paid earlier but reported
        later takes its place in it; then a guarantee fee, refused when insurance came first."""
        loans = self._loans_in_fee_term()
        with_fees = [loan for loan in loans if any(f["loan"] is loan and f["kind"] == kind for f in self.fees)]
        loans = with_fees if with_fees and pick % 2 else loans  # often a loan with fees of the kind (paid by a run, maybe)
        loan = loans[pick % len(loans)]
        for amount, back in fees:
            self._report_fee(loan, kind, amount, back, f"INV-{next(_invoices)}")
        self._report_fee(loan, "guarantee", 1_000_000, 0, f"INV-{next(_invoices)}")

    @precondition(lambda self: self.loans and len(self.fees) < FEES_PER_RUN)
    @rule(pick=st.integers(0, 10**6), aim=st.sampled_from(["with fees", "with fees", "subsidised", "subsidised", "any"]),
          kind=st.sampled_from(["insurance", "guarantee", "appraisal"]),
          amount=st.one_of(st.sampled_from([12_000_000, 10_000_001, 6_000_000, 10_000_000, 3_000_000, 1, 0]), st.integers(1, 12_000_000)),
          back=st.integers(-5, 500), reuse=st.sampled_from([False] * 9 + [True]))
    def report_fee(self, pick, aim, kind, amount, back, reuse) -> None:
        """S6: a bank reports a fee on one of its loans: mostly an eligible gz-2023 one, often one that
        has fees already (so that the cap binds, a late fee with an earlier date takes its place, and
        insurance meets guarantee)."""
        subsidised = [l for l in self.loans if l["eligible"] and l["policy"] == "gz-2023"]
        with_fees = [f["loan"] for f in self.fees if f["loan"] in subsidised]
        pool = {"with fees": with_fees or subsidised, "subsidised": subsidised, "any": []}[aim] or self.loans
        invoice = self.invoices[pick % len(self.invoices)] if reuse and self.invoices else f"INV-{next(_invoices)}"
        self._report_fee(pool[pick % len(pool)], kind, amount, back, invoice)

    @precondition(lambda self: any(f["run"] is not None for f in self.fees) and len(self.fees) < FEES_PER_RUN)
    @rule(pick=st.integers(0, 10**6), amount=st.sampled_from([12_000_000, 6_000_000, 1]), back=st.integers(0, 200))
    def report_a_fee_after_a_run(self, pick, amount, back) -> None:
        """S6 with S4: another fee of a kind a monthly run already paid on the loan: the paid fees keep
        their room, the new one gets what is left."""
        taken = [f for f in self.fees if f["run"] is not None]
        fee = taken[pick % len(taken)]
        self._report_fee(fee["loan"], fee["kind"], amount, back, f"INV-{next(_invoices)}")

    def _report_fee(self, loan: dict, kind: str, amount: int, back: int, invoice: str) -> None:
        paid_on = self.today - dt.timedelta(days=back)
        reported = {f["kind"] for f in self.fees if f["loan"] is loan}
        other = {"insurance": "guarantee", "guarantee": "insurance"}.get(kind)
        code = ("invalid_amount" if amount <= 0 else
                "dated_after_business_date" if paid_on > self.today else
                "duplicate_invoice" if invoice in self.invoices else
                "fee_kind_excluded" if other in reported else None)
        if code == "fee_kind_excluded":
            self.kinds["fee refused: insurance or guarantee"] += 1
        fee_id = self._expect("fee", code, self._record_fee, loan["bank"], loan["id"], FeeIn(kind, amount, paid_on, "ISSUER1", invoice))
        if code is not None:
            return
        self.invoices.append(invoice)
        before = {f["id"]: f["subsidy"] for f in self.fees if f["loan"] is loan and f["kind"] == kind}
        if any(f["run"] is not None for f in self.fees if f["loan"] is loan and f["kind"] == kind):
            self.kinds["fee after a run paid the loan's fees"] += 1
        fee = {"id": fee_id, "loan": loan, "kind": kind, "amount": amount, "paid_on": paid_on, "subsidy": 0, "capped": False,
               "counts": False, "run": None}
        self.fees.append(fee)
        self._refill(loan, kind)
        if fee["subsidy"]:
            self.kinds["fee subsidised"] += 1
        if fee["capped"] and fee["subsidy"]:
            self.kinds["fee cut by the loan's cap"] += 1
        if any(f["subsidy"] != before[f["id"]] for f in self.fees if f["id"] in before):
            self.kinds["fee reordered by a late fee"] += 1

    def _run_month(self, month: str) -> subsidies.RunResult:
        with self.world.session() as s:
            return subsidies.run_month(s, month, self.today, actor=self.world.fm)

    @precondition(lambda self: self.fees)
    @rule(back=st.sampled_from([0, 1, 0, 2, 5, -1]))
    def monthly_run(self, back) -> None:
        """S4 with S6: the fund manager runs a month (this one or one before; the next one is
        refused, so is one before the latest run, and a month run already changes nothing). The run
        pays every fee that counts, paid by the month's last day (or the business date), that no run
        took, at the subsidy the loan's cap gives it, from the subsidy pool: what cash cannot cover
        is deferred. No repayment is recorded here, so the run has no interest lines."""
        index = self.today.year * 12 + self.today.month - 1 - back
        first = D(index // 12, index % 12 + 1, 1)
        month, last = first.strftime("%Y-%m"), add_months(first, 1) - dt.timedelta(days=1)
        done = {r["month"]: r for r in self.runs}
        code = ("month_after_business_date" if first > self.today else None if month in done else
                "month_before_latest_run" if self.runs and month < max(done) else None)
        result = self._expect("run", code, self._run_month, month)
        if code is not None:
            return
        if month in done:
            assert (result.created, result.run_id) == (False, done[month]["id"])
            return
        cutoff = min(last, self.today)
        taken = [f for f in self.fees if f["run"] is None and f["counts"] and f["paid_on"] <= cutoff]
        total = sum(f["subsidy"] for f in taken)
        paid = min(self.cash["subsidy"], total)
        self.cash["subsidy"] -= paid
        if total > paid:
            self.subsidy_deferrals.append([result.run_id, total - paid])
            self.kinds["monthly run deferred"] += 1
        for fee in taken:
            fee["run"] = result.run_id
        if taken:
            self.kinds["monthly run paid fee lines"] += 1
        self.runs.append({"id": result.run_id, "month": month, "fee_lines": len(taken), "fee_capped": sum(f["capped"] for f in taken),
                          "total": total, "paid": paid, "deferred": total - paid})

    # -- the database matches the model ------------------------------------------------------------

    @invariant()
    def ledger_holds_and_matches_the_model(self) -> None:
        if self.unchanged:  # the step only moved the date: the database is as the last check found it
            self.unchanged = False
            return
        bank_ids = self.bank_ids
        with self.world.session() as s:
            assert ledger.check_ledger(s) == []
            for pool, queue in (("compensation", self.deferrals), ("subsidy", self.subsidy_deferrals)):
                balance = ledger.pool_balance(s, pool)
                assert (balance.cash_fen, balance.deferred_fen) == (self.cash[pool], sum(d[1] for d in queue)), pool
                open_deferrals = [[d.ref_id, d.amount_fen - d.settled_fen]
                                  for d in s.scalars(select(Deferral).where(Deferral.pool == pool, Deferral.settled_fen < Deferral.amount_fen)
                                                     .order_by(Deferral.id))]
                assert open_deferrals == queue, f"open {pool} deferrals (claim or run, open fen), oldest first"
            stored = {c.id: c for c in s.scalars(select(Claim))}
            for claim in self.claims:
                row = stored[claim["id"]]
                assert (row.status, row.loss_fen) == (claim["status"], claim["loss"])
                if claim["shares"] is not None:
                    assert row.shares() == claim["shares"] and row.bank_fen == claim["bank"], f"claim {claim['id']} shares"
                    assert {"fund": row.fund_recovered_fen, "insurer": row.insurer_recovered_fen,
                            "appraiser": row.appraiser_recovered_fen, "bank": row.bank_recovered_fen} == claim["recovered"]
                    assert row.recovered_net_fen == claim["cum_net"]
            loans = {loan_id: (status, covered) for loan_id, status, covered in s.execute(select(Loan.id, Loan.status, Loan.covered_fen))}
            assert {loan["id"]: (loan["status"], loan["covered"]) for loan in self.loans} == loans
            used = {(u.bank_id, u.policy_id, u.year): u.used_fen for u in s.scalars(select(BankCapUsage)) if u.policy_id == "gz-2023"}
            assert used == {(bank_ids[b], p, y): v for (b, p, y), v in self.cap_used.items()}, "bank cap used per (bank, policy, year)"
            agreements = {(a.bank_id, a.policy_id): a.agreed_on for a in s.scalars(select(PoolAgreement)) if a.policy_id != "bj-zgc-2024"}
            assert agreements == {(bank_ids[b], p): d for (b, p), d in self.agreed.items()}
            suspensions = [(r.bank_id, r.policy_id, r.suspended_on, r.claim_id, r.losses_fen, r.lending_fen, r.line_fen, r.lifted_on)
                           for r in s.scalars(select(BankSuspension).order_by(BankSuspension.id))]
            assert suspensions == [(bank_ids[x["bank"]], x["policy"], x["from"], x["claim"], x["losses"], x["lending"], x["line"], x["lifted"])
                                   for x in self.spells], "suspensions (B2)"
            fees = {f.id: (f.subsidy_fen, f.capped, f.run_id) for f in s.scalars(select(LoanFee))}
            assert fees == {f["id"]: (f["subsidy"], f["capped"], f["run"]) for f in self.fees}, "fee subsidies (S6) and the runs that paid them"
            runs = [(r.id, r.month, r.line_count, r.fee_line_count, r.fee_capped_count, r.fee_total_fen, r.total_fen, r.paid_fen, r.deferred_fen)
                    for r in s.scalars(select(SubsidyRun).order_by(SubsidyRun.id))]
            assert runs == [(r["id"], r["month"], 0, r["fee_lines"], r["fee_capped"], r["total"], r["total"], r["paid"], r["deferred"])
                            for r in self.runs], "monthly runs (S4, S6)"


@contextlib.contextmanager
def draws_from_this_file_only():
    """Derandomized draws that do not depend on what else the process imported. Hypothesis mixes into
    its draws the literals of every project module loaded so far (``providers._get_local_constants``),
    so the same derandomized run drew other examples after other tests had imported more of ipfund
    (seen: the floors failed in the whole suite and passed alone). Here that pool is empty."""
    from hypothesis.internal.conjecture import providers

    assert hasattr(providers, "_get_local_constants"), "Hypothesis changed: see draws_from_this_file_only"
    original = providers._get_local_constants
    providers.CONSTANTS_CACHE.cache.clear()
    providers._get_local_constants = lambda: providers.Constants()
    try:
        yield
    finally:
        providers._get_local_constants = original
        providers.CONSTANTS_CACHE.cache.clear()


def run_machine(new_world) -> None:
    ClaimsMachine.new_world = staticmethod(new_world)
    ClaimsMachine.outcomes = Counter()
    ClaimsMachine.kinds = Counter()
    with draws_from_this_file_only():
        run_state_machine_as_test(
            ClaimsMachine,
            # too_slow: every step is a few database transactions; filter_too_much: preconditions
            settings=settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, derandomize=True,
                              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]),
        )
    print("claims machine outcomes:", sorted(ClaimsMachine.outcomes.items()))
    print("claims machine step kinds (taken, floor):", {kind: (ClaimsMachine.kinds[kind], floor) for kind, floor in STEP_FLOORS.items()})
    short = {kind: (ClaimsMachine.kinds[kind], floor) for kind, floor in STEP_FLOORS.items() if ClaimsMachine.kinds[kind] < floor}
    assert not short, f"step kinds below their floor (taken, floor): {short}"


def test_claims_and_ledger_follow_the_model(backend, request, tmp_path_factory):
    if backend == "sqlite":
        run_machine(sqlite_worlds(request.getfixturevalue("sqlite_template"), tmp_path_factory.mktemp("claims-machine")))
        return
    engine = make_engine(request.getfixturevalue("postgres_base"))
    try:
        run_machine(postgres_worlds(engine))
    finally:
        engine.dispose()
