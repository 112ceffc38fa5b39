"""Survivors of the mutation run over risk/portfolio.py (docs/mutation.md), killed by pinning the
stress model's input files as simulations/README.md ("Portfolio files") and the module's documented
columns state them, and M1 (docs/rules.md section 8): a portfolio or banks file written by
``ipfund stress export-portfolio`` (every column, empty cells for none) reads back to the same
loans; a bad file is refused in one line naming the file, the row and the column; banks the file
does not name get their covered sum in the portfolio and nothing used; the fund's position is
integers with cash 0 while compensation is deferred (A4); each year's appropriation comes from the
policies in force on its first day, a one-off counting as 0."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math

import numpy as np
import pytest

from fund.domain.policy import IP_KINDS, load_policy_file, shipped_policy_paths
from risk.portfolio import (
    BANKS_COLUMNS, OPTIONAL_BANKS_COLUMNS, PORTFOLIO_COLUMNS, CapBase, FundPosition, PortfolioError, book_from_rows,
    cap_base_from_rows, default_cap_base, make_book, policy_appropriations, read_banks_csv, read_portfolio_csv,
    write_banks_csv, write_portfolio_csv,
)
from risk.scenario import SECTORS

POLICIES = {p.id: p for p in (load_policy_file(path) for path in shipped_policy_paths())}
BIG = (2**63 - 1) // 4   # the largest amount a banks row or an IP value may hold (an int64 with room to add)
MAX_LOAN_FEN = 10**12    # docs/rules.md section 0: the largest single amount, 10 billion yuan

#: Three loans as ``export-portfolio`` writes them (database values: ints, None for empty)
ROWS = [
    {"loan_id": "L1", "bank": "BANK1", "sector": "new_energy_vehicles", "policy": "gz-2023", "scheme": "50",
     "pd": 0.03, "principal_fen": 1_000_000_000, "covered_fen": 800_000_000, "outstanding_fen": 900_000_000,
     "maturity_date": "2029-06-30", "amortization": "bullet", "ip_value_fen": 500_000_000,
     "ip_kind": "utility_model", "insurer_limit_fen": None, "drawdown_date": "2024-06-30"},
    {"loan_id": "L2", "bank": "BANK2", "sector": "other", "policy": "gz-2020", "scheme": "5311", "pd": None,
     "principal_fen": 300_000_000, "covered_fen": 300_000_000, "outstanding_fen": 0,
     "maturity_date": "2028-01-31", "amortization": "straight_line", "ip_value_fen": 0, "ip_kind": None,
     "insurer_limit_fen": 10_000_000, "drawdown_date": None},
    {"loan_id": "L3", "bank": "BANK1", "sector": "rail_transit", "policy": "gz-2020", "scheme": "541", "pd": 0,
     "principal_fen": 7, "covered_fen": 1, "outstanding_fen": 7, "maturity_date": "2027-02-28",
     "amortization": "straight_line", "ip_value_fen": 12, "ip_kind": "ic_layout", "insurer_limit_fen": 0,
     "drawdown_date": "2027-02-27"},
]


def _assert_book_is_rows(book) -> None:
    """The three loans of ROWS, column by column, as the Book's docstring lays them out."""
    assert book.loan_id == ("L1", "L2", "L3") and book.size == 3
    assert book.bank_names == ("BANK1", "BANK2") and book.bank.tolist() == [0, 1, 0]
    assert [p.id for p in book.policies] == ["gz-2023", "gz-2020"] and book.policy.tolist() == [0, 1, 1]
    assert book.policies[0] is POLICIES["gz-2023"] and book.policies[1] is POLICIES["gz-2020"]
    assert book.scheme == ("50", "5311", "541")
    assert book.sector.tolist() == [SECTORS.index("new_energy_vehicles"), SECTORS.index("other"),
                                    SECTORS.index("rail_transit")]
    assert book.pd[0] == 0.03 and math.isnan(book.pd[1]) and book.pd[2] == 0.0
    assert book.principal_fen.tolist() == [1_000_000_000, 300_000_000, 7]
    assert book.covered_fen.tolist() == [800_000_000, 300_000_000, 1]
    assert book.outstanding_fen.tolist() == [900_000_000, 0, 7]
    assert book.maturity.tolist() == [dt.date(2029, 6, 30), dt.date(2028, 1, 31), dt.date(2027, 2, 28)]
    assert book.straight_line.tolist() == [False, True, True]
    assert book.ip_value_fen.tolist() == [500_000_000, 0, 12]
    assert book.ip_kind.tolist() == [IP_KINDS.index("utility_model"), -1, IP_KINDS.index("ic_layout")]
    assert book.insurer_limit_fen.tolist() == [-1, 10_000_000, 0]
    assert book.drawdown.tolist() == [dt.date(2024, 6, 30), None, dt.date(2027, 2, 27)]
    # the stress kernels' storage: int64 amounts (an int32 overflows at 21 million yuan), day dates,
    # flags as bools, float PDs
    for amounts in (book.principal_fen, book.covered_fen, book.outstanding_fen, book.ip_value_fen, book.insurer_limit_fen):
        assert amounts.dtype == np.int64
    assert book.maturity.dtype == book.drawdown.dtype == np.dtype("datetime64[D]")
    assert book.straight_line.dtype == np.bool_ and book.pd.dtype == np.float64
    assert book.ratios_bp("fund").tolist() == [5000, 5000, 5000]
    assert book.ratios_bp("insurer").tolist() == [0, 3000, 4000]
    assert book.ratios_bp("appraiser").tolist() == [0, 1000, 0]
    assert book.ratios_bp("bank").tolist() == [5000, 1000, 1000]


