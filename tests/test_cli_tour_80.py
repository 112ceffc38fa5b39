"""Every command of the README's CLI tour, run at 80 columns and at 200 on a small demo book: no
number a person reads is cut (every amount shown at 200 columns is shown whole at 80, and no table
cell ends in an ellipsis). A long line of prose may wrap in the terminal; a table must not fold or
crop a number. Heavy commands run small (a smaller demo book, fewer scenarios); ``serve`` does not
return and is left out."""

from __future__ import annotations

import re
import shlex
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

import fund.cli.common as common
from fund.cli.main import app
from fund.settings import reset_settings_cache

README = Path(__file__).resolve().parent.parent / "README.md"
# An amount as people read it: yuan with separators and two decimals (not a duration such as 0.52 s).
AMOUNT = re.compile(r"(?<![\d.,])-?\d{1,3}(?:,\d{3})*\.\d{2}(?![\d])(?!\s?(?:s|ms|%)\b)")
SMALLER = {"--scenarios": "50"}
HEAVY = {"stress run", "stress compare", "stress sweep"}


def tour_commands() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    block = text.split("## A tour of the CLI", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands, pending = [], ""
    for line in block.splitlines():
        pending += line.rstrip("\\").strip() + " "
        if line.rstrip().endswith("\\"):
            continue
        words = shlex.split(pending, comments=True)
        pending = ""
        if words and words[0] == "ipfund":
            commands.append(words[1:])
    return commands


def _small(words: list[str], tmp: Path) -> list[str] | None:
    if words[:1] == ["serve"]:
        return None
    out = []
    for k, word in enumerate(words):
        before = words[k - 1] if k else ""
        if before in SMALLER:
            word = SMALLER[before]
        elif before == "--out":
            word = str(tmp / word.strip("/"))
        out.append(word)
    if words[:1] == ["demo"]:
        out += ["--scale", "0.02"]
    return out


def _run(words: list[str], width: int, monkeypatch) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    for console in (common.console, common.err_console):
        monkeypatch.setattr(console, "_width", width)
    result = CliRunner().invoke(app, words)
    return result.output


def test_no_number_is_cut_at_80_columns(tmp_path, monkeypatch):
    monkeypatch.setenv("IPFUND_DATABASE_URL", f"sqlite:///{tmp_path / 'tour.sqlite3'}")
    reset_settings_cache()
    commands = tour_commands()
    assert len(commands) >= 20 and ["ledger", "balances"] in commands
    problems, amounts_seen = [], 0
    for words in commands:
        small = _small(words, tmp_path)
        if small is None:
            continue
        name = " ".join(words[:2])
        narrow = _run(small, 80, monkeypatch)
        # the simulations (seconds each, plots included) are checked at 80 columns only: no ellipsis
        wide = narrow if name in HEAVY else _run(small, 200, monkeypatch)
        if "\u2026" in narrow:
            problems.append(f"{name}: an ellipsis at 80 columns")
        missing = Counter(AMOUNT.findall(wide)) - Counter(AMOUNT.findall(narrow))
        amounts_seen += len(AMOUNT.findall(wide))
        if missing:
            problems.append(f"{name}: amounts cut at 80 columns: {sorted(missing)[:5]}")
    assert not problems, "\n".join(problems)
    assert amounts_seen > 50  # the tour shows money: the check above had something to check
