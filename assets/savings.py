"""Savings asset: what each customer-month's lines could stop costing.

Month M needs the measured usage of M-2, M-1 and M: the dependency on `line_month_usage` is a
partition mapping on the month dimension (the UI shows the three upstream partitions). When
the inbox does not hold usage for all three months, the rules that need history emit nothing
and the metadata says why.
"""

import polars as pl
from dagster import AssetDep, AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from assets import metadata
from assets.stages import DUCKDB_POOL, SAVINGS, internal
from pipelines.partitions import customer_months, split_key, trailing_months
from pipelines.resources import DataRootResource
from reports.inputs.contracts import currency_of
from reports.rules.history import HISTORY_MONTHS
from reports.rules.savings_rules import SAVINGS_SCHEMA, run_savings_rules
from reports.rules.sessions import savings_session, unverifiable_lines
from reports.warehouse.readiness import HistoryNotReady, history_status, not_reconciled_reason
from schemas.outputs import SAVINGS_TYPES
from schemas.tables import DEVICE_USAGE, ROSTER

THREE_MONTH_HISTORY = trailing_months(HISTORY_MONTHS)
READS = (ROSTER.name, DEVICE_USAGE.name)  # the month's ingested tables the savings read (never its invoices)
SAVINGS_TABLE_SCHEMA = metadata.derived_schema(SAVINGS_SCHEMA)


@asset(
    partitions_def=customer_months,
    kinds={"duckdb", "polars", "parquet"},
    deps=["customer_contracts", "roster", AssetDep("line_month_usage", partition_mapping=THREE_MONTH_HISTORY)],
    description="Recommendations: cancel lines of terminated employees and unused lines, right-size plans, "
    "drop unused roaming features (pseudonymized).",
    metadata=metadata.columns(SAVINGS_TABLE_SCHEMA),
    **internal(SAVINGS, DUCKDB_POOL),
)
def savings(context: AssetExecutionContext, data_root: DataRootResource) -> MaterializeResult:
    customer_id, month = split_key(context.partition_key)
    warehouse = data_root.warehouse
    if reason := not_reconciled_reason(warehouse, customer_id, month, READS):
        return metadata.skipped(context, reason)
    try:
        has_history, history_note = history_status(data_root.root, warehouse, customer_id, month)
    except HistoryNotReady as problem:
        raise Failure(description=f"{customer_id} {month}: {problem}") from None
    connection = savings_session(warehouse, customer_id, month, has_history)
    # rules v1.1: a number whose roster rows were all quarantined is not among the roster's lines, so no saving is
    # computed for it this month; the metadata says how many there are
    unverifiable = unverifiable_lines(connection)
    currency = currency_of(warehouse, customer_id)
    found = run_savings_rules(connection, currency, month, has_history)
    warehouse.write(customer_id, month, "savings", found)
    return MaterializeResult(
        metadata={"history": history_note, **savings_metadata(found, currency), "unverifiable_lines": unverifiable}
    )


def savings_metadata(found: pl.DataFrame, currency: str) -> dict:
    def breakdown(by: str) -> pl.DataFrame:
        return (
            found.group_by(by)
            .agg(
                pl.len().cast(pl.Int64).alias("recommendations"),
                pl.col("monthly_savings").sum().alias("monthly"),
                pl.col("annual_savings").sum().alias("annual"),
            )
            .sort(by)
        )

    every_type = pl.DataFrame({"savings_type": SAVINGS_TYPES})
    by_type = every_type.join(breakdown("savings_type"), on="savings_type", how="left", maintain_order="left")
    return {
        metadata.ROW_COUNT: MetadataValue.int(found.height),
        **metadata.columns(SAVINGS_TABLE_SCHEMA),
        "recommendations": found.height,
        "monthly_savings": metadata.amount(found["monthly_savings"].sum()),
        "annual_savings": metadata.amount(found["annual_savings"].sum()),
        "currency": currency,
        "by_savings_type": metadata.table(
            by_type.with_columns(pl.col("recommendations", "monthly", "annual").fill_null(0))
        ),
        "by_carrier": metadata.table(breakdown("carrier")),
    }
