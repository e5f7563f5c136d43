"""What every format reader shares: the error it raises, the header type, the first bytes of a file."""

from __future__ import annotations

from pathlib import Path

ZIP_MAGIC = b"PK\x03\x04"
PARQUET_MAGIC = b"PAR1"


class InputFileError(ValueError):
    """A file that cannot be read at all. The message names the file and the problem, never a value."""


def file_head(path: Path, size: int = 4) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)


# Each reader returns the frame and the header as the file wrote it. polars and fastexcel rename a name that
# appears twice (`amount_duplicated_0`, `amount_1`) before any caller sees the header (polars' with_column_names
# callback already receives the renamed list), and polars refuses a Parquet file with a repeated column without
# naming it; so the header is read from the file itself, and `read_text_frame` refuses repeats.
Header = list[str]


def column_names_for(header: Header) -> list[str]:
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
