"""The customer's monthly workbook (reports/): sheets, totals, charts, formats, print settings, determinism and size."""

import datetime as dt
import hashlib
import time
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from openpyxl.chart import BarChart, LineChart

from reports.workbook.book import (
    FINDINGS_CSV_COLUMNS,
    SAVINGS_CSV_COLUMNS,
    CustomerReport,
    document_time,
    write_workbook,
)
from reports.workbook.styles import currency_format

CENT = Decimal("0.01")
MONEY = pl.Decimal(18, 4)
TOTAL = pl.Decimal(18, 2)
SHEETS = ["Summary", "Disputes to file", "Savings", "Findings", "Cost allocation", "Trend", "Glossary"]


def finding(carrier, account, invoice, msisdn, employee, kind, charge_type, code, billed, expected, disputed, evidence):
    return {
        "customer_id": "C042",
        "billing_month": "2026-09",
        "carrier": carrier,
        "account_number": account,
        "invoice_number": invoice,
        "msisdn": msisdn,
        "employee_id": employee,
        "finding_type": kind,
        "charge_type": charge_type,
        "charge_code": code,
        "billed_amount": Decimal(billed),
        "expected_amount": None if expected is None else Decimal(expected),
        "disputed_amount": Decimal(disputed),
        "currency": "USD",
        "evidence": evidence,
    }


def saving(carrier, msisdn, employee, kind, current, recommended, feature, monthly, rationale):
    return {
        "customer_id": "C042",
        "billing_month": "2026-09",
        "carrier": carrier,
        "msisdn": msisdn,
        "employee_id": employee,
        "savings_type": kind,
        "current_plan_code": current,
        "recommended_plan_code": recommended,
        "feature_code": feature,
        "monthly_savings": Decimal(monthly),
        "annual_savings": Decimal(monthly) * 12,
        "currency": "USD",
        "rationale": rationale,
    }


