"""Payment instructions for the fund's custodian bank (docs/rules.md section 6, "Payments").

Every amount a pool pays out becomes an instruction as it is paid: a claim's paid part (to its
bank), a deferral settled (to the claim's bank, or to the enterprises whose subsidy lines it
settles), a subsidy run's paid part (one instruction per enterprise: the paid parts of its lines,
the run's cash taken by the lines in S3 order). Postings, for ``p`` out of pool ``X``:

* paying: Dr the expense (or the deferred liability), Dr ``pool:X:in_transit``; Cr ``pool:X:cash``,
  Cr ``liability:X_payable`` (``fund.services.ledger``);
* confirming: Dr ``liability:X_payable``, Cr ``pool:X:in_transit``;
* a return: Dr ``pool:X:cash``, Cr ``pool:X:in_transit``; the payable stays owed;
* instructing a returned amount again (once the payee's details are corrected): Dr in-transit, Cr cash.

A returned amount waits in cash for its payee, ahead of every deferral: it is not an A4 inflow, and
what A4 and S5 may spend is the pool's cash less the returned amounts awaiting a new instruction
(``reserved_fen``). Invariants (``ledger_violations``): each pool's payable equals its in-transit
plus its returned amounts awaiting a new instruction; in-transit equals the open instructions; each
instruction's entries post what it says; an instruction is confirmed or returned at most once.

>>> CONFIRMATION_COLUMNS
('instruction_id', 'status', 'date', 'bank_reference', 'note')
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from fund.adapters.db import unit_of_work
from fund.adapters.dialect import for_update
from fund.adapters.models.ledger import Account, JournalEntry, Posting
from fund.adapters.models.payments import PaymentInstruction
from fund.adapters.models.registry import Enterprise, Institution
from fund.errors import Conflict, DomainError, Forbidden, NotFound
from fund.services.paging import after

POOLS = ("compensation", "subsidy")
STATUSES = ("instructed", "confirmed", "returned")
CONFIRMATION_COLUMNS = ("instruction_id", "status", "date", "bank_reference", "note")
MAX_CONFIRMATION_ROWS = 100_000


def in_transit_account(pool: str) -> str:
    return f"pool:{pool}:in_transit"


def payable_account(pool: str) -> str:
    return f"liability:{pool}_payable"


# ---- creating instructions (called by the ledger and the subsidy run, in their transaction) -------


def _payee_of_bank(session: Session, institution_id: int) -> tuple[str, int, str, str]:
    inst = session.get(Institution, institution_id)
    return ("bank", inst.id, inst.code, inst.name)


def _bulk_instruct(session: Session, rows: list[dict]) -> int:
    if rows:
        session.execute(insert(PaymentInstruction), rows)
    return len(rows)


def _row(pool: str, payee: tuple[str, int, str, str], source_type: str, source_id: int, entry_id: int, amount: int,
         business_date: dt.date, reissue_of: int | None = None) -> dict:
    kind, payee_id, code, name = payee
    return dict(pool=pool, payee_type=kind, payee_id=payee_id, payee_code=code, payee_name=name[:200], source_type=source_type,
                source_id=source_id, entry_id=entry_id, amount_fen=amount, status="instructed", instructed_on=business_date,
                reissue_of=reissue_of)


def instruct_enterprises(session: Session, *, pool: str, source_type: str, source_id: int, entry_id: int,
                         parts: dict[int, int], business_date: dt.date) -> int:
    """One instruction per enterprise for ``parts`` (enterprise id -> fen > 0), in enterprise id order."""
    ids = sorted(e for e, fen in parts.items() if fen > 0)
    rows = []
    for start in range(0, len(ids), 5_000):
        chunk = ids[start:start + 5_000]
        names = dict((i, (c, n)) for i, c, n in session.execute(
            select(Enterprise.id, Enterprise.credit_code, Enterprise.name).where(Enterprise.id.in_(chunk))))
        for enterprise_id in chunk:
            code, name = names[enterprise_id]
            rows.append(_row(pool, ("enterprise", enterprise_id, code, name), source_type, source_id, entry_id,
                             int(parts[enterprise_id]), business_date))
    return _bulk_instruct(session, rows)


def instruct(session: Session, *, pool: str, ref_type: str, ref_id: int, source_type: str, source_id: int, entry_id: int,
             offset_fen: int, amount_fen: int, business_date: dt.date) -> int:
    """Instructions for ``amount_fen`` paid for the cause ``ref_type``/``ref_id``: to the claim's bank,
    or, for a subsidy run, to the enterprises whose lines the amount reaches (the run's paid money
    taken by its lines in S3 order; ``offset_fen`` is what the run had paid before)."""
    if amount_fen <= 0:
        return 0
    if ref_type == "claim":
        from fund.adapters.models.claims import Claim

        claim = session.get(Claim, ref_id)
        return _bulk_instruct(session, [_row(pool, _payee_of_bank(session, claim.bank_id), source_type, source_id, entry_id,
                                             amount_fen, business_date)])
    if ref_type == "subsidy_run":
        from fund.adapters.models.subsidies import SubsidyRun

        run = session.get(SubsidyRun, ref_id)
        start = (run.paid_fen if source_type == "deferral" else 0) + offset_fen
        parts = subsidy_parts(session, ref_id, start, start + amount_fen)
        return instruct_enterprises(session, pool=pool, source_type=source_type, source_id=source_id, entry_id=entry_id,
                                    parts=parts, business_date=business_date)
    raise DomainError("unknown_payee", f"no payee is known for a payment of {ref_type} {ref_id}")


def subsidy_parts(session: Session, run_id: int, low_fen: int, high_fen: int) -> dict[int, int]:
    """Per enterprise, the part of the run's money from ``low_fen`` to ``high_fen`` (in the order of
    the run's lines, S3, then its fee lines) that falls on its lines."""
    from fund.adapters.models.registry import Repayment
    from fund.adapters.models.subsidies import SubsidyLine

    line = SubsidyLine
    before = (func.sum(line.amount_fen).over(order_by=(Repayment.paid_on, line.loan_id, line.repayment_id)) - line.amount_fen)
    ranked = (select(line.enterprise_id.label("enterprise_id"), line.amount_fen.label("amount_fen"), before.label("before_fen"))
              .join(Repayment, Repayment.id == line.repayment_id).where(line.run_id == run_id).subquery())
    parts: dict[int, int] = {}
    rows = session.execute(
        select(ranked.c.enterprise_id, ranked.c.amount_fen, ranked.c.before_fen)
        .where(ranked.c.before_fen < high_fen, ranked.c.before_fen + ranked.c.amount_fen > low_fen)
        .execution_options(yield_per=20_000)
    )
    for enterprise_id, amount, before_fen in rows:
        lo, hi = max(low_fen, int(before_fen)), min(high_fen, int(before_fen) + int(amount))
        if hi > lo:
            parts[enterprise_id] = parts.get(enterprise_id, 0) + hi - lo
    from fund.services.subsidies import fee_parts

    for enterprise_id, fen in fee_parts(session, run_id, low_fen, high_fen).items():  # S6: fee lines come after
        parts[enterprise_id] = parts.get(enterprise_id, 0) + fen
    return parts


