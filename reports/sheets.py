"""One builder per sheet of the customer workbook, all on write-only worksheets.

In a write-only worksheet openpyxl writes the sheet properties, view (frozen pane), and column widths
when the first row is appended, so every builder sets those before appending anything. Autofilter,
page setup, tables and charts are written when the sheet is closed and may be set at any point.
"""

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import polars as pl
from openpyxl.cell import WriteOnlyCell
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.filters import AutoFilter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.table import Table, TableColumn, TableStyleInfo

from reports import charts, styles
from reports.cells import Column, check_fits_one_sheet, data_rows, excel_number, excel_text, set_value, text_cell
from reports.styles import LINE_HEIGHT_POINTS, CellStyle

FINDING_TYPES = (
    "UNKNOWN_LINE", "CANCELLED_LINE_BILLED", "DUPLICATE_CHARGE", "UNORDERED_FEATURE", "PLAN_RATE_MISMATCH",
    "FEATURE_RATE_MISMATCH", "USAGE_OVERBILLED", "OVERAGE_RATE_MISMATCH", "INVOICE_TOTAL_MISMATCH",
)  # fmt: skip
SAVINGS_TYPES = ("TERMINATED_EMPLOYEE_LINE", "ZERO_USAGE_LINE", "PLAN_RIGHTSIZE", "UNUSED_FEATURE")
MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip; not strftime("%B"): that follows the machine's locale

FINDINGS_COLUMNS = [
    Column("carrier", "Carrier"),
    Column("account_number", "Account"),
    Column("invoice_number", "Invoice"),
    Column("msisdn", "MSISDN"),
    Column("employee_id", "Employee ID"),
    Column("finding_type", "Finding type"),
    Column("charge_type", "Charge type"),
    Column("charge_code", "Charge code"),
    Column("billed_amount", "Billed", "money"),
    Column("expected_amount", "Expected", "money"),
    Column("disputed_amount", "Disputed", "money"),
    Column("evidence", "Evidence", "wide"),
]
SAVINGS_COLUMNS = [
    Column("carrier", "Carrier"),
    Column("msisdn", "MSISDN"),
    Column("employee_id", "Employee ID"),
    Column("savings_type", "Savings type"),
    Column("current_plan_code", "Current plan"),
    Column("recommended_plan_code", "Recommended plan"),
    Column("feature_code", "Feature"),
    Column("monthly_savings", "Monthly savings", "money"),
    Column("annual_savings", "Annual savings", "money"),
    Column("rationale", "Rationale", "wide"),
]
ALLOCATION_DIMENSIONS = (("cost_center", "Cost center", "CostCenters"), ("department", "Department", "Departments"))
TREND_HEADERS = ("Month", "Invoiced", "Disputed", "Monthly savings")
CHART_COLUMN = "F"  # charts sit right of the tables, column E is a gap
SUMMARY_TABLE_WIDTH = 4  # columns A:D
FILTER_BUTTON = 3  # characters a header's filter button covers


def month_title(billing_month: str) -> str:
    """'2026-09' -> 'September 2026'."""
    return f"{MONTH_NAMES[int(billing_month[5:7]) - 1]} {billing_month[:4]}"


def decimal_total(frame: pl.DataFrame, column: str) -> Decimal:
    """Exact sum of a Decimal column (polars sums decimals as scaled integers); 0 for no rows."""
    total = frame[column].sum() if frame.height else None
    return Decimal(0) if total is None else Decimal(total)


# ---------------------------------------------------------------------------------------------------------
# Small sheets: cells placed on a grid, then streamed out row by row


@dataclass
class Grid:
    """Cells of a small sheet by (row, column), 1-based; written in order to a write-only sheet."""

    currency: str
    cells: dict[tuple[int, int], tuple[object, CellStyle | None]] = field(default_factory=dict)
    longest: dict[int, int] = field(default_factory=dict)

    def put(self, row: int, column: int, value: object, style: CellStyle | None = None, sized: bool = True) -> None:
        """Place a value; `sized` False for titles and notes that may run over the next columns."""
        if isinstance(value, str):
            value = excel_text(value)
        self.cells[(row, column)] = (value, style)
        if sized and value is not None:
            self.longest[column] = max(self.longest.get(column, 0), len(self.shown(value)))

    def shown(self, value: object) -> str:
        if isinstance(value, Decimal):
            return styles.money_text(value, self.currency)
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    def put_row(self, row: int, first_column: int, values: Iterable[object], style: CellStyle | None = None,
                styles_by_column: dict[int, CellStyle] | None = None) -> None:  # fmt: skip
        for column, value in enumerate(values, start=first_column):
            own = (styles_by_column or {}).get(column)
            combined = own if style is None else (style if own is None else style.merged(own))
            self.put(row, column, value, combined)

    @property
    def last_row(self) -> int:
        return max((r for r, _ in self.cells), default=0)

    def set_widths(self, ws, minimum: dict[int, float] | None = None) -> None:
        """Column widths from the longest value placed; call before `write`."""
        for column, longest in sorted(self.longest.items()):
            width = styles.column_width(longest)
            if minimum and column in minimum:
                width = max(width, minimum[column])
            ws.column_dimensions[get_column_letter(column)].width = width

    def write(self, ws) -> None:
        by_row: dict[int, list[tuple[int, object, CellStyle | None]]] = {}
        for (row, column), (value, style) in sorted(self.cells.items()):
            by_row.setdefault(row, []).append((column, value, style))
        for row in range(1, self.last_row + 1):
            line: list[object] = []
            for column, value, style in by_row.get(row, []):
                line.extend([None] * (column - 1 - len(line)))
                shown = excel_number(value) if isinstance(value, Decimal) else value
                if style is not None:
                    line.append(style.cell(ws, shown))
                elif isinstance(shown, str):
                    line.append(text_cell(ws, shown))
                else:
                    line.append(shown)
            ws.append(line)