def findings_frame(rows):
    schema = {c: MONEY if c.endswith("_amount") else pl.String for c in FINDINGS_CSV_COLUMNS}
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def savings_frame(rows):
    schema = {c: MONEY if c in ("monthly_savings", "annual_savings") else pl.String for c in SAVINGS_CSV_COLUMNS}
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def sample_report(currency="USD", **changes) -> CustomerReport:
    findings = [
        finding(
            "Verizon",
            "0012345",
            "VZ-9001",
            "+12025550101",
            "E100",
            "UNKNOWN_LINE",
            None,
            None,
            "64.9900",
            "0",
            "64.9900",
            "Invoice VZ-9001 (Verizon, account 0012345) bills 2 charge(s) totalling "
            "64.99 USD to +12025550101, a number that is not on the customer's line roster for September 2026.",
        ),
        finding(
            "Verizon",
            "0012345",
            "VZ-9001",
            "+12025550102",
            "E101",
            "DUPLICATE_CHARGE",
            "plan",
            "UNL-50",
            "100.0000",
            "50.0000",
            "50.0000",
            "Plan UNL-50 billed 2 times (50.00 + 50.00 USD); due once.",
        ),
        finding(
            "AT&T",
            "8800-1",
            "ATT-77",
            "+12025550103",
            "E102",
            "PLAN_RATE_MISMATCH",
            "plan",
            "BIZ-20",
            "25.0050",
            "20.0000",
            "5.0050",
            "Plan BIZ-20 at 25.01 USD costs 20.00 USD <contract> & discount.",
        ),
        finding(
            "AT&T",
            "8800-1",
            "ATT-77",
            "+12025550104",
            "E103",
            "PLAN_RATE_MISMATCH",
            "plan",
            "BIZ-20",
            "22.0000",
            "20.0000",
            "2.0000",
            "Plan BIZ-20 at 22.00 USD costs 20.00 USD.",
        ),
        finding(
            "T-Mobile",
            "TM-5",
            "TM-2026-09",
            "+12025550105",
            "E104",
            "USAGE_OVERBILLED",
            "overage_data",
            "DATA",
            "30.1234",
            "10.0000",
            "20.1234",
            "Overage 300 MB\tbilled, 100 MB\x07 over the allowance.",
        ),
        finding(
            "T-Mobile",
            "TM-5",
            "TM-2026-09",
            None,
            None,
            "INVOICE_TOTAL_MISMATCH",
            None,
            None,
            "1000.0000",
            "990.0000",
            "10.0000",
            "Invoice total 1000.00 USD, charges sum to 990.00 USD.",
        ),
    ]
    savings = [
        saving(
            "Verizon",
            "+12025550110",
            "E200",
            "TERMINATED_EMPLOYEE_LINE",
            "UNL-50",
            None,
            None,
            "50.0000",
            "Employee E200 left on 2026-07-31; the line is still billed. Cancel it.",
        ),
        saving(
            "Verizon",
            "+12025550111",
            "E201",
            "ZERO_USAGE_LINE",
            "UNL-50",
            None,
            None,
            "50.0000",
            "No calls, texts or data for three months.",
        ),
        saving(
            "AT&T",
            "+12025550112",
            "E202",
            "PLAN_RIGHTSIZE",
            "BIZ-20",
            "BIZ-10",
            None,
            "7.5000",
            "Three-month usage fits BIZ-10.",
        ),
        saving(
            "AT&T",
            "+12025550113",
            "E203",
            "PLAN_RIGHTSIZE",
            "BIZ-20",
            "BIZ-10",
            None,
            "7.5000",
            "Three-month usage fits BIZ-10.",
        ),
    ]
    fields = dict(
        customer_id="C042",
        customer_name="Northwind Freight Ltd",
        billing_month="2026-09",
        currency=currency,
        invoiced=pl.DataFrame(
            {
                "carrier": ["AT&T", "T-Mobile", "Verizon", "Verizon"],
                "account_number": ["8800-1", "TM-5", "0012345", "0012399"],
                "invoices": [1, 1, 2, 1],
                "invoiced_total": [Decimal("4321.09"), Decimal("1000.00"), Decimal("12500.50"), Decimal("75.25")],
            },
            schema_overrides={"invoiced_total": TOTAL},
        ),
        findings=findings_frame(findings),
        savings=savings_frame(savings),
        line_count=318,
        quarantined_rows=7,
        cost_allocation=pl.DataFrame(
            {
                "dimension": [
                    "cost_center",
                    "cost_center",
                    "cost_center",
                    "cost_center",
                    "department",
                    "department",
                    "department",
                ],
                "kind": ["line", "line", "no_value", "account_level", "line", "line", "account_level"],
                "name": ["CC-100 Sales", "CC-200 Operations", None, None, "Sales", "Operations", None],
                "lines": [150, 160, 8, None, 150, 168, None],
                "billed_total": [
                    Decimal(v) for v in ("8000.00", "9000.59", "396.25", "500.00", "8000.00", "9396.84", "500.00")
                ],
            },
            schema_overrides={"billed_total": TOTAL},
        ),
        account_charges=pl.DataFrame(
            {
                "charge_type": ["equipment", "tax", "credit"],
                "charges": [2, 3, 1],
                "billed_total": [Decimal("450.00"), Decimal("75.00"), Decimal("-25.00")],
            },
            schema_overrides={"billed_total": TOTAL},
        ),
        trend=pl.DataFrame(
            {
                "billing_month": ["2026-06", "2026-07", "2026-08", "2026-09"],
                "invoiced_total": [Decimal(v) for v in ("17100.00", "17650.10", "17420.00", "17896.84")],
                "disputed_total": [Decimal(v) for v in ("120.00", "95.50", "140.00", "152.12")],
                "monthly_savings": [Decimal(v) for v in ("80.00", "100.00", "115.00", "115.00")],
            },
            schema_overrides={c: TOTAL for c in ("invoiced_total", "disputed_total", "monthly_savings")},
        ),
    )
    fields.update(changes)
    return CustomerReport(**fields)


def empty_report() -> CustomerReport:
    return sample_report(
        invoiced=pl.DataFrame(
            schema={"carrier": pl.String, "account_number": pl.String, "invoices": pl.Int64, "invoiced_total": TOTAL}
        ),
        findings=findings_frame([]),
        savings=savings_frame([]),
        line_count=0,
        quarantined_rows=0,
        cost_allocation=pl.DataFrame(
            schema={"dimension": pl.String, "name": pl.String, "lines": pl.Int64, "billed_total": TOTAL}
        ),
        trend=pl.DataFrame(
            {
                "billing_month": ["2026-09"],
                "invoiced_total": [Decimal("0")],
                "disputed_total": [Decimal("0")],
                "monthly_savings": [Decimal("0")],
            },
            schema_overrides={c: TOTAL for c in ("invoiced_total", "disputed_total", "monthly_savings")},
        ),
    )


def written(report: CustomerReport, tmp_path: Path, name: str = "report.xlsx") -> Path:
    path = tmp_path / name
    write_workbook(report, path)
    return path


