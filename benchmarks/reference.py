"""A plain-Python reference implementation of docs/audit-rules.md (v1.1) over a data root's inbox.

    .venv/bin/python benchmarks/reference.py --data-root DIR --out DIR [--customer ID]... [--timings FILE]

This is the script a user would write first: it reads the inbox files as docs/data-contract.md describes them
(CSV with the csv module, .xlsx with openpyxl, Parquet with pyarrow), loops over every row in Python, normalises
every phone number of every row with `phonenumbers` (no cache, one parse and one validity check per cell),
keeps money, quantities and rates as `decimal.Decimal` (never float), quarantines the cells the data contract
refuses, applies the nine audit rules and the savings rules in the order and with the amounts the rules give,
and writes, per customer and month, under --out:

    <customer>/<YYYY-MM>/findings.csv    the published findings' business columns (no `evidence` sentence)
    <customer>/<YYYY-MM>/savings.csv     the published savings' business columns (no `rationale` sentence)
    <customer>/<YYYY-MM>/quarantine.csv  file, row, column, reason_code of every refused cell

What it deliberately leaves out, because none of it changes a finding or a saving:

* pseudonymization: the pipeline replaces identifiers by HMACs before storing anything and restores them at
  publish time; HMAC is not a rule, so this script works on the clear E.164 numbers and employee ids;
* the evidence and rationale sentences, the workbook, the dispute files and the manifest;
* Dagster, the warehouse, run history; files the data contract refuses as a whole (a missing required
  column, a column named twice, two rosters) stop the script with a message instead of failing one month.

Amounts are exact decimals; "round" is half-up to cents; a finding or saving is written only when its exact
amount is at least 0.01. The script reads nothing of the pipeline's (no project module, no warehouse), so it
can serve as an independent check of what `tem run` publishes (benchmarks/agreement.py compares them).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import decimal
import json
import re
import sys
import time
from collections import Counter, defaultdict
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from pathlib import Path

import openpyxl
import phonenumbers
import pyarrow.parquet as pq
import yaml

decimal.getcontext().prec = 60  # every product and sum here is exact at this precision
CENT = Decimal("0.01")
ZERO = Decimal(0)
MONTH_FOLDER = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
DECIMAL_TEXT = re.compile(r"^[+-]?((\d+|\d{1,3}(,\d{3})+)(\.\d*)?|\.\d+)([eE][+-]?\d+)?$", re.ASCII)
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
REGIONAL_DATE = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$", re.ASCII)
IMEI = re.compile(r"^\d{15}$", re.ASCII)
LINE_STATUSES = ("active", "suspended", "cancelled")
EMPLOYMENT_STATUSES = ("active", "on_leave", "terminated")
CHARGE_TYPES = (
    "plan",
    "feature",
    "overage_voice",
    "overage_sms",
    "overage_data",
    "roaming_voice",
    "roaming_data",
    "one_time",
    "equipment",
    "tax",
    "surcharge",
    "credit",
    "late_fee",
    "account_fee",
)
USAGE_CHARGES = ("overage_voice", "overage_sms", "overage_data", "roaming_voice", "roaming_data")
USAGE_MEASURES = ("voice_minutes", "sms_count", "data_mb", "roaming_voice_minutes", "roaming_data_mb")
ERASED = "ERASED"
# money: less than 10^14 with four places; usage, rates, allowances: less than 10^12 with six (data-contract.md)
MONEY, QUANTITY = (Decimal(10) ** 14, Decimal("0.0001")), (Decimal(10) ** 12, Decimal("0.000001"))

ROSTER_REQUIRED = (
    "msisdn",
    "carrier",
    "plan_code",
    "features",
    "line_status",
    "line_status_date",
    "employee_id",
    "employment_status",
    "termination_date",
)
INVOICE_REQUIRED = (
    "invoice_number",
    "carrier",
    "account_number",
    "period_start",
    "period_end",
    "msisdn",
    "charge_type",
    "charge_code",
    "quantity",
    "unit_rate",
    "amount",
    "invoice_total",
)
USAGE_REQUIRED = ("date", "msisdn", "voice_minutes", "sms_count", "data_mb", "roaming_voice_minutes", "roaming_data_mb")

FINDINGS_COLUMNS = [
    "customer_id",
    "billing_month",
    "carrier",
    "account_number",
    "invoice_number",
    "msisdn",
    "employee_id",
    "finding_type",
    "charge_type",
    "charge_code",
    "billed_amount",
    "expected_amount",
    "disputed_amount",
    "currency",
]
SAVINGS_COLUMNS = [
    "customer_id",
    "billing_month",
    "carrier",
    "msisdn",
    "employee_id",
    "savings_type",
    "current_plan_code",
    "recommended_plan_code",
    "feature_code",
    "monthly_savings",
    "annual_savings",
    "currency",
]
QUARANTINE_COLUMNS = ["file", "row", "column", "reason_code"]


class InputError(Exception):
    """A file the data contract refuses as a whole."""


class Clock:
    """Seconds per stage: `phones` (phonenumbers calls) and `validate` (every other cell) are timed around each
    call inside the row loops, `audit` includes summing each line's usage; `read` is the rest of the time the
    row loops took (csv/openpyxl/pyarrow and the loop itself)."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] += seconds