def _csv(text: str, name: str = "book.csv") -> io.StringIO:
    handle = io.StringIO(text)
    handle.name = name
    return handle


def _cells(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# --------------------------------------------------------------------------------------------------
# writing and reading back (export-portfolio, then stress run --portfolio)


def test_a_written_portfolio_has_every_column_and_reads_back_to_the_same_loans(tmp_path):
    path = tmp_path / "book.csv"
    assert write_portfolio_csv(iter(ROWS), path) == 3
    text = path.read_bytes().decode("utf-8")
    lines = text.split("\n")
    assert lines[0] == ",".join((*PORTFOLIO_COLUMNS, "drawdown_date")) and "\r" not in text
    assert lines[-1] == "" and len(lines) == 5  # a header, three rows, each ended by one "\n"
    assert lines[2] == "L2,BANK2,other,gz-2020,5311,,300000000,300000000,0,2028-01-31,straight_line,0,,10000000,"
    cells = _cells(path)
    assert [row["loan_id"] for row in cells] == ["L1", "L2", "L3"]
    for row, given in zip(cells, ROWS):
        assert row == {k: "" if v is None else str(v) for k, v in given.items()}
    # the file written is the file read (both through the CSV reader and from the rows themselves)
    for book in (read_portfolio_csv(path, POLICIES), read_portfolio_csv(str(path), POLICIES),
                 book_from_rows(ROWS, POLICIES), book_from_rows(cells, POLICIES)):
        _assert_book_is_rows(book)


def test_a_written_banks_file_has_every_column_and_reads_back(tmp_path):
    book = book_from_rows(ROWS, POLICIES)
    rows = [
        {"bank": "BANK1", "policy": "gz-2023", "in_pool_lending_fen": 40_000_000_000, "cap_used_fen": 5,
         "b2_losses_fen": 90_000_000, "suspended": "true", "extra": "not written"},
        {"bank": "BANK2", "policy": "gz-2020", "in_pool_lending_fen": 0, "cap_used_fen": BIG,
         "b2_losses_fen": None, "suspended": None},
        {"bank": "BANK1", "policy": "gz-2020", "in_pool_lending_fen": BIG, "cap_used_fen": 0},
    ]
    path = tmp_path / "banks.csv"
    assert write_banks_csv(rows, path) == 3
    text = path.read_text(encoding="utf-8")
    assert text.split("\n")[0] == ",".join((*BANKS_COLUMNS, *OPTIONAL_BANKS_COLUMNS)) == \
        "bank,policy,in_pool_lending_fen,cap_used_fen,b2_losses_fen,suspended"
    assert text.split("\n")[1:] == ["BANK1,gz-2023,40000000000,5,90000000,true", f"BANK2,gz-2020,0,{BIG},,",
                                    f"BANK1,gz-2020,{BIG},0,,", ""]
    expected = [CapBase("BANK1", "gz-2023", 40_000_000_000, 5, 90_000_000, True),
                CapBase("BANK2", "gz-2020", 0, BIG, 0, False),
                CapBase("BANK1", "gz-2020", BIG, 0, 0, False)]
    assert read_banks_csv(path, book) == expected
    assert read_banks_csv(str(path), book) == expected
    assert cap_base_from_rows(rows, book) == expected


def test_nothing_to_write_is_a_header_only(tmp_path):
    assert write_portfolio_csv([], tmp_path / "p.csv") == 0
    assert (tmp_path / "p.csv").read_text(encoding="utf-8") == ",".join((*PORTFOLIO_COLUMNS, "drawdown_date")) + "\n"
    assert write_banks_csv([], tmp_path / "b.csv") == 0
    assert (tmp_path / "b.csv").read_text(encoding="utf-8") == \
        "bank,policy,in_pool_lending_fen,cap_used_fen,b2_losses_fen,suspended\n"


def test_files_are_written_and_read_as_utf8_whatever_the_locale(tmp_path, ascii_locale):
    rows = [dict(ROWS[0], bank="广州银行")]
    assert write_portfolio_csv(rows, tmp_path / "book.csv") == 1
    assert write_banks_csv([{"bank": "广州银行", "policy": "gz-2023", "in_pool_lending_fen": 1, "cap_used_fen": 0}],
                           tmp_path / "banks.csv") == 1
    assert (tmp_path / "book.csv").read_bytes().decode("utf-8").split("\n")[1].startswith("L1,广州银行,")
    book = read_portfolio_csv(tmp_path / "book.csv", POLICIES)
    assert book.bank_names == ("广州银行",)
    assert read_banks_csv(tmp_path / "banks.csv", book) == [CapBase("广州银行", "gz-2023", 1, 0, 0, False)]


def test_a_written_file_is_utf8_and_replaces_an_old_one(tmp_path):
    path = tmp_path / "banks.csv"
    path.write_text("old content\n" * 10, encoding="utf-8")
    assert write_banks_csv([{"bank": "广州银行", "policy": "gz-2023", "in_pool_lending_fen": 1, "cap_used_fen": 0,
                             "b2_losses_fen": 0, "suspended": "false"}], path) == 1
    assert path.read_bytes().decode("utf-8") == \
        "bank,policy,in_pool_lending_fen,cap_used_fen,b2_losses_fen,suspended\n广州银行,gz-2023,1,0,0,false\n"


def test_a_row_missing_optional_cells_is_written_with_them_empty(tmp_path):
    row = {k: v for k, v in ROWS[1].items() if k not in ("drawdown_date", "pd", "ip_kind", "insurer_limit_fen")}
    write_portfolio_csv([row], tmp_path / "p.csv")
    assert _cells(tmp_path / "p.csv")[0] == {**{k: "" if v is None else str(v) for k, v in ROWS[1].items()},
                                              "insurer_limit_fen": ""}


# --------------------------------------------------------------------------------------------------
# reading: the file's shape


def test_a_file_with_a_byte_order_mark_or_spaces_reads_the_same(tmp_path):
    header = ",".join(f" {c} " for c in PORTFOLIO_COLUMNS)
    row = " L1 , BANK1 ,other, gz-2023 ,50,  ,100,100,100, 2027-01-01 ,bullet,, , "
    path = tmp_path / "book.csv"
    path.write_text("\ufeff" + header + "\n" + row + "\n", encoding="utf-8")
    book = read_portfolio_csv(path, POLICIES)
    assert book.loan_id == ("L1",) and book.bank_names == ("BANK1",) and book.policies[0].id == "gz-2023"
    assert math.isnan(book.pd[0]) and book.ip_value_fen.tolist() == [0] and book.ip_kind.tolist() == [-1]
    assert book.insurer_limit_fen.tolist() == [-1] and book.maturity.tolist() == [dt.date(2027, 1, 1)]
    # a row with fewer cells than columns: the missing ones are empty
    path.write_text(header + "\nL1,BANK1,other,gz-2023,50,,100,100,100,2027-01-01,bullet\n", encoding="utf-8")
    assert read_portfolio_csv(path, POLICIES).insurer_limit_fen.tolist() == [-1]


def test_a_bad_file_is_refused_naming_it(tmp_path):
    header = ",".join(PORTFOLIO_COLUMNS)
    good = "L1,BANK1,other,gz-2023,50,,100,100,100,2027-01-01,bullet,0,,"

    def refusal(source) -> str:
        with pytest.raises(PortfolioError) as info:
            read_portfolio_csv(source, POLICIES)
        message = str(info.value)
        assert "\n" not in message and info.value.__cause__ is None
        return message

    missing = tmp_path / "missing.csv"
    # a path given as text is named as given; a Path by its file name (``Path.name``)
    assert refusal(str(missing)) == f"{missing}: cannot read: No such file or directory"
    assert refusal(missing) == "missing.csv: cannot read: No such file or directory"
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"loan_id\n\xff\xfe\n")
    assert refusal(str(binary)) == f"{binary}: not UTF-8 text"
    assert refusal(_csv("")) == "book.csv: empty file (no header row)"
    assert refusal(_csv("\n\n")) == "book.csv: empty file (no header row)"
    assert refusal(_csv(header + "\n")) == "book.csv: no loans"
    assert refusal(_csv(header.replace("bank,", "").replace("covered_fen,", "") + "\n")) == "book.csv: missing column 'bank'"
    assert refusal(_csv(header + ",colour,size\n")) == "book.csv: unknown column 'colour'"
    assert refusal(_csv(f"{header}\n{good}\n{good.replace('L1', 'L2')},extra\n")) == \
        "book.csv: row 3: more fields than columns"
    # the optional columns are known: policy and drawdown_date
    book = read_portfolio_csv(_csv(f"{header},drawdown_date\n{good},2026-01-01\n"), POLICIES)
    assert book.drawdown.tolist() == [dt.date(2026, 1, 1)]


