"""`ipfund subsidies`: Monthly interest-subsidy runs (RULES section 5)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Monthly interest-subsidy runs (RULES section 5).", no_args_is_help=True)