CLOCK = Clock()


# ------------------------------------------------------------------------------------------------
# customer.yaml and contracts: numbers are read as the text written, never as binary floats
# ------------------------------------------------------------------------------------------------
class TextNumberLoader(yaml.SafeLoader):
    pass


def _as_text(loader, node):
    return loader.construct_scalar(node)


TextNumberLoader.add_constructor("tag:yaml.org,2002:int", _as_text)
TextNumberLoader.add_constructor("tag:yaml.org,2002:float", _as_text)


def contract_number(value, kind) -> Decimal | None:
    if value is None:
        return None
    number = Decimal(str(value).strip().replace(",", ""))
    return number.quantize(kind[1], rounding=ROUND_HALF_EVEN)


def load_yaml(path: Path) -> dict:
    with path.open(encoding="utf-8-sig") as handle:
        return yaml.load(handle, Loader=TextNumberLoader)  # noqa: S506 - a SafeLoader


def load_contracts(folder: Path) -> dict[str, dict]:
    """carrier -> {"plans": {code: plan}, "features": {code: feature}, "roaming": {...}}; each plan has `fee`,
    its monthly fee less the contract discount, rounded half-up to the cent."""
    contracts = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        document = load_yaml(path)
        discount = contract_number(document.get("discount_pct") or 0, QUANTITY)
        plans = {}
        for plan in document["plans"]:
            monthly_fee = contract_number(plan["monthly_fee"], MONEY)
            plans[plan["code"]] = {
                "code": plan["code"],
                "fee": (monthly_fee * (1 - discount / 100)).quantize(CENT, rounding=ROUND_HALF_UP),
                # allowance None = unlimited
                "voice": contract_number(plan.get("voice_min"), QUANTITY),
                "sms": contract_number(plan.get("sms"), QUANTITY),
                "data": contract_number(plan.get("data_mb"), QUANTITY),
                "rate_voice": contract_number(plan.get("overage_voice_per_min") or 0, QUANTITY),
                "rate_sms": contract_number(plan.get("overage_sms_per_msg") or 0, QUANTITY),
                "rate_data": contract_number(plan.get("overage_data_per_mb") or 0, QUANTITY),
            }
        features = {
            f["code"]: {"code": f["code"], "category": f["category"], "fee": contract_number(f["monthly_fee"], MONEY)}
            for f in document.get("features") or []
        }
        roaming = document["roaming"]
        contracts[document["carrier"]] = {
            "plans": plans,
            "features": features,
            "roaming_voice": contract_number(roaming["voice_per_min"], QUANTITY),
            "roaming_data": contract_number(roaming["data_per_mb"], QUANTITY),
        }
    return contracts


