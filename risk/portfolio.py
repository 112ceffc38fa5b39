"""The stress model's inputs (docs/rules.md M1) as arrays: the loan book, each bank's cap base and the fund.

A :class:`Book` is a struct of arrays, one entry per live covered loan in portfolio order (the order
claims are approved in, M4). :func:`read_portfolio_csv` and :func:`read_banks_csv` read the documented
CSV files; a bad file raises :class:`PortfolioError` with one line naming the row and the column.

Portfolio CSV columns (issue 7): ``loan_id, bank, sector, policy, scheme, pd, principal_fen,
covered_fen, outstanding_fen, maturity_date, amortization, ip_value_fen, ip_kind, insurer_limit_fen``.
``pd`` is a decimal probability, empty for the sector default; ``amortization`` is ``bullet`` or
``straight_line``; ``insurer_limit_fen`` empty for no limit; ``ip_kind`` may be empty when
``ip_value_fen`` is 0; the ``policy`` column may be left out (or left empty) in favour of a default
policy. Banks CSV columns: ``bank, policy, in_pool_lending_fen, cap_used_fen``, and optionally
B2's reading on the as-of date: ``b2_losses_fen`` (approved covered losses since the agreement or
the last lift, empty for 0) and ``suspended`` (``true`` when the bank is suspended under the policy
on that date; empty for ``false``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from fund.domain.money import MAX_SINGLE_AMOUNT_FEN
from fund.domain.policy import IP_KINDS, Policy
from risk.allocation import UNLIMITED
from risk.scenario import SECTORS

PORTFOLIO_COLUMNS = (
    "loan_id", "bank", "sector", "policy", "scheme", "pd", "principal_fen", "covered_fen", "outstanding_fen",
    "maturity_date", "amortization", "ip_value_fen", "ip_kind", "insurer_limit_fen",
)
#: Optional: the drawdown date, from which M1b takes a new loan's term (else its remaining term).
OPTIONAL_PORTFOLIO_COLUMNS = ("policy", "drawdown_date")
BANKS_COLUMNS = ("bank", "policy", "in_pool_lending_fen", "cap_used_fen")
#: Optional: B2's reading of the (bank, policy) on the as-of date (docs/rules.md section 12).
OPTIONAL_BANKS_COLUMNS = ("b2_losses_fen", "suspended")
AMORTIZATIONS = ("bullet", "straight_line")
MAX_BIGINT = 2**63 - 1


class PortfolioError(ValueError):
    """A bad portfolio or banks file; the one-line message names the file, row and column."""


@dataclass(frozen=True)
class Book:
    """Live covered loans as arrays (portfolio order), with the policies they are covered under.

    Indices: ``bank[i]`` into ``bank_names``, ``policy[i]`` into ``policies``, ``sector[i]`` into
    :data:`risk.scenario.SECTORS`, ``ip_kind[i]`` into :data:`fund.domain.policy.IP_KINDS` (-1: none).
    ``pd`` is NaN where the sector default applies; ``insurer_limit_fen`` is ``UNLIMITED`` (-1) for none.
    """

    loan_id: tuple[str, ...]
    bank: np.ndarray
    bank_names: tuple[str, ...]
    policy: np.ndarray
    policies: tuple[Policy, ...]
    scheme: tuple[str, ...]
    sector: np.ndarray
    pd: np.ndarray
    principal_fen: np.ndarray
    covered_fen: np.ndarray
    outstanding_fen: np.ndarray
    maturity: np.ndarray
    straight_line: np.ndarray
    ip_value_fen: np.ndarray
    ip_kind: np.ndarray
    insurer_limit_fen: np.ndarray
    #: drawdown dates (NaT where unknown): M1b takes a new loan's term from them
    drawdown: np.ndarray | None = None

    @property
    def size(self) -> int:
        return len(self.loan_id)

    def ratios_bp(self, party: str) -> np.ndarray:
        """Each loan's scheme ratio for ``party`` (bp)."""
        table = {(p, code): pol.scheme(code).ratio(party)
                 for p, pol in enumerate(self.policies) for code in pol.schemes}
        return np.array([table[(int(p), s)] for p, s in zip(self.policy, self.scheme)], dtype=np.int64)


@dataclass(frozen=True)
class CapBase:
    """A3's inputs per (bank, policy): in-pool lending and the fund shares already approved this year;
    and B2's reading on the as-of date: the approved covered losses counted against the suspension
    line (since the agreement or the last lift) and whether the bank is suspended under the policy."""

    bank: str
    policy: str
    in_pool_lending_fen: int
    cap_used_fen: int
    b2_losses_fen: int = 0
    suspended: bool = False


