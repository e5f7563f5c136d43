"""Deterministic sample data root for the TEM pipeline, with its own ground truth.

`write_sample_data(root)` writes three customers with four billing months each, in
every input variant the data contract allows, plus `expected/`: the rows the
pipeline must quarantine and the findings and savings it must publish.

How it is built:

* A customer's lines are one polars frame (one row per line and its whole
  lifecycle). A short cast of named *roles* (the zero-usage hotspot, the
  leaver, the road warrior...) sits on the first line ids; the rest are bulk
  lines drawn at random. Everything row-sized (lines, usage, clean charges) is
  vectorised, so `lines=200_000` stays fast.
* Randomness is counter based (splitmix64 over seed, customer, stream and row
  keys), so a value never depends on row order and a seed gives identical bytes.
* Money in frames is integer minor units (cents; usage in thousandths; rates in
  ten-thousandths), because polars Decimal multiplication rounds to the wider
  operand's scale. Everything that decides money outside the frames is Decimal.
* Billing errors are *planted* on role lines; then an independent oracle
  (`audit_invoice`, `recommend_savings`: plain Python and Decimal, following
  audit-rules.md line by line) evaluates the whole month, and the generator
  refuses to write a month where the oracle's findings differ from the plants.
* Bad input rows are added only while rendering files, one bad cell each, so
  they never touch the model the oracle sees.
"""

from __future__ import annotations

import calendar
import csv
import hashlib
import io
import random
import shutil
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Callable, Iterable, NamedTuple, Sequence
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo

import polars as pl
import yaml
from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter

DEFAULT_SEED = 20261
BILLING_MONTH_KEYS = ("2026-06", "2026-07", "2026-08", "2026-09")
BENCHMARK_CUSTOMER = "globex"
# openpyxl writes some 40k cells a second; bigger tables are written as CSV instead.
XLSX_MAX_ROWS = 5_000
USAGE_FILE_MAX_ROWS = 1_000_000
MIN_BULK_LINES = 5
# US numbers are unique up to 600k allocations (60 exchanges x 10^4), IMEIs up to 10^6 per TAC.
MAX_LINES = 500_000

QUARANTINE_REASONS = (
    "bad_date", "bad_number", "negative", "not_integer", "bad_enum",
    "bad_phone", "bad_imei", "date_outside_month", "bad_id",
)
FINDING_TYPES = (
    "UNKNOWN_LINE", "CANCELLED_LINE_BILLED", "DUPLICATE_CHARGE", "UNORDERED_FEATURE",
    "PLAN_RATE_MISMATCH", "FEATURE_RATE_MISMATCH", "USAGE_OVERBILLED",
    "OVERAGE_RATE_MISMATCH", "INVOICE_TOTAL_MISMATCH",
)
SAVINGS_TYPES = ("TERMINATED_EMPLOYEE_LINE", "ZERO_USAGE_LINE", "PLAN_RIGHTSIZE", "UNUSED_FEATURE")
FINDING_COLUMNS = (
    "customer_id", "billing_month", "carrier", "account_number", "invoice_number", "msisdn",
    "employee_id", "finding_type", "charge_type", "charge_code", "billed_amount",
    "expected_amount", "disputed_amount", "currency",
)
SAVINGS_COLUMNS = (
    "customer_id", "billing_month", "carrier", "msisdn", "employee_id", "savings_type",
    "current_plan_code", "recommended_plan_code", "feature_code", "monthly_savings",
    "annual_savings", "currency",
)
QUARANTINE_COLUMNS = ("file", "row", "column", "reason_code")


# --------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class WrittenFile:
    """One file of the sample, its path relative to the data root."""

    path: str  # relative to the data root, or absolute for ground truth kept outside it
    kind: str  # customer | contract | roster | invoice | usage | expected
    rows: int  # data rows under the header, bad rows included; 0 for YAML
    variants: tuple[str, ...] = ()


@dataclass(frozen=True)
class SampleSummary:
    root: Path
    seed: int
    customers: tuple[str, ...]
    months: tuple[str, ...]
    files: tuple[WrittenFile, ...]
    roster_rows: int
    invoice_rows: int
    usage_rows: int
    quarantined_rows: int
    findings: int
    savings: int

    def files_of(self, kind: str) -> tuple[WrittenFile, ...]:
        return tuple(f for f in self.files if f.kind == kind)

    def describe(self) -> str:
        variants = sorted({v for f in self.files for v in f.variants})
        return "\n".join([
            f"Sample data for {len(self.customers)} customers x {len(self.months)} billing months "
            f"({self.months[0]} to {self.months[-1]}), seed {self.seed}.",
            f"{len(self.files)} files: {len(self.files_of('roster'))} rosters ({self.roster_rows:,} rows), "
            f"{len(self.files_of('invoice'))} invoices ({self.invoice_rows:,} charges), "
            f"{len(self.files_of('usage'))} usage files ({self.usage_rows:,} rows).",
            f"Ground truth: {self.quarantined_rows} rows to quarantine, "
            f"{self.findings} billing findings, {self.savings} savings.",
            f"Variants: {', '.join(variants)}.",
        ])


def write_sample_data(root: Path, *, seed: int = DEFAULT_SEED, lines: int | None = None,
                      expected_dir: Path | None = None) -> SampleSummary:
    """Write the sample customers, inbox and expected results under `root`.

    `lines` sets the number of lines of the benchmark customer (globex); the other
    customers keep their default size. The ground truth goes to `expected_dir`
    (default root/expected) as <customer>/<YYYY-MM>/{quarantine,findings,savings}.csv;
    keep it outside root where nothing but inbox/, customers/ and published/ may hold
    identifiers. The generated customers' folders under customers/, inbox/ and the
    expected folder are replaced; nothing else is touched.
    """
    root = Path(root)
    expected_dir = root / "expected" if expected_dir is None else Path(expected_dir)
    summary = _SummaryBuilder(root, seed)
    for profile in CUSTOMERS:
        line_count = profile.default_lines
        if lines is not None and profile.customer_id == BENCHMARK_CUSTOMER:
            line_count = lines
        minimum = len(profile.roles) + MIN_BULK_LINES
        if line_count < minimum:
            raise ValueError(f"lines={line_count} is too small for customer {profile.customer_id}: "
                             f"its planted scenarios need at least {minimum} lines")
        if line_count > MAX_LINES:
            raise ValueError(f"lines={line_count} is too large: at most {MAX_LINES:,} lines get unique numbers")
        for folder in (root / "customers", root / "inbox", expected_dir):
            shutil.rmtree(folder / profile.customer_id, ignore_errors=True)
        _CustomerGenerator(profile, line_count, seed, root, expected_dir, summary).run()
    return summary.build()


# --------------------------------------------------------------------------- money


CENT = Decimal("0.01")
MILLI = Decimal("0.001")


def round_cents(value: Decimal) -> Decimal:
    """Round half-up to cents, as audit-rules.md means by `round`."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@lru_cache(maxsize=1 << 16)  # plan and feature fees repeat on every invoice
def _from_cents(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


_ZERO_MILLI = Decimal(0).scaleb(-3)


def _from_milli(milli: int) -> Decimal:
    return Decimal(milli).scaleb(-3) if milli else _ZERO_MILLI


def _to_units(value: Decimal, places: int) -> int:
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {places} decimals")
    return int(scaled)


# --------------------------------------------------------------------------- billing months


@dataclass(frozen=True)
class BillingMonth:
    index: int
    key: str
    start: date
    end: date

    @property
    def days(self) -> int:
        return self.end.day

    @staticmethod
    def of(index: int, key: str) -> BillingMonth:
        year, month = (int(part) for part in key.split("-"))
        last = calendar.monthrange(year, month)[1]
        return BillingMonth(index, key, date(year, month, 1), date(year, month, last))


MONTHS = tuple(BillingMonth.of(i, key) for i, key in enumerate(BILLING_MONTH_KEYS))
# Terminations may predate the first billing month by one month.
TERMINATION_MONTHS = (BillingMonth.of(-1, "2026-05"),) + MONTHS


def _month_of(day: date) -> int:
    return next(m.index for m in MONTHS if m.start <= day <= m.end)


# --------------------------------------------------------------------------- contracts

UNITS = ("voice", "sms", "data")


@dataclass(frozen=True)
class Plan:
    code: str
    name: str
    monthly_fee: Decimal
    voice_min: int | None  # None = unlimited
    sms: int | None
    data_mb: int | None
    overage_voice_per_min: Decimal = Decimal("0.00")
    overage_sms_per_msg: Decimal = Decimal("0.00")
    overage_data_per_mb: Decimal = Decimal("0.00")
    for_devices: bool = False  # data-only plans for hotspots and IoT

    def allowance(self, unit: str) -> int | None:
        return getattr(self, _ALLOWANCE_FIELDS[unit])

    def overage_rate(self, unit: str) -> Decimal:
        return getattr(self, _OVERAGE_RATE_FIELDS[unit])

    @cached_property
    def limits(self) -> tuple[tuple[str, int, Decimal], ...]:
        """(unit, allowance, overage rate) of the units that are not unlimited."""
        return tuple((u, self.allowance(u), self.overage_rate(u)) for u in UNITS if self.allowance(u) is not None)


_ALLOWANCE_FIELDS = {"voice": "voice_min", "sms": "sms", "data": "data_mb"}
_OVERAGE_RATE_FIELDS = {"voice": "overage_voice_per_min", "sms": "overage_sms_per_msg",
                        "data": "overage_data_per_mb"}


@dataclass(frozen=True)
class Feature:
    code: str
    name: str
    category: str  # roaming | hotspot | insurance | other
    monthly_fee: Decimal


@dataclass(frozen=True)
class Contract:
    carrier: str
    discount_pct: Decimal
    plans: tuple[Plan, ...]
    features: tuple[Feature, ...]
    roaming_voice_per_min: Decimal
    roaming_data_per_mb: Decimal

    @cached_property
    def _plans_by_code(self) -> dict[str, Plan]:
        return {p.code: p for p in self.plans}

    @cached_property
    def _features_by_code(self) -> dict[str, Feature]:
        return {f.code: f for f in self.features}

    @cached_property
    def _fees(self) -> dict[str, Decimal]:
        return {p.code: round_cents(p.monthly_fee * (1 - self.discount_pct / 100)) for p in self.plans}

    def plan(self, code: str) -> Plan:
        return self._plans_by_code[code]

    def feature(self, code: str) -> Feature:
        return self._features_by_code[code]

    def fee(self, plan: Plan) -> Decimal:
        """fee(p) of audit-rules.md: round(monthly_fee x (1 - discount_pct / 100))."""
        return self._fees[plan.code]

    def roaming_rate(self, unit: str) -> Decimal:
        return {"voice": self.roaming_voice_per_min, "data": self.roaming_data_per_mb}[unit]

    def as_yaml(self) -> dict:
        return {
            "carrier": self.carrier,
            "discount_pct": self.discount_pct,
            "plans": [{
                "code": p.code, "name": p.name, "monthly_fee": p.monthly_fee,
                "voice_min": p.voice_min, "sms": p.sms, "data_mb": p.data_mb,
                "overage_voice_per_min": p.overage_voice_per_min,
                "overage_sms_per_msg": p.overage_sms_per_msg,
                "overage_data_per_mb": p.overage_data_per_mb,
            } for p in self.plans],
            "features": [{"code": f.code, "name": f.name, "category": f.category,
                          "monthly_fee": f.monthly_fee} for f in self.features],
            "roaming": {"voice_per_min": self.roaming_voice_per_min,
                        "data_per_mb": self.roaming_data_per_mb},
        }


D = Decimal

NORTHWIND = Contract(
    carrier="northwind-mobile", discount_pct=D("15"),
    plans=(
        Plan("NW-BIZ-2GB", "Business 2 GB", D("25.00"), 500, 500, 2048,
             D("0.10"), D("0.05"), D("0.015")),
        Plan("NW-BIZ-10GB", "Business 10 GB", D("45.00"), None, None, 10240,
             overage_data_per_mb=D("0.012")),
        Plan("NW-BIZ-UNL", "Business Unlimited", D("70.00"), None, None, None),
        Plan("NW-DATA-5GB", "Connected device 5 GB", D("20.00"), 0, 0, 5120,
             D("0.25"), D("0.10"), D("0.015"), for_devices=True),
    ),
    features=(
        Feature("NW-INTL", "International travel pass", "roaming", D("10.00")),
        Feature("NW-HOTSPOT", "Mobile hotspot", "hotspot", D("5.00")),
        Feature("NW-PROTECT", "Device protection", "insurance", D("8.99")),
    ),
    roaming_voice_per_min=D("0.25"), roaming_data_per_mb=D("0.0125"),
)
SOUTHPOINT = Contract(
    carrier="southpoint-wireless", discount_pct=D("10"),
    plans=(
        Plan("SP-ESS-3GB", "Essentials 3 GB", D("30.00"), None, None, 3072,
             overage_data_per_mb=D("0.02")),
        Plan("SP-PRO-15GB", "Pro 15 GB", D("50.00"), None, None, 15360,
             overage_data_per_mb=D("0.0095")),
        Plan("SP-UNL-MAX", "Unlimited Max", D("80.00"), None, None, None),
    ),
    features=(
        Feature("SP-WORLD", "World traveller", "roaming", D("12.00")),
        Feature("SP-CARE", "Care plus", "insurance", D("7.50")),
    ),
    roaming_voice_per_min=D("0.35"), roaming_data_per_mb=D("0.0195"),
)
ALBION = Contract(
    # 12.5 % makes fee(AT-IOT-1GB) = 11.025 exactly: half-up gives 11.03, half-even 11.02.
    carrier="albion-telecom", discount_pct=D("12.5"),
    plans=(
        Plan("AT-ESS-4GB", "Essential 4GB", D("18.00"), 1000, None, 4096,
             overage_voice_per_min=D("0.045"), overage_data_per_mb=D("0.0095")),
        Plan("AT-PLUS-20GB", "Plus 20GB", D("27.50"), None, None, 20480,
             overage_data_per_mb=D("0.008")),
        Plan("AT-UNL", "Unlimited", D("36.00"), None, None, None),
        Plan("AT-IOT-1GB", "Connect IoT 1GB", D("12.60"), 0, 50, 1024,
             D("0.10"), D("0.04"), D("0.02"), for_devices=True),
    ),
    features=(
        Feature("AT-EUROAM", "Europe roaming bundle", "roaming", D("6.00")),
        Feature("AT-TETHER", "Tethering", "hotspot", D("3.00")),
        Feature("AT-CARE", "Handset insurance", "insurance", D("7.99")),
    ),
    roaming_voice_per_min=D("0.19"), roaming_data_per_mb=D("0.0075"),
)
RHEIN_FUNK = Contract(
    carrier="rhein-funk", discount_pct=D("0"),
    plans=(
        Plan("RF-BUSINESS-S", "Business S 5 GB", D("19.99"), None, None, 5120,
             overage_data_per_mb=D("0.01")),
        Plan("RF-BUSINESS-M", "Business M 12 GB", D("29.99"), None, None, 12288,
             overage_data_per_mb=D("0.009")),
        Plan("RF-BUSINESS-L", "Business L unbegrenzt", D("44.99"), None, None, None),
    ),
    features=(
        Feature("RF-EU-PLUS", "EU+ Reisepaket", "roaming", D("4.99")),
        Feature("RF-HOTSPOT", "Hotspot-Flat", "hotspot", D("2.50")),
        Feature("RF-GERAETESCHUTZ", "Geräteschutz", "insurance", D("6.99")),
    ),
    roaming_voice_per_min=D("0.29"), roaming_data_per_mb=D("0.0049"),
)


# --------------------------------------------------------------------------- customers


@dataclass(frozen=True)
class Account:
    """One carrier billing account: one invoice per billing month."""

    carrier: str
    account_number: str
    bulk_share: float  # share of bulk lines on this account
    invoice_pattern: str  # fields: seq, yyyy, mm, yymm
    invoice_seq_start: int = 1
    invoice_seq_step: int = 1
    account_fee: Decimal = D("15.00")

    def invoice_number(self, month: BillingMonth) -> str:
        return self.invoice_pattern.format(
            seq=self.invoice_seq_start + month.index * self.invoice_seq_step,
            yyyy=month.start.year, mm=f"{month.start.month:02d}",
            yymm=f"{month.start.year % 100:02d}{month.start.month:02d}")


@dataclass(frozen=True)
class PhonePlan:
    """How a region's mobile numbers are allocated and written."""

    region: str
    country_code: str
    prefixes: tuple[str, ...]  # US: area codes, exchanges are drawn per seed
    subscriber_digits: int
    formats: tuple[str, ...]


