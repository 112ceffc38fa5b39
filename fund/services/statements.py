"""Statements a finance officer hands on as they are: one streaming writer for XLSX and CSV, and the
statements built on it (a subsidy run; compensation by bank over a period).

A statement is a :class:`Layout` (its columns, in Chinese or English) and an iterator of rows. The
XLSX (openpyxl write-only mode: rows go to disk as they come, so memory stays flat at any size) has a
title block (fund, what, month or period, policy, generated at, by whom), a frozen header with an
auto-filter, column widths, print setup (landscape, fit to width, the header repeated on every page),
money as yuan with two decimals beside the exact fen, a total row and a signature block, then a
sheet of totals per bank and one per enterprise. The CSV has the same columns, in UTF-8 with a BOM
(so that Excel shows Chinese), and the same totals as rows after the lines.

Text is never a formula: XLSX cells holding text are typed strings, whatever they start with; in the
CSV a field starting with ``=``, ``+``, ``-``, ``@``, tab or CR gets a leading apostrophe (which
spreadsheet programs read as "this is text"). Characters XML cannot hold are refused when entered
(``schemas.common.storable_text``); should one reach a writer anyway it is written as U+FFFD, so no
file can break.

>>> import io
>>> layout = Layout("demo", "demo", (Column("bank", "银行", "bank", TEXT), Column("amount", "金额", "amount", MONEY)),
...                 bank_key="bank")
>>> out = io.StringIO()
>>> write_csv(layout, [("=1+1", 12345)], out, lang="en").lines
1
>>> out.getvalue().splitlines()[:2]
['\\ufeffbank,amount (yuan),amount (fen)', "'=1+1,123.45,12345"]
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from fund.domain.money import yuan
from fund.domain.statements import safe_cell_text

TEXT, INT, DATE, MONEY, FLAG, RATE = "text", "int", "date", "money", "flag", "rate"
LANGS = ("zh", "en")
XLSX_LINES_PER_SHEET = 1_000_000  # a worksheet holds at most 1,048,576 rows
EXACT_IN_A_SPREADSHEET = 2**53  # spreadsheet numbers are doubles: larger fen are written as text
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
Progress = Callable[[str, int, int], None]  # (stage, done, total)

_WORDS = {  # the fixed words of a statement, zh and en
    "fund": ("基金", "Fund"), "what": ("报表", "Statement"), "period": ("期间", "Period"), "policy": ("政策", "Policy"),
    "generated": ("生成时间", "Generated at"), "by": ("制表", "Prepared by"), "business_date": ("业务日期", "Business date"),
    "total": ("合计", "Total"), "bank_total": ("银行小计", "Bank total"), "enterprise_total": ("企业小计", "Enterprise total"),
    "yuan": ("元", "yuan"), "fen": ("分", "fen"), "yes": ("是", "yes"), "no": ("否", "no"), "lines": ("笔数", "Lines"),
    "by_bank": ("按银行合计", "Totals by bank"), "by_enterprise": ("按企业合计", "Totals by enterprise"),
    "sign_prepared": ("制表人：", "Prepared by:"), "sign_checked": ("复核人：", "Checked by:"),
    "sign_approved": ("审批人：", "Approved by:"), "sign_date": ("日期：", "Date:"), "lines_sheet": ("明细", "Lines"),
}


def word(key: str, lang: str) -> str:
    return _WORDS[key][LANGS.index(lang)]


@dataclass(frozen=True)
class Column:
    """One column: ``kind`` MONEY becomes two columns, yuan (two decimals) and the exact fen."""

    key: str
    zh: str
    en: str
    kind: str = TEXT
    width: int = 12

    def header(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class Layout:
    """A statement's columns. ``bank_key`` / ``enterprise_key`` name the text columns that group the
    totals (``enterprise_name_key`` is shown beside the enterprise)."""

    name_zh: str
    name_en: str
    columns: tuple[Column, ...]
    bank_key: str | None = None
    enterprise_key: str | None = None
    enterprise_name_key: str | None = None
    totals: bool = True  # False: a table of figures, whose money columns do not add up

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en

    def headers(self, lang: str) -> list[str]:
        out = []
        for c in self.columns:
            if c.kind == MONEY:
                unit_open, unit_close = ("（", "）") if lang == "zh" else (" (", ")")
                out += [f"{c.header(lang)}{unit_open}{word('yuan', lang)}{unit_close}",
                        f"{c.header(lang)}{unit_open}{word('fen', lang)}{unit_close}"]
            else:
                out.append(c.header(lang))
        return out

    def money_indexes(self) -> list[int]:
        return [k for k, c in enumerate(self.columns) if c.kind == MONEY]

    def index(self, key: str | None) -> int | None:
        return None if key is None else [c.key for c in self.columns].index(key)


@dataclass(frozen=True)
class TitleBlock:
    """What the title block says."""

    fund: str
    what: str
    period: str
    policy: str
    generated_at: dt.datetime
    by: str
    business_date: dt.date

    def rows(self, lang: str) -> list[tuple[str, str]]:
        return [(word("fund", lang), self.fund), (word("what", lang), self.what), (word("period", lang), self.period),
                (word("policy", lang), self.policy), (word("business_date", lang), self.business_date.isoformat()),
                (word("generated", lang), self.generated_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()),
                (word("by", lang), self.by)]


@dataclass
class Totals:
    """Money totals of a statement: in all, per bank and per enterprise (small dicts: one entry per
    bank or enterprise, never per line)."""

    money: int
    lines: int = 0
    all: list[int] = field(default_factory=list)
    by_bank: dict[str, list[int]] = field(default_factory=dict)
    by_enterprise: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.all = [0] * self.money

    def add(self, amounts: list[int], bank: str | None, enterprise: tuple[str, str] | None) -> None:
        self.lines += 1
        for k, a in enumerate(amounts):
            self.all[k] += a
        for group, key in ((self.by_bank, bank), (self.by_enterprise, enterprise)):
            if key is None:
                continue
            sums = group.get(key)
            if sums is None:
                sums = group[key] = [0] * self.money
            for k, a in enumerate(amounts):
                sums[k] += a


@dataclass(frozen=True)
class Written:
    """What a writer wrote: the number of lines and the totals (fen, in money-column order)."""

    lines: int
    totals_fen: tuple[int, ...]
    by_bank: dict[str, tuple[int, ...]]
    by_enterprise: dict[tuple[str, str], tuple[int, ...]]


def _clean(text: str) -> str:
    return _UNSAFE.sub("\ufffd", text) if _UNSAFE.search(text) else text


def _yuan_decimal(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2)


def _fen_cell(fen: int) -> int | str:
    return fen if abs(fen) < EXACT_IN_A_SPREADSHEET else str(fen)


def _text_value(value: Any, kind: str, lang: str) -> str:
    """A value as CSV text."""
    if value is None:
        return ""
    if kind == FLAG:
        return word("yes" if value else "no", lang)
    if kind == DATE:
        return value.isoformat()
    if kind == RATE:
        return format(Decimal(value).normalize(), "f")
    if kind == TEXT:
        return safe_cell_text(_clean(str(value)))
    return str(value)


def _written(totals: Totals) -> Written:
    return Written(totals.lines, tuple(totals.all), {k: tuple(v) for k, v in totals.by_bank.items()},
                   {k: tuple(v) for k, v in totals.by_enterprise.items()})


def _keys(layout: Layout, row: tuple, b: int | None, e: int | None, n: int | None):
    bank = None if b is None else str(row[b])
    enterprise = None if e is None else (str(row[e]), "" if n is None else str(row[n]))
    return bank, enterprise


# ---- CSV ------------------------------------------------------------------------------------------


def write_csv(layout: Layout, rows: Iterable[tuple], out: IO[str], *, lang: str = "zh",
              progress: Progress | None = None, total: int = 0) -> Written:
    """The statement as CSV (UTF-8 with a BOM, written here): a header, the lines, then total rows
    (per bank, per enterprise, in all) labelled in the first column."""
    report = progress or (lambda stage, done, count: None)
    totals = Totals(len(layout.money_indexes()))
    for piece in csv_pieces(layout, rows, lang=lang, totals=totals):
        out.write(piece)
        report("write", totals.lines, total)
    return _written(totals)


class _Buffer:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        return text


def csv_pieces(layout: Layout, rows: Iterable[tuple], *, lang: str = "zh", totals: Totals | None = None,
               lines_per_piece: int = 10_000) -> Iterator[str]:
    """The CSV as text pieces of ``lines_per_piece`` lines (for streaming answers); ``totals``, when
    given, accumulates as the lines go."""
    _check_lang(lang)
    buffer = _Buffer()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(layout.headers(lang))
    money = layout.money_indexes()
    b, e, n = layout.index(layout.bank_key), layout.index(layout.enterprise_key), layout.index(layout.enterprise_name_key)
    totals = totals if totals is not None else Totals(len(money))
    kinds = [c.kind for c in layout.columns]
    for row in rows:
        cells: list[str] = []
        for value, kind in zip(row, kinds):
            if kind == MONEY:
                cells += ["", ""] if value is None else [yuan(value).replace(",", ""), str(value)]
            else:
                cells.append(_text_value(value, kind, lang))
        writer.writerow(cells)
        totals.add([row[k] or 0 for k in money], *_keys(layout, row, b, e, n))
        if totals.lines % lines_per_piece == 0:
            yield buffer.take()
    if layout.totals:
        for labels, values in _total_rows(layout, totals, lang):
            writer.writerow(_total_cells(layout, labels, values, text=True))
    yield buffer.take()


def _total_rows(layout: Layout, totals: Totals, lang: str) -> Iterator[tuple[dict[int, str], list[int]]]:
    """(labels by column index, money sums) of each total row: per bank, per enterprise, in all."""
    b, e, n = layout.index(layout.bank_key), layout.index(layout.enterprise_key), layout.index(layout.enterprise_name_key)
    for bank, sums in sorted(totals.by_bank.items()):
        yield {0: word("bank_total", lang), b: bank}, sums
    for (code, name), sums in sorted(totals.by_enterprise.items()):
        labels = {0: word("enterprise_total", lang), e: code}
        if n is not None:
            labels[n] = name
        yield labels, sums
    yield {0: word("total", lang)}, totals.all


def _total_cells(layout: Layout, labels: dict[int | None, str], sums: list[int], *, text: bool, raw: bool = False) -> list:
    """A total row: CSV text (``text``), or the layout's values (``raw``: money as fen, for the XLSX body)."""
    cells: list = []
    money = iter(sums)
    for k, column in enumerate(layout.columns):
        if column.kind == MONEY:
            fen = next(money)
            if raw:
                cells.append(fen)
                continue
            cells += ([yuan(fen).replace(",", ""), str(fen)] if text else [_yuan_decimal(fen), _fen_cell(fen)])
        else:
            label = labels.get(k)
            if raw:
                cells.append(label)
                continue
            cells.append((safe_cell_text(_clean(label)) if text else _clean(label)) if label is not None else (None if not text else ""))
    return cells


