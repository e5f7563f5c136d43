"""What goes into a customer-month's workbook, gathered as a CustomerReport.

Findings, disputes and savings come from the customer's own published CSVs (read back as exact decimals), so the
workbook's totals equal the CSVs by construction; invoiced totals, cost allocation and the trend come from the
warehouse with DuckDB.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from reports.layout import DataRoot
from reports.publishing.publish import PublishError, dispute_files
from reports.warehouse.store import Warehouse
from reports.workbook.book import CustomerReport
from schemas.outputs import (
    DISPUTES_CSV_AMOUNTS,
    DISPUTES_CSV_COLUMNS,
    FINDINGS_CSV_AMOUNTS,
    FINDINGS_CSV_COLUMNS,
    SAVINGS_CSV_AMOUNTS,
    SAVINGS_CSV_COLUMNS,
)

MONEY_2 = pl.Decimal(18, 2)
TREND_MONTHS = 12  # the Trend sheet's reach: this month and the 11 before it

INVOICED_SQL = """
SELECT carrier, account_number, count(DISTINCT invoice_number)::BIGINT AS invoices,
       CAST(sum(amount) AS DECIMAL(18, 2)) AS invoiced_total
FROM invoice_charges GROUP BY ALL ORDER BY carrier, account_number
"""

# Line charges go to the cost center / department of the line on the month's roster (kind 'line'; 'no_value' for
# roster lines without one). Charges of numbers the roster lacks ('not_on_roster') and charges billed to the
# account, without a number ('account_level': equipment, taxes, surcharges, fees) belong to no cost center: each is a
# row of its own, without a name or a line count. Rows: the roster's names alphabetically, then the others.
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


def read_published(path: Path, columns: list[str], amounts: tuple[str, ...]) -> pl.DataFrame:
    """A published CSV as text, its amounts as exact decimals; no rows (the columns only) when it does not exist."""
    frame = (
        pl.read_csv(path, infer_schema=False, columns=columns)
        if path.exists()
        else pl.DataFrame(schema={c: pl.String for c in columns})
    )
    return frame.with_columns(pl.col(a).cast(MONEY_2) for a in amounts)


def read_disputes(folder: Path, findings: pl.DataFrame) -> pl.DataFrame:
    """Every row of the month's disputes-<carrier>.csv files, dates as dates, amounts exact; refused (PublishError)
    when they do not add up to findings.csv, which only a half-finished earlier run could leave."""
    parts = [read_published(path, DISPUTES_CSV_COLUMNS, DISPUTES_CSV_AMOUNTS) for path in dispute_files(folder)]
    rows = pl.concat(parts) if parts else read_published(folder / "-", DISPUTES_CSV_COLUMNS, DISPUTES_CSV_AMOUNTS)
    rows = rows.with_columns(pl.col("invoice_date", "last_day_to_file").str.to_date("%Y-%m-%d"))
    if rows.height != findings.height or rows["disputed_amount"].sum() != findings["disputed_amount"].sum():
        raise PublishError(
            "the disputes-<carrier>.csv files do not add up to findings.csv; re-run the whole customer-month"
        )
    return rows


def trend(warehouse: Warehouse, customer_id: str, month: str) -> pl.DataFrame:
    """Invoiced, disputed and monthly savings for up to the last 12 reconciled months of this customer."""
    months = sorted(
        p.name
        for p in warehouse.data_root.warehouse_dir(customer_id).iterdir()
        if p.is_dir() and p.name <= month and (p / "invoice_charges.parquet").exists()
    )[-TREND_MONTHS:]
    rows = []
    connection = warehouse.connect()
    for past in months:

        def total(table: str, column: str) -> object:
            if not warehouse.exists(customer_id, past, table):
                return 0
            warehouse.view(connection, "t", customer_id, past, table)
            return warehouse.first_row(connection, f"SELECT CAST(coalesce(sum({column}), 0) AS DECIMAL(18, 2)) FROM t")[
                0
            ]

        rows.append(
            {
                "billing_month": past,
                "invoiced_total": total("invoice_charges", "amount"),
                "disputed_total": total("findings", "disputed_amount"),
                "monthly_savings": total("savings", "monthly_savings"),
            }
        )
    schema = {
        "billing_month": pl.String,
        "invoiced_total": MONEY_2,
        "disputed_total": MONEY_2,
        "monthly_savings": MONEY_2,
    }
    return pl.DataFrame(rows, schema=schema)


def gather_report(data_root: DataRoot, warehouse: Warehouse, customer_id: str, month: str) -> CustomerReport:
    """Everything the workbook shows for one customer-month; raises PublishError when the published files that
    feed it disagree."""
    settings = warehouse.read(customer_id, None, "customer_settings").row(0, named=True)
    connection = warehouse.connect()
    for view, table in (("invoice_charges", "invoice_charges"), ("roster", "roster")):
        warehouse.view(connection, view, customer_id, month, table)
    published = data_root.published_dir(customer_id, month)
    quarantined = pl.read_csv(published / "quarantine.csv", infer_schema=False)
    findings = read_published(published / "findings.csv", FINDINGS_CSV_COLUMNS, FINDINGS_CSV_AMOUNTS)
    return CustomerReport(
        customer_id=customer_id,
        customer_name=settings["name"],
        billing_month=month,
        currency=settings["currency"],
        region=settings["region"],
        invoiced=connection.sql(INVOICED_SQL).pl(),
        findings=findings,
        savings=read_published(published / "savings.csv", SAVINGS_CSV_COLUMNS, SAVINGS_CSV_AMOUNTS),
        line_count=warehouse.first_row(connection, "SELECT count(*) FROM roster")[0],
        quarantined_rows=quarantined.select("file", "row").unique().height,
        cost_allocation=connection.sql(COST_ALLOCATION_SQL).pl(),
        trend=trend(warehouse, customer_id, month),
        account_charges=connection.sql(ACCOUNT_CHARGES_SQL).pl(),
        disputes=read_disputes(published, findings),
    )
