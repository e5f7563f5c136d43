"""The customer workbook asset: gathers one customer-month's figures and writes report.xlsx.

Findings, disputes and savings come from the customer's own published CSVs (read back as exact
decimals), so the workbook's totals equal the CSVs by construction; invoiced totals, cost
allocation and the trend come from the warehouse with DuckDB.
"""

import polars as pl
from dagster import AssetDep, AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from assets.ingest import not_reconciled_reason, nothing_to_publish
from reports.rules.money import total_text
from assets.publish import PUBLISH_GROUP
from schemas.outputs import (
    DISPUTES_CSV_AMOUNTS,
    DISPUTES_CSV_COLUMNS,
    DISPUTES_FILE_PREFIX,
    FINDINGS_CSV_COLUMNS,
    SAVINGS_CSV_COLUMNS,
)
from reports.rules.audit_rules import month_name
from reports.warehouse import Warehouse
from reports.layout import DataRoot
from pipelines.partitions import customer_months, split_key, trailing_months
from pipelines.resources import DataRootResource, DeliveryResource
from reports.delivery import DeliveryError
from reports.workbook import CustomerReport, write_workbook

MONEY_2 = pl.Decimal(18, 2)
TREND_MONTHS = 12
# the Trend sheet reads these tables of the customer's last 12 months: declared, so that backfills build a month's
# report only after the months before it, and rebuild the following reports when a month changes
TREND_HISTORY = trailing_months(TREND_MONTHS)

INVOICED_SQL = """
SELECT carrier, account_number, count(DISTINCT invoice_number)::BIGINT AS invoices,
       CAST(sum(amount) AS DECIMAL(18, 2)) AS invoiced_total
FROM invoice_charges GROUP BY ALL ORDER BY carrier, account_number
"""

# Line charges go to the cost center / department of the line on the month's roster (kind 'line'; 'no_value' for
# roster lines without one). Charges of numbers the roster lacks ('not_on_roster') and charges billed to the
# account, without a number ('account_level': equipment, taxes, surcharges, fees) belong to no cost center: each is a
# row of its own, without a name or a line count. Rows: the roster's names alphabetically, then the others.
ALLOCATION_KINDS = ("line", "no_value", "not_on_roster", "account_level")
COST_ALLOCATION_SQL = """
WITH lines AS (
    SELECT msisdn, nullif(trim(cost_center), '') AS cost_center, nullif(trim(department), '') AS department FROM roster
), billed AS (
    SELECT CASE WHEN c.msisdn IS NULL THEN 'account_level' WHEN l.msisdn IS NULL THEN 'not_on_roster' ELSE 'line'
           END AS kind, l.cost_center, l.department, c.amount
    FROM invoice_charges c LEFT JOIN lines l USING (msisdn)
), by_value AS (
    SELECT 'cost_center' AS dimension, cost_center AS name, amount FROM billed WHERE kind = 'line'
    UNION ALL SELECT 'department', department, amount FROM billed WHERE kind = 'line'
), roster_lines AS (
    SELECT 'cost_center' AS dimension, cost_center AS name, count(*) AS lines FROM lines GROUP BY ALL
    UNION ALL SELECT 'department', department, count(*) FROM lines GROUP BY ALL
), on_lines AS (
    SELECT dimension, name, coalesce(n.lines, 0)::BIGINT AS lines,
           CAST(coalesce(b.billed_total, 0) AS DECIMAL(18, 2)) AS billed_total
    FROM (SELECT dimension, name, sum(amount) AS billed_total FROM by_value GROUP BY ALL) b
    FULL JOIN roster_lines n USING (dimension, name)
), elsewhere AS (
    SELECT d.dimension, b.kind, CAST(sum(b.amount) AS DECIMAL(18, 2)) AS billed_total
    FROM billed b CROSS JOIN (VALUES ('cost_center'), ('department')) d(dimension)
    WHERE b.kind <> 'line' GROUP BY ALL
)
SELECT dimension, CASE WHEN name IS NULL THEN 'no_value' ELSE 'line' END AS kind, name, lines, billed_total
FROM on_lines
UNION ALL
SELECT dimension, kind, NULL, NULL::BIGINT, billed_total FROM elsewhere
ORDER BY dimension, CASE kind WHEN 'line' THEN 0 WHEN 'no_value' THEN 1 WHEN 'not_on_roster' THEN 2 ELSE 3 END, name
"""

# what the account-level row is made of, largest first
ACCOUNT_CHARGES_SQL = """
SELECT charge_type, count(*)::BIGINT AS charges, CAST(sum(amount) AS DECIMAL(18, 2)) AS billed_total
FROM invoice_charges WHERE msisdn IS NULL GROUP BY ALL ORDER BY billed_total DESC, charge_type
"""


def read_published(path, columns: list[str], amounts: tuple[str, ...]) -> pl.DataFrame:
    frame = pl.read_csv(path, infer_schema=False, columns=columns) if path.exists() else pl.DataFrame(
        schema={c: pl.String for c in columns})  # fmt: skip
    return frame.with_columns(pl.col(a).cast(MONEY_2) for a in amounts)


