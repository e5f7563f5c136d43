"""Audit assets: the month's measured usage per line, and the overbilling findings.

The rules themselves are in ``reports.rules.audit_rules``; this module feeds them the warehouse
tables of one customer-month and stores what they find (pseudonymized).
"""

import duckdb
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

from reports.rules.money import money_text, total_text
from reports.rules.audit_rules import FINDING_TYPES, not_examined, run_rules
from reports.warehouse import Warehouse
from pipelines.partitions import customer_months, split_key
from pipelines.resources import DataRootResource

AUDIT_GROUP = "audit"

LINE_MONTH_USAGE_SQL = """
SELECT msisdn,
       sum(voice_minutes) AS voice_minutes, sum(sms_count) AS sms_count, sum(data_mb) AS data_mb,
       sum(roaming_voice_minutes) AS roaming_voice_minutes, sum(roaming_data_mb) AS roaming_data_mb,
       count(DISTINCT date) AS active_days, count(*) AS usage_rows
FROM device_usage
GROUP BY msisdn
ORDER BY msisdn
"""


@asset(
    partitions_def=customer_months,
    pool="tem_duckdb",
    group_name=AUDIT_GROUP,
    kinds={"duckdb", "parquet"},
    deps=["device_usage"],
    description="Each line's measured domestic and roaming usage in the month (sum of its daily usage rows).",
)
def line_month_usage(context: AssetExecutionContext, data_root: DataRootResource) -> MaterializeResult:
    customer_id, month = split_key(context.partition_key)
    warehouse = data_root.warehouse
    connection = warehouse.connect()
    warehouse.view(connection, "device_usage", customer_id, month, "device_usage")
    usage = connection.sql(LINE_MONTH_USAGE_SQL).pl()
    warehouse.write(customer_id, month, "line_month_usage", usage)
    return MaterializeResult(
        metadata={
            "lines_with_usage": usage.height,
            "usage_rows": int(usage["usage_rows"].sum()) if usage.height else 0,
            "lines_roaming": usage.filter((pl.col("roaming_voice_minutes") > 0) | (pl.col("roaming_data_mb") > 0)).height,
        }
    )


def audit_session(warehouse: Warehouse, customer_id: str, month: str) -> duckdb.DuckDBPyConnection:
    """A DuckDB session with the customer-month's tables as views, named as the rules expect."""
    connection = warehouse.connect()
    for view, month_of_table, table in (
        ("invoice_charges", month, "invoice_charges"),
        ("rejected_charges", month, "invoice_charges_rejected"),
        ("roster", month, "roster"),
        ("rejected_roster", month, "roster_rejected"),
        ("roster_quarantine", month, "roster_quarantine"),
        ("line_month_usage", month, "line_month_usage"),
        ("contract_plans", None, "contract_plans"),
        ("contract_features", None, "contract_features"),
        ("contract_roaming", None, "contract_roaming"),
    ):
        warehouse.view(connection, view, customer_id, month_of_table, table)
    return connection


def currency_of(warehouse: Warehouse, customer_id: str) -> str:
    return warehouse.read(customer_id, None, "customer_settings")["currency"][0]


@asset(
    partitions_def=customer_months,
    pool="tem_duckdb",
    group_name=AUDIT_GROUP,
    kinds={"duckdb", "parquet"},
    deps=["customer_contracts", "roster", "invoice_charges", line_month_usage],
    description="Overbilling findings to dispute with the carriers, rule by rule (pseudonymized).",
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
    def summary(by: str) -> dict:
        grouped = found.group_by(by).agg(pl.len().alias("count"), pl.col("disputed_amount").sum().alias("disputed"))
        return {key: {"count": n, "disputed": money_text(total, currency)} for key, n, total in grouped.sort(by).iter_rows()}

    by_type = summary("finding_type")
    return {
        "findings": found.height,
        "disputed_total": total_text(found["disputed_amount"], currency),
        "by_finding_type": MetadataValue.json({t: by_type.get(t, {"count": 0, "disputed": money_text(0, currency)})
                                               for t in FINDING_TYPES}),  # fmt: skip
        "by_carrier": MetadataValue.json(summary("carrier")),
    }


SANITY_SQL = """
WITH positive_charges AS (
    SELECT carrier, account_number, invoice_number, sum(greatest(amount, 0)) AS billed
    FROM invoice_charges GROUP BY ALL
), line_findings AS (
    SELECT carrier, account_number, invoice_number, sum(disputed_amount) AS disputed
    FROM findings WHERE finding_type <> 'INVOICE_TOTAL_MISMATCH' GROUP BY ALL
)
SELECT 'disputed amount above the billed amount it refers to' AS problem, count(*) AS cases
FROM findings WHERE disputed_amount > billed_amount
UNION ALL
SELECT 'finding that is not positive', count(*) FROM findings WHERE disputed_amount <= 0
UNION ALL
SELECT 'finding on an invoice that has no charges', count(*)
FROM findings f ANTI JOIN positive_charges c USING (carrier, account_number, invoice_number)
UNION ALL
SELECT 'line-level disputes on an invoice exceed its charges', count(*)
FROM line_findings f JOIN positive_charges c USING (carrier, account_number, invoice_number)
WHERE f.disputed > c.billed
"""


@asset_check(asset=findings, partitions_def=customer_months, blocking=True, name="findings_sanity",
             description="No finding disputes more than the charges it refers to; per invoice, line-level disputes "
                         "stay within the invoice's charges.")  # fmt: skip
def findings_sanity(context, data_root: DataRootResource) -> AssetCheckResult:
    customer_id, month = split_key(context.partition_key)
    warehouse = data_root.warehouse
    connection = warehouse.connect()
    warehouse.view(connection, "findings", customer_id, month, "findings")
    warehouse.view(connection, "invoice_charges", customer_id, month, "invoice_charges")
    problems = {problem: cases for problem, cases in connection.execute(SANITY_SQL).fetchall()}
    failing = {p: n for p, n in problems.items() if n}
    return AssetCheckResult(
        passed=not failing,
        severity=AssetCheckSeverity.ERROR,
        metadata={"problems": MetadataValue.json(problems)},
        description="Findings reconcile with the invoices." if not failing else "; ".join(failing),
    )
