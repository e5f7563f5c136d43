"""Publishing assets: the CSV files a customer downloads from published/<customer>/<month>/.

Identifiers come back in the clear only there, for that customer alone (``reports.publishing.reidentification``); what is
written and in which order is ``reports.publishing.publish``. The metadata counts rows and names files by their stored
reference, never a value.
"""

import polars as pl
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from assets import metadata
from assets.stages import customer_facing
from pipelines.partitions import customer_months, split_key
from pipelines.resources import DataRootResource, PseudonymKeyResource
from reports.inputs.readers import InputFileError
from reports.publishing.publish import (
    PUBLISHED_TABLES,
    PublishError,
    publish_disputes,
    publish_quarantine,
    publish_table,
)
from reports.publishing.reidentification import reidentification_maps
from reports.warehouse.readiness import not_reconciled_reason
from schemas.contract import ContractError
from schemas.outputs import DISPUTES_CSV_AMOUNTS, DISPUTES_CSV_COLUMNS, QUARANTINE_CSV_COLUMNS

QUARANTINE_CSV_SCHEMA = metadata.csv_schema(QUARANTINE_CSV_COLUMNS)
CSV_SCHEMAS = {table: metadata.csv_schema(columns, amounts) for table, (columns, amounts) in PUBLISHED_TABLES.items()}
DISPUTES_CSV_SCHEMA = metadata.csv_schema(DISPUTES_CSV_COLUMNS, DISPUTES_CSV_AMOUNTS)


@asset(
    partitions_def=customer_months,
    kinds={"polars", "csv"},
    deps=["roster", "invoice_charges", "device_usage"],
    description="published/<customer>/<month>/quarantine.csv: every rejected input row with file, row, column and reason.",
    metadata=metadata.columns(QUARANTINE_CSV_SCHEMA),
    **customer_facing(),
)
def quarantine_report(context: AssetExecutionContext, data_root: DataRootResource) -> MaterializeResult:
    customer_id, month = split_key(context.partition_key)
    try:
        frame = publish_quarantine(data_root.root, data_root.warehouse, customer_id, month)
    except InputFileError as problem:
        raise Failure(description=f"{customer_id} {month}: {problem}") from None
    # the customer reads its own file names; the metadata keeps the stored references (SourceFile.ref)
    by_file = frame.group_by("file").agg(pl.col("row").n_unique().cast(pl.Int64).alias("rows")).sort("file")
    return MaterializeResult(
        metadata={
            metadata.ROW_COUNT: MetadataValue.int(frame.height),
            **metadata.columns(QUARANTINE_CSV_SCHEMA),
            "quarantined_rows": int(by_file["rows"].sum()) if by_file.height else 0,
            "quarantined_cells": frame.height,
            "rows_by_file": metadata.table(by_file),
            "published_file": MetadataValue.path(f"published/{customer_id}/{month}/quarantine.csv"),
        }
    )


def _publish(
    context: AssetExecutionContext, data_root: DataRootResource, pseudonym_key: PseudonymKeyResource, table: str
) -> MaterializeResult:
    """Publish a warehouse table as published/<customer>/<month>/<table>.csv for its customer alone; findings also
    publish one disputes-<carrier>.csv per carrier with findings."""
    customer_id, month = split_key(context.partition_key)
    root = data_root.root
    warehouse = data_root.warehouse
    if reason := not_reconciled_reason(warehouse, customer_id, month):
        return metadata.skipped(context, reason)
    try:
        pseudonymizer = pseudonym_key.pseudonymizer(customer_id, root, context.log)
        maps = reidentification_maps(root, customer_id, month, pseudonymizer)
        rows = publish_table(root, warehouse, maps, customer_id, month, table)
    except (InputFileError, ContractError, PublishError) as problem:
        raise Failure(description=f"{customer_id} {month}: {problem}") from None
    entries = {
        metadata.ROW_COUNT: MetadataValue.int(rows.height),
        **metadata.columns(CSV_SCHEMAS[table]),
        "rows": rows.height,
        "published_file": MetadataValue.path(f"published/{customer_id}/{month}/{table}.csv"),
    }
    if table == "findings":
        try:
            written = publish_disputes(root, warehouse, customer_id, month, rows)
        except (ContractError, ValueError) as problem:
            raise Failure(description=f"{customer_id} {month}: {problem}") from None
        entries["dispute_files"] = metadata.table(
            pl.DataFrame(
                {"file": list(written), "rows": list(written.values())}, schema={"file": pl.String, "rows": pl.Int64}
            )
        )
    return MaterializeResult(metadata=entries)


@asset(
    partitions_def=customer_months,
    kinds={"duckdb", "polars", "csv"},
    deps=["findings"],
    description="published/<customer>/<month>/findings.csv: what to dispute with each carrier, with evidence; and "
    "disputes-<carrier>.csv per carrier with findings: the same rows with each invoice's date and last day to file.",
    metadata={
        **metadata.columns(CSV_SCHEMAS["findings"]),
        "disputes_csv_columns": MetadataValue.table_schema(DISPUTES_CSV_SCHEMA),
    },
    **customer_facing(),
)
def findings_report(
    context: AssetExecutionContext, data_root: DataRootResource, pseudonym_key: PseudonymKeyResource
) -> MaterializeResult:
    return _publish(context, data_root, pseudonym_key, "findings")


@asset(
    partitions_def=customer_months,
    kinds={"duckdb", "polars", "csv"},
    deps=["savings"],
    description="published/<customer>/<month>/savings.csv: what the customer can stop paying for, with rationale.",
    metadata=metadata.columns(CSV_SCHEMAS["savings"]),
    **customer_facing(),
)
def savings_report(
    context: AssetExecutionContext, data_root: DataRootResource, pseudonym_key: PseudonymKeyResource
) -> MaterializeResult:
    return _publish(context, data_root, pseudonym_key, "savings")
