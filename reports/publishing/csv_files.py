"""Published CSV files: UTF-8, LF line ends, no cell a spreadsheet would run as a formula, replaced atomically."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from reports.layout import atomic_replace, temp_path_for

# OWASP "CSV Injection": a spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...),
# +cmd|' /C calc'!A0, @SUM(1), -2+3...). Such a text cell is published with a single quote in front, which makes
# the spreadsheet show it as text. A cell that is a plain number (-12.50, and E.164 numbers such as +447700900123)
# is read as a number, never as a formula, and is left as it is; so are the numeric (amount) columns.
FORMULA_START = r"^[=+\-@\t\r]"
PLAIN_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"  # ASCII digits only: what every spreadsheet reads as a number


def _neutralised(column: str) -> pl.Expr:
    cell = pl.col(column)
    runnable = cell.str.contains(FORMULA_START) & ~cell.str.contains(PLAIN_NUMBER)
    return pl.when(runnable).then(pl.lit("'") + cell).otherwise(cell).alias(column)


def without_formulas(frame: pl.DataFrame, numeric_columns: tuple[str, ...] = ()) -> pl.DataFrame:
    """`frame` with every text cell a spreadsheet would run as a formula quoted (see FORMULA_START), one
    expression per text column; columns in `numeric_columns` (amounts formatted as text) are left alone."""
    text_columns = [c for c, dtype in frame.schema.items() if dtype == pl.String and c not in numeric_columns]
    return frame.with_columns(_neutralised(c) for c in text_columns)


def write_csv_atomically(path: Path, frame: pl.DataFrame, numeric_columns: tuple[str, ...] = ()) -> None:
    """CSV with a header, UTF-8, LF line ends, no cell a spreadsheet would run as a formula (`without_formulas`),
    written aside and renamed into place.

    polars quotes a cell that holds a separator, a quote, a LF or a CR (Python's csv module leaves a lone CR
    unquoted, which a spreadsheet takes as the end of the row, so the rest of the cell would start a new row
    unquoted); an empty text is written as an empty field, like a missing value."""
    safe = without_formulas(frame, numeric_columns)
    safe = safe.with_columns(pl.col(c).replace("", None) for c, dtype in safe.schema.items() if dtype == pl.String)
    tmp = temp_path_for(path)
    try:
        safe.write_csv(tmp, line_terminator="\n", quote_style="necessary", null_value="")
        atomic_replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