def cents(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def key_figures(ws) -> dict[str, object]:
    """Label -> value of the Summary's key figures block (column A label, column B value)."""
    figures, started = {}, False
    for label, value in ws.iter_rows(min_col=1, max_col=2, values_only=True):
        if label == "Key figures":
            started = True
        elif started and value is None:
            break
        elif started:
            figures[label] = value
    return figures


def summary_table(ws, title: str, first_column: int = 1) -> tuple[list[tuple], tuple]:
    """Body rows and Total row of the Summary table under `title` (in columns A:D, or F:I for first_column=6)."""
    rows = list(ws.iter_rows(min_col=first_column, max_col=first_column + 3, values_only=True))
    start = next(i for i, row in enumerate(rows) if row[0] == title) + 2  # title, header
    end = next(i for i in range(start, len(rows)) if rows[i][0] == "Total")
    return rows[start:end], rows[end]


RIGHT = 6  # the Summary's right half: the type tables under their charts


@pytest.fixture(scope="module")
def sample_path(tmp_path_factory) -> Path:
    return written(sample_report(), tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="module")
def sample(sample_path):
    return openpyxl.load_workbook(sample_path)


def test_sheets_in_order(sample):
    assert sample.sheetnames == SHEETS


def test_summary_key_figures_equal_the_frames_to_the_cent(sample):
    report = sample_report()
    figures = key_figures(sample["Summary"])
    assert figures["Lines on roster"] == 318
    assert figures["Quarantined input rows"] == 7
    assert figures["Invoices"] == 5
    assert figures["Findings"] == report.findings.height == 6
    assert figures["Savings opportunities"] == 4
    assert cents(figures["Invoiced total"]) == sum(report.invoiced["invoiced_total"].to_list()).quantize(CENT)
    disputed = sum(report.findings["disputed_amount"].to_list())
    assert disputed == Decimal("152.1184")
    assert cents(figures["Disputed total"]) == disputed.quantize(CENT)
    assert cents(figures["Monthly savings"]) == sum(report.savings["monthly_savings"].to_list()).quantize(CENT)
    assert cents(figures["Annual savings"]) == sum(report.savings["annual_savings"].to_list()).quantize(CENT)
    # no invoice dates in a report built by hand: 90 days from the end of September
    assert figures["Earliest last day to file a dispute"] == dt.datetime(2026, 12, 29)
    assert cents(figures["Annual savings of the top 4 actions"]) == Decimal("1380.00")
    assert cents(figures["Account-level charges (not on a line)"]) == Decimal("500.00")
    title = sample["Summary"]["A1"].value
    assert "Northwind Freight Ltd" in title
    assert "C042" in sample["Summary"]["A2"].value and "September 2026" in sample["Summary"]["A2"].value


def test_invoiced_by_carrier_and_account(sample):
    rows, total = summary_table(sample["Summary"], "Invoiced by carrier and account")
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("AT&T", "8800-1", 1),
        ("T-Mobile", "TM-5", 1),
        ("Verizon", "0012345", 2),
        ("Verizon", "0012399", 1),
    ]
    assert total[2] == 5
    assert cents(total[3]) == Decimal("17896.84")


def test_disputes_by_carrier_on_the_summary(sample):
    rows, total = summary_table(sample["Summary"], "Disputes to file, by carrier (details: Disputes to file)")
    claims = sample_report().findings.group_by("carrier").agg(pl.col("disputed_amount").sum()).sort("carrier")
    assert [(r[0], r[1], cents(r[2])) for r in rows] == [
        (carrier, 2, cents(amount)) for carrier, amount in claims.iter_rows()
    ]
    assert [r[0] for r in rows] == ["AT&T", "T-Mobile", "Verizon"]
    assert total[1] == 6 and cents(total[2]) == Decimal("152.12")
    assert sample["Summary"]["D21"].number_format == "mm/dd/yyyy"


def test_disputed_by_finding_type_lists_the_types_found_in_words_largest_first(sample):
    report = sample_report()
    rows, total = summary_table(sample["Summary"], "Disputed by finding type", RIGHT)
    assert [r[0] for r in rows] == [
        "Number not on your roster",
        "Same charge billed twice",
        "More usage billed than used",
        "Invoice total above its charges",
        "Plan billed above contract price",
    ]
    amounts = [cents(r[2]) for r in rows]
    assert amounts == sorted(amounts, reverse=True) and all(amounts)
    assert dict((r[0], r[1]) for r in rows)["Plan billed above contract price"] == 2
    assert total[1] == 6
    assert cents(total[2]) == sum(report.findings["disputed_amount"].to_list()).quantize(CENT)
    notes = [r[0] for r in sample["Summary"].iter_rows(min_col=RIGHT, max_col=RIGHT, values_only=True) if r[0]]
    assert "No findings of the other 4 types this month (all of them: Glossary)." in notes


