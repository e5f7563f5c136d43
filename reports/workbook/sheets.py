"""One builder per sheet of the customer workbook, all on write-only worksheets.

In a write-only worksheet openpyxl writes the sheet properties, view (frozen pane), and column widths
when the first row is appended, so every builder sets those before appending anything. Autofilter,
page setup, print titles, tables and charts are written when the sheet is closed and may be set at any point.

Every sheet prints landscape, one page wide, with its header row repeated and the customer, month and page
number in its header and footer (reports/workbook/printing.py). Type codes (UNORDERED_FEATURE...) appear in the workbook
only in a filter column and on the Glossary sheet; everything else reads them as plain words (reports/workbook/labels.py).
"""

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import polars as pl
from openpyxl.cell import WriteOnlyCell
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.filters import AutoFilter
from openpyxl.worksheet.table import Table, TableColumn, TableStyleInfo

from reports.workbook import charts, styles
from reports.workbook.cells import (
    TEXT_CHARACTERS_PER_WIDTH,
    Column,
    check_fits_one_sheet,
    excel_number,
    excel_text,
    text_cell,
)
from reports.workbook.labels import (
    CHARGE_TYPE_LABELS,
    FINDING_LABELS,
    SAVINGS_LABELS,
    TERMS,
    charge_type_label,
    finding_label,
    month_name,
    savings_label,
)
from reports.workbook.printing import print_ready
from reports.workbook.row_xml import data_rows_xml, write_sheet_data
from reports.workbook.styles import LINE_HEIGHT_POINTS, CellStyle
from schemas.outputs import FINDING_TYPES, SAVINGS_TYPES

TOP_ACTIONS = 5  # savings actions the Summary lists

# Findings and Savings: the printed columns first, the type codes (for filters) last, outside the print area
FINDINGS_COLUMNS = [
    Column("carrier", "Carrier", cap=16),
    Column("account_number", "Account", cap=16),
    Column("invoice_number", "Invoice", cap=16),
    Column("msisdn", "MSISDN", cap=16),
    Column("employee_id", "Employee ID", width=11),
    Column("finding", "Finding", width=20),
    Column("billed_amount", "Billed", "money"),
    Column("expected_amount", "Expected", "money"),
    Column("disputed_amount", "Disputed", "money"),
    Column("evidence", "Evidence", "wide", width=50),
    Column("finding_type", "Finding type (code)", printed=False, cap=26),
    Column("charge_type", "Charge type", printed=False, cap=16),
    Column("charge_code", "Charge code", printed=False, cap=16),
]
SAVINGS_COLUMNS = [
    Column("rank", "Rank", "count", width=7),
    Column("action", "Action", width=18),
    Column("carrier", "Carrier", cap=16),
    Column("msisdn", "MSISDN", cap=16),
    Column("employee_id", "Employee ID", width=11),
    Column("current_plan_code", "Current plan", cap=14),
    Column("recommended_plan_code", "Recommended plan", cap=16),
    Column("feature_code", "Feature", cap=12),
    Column("monthly_savings", "Monthly savings", "money", width=13),
    Column("annual_savings", "Annual savings", "money", width=13),
    Column("cumulative_annual_savings", "Cumulative annual", "money", width=14),
    Column("rationale", "Rationale", "wide", width=46),
    Column("savings_type", "Savings type (code)", printed=False, cap=26),
]
ALLOCATION_DIMENSIONS = (("cost_center", "Cost center", "CostCenters"), ("department", "Department", "Departments"))
ALLOCATION_NAMES = {  # rows of an allocation that are not a cost center or department of the roster
    "no_value": {"cost_center": "(no cost center on the roster)", "department": "(no department on the roster)"},
    "not_on_roster": "Numbers billed but not on the roster",
    "account_level": "Account-level: equipment, taxes, surcharges, fees",
}
TREND_HEADERS = ("Month", "Invoiced", "Disputed", "Monthly savings")
CHART_COLUMN = "F"  # charts sit right of the tables, column E is a gap
RIGHT_COLUMN = 6  # the Summary's right half (F:I): the type tables under their charts
SUMMARY_WIDTHS = {1: 36.0, 2: 16.0, 3: 17.0, 4: 16.0, 6: 30.0, 7: 10.0, 8: 17.0, 9: 16.0}
FILTER_BUTTON = 3  # characters a header's filter button covers


