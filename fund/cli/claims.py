"""`ipfund claims`: Default claims, approvals, recoveries (RULES section 4)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Default claims, approvals, recoveries (RULES section 4).", no_args_is_help=True)
fund_app = typer.Typer(help="Fund pools: appropriations.", no_args_is_help=True)
