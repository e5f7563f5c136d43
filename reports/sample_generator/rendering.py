"""Rendering: the sample's tables written as the data contract allows them to arrive (CSV, XLSX, Parquet; date,
number, header and column-order variants; phone numbers in regional formats), bad rows included, and the customer
and contract YAML files."""

from __future__ import annotations

import random
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import polars as pl
import yaml
from openpyxl import Workbook

from reports.workbook.archive import reproducible_bytes
from schemas.contract import Contract

from .money import from_cents, from_milli
from .months import BillingMonth
from .profiles import CustomerProfile, FileStyle, PhonePlan
from .randomness import Randomness, pick, stable_u64

if TYPE_CHECKING:
    from .defects import BadRow

D = Decimal

TEXT, DATE, MONEY, MILLI_VALUE, COUNT, RATE = "text", "date", "money", "milli", "count", "rate"
ROSTER_KINDS = {
    "msisdn": TEXT,
    "carrier": TEXT,
    "account_number": TEXT,
    "plan_code": TEXT,
    "features": TEXT,
    "line_status": TEXT,
    "line_status_date": DATE,
    "employee_id": TEXT,
    "first_name": TEXT,
    "last_name": TEXT,
    "email": TEXT,
    "department": TEXT,
    "cost_center": TEXT,
    "job_title": TEXT,
    "manager_employee_id": TEXT,
    "employment_status": TEXT,
    "termination_date": DATE,
    "vip": TEXT,
    "device_make": TEXT,
    "device_model": TEXT,
    "imei": TEXT,
}
INVOICE_KINDS = {
    "invoice_number": TEXT,
    "carrier": TEXT,
    "account_number": TEXT,
    "invoice_date": DATE,
    "period_start": DATE,
    "period_end": DATE,
    "msisdn": TEXT,
    "charge_type": TEXT,
    "charge_code": TEXT,
    "description": TEXT,
    "quantity": MILLI_VALUE,
    "unit_rate": RATE,
    "amount": MONEY,
    "invoice_total": MONEY,
}
USAGE_KINDS = {
    "date": DATE,
    "msisdn": TEXT,
    "imei": TEXT,
    "voice_minutes": MILLI_VALUE,
    "sms_count": COUNT,
    "data_mb": MILLI_VALUE,
    "roaming_voice_minutes": MILLI_VALUE,
    "roaming_data_mb": MILLI_VALUE,
}
VIP_WORDS = (("true", "false"), ("yes", "no"), ("1", "0"))
EXTRA_COLUMN = "Internal Note"
EXTRA_NOTES = ("", "checked by IT", "see ticket 4411")
FIXED_TIMESTAMP = datetime(2026, 1, 1, 0, 0, 0)


