"""Audit assets: the month's measured usage per line, and the overbilling findings.

The rules themselves are in ``reports.rules.audit_rules``, their DuckDB session in ``reports.rules.sessions``; this
module runs them for one customer-month and says what they found (never which lines).
"""

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from assets import metadata
from assets.stages import AUDIT, DUCKDB_POOL, internal
from pipelines.partitions import customer_months, split_key
from pipelines.resources import DataRootResource
from reports.inputs.contracts import currency_of
from reports.rules.audit_rules import FINDINGS_SCHEMA, not_examined, run_rules
from reports.rules.sessions import LINE_MONTH_USAGE_SCHEMA, audit_session
from reports.rules.sessions import line_month_usage as usage_per_line
from reports.warehouse import checks as warehouse_checks
from schemas.outputs import FINDING_TYPES

USAGE_SCHEMA = metadata.derived_schema(LINE_MONTH_USAGE_SCHEMA)
FINDINGS_TABLE_SCHEMA = metadata.derived_schema(FINDINGS_SCHEMA)


@asset(
    partitions_def=customer_months,
    kinds={"duckdb", "parquet"},
    deps=["device_usage"],
    description="Each line's measured domestic and roaming usage in the month (sum of its daily usage rows).",
    metadata=metadata.columns(USAGE_SCHEMA),
    **internal(AUDIT, DUCKDB_POOL),
)
def line_month_usage(context: AssetExecutionContext, data_root: DataRootResource) -> MaterializeResult:
    customer_id, month = split_key(context.partition_key)
    warehouse = data_root.warehouse
    usage = usage_per_line(warehouse, customer_id, month)
    warehouse.write(customer_id, month, "line_month_usage", usage)
    return MaterializeResult(
        metadata={
            metadata.ROW_COUNT: MetadataValue.int(usage.height),
            **metadata.columns(USAGE_SCHEMA),
            "lines_with_usage": usage.height,
            "usage_rows": int(usage["usage_rows"].sum()) if usage.height else 0,
            "lines_roaming": usage.filter(
                (pl.col("roaming_voice_minutes") > 0) | (pl.col("roaming_data_mb") > 0)
            ).height,
        }
    )


@asset(
    partitions_def=customer_months,
    kinds={"duckdb", "parquet"},
    deps=["customer_contracts", "roster", "invoice_charges", line_month_usage],
    description="Overbilling findings to dispute with the carriers, rule by rule (pseudonymized).",
    metadata=metadata.columns(FINDINGS_TABLE_SCHEMA),
    **internal(AUDIT, DUCKDB_POOL),
)
def findings(context: AssetExecutionContext, data_root: DataRootResource) -> MaterializeResult:
    customer_id, month = split_key(context.partition_key)
    warehouse = data_root.warehouse
    currency = currency_of(warehouse, customer_id)
    session = audit_session(warehouse, customer_id, month)
    found = run_rules(session, currency, month)
    warehouse.write(customer_id, month, "findings", found)
    # rules v1.1: lines on the roster whose rows were all quarantined are not judged; say how many (never which)
    return MaterializeResult(metadata={**findings_metadata(found, currency), **not_examined(session)})


def findings_metadata(found: pl.DataFrame, currency: str) -> dict:
    def breakdown(by: str) -> pl.DataFrame:
        return (
            found.group_by(by)
            .agg(pl.len().cast(pl.Int64).alias("findings"), pl.col("disputed_amount").sum().alias("disputed"))
            .sort(by)
        )

    every_type = pl.DataFrame({"finding_type": FINDING_TYPES})
    by_type = every_type.join(breakdown("finding_type"), on="finding_type", how="left", maintain_order="left")
    return {
        metadata.ROW_COUNT: MetadataValue.int(found.height),
        **metadata.columns(FINDINGS_TABLE_SCHEMA),
        "findings": found.height,
        "disputed_total": metadata.amount(found["disputed_amount"].sum() if found.height else 0),
        "currency": currency,
        "by_finding_type": metadata.table(
            by_type.with_columns(pl.col("findings").fill_null(0), pl.col("disputed").fill_null(0))
        ),
        "by_carrier": metadata.table(breakdown("carrier")),
    }


@asset_check(
    asset=findings,
    partitions_def=customer_months,
    blocking=True,
    name="findings_sanity",
    description="No finding disputes more than the charges it refers to; per invoice, line-level disputes "
    "stay within the invoice's charges.",
)
def findings_sanity(context, data_root: DataRootResource) -> AssetCheckResult:
    customer_id, month = split_key(context.partition_key)
    problems = warehouse_checks.findings_sanity(data_root.warehouse, customer_id, month)
    failing = {p: n for p, n in problems.items() if n}
    cases = pl.DataFrame(
        {"problem": list(problems), "cases": list(problems.values())}, schema={"problem": pl.String, "cases": pl.Int64}
    )
    return AssetCheckResult(
        passed=not failing,
        severity=AssetCheckSeverity.ERROR,
        metadata={"problems": metadata.table(cases)},
        description="Findings reconcile with the invoices." if not failing else "; ".join(failing),
    )