def _right(numeric_columns: dict[int, CellStyle]) -> dict[int, CellStyle]:
    """Header styles putting the titles of number columns flush right, over their numbers."""
    return {column: styles.RIGHT for column in numeric_columns}


def _landscape_one_page_wide(ws) -> None:
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0


# ---------------------------------------------------------------------------------------------------------
# Summary


@dataclass(frozen=True)
class TypeTotals:
    name: str
    count: int
    amounts: tuple[Decimal, ...]


def totals_by_type(frame: pl.DataFrame, type_column: str, known: tuple[str, ...],
                   amount_columns: tuple[str, ...]) -> list[TypeTotals]:  # fmt: skip
    """Count and exact sums per type, every known type in its fixed order (zero rows included).

    Types the frame has beyond the known ones follow alphabetically, so the table still adds up to the frame.
    """
    grouped = frame.group_by(type_column).agg(pl.len(), *[pl.col(c).sum() for c in amount_columns])
    found = {row[0]: (int(row[1]), tuple(Decimal(a or 0) for a in row[2:])) for row in grouped.iter_rows()}
    extra = sorted((name for name in found if name not in known), key=lambda name: (name is None, name or ""))
    nothing = (0, tuple(Decimal(0) for _ in amount_columns))
    return [
        TypeTotals("(none)" if name is None else name, *found.get(name, nothing)) for name in (*known, *extra)
    ]


