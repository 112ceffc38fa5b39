"""The README's Python client example (docs/examples/bank_client.py) runs against a test server, and
the README shows it as it is."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from schemas.examples import LOAN
from tests.test_api_support import api  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "bank_client.py"
pytestmark = pytest.mark.db


def test_the_client_example_registers_a_loan_and_a_repayment(api, capsys):
    register_and_repay = runpy.run_path(str(EXAMPLE))["register_and_repay"]
    loan = register_and_repay(api.client, api.keys["BANK1"], LOAN)
    assert loan["contract_no"] == LOAN["contract_no"]
    assert loan["schedule"][0]["interest_paid_fen"] == LOAN["schedule"][0]["interest_due_fen"]
    printed = capsys.readouterr().out
    assert f"loan {loan['id']}: eligible" in printed and "repayment" in printed
    with pytest.raises(RuntimeError, match="duplicate_contract"):  # the same contract again: a problem, not a crash
        register_and_repay(api.client, api.keys["BANK1"], LOAN)


def test_the_readme_shows_the_example_as_it_is():
    code = EXAMPLE.read_text(encoding="utf-8")
    body = code[code.index("import json"):].strip()
    assert body in (ROOT / "README.md").read_text(encoding="utf-8")
