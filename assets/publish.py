"""Publishing: the files a customer downloads from published/<customer>/<month>/.

Identifiers come back in the clear only here, for that customer alone: values the warehouse
withheld are read again from the customer's own inbox files at publish time.
"""

import csv
import io
from pathlib import Path

import polars as pl
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from assets.ingest import DROP_FILES, drop_files
from assets.readers import InputFileError, read_text_frame
from pipelines.layout import DataRoot, atomic_replace, temp_path_for
from pipelines.partitions import customer_months, split_key
from pipelines.resources import DataRootResource
from schemas.tables import DEVICE_USAGE, INVOICE_CHARGES, ROSTER

PUBLISH_GROUP = "publish"
QUARANTINE_CSV_COLUMNS = ["file", "row", "column", "value", "reason"]
INGESTED_TABLES = (ROSTER.name, INVOICE_CHARGES.name, DEVICE_USAGE.name)


def write_csv_atomically(path: Path, frame: pl.DataFrame) -> None:
    """CSV with a header, UTF-8, LF line ends, written aside and renamed into place."""
    tmp = temp_path_for(path)
    try:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(frame.columns)
        writer.writerows(frame.iter_rows())
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
        atomic_replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def restore_withheld_values(data_root: DataRoot, customer_id: str, month: str, table: str,
                            quarantine: pl.DataFrame) -> pl.DataFrame:  # fmt: skip
    """Fill the values of personal columns from the inbox file the row came from."""
    withheld = quarantine.filter(pl.col("value").is_null())
    if not withheld.height:
        return quarantine
    files = {f.name: f for f in drop_files(data_root, customer_id, month, table)}
    restored = []
    for file_name, rows in withheld.group_by("file", maintain_order=True):
        source = files.get(file_name[0])
        if source is None:
            continue
        text = read_text_frame(source.path, source.name, [])
        for column in rows["column"].unique().to_list():
            if column not in text.columns:
                continue
            restored.append(
                text.select(
                    pl.lit(source.name).alias("file"),
                    pl.col("source_row").alias("row"),
                    pl.lit(column).alias("column"),
                    pl.col(column).cast(pl.String).alias("__restored"),
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


def published_quarantine(data_root: DataRoot, warehouse, customer_id: str, month: str) -> pl.DataFrame:
    parts = []
    for table in INGESTED_TABLES:
        quarantine = warehouse.read(customer_id, month, f"{table}_quarantine")
        parts.append(restore_withheld_values(data_root, customer_id, month, table, quarantine))
    combined = pl.concat(parts).sort("file", "row", "column")
    return combined.select(QUARANTINE_CSV_COLUMNS)


@asset(
    partitions_def=customer_months,
    group_name=PUBLISH_GROUP,
    kinds={"csv"},
    deps=["roster", "invoice_charges", "device_usage"],
    description="published/<customer>/<month>/quarantine.csv: every rejected input row with file, row, column and reason.",
)
def quarantine_report(context: AssetExecutionContext, data_root: DataRootResource) -> MaterializeResult:
    customer_id, month = split_key(context.partition_key)
    root = data_root.root
    try:
        frame = published_quarantine(root, data_root.warehouse, customer_id, month)
    except InputFileError as problem:
        raise Failure(description=f"{customer_id} {month}: {problem}") from None
    target = root.published_dir(customer_id, month) / "quarantine.csv"
    write_csv_atomically(target, frame)
    by_file = frame.group_by("file").agg(pl.col("row").n_unique().alias("rows")).sort("file")
    return MaterializeResult(
        metadata={
            "quarantined_rows": int(by_file["rows"].sum()) if by_file.height else 0,
            "quarantined_cells": frame.height,
            "rows_by_file": MetadataValue.json({f: n for f, n in by_file.iter_rows()}),
            "published_file": MetadataValue.path(f"published/{customer_id}/{month}/quarantine.csv"),
        }
    )
