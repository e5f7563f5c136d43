"""Late reports: a check on `delivery` that fails while a customer-month with an inbox drop has not been delivered by
the 5th of the following month (schemas/clock.py report_deadline), run every morning by a schedule.

Dagster's freshness policies judge an asset by its latest partition; a customer-month is its own promise, so the
check looks at every partition that has a drop. It only reads: it is safe to run at any time, from the UI too.
"""

import datetime as dt

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    MetadataValue,
    RunRequest,
    ScheduleEvaluationContext,
    TableColumn,
    TableRecord,
    TableSchema,
    asset_check,
    define_asset_job,
    schedule,
)

from pipelines.partitions import split_key
from pipelines.resources import DataRootResource
from reports.layout import DataRoot
from schemas import clock

DELIVERY = AssetKey("delivery")
LATE_SCHEMA = TableSchema(
    columns=[
        TableColumn("customer", "string"),
        TableColumn("billing_month", "string"),
        TableColumn("due_by", "string"),
        TableColumn("days_late", "int"),
    ]
)


def late_reports(
    data_root: DataRoot, delivered: set[tuple[str, str]], today: dt.date
) -> list[tuple[str, str, dt.date]]:
    """(customer, month, deadline) of every customer-month with an inbox drop, past its deadline, not delivered."""
    late = []
    for customer_id in data_root.customers():
        for month in data_root.months(customer_id):
            deadline = clock.report_deadline(month)
            if today > deadline and (customer_id, month) not in delivered:
                late.append((customer_id, month, deadline))
    return late


@asset_check(
    asset=DELIVERY,
    name="delivered_by_the_5th",
    blocking=False,
    description="Every customer-month with an inbox drop is delivered by the 5th of the following month; fails "
    "(a warning) listing the customer-months that are late. Checked every morning by the report_deadlines schedule.",
)
def delivered_by_the_5th(context: AssetCheckExecutionContext, data_root: DataRootResource) -> AssetCheckResult:
    delivered = {split_key(key) for key in context.instance.get_materialized_partitions(DELIVERY)}
    today = clock.today()
    late = late_reports(data_root.root, delivered, today)
    rows = [
        TableRecord({"customer": c, "billing_month": m, "due_by": d.isoformat(), "days_late": (today - d).days})
        for c, m, d in late
    ]
    return AssetCheckResult(
        passed=not late,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "late_customer_months": len(late),
            "checked_on": today.isoformat(),
            "late": MetadataValue.table(rows, schema=LATE_SCHEMA),
        },
        description="Every customer-month with a drop is delivered or not yet due."
        if not late
        else f"{len(late)} customer-month(s) not delivered by the 5th of the following month",
    )


report_deadlines_job = define_asset_job(
    "check_report_deadlines",
    selection=AssetSelection.checks(delivered_by_the_5th),
    description="Lists the customer-months whose report is late (not delivered by the 5th of the following month).",
)


@schedule(
    name="report_deadlines",
    job=report_deadlines_job,
    cron_schedule="0 7 * * *",  # every morning: a month turns late on the 6th
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,  # it only reads; a late report should never go unnoticed
    description="Checks every morning that no customer-month's report is past its deadline (the 5th).",
)
def report_deadlines(context: ScheduleEvaluationContext):
    return RunRequest(run_key=f"deadlines|{context.scheduled_execution_time.date().isoformat()}")