@dataclass(frozen=True)
class FundPosition:
    """The compensation pool today and the appropriation each simulated year brings (M1).

    ``appropriation_fen[k]`` arrives at the start of year ``k + 1``; the entry for year 1 is ignored
    (year 1's appropriation is in today's cash).
    """

    cash_fen: int
    deferred_fen: int
    appropriation_fen: tuple[int, ...]

    def __post_init__(self) -> None:
        for name in ("cash_fen", "deferred_fen"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_BIGINT // 4:
                raise ValueError(f"{name} must be an integer in 0..{MAX_BIGINT // 4}, got {value!r}")
        if self.cash_fen > 0 and self.deferred_fen > 0:
            raise ValueError("cash_fen must be 0 while compensation is deferred (A4 settles deferrals first)")
        for value in self.appropriation_fen:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**14:
                raise ValueError(f"appropriation_fen must hold integers in 0..10^14, got {value!r}")


def policy_appropriations(policies: Iterable[Policy], as_of: dt.date, horizon_years: int) -> tuple[int, ...]:
    """M1: each simulated year's appropriation from the policies in force at the start of that year
    (a one-off appropriation counts as 0), with no successor after the last one ends: M1's one home,
    :func:`risk.lending.yearly_appropriations` with ``after_policy_end="stop"`` (``policies`` may be
    any iterable, read once)."""
    from risk.lending import yearly_appropriations

    return yearly_appropriations(tuple(policies), as_of, horizon_years, "stop")


def default_cap_base(book: Book) -> list[CapBase]:
    """Without a banks file: each bank's covered sum in the portfolio per policy, nothing used yet."""
    sums: dict[tuple[str, str], int] = {}
    for b, p, c in zip(book.bank.tolist(), book.policy.tolist(), book.covered_fen.tolist()):
        key = (book.bank_names[b], book.policies[p].id)
        sums[key] = sums.get(key, 0) + c
    return [CapBase(bank, pol, lending, 0) for (bank, pol), lending in sums.items()]


# --------------------------------------------------------------------------------------------------
# CSV reading


def _rows(path: str | Path | io.TextIOBase, required: Sequence[str], optional: Sequence[str] = ()) -> tuple[str, list[dict[str, str]]]:
    name = str(getattr(path, "name", path))
    try:
        if isinstance(path, (str, Path)):
            text = Path(path).read_text(encoding="utf-8-sig")
        else:
            text = path.read()
    except OSError as exc:
        raise PortfolioError(f"{name}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PortfolioError(f"{name}: not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise PortfolioError(f"{name}: empty file (no header row)")
    reader.fieldnames = header
    missing = [c for c in required if c not in header]
    if missing:
        raise PortfolioError(f"{name}: missing column {missing[0]!r}")
    unknown = [c for c in header if c not in required and c not in optional]
    if unknown:
        raise PortfolioError(f"{name}: unknown column {unknown[0]!r}")
    rows = []
    for row in reader:
        if None in row:
            raise PortfolioError(f"{name}: row {reader.line_num}: more fields than columns")
        rows.append({k: (v or "").strip() for k, v in row.items()})
    return name, rows


class _Row:
    def __init__(self, name: str, number: int, row: Mapping[str, str]) -> None:
        self.name, self.number, self.row = name, number, row

    def fail(self, column: str, message: str) -> PortfolioError:
        return PortfolioError(f"{self.name}: row {self.number}, column {column!r}: {message}")

    def text(self, column: str, *, required: bool = True) -> str:
        value = self.row.get(column, "")
        if required and not value:
            raise self.fail(column, "must not be empty")
        return value

    def fen(self, column: str, *, minimum: int = 0, maximum: int = MAX_SINGLE_AMOUNT_FEN, empty: int | None = None) -> int:
        value = self.row.get(column, "")
        if value == "" and empty is not None:
            return empty
        try:
            number = int(value)
        except ValueError:
            raise self.fail(column, f"must be a whole number of fen, got {value!r}") from None
        if not minimum <= number <= maximum:
            raise self.fail(column, f"must be in {minimum}..{maximum}, got {number}")
        return number


def read_portfolio_csv(path: str | Path | io.TextIOBase, policies: Mapping[str, Policy], *,
                       default_policy: str | None = None) -> Book:
    """Read a portfolio CSV (columns in the module docstring) into a :class:`Book`.

    ``policies`` maps policy id -> :class:`Policy` (the shipped files or the database's);
    ``default_policy`` is used where the ``policy`` column is absent or empty.
    """
    required = [c for c in PORTFOLIO_COLUMNS if c != "policy"]
    name, rows = _rows(path, required, optional=OPTIONAL_PORTFOLIO_COLUMNS)
    return book_from_rows(rows, policies, default_policy=default_policy, name=name)


def book_from_rows(rows: Sequence[Mapping[str, object]], policies: Mapping[str, Policy], *,
                   default_policy: str | None = None, name: str = "portfolio") -> Book:
    """The one validator of portfolio rows (dicts keyed by the CSV columns), whether they come from
    a CSV file (text cells) or straight from the database (ints and text): both give the same
    :class:`Book` for the same loans.

    >>> from fund.domain.policy import load_policy_file, shipped_policy_paths
    >>> gz = {p.stem: load_policy_file(p) for p in shipped_policy_paths()}["gz-2023"]
    >>> row = {"loan_id": "1", "bank": "b", "sector": "other", "policy": "gz-2023", "scheme": "50", "pd": "",
    ...        "principal_fen": 100, "covered_fen": 100, "outstanding_fen": 100, "maturity_date": "2027-01-01",
    ...        "amortization": "bullet", "ip_value_fen": 0, "ip_kind": "", "insurer_limit_fen": ""}
    >>> book_from_rows([row], {"gz-2023": gz}).covered_fen.tolist()
    [100]
    """
    rows = [{k: "" if v is None else (v if isinstance(v, str) else str(v)) for k, v in row.items()} for row in rows]
    if not rows:
        raise PortfolioError(f"{name}: no loans")
    cols: dict[str, list] = {c: [] for c in (*PORTFOLIO_COLUMNS, "drawdown_date")}
    bank_index: dict[str, int] = {}
    policy_index: dict[str, int] = {}
    used_policies: list[Policy] = []
    seen_ids: set[str] = set()
    for number, raw in enumerate(rows, start=2):
        r = _Row(name, number, raw)
        loan_id = r.text("loan_id")
        if loan_id in seen_ids:
            raise r.fail("loan_id", f"duplicate loan id {loan_id!r}")
        seen_ids.add(loan_id)
        bank = r.text("bank")
        sector = r.text("sector")
        if sector not in SECTORS:
            raise r.fail("sector", f"unknown sector {sector!r} (one of {', '.join(SECTORS)})")
        policy_id = raw.get("policy", "") or default_policy
        if not policy_id:
            raise r.fail("policy", "must not be empty (or give a default policy, --policy)")
        if policy_id not in policies:
            raise r.fail("policy", f"unknown policy {policy_id!r}")
        policy = policies[policy_id]
        scheme = r.text("scheme")
        if scheme not in policy.schemes:
            raise r.fail("scheme", f"policy {policy_id} has no scheme {scheme!r}")
        pd_text = raw.get("pd", "")
        if pd_text == "":
            pd = math.nan
        else:
            try:
                pd = float(pd_text)
            except ValueError:
                raise r.fail("pd", f"must be a decimal probability or empty, got {pd_text!r}") from None
            if not 0.0 <= pd <= 1.0:
                raise r.fail("pd", f"must be in [0, 1], got {pd_text}")
        principal = r.fen("principal_fen", minimum=1)
        covered = r.fen("covered_fen", minimum=1, maximum=principal)
        outstanding = r.fen("outstanding_fen", minimum=0, maximum=principal)
        maturity_text = r.text("maturity_date")
        try:
            maturity = dt.date.fromisoformat(maturity_text)
        except ValueError:
            raise r.fail("maturity_date", f"must be a date YYYY-MM-DD, got {maturity_text!r}") from None
        drawdown_text = raw.get("drawdown_date", "")
        drawdown = None
        if drawdown_text:
            try:
                drawdown = dt.date.fromisoformat(drawdown_text)
            except ValueError:
                raise r.fail("drawdown_date", f"must be a date YYYY-MM-DD or empty, got {drawdown_text!r}") from None
            if drawdown >= maturity:
                raise r.fail("drawdown_date", "must be before the maturity date")
        amortization = r.text("amortization")
        if amortization not in AMORTIZATIONS:
            raise r.fail("amortization", f"must be bullet or straight_line, got {amortization!r}")
        ip_value = r.fen("ip_value_fen", empty=0, maximum=MAX_BIGINT // 4)
        kind = raw.get("ip_kind", "")
        if kind == "":
            if ip_value > 0:
                raise r.fail("ip_kind", "must name the IP kind when ip_value_fen > 0")
            kind_index = -1
        elif kind not in IP_KINDS:
            raise r.fail("ip_kind", f"unknown IP kind {kind!r} (one of {', '.join(IP_KINDS)})")
        else:
            kind_index = IP_KINDS.index(kind)
        limit = r.fen("insurer_limit_fen", empty=UNLIMITED)
        if policy_id not in policy_index:
            policy_index[policy_id] = len(used_policies)
            used_policies.append(policy)
        cols["loan_id"].append(loan_id)
        cols["bank"].append(bank_index.setdefault(bank, len(bank_index)))
        cols["sector"].append(SECTORS.index(sector))
        cols["policy"].append(policy_index[policy_id])
        cols["scheme"].append(scheme)
        cols["pd"].append(pd)
        cols["principal_fen"].append(principal)
        cols["covered_fen"].append(covered)
        cols["outstanding_fen"].append(outstanding)
        cols["maturity_date"].append(maturity)
        cols["drawdown_date"].append(drawdown)
        cols["amortization"].append(amortization == "straight_line")
        cols["ip_value_fen"].append(ip_value)
        cols["ip_kind"].append(kind_index)
        cols["insurer_limit_fen"].append(limit)
    return make_book(cols, tuple(bank_index), tuple(used_policies))


def make_book(cols: Mapping[str, Sequence], bank_names: tuple[str, ...], policies: tuple[Policy, ...]) -> Book:
    """Build a :class:`Book` from already-checked columns (as :func:`read_portfolio_csv` collects them)."""
    return Book(
        loan_id=tuple(cols["loan_id"]),
        bank=np.asarray(cols["bank"], dtype=np.int32),
        bank_names=bank_names,
        policy=np.asarray(cols["policy"], dtype=np.int32),
        policies=policies,
        scheme=tuple(cols["scheme"]),
        sector=np.asarray(cols["sector"], dtype=np.int8),
        pd=np.asarray(cols["pd"], dtype=np.float64),
        principal_fen=np.asarray(cols["principal_fen"], dtype=np.int64),
        covered_fen=np.asarray(cols["covered_fen"], dtype=np.int64),
        outstanding_fen=np.asarray(cols["outstanding_fen"], dtype=np.int64),
        maturity=np.asarray(cols["maturity_date"], dtype="datetime64[D]"),
        straight_line=np.asarray(cols["amortization"], dtype=bool),
        ip_value_fen=np.asarray(cols["ip_value_fen"], dtype=np.int64),
        ip_kind=np.asarray(cols["ip_kind"], dtype=np.int8),
        insurer_limit_fen=np.asarray(cols["insurer_limit_fen"], dtype=np.int64),
        drawdown=np.asarray([np.datetime64("NaT") if d is None else d for d in cols.get("drawdown_date", [None] * len(cols["loan_id"]))],
                            dtype="datetime64[D]"),
    )


def read_banks_csv(path: str | Path | io.TextIOBase, book: Book) -> list[CapBase]:
    """Read a banks CSV; (bank, policy) pairs of the book that it does not name get the default
    (their covered sum in the portfolio, nothing used)."""
    name, rows = _rows(path, BANKS_COLUMNS, optional=OPTIONAL_BANKS_COLUMNS)
    return cap_base_from_rows(rows, book, name=name)


def cap_base_from_rows(rows: Sequence[Mapping[str, object]], book: Book, *, name: str = "banks") -> list[CapBase]:
    """The one validator of banks rows (CSV text cells or database values). Pairs of the book that
    the rows do not name get the default; rows of a bank of the book under a policy none of its
    loans has are kept too (M1b's new loans may be covered under it: its B2 reading applies)."""
    rows = [{k: "" if v is None else (v if isinstance(v, str) else str(v)) for k, v in row.items()} for row in rows]
    given: dict[tuple[str, str], CapBase] = {}
    for number, raw in enumerate(rows, start=2):
        r = _Row(name, number, raw)
        bank, policy = r.text("bank"), r.text("policy")
        if (bank, policy) in given:
            raise r.fail("bank", f"duplicate row for bank {bank!r} and policy {policy!r}")
        lending = r.fen("in_pool_lending_fen", maximum=MAX_BIGINT // 4)
        used = r.fen("cap_used_fen", maximum=MAX_BIGINT // 4)
        losses = r.fen("b2_losses_fen", maximum=MAX_BIGINT // 4, empty=0)
        flag = raw.get("suspended", "").lower()
        if flag not in ("", "true", "false"):
            raise r.fail("suspended", f"must be true, false or empty, got {raw.get('suspended')!r}")
        given[(bank, policy)] = CapBase(bank, policy, lending, used, losses, flag == "true")
    out = []
    for base in default_cap_base(book):
        out.append(given.pop((base.bank, base.policy), base))
    banks = set(book.bank_names)
    out.extend(base for key, base in given.items() if key[0] in banks)
    return out


def write_portfolio_csv(rows: Iterable[Mapping[str, object]], path: str | Path) -> int:
    """Write portfolio rows (dicts keyed by :data:`PORTFOLIO_COLUMNS`); returns the row count."""
    return _write(rows, path, (*PORTFOLIO_COLUMNS, "drawdown_date"))


def write_banks_csv(rows: Iterable[Mapping[str, object]], path: str | Path) -> int:
    return _write(rows, path, (*BANKS_COLUMNS, *OPTIONAL_BANKS_COLUMNS))


def _write(rows: Iterable[Mapping[str, object]], path: str | Path, columns: Sequence[str]) -> int:
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in columns})
            count += 1
    return count
