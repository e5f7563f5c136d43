"""Export: everything held about a data subject, as one ZIP archive with the same bytes for the same holdings.

The archive (docs/privacy.md):

    subject.json   customer, the selector as normalised, months covered, rows per file, request reference
    roster.csv     the subject's roster rows of every month, every contract column as delivered, but not
                   manager_employee_id (another person's data, Art. 15(4)), plus billing_month
    usage.csv      every accepted usage row of the subject's lines, contract columns, msisdn in E.164
    charges.csv    every accepted invoice charge on the subject's lines
    findings.csv, savings.csv   the published rows about the subject's lines or employee id
    README.txt     what each file is, in plain words

Usage rows and charges are accepted or not by the same intake code the pipeline ingests with (parse, validate,
quarantine), run on the inbox with the values kept in the clear in memory; nothing is written but the archive.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import polars as pl

from reports.inputs.intake import ingest_table
from reports.inputs.parsing import ParseContext
from reports.layout import DataRoot
from reports.privacy.subject import MonthHoldings, Selector
from schemas.outputs import FINDINGS_CSV_COLUMNS, SAVINGS_CSV_COLUMNS
from schemas.tables import DEVICE_USAGE, INVOICE_CHARGES, ROSTER, TableSpec

ROSTER_EXPORT_COLUMNS = ["billing_month"] + [c.name for c in ROSTER.columns if c.name != "manager_employee_id"]
USAGE_EXPORT_COLUMNS = ["billing_month"] + [c.name for c in DEVICE_USAGE.columns]
CHARGE_EXPORT_COLUMNS = [
    "billing_month",
    "carrier",
    "account_number",
    "invoice_number",
    "msisdn",
    "charge_type",
    "charge_code",
    "description",
    "quantity",
    "unit_rate",
    "amount",
    "currency",
]
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # no wall-clock time in the archive: the same holdings give the same bytes

README = """\
What this archive holds
=======================

This is a copy of the personal data that {customer} (your employer, the controller) asked us, its
telecom expense management provider (the processor), to export about you. It covers the billing
months listed in subject.json. Each CSV file opens in a spreadsheet program.

subject.json  - which request this answers, how you were identified, which months are covered, and
                how many rows each file has.
roster.csv    - your entries in the mobile line lists your employer sent us, one row per line and
                month, exactly as sent (name, email, department, cost center, device, line status).
                Your manager's employee id is left out: it is someone else's data.
usage.csv     - the daily usage your lines' devices measured (minutes, messages, megabytes, at home
                and abroad), one row per line and day with activity.
charges.csv   - what the carriers billed for your lines, one row per charge on an invoice.
findings.csv  - charges on your lines that we found billed in error and told your employer to
                dispute with the carrier, with the reason.
savings.csv   - changes we recommended to your employer for your lines (a cheaper plan, an unused
                feature, a line to cancel), with the reason.