# ---- XLSX -----------------------------------------------------------------------------------------


_EXCEL_EPOCH = dt.date(1899, 12, 30).toordinal()
_ESCAPE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


class _Sheet:
    """One worksheet: openpyxl (write-only) writes its frame (title block, header, frozen panes,
    widths, filter, print setup); its body rows are written here as SpreadsheetML to a temporary
    file and spliced in when the workbook is saved. openpyxl builds a cell object per value, some
    25 million for a million-line statement, which takes minutes; a row here is one string."""

    def __init__(self, book, name: str, title: TitleBlock, layout_name: str, headers: list[str], widths: list[int],
                 kinds: list[str], lang: str, styles: "_Styles"):
        import tempfile

        from openpyxl.styles import Font, PatternFill

        self.sheet = book.create_sheet(name[:31])
        self.kinds, self.lang, self.styles, self.width = kinds, lang, styles, len(headers)
        top = title.rows(lang)
        self.header_row = len(top) + 3  # the name, the title block, a blank row
        sheet = self.sheet
        for k, width in enumerate(widths, start=1):
            sheet.column_dimensions[_letter(k)].width = width
        sheet.freeze_panes = f"A{self.header_row + 1}"
        sheet.print_title_rows = f"{self.header_row}:{self.header_row}"
        sheet.page_setup.orientation = "landscape"
        sheet.page_setup.paperSize = "9"  # A4
        sheet.page_setup.fitToWidth = 1
        sheet.page_setup.fitToHeight = 0
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
        bold = Font(bold=True)
        heading = layout_name + (f" — {name}" if name != layout_name else "")
        sheet.append([styles.cell(sheet, _clean(heading), font=Font(bold=True, size=14))])
        for label, value in top:
            sheet.append([styles.cell(sheet, label, font=bold), _text_cell(sheet, value)])
        sheet.append([])
        sheet.append([styles.cell(sheet, h, font=bold, fill=PatternFill("solid", fgColor="DDEBF7"), wrap=True) for h in headers])
        self.body = tempfile.TemporaryFile("w+", encoding="utf-8")
        self.next_row = self.header_row + 1
        self.lines = 0

    def _cells(self, values: Iterable[Any], kinds: Iterable[str], bold: bool) -> str:
        formats = self.styles.formatters(tuple(kinds), bold, self.lang)
        return "".join([f(v) if v is not None else empty for (f, empty), v in zip(formats, values)])

    def add(self, values: Iterable[Any], *, kinds: Iterable[str] | None = None, bold: bool = False, line: bool = True) -> None:
        self.body.write(f'<row r="{self.next_row}">{self._cells(values, kinds or self.kinds, bold)}</row>')
        self.next_row += 1
        self.lines += line

    def blank(self) -> None:
        self.next_row += 1

    def finish(self) -> None:
        self.sheet.auto_filter.ref = f"A{self.header_row}:{_letter(self.width)}{self.header_row + max(self.lines, 1)}"