def test_savings_by_type_in_words_largest_first(sample):
    rows, total = summary_table(sample["Summary"], "Savings by type", RIGHT)
    assert [(r[0], r[1], cents(r[2]), cents(r[3])) for r in rows] == [
        ("Cancel line of a departed employee", 1, Decimal("50.00"), Decimal("600.00")),
        ("Cancel unused line", 1, Decimal("50.00"), Decimal("600.00")),
        ("Move to a cheaper plan", 2, Decimal("15.00"), Decimal("180.00")),
    ]  # no row, and so no bar, for UNUSED_FEATURE: nothing to save
    assert (total[1], cents(total[2]), cents(total[3])) == (4, Decimal("115.00"), Decimal("1380.00"))


def test_top_actions_on_the_summary(sample):
    ws = sample["Summary"]
    rows = list(ws.iter_rows(min_col=1, max_col=4, values_only=True))
    start = next(i for i, row in enumerate(rows) if row[0] == "Top 5 savings actions (all of them: Savings)") + 2
    top = rows[start : start + 4]
    assert [r[0] for r in top] == [
        "1. Cancel line of a departed employee",
        "2. Cancel unused line",
        "3. Move to a cheaper plan",
        "4. Move to a cheaper plan",
    ]
    assert [cents(r[3]) for r in top] == [Decimal("600.00"), Decimal("1200.00"), Decimal("1290.00"), Decimal("1380.00")]
    assert rows[start + 4][0] == "The top 4 actions save a year" and cents(rows[start + 4][2]) == Decimal("1380.00")


def chart_values(wb, chart) -> list[list[float]]:
    """The values of each series of a chart, read from the cells it refers to."""
    values = []
    for series in chart.series:
        sheet_name, cells = series.val.numRef.f.split("!")
        ws = wb[sheet_name.strip("'")]
        values.append([c.value for row in ws[cells.replace("$", "")] for c in row])
    return values


def test_charts_draw_no_zeros_and_one_axis_each(sample):
    summary_charts = sample["Summary"]._charts
    assert len(summary_charts) == 2 and all(isinstance(c, BarChart) for c in summary_charts)
    trend_charts = sample["Trend"]._charts
    assert len(trend_charts) == 2 and all(isinstance(c, LineChart) for c in trend_charts)
    for chart in summary_charts + trend_charts:
        for series in chart_values(sample, chart):
            assert series and all(v not in (None, 0) for v in series)
        assert chart.y_axis.crosses != "max"  # no second value axis
    # the disputed chart reads the five type rows of the Summary table, labels in words
    rows = [r[0].value for r in sample["Summary"].iter_rows(min_col=RIGHT, max_col=RIGHT)]
    first = rows.index("Number not on your roster") + 1
    categories = summary_charts[0].series[0].cat.numRef or summary_charts[0].series[0].cat.strRef
    assert categories.f == f"'Summary'!$F${first}:$F${first + 4}"
    assert [len(c.series) for c in trend_charts] == [1, 2]  # invoiced alone; disputed and savings together


FINDINGS_HEADER = [
    "Carrier",
    "Account",
    "Invoice",
    "MSISDN",
    "Employee ID",
    "Finding",
    "Billed",
    "Expected",
    "Disputed",
    "Evidence",
    "Finding type (code)",
    "Charge type",
    "Charge code",
]


