"""The three input tables: which columns they have, how each is parsed, and the pandera
models that hold the parsed rows to the data contract.

Parsing (text -> date, decimal, phone) happens in ``reports/inputs/parsing.py``; the pandera models here
check the parsed values (enums, signs, formats, required values). Row-level failures of
either become quarantine rows; nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pandera.polars as pa
import polars as pl
from pandera.engines import polars_engine

from schemas.names import ID_PATTERN

LINE_STATUSES = ["active", "suspended", "cancelled"]
EMPLOYMENT_STATUSES = ["active", "on_leave", "terminated"]
CHARGE_TYPES = [
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
]
IMEI_PATTERN = r"^\d{15}$"
ERASED = "ERASED"  # contract v1.1: the invoice msisdn of a charge on an erased person's line

# Identifiers that are replaced by pseudonyms (column -> pseudonym field) or never stored.
PSEUDONYMIZED_COLUMNS = {
    "msisdn": "msisdn",
    "imei": "imei",
    "employee_id": "employee_id",
    "manager_employee_id": "manager_employee_id",
}
DROPPED_PERSONAL_COLUMNS = ("first_name", "last_name", "email")
PERSONAL_COLUMNS = frozenset(PSEUDONYMIZED_COLUMNS) | frozenset(DROPPED_PERSONAL_COLUMNS)


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: str  # text | enum | date | money | quantity | count | phone | bool
    required_header: bool = True
    empty_means_zero: bool = False  # usage: an empty cell is no activity
    # a literal the contract gives a meaning of its own: accepted, and stored as an empty cell. The invoice msisdn
    # ERASED (contract v1.1) marks a charge on an erased person's line: it belongs to no line, like an account charge
    accepted_as_empty: str | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[ColumnSpec, ...]
    pseudonymized: dict[str, str] = field(default_factory=dict)
    dropped: tuple[str, ...] = ()

    @property
    def required_headers(self) -> list[str]:
        return [c.name for c in self.columns if c.required_header]

    def of_kind(self, *kinds: str) -> list[str]:
        return [c.name for c in self.columns if c.kind in kinds]


def _c(name: str, kind: str = "text", required: bool = True, **kw) -> ColumnSpec:
    return ColumnSpec(name, kind, required, **kw)


ROSTER = TableSpec(
    name="roster",
    columns=(
        _c("msisdn", "phone"),
        _c("carrier"),
        _c("account_number", required=False),
        _c("plan_code"),
        _c("features"),
        _c("line_status", "enum"),
        _c("line_status_date", "date"),
        _c("employee_id"),
        _c("first_name", required=False),
        _c("last_name", required=False),
        _c("email", required=False),
        _c("department", required=False),
        _c("cost_center", required=False),
        _c("job_title", required=False),
        _c("manager_employee_id", required=False),
        _c("employment_status", "enum"),
        _c("termination_date", "date"),
        _c("vip", "bool", required=False),
        _c("device_make", required=False),
        _c("device_model", required=False),
        _c("imei", required=False),
    ),
    pseudonymized=PSEUDONYMIZED_COLUMNS,
    dropped=DROPPED_PERSONAL_COLUMNS,
)

INVOICE_CHARGES = TableSpec(
    name="invoice_charges",
    columns=(
        _c("invoice_number"),
        _c("carrier"),
        _c("account_number"),
        _c("invoice_date", "date", required=False),
        _c("period_start", "date"),
        _c("period_end", "date"),
        _c("msisdn", "phone", accepted_as_empty=ERASED),
        _c("charge_type", "enum"),
        _c("charge_code"),
        _c("description", required=False),
        _c("quantity", "quantity"),
        _c("unit_rate", "quantity"),
        _c("amount", "money"),
        _c("invoice_total", "money"),
    ),
    pseudonymized={"msisdn": "msisdn"},
)

DEVICE_USAGE = TableSpec(
    name="device_usage",
    columns=(
        _c("date", "date"),
        _c("msisdn", "phone"),
        _c("imei", required=False),
        _c("voice_minutes", "quantity", empty_means_zero=True),
        _c("sms_count", "count", empty_means_zero=True),
        _c("data_mb", "quantity", empty_means_zero=True),
        _c("roaming_voice_minutes", "quantity", empty_means_zero=True),
        _c("roaming_data_mb", "quantity", empty_means_zero=True),
    ),
    pseudonymized={"msisdn": "msisdn", "imei": "imei"},
)


# ----------------------------------------------------------------------------------------
# pandera models of the parsed tables (before pseudonymization)
# ----------------------------------------------------------------------------------------
Money = polars_engine.Decimal(18, 4)
Quantity = polars_engine.Decimal(18, 6)


class _Model(pa.DataFrameModel):
    class Config:
        strict = False  # source_file/source_row and ignored columns ride along
        coerce = False


class RosterModel(_Model):
    msisdn: str = pa.Field(nullable=False)
    carrier: str = pa.Field(nullable=False, str_matches=ID_PATTERN.pattern)
    plan_code: str = pa.Field(nullable=False)
    features: Optional[str] = pa.Field(nullable=True)
    line_status: str = pa.Field(nullable=False, isin=LINE_STATUSES)
    line_status_date: Optional[pl.Date] = pa.Field(nullable=True)
    employee_id: Optional[str] = pa.Field(nullable=True)
    employment_status: Optional[str] = pa.Field(nullable=True, isin=EMPLOYMENT_STATUSES)
    termination_date: Optional[pl.Date] = pa.Field(nullable=True)
    vip: Optional[pl.Boolean] = pa.Field(nullable=True)
    imei: Optional[str] = pa.Field(nullable=True, str_matches=IMEI_PATTERN)


class InvoiceChargeModel(_Model):
    invoice_number: str = pa.Field(nullable=False)
    carrier: str = pa.Field(nullable=False, str_matches=ID_PATTERN.pattern)
    account_number: str = pa.Field(nullable=False)
    invoice_date: Optional[pl.Date] = pa.Field(nullable=True)
    period_start: pl.Date = pa.Field(nullable=False)
    period_end: pl.Date = pa.Field(nullable=False)
    msisdn: Optional[str] = pa.Field(nullable=True)
    charge_type: str = pa.Field(nullable=False, isin=CHARGE_TYPES)
    charge_code: Optional[str] = pa.Field(nullable=True)
    quantity: Optional[Quantity] = pa.Field(nullable=True)
    unit_rate: Optional[Quantity] = pa.Field(nullable=True)
    amount: Money = pa.Field(nullable=False)
    invoice_total: Money = pa.Field(nullable=False)


class DeviceUsageModel(_Model):
    date: pl.Date = pa.Field(nullable=False)
    msisdn: str = pa.Field(nullable=False)
    imei: Optional[str] = pa.Field(nullable=True, str_matches=IMEI_PATTERN)
    voice_minutes: Quantity = pa.Field(nullable=False, ge=0)
    sms_count: Quantity = pa.Field(nullable=False, ge=0)
    data_mb: Quantity = pa.Field(nullable=False, ge=0)
    roaming_voice_minutes: Quantity = pa.Field(nullable=False, ge=0)
    roaming_data_mb: Quantity = pa.Field(nullable=False, ge=0)

    @pa.check("sms_count", name="whole_number")
    @classmethod
    def sms_is_whole(cls, data) -> pl.LazyFrame:
        column = pl.col(data.key)
        return data.lazyframe.select(column.cast(pl.Int64, strict=False).cast(Quantity.type) == column)


MODELS = {ROSTER.name: RosterModel, INVOICE_CHARGES.name: InvoiceChargeModel, DEVICE_USAGE.name: DeviceUsageModel}

# What a failed pandera check means to the customer: (reason_code, reason sentence)
CHECK_REASONS = {
    "not_nullable": ("missing_value", "a value is required"),
    "greater_than_or_equal_to": ("negative", "must not be negative"),
    "whole_number": ("not_integer", "must be a whole number"),
}


def reason_for_check(column: str, check: str) -> tuple[str, str]:
    name = check.split("(", 1)[0]
    if name in CHECK_REASONS:
        return CHECK_REASONS[name]
    if name == "isin":
        allowed = {
            "line_status": LINE_STATUSES,
            "employment_status": EMPLOYMENT_STATUSES,
            "charge_type": CHARGE_TYPES,
        }.get(column, [])
        return "bad_enum", "not one of the allowed values: " + ", ".join(allowed)
    if name == "str_matches" and column == "imei":
        return "bad_imei", "an IMEI must be exactly 15 digits"
    if name == "str_matches":
        return "bad_id", "must be 2-63 characters of lower-case a-z, 0-9 and '-'"
    return "invalid", f"fails the check {name}"


# Stored (pseudonymized) warehouse tables: what later stages may rely on.
STORED_COLUMNS = {
    ROSTER.name: [
        "msisdn",
        "carrier",
        "account_number",
        "plan_code",
        "features",
        "line_status",
        "line_status_date",
        "employee_id",
        "department",
        "cost_center",
        "job_title",
        "manager_employee_id",
        "employment_status",
        "termination_date",
        "vip",
        "device_make",
        "device_model",
        "imei",
    ],
    INVOICE_CHARGES.name: [
        "invoice_number",
        "carrier",
        "account_number",
        "invoice_date",
        "period_start",
        "period_end",
        "msisdn",
        "charge_type",
        "charge_code",
        "description",
        "quantity",
        "unit_rate",
        "amount",
        "invoice_total",
    ],
    DEVICE_USAGE.name: [
        "date",
        "msisdn",
        "imei",
        "voice_minutes",
        "sms_count",
        "data_mb",
        "roaming_voice_minutes",
        "roaming_data_mb",
    ],
}
# Which files of a drop feed which table (folder, file stem or None for every file), and the file types the
# contract allows for each; a type needs a reader in reports/inputs/formats/.
DROP_FILES = {
    ROSTER.name: ("", "roster", {".csv", ".xlsx"}),
    INVOICE_CHARGES.name: ("invoices", None, {".csv", ".xlsx"}),
    DEVICE_USAGE.name: ("usage", None, {".csv", ".parquet"}),
}


LINEAGE_COLUMNS = ["source_file", "source_row"]
