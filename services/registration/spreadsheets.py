"""Spreadsheet files in and out, as an office's Excel writes and reads them: CSV (UTF-8 with or
without BOM, or UTF-16 as Excel's "Unicode text"; comma, semicolon or tab) and XLSX.

Cells read as text, numbered as the spreadsheet shows its rows. Cells written are neutralised
against formula injection: text a spreadsheet would take for a formula gets a leading `'`
(OWASP's advice), which reading strips again, so an exported list can be edited and imported."""

from __future__ import annotations

import codecs
import csv
import io
import warnings
from collections.abc import Iterable
from datetime import date, datetime

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from shared.errors import Invalid, Problem, Unsupported

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_XLSX, _XLS = b"PK\x03\x04", b"\xd0\xcf\x11\xe0"
_TITLE_ROWS = 10  # rows a sheet may have above its data: a title, notes, the header

Rows = list[tuple[int, list[str]]]
"""Rows with something in them: (row number as the spreadsheet shows it, cells as text)."""


def read_rows(content: bytes, max_rows: int | None = None) -> Rows:
    """The non-blank rows of a CSV or XLSX file, cells as trimmed text; 415 for another kind
    of file, 422 for one with more than `max_rows` rows (and a few title rows)."""
    if content.startswith(_XLS):
        raise Unsupported(
            "unsupported_file",
            "This is an Excel 97-2003 (.xls) file: save it as .xlsx or CSV UTF-8 and upload that.",
        )
    rows = (_xlsx_rows if content.startswith(_XLSX) else _csv_rows)(content, max_rows)
    if not rows:
        raise Invalid("empty_file", "The file has no rows.")
    return rows


def too_many_rows(max_rows: int) -> Invalid:
    return Invalid(
        "too_many_rows",
        f"The file has more than {max_rows} rows: upload it in parts, or import it on the "
        "server with `rollcall import-delegates`.",
    )


def neutralise(value):
    """A cell's value that no spreadsheet runs as a formula (`=HYPERLINK(…)`, `+1+1`, `@SUM`)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def write_csv(headers: list[str], rows: Iterable[list]) -> bytes:
    """UTF-8 with a BOM, so Excel opens names in Chinese, Greek or Arabic as written."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in headers])
    writer.writerows([["" if v is None else neutralise(v) for v in row] for row in rows])
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")


def write_xlsx(headers: list[str], rows: Iterable[list], title: str) -> bytes:
    """One sheet, a bold header row frozen above the data; every text cell stays text."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    sheet.append([_xlsx_cell(sheet, h, bold) for h in headers])
    for row in rows:
        sheet.append([_xlsx_cell(sheet, v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_cell(sheet, value, font: Font | None = None) -> WriteOnlyCell:
    if isinstance(value, str):
        value = neutralise(ILLEGAL_CHARACTERS_RE.sub("", value))
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # never a formula, whatever it starts with
    if font:
        cell.font = font
    return cell


def _csv_rows(content: bytes, max_rows: int | None) -> Rows:
    # A byte-order mark says UTF-16 (Excel's "Unicode text"); anything else must be UTF-8.
    utf16 = content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    try:
        text = content.decode("utf-16" if utf16 else "utf-8-sig")
    except UnicodeDecodeError:
        text = "\x00"
    if "\x00" in text:
        raise Unsupported(
            "unsupported_file",
            "This file is neither an .xlsx workbook nor CSV text in UTF-8. In Excel, save it as "
            '"CSV UTF-8 (Comma delimited)" ("CSV UTF-8（逗号分隔）") or as an .xlsx workbook.',
        )
    sample = "\n".join(text.splitlines()[:_TITLE_ROWS])
    delimiter = max(",;\t", key=sample.count)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        return _nonblank(enumerate(reader, 1), max_rows)
    except csv.Error as exc:
        raise Invalid("unreadable_file", f"This CSV file cannot be read: {exc}.") from exc


def _xlsx_rows(content: bytes, max_rows: int | None) -> Rows:
    try:
        with warnings.catch_warnings():
            # openpyxl warns of workbook features it drops (data validation, unknown styles);
            # reading a list needs only its values.
            warnings.simplefilter("ignore")
            book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
            try:
                return _nonblank(enumerate(book.active.iter_rows(values_only=True), 1), max_rows)
            finally:
                book.close()
    except Problem:
        raise
    except Exception as exc:  # a broken workbook makes openpyxl raise all kinds of errors
        raise Unsupported(
            "unsupported_file", "This file is not an .xlsx workbook that can be read."
        ) from exc


def _nonblank(records, max_rows: int | None) -> Rows:
    rows = []
    for number, values in records:
        cells = [_cell(v) for v in values]
        if any(cells):
            if max_rows is not None and len(rows) >= max_rows + _TITLE_ROWS:
                raise too_many_rows(max_rows)
            rows.append((number, cells))
    return rows


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime | date):
        value = value.isoformat()
    text = " ".join(str(value).split())  # line breaks in a cell (Alt+Enter), non-break spaces
    if text[:1] == "'" and text[1:2] in FORMULA_START:
        return text[1:]  # neutralised by `neutralise`: a list exported, edited, imported again
    return text
