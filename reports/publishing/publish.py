"""What a customer-month publishes to published/<customer>/<month>/ and delivers: findings.csv and savings.csv in
publication order, quarantine.csv, one disputes-<carrier>.csv per carrier with findings, and the delivery of all of
them with the workbook."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from reports.inputs.contracts import currency_of, dispute_windows
from reports.layout import DataRoot
from reports.publishing.csv_files import write_csv_atomically
from reports.publishing.delivery import ObjectStore
from reports.publishing.disputes import INVOICE_DATES_SQL, by_carrier, dispute_rows
from reports.publishing.reidentification import inbox_file_names, published_quarantine, published_rows
from reports.warehouse.store import Warehouse
from schemas.names import validate_id
from schemas.outputs import (
    DISPUTES_CSV_AMOUNTS,
    DISPUTES_FILE_PREFIX,
    FINDING_TYPES,
    FINDINGS_CSV_AMOUNTS,
    FINDINGS_CSV_COLUMNS,
    SAVINGS_CSV_AMOUNTS,
    SAVINGS_CSV_COLUMNS,
    SAVINGS_TYPES,
    disputes_file_name,
)

# warehouse table -> the columns of its published CSV, and which of them are amounts (two decimals, half-up)
PUBLISHED_TABLES = {
    "findings": (FINDINGS_CSV_COLUMNS, FINDINGS_CSV_AMOUNTS),
    "savings": (SAVINGS_CSV_COLUMNS, SAVINGS_CSV_AMOUNTS),
}
DELIVERED_FILES = ("report.xlsx", "findings.csv", "savings.csv", "quarantine.csv")  # and the disputes-<carrier>.csv

# The order of published rows, on the values the customer reads: the warehouse orders by pseudonyms, which follow
# the customer's data key, so the same inbox under another key (a new data root) would list rows differently.
PUBLICATION_ORDER = {
    "findings": (
        "finding_type",
        FINDING_TYPES,
        ("carrier", "account_number", "invoice_number", "__type", "msisdn", "charge_type", "charge_code", "evidence"),
    ),
    "savings": ("savings_type", SAVINGS_TYPES, ("carrier", "__type", "msisdn", "feature_code", "rationale")),
}


class PublishError(RuntimeError):
    """Nothing can be published or delivered as it stands; the message says what to do."""


def in_publication_order(table: str, rows: pl.DataFrame) -> pl.DataFrame:
    """Findings by carrier, account, invoice, then in rule order; savings by carrier and type (the rules' priority);
    then by line and the rest of the row, so the order never depends on a pseudonym."""
    type_column, types, keys = PUBLICATION_ORDER[table]
    rank = pl.col(type_column).replace_strict(list(types), list(range(len(types))), default=len(types))
    return rows.with_columns(rank.alias("__type")).sort(list(keys)).drop("__type")


def publish_table(
    data_root: DataRoot, warehouse: Warehouse, maps: dict[str, pl.DataFrame], customer_id: str, month: str, table: str
) -> pl.DataFrame:
    """Publish a warehouse table (findings, savings) as published/<customer>/<month>/<table>.csv for its customer
    alone, identifiers restored with `maps` (reidentification_maps); returns the published rows."""
    columns, amounts = PUBLISHED_TABLES[table]
    stored = warehouse.read(customer_id, month, table)
    rows = published_rows(stored, maps, customer_id, month, currency_of(warehouse, customer_id), columns, amounts)
    line_level = stored["msisdn"].is_not_null()
    unresolved = rows.filter(line_level & (pl.col("msisdn") == "")).height
    if unresolved:
        raise PublishError(
            f"{unresolved} row(s) of {table} refer to a line that is no longer in the inbox files; "
            "re-run the whole customer-month"
        )
    rows = in_publication_order(table, rows)
    write_csv_atomically(data_root.published_dir(customer_id, month) / f"{table}.csv", rows, amounts)
    return rows


def publish_quarantine(data_root: DataRoot, warehouse: Warehouse, customer_id: str, month: str) -> pl.DataFrame:
    """published/<customer>/<month>/quarantine.csv, with the customer's own file names and values; returns the
    rows with the files as stored (SourceFile.ref), which is how metadata may name them."""
    frame = published_quarantine(data_root, warehouse, customer_id, month)
    names = inbox_file_names(data_root, customer_id, month)
    target = data_root.published_dir(customer_id, month) / "quarantine.csv"
    write_csv_atomically(target, frame.with_columns(pl.col("file").replace(names)).sort("file", "row", "column"))
    return frame


def publish_disputes(
    data_root: DataRoot, warehouse: Warehouse, customer_id: str, month: str, findings: pl.DataFrame
) -> dict[str, int]:
    """published/<customer>/<month>/disputes-<carrier>.csv, one per carrier with findings, from the rows of
    findings.csv (same amounts, same evidence) with each invoice's date and last day to file. A carrier without
    findings gets no file, and a file left by an earlier run for a carrier that no longer has findings is removed.
    Returns file name -> rows."""
    folder = data_root.published_dir(customer_id, month)
    connection = warehouse.connect()
    warehouse.view(connection, "invoice_charges", customer_id, month, "invoice_charges")
    invoices = connection.sql(INVOICE_DATES_SQL).pl()
    carriers = sorted(set(findings["carrier"].drop_nulls().to_list()))
    for carrier in carriers:
        validate_id(carrier, "carrier")  # a file name part: ingest accepts no other carrier ids
    rows = dispute_rows(findings, invoices, dispute_windows(data_root, customer_id, carriers), month)
    written = {}
    for carrier, part in by_carrier(rows).items():
        write_csv_atomically(folder / disputes_file_name(carrier), part, DISPUTES_CSV_AMOUNTS)
        written[disputes_file_name(carrier)] = part.height
    for stale in sorted(folder.glob(f"{DISPUTES_FILE_PREFIX}*.csv")):
        if stale.name not in written:
            stale.unlink()
    return written


def dispute_files(folder: Path) -> list[Path]:
    """The published disputes-<carrier>.csv files of a customer-month, by carrier."""
    return sorted(p for p in folder.glob(f"{DISPUTES_FILE_PREFIX}*.csv") if p.is_file())


def deliverable_files(folder: Path) -> list[Path]:
    """Every file a customer-month delivers, refused (PublishError) when one of DELIVERED_FILES is not published."""
    files = [folder / name for name in DELIVERED_FILES]
    missing = [p.name for p in files if not p.exists()]
    if missing:
        raise PublishError(f"nothing delivered, {', '.join(missing)} not published")
    return files + dispute_files(folder)


def remove_stale_disputes(store: ObjectStore, customer_id: str, month: str, delivered: set[str]) -> None:
    """Delete a disputes-<carrier>.csv an earlier delivery left for a carrier that no longer has findings (in the
    local folder, findings_report already removed it with the published file)."""
    for key in store.list_keys(f"{customer_id}/{month}/"):
        name = key.rsplit("/", 1)[-1]
        if name.startswith(DISPUTES_FILE_PREFIX) and name.endswith(".csv") and name not in delivered:
            store.delete(key)


def deliver(store: ObjectStore, customer_id: str, month: str, files: list[Path]) -> dict:
    """Hand the files to the delivery target, stale dispute files removed, manifest.json last; returns the manifest."""
    remove_stale_disputes(store, customer_id, month, {p.name for p in files})
    return store.deliver(customer_id, month, files)
