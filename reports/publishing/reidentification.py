"""Re-identification, for one customer alone, at publish time.

Identifiers come back in the clear only in the files a customer downloads: values the warehouse withheld are read
again from the customer's own inbox files, and pseudonyms are mapped back by recomputing them from the same files,
once per distinct value. Nothing maps pseudonyms back to people anywhere else.
"""

from __future__ import annotations

import duckdb
import polars as pl

from reports.inputs.contracts import customer_settings
from reports.inputs.intake import drop_files
from reports.inputs.parsing import phone_lookup
from reports.inputs.pseudonymize import Pseudonymizer
from reports.inputs.readers import read_text_frame
from reports.layout import DataRoot
from reports.rules.audit_rules import MSISDN_PLACEHOLDER
from reports.warehouse.store import Warehouse
from schemas.outputs import QUARANTINE_CSV_COLUMNS
from schemas.tables import DEVICE_USAGE, INVOICE_CHARGES, ROSTER

INGESTED_TABLES = (ROSTER.name, INVOICE_CHARGES.name, DEVICE_USAGE.name)


def restore_withheld_values(
    data_root: DataRoot, customer_id: str, month: str, table: str, quarantine: pl.DataFrame
) -> pl.DataFrame:
    """Fill the withheld values (every quarantined cell's) from the inbox file the row came from, trimmed as
    the parser saw them."""
    withheld = quarantine.filter(pl.col("value").is_null())
    if not withheld.height:
        return quarantine
    files = {f.ref: f for f in drop_files(data_root, customer_id, month, table)}
    restored = []
    for file_name, rows in withheld.group_by("file", maintain_order=True):
        source = files.get(file_name[0])
        if source is None:
            continue
        text = read_text_frame(source.path, source.ref, [], only=rows["column"].unique().to_list())
        for column in rows["column"].unique().to_list():
            if column not in text.columns:
                continue
            restored.append(
                text.select(
                    pl.lit(source.ref).alias("file"),
                    pl.col("source_row").alias("row"),
                    pl.lit(column).alias("column"),
                    pl.col(column).cast(pl.String).str.strip_chars().replace("", None).alias("__restored"),
                ).join(rows.select("file", "row", "column"), on=["file", "row", "column"], how="semi")
            )
    if not restored:
        return quarantine
    lookup = pl.concat(restored)
    return (
        quarantine.join(lookup, on=["file", "row", "column"], how="left", maintain_order="left")
        .with_columns(pl.coalesce("value", "__restored").alias("value"))
        .drop("__restored")
    )


def published_quarantine(data_root: DataRoot, warehouse: Warehouse, customer_id: str, month: str) -> pl.DataFrame:
    """Every quarantined cell of the customer-month's three tables, values restored, files as stored (SourceFile.ref)."""
    parts = []
    for table in INGESTED_TABLES:
        quarantine = warehouse.read(customer_id, month, f"{table}_quarantine")
        parts.append(restore_withheld_values(data_root, customer_id, month, table, quarantine))
    combined = pl.concat(parts).sort("file", "row", "column")
    return combined.select(QUARANTINE_CSV_COLUMNS)


def inbox_file_names(data_root: DataRoot, customer_id: str, month: str) -> dict[str, str]:
    """stored reference (SourceFile.ref) -> the file's own name in the customer's inbox."""
    return {f.ref: f.name for table in INGESTED_TABLES for f in drop_files(data_root, customer_id, month, table)}


def reidentification_maps(
    data_root: DataRoot, customer_id: str, month: str, pseudonymizer: Pseudonymizer
) -> dict[str, pl.DataFrame]:
    """pseudonym -> identifier for the msisdns (E.164) and employee ids in this customer-month's own inbox.

    Computed at publish time from the customer's files, once per distinct value; nothing maps
    pseudonyms back to people anywhere else.
    """
    region = customer_settings(data_root, customer_id).region
    phones, employees = [], []
    for table, columns in ((ROSTER.name, ["msisdn", "employee_id"]), (INVOICE_CHARGES.name, ["msisdn"])):
        for source in drop_files(data_root, customer_id, month, table):
            text = read_text_frame(source.path, source.ref, [], only=columns)
            present = [c for c in columns if c in text.columns]
            trimmed = text.select(pl.col(c).str.strip_chars() for c in present)
            if "msisdn" in present:
                phones.append(trimmed["msisdn"])
            if "employee_id" in present:
                employees.append(trimmed["employee_id"])
    e164 = phone_lookup(pl.concat(phones) if phones else pl.Series([], dtype=pl.String), region)["e164"]
    employee_ids = pl.concat(employees) if employees else pl.Series([], dtype=pl.String)
    return {
        "msisdn": pseudonymizer.mapping("msisdn", e164),
        "employee_id": pseudonymizer.mapping("employee_id", employee_ids.filter(employee_ids != "")),
    }


def restore_identifiers(frame: pl.DataFrame, maps: dict[str, pl.DataFrame]) -> pl.DataFrame:
    for column, lookup in maps.items():
        frame = (
            frame.join(
                lookup.rename({"pseudonym": column, "value": "__clear"}), on=column, how="left", maintain_order="left"
            )
            .with_columns(pl.col("__clear").alias(column))
            .drop("__clear")
        )
    return frame


def published_rows(
    stored: pl.DataFrame,
    maps: dict[str, pl.DataFrame],
    customer_id: str,
    month: str,
    currency: str,
    columns: list[str],
    money_columns: tuple[str, ...],
) -> pl.DataFrame:
    """Rows of a published CSV: identifiers restored for this customer, evidence completed, amounts with two
    decimals (half-up), empty cells for missing values."""
    restored = restore_identifiers(stored, maps)
    if "evidence" in restored.columns:
        restored = restored.with_columns(
            pl.col("evidence").str.replace(MSISDN_PLACEHOLDER, pl.col("msisdn").fill_null("this line"), literal=True)
        )
    fields = {"customer_id": "$customer_id", "billing_month": "$month", "currency": "$currency"}
    for column in columns:
        if column in money_columns:
            fields[column] = f"CAST(CAST(round({column}, 2) AS DECIMAL(18, 2)) AS VARCHAR)"
        elif column not in fields:
            fields[column] = f"coalesce(CAST({column} AS VARCHAR), '')"
    select = ", ".join(f"{expression} AS {name}" for name, expression in fields.items())
    return (
        duckdb.sql(
            f"SELECT {select} FROM restored",
            params={"customer_id": customer_id, "month": month, "currency": currency},
        )
        .pl()
        .select(columns)
    )