def test_a_banks_file_has_its_own_columns(tmp_path):
    book = book_from_rows(ROWS, POLICIES)

    def refusal(text: str) -> str:
        with pytest.raises(PortfolioError) as info:
            read_banks_csv(_csv(text, "banks.csv"), book)
        return str(info.value)

    assert refusal("bank,policy,in_pool_lending_fen\nBANK1,gz-2023,1\n") == "banks.csv: missing column 'cap_used_fen'"
    assert refusal("bank,policy,in_pool_lending_fen,cap_used_fen,pd\n") == "banks.csv: unknown column 'pd'"
    assert refusal("policy,in_pool_lending_fen,cap_used_fen\n") == "banks.csv: missing column 'bank'"
    assert read_banks_csv(_csv("bank,policy,in_pool_lending_fen,cap_used_fen,suspended\nBANK1,gz-2023,1,0,TRUE\n"),
                          book)[0] == CapBase("BANK1", "gz-2023", 1, 0, 0, True)


# --------------------------------------------------------------------------------------------------
# reading: each cell (one line naming the row and the column)


def _bad_row(**changes) -> str:
    row = {k: "" if v is None else str(v) for k, v in ROWS[0].items()}
    row.update(changes)
    with pytest.raises(PortfolioError) as info:
        book_from_rows([ROWS[1], row], POLICIES, name="book.csv")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_amounts_are_whole_fen_within_their_bounds():
    for column, low, high in (("principal_fen", 1, MAX_LOAN_FEN), ("covered_fen", 1, 1_000_000_000),
                              ("outstanding_fen", 0, 1_000_000_000)):
        assert _bad_row(**{column: str(low - 1)}) == f"book.csv: row 3, column {column!r}: must be in {low}..{high}, got {low - 1}"
        assert _bad_row(**{column: str(high + 1)}) == f"book.csv: row 3, column {column!r}: must be in {low}..{high}, got {high + 1}"
        for text in ("1.5", "8e8", "", "ten"):
            assert _bad_row(**{column: text}) == \
                f"book.csv: row 3, column {column!r}: must be a whole number of fen, got {text!r}"
    assert _bad_row(ip_value_fen=str(BIG + 1)) == f"book.csv: row 3, column 'ip_value_fen': must be in 0..{BIG}, got {BIG + 1}"
    assert _bad_row(ip_value_fen="-1") == f"book.csv: row 3, column 'ip_value_fen': must be in 0..{BIG}, got -1"
    assert _bad_row(insurer_limit_fen="-1") == \
        f"book.csv: row 3, column 'insurer_limit_fen': must be in 0..{MAX_LOAN_FEN}, got -1"
    assert _bad_row(insurer_limit_fen="1.0") == \
        "book.csv: row 3, column 'insurer_limit_fen': must be a whole number of fen, got '1.0'"
    # each bound itself is allowed
    top = dict(ROWS[0], principal_fen=MAX_LOAN_FEN, covered_fen=MAX_LOAN_FEN, outstanding_fen=MAX_LOAN_FEN,
               ip_value_fen=BIG, insurer_limit_fen=MAX_LOAN_FEN)
    book = book_from_rows([top], POLICIES)
    assert book.principal_fen.tolist() == book.covered_fen.tolist() == book.outstanding_fen.tolist() == [MAX_LOAN_FEN]
    assert book.ip_value_fen.tolist() == [BIG] and book.insurer_limit_fen.tolist() == [MAX_LOAN_FEN]
    low = dict(ROWS[0], principal_fen=1, covered_fen=1, outstanding_fen=0, ip_value_fen=0, ip_kind="", insurer_limit_fen=0)
    book = book_from_rows([low], POLICIES)
    assert (book.principal_fen.tolist(), book.covered_fen.tolist(), book.outstanding_fen.tolist()) == ([1], [1], [0])
    assert book.ip_value_fen.tolist() == [0] and book.insurer_limit_fen.tolist() == [0] and book.ip_kind.tolist() == [-1]