def build_summary(wb, report) -> None:
    """Title, key figures, the three summary tables and two bar charts drawn from them."""
    ws = wb.create_sheet("Summary")
    currency = report.currency
    money = styles.money(currency)
    count = styles.COUNT
    grid = Grid(currency)

    findings_total = decimal_total(report.findings, "disputed_amount")
    monthly_total = decimal_total(report.savings, "monthly_savings")
    annual_total = decimal_total(report.savings, "annual_savings")
    invoiced_total = decimal_total(report.invoiced, "invoiced_total")
    invoices = int(report.invoiced["invoices"].sum()) if report.invoiced.height else 0

    grid.put(1, 1, f"Telecom expense report: {report.customer_name}", styles.TITLE, sized=False)
    grid.put(2, 1, f"Customer {report.customer_id} · {month_title(report.billing_month)} · amounts in {currency}",
             styles.SUBTITLE, sized=False)  # fmt: skip

    grid.put(4, 1, "Key figures", styles.SECTION, sized=False)
    key_value = CellStyle(font=styles.BOLD_FONT, fill=styles.KEY_FIGURE_FILL)
    key_figures = [
        ("Lines on roster", report.line_count, count),
        ("Quarantined input rows", report.quarantined_rows, count),
        ("Invoices", invoices, count),
        ("Invoiced total", invoiced_total, money),
        ("Findings", report.findings.height, count),
        ("Disputed total", findings_total, money),
        ("Savings opportunities", report.savings.height, count),
        ("Monthly savings", monthly_total, money),
        ("Annual savings", annual_total, money),
    ]
    row = 5
    for label, value, value_style in key_figures:
        grid.put(row, 1, label, styles.LABEL)
        grid.put(row, 2, value, key_value.merged(value_style))
        row += 1
    if not report.findings.height:
        grid.put(row, 1, "No findings this month: nothing to dispute.", styles.NOTE, sized=False)
        row += 1
    if not report.savings.height:
        grid.put(row, 1, "No savings opportunities this month.", styles.NOTE, sized=False)
        row += 1

    row += 1
    grid.put(row, 1, "Invoiced by carrier and account", styles.SECTION, sized=False)
    columns = {3: count, 4: money}
    grid.put_row(row + 1, 1, ("Carrier", "Account", "Invoices", "Invoiced total"), styles.HEADER, _right(columns))
    row += 2
    for carrier, account, invoice_count, total in report.invoiced.select(
        "carrier", "account_number", "invoices", "invoiced_total"
    ).iter_rows():
        grid.put_row(row, 1, (carrier, account, invoice_count, Decimal(total or 0)), styles_by_column=columns)
        row += 1
    if not report.invoiced.height:
        grid.put(row, 1, "No invoices this month.", styles.NOTE, sized=False)
        row += 1
    grid.put_row(row, 1, ("Total", None, invoices, invoiced_total), styles.TOTAL, columns)
    row += 2

    grid.put(row, 1, "Disputed by finding type", styles.SECTION, sized=False)
    disputed_header = row + 1
    columns = {2: count, 3: money}
    grid.put_row(disputed_header, 1, ("Finding type", "Findings", "Disputed total"), styles.HEADER, _right(columns))
    row = disputed_header + 1
    for totals in totals_by_type(report.findings, "finding_type", FINDING_TYPES, ("disputed_amount",)):
        grid.put_row(row, 1, (totals.name, totals.count, totals.amounts[0]), styles_by_column=columns)
        row += 1
    disputed_last = row - 1
    grid.put_row(row, 1, ("Total", report.findings.height, findings_total), styles.TOTAL, columns)
    row += 2

    grid.put(row, 1, "Savings by type", styles.SECTION, sized=False)
    savings_header = row + 1
    columns = {2: count, 3: money, 4: money}
    grid.put_row(savings_header, 1, ("Savings type", "Opportunities", "Monthly savings", "Annual savings"),
                 styles.HEADER, _right(columns))  # fmt: skip
    row = savings_header + 1
    for totals in totals_by_type(report.savings, "savings_type", SAVINGS_TYPES, ("monthly_savings", "annual_savings")):
        grid.put_row(row, 1, (totals.name, totals.count, *totals.amounts), styles_by_column=columns)
        row += 1
    savings_last = row - 1
    grid.put_row(row, 1, ("Total", report.savings.height, monthly_total, annual_total), styles.TOTAL, columns)

    ws.sheet_view.showGridLines = False  # a report page, not a data grid
    grid.set_widths(ws, minimum={column: 16.0 for column in range(2, SUMMARY_TABLE_WIDTH + 1)})
    ws.column_dimensions["E"].width = 3
    _landscape_one_page_wide(ws)
    grid.write(ws)

    number_format = styles.currency_format(currency)
    disputed_chart = charts.amounts_by_category_chart(
        ws, "Disputed by finding type", 1, 3, disputed_header, disputed_last, number_format
    )
    savings_chart = charts.amounts_by_category_chart(
        ws, "Monthly savings by type", 1, 3, savings_header, savings_last, number_format
    )
    # both charts at the top right, where the reader looks first
    ws.add_chart(disputed_chart, f"{CHART_COLUMN}4")
    ws.add_chart(savings_chart, f"{CHART_COLUMN}20")


# ---------------------------------------------------------------------------------------------------------
# Findings and Savings: large, rows streamed from polars into openpyxl's write-only sheet


def _longest_shown(frame: pl.DataFrame, column: Column, currency: str) -> int:
    """Characters of the longest value as displayed, computed in polars without materialising rows."""
    if not frame.height:
        return 0
    series = frame[column.field]
    if column.is_money:
        extremes = [v for v in (series.min(), series.max()) if v is not None]
        return max((len(styles.money_text(Decimal(v), currency)) for v in extremes), default=0)
    if series.dtype != pl.String:
        series = series.cast(pl.String)
    longest = series.str.len_chars().max()
    return int(longest or 0)


def _styled_cell(ws, style_name: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws)
    cell.style = style_name  # a named style registered once on the workbook: no style objects per cell
    return cell


def build_data_sheet(wb, title: str, frame: pl.DataFrame, columns: list[Column], currency: str,
                     data_styles: dict[str, str]) -> None:  # fmt: skip
    """Header row, widths, frozen header, autofilter over all rows, then every row of `frame`, streamed.

    `data_styles` maps column kinds to the named styles of `styles.add_data_styles`.
    """
    check_fits_one_sheet(frame, title)
    ws = wb.create_sheet(title)
    widths = []
    for index, column in enumerate(columns, start=1):
        longest = max(len(column.header) + FILTER_BUTTON, _longest_shown(frame, column, currency))
        widths.append(styles.column_width(longest, wide=column.is_wide))
        ws.column_dimensions[get_column_letter(index)].width = widths[-1]
    ws.freeze_panes = "A2"
    ws.print_title_rows = "1:1"
    _landscape_one_page_wide(ws)
    last_column = get_column_letter(len(columns))
    ws.auto_filter = AutoFilter(ref=f"A1:{last_column}{frame.height + 1}")

    ws.append([(styles.NUMBER_HEADER if c.is_money else styles.HEADER).cell(ws, c.header) for c in columns])
    # One styled cell per column, refilled for every row: a write-only sheet writes each row as it is appended,
    # so the cells are free again once `append` returns (a cell and a style lookup per value would cost twice as much)
    column_cells = [_styled_cell(ws, data_styles[column.kind]) for column in columns]
    heights = ws.row_dimensions
    for row_number, (lines, values) in enumerate(data_rows(frame, columns, widths), start=2):
        if lines > 1:
            heights[row_number].height = lines * LINE_HEIGHT_POINTS
        ws.append([None if value is None else set_value(cell, value) for value, cell in zip(values, column_cells)])
        # a write-only sheet writes each row as it is appended: its height is no longer needed, keep memory flat
        heights.pop(row_number, None)


