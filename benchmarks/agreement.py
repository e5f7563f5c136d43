"""Does the plain-Python reference (benchmarks/reference.py) publish what `tem run` published?

What is compared, per customer and month present in either output:

* findings.csv: the business columns carrier, account_number, invoice_number, msisdn, employee_id,
  finding_type, charge_type, charge_code, billed_amount, expected_amount, disputed_amount (and customer_id,
  billing_month, currency). Not `evidence`: a sentence the reference does not write.
* savings.csv: carrier, msisdn, employee_id, savings_type, current_plan_code, recommended_plan_code,
  feature_code, monthly_savings, annual_savings (and customer_id, billing_month, currency). Not `rationale`.
* quarantine.csv: which cells were refused, as (file, row, column). Not the value or the reason sentence (the
  pipeline publishes a sentence, the reference a reason code); the refused cells are what decides which rows
  the rules see.

Identifiers are compared in the clear: the published files hold the E.164 msisdn and the customer's own
employee ids (the pipeline restores them from its pseudonyms at publish time), which is what the reference
computes without pseudonymizing anything. Amounts are compared as exact decimals (both sides publish two
decimals, half-up). Text cells the pipeline prefixed with a quote against spreadsheet formulas (`'=...`) are
compared without that quote. Rows are compared as multisets, each side sorted, so order never matters.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path

FINDING_KEYS = (
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
)
SAVING_KEYS = (
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
)
QUARANTINE_KEYS = ("file", "row", "column")
AMOUNTS = {"billed_amount", "expected_amount", "disputed_amount", "monthly_savings", "annual_savings"}
QUOTED_FORMULA = re.compile(r"^'[=+\-@\t\r]")
TABLES = {"findings": FINDING_KEYS, "savings": SAVING_KEYS, "quarantine": QUARANTINE_KEYS}


def _cell(column: str, text: str):
    text = text or ""
    if QUOTED_FORMULA.match(text):
        text = text[1:]
    if column in AMOUNTS and text:
        return Decimal(text)
    if column == "row":
        return int(text)
    return text


def read_rows(path: Path, keys: tuple[str, ...]) -> Counter:
    if not path.exists():
        return Counter()
    with path.open(encoding="utf-8", newline="") as handle:
        return Counter(tuple(_cell(k, row.get(k, "")) for k in keys) for row in csv.DictReader(handle))


def month_folders(root: Path) -> set[tuple[str, str]]:
    if not root.is_dir():
        return set()
    return {(c.name, m.name) for c in root.iterdir() if c.is_dir() for m in c.iterdir() if m.is_dir()}


def compare(published_root: Path, reference_root: Path, limit: int = 10) -> dict:
    """{"agree": bool, "counts": {table: (pipeline rows, reference rows)}, "differences": [lines to print]}."""
    differences: list[str] = []
    counts = {table: [0, 0] for table in TABLES}
    folders = sorted(month_folders(published_root) | month_folders(reference_root))
    for customer, month in folders:
        for table, keys in TABLES.items():
            published = read_rows(published_root / customer / month / f"{table}.csv", keys)
            reference = read_rows(reference_root / customer / month / f"{table}.csv", keys)
            counts[table][0] += sum(published.values())
            counts[table][1] += sum(reference.values())
            only_published = sorted((published - reference).elements(), key=_sort_key)
            only_reference = sorted((reference - published).elements(), key=_sort_key)
            if not only_published and not only_reference:
                continue
            differences.append(
                f"{customer} {month} {table}.csv: {len(only_published)} row(s) only in the pipeline's, "
                f"{len(only_reference)} only in the reference's  (columns: {', '.join(keys)})"
            )
            for label, rows in (("pipeline ", only_published), ("reference", only_reference)):
                for row in rows[:limit]:
                    differences.append(f"    {label}: " + ",".join(str(v) for v in row))
                if len(rows) > limit:
                    differences.append(f"    {label}: ... and {len(rows) - limit} more")
    return {
        "agree": not differences,
        "counts": {t: tuple(c) for t, c in counts.items()},
        "differences": differences,
        "customer_months": len(folders),
    }


def _sort_key(row: tuple) -> tuple:
    return tuple((0, str(v)) if not isinstance(v, (int, Decimal)) else (1, f"{v:>30}") for v in row)
