"""Disputes as they are filed: per carrier, account and invoice, each finding with the last day to file it.

Carriers accept a dispute for a limited time after the invoice date (AT&T's agreements: 90 days). The last day to
file is the invoice date plus the carrier contract's `dispute_window_days` (90 unless the contract says otherwise);
an invoice without an invoice date counts from the end of its billing period (its latest `period_end`), and an
invoice the month's charges do not know (there is none when the findings were built from them) from the last day
of the billing month.

Pure polars, no Dagster: assets/publish.py writes one disputes-<carrier>.csv per carrier with findings from these
rows; the workbook's "Disputes to file" sheet reads those files back.
"""

from __future__ import annotations

import calendar
import datetime as dt

import polars as pl

from reports.workbook.labels import finding_label
from schemas.outputs import DISPUTES_CSV_COLUMNS

DEFAULT_WINDOW_DAYS = 90
INVOICE_KEY = ["carrier", "account_number", "invoice_number"]
INVOICE_DATES_SCHEMA = {
    "carrier": pl.String,
    "account_number": pl.String,
    "invoice_number": pl.String,
    "invoice_date": pl.Date,
    "period_end": pl.Date,
}
# how the last day to file was counted, for the workbook to say so
FROM_INVOICE_DATE, FROM_PERIOD_END, FROM_MONTH_END = "invoice date", "period end", "billing month end"

INVOICE_DATES_SQL = """
SELECT carrier, account_number, invoice_number, min(invoice_date) AS invoice_date, max(period_end) AS period_end
FROM invoice_charges GROUP BY ALL ORDER BY ALL
"""


def month_end(billing_month: str) -> dt.date:
    year, month = int(billing_month[:4]), int(billing_month[5:7])
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def dispute_rows(
    findings: pl.DataFrame,
    invoices: pl.DataFrame,
    windows: dict[str, int],
    billing_month: str,
    default_window: int = DEFAULT_WINDOW_DAYS,
) -> pl.DataFrame:
    """One row per finding, in DISPUTES_CSV_COLUMNS order plus `counted_from` and `window_days`.

    `findings` has the findings.csv columns (amounts as published); `invoices` one row per invoice with its
    `invoice_date` (may be null) and `period_end` (INVOICE_DATES_SQL); `windows` the dispute window in days of each
    carrier whose contract sets one. Rows are grouped by carrier, account and invoice, findings in their order.
    """
    known = invoices.select(list(INVOICE_DATES_SCHEMA)).cast(INVOICE_DATES_SCHEMA).unique(INVOICE_KEY, keep="first")
    fallback = month_end(billing_month)
    window_table = pl.DataFrame(
        {"carrier": list(windows), "window_days": [int(days) for days in windows.values()]},
        schema={"carrier": pl.String, "window_days": pl.Int64},
    )
    types = [t for t in findings["finding_type"].unique().to_list() if t is not None]
    labels = pl.DataFrame(
        {"finding_type": types, "finding": [finding_label(t) for t in types]},
        schema={"finding_type": pl.String, "finding": pl.String},
    )
    rows = (
        findings.with_row_index("__order")
        .join(known, on=INVOICE_KEY, how="left", nulls_equal=True)
        .join(window_table, on="carrier", how="left")
        .join(labels, on="finding_type", how="left")
        .with_columns(
            pl.col("window_days").fill_null(default_window),
            pl.col("finding").fill_null(finding_label(None)),
            pl.when(pl.col("invoice_date").is_not_null())
            .then(pl.lit(FROM_INVOICE_DATE))
            .when(pl.col("period_end").is_not_null())
            .then(pl.lit(FROM_PERIOD_END))
            .otherwise(pl.lit(FROM_MONTH_END))
            .alias("counted_from"),
            pl.coalesce("invoice_date", "period_end", pl.lit(fallback)).alias("__basis"),
        )
        .with_columns((pl.col("__basis") + pl.duration(days=pl.col("window_days"))).alias("last_day_to_file"))
        .sort([*INVOICE_KEY, "__order"], nulls_last=True, maintain_order=True)
    )
    return rows.select(*DISPUTES_CSV_COLUMNS, "counted_from", "window_days")


def by_carrier(rows: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """carrier -> its rows (DISPUTES_CSV_COLUMNS), carriers in alphabetical order; none for a carrier without rows."""
    return {
        carrier: part.select(DISPUTES_CSV_COLUMNS) for (carrier,), part in rows.group_by("carrier", maintain_order=True)
    }