def dispute_files(folder) -> list:
    """The published disputes-<carrier>.csv files of a customer-month, by carrier."""
    return sorted(p for p in folder.glob(f"{DISPUTES_FILE_PREFIX}*.csv") if p.is_file())


def read_disputes(folder, findings: pl.DataFrame, customer_id: str, month: str) -> pl.DataFrame:
    """Every row of the month's disputes-<carrier>.csv files, dates as dates, amounts exact; refused (Failure) when
    they do not add up to findings.csv, which only a half-finished earlier run could leave."""
    parts = [read_published(path, DISPUTES_CSV_COLUMNS, DISPUTES_CSV_AMOUNTS) for path in dispute_files(folder)]
    rows = pl.concat(parts) if parts else read_published(folder / "-", DISPUTES_CSV_COLUMNS, DISPUTES_CSV_AMOUNTS)
    rows = rows.with_columns(pl.col("invoice_date", "last_day_to_file").str.to_date("%Y-%m-%d"))
    if rows.height != findings.height or rows["disputed_amount"].sum() != findings["disputed_amount"].sum():
        raise Failure(description=f"{customer_id} {month}: the disputes-<carrier>.csv files do not add up to "
                                  "findings.csv; re-run the whole customer-month")  # fmt: skip
    return rows


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
    findings = read_published(published / "findings.csv", FINDINGS_CSV_COLUMNS,
                              ("billed_amount", "expected_amount", "disputed_amount"))  # fmt: skip
    return CustomerReport(
        customer_id=customer_id,
        customer_name=settings["name"],
        billing_month=month,
        currency=settings["currency"],
        region=settings["region"],
        invoiced=connection.sql(INVOICED_SQL).pl(),
        findings=findings,
        savings=read_published(published / "savings.csv", SAVINGS_CSV_COLUMNS, ("monthly_savings", "annual_savings")),
        line_count=warehouse.first_row(connection, "SELECT count(*) FROM roster")[0],
        quarantined_rows=quarantined.select("file", "row").unique().height,
        cost_allocation=connection.sql(COST_ALLOCATION_SQL).pl(),
        trend=trend(warehouse, customer_id, month),
        account_charges=connection.sql(ACCOUNT_CHARGES_SQL).pl(),
        disputes=read_disputes(published, findings, customer_id, month),
    )


@asset(
    partitions_def=customer_months,
    pool="tem_publish",
    group_name=PUBLISH_GROUP,
    kinds={"excel"},
    deps=["findings_report", "savings_report", "quarantine_report", "roster",
          *(AssetDep(table, partition_mapping=TREND_HISTORY) for table in ("invoice_charges", "findings", "savings"))],
    description="published/<customer>/<month>/report.xlsx: summary with charts, disputes to file, ranked savings, "
    "findings, cost allocation, a 12-month trend and a glossary.",
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
            "dispute_files": len(dispute_files(target.parent)),
            "monthly_savings": total_text(report.savings["monthly_savings"], currency),
            "quarantined_rows": report.quarantined_rows,
            "trend_months": report.trend.height,
            "published_file": MetadataValue.path(f"published/{customer_id}/{month}/report.xlsx"),
        }
    )


DELIVERED_FILES = ("report.xlsx", "findings.csv", "savings.csv", "quarantine.csv")  # and the disputes-<carrier>.csv


def remove_stale_disputes(store, customer_id: str, month: str, delivered: set[str]) -> None:
    """Delete a disputes-<carrier>.csv an earlier delivery left for a carrier that no longer has findings (in the
    local folder, findings_report already removed it with the published file)."""
    for key in store.list_keys(f"{customer_id}/{month}/"):
        name = key.rsplit("/", 1)[-1]
        if name.startswith(DISPUTES_FILE_PREFIX) and name.endswith(".csv") and name not in delivered:
            store.delete(key)


@asset(
    partitions_def=customer_months,
    pool="tem_publish",
    group_name=PUBLISH_GROUP,
    kinds={"s3"},
    deps=[customer_report, "findings_report", "savings_report", "quarantine_report"],
    description="Delivers the customer-month's published files (with a disputes-<carrier>.csv per carrier with "
    "findings) to the delivery target (local folder or S3), then manifest.json listing every file with its size and "
    "SHA-256, written last.",
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
    files += dispute_files(folder)
    try:
        store = delivery.store(data_root.root)
        remove_stale_disputes(store, customer_id, month, {p.name for p in files})
        manifest = store.deliver(customer_id, month, files)
    except DeliveryError as problem:
        raise Failure(description=f"{customer_id} {month}: {problem}") from None
    return MaterializeResult(
        metadata={
            "target": delivery.target if delivery.target == "local" else f"s3://{delivery.bucket}/{delivery.prefix}",
            "files": MetadataValue.json({f["name"]: {"bytes": f["size"], "sha256": f["sha256"]} for f in manifest["files"]}),
        }
    )