# ---------------------------------------------------------------------------------------------------------
# Cost allocation


def build_cost_allocation(wb, report) -> None:
    """The two allocations side by side, each an Excel table with its own filter buttons, one frozen header row.

    Side by side rather than stacked: a sheet has a single autofilter and a single frozen pane, and with
    both tables starting on row 1 each keeps its header in view and its own filter (Excel tables).
    """
    ws = wb.create_sheet("Cost allocation")
    currency = report.currency
    money = styles.money(currency)
    grid = Grid(currency)
    frame = report.cost_allocation
    unknown = sorted(set(frame["dimension"].unique().to_list()) - {d for d, _, _ in ALLOCATION_DIMENSIONS})
    if unknown:
        raise ValueError(f"cost_allocation: unknown dimension(s) {unknown}; expected cost_center or department")

    tables = []
    for position, (dimension, header, table_name) in enumerate(ALLOCATION_DIMENSIONS):
        first_column = 1 + position * 4
        headers = (header, "Lines", "Billed total")
        columns = {first_column + 1: styles.COUNT, first_column + 2: money}
        grid.put_row(1, first_column, headers, styles.HEADER, _right(columns))
        rows = frame.filter(pl.col("dimension") == dimension).select("name", "lines", "billed_total")
        row = 2
        for name, lines, billed in rows.iter_rows():
            grid.put_row(row, first_column, (name, lines, Decimal(billed or 0)), styles_by_column=columns)
            row += 1
        # an Excel table needs at least one data row: an empty allocation keeps one blank row
        last_table_row = max(row - 1, 2)
        total_lines = int(rows["lines"].sum()) if rows.height else 0
        grid.put_row(last_table_row + 1, first_column, ("Total", total_lines, decimal_total(rows, "billed_total")),
                     styles.TOTAL, columns)  # fmt: skip
        ref = f"{get_column_letter(first_column)}1:{get_column_letter(first_column + 2)}{last_table_row}"
        tables.append(
            Table(
                displayName=table_name,
                ref=ref,
                # write-only sheets cannot read their header cells back: columns are named here
                tableColumns=[TableColumn(id=i, name=name) for i, name in enumerate(headers, start=1)],
                autoFilter=AutoFilter(ref=ref),
                tableStyleInfo=TableStyleInfo(name="TableStyleLight9", showRowStripes=True),
            )
        )

    grid.set_widths(ws, minimum={1: 16.0, 5: 16.0, 3: 14.0, 7: 14.0})
    ws.column_dimensions["D"].width = 3
    ws.freeze_panes = "A2"
    _landscape_one_page_wide(ws)
    grid.write(ws)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="In write-only mode you must add table columns manually")
        for table in tables:
            ws.add_table(table)


# ---------------------------------------------------------------------------------------------------------
# Trend


def build_trend(wb, report) -> None:
    """The months' amounts and a line chart of them (no chart when there are no months)."""
    ws = wb.create_sheet("Trend")
    currency = report.currency
    money = styles.money(currency)
    grid = Grid(currency)
    columns = {2: money, 3: money, 4: money}
    grid.put_row(1, 1, TREND_HEADERS, styles.HEADER, _right(columns))
    row = 2
    for month, invoiced, disputed, savings in report.trend.select(
        "billing_month", "invoiced_total", "disputed_total", "monthly_savings"
    ).iter_rows():
        grid.put_row(row, 1, (month, Decimal(invoiced or 0), Decimal(disputed or 0), Decimal(savings or 0)),
                     styles_by_column=columns)  # fmt: skip
        row += 1
    grid.set_widths(ws, minimum={1: 10.0, 2: 14.0, 3: 14.0, 4: 16.0})
    ws.column_dimensions["E"].width = 3
    ws.freeze_panes = "A2"
    _landscape_one_page_wide(ws)
    grid.write(ws)
    if report.trend.height:
        chart = charts.trend_chart(ws, "Monthly trend", 1, report.trend.height + 1, styles.currency_format(currency))
        ws.add_chart(chart, f"{CHART_COLUMN}2")