def test_text_cells_must_not_be_empty():
    for column in ("loan_id", "bank", "sector", "scheme", "maturity_date", "amortization"):
        assert _bad_row(**{column: ""}) == f"book.csv: row 3, column {column!r}: must not be empty"
    assert _bad_row(policy="") == \
        "book.csv: row 3, column 'policy': must not be empty (or give a default policy, --policy)"


def test_each_coded_cell_names_what_it_allows():
    assert _bad_row(sector="shipbuilding") == \
        f"book.csv: row 3, column 'sector': unknown sector 'shipbuilding' (one of {', '.join(SECTORS)})"
    assert _bad_row(policy="gz-1999") == "book.csv: row 3, column 'policy': unknown policy 'gz-1999'"
    assert _bad_row(scheme="5311") == "book.csv: row 3, column 'scheme': policy gz-2023 has no scheme '5311'"
    assert _bad_row(amortization="balloon") == \
        "book.csv: row 3, column 'amortization': must be bullet or straight_line, got 'balloon'"
    assert _bad_row(ip_kind="copyright") == \
        f"book.csv: row 3, column 'ip_kind': unknown IP kind 'copyright' (one of {', '.join(IP_KINDS)})"
    assert _bad_row(ip_kind="") == "book.csv: row 3, column 'ip_kind': must name the IP kind when ip_value_fen > 0"
    assert _bad_row(loan_id="L2") == "book.csv: row 3, column 'loan_id': duplicate loan id 'L2'"
    assert _bad_row(pd="1.5") == "book.csv: row 3, column 'pd': must be in [0, 1], got 1.5"
    assert _bad_row(pd="-0.01") == "book.csv: row 3, column 'pd': must be in [0, 1], got -0.01"
    assert _bad_row(pd="high") == "book.csv: row 3, column 'pd': must be a decimal probability or empty, got 'high'"
    assert _bad_row(maturity_date="30/06/2029") == \
        "book.csv: row 3, column 'maturity_date': must be a date YYYY-MM-DD, got '30/06/2029'"
    assert _bad_row(drawdown_date="2024") == \
        "book.csv: row 3, column 'drawdown_date': must be a date YYYY-MM-DD or empty, got '2024'"
    for day in ("2029-06-30", "2030-01-01"):
        assert _bad_row(drawdown_date=day) == "book.csv: row 3, column 'drawdown_date': must be before the maturity date"
    assert book_from_rows([dict(ROWS[0], pd="1")], POLICIES).pd.tolist() == [1.0]


