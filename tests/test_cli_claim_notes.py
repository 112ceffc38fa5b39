"""`ipfund claims show` prints a claim's history notes as the console does (api/console/format.py
``history_note``: amounts the claim steps record in fen, shown in yuan with separators); a person's
own words are printed as written, brackets and all."""

from __future__ import annotations

import datetime as dt

from typer.testing import CliRunner

from api.console.format import history_note
from fund.cli.main import app
from fund.settings import reset_settings_cache
from tests.test_claims_support import World

D = dt.date


def _show(claim_id: int) -> str:
    from fund.cli.common import console

    kept = console._width  # the CLI console is made once per process: its width set here, not by COLUMNS
    console.width = 200
    try:
        result = CliRunner().invoke(app, ["claims", "show", str(claim_id)])
    finally:
        console._width = kept
    assert result.exit_code == 0, result.output
    return result.output


def test_claims_show_prints_history_notes_in_yuan(session_factory, monkeypatch):
    world = World.create(session_factory)
    loan = world.register(drawdown=D(2026, 1, 15))
    claim = world.file(loan.id, 123_456_789, D(2026, 6, 1))
    world.lower(claim.id, 100_000_000, D(2026, 6, 2))
    rejected = world.file(world.register(drawdown=D(2026, 1, 15), borrower_n=2).id, 50_000, D(2026, 6, 3))
    world.reject(rejected.id, "missing notice [see 2026-06 file]", D(2026, 6, 4))
    monkeypatch.setenv("IPFUND_BUSINESS_DATE", "2026-06-30")
    reset_settings_cache()

    shown = _show(claim.id)
    assert "loss 1,234,567.89 yuan" in shown
    assert "loss lowered from 1,234,567.89 to 1,000,000.00 yuan" in shown
    assert " fen" not in "\n".join(line for line in shown.splitlines() if line.startswith("  20"))
    assert "missing notice [see 2026-06 file]" in _show(rejected.id)  # as written (no console markup eaten)
    # the same function as the console, English message ids
    assert history_note("loss 123456789 fen", lambda m: m) == "loss 1,234,567.89 yuan"
