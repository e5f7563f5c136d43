"""Cell values at the Excel boundary: amounts as floats, text as Excel accepts it."""

import re
from dataclasses import dataclass
from decimal import Decimal

import polars as pl
from openpyxl.cell import WriteOnlyCell

EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_CELL_TEXT = 32_767
ROWS_PER_CHUNK = 2_000
TEXT_CHARACTERS_PER_WIDTH = 1.15  # column widths count digits; running text is narrower

# characters XML 1.0 forbids (openpyxl refuses them too); tab, newline and carriage return are allowed
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def excel_number(amount: Decimal | int | None) -> float | int | None:
    """The one place an amount becomes a float: Excel stores numbers as doubles."""
    if amount is None or isinstance(amount, int):
        return amount
    return float(amount)


def excel_text(value: object) -> str:
    """A value as cell text Excel accepts: XML-legal characters, at most 32,767 of them."""
    text = _ILLEGAL_XML.sub("", value if isinstance(value, str) else str(value))
    return text[:EXCEL_MAX_CELL_TEXT]


def text_cell(ws, value: object) -> WriteOnlyCell:
    """A write-only cell holding `value`; text stays text even when it starts with "=".

    openpyxl makes any string starting with "=" a formula: carrier data such as "=HYPERLINK(...)" in an
    evidence text would otherwise become a live formula in the customer's workbook.
    """
    return set_value(WriteOnlyCell(ws), value)


def set_value(cell: WriteOnlyCell, value: object) -> WriteOnlyCell:
    """Put `value` in `cell` as a value, never a formula (see `text_cell`)."""
    cell.value = value
    if cell.data_type == "f":
        cell.data_type = "s"
    return cell


@dataclass(frozen=True)
class Column:
    """One column of a Findings/Savings style table: frame field, header shown, and how it is shown.

    `width` fixes the column's width (characters); None sizes it from the values, up to `cap`. Text wraps within
    the width, so a printed page never cuts a value off."""

    field: str
    header: str
    kind: str = "text"  # "text" (short, wrapped when too long), "wide" (running text, wrapped), "money" or "count"
    width: float | None = None
    cap: float = 22.0
    printed: bool = True  # False: a column for filters only (the type codes), left out of the print area

    @property
    def is_money(self) -> bool:
        return self.kind == "money"

    @property
    def is_number(self) -> bool:
        return self.kind in ("money", "count")

    @property
    def is_wide(self) -> bool:
        return self.kind == "wide"

    @property
    def wraps(self) -> bool:
        return not self.is_number


def check_fits_one_sheet(frame: pl.DataFrame, sheet: str) -> None:
    if frame.height + 1 > EXCEL_MAX_ROWS:
        raise ValueError(f"{sheet}: {frame.height} rows do not fit one Excel sheet ({EXCEL_MAX_ROWS - 1} at most)")


def as_cell_text(column: Column) -> pl.Expr:
    """Text of a column as Excel accepts it (see `excel_text`), null when empty; done by polars a slice at a time."""
    text = (
        pl.col(column.field).cast(pl.String).str.replace_all(_ILLEGAL_XML.pattern, "").str.slice(0, EXCEL_MAX_CELL_TEXT)
    )
    return pl.when(text.str.len_chars() > 0).then(text).alias(column.field)  # empty text: no cell, as for null


def wrapped_lines_expr(columns: list[Column], widths: list[float]) -> pl.Expr:
    """Lines the tallest wrapped cell of a row needs (an estimate: the font is proportional)."""
    counts = [
        (pl.col(c.field).cast(pl.String).str.len_chars() / (width * TEXT_CHARACTERS_PER_WIDTH)).ceil().cast(pl.Int64)
        + pl.col(c.field).cast(pl.String).str.count_matches("\n", literal=True)
        for c, width in zip(columns, widths)
        if c.wraps
    ]
    return pl.max_horizontal(pl.lit(1), *counts).alias("__lines")  # nulls count as one line
