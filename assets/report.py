"""The customer workbook asset: one customer-month's figures (``reports.publishing.contents``) written as report.xlsx."""

from dagster import AssetDep, AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from assets import metadata
from assets.stages import customer_facing
from pipelines.partitions import customer_months, split_key, trailing_months
from pipelines.resources import DataRootResource
from reports.publishing.contents import TREND_MONTHS, gather_report
from reports.publishing.publish import PublishError, dispute_files
from reports.warehouse.readiness import not_reconciled_reason
from reports.workbook.book import write_workbook
from reports.workbook.labels import month_name

# the Trend sheet reads these tables of the customer's last 12 months: declared, so that backfills build a month's
# report only after the months before it, and rebuild the following reports when a month changes
TREND_HISTORY = trailing_months(TREND_MONTHS)


@asset(
    partitions_def=customer_months,
    kinds={"duckdb", "excel"},
    deps=[
        "findings_report",
        "savings_report",
        "quarantine_report",
        "roster",
        *(AssetDep(table, partition_mapping=TREND_HISTORY) for table in ("invoice_charges", "findings", "savings")),
    ],
    description="published/<customer>/<month>/report.xlsx: summary with charts, disputes to file, ranked savings, "
    "findings, cost allocation, a 12-month trend and a glossary.",
    **customer_facing(),
)
def customer_report(context: AssetExecutionContext, data_root: DataRootResource) -> MaterializeResult:
    customer_id, month = split_key(context.partition_key)
    if reason := not_reconciled_reason(data_root.warehouse, customer_id, month):
        return metadata.skipped(context, reason)
    try:
        report = gather_report(data_root.root, data_root.warehouse, customer_id, month)
    except PublishError as problem:
        raise Failure(description=f"{customer_id} {month}: {problem}") from None
    target = data_root.root.published_dir(customer_id, month) / "report.xlsx"
    write_workbook(report, target)
    trend = report.trend.rename({"invoiced_total": "invoiced", "disputed_total": "disputed"})
    return MaterializeResult(
        metadata={
            "month": month_name(month),
            "lines": report.line_count,
            "invoiced_total": metadata.amount(report.invoiced["invoiced_total"].sum()),
            "disputed_total": metadata.amount(report.findings["disputed_amount"].sum()),
            "monthly_savings": metadata.amount(report.savings["monthly_savings"].sum()),
            "currency": report.currency,
            "dispute_files": len(dispute_files(target.parent)),
            "quarantined_rows": report.quarantined_rows,
            "trend_months": report.trend.height,
            "trend": metadata.table(trend),
            "published_file": MetadataValue.path(f"published/{customer_id}/{month}/report.xlsx"),
        }
    )
