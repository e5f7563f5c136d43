"""Savings asset: what each customer-month's lines could stop costing.

Month M needs the measured usage of M-2, M-1 and M: the dependency on `line_month_usage` is a
partition mapping on the month dimension (the UI shows the three upstream partitions). When
the inbox does not hold usage for all three months, the rules that need history emit nothing
and the metadata says why.
"""

import polars as pl
from dagster import AssetDep, AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from assets.audit import currency_of, line_month_usage
from reports.rules.audit_rules import UNVERIFIABLE_LINES
from assets.ingest import drop_files, not_reconciled_reason, nothing_to_publish
from reports.rules.money import money_text, total_text
from reports.inputs.readers import InputFileError
from reports.rules.savings_rules import SAVINGS_TYPES, history_months, run_savings_rules
from reports.warehouse import Warehouse
from reports.layout import DataRoot
from pipelines.partitions import customer_months, split_key, trailing_months
from pipelines.resources import DataRootResource
from schemas.tables import DEVICE_USAGE

SAVINGS_GROUP = "savings"

THREE_MONTH_HISTORY = trailing_months(3)


def inbox_has_usage(data_root: DataRoot, customer_id: str, month: str) -> bool:
    """Whether the month's drop has usage files, listed as ingest lists them: a drop that would be refused (a
    symbolic link, a file of the wrong type) raises InputFileError rather than pass for history."""
    drop = data_root.drop_dir(customer_id, month)
    if not (drop.is_dir() or drop.is_symlink()):
        return False
    return bool(drop_files(data_root, customer_id, month, DEVICE_USAGE.name))


def history_status(data_root: DataRoot, warehouse: Warehouse, customer_id: str, month: str) -> tuple[bool, str]:
    """(whether the three-month rules apply, why not). Raises Failure if an earlier month is in the
    inbox but has not been reconciled yet."""
    try:
        missing_in_inbox = [m for m in history_months(month) if not inbox_has_usage(data_root, customer_id, m)]
    except InputFileError as problem:
        raise Failure(description=f"{customer_id} {month}: usage history: {problem}") from None
    if missing_in_inbox:
        return False, (f"usage history incomplete: the inbox has no usage for {', '.join(missing_in_inbox)}; "
                       "ZERO_USAGE_LINE, PLAN_RIGHTSIZE and UNUSED_FEATURE need M-2, M-1 and M")  # fmt: skip
    not_built = [m for m in history_months(month) if not warehouse.exists(customer_id, m, "line_month_usage")]
    if not_built:
        raise Failure(description=f"{customer_id} {month}: line_month_usage of {', '.join(not_built)} has not been "
                                  "materialized yet; reconcile those months first (tem run does so automatically)")  # fmt: skip
    return True, "three months of usage history"


@asset(
    partitions_def=customer_months,
    pool="tem_duckdb",
    group_name=SAVINGS_GROUP,
    kinds={"duckdb", "parquet"},
    deps=["customer_contracts", "roster", AssetDep(line_month_usage, partition_mapping=THREE_MONTH_HISTORY)],
    description="Recommendations: cancel lines of terminated employees and unused lines, right-size plans, "
    "drop unused roaming features (pseudonymized).",
)
def savings(context: AssetExecutionContext, data_root: DataRootResource) -> MaterializeResult:
    customer_id, month = split_key(context.partition_key)
    warehouse = data_root.warehouse
    if reason := not_reconciled_reason(warehouse, customer_id, month):
        return nothing_to_publish(context, reason)
    has_history, history_note = history_status(data_root.root, warehouse, customer_id, month)
    connection = warehouse.connect()
    for view, table_month, table in (("roster", month, "roster"), ("contract_plans", None, "contract_plans"),
                                     ("contract_features", None, "contract_features"),
                                     ("rejected_roster", month, "roster_rejected"),
                                     ("roster_quarantine", month, "roster_quarantine")):  # fmt: skip
        warehouse.view(connection, view, customer_id, table_month, table)
    # rules v1.1: a number whose roster rows were all quarantined is not among the roster's lines, so no saving is
    # computed for it this month; the metadata says how many there are
    unverifiable = connection.sql(f"SELECT count(*) FROM ({UNVERIFIABLE_LINES})").fetchall()[0][0]
    history = [
        pl.read_parquet(warehouse.table_path(customer_id, m, "line_month_usage")).with_columns(pl.lit(i).alias("month_index"))
        for i, m in enumerate(history_months(month), start=1)
        if has_history
    ]
    history_usage = pl.concat(history) if history else pl.DataFrame(
        schema={"msisdn": pl.String, "voice_minutes": pl.Decimal(38, 6), "sms_count": pl.Decimal(38, 6),
                "data_mb": pl.Decimal(38, 6), "roaming_voice_minutes": pl.Decimal(38, 6),
                "roaming_data_mb": pl.Decimal(38, 6), "month_index": pl.Int32})  # fmt: skip
    connection.register("history_usage", history_usage)
    currency = currency_of(warehouse, customer_id)
    found = run_savings_rules(connection, currency, month, has_history)
    warehouse.write(customer_id, month, "savings", found)
    return MaterializeResult(metadata={"history": history_note, **savings_metadata(found, currency),
                                       "unverifiable_lines": unverifiable})  # fmt: skip


def savings_metadata(found: pl.DataFrame, currency: str) -> dict:
    def summary(by: str) -> dict:
        grouped = found.group_by(by).agg(pl.len().alias("count"), pl.col("monthly_savings").sum().alias("monthly"),
                                         pl.col("annual_savings").sum().alias("annual"))  # fmt: skip
        return {key: {"count": n, "monthly": money_text(m, currency), "annual": money_text(a, currency)}
                for key, n, m, a in grouped.sort(by).iter_rows()}  # fmt: skip

    by_type = summary("savings_type")
    empty = {"count": 0, "monthly": money_text(0, currency), "annual": money_text(0, currency)}
    return {
        "recommendations": found.height,
        "monthly_savings": total_text(found["monthly_savings"], currency),
        "annual_savings": total_text(found["annual_savings"], currency),
        "by_savings_type": MetadataValue.json({t: by_type.get(t, empty) for t in SAVINGS_TYPES}),
        "by_carrier": MetadataValue.json(summary("carrier")),
    }