def decimal_total(frame: pl.DataFrame, column: str) -> Decimal:
    """Exact sum of a Decimal column (polars sums decimals as scaled integers); 0 for no rows."""
    total = frame[column].sum() if frame.height else None
    return Decimal(0) if total is None else Decimal(total)


def wrapped_lines(text: object, width: float) -> int:
    """Lines a wrapped text needs in a column `width` characters wide (an estimate: the font is proportional)."""
    if text is None:
        return 1
    shown = str(text)
    return max(1, math.ceil(len(shown) / (width * TEXT_CHARACTERS_PER_WIDTH)) + shown.count("\n"))


def _labelled(frame: pl.DataFrame, code_column: str, label_column: str, label) -> pl.DataFrame:
    """`frame` with a plain-language label of each code (reports/workbook/labels.py), computed once per distinct code."""
    codes = [c for c in frame[code_column].unique().to_list() if c is not None] if frame.height else []
    labels = pl.DataFrame(
        {code_column: codes, label_column: [label(c) for c in codes]},
        schema={code_column: frame.schema[code_column], label_column: pl.String},
    )
    return frame.join(labels, on=code_column, how="left", maintain_order="left").with_columns(
        pl.col(label_column).fill_null(label(None))
    )


def findings_shown(findings: pl.DataFrame) -> pl.DataFrame:
    """The findings with their plain label, in findings.csv order."""
    return _labelled(findings, "finding_type", "finding", finding_label)


def ranked_savings(savings: pl.DataFrame) -> pl.DataFrame:
    """Savings ranked by annual amount (largest first; ties in the rules' order, then by carrier and line), with
    `rank`, the plain `action` and `cumulative_annual_savings`, the annual savings of the actions up to this one."""
    order = {t: i for i, t in enumerate(SAVINGS_TYPES)}
    ranked = (
        savings.with_columns(
            pl.col("savings_type").replace_strict(order, default=len(order), return_dtype=pl.Int64).alias("__type")
        )
        .sort(
            ["annual_savings", "__type", "savings_type", "carrier", "msisdn", "feature_code"],
            descending=[True, False, False, False, False, False],
            nulls_last=True,
            maintain_order=True,
        )
        .drop("__type")
        .with_columns(
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("rank"),
            pl.col("annual_savings").fill_null(0).cum_sum().alias("cumulative_annual_savings"),
        )
    )
    return _labelled(ranked, "savings_type", "action", savings_label)


# ---------------------------------------------------------------------------------------------------------
# Small sheets: cells placed on a grid, then streamed out row by row


