"""`ipfund value`: Collateral valuation (docs/rules.md section 7)."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

import typer
from rich.table import Table

from fund.cli.common import (
    console,
    progress_bar,
    handle_errors,
    parse_date,
    print_json,
    session_factory,
    transaction,
)
from fund.domain.money import yuan

app = typer.Typer(help="Collateral valuation (docs/rules.md section 7).", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Collateral valuation (docs/rules.md section 7)."""


def _date(option: str, text: str | None) -> dt.date | None:
    return None if text is None else parse_date(text, option)


def _integer(option: str, text: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise ValueError(f"{option} must be an integer, got {text!r}") from None


@app.command("asset")
@handle_errors
def asset(
    kind: str = typer.Option(..., "--kind", help="invention_patent, utility_model, design_patent, trademark, geographical_indication or ic_layout"),
    filing_date: str = typer.Option(..., "--filing-date", metavar="DATE"),
    registration_date: str | None = typer.Option(None, "--registration-date", metavar="DATE", help="grant or registration date (required for a trademark)"),
    as_of: str = typer.Option(..., "--as-of", metavar="DATE", help="valuation date"),
    revenue_fen: str = typer.Option(..., "--revenue-fen", metavar="FEN", help="annual revenue of the products using the IP"),
    growth_bp: str = typer.Option(..., "--growth-bp", metavar="BP"),
    royalty_bp: str = typer.Option(..., "--royalty-bp", metavar="BP"),
    tax_bp: str = typer.Option(..., "--tax-bp", metavar="BP"),
    discount_bp: str = typer.Option(..., "--discount-bp", metavar="BP"),
    decay_bp: str = typer.Option(..., "--decay-bp", metavar="BP"),
    legal_status: str = typer.Option("valid", "--legal-status"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Value one asset by relief from royalty (rule V2) and its collateral value (V3)."""
    from risk.valuation import ValuationInputs, value_asset

    rates = {name: _integer(option, text) for name, option, text in (
        ("growth_bp", "--growth-bp", growth_bp), ("royalty_bp", "--royalty-bp", royalty_bp),
        ("tax_bp", "--tax-bp", tax_bp), ("discount_bp", "--discount-bp", discount_bp),
        ("decay_bp", "--decay-bp", decay_bp),
    )}
    inputs = ValuationInputs.from_bp(
        kind, _date("--filing-date", filing_date), _date("--as-of", as_of),
        revenue_fen=_integer("--revenue-fen", revenue_fen), registration_date=_date("--registration-date", registration_date),
        legal_status=legal_status, **rates,
    )
    valuation = value_asset(
        inputs.kind, inputs.filing_date, inputs.as_of, revenue_fen=inputs.revenue_fen, growth=inputs.growth,
        royalty=inputs.royalty, tax=inputs.tax, discount=inputs.discount, decay=inputs.decay,
        registration_date=inputs.registration_date, legal_status=inputs.legal_status,
    )
    document: dict[str, Any] = valuation.as_dict()
    document["inputs"] = {
        "kind": kind, "filing_date": inputs.filing_date.isoformat(),
        "registration_date": None if inputs.registration_date is None else inputs.registration_date.isoformat(),
        "as_of": inputs.as_of.isoformat(), "legal_status": legal_status, "revenue_fen": inputs.revenue_fen, **rates,
    }
    if as_json:
        print_json(document)
        return
    _print_valuation(document)


def _print_valuation(document: dict[str, Any]) -> None:
    inputs = document["inputs"]
    summary = Table(title=f"{inputs['kind']} valued as of {inputs['as_of']}", show_header=False)
    summary.add_column("item")
    summary.add_column("value", justify="right")
    legal_life = document["legal_life_years"]
    summary.add_row("legal term ends", document["legal_term_end"] or "no term")
    summary.add_row("remaining legal life (years)", "-" if legal_life is None else f"{legal_life:.3f}")
    summary.add_row("life used T (years)", f"{document['life_years']:.3f} ({document['life_reason']})")
    summary.add_row("royalty used", f"{document['royalty_used']:.4%}")
    summary.add_row("model value (yuan)", yuan(document["value_fen"]))
    summary.add_row("collateral value (yuan)", yuan(document["collateral_value_fen"]))
    summary.add_row("assumptions", document["assumptions_id"])
    console.print(summary)
    if document["cash_flows_fen"]:
        years = Table(title="Yearly royalty saved after tax")
        years.add_column("year", justify="right")
        years.add_column("cash flow (yuan)", justify="right")
        years.add_column("present value (yuan)", justify="right")
        for t, (cash, present) in enumerate(zip(document["cash_flows_fen"], document["present_values_fen"]), start=1):
            years.add_row(str(t), yuan(cash), yuan(present))
        console.print(years)


@app.command("revalue")
@handle_errors
def revalue(
    as_of: str | None = typer.Option(None, "--as-of", metavar="DATE", help="valuation date (default: the business date)"),
    quality: bool = typer.Option(False, "--quality", help="apply the quality adjustment (patents ranked within the book)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Revalue every pledged asset that carries valuation inputs (set-based, one transaction)."""
    from fund.services.valuation import revalue_book

    date = _date("--as-of", as_of)
    factory = session_factory()
    with progress_bar("valuing assets", enabled=not as_json) as bar:
        result = revalue_book(factory, date, progress=partial(bar, ""), quality=quality)
    if as_json:
        print_json(result.as_dict())
        return
    table = Table(title=f"Book revalued as of {result.as_of.isoformat()}", show_header=False)
    table.add_column("item")
    table.add_column("value", justify="right")
    table.add_row("assets valued", str(result.assets_valued))
    table.add_row("model value (yuan)", yuan(result.model_value_fen))
    table.add_row("collateral value (yuan)", yuan(result.collateral_value_fen))
    table.add_row("appraised value of the same assets (yuan)", yuan(result.appraised_value_fen))
    table.add_row("quality adjustment", "on" if result.quality_adjusted else "off")
    table.add_row("assumptions", result.assumptions_id)
    table.add_row("skipped", str(len(result.skipped)))
    console.print(table)
    for skipped in result.skipped:
        console.print(f"skipped {skipped.kind} {skipped.number}: {skipped.reason}")


@app.command("coverage")
@handle_errors
def coverage(
    as_of: str | None = typer.Option(None, "--as-of", metavar="DATE", help="use valuations made on or before this date"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables"),
) -> None:
    """Collateral coverage (collateral value / covered principal) of the live covered loans, by bank and sector."""
    from fund.services.valuation import collateral_summary

    date = _date("--as-of", as_of)
    with transaction() as session:
        summary = collateral_summary(session, as_of=date)
    if as_json:
        print_json(summary)
        return
    for title, groups in (("bank", summary["by_bank"]), ("sector", summary["by_sector"])):
        table = Table(title=f"Collateral coverage by {title}")
        for column in (title, "loans", "covered (yuan)", "collateral (yuan)", "coverage", "from the model (yuan)",
                       "from appraisals (yuan)", "assets model / appraisal"):
            table.add_column(column, justify="left" if column == title else "right")
        for key, group in [*groups.items(), ("total", summary["total"])]:
            share = "-" if group["coverage_bp"] is None else f"{group['coverage_bp'] / 100:.2f}%"
            table.add_row(key, str(group["loans"]), yuan(group["covered_fen"]), yuan(group["collateral_value_fen"]),
                          share, yuan(group["model_collateral_value_fen"]), yuan(group["appraisal_collateral_value_fen"]),
                          f"{group['model_valued_assets']} / {group['appraisal_based_assets']}")
        console.print(table)
