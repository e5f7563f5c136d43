"""Collect the personal identifiers a data root's inbox holds, and scan written files for them."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from reports.inputs.parsing import normalize_phone
from reports.inputs.readers import read_text_frame

PERSONAL_COLUMNS = ("employee_id", "manager_employee_id", "email", "imei", "msisdn", "first_name", "last_name")


def inbox_identifiers(root: Path, region_of: dict[str, str]) -> set[str]:
    """Every identifier in the inbox rosters, as written and, for phone numbers, in E.164 too."""
    found: set[str] = set()
    for roster in sorted((root / "inbox").glob("*/*/roster.*")):
        customer_id = roster.parent.parent.name
        frame = read_text_frame(roster, roster.name, [])
        names = frame.select([c for c in ("first_name", "last_name") if c in frame.columns])
        for first, last in names.iter_rows() if names.width == 2 else []:
            if first and last:
                found.add(f"{first} {last}")
        for column in ("employee_id", "manager_employee_id", "email", "imei", "msisdn"):
            if column not in frame.columns:
                continue
            for value in frame[column].drop_nulls().unique().to_list():
                value = value.strip()
                if len(value) < 5:
                    continue
                found.add(value)
                if column == "msisdn":
                    e164 = normalize_phone(value, region_of[customer_id])
                    if e164:
                        found.add(e164)
    return found


def written_text(path: Path) -> str:
    """What a file holds, with Parquet decompressed into its values."""
    if path.suffix == ".parquet":
        frame = pl.read_parquet(path)
        return "\n".join(" ".join(str(v) for v in column.to_list()) for column in frame.iter_columns())
    return path.read_bytes().decode("utf-8", errors="replace")


def leaks(paths: list[Path], identifiers: set[str]) -> list[tuple[str, str]]:
    """(file, identifier) for every identifier found in a file's content or name, as a whole token: an employee
    id '203697' inside a hex digest 'dd203697e9' is a coincidence, not a leak, and so is one that is the fraction
    of a decimal number (an event's timestamp `1796196065.203609`, or its time `07:21:05.203609`)."""
    pattern = re.compile(
        r"(?<![0-9A-Za-z])(?<![0-9]\.)("
        + "|".join(re.escape(i) for i in sorted(identifiers, key=len, reverse=True))
        + ")(?![0-9A-Za-z])"
    )
    found = []
    for path in paths:
        text = written_text(path) + "\n" + str(path)
        found.extend((str(path), match) for match in sorted(set(pattern.findall(text))))
    return found