@dataclass(frozen=True)
class Department:
    name: str
    cost_center: str
    job_titles: tuple[str, ...]


@dataclass(frozen=True)
class EmployeeIdStyle:
    prefix: str
    first_number: int
    step: int
    width: int


@dataclass(frozen=True)
class LineRole:
    """A named line with a scripted life; plants and savings scenarios use it."""

    name: str
    account: int
    plan: str
    features: tuple[str, ...] = ()
    usage: str = "typical"  # zero | light | typical | heavy | traveller
    user: bool = True
    vip: bool = False
    on_leave: bool = False
    joined: date | None = None  # added after the first billing month
    cancelled: date | None = None
    suspended: tuple[date, date] | None = None  # (suspended on, active again on)
    terminated: date | None = None  # the employee's termination date


@dataclass(frozen=True)
class Plant:
    """A billing error (or a near miss that must not be one) put on one invoice."""

    month: str
    kind: str
    role: str | None = None
    account: int = 0
    amount: Decimal | None = None


@dataclass(frozen=True)
class FileStyle:
    format: str  # csv | xlsx | parquet
    dates: str = "iso"  # iso | regional (CSV text dates)
    thousands: bool = False  # "1,234.50" in CSV amounts
    bom: bool = False
    crlf: bool = False
    headers: str = "plain"  # plain | upper | mixed
    shuffled: bool = False
    extra_column: bool = False
    numbers: str = "float64"  # parquet: float64 | decimal


def _csv(dates: str = "iso", **options) -> FileStyle:
    return FileStyle("csv", dates=dates, **options)


def _xlsx(**options) -> FileStyle:
    return FileStyle("xlsx", **options)


def _parquet(numbers: str) -> FileStyle:
    return FileStyle("parquet", numbers=numbers)


@dataclass(frozen=True)
class MonthLayout:
    roster: FileStyle
    invoices: tuple[FileStyle, ...]  # one per account, in account order
    usage: tuple[FileStyle, ...]  # usage-part-1, usage-part-2, ...


@dataclass(frozen=True)
class CustomerProfile:
    customer_id: str
    name: str
    region: str
    currency: str
    email_domain: str
    contracts: tuple[Contract, ...]
    accounts: tuple[Account, ...]
    default_lines: int
    phones: PhonePlan
    employee_ids: EmployeeIdStyle
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    departments: tuple[Department, ...]
    tax_label: str
    tax_rate: Decimal
    roles: tuple[LineRole, ...]
    plants: tuple[Plant, ...]
    layouts: tuple[MonthLayout, ...]  # one per billing month

    def contract(self, carrier: str) -> Contract:
        return next(c for c in self.contracts if c.carrier == carrier)

    def role_index(self, name: str) -> int:
        return next(i for i, role in enumerate(self.roles) if role.name == name)

    @property
    def regional_date_format(self) -> str:
        return "%m/%d/%Y" if self.region == "US" else "%d/%m/%Y"


US_PHONES = PhonePlan("US", "1", ("212", "312", "415", "617", "206", "512", "303", "404", "646",
                                  "773", "857", "213"), 4,
                      ("e164", "national", "dotted", "international"))
GB_PHONES = PhonePlan("GB", "44", ("7400", "7412", "7451", "7520", "7533", "7723", "7800", "7842",
                                   "7956", "7960", "7388"), 6, ("e164", "national", "international"))
DE_PHONES = PhonePlan("DE", "49", ("151", "152", "157", "160", "162", "170", "171", "172", "175",
                                   "176", "177", "178", "179"), 8, ("e164", "national", "international"))

USER_DEVICES = (("Apple", "iPhone 15", "35391811"), ("Apple", "iPhone 16 Pro", "35675812"),
                ("Samsung", "Galaxy S24", "35045127"), ("Samsung", "Galaxy A55", "35226419"),
                ("Google", "Pixel 9", "35881263"))
DATA_DEVICES = (("Netgear", "Nighthawk M6", "35978210"), ("Sierra Wireless", "AirLink RV55", "35286509"),
                ("Teltonika", "RUT241", "86447305"))

GLOBEX = CustomerProfile(
    customer_id="globex", name="Globex Corporation", region="US", currency="USD",
    email_domain="globex.example", contracts=(NORTHWIND, SOUTHPOINT),
    accounts=(
        Account("northwind-mobile", "NW-40021877", 0.5, "INV-{seq}", 1001, 2, D("25.00")),
        Account("northwind-mobile", "NW-40021905", 0.2, "INV-{seq}", 1002, 2),
        Account("southpoint-wireless", "SPW-88035521", 0.3, "SPW-{yymm}-0042", account_fee=D("9.95")),
    ),
    default_lines=40, phones=US_PHONES, employee_ids=EmployeeIdStyle("E", 10234, 7, 5),
    first_names=("James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda",
                 "David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica",
                 "Thomas", "Sarah", "Carlos", "Karen", "Daniel", "Lisa", "Matthew", "Nancy",
                 "Anthony", "Betty", "Mark", "Sandra", "Priya", "Ashley", "Kevin", "Emily", "Brian",
                 "Donna", "Wei", "Michelle", "Luis", "Amanda", "Jamal", "Melissa"),
    last_names=("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
                "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson",
                "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson",
                "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker",
                "Young", "Allen", "King", "Wright", "Scott", "Nguyen", "Hill", "Flores", "Patel"),
    departments=(
        Department("Sales", "CC-1100", ("Account Executive", "Sales Manager", "Sales Engineer")),
        Department("Engineering", "CC-2100", ("Software Engineer", "Engineering Manager", "QA Analyst")),
        Department("Field Service", "CC-3100", ("Field Technician", "Service Coordinator")),
        Department("Operations", "CC-4100", ("Operations Analyst", "Logistics Coordinator")),
        Department("Finance", "CC-5100", ("Financial Analyst", "Controller")),
        Department("Executive", "CC-9000", ("Vice President", "Chief of Staff")),
    ),
    tax_label="Sales tax and 911 fees", tax_rate=D("0.0825"),
    roles=(
        LineRole("lobby-hotspot", 0, "NW-DATA-5GB", ("NW-HOTSPOT",), usage="zero", user=False),
        LineRole("idle-sales-phone", 2, "SP-PRO-15GB", ("SP-WORLD", "SP-CARE"), usage="zero"),
        LineRole("executive-light-user", 0, "NW-BIZ-UNL", ("NW-PROTECT",), usage="light", vip=True),
        LineRole("ops-light-user", 2, "SP-UNL-MAX", usage="light"),
        LineRole("consultant-unused-pass", 0, "NW-BIZ-10GB", ("NW-INTL",)),
        LineRole("leaver-may", 1, "NW-BIZ-2GB", terminated=date(2026, 5, 22)),
        LineRole("leaver-july", 2, "SP-ESS-3GB", ("SP-WORLD",), terminated=date(2026, 7, 10),
                 cancelled=date(2026, 9, 8)),
        LineRole("road-warrior", 0, "NW-BIZ-10GB", ("NW-INTL",), usage="traveller"),
        LineRole("field-heavy-1", 1, "NW-BIZ-2GB", ("NW-HOTSPOT",), usage="heavy"),
        LineRole("field-heavy-2", 0, "NW-BIZ-2GB", usage="heavy"),
        LineRole("sales-heavy", 2, "SP-ESS-3GB", usage="heavy"),
        LineRole("cancelled-june", 0, "NW-BIZ-10GB", ("NW-PROTECT",), cancelled=date(2026, 6, 18)),
        LineRole("cancelled-on-first", 2, "SP-PRO-15GB", cancelled=date(2026, 8, 1)),
        LineRole("suspended-august", 0, "NW-BIZ-10GB", suspended=(date(2026, 8, 2), date(2026, 9, 3))),
        LineRole("joiner-july", 1, "NW-BIZ-10GB", ("NW-HOTSPOT",), joined=date(2026, 7, 14)),
        LineRole("joiner-september", 2, "SP-PRO-15GB", ("SP-CARE",), joined=date(2026, 9, 2)),
        LineRole("on-leave", 0, "NW-BIZ-2GB", usage="light", on_leave=True),
        LineRole("account-manager", 0, "NW-BIZ-10GB", ("NW-PROTECT",)),
        LineRole("field-engineer", 1, "NW-BIZ-2GB"),
        LineRole("sales-rep", 2, "SP-PRO-15GB", ("SP-CARE",)),
    ),
    plants=(
        Plant("2026-06", "duplicate_plan", "account-manager"),
        Plant("2026-06", "overage_rate_increase", "field-heavy-1"),
        Plant("2026-07", "unknown_line", account=0),
        Plant("2026-07", "plan_upgraded_code", "field-engineer"),
        Plant("2026-07", "plan_one_cent_over", "sales-rep"),
        Plant("2026-08", "cancelled_line_billed", "cancelled-june"),
        Plant("2026-08", "roaming_inflated", "road-warrior"),
        Plant("2026-08", "feature_price_increase", "account-manager"),
        Plant("2026-08", "invoice_total_overstated", account=2, amount=D("42.17")),
        Plant("2026-09", "overage_just_outside_tolerance", "field-heavy-1"),
        Plant("2026-09", "overage_just_inside_tolerance", "field-heavy-2"),
        Plant("2026-09", "unordered_feature", "field-engineer"),
        Plant("2026-09", "duplicate_feature", "sales-rep"),
    ),
    layouts=(
        MonthLayout(roster=_csv(),
                    invoices=(_csv("regional", thousands=True, bom=True), _xlsx(headers="upper"),
                              _csv(crlf=True, shuffled=True, extra_column=True)),
                    usage=(_parquet("float64"),)),
        MonthLayout(roster=_xlsx(headers="mixed", extra_column=True),
                    invoices=(_xlsx(), _csv("regional", thousands=True, bom=True, crlf=True),
                              _csv()),
                    usage=(_csv("regional", bom=True, crlf=True),)),
        MonthLayout(roster=_csv("regional", bom=True, crlf=True, headers="upper", shuffled=True),
                    invoices=(_csv(thousands=True, shuffled=True), _csv("regional"),
                              _xlsx(headers="mixed", extra_column=True)),
                    usage=(_csv(), _parquet("decimal"))),
        MonthLayout(roster=_xlsx(headers="upper", shuffled=True),
                    invoices=(_csv("regional", thousands=True, bom=True, crlf=True, headers="mixed"),
                              _xlsx(), _csv(thousands=True, extra_column=True)),
                    usage=(_parquet("decimal"), _csv("regional", headers="upper"))),
    ),
)

INITECH = CustomerProfile(
    customer_id="initech-uk", name="Initech UK Ltd", region="GB", currency="GBP",
    email_domain="initech.example", contracts=(ALBION,),
    accounts=(Account("albion-telecom", "ALB-771204", 1.0, "AT{yyyy}{mm}-0417", account_fee=D("12.00")),),
    default_lines=25, phones=GB_PHONES, employee_ids=EmployeeIdStyle("INI-", 4100, 3, 5),
    first_names=("Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Olivia", "Charlie",
                 "Emily", "Thomas", "Sophie", "Oscar", "Grace", "William", "Lily", "James", "Freya",
                 "Henry", "Chloe", "Alfie", "Ella", "Leo", "Evie", "Arthur", "Ruby", "Noah", "Poppy",
                 "Joshua", "Mia", "Aaliyah", "Rhys", "Siobhan", "Callum", "Niamh", "Ewan"),
    last_names=("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
                "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green",
                "Hall", "Wood", "Jackson", "Clarke", "Khan", "Patel", "Hughes", "Edwards", "Turner",
                "Lewis", "Morgan", "Campbell", "O'Brien", "MacDonald"),
    departments=(
        Department("Sales", "UK-SAL-100", ("Account Manager", "Sales Director")),
        Department("Consulting", "UK-CON-200", ("Consultant", "Senior Consultant", "Practice Lead")),
        Department("Support", "UK-SUP-300", ("Support Engineer", "Service Desk Analyst")),
        Department("Finance", "UK-FIN-400", ("Management Accountant", "Payroll Officer")),
        Department("Facilities", "UK-FAC-500", ("Facilities Coordinator",)),
    ),
    tax_label="VAT 20%", tax_rate=D("0.20"),
    roles=(
        LineRole("meeting-room-router", 0, "AT-IOT-1GB", usage="zero", user=False),
        LineRole("director-light", 0, "AT-UNL", ("AT-CARE",), usage="light", vip=True),
        LineRole("analyst-unused-roaming", 0, "AT-PLUS-20GB", ("AT-EUROAM",)),
        LineRole("leaver-june", 0, "AT-ESS-4GB", terminated=date(2026, 6, 20)),
        LineRole("uk-traveller", 0, "AT-PLUS-20GB", ("AT-EUROAM",), usage="traveller"),
        LineRole("uk-heavy", 0, "AT-ESS-4GB", ("AT-TETHER",), usage="heavy"),
        LineRole("uk-account-lead", 0, "AT-PLUS-20GB", ("AT-CARE",)),
        LineRole("uk-support", 0, "AT-ESS-4GB", ("AT-TETHER",)),
        LineRole("uk-cancelled", 0, "AT-ESS-4GB", cancelled=date(2026, 7, 21)),
        LineRole("uk-joiner", 0, "AT-PLUS-20GB", joined=date(2026, 8, 11)),
        LineRole("uk-suspended", 0, "AT-ESS-4GB", suspended=(date(2026, 7, 1), date(2026, 8, 4))),
    ),
    plants=(
        Plant("2026-06", "plan_list_price", "uk-account-lead"),
        Plant("2026-06", "invoice_total_one_cent_over", account=0),
        Plant("2026-07", "duplicate_feature", "uk-support"),
        Plant("2026-07", "overage_inflated", "uk-heavy"),
        Plant("2026-08", "unordered_feature", "uk-account-lead"),
        Plant("2026-08", "roaming_not_used", "uk-support"),
        Plant("2026-09", "unknown_line", account=0),
        Plant("2026-09", "roaming_rate_increase", "uk-traveller"),
    ),
    layouts=(
        MonthLayout(roster=_xlsx(),
                    invoices=(_csv("regional", thousands=True, bom=True, crlf=True),),
                    usage=(_csv("regional"),)),
        MonthLayout(roster=_csv("regional", bom=True, headers="mixed", extra_column=True),
                    invoices=(_xlsx(),),
                    usage=(_parquet("decimal"),)),
        MonthLayout(roster=_csv(crlf=True, shuffled=True),
                    invoices=(_csv(headers="upper"),),
                    usage=(_csv("regional", bom=True, crlf=True), _csv())),
        MonthLayout(roster=_xlsx(headers="mixed"),
                    invoices=(_csv("regional", thousands=True, shuffled=True, extra_column=True),),
                    usage=(_parquet("float64"),)),
    ),
)

