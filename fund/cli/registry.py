"""`ipfund report` and `ipfund loans`: the registry's views."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from fund.cli.common import console, handle_errors, money_table, parse_date, print_json, transaction
from fund.domain.money import yuan

report_app = typer.Typer(help="Reports: portfolio, fund.", no_args_is_help=True)
loans_app = typer.Typer(help="Loans in the registry.", no_args_is_help=True)

_FIGURE_COLUMNS = (("loans", "count"), ("principal (yuan)", "principal_fen"), ("covered (yuan)", "covered_fen"),
                   ("outstanding (yuan)", "outstanding_fen"))


def _figures_table(title: str, key_title: str, entries: dict[str, dict[str, Any]], *, names: bool = False) -> Table:
    table = Table(title=title)
    table.add_column(key_title)
    if names:
        table.add_column("name")
    for heading, _ in _FIGURE_COLUMNS:
        table.add_column(heading, justify="right")
    for key, entry in entries.items():
        cells = [str(entry["count"])] + [yuan(entry[field]) for _, field in _FIGURE_COLUMNS[1:]]
        table.add_row(key, *([entry.get("name") or ""] if names else []), *cells)
    return table


@report_app.command("portfolio", help="Loans by coverage, bank, sector, policy and status; covered and outstanding principal; flags; past due.")
@handle_errors
def portfolio(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON (amounts in fen)."),
    as_of: str = typer.Option(None, "--as-of", help="YYYY-MM-DD; default the business date."),
) -> None:
    from fund.services.reports import portfolio_report

    with transaction() as session:
        report = portfolio_report(session, parse_date(as_of, "as_of") if as_of else None)
    if as_json:
        print_json(report)
        return
    summary = Table(title=f"Portfolio as of {report['as_of']}", show_header=False)
    summary.add_column("figure")
    summary.add_column("value", justify="right")
    summary.add_row("loans", str(report["loans"]))
    for label, key in (("principal (yuan)", "principal_fen"), ("covered principal (yuan)", "covered_fen"),
                       ("outstanding principal (yuan)", "outstanding_fen"), ("covered principal of live loans (yuan)", "live_covered_fen")):
        summary.add_row(label, yuan(report[key]))
    summary.add_row("loans flagged", str(report["flagged"]["loans"]))
    console.print(summary)
    console.print(_figures_table("By coverage", "coverage", report["by_coverage"]))
    console.print(_figures_table("By status", "status", report["by_status"]))
    console.print(_figures_table("By policy", "policy", report["by_policy"]))
    console.print(_figures_table("By bank", "bank", report["by_bank"], names=True))
    console.print(_figures_table("By sector", "sector", report["by_sector"]))
    counts = Table(title="Flags and ineligibility reasons")
    counts.add_column("what")
    counts.add_column("code")
    counts.add_column("loans", justify="right")
    for flag, n in report["flagged"]["by_flag"].items():
        counts.add_row("flag", flag, str(n))
    for reason, n in report["ineligible_reasons"].items():
        counts.add_row("ineligible", reason, str(n))
    console.print(counts)
    past_due = report["past_due"]
    due = Table(title=f"Live loans past due on {report['as_of']}", show_header=False)
    due.add_column("figure")
    due.add_column("value", justify="right")
    due.add_row("loans", str(past_due["loans"]))
    due.add_row("outstanding principal (yuan)", yuan(past_due["outstanding_fen"]))
    due.add_row("covered principal (yuan)", yuan(past_due["covered_fen"]))
    for bucket, n in past_due["by_days"].items():
        due.add_row(f"{bucket} days past due", str(n))
    console.print(due)
    collateral = report.get("collateral")
    if collateral:
        total = collateral["total"]
        ratio = "-" if total["coverage_bp"] is None else f"{total['coverage_bp'] / 100:.2f}%"
        console.print(f"collateral of live covered loans: {yuan(total['collateral_value_fen'])} yuan against "
                      f"{yuan(total['covered_fen'])} covered ({ratio}); `ipfund value coverage` has the detail")


@loans_app.command("list", help="List loans by id, with filters.")
@handle_errors
def list_loans(
    bank: str = typer.Option(None, "--bank", help="Bank code, e.g. ICBC-GZ."),
    status: str = typer.Option(None, "--status", help="active, repaid, cancelled, claimed, compensated or closed."),
    coverage: str = typer.Option(None, "--coverage", help="eligible or ineligible."),
    limit: int = typer.Option(50, "--limit", help="At most this many loans (1..10000)."),
    after: int = typer.Option(0, "--after", help="Only loans with an id above this (the next page)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (amounts in fen)."),
) -> None:
    from fund.services.reports import list_loan_summaries

    with transaction() as session:
        rows = list_loan_summaries(session, bank_code=bank, status=status, coverage=coverage, limit=limit, after_id=after)
    if as_json:
        print_json(rows)
        return
    table = money_table("id", "bank", "contract", "drawdown", "principal", "covered", "policy", "coverage", "status", "flags",
                        "borrower", money=("principal", "covered"), numbers=("id",), title=f"Loans ({len(rows)} shown)")
    for r in rows:
        table.add_row(str(r["id"]), r["bank"], r["contract_no"], r["drawdown_date"].isoformat(), r["principal_fen"],
                      r["covered_fen"], r["policy_id"] or "none", r["coverage"], r["status"], ", ".join(r["flags"]),
                      r["borrower"])
    table.print()
    if len(rows) == limit:
        console.print(f"more may follow: --after {rows[-1]['id']}")


@loans_app.command("show", help="One loan in full: terms, coverage and its reasons, assets, schedule, repayments, events.")
@handle_errors
def show_loan(
    loan_id: int = typer.Argument(..., help="Loan id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (amounts in fen)."),
) -> None:
    from fund.services.reports import loan_detail

    with transaction() as session:
        loan = loan_detail(session, loan_id)
    if as_json:
        print_json(loan)
        return
    borrower = loan["borrower"]
    terms = Table(title=f"Loan {loan['id']}: {loan['bank']['code']} {loan['contract_no']}", show_header=False)
    terms.add_column("field")
    terms.add_column("value")
    rows = [
        ("bank", f"{loan['bank']['code']} {loan['bank']['name']}"),
        ("borrower", f"{borrower['name']} ({borrower['credit_code']}), {borrower['district']}, {borrower['sector']}"),
        ("borrower facts", f"registered {borrower['registered_on']}, SME {'yes' if borrower['is_sme'] else 'no'}, "
                           f"clean credit {'yes' if borrower['clean_credit'] else 'no'}"),
        ("principal (yuan)", yuan(loan["principal_fen"])),
        ("rate", f"{loan['contract_rate_bp']} bp" + (f", bank PD {loan['pd_bp']} bp" if loan["pd_bp"] is not None else "")),
        ("drawdown .. maturity", f"{loan['drawdown_date']} .. {loan['maturity_date']}"),
        ("policy / scheme", f"{loan['policy_id'] or 'none'} / {loan['scheme_code']}"),
        ("insurer", f"{loan['insurer']['code']} {loan['insurer']['name']} (limit {yuan(loan['insurer_limit_fen'] or 0)} yuan)" if loan["insurer"] else "-"),
        ("appraiser", f"{loan['appraiser']['code']} {loan['appraiser']['name']}" if loan["appraiser"] else "-"),
        ("pledge registration", f"{loan['pledge_registration_no']} on {loan['pledge_registered_on']}"),
        ("IP share", f"{loan['ip_share_bp']} bp: IP part {yuan(loan['ip_part_fen'])} yuan"),
        ("coverage", f"{loan['coverage']}: covered principal {yuan(loan['covered_fen'])} yuan"
                     + (f" (quota year {loan['quota_year']})" if loan["quota_year"] else "")),
        ("status", f"{loan['status']}: repaid {yuan(loan['principal_repaid_fen'])}, outstanding {yuan(loan['outstanding_fen'])} yuan"),
    ]
    rows += [("not eligible because", r["text"]) for r in loan["ineligible_reasons"]]
    rows += [("flag", f"{f['code']}: {f['text']}") for f in loan["flags"]]
    for field, value in rows:
        terms.add_row(field, value)
    console.print(terms)

    assets = Table(title="Pledged IP")
    for heading in ("kind", "number", "title", "filed", "granted", "status", "appraised (yuan)", "on", "model inputs"):
        assets.add_column(heading)
    for a in loan["assets"]:
        assets.add_row(a["kind"], a["number"], a["title"], str(a["filing_date"]), str(a["grant_date"] or "-"), a["legal_status"],
                       yuan(a["appraised_value_fen"]), str(a["appraised_on"]), "yes" if a["valuation_inputs"] else "no")
    console.print(assets)

    schedule = Table(title=f"Schedule as of {loan['as_of']}")
    for heading in ("due", "principal due", "interest due", "principal paid", "interest paid", "state"):
        schedule.add_column(heading, justify="left" if heading in ("due", "state") else "right")
    for i in loan["schedule"]:
        state = i["state"] + (f" ({i['days_past_due']} days)" if i["days_past_due"] else "")
        schedule.add_row(str(i["due_date"]), yuan(i["principal_due_fen"]), yuan(i["interest_due_fen"]),
                         yuan(i["principal_paid_fen"]), yuan(i["interest_paid_fen"]), state)
    console.print(schedule)

    events = Table(title="Events")
    for heading in ("event", "from", "to", "business date", "by", "note"):
        events.add_column(heading)
    for e in loan["events"]:
        events.add_row(e["event"], e["from_status"] or "-", e["to_status"], str(e["business_date"]), e["actor"] or "-", e["note"] or "")
    console.print(events)
    late = sum(1 for r in loan["repayments"] if r["past_due_at_payment"])
    console.print(f"{len(loan['repayments'])} repayments recorded, {late} made while an installment was past due (--json lists them)")


@report_app.command("borrowers", help="Borrowers whose data differ between banks (fund manager, auditor): the fields and each bank's report, loan by loan (docs/rules.md section 3).")
@handle_errors
def borrowers(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    user: str | None = typer.Option(None, "--user", envvar="IPFUND_USER", metavar="LOGIN",
                                    help="Read as this person (password asked for, or IPFUND_PASSWORD); default the fund manager."),
) -> None:
    from dataclasses import asdict

    from fund.cli.common import reader_actor
    from fund.services.borrowers import BORROWER_FIELDS, borrower_differences_in

    actor = reader_actor(user)
    with transaction() as session:
        differences = borrower_differences_in(session, actor)
    if as_json:
        print_json([asdict(d) for d in differences])
        return
    if not differences:
        console.print("no borrower is reported differently by two banks")
        return
    for difference in differences:
        table = Table(title=f"{difference.credit_code}: {', '.join(difference.fields)} differ")
        for heading in ("bank", "loan", "contract", *BORROWER_FIELDS):
            table.add_column(heading)
        for r in difference.reports:
            table.add_row(r.bank, str(r.loan_id), r.contract_no, *(str(r.value(f)) for f in BORROWER_FIELDS))
        console.print(table)