def test_rows_are_numbered_from_2_as_in_the_file_and_the_name_defaults_to_portfolio():
    row = dict(ROWS[0], sector="shipbuilding")
    with pytest.raises(PortfolioError, match=r"^portfolio: row 2, column 'sector'"):
        book_from_rows([row], POLICIES)
    with pytest.raises(PortfolioError, match=r"^portfolio: no loans$"):
        book_from_rows([], POLICIES)
    with pytest.raises(PortfolioError, match=r"^book.csv: row 4, column 'sector'"):
        book_from_rows([ROWS[1], ROWS[2], row], POLICIES, name="book.csv")


def test_the_default_policy_fills_an_empty_or_absent_policy_cell():
    absent = {k: v for k, v in ROWS[0].items() if k != "policy"}
    for row in (absent, dict(ROWS[0], policy=""), dict(ROWS[0], policy=None)):
        book = book_from_rows([row], POLICIES, default_policy="gz-2023")
        assert book.policies == (POLICIES["gz-2023"],) and book.policy.tolist() == [0]
    # a policy given in the row wins over the default
    assert book_from_rows([ROWS[1]], POLICIES, default_policy="gz-2023").policies == (POLICIES["gz-2020"],)
    with pytest.raises(PortfolioError, match=r"^portfolio: row 2, column 'policy': unknown policy 'gz-1999'$"):
        book_from_rows([absent], POLICIES, default_policy="gz-1999")


def test_banks_and_policies_are_indexed_in_order_of_first_appearance():
    rows = [dict(ROWS[1], loan_id="a"), dict(ROWS[0], loan_id="b"), dict(ROWS[1], loan_id="c", bank="BANK3"),
            dict(ROWS[0], loan_id="d", bank="BANK2")]
    book = book_from_rows(rows, POLICIES)
    assert book.bank_names == ("BANK2", "BANK1", "BANK3") and book.bank.tolist() == [0, 1, 2, 0]
    assert [p.id for p in book.policies] == ["gz-2020", "gz-2023"] and book.policy.tolist() == [0, 1, 0, 1]
    assert book.bank.dtype.kind == book.policy.dtype.kind == book.sector.dtype.kind == book.ip_kind.dtype.kind == "i"


# --------------------------------------------------------------------------------------------------
# make_book (the synthetic book and the engine's oracle build theirs with it)


def _cols(n: int = 2) -> dict:
    return {
        "loan_id": [f"L{i}" for i in range(n)], "bank": [1, 0][:n], "sector": [8, 3][:n], "policy": [0] * n,
        "scheme": ["50"] * n, "pd": [math.nan, 0.25][:n], "principal_fen": [3_000_000_000, 5][:n],
        "covered_fen": [2_500_000_000, 4][:n], "outstanding_fen": [2_200_000_000, 0][:n],
        "maturity_date": [dt.date(2030, 2, 28), dt.date(2027, 12, 31)][:n], "amortization": [True, False][:n],
        "ip_value_fen": [BIG, 0][:n], "ip_kind": [5, -1][:n], "insurer_limit_fen": [-1, 3][:n],
    }


def test_make_book_keeps_each_column():
    cols = _cols()
    book = make_book(cols, ("B0", "B1"), (POLICIES["gz-2023"],))
    assert book.loan_id == ("L0", "L1") and book.bank_names == ("B0", "B1") and book.policies == (POLICIES["gz-2023"],)
    assert book.bank.tolist() == [1, 0] and book.sector.tolist() == [8, 3] and book.policy.tolist() == [0, 0]
    assert book.scheme == ("50", "50") and math.isnan(book.pd[0]) and book.pd[1] == 0.25
    assert book.principal_fen.tolist() == [3_000_000_000, 5] and book.covered_fen.tolist() == [2_500_000_000, 4]
    assert book.outstanding_fen.tolist() == [2_200_000_000, 0]
    assert book.maturity.tolist() == [dt.date(2030, 2, 28), dt.date(2027, 12, 31)]
    assert book.straight_line.tolist() == [True, False] and book.ip_value_fen.tolist() == [BIG, 0]
    assert book.ip_kind.tolist() == [5, -1] and book.insurer_limit_fen.tolist() == [-1, 3]
    # without drawdown dates every loan's is unknown (NaT)
    assert book.drawdown.dtype == np.dtype("datetime64[D]") and np.isnat(book.drawdown).tolist() == [True, True]
    with_dates = make_book({**cols, "drawdown_date": [None, dt.date(2025, 1, 2)]}, ("B0", "B1"), (POLICIES["gz-2023"],))
    assert with_dates.drawdown.tolist() == [None, dt.date(2025, 1, 2)]
    for amounts in (book.principal_fen, book.covered_fen, book.outstanding_fen, book.ip_value_fen, book.insurer_limit_fen):
        assert amounts.dtype == np.int64
    assert book.straight_line.dtype == np.bool_ and book.pd.dtype == np.float64
    assert book.maturity.dtype == np.dtype("datetime64[D]")