# ------------------------------------------------------------------------------------------------
# reading the three kinds of files: every row as {column: text or None}, with its spreadsheet row number
# ------------------------------------------------------------------------------------------------
def cell_text(value) -> str | None:
    """A typed cell (Excel, Parquet) as the text the sender meant; None for an empty cell."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return format(Decimal(repr(value)), "f")  # the shortest text that gives this double
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def header_names(header: list, display: str, required: tuple[str, ...]) -> list[str]:
    names = ["" if name is None else str(name).strip().lower() for name in header]
    repeated = sorted({n for n in names if n and names.count(n) > 1})
    if repeated:
        raise InputError(f"{display}: the header names these columns more than once: {', '.join(repeated)}")
    missing = [name for name in required if name not in names]
    if missing:
        raise InputError(f"{display}: missing required column(s): {', '.join(missing)}")
    return names


def rows_of(path: Path, display: str, required: tuple[str, ...]):
    """(row number with the header as row 1, {column: stripped text or None}) for every non-blank row."""
    suffix = path.suffix.lower()
    started = time.perf_counter()
    timed_before = sum(CLOCK.seconds.values())  # what the caller's loop times itself (parsing, summing)
    if suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            names = header_names(next(reader, []), display, required)
            for number, record in enumerate(reader, start=2):
                row = {}
                for name, value in zip(names, record):
                    value = value.strip()
                    row[name] = value if value else None
                if any(v is not None for v in row.values()):
                    yield number, row
    elif suffix == ".xlsx":
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            sheet = workbook.worksheets[0]
            cells = sheet.iter_rows(values_only=True)
            names = header_names(list(next(cells, ())), display, required)
            for number, record in enumerate(cells, start=2):
                row = {}
                for name, value in zip(names, record):
                    text = cell_text(value)
                    text = text.strip() if text is not None else None
                    row[name] = text if text else None
                if any(v is not None for v in row.values()):
                    yield number, row
        finally:
            workbook.close()
    elif suffix == ".parquet":
        parquet = pq.ParquetFile(path)
        names = header_names(parquet.schema_arrow.names, display, required)
        number = 1
        for batch in parquet.iter_batches(batch_size=65536):
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            for values in zip(*columns):
                number += 1
                row = {}
                for name, value in zip(names, values):
                    text = cell_text(value)
                    text = text.strip() if text is not None else None
                    row[name] = text if text else None
                if any(v is not None for v in row.values()):
                    yield number, row
    else:
        raise InputError(f"{display}: unsupported file type {suffix!r}")
    CLOCK.add("read", time.perf_counter() - started - (sum(CLOCK.seconds.values()) - timed_before))


# ------------------------------------------------------------------------------------------------
# cell parsers: a value, or a reason code for quarantine.csv
# ------------------------------------------------------------------------------------------------
class Bad(Exception):
    def __init__(self, code: str):
        self.code = code


def parse_phone(text: str, region: str) -> str:
    """E.164, with phonenumbers, every time (this is the per-row cost the pipeline avoids)."""
    started = time.perf_counter()
    try:
        number = phonenumbers.parse(text, region)
        valid = phonenumbers.is_valid_number(number)
    except phonenumbers.NumberParseException:
        valid = False
    finally:
        CLOCK.add("phones", time.perf_counter() - started)
    if not valid:
        raise Bad("bad_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_date(text: str, day_first: bool) -> dt.date:
    try:
        if ISO_DATE.match(text):
            return dt.date(int(text[:4]), int(text[5:7]), int(text[8:10]))
        if REGIONAL_DATE.match(text):
            first, second, year = text.split("/")
            day, month = (first, second) if day_first else (second, first)
            return dt.date(int(year), int(month), int(day))
    except ValueError:
        pass
    raise Bad("bad_date")


def parse_decimal(text: str, kind) -> Decimal:
    if not DECIMAL_TEXT.match(text):
        raise Bad("bad_number")
    number = Decimal(text.replace(",", ""))
    limit, places = kind
    if abs(number) >= limit:
        raise Bad("bad_number")
    number = number.quantize(places, rounding=ROUND_HALF_EVEN)
    if abs(number) >= limit:
        raise Bad("bad_number")
    return number


def parse_row(row: dict, columns: list[tuple], region: str, day_first: bool) -> tuple[dict, list[tuple[str, str]]]:
    """Typed values and [(column, reason code)] for the cells the contract refuses.

    columns: (name, kind, required value, allowed values or pattern); kind is text, enum, date, money, quantity,
    count, phone, bool, id, imei; `required` "zero" means an empty cell is 0."""
    started = time.perf_counter()
    phones_before = CLOCK.seconds["phones"]
    values, bad = {}, []
    for name, kind, required, allowed in columns:
        text = row.get(name)
        if kind == "phone" and text == allowed:  # the invoice msisdn ERASED: a charge of no line
            text = None
        if text is None:
            if required == "zero":
                values[name] = ZERO
                continue
            values[name] = None
            if required:
                bad.append((name, "missing_value"))
            continue
        try:
            if kind == "phone":
                value = parse_phone(text, region)
            elif kind == "date":
                value = parse_date(text, day_first)
            elif kind == "money":
                value = parse_decimal(text, MONEY)
            elif kind in ("quantity", "count"):
                value = parse_decimal(text, QUANTITY)
                if value < 0:
                    raise Bad("negative")
                if kind == "count" and value != value.to_integral_value():
                    raise Bad("not_integer")
            elif kind == "signed_quantity":
                value = parse_decimal(text, QUANTITY)
            elif kind == "enum":
                value = text.lower()
                if value not in allowed:
                    raise Bad("bad_enum")
            elif kind == "bool":
                word = text.lower()
                if word in ("true", "yes", "1"):
                    value = True
                elif word in ("false", "no", "0"):
                    value = False
                else:
                    raise Bad("bad_enum")
            elif kind == "id":
                if not ID_PATTERN.match(text):
                    raise Bad("bad_id")
                value = text
            elif kind == "imei":
                if not IMEI.match(text):
                    raise Bad("bad_imei")
                value = text
            else:
                value = text
        except Bad as problem:
            values[name] = None
            bad.append((name, problem.code))
            continue
        values[name] = value
    CLOCK.add("validate", time.perf_counter() - started - (CLOCK.seconds["phones"] - phones_before))
    return values, bad


ROSTER_COLUMNS = [
    ("msisdn", "phone", True, None),
    ("carrier", "id", True, None),
    ("account_number", "text", False, None),
    ("plan_code", "text", True, None),
    ("features", "text", False, None),
    ("line_status", "enum", True, LINE_STATUSES),
    ("line_status_date", "date", False, None),
    ("employee_id", "text", False, None),
    ("department", "text", False, None),
    ("cost_center", "text", False, None),
    ("manager_employee_id", "text", False, None),
    ("employment_status", "enum", False, EMPLOYMENT_STATUSES),
    ("termination_date", "date", False, None),
    ("vip", "bool", False, None),
    ("imei", "imei", False, None),
]
INVOICE_COLUMNS = [
    ("invoice_number", "text", True, None),
    ("carrier", "id", True, None),
    ("account_number", "text", True, None),
    ("invoice_date", "date", False, None),
    ("period_start", "date", True, None),
    ("period_end", "date", True, None),
    ("msisdn", "phone", False, ERASED),
    ("charge_type", "enum", True, CHARGE_TYPES),
    ("charge_code", "text", False, None),
    ("quantity", "signed_quantity", False, None),
    ("unit_rate", "signed_quantity", False, None),
    ("amount", "money", True, None),
    ("invoice_total", "money", True, None),
]
USAGE_COLUMNS = [
    ("date", "date", True, None),
    ("msisdn", "phone", True, None),
    ("imei", "imei", False, None),
    ("voice_minutes", "quantity", "zero", None),
    ("sms_count", "count", "zero", None),
    ("data_mb", "quantity", "zero", None),
    ("roaming_voice_minutes", "quantity", "zero", None),
    ("roaming_data_mb", "quantity", "zero", None),
]


# ------------------------------------------------------------------------------------------------
# one customer-month drop
# ------------------------------------------------------------------------------------------------
def drop_files(drop: Path, folder: str, allowed: tuple[str, ...]) -> list[Path]:
    where = drop / folder
    if not where.is_dir():
        return []
    files = sorted(p for p in where.iterdir() if p.is_file() and not p.name.startswith("."))
    for path in files:
        if path.suffix.lower() not in allowed:
            raise InputError(f"{path}: unsupported file type; expected {' or '.join(allowed)}")
    return files


def read_month(drop: Path, month: str, region: str) -> dict:
    """Everything the rules need of one month: accepted roster lines by E.164, the unverifiable numbers, the
    accepted charges in file order, each line's summed usage, whether there were usage files, and quarantine."""
    day_first = region != "US"
    quarantine = []

    # roster: exactly one roster.csv or roster.xlsx
    rosters = [p for p in drop.iterdir() if p.is_file() and p.stem.lower() == "roster"]
    if len(rosters) != 1:
        raise InputError(f"{drop}: expected exactly one roster.csv or roster.xlsx, found {len(rosters)}")
    roster_path = rosters[0]
    if roster_path.suffix.lower() not in (".csv", ".xlsx"):
        raise InputError(f"{roster_path}: unsupported file type")
    roster_rows = []
    for number, row in rows_of(roster_path, roster_path.name, ROSTER_REQUIRED):
        values, bad = parse_row(row, ROSTER_COLUMNS, region, day_first)
        roster_rows.append((number, values, bad))
    lines, seen = {}, set()
    rejected_numbers = set()
    for number, values, bad in roster_rows:
        if not bad and values["msisdn"] in seen:  # a second row for a line: the first one is kept
            bad = [("msisdn", "duplicate_line")]
        for column, code in bad:
            quarantine.append((roster_path.name, number, column, code))
        if bad:
            # v1.1: a quarantined row whose msisdn parsed (and was not itself the bad cell) vouches for the number
            if values["msisdn"] is not None and all(column != "msisdn" for column, _ in bad):
                rejected_numbers.add(values["msisdn"])
            continue
        seen.add(values["msisdn"])
        values["features"] = [f.strip() for f in (values["features"] or "").split(";") if f.strip()]
        lines[values["msisdn"]] = values
    unverifiable = rejected_numbers - set(lines)

    # invoices: accepted charges in file order, row order
    charges = []
    for path in drop_files(drop, "invoices", (".csv", ".xlsx")):
        name = f"invoices/{path.name}"
        for number, row in rows_of(path, name, INVOICE_REQUIRED):
            values, bad = parse_row(row, INVOICE_COLUMNS, region, day_first)
            for column, code in bad:
                quarantine.append((name, number, column, code))
            if not bad:
                values["id"] = len(charges)
                charges.append(values)

    # usage: summed per line (a line without rows used nothing)
    usage = defaultdict(lambda: dict.fromkeys(USAGE_MEASURES, ZERO))
    usage_files = drop_files(drop, "usage", (".csv", ".parquet"))
    for path in usage_files:
        name = f"usage/{path.name}"
        for number, row in rows_of(path, name, USAGE_REQUIRED):
            values, bad = parse_row(row, USAGE_COLUMNS, region, day_first)
            if values["date"] is not None and values["date"].strftime("%Y-%m") != month:
                bad.append(("date", "date_outside_month"))
            for column, code in bad:
                quarantine.append((name, number, column, code))
            if not bad:
                started = time.perf_counter()
                totals = usage[values["msisdn"]]
                for measure in USAGE_MEASURES:
                    totals[measure] += values[measure]
                CLOCK.add("audit", time.perf_counter() - started)
    return {
        "lines": lines,
        "unverifiable": unverifiable,
        "charges": charges,
        "usage": dict(usage),
        "has_usage_files": bool(usage_files),
        "quarantine": quarantine,
    }


