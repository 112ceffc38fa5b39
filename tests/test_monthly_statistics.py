"""Monthly statistics (RULES 13) against independent SQL sums over a small demo book, on both
backends: lending by bank, sector, district and IP kind, enterprises served, subsidies granted,
paid and deferred, pools at the month's end, leverage and past-due buckets."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

import fund.services.demo as demo
from fund.adapters.db import unit_of_work
from fund.errors import DomainError, Forbidden
from fund.services.common import institution_by_code
from fund.services.monthly import monthly_statistics
from fund.services.registry import Actor
from fund.services.subsidies import run_month

pytestmark = pytest.mark.db
BD = dt.date(2026, 10, 31)


@pytest.fixture
def book(session_factory):
    demo.load_demo(session_factory, seed=2, scale=0.03)
    with unit_of_work(session_factory) as s:
        actors = {"FM": Actor.of(institution_by_code(s, "FM-GZ"))}
        run_month(s, "2026-09", BD, actor=actors["FM"])
    return session_factory, actors


def sql(session_factory, statement: str, **params):
    with unit_of_work(session_factory) as s:
        return s.execute(text(statement), params).all()


def _lending_in_a_month_equals_sql_sums(book):
    factory, actors = book
    from collections import Counter

    from fund.domain.dates import month_bounds

    drawdowns = [d if isinstance(d, dt.date) else dt.date.fromisoformat(d) for (d,) in sql(factory, "select drawdown_date from loans")]
    month = Counter(d.strftime("%Y-%m") for d in drawdowns).most_common(1)[0][0]  # the busiest month of the book
    first, last = month_bounds(month)
    with unit_of_work(factory) as s:
        stats = monthly_statistics(s, actors["FM"], month)
    by_bank = {code: (n, int(p), int(c)) for code, n, p, c in sql(factory, """
        select i.code, count(*), sum(l.principal_fen), sum(l.covered_fen) from loans l join institutions i on i.id = l.bank_id
        where l.drawdown_date between :a and :b and l.status <> 'cancelled' group by i.code""", a=first, b=last)}
    assert by_bank and {k: (v.loans, v.principal_fen, v.covered_fen) for k, v in stats.month.lending.by_bank.items()} == by_bank
    by_sector = dict(sql(factory, """select borrower_sector, sum(covered_fen) from loans
        where drawdown_date between :a and :b and status <> 'cancelled' group by borrower_sector""", a=first, b=last))
    assert {k: v.covered_fen for k, v in stats.month.lending.by_sector.items()} == {k: int(v) for k, v in by_sector.items()}
    by_district = dict(sql(factory, """select borrower_district, count(*) from loans
        where drawdown_date between :a and :b and status <> 'cancelled' group by borrower_district""", a=first, b=last))
    assert {k: v.loans for k, v in stats.month.lending.by_district.items()} == by_district
    kinds: dict[str, int] = {}
    for loan_id, kind, value, asset_id in sql(factory, """
            select l.id, a.kind, a.appraised_value_fen, a.id from loans l join loan_assets la on la.loan_id = l.id
            join ip_assets a on a.id = la.asset_id where l.drawdown_date between :a and :b and l.status <> 'cancelled'
            order by l.id, a.appraised_value_fen desc, a.id""", a=first, b=last):
        kinds.setdefault(loan_id, kind)
    counted: dict[str, int] = {}
    for kind in kinds.values():
        counted[kind] = counted.get(kind, 0) + 1
    assert {k: v.loans for k, v in stats.month.lending.by_ip_kind.items()} == counted
    ((served,),) = sql(factory, """select count(distinct enterprise_id) from loans
        where drawdown_date between :a and :b and status <> 'cancelled' and covered_fen > 0""", a=first, b=last)
    assert stats.month.lending.enterprises_served == served
    ((cum_loans, cum_covered),) = sql(factory, """select count(*), sum(covered_fen) from loans
        where drawdown_date <= :b and status <> 'cancelled'""", b=last)
    assert (stats.cumulative.lending.total.loans, stats.cumulative.lending.total.covered_fen) == (cum_loans, int(cum_covered))
    ((claims, loss),) = sql(factory, "select count(*), coalesce(sum(loss_fen), 0) from claims where filed_on between :a and :b",
                            a=first, b=last)
    assert (stats.month.claims.filed.count, stats.month.claims.filed.amount_fen) == (claims, int(loss))


def _money_and_month_end_figures_equal_sql_sums(book):
    factory, actors = book
    last = dt.date(2026, 10, 31)
    with unit_of_work(factory) as s:
        stats = monthly_statistics(s, actors["FM"], "2026-10")
    ((total, paid, deferred),) = sql(factory, "select total_fen, paid_fen, deferred_fen from subsidy_runs where month = '2026-09'")
    assert stats.month.interest_subsidies.granted_fen == 0  # the September run is granted in September
    assert stats.cumulative.interest_subsidies.granted_fen == total > 0
    assert stats.month.interest_subsidies.paid_fen == paid  # it left the pool's cash on the business date, in October
    assert stats.month.interest_subsidies.deferred_fen == deferred
    balances = dict(sql(factory, """select p.account_code, sum(p.amount_fen) from postings p
        join journal_entries e on e.id = p.entry_id where e.business_date <= :b group by p.account_code""", b=last))
    for pool in ("compensation", "subsidy"):
        assert stats.pools[pool].cash_fen == int(balances.get(f"pool:{pool}:cash", 0))
        assert stats.pools[pool].deferred_fen == -int(balances.get(f"liability:{pool}_deferred", 0))
    ((appropriated,),) = sql(factory, """select sum(p.amount_fen) from postings p join journal_entries e on e.id = p.entry_id
        where e.cause = 'appropriation' and p.account_code = 'pool:compensation:cash' and e.business_date <= :b""", b=last)
    assert stats.leverage.appropriated_fen == int(appropriated)
    # past due on the month's last day, from the installments and repayments themselves
    paid_by: dict[int, tuple[int, int]] = {}
    for inst, principal, interest in sql(factory, """select installment_id, sum(principal_fen), sum(interest_fen)
            from repayments where paid_on <= :b group by installment_id""", b=last):
        paid_by[inst] = (int(principal), int(interest))
    approved = {r[0] for r in sql(factory, "select loan_id from claims where fund_fen is not null and decided_on <= :b", b=last)}
    earliest: dict[int, dt.date] = {}
    unpaid_any: set[int] = set()
    for inst, loan_id, due, p_due, i_due in sql(factory, """select i.id, i.loan_id, i.due_date, i.principal_due_fen,
            i.interest_due_fen from installments i join loans l on l.id = i.loan_id
            where l.drawdown_date <= :b and l.status <> 'cancelled'""", b=last):
        due = due if isinstance(due, dt.date) else dt.date.fromisoformat(due)
        p, i = paid_by.get(inst, (0, 0))
        if p < p_due or i < i_due:
            unpaid_any.add(loan_id)
            if due < last and (loan_id not in earliest or due < earliest[loan_id]):
                earliest[loan_id] = due
    live = unpaid_any - approved
    buckets = {"1-30": 0, "31-90": 0, "91-365": 0, "over 365": 0}
    for loan_id, due in earliest.items():
        if loan_id in live:
            days = (last - due).days
            buckets["1-30" if days <= 30 else "31-90" if days <= 90 else "91-365" if days <= 365 else "over 365"] += 1
    assert {k: v.loans for k, v in stats.past_due.items()} == buckets
    assert sum(buckets.values()) > 0
    ((live_covered,),) = sql(factory, f"select coalesce(sum(covered_fen), 0) from loans where id in ({','.join(map(str, live)) or '0'})")
    assert stats.leverage.live_covered_fen == int(live_covered)


def _who_reads_and_which_months(book):
    factory, actors = book
    with unit_of_work(factory) as s:
        bank = Actor.of(institution_by_code(s, "ICBC-GZ"))
        with pytest.raises(Forbidden):
            monthly_statistics(s, bank, "2025-06")
        with pytest.raises(DomainError) as refused:
            monthly_statistics(s, actors["FM"], "2026-11")
        assert refused.value.code == "month_after_business_date"
        with pytest.raises(DomainError):
            monthly_statistics(s, actors["FM"], "2025-13")


def test_monthly_statistics_equal_sql_sums(book):
    """One demo book per backend (loading it is most of the cost), three checks."""
    _lending_in_a_month_equals_sql_sums(book)
    _money_and_month_end_figures_equal_sql_sums(book)
    _who_reads_and_which_months(book)