def test_findings_sheet(sample):
    ws = sample["Findings"]
    report = sample_report()
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:M7"
    assert [c.value for c in ws[1]] == FINDINGS_HEADER
    assert all(c.font.b for c in ws[1]) and ws["A1"].fill.fgColor.rgb.endswith("1F4E78")
    for row_number, expected in enumerate(report.findings.iter_rows(named=True), start=2):
        got = dict(zip(FINDINGS_HEADER, [c.value for c in ws[row_number]]))
        for header, field in (
            ("Carrier", "carrier"),
            ("Account", "account_number"),
            ("Invoice", "invoice_number"),
            ("MSISDN", "msisdn"),
            ("Employee ID", "employee_id"),
            ("Finding type (code)", "finding_type"),
            ("Charge type", "charge_type"),
            ("Charge code", "charge_code"),
        ):
            assert got[header] == expected[field]
        for header, field in (
            ("Billed", "billed_amount"),
            ("Expected", "expected_amount"),
            ("Disputed", "disputed_amount"),
        ):
            assert (None if got[header] is None else Decimal(str(got[header]))) == expected[field]
        assert all(c.number_format == '"$"#,##0.00' for c in ws[row_number][6:9])
    assert ws["F2"].value == "Number not on your roster" and ws["K2"].value == "UNKNOWN_LINE"
    # evidence: XML special characters kept, a control character Excel cannot hold dropped, wrapped
    assert ws["J4"].value == "Plan BIZ-20 at 25.01 USD costs 20.00 USD <contract> & discount."
    assert ws["J6"].value == "Overage 300 MB\tbilled, 100 MB over the allowance."
    assert ws["J2"].alignment.wrap_text and ws["J2"].alignment.indent == 1  # clear of the amount beside it
    assert ws["A2"].alignment.vertical == ws["I2"].alignment.vertical == "top"  # beside tall wrapped evidence
    assert ws.row_dimensions[2].height == 45  # three lines of evidence: LibreOffice would not grow the row itself
    assert ws.row_dimensions[3].height == 30  # "Same charge billed twice" wraps in its column
    assert ws.column_dimensions["J"].width == 50 > ws.column_dimensions["A"].width
    assert ws["D7"].value is None  # the invoice-level finding has no line
    assert ws["B2"].value == "0012345"  # account numbers stay text
    assert ws.print_area == "'Findings'!$A$1:$J$7"  # the code columns are for filters, not for paper


