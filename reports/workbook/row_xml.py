"""The data rows of the Findings and Savings sheets, rendered as sheet XML by polars a slice at a time.

openpyxl spends some 30 us of Python on every cell it writes (a 200,000-line month's Savings sheet took 8 s).
The rows of these two sheets are regular: one named style per column, text, amounts or counts, and a row
height where text wraps. So polars renders them, and they go into the stream of openpyxl's write-only sheet
between the header row (written by openpyxl) and the end of its sheetData. The bytes are those openpyxl 3.1.5
writes for the same values appended with `ws.append` (ElementTree serialization, without lxml):
tests/unit/test_row_xml.py compares both on awkward values, and the published workbooks are byte-identical to
what the per-cell path wrote. What it reproduces, cell by cell:

- an empty value (null, or text that is empty once cleaned) writes no cell;
- text: `<c r="B7" s="3" t="inlineStr"><is><t>...</t></is></c>`, with `xml:space="preserve"` when the text has
  leading or trailing white space and is not only white space; `&`, `<` and `>` escaped. Text that starts
  with "=" stays text (`set_value`); the error codes openpyxl recognises (`#N/A`...) become `t="e"` cells;
- numbers: `t="n"` with openpyxl's `safe_string` ("%.16g"), applied in Python once per distinct amount;
  integers as their digits, which is what "%.16g" gives below 10**16;
- a row whose wrapped text needs several lines: `ht="<15 x lines>" customHeight="1"`.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES
from openpyxl.compat import safe_string
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from reports.workbook.cells import Column, as_cell_text, excel_number, wrapped_lines_expr
from reports.workbook.styles import LINE_HEIGHT_POINTS

ROWS_PER_SLICE = 20_000
_INTEGER_DIGITS = 16  # "%.16g" writes an integer's digits while it has at most 16


def _escaped(text: pl.Expr) -> pl.Expr:
    return (
        text.str.replace_all("&", "&amp;", literal=True)
        .str.replace_all("<", "&lt;", literal=True)
        .str.replace_all(">", "&gt;", literal=True)
    )


def _text_cell(column: Column, start: pl.Expr) -> pl.Expr:
    text = pl.col(column.field)
    stripped = text.str.strip_chars()
    preserve = (
        pl.when((stripped != "") & (stripped != text)).then(pl.lit(' xml:space="preserve"')).otherwise(pl.lit(""))
    )
    inline = pl.concat_str(
        [start, pl.lit(' t="inlineStr"><is><t'), preserve, pl.lit(">"), _escaped(text), pl.lit("</t></is></c>")]
    )
    error = pl.concat_str([start, pl.lit(' t="e"><v>'), _escaped(text), pl.lit("</v></c>")])
    return pl.when(text.is_in(list(ERROR_CODES))).then(error).otherwise(inline)


def _number_texts(values: pl.Series, is_money: bool) -> pl.Series:
    """Each value as openpyxl writes it: "%.16g" of the float (amounts) or of the integer."""
    if values.dtype.is_integer():
        biggest = values.abs().max()
        if biggest is None or len(str(biggest)) <= _INTEGER_DIGITS:
            return values.cast(pl.String)
    distinct = values.drop_nulls().unique()
    texts = [safe_string(excel_number(v) if is_money else v) for v in distinct.to_list()]
    return values.replace_strict(distinct, pl.Series(texts, dtype=pl.String), default=None, return_dtype=pl.String)


def _number_cell(column: Column, start: pl.Expr) -> pl.Expr:
    return pl.concat_str([start, pl.lit(' t="n"><v>'), pl.col(column.field), pl.lit("</v></c>")])


def _style_ids(shown: pl.DataFrame, columns: list[Column], styled: list[WriteOnlyCell]) -> list[int | None]:
    """The style id of each column's cells, registered with the workbook in the order openpyxl would register
    them writing the rows one by one (a style gets its id when the first cell using it is written): by the
    first row with a value in the column, then by column. A column without any value registers nothing."""
    first = shown.select(pl.col(c.field).is_not_null().arg_true().first() for c in columns).row(0)
    ids: list[int | None] = [None] * len(columns)
    for index in sorted((i for i, row in enumerate(first) if row is not None), key=lambda i: (first[i], i)):
        ids[index] = styled[index].style_id
    return ids


def data_rows_xml(
    frame: pl.DataFrame, columns: list[Column], widths: list[float], styled: list[WriteOnlyCell], first_row: int
) -> Iterator[str]:
    """The `<row>` elements of `frame`'s rows, numbered from `first_row`, a slice of rows per string. `styled`
    holds a cell with each column's style; the styles are registered when the first slice is rendered."""
    shown = frame.select(
        wrapped_lines_expr(columns, widths), *[pl.col(c.field) if c.is_number else as_cell_text(c) for c in columns]
    ).with_columns(_number_texts(frame[c.field], c.is_money).alias(c.field) for c in columns if c.is_number)
    style_ids = _style_ids(shown, columns, styled)
    for offset, piece in enumerate(shown.iter_slices(ROWS_PER_SLICE)):
        row = pl.int_range(pl.len()).add(first_row + offset * ROWS_PER_SLICE).cast(pl.String)
        cells = []
        for index, (column, style_id) in enumerate(zip(columns, style_ids), start=1):
            start = pl.concat_str([pl.lit(f'<c r="{get_column_letter(index)}'), row, pl.lit(f'" s="{style_id}"')])
            cell = _number_cell(column, start) if column.is_number else _text_cell(column, start)
            cells.append(pl.when(pl.col(column.field).is_not_null()).then(cell))
        lines = pl.col("__lines")
        height = pl.when(lines > 1).then(
            pl.concat_str([pl.lit(' ht="'), (lines * LINE_HEIGHT_POINTS).cast(pl.String), pl.lit('" customHeight="1"')])
        )
        rows = piece.select(
            pl.concat_str(
                [pl.lit('<row r="'), row, pl.lit('"'), height, pl.lit(">"), *cells, pl.lit("</row>")], ignore_nulls=True
            )
        )
        yield "".join(rows.to_series().to_list())


def _finished():
    yield  # pragma: no cover - never started: stands for a sheetData already written


def write_sheet_data(ws: WriteOnlyWorksheet, header: list, rows: Iterator[str]) -> None:
    """Write a write-only sheet's sheetData: the header row through openpyxl, then the rendered rows, as
    `WriteOnlyWorksheet._write_rows` does for appended rows. Nothing may be appended afterwards; everything that
    openpyxl writes before the rows (properties, views, columns) must be set before this is called."""
    if ws._rows is not None or ws._writer is not None:
        raise ValueError("write_sheet_data writes a sheet's rows from the first; rows were already written")
    ws._get_writer()
    xf = ws._writer.xf.send(True)
    with xf.element("sheetData"):
        ws._writer.write_row(xf, ws._values_to_row(header, 1), 1)
        for text in rows:
            xf._file(text)  # the writer's own text stream: already serialized XML, written as is
    ws._writer.xf.send(None)
    ws._rows = _finished()  # `close` ends this instead of writing an empty sheetData