@dataclass
class Grid:
    """Cells of a small sheet by (row, column), 1-based; written in order to a write-only sheet."""

    currency: str
    region: str | None = None
    cells: dict[tuple[int, int], tuple[object, CellStyle | None]] = field(default_factory=dict)
    longest: dict[int, int] = field(default_factory=dict)
    heights: dict[int, float] = field(default_factory=dict)

    def put(self, row: int, column: int, value: object, style: CellStyle | None = None, sized: bool = True) -> None:
        """Place a value; `sized` False for titles and notes that may run over the next columns."""
        if isinstance(value, str):
            value = excel_text(value)
        self.cells[(row, column)] = (value, style)
        if sized and value is not None:
            self.longest[column] = max(self.longest.get(column, 0), len(self.shown(value)))

    def shown(self, value: object) -> str:
        if isinstance(value, Decimal):
            return styles.money_text(value, self.currency, self.region)
        if isinstance(value, int):
            return f"{value:,}"
        if isinstance(value, date):
            return "00/00/0000"
        if isinstance(value, float):
            return f"{value:.0%}"
        return str(value)

    def put_row(
        self,
        row: int,
        first_column: int,
        values: Iterable[object],
        style: CellStyle | None = None,
        styles_by_column: dict[int, CellStyle] | None = None,
    ) -> None:
        for column, value in enumerate(values, start=first_column):
            own = (styles_by_column or {}).get(column)
            combined = own if style is None else (style if own is None else style.merged(own))
            self.put(row, column, value, combined)

    def tall(self, row: int, lines: int) -> None:
        """Make `row` tall enough for `lines` lines of wrapped text (LibreOffice does not grow rows itself)."""
        if lines > 1:
            self.heights[row] = max(self.heights.get(row, 0), lines * LINE_HEIGHT_POINTS)

    @property
    def last_row(self) -> int:
        return max((r for r, _ in self.cells), default=0)

    def set_widths(self, ws, minimum: dict[int, float] | None = None, fixed: dict[int, float] | None = None) -> None:
        """Column widths from the longest value placed (at least `minimum`), or `fixed`; call before `write`."""
        for column, longest in sorted(self.longest.items()):
            width = styles.column_width(longest)
            if minimum and column in minimum:
                width = max(width, minimum[column])
            ws.column_dimensions[get_column_letter(column)].width = width
        for column, width in sorted((fixed or {}).items()):
            ws.column_dimensions[get_column_letter(column)].width = width

    def write(self, ws) -> None:
        by_row: dict[int, list[tuple[int, object, CellStyle | None]]] = {}
        for (row, column), (value, style) in sorted(self.cells.items()):
            by_row.setdefault(row, []).append((column, value, style))
        for row in range(1, self.last_row + 1):
            if row in self.heights:
                ws.row_dimensions[row].height = self.heights[row]
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
            ws.row_dimensions.pop(row, None)


def _right(numeric_columns: dict[int, CellStyle]) -> dict[int, CellStyle]:
    """Header styles putting the titles of number columns flush right, over their numbers."""
    return {column: styles.RIGHT for column in numeric_columns}


def _share(part: Decimal, whole: Decimal) -> float | None:
    """A fraction for a percent cell; None when the whole is zero."""
    return None if not whole else float(part / whole)


# ---------------------------------------------------------------------------------------------------------
# Summary


@dataclass(frozen=True)
class TypeTotals:
    name: str
    count: int
    amounts: tuple[Decimal, ...]


def totals_by_type(
    frame: pl.DataFrame, type_column: str, known: tuple[str, ...], amount_columns: tuple[str, ...]
) -> list[TypeTotals]:
    """Count and exact sums per type, every known type in its fixed order (zero rows included).

    Types the frame has beyond the known ones follow alphabetically, so the table still adds up to the frame.
    """
    grouped = frame.group_by(type_column).agg(pl.len(), *[pl.col(c).sum() for c in amount_columns])
    found = {row[0]: (int(row[1]), tuple(Decimal(a or 0) for a in row[2:])) for row in grouped.iter_rows()}
    extra = sorted((name for name in found if name not in known), key=lambda name: (name is None, name or ""))
    nothing = (0, tuple(Decimal(0) for _ in amount_columns))
    return [TypeTotals("(none)" if name is None else name, *found.get(name, nothing)) for name in (*known, *extra)]


def ranked_nonzero(totals: list[TypeTotals]) -> list[TypeTotals]:
    """The types with an amount, largest (first amount) first; ties keep the rules' order. A chart of these has no
    bar of zero."""
    return sorted((t for t in totals if t.count and any(t.amounts)), key=lambda t: -t.amounts[-1])


