"""Excel .xlsx workbooks: the first sheet, every cell as text (date cells as ISO dates)."""

from __future__ import annotations

from pathlib import Path

import fastexcel
import polars as pl

from reports.inputs.formats.common import ZIP_MAGIC, Header, InputFileError, column_names_for, file_head


def read(path: Path, display_name: str, positions: list[int] | None = None) -> tuple[pl.DataFrame, Header]:
    """Every column as text (`positions` is not used: fastexcel reads the sheet whole)."""
    if not file_head(path).startswith(ZIP_MAGIC):
        raise InputFileError(f"{display_name}: not an Excel .xlsx workbook")
    try:
        reader = fastexcel.read_excel(str(path))
        if not reader.sheet_names:
            raise InputFileError(f"{display_name}: the workbook has no sheet")
        # the header row is read as data, as written: fastexcel would rename a repeated name to `amount_1`
        sheet = reader.load_sheet(0, header_row=None, dtypes="string")
        cells = sheet.to_polars()
    except InputFileError:
        raise
    except Exception:  # fastexcel raises its own error types for corrupt workbooks
        raise InputFileError(
            f"{display_name}: the workbook could not be opened (damaged or not an .xlsx file)"
        ) from None
    cells = cells.with_columns(pl.all().cast(pl.String))
    if not cells.height:
        return pl.DataFrame(), []
    header = ["" if name is None else name for name in cells.row(0)]
    # Excel date cells arrive as 'YYYY-MM-DD 00:00:00'; the date parser accepts that form.
    return cells.slice(1).rename(dict(zip(cells.columns, column_names_for(header)))), header