# ------------------------------------------------------------------------------------------------
# the audit rules, 1 to 9, in order; a charge a rule has judged is not looked at again
# ------------------------------------------------------------------------------------------------
def measured_usage(data: dict, msisdn: str) -> dict:
    return data["usage"].get(msisdn) or dict.fromkeys(USAGE_MEASURES, ZERO)


def round_cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def audit(data: dict, contracts: dict) -> list[dict]:
    lines, charges = data["lines"], data["charges"]
    findings = []

    def finding(kind, charge, msisdn, billed, expected, charge_level=True):
        if billed - expected < CENT:  # consumed either way; published only from 0.01
            return
        line = lines.get(msisdn) if msisdn else None
        findings.append(
            {
                "carrier": charge["carrier"],
                "account_number": charge["account_number"],
                "invoice_number": charge["invoice_number"],
                "msisdn": msisdn,
                "employee_id": line["employee_id"] if line else None,
                "finding_type": kind,
                "charge_type": charge["charge_type"] if charge_level else None,
                "charge_code": charge["charge_code"] if charge_level else None,
                "billed_amount": billed,
                "expected_amount": expected,
                "disputed_amount": billed - expected,
            }
        )

    def invoice_of(charge):
        return charge["carrier"], charge["account_number"], charge["invoice_number"]

    # v1.1: charges on a number that cannot be verified, and charges without a number, are not examined by 1-8
    remaining = [c for c in charges if c["msisdn"] is not None and c["msisdn"] not in data["unverifiable"]]

    def whole_lines(kind, applies):
        nonlocal remaining
        groups = defaultdict(list)
        for charge in remaining:
            if applies(charge):
                groups[(*invoice_of(charge), charge["msisdn"])].append(charge)
        for group in groups.values():
            finding(kind, group[0], group[0]["msisdn"], sum(c["amount"] for c in group), ZERO, charge_level=False)
        consumed = {c["id"] for group in groups.values() for c in group}
        remaining = [c for c in remaining if c["id"] not in consumed]

    # 1 UNKNOWN_LINE: a billed number that is not on the month's roster
    whole_lines("UNKNOWN_LINE", lambda c: c["msisdn"] not in lines)
    # 2 CANCELLED_LINE_BILLED: cancelled with a status date before the invoice's period start
    whole_lines(
        "CANCELLED_LINE_BILLED",
        lambda c: (
            lines[c["msisdn"]]["line_status"] == "cancelled"
            and lines[c["msisdn"]]["line_status_date"] is not None
            and lines[c["msisdn"]]["line_status_date"] < c["period_start"]
        ),
    )

    # 3 DUPLICATE_CHARGE: the same plan or feature charge (number, type, code) more than once on one invoice
    occurrences = defaultdict(list)
    for charge in remaining:  # in file order
        if charge["charge_type"] in ("plan", "feature"):
            occurrences[(*invoice_of(charge), charge["msisdn"], charge["charge_type"], charge["charge_code"])].append(
                charge
            )
    consumed = set()
    for group in occurrences.values():
        if len(group) > 1:
            first, repeats = group[0], group[1:]
            finding("DUPLICATE_CHARGE", first, first["msisdn"], sum(c["amount"] for c in group), first["amount"])
            consumed.update(c["id"] for c in repeats)
    remaining = [c for c in remaining if c["id"] not in consumed]

    def one_by_one(judge):
        """judge(charge, line) -> (finding type, expected) when the rule's condition holds, else None."""
        nonlocal remaining
        kept = []
        for charge in remaining:
            verdict = judge(charge, lines[charge["msisdn"]])
            if verdict is None:
                kept.append(charge)
            else:
                kind, expected = verdict
                finding(kind, charge, charge["msisdn"], charge["amount"], expected)
        remaining = kept

    # 4 UNORDERED_FEATURE
    def unordered(charge, line):
        if charge["charge_type"] == "feature" and charge["charge_code"] not in line["features"]:
            return "UNORDERED_FEATURE", ZERO
        return None

    # 5 PLAN_RATE_MISMATCH: above fee(ordered plan) + 0.01, whatever plan code was billed
    def plan_rate(charge, line):
        contract = contracts.get(charge["carrier"])
        plan = contract["plans"].get(line["plan_code"]) if contract else None
        if charge["charge_type"] == "plan" and plan is not None and charge["amount"] > plan["fee"] + CENT:
            return "PLAN_RATE_MISMATCH", plan["fee"]
        return None

    # 6 FEATURE_RATE_MISMATCH: an ordered feature above its contract fee + 0.01
    def feature_rate(charge, line):
        contract = contracts.get(charge["carrier"])
        feature = contract["features"].get(charge["charge_code"]) if contract else None
        if (
            charge["charge_type"] == "feature"
            and charge["charge_code"] in line["features"]
            and feature is not None
            and charge["amount"] > feature["fee"] + CENT
        ):
            return "FEATURE_RATE_MISMATCH", feature["fee"]
        return None

    # what rules 7 and 8 need of an overage or roaming charge: (measured, quantity due, contract rate)
    def usage_terms(charge, line):
        kind = charge["charge_type"]
        contract = contracts.get(charge["carrier"])
        if kind not in USAGE_CHARGES or charge["quantity"] is None or contract is None:
            return None
        used = measured_usage(data, charge["msisdn"])
        if kind == "roaming_voice":
            return used["roaming_voice_minutes"], used["roaming_voice_minutes"], contract["roaming_voice"]
        if kind == "roaming_data":
            return used["roaming_data_mb"], used["roaming_data_mb"], contract["roaming_data"]
        plan = contract["plans"].get(line["plan_code"])
        if plan is None:
            return None
        unit = {"overage_voice": "voice", "overage_sms": "sms", "overage_data": "data"}[kind]
        measured = used[{"voice": "voice_minutes", "sms": "sms_count", "data": "data_mb"}[unit]]
        allowance = plan[unit]
        due = ZERO if allowance is None else max(ZERO, measured - allowance)
        return measured, due, plan[f"rate_{unit}"]

    # 7 USAGE_OVERBILLED: quantity > due + 2% of the measured usage
    def overbilled(charge, line):
        terms = usage_terms(charge, line)
        if terms is not None:
            measured, due, rate = terms
            if charge["quantity"] > due + Decimal("0.02") * measured:
                return "USAGE_OVERBILLED", round_cents(rate * due)
        return None

    # 8 OVERAGE_RATE_MISMATCH: quantity supported, unit rate above the contract rate + 0.0001
    def overage_rate(charge, line):
        terms = usage_terms(charge, line)
        if terms is not None and charge["unit_rate"] is not None and charge["unit_rate"] > terms[2] + Decimal("0.0001"):
            return "OVERAGE_RATE_MISMATCH", round_cents(terms[2] * charge["quantity"])
        return None

    for judge in (unordered, plan_rate, feature_rate, overbilled, overage_rate):
        one_by_one(judge)

    # 9 INVOICE_TOTAL_MISMATCH: every accepted charge of the invoice counts
    invoices = defaultdict(list)
    for charge in charges:
        invoices[invoice_of(charge)].append(charge)
    for group in invoices.values():
        stated = Counter(c["invoice_total"] for c in group).most_common(1)[0][0]
        total = sum(c["amount"] for c in group)
        if stated - total > CENT:
            finding("INVOICE_TOTAL_MISMATCH", group[0], None, stated, total, charge_level=False)
    return findings


