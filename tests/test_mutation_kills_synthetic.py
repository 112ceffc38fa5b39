"""Survivors of the mutation run over risk/synthetic.py (docs/mutation.md), killed by pinning what the
synthetic book promises (its docstring, and the benchmark and tests that draw it): ``n_loans`` loans
(at least one), the same book for the same seed (seed 0 when none is given), twelve banks named
``bank-01`` to ``bank-12`` unless told otherwise, and loans as docs/rules.md sections 3 and 8 read
them: principal 1..20 million yuan, C = principal x IP share (30..100%) capped at gz-2023's single-loan
cap of 10 million yuan, straight-line loans part repaid, a bank PD of 0.5%..6% on a share of them
and the sector's placeholder (NaN) on the rest."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from risk.synthetic import synthetic_book

MILLION_YUAN = 100 * 1_000_000   # fen


def _same(a, b) -> bool:
    return (a.loan_id == b.loan_id and a.bank_names == b.bank_names and
            all(np.array_equal(getattr(a, f), getattr(b, f), equal_nan=(f == "pd"))
                for f in ("bank", "sector", "pd", "principal_fen", "covered_fen", "outstanding_fen", "maturity",
                          "straight_line", "ip_value_fen", "ip_kind", "insurer_limit_fen")))


def test_a_book_of_one_loan_and_none_of_zero():
    book = synthetic_book(1, seed=4)
    assert book.size == 1 and book.loan_id == ("S000000",)
    with pytest.raises(ValueError, match=r"^n_loans must be >= 1$"):
        synthetic_book(0)
    with pytest.raises(ValueError, match=r"^n_loans must be >= 1$"):
        synthetic_book(-3)


def test_the_same_seed_gives_the_same_book_and_no_seed_is_seed_zero():
    assert _same(synthetic_book(80, seed=9), synthetic_book(80, seed=9))
    assert not _same(synthetic_book(80, seed=9), synthetic_book(80, seed=10))
    assert _same(synthetic_book(80), synthetic_book(80, seed=0))
    assert not _same(synthetic_book(80), synthetic_book(80, seed=1))


def test_twelve_banks_named_bank_01_to_bank_12():
    book = synthetic_book(300, seed=2)
    assert book.bank_names == tuple(f"bank-{i:02d}" for i in range(1, 13))
    assert book.bank_names[0] == "bank-01" and book.bank_names[-1] == "bank-12"
    assert set(book.bank.tolist()) == set(range(12))
    assert synthetic_book(10, seed=2, n_banks=3).bank_names == ("bank-01", "bank-02", "bank-03")


def test_loans_as_the_docstring_describes_them():
    as_of = dt.date(2026, 1, 1)
    book = synthetic_book(2000, seed=6, as_of=as_of)
    p, c, o = book.principal_fen, book.covered_fen, book.outstanding_fen
    assert p.dtype == c.dtype == o.dtype == book.ip_value_fen.dtype == np.int64
    assert (p >= 1 * MILLION_YUAN).all() and (p <= 20 * MILLION_YUAN).all() and (p % 1_000_000 == 0).all()
    # C: the IP share (30..100%) of the principal, floored to the fen, at most 10 million yuan
    cap = 10 * MILLION_YUAN
    assert (c <= np.minimum(p, cap)).all() and (c >= np.minimum(p * 3 // 10, cap)).all()
    assert (c == cap).any() and (c < cap).any()
    # bullet loans owe their principal; straight-line loans have repaid under half of it
    bullet = ~book.straight_line
    assert 0.45 < book.straight_line.mean() < 0.55
    assert (o[bullet] == p[bullet]).all()
    assert (o[~bullet] > p[~bullet] // 2).all() and (o[~bullet] <= p[~bullet]).all()
    days = (book.maturity - np.datetime64(as_of, "D")).astype(int)
    assert days.min() >= 365 and days.max() <= 5 * 366
    assert (book.ip_value_fen > 0).all()
    # a bank PD on about 30% of the loans, 0.5%..6% to the basis point; NaN (the sector's) elsewhere
    given = ~np.isnan(book.pd)
    assert 0.25 < given.mean() < 0.35
    assert (book.pd[given] >= 0.005).all() and (book.pd[given] <= 0.06).all()
    assert np.allclose(book.pd[given] * 10_000, np.round(book.pd[given] * 10_000))
    assert np.isnan(synthetic_book(200, seed=1, bank_pd_share=0.0).pd).all()
    assert not np.isnan(synthetic_book(200, seed=1, bank_pd_share=1.0).pd).any()