def build_summary(wb, report) -> None:
    """Title, key figures, what to file and what to change first, the summary tables and bar charts of the types
    that have an amount."""
    ws = wb.create_sheet("Summary")
    currency, region = report.currency, report.region
    money = styles.money(currency, region)
    day = styles.date(region)
    count = styles.COUNT
    grid = Grid(currency, region)
    disputes = report.dispute_rows
    ranked = ranked_savings(report.savings)

    findings_total = decimal_total(report.findings, "disputed_amount")
    monthly_total = decimal_total(report.savings, "monthly_savings")
    annual_total = decimal_total(report.savings, "annual_savings")
    invoiced_total = decimal_total(report.invoiced, "invoiced_total")
    invoices = int(report.invoiced["invoices"].sum()) if report.invoiced.height else 0
    top = ranked.head(TOP_ACTIONS)
    top_total = decimal_total(top, "annual_savings")
    first_deadline = disputes["last_day_to_file"].min() if disputes.height else None
    account_level = decimal_total(report.account_charges, "billed_total")

    grid.put(1, 1, f"Telecom expense report: {report.customer_name}", styles.TITLE, sized=False)
    grid.put(
        2,
        1,
        f"{month_name(report.billing_month)} · customer {report.customer_id} · amounts in {currency}",
        styles.SUBTITLE,
        sized=False,
    )

    grid.put(4, 1, "Key figures", styles.SECTION, sized=False)
    key_value = CellStyle(font=styles.BOLD_FONT, fill=styles.KEY_FIGURE_FILL)
    key_figures = [
        ("Lines on roster", report.line_count, count),
        ("Quarantined input rows", report.quarantined_rows, count),
        ("Invoices", invoices, count),
        ("Invoiced total", invoiced_total, money),
        ("Findings", report.findings.height, count),
        ("Disputed total", findings_total, money),
        ("Earliest last day to file a dispute", first_deadline or "none", day if first_deadline else styles.RIGHT),
        ("Savings opportunities", report.savings.height, count),
        ("Monthly savings", monthly_total, money),
        ("Annual savings", annual_total, money),
        (f"Annual savings of the top {min(TOP_ACTIONS, ranked.height)} actions", top_total, money),
        ("Account-level charges (not on a line)", account_level, money),
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

    # what to file: one line per carrier, the amount to claim and the first deadline among its invoices
    row += 1
    grid.put(row, 1, "Disputes to file, by carrier (details: Disputes to file)", styles.SECTION, sized=False)
    columns = {2: count, 3: money, 4: day}
    grid.put_row(
        row + 1, 1, ("Carrier", "Findings", "Amount to claim", "Earliest last day"), styles.HEADER, _right(columns)
    )
    row += 2
    by_carrier = (
        disputes.group_by("carrier")
        .agg(pl.len().alias("n"), pl.col("disputed_amount").sum().alias("claim"), pl.col("last_day_to_file").min())
        .sort("carrier")
    )
    for carrier, n, claim, deadline in by_carrier.iter_rows():
        grid.put_row(row, 1, (carrier, n, Decimal(claim or 0), deadline), styles_by_column=columns)
        row += 1
    if not by_carrier.height:
        grid.put(row, 1, "Nothing to dispute this month.", styles.NOTE, sized=False)
        row += 1
    grid.put_row(
        row,
        1,
        ("Total", disputes.height, decimal_total(disputes, "disputed_amount"), first_deadline),
        styles.TOTAL,
        columns,
    )
    row += 2

    # what to change first: the largest savings, with a running total
    grid.put(row, 1, f"Top {TOP_ACTIONS} savings actions (all of them: Savings)", styles.SECTION, sized=False)
    columns = {3: money, 4: money}
    grid.put_row(row + 1, 1, ("Action", "Line", "Annual savings", "Cumulative"), styles.HEADER, _right(columns))
    row += 2
    for rank, action, msisdn, annual, cumulative in top.select(
        "rank", "action", "msisdn", "annual_savings", "cumulative_annual_savings"
    ).iter_rows():
        grid.put_row(
            row,
            1,
            (f"{rank}. {action}", msisdn or "", Decimal(annual or 0), Decimal(cumulative or 0)),
            styles_by_column=columns,
        )
        row += 1
    if not top.height:
        grid.put(row, 1, "No savings opportunities this month.", styles.NOTE, sized=False)
        row += 1
    grid.put_row(row, 1, (f"The top {top.height} actions save a year", None, top_total, None), styles.TOTAL, columns)
    if ranked.height > top.height:
        row += 1
        grid.put_row(
            row, 1, (f"All {ranked.height} actions save a year", None, annual_total, None), styles_by_column=columns
        )
    row += 2

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

    # right half: each type table under its chart (types with an amount only, largest first), charts drawn last
    number_format = styles.axis_format(currency, region)
    placed_charts = []
    right = 4
    disputed_types = ranked_nonzero(
        totals_by_type(report.findings, "finding_type", FINDING_TYPES, ("disputed_amount",))
    )
    if disputed_types:
        chart_row, right = right, right + charts.rows_spanned(len(disputed_types)) + 1
    grid.put(right, RIGHT_COLUMN, "Disputed by finding type", styles.SECTION, sized=False)
    disputed_header = right + 1
    columns = {RIGHT_COLUMN + 1: count, RIGHT_COLUMN + 2: money}
    grid.put_row(
        disputed_header, RIGHT_COLUMN, ("Finding", "Findings", "Disputed total"), styles.HEADER, _right(columns)
    )
    right = disputed_header + 1
    for totals in disputed_types:
        grid.put_row(
            right, RIGHT_COLUMN, (finding_label(totals.name), totals.count, totals.amounts[0]), styles_by_column=columns
        )
        right += 1
    grid.put_row(right, RIGHT_COLUMN, ("Total", report.findings.height, findings_total), styles.TOTAL, columns)
    grid.put(
        right + 1,
        RIGHT_COLUMN,
        f"No findings of the other {len(FINDING_TYPES) - len(disputed_types)} types "
        "this month (all of them: Glossary).",
        styles.SUBTITLE,
        sized=False,
    )
    if disputed_types:
        placed_charts.append(
            (
                charts.amounts_by_category_chart(
                    ws,
                    "Disputed by finding type",
                    RIGHT_COLUMN,
                    RIGHT_COLUMN + 2,
                    disputed_header,
                    right - 1,
                    number_format,
                ),
                chart_row,
            )
        )
    right += 3

    savings_types = ranked_nonzero(
        totals_by_type(report.savings, "savings_type", SAVINGS_TYPES, ("monthly_savings", "annual_savings"))
    )
    if savings_types:
        chart_row, right = right, right + charts.rows_spanned(len(savings_types)) + 1
    grid.put(right, RIGHT_COLUMN, "Savings by type", styles.SECTION, sized=False)
    savings_header = right + 1
    columns = {RIGHT_COLUMN + 1: count, RIGHT_COLUMN + 2: money, RIGHT_COLUMN + 3: money}
    grid.put_row(
        savings_header,
        RIGHT_COLUMN,
        ("Action", "Lines", "Monthly savings", "Annual savings"),
        styles.HEADER,
        _right(columns),
    )
    right = savings_header + 1
    for totals in savings_types:
        grid.put_row(
            right, RIGHT_COLUMN, (savings_label(totals.name), totals.count, *totals.amounts), styles_by_column=columns
        )
        right += 1
    grid.put_row(
        right, RIGHT_COLUMN, ("Total", report.savings.height, monthly_total, annual_total), styles.TOTAL, columns
    )
    if savings_types:
        placed_charts.append(
            (
                charts.amounts_by_category_chart(
                    ws,
                    "Annual savings by action",
                    RIGHT_COLUMN,
                    RIGHT_COLUMN + 3,
                    savings_header,
                    right - 1,
                    number_format,
                ),
                chart_row,
            )
        )

    ws.sheet_view.showGridLines = False  # a report page, not a data grid
    grid.set_widths(ws, minimum=SUMMARY_WIDTHS)
    ws.column_dimensions[get_column_letter(RIGHT_COLUMN - 1)].width = 3
    print_ready(ws, report, month_name(report.billing_month))
    grid.write(ws)
    for chart, chart_row in placed_charts:
        ws.add_chart(chart, f"{get_column_letter(RIGHT_COLUMN)}{chart_row}")


# ---------------------------------------------------------------------------------------------------------
# Findings and Savings: large, rows streamed from polars into openpyxl's write-only sheet


def _longest_shown(frame: pl.DataFrame, column: Column, currency: str, region: str | None) -> int:
    """Characters of the longest value as displayed, computed in polars without materialising rows."""
    if not frame.height:
        return 0
    series = frame[column.field]
    if column.is_money:
        extremes = [v for v in (series.min(), series.max()) if v is not None]
        return max((len(styles.money_text(Decimal(v), currency, region)) for v in extremes), default=0)
    if column.is_number:
        return len(f"{series.max() or 0:,}")
    if series.dtype != pl.String:
        series = series.cast(pl.String)
    longest = series.str.len_chars().max()
    return int(longest or 0)


def _styled_cell(ws, style_name: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws)
    cell.style = style_name  # a named style registered once on the workbook: no style objects per cell
    return cell


def column_widths(frame: pl.DataFrame, columns: list[Column], currency: str, region: str | None) -> list[float]:
    """Fixed widths where a column has one; else from the longest value (and the header beside its filter
    button), up to the column's cap: longer text wraps."""
    widths = []
    for column in columns:
        if column.width is not None:
            widths.append(column.width)
            continue
        longest = max(len(column.header) + FILTER_BUTTON, _longest_shown(frame, column, currency, region))
        width = styles.column_width(longest, wide=column.is_wide)
        widths.append(width if column.is_number else min(width, column.cap))
    return widths


def build_data_sheet(
    wb, title: str, frame: pl.DataFrame, columns: list[Column], report, data_styles: dict[str, str]
) -> None:
    """Header row, widths, frozen header, autofilter over all rows, then every row of `frame`, streamed.

    `data_styles` maps column kinds to the named styles of `styles.add_data_styles`. The printed columns come
    first; the print area leaves out the filter-only ones.
    """
    check_fits_one_sheet(frame, title)
    ws = wb.create_sheet(title)
    widths = column_widths(frame, columns, report.currency, report.region)
    for index, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    ws.freeze_panes = "A2"
    last_column = get_column_letter(len(columns))
    last_printed = get_column_letter(sum(1 for c in columns if c.printed))
    print_ready(
        ws,
        report,
        month_name(report.billing_month),
        title_rows="1:1",
        print_area=f"A1:{last_printed}{frame.height + 1}",
    )
    ws.auto_filter = AutoFilter(ref=f"A1:{last_column}{frame.height + 1}")

    header_lines = max(wrapped_lines(c.header, max(w - FILTER_BUTTON - 1, 1)) for c, w in zip(columns, widths))
    if header_lines > 1:
        ws.row_dimensions[1].height = header_lines * LINE_HEIGHT_POINTS
    header = [(styles.NUMBER_HEADER if c.is_number else styles.HEADER).cell(ws, c.header) for c in columns]
    styled = [_styled_cell(ws, data_styles[column.kind]) for column in columns]
    write_sheet_data(ws, header, data_rows_xml(frame, columns, widths, styled, first_row=2))
    ws.row_dimensions.pop(1, None)


# ---------------------------------------------------------------------------------------------------------
# Cost allocation


def allocation_name(dimension: str, kind: str, name: str | None) -> str:
    if kind == "no_value":
        return ALLOCATION_NAMES["no_value"][dimension]
    if kind in ("not_on_roster", "account_level"):
        return ALLOCATION_NAMES[kind]
    return name if name is not None else ALLOCATION_NAMES["no_value"][dimension]


def build_cost_allocation(wb, report) -> None:
    """The two allocations side by side, each an Excel table with its own filter buttons, one frozen header row;
    below them, the account-level charges by charge type.

    Side by side rather than stacked: a sheet has a single autofilter and a single frozen pane, and with
    both tables starting on row 1 each keeps its header in view and its own filter (Excel tables). Charges the
    carrier bills to the account (equipment, taxes, surcharges, fees) belong to no line, so to no cost center:
    they are a row of their own, without a line count, and broken down by charge type underneath.
    """
    ws = wb.create_sheet("Cost allocation")
    currency, region = report.currency, report.region
    money = styles.money(currency, region)
    grid = Grid(currency, region)
    frame = report.cost_allocation
    if "kind" not in frame.columns:
        frame = frame.with_columns(pl.lit("line").alias("kind"))
    unknown = sorted(set(frame["dimension"].unique().to_list()) - {d for d, _, _ in ALLOCATION_DIMENSIONS})
    if unknown:
        raise ValueError(f"cost_allocation: unknown dimension(s) {unknown}; expected cost_center or department")

    tables = []
    last_rows = []
    for position, (dimension, header, table_name) in enumerate(ALLOCATION_DIMENSIONS):
        first_column = 1 + position * 5
        headers = (header, "Lines", "Billed total", "Share")
        columns = {first_column + 1: styles.COUNT, first_column + 2: money, first_column + 3: styles.PERCENT}
        grid.put_row(1, first_column, headers, styles.HEADER, _right(columns))
        rows = frame.filter(pl.col("dimension") == dimension)
        whole = decimal_total(rows, "billed_total")
        row = 2
        for kind, name, lines, billed in rows.select("kind", "name", "lines", "billed_total").iter_rows():
            amount = Decimal(billed or 0)
            shown_name = allocation_name(dimension, kind, name)
            line_count = lines if kind in ("line", "no_value") else None  # account-level charges have no line
            style = styles.BOLD if kind == "account_level" else None
            grid.put_row(row, first_column, (shown_name, line_count, amount, _share(amount, whole)), style, columns)
            row += 1
        # an Excel table needs at least one data row: an empty allocation keeps one blank row
        last_table_row = max(row - 1, 2)
        total_lines = int(rows["lines"].drop_nulls().sum()) if rows.height else 0
        grid.put_row(
            last_table_row + 1,
            first_column,
            ("Total", total_lines, whole, 1.0 if whole else None),
            styles.TOTAL,
            columns,
        )
        last_rows.append(last_table_row + 1)
        ref = f"{get_column_letter(first_column)}1:{get_column_letter(first_column + 3)}{last_table_row}"
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

    # the account-level charges by charge type, under the allocations
    row = max(last_rows) + 2
    grid.put(row, 1, "Account-level charges by type", styles.SECTION, sized=False)
    grid.put(
        row + 1,
        1,
        "Billed to the carrier account, not to a phone line, so no cost center or department "
        "follows from the invoice: allocate them by head count or to a central cost center.",
        styles.SUBTITLE,
        sized=False,
    )
    columns = {2: styles.COUNT, 3: money, 4: styles.PERCENT}
    grid.put_row(row + 2, 1, ("Charge type", "Charges", "Amount", "Share"), styles.HEADER, _right(columns))
    row += 3
    charges = report.account_charges
    account_total = decimal_total(charges, "billed_total")
    for charge_type, n, billed in charges.select("charge_type", "charges", "billed_total").iter_rows():
        amount = Decimal(billed or 0)
        grid.put_row(
            row, 1, (charge_type_label(charge_type), n, amount, _share(amount, account_total)), styles_by_column=columns
        )
        row += 1
    if not charges.height:
        grid.put(row, 1, "No account-level charges this month.", styles.NOTE, sized=False)
        row += 1
    total_charges = int(charges["charges"].sum()) if charges.height else 0
    grid.put_row(row, 1, ("Total", total_charges, account_total, 1.0 if account_total else None), styles.TOTAL, columns)

    grid.set_widths(ws, minimum={1: 24.0, 6: 24.0, 2: 9.0, 7: 9.0, 3: 14.0, 8: 14.0, 4: 9.0, 9: 9.0})
    ws.column_dimensions["E"].width = 3
    ws.freeze_panes = "A2"
    print_ready(ws, report, month_name(report.billing_month), title_rows="1:1")
    grid.write(ws)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="In write-only mode you must add table columns manually")
        for table in tables:
            ws.add_table(table)


