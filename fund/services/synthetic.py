"""A synthetic book written straight into the database in bulk, for the subsidy-run benchmark
(``ipfund subsidies bench``) and the crash-safety test: deterministic for a seed, consistent with
the rules (rule C's caps and quota), far faster than registering through the registry.

>>> BookSummary(1, 5, 60, 60, 1, 0).loans
5
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from fund.adapters.dialect import copy_rows, sync_id_sequences


@dataclass(frozen=True)
class BookSummary:
    enterprises: int
    loans: int
    installments: int
    repayments: int
    late_repayments: int
    ineligible_loans: int


def load_synthetic_book(
    session: Session,
    *,
    loans: int,
    seed: int = 1,
    drawdown_year: int = 2024,
    loans_per_enterprise: int = 5,
    late_share: float = 0.02,
    non_sme_share: float = 0.02,
    big_share: float = 0.02,
    policy_id: str = "gz-2023",
) -> BookSummary:
    """Bulk-load a deterministic book consistent with the rules, in the caller's transaction: loans
    drawn in ``drawdown_year`` under ``policy_id`` (which must be active then), 12 monthly installments
    each, amortising, every installment repaid in full in one repayment, on time (up to 5 days early) or,
    for ``late_share`` of them, 1..20 days late (then past due when paid). Enterprises of ``non_sme_share``
    are not SMEs: their loans are ineligible. ``big_share`` of loans are 50 times larger, so some
    enterprises reach their annual subsidy cap. Covered principal follows rule C (single-loan cap and
    the borrower quota in registration order). Written with ``fund.adapters.dialect.copy_rows`` (COPY or executemany);
    loan events and borrower reports, which no rule here reads, are not written.
    """
    from fund.adapters.models.registry import Institution, StoredPolicy
    from fund.domain.dates import add_months
    from fund.services.common import add_institution
    from fund.services.policies import activate_policy, get_policy, load_shipped_policies
    from fund.services.reference import make_patent_number, make_uscc, seed_reference_data

    seed_reference_data(session)
    if session.get(StoredPolicy, policy_id) is None:
        load_shipped_policies(session)
    activate_policy(session, policy_id)
    policy = get_policy(session, policy_id)
    bank_ids = [add_institution(session, f"SYN-BANK{i}", f"Synthetic Bank {i}", "bank").id for i in range(1, 4)]
    if session.scalar(select(Institution.id).where(Institution.kind == "fund_manager")) is None:
        add_institution(session, "FM", "Fund Manager", "fund_manager")
    session.flush()
    from fund.services.pool import agree_all_banks

    agree_all_banks(session, (policy_id,), reference="synthetic book pool agreement", today=policy.valid_from)  # B1

    start = {t: int(session.execute(text(f"select coalesce(max(id), 0) from {t}")).scalar()) + 1
             for t in ("enterprises", "loans", "installments", "repayments", "ip_assets")}
    rng = np.random.default_rng(seed)
    n_ent = -(-loans // loans_per_enterprise)
    non_sme = rng.random(n_ent) < non_sme_share
    enterprise_rows = [
        (start["enterprises"] + e, make_uscc(f"92{seed % 100:02d}{start['enterprises'] + e:013d}"), f"Synthetic enterprise {e}",
         "Huangpu", "next_generation_it", dt.date(2015, 1, 1), not bool(non_sme[e]), True, bank_ids[0])
        for e in range(n_ent)
    ]
    copy_rows(session, "enterprises", ("id", "credit_code", "name", "district", "sector", "registered_on", "is_sme",
                                      "clean_credit", "first_reported_by"), enterprise_rows)

    first_day = dt.date(drawdown_year, 1, 1)
    offsets = np.sort(rng.integers(0, 365, loans))  # registration order follows drawdown
    principal = rng.integers(1_000_000, 500_000_000, loans) * np.where(rng.random(loans) < big_share, 50, 1)
    rates = rng.integers(250, 600, loans)
    shares = rng.integers(3_000, 10_001, loans)
    owner = rng.integers(0, n_ent, loans)
    early = rng.integers(0, 6, (loans, 12))
    late = np.where(rng.random((loans, 12)) < late_share, rng.integers(1, 21, (loans, 12)), 0)
    quota_used: dict[int, int] = {}
    loan_rows, asset_rows, link_rows, inst_rows, rep_rows = [], [], [], [], []
    inst_id, rep_id = start["installments"], start["repayments"]
    late_count = ineligible = 0
    json_empty, json_not_sme = "[]", '["not_sme"]'
    for k in range(loans):
        loan_id = start["loans"] + k
        ent = int(owner[k])
        p, rate, share = int(principal[k]), int(rates[k]), int(shares[k])
        drawdown = first_day + dt.timedelta(days=int(offsets[k]))
        ip_part = p * share // 10_000
        eligible = not non_sme[ent]
        if eligible:
            capped = min(ip_part, policy.single_loan_cap_fen or ip_part)
            used = quota_used.get(ent, 0)
            covered = min(capped, max(0, (policy.borrower_annual_quota_fen or capped + used) - used))
            quota_used[ent] = used + covered
        else:
            covered = 0
            ineligible += 1
        bank_id = bank_ids[k % len(bank_ids)]
        asset_id = start["ip_assets"] + k
        loan_rows.append((
            loan_id, bank_id, f"SYN-{seed}-{loan_id}", start["enterprises"] + ent, p, rate, drawdown,
            add_months(drawdown, 12), share, "50", policy_id, f"PR-SYN-{seed}-{loan_id}", drawdown,
            "eligible" if eligible else "ineligible", json_empty if eligible else json_not_sme, ip_part, covered,
            drawdown_year if eligible else None, "repaid", p, json_empty, drawdown,
            # the borrower as this loan's bank reported it (docs/rules.md section 3): the enterprise's data
            *enterprise_rows[ent][2:8],
        ))
        asset_rows.append((asset_id, "invention_patent", make_patent_number(2017, 1, asset_id), f"Synthetic patent {asset_id}",
                           dt.date(2017, 3, 1), "valid", enterprise_rows[ent][1], 10 * p, drawdown))
        link_rows.append((loan_id, asset_id))
        outstanding = p
        for m in range(12):
            due = add_months(drawdown, m + 1)
            principal_due = p - (p // 12) * 11 if m == 11 else p // 12
            interest_due = outstanding * rate // 120_000
            outstanding -= principal_due
            inst_rows.append((inst_id, loan_id, due, principal_due, interest_due, principal_due, interest_due))
            days_late = int(late[k, m])
            paid_on = due + dt.timedelta(days=days_late) if days_late else max(drawdown, due - dt.timedelta(days=int(early[k, m])))
            late_count += days_late > 0
            rep_rows.append((rep_id, loan_id, inst_id, paid_on, principal_due, interest_due, "active", days_late > 0, bank_id))
            inst_id += 1
            rep_id += 1
    copy_rows(session, "ip_assets", ("id", "kind", "number", "title", "filing_date", "legal_status", "owner_credit_code",
                                    "appraised_value_fen", "appraised_on"), asset_rows)
    copy_rows(session, "loans", ("id", "bank_id", "contract_no", "enterprise_id", "principal_fen", "contract_rate_bp",
                                "drawdown_date", "maturity_date", "ip_share_bp", "scheme_code", "policy_id",
                                "pledge_registration_no", "pledge_registered_on", "coverage", "ineligible_reasons",
                                "ip_part_fen", "covered_fen", "quota_year", "status", "principal_repaid_fen", "flags",
                                "registered_on", "borrower_name", "borrower_district", "borrower_sector",
                                "borrower_registered_on", "borrower_is_sme", "borrower_clean_credit"), loan_rows)
    copy_rows(session, "loan_assets", ("loan_id", "asset_id"), link_rows)
    copy_rows(session, "installments", ("id", "loan_id", "due_date", "principal_due_fen", "interest_due_fen",
                                       "principal_paid_fen", "interest_paid_fen"), inst_rows)
    copy_rows(session, "repayments", ("id", "loan_id", "installment_id", "paid_on", "principal_fen", "interest_fen",
                                     "loan_status_at_payment", "past_due_at_payment", "recorded_by"), rep_rows)
    quota_rows = [(start["enterprises"] + ent, policy_id, drawdown_year, used) for ent, used in quota_used.items()]
    copy_rows(session, "borrower_quotas", ("enterprise_id", "policy_id", "year", "used_fen"), quota_rows)
    sync_id_sequences(session, ("enterprises", "loans", "installments", "repayments", "ip_assets"))
    return BookSummary(n_ent, loans, len(inst_rows), len(rep_rows), late_count, ineligible)