A file with a header row only means we hold nothing of that kind about you.
"""


class _ClearValues:
    """Stands in for the pseudonymizer: the export needs the values themselves, and keeps them in memory only."""

    @staticmethod
    def replace_columns(frame: pl.DataFrame, columns: dict[str, str]) -> pl.DataFrame:
        return frame


def _decimal_text(column: str, money: bool) -> pl.Expr:
    """Exact decimal as text without padding zeros (money keeps two decimals)."""
    text = pl.col(column).cast(pl.String)
    if money:
        return text.str.replace(r"(\.\d\d\d*?)0+$", "$1")
    return text.str.replace(r"(\.\d*?)0+$", "$1").str.replace(r"\.$", "")


def _as_text(frame: pl.DataFrame, spec: TableSpec) -> pl.DataFrame:
    kinds = {c.name: c.kind for c in spec.columns}
    exprs = []
    for name in frame.columns:
        kind = kinds.get(name)
        if kind in ("money", "quantity", "count"):
            exprs.append(_decimal_text(name, kind == "money").alias(name))
        else:
            exprs.append(pl.col(name).cast(pl.String).alias(name))
    return frame.select(exprs)


def _accepted_rows(holdings: MonthHoldings, spec: TableSpec, region: str) -> pl.DataFrame:
    """The month's accepted rows of one table on the subject's lines, typed, msisdn in E.164."""
    sources = [f.source for f in holdings.files if f.table is spec]
    if not sources or not holdings.lines:
        return pl.DataFrame()
    result = ingest_table(spec, sources, ParseContext(region, holdings.month), _ClearValues())
    accepted = result.accepted.filter(pl.col("msisdn").is_in(holdings.lines)).collect()
    return accepted.sort("source_file", "source_row")


def _roster_rows(holdings: MonthHoldings) -> pl.DataFrame:
    rows = holdings.roster_rows
    if rows.height == 0:
        return pl.DataFrame(schema={c: pl.String for c in ROSTER_EXPORT_COLUMNS})
    missing = [c for c in ROSTER_EXPORT_COLUMNS if c not in rows.columns and c != "billing_month"]
    rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in missing)
    return rows.sort("source_file", "source_row").select(
        pl.lit(holdings.month).alias("billing_month"), *ROSTER_EXPORT_COLUMNS[1:]
    )


def _published_rows(
    data_root: DataRoot, customer_id: str, holdings: MonthHoldings, name: str, columns: list[str]
) -> pl.DataFrame:
    path = data_root.published_dir(customer_id, holdings.month) / name
    if not path.is_file() or not (holdings.lines or holdings.employee_ids):
        return pl.DataFrame(schema={c: pl.String for c in columns})
    published = pl.read_csv(path, infer_schema=False, raise_if_empty=False)
    if published.height == 0:
        return pl.DataFrame(schema={c: pl.String for c in columns})
    about = pl.col("msisdn").is_in(holdings.lines) | pl.col("employee_id").is_in(holdings.employee_ids)
    return published.filter(about.fill_null(False)).select(columns)


def _concat(frames: list[pl.DataFrame], columns: list[str]) -> pl.DataFrame:
    frames = [f.select(columns) for f in frames if f.height]
    return pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema={c: pl.String for c in columns})


def _csv_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_csv(buffer)
    return buffer.getvalue()


def build_export(
    data_root: DataRoot,
    customer_id: str,
    selector: Selector,
    region: str,
    currency: str,
    holdings: list[MonthHoldings],
    request: str | None,
) -> tuple[bytes, dict]:
    """The archive's bytes and its subject.json content."""
    roster, usage, charges, findings, savings = [], [], [], [], []
    for month in holdings:
        roster.append(_roster_rows(month))
        accepted_usage = _accepted_rows(month, DEVICE_USAGE, region)
        if accepted_usage.height:
            usage.append(
                _as_text(accepted_usage.select([c.name for c in DEVICE_USAGE.columns]), DEVICE_USAGE).with_columns(
                    pl.lit(month.month).alias("billing_month")
                )
            )
        accepted_charges = _accepted_rows(month, INVOICE_CHARGES, region)
        if accepted_charges.height:
            charge_columns = [c for c in CHARGE_EXPORT_COLUMNS if c not in ("billing_month", "currency")]
            charges.append(
                _as_text(accepted_charges.select(charge_columns), INVOICE_CHARGES).with_columns(
                    pl.lit(month.month).alias("billing_month"), pl.lit(currency).alias("currency")
                )
            )
        findings.append(_published_rows(data_root, customer_id, month, "findings.csv", FINDINGS_CSV_COLUMNS))
        savings.append(_published_rows(data_root, customer_id, month, "savings.csv", SAVINGS_CSV_COLUMNS))

    files = {
        "roster.csv": _concat(roster, ROSTER_EXPORT_COLUMNS),
        "usage.csv": _concat(usage, USAGE_EXPORT_COLUMNS),
        "charges.csv": _concat(charges, CHARGE_EXPORT_COLUMNS),
        "findings.csv": _concat(findings, FINDINGS_CSV_COLUMNS),
        "savings.csv": _concat(savings, SAVINGS_CSV_COLUMNS),
    }
    rows = {name: frame.height for name, frame in files.items()}
    subject = {
        "customer_id": customer_id,
        "selector": {selector.kind: selector.value},
        "months": [m.month for m in holdings if m.roster_rows.height],
        "rows": rows,
        "request": request,
        "data_held": any(rows.values()),
    }
    entries = {
        "subject.json": (json.dumps(subject, indent=2, sort_keys=True) + "\n").encode(),
        "README.txt": README.format(customer=customer_id).encode(),
        **{name: _csv_bytes(frame) for name, frame in files.items()},
    }
    return _zip(entries), subject


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            archive.writestr(info, entries[name], compresslevel=9)
    return buffer.getvalue()


def write_archive(path: Path, content: bytes) -> None:
    """Write the archive aside and rename it into place, readable by its owner only (it holds personal data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
