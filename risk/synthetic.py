"""A synthetic loan book for the benchmark and tests: loans over the nine sectors under gz-2023.

>>> book = synthetic_book(50, seed=3)
>>> book.size, len(set(book.sector.tolist())) > 1
(50, True)
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from fund.domain.dates import add_months
from fund.domain.policy import IP_KINDS, shipped_policy
from risk.allocation import UNLIMITED
from risk.portfolio import Book, make_book
from risk.scenario import SECTORS


def synthetic_book(n_loans: int, *, seed: int = 0, as_of: dt.date = dt.date(2026, 1, 1), n_banks: int = 12,
                   bank_pd_share: float = 0.3) -> Book:
    """``n_loans`` loans: principal 1..20 million yuan, IP share 30..100%, C capped at 10 million
    yuan (gz-2023), maturities 1..5 years, half straight line; ``bank_pd_share`` of them carry a
    bank PD (0.5%..6%), the rest take their sector's placeholder PD."""
    if n_loans < 1:
        raise ValueError("n_loans must be >= 1")
    rng = np.random.default_rng(seed)
    policy = shipped_policy("gz-2023")
    principal = rng.integers(100, 2001, n_loans) * 1_000_000
    ip_share = rng.integers(3000, 10001, n_loans)
    covered = np.minimum(principal * ip_share // 10_000, policy.single_loan_cap_fen)
    months = rng.integers(12, 61, n_loans)
    elapsed = rng.random(n_loans) * 0.5
    straight = rng.random(n_loans) < 0.5
    outstanding = np.where(straight, np.maximum(1, (principal * (1 - elapsed)).astype(np.int64)), principal)
    kinds = rng.choice(len(IP_KINDS), n_loans, p=[0.45, 0.25, 0.05, 0.15, 0.02, 0.08])
    ip_value = (principal * rng.lognormal(0.0, 0.5, n_loans) * 0.8).astype(np.int64)
    pd = np.where(rng.random(n_loans) < bank_pd_share, np.round(rng.uniform(0.005, 0.06, n_loans), 4), math.nan)
    cols = {
        "loan_id": [f"S{i:06d}" for i in range(n_loans)],
        "bank": rng.integers(0, n_banks, n_loans).tolist(),
        "sector": rng.integers(0, len(SECTORS), n_loans).tolist(),
        "policy": [0] * n_loans,
        "scheme": ["50"] * n_loans,
        "pd": pd.tolist(),
        "principal_fen": principal.tolist(),
        "covered_fen": covered.tolist(),
        "outstanding_fen": outstanding.tolist(),
        "maturity_date": [add_months(as_of, int(m)) for m in months],
        "amortization": straight.tolist(),
        "ip_value_fen": ip_value.tolist(),
        "ip_kind": kinds.tolist(),
        "insurer_limit_fen": [UNLIMITED] * n_loans,
    }
    return make_book(cols, tuple(f"bank-{b + 1:02d}" for b in range(n_banks)), (policy,))
