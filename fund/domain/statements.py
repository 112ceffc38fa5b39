"""Plain rules of the statements the fund hands on: which part of each line is paid, and text that
is safe in a spreadsheet or a CSV file.

Paid part per line (docs/rules.md is silent on it; this is the project's reading of S5 and A4): a run's
total is one amount paid from the pool, and the lines take the cash in their S3 order (payment
date, loan registration, repayment registration); the line at which the cash runs out is paid in
part, later lines are deferred. Deferral settlements continue in the same order. So the paid part
of a line depends only on the run's paid total (paid at the run plus settled since) and the sum
of the lines before it.

>>> paid_in_order([300, 200, 500], 400)
[300, 100, 0]
>>> safe_cell_text("=HYPERLINK(\\"http://example.invalid\\",\\"x\\")").startswith("'")
True
>>> xml_unsafe_position("ok\\uffff")
2
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Characters XML 1.0 cannot hold: C0 controls other than tab, LF and CR; surrogates; U+FFFE, U+FFFF.
_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# A cell starting with one of these is read as a formula (or a DDE command) by spreadsheet programs.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def paid_in_order(amounts_fen: Sequence[int], paid_total_fen: int) -> list[int]:
    """The paid part of each line when ``paid_total_fen`` covers the lines in their given order."""
    left = max(0, paid_total_fen)
    out = []
    for amount in amounts_fen:
        part = min(left, amount)
        out.append(part)
        left -= part
    return out


def paid_part(before_fen: int, amount_fen: int, paid_total_fen: int) -> int:
    """The paid part of one line whose predecessors (in order) add up to ``before_fen``.

    >>> paid_part(300, 200, 400)
    100
    """
    return max(0, min(amount_fen, paid_total_fen - before_fen))


def xml_unsafe_position(text: str) -> int | None:
    """Index of the first character XML cannot hold (so no XLSX file can), or None."""
    found = _XML_UNSAFE.search(text)
    return found.start() if found else None


def safe_cell_text(text: str) -> str:
    """Text that a spreadsheet shows as text, never runs as a formula: a leading apostrophe (Excel's
    own marker of literal text, not shown in the cell) before a formula-like start (OWASP's advice
    for CSV injection). XLSX cells are written as typed strings instead; this is for CSV."""
    if text and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text