UMBRELLA = CustomerProfile(
    customer_id="umbrella-de", name="Umbrella Deutschland GmbH", region="DE", currency="EUR",
    email_domain="umbrella.example", contracts=(RHEIN_FUNK,),
    accounts=(Account("rhein-funk", "RF-DE-55012", 1.0, "RF-{yyyy}-{seq:05d}", 8801),),
    default_lines=20, phones=DE_PHONES, employee_ids=EmployeeIdStyle("", 200100, 11, 6),
    first_names=("Lukas", "Anna", "Jonas", "Lena", "Leon", "Marie", "Finn", "Sophie", "Paul",
                 "Laura", "Felix", "Julia", "Maximilian", "Hannah", "Jürgen", "Katrin", "Stefan",
                 "Sabine", "Andreas", "Petra", "Tobias", "Jana", "Matthias", "Birgit", "Florian",
                 "Claudia", "Sebastian", "Özlem", "Mehmet", "Björn"),
    last_names=("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
                "Schulz", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf",
                "Schröder", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann",
                "Hartmann", "Lange", "Schmitt", "Werner", "Krause", "Meier", "Yılmaz"),
    departments=(
        Department("Vertrieb", "KST-4100", ("Vertriebsmitarbeiter", "Key Account Manager")),
        Department("Logistik", "KST-4200", ("Lagerlogistiker", "Disponentin")),
        Department("Forschung", "KST-4300", ("Laborleiter", "Wissenschaftlerin")),
        Department("Verwaltung", "KST-4400", ("Sachbearbeiter", "Buchhalterin")),
        Department("Geschäftsführung", "KST-4900", ("Geschäftsführer", "Assistenz der Geschäftsführung")),
    ),
    tax_label="USt. 19 %", tax_rate=D("0.19"),
    roles=(
        LineRole("warehouse-scanner", 0, "RF-BUSINESS-S", usage="zero", user=False),
        LineRole("board-member-light", 0, "RF-BUSINESS-L", usage="light", vip=True),
        LineRole("buyer-unused-eu", 0, "RF-BUSINESS-M", ("RF-EU-PLUS",)),
        LineRole("leaver-august", 0, "RF-BUSINESS-S", ("RF-HOTSPOT",), terminated=date(2026, 8, 14)),
        LineRole("de-traveller", 0, "RF-BUSINESS-M", ("RF-EU-PLUS",), usage="traveller"),
        LineRole("de-heavy", 0, "RF-BUSINESS-S", usage="heavy"),
        LineRole("de-sales", 0, "RF-BUSINESS-M", ("RF-GERAETESCHUTZ",)),
        LineRole("de-service", 0, "RF-BUSINESS-S", ("RF-HOTSPOT",)),
        LineRole("de-cancelled", 0, "RF-BUSINESS-M", ("RF-HOTSPOT",), cancelled=date(2026, 7, 9)),
    ),
    plants=(
        Plant("2026-06", "feature_price_increase", "de-sales"),
        Plant("2026-07", "roaming_inflated", "de-traveller"),
        Plant("2026-07", "duplicate_plan", "de-service"),
        Plant("2026-08", "duplicate_overpriced_plan", "de-sales"),
        Plant("2026-08", "plan_upgraded_code", "de-service"),
        Plant("2026-09", "cancelled_line_billed", "de-cancelled"),
        Plant("2026-09", "invoice_total_overstated", account=0, amount=D("1000.00")),
    ),
    layouts=(
        MonthLayout(roster=_csv("regional", crlf=True, headers="upper"),
                    invoices=(_xlsx(extra_column=True),),
                    usage=(_parquet("decimal"),)),
        MonthLayout(roster=_csv(bom=True),
                    invoices=(_csv("regional", thousands=True, crlf=True, shuffled=True),),
                    usage=(_csv("regional", bom=True, crlf=True),)),
        MonthLayout(roster=_xlsx(),
                    invoices=(_csv(bom=True, headers="mixed"),),
                    usage=(_parquet("float64"),)),
        MonthLayout(roster=_csv("regional", shuffled=True, extra_column=True),
                    invoices=(_xlsx(headers="upper"),),
                    usage=(_csv(), _parquet("decimal"))),
    ),
)

CUSTOMERS = (GLOBEX, INITECH, UMBRELLA)


# --------------------------------------------------------------------------- randomness

_U64 = pl.UInt64


