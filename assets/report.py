"""The customer workbook asset: gathers one customer-month's figures and writes report.xlsx.

Findings and savings come from the customer's own published CSVs (read back as exact
decimals), so the workbook's totals equal the CSVs by construction; invoiced totals, cost
allocation and the trend come from the warehouse with DuckDB.
"""

import polars as pl
from dagster import AssetDep, AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from assets.ingest import not_reconciled_reason, nothing_to_publish
from assets.money import total_text
from assets.publish import PUBLISH_GROUP
from schemas.outputs import FINDINGS_CSV_COLUMNS, SAVINGS_CSV_COLUMNS
from assets.audit_rules import month_name
from assets.warehouse import Warehouse
from pipelines.layout import DataRoot
from pipelines.partitions import customer_months, split_key, trailing_months
from pipelines.resources import DataRootResource, DeliveryResource
from pipelines.storage import DeliveryError
from reports.workbook import CustomerReport, write_workbook

MONEY_2 = pl.Decimal(18, 2)
TREND_MONTHS = 12
# the Trend sheet reads these tables of the customer's last 12 months: declared, so that backfills build a month's
# report only after the months before it, and rebuild the following reports when a month changes
TREND_HISTORY = trailing_months(TREND_MONTHS)
UNASSIGNED = "(unassigned)"

INVOICED_SQL = """
SELECT carrier, account_number, count(DISTINCT invoice_number)::BIGINT AS invoices,
       CAST(sum(amount) AS DECIMAL(18, 2)) AS invoiced_total
FROM invoice_charges GROUP BY ALL ORDER BY carrier, account_number
"""

# Line charges go to the cost center / department of the line on the month's roster; account-level
# charges and lines missing from the roster are unassigned.
COST_ALLOCATION_SQL = f"""
WITH lines AS (
    SELECT msisdn, coalesce(nullif(trim(cost_center), ''), '{UNASSIGNED}') AS cost_center,
           coalesce(nullif(trim(department), ''), '{UNASSIGNED}') AS department
    FROM roster
), billed AS (
    SELECT coalesce(l.cost_center, '{UNASSIGNED}') AS cost_center, coalesce(l.department, '{UNASSIGNED}') AS department,
           c.amount
    FROM invoice_charges c LEFT JOIN lines l USING (msisdn)
)
SELECT 'cost_center' AS dimension, name, coalesce(n.lines, 0)::BIGINT AS lines,
       CAST(coalesce(b.billed_total, 0) AS DECIMAL(18, 2)) AS billed_total
FROM (SELECT cost_center AS name, sum(amount) AS billed_total FROM billed GROUP BY ALL) b
FULL JOIN (SELECT cost_center AS name, count(*) AS lines FROM lines GROUP BY ALL) n USING (name)
UNION ALL
SELECT 'department', name, coalesce(n.lines, 0)::BIGINT, CAST(coalesce(b.billed_total, 0) AS DECIMAL(18, 2))
FROM (SELECT department AS name, sum(amount) AS billed_total FROM billed GROUP BY ALL) b
FULL JOIN (SELECT department AS name, count(*) AS lines FROM lines GROUP BY ALL) n USING (name)
ORDER BY dimension, name
"""


def read_published(path, columns: list[str], amounts: tuple[str, ...]) -> pl.DataFrame:
    frame = pl.read_csv(path, infer_schema=False, columns=columns) if path.exists() else pl.DataFrame(
        schema={c: pl.String for c in columns})  # fmt: skip
    return frame.with_columns(pl.col(a).cast(MONEY_2) for a in amounts)


def trend(warehouse: Warehouse, customer_id: str, month: str) -> pl.DataFrame:
    """Invoiced, disputed and monthly savings for up to the last 12 reconciled months of this customer."""
    months = sorted(p.name for p in warehouse.data_root.warehouse_dir(customer_id).iterdir()
                    if p.is_dir() and p.name <= month and (p / "invoice_charges.parquet").exists())[-TREND_MONTHS:]  # fmt: skip
    rows = []
    connection = warehouse.connect()
    for past in months:
        def total(table: str, column: str) -> object:
            if not warehouse.exists(customer_id, past, table):
                return 0
            warehouse.view(connection, "t", customer_id, past, table)
            return warehouse.first_row(connection, f"SELECT CAST(coalesce(sum({column}), 0) AS DECIMAL(18, 2)) FROM t")[0]

        rows.append({"billing_month": past, "invoiced_total": total("invoice_charges", "amount"),
                     "disputed_total": total("findings", "disputed_amount"),
                     "monthly_savings": total("savings", "monthly_savings")})  # fmt: skip
    schema = {"billing_month": pl.String, "invoiced_total": MONEY_2, "disputed_total": MONEY_2, "monthly_savings": MONEY_2}
    return pl.DataFrame(rows, schema=schema)


