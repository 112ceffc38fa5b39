"""`ipfund ledger`: The fund's double-entry ledger (RULES section 6)."""

from __future__ import annotations

import typer

app = typer.Typer(help="The fund's double-entry ledger (RULES section 6).", no_args_is_help=True)