# --------------------------------------------------------------------------------------------------
# the cap base (A3's inputs and B2's reading per bank and policy)


def test_without_a_banks_file_each_bank_has_its_covered_sum_per_policy_and_nothing_used():
    rows = [dict(ROWS[0], loan_id="a"), dict(ROWS[2], loan_id="b"), dict(ROWS[0], loan_id="c", covered_fen=3),
            dict(ROWS[1], loan_id="d"), dict(ROWS[2], loan_id="e", covered_fen=5)]
    book = book_from_rows(rows, POLICIES)
    assert default_cap_base(book) == [
        CapBase("BANK1", "gz-2023", 800_000_003, 0, 0, False),
        CapBase("BANK1", "gz-2020", 6, 0, 0, False),
        CapBase("BANK2", "gz-2020", 300_000_000, 0, 0, False),
    ]
    assert cap_base_from_rows([], book) == default_cap_base(book)


def test_banks_rows_replace_the_default_and_extra_policies_of_a_book_bank_are_kept():
    book = book_from_rows(ROWS, POLICIES)  # pairs: BANK1 gz-2023, BANK2 gz-2020, BANK1 gz-2020
    rows = [
        {"bank": "BANK9", "policy": "gz-2023", "in_pool_lending_fen": 1, "cap_used_fen": 1},   # no loan: dropped
        {"bank": "BANK2", "policy": "gz-2023", "in_pool_lending_fen": "7", "cap_used_fen": "2",
         "b2_losses_fen": "3", "suspended": "False"},                                          # another policy: kept
        {"bank": "BANK2", "policy": "gz-2020", "in_pool_lending_fen": 11, "cap_used_fen": 12, "b2_losses_fen": 13,
         "suspended": "True"},
        {"bank": "BANK1", "policy": "bj-zgc-2024", "in_pool_lending_fen": 21, "cap_used_fen": 22,
         "b2_losses_fen": "", "suspended": ""},
    ]
    assert cap_base_from_rows(rows, book) == [
        CapBase("BANK1", "gz-2023", 800_000_000, 0, 0, False),
        CapBase("BANK2", "gz-2020", 11, 12, 13, True),
        CapBase("BANK1", "gz-2020", 1, 0, 0, False),
        CapBase("BANK2", "gz-2023", 7, 2, 3, False),
        CapBase("BANK1", "bj-zgc-2024", 21, 22, 0, False),
    ]


def _bad_bank(**changes) -> str:
    book = book_from_rows(ROWS, POLICIES)
    good = {"bank": "BANK2", "policy": "gz-2020", "in_pool_lending_fen": 1, "cap_used_fen": 0}
    with pytest.raises(PortfolioError) as info:
        cap_base_from_rows([good, {**good, "policy": "gz-2023", **changes}], book, name="banks.csv")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_bad_banks_row_names_the_row_and_the_column():
    for column in ("in_pool_lending_fen", "cap_used_fen", "b2_losses_fen"):
        assert _bad_bank(**{column: -1}) == f"banks.csv: row 3, column {column!r}: must be in 0..{BIG}, got -1"
        assert _bad_bank(**{column: BIG + 1}) == f"banks.csv: row 3, column {column!r}: must be in 0..{BIG}, got {BIG + 1}"
        assert _bad_bank(**{column: "1e3"}) == f"banks.csv: row 3, column {column!r}: must be a whole number of fen, got '1e3'"
    for column in ("in_pool_lending_fen", "cap_used_fen"):
        assert _bad_bank(**{column: ""}) == f"banks.csv: row 3, column {column!r}: must be a whole number of fen, got ''"
    for column in ("bank", "policy"):
        assert _bad_bank(**{column: ""}) == f"banks.csv: row 3, column {column!r}: must not be empty"
    assert _bad_bank(policy="gz-2020") == \
        "banks.csv: row 3, column 'bank': duplicate row for bank 'BANK2' and policy 'gz-2020'"
    assert _bad_bank(suspended="yes") == "banks.csv: row 3, column 'suspended': must be true, false or empty, got 'yes'"
    assert _bad_bank(suspended="1") == "banks.csv: row 3, column 'suspended': must be true, false or empty, got '1'"
    book = book_from_rows(ROWS, POLICIES)
    with pytest.raises(PortfolioError, match=r"^banks: row 2, column 'bank': must not be empty$"):
        cap_base_from_rows([{"bank": "", "policy": "gz-2020", "in_pool_lending_fen": 1, "cap_used_fen": 0}], book)
    # the same bank under two policies, and two banks under one policy, are two rows each
    rows = [{"bank": "BANK1", "policy": p, "in_pool_lending_fen": 1, "cap_used_fen": 0} for p in ("gz-2023", "gz-2020")]
    rows += [{"bank": "BANK2", "policy": "gz-2023", "in_pool_lending_fen": 1, "cap_used_fen": 0}]
    assert len(cap_base_from_rows(rows, book)) == 4
    top = cap_base_from_rows([{"bank": "BANK1", "policy": "gz-2023", "in_pool_lending_fen": BIG, "cap_used_fen": BIG,
                               "b2_losses_fen": BIG}], book)[0]
    assert (top.in_pool_lending_fen, top.cap_used_fen, top.b2_losses_fen) == (BIG, BIG, BIG)


