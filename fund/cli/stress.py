"""`ipfund stress`: Monte Carlo stress tests (RULES section 8)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Monte Carlo stress tests (RULES section 8).", no_args_is_help=True)
