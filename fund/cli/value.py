"""`ipfund value`: Collateral valuation (RULES section 7)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Collateral valuation (RULES section 7).", no_args_is_help=True)