# --------------------------------------------------------------------------------------------------
# the fund's position (M1; A4: cash is 0 while compensation is deferred)


def test_the_fund_position_holds_whole_fen_in_range():
    FundPosition(0, 0, ())
    FundPosition(BIG, 0, (0, 10**14))
    FundPosition(0, BIG, (10**14,))
    p = FundPosition(cash_fen=5, deferred_fen=0, appropriation_fen=(1, 2, 3))
    assert (p.cash_fen, p.deferred_fen, p.appropriation_fen) == (5, 0, (1, 2, 3))
    for name in ("cash_fen", "deferred_fen"):
        for value in (-1, BIG + 1, 1.0, True, False, "5", None):
            kwargs = {"cash_fen": 0, "deferred_fen": 0, "appropriation_fen": (), name: value}
            with pytest.raises(ValueError) as info:
                FundPosition(**kwargs)
            assert str(info.value) == f"{name} must be an integer in 0..{BIG}, got {value!r}"
    for value in (-1, 10**14 + 1, 1.0, True, "5", None):
        for position in (0, 2):
            appropriation = [0, 0, 0]
            appropriation[position] = value
            with pytest.raises(ValueError) as info:
                FundPosition(0, 0, tuple(appropriation))
            assert str(info.value) == f"appropriation_fen must hold integers in 0..10^14, got {value!r}"


def test_cash_is_zero_while_compensation_is_deferred():
    FundPosition(1, 0, ())
    FundPosition(0, 1, ())
    with pytest.raises(ValueError) as info:
        FundPosition(1, 1, ())
    assert str(info.value) == "cash_fen must be 0 while compensation is deferred (A4 settles deferrals first)"


def test_each_years_appropriation_comes_from_the_policies_in_force_on_its_first_day():
    gz20, gz23, bj = POLICIES["gz-2020"], POLICIES["gz-2023"], POLICIES["bj-zgc-2024"]
    # gz-2023: 5 000 000 000 a year, 2023-07-13 to 2028-01-18
    assert policy_appropriations([gz23], dt.date(2026, 1, 1), 4) == (5_000_000_000,) * 3 + (0,)
    assert policy_appropriations([gz23], dt.date(2025, 1, 19), 4) == (5_000_000_000,) * 3 + (0,)
    assert policy_appropriations([gz23], dt.date(2025, 1, 18), 4) == (5_000_000_000,) * 4  # its last day
    assert policy_appropriations([gz23], dt.date(2022, 7, 13), 3) == (0, 5_000_000_000, 5_000_000_000)
    assert policy_appropriations([gz23], dt.date(2026, 1, 1), 0) == ()
    assert policy_appropriations([gz23], dt.date(2026, 1, 1), 1) == (5_000_000_000,)
    # a one-off appropriation (gz-2020) and none (bj-zgc-2024) count as 0
    assert policy_appropriations([gz20, bj], dt.date(2021, 1, 1), 3) == (0, 0, 0)
    assert policy_appropriations([gz20, gz23], dt.date(2023, 7, 13), 2) == (5_000_000_000, 5_000_000_000)
    assert policy_appropriations([gz20, gz23], dt.date(2023, 7, 12), 2) == (0, 5_000_000_000)  # gz-2020's last day
    # two yearly policies in force on the same day add up
    import dataclasses
    other = dataclasses.replace(gz20, appropriation_kind="yearly", valid_to=dt.date(2027, 6, 30))
    assert policy_appropriations([gz23, other], dt.date(2026, 1, 1), 3) == (9_000_000_000, 9_000_000_000, 5_000_000_000)
    # 29 February: the next years start on 28 February (docs/rules.md section 0's calendar)
    assert policy_appropriations([gz23], dt.date(2024, 2, 29), 5) == (5_000_000_000,) * 4 + (0,)


