"""The Findings/Savings rows rendered by polars (reports/workbook/row_xml.py) are the bytes openpyxl writes when
the same values are appended cell by cell, as the sheets were written before."""

from datetime import datetime
from decimal import Decimal

import polars as pl
import pytest
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from reports.workbook import row_xml, styles
from reports.workbook.archive import reproducible_bytes
from reports.workbook.cells import Column, as_cell_text, excel_number, set_value, wrapped_lines_expr
from reports.workbook.styles import LINE_HEIGHT_POINTS
from schemas.values import MONEY

COLUMNS = [
    Column("rank", "Rank", "count", width=7),
    Column("name", "Name", width=12),
    Column("never", "Never filled", cap=10),
    Column("later", "Filled later", cap=10),
    Column("amount", "Amount", "money", width=13),
    Column("note", "Note", "wide", width=20),
]

AWKWARD_TEXT = [
    "=SUM(A1:A2)",  # stays text
    "#N/A",  # an error code: openpyxl writes an error cell
    "#DIV/0!",
    " leading",
    "trailing ",
    "   ",  # only white space: no xml:space
    "",  # empty: no cell
    None,
    "a & b <c> \"q\" 'x'",
    "line1\nline2\nline3",
    "tab\there",
    "carriage\rreturn",
    "\xa0no-break\xa0",
    "\u3000ideographic",
    "\u2028separator",
    "phone 📞 ünïcödé",
    "illegal\x01\x1fcontrol",
    "x" * 40_000,  # cut to Excel's 32,767 characters
    "=",
    "#n/a",
]
AMOUNTS = ["-999.94", "0.00", "12.30", "-0.01", "1000000000000.01", "99999999999.99", "5", None, "-999.93", "0.10"]


def _frame(rows: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "rank": [i - 3 for i in range(rows)],
            "name": [AWKWARD_TEXT[i % len(AWKWARD_TEXT)] for i in range(rows)],
            "never": [None] * rows,
            "later": [None if i < 7 else f"v{i}" for i in range(rows)],
            # no amount in the first rows: the money style is registered after the wide text's, as openpyxl does
            "amount": [None if (a := AMOUNTS[i % len(AMOUNTS)]) is None or i < 3 else Decimal(a) for i in range(rows)],
            "note": [AWKWARD_TEXT[(i * 7) % len(AWKWARD_TEXT)] for i in range(rows)],
        },
        schema={
            "rank": pl.Int64,
            "name": pl.String,
            "never": pl.String,
            "later": pl.String,
            "amount": MONEY,
            "note": pl.String,
        },
    )


WIDTHS = [7.0, 12.0, 10.0, 10.0, 13.0, 20.0]


def _workbook(frame: pl.DataFrame, fill) -> bytes:
    wb = Workbook(write_only=True)
    data_styles = styles.add_data_styles(wb, "EUR", "DE")
    ws = wb.create_sheet("Rows")
    ws.freeze_panes = "A2"
    header = [(styles.NUMBER_HEADER if c.is_number else styles.HEADER).cell(ws, c.header) for c in COLUMNS]
    styled = [_cell(ws, data_styles[c.kind]) for c in COLUMNS]
    fill(ws, header, styled)
    stamp = datetime(2026, 7, 1)
    # openpyxl dates docProps/core.xml with the clock; pin it, or two workbooks built a second apart differ
    wb.properties.created = wb.properties.modified = stamp
    return reproducible_bytes(wb, stamp)


def _cell(ws, style: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws)
    cell.style = style
    return cell


def _openpyxl_rows(frame: pl.DataFrame):
    """The path the sheets took before: values cleaned by polars, appended through openpyxl a cell at a time."""

    def fill(ws, header, styled):
        ws.append(header)
        shown = frame.select(
            wrapped_lines_expr(COLUMNS, WIDTHS), *[pl.col(c.field) if c.is_number else as_cell_text(c) for c in COLUMNS]
        )
        for row_number, (lines, *values) in enumerate(shown.iter_rows(), start=2):
            if lines > 1:
                ws.row_dimensions[row_number].height = lines * LINE_HEIGHT_POINTS
            ws.append(
                [
                    None if value is None else set_value(cell, excel_number(value) if c.is_money else value)
                    for value, cell, c in zip(values, styled, COLUMNS)
                ]
            )
            ws.row_dimensions.pop(row_number, None)

    return fill


def _rendered_rows(frame: pl.DataFrame):
    def fill(ws, header, styled):
        row_xml.write_sheet_data(ws, header, row_xml.data_rows_xml(frame, COLUMNS, WIDTHS, styled, first_row=2))

    return fill


@pytest.mark.parametrize("rows", [0, 1, 45, 200])
def test_rendered_rows_are_the_bytes_openpyxl_writes(rows, monkeypatch):
    monkeypatch.setattr(row_xml, "ROWS_PER_SLICE", 16)  # several slices: row numbers carry across them
    frame = _frame(rows)
    assert _workbook(frame, _rendered_rows(frame)) == _workbook(frame, _openpyxl_rows(frame))


def test_a_style_no_value_uses_is_not_registered():
    frame = _frame(20).with_columns(pl.lit(None, dtype=pl.String).alias("note"))  # the only wide column, empty
    assert _workbook(frame, _rendered_rows(frame)) == _workbook(frame, _openpyxl_rows(frame))


def test_integers_too_long_for_their_digits_are_written_as_openpyxl_formats_them():
    frame = _frame(3).with_columns(pl.Series("rank", [10**17 + 1, -(10**16) - 3, 7], dtype=pl.Int64))
    assert _workbook(frame, _rendered_rows(frame)) == _workbook(frame, _openpyxl_rows(frame))


def test_rows_cannot_follow_rows_already_written():
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Rows")
    ws.append(["header"])
    with pytest.raises(ValueError, match="rows were already written"):
        row_xml.write_sheet_data(ws, ["header"], iter([]))
    ws.close()