def test_savings_sheet_ranks_by_annual_amount_with_a_running_total(sample):
    ws = sample["Savings"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:M5"
    header = [c.value for c in ws[1]]
    assert header[:2] == ["Rank", "Action"] and header[-4:] == [
        "Annual savings",
        "Cumulative annual",
        "Rationale",
        "Savings type (code)",
    ]
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    annual = [Decimal(str(r[9])) for r in rows]
    assert annual == sorted(annual, reverse=True)
    running = Decimal(0)
    for r, amount in zip(rows, annual):
        running += amount
        assert cents(r[10]) == running
    assert cents(rows[-1][10]) == Decimal("1380.00")  # the total of savings.csv
    assert rows[0][1] == "Cancel line of a departed employee" and rows[0][12] == "TERMINATED_EMPLOYEE_LINE"
    assert [r[12] for r in rows[2:]] == ["PLAN_RIGHTSIZE"] * 2 and rows[2][6] == "BIZ-10"
    assert ws["I2"].value == 50 and ws["J2"].value == 600
    assert ws["I2"].number_format == ws["J2"].number_format == ws["K2"].number_format == '"$"#,##0.00'
    assert ws["L2"].value.startswith("Employee E200 left")
    assert ws.print_area == "'Savings'!$A$1:$L$5"


def test_disputes_sheet_blocks_per_carrier_account_and_invoice(sample):
    ws = sample["Disputes to file"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == (
        "Invoice",
        "Invoice date",
        "Last day to file",
        "MSISDN",
        "Finding",
        "Charge",
        "Billed",
        "To claim",
        "Evidence",
    )
    headings = [r[0] for r in rows if isinstance(r[0], str) and r[7] is not None and ": " in r[0]]
    assert headings[:3] == [
        "AT&T: 1 invoice, 2 findings",
        "Account 8800-1: 1 invoice, 2 findings",
        "T-Mobile: 1 invoice, 2 findings",
    ]
    by_heading = {r[0]: r[7] for r in rows if r[0]}
    assert Decimal(str(by_heading["AT&T: 1 invoice, 2 findings"])) == Decimal("7.005")  # 5.005 + 2.00
    assert cents(by_heading["Verizon: 1 invoice, 2 findings"]) == Decimal("114.99")
    invoice = next(r for r in rows if r[0] == "VZ-9001")
    assert invoice[1] is None and invoice[2] == dt.datetime(2026, 12, 29) and invoice[4] == "2 findings"
    assert "No invoice date" in invoice[8]
    grand = next(r for r in rows if r[0] and str(r[0]).startswith("Total to claim"))
    assert grand[0] == "Total to claim: 6 findings on 3 invoices" and cents(grand[7]) == Decimal("152.12")
    claimed = [Decimal(str(r[7])) for r in rows if r[0] is None and r[7] is not None]  # the finding rows
    assert sum(claimed).quantize(CENT) == Decimal("152.12") and len(claimed) == 6
    deadline = next(c for c in ws["C"] if c.value == dt.datetime(2026, 12, 29))
    assert deadline.number_format == "mm/dd/yyyy" and deadline.font.b


def test_cost_allocation_names_what_is_not_line_level(sample):
    ws = sample["Cost allocation"]
    assert ws.freeze_panes == "A2"
    tables = ws.tables
    assert sorted(tables) == ["CostCenters", "Departments"]
    assert tables["CostCenters"].ref == "A1:D5" and tables["Departments"].ref == "F1:I4"
    assert [c.name for c in tables["CostCenters"].tableColumns] == ["Cost center", "Lines", "Billed total", "Share"]
    assert ws["A4"].value == "(no cost center on the roster)" and ws["B4"].value == 8
    assert ws["A5"].value == "Account-level: equipment, taxes, surcharges, fees" and ws["B5"].value is None
    assert ws["A6"].value == "Total" and ws["B6"].value == 318 and cents(ws["C6"].value) == Decimal("17896.84")
    assert ws["F5"].value == "Total" and cents(ws["H5"].value) == Decimal("17896.84")
    assert ws["C2"].number_format == '"$"#,##0.00' and ws["D2"].number_format == "0%"
    rows = list(ws.iter_rows(min_row=8, max_col=4, values_only=True))
    start = next(i for i, r in enumerate(rows) if r[0] == "Account-level charges by type") + 3
    assert [(r[0], r[1], cents(r[2])) for r in rows[start : start + 4]] == [
        ("Equipment", 2, Decimal("450.00")),
        ("Taxes", 3, Decimal("75.00")),
        ("Credits", 1, Decimal("-25.00")),
        ("Total", 6, Decimal("500.00")),
    ]


def test_trend(sample):
    ws = sample["Trend"]
    assert ws.freeze_panes == "A2"
    rows = list(ws.iter_rows(min_row=1, max_col=4, values_only=True))
    assert rows[0] == ("Month", "Invoiced", "Disputed", "Monthly savings")
    assert [r[0] for r in rows[1:]] == [dt.datetime(2026, m, 1) for m in (6, 7, 8, 9)]  # real dates
    assert ws["A2"].number_format == "mmm yyyy"
    assert cents(rows[4][2]) == Decimal("152.12")
    assert ws["B2"].number_format == '"$"#,##0.00'


def test_glossary_explains_every_type_and_keeps_its_code(sample):
    from reports.workbook.labels import FINDING_LABELS, SAVINGS_LABELS

    rows = {r[1]: (r[0], r[2]) for r in sample["Glossary"].iter_rows(values_only=True) if r[1]}
    for code, (label, meaning) in {**FINDING_LABELS, **SAVINGS_LABELS}.items():
        assert rows[code] == (label, meaning)


def test_every_sheet_prints_landscape_with_header_footer_and_titles(sample):
    for ws in sample.worksheets:
        assert ws.page_setup.orientation == "landscape", ws.title
        assert int(ws.page_setup.paperSize) == 1  # US customer: Letter
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1, ws.title
        assert ws.page_setup.fitToHeight == 0, ws.title
        header, footer = ws.oddHeader, ws.oddFooter
        assert "Northwind Freight Ltd" in header.left.text and "September 2026" in header.left.text, ws.title
        assert header.right.text == "&A"
        assert footer.left.text == "C042 · 2026-09 · amounts in USD" and footer.right.text == "Page &P of &N"
        if ws.title != "Summary":
            assert ws.print_title_rows == "$1:$1", ws.title  # the header row on every page
    assert sample["Findings"].column_dimensions["J"].width <= 60  # wrapped evidence at a readable width


def test_headers_and_footers_escape_an_ampersand(tmp_path):
    wb = openpyxl.load_workbook(written(sample_report(customer_name="Smith & Sons", region="GB"), tmp_path))
    ws = wb["Findings"]
    assert ws.oddHeader.left.text.startswith("&BSmith && Sons&B")
    assert int(ws.page_setup.paperSize) == 9  # A4 outside North America


@pytest.mark.parametrize("region, date_format", [("US", "mm/dd/yyyy"), ("GB", "dd/mm/yyyy"), ("DE", "dd/mm/yyyy")])
def test_dates_are_date_cells_in_the_region_order(tmp_path, region, date_format):
    wb = openpyxl.load_workbook(written(sample_report(region=region), tmp_path))
    cell = next(c for c in wb["Disputes to file"]["C"] if isinstance(c.value, dt.datetime))
    assert cell.number_format == date_format and cell.is_date
    figure = next(
        r[1]
        for r in wb["Summary"].iter_rows(min_col=1, max_col=2)
        if r[0].value == "Earliest last day to file a dispute"
    )
    assert figure.number_format == date_format and figure.value == dt.datetime(2026, 12, 29)


@pytest.mark.parametrize(
    "currency, region, number_format",
    [
        ("USD", "US", '"$"#,##0.00'),
        ("EUR", "IE", '"€"#,##0.00'),
        ("EUR", "DE", '#,##0.00" €"'),
        ("GBP", "GB", '"£"#,##0.00'),
        ("CHF", "CH", '#,##0.00" CHF"'),
    ],
)
def test_currency_formats(tmp_path, currency, region, number_format):
    assert currency_format(currency, region) == number_format
    wb = openpyxl.load_workbook(written(sample_report(currency=currency, region=region), tmp_path))
    summary = wb["Summary"]
    disputed_row = next(r for r in summary.iter_rows(min_col=1, max_col=2) if r[0].value == "Disputed total")
    assert disputed_row[1].number_format == number_format
    assert wb["Findings"]["I2"].number_format == number_format
    assert wb["Savings"]["I2"].number_format == number_format
    assert wb["Trend"]["D2"].number_format == number_format
    assert next(c for c in wb["Disputes to file"]["H"] if isinstance(c.value, float)).number_format == number_format


def test_same_report_gives_the_same_bytes(tmp_path):
    first = written(sample_report(), tmp_path, "first.xlsx")
    time.sleep(2.1)  # zip entries and docProps/core.xml hold times to the second (zip: two seconds)
    second = written(sample_report(), tmp_path, "second.xlsx")
    assert hashlib.sha256(first.read_bytes()).hexdigest() == hashlib.sha256(second.read_bytes()).hexdigest()
    stamp = document_time("2026-09")
    with zipfile.ZipFile(first) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2026, 10, 1, 0, 0, 0)}
    properties = openpyxl.load_workbook(first).properties
    assert properties.created == properties.modified == stamp