# ------------------------------------------------------------------------------------------------
# the savings rules
# ------------------------------------------------------------------------------------------------
def history_months(month: str) -> list[str]:
    year, number = int(month[:4]), int(month[5:7])
    months = []
    for back in (2, 1, 0):
        total = year * 12 + number - 1 - back
        months.append(f"{total // 12:04d}-{total % 12 + 1:02d}")
    return months


def savings(month: str, data_by_month: dict[str, dict], contracts: dict) -> list[dict]:
    data = data_by_month[month]
    period_start = dt.date(int(month[:4]), int(month[5:7]), 1)
    history = history_months(month)
    has_history = all(m in data_by_month and data_by_month[m]["has_usage_files"] for m in history)
    found = []

    def saving(line, kind, monthly, recommended=None, feature=None):
        return {
            "carrier": line["carrier"],
            "msisdn": line["msisdn"],
            "employee_id": line["employee_id"],
            "savings_type": kind,
            "current_plan_code": line["plan_code"],
            "recommended_plan_code": recommended,
            "feature_code": feature,
            "monthly_savings": monthly,
            "annual_savings": 12 * monthly,
        }

    for msisdn, line in data["lines"].items():
        if line["line_status"] != "active":
            continue
        contract = contracts.get(line["carrier"]) or {"plans": {}, "features": {}}
        ordered = contract["plans"].get(line["plan_code"])
        ordered_features = [f for code, f in contract["features"].items() if code in line["features"]]
        recurring = ordered["fee"] + sum(f["fee"] for f in ordered_features) if ordered else None
        if has_history:
            months = [measured_usage(data_by_month[m], msisdn) for m in history]
            three_months = {m: sum(u[m] for u in months) for m in USAGE_MEASURES}
        line_level = None
        if (
            recurring is not None
            and line["employment_status"] == "terminated"
            and line["termination_date"] is not None
            and line["termination_date"] < period_start
        ):
            line_level = saving(line, "TERMINATED_EMPLOYEE_LINE", recurring)
        elif recurring is not None and has_history and all(v == 0 for v in three_months.values()):
            line_level = saving(line, "ZERO_USAGE_LINE", recurring)
        elif ordered is not None and has_history:
            # 3 x cost(p) at the three-month average: no average is ever rounded
            def cost_x3(plan):
                cost = 3 * plan["fee"]
                for unit, measure in (("voice", "voice_minutes"), ("sms", "sms_count"), ("data", "data_mb")):
                    if plan[unit] is not None:
                        cost += max(ZERO, three_months[measure] - 3 * plan[unit]) * plan[f"rate_{unit}"]
                return cost

            priced = sorted(
                contract["plans"].values(), key=lambda p: (cost_x3(p), p["code"] != ordered["code"], p["code"])
            )
            best = priced[0]
            difference_x3 = cost_x3(ordered) - cost_x3(best)
            if best["code"] != ordered["code"] and difference_x3 >= 3:
                monthly = (difference_x3 / 3).quantize(CENT, rounding=ROUND_HALF_UP)
                line_level = saving(line, "PLAN_RIGHTSIZE", monthly, recommended=best["code"])
        if line_level is not None:
            found.append(line_level)
        cancelling = line_level is not None and line_level["savings_type"] != "PLAN_RIGHTSIZE"
        if has_history and not cancelling:
            roamed = three_months["roaming_voice_minutes"] + three_months["roaming_data_mb"]
            for feature in ordered_features:
                if feature["category"] == "roaming" and roamed == 0:
                    found.append(saving(line, "UNUSED_FEATURE", feature["fee"], feature=feature["code"]))
    return [s for s in found if s["monthly_savings"] >= CENT]