def _stable_u64(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _splitmix(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """splitmix64 finaliser on UInt64 columns (wrapping arithmetic). Each step is
    materialised: written as one expression, the state would be copied at every use."""
    steps = (
        lambda z: z + pl.lit(0x9E3779B97F4A7C15, _U64),
        lambda z: z.xor(z // pl.lit(1 << 30, _U64)) * pl.lit(0xBF58476D1CE4E5B9, _U64),
        lambda z: z.xor(z // pl.lit(1 << 27, _U64)) * pl.lit(0x94D049BB133111EB, _U64),
        lambda z: z.xor(z // pl.lit(1 << 31, _U64)),
    )
    for step in steps:
        frame = frame.with_columns(step(pl.col(c)).alias(c) for c in columns)
    return frame


class _Random:
    """Counter-based random numbers: a draw depends on (seed, customer, stream, row keys)
    only, never on row order, so vectorised generation is reproducible."""

    def __init__(self, seed: int, customer_id: str):
        self.seed = seed
        self.customer_id = customer_id

    def draws(self, frame: pl.DataFrame, streams: Iterable[str], key: pl.Expr) -> pl.DataFrame:
        """Add a Float64 column `u_<stream>` in [0, 1) per stream, keyed by the row's `key`
        (a non-negative integer that identifies the row, see `_line_key`)."""
        state = "__random_state"
        customer = pl.lit(_stable_u64(f"{self.seed}/{self.customer_id}"), _U64)
        frame = _splitmix(frame.with_columns(customer.xor(key.cast(_U64)).alias(state)), [state])
        columns = {f"u_{stream}": _stable_u64(stream) for stream in streams}
        frame = _splitmix(frame.with_columns(
            pl.col(state).xor(pl.lit(salt, _U64)).alias(name) for name, salt in columns.items()), list(columns))
        return frame.with_columns(
            ((pl.col(name) // pl.lit(1 << 11, _U64)).cast(pl.Float64) / float(1 << 53)).alias(name)
            for name in columns).drop(state)

    def python(self, purpose: str) -> random.Random:
        return random.Random(f"{self.seed}/{self.customer_id}/{purpose}")


def _line_key(month: BillingMonth | None = None, day: pl.Expr | None = None) -> pl.Expr:
    """One integer per line (and month, and day): the key of its random draws."""
    key = pl.col("line_id")
    if month is not None:
        key = key * 64 + month.index
    if day is not None:
        key = key * 64 + day
    return key


def _u(stream: str) -> pl.Expr:
    return pl.col(f"u_{stream}")


def _draw_index(stream: str, size: int) -> pl.Expr:
    """An index in range(size) from the draw column of `stream`."""
    return (_u(stream) * size).floor().cast(pl.Int64)


def _drop_draws(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop(pl.selectors.starts_with("u_"))


def _pick(values: Sequence, index: pl.Expr) -> pl.Expr:
    return pl.lit(pl.Series(list(values))).gather(index)


# --------------------------------------------------------------------------- identities

_ASCII_FOLD = {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss",
               "ı": "i", "é": "e", "'": ""}
# Multipliers coprime with 10 turn an allocation counter into unique, scattered serials.
_SUBSCRIBER_STRIDE = 7_919
_BLOCK_SPREAD = 3_761
_IMEI_STRIDE = 7_919


class _NumberAllocator:
    """Valid mobile numbers of a region, unique per allocation index."""

    def __init__(self, plan: PhonePlan, rand: _Random):
        self.plan = plan
        draw = rand.python("numbers")
        if plan.region == "US":
            blocks = []
            for area in plan.prefixes:
                exchanges = [e for e in range(201, 1000) if e != 555 and e % 100 != 11]
                blocks += [f"{area}{e}" for e in draw.sample(exchanges, 5)]
        else:
            blocks = list(plan.prefixes)
        draw.shuffle(blocks)
        self.blocks = tuple(blocks)
        self.offset = draw.randrange(10 ** plan.subscriber_digits)

    def e164(self, allocation: pl.Expr) -> pl.Expr:
        """Allocation a goes to block a % B; within a block the serial is a bijection of a // B."""
        block = allocation % len(self.blocks)
        serial = ((allocation // len(self.blocks)) * _SUBSCRIBER_STRIDE + block * _BLOCK_SPREAD
                  + self.offset) % 10 ** self.plan.subscriber_digits
        return (pl.lit(f"+{self.plan.country_code}") + _pick(self.blocks, block)
                + serial.cast(pl.String).str.zfill(self.plan.subscriber_digits))


def _phone_text(plan: PhonePlan, e164: pl.Expr, style: pl.Expr) -> pl.Expr:
    """Write an E.164 column in one of the region's formats, chosen per row by `style`."""
    national = e164.str.slice(len(plan.country_code) + 1)
    if plan.region == "US":
        area, exchange, line = national.str.slice(0, 3), national.str.slice(3, 3), national.str.slice(6, 4)
        written = {
            "e164": e164,
            "national": pl.lit("(") + area + pl.lit(") ") + exchange + pl.lit("-") + line,
            "dotted": area + pl.lit(".") + exchange + pl.lit(".") + line,
            "international": pl.lit("+1 ") + area + pl.lit(" ") + exchange + pl.lit(" ") + line,
        }
    else:
        cut = len(plan.prefixes[0])
        prefix, subscriber = national.str.slice(0, cut), national.str.slice(cut)
        written = {
            "e164": e164,
            "national": pl.lit("0") + prefix + pl.lit(" ") + subscriber,
            "international": pl.lit(f"+{plan.country_code} ") + prefix + pl.lit(" ") + subscriber,
        }
    expr = written[plan.formats[-1]]
    for position, name in reversed(list(enumerate(plan.formats[:-1]))):
        expr = pl.when(style == position).then(written[name]).otherwise(expr)
    return expr


def _imei(payload: pl.Expr) -> pl.Expr:
    """15-digit IMEI from its 14-digit payload (TAC and serial) and the Luhn check digit."""
    checksum = pl.lit(0, pl.Int64)
    for position in range(14):
        digit = (payload // 10 ** (13 - position)) % 10
        if position % 2 == 1:
            digit = pl.when(digit * 2 > 9).then(digit * 2 - 9).otherwise(digit * 2)
        checksum = checksum + digit
    check_digit = (10 - checksum % 10) % 10
    return (payload * 10 + check_digit).cast(pl.String).str.zfill(15)


def _imei_payload(tac: pl.Expr, allocation: pl.Expr, offset: int) -> pl.Expr:
    return tac.cast(pl.Int64) * 1_000_000 + (allocation * _IMEI_STRIDE + offset) % 1_000_000


def _identities(profile: CustomerProfile, total: int, rand: _Random,
                numbers: _NumberAllocator, imei_offset: int) -> pl.DataFrame:
    """Number, person and device candidates for every line id (people are dropped later
    for lines without a user)."""
    line = pl.col("line_id")
    ids = profile.employee_ids
    first = ids.first_number + rand.python("employee-ids").randrange(500) * ids.step

    def employee_id(index: pl.Expr) -> pl.Expr:
        return pl.lit(ids.prefix) + (first + index * ids.step).cast(pl.String).str.zfill(ids.width)

    department = _draw_index("department", len(profile.departments))
    title_draw = _draw_index("job-title", 60)
    job_title = pl.lit(None, pl.String)
    for position, dept in enumerate(profile.departments):
        job_title = pl.when(department == position).then(
            _pick(dept.job_titles, title_draw % len(dept.job_titles))).otherwise(job_title)
    team_lead, head = (line // 8) * 8, (line // 64) * 64
    manager = (pl.when(line % 8 != 0).then(employee_id(team_lead))
               .when(line % 64 != 0).then(employee_id(head)).otherwise(None))
    user_device = _draw_index("user-device", len(USER_DEVICES))
    data_device = _draw_index("data-device", len(DATA_DEVICES))
    ids_frame = pl.DataFrame({"line_id": pl.int_range(total, eager=True, dtype=pl.Int64)})
    streams = ("department", "job-title", "user-device", "data-device", "first-name", "last-name")
    return _drop_draws(rand.draws(ids_frame, streams, _line_key()).with_columns(
        msisdn=numbers.e164(line),
        employee_id=employee_id(line),
        first_name=_pick(profile.first_names, _draw_index("first-name", len(profile.first_names))),
        last_name=_pick(profile.last_names, _draw_index("last-name", len(profile.last_names))),
        department=_pick([d.name for d in profile.departments], department),
        cost_center=_pick([d.cost_center for d in profile.departments], department),
        job_title=job_title,
        manager_employee_id=manager,
        user_device_make=_pick([d[0] for d in USER_DEVICES], user_device),
        user_device_model=_pick([d[1] for d in USER_DEVICES], user_device),
        user_tac=_pick([d[2] for d in USER_DEVICES], user_device),
        data_device_make=_pick([d[0] for d in DATA_DEVICES], data_device),
        data_device_model=_pick([d[1] for d in DATA_DEVICES], data_device),
        data_tac=_pick([d[2] for d in DATA_DEVICES], data_device),
    ).with_columns(
        user_imei=_imei_payload(pl.col("user_tac"), line, imei_offset),
        data_imei=_imei_payload(pl.col("data_tac"), line, imei_offset),
    ).with_columns(user_imei=_imei(pl.col("user_imei")), data_imei=_imei(pl.col("data_imei"))))


# --------------------------------------------------------------------------- line inventory

SERVICE_SCHEMA = {
    "line_id": pl.Int64, "role": pl.String, "account_index": pl.Int64, "plan_code": pl.String,
    "features": pl.List(pl.String), "usage_profile": pl.String, "trip_chance": pl.Float64,
    "has_user": pl.Boolean, "vip": pl.Boolean, "added_month": pl.Int64, "activation_date": pl.Date,
    "cancel_date": pl.Date, "suspend_month": pl.Int64, "suspend_date": pl.Date, "resume_date": pl.Date,
    "employment": pl.String, "termination_date": pl.Date,
}

# Bulk line mix: (usage profile, cumulative probability) for lines with and without a user.
USER_PROFILES = (("typical", 0.72), ("light", 0.82), ("heavy", 0.90), ("traveller", 0.98), ("zero", 1.0))
DEVICE_PROFILES = (("typical", 0.60), ("light", 0.85), ("heavy", 0.90), ("zero", 1.0))
# Chance that a bulk line orders a feature of each category: (with a user, device only).
FEATURE_TAKE_UP = {"roaming": (0.20, 0.0), "hotspot": (0.15, 0.30), "insurance": (0.30, 0.0), "other": (0.1, 0.0)}
DEVICE_LINE_SHARE = 0.08


def _role_services(profile: CustomerProfile, rand: _Random) -> pl.DataFrame:
    draw = rand.python("role-activation")
    rows = []
    for line_id, role in enumerate(profile.roles):
        activated = role.joined or date(2023, 1, 9) + timedelta(days=draw.randrange(1200))
        suspended_on, resumed_on = role.suspended or (None, None)
        rows.append({
            "line_id": line_id, "role": role.name, "account_index": role.account,
            "plan_code": role.plan, "features": list(role.features), "usage_profile": role.usage,
            "trip_chance": 1.0 if role.usage == "traveller" else 0.0,
            "has_user": role.user, "vip": role.vip,
            "added_month": _month_of(role.joined) if role.joined else 0,
            "activation_date": activated, "cancel_date": role.cancelled,
            "suspend_month": _month_of(suspended_on) if suspended_on else None,
            "suspend_date": suspended_on, "resume_date": resumed_on,
            "employment": ("on_leave" if role.on_leave else "active") if role.user else None,
            "termination_date": role.terminated,
        })
    return pl.DataFrame(rows, schema=SERVICE_SCHEMA)


def _threshold_pick(u: pl.Expr, choices: Sequence[tuple[str, float]]) -> pl.Expr:
    expr = pl.lit(choices[-1][0])
    for name, cumulative in reversed(choices[:-1]):
        expr = pl.when(u < cumulative).then(pl.lit(name)).otherwise(expr)
    return expr


def _day_in_month(months: Sequence[BillingMonth], month: pl.Expr, u: pl.Expr) -> pl.Expr:
    """A date inside months[month] (month counts from 0 in `months`)."""
    starts = _pick([m.start for m in months], month)
    lengths = _pick([m.days for m in months], month)
    return starts + pl.duration(days=(u * lengths).floor().cast(pl.Int64))


def _bulk_services(profile: CustomerProfile, rand: _Random, first_id: int, base_lines: int,
                   joiners_per_month: int) -> pl.DataFrame:
    """Random service history for the bulk lines (ids first_id .. end)."""
    total = base_lines + 3 * joiners_per_month
    line = pl.col("line_id")
    streams = ["account", "has-user", "plan", "usage-profile", "joined-day", "activation", "cancel",
               "cancel-day", "suspend", "suspend-day", "resume-day", "terminate", "terminate-day",
               "on-leave", "vip"]
    streams += [f"feature/{f.code}" for c in profile.contracts for f in c.features]
    frame = rand.draws(pl.DataFrame({"line_id": pl.int_range(first_id, total, eager=True, dtype=pl.Int64)}),
                       streams, _line_key())

    account = pl.lit(len(profile.accounts) - 1, pl.Int64)
    for position in reversed(range(len(profile.accounts) - 1)):
        cumulative = sum(a.bulk_share for a in profile.accounts[: position + 1])
        account = pl.when(_u("account") < cumulative).then(position).otherwise(account)
    frame = frame.with_columns(
        account_index=account,
        has_user=_u("has-user") >= DEVICE_LINE_SHARE,
        added_month=pl.when(line < base_lines).then(0).otherwise((line - base_lines) // joiners_per_month + 1),
    )

    account, has_user, added = pl.col("account_index"), pl.col("has_user"), pl.col("added_month")
    plan = pl.lit(None, pl.String)
    features: list[pl.Expr] = []
    for position, acct in enumerate(profile.accounts):
        contract = profile.contract(acct.carrier)
        user_plans = [p.code for p in contract.plans if not p.for_devices]
        device_plans = [p.code for p in contract.plans if p.for_devices] or [contract.plans[0].code]
        plan = pl.when(account == position).then(
            pl.when(has_user).then(_pick(user_plans, _draw_index("plan", len(user_plans))))
            .otherwise(_pick(device_plans, _draw_index("plan", len(device_plans))))
        ).otherwise(plan)
        for feature in contract.features:
            with_user, device_only = FEATURE_TAKE_UP[feature.category]
            chance = pl.when(has_user).then(with_user).otherwise(device_only)
            taken = (account == position) & (_u(f"feature/{feature.code}") < chance)
            features.append(pl.when(taken).then(pl.lit(feature.code)).otherwise(None))
    usage = pl.when(has_user).then(_threshold_pick(_u("usage-profile"), USER_PROFILES)).otherwise(
        _threshold_pick(_u("usage-profile"), DEVICE_PROFILES))
    joined_on = _day_in_month(MONTHS, added.clip(0, 3), _u("joined-day"))
    frame = frame.with_columns(
        plan_code=plan,
        features=pl.concat_list(features).list.drop_nulls(),
        usage_profile=usage,
        activation_date=pl.when(added == 0).then(
            pl.lit(date(2022, 1, 3)) + pl.duration(days=(_u("activation") * 1600).floor().cast(pl.Int64))
        ).otherwise(joined_on),
        # About 1 % of lines are cancelled, suspended or lose their user in each month.
        cancel_month=(_u("cancel") / 0.01).floor().cast(pl.Int64),
        suspend_month=(_u("suspend") / 0.01).floor().cast(pl.Int64) + 1,
        terminate_month=(_u("terminate") / 0.01).floor().cast(pl.Int64),  # 0 = May, before billing starts
    )

    activation, cancel_month = pl.col("activation_date"), pl.col("cancel_month")
    cancel_on = _day_in_month(MONTHS, cancel_month.clip(0, 3), _u("cancel-day"))
    frame = frame.with_columns(cancel_date=pl.when((cancel_month <= 3) & (cancel_month >= added)).then(
        pl.when(cancel_on < activation).then(activation).otherwise(cancel_on)).otherwise(None))

    suspend_month = pl.col("suspend_month")
    suspend_ok = (suspend_month <= 3) & (suspend_month > added) & (
        pl.col("cancel_date").is_null() | (cancel_month > suspend_month))
    suspend_start = _pick([m.start for m in MONTHS], suspend_month.clip(1, 3))
    next_start = _pick([m.end + timedelta(days=1) for m in MONTHS], suspend_month.clip(1, 3))
    terminate_month = pl.col("terminate_month")
    return frame.with_columns(
        role=pl.lit(None, pl.String),
        trip_chance=pl.when(pl.col("usage_profile") == "traveller").then(0.6).otherwise(0.0),
        vip=has_user & (_u("vip") < 0.05),
        suspend_month=pl.when(suspend_ok).then(suspend_month).otherwise(None),
        suspend_date=pl.when(suspend_ok).then(
            suspend_start + pl.duration(days=(_u("suspend-day") * 3).floor().cast(pl.Int64))).otherwise(None),
        resume_date=pl.when(suspend_ok).then(
            next_start + pl.duration(days=(_u("resume-day") * 4).floor().cast(pl.Int64))).otherwise(None),
        employment=pl.when(~has_user).then(None).when(_u("on-leave") < 0.03).then(pl.lit("on_leave"))
        .otherwise(pl.lit("active")),
        termination_date=pl.when(has_user & (added == 0) & (terminate_month <= 4)).then(
            _day_in_month(TERMINATION_MONTHS, terminate_month.clip(0, 4), _u("terminate-day"))).otherwise(None),
    ).select(list(SERVICE_SCHEMA)).cast(SERVICE_SCHEMA)


def _line_inventory(profile: CustomerProfile, line_count: int, rand: _Random,
                    numbers: _NumberAllocator, imei_offset: int) -> pl.DataFrame:
    """One row per line over the whole sample: who uses it, what was ordered, its lifecycle."""
    joiners_per_month = max(1, line_count // 40)
    total = line_count + 3 * joiners_per_month
    services = pl.concat([
        _role_services(profile, rand),
        _bulk_services(profile, rand, len(profile.roles), line_count, joiners_per_month),
    ])
    accounts = pl.DataFrame({
        "account_index": list(range(len(profile.accounts))),
        "carrier": [a.carrier for a in profile.accounts],
        "account_number": [a.account_number for a in profile.accounts],
    }, schema={"account_index": pl.Int64, "carrier": pl.String, "account_number": pl.String})
    user = pl.col("has_user")
    lines = (_identities(profile, total, rand, numbers, imei_offset)
             .join(services, on="line_id").join(accounts, on="account_index").sort("line_id"))
    lines = lines.with_columns(
        *[pl.when(user).then(pl.col(c)).otherwise(None).alias(c)
          for c in ("employee_id", "first_name", "last_name", "job_title", "manager_employee_id")],
        device_make=pl.when(user).then("user_device_make").otherwise("data_device_make"),
        device_model=pl.when(user).then("user_device_model").otherwise("data_device_model"),
        imei=pl.when(user).then("user_imei").otherwise("data_imei"),
    )
    local_part = (pl.col("first_name") + pl.lit(".") + pl.col("last_name")).str.replace_many(
        list(_ASCII_FOLD), list(_ASCII_FOLD.values())).str.to_lowercase()
    namesake = pl.int_range(pl.len()).over("first_name", "last_name")
    emails = lines.filter(user).select(
        "line_id",
        email=local_part + pl.when(namesake > 0).then((namesake + 1).cast(pl.String)).otherwise(pl.lit(""))
        + pl.lit(f"@{profile.email_domain}"))
    return lines.join(emails, on="line_id", how="left").sort("line_id").drop(
        "user_device_make", "user_device_model", "user_tac", "user_imei",
        "data_device_make", "data_device_model", "data_tac", "data_imei")


def _month_lines(lines: pl.DataFrame, month: BillingMonth) -> pl.DataFrame:
    """The roster as of `month`, with what billing and usage need to know about each line."""
    cancelled = pl.col("cancel_date").is_not_null() & (pl.col("cancel_date") <= month.end)
    suspended = pl.col("suspend_month") == month.index
    billed = pl.col("cancel_date").is_null() | (pl.col("cancel_date") >= month.start)
    terminated = pl.col("termination_date") <= month.end
    return lines.filter(pl.col("added_month") <= month.index).with_columns(
        line_status=pl.when(cancelled).then(pl.lit("cancelled"))
        .when(suspended).then(pl.lit("suspended")).otherwise(pl.lit("active")),
        line_status_date=pl.when(cancelled).then("cancel_date").when(suspended).then("suspend_date")
        .when(pl.col("suspend_month") < month.index).then("resume_date").otherwise("activation_date"),
        employment_status=pl.when(~pl.col("has_user")).then(None)
        .when(terminated).then(pl.lit("terminated")).otherwise("employment"),
        shown_termination_date=pl.when(terminated).then("termination_date").otherwise(None),
        billed=billed,
        has_usage=billed & ~suspended.fill_null(False) & (pl.col("usage_profile") != "zero"),
        usage_from_day=pl.when(pl.col("activation_date") >= month.start)
        .then(pl.col("activation_date").dt.day()).otherwise(1).cast(pl.Int64),
        usage_to_day=pl.when(cancelled).then(pl.col("cancel_date").dt.day())
        .otherwise(month.days).cast(pl.Int64),
    ).sort("line_id")


# --------------------------------------------------------------------------- usage

# Monthly usage of an unlimited allowance at 100 %, and what a light user does.
REFERENCE_USAGE = {"voice": 900.0, "sms": 300.0, "data": 24_576.0}
LIGHT_USAGE = {"voice": 60.0, "sms": 40.0, "data": 300.0}
ACTIVITY = {"light": 0.4, "typical": 0.8, "traveller": 0.85, "heavy": 1.0}
ROAMING_PER_TRIP_DAY = {"voice": 18.0, "data": 240.0}
USAGE_LINES_PER_CHUNK = 25_000
# Usage values: thousandths of a minute or MB, and whole messages.
USAGE_TOTAL_COLUMNS = ("voice_milli", "sms_count", "data_milli", "roaming_voice_milli", "roaming_data_milli")


def _catalogue_frames(profile: CustomerProfile) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Plans, features and per-account roaming rates in integer units for the frames."""
    plan_rows, feature_rows, roaming_rows = [], [], []
    for contract in profile.contracts:
        for plan in contract.plans:
            row = {"plan_code": plan.code, "plan_name": plan.name,
                   "fee_cents": _to_units(contract.fee(plan), 2)}
            for unit in UNITS:
                allowance = plan.allowance(unit)
                row[f"{unit}_allow_milli"] = None if allowance is None else allowance * 1000
                row[f"{unit}_rate_e4"] = _to_units(plan.overage_rate(unit), 4)
                row[f"{unit}_rate"] = str(plan.overage_rate(unit))
            plan_rows.append(row)
        for feature in contract.features:
            feature_rows.append({"carrier": contract.carrier, "charge_code": feature.code,
                                 "feature_name": feature.name,
                                 "fee_cents": _to_units(feature.monthly_fee, 2)})
    for position, account in enumerate(profile.accounts):
        contract = profile.contract(account.carrier)
        roaming_rows.append({"account_index": position, **{
            f"roaming_{unit}_rate_e4": _to_units(contract.roaming_rate(unit), 4) for unit in ("voice", "data")}, **{
            f"roaming_{unit}_rate": str(contract.roaming_rate(unit)) for unit in ("voice", "data")}})
    return pl.DataFrame(plan_rows), pl.DataFrame(feature_rows), pl.DataFrame(roaming_rows)


def _usage_rows(month_lines: pl.DataFrame, plans: pl.DataFrame, month: BillingMonth,
                rand: _Random) -> pl.DataFrame:
    """Daily usage rows (one per line and day with activity), values in thousandths.

    Bounds the scenarios rely on: a heavy user is active every day at 0.85-1.15 x 1.5 x
    its allowance per day's share, so it always exceeds every limited allowance; a light
    user stays below 1.5 / 0.4 x LIGHT_USAGE; every line with a usage profile has at
    least one active day; travellers roam on a trip of 3-8 days."""
    profile = pl.col("usage_profile")
    lines = rand.draws(
        month_lines.filter("has_usage")
        .select("line_id", "usage_profile", "has_user", "trip_chance", "usage_from_day", "usage_to_day", "plan_code")
        .join(plans.select("plan_code", *[f"{u}_allow_milli" for u in UNITS]), on="plan_code"),
        ("level", "trip", "trip-start", "trip-length", "anchor-day"), _line_key(month))
    lines = lines.with_columns(
        window=pl.col("usage_to_day") - pl.col("usage_from_day") + 1,
        activity=profile.replace_strict(ACTIVITY, return_dtype=pl.Float64),
        level=pl.when(profile == "heavy").then(1.5).otherwise(0.35 + 0.4 * _u("level")),
    )
    window = pl.col("window")
    targets = {}
    for unit in UNITS:
        allowance = pl.col(f"{unit}_allow_milli") / 1000.0
        target = (pl.when(profile == "light").then(LIGHT_USAGE[unit])
                  .otherwise(pl.col("level") * allowance.fill_null(REFERENCE_USAGE[unit])))
        target = pl.when(allowance == 0).then(0.0).otherwise(target)
        if unit != "data":  # devices without a user neither call nor text
            target = pl.when(pl.col("has_user")).then(target).otherwise(0.0)
        targets[f"{unit}_daily"] = target / (pl.col("activity") * window)
    lines = lines.select(
        "line_id", "usage_profile", "activity", "usage_from_day", "usage_to_day", **targets,
        # one guaranteed active day, so a line with a usage profile never has an empty month
        anchor_day=pl.col("usage_from_day") + (_u("anchor-day") * window).floor().cast(pl.Int64),
        trip=_u("trip") < pl.col("trip_chance"),
        trip_start=pl.col("usage_from_day") + (_u("trip-start") * (window - 8).clip(1, None)).floor().cast(pl.Int64),
        trip_length=3 + _draw_index("trip-length", 6),
    )
    days = pl.DataFrame({"day": pl.int_range(1, month.days + 1, eager=True, dtype=pl.Int64)})
    # By chunks of lines: the candidate (line, day) grid is wide, the kept rows are narrow.
    chunks = [_daily_usage(days.join(chunk, how="cross"), month, rand)
              for chunk in lines.iter_slices(USAGE_LINES_PER_CHUNK)]
    return pl.concat(chunks).sort("day", "line_id")


def _daily_usage(candidates: pl.DataFrame, month: BillingMonth, rand: _Random) -> pl.DataFrame:
    """The active days among (line, day) candidates and their usage values."""
    day, profile = pl.col("day"), pl.col("usage_profile")
    rows = (candidates
            .filter((day >= pl.col("usage_from_day")) & (day <= pl.col("usage_to_day")))
            .with_columns(on_trip=pl.col("trip") & (day >= pl.col("trip_start"))
                          & (day < pl.col("trip_start") + pl.col("trip_length"))))
    rows = rand.draws(rows, ("active", "voice", "sms", "data", "roaming-voice", "roaming-data"),
                      _line_key(month, day))
    rows = rows.filter((_u("active") < pl.col("activity")) | (day == pl.col("anchor_day")) | pl.col("on_trip"))

    def jitter(stream: str) -> pl.Expr:
        return pl.when(profile == "heavy").then(0.85 + 0.3 * _u(stream)).otherwise(0.5 + _u(stream))

    on_trip = pl.col("on_trip")
    domestic = pl.when(on_trip).then(0.25).otherwise(1.0)
    data_daily = pl.col("data_daily") * jitter("data") * domestic * 1000
    return rows.select(
        "line_id", "day",
        date=pl.lit(month.start) + pl.duration(days=day - 1),
        voice_milli=((pl.col("voice_daily") * jitter("voice") * domestic * 100).round() * 10).cast(pl.Int64),
        sms_count=(pl.col("sms_daily") * jitter("sms") * domestic).round().cast(pl.Int64),
        data_milli=pl.when(pl.col("data_daily") > 0).then(data_daily.round().clip(1, None))
        .otherwise(0).cast(pl.Int64),
        roaming_voice_milli=pl.when(on_trip).then(
            (ROAMING_PER_TRIP_DAY["voice"] * jitter("roaming-voice") * 100).round() * 10)
        .otherwise(0).cast(pl.Int64),
        roaming_data_milli=pl.when(on_trip).then(
            (ROAMING_PER_TRIP_DAY["data"] * jitter("roaming-data") * 1000).round())
        .otherwise(0).cast(pl.Int64),
    )


# --------------------------------------------------------------------------- charges

CHARGE_SCHEMA = {
    "account_index": pl.Int64, "line_id": pl.Int64, "msisdn": pl.String, "line_order": pl.Int64,
    "seq": pl.Int64, "charge_type": pl.String, "charge_code": pl.String, "description": pl.String,
    "quantity_milli": pl.Int64, "unit_rate": pl.String, "amount_cents": pl.Int64,
}
USAGE_CHARGES = {  # charge_type: (unit, overage or roaming, charge_code, description, order on the invoice)
    "overage_voice": ("voice", "overage", "OVG-VOICE", "Voice overage (minutes)", 10),
    "overage_sms": ("sms", "overage", "OVG-SMS", "SMS overage (messages)", 11),
    "overage_data": ("data", "overage", "OVG-DATA", "Data overage (MB)", 12),
    "roaming_voice": ("voice", "roaming", "ROAM-VOICE", "Roaming voice (minutes)", 20),
    "roaming_data": ("data", "roaming", "ROAM-DATA", "Roaming data (MB)", 21),
}
DUPLICATE_SEQ = 90  # a duplicated charge is listed after the line's regular charges
UNKNOWN_LINE_ORDER = 10 ** 12
ACCOUNT_LEVEL_ORDER = 10 ** 12 + 1


def _amount_cents(rate_e4: pl.Expr, quantity_milli: pl.Expr) -> pl.Expr:
    """round_half_up(rate x quantity) in cents, exactly: 1e-4 x 1e-3 = 1e-7 units."""
    return (rate_e4 * quantity_milli + 50_000) // 100_000


def _clean_charges(month_lines: pl.DataFrame, totals: pl.DataFrame, plans: pl.DataFrame,
                   features: pl.DataFrame, roaming: pl.DataFrame) -> pl.DataFrame:
    """Every billed line's charges exactly as the contract and measured usage say."""
    billed = (month_lines.filter("billed")
              .select("line_id", "account_index", "carrier", "msisdn", "plan_code", "features")
              .join(totals, on="line_id", how="left")
              .with_columns(pl.col(c).fill_null(0) for c in USAGE_TOTAL_COLUMNS)
              .with_columns(sms_milli=pl.col("sms_count") * 1000, line_order=pl.col("line_id")))
    common = ("account_index", "line_id", "msisdn", "line_order")
    plan_rows = billed.join(plans, on="plan_code").select(
        *common, seq=pl.lit(0, pl.Int64), charge_type=pl.lit("plan"), charge_code="plan_code",
        description="plan_name", quantity_milli=pl.lit(None, pl.Int64), unit_rate=pl.lit(None, pl.String),
        amount_cents="fee_cents")
    feature_rows = (billed.with_columns(position=pl.int_ranges(pl.col("features").list.len()))
                    .explode("features", "position").filter(pl.col("features").is_not_null())
                    .join(features, left_on=["carrier", "features"], right_on=["carrier", "charge_code"])
                    .select(*common, seq=pl.col("position") + 1, charge_type=pl.lit("feature"),
                            charge_code="features", description="feature_name",
                            quantity_milli=pl.lit(None, pl.Int64), unit_rate=pl.lit(None, pl.String),
                            amount_cents="fee_cents"))
    with_rates = billed.join(plans, on="plan_code").join(roaming, on="account_index")
    usage_rows = []
    for charge_type, (unit, kind, code, description, seq) in USAGE_CHARGES.items():
        if kind == "overage":
            used = pl.col("sms_milli" if unit == "sms" else f"{unit}_milli")
            allowance, rate_e4, rate = (pl.col(f"{unit}_allow_milli"), pl.col(f"{unit}_rate_e4"),
                                        pl.col(f"{unit}_rate"))
            quantity = used - allowance
            billable = allowance.is_not_null() & (rate_e4 > 0) & (quantity > 0)
        else:
            quantity = pl.col(f"roaming_{unit}_milli")
            rate_e4, rate = pl.col(f"roaming_{unit}_rate_e4"), pl.col(f"roaming_{unit}_rate")
            billable = quantity > 0
        usage_rows.append(with_rates.filter(billable).select(
            *common, seq=pl.lit(seq, pl.Int64), charge_type=pl.lit(charge_type), charge_code=pl.lit(code),
            description=pl.lit(description), quantity_milli=quantity, unit_rate=rate,
            amount_cents=_amount_cents(rate_e4, quantity)))
    return (pl.concat([frame.cast(CHARGE_SCHEMA) for frame in (plan_rows, feature_rows, *usage_rows)])
            .sort("account_index", "line_order", "seq"))


# --------------------------------------------------------------------------- audit oracle
# Row-sized records are NamedTuples: a frozen dataclass is several times slower to build,
# and the benchmark size builds millions of them.


class RosterEntry(NamedTuple):
    carrier: str
    plan_code: str
    features: tuple[str, ...]
    line_status: str
    line_status_date: date
    employee_id: str | None
    employment_status: str | None
    termination_date: date | None


class MeasuredUsage(NamedTuple):
    voice: Decimal = D(0)
    sms: Decimal = D(0)
    data: Decimal = D(0)
    roaming_voice: Decimal = D(0)
    roaming_data: Decimal = D(0)

    def domestic(self, unit: str) -> Decimal:
        return getattr(self, unit)

    def roaming(self, unit: str) -> Decimal:
        return getattr(self, f"roaming_{unit}")

    @property
    def is_zero(self) -> bool:
        return not any((self.voice, self.sms, self.data, self.roaming_voice, self.roaming_data))


NO_USAGE = MeasuredUsage()


class Charge(NamedTuple):
    msisdn: str | None  # E.164
    charge_type: str
    charge_code: str
    quantity: Decimal | None
    unit_rate: Decimal | None
    amount: Decimal


@dataclass(frozen=True)
class Invoice:
    invoice_number: str
    carrier: str
    account_number: str
    period_start: date
    stated_total: Decimal
    charges: tuple[Charge, ...]  # in file order


@dataclass(frozen=True)
class Finding:
    customer_id: str
    billing_month: str
    carrier: str
    account_number: str
    invoice_number: str
    msisdn: str
    employee_id: str
    finding_type: str
    charge_type: str
    charge_code: str
    billed_amount: Decimal
    expected_amount: Decimal
    disputed_amount: Decimal
    currency: str


@dataclass(frozen=True)
class Saving:
    customer_id: str
    billing_month: str
    carrier: str
    msisdn: str
    employee_id: str
    savings_type: str
    current_plan_code: str
    recommended_plan_code: str
    feature_code: str
    monthly_savings: Decimal
    annual_savings: Decimal
    currency: str


TOLERANCE_SHARE = D("0.02")
AMOUNT_SLACK = D("0.01")
RATE_SLACK = D("0.0001")


def audit_invoice(invoice: Invoice, contract: Contract, roster: dict[str, RosterEntry],
                  usage: Callable[[str], MeasuredUsage], *, customer_id: str, billing_month: str,
                  currency: str) -> list[Finding]:
    """Findings of audit-rules.md for one invoice, rules 1-9 in order.

    For findings that cover several charges (UNKNOWN_LINE, CANCELLED_LINE_BILLED,
    INVOICE_TOTAL_MISMATCH) charge_type and charge_code are empty. billed - expected
    = disputed on every finding: for DUPLICATE_CHARGE billed is the sum of all
    occurrences and expected the first one.
    """
    findings: list[Finding] = []

    def report(finding_type: str, msisdn: str | None, billed: Decimal, expected: Decimal,
               charge: Charge | None = None) -> None:
        disputed = billed - expected
        if disputed < AMOUNT_SLACK:  # only amounts of at least 0.01 are published
            return
        entry = roster.get(msisdn) if msisdn else None
        findings.append(Finding(
            customer_id, billing_month, invoice.carrier, invoice.account_number, invoice.invoice_number,
            msisdn or "", (entry.employee_id or "") if entry else "", finding_type,
            charge.charge_type if charge else "", charge.charge_code if charge else "",
            billed, expected, disputed, currency))

    def consume_whole_lines(finding_type: str, applies: Callable[[str], bool]) -> None:
        per_line: dict[str, list[Charge]] = {}
        for charge in remaining:
            if charge.msisdn and applies(charge.msisdn):
                per_line.setdefault(charge.msisdn, []).append(charge)
        for msisdn, charges in per_line.items():
            report(finding_type, msisdn, sum((c.amount for c in charges), D(0)), D(0))
        remaining[:] = [c for c in remaining if c.msisdn not in per_line]

    remaining = list(invoice.charges)
    # 1 and 2: charges of lines that are not on the roster, or were cancelled before the period.
    consume_whole_lines("UNKNOWN_LINE", lambda msisdn: msisdn not in roster)
    consume_whole_lines("CANCELLED_LINE_BILLED", lambda msisdn: (
        roster[msisdn].line_status == "cancelled" and roster[msisdn].line_status_date < invoice.period_start))

    # 3: repeated plan/feature charges; the first occurrence stays for the rules below.
    occurrences: dict[tuple, list[int]] = {}
    for position, charge in enumerate(remaining):
        if charge.charge_type in ("plan", "feature") and charge.msisdn:
            occurrences.setdefault((charge.msisdn, charge.charge_type, charge.charge_code), []).append(position)
    repeats = set()
    for (msisdn, _, _), positions in occurrences.items():
        if len(positions) > 1:
            charges = [remaining[p] for p in positions]
            report("DUPLICATE_CHARGE", msisdn, sum((c.amount for c in charges), D(0)), charges[0].amount,
                   charges[0])
            repeats.update(positions[1:])
    remaining = [c for p, c in enumerate(remaining) if p not in repeats]

    for charge in remaining:
        if not charge.msisdn:
            continue
        line = roster[charge.msisdn]
        ordered_plan = contract.plan(line.plan_code)
        if charge.charge_type == "feature":
            if charge.charge_code not in line.features:  # 4
                report("UNORDERED_FEATURE", charge.msisdn, charge.amount, D(0), charge)
                continue
            fee = contract.feature(charge.charge_code).monthly_fee
            if charge.amount > fee + AMOUNT_SLACK:  # 6
                report("FEATURE_RATE_MISMATCH", charge.msisdn, charge.amount, fee, charge)
        elif charge.charge_type == "plan":
            fee = contract.fee(ordered_plan)
            if charge.amount > fee + AMOUNT_SLACK:  # 5
                report("PLAN_RATE_MISMATCH", charge.msisdn, charge.amount, fee, charge)
        elif charge.charge_type in USAGE_CHARGES:  # 7 and 8
            unit, kind, *_ = USAGE_CHARGES[charge.charge_type]
            measured = usage(charge.msisdn)
            if kind == "overage":
                used = measured.domestic(unit)
                allowance = ordered_plan.allowance(unit)
                expected_quantity = D(0) if allowance is None else max(D(0), used - allowance)
                rate = ordered_plan.overage_rate(unit)
            else:
                used = measured.roaming(unit)
                expected_quantity = used
                rate = contract.roaming_rate(unit)
            quantity = charge.quantity or D(0)
            if quantity > expected_quantity + TOLERANCE_SHARE * used:
                report("USAGE_OVERBILLED", charge.msisdn, charge.amount,
                       round_cents(rate * expected_quantity), charge)
            elif (charge.unit_rate or D(0)) > rate + RATE_SLACK:
                report("OVERAGE_RATE_MISMATCH", charge.msisdn, charge.amount,
                       round_cents(rate * quantity), charge)

    charged = sum((c.amount for c in invoice.charges), D(0))  # 9
    if invoice.stated_total - charged > AMOUNT_SLACK:
        report("INVOICE_TOTAL_MISMATCH", None, invoice.stated_total, charged)
    return findings


def recommend_savings(roster: dict[str, RosterEntry], contracts: dict[str, Contract],
                      history: Sequence[Callable[[str], MeasuredUsage]] | None, period_start: date, *,
                      customer_id: str, billing_month: str, currency: str) -> list[Saving]:
    """Savings of audit-rules.md for one month. `history` is usage for M-2, M-1, M, or
    None when the inbox lacks one of them. Plan costs are compared as 3 x cost, so the
    mean never has to be rounded."""
    savings: list[Saving] = []
    for msisdn, line in roster.items():
        if line.line_status != "active":
            continue
        contract = contracts[line.carrier]
        ordered = contract.plan(line.plan_code)
        recurring = contract.fee(ordered) + sum((contract.feature(f).monthly_fee for f in line.features), D(0))

        def saving(savings_type: str, amount: Decimal, recommended: str = "", feature: str = "") -> Saving:
            return Saving(customer_id, billing_month, line.carrier, msisdn, line.employee_id or "",
                          savings_type, ordered.code, recommended, feature, amount, amount * 12, currency)

        months = [measured(msisdn) for measured in history] if history else None
        line_saving = None
        if (line.employment_status == "terminated" and line.termination_date
                and line.termination_date < period_start):
            line_saving = saving("TERMINATED_EMPLOYEE_LINE", recurring)
        elif months and all(m.is_zero for m in months):
            line_saving = saving("ZERO_USAGE_LINE", recurring)
        elif months:
            three_month_usage = {u: months[0].domestic(u) + months[1].domestic(u) + months[2].domestic(u)
                                 for u in UNITS}
            triple_cost = {}  # 3 x cost(p)
            for plan in contract.plans:
                cost = 3 * contract.fee(plan)
                for unit, allowance, rate in plan.limits:
                    if three_month_usage[unit] > 3 * allowance:
                        cost += (three_month_usage[unit] - 3 * allowance) * rate
                triple_cost[plan.code] = cost
            best = min(contract.plans, key=lambda p: (triple_cost[p.code], p.code != ordered.code, p.code))
            difference = triple_cost[ordered.code] - triple_cost[best.code]
            if difference >= 3:
                line_saving = saving("PLAN_RIGHTSIZE", round_cents(difference / 3), recommended=best.code)
        if line_saving and line_saving.monthly_savings >= CENT:
            savings.append(line_saving)
        if months and not (line_saving and line_saving.savings_type in (
                "TERMINATED_EMPLOYEE_LINE", "ZERO_USAGE_LINE")):
            never_roamed = all(m.roaming_voice == 0 and m.roaming_data == 0 for m in months)
            for code in line.features:
                feature = contract.feature(code)
                if feature.category == "roaming" and never_roamed and feature.monthly_fee >= CENT:
                    savings.append(saving("UNUSED_FEATURE", feature.monthly_fee, feature=code))
    return savings


# --------------------------------------------------------------------------- planted billing errors


class _InvoiceBook:
    """The month's charges of every account, open to planted errors."""

    def __init__(self, charges: pl.DataFrame):
        self.charges = charges
        self.total_adjustment_cents: dict[int, int] = {}

    def first(self, line_id: int, charge_type: str) -> dict:
        rows = self.charges.filter((pl.col("line_id") == line_id)
                                   & (pl.col("charge_type") == charge_type)).sort("seq").to_dicts()
        if not rows:
            raise RuntimeError(f"line {line_id} has no {charge_type} charge to plant an error on")
        return rows[0]

    def change(self, row: dict, **values) -> None:
        match = ((pl.col("line_id") == row["line_id"]) & (pl.col("charge_type") == row["charge_type"])
                 & (pl.col("seq") == row["seq"]))
        self.charges = self.charges.with_columns(
            pl.when(match).then(pl.lit(value, CHARGE_SCHEMA[name])).otherwise(pl.col(name)).alias(name)
            for name, value in values.items())

    def add(self, *rows: dict) -> None:
        self.charges = pl.concat([self.charges, pl.DataFrame(list(rows), schema=CHARGE_SCHEMA)])


@dataclass
class _PlantContext:
    profile: CustomerProfile
    month: BillingMonth
    book: _InvoiceBook
    lines: dict[int, dict]  # month_lines rows of role lines by line id
    usage: Callable[[str], MeasuredUsage]
    fresh_number: Callable[[], str]

    def role_line(self, name: str) -> dict:
        return self.lines[self.profile.role_index(name)]

    def contract_of(self, line: dict) -> Contract:
        return self.profile.contract(line["carrier"])


def _usage_charge(line: dict, charge_type: str, quantity: Decimal, rate: Decimal) -> dict:
    unit, kind, code, description, seq = USAGE_CHARGES[charge_type]
    return {"account_index": line["account_index"], "line_id": line["line_id"], "msisdn": line["msisdn"],
            "line_order": line["line_id"], "seq": seq, "charge_type": charge_type, "charge_code": code,
            "description": description, "quantity_milli": _to_units(quantity, 3), "unit_rate": str(rate),
            "amount_cents": _to_units(round_cents(rate * quantity), 2)}


def _recurring_charges(line: dict, contract: Contract, *, line_order: int) -> list[dict]:
    plan = contract.plan(line["plan_code"])
    base = {"account_index": line["account_index"], "line_id": line.get("line_id"), "msisdn": line["msisdn"],
            "line_order": line_order, "quantity_milli": None, "unit_rate": None}
    rows = [{**base, "seq": 0, "charge_type": "plan", "charge_code": plan.code, "description": plan.name,
             "amount_cents": _to_units(contract.fee(plan), 2)}]
    for position, code in enumerate(line["features"], start=1):
        feature = contract.feature(code)
        rows.append({**base, "seq": position, "charge_type": "feature", "charge_code": code,
                     "description": feature.name, "amount_cents": _to_units(feature.monthly_fee, 2)})
    return rows


def _plant(plant: Plant, ctx: _PlantContext) -> list[tuple[int, str, str]]:
    """Apply one plant; return the findings it must produce as (account, msisdn, type)."""
    book = ctx.book
    if plant.kind in ("unknown_line", "invoice_total_overstated", "invoice_total_one_cent_over"):
        account = plant.account
        if plant.kind == "unknown_line":
            contract = ctx.profile.contract(ctx.profile.accounts[account].carrier)
            plan = next(p for p in contract.plans if not p.for_devices)
            stranger = {"account_index": account, "line_id": None, "msisdn": ctx.fresh_number(),
                        "plan_code": plan.code, "features": [contract.features[0].code]}
            book.add(*_recurring_charges(stranger, contract, line_order=UNKNOWN_LINE_ORDER))
            return [(account, stranger["msisdn"], "UNKNOWN_LINE")]
        adjustment = plant.amount if plant.kind == "invoice_total_overstated" else CENT
        book.total_adjustment_cents[account] = book.total_adjustment_cents.get(account, 0) + _to_units(adjustment, 2)
        return [(account, "", "INVOICE_TOTAL_MISMATCH")] if adjustment > AMOUNT_SLACK else []

    line = ctx.role_line(plant.role)
    contract = ctx.contract_of(line)
    line_id, account, msisdn = line["line_id"], line["account_index"], line["msisdn"]
    expect = lambda *types: [(account, msisdn, t) for t in types]  # noqa: E731
    usage = ctx.usage(msisdn)

    if plant.kind == "cancelled_line_billed":
        if line["billed"]:
            raise RuntimeError(f"{plant.role} is still billed in {ctx.month.key}")
        book.add(*_recurring_charges(line, contract, line_order=line_id))
        return expect("CANCELLED_LINE_BILLED")
    if plant.kind == "duplicate_plan":
        book.add({**book.first(line_id, "plan"), "seq": DUPLICATE_SEQ})
        return expect("DUPLICATE_CHARGE")
    if plant.kind == "duplicate_overpriced_plan":
        row = book.first(line_id, "plan")
        overpriced = row["amount_cents"] + 750
        book.change(row, amount_cents=overpriced)
        book.add({**row, "amount_cents": overpriced, "seq": DUPLICATE_SEQ})
        return expect("DUPLICATE_CHARGE", "PLAN_RATE_MISMATCH")
    if plant.kind == "duplicate_feature":
        book.add({**book.first(line_id, "feature"), "seq": DUPLICATE_SEQ})
        return expect("DUPLICATE_CHARGE")
    if plant.kind == "unordered_feature":
        extra = next(f for f in contract.features if f.code not in line["features"])
        book.add({"account_index": account, "line_id": line_id, "msisdn": msisdn, "line_order": line_id,
                  "seq": 30, "charge_type": "feature", "charge_code": extra.code, "description": extra.name,
                  "quantity_milli": None, "unit_rate": None, "amount_cents": _to_units(extra.monthly_fee, 2)})
        return expect("UNORDERED_FEATURE")
    if plant.kind == "plan_list_price":  # the carrier forgot the discount
        plan = contract.plan(line["plan_code"])
        if contract.discount_pct == 0:
            raise RuntimeError(f"{plant.role}: plan_list_price needs a discounted contract")
        book.change(book.first(line_id, "plan"), amount_cents=_to_units(plan.monthly_fee, 2))
        return expect("PLAN_RATE_MISMATCH")
    if plant.kind == "plan_upgraded_code":  # billed a pricier plan than the one ordered
        ordered = contract.plan(line["plan_code"])
        pricier = max((p for p in contract.plans if not p.for_devices), key=contract.fee)
        if contract.fee(pricier) <= contract.fee(ordered):
            raise RuntimeError(f"{plant.role} already has the priciest plan")
        book.change(book.first(line_id, "plan"), charge_code=pricier.code, description=pricier.name,
                    amount_cents=_to_units(contract.fee(pricier), 2))
        return expect("PLAN_RATE_MISMATCH")
    if plant.kind == "plan_one_cent_over":  # within the 0.01 slack: not a finding
        row = book.first(line_id, "plan")
        book.change(row, amount_cents=row["amount_cents"] + 1)
        return []
    if plant.kind == "feature_price_increase":
        row = book.first(line_id, "feature")
        book.change(row, amount_cents=row["amount_cents"] + 100)
        return expect("FEATURE_RATE_MISMATCH")
    if plant.kind in ("overage_just_outside_tolerance", "overage_just_inside_tolerance", "overage_inflated",
                      "overage_rate_increase"):
        plan = contract.plan(line["plan_code"])
        row = book.first(line_id, "overage_data")
        rate = plan.overage_data_per_mb
        expected_quantity = usage.data - plan.data_mb
        limit = expected_quantity + TOLERANCE_SHARE * usage.data
        if plant.kind == "overage_rate_increase":
            rate = rate + D("0.005")
            quantity, found = expected_quantity, "OVERAGE_RATE_MISMATCH"
        elif plant.kind == "overage_inflated":
            quantity, found = (expected_quantity * D("1.25")).quantize(MILLI), "USAGE_OVERBILLED"
        elif plant.kind == "overage_just_outside_tolerance":
            quantity, found = limit.quantize(MILLI, rounding=ROUND_FLOOR) + MILLI, "USAGE_OVERBILLED"
        else:
            quantity, found = limit.quantize(MILLI, rounding=ROUND_FLOOR) - MILLI, None
        replacement = _usage_charge(line, "overage_data", quantity, rate)
        book.change(row, quantity_milli=replacement["quantity_milli"], unit_rate=replacement["unit_rate"],
                    amount_cents=replacement["amount_cents"])
        return expect(found) if found else []
    if plant.kind == "roaming_inflated":
        row = book.first(line_id, "roaming_data")
        inflated = _usage_charge(line, "roaming_data", (usage.roaming_data * D("1.15")).quantize(MILLI),
                                 contract.roaming_data_per_mb)
        book.change(row, quantity_milli=inflated["quantity_milli"], amount_cents=inflated["amount_cents"])
        return expect("USAGE_OVERBILLED")
    if plant.kind == "roaming_not_used":
        book.add(_usage_charge(line, "roaming_voice", D("42.5"), contract.roaming_voice_per_min))
        return expect("USAGE_OVERBILLED")
    if plant.kind == "roaming_rate_increase":
        row = book.first(line_id, "roaming_voice")
        rate = (contract.roaming_voice_per_min * D("1.2")).quantize(D("0.0001"))
        repriced = _usage_charge(line, "roaming_voice", _from_milli(row["quantity_milli"]), rate)
        book.change(row, unit_rate=repriced["unit_rate"], amount_cents=repriced["amount_cents"])
        return expect("OVERAGE_RATE_MISMATCH")
    raise ValueError(f"unknown plant kind {plant.kind!r}")


# Account-level charges, rotating by month and account: (charge_type, code, description, amount).
ACCOUNT_EXTRAS = (
    (("equipment", "HW-IPH16P", "Apple iPhone 16 Pro x2", D("2198.00")),),
    (("credit", "SVC-CREDIT", "Service credit - network outage", D("-35.00")),
     ("one_time", "ACTIVATION", "Activation fees", D("20.00"))),
    (("late_fee", "LATE", "Late payment fee", D("18.50")),),
    (("equipment", "HW-GS24", "Samsung Galaxy S24 x1", D("1049.99")),
     ("credit", "LOYALTY", "Loyalty credit", D("-50.00"))),
)
SURCHARGE_SHARE = D("0.0175")


def _account_charges(profile: CustomerProfile, account_index: int, month: BillingMonth,
                     line_subtotal: Decimal) -> list[dict]:
    account = profile.accounts[account_index]
    items = [("account_fee", "ACCT-MGMT", "Account management fee", account.account_fee),
             ("surcharge", "REG-RECOVERY", "Regulatory cost recovery", round_cents(line_subtotal * SURCHARGE_SHARE))]
    items += ACCOUNT_EXTRAS[(month.index + account_index) % len(ACCOUNT_EXTRAS)]
    before_tax = line_subtotal + sum((amount for *_, amount in items), D(0))
    items.append(("tax", "TAX", profile.tax_label, round_cents(before_tax * profile.tax_rate)))
    return [{"account_index": account_index, "line_id": None, "msisdn": None, "line_order": ACCOUNT_LEVEL_ORDER,
             "seq": seq, "charge_type": charge_type, "charge_code": code, "description": description,
             "quantity_milli": None, "unit_rate": None, "amount_cents": _to_units(amount, 2)}
            for seq, (charge_type, code, description, amount) in enumerate(items)]


# --------------------------------------------------------------------------- bad rows


@dataclass(frozen=True)
class Defect:
    """One bad cell: the row it is in breaks exactly this rule."""

    column: str
    reason: str
    value: Callable[[BillingMonth], object]  # a raw text, or a date to be written as a date


def _impossible_day(month: BillingMonth) -> str:
    return f"{month.key}-{month.days + 1:02d}"


ROSTER_DEFECTS = (
    Defect("msisdn", "bad_phone", lambda m: "12345"),
    Defect("imei", "bad_imei", lambda m: "35209900176148"),
    Defect("line_status", "bad_enum", lambda m: "pending"),
    Defect("employment_status", "bad_enum", lambda m: "retired"),
    Defect("vip", "bad_enum", lambda m: "maybe"),
    Defect("carrier", "bad_id", lambda m: "North Wind!"),
    Defect("line_status_date", "bad_date", _impossible_day),
)
INVOICE_DEFECTS = (
    Defect("invoice_date", "bad_date", lambda m: "2026-02-30"),
    Defect("amount", "bad_number", lambda m: "12.3.4"),
    Defect("quantity", "bad_number", lambda m: "two"),
    Defect("charge_type", "bad_enum", lambda m: "discount"),
    Defect("msisdn", "bad_phone", lambda m: "+1 555 0100"),
)
USAGE_DEFECTS = (
    Defect("date", "bad_date", _impossible_day),
    Defect("data_mb", "bad_number", lambda m: "n/a"),
    Defect("voice_minutes", "negative", lambda m: "-3.5"),
    Defect("sms_count", "not_integer", lambda m: "2.5"),
    Defect("date", "date_outside_month", lambda m: m.end + timedelta(days=1)),
    Defect("msisdn", "bad_phone", lambda m: "12345"),
    Defect("imei", "bad_imei", lambda m: "3520990017614"),
)
DEFECTS_PER_TABLE = 2


@dataclass(frozen=True)
class _BadRow:
    position: int  # 0-based data row index in the written file
    template: dict  # a valid row (typed values) ...
    defect: Defect  # ... with this one cell made bad
    value: object


# --------------------------------------------------------------------------- rendering

TEXT, DATE, MONEY, MILLI_VALUE, COUNT, RATE = "text", "date", "money", "milli", "count", "rate"
ROSTER_KINDS = {
    "msisdn": TEXT, "carrier": TEXT, "account_number": TEXT, "plan_code": TEXT, "features": TEXT,
    "line_status": TEXT, "line_status_date": DATE, "employee_id": TEXT, "first_name": TEXT,
    "last_name": TEXT, "email": TEXT, "department": TEXT, "cost_center": TEXT, "job_title": TEXT,
    "manager_employee_id": TEXT, "employment_status": TEXT, "termination_date": DATE, "vip": TEXT,
    "device_make": TEXT, "device_model": TEXT, "imei": TEXT,
}
INVOICE_KINDS = {
    "invoice_number": TEXT, "carrier": TEXT, "account_number": TEXT, "invoice_date": DATE,
    "period_start": DATE, "period_end": DATE, "msisdn": TEXT, "charge_type": TEXT, "charge_code": TEXT,
    "description": TEXT, "quantity": MILLI_VALUE, "unit_rate": RATE, "amount": MONEY, "invoice_total": MONEY,
}
USAGE_KINDS = {
    "date": DATE, "msisdn": TEXT, "imei": TEXT, "voice_minutes": MILLI_VALUE, "sms_count": COUNT,
    "data_mb": MILLI_VALUE, "roaming_voice_minutes": MILLI_VALUE, "roaming_data_mb": MILLI_VALUE,
}
VIP_WORDS = (("true", "false"), ("yes", "no"), ("1", "0"))
EXTRA_COLUMN = "Internal Note"
EXTRA_NOTES = ("", "checked by IT", "see ticket 4411")
FIXED_TIMESTAMP = datetime(2026, 1, 1, 0, 0, 0)


def _milli_text(milli: pl.Expr) -> pl.Expr:
    """12345 -> "12.345", 12300 -> "12.3", 12000 -> "12"."""
    text = pl.concat_str([(milli.abs() // 1000).cast(pl.String), pl.lit("."),
                          (milli.abs() % 1000 + 1000).cast(pl.String).str.slice(1)])
    text = text.str.strip_chars_end("0").str.strip_chars_end(".")
    return pl.when(milli < 0).then(pl.lit("-") + text).otherwise(text)


def _money_text(cents: pl.Expr, thousands: bool) -> pl.Expr:
    """-2500 -> "-25.00"; 123450 -> "1,234.50" with thousands separators."""
    whole = (cents.abs() // 100).cast(pl.String)
    if thousands:
        whole = whole.str.reverse().str.replace_all(r"(\d{3})", "$1,").str.strip_chars_end(",").str.reverse()
    sign = pl.when(cents < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return sign + whole + pl.lit(".") + (cents.abs() % 100).cast(pl.String).str.zfill(2)


def _header(name: str, style: str, position: int) -> str:
    if style == "upper":
        return name.upper()
    if style == "mixed":
        title = "MSISDN" if name == "msisdn" else "_".join(part.capitalize() for part in name.split("_"))
        return f" {title} " if position % 2 else title
    return name


def _column_plan(columns: Sequence[str], style: FileStyle, shuffle: random.Random) -> list[tuple[str, str | None]]:
    """(header as written, source column or None for the unknown extra column)."""
    order: list[str | None] = list(columns)
    if style.shuffled:
        shuffle.shuffle(order)
    if style.extra_column:
        order.insert(shuffle.randrange(len(order) + 1), None)
    return [(EXTRA_COLUMN if source is None else _header(source, style.headers, position), source)
            for position, source in enumerate(order)]


def _insert(frame: pl.DataFrame, rows: Sequence[tuple[int, pl.DataFrame]]) -> pl.DataFrame:
    """Insert one-row frames so that each ends up at its (distinct) data row index."""
    pieces, taken = [], 0
    for inserted_before, (position, row) in enumerate(sorted(rows, key=lambda item: item[0])):
        original_rows_before = position - inserted_before
        pieces += [frame.slice(taken, original_rows_before - taken), row]
        taken = original_rows_before
    pieces.append(frame.slice(taken))
    return pl.concat(pieces)


class _FileWriter:
    """Renders typed tables in a FileStyle, with bad rows, and writes them."""

    def __init__(self, profile: CustomerProfile, rand: _Random):
        self.profile = profile
        self.rand = rand
        self.phones = profile.phones

    def with_phones(self, frame: pl.DataFrame, column: str, stream: str, key: pl.Expr | None = None) -> pl.DataFrame:
        """Rewrite an E.164 column in the region's formats, chosen per row (or per `key`) by a
        multiplicative hash, which is plenty to vary formats and cheap on big files."""
        salt = _stable_u64(f"{self.rand.seed}/{self.rand.customer_id}/{stream}") % (1 << 31)
        key = pl.int_range(pl.len(), dtype=pl.Int64) if key is None else key
        style = ((key * 2_654_435_761 + salt) % (1 << 32)) // (1 << 16) % len(self.phones.formats)
        return frame.with_columns(_phone_text(self.phones, pl.col(column), style).alias(column))

    def date_format(self, style: FileStyle) -> str:
        return "%Y-%m-%d" if style.dates == "iso" else self.profile.regional_date_format

    def text_frame(self, table: pl.DataFrame, kinds: dict[str, str], style: FileStyle) -> pl.DataFrame:
        date_format = self.date_format(style)
        columns = []
        for name, kind in kinds.items():
            column = pl.col(name)
            if kind == DATE:
                column = column.dt.strftime(date_format)
            elif kind == MONEY:
                column = _money_text(column, style.thousands)
            elif kind == MILLI_VALUE:
                column = _milli_text(column)
            elif kind == COUNT:
                column = column.cast(pl.String)
            if kind == TEXT:  # an empty text is an empty cell, not ""
                column = pl.when(column == "").then(None).otherwise(column)
            columns.append(column.alias(name))
        return table.select(columns)

    def write(self, path: Path, table: pl.DataFrame, kinds: dict[str, str], style: FileStyle,
              bad_rows: Sequence[_BadRow], month: BillingMonth) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        plan = _column_plan(list(kinds), style, random.Random(f"{self.rand.seed}/{path.name}/{month.key}"))
        if style.format == "csv":
            self._write_csv(path, table, kinds, style, bad_rows, plan)
        elif style.format == "xlsx":
            self._write_xlsx(path, table, kinds, bad_rows, plan)
        else:
            self._write_parquet(path, table, kinds, style, bad_rows)

    def _write_csv(self, path, table, kinds, style, bad_rows, plan) -> None:
        text = self.text_frame(table, kinds, style)
        inserted = []
        for bad in bad_rows:
            row = self.text_frame(pl.DataFrame([bad.template], schema=table.schema), kinds, style)
            value = bad.value
            if isinstance(value, date):
                value = value.strftime(self.date_format(style))
            inserted.append((bad.position, row.with_columns(pl.lit(value, pl.String).alias(bad.defect.column))))
        text = _insert(text, inserted)
        notes = _pick(EXTRA_NOTES, pl.int_range(pl.len()) % len(EXTRA_NOTES))
        out = text.select([
            (pl.col(source) if source else pl.when(notes == "").then(None).otherwise(notes)).alias(header)
            for header, source in plan])
        out.write_csv(path, include_bom=style.bom, line_terminator="\r\n" if style.crlf else "\n")

    def _write_xlsx(self, path, table, kinds, bad_rows, plan) -> None:
        def cell(kind: str, value):
            if value is None:
                return None
            if kind == MONEY:
                return _from_cents(value)
            if kind == MILLI_VALUE:
                return _from_milli(value)
            if kind == RATE:
                return D(value)
            return value

        names = list(kinds)
        rows = [[cell(kinds[n], v) for n, v in zip(names, values)] for values in table.iter_rows()]
        for bad in sorted(bad_rows, key=lambda b: b.position):
            row = [cell(kinds[n], bad.template[n]) for n in names]
            row[names.index(bad.defect.column)] = bad.value
            rows.insert(bad.position, row)
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("Sheet1")
        sheet.append([header for header, _ in plan])
        for number, row in enumerate(rows):
            values = dict(zip(names, row))
            sheet.append([values[source] if source else (EXTRA_NOTES[number % len(EXTRA_NOTES)] or None)
                          for _, source in plan])
        path.write_bytes(_deterministic_xlsx(workbook))

    def _write_parquet(self, path, table, kinds, style, bad_rows) -> None:
        decimal = style.numbers == "decimal"

        def typed(frame: pl.DataFrame) -> pl.DataFrame:
            columns = []
            for name, kind in kinds.items():
                column = pl.col(name)
                if kind == MILLI_VALUE:  # thousandths divided exactly, or to the nearest float64
                    column = ((column.cast(pl.Decimal(38, 3)) / pl.lit(1000, pl.Decimal(38, 0))).cast(
                        pl.Decimal(12, 3)) if decimal else column.cast(pl.Float64) / 1000)
                elif kind == COUNT:
                    column = column.cast(pl.Int64 if decimal else pl.Float64)
                columns.append(column.alias(name))
            return frame.select(columns)

        frame = typed(table)
        inserted = []
        for bad in bad_rows:
            row = typed(pl.DataFrame([bad.template], schema=table.schema))
            dtype = row.schema[bad.defect.column]
            value = bad.value
            if dtype == pl.Float64:
                value = float(value)
            elif isinstance(dtype, pl.Decimal):
                value = D(value)
            elif dtype == pl.Int64:
                value = int(value)
            inserted.append((bad.position, row.with_columns(pl.Series(bad.defect.column, [value], dtype=dtype))))
        _insert(frame, inserted).write_parquet(path, compression="zstd", statistics=False)

    @staticmethod
    def accepts(style: FileStyle, defect: Defect, kinds: dict[str, str]) -> bool:
        """Can this file carry the bad cell? Typed parquet columns hold only typed values."""
        if style.format != "parquet":
            return True
        kind = kinds[defect.column]
        if kind == TEXT:
            return True
        if kind == DATE:
            return isinstance(defect.value(MONTHS[0]), date)
        try:
            number = D(str(defect.value(MONTHS[0])))
        except ArithmeticError:
            return False
        return not (kind == COUNT and style.numbers == "decimal" and number != number.to_integral_value())


def _deterministic_xlsx(workbook: Workbook) -> bytes:
    """Save without wall-clock time: fixed document properties and zip entry dates."""
    workbook.properties.created = FIXED_TIMESTAMP
    workbook.properties.modified = FIXED_TIMESTAMP
    buffer = io.BytesIO()
    with ZipFile(buffer, "w", ZIP_DEFLATED) as archive:
        ExcelWriter(workbook, archive).save()  # workbook.save() would stamp `modified` with now
    normalised = io.BytesIO()
    with ZipFile(io.BytesIO(buffer.getvalue())) as source, ZipFile(normalised, "w", ZIP_DEFLATED) as target:
        for entry in source.infolist():
            fixed = ZipInfo(entry.filename, date_time=FIXED_TIMESTAMP.timetuple()[:6])
            fixed.compress_type = ZIP_DEFLATED
            target.writestr(fixed, source.read(entry.filename))
    return normalised.getvalue()


def _variant_labels(style: FileStyle, profile: CustomerProfile, kind: str) -> tuple[str, ...]:
    if style.format == "parquet":
        labels = [f"parquet-{style.numbers}"]
    elif style.format == "xlsx":
        labels = ["xlsx", "excel-dates"] + (["excel-numbers"] if kind == "invoice" else [])
    else:
        regional = "dates-mdy" if profile.region == "US" else "dates-dmy"
        labels = ["csv", "dates-iso" if style.dates == "iso" else regional,
                  "crlf" if style.crlf else "lf"]
        if style.bom:
            labels.append("bom")
        if style.thousands and kind == "invoice":
            labels.append("thousands-separators")
    if style.headers != "plain":
        labels.append(f"headers-{style.headers}")
    if style.shuffled:
        labels.append("columns-shuffled")
    if style.extra_column:
        labels.append("extra-column")
    return tuple(labels)


def _write_rows_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if value is None else value for value in row])
            count += 1
    return count


class _DecimalDumper(yaml.SafeDumper):
    pass


_DecimalDumper.add_representer(
    Decimal, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:float", str(value)))


# --------------------------------------------------------------------------- orchestration


class _SummaryBuilder:
    def __init__(self, root: Path, seed: int):
        self.root = root
        self.seed = seed
        self.files: list[WrittenFile] = []
        self.customers: list[str] = []
        self.counts: Counter = Counter()

    def add(self, path: Path, kind: str, rows: int = 0, variants: tuple[str, ...] = ()) -> None:
        written = path.relative_to(self.root) if path.is_relative_to(self.root) else path
        self.files.append(WrittenFile(written.as_posix(), kind, rows, variants))
        self.counts[f"{kind}_rows"] += rows

    def build(self) -> SampleSummary:
        return SampleSummary(
            root=self.root, seed=self.seed, customers=tuple(self.customers), months=BILLING_MONTH_KEYS,
            files=tuple(self.files), roster_rows=self.counts["roster_rows"],
            invoice_rows=self.counts["invoice_rows"], usage_rows=self.counts["usage_rows"],
            quarantined_rows=self.counts["quarantine"], findings=self.counts["findings"],
            savings=self.counts["savings"])


class _MeasuredUsageBook:
    """A month's measured usage per E.164 number, turned into Decimals on first use
    (most lines are never asked for in months without savings history)."""

    def __init__(self, totals: pl.DataFrame):
        self._milli = {row[0]: row[1:] for row in totals.select("msisdn", *USAGE_TOTAL_COLUMNS).iter_rows()}
        self._measured: dict[str, MeasuredUsage] = {}

    def __call__(self, msisdn: str) -> MeasuredUsage:
        measured = self._measured.get(msisdn)
        if measured is None:
            milli = self._milli.get(msisdn)
            if milli is None:
                return NO_USAGE
            voice, sms, data, roaming_voice, roaming_data = milli
            measured = self._measured[msisdn] = MeasuredUsage(
                _from_milli(voice), _from_milli(sms * 1000), _from_milli(data), _from_milli(roaming_voice),
                _from_milli(roaming_data))
        return measured


@dataclass
class _CustomerGenerator:
    profile: CustomerProfile
    line_count: int
    seed: int
    root: Path
    expected_dir: Path
    summary: _SummaryBuilder
    usage_history: list[_MeasuredUsageBook] = field(default_factory=list)  # the last 3 months

    def run(self) -> None:
        profile = self.profile
        self.summary.customers.append(profile.customer_id)
        self.rand = _Random(self.seed, profile.customer_id)
        self.numbers = _NumberAllocator(profile.phones, self.rand)
        self.imei_offset = self.rand.python("imei").randrange(1_000_000)
        self.lines = _line_inventory(profile, self.line_count, self.rand, self.numbers, self.imei_offset)
        self.next_allocation = self.lines.height  # fresh numbers for strangers and bad rows
        self.plans, self.features, self.roaming = _catalogue_frames(profile)
        self.writer = _FileWriter(profile, self.rand)
        self._write_customer_files()
        for month in MONTHS:
            self._write_month(month)

    # ---- helpers

    @property
    def customer_dir(self) -> Path:
        return self.root / "customers" / self.profile.customer_id

    def inbox(self, month: BillingMonth) -> Path:
        return self.root / "inbox" / self.profile.customer_id / month.key

    def expected(self, month: BillingMonth) -> Path:
        return self.expected_dir / self.profile.customer_id / month.key

    def fresh_number(self) -> str:
        allocation = self.next_allocation
        self.next_allocation += 1
        return pl.select(self.numbers.e164(pl.lit(allocation, pl.Int64))).item()

    def fresh_imei(self) -> str:
        allocation = self.next_allocation
        self.next_allocation += 1
        payload = _imei_payload(pl.lit(USER_DEVICES[0][2]), pl.lit(allocation, pl.Int64), self.imei_offset)
        return pl.select(_imei(payload)).item()

    def _write_customer_files(self) -> None:
        profile = self.profile
        path = self.customer_dir / "customer.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"name": profile.name, "region": profile.region,
                                        "currency": profile.currency}, sort_keys=False), encoding="utf-8")
        self.summary.add(path, "customer")
        for contract in profile.contracts:
            path = self.customer_dir / "contracts" / f"{contract.carrier}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.dump(contract.as_yaml(), Dumper=_DecimalDumper, sort_keys=False,
                                      allow_unicode=True), encoding="utf-8")
            self.summary.add(path, "contract")

    # ---- one billing month

    def _write_month(self, month: BillingMonth) -> None:
        profile = self.profile
        month_lines = _month_lines(self.lines, month)
        usage = _usage_rows(month_lines, self.plans, month, self.rand)
        totals = usage.group_by("line_id").agg(pl.col(c).sum() for c in USAGE_TOTAL_COLUMNS).sort("line_id")
        measured = _MeasuredUsageBook(totals.join(month_lines.select("line_id", "msisdn"), on="line_id"))
        self.usage_history = [*self.usage_history[-2:], measured]

        book = _InvoiceBook(_clean_charges(month_lines, totals, self.plans, self.features, self.roaming))
        role_lines = {row["line_id"]: row for row in
                      month_lines.filter(pl.col("role").is_not_null()).to_dicts()}
        ctx = _PlantContext(profile, month, book, role_lines, measured, self.fresh_number)
        planted = Counter()
        for plant in profile.plants:
            if plant.month == month.key:
                planted.update(_plant(plant, ctx))

        invoices = self._finish_invoices(month, book)
        roster = self._roster_model(month_lines)
        findings = []
        for account_index, (invoice, _) in invoices.items():
            contract = profile.contract(invoice.carrier)
            findings += audit_invoice(invoice, contract, roster, measured, customer_id=profile.customer_id,
                                      billing_month=month.key, currency=profile.currency)
        self._check_planted(month, invoices, planted, findings)

        history = self.usage_history if month.index >= 2 else None  # M-2, M-1, M all in the inbox
        savings = recommend_savings(roster, {c.carrier: c for c in profile.contracts}, history, month.start,
                                    customer_id=profile.customer_id, billing_month=month.key,
                                    currency=profile.currency)

        quarantine = []
        quarantine += self._write_roster(month, month_lines)
        quarantine += self._write_invoices(month, invoices)
        quarantine += self._write_usage(month, usage, month_lines)
        self._write_expected(month, quarantine, findings, savings)

    def _finish_invoices(self, month: BillingMonth, book: _InvoiceBook) -> dict[int, tuple[Invoice, pl.DataFrame]]:
        """Add account-level charges and the stated totals; return the audit view and rows."""
        profile = self.profile
        subtotals = dict(book.charges.group_by("account_index").agg(pl.col("amount_cents").sum()).iter_rows())
        for account_index in range(len(profile.accounts)):
            book.add(*_account_charges(profile, account_index, month,
                                       _from_cents(subtotals.get(account_index, 0))))
        charges = book.charges.sort("account_index", "line_order", "seq")
        invoices = {}
        for account_index, account in enumerate(profile.accounts):
            rows = charges.filter(pl.col("account_index") == account_index)
            charged = sum(rows["amount_cents"].to_list())
            stated = charged + book.total_adjustment_cents.get(account_index, 0)
            invoice = Invoice(
                invoice_number=account.invoice_number(month), carrier=account.carrier,
                account_number=account.account_number, period_start=month.start,
                stated_total=_from_cents(stated),
                charges=tuple(Charge(msisdn, charge_type, code,
                                     None if quantity is None else _from_milli(quantity),
                                     None if rate is None else D(rate), _from_cents(amount))
                              for msisdn, charge_type, code, quantity, rate, amount in rows.select(
                                  "msisdn", "charge_type", "charge_code", "quantity_milli", "unit_rate",
                                  "amount_cents").iter_rows()))
            invoices[account_index] = (invoice, rows.with_columns(invoice_total=pl.lit(stated, pl.Int64)))
        return invoices

    @staticmethod
    def _roster_model(month_lines: pl.DataFrame) -> dict[str, RosterEntry]:
        return {msisdn: RosterEntry(carrier, plan, tuple(features), status, status_date, employee,
                                    employment, terminated)
                for msisdn, carrier, plan, features, status, status_date, employee, employment, terminated
                in month_lines.select("msisdn", "carrier", "plan_code", "features", "line_status",
                                      "line_status_date", "employee_id", "employment_status",
                                      "shown_termination_date").iter_rows()}

    def _check_planted(self, month, invoices, planted: Counter, findings: list[Finding]) -> None:
        numbers = {account: invoice.invoice_number for account, (invoice, _) in invoices.items()}
        wanted = Counter({(numbers[account], msisdn, kind): n for (account, msisdn, kind), n in planted.items()})
        found = Counter((f.invoice_number, f.msisdn, f.finding_type) for f in findings)
        if wanted != found:
            raise RuntimeError(
                f"{self.profile.customer_id} {month.key}: the rules do not find exactly the planted billing "
                f"errors; missing {sorted((wanted - found).elements())}, "
                f"unexpected {sorted((found - wanted).elements())}")

    # ---- files

    def _defects_for(self, month: BillingMonth, catalogue: Sequence[Defect], files: Sequence[tuple[str, FileStyle]],
                     kinds: dict[str, str]) -> list[tuple[str, Defect]]:
        """Pick this customer-month's bad cells from a rotating catalogue, each in a file that can hold it."""
        turn = CUSTOMERS.index(self.profile) * len(MONTHS) + month.index
        chosen = []
        for step in range(len(catalogue)):
            if len(chosen) == DEFECTS_PER_TABLE:
                break
            defect = catalogue[(turn * DEFECTS_PER_TABLE + step) % len(catalogue)]
            fits = [name for name, style in files if _FileWriter.accepts(style, defect, kinds)]
            if fits:
                chosen.append((fits[(turn + len(chosen)) % len(fits)], defect))
        return chosen

    def _bad_rows(self, month: BillingMonth, cells: Sequence[tuple[Defect, dict]], rows: int,
                  stream: str) -> list[_BadRow]:
        """Place each (defect, valid template row) at a distinct row of a file of `rows` good rows."""
        place = self.rand.python(f"bad-rows/{month.key}/{stream}")
        positions = sorted(place.sample(range(rows + len(cells)), len(cells)))
        return [_BadRow(position, template, defect, defect.value(month))
                for position, (defect, template) in zip(positions, cells)]

    def _record(self, path: Path, bad_rows: Sequence[_BadRow], inbox: Path) -> list[tuple[str, int, str, str]]:
        relative = path.relative_to(inbox).as_posix()
        return [(relative, bad.position + 2, bad.defect.column, bad.defect.reason) for bad in bad_rows]

    def _effective(self, style: FileStyle, rows: int) -> tuple[FileStyle, tuple[str, ...]]:
        if style.format == "xlsx" and rows > XLSX_MAX_ROWS:
            return replace(style, format="csv"), ("xlsx-too-large-as-csv",)
        return style, ()

    def _write_roster(self, month: BillingMonth, month_lines: pl.DataFrame) -> list:
        profile, layout = self.profile, self.profile.layouts[month.index]
        style, fallback = self._effective(layout.roster, month_lines.height)
        true_word, false_word = VIP_WORDS[(CUSTOMERS.index(profile) + month.index) % len(VIP_WORDS)]
        table = self.writer.with_phones(month_lines, "msisdn", f"roster/{month.key}").select(
            "msisdn",
            carrier="carrier", account_number="account_number", plan_code="plan_code",
            features=pl.col("features").list.join(";"), line_status="line_status",
            line_status_date="line_status_date", employee_id="employee_id", first_name="first_name",
            last_name="last_name", email="email", department="department", cost_center="cost_center",
            job_title="job_title", manager_employee_id="manager_employee_id",
            employment_status="employment_status", termination_date="shown_termination_date",
            vip=pl.when("vip").then(pl.lit(true_word)).otherwise(pl.lit(false_word)),
            device_make="device_make", device_model="device_model", imei="imei")
        path = self.inbox(month) / f"roster.{style.format}"
        defects = [d for _, d in self._defects_for(month, ROSTER_DEFECTS, [(path.name, style)], ROSTER_KINDS)]
        # Each bad roster row is an extra line nobody bills or uses: a fresh number and IMEI.
        cells = [(defect, table.row(0, named=True) | {"msisdn": self.fresh_number(), "imei": self.fresh_imei()})
                 for defect in defects]
        bad_rows = self._bad_rows(month, cells, table.height, "roster")
        self.writer.write(path, table, ROSTER_KINDS, style, bad_rows, month)
        self.summary.add(path, "roster", table.height + len(bad_rows),
                         _variant_labels(style, profile, "roster") + fallback)
        return self._record(path, bad_rows, self.inbox(month))

    def _write_invoices(self, month: BillingMonth, invoices: dict[int, tuple[Invoice, pl.DataFrame]]) -> list:
        profile, layout = self.profile, self.profile.layouts[month.index]
        quarantine = []
        files = []
        for account_index, (invoice, rows) in invoices.items():
            style, fallback = self._effective(layout.invoices[account_index], rows.height)
            path = self.inbox(month) / "invoices" / f"{invoice.carrier}-{invoice.invoice_number}.{style.format}"
            files.append((account_index, invoice, rows, style, fallback, path))
        defects = self._defects_for(month, INVOICE_DEFECTS, [(f[5].name, f[3]) for f in files], INVOICE_KINDS)
        for account_index, invoice, rows, style, fallback, path in files:
            account = profile.accounts[account_index]
            invoice_date = month.end + timedelta(days=3 + 2 * account_index)
            table = self.writer.with_phones(rows, "msisdn", f"invoice/{invoice.invoice_number}").select(
                invoice_number=pl.lit(invoice.invoice_number), carrier=pl.lit(invoice.carrier),
                account_number=pl.lit(account.account_number), invoice_date=pl.lit(invoice_date),
                period_start=pl.lit(month.start), period_end=pl.lit(month.end), msisdn="msisdn",
                charge_type="charge_type", charge_code="charge_code", description="description",
                quantity="quantity_milli", unit_rate="unit_rate", amount="amount_cents",
                invoice_total="invoice_total")
            # A bad invoice row is an extra SIM replacement charge; the stated total leaves it out.
            template = {**table.row(0, named=True), "msisdn": None, "charge_type": "one_time",
                        "charge_code": "SIM-SWAP", "description": "Replacement SIM card", "quantity": None,
                        "unit_rate": None, "amount": 500}
            mine = [d for name, d in defects if name == path.name]
            bad_rows = self._bad_rows(month, [(d, template) for d in mine], table.height,
                                      f"invoice/{invoice.invoice_number}")
            self.writer.write(path, table, INVOICE_KINDS, style, bad_rows, month)
            self.summary.add(path, "invoice", table.height + len(bad_rows),
                             _variant_labels(style, profile, "invoice") + fallback)
            quarantine += self._record(path, bad_rows, self.inbox(month))
        return quarantine

    def _write_usage(self, month: BillingMonth, usage: pl.DataFrame, month_lines: pl.DataFrame) -> list:
        profile, layout = self.profile, self.profile.layouts[month.index]
        table = usage.join(month_lines.select("line_id", "imei"), on="line_id", maintain_order="left")
        # Split the month by row count into the layout's parts, and big parts into files of bounded size.
        files = []
        per_part = -(-table.height // len(layout.usage))
        for part, style in enumerate(layout.usage):
            part_rows = table.slice(part * per_part, per_part)
            chunks = max(1, -(-part_rows.height // USAGE_FILE_MAX_ROWS))
            chunk_rows = -(-part_rows.height // chunks) if part_rows.height else 0
            for chunk in range(chunks):
                files.append((style, part_rows.slice(chunk * chunk_rows, chunk_rows) if chunk_rows else part_rows))
        paths = [self.inbox(month) / "usage" / f"usage-part-{n}.{'csv' if s.format == 'csv' else 'parquet'}"
                 for n, (s, _) in enumerate(files, start=1)]
        defects = self._defects_for(month, USAGE_DEFECTS, [(p.name, s) for p, (s, _) in zip(paths, files)],
                                    USAGE_KINDS)
        template = self._usage_template(month, table, month_lines)
        quarantine = []
        for path, (style, rows) in zip(paths, files):
            stream = f"usage/{path.name}"
            # Formatted once per line and file: usage files are far too big to format row by row.
            numbers = self.writer.with_phones(month_lines.select("line_id", "msisdn"), "msisdn",
                                              f"{stream}/{month.key}", key=pl.col("line_id"))
            written = rows.join(numbers, on="line_id", maintain_order="left").select(
                date="date", msisdn="msisdn",
                imei="imei", voice_minutes="voice_milli", sms_count="sms_count", data_mb="data_milli",
                roaming_voice_minutes="roaming_voice_milli", roaming_data_mb="roaming_data_milli")
            mine = [d for name, d in defects if name == path.name]
            bad_rows = self._bad_rows(month, [(d, template) for d in mine], written.height, stream)
            self.writer.write(path, written, USAGE_KINDS, style, bad_rows, month)
            self.summary.add(path, "usage", written.height + len(bad_rows), _variant_labels(style, profile, "usage"))
            quarantine += self._record(path, bad_rows, self.inbox(month))
        return quarantine

    def _usage_template(self, month: BillingMonth, table: pl.DataFrame, month_lines: pl.DataFrame) -> dict:
        """A valid usage row for a light user on a day without activity, so it never doubles a day."""
        light = month_lines.filter(pl.col("has_usage") & (pl.col("usage_profile") == "light"))
        for candidate in light.select("line_id", "msisdn", "imei").iter_rows(named=True):
            busy = set(table.filter(pl.col("line_id") == candidate["line_id"])["day"].to_list())
            free = [d for d in range(1, month.days + 1) if d not in busy]
            if free:
                return {"date": month.start + timedelta(days=free[0] - 1), "msisdn": candidate["msisdn"],
                        "imei": candidate["imei"], "voice_minutes": 4500, "sms_count": 2, "data_mb": 35250,
                        "roaming_voice_minutes": 0, "roaming_data_mb": 0}
        raise RuntimeError(f"{self.profile.customer_id} {month.key}: no light user with an idle day "
                           "to carry the bad usage rows")

    def _write_expected(self, month: BillingMonth, quarantine: list[tuple[str, int, str, str]],
                        findings: list[Finding], savings: list[Saving]) -> None:
        def text(value):
            return f"{value:.2f}" if isinstance(value, Decimal) else value

        folder = self.expected(month)
        for name, columns, rows in (
            ("quarantine", QUARANTINE_COLUMNS, sorted(quarantine)),
            ("findings", FINDING_COLUMNS, ([text(getattr(f, c)) for c in FINDING_COLUMNS] for f in findings)),
            ("savings", SAVINGS_COLUMNS, ([text(getattr(s, c)) for c in SAVINGS_COLUMNS] for s in savings)),
        ):
            path = folder / f"{name}.csv"
            written = _write_rows_csv(path, columns, rows)
            self.summary.add(path, "expected", written)
            self.summary.counts[name] += written
