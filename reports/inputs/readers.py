"""Read one inbox file into a frame of text columns, whatever its format (reports/inputs/formats/).

Every cell becomes text exactly as the sender wrote it (Excel date cells as ISO dates, Excel
numbers as plain decimals), headers are trimmed and lower-cased, and each row carries the
row number a spreadsheet shows (header = row 1). Parsing to dates and decimals happens later,
once, in one place for all formats.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from reports.inputs.formats import READERS
from reports.inputs.formats.common import InputFileError, column_names_for

__all__ = ["InputFileError", "read_text_frame"]


def read_text_frame(path: Path, display_name: str, required_columns: list[str]) -> pl.DataFrame:
    """The file's rows as text, headers normalised, with `source_row` (header = row 1)."""
    suffix = path.suffix.lower()
    if suffix not in READERS:
        known = list(READERS)
        raise InputFileError(
            f"{display_name}: unsupported file type {suffix!r}; expected {', '.join(known[:-1])} or {known[-1]}"
        )
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
    normalised = column_names_for([str(name).strip().lower() for name in frame.columns])
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
