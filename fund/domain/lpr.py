"""The 1-year LPR table (docs/rules.md section 2): the rate on a date is the latest publication on or
before it; look-ups before the first row or after ``checked_through`` fail naming the date."""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

from fund.errors import DomainError

SHIPPED_LPR_CSV = Path(__file__).resolve().parent.parent / "data" / "lpr_1y.csv"


@dataclass(frozen=True)
class LprTable:
    publications: tuple[tuple[dt.date, int], ...]  # sorted by date
    checked_through: dt.date

    def __post_init__(self) -> None:
        dates = [d for d, _ in self.publications]
        if not dates:
            raise DomainError("lpr_empty", "the LPR table has no publication")
        if dates != sorted(set(dates)):
            raise DomainError("lpr_unsorted", "LPR publications must be dated in increasing order, once each")
        if any(rate <= 0 for _, rate in self.publications):
            raise DomainError("lpr_invalid_rate", "LPR rates must be positive basis points")

    def rate_on(self, on: dt.date) -> int:
        """Rate in bp in force on ``on``.

        >>> table = LprTable(((dt.date(2024, 7, 22), 335),), checked_through=dt.date(2024, 12, 31))
        >>> table.rate_on(dt.date(2024, 8, 1))
        335
        """
        first = self.publications[0][0]
        if on < first:
            raise DomainError(
                "lpr_date_before_table", f"no LPR for {on.isoformat()}: the table starts on {first.isoformat()}",
                field="date",
            )
        if on > self.checked_through:
            raise DomainError(
                "lpr_date_after_checked_through",
                f"no LPR for {on.isoformat()}: the table is checked only through {self.checked_through.isoformat()}",
                field="date",
            )
        index = bisect.bisect_right([d for d, _ in self.publications], on) - 1
        return self.publications[index][1]


def _file_value(convert, text: str | None, what: str):
    try:
        return convert((text or "").strip())
    except ValueError:
        raise DomainError("lpr_bad_file", f"the LPR file's {what} is not one value of its kind: {text!r}") from None


def parse_lpr_csv(text: str) -> LprTable:
    """The table of an LPR file: ``published_on,rate_bp`` rows and one ``# checked_through=`` date in
    a comment line; a value that is not one ISO date or one whole number of basis points (a line with
    two ``checked_through=`` dates among them) is refused, naming it."""
    checked_through: dt.date | None = None
    rows: list[tuple[dt.date, int]] = []
    data_lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            if "checked_through=" in stripped:
                checked_through = _file_value(dt.date.fromisoformat, stripped.split("checked_through=", 1)[1],
                                              "checked_through date")
            continue
        if stripped:
            data_lines.append(stripped)
    reader = csv.DictReader(io.StringIO("\n".join(data_lines)))
    for row in reader:
        rows.append((_file_value(dt.date.fromisoformat, row.get("published_on"), "published_on date"),
                     _file_value(int, row.get("rate_bp"), "rate_bp")))
    if checked_through is None:
        raise DomainError("lpr_no_checked_through", "the LPR file has no '# checked_through=' line")
    return LprTable(tuple(rows), checked_through)


def shipped_lpr_table() -> LprTable:
    return parse_lpr_csv(SHIPPED_LPR_CSV.read_text(encoding="utf-8"))