def test_policies_given_as_a_generator_count_every_year():
    # it iterated its policies once per year, so a generator was used up by the first year (fixed)
    gz23 = POLICIES["gz-2023"]
    assert policy_appropriations((p for p in [gz23]), dt.date(2026, 1, 1), 2) == (5_000_000_000, 5_000_000_000)


# --------------------------------------------------------------------------------------------------
# rows straight from the database (book_from_rows: "ints and text"): a value is read as its text, a
# cell the row leaves out is an empty cell


def test_a_database_rows_values_read_as_their_text():
    row = dict(ROWS[0], loan_id=17)
    book = book_from_rows([row], POLICIES)
    assert book.loan_id == ("17",)
    with pytest.raises(PortfolioError) as info:
        book_from_rows([row, dict(ROWS[1], loan_id="17")], POLICIES)
    assert str(info.value) == "portfolio: row 3, column 'loan_id': duplicate loan id '17'"


def test_a_cell_left_out_of_a_row_is_an_empty_cell():
    def without(*columns, row=ROWS[1]):
        return {k: v for k, v in row.items() if k not in columns}

    # optional cells: the sector's PD, no IP (value 0), no drawdown date, the default policy
    book = book_from_rows([without("pd", "ip_kind", "drawdown_date", "insurer_limit_fen")], POLICIES)
    assert math.isnan(book.pd[0]) and book.ip_kind.tolist() == [-1] and np.isnat(book.drawdown).tolist() == [True]
    assert book.insurer_limit_fen.tolist() == [-1]
    assert book_from_rows([without("policy")], POLICIES, default_policy="gz-2020").policies == (POLICIES["gz-2020"],)
    # required ones are refused as empty
    for column in ("loan_id", "bank", "sector", "scheme", "maturity_date", "amortization"):
        with pytest.raises(PortfolioError) as info:
            book_from_rows([without(column)], POLICIES)
        assert str(info.value) == f"portfolio: row 2, column {column!r}: must not be empty"
    with pytest.raises(PortfolioError) as info:
        book_from_rows([without("principal_fen")], POLICIES)
    assert str(info.value) == "portfolio: row 2, column 'principal_fen': must be a whole number of fen, got ''"
    # an IP value without its kind
    with pytest.raises(PortfolioError) as info:
        book_from_rows([without("ip_kind", row=ROWS[0])], POLICIES)
    assert str(info.value) == "portfolio: row 2, column 'ip_kind': must name the IP kind when ip_value_fen > 0"


def test_any_ip_value_needs_its_kind():
    with pytest.raises(PortfolioError, match=r"column 'ip_kind': must name the IP kind when ip_value_fen > 0$"):
        book_from_rows([dict(ROWS[0], ip_value_fen=1, ip_kind="")], POLICIES)
    assert book_from_rows([dict(ROWS[0], ip_value_fen=0, ip_kind="")], POLICIES).ip_kind.tolist() == [-1]


def test_a_database_banks_row_gives_suspended_as_a_boolean():
    """The export's banks rows carry ``suspended`` as the database's boolean (and amounts as ints)."""
    book = book_from_rows(ROWS, POLICIES)
    rows = [{"bank": "BANK1", "policy": "gz-2023", "in_pool_lending_fen": 10, "cap_used_fen": 1, "b2_losses_fen": 2,
             "suspended": True},
            {"bank": "BANK2", "policy": "gz-2020", "in_pool_lending_fen": 20, "cap_used_fen": 0, "b2_losses_fen": 0,
             "suspended": False}]
    assert cap_base_from_rows(rows, book)[:2] == [CapBase("BANK1", "gz-2023", 10, 1, 2, True),
                                                  CapBase("BANK2", "gz-2020", 20, 0, 0, False)]


def test_make_book_stores_amounts_as_int64_pds_as_float64_and_flags_as_bools_whatever_it_is_given():
    """Fen amounts are int64 throughout the model (an int32 holds at most 21 million yuan); columns
    handed over as narrower numpy arrays (as from a data frame) are widened, not kept."""
    cols = _cols()
    for column in ("principal_fen", "covered_fen", "outstanding_fen", "insurer_limit_fen"):
        cols[column] = np.asarray([min(v, 2**31 - 1) for v in cols[column]], dtype=np.int32)
    cols["ip_value_fen"] = np.asarray([2**31 - 1, 0], dtype=np.int32)
    cols["pd"] = np.asarray(cols["pd"], dtype=np.float32)
    cols["amortization"] = np.asarray([1, 0], dtype=np.int8)
    book = make_book(cols, ("B0", "B1"), (POLICIES["gz-2023"],))
    for amounts in (book.principal_fen, book.covered_fen, book.outstanding_fen, book.ip_value_fen, book.insurer_limit_fen):
        assert amounts.dtype == np.int64
    assert (book.covered_fen * 10_000).tolist() == [(2**31 - 1) * 10_000, 40_000]  # A2's bp products, no wrap
    assert book.pd.dtype == np.float64 and book.straight_line.dtype == np.bool_
    assert book.straight_line.tolist() == [True, False]
