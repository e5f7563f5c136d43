"""Ingest assets: the customer's contracts, and per customer-month the roster, invoice charges and device usage,
validated, quarantined and pseudonymized into the warehouse; with the checks that re-read what was stored."""

import time

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from assets import metadata
from assets.stages import INGEST, INGEST_POOL, internal
from pipelines.partitions import customer_months, customers_partitions, split_key
from pipelines.resources import DataRootResource, PseudonymKeyResource
from reports.inputs.contracts import contract_tables, customer_settings
from reports.inputs.intake import drop_files, ingest_table
from reports.inputs.parsing import ParseContext
from reports.inputs.readers import InputFileError
from reports.warehouse import checks as warehouse_checks
from schemas.contract import ContractError
from schemas.tables import DEVICE_USAGE, INVOICE_CHARGES, ROSTER, TableSpec


def _ingest_partition(
    context: AssetExecutionContext, spec: TableSpec, data_root: DataRootResource, pseudonym_key: PseudonymKeyResource
) -> MaterializeResult:
    customer_id, month = split_key(context.partition_key)
    root = data_root.root
    try:
        settings = customer_settings(root, customer_id)
        files = drop_files(root, customer_id, month, spec.name)
        pseudonymizer = pseudonym_key.pseudonymizer(customer_id, root, context.log)
    except (InputFileError, ContractError) as problem:
        raise Failure(description=f"{customer_id} {month}: {problem}") from None

    warehouse = data_root.warehouse
    root.warehouse_dir(customer_id, month).mkdir(parents=True, exist_ok=True)
    with warehouse.scratch(customer_id, month, f"ingest-{spec.name}") as spill:
        try:
            result = ingest_table(spec, files, ParseContext(settings.region, month), pseudonymizer, spill_dir=spill)
        except (InputFileError, ContractError) as problem:
            raise Failure(description=f"{customer_id} {month}: {problem}") from None
        started_writing = time.perf_counter()
        warehouse.write(customer_id, month, spec.name, result.accepted)
        warehouse.write(customer_id, month, f"{spec.name}_rejected", result.rejected)
        warehouse.write(customer_id, month, f"{spec.name}_quarantine", result.quarantine)
        warehouse.write(customer_id, month, f"{spec.name}_accounting", result.accounting)
        seconds = {**result.seconds, "write": round(time.perf_counter() - started_writing, 3)}

    reasons = result.quarantine.group_by("reason_code").agg(pl.len().cast(pl.Int64).alias("cells")).sort("reason_code")
    entries = {
        metadata.ROW_COUNT: MetadataValue.int(result.rows_accepted),
        **metadata.columns(metadata.warehouse_schema(spec)),
        "files": len(files),
        "rows_read": result.rows_read,
        "rows_accepted": result.rows_accepted,
        "rows_quarantined": int(result.accounting["rows_quarantined"].sum()),
        "quarantine_reasons": metadata.table(reasons),
        "accounting_by_file": metadata.table(result.accounting),  # files by their stored reference, never a name
        "seconds_by_stage": MetadataValue.json(seconds),  # benchmarks/measure.py reads it
    }
    if spec.name == INVOICE_CHARGES.name:
        charges = warehouse.read(customer_id, month, spec.name)
        by_carrier = (
            charges.group_by("carrier")
            .agg(
                pl.col("invoice_number").n_unique().cast(pl.Int64).alias("invoices"),
                pl.len().cast(pl.Int64).alias("charges"),
                pl.col("amount").sum().alias("charges_total"),
            )
            .sort("carrier")
        )
        entries["invoices"] = charges["invoice_number"].n_unique()
        entries["charges_total"] = metadata.amount(charges["amount"].sum() if charges.height else 0)
        entries["currency"] = settings.currency
        entries["charges_by_carrier"] = metadata.table(by_carrier)
    return MaterializeResult(metadata=entries)


def ingest_asset(spec: TableSpec, description: str) -> AssetsDefinition:
    """The asset that ingests one table of a customer-month drop into the warehouse."""

    @asset(
        name=spec.name,
        description=description,
        partitions_def=customer_months,
        deps=["customer_contracts"],
        kinds={"polars", "pandera", "parquet"},
        metadata=metadata.columns(metadata.warehouse_schema(spec)),
        **internal(INGEST, INGEST_POOL),
    )
    def ingest(context: AssetExecutionContext, data_root: DataRootResource, pseudonym_key: PseudonymKeyResource):
        return _ingest_partition(context, spec, data_root, pseudonym_key)

    return ingest


roster = ingest_asset(ROSTER, "The month's line and employee inventory, validated and pseudonymized.")
invoice_charges = ingest_asset(
    INVOICE_CHARGES, "Every charge of the month's carrier invoices, validated and pseudonymized."
)
device_usage = ingest_asset(
    DEVICE_USAGE, "Per-device daily usage measured by the customer's devices, validated and pseudonymized."
)