class _Styles:
    """The style ids of the body's cells, registered with openpyxl (so they are in styles.xml)."""

    def __init__(self, book) -> None:
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font

        self._formatters: dict = {}
        sheet = book.create_sheet("_styles")  # only to make the style cells; removed before saving
        bold = Font(bold=True)
        self.yuan = self._id(WriteOnlyCell(sheet, 0), "#,##0.00")
        self.fen = self._id(WriteOnlyCell(sheet, 0), "0")
        self.date = self._id(WriteOnlyCell(sheet, 0), "yyyy-mm-dd")
        self.yuan_bold = self._id(WriteOnlyCell(sheet, 0), "#,##0.00", bold)
        self.fen_bold = self._id(WriteOnlyCell(sheet, 0), "0", bold)
        self.bold = self._id(WriteOnlyCell(sheet, ""), None, bold)
        book.remove(sheet)

    def formatters(self, kinds: tuple[str, ...], bold: bool, lang: str) -> list:
        """Per column, (a function writing a value's cell, the empty cell): made once per layout."""
        key = (kinds, bold, lang)
        known = self._formatters.get(key)
        if known is None:
            known = self._formatters[key] = [self._formatter(kind, bold, lang) for kind in kinds]
        return known

    def _formatter(self, kind: str, bold: bool, lang: str):
        text_style = f' s="{self.bold}"' if bold else ""

        def text(value) -> str:
            value = str(value)
            if _UNSAFE.search(value):
                value = _clean(value)
            if "&" in value or "<" in value or ">" in value:
                value = value.translate(_ESCAPE)
            return f'<c t="inlineStr"{text_style}><is><t xml:space="preserve">{value}</t></is></c>'

        if kind == MONEY:
            yuan_style, fen_style = (self.yuan_bold, self.fen_bold) if bold else (self.yuan, self.fen)

            def money(fen: int) -> str:
                if 0 <= fen < EXACT_IN_A_SPREADSHEET:  # the usual case, in one format
                    return f'<c s="{yuan_style}"><v>{fen // 100}.{fen % 100:02d}</v></c><c s="{fen_style}"><v>{fen}</v></c>'
                whole, cents = divmod(abs(fen), 100)
                sign = "-" if fen < 0 else ""
                fen_cell = (f'<c s="{fen_style}"><v>{fen}</v></c>' if abs(fen) < EXACT_IN_A_SPREADSHEET
                            else f'<c t="inlineStr"><is><t>{fen}</t></is></c>')
                return f'<c s="{yuan_style}"><v>{sign}{whole}.{cents:02d}</v></c>{fen_cell}'

            return money, "<c/><c/>"
        if kind == INT:
            return (lambda v: text(v) if isinstance(v, str) else f"<c><v>{int(v)}</v></c>"), "<c/>"
        if kind == DATE:
            date_style = self.date
            return (lambda v: f'<c s="{date_style}"><v>{v.toordinal() - _EXCEL_EPOCH}</v></c>'), "<c/>"
        if kind == FLAG:
            yes, no = text(word("yes", lang)), text(word("no", lang))
            return (lambda v: yes if v else no), "<c/>"
        if kind == RATE:
            return (lambda v: f"<c><v>{format(Decimal(v).normalize(), 'f')}</v></c>"), "<c/>"
        return text, "<c/>"

    @staticmethod
    def _id(cell, number_format: str | None, font=None) -> int:
        if number_format:
            cell.number_format = number_format
        if font is not None:
            cell.font = font
        return cell.style_id

    @staticmethod
    def cell(sheet, value, *, font=None, fill=None, wrap=False):
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Alignment

        cell = WriteOnlyCell(sheet, value)
        if isinstance(value, str):
            cell.data_type = "s"
        if font is not None:
            cell.font = font
        if fill is not None:
            cell.fill = fill
        if wrap:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        return cell