# ------------------------------------------------------------------------------------------------
def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            cells = []
            for column in columns:
                value = row.get(column)
                if isinstance(value, Decimal):
                    value = round_cents(value)
                cells.append("" if value is None else str(value))
            writer.writerow(cells)


def run(data_root: Path, out: Path, customers: list[str]) -> dict:
    counts = Counter()
    inbox = data_root / "inbox"
    chosen = customers or sorted(p.name for p in inbox.iterdir() if p.is_dir())
    for customer in chosen:
        settings = load_yaml(data_root / "customers" / customer / "customer.yaml")
        region, currency = str(settings["region"]).strip().upper(), str(settings["currency"]).strip().upper()
        contracts = load_contracts(data_root / "customers" / customer / "contracts")
        months = sorted(p.name for p in (inbox / customer).iterdir() if p.is_dir() and MONTH_FOLDER.match(p.name))
        data_by_month = {}
        for month in months:
            data_by_month[month] = read_month(inbox / customer / month, month, region)
        for month in months:
            data = data_by_month[month]
            started = time.perf_counter()
            found = audit(data, contracts)
            CLOCK.add("audit", time.perf_counter() - started)
            started = time.perf_counter()
            recommended = savings(month, data_by_month, contracts)
            CLOCK.add("savings", time.perf_counter() - started)
            started = time.perf_counter()
            common = {"customer_id": customer, "billing_month": month, "currency": currency}
            folder = out / customer / month
            write_csv(folder / "findings.csv", FINDINGS_COLUMNS, [{**common, **f} for f in found])
            write_csv(folder / "savings.csv", SAVINGS_COLUMNS, [{**common, **s} for s in recommended])
            write_csv(
                folder / "quarantine.csv",
                QUARANTINE_COLUMNS,
                [dict(zip(QUARANTINE_COLUMNS, q)) for q in sorted(data["quarantine"])],
            )
            CLOCK.add("write", time.perf_counter() - started)
            counts["customer_months"] += 1
            counts["findings"] += len(found)
            counts["savings"] += len(recommended)
            counts["quarantined_cells"] += len(data["quarantine"])
            counts["charges"] += len(data["charges"])
            counts["lines"] += len(data["lines"])
    return dict(counts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--customer", action="append", default=[])
    parser.add_argument("--timings", type=Path, help="write {stage: seconds, ...} as JSON here")
    args = parser.parse_args()
    started = time.perf_counter()
    try:
        counts = run(args.data_root, args.out, args.customer)
    except InputError as problem:
        print(f"reference: {problem}", file=sys.stderr)
        return 1
    report = {
        "seconds": {k: round(v, 3) for k, v in CLOCK.seconds.items()},
        "total": round(time.perf_counter() - started, 3),
        "counts": counts,
    }
    if args.timings:
        args.timings.write_text(json.dumps(report, indent=1))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
