"""The customer's monthly Excel report: one workbook per customer-month, built from frames already computed.

Pure: no Dagster, no file discovery. The caller gathers the frames; `write_workbook` writes the file.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

import polars as pl
from openpyxl import Workbook

from reports.publishing.disputes import INVOICE_DATES_SCHEMA, dispute_rows
from reports.workbook import disputes_sheet, sheets, styles
from reports.workbook.archive import save_reproducibly
from reports.workbook.cells import excel_text
from reports.workbook.labels import month_name
from schemas.outputs import (
    DISPUTES_CSV_AMOUNTS,
    DISPUTES_CSV_COLUMNS,
    FINDINGS_CSV_AMOUNTS,
    FINDINGS_CSV_COLUMNS,
    SAVINGS_CSV_AMOUNTS,
    SAVINGS_CSV_COLUMNS,
)

SHEETS = ("Summary", "Disputes to file", "Savings", "Findings", "Cost allocation", "Trend", "Glossary")
INVOICED_COLUMNS = ("carrier", "account_number", "invoices", "invoiced_total")
COST_ALLOCATION_COLUMNS = ("dimension", "name", "lines", "billed_total")  # and optionally `kind` (see below)
ACCOUNT_CHARGES_COLUMNS = ("charge_type", "charges", "billed_total")
MONEY_2 = pl.Decimal(18, 2)
TREND_COLUMNS = ("billing_month", "invoiced_total", "disputed_total", "monthly_savings")
AMOUNT_COLUMNS = {
    "invoiced": ("invoiced_total",),
    "findings": FINDINGS_CSV_AMOUNTS,
    "savings": SAVINGS_CSV_AMOUNTS,
    "cost_allocation": ("billed_total",),
    "trend": ("invoiced_total", "disputed_total", "monthly_savings"),
    "account_charges": ("billed_total",),
    "dispute_rows": DISPUTES_CSV_AMOUNTS,
}
REQUIRED_COLUMNS = {
    "invoiced": INVOICED_COLUMNS,
    "findings": FINDINGS_CSV_COLUMNS,
    "savings": SAVINGS_CSV_COLUMNS,
    "cost_allocation": COST_ALLOCATION_COLUMNS,
    "trend": TREND_COLUMNS,
    "account_charges": ACCOUNT_CHARGES_COLUMNS,
    "dispute_rows": DISPUTES_CSV_COLUMNS,
}
BILLING_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
CURRENCY_CODE = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True)
class CustomerReport:
    customer_id: str
    customer_name: str
    billing_month: str  # "YYYY-MM"
    currency: str  # ISO 4217, e.g. "USD", "EUR", "GBP"
    invoiced: pl.DataFrame  # carrier, account_number, invoices:int, invoiced_total:Decimal; one row per carrier+account
    findings: pl.DataFrame  # the findings.csv columns, amounts Decimal
    savings: pl.DataFrame  # the savings.csv columns, amounts Decimal
    line_count: int  # lines on the month's roster
    quarantined_rows: int
    # dimension ("cost_center"/"department"), name, lines:int, billed_total:Decimal, and optionally kind: "line" (a
    # cost center or department of the roster), "no_value" (roster lines without one), "not_on_roster" (charges of
    # numbers the roster lacks) or "account_level" (charges without a number); without `kind` every row is "line"
    cost_allocation: pl.DataFrame
    trend: pl.DataFrame  # billing_month, invoiced_total, disputed_total, monthly_savings; oldest first, <= 12 rows
    region: str = "US"  # customer.yaml's region: date order (US: MM/DD/YYYY), paper size, currency symbol position
    # charges billed to an account rather than a line: charge_type, charges:int, billed_total:Decimal
    account_charges: pl.DataFrame | None = None
    # the rows of the published disputes-<carrier>.csv files (DISPUTES_CSV_COLUMNS, dates as dates, amounts Decimal);
    # None: made from `findings` with the default window, counted from the end of the billing month
    disputes: pl.DataFrame | None = None

    def __post_init__(self) -> None:
        if self.account_charges is None:
            empty = pl.DataFrame(schema={"charge_type": pl.String, "charges": pl.Int64, "billed_total": MONEY_2})
            object.__setattr__(self, "account_charges", empty)

    @cached_property
    def dispute_rows(self) -> pl.DataFrame:
        """The disputes to file, one row per finding (DISPUTES_CSV_COLUMNS)."""
        if self.disputes is not None:
            return self.disputes
        no_invoices = pl.DataFrame(schema=INVOICE_DATES_SCHEMA)
        return dispute_rows(self.findings, no_invoices, {}, self.billing_month).select(DISPUTES_CSV_COLUMNS)

    def check(self) -> None:
        """Raise ValueError/TypeError when the report does not have the agreed shape."""
        if not BILLING_MONTH.fullmatch(self.billing_month):
            raise ValueError(f"billing_month must be YYYY-MM, got {self.billing_month!r}")
        if not CURRENCY_CODE.fullmatch(self.currency):
            raise ValueError(f"currency must be an ISO 4217 code such as USD, got {self.currency!r}")
        for name, required in REQUIRED_COLUMNS.items():
            frame = getattr(self, name)
            missing = [c for c in required if c not in frame.columns]
            if missing:
                raise ValueError(f"{name}: missing column(s) {missing}")
            for column in AMOUNT_COLUMNS[name]:
                if not isinstance(frame.schema[column], pl.Decimal):
                    raise TypeError(f"{name}.{column} must be a polars Decimal column, got {frame.schema[column]}")


def document_time(billing_month: str) -> datetime:
    """Fixed creation time of a month's workbook, the first day of the next month: same input, same bytes."""
    year, month = int(billing_month[:4]), int(billing_month[5:7])
    return datetime(year + month // 12, month % 12 + 1, 1)


def write_workbook(report: CustomerReport, path: Path) -> None:
    """Write the customer-month workbook to `path` (replaced atomically): Summary, Disputes to file, Savings,
    Findings, Cost allocation, Trend and Glossary (SHEETS)."""
    report.check()
    path = Path(path)
    # Findings and Savings may have 100k+ rows: a write-only workbook streams the rows to a temporary file, so
    # memory stays flat. Their data rows are rendered by polars as the XML openpyxl writes for them (row_xml.py):
    # openpyxl's per-cell work in Python took some 30 us a cell (8 s for a 200,000-line month's Savings sheet).
    wb = Workbook(write_only=True)
    wb.properties.creator = "tem-pipeline"
    month = month_name(report.billing_month)
    wb.properties.title = excel_text(f"{report.customer_name}: telecom expense report {month}")
    data_styles = styles.add_data_styles(wb, report.currency, report.region)

    sheets.build_summary(wb, report)
    disputes_sheet.build_disputes(wb, report, data_styles)
    sheets.build_data_sheet(
        wb, "Savings", sheets.ranked_savings(report.savings), sheets.SAVINGS_COLUMNS, report, data_styles
    )
    sheets.build_data_sheet(
        wb, "Findings", sheets.findings_shown(report.findings), sheets.FINDINGS_COLUMNS, report, data_styles
    )
    sheets.build_cost_allocation(wb, report)
    sheets.build_trend(wb, report)
    sheets.build_glossary(wb, report)

    save_reproducibly(wb, path, document_time(report.billing_month))
