"""CSV files: UTF-8 text (a BOM and CRLF line ends are fine), every column read as text."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl

from reports.inputs.formats.common import PARQUET_MAGIC, ZIP_MAGIC, Header, InputFileError, file_head


def _csv_header(path: Path, display_name: str) -> Header:
    """The first non-empty record, as polars takes it for the header (it skips leading empty lines)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return next((record for record in csv.reader(handle) if record), [])
    except (csv.Error, UnicodeDecodeError):  # polars read the file: only a header over 128 KiB gets here
        raise InputFileError(f"{display_name}: not a well-formed CSV file (the header line cannot be read)") from None


def header(path: Path, display_name: str) -> Header:
    """The header as written, without reading the rows."""
    return _csv_header(path, display_name)


def read(path: Path, display_name: str, positions: list[int] | None = None) -> tuple[pl.DataFrame, Header]:
    """Every column as text, or only those at `positions` in the header (the rest are parsed but not kept)."""
    head = file_head(path, 64 * 1024)
    if b"\r" in head and b"\n" not in head.rstrip(b"\r"):  # classic Mac line ends: the whole file is one "line"
        raise InputFileError(f"{display_name}: its lines end with CR only; save it with LF or CRLF line ends")
    if head.startswith(ZIP_MAGIC) or head.startswith(PARQUET_MAGIC):
        raise InputFileError(f"{display_name}: not a CSV text file (it looks like a binary workbook or Parquet file)")
    try:
        # all columns as text; polars strips a UTF-8 BOM and accepts CRLF line ends
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8", raise_if_empty=False, columns=positions)
    except pl.exceptions.ComputeError as exc:
        if "utf-8" in str(exc).lower() or "utf8" in str(exc).lower():
            raise InputFileError(f"{display_name}: not UTF-8 text; save it as UTF-8 CSV") from None
        raise InputFileError(
            f"{display_name}: not a well-formed CSV file (unbalanced quotes or a row with more fields than the header)"
        ) from None
    except pl.exceptions.PolarsError:
        raise InputFileError(f"{display_name}: not a well-formed CSV file") from None
    return frame, _csv_header(path, display_name)