# ----------------------------------------------------------------------------------------
# Checks on the stored tables: the same two per ingested table, made from its spec
# ----------------------------------------------------------------------------------------
def accounting_check(data_root: DataRootResource, partition_key, table: str) -> AssetCheckResult:
    customer_id, month = split_key(partition_key)
    counted = warehouse_checks.row_accounting(data_root.warehouse, customer_id, month, table)
    unbalanced = pl.DataFrame(
        counted.files_out_of_balance,
        orient="row",
        schema={"file": pl.String, "rows_read": pl.Int64, "rows_accepted": pl.Int64, "rows_quarantined": pl.Int64},
    )
    return AssetCheckResult(
        passed=not counted.files_out_of_balance,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "rows_read": counted.rows_read,
            "rows_accepted": counted.rows_accepted,
            "rows_quarantined": counted.rows_quarantined,
            "files_out_of_balance": metadata.table(unbalanced),
        },
        description="Every row read is either accepted or quarantined."
        if not counted.files_out_of_balance
        else "Some rows were neither accepted nor quarantined, or counted twice.",
    )


def schema_check(data_root: DataRootResource, partition_key, spec: TableSpec) -> AssetCheckResult:
    customer_id, month = split_key(partition_key)
    rows, problems = warehouse_checks.stored_schema_problems(data_root.warehouse, customer_id, month, spec)
    return AssetCheckResult(
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        metadata={"rows": rows, "problems": MetadataValue.json(problems)},
        description="Columns, types, required values and pseudonyms as the warehouse expects."
        if not problems
        else "; ".join(problems),
    )


def stored_table_checks(spec: TableSpec) -> list[AssetChecksDefinition]:
    """row_accounting and warehouse_schema on the ingest asset of `spec`, both blocking (catalyst-cooperative/pudl
    `asset_check_from_schema`: checks made from the table's schema, not written out once per table)."""
    options = dict(asset=spec.name, partitions_def=customer_months, blocking=True)

    @asset_check(
        name="row_accounting",
        **options,
        description=f"Re-counts the stored {spec.name} tables: for every inbox file, rows read = rows "
        "accepted + rows quarantined.",
    )
    def row_accounting(context, data_root: DataRootResource) -> AssetCheckResult:
        return accounting_check(data_root, context.partition_key, spec.name)

    @asset_check(
        name="warehouse_schema",
        **options,
        description=f"The stored {spec.name} table has the columns and types of schemas/tables.py, no "
        "missing required value, pseudonyms only (32 hex characters) in its personal columns "
        "and none of the personal columns ingest drops.",
    )
    def warehouse_schema(context, data_root: DataRootResource) -> AssetCheckResult:
        return schema_check(data_root, context.partition_key, spec)

    return [row_accounting, warehouse_schema]


@asset_check(
    asset=invoice_charges,
    partitions_def=customer_months,
    blocking=False,
    name="invoice_totals",
    description="Each invoice states one total on all its rows and bills the partition's month; "
    "a warning, since the audit still runs (rule 9 compares the total with the charges).",
)
def invoice_totals(context, data_root: DataRootResource) -> AssetCheckResult:
    return invoice_totals_check(data_root, context.partition_key)


def invoice_totals_check(data_root: DataRootResource, partition_key) -> AssetCheckResult:
    customer_id, month = split_key(partition_key)
    totals = warehouse_checks.invoice_totals(data_root.warehouse, customer_id, month)
    return AssetCheckResult(
        passed=not totals.to_look_at,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "invoices": totals.invoices,
            "invoices_with_several_totals": totals.with_several_totals,
            "invoices_outside_the_month": totals.outside_the_month,
            "invoices_to_look_at": MetadataValue.json(totals.to_look_at),
        },
    )


INGEST_CHECKS = [
    *(check for spec in (ROSTER, INVOICE_CHARGES, DEVICE_USAGE) for check in stored_table_checks(spec)),
    invoice_totals,
]


# ----------------------------------------------------------------------------------------
# Contracts (per customer)
# ----------------------------------------------------------------------------------------
@asset(
    partitions_def=customers_partitions,
    kinds={"yaml", "polars", "parquet"},
    description="The customer's settings and negotiated rate cards, one per carrier.",
    **internal(INGEST),
)
def customer_contracts(context: AssetExecutionContext, data_root: DataRootResource) -> MaterializeResult:
    customer_id = context.partition_key
    try:
        tables = contract_tables(data_root.root, customer_id)
    except ContractError as problem:
        raise Failure(description=f"{customer_id}: {problem}") from None
    for name, frame in tables.items():
        data_root.warehouse.write(customer_id, None, name, frame)
    plans = tables["contract_plans"].group_by("carrier").agg(pl.len().cast(pl.Int64).alias("plans"))
    features = tables["contract_features"].group_by("carrier").agg(pl.len().cast(pl.Int64).alias("features"))
    carriers = (
        tables["contract_roaming"]
        .select("carrier")
        .join(plans, on="carrier", how="left")
        .join(features, on="carrier", how="left")
        .fill_null(0)
        .sort("carrier")
    )
    return MaterializeResult(
        metadata={
            "carriers": metadata.table(carriers),
            "plans": tables["contract_plans"].height,
            "features": tables["contract_features"].height,
            "currency": tables["customer_settings"]["currency"][0],
        }
    )
