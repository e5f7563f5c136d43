"""Tests of the sample data generator and of its ground-truth oracle."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import time
from collections import Counter
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import phonenumbers
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook

from reports.sample_generator import (
    ALBION,
    BILLING_MONTH_KEYS,
    FINDING_COLUMNS,
    FINDING_TYPES,
    INVOICE_KINDS,
    NORTHWIND,
    QUARANTINE_REASONS,
    ROSTER_KINDS,
    SAVINGS_COLUMNS,
    SAVINGS_TYPES,
    USAGE_KINDS,
    Charge,
    Invoice,
    MeasuredUsage,
    RosterEntry,
    Tariff,
    audit_invoice,
    recommend_savings,
    write_sample_data,
)

REGIONS = {"globex": "US", "initech-uk": "GB", "umbrella-de": "DE"}
D = Decimal


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    return root, write_sample_data(root)


def file_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def read_table(path: Path) -> tuple[list[str], list[list]]:
    """Headers (trimmed, lower case, as the contract matches them) and raw data rows."""
    if path.suffix == ".csv":
        rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
        header, data = rows[0], rows[1:]
    elif path.suffix == ".xlsx":
        sheet = load_workbook(path, read_only=True).worksheets[0]
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        header, data = rows[0], rows[1:]
    else:
        table = pq.read_table(path)
        header, data = table.column_names, [list(r.values()) for r in table.to_pylist()]
    return [h.strip().lower() for h in header], data


def column(path: Path, name: str) -> list:
    header, rows = read_table(path)
    return [row[header.index(name)] for row in rows]


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def expected_rows(root: Path, name: str) -> list[dict]:
    return [row for path in sorted((root / "expected").glob(f"*/*/{name}")) for row in read_csv(path)]


def parse_date(value, region: str) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    for pattern in ("%Y-%m-%d", "%m/%d/%Y" if region == "US" else "%d/%m/%Y"):
        try:
            return datetime.strptime(str(value), pattern).date()
        except ValueError:
            pass
    return None


def parse_decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return D(str(value).replace(",", ""))
    except InvalidOperation:
        return None


def valid_phone(value, region: str) -> bool:
    try:
        number = phonenumbers.parse(str(value), region)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number_for_region(number, region)


def e164(value, region: str) -> str:
    return phonenumbers.format_number(phonenumbers.parse(str(value), region), phonenumbers.PhoneNumberFormat.E164)


def quarantined(root: Path) -> set[tuple[str, int]]:
    """(path under root, row) of every expected quarantine row."""
    rows = set()
    for path in (root / "expected").glob("*/*/quarantine.csv"):
        customer, month = path.parent.parent.name, path.parent.name
        for row in read_csv(path):
            rows.add((f"inbox/{customer}/{month}/{row['file']}", int(row["row"])))
    return rows


def inbox_files(root: Path, pattern: str) -> list[Path]:
    return sorted((root / "inbox").glob(pattern))


# --------------------------------------------------------------------------- determinism and layout


def test_same_seed_gives_identical_files_and_another_seed_does_not(sample, tmp_path):
    root, _ = sample
    again = write_sample_data(tmp_path / "again")
    assert file_hashes(root) == file_hashes(again.root)
    other = write_sample_data(tmp_path / "other", seed=7)
    first, second = file_hashes(root), file_hashes(other.root)
    roster = "inbox/globex/2026-06/roster.csv"
    assert first[roster] != second[roster]
    assert sum(first[p] != second.get(p) for p in first) > len(first) // 2


def test_rerun_replaces_customer_folders_and_keeps_the_rest(sample, tmp_path):
    root = tmp_path / "data"
    write_sample_data(root)
    (root / ".dagster").mkdir()
    (root / ".dagster" / "runs.db").write_text("keep")
    (root / "published" / "globex").mkdir(parents=True)
    (root / "published" / "globex" / "report.xlsx").write_text("keep")
    stale = root / "inbox" / "globex" / "2026-05" / "roster.csv"
    stale.parent.mkdir()
    stale.write_text("stale")
    write_sample_data(root)
    assert not stale.exists()
    assert (root / ".dagster" / "runs.db").read_text() == "keep"
    assert (root / "published" / "globex" / "report.xlsx").read_text() == "keep"
    regenerated = {p: h for p, h in file_hashes(root).items() if not p.startswith((".dagster", "published"))}
    assert regenerated == file_hashes(sample[0])


def test_layout_follows_the_data_contract(sample):
    root, summary = sample
    assert summary.customers == ("globex", "initech-uk", "umbrella-de")
    assert summary.months == BILLING_MONTH_KEYS
    for customer in summary.customers:
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,62}", customer)
        assert (root / "customers" / customer / "customer.yaml").is_file()
        for month in BILLING_MONTH_KEYS:
            inbox = root / "inbox" / customer / month
            assert len(list(inbox.glob("roster.*"))) == 1
            assert list(inbox.glob("invoices/*.csv")) + list(inbox.glob("invoices/*.xlsx"))
            assert list(inbox.glob("usage/*.csv")) + list(inbox.glob("usage/*.parquet"))
            for name in ("quarantine.csv", "findings.csv", "savings.csv"):
                assert (root / "expected" / customer / month / name).is_file()
    assert len(list((root / "inbox" / "globex" / "2026-07" / "invoices").iterdir())) == 3
    written = {f.path for f in summary.files}
    assert written == set(file_hashes(root))


def test_describe_is_short_and_has_no_identifiers(sample):
    _, summary = sample
    text = summary.describe()
    assert 2 <= len(text.splitlines()) <= 6
    assert "@" not in text and not re.search(r"\+\d{6,}|E\d{5}", text)


# --------------------------------------------------------------------------- format variants


def test_every_text_encoding_variant_is_present(sample):
    root, _ = sample
    csvs = [p.read_bytes() for p in inbox_files(root, "*/*/**/*.csv")]
    assert any(b.startswith(b"\xef\xbb\xbf") for b in csvs)
    assert any(not b.startswith(b"\xef\xbb\xbf") for b in csvs)
    assert any(b"\r\n" in b for b in csvs)
    assert any(b"\n" in b and b"\r\n" not in b for b in csvs)
    thousands = re.compile(rb'"-?\d{1,3}(,\d{3})+\.\d{2}"')
    assert any(thousands.search(b) for b in csvs)
    assert {p.suffix for p in inbox_files(root, "*/*/roster.*")} == {".csv", ".xlsx"}
    assert {p.suffix for p in inbox_files(root, "*/*/invoices/*")} == {".csv", ".xlsx"}
    assert {p.suffix for p in inbox_files(root, "*/*/usage/*")} == {".csv", ".parquet"}


def test_parquet_usage_is_typed_with_float_and_decimal_numbers(sample):
    root, _ = sample
    schemas = [pq.read_schema(p) for p in inbox_files(root, "*/*/usage/*.parquet")]
    assert all(s.field("date").type == pa.date32() for s in schemas)
    number_types = {s.field("data_mb").type for s in schemas}
    assert pa.float64() in number_types and pa.decimal128(12, 3) in number_types


def test_dates_are_written_iso_regional_and_as_excel_cells(sample):
    root, _ = sample

    def texts(customer):
        return b"".join(p.read_bytes() for p in inbox_files(root, f"{customer}/*/**/*.csv"))

    assert re.search(rb"\b2026-0[6-9]-\d\d\b", texts("globex"))
    assert re.search(rb"\b(0[1-9]|1[0-2])/(1[3-9]|2\d|3[01])/2026\b", texts("globex"))  # MM/DD/YYYY
    for customer in ("initech-uk", "umbrella-de"):
        assert re.search(rb"\b(1[3-9]|2\d|3[01])/(0[1-9]|1[0-2])/2026\b", texts(customer))  # DD/MM/YYYY
    dates = column(root / "inbox" / "globex" / "2026-07" / "roster.xlsx", "line_status_date")
    assert sum(isinstance(d, datetime) for d in dates) > len(dates) // 2


def test_header_variants_are_present(sample):
    root, _ = sample
    raw_headers = []
    for path in inbox_files(root, "*/*/**/*.*"):
        if path.suffix == ".csv":
            raw_headers.append(next(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig")))))
        elif path.suffix == ".xlsx":
            raw_headers.append([c.value for c in next(load_workbook(path).worksheets[0].iter_rows())])
    spelled = {h for header in raw_headers for h in header}
    assert {"MSISDN", " Plan_Code ", "Internal Note"} <= spelled
    contract_orders = [list(ROSTER_KINDS), list(INVOICE_KINDS), list(USAGE_KINDS)]
    normalised = [[h.strip().lower() for h in header if h != "Internal Note"] for header in raw_headers]
    assert any(
        header not in contract_orders and sorted(header) in [sorted(o) for o in contract_orders]
        for header in normalised
    )


def test_phone_numbers_come_in_every_format_and_need_normalising(sample):
    root, _ = sample
    patterns = {
        "globex": [r"\+1\d{10}", r"\(\d{3}\) \d{3}-\d{4}", r"\d{3}\.\d{3}\.\d{4}", r"\+1 \d{3} \d{3} \d{4}"],
        "initech-uk": [r"\+447\d{9}", r"07\d{3} \d{6}", r"\+44 7\d{3} \d{6}"],
        "umbrella-de": [r"\+491\d{10}", r"01\d{2} \d{8}", r"\+49 1\d{2} \d{8}"],
    }
    for customer, formats in patterns.items():
        written = set()
        for path in inbox_files(root, f"{customer}/*/**/*.*"):
            written.update(str(v) for v in column(path, "msisdn") if v)
        for pattern in formats:
            assert any(re.fullmatch(pattern, value) for value in written), (customer, pattern)
    # One line, three spellings: roster, invoice and usage disagree in format but not in number.
    month = root / "inbox" / "globex" / "2026-07"
    roster = {e164(v, "US"): v for v in column(month / "roster.xlsx", "msisdn") if valid_phone(v, "US")}
    invoice = {}
    for path in (month / "invoices").iterdir():
        invoice.update({e164(v, "US"): v for v in column(path, "msisdn") if v and valid_phone(v, "US")})
    assert sum(roster[n] != invoice[n] for n in invoice if n in roster) > 5


# --------------------------------------------------------------------------- content


def test_roster_phone_numbers_are_valid_for_the_customer_region(sample):
    root, _ = sample
    bad = quarantined(root)
    for path in inbox_files(root, "*/*/roster.*"):
        region = REGIONS[path.parent.parent.name]
        relative = path.relative_to(root).as_posix()
        for row_number, value in enumerate(column(path, "msisdn"), start=2):
            if (relative, row_number) not in bad:
                assert valid_phone(value, region), (relative, row_number, value)


def test_roster_rows_are_complete_and_realistic(sample):
    root, _ = sample
    path = root / "inbox" / "globex" / "2026-06" / "roster.csv"
    header, rows = read_table(path)
    assert len(header) == 21
    bad = quarantined(root)
    records = [
        dict(zip(header, row))
        for n, row in enumerate(rows, start=2)
        if (path.relative_to(root).as_posix(), n) not in bad
    ]
    users = [r for r in records if r["employee_id"]]
    devices = [r for r in records if not r["employee_id"]]
    assert users and devices
    assert all(re.fullmatch(r"E\d{5,}", r["employee_id"]) for r in users)
    assert all(r["email"].endswith("@globex.example") for r in users)
    assert all(not r["employment_status"] and not r["first_name"] for r in devices)
    assert all(re.fullmatch(r"\d{15}", r["imei"]) and luhn_valid(r["imei"]) for r in records)
    statuses = Counter(r["line_status"] for r in all_roster_rows(root))
    assert statuses["cancelled"] and statuses["suspended"] and statuses["active"]


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(int(d) for d in reversed(digits)):
        total += digit if position % 2 == 0 else (digit * 2 - 9 if digit > 4 else digit * 2)
    return total % 10 == 0


def all_roster_rows(root: Path) -> list[dict]:
    rows = []
    for path in inbox_files(root, "*/*/roster.*"):
        header, data = read_table(path)
        rows += [dict(zip(header, r)) for r in data]
    return rows


def test_quarantine_ground_truth_points_at_one_bad_cell(sample):
    root, _ = sample
    reasons = Counter()
    for expected in sorted((root / "expected").glob("*/*/quarantine.csv")):
        customer, month = expected.parent.parent.name, expected.parent.name
        region = REGIONS[customer]
        first_day = date.fromisoformat(f"{month}-01")
        for item in read_csv(expected):
            header, rows = read_table(root / "inbox" / customer / month / item["file"])
            value = rows[int(item["row"]) - 2][header.index(item["column"])]
            reason = item["reason_code"]
            reasons[reason] += 1
            if reason == "bad_date":
                assert parse_date(value, region) is None, item
            elif reason == "date_outside_month":
                day = parse_date(value, region)
                assert day and (day.year, day.month) != (first_day.year, first_day.month), item
            elif reason == "bad_number":
                assert parse_decimal(value) is None, item
            elif reason == "negative":
                assert parse_decimal(value) < 0, item
            elif reason == "not_integer":
                assert parse_decimal(value) != parse_decimal(value).to_integral_value(), item
            elif reason == "bad_phone":
                try:
                    number = phonenumbers.parse(str(value), region)
                    assert not phonenumbers.is_valid_number(number), item
                except phonenumbers.NumberParseException:
                    pass
            elif reason == "bad_imei":
                assert not re.fullmatch(r"\d{15}", str(value)), item
            elif reason == "bad_id":
                assert not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,62}", str(value)), item
            elif reason == "bad_enum":
                assert value not in (
                    "active",
                    "suspended",
                    "cancelled",
                    "on_leave",
                    "terminated",
                    "true",
                    "false",
                    "yes",
                    "no",
                    "1",
                    "0",
                    "plan",
                    "feature",
                    "tax",
                ), item
    assert set(reasons) == set(QUARANTINE_REASONS)


def test_invoice_totals_match_the_valid_rows_unless_a_mismatch_is_planted(sample):
    root, _ = sample
    bad = quarantined(root)
    mismatched = {
        (r["customer_id"], r["invoice_number"]): D(r["disputed_amount"])
        for r in expected_rows(root, "findings.csv")
        if r["finding_type"] == "INVOICE_TOTAL_MISMATCH"
    }
    checked = 0
    for path in inbox_files(root, "*/*/invoices/*"):
        header, rows = read_table(path)
        relative = path.relative_to(root).as_posix()
        valid = [dict(zip(header, r)) for n, r in enumerate(rows, start=2) if (relative, n) not in bad]
        charged = sum(parse_decimal(r["amount"]) for r in valid)
        stated = {parse_decimal(r["invoice_total"]) for r in valid}
        assert len(stated) == 1
        customer = path.parts[-4]
        difference = stated.pop() - charged
        overstatement = mismatched.get((customer, valid[0]["invoice_number"]))
        if overstatement is None:  # at most the one-cent near miss, which is no finding
            assert D(0) <= difference <= D("0.01"), relative
        else:
            assert difference == overstatement, relative
        checked += 1
    assert checked == 20


def test_every_finding_and_savings_type_is_planted(sample):
    root, summary = sample
    findings = expected_rows(root, "findings.csv")
    assert list(findings[0]) == list(FINDING_COLUMNS)
    counts = Counter(r["finding_type"] for r in findings)
    assert all(counts[t] >= 2 for t in FINDING_TYPES), counts
    overbilled = {r["charge_type"].split("_")[0] for r in findings if r["finding_type"] == "USAGE_OVERBILLED"}
    assert overbilled == {"overage", "roaming"}
    assert all(
        D(r["billed_amount"]) - D(r["expected_amount"]) == D(r["disputed_amount"]) >= D("0.01") for r in findings
    )
    savings = expected_rows(root, "savings.csv")
    assert list(savings[0]) == list(SAVINGS_COLUMNS)
    assert {r["savings_type"] for r in savings} == set(SAVINGS_TYPES)
    assert {r["billing_month"] for r in savings if r["savings_type"] != "TERMINATED_EMPLOYEE_LINE"} == {
        "2026-08",
        "2026-09",
    }
    assert all(D(r["annual_savings"]) == 12 * D(r["monthly_savings"]) for r in savings)
    assert summary.findings == len(findings) and summary.savings == len(savings)
    assert summary.quarantined_rows == len(expected_rows(root, "quarantine.csv"))


def test_one_line_level_saving_per_line_and_priority(sample):
    root, _ = sample
    per_line = Counter()
    kinds: dict[tuple, set] = {}
    for r in expected_rows(root, "savings.csv"):
        key = (r["customer_id"], r["billing_month"], r["msisdn"])
        kinds.setdefault(key, set()).add(r["savings_type"])
        if r["savings_type"] != "UNUSED_FEATURE":
            per_line[key] += 1
    assert max(per_line.values()) == 1
    for found in kinds.values():
        if "UNUSED_FEATURE" in found:
            assert not found & {"TERMINATED_EMPLOYEE_LINE", "ZERO_USAGE_LINE"}


# --------------------------------------------------------------------------- benchmark size


def test_lines_option_scales_the_benchmark_customer(tmp_path):
    started = time.monotonic()
    summary = write_sample_data(tmp_path, lines=2000)
    elapsed = time.monotonic() - started
    roster_rows = {tuple(Path(f.path).parts[1:3]): f.rows for f in summary.files_of("roster")}
    for month in BILLING_MONTH_KEYS:
        assert 2000 <= roster_rows["globex", month] <= 2200
    assert roster_rows["initech-uk", "2026-06"] < 40
    assert summary.usage_rows > 150_000
    assert elapsed < 30


def test_too_few_lines_are_refused(tmp_path):
    with pytest.raises(ValueError, match="too small"):
        write_sample_data(tmp_path, lines=10)


# --------------------------------------------------------------------------- the oracle on hand-made cases

PERIOD = date(2026, 7, 1)
LINE = "+14155550101"


def roster_line(**changes) -> dict[str, RosterEntry]:
    entry = dict(
        carrier="northwind-mobile",
        plan_code="NW-BIZ-2GB",
        features=("NW-INTL",),
        line_status="active",
        line_status_date=date(2025, 1, 1),
        employee_id="E10001",
        employment_status="active",
        termination_date=None,
    )
    entry.update(changes)
    return {LINE: RosterEntry(**entry)}


def audit(charges, roster=None, usage=None, stated=None):
    total = sum((c.amount for c in charges), D(0)) if stated is None else stated
    invoice = Invoice("INV-1", "northwind-mobile", "NW-1", PERIOD, total, tuple(charges))
    measured = usage or MeasuredUsage()
    return [
        (f.finding_type, f.disputed_amount)
        for f in audit_invoice(
            invoice,
            NORTHWIND,
            roster_line() if roster is None else roster,
            lambda msisdn: measured,
            customer_id="globex",
            billing_month="2026-07",
            currency="USD",
        )
    ]


def charge(charge_type, code, amount, quantity=None, rate=None, msisdn=LINE):
    return Charge(
        msisdn,
        charge_type,
        code,
        None if quantity is None else D(quantity),
        None if rate is None else D(rate),
        D(amount),
    )


def test_fee_is_rounded_half_up():
    northwind, albion = Tariff(NORTHWIND), Tariff(ALBION)
    assert northwind.fee(northwind.plan("NW-BIZ-2GB")) == D("21.25")
    assert albion.fee(albion.plan("AT-IOT-1GB")) == D("11.03")  # 11.025, half-even would give 11.02


def test_clean_invoice_has_no_findings():
    usage = MeasuredUsage(voice=D("510.5"), data=D("3000"))
    charges = [
        charge("plan", "NW-BIZ-2GB", "21.25"),
        charge("feature", "NW-INTL", "10.00"),
        charge("overage_voice", "OVG-VOICE", "1.05", "10.5", "0.10"),
        charge("overage_data", "OVG-DATA", "14.28", "952", "0.015"),
        charge("tax", "TAX", "3.00", msisdn=None),
    ]
    assert audit(charges, usage=usage) == []


@pytest.mark.parametrize("amount, findings", [("21.26", []), ("21.27", [("PLAN_RATE_MISMATCH", D("0.02"))])])
def test_plan_rate_slack_is_one_cent(amount, findings):
    assert audit([charge("plan", "NW-BIZ-2GB", amount)]) == findings


@pytest.mark.parametrize(
    "quantity, findings",
    [
        ("1012.000", []),  # expected 952 + 2 % of 3000 = 1012: not more than that
        ("1012.001", [("USAGE_OVERBILLED", D("0.90"))]),  # 15.18 billed, round(0.015 x 952) = 14.28 expected
    ],
)
def test_usage_tolerance_is_two_percent_of_measured_usage(quantity, findings):
    amount = (D("0.015") * D(quantity)).quantize(D("0.01"))
    result = audit([charge("overage_data", "OVG-DATA", amount, quantity, "0.015")], usage=MeasuredUsage(data=D("3000")))
    assert result == findings


def test_duplicate_with_a_wrong_first_rate_gives_two_findings():
    charges = [
        charge("plan", "NW-BIZ-2GB", "28.75"),
        charge("feature", "NW-INTL", "10.00"),
        charge("plan", "NW-BIZ-2GB", "28.75"),
    ]
    assert audit(charges) == [("DUPLICATE_CHARGE", D("28.75")), ("PLAN_RATE_MISMATCH", D("7.50"))]


def test_whole_line_findings_consume_all_its_charges():
    charges = [charge("plan", "NW-BIZ-UNL", "99.00"), charge("feature", "NW-INTL", "10.00")]
    cancelled = roster_line(line_status="cancelled", line_status_date=date(2026, 6, 30))
    assert audit(charges, roster=cancelled) == [("CANCELLED_LINE_BILLED", D("109.00"))]
    on_the_first = roster_line(line_status="cancelled", line_status_date=PERIOD)
    assert [f for f, _ in audit(charges, roster=on_the_first)] == ["PLAN_RATE_MISMATCH"]
    assert audit(charges, roster={}) == [("UNKNOWN_LINE", D("109.00"))]


def test_rate_mismatch_only_when_quantity_is_supported_and_total_only_when_overstated():
    usage = MeasuredUsage(roaming_voice=D("40"))
    assert audit([charge("roaming_voice", "ROAM-VOICE", "12.00", "40", "0.30")], usage=usage) == [
        ("OVERAGE_RATE_MISMATCH", D("2.00"))
    ]
    assert audit([charge("roaming_voice", "ROAM-VOICE", "3.75", "15", "0.25")]) == [("USAGE_OVERBILLED", D("3.75"))]
    plan = [charge("plan", "NW-BIZ-2GB", "21.25")]
    assert audit(plan, stated=D("21.26")) == []
    assert audit(plan, stated=D("21.00")) == []
    assert audit(plan, stated=D("31.25")) == [("INVOICE_TOTAL_MISMATCH", D("10.00"))]


def test_savings_priority_and_rightsizing():
    contracts = {"northwind-mobile": NORTHWIND}
    idle = [lambda msisdn: MeasuredUsage()] * 3
    light = [lambda msisdn: MeasuredUsage(voice=D("40"), sms=D("10"), data=D("500"))] * 3

    def savings(history, **changes):
        return [
            (s.savings_type, s.recommended_plan_code, s.feature_code, s.monthly_savings)
            for s in recommend_savings(
                roster_line(**changes),
                contracts,
                history,
                PERIOD,
                customer_id="globex",
                billing_month="2026-07",
                currency="USD",
            )
        ]

    assert savings(idle) == [("ZERO_USAGE_LINE", "", "", D("31.25"))]
    assert savings(None, employment_status="terminated", termination_date=date(2026, 6, 30)) == [
        ("TERMINATED_EMPLOYEE_LINE", "", "", D("31.25"))
    ]
    assert savings(None, employment_status="terminated", termination_date=PERIOD) == []
    assert savings(light, plan_code="NW-BIZ-UNL") == [
        ("PLAN_RIGHTSIZE", "NW-BIZ-2GB", "", D("38.25")),
        ("UNUSED_FEATURE", "", "NW-INTL", D("10.00")),
    ]
    assert savings(light, line_status="suspended") == []


def test_ground_truth_can_live_outside_the_data_root(tmp_path):
    summary = write_sample_data(tmp_path / "root", expected_dir=tmp_path / "truth")
    assert not (tmp_path / "root" / "expected").exists()
    assert (tmp_path / "truth" / "globex" / "2026-09" / "findings.csv").is_file()
    assert all(Path(f.path).is_absolute() == (f.kind == "expected") for f in summary.files)