def gather_report(data_root: DataRoot, warehouse: Warehouse, customer_id: str, month: str) -> CustomerReport:
    settings = warehouse.read(customer_id, None, "customer_settings").row(0, named=True)
    connection = warehouse.connect()
    for view, table in (("invoice_charges", "invoice_charges"), ("roster", "roster")):
        warehouse.view(connection, view, customer_id, month, table)
    published = data_root.published_dir(customer_id, month)
    quarantined = pl.read_csv(published / "quarantine.csv", infer_schema=False)
    return CustomerReport(
        customer_id=customer_id,
        customer_name=settings["name"],
        billing_month=month,
        currency=settings["currency"],
        invoiced=connection.sql(INVOICED_SQL).pl(),
        findings=read_published(published / "findings.csv", FINDINGS_CSV_COLUMNS,
                                ("billed_amount", "expected_amount", "disputed_amount")),  # fmt: skip
        savings=read_published(published / "savings.csv", SAVINGS_CSV_COLUMNS, ("monthly_savings", "annual_savings")),
        line_count=warehouse.first_row(connection, "SELECT count(*) FROM roster")[0],
        quarantined_rows=quarantined.select("file", "row").unique().height,
        cost_allocation=connection.sql(COST_ALLOCATION_SQL).pl(),
        trend=trend(warehouse, customer_id, month),
    )


@asset(
    partitions_def=customer_months,
    pool="tem_publish",
    group_name=PUBLISH_GROUP,
    kinds={"excel"},
    deps=["findings_report", "savings_report", "quarantine_report", "roster",
          *(AssetDep(table, partition_mapping=TREND_HISTORY) for table in ("invoice_charges", "findings", "savings"))],
    description="published/<customer>/<month>/report.xlsx: summary with charts, findings, savings, "
    "cost allocation and a 12-month trend.",
)
def customer_report(context: AssetExecutionContext, data_root: DataRootResource) -> MaterializeResult:
    customer_id, month = split_key(context.partition_key)
    if reason := not_reconciled_reason(data_root.warehouse, customer_id, month):
        return nothing_to_publish(context, reason)
    report = gather_report(data_root.root, data_root.warehouse, customer_id, month)
    target = data_root.root.published_dir(customer_id, month) / "report.xlsx"
    write_workbook(report, target)
    currency = report.currency
    return MaterializeResult(
        metadata={
            "month": month_name(month),
            "lines": report.line_count,
            "invoiced_total": total_text(report.invoiced["invoiced_total"], currency),
            "disputed_total": total_text(report.findings["disputed_amount"], currency),
            "monthly_savings": total_text(report.savings["monthly_savings"], currency),
            "quarantined_rows": report.quarantined_rows,
            "trend_months": report.trend.height,
            "published_file": MetadataValue.path(f"published/{customer_id}/{month}/report.xlsx"),
        }
    )


DELIVERED_FILES = ("report.xlsx", "findings.csv", "savings.csv", "quarantine.csv")


@asset(
    partitions_def=customer_months,
    pool="tem_publish",
    group_name=PUBLISH_GROUP,
    kinds={"s3"},
    deps=[customer_report, "findings_report", "savings_report", "quarantine_report"],
    description="Delivers the customer-month's published files to the delivery target (local folder or S3), "
    "then manifest.json listing every file with its size and SHA-256, written last.",
)
def delivery(context: AssetExecutionContext, data_root: DataRootResource, delivery: DeliveryResource) -> MaterializeResult:
    customer_id, month = split_key(context.partition_key)
    if reason := not_reconciled_reason(data_root.warehouse, customer_id, month):
        return nothing_to_publish(context, reason)
    folder = data_root.root.published_dir(customer_id, month)
    files = [folder / name for name in DELIVERED_FILES]
    missing = [p.name for p in files if not p.exists()]
    if missing:
        raise Failure(description=f"{customer_id} {month}: nothing delivered, {', '.join(missing)} not published")
    try:
        manifest = delivery.store(data_root.root).deliver(customer_id, month, files)
    except DeliveryError as problem:
        raise Failure(description=f"{customer_id} {month}: {problem}") from None
    return MaterializeResult(
        metadata={
            "target": delivery.target if delivery.target == "local" else f"s3://{delivery.bucket}/{delivery.prefix}",
            "files": MetadataValue.json({f["name"]: {"bytes": f["size"], "sha256": f["sha256"]} for f in manifest["files"]}),
        }
    )
