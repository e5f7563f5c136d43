"""Read one inbox file into a frame of text columns, whatever its format (reports/inputs/formats/).

Every cell becomes text exactly as the sender wrote it (Excel date cells as ISO dates, Excel
numbers as plain decimals), headers are trimmed and lower-cased, and each row carries the
row number a spreadsheet shows (header = row 1). Parsing to dates and decimals happens later,
once, in one place for all formats.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from reports.inputs.formats import HEADERS, READERS
from reports.inputs.formats.common import InputFileError, column_names_for

__all__ = ["InputFileError", "read_text_frame"]


def read_text_frame(
    path: Path, display_name: str, required_columns: list[str], only: list[str] | None = None
) -> pl.DataFrame:
    """The file's rows as text, headers normalised, with `source_row` (header = row 1).

    `only` names the columns wanted (those the file has are returned, with `source_row`): CSV and Parquet files
    then read just those, which is what re-reading an inbox file for a few of its cells needs. Rows are numbered
    the same; rows blank in every column are kept there (they hold nothing a caller could look for)."""
    suffix = path.suffix.lower()
    if suffix not in READERS:
        known = list(READERS)
        raise InputFileError(
            f"{display_name}: unsupported file type {suffix!r}; expected {', '.join(known[:-1])} or {known[-1]}"
        )
    positions = None
    try:
        if only is not None and suffix in HEADERS:  # the header first, then just the wanted columns
            written = HEADERS[suffix](path, display_name)
            _refuse_repeats(display_name, [written])
            names = column_names_for([str(name).strip().lower() for name in written])
            positions = [index for index, name in enumerate(names) if name in only]
            if not positions:
                return pl.DataFrame(schema={"source_row": pl.Int64})
        frame, header = READERS[suffix](path, display_name, positions)
    except OSError as exc:
        raise InputFileError(f"{display_name}: cannot be opened ({exc.strerror or 'I/O error'})") from None

    if positions is not None:
        frame = frame.rename(dict(zip(frame.columns, [names[index] for index in positions])))
    else:
        _refuse_repeats(display_name, [header, frame.columns])
        normalised = column_names_for([str(name).strip().lower() for name in frame.columns])
        frame = frame.rename(dict(zip(frame.columns, normalised)))
    missing = [name for name in required_columns if name not in frame.columns]
    if missing:
        raise InputFileError(f"{display_name}: missing required column(s): {', '.join(missing)}")
    numbered = frame.with_row_index("source_row", offset=2).with_columns(pl.col("source_row").cast(pl.Int64))
    if only is not None:
        return numbered.select("source_row", *(name for name in frame.columns if name in only))
    if not frame.width:
        return numbered
    # a blank line or an empty spreadsheet row is not a data row
    blank = pl.all_horizontal(pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "") for c in frame.columns)
    return numbered.filter(~blank)


def _refuse_repeats(display_name: str, headers: list[list]) -> None:
    """Exact repeats (`amount,amount`, in the header as written) and variants that mean the same column
    (`Amount`, ` amount `); header cells left empty may repeat."""
    duplicates = set()
    for names in headers:
        normalised = [str(name).strip().lower() for name in names]
        duplicates |= {n for n in normalised if n and normalised.count(n) > 1}
    if duplicates:
        raise InputFileError(
            f"{display_name}: the header names these columns more than once: {', '.join(sorted(duplicates))}"
        )
