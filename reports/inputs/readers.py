"""Read one inbox file (CSV, XLSX or Parquet) into a frame of text columns.

Every cell becomes text exactly as the sender wrote it (Excel date cells as ISO dates, Excel
numbers as plain decimals), headers are trimmed and lower-cased, and each row carries the
row number a spreadsheet shows (header = row 1). Parsing to dates and decimals happens later,
once, in one place for all three formats.
"""

from __future__ import annotations

import csv
from pathlib import Path

import fastexcel
import polars as pl
import pyarrow.parquet as pq

ZIP_MAGIC = b"PK\x03\x04"
PARQUET_MAGIC = b"PAR1"
SUPPORTED_SUFFIXES = {".csv", ".xlsx", ".parquet"}


class InputFileError(ValueError):
    """A file that cannot be read at all. The message names the file and the problem, never a value."""


def _head(path: Path, size: int = 4) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)


# Each reader returns the frame and the header as the file wrote it. polars and fastexcel rename a name that
# appears twice (`amount_duplicated_0`, `amount_1`) before any caller sees the header (polars' with_column_names
# callback already receives the renamed list), and polars refuses a Parquet file with a repeated column without
# naming it; so the header is read from the file itself, and `read_text_frame` refuses repeats.
Header = list[str]


def _names_for(header: Header) -> list[str]:
    """Column names for a frame: the header's own, and for an empty or repeated one a placeholder that no other
    column has. An unnamed column is kept (a blank row test looks at every cell) and ignored like any unknown one."""
    taken = set(header)
    seen: set[str] = set()
    names = []
    for index, name in enumerate(header):
        if not name.strip() or name in seen:
            name = f"__unnamed__{index}"
            while name in taken:
                name = f"_{name}"
            taken.add(name)
        seen.add(name)
        names.append(name)
    return names


def _csv_header(path: Path, display_name: str) -> Header:
    """The first non-empty record, as polars takes it for the header (it skips leading empty lines)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return next((record for record in csv.reader(handle) if record), [])
    except (csv.Error, UnicodeDecodeError):  # polars read the file: only a header over 128 KiB gets here
        raise InputFileError(f"{display_name}: not a well-formed CSV file (the header line cannot be read)") from None


def _read_csv(path: Path, display_name: str) -> tuple[pl.DataFrame, Header]:
    head = _head(path, 64 * 1024)
    if b"\r" in head and b"\n" not in head.rstrip(b"\r"):  # classic Mac line ends: the whole file is one "line"
        raise InputFileError(f"{display_name}: its lines end with CR only; save it with LF or CRLF line ends")
    if head.startswith(ZIP_MAGIC) or head.startswith(PARQUET_MAGIC):
        raise InputFileError(f"{display_name}: not a CSV text file (it looks like a binary workbook or Parquet file)")
    try:
        # all columns as text; polars strips a UTF-8 BOM and accepts CRLF line ends
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8", raise_if_empty=False)
    except pl.exceptions.ComputeError as exc:
        if "utf-8" in str(exc).lower() or "utf8" in str(exc).lower():
            raise InputFileError(f"{display_name}: not UTF-8 text; save it as UTF-8 CSV") from None
        raise InputFileError(
            f"{display_name}: not a well-formed CSV file (unbalanced quotes or a row with more fields than the header)"
        ) from None
    except pl.exceptions.PolarsError:
        raise InputFileError(f"{display_name}: not a well-formed CSV file") from None
    return frame, _csv_header(path, display_name)


def _read_xlsx(path: Path, display_name: str) -> tuple[pl.DataFrame, Header]:
    if not _head(path).startswith(ZIP_MAGIC):
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
        raise InputFileError(f"{display_name}: the workbook could not be opened (damaged or not an .xlsx file)") from None
    cells = cells.with_columns(pl.all().cast(pl.String))
    if not cells.height:
        return pl.DataFrame(), []
    header = ["" if name is None else name for name in cells.row(0)]
    # Excel date cells arrive as 'YYYY-MM-DD 00:00:00'; the date parser accepts that form.
    return cells.slice(1).rename(dict(zip(cells.columns, _names_for(header)))), header


def _read_parquet(path: Path, display_name: str) -> tuple[pl.DataFrame, Header]:
    if _head(path) != PARQUET_MAGIC:
        raise InputFileError(f"{display_name}: not a Parquet file")
    try:
        frame = pl.read_parquet(path)
    except pl.exceptions.DuplicateError:
        # polars refuses a repeated column name without saying which: the file's schema says
        try:
            return pl.DataFrame(), pq.read_schema(path).names
        except Exception:  # pyarrow raises its own error types for a damaged footer
            raise InputFileError(f"{display_name}: the Parquet file could not be read (damaged)") from None
    except pl.exceptions.PolarsError:
        raise InputFileError(f"{display_name}: the Parquet file could not be read (damaged)") from None
    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested() or dtype == pl.Binary]
    if nested:  # a cell of a table holds one value: a list, a struct or raw bytes is not one the contract knows
        raise InputFileError(f"{display_name}: column(s) {', '.join(nested)} hold lists, structs or binary data, "
                             "not single values; write each as text, a number or a date")  # fmt: skip
    as_text = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if dtype == pl.Datetime or isinstance(dtype, pl.Datetime):
            column = column.dt.date()
        as_text.append(column.cast(pl.String).alias(name))
    return frame.select(as_text), frame.columns


READERS = {".csv": _read_csv, ".xlsx": _read_xlsx, ".parquet": _read_parquet}


def read_text_frame(path: Path, display_name: str, required_columns: list[str]) -> pl.DataFrame:
    """The file's rows as text, headers normalised, with `source_row` (header = row 1)."""
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise InputFileError(f"{display_name}: unsupported file type {suffix!r}; expected .csv, .xlsx or .parquet")
    try:
        frame, header = READERS[suffix](path, display_name)
    except OSError as exc:
        raise InputFileError(f"{display_name}: cannot be opened ({exc.strerror or 'I/O error'})") from None

    # exact repeats (`amount,amount`, in the header as written) and variants that mean the same column
    # (`Amount`, ` amount `); header cells left empty may repeat
    duplicates = set()
    for names in (header, frame.columns):
        normalised = [str(name).strip().lower() for name in names]
        duplicates |= {n for n in normalised if n and normalised.count(n) > 1}
    if duplicates:
        raise InputFileError(
            f"{display_name}: the header names these columns more than once: {', '.join(sorted(duplicates))}"
        )
    normalised = _names_for([str(name).strip().lower() for name in frame.columns])
    frame = frame.rename(dict(zip(frame.columns, normalised)))
    missing = [name for name in required_columns if name not in frame.columns]
    if missing:
        raise InputFileError(f"{display_name}: missing required column(s): {', '.join(missing)}")
    numbered = frame.with_row_index("source_row", offset=2).with_columns(pl.col("source_row").cast(pl.Int64))
    if not frame.width:
        return numbered
    # a blank line or an empty spreadsheet row is not a data row
    blank = pl.all_horizontal(pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "") for c in frame.columns)
    return numbered.filter(~blank)
