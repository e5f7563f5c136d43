"""Parquet files: flat columns of any type, turned into text (timestamps as dates)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from reports.inputs.formats.common import PARQUET_MAGIC, Header, InputFileError, file_head


def header(path: Path, display_name: str) -> Header:
    """The column names as written, from the file's footer."""
    if file_head(path) != PARQUET_MAGIC:
        raise InputFileError(f"{display_name}: not a Parquet file")
    try:
        return pq.read_schema(path).names
    except Exception:  # pyarrow raises its own error types for a damaged footer
        raise InputFileError(f"{display_name}: the Parquet file could not be read (damaged)") from None


def read(path: Path, display_name: str, positions: list[int] | None = None) -> tuple[pl.DataFrame, Header]:
    """Every column as text, or only those at `positions` (the others are not read)."""
    if file_head(path) != PARQUET_MAGIC:
        raise InputFileError(f"{display_name}: not a Parquet file")
    try:
        frame = pl.read_parquet(path, columns=positions)
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
        raise InputFileError(
            f"{display_name}: column(s) {', '.join(nested)} hold lists, structs or binary data, "
            "not single values; write each as text, a number or a date"
        )
    as_text = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if dtype == pl.Datetime or isinstance(dtype, pl.Datetime):
            column = column.dt.date()
        as_text.append(column.cast(pl.String).alias(name))
    return frame.select(as_text), frame.columns