# ---------------------------------------------------------------------------------------------------------
# Trend


def build_trend(wb, report) -> None:
    """The months' amounts and two charts of them, each on one axis of its own: invoiced per month, and disputed
    and monthly savings per month (a few percent of the invoiced amount, they would lie flat beside it). A chart
    or series that would only draw zeros is left out."""
    ws = wb.create_sheet("Trend")
    currency, region = report.currency, report.region
    money = styles.money(currency, region)
    grid = Grid(currency, region)
    columns = {1: styles.MONTH, 2: money, 3: money, 4: money}
    grid.put_row(1, 1, TREND_HEADERS, styles.HEADER, _right({2: money, 3: money, 4: money}))
    row = 2
    trend = report.trend.select("billing_month", "invoiced_total", "disputed_total", "monthly_savings")
    for month, invoiced, disputed, savings in trend.iter_rows():
        first_day = date(int(month[:4]), int(month[5:7]), 1)
        grid.put_row(
            row,
            1,
            (first_day, Decimal(invoiced or 0), Decimal(disputed or 0), Decimal(savings or 0)),
            styles_by_column=columns,
        )
        row += 1
    grid.set_widths(ws, minimum={1: 12.0, 2: 16.0, 3: 16.0, 4: 18.0})
    ws.column_dimensions["E"].width = 3
    ws.freeze_panes = "A2"
    print_ready(ws, report, month_name(report.billing_month), title_rows="1:1")
    grid.write(ws)
    if not trend.height:
        return
    number_format = styles.axis_format(currency, region)
    last = trend.height + 1

    def nonzero(column: str) -> bool:
        return any(value for value in trend[column].to_list())

    if nonzero("invoiced_total"):
        ws.add_chart(charts.trend_chart(ws, "Invoiced per month", [2], 1, last, number_format), f"{CHART_COLUMN}2")
    recovered = [index for index, column in ((3, "disputed_total"), (4, "monthly_savings")) if nonzero(column)]
    if recovered:
        ws.add_chart(
            charts.trend_chart(ws, "Disputed and monthly savings per month", recovered, 1, last, number_format),
            f"{CHART_COLUMN}21",
        )