def write_xlsx(layout: Layout, title: TitleBlock, rows: Iterable[tuple], out: IO[bytes] | str, *, lang: str = "zh",
               progress: Progress | None = None, total: int = 0,
               lines_per_sheet: int = XLSX_LINES_PER_SHEET) -> Written:
    """The statement as XLSX, streamed: memory stays flat (rows go to temporary files as they come).
    Sheets: the lines (more than ``lines_per_sheet`` lines continue on a next sheet, each with its
    title block and header), then totals by bank and by enterprise."""
    import tempfile

    from openpyxl import Workbook

    _check_lang(lang)
    report = progress or (lambda stage, done, count: None)
    book = Workbook(write_only=True)
    styles = _Styles(book)
    headers, widths = layout.headers(lang), _widths(layout, lang)
    money = layout.money_indexes()
    kinds = [c.kind for c in layout.columns]
    b, e, n = layout.index(layout.bank_key), layout.index(layout.enterprise_key), layout.index(layout.enterprise_name_key)
    totals = Totals(len(money))
    name = layout.name(lang)

    def lines_sheet(number: int) -> _Sheet:
        label = word("lines_sheet", lang) + (f" {number}" if number > 1 else "")
        return _Sheet(book, label, title, name, headers, widths, kinds, lang, styles)

    sheets = [lines_sheet(1)]
    sheet = sheets[0]
    for row in rows:
        if sheet.lines == lines_per_sheet:
            sheet.finish()
            sheet = lines_sheet(len(sheets) + 1)
            sheets.append(sheet)
        sheet.add(row)
        totals.add([row[j] or 0 for j in money], *_keys(layout, row, b, e, n))
        if totals.lines % 10_000 == 0:
            report("write", totals.lines, total)
    sheet.finish()
    if layout.totals:  # the total row and the signature block under the lines of the last sheet
        sheet.add(_total_cells(layout, {0: word("total", lang)}, totals.all, text=False, raw=True), bold=True, line=False)
    sheet.blank()
    signature = [word(k, lang) for k in ("sign_prepared", "sign_checked", "sign_approved", "sign_date")]
    sheet.add([signature[0], None, None, signature[1], None, None, signature[2], None, None, signature[3]],
              kinds=[TEXT] * 10, bold=True, line=False)

    for key, group, label_keys in (("by_bank", totals.by_bank, (layout.bank_key,)),
                                   ("by_enterprise", totals.by_enterprise, (layout.enterprise_key, layout.enterprise_name_key))):
        label_columns = [c for c in layout.columns if c.key in label_keys and c.key is not None]
        if not label_columns:
            continue
        sub = Layout(layout.name_zh, layout.name_en, (*label_columns, *[c for c in layout.columns if c.kind == MONEY]))
        sub_kinds = [c.kind for c in sub.columns]
        total_sheet = _Sheet(book, word(key, lang), title, name, sub.headers(lang), _widths(sub, lang), sub_kinds, lang, styles)
        for group_key, sums in sorted(group.items()):
            labels = [group_key] if isinstance(group_key, str) else list(group_key)[:len(label_columns)]
            total_sheet.add([*labels, *sums])
        total_sheet.finish()
        total_sheet.add([word("total", lang), *[None] * (len(label_columns) - 1), *totals.all], bold=True, line=False)
        sheets.append(total_sheet)
    report("write", totals.lines, total)
    report("save", 0, 1)
    with tempfile.TemporaryFile() as frame:
        book.save(frame)
        frame.seek(0)
        _splice(frame, sheets, out)
    for s in sheets:
        s.body.close()
    report("save", 1, 1)
    return _written(totals)


