"""`ipfund report` and `ipfund loans`: the registry's views."""

from __future__ import annotations

import typer

report_app = typer.Typer(help="Reports: portfolio, fund.", no_args_is_help=True)
loans_app = typer.Typer(help="Loans in the registry.", no_args_is_help=True)