def test_document_time_is_the_first_of_the_next_month():
    assert document_time("2026-09").isoformat() == "2026-10-01T00:00:00"
    assert document_time("2026-12").isoformat() == "2027-01-01T00:00:00"


def test_empty_report_still_has_every_sheet(tmp_path):
    wb = openpyxl.load_workbook(written(empty_report(), tmp_path))
    assert wb.sheetnames == SHEETS
    summary = wb["Summary"]
    notes = [r[0] for r in summary.iter_rows(min_col=1, max_col=1, values_only=True) if r[0]]
    assert any(str(n).startswith("No findings this month") for n in notes)
    assert any(str(n).startswith("No savings opportunities this month") for n in notes)
    figures = key_figures(summary)
    assert figures["Findings"] == 0 and figures["Disputed total"] == 0 and figures["Annual savings"] == 0
    rows, total = summary_table(summary, "Disputed by finding type", RIGHT)
    assert rows == [] and total[1] == 0
    # nothing but zeros: no chart at all
    assert summary._charts == [] and wb["Trend"]._charts == []
    for name, first in (("Findings", "Carrier"), ("Savings", "Rank")):
        ws = wb[name]
        assert ws.max_row == 1 and ws["A1"].value == first
        assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:M1"
    disputes = [r[0] for r in wb["Disputes to file"].iter_rows(values_only=True) if r[0]]
    assert disputes[-1] == "No findings this month: nothing to dispute."
    allocation = wb["Cost allocation"]
    assert allocation.tables["CostCenters"].ref == "A1:D2"  # an Excel table keeps one (blank) data row
    assert allocation["A3"].value == "Total" and allocation["B3"].value == 0


def test_finding_types_beyond_the_nine_still_add_up(tmp_path):
    report = sample_report()
    odd = report.findings.head(1).with_columns(pl.lit("NEW_RULE").alias("finding_type"))
    wb = openpyxl.load_workbook(written(sample_report(findings=pl.concat([report.findings, odd])), tmp_path))
    rows, total = summary_table(wb["Summary"], "Disputed by finding type", RIGHT)
    assert "New rule" in [r[0] for r in rows]
    assert total[1] == 7 and cents(sum(Decimal(str(r[2])) for r in rows)) == cents(total[2])
    assert wb["Findings"]["F8"].value == "New rule" and wb["Findings"]["K8"].value == "NEW_RULE"


