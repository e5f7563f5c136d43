"""Bad input rows: the catalogue of bad cells, which file of a customer-month carries which, and where in it.

A bad row is a valid row with one bad cell, added only while rendering a file, so it never touches the model the
oracle sees; each is recorded in the expected quarantine.csv."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Callable, Sequence

from .months import MONTHS, BillingMonth
from .profiles import CUSTOMERS, CustomerProfile, FileStyle
from .randomness import Randomness
from .rendering import COUNT, DATE, TEXT


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
class BadRow:
    position: int  # 0-based data row index in the written file
    template: dict  # a valid row (typed values) ...
    defect: Defect  # ... with this one cell made bad
    value: object


def _can_hold(style: FileStyle, defect: Defect, kinds: dict[str, str]) -> bool:
    """Can a file in this style carry the bad cell? Typed parquet columns hold only typed values."""
    if style.format != "parquet":
        return True
    kind = kinds[defect.column]
    if kind == TEXT:
        return True
    if kind == DATE:
        return isinstance(defect.value(MONTHS[0]), date)
    try:
        number = Decimal(str(defect.value(MONTHS[0])))
    except ArithmeticError:
        return False
    return not (kind == COUNT and style.numbers == "decimal" and number != number.to_integral_value())


def choose_defects(
    profile: CustomerProfile,
    month: BillingMonth,
    catalogue: Sequence[Defect],
    files: Sequence[tuple[str, FileStyle]],
    kinds: dict[str, str],
) -> list[tuple[str, Defect]]:
    """Pick this customer-month's bad cells from a rotating catalogue, each in a file that can hold it."""
    turn = CUSTOMERS.index(profile) * len(MONTHS) + month.index
    chosen = []
    for step in range(len(catalogue)):
        if len(chosen) == DEFECTS_PER_TABLE:
            break
        defect = catalogue[(turn * DEFECTS_PER_TABLE + step) % len(catalogue)]
        fits = [name for name, style in files if _can_hold(style, defect, kinds)]
        if fits:
            chosen.append((fits[(turn + len(chosen)) % len(fits)], defect))
    return chosen


def place_bad_rows(
    rand: Randomness, month: BillingMonth, cells: Sequence[tuple[Defect, dict]], rows: int, stream: str
) -> list[BadRow]:
    """Place each (defect, valid template row) at a distinct row of a file of `rows` good rows."""
    place = rand.python(f"bad-rows/{month.key}/{stream}")
    positions = sorted(place.sample(range(rows + len(cells)), len(cells)))
    return [
        BadRow(position, template, defect, defect.value(month))
        for position, (defect, template) in zip(positions, cells)
    ]


def quarantine_rows(path: Path, bad_rows: Sequence[BadRow], inbox: Path) -> list[tuple[str, int, str, str]]:
    """The expected quarantine.csv rows of a written file: file, row number (the header is row 1), column, reason."""
    relative = path.relative_to(inbox).as_posix()
    return [(relative, bad.position + 2, bad.defect.column, bad.defect.reason) for bad in bad_rows]