def _milli_text(milli: pl.Expr) -> pl.Expr:
    """12345 -> "12.345", 12300 -> "12.3", 12000 -> "12"."""
    text = pl.concat_str(
        [(milli.abs() // 1000).cast(pl.String), pl.lit("."), (milli.abs() % 1000 + 1000).cast(pl.String).str.slice(1)]
    )
    text = text.str.strip_chars_end("0").str.strip_chars_end(".")
    return pl.when(milli < 0).then(pl.lit("-") + text).otherwise(text)


def _money_text(cents: pl.Expr, thousands: bool) -> pl.Expr:
    """-2500 -> "-25.00"; 123450 -> "1,234.50" with thousands separators."""
    whole = (cents.abs() // 100).cast(pl.String)
    if thousands:
        whole = whole.str.reverse().str.replace_all(r"(\d{3})", "$1,").str.strip_chars_end(",").str.reverse()
    sign = pl.when(cents < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return sign + whole + pl.lit(".") + (cents.abs() % 100).cast(pl.String).str.zfill(2)


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
    return [
        (EXTRA_COLUMN if source is None else _header(source, style.headers, position), source)
        for position, source in enumerate(order)
    ]


def _insert(frame: pl.DataFrame, rows: Sequence[tuple[int, pl.DataFrame]]) -> pl.DataFrame:
    """Insert one-row frames so that each ends up at its (distinct) data row index."""
    pieces, taken = [], 0
    for inserted_before, (position, row) in enumerate(sorted(rows, key=lambda item: item[0])):
        original_rows_before = position - inserted_before
        pieces += [frame.slice(taken, original_rows_before - taken), row]
        taken = original_rows_before
    pieces.append(frame.slice(taken))
    return pl.concat(pieces)


class FileWriter:
    """Renders typed tables in a FileStyle, with bad rows, and writes them."""

    def __init__(self, profile: CustomerProfile, rand: Randomness):
        self.profile = profile
        self.rand = rand
        self.phones = profile.phones

    def with_phones(self, frame: pl.DataFrame, column: str, stream: str, key: pl.Expr | None = None) -> pl.DataFrame:
        """Rewrite an E.164 column in the region's formats, chosen per row (or per `key`) by a
        multiplicative hash, which is plenty to vary formats and cheap on big files."""
        salt = stable_u64(f"{self.rand.seed}/{self.rand.customer_id}/{stream}") % (1 << 31)
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

    def write(
        self,
        path: Path,
        table: pl.DataFrame,
        kinds: dict[str, str],
        style: FileStyle,
        bad_rows: Sequence[BadRow],
        month: BillingMonth,
    ) -> None:
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
        notes = pick(EXTRA_NOTES, pl.int_range(pl.len()) % len(EXTRA_NOTES))
        out = text.select(
            [
                (pl.col(source) if source else pl.when(notes == "").then(None).otherwise(notes)).alias(header)
                for header, source in plan
            ]
        )
        out.write_csv(path, include_bom=style.bom, line_terminator="\r\n" if style.crlf else "\n")

    def _write_xlsx(self, path, table, kinds, bad_rows, plan) -> None:
        def cell(kind: str, value):
            if value is None:
                return None
            if kind == MONEY:
                return from_cents(value)
            if kind == MILLI_VALUE:
                return from_milli(value)
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
            sheet.append(
                [values[source] if source else (EXTRA_NOTES[number % len(EXTRA_NOTES)] or None) for _, source in plan]
            )
        workbook.properties.created = FIXED_TIMESTAMP
        workbook.properties.modified = FIXED_TIMESTAMP
        path.write_bytes(reproducible_bytes(workbook, FIXED_TIMESTAMP))

    def _write_parquet(self, path, table, kinds, style, bad_rows) -> None:
        decimal = style.numbers == "decimal"

        def typed(frame: pl.DataFrame) -> pl.DataFrame:
            columns = []
            for name, kind in kinds.items():
                column = pl.col(name)
                if kind == MILLI_VALUE:  # thousandths divided exactly, or to the nearest float64
                    column = (
                        (column.cast(pl.Decimal(38, 3)) / pl.lit(1000, pl.Decimal(38, 0))).cast(pl.Decimal(12, 3))
                        if decimal
                        else column.cast(pl.Float64) / 1000
                    )
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


def variant_labels(style: FileStyle, profile: CustomerProfile, kind: str) -> tuple[str, ...]:
    if style.format == "parquet":
        labels = [f"parquet-{style.numbers}"]
    elif style.format == "xlsx":
        labels = ["xlsx", "excel-dates"] + (["excel-numbers"] if kind == "invoice" else [])
    else:
        regional = "dates-mdy" if profile.region == "US" else "dates-dmy"
        labels = ["csv", "dates-iso" if style.dates == "iso" else regional, "crlf" if style.crlf else "lf"]
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


# --------------------------------------------------------------------------- YAML


class _DecimalDumper(yaml.SafeDumper):
    pass


_DecimalDumper.add_representer(
    Decimal, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:float", str(value))
)

# The rates a plan does not charge are all 0.00. PyYAML writes an object it meets twice as an anchor and aliases
# (`&id001 0.00`, `*id001`), which the contract loader accepts on a single value; the sample's contract files have
# always shared one 0.00 object per rate field, and keep doing so to stay byte for byte the same.
_RATE_FIELDS = ("overage_voice_per_min", "overage_sms_per_msg", "overage_data_per_mb")
_NO_RATE = {name: Decimal("0.00") for name in _RATE_FIELDS}


def _whole(allowance: Decimal | None) -> int | Decimal | None:
    """Allowances are written as plain numbers: 500, not 500.0."""
    if allowance is None or allowance != allowance.to_integral_value():
        return allowance
    return int(allowance)


def contract_yaml(contract: Contract) -> str:
    """customers/<id>/contracts/<carrier>.yaml of a rate card, fields in the order of the data contract."""
    document = {
        "carrier": contract.carrier,
        "discount_pct": contract.discount_pct,
        "plans": [
            {
                "code": p.code,
                "name": p.name,
                "monthly_fee": p.monthly_fee,
                "voice_min": _whole(p.voice_min),
                "sms": _whole(p.sms),
                "data_mb": _whole(p.data_mb),
                **{name: getattr(p, name) or _NO_RATE[name] for name in _RATE_FIELDS},
            }
            for p in contract.plans
        ],
        "features": [
            {"code": f.code, "name": f.name, "category": f.category, "monthly_fee": f.monthly_fee}
            for f in contract.features
        ],
        "roaming": {"voice_per_min": contract.roaming.voice_per_min, "data_per_mb": contract.roaming.data_per_mb},
    }
    return yaml.dump(document, Dumper=_DecimalDumper, sort_keys=False, allow_unicode=True)


def customer_yaml(profile: CustomerProfile) -> str:
    """customers/<id>/customer.yaml."""
    return yaml.safe_dump(
        {"name": profile.name, "region": profile.region, "currency": profile.currency}, sort_keys=False
    )