def test_awkward_names_one_allocation_and_no_trend_months(tmp_path):
    report = sample_report(
        customer_name="Smith & Sons <UK>\x01",
        cost_allocation=sample_report().cost_allocation.filter(pl.col("dimension") == "department"),
        trend=sample_report().trend.head(0),
    )
    wb = openpyxl.load_workbook(written(report, tmp_path))
    assert wb["Summary"]["A1"].value == "Telecom expense report: Smith & Sons <UK>"
    assert wb.properties.title.startswith("Smith & Sons <UK>:")
    assert wb["Cost allocation"].tables["CostCenters"].ref == "A1:D2"
    assert wb["Trend"]._charts == [] and wb["Trend"].max_row == 1


def test_rejects_reports_of_the_wrong_shape(tmp_path):
    with pytest.raises(ValueError, match="billing_month"):
        write_workbook(sample_report(billing_month="2026-9"), tmp_path / "x.xlsx")
    with pytest.raises(TypeError, match="findings.disputed_amount"):
        report = sample_report()
        write_workbook(
            sample_report(findings=report.findings.with_columns(pl.col("disputed_amount").cast(pl.Float64))),
            tmp_path / "x.xlsx",
        )
    with pytest.raises(ValueError, match="missing column"):
        write_workbook(sample_report(savings=sample_report().savings.drop("rationale")), tmp_path / "x.xlsx")
    assert not list(tmp_path.iterdir())


def test_text_starting_with_an_equals_sign_stays_text(tmp_path):
    report = sample_report()
    evil = report.findings.head(1).with_columns(pl.lit('=HYPERLINK("http://x.example","y")').alias("evidence"))
    allocation = report.cost_allocation.with_columns(
        pl.when(pl.col("name") == "Sales").then(pl.lit("=SUM(B2:B3)")).otherwise(pl.col("name")).alias("name")
    )
    path = written(sample_report(findings=evil, cost_allocation=allocation), tmp_path)
    wb = openpyxl.load_workbook(path)
    assert wb["Findings"]["J2"].value == '=HYPERLINK("http://x.example","y")'
    assert wb["Findings"]["J2"].data_type == "s"
    evidence = next(c for c in wb["Disputes to file"]["I"] if c.value and str(c.value).startswith("="))
    assert evidence.data_type == "s"
    assert wb["Cost allocation"]["F2"].value == "=SUM(B2:B3)"
    assert wb["Cost allocation"]["F2"].data_type == "s"
    with zipfile.ZipFile(path) as archive:
        assert not any(b"<f>" in archive.read(name) for name in archive.namelist() if name.startswith("xl/worksheets/"))


# 50,000 findings and 12,500 savings (~656,000 styled cells through openpyxl's write-only API) took 21-39 s,
# typically 25-33 s, on the 2-core development machine while other work shared it (openpyxl 3.1.5, lxml 6.1.3;
# about as long without lxml). With the Disputes to file sheet (each finding again, under its invoice's row) and the
# label, code, rank and cumulative columns (~1.5 million cells) it took 38 s on the same shared machine. The limit is
# about twice that: it catches a real slow-down, not a busy machine.
LARGE_REPORT_SECONDS = 75


def test_fifty_thousand_findings_and_twelve_thousand_savings_write_in_time(tmp_path):
    findings, savings = sample_report().findings, sample_report().savings
    many = pl.concat([findings] * (50_000 // findings.height + 1)).head(50_000)
    many = many.with_columns(pl.format("INV-{}", pl.int_range(pl.len())).alias("invoice_number"))
    more_savings = pl.concat([savings] * (12_500 // savings.height))
    started = time.perf_counter()
    path = written(sample_report(findings=many, savings=more_savings), tmp_path)
    elapsed = time.perf_counter() - started
    assert elapsed < LARGE_REPORT_SECONDS, f"50,000 findings and 12,500 savings took {elapsed:.1f} s"
    with zipfile.ZipFile(path) as archive:
        disputes_sheet = archive.read("xl/worksheets/sheet2.xml")
        savings_sheet = archive.read("xl/worksheets/sheet3.xml")
        findings_sheet = archive.read("xl/worksheets/sheet4.xml")
    assert b'<autoFilter ref="A1:M50001"' in findings_sheet
    assert findings_sheet.count(b"<row ") == 50_001 and b'<row r="50001"' in findings_sheet
    assert b"INV-49999" in findings_sheet and b"INV-49999" in disputes_sheet
    assert b'<autoFilter ref="A1:M12501"' in savings_sheet
    assert savings_sheet.count(b"<row ") == 12_501 and b'<row r="12501"' in savings_sheet