def _splice(frame, sheets: list[_Sheet], out) -> None:
    """Copy the workbook openpyxl wrote, putting each sheet's body rows after its frame's rows."""
    import zipfile

    bodies = {f"xl/worksheets/sheet{k}.xml": s for k, s in enumerate(sheets, start=1)}
    with zipfile.ZipFile(frame) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            sheet = bodies.get(info.filename)
            if sheet is None:
                target.writestr(info, data)
                continue
            text = data.decode("utf-8")
            text = re.sub(r"<dimension ref=\"[^\"]*\"\s*/>", "", text, count=1)  # optional; it would be stale
            if "</sheetData>" in text:
                head, tail = text.split("</sheetData>", 1)
            else:  # an empty sheet: <sheetData/>
                head, tail = text.replace("<sheetData/>", "<sheetData>", 1), text.split("<sheetData/>", 1)[1]
                head = head[: head.index("<sheetData>") + len("<sheetData>")]
            member = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            member.compress_type = zipfile.ZIP_DEFLATED
            member._compresslevel = 1  # speed over the last few per cent of size
            with target.open(member, "w", force_zip64=True) as handle:
                handle.write(head.encode("utf-8"))
                sheet.body.seek(0)
                while chunk := sheet.body.read(1 << 20):
                    handle.write(chunk.encode("utf-8"))
                handle.write(("</sheetData>" + tail).encode("utf-8"))


