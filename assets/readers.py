"""Read one inbox file (CSV, XLSX or Parquet) into a frame of text columns.

Every cell becomes text exactly as the sender wrote it (Excel date cells as ISO dates, Excel
numbers as plain decimals), headers are trimmed and lower-cased, and each row carries the
row number a spreadsheet shows (header = row 1). Parsing to dates and decimals happens later,
once, in one place for all three formats.
"""

from __future__ import annotations

from pathlib import Path

import fastexcel
import polars as pl

ZIP_MAGIC = b"PK\x03\x04"
PARQUET_MAGIC = b"PAR1"
SUPPORTED_SUFFIXES = {".csv", ".xlsx", ".parquet"}


class InputFileError(ValueError):
    """A file that cannot be read at all. The message names the file and the problem, never a value."""


def _head(path: Path, size: int = 4) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)


def _read_csv(path: Path, display_name: str) -> pl.DataFrame:
    head = _head(path)
    if head.startswith(ZIP_MAGIC) or head.startswith(PARQUET_MAGIC):
        raise InputFileError(f"{display_name}: not a CSV text file (it looks like a binary workbook or Parquet file)")
    try:
        # all columns as text; polars strips a UTF-8 BOM and accepts CRLF line ends
        return pl.read_csv(path, infer_schema=False, encoding="utf8", raise_if_empty=False)
    except pl.exceptions.ComputeError as exc:
        if "utf-8" in str(exc).lower() or "utf8" in str(exc).lower():
            raise InputFileError(f"{display_name}: not UTF-8 text; save it as UTF-8 CSV") from None
        raise InputFileError(
            f"{display_name}: not a well-formed CSV file (unbalanced quotes or a row with more fields than the header)"
        ) from None
    except pl.exceptions.PolarsError:
        raise InputFileError(f"{display_name}: not a well-formed CSV file") from None


def _read_xlsx(path: Path, display_name: str) -> pl.DataFrame:
    if not _head(path).startswith(ZIP_MAGIC):
        raise InputFileError(f"{display_name}: not an Excel .xlsx workbook")
    try:
        reader = fastexcel.read_excel(str(path))
        if not reader.sheet_names:
            raise InputFileError(f"{display_name}: the workbook has no sheet")
        sheet = reader.load_sheet(0, header_row=0, dtypes="string")
        frame = sheet.to_polars()
    except InputFileError:
        raise
    except Exception:  # fastexcel raises its own error types for corrupt workbooks
        raise InputFileError(f"{display_name}: the workbook could not be opened (damaged or not an .xlsx file)") from None
    # Excel date cells arrive as 'YYYY-MM-DD 00:00:00'; the date parser accepts that form.
    return frame.with_columns(pl.all().cast(pl.String))


def _read_parquet(path: Path, display_name: str) -> pl.DataFrame:
    if _head(path) != PARQUET_MAGIC:
        raise InputFileError(f"{display_name}: not a Parquet file")
    try:
        frame = pl.read_parquet(path)
    except pl.exceptions.PolarsError:
        raise InputFileError(f"{display_name}: the Parquet file could not be read (damaged)") from None
    as_text = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if dtype == pl.Datetime or isinstance(dtype, pl.Datetime):
            column = column.dt.date()
        as_text.append(column.cast(pl.String).alias(name))
    return frame.select(as_text)


READERS = {".csv": _read_csv, ".xlsx": _read_xlsx, ".parquet": _read_parquet}


def read_text_frame(path: Path, display_name: str, required_columns: list[str]) -> pl.DataFrame:
    """The file's rows as text, headers normalised, with `source_row` (header = row 1)."""
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise InputFileError(f"{display_name}: unsupported file type {suffix!r}; expected .csv, .xlsx or .parquet")
    try:
        frame = READERS[suffix](path, display_name)
    except OSError as exc:
        raise InputFileError(f"{display_name}: cannot be opened ({exc.strerror or 'I/O error'})") from None

    normalised = [str(name).strip().lower() for name in frame.columns]
    duplicates = sorted({n for n in normalised if normalised.count(n) > 1 and n})
    if duplicates:
        raise InputFileError(f"{display_name}: the header names these columns more than once: {', '.join(duplicates)}")
    frame = frame.rename(dict(zip(frame.columns, normalised)))
    missing = [name for name in required_columns if name not in frame.columns]
    if missing:
        raise InputFileError(f"{display_name}: missing required column(s): {', '.join(missing)}")
    numbered = frame.with_row_index("source_row", offset=2).with_columns(pl.col("source_row").cast(pl.Int64))
    # a blank line or an empty spreadsheet row is not a data row
    blank = pl.all_horizontal(pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "") for c in frame.columns)
    return numbered.filter(~blank) if frame.width else numbered
