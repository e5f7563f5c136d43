"""The data subject of a controller's request, and what the inbox holds about them, month by month.

A subject is chosen by employee id or by phone number (any format the data contract accepts, normalised with the
customer's region). In each billing month held, the subject's roster rows are the rows with that employee id (or
that msisdn); chosen by msisdn, the employee ids on those rows are the subject's too, so the person's other lines of
that month are theirs as well. The subject's lines are the msisdns of their roster rows in that month.

Everything here reads the inbox as delivered, with the readers the pipeline ingests with, and works on whole
columns (polars); phone numbers are normalised once per distinct text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from reports.inputs.intake import SourceFile, drop_files
from reports.inputs.parsing import normalize_phone, phone_lookup
from reports.inputs.readers import read_text_frame
from reports.layout import DataRoot
from reports.privacy.rewrite import RowEdits
from schemas.tables import DEVICE_USAGE, ERASED, INVOICE_CHARGES, ROSTER, TableSpec

TABLES = (ROSTER, INVOICE_CHARGES, DEVICE_USAGE)


class SubjectError(ValueError):
    """A request that cannot be carried out as given: one line, no identifier in it."""


@dataclass(frozen=True)
class Selector:
    kind: str  # "employee_id" or "msisdn"
    value: str  # the employee id as written (trimmed), or the number in E.164

    def __repr__(self) -> str:  # keep the identifier out of logs and tracebacks
        return f"Selector(kind={self.kind!r})"


def make_selector(employee_id: str | None, msisdn: str | None, region: str) -> Selector:
    if (employee_id is None) == (msisdn is None):
        raise SubjectError("choose the subject with exactly one of --employee or --msisdn")
    if employee_id is not None:
        value = employee_id.strip()
        if not value:
            raise SubjectError("--employee is empty")
        return Selector("employee_id", value)
    e164 = normalize_phone(msisdn.strip(), region) if msisdn.strip() else None
    if e164 is None:
        raise SubjectError(f"--msisdn is not a valid phone number for region {region} (or in international form)")
    return Selector("msisdn", e164)


@dataclass
class FileFrame:
    """One inbox file of a month: which table it feeds and its rows as text (source_row numbered)."""

    table: TableSpec
    source: SourceFile
    rows: pl.DataFrame


@dataclass
class MonthHoldings:
    """What one month's inbox holds about the subject, and how erasing them changes each file."""

    month: str
    files: list[FileFrame]
    roster_rows: pl.DataFrame  # the subject's roster rows as delivered (text), with source_file
    lines: list[str]  # E.164, sorted
    employee_ids: list[str]  # sorted
    edits: dict[str, RowEdits] = field(default_factory=dict)  # file reference (SourceFile.ref) -> its erasure edits
    counts: dict[str, int] = field(default_factory=dict)  # roster, usage, charges, manager_refs

    @property
    def holds_anything(self) -> bool:
        return any(self.counts.values())


def _stripped(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars()


def _with_e164(frame: pl.DataFrame, region: str) -> pl.DataFrame:
    """The frame with `__e164`: its msisdn normalised (null where it is empty or not a valid number)."""
    lookup = phone_lookup(frame["msisdn"], region).rename({"raw": "msisdn", "e164": "__e164"})
    return frame.join(lookup, on="msisdn", how="left", maintain_order="left")


def read_month(data_root: DataRoot, customer_id: str, month: str) -> list[FileFrame]:
    """Every file of a month's drop, read as text the way ingest reads it (a file that cannot be read raises)."""
    files = []
    for spec in TABLES:
        for source in drop_files(data_root, customer_id, month, spec.name):
            rows = read_text_frame(source.path, source.ref, spec.required_headers)
            files.append(FileFrame(spec, source, rows.with_columns(pl.lit(source.ref).alias("source_file"))))
    return files


def month_holdings(files: list[FileFrame], month: str, selector: Selector, region: str) -> MonthHoldings:
    rosters = [f for f in files if f.table is ROSTER]
    roster = pl.concat([_with_e164(f.rows, region) for f in rosters], how="diagonal") if rosters else None
    if roster is None or roster.height == 0:
        return MonthHoldings(month, files, pl.DataFrame(), [], [], counts=_zero_counts())
    if "employee_id" not in roster.columns:
        roster = roster.with_columns(pl.lit(None, dtype=pl.String).alias("employee_id"))
    if selector.kind == "employee_id":
        mine = _stripped("employee_id") == selector.value
    else:
        on_line = roster.filter(pl.col("__e164") == selector.value)
        ids = [i for i in on_line["employee_id"].str.strip_chars().unique().to_list() if i]
        mine = (pl.col("__e164") == selector.value) | _stripped("employee_id").is_in(ids)
    subject_rows = roster.filter(mine.fill_null(False))
    lines = sorted(v for v in subject_rows["__e164"].unique().to_list() if v)
    employee_ids = sorted(v for v in subject_rows["employee_id"].str.strip_chars().unique().to_list() if v)

    holdings = MonthHoldings(month, files, subject_rows.drop("__e164"), lines, employee_ids, counts=_zero_counts())
    for frame in files:
        edits = _file_edits(frame, subject_rows, lines, employee_ids, region)
        if edits is None:
            continue
        edits, counts = edits
        holdings.edits[frame.source.ref] = edits
        for key, count in counts.items():
            holdings.counts[key] += count
    return holdings


def _zero_counts() -> dict[str, int]:
    return {"roster": 0, "usage": 0, "charges": 0, "manager_refs": 0}


def _file_edits(
    frame: FileFrame, subject_rows: pl.DataFrame, lines: list[str], employee_ids: list[str], region: str
) -> tuple[RowEdits, dict[str, int]] | None:
    """The erasure edits of one file and what they count, or None when the file holds nothing of the subject."""
    rows = frame.rows
    if frame.table is ROSTER:
        drop = subject_rows.filter(pl.col("source_file") == frame.source.ref)["source_row"].to_list()
        managed = []
        if "manager_employee_id" in rows.columns and employee_ids:
            managed = rows.filter(
                _stripped("manager_employee_id").is_in(employee_ids) & ~pl.col("source_row").is_in(drop)
            )["source_row"].to_list()
        if not drop and not managed:
            return None
        edits = RowEdits(
            drop=frozenset(drop), set_values={"manager_employee_id": {r: "" for r in managed}} if managed else {}
        )
        return edits, {"roster": len(drop), "manager_refs": len(managed)}
    if not lines:
        return None
    on_lines = _with_e164(rows.select("source_row", "msisdn"), region).filter(pl.col("__e164").is_in(lines))
    hit = on_lines["source_row"].to_list()
    if not hit:
        return None
    if frame.table is DEVICE_USAGE:
        return RowEdits(drop=frozenset(hit)), {"usage": len(hit)}
    return RowEdits(set_values={"msisdn": {r: ERASED for r in hit}}), {"charges": len(hit)}


def holdings_by_month(data_root: DataRoot, customer_id: str, selector: Selector, region: str) -> list[MonthHoldings]:
    """What every month of the customer's inbox holds about the subject, in calendar order."""
    return [
        month_holdings(read_month(data_root, customer_id, month), month, selector, region)
        for month in data_root.months(customer_id)
    ]