def _text_cell(sheet, value: Any):
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, _clean(str(value)))
    cell.data_type = "s"
    return cell


def _finish_lines(sheet, header_row: int, lines: int, width: int) -> None:
    """The auto-filter over the header and the lines (set before the sheet is closed: it is written
    after the rows)."""
    sheet.auto_filter.ref = f"A{header_row}:{_letter(width)}{header_row + max(lines, 1)}"


def _letter(column: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(column)


def _display_width(text: str) -> int:
    """Columns a text takes in a spreadsheet: CJK characters count two."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _widths(layout: Layout, lang: str) -> list[int]:
    """Widths that fit: the header's width (wrapped over two lines at most) or the column's widest
    value (money: up to 10^12 fen is 13 digits with separators and decimals), whichever is wider."""
    out = []
    for column, header in zip([c for c in layout.columns for _ in range(2 if c.kind == MONEY else 1)], layout.headers(lang)):
        head = -(-_display_width(header) // 2) + 2
        if column.kind == MONEY:
            out.append(max(head, 18))
        elif column.kind == DATE:
            out.append(max(head, 12))
        else:
            out.append(max(head, column.width))
    return out


def _check_lang(lang: str) -> None:
    from fund.errors import DomainError

    if lang not in LANGS:
        raise DomainError("invalid_lang", f"lang must be zh or en, got {lang!r}", field="lang")


# ---- the statements -------------------------------------------------------------------------------

CHINA = dt.timezone(dt.timedelta(hours=8), "CST")
FORMATS = ("xlsx", "csv")

SUBSIDY_LAYOUT = Layout(  # interest lines, then fee lines (S6): "kind" tells them apart
    "贴息补贴发放明细表", "Interest subsidy statement",
    (
        Column("no", "序号", "No.", INT, 7),
        Column("bank", "银行", "Bank", TEXT, 10),
        Column("loan_id", "贷款编号", "Loan", INT, 9),
        Column("contract_no", "合同编号", "Contract no.", TEXT, 16),
        Column("credit_code", "统一社会信用代码", "Credit code", TEXT, 20),
        Column("enterprise", "企业名称", "Enterprise", TEXT, 28),
        Column("policy", "政策", "Policy", TEXT, 10),
        Column("kind", "类别", "Kind", TEXT, 10),
        Column("due", "应还日", "Due", DATE),
        Column("paid_on", "还款日", "Paid on", DATE),
        Column("interest", "利息", "Interest", MONEY),
        Column("fee", "费用", "Fee", MONEY),
        Column("contract_rate", "合同利率（bp）", "Contract rate (bp)", INT, 9),
        Column("ip_share", "知识产权占比（bp）", "IP share (bp)", INT, 9),
        Column("lpr", "LPR（bp）", "LPR (bp)", INT, 7),
        Column("rate_used", "适用利率（bp）", "Rate used (bp)", RATE, 9),
        Column("computed", "测算补贴", "Before the cap", MONEY),
        Column("amount", "补贴金额", "Subsidy", MONEY),
        Column("paid", "已支付", "Paid", MONEY),
        Column("deferred", "递延", "Deferred", MONEY),
        Column("capped", "封顶", "Capped", FLAG, 6),
    ),
    bank_key="bank", enterprise_key="credit_code", enterprise_name_key="enterprise",
)

COMPENSATION_LAYOUT = Layout(
    "风险补偿明细表（按银行）", "Compensation by bank",
    (
        Column("no", "序号", "No.", INT, 7),
        Column("bank", "银行", "Bank", TEXT, 10),
        Column("claim_id", "理赔编号", "Claim", INT, 8),
        Column("loan_id", "贷款编号", "Loan", INT, 9),
        Column("contract_no", "合同编号", "Contract no.", TEXT, 16),
        Column("credit_code", "统一社会信用代码", "Credit code", TEXT, 20),
        Column("enterprise", "企业名称", "Enterprise", TEXT, 28),
        Column("policy", "政策", "Policy", TEXT, 10),
        Column("approved_on", "批准日", "Approved on", DATE),
        Column("loss", "损失本金", "Loss", MONEY),
        Column("fund_share", "基金补偿", "Fund share", MONEY),
        Column("paid", "已支付", "Paid", MONEY),
        Column("deferred", "递延", "Deferred", MONEY),
        Column("recovered", "基金回收", "Fund recovered", MONEY),
    ),
    bank_key="bank", enterprise_key="credit_code", enterprise_name_key="enterprise",
)


def _fund_name(session) -> str:
    from sqlalchemy import select

    from fund.adapters.models.registry import Institution

    name = session.scalar(select(Institution.name).where(Institution.kind == "fund_manager").order_by(Institution.id))
    return name or "-"


def _by_whom(actor) -> str:
    who = actor.display_name or actor.login
    return f"{who} ({actor.code})" if who else actor.code


def _title(session, actor, what: str, period: str, policy: str) -> TitleBlock:
    from fund.services.common import business_date

    return TitleBlock(_fund_name(session), what, period, policy, dt.datetime.now(CHINA), _by_whom(actor),
                      business_date(session))


@dataclass(frozen=True)
class Statement:
    """A statement ready to write: its layout, title block, rows (an iterator, read once) and size."""

    layout: Layout
    title: TitleBlock
    rows: Iterable[tuple]
    line_count: int
    filename: str

    def csv_pieces(self, *, lang: str = "zh") -> Iterator[str]:
        return csv_pieces(self.layout, self.rows, lang=lang)

    def write(self, fmt: str, out, *, lang: str = "zh", progress: Progress | None = None) -> Written:
        """Write as ``xlsx`` (``out`` a path or a binary file) or ``csv`` (``out`` a text file)."""
        if fmt == "xlsx":
            return write_xlsx(self.layout, self.title, self.rows, out, lang=lang, progress=progress, total=self.line_count)
        if fmt == "csv":
            return write_csv(self.layout, self.rows, out, lang=lang, progress=progress, total=self.line_count)
        from fund.errors import DomainError

        raise DomainError("invalid_format", f"format must be xlsx or csv, got {fmt!r}", field="format")

    def to_bytes(self, fmt: str, *, lang: str = "zh") -> bytes:
        import io

        if fmt == "csv":
            text = io.StringIO()
            self.write("csv", text, lang=lang)
            return text.getvalue().encode("utf-8")
        data = io.BytesIO()
        self.write(fmt, data, lang=lang)
        return data.getvalue()


def subsidy_statement(session, actor, *, run_id: int | None = None, month: str | None = None, bank_code: str | None = None,
                      enterprise_code: str | None = None, lang: str = "zh") -> Statement:
    """A subsidy run's statement (all lines, one bank's or one enterprise's; a bank sees only its own
    loans' lines): every line with its paid and deferred part, in S3 order."""
    from fund.services.subsidies import statement_line_count, statement_rows, statement_scope

    _check_lang(lang)
    scope = statement_scope(session, actor, run_id=run_id, month=month, bank_code=bank_code, enterprise_code=enterprise_code)
    run = scope.run
    policies = sorted(set(session.scalars(_policies_of_run(run.id))))
    what = f"{SUBSIDY_LAYOUT.name(lang)} · {'第' if lang == 'zh' else 'run '}{run.id}{'次' if lang == 'zh' else ''}"
    if scope.bank_code:
        what += f" · {scope.bank_code}"
    if scope.enterprise_code:
        what += f" · {scope.enterprise_code}"
    title = _title(session, actor, what, run.month, ", ".join(policies) or "-")

    def rows() -> Iterator[tuple]:
        for no, r in enumerate(statement_rows(session, scope), start=1):
            yield (no, r.bank, r.loan_id, r.contract_no, r.enterprise_credit_code, r.enterprise_name, r.policy_id,
                   line_kind_word(r.line_kind, lang), r.installment_due, r.paid_on, r.interest_fen, r.fee_fen,
                   r.contract_rate_bp, r.ip_share_bp, r.lpr_bp, r.rate_used_bp, r.computed_fen, r.amount_fen, r.paid_fen,
                   r.deferred_fen, r.capped)

    name = "-".join(p for p in ("subsidy", run.month, scope.bank_code, scope.enterprise_code) if p)
    return Statement(SUBSIDY_LAYOUT, title, rows(), statement_line_count(session, scope), name)


_LINE_KIND_WORDS = {  # a subsidy statement's line kinds (S6: a fee line shows its fee's kind)
    "interest": ("贴息", "interest"), "appraisal": ("评估费补贴", "appraisal fee"),
    "insurance": ("保险费补贴", "insurance fee"), "guarantee": ("担保费补贴", "guarantee fee"),
}


def line_kind_word(kind: str, lang: str) -> str:
    """The statement's word for a line's kind (``interest`` or a fee's kind)."""
    return _LINE_KIND_WORDS[kind][LANGS.index(lang)]


def _policies_of_run(run_id: int):
    from sqlalchemy import select, union

    from fund.adapters.models.pool import LoanFee
    from fund.adapters.models.registry import Loan
    from fund.adapters.models.subsidies import SubsidyLine

    return union(select(SubsidyLine.policy_id).where(SubsidyLine.run_id == run_id),
                 select(Loan.policy_id).join(LoanFee, LoanFee.loan_id == Loan.id).where(LoanFee.run_id == run_id))


def compensation_statement(session, actor, *, start: dt.date, end: dt.date, bank_code: str | None = None,
                           lang: str = "zh") -> Statement:
    """Compensation by bank over a period: every claim approved from ``start`` to ``end`` (both
    included), with the fund's share, what the compensation pool has paid of it and what is still
    deferred, and the fund's recoveries. A bank sees only its own claims."""
    from sqlalchemy import func, select

    from fund.adapters.models.claims import Claim
    from fund.adapters.models.ledger import Deferral
    from fund.adapters.models.registry import Enterprise, Institution, Loan
    from fund.errors import DomainError, Forbidden

    _check_lang(lang)
    if start > end:
        raise DomainError("invalid_period", f"the period starts {start} after it ends {end}", field="start")
    if actor.kind == "bank":
        if bank_code is not None and bank_code != actor.code:
            raise Forbidden("forbidden", "a bank sees only its own claims", field="bank")
        bank_code = actor.code
    elif actor.kind not in ("fund_manager", "auditor"):
        raise Forbidden("forbidden", "only the fund manager, auditors and banks read compensation statements")
    open_deferred = (
        select(Deferral.ref_id, func.sum(Deferral.amount_fen - Deferral.settled_fen).label("open_fen"))
        .where(Deferral.pool == "compensation", Deferral.ref_type == "claim")
        .group_by(Deferral.ref_id).subquery()
    )
    bank = Institution
    stmt = (
        select(Claim.id, bank.code, Loan.id, Loan.contract_no, Enterprise.credit_code, Loan.borrower_name, Claim.policy_id,
               Claim.decided_on, Claim.loss_fen, Claim.fund_fen, func.coalesce(open_deferred.c.open_fen, 0), Claim.fund_recovered_fen)
        .join(Loan, Loan.id == Claim.loan_id)
        .join(bank, bank.id == Claim.bank_id)
        .join(Enterprise, Enterprise.id == Loan.enterprise_id)
        .outerjoin(open_deferred, open_deferred.c.ref_id == Claim.id)
        .where(Claim.fund_fen.is_not(None), Claim.decided_on >= start, Claim.decided_on <= end)
        .order_by(bank.code, Claim.decided_on, Claim.id)
    )
    if bank_code is not None:
        stmt = stmt.where(bank.code == bank_code)
    count = int(session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0)
    policies = sorted({p for p in session.scalars(select(stmt.order_by(None).subquery().c.policy_id).distinct())})
    what = COMPENSATION_LAYOUT.name(lang) + (f" · {bank_code}" if bank_code else "")
    title = _title(session, actor, what, f"{start.isoformat()} – {end.isoformat()}", ", ".join(policies) or "-")

    def rows() -> Iterator[tuple]:
        for no, (claim_id, code, loan_id, contract, credit, name, policy, decided, loss, fund, deferred, recovered) in enumerate(
                session.execute(stmt.execution_options(yield_per=5_000)), start=1):
            deferred = int(deferred)
            yield (no, code, claim_id, loan_id, contract, credit, name, policy, _date(decided), loss, fund, fund - deferred,
                   deferred, recovered)

    name = "-".join(p for p in ("compensation", start.isoformat(), end.isoformat(), bank_code) if p)
    return Statement(COMPENSATION_LAYOUT, title, rows(), count, name)


def _date(value: Any) -> dt.date:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


MONTHLY_LAYOUT = Layout(
    "知识产权质押融资风险补偿基金月度统计", "Monthly statistics of the IP pledge-financing fund",
    (
        Column("period", "期间", "Period", TEXT, 10),
        Column("figure", "项目", "Figure", TEXT, 40),
        Column("breakdown", "分项", "Breakdown", TEXT, 24),
        Column("count", "笔数", "Count", INT, 9),
        Column("amount", "金额", "Amount", MONEY),
    ),
    totals=False,
)


def monthly_statement(session, actor, month: str, *, lang: str = "zh") -> Statement:
    """The monthly statistics (docs/rules.md section 13) as a statement: one row per figure."""
    from fund.services.monthly import figure_rows, monthly_statistics

    _check_lang(lang)
    stats = monthly_statistics(session, actor, month)
    rows = figure_rows(stats, lang)
    title = _title(session, actor, MONTHLY_LAYOUT.name(lang), month, "-")
    return Statement(MONTHLY_LAYOUT, title, iter(rows), len(rows), f"monthly-{month}")