def reserved_fen(session: Session, pool: str) -> int:
    """Returned amounts of the pool awaiting a new instruction: cash held for their payees."""
    reissued = select(PaymentInstruction.reissue_of).where(PaymentInstruction.reissue_of.is_not(None))
    return int(session.scalar(
        select(func.coalesce(func.sum(PaymentInstruction.amount_fen), 0))
        .where(PaymentInstruction.pool == pool, PaymentInstruction.status == "returned",
               PaymentInstruction.id.not_in(reissued))
    ) or 0)


# ---- reading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstructionView:
    id: int
    pool: str
    payee_type: str
    payee_code: str
    payee_name: str
    source_type: str
    source_id: int
    amount_fen: int
    status: str
    instructed_on: dt.date
    settled_on: dt.date | None
    bank_reference: str | None
    reissue_of: int | None
    owed_again: bool  # returned and not yet instructed again

    def as_dict(self) -> dict:
        from dataclasses import asdict

        data = asdict(self)
        for key in ("instructed_on", "settled_on"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


def _require_reader(actor) -> None:
    if actor.kind not in ("fund_manager", "auditor"):
        raise Forbidden("forbidden", "only the fund manager and auditors read payment instructions")


def _views(session: Session, stmt) -> list[InstructionView]:
    reissued = set(session.scalars(select(PaymentInstruction.reissue_of).where(PaymentInstruction.reissue_of.is_not(None))))
    return [InstructionView(p.id, p.pool, p.payee_type, p.payee_code, p.payee_name, p.source_type, p.source_id, p.amount_fen,
                            p.status, p.instructed_on, p.settled_on, p.bank_reference, p.reissue_of,
                            p.status == "returned" and p.id not in reissued)
            for p in session.scalars(stmt)]


def list_instructions(session: Session, actor, *, pool: str | None = None, status: str | None = None,
                      after_id: int = 0, limit: int = 100) -> list[InstructionView]:
    """Instructions in id order (keyset: ``after_id``), optionally of one pool and status."""
    _require_reader(actor)
    stmt = select(PaymentInstruction)
    if pool is not None:
        _check(pool, POOLS, "pool")
        stmt = stmt.where(PaymentInstruction.pool == pool)
    if status is not None:
        _check(status, (*STATUSES, "owed_again"), "status")
        stmt = stmt.where(PaymentInstruction.status == ("returned" if status == "owed_again" else status))
    views = _views(session, after(stmt, PaymentInstruction.id, after_id, limit))
    return [v for v in views if status != "owed_again" or v.owed_again]


def _check(value: str, allowed: tuple[str, ...], name: str) -> None:
    if value not in allowed:
        raise DomainError(f"invalid_{name}", f"{name} must be one of {', '.join(allowed)}, got {value!r}", field=name)


def confirmed_by_ref(session: Session, pool: str, ref_type: str, start: dt.date, end: dt.date) -> dict[int, int]:
    """Per cause (claim or subsidy run id), what the custodian confirmed of the instructions of the
    period (instructed from ``start`` to ``end``, confirmed by ``end``): for the monthly statistics."""
    from fund.adapters.models.ledger import Deferral

    p = PaymentInstruction
    where = (p.pool == pool, p.status == "confirmed", p.instructed_on.between(start, end), p.settled_on <= end)
    direct = session.execute(select(p.source_id, func.sum(p.amount_fen)).where(p.source_type == ref_type, *where)
                             .group_by(p.source_id)).all()
    via = session.execute(select(Deferral.ref_id, func.sum(p.amount_fen)).join(Deferral, Deferral.id == p.source_id)
                          .where(p.source_type == "deferral", Deferral.ref_type == ref_type, *where)
                          .group_by(Deferral.ref_id)).all()
    out: dict[int, int] = {}
    for ref_id, fen in [*direct, *via]:
        out[ref_id] = out.get(ref_id, 0) + int(fen or 0)
    return out


# ---- confirmations, returns, instructing again ---------------------------------------------------


@dataclass(frozen=True)
class Confirmation:
    """One row of the custodian's file."""

    line: int
    instruction_id: int
    status: str  # confirmed or returned
    date: dt.date
    bank_reference: str | None
    note: str | None


@dataclass(frozen=True)
class ConfirmationResult:
    confirmed: int
    returned: int
    confirmed_fen: int
    returned_fen: int


def read_confirmation_file(path: Path | str) -> list[dict]:
    """Rows of a confirmation file: CSV (UTF-8, a BOM allowed) or XLSX with a header row naming
    ``instruction_id, status, date, bank_reference`` and optionally ``note``."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        sheet = load_workbook(path, read_only=True).worksheets[0]
        values = [["" if v is None else (v.date().isoformat() if isinstance(v, dt.datetime) else str(v)) for v in row]
                  for row in sheet.iter_rows(values_only=True)]
        header, body = (values[0], values[1:]) if values else ([], [])
        return [dict(zip(header, row)) for row in body]
    text = path.read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def parse_confirmations(rows: Iterable[dict]) -> tuple[list[Confirmation], list[str]]:
    """The rows as confirmations, and every problem found (each naming its line: the header is line 1)."""
    parsed, problems = [], []
    for line, row in enumerate(rows, start=2):
        if line - 1 > MAX_CONFIRMATION_ROWS:
            problems.append(f"more than {MAX_CONFIRMATION_ROWS} rows")
            break
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
        if not any(row.values()):
            continue
        missing = [c for c in ("instruction_id", "status", "date") if not row.get(c)]
        if missing:
            problems.append(f"line {line}: missing {', '.join(missing)}")
            continue
        try:
            instruction_id = int(row["instruction_id"])
        except ValueError:
            problems.append(f"line {line}: instruction_id {row['instruction_id']!r} is not a number")
            continue
        status = row["status"].lower()
        if status not in ("confirmed", "returned"):
            problems.append(f"line {line}: status must be confirmed or returned, got {row['status']!r}")
            continue
        try:
            date = dt.date.fromisoformat(row["date"][:10])
        except ValueError:
            problems.append(f"line {line}: date {row['date']!r} is not YYYY-MM-DD")
            continue
        reference = row.get("bank_reference") or None
        if status == "confirmed" and not reference:
            problems.append(f"line {line}: a confirmation needs the bank's reference")
            continue
        parsed.append(Confirmation(line, instruction_id, status, date, reference, row.get("note") or None))
    return parsed, problems


def import_confirmations(session: Session, actor, rows: Iterable[dict], business_date: dt.date) -> ConfirmationResult:
    """Apply the custodian's confirmation file: all or nothing. Every row is checked first (a known,
    still instructed instruction, named once, dated from its instruction to the business date); any
    bad row refuses the whole file, naming each bad row, and nothing is written."""
    from fund.services.ledger import post_entry

    if actor.kind != "fund_manager":
        raise Forbidden("forbidden", "only the fund manager imports the custodian's confirmations")
    confirmations, problems = parse_confirmations(rows)
    ids = [c.instruction_id for c in confirmations]
    found = ({p.id: p for p in session.scalars(for_update(session, select(PaymentInstruction).where(PaymentInstruction.id.in_(ids))))}
             if ids else {})
    seen: dict[int, int] = {}
    for c in confirmations:
        p = found.get(c.instruction_id)
        if c.instruction_id in seen:
            problems.append(f"line {c.line}: instruction {c.instruction_id} is named again (first on line {seen[c.instruction_id]})")
        seen.setdefault(c.instruction_id, c.line)
        if p is None:
            problems.append(f"line {c.line}: no instruction {c.instruction_id}")
        elif p.status != "instructed":
            problems.append(f"line {c.line}: instruction {c.instruction_id} is already {p.status}")
        elif not p.instructed_on <= c.date <= business_date:
            problems.append(f"line {c.line}: date {c.date} is not between the instruction ({p.instructed_on}) and the business date ({business_date})")
    if not confirmations and not problems:
        problems.append("the file holds no rows")
    if problems:
        raise DomainError("confirmation_refused", f"nothing was imported: {len(problems)} bad row(s): " + "; ".join(problems[:20])
                          + ("; ..." if len(problems) > 20 else ""), field="file", problems=problems)
    totals = {"confirmed": [0, 0], "returned": [0, 0]}
    for c in sorted(confirmations, key=lambda c: c.instruction_id):
        p = found[c.instruction_id]
        if c.status == "confirmed":
            postings = [(payable_account(p.pool), p.amount_fen), (in_transit_account(p.pool), -p.amount_fen)]
            cause = "payment_confirmation"
        else:
            postings = [(f"pool:{p.pool}:cash", p.amount_fen), (in_transit_account(p.pool), -p.amount_fen)]
            cause = "payment_return"
        entry = post_entry(session, cause=cause, policy_id=None, postings=postings, business_date=business_date,
                           ref_type="payment", ref_id=p.id, actor_id=actor.institution_id,
                           memo=f"{c.status} {c.date.isoformat()} {c.bank_reference or ''} {c.note or ''}".strip()[:500])
        p.status, p.settled_on, p.bank_reference, p.note, p.settlement_entry_id = (
            c.status, c.date, c.bank_reference, (c.note or None) and c.note[:200], entry.id)
        totals[c.status][0] += 1
        totals[c.status][1] += p.amount_fen
    session.flush()
    return ConfirmationResult(totals["confirmed"][0], totals["returned"][0], totals["confirmed"][1], totals["returned"][1])


def confirm_file(db, actor, path: Path | str) -> ConfirmationResult:
    """Use case: import a confirmation file (CSV or XLSX) in one transaction."""
    from fund.services.common import business_date

    rows = read_confirmation_file(path)
    with unit_of_work(db) as session:
        return import_confirmations(session, actor, rows, business_date(session))


def reissue(session: Session, actor, instruction_id: int, business_date: dt.date, *, note: str | None = None) -> InstructionView:
    """Instruct a returned amount again, once the payee's details are corrected: from the pool's cash
    (where the return put it, held ahead of every deferral): Dr in-transit, Cr cash."""
    from fund.services.ledger import lock_pool, post_entry

    if actor.kind != "fund_manager":
        raise Forbidden("forbidden", "only the fund manager instructs a payment again")
    old = session.get(PaymentInstruction, instruction_id)
    if old is None:
        raise NotFound("payment_not_found", f"no payment instruction {instruction_id}", field="instruction_id")
    lock_pool(session, old.pool)
    if old.status != "returned":
        raise Conflict("payment_not_returned", f"instruction {instruction_id} is {old.status}, not returned", field="instruction_id")
    if session.scalar(select(PaymentInstruction.id).where(PaymentInstruction.reissue_of == old.id)) is not None:
        raise Conflict("payment_already_reissued", f"instruction {instruction_id} was instructed again already", field="instruction_id")
    entry = post_entry(session, cause="payment_reissue", policy_id=None, business_date=business_date, ref_type="payment",
                       ref_id=old.id, actor_id=actor.institution_id, memo=(note or f"instruction {old.id} again")[:500],
                       postings=[(in_transit_account(old.pool), old.amount_fen), (f"pool:{old.pool}:cash", -old.amount_fen)])
    _bulk_instruct(session, [_row(old.pool, (old.payee_type, old.payee_id, old.payee_code, old.payee_name), "payment", old.id,
                                  entry.id, old.amount_fen, business_date, reissue_of=old.id)])
    session.flush()
    (view,) = _views(session, select(PaymentInstruction).where(PaymentInstruction.reissue_of == old.id))
    return view


# ---- the custodian's batch ------------------------------------------------------------------------


def export_statement(session: Session, actor, pool: str, *, lang: str = "zh"):
    """The batch for the custodian: every instruction of ``pool`` still ``instructed``, as a
    statement (XLSX or CSV), returned payments owed again first (they are instructed anew)."""
    from fund.services.statements import DATE, INT, MONEY, TEXT, Column, Layout, Statement, _title

    _require_reader(actor)
    _check(pool, POOLS, "pool")
    layout = Layout(
        f"付款指令（{'风险补偿池' if pool == 'compensation' else '贴息资金池'}）",
        f"Payment instructions ({pool} pool)",
        (Column("no", "序号", "No.", INT, 7), Column("instruction_id", "指令编号", "Instruction", INT, 10),
         Column("payee_type", "收款方类型", "Payee type", TEXT, 10), Column("payee_code", "收款方代码", "Payee code", TEXT, 20),
         Column("payee_name", "收款方", "Payee", TEXT, 28), Column("source", "来源", "Source", TEXT, 16),
         Column("reissue_of", "重付原指令", "Reissue of", INT, 10), Column("instructed_on", "指令日", "Instructed on", DATE),
         Column("amount", "金额", "Amount", MONEY)),
        bank_key="payee_type",
    )
    p = PaymentInstruction
    stmt = (select(p.id, p.payee_type, p.payee_code, p.payee_name, p.source_type, p.source_id, p.reissue_of, p.instructed_on, p.amount_fen)
            .where(p.pool == pool, p.status == "instructed").order_by(p.reissue_of.is_(None), p.id))
    count = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)

    def rows() -> Iterator[tuple]:
        for no, (pid, kind, code, name, source, source_id, again, on, fen) in enumerate(
                session.execute(stmt.execution_options(yield_per=5_000)), start=1):
            yield (no, pid, kind, code, name, f"{source} {source_id}", again, on, fen)

    title = _title(session, actor, layout.name(lang), f"≤ {_business(session).isoformat()}", "-")
    return Statement(layout, title, rows(), count, f"payments-{pool}")


def _business(session: Session) -> dt.date:
    from fund.services.common import business_date

    return business_date(session)


# ---- the ledger check -----------------------------------------------------------------------------


def ledger_violations(session: Session) -> list:
    """Each pool's payable equals its in-transit plus its returned amounts awaiting a new
    instruction; in-transit equals its open instructions; every instruction's paying and settling
    entries post to its pool's accounts; an instruction is confirmed or returned at most once."""
    from fund.services.ledger import Violation

    problems = []
    balances = {a.code: a.balance_fen for a in session.scalars(select(Account))}
    for pool in POOLS:
        in_transit = balances.get(in_transit_account(pool), 0)
        payable = -balances.get(payable_account(pool), 0)
        reserved = reserved_fen(session, pool)
        open_fen = int(session.scalar(select(func.coalesce(func.sum(PaymentInstruction.amount_fen), 0))
                                      .where(PaymentInstruction.pool == pool, PaymentInstruction.status == "instructed")) or 0)
        if payable != in_transit + reserved:
            problems.append(Violation("payable_equals_in_transit_and_returned",
                                      f"pool {pool}: payable {payable} != in transit {in_transit} + returned awaiting {reserved}"))
        if in_transit != open_fen:
            problems.append(Violation("in_transit_equals_open_instructions",
                                      f"pool {pool}: in transit {in_transit} != instructions still instructed {open_fen}"))
        if in_transit < 0 or payable < 0:
            problems.append(Violation("payments_not_negative", f"pool {pool}: in transit {in_transit}, payable {payable}"))
    settled_twice = session.execute(
        select(JournalEntry.ref_id, func.count()).where(JournalEntry.ref_type == "payment",
                                                        JournalEntry.cause.in_(("payment_confirmation", "payment_return")))
        .group_by(JournalEntry.ref_id).having(func.count() > 1)
    ).all()
    for ref_id, count in settled_twice:
        problems.append(Violation("payment_settled_once", f"instruction {ref_id} was confirmed or returned {count} times"))
    wrong = session.execute(
        select(PaymentInstruction.id, PaymentInstruction.status)
        .where(PaymentInstruction.status != "instructed", PaymentInstruction.settlement_entry_id.is_(None))
    ).all()
    for pid, status in wrong:
        problems.append(Violation("payment_settlement_entry", f"instruction {pid} is {status} without its entry"))
    # money paid into transit equals the instructions made
    paid_in = int(session.scalar(
        select(func.coalesce(func.sum(Posting.amount_fen), 0)).join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(Posting.account_code.in_([in_transit_account(p) for p in POOLS]), Posting.amount_fen > 0)
    ) or 0)
    instructed = int(session.scalar(select(func.coalesce(func.sum(PaymentInstruction.amount_fen), 0))) or 0)
    if paid_in != instructed:
        problems.append(Violation("instructions_match_payments", f"{paid_in} was paid into transit, instructions total {instructed}"))
    return problems