# ---------------------------------------------------------------------------------------------------------
# Glossary


GLOSSARY_WIDTHS = {1: 34.0, 2: 28.0, 3: 90.0}


def build_glossary(wb, report) -> None:
    """Every finding and savings type in plain words with its code (as in the CSV files), and the words of the
    report a reader may not know."""
    ws = wb.create_sheet("Glossary")
    grid = Grid(report.currency, report.region)
    grid.put_row(1, 1, ("Name in this report", "Code in the CSV files", "What it means"), styles.HEADER)
    row = 3
    sections = (
        ("Findings: money to claim back from a carrier (Findings, Disputes to file)", FINDING_LABELS),
        ("Savings: money to stop spending (Savings)", SAVINGS_LABELS),
    )
    for title, labels in sections:
        grid.put(row, 1, title, styles.SECTION, sized=False)
        row += 1
        for code, (label, meaning) in labels.items():
            grid.put_row(row, 1, (label, code, meaning), styles.WRAPPED)
            grid.tall(row, max(wrapped_lines(label, GLOSSARY_WIDTHS[1]), wrapped_lines(meaning, GLOSSARY_WIDTHS[3])))
            row += 1
        row += 1
    grid.put(row, 1, "Words used in this report", styles.SECTION, sized=False)
    row += 1
    for term, meaning in TERMS:
        grid.put_row(row, 1, (term, None, meaning), styles.WRAPPED)
        grid.tall(row, wrapped_lines(meaning, GLOSSARY_WIDTHS[3]))
        row += 1
    row += 1
    grid.put(row, 1, "Charge types of an invoice", styles.SECTION, sized=False)
    row += 1
    for code, label in CHARGE_TYPE_LABELS.items():
        grid.put_row(row, 1, (label, code, None), styles.WRAPPED)
        row += 1
    grid.set_widths(ws, fixed=GLOSSARY_WIDTHS)
    ws.freeze_panes = "A2"
    print_ready(ws, report, month_name(report.billing_month), title_rows="1:1")
    grid.write(ws)
