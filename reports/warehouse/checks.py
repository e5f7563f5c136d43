"""The queries behind the asset checks: each re-reads what a customer-month stored and counts what is wrong."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from reports.warehouse.store import Warehouse
from reports.warehouse.tables import PSEUDONYM_PATTERN, stored_columns
from schemas.tables import INVOICE_CHARGES, STORED_COLUMNS, TableSpec

ACCOUNTING_MISMATCHES_SQL = """
SELECT a.file, a.rows_read,
       coalesce(ok.n, 0) AS rows_accepted, coalesce(bad.n, 0) AS rows_quarantined
FROM accounting a
LEFT JOIN (SELECT source_file AS file, count(*) AS n FROM accepted GROUP BY ALL) ok USING (file)
LEFT JOIN (SELECT file, count(DISTINCT "row") AS n FROM quarantined GROUP BY ALL) bad USING (file)
WHERE a.rows_read <> coalesce(ok.n, 0) + coalesce(bad.n, 0)
"""
ACCOUNTING_TOTALS_SQL = """
SELECT coalesce(sum(rows_read), 0), (SELECT count(*) FROM accepted),
       (SELECT count(*) FROM (SELECT DISTINCT file, "row" FROM quarantined))
FROM accounting
"""

INVOICE_TOTALS_SQL = """
SELECT carrier, account_number, invoice_number,
       count(DISTINCT invoice_total) AS stated_totals,
       bool_and(period_start = $first_day AND period_end = $last_day) AS period_is_month
FROM charges GROUP BY ALL
HAVING stated_totals > 1 OR NOT period_is_month
ORDER BY ALL
"""

SANITY_SQL = """
WITH positive_charges AS (
    SELECT carrier, account_number, invoice_number, sum(greatest(amount, 0)) AS billed
    FROM invoice_charges GROUP BY ALL
), line_findings AS (
    SELECT carrier, account_number, invoice_number, sum(disputed_amount) AS disputed
    FROM findings WHERE finding_type <> 'INVOICE_TOTAL_MISMATCH' GROUP BY ALL
)
SELECT 'disputed amount above the billed amount it refers to' AS problem, count(*) AS cases
FROM findings WHERE disputed_amount > billed_amount
UNION ALL
SELECT 'finding that is not positive', count(*) FROM findings WHERE disputed_amount <= 0
UNION ALL
SELECT 'finding on an invoice that has no charges', count(*)
FROM findings f ANTI JOIN positive_charges c USING (carrier, account_number, invoice_number)
UNION ALL
SELECT 'line-level disputes on an invoice exceed its charges', count(*)
FROM line_findings f JOIN positive_charges c USING (carrier, account_number, invoice_number)
WHERE f.disputed > c.billed
"""


@dataclass(frozen=True)
class RowAccounting:
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    files_out_of_balance: list[tuple[str, int, int, int]]  # file, rows read, accepted, quarantined


def row_accounting(warehouse: Warehouse, customer_id: str, month: str, table: str) -> RowAccounting:
    """Re-count the stored tables: for every file, rows read = rows accepted + rows quarantined."""
    connection = warehouse.connect()
    warehouse.view(connection, "accepted", customer_id, month, table)
    warehouse.view(connection, "quarantined", customer_id, month, f"{table}_quarantine")
    warehouse.view(connection, "accounting", customer_id, month, f"{table}_accounting")
    mismatches = connection.execute(ACCOUNTING_MISMATCHES_SQL).fetchall()
    totals = warehouse.first_row(connection, ACCOUNTING_TOTALS_SQL)
    return RowAccounting(
        int(totals[0]), int(totals[1]), int(totals[2]), [(str(f), int(r), int(a), int(q)) for f, r, a, q in mismatches]
    )


def stored_schema_problems(warehouse: Warehouse, customer_id: str, month: str, spec: TableSpec) -> tuple[int, dict]:
    """(rows, problems): the stored table has the warehouse columns and types (stored_tables), its required columns
    are never null, every personal column holds pseudonyms only (32 hex characters), and no dropped personal column
    is stored."""
    connection = warehouse.connect()
    warehouse.view(connection, "stored", customer_id, month, spec.name)
    types = {name: kind for name, kind, *_ in connection.sql("DESCRIBE stored").fetchall()}
    problems = {}
    missing = [c for c in STORED_COLUMNS[spec.name] if c not in types]
    if missing:
        problems["missing columns"] = missing
    # every count in one query on the stored table: (problem key, SQL count of its bad rows); each key holds its
    # place among the problems until the count is known
    counted: list[tuple[str, str]] = []
    for column in stored_columns(spec):
        if column.name not in types:
            continue
        if not types[column.name].startswith(column.type_family):
            problems[f"{column.name} type"] = f"{types[column.name]}, expected {column.type_family}"
        elif column.required:
            counted.append((f"{column.name} nulls", f'count(*) FILTER (WHERE "{column.name}" IS NULL)'))
            problems[counted[-1][0]] = 0
    for column in spec.pseudonymized:
        if column in types:
            # the pattern is tried once per distinct value (a month's usage repeats each line's some 25 times), and
            # the rows of the values that fail it are counted
            counted.append(
                (
                    f"{column} not pseudonymized",
                    f'(SELECT coalesce(sum(n), 0) FROM (SELECT "{column}" AS v, count(*) AS n FROM stored GROUP BY v) '
                    f"WHERE v IS NOT NULL AND NOT regexp_full_match(v, '{PSEUDONYM_PATTERN}'))",
                )
            )
            problems[counted[-1][0]] = 0
    counts = ", ".join(["count(*)", *(count for _, count in counted)])
    rows, *bad = warehouse.first_row(connection, f"SELECT {counts} FROM stored")
    for (key, _), cases in zip(counted, bad):
        if cases:
            problems[key] = cases
        else:
            del problems[key]
    leftover = sorted(set(types) & set(spec.dropped))
    if leftover:
        problems["personal columns stored"] = leftover
    return rows, problems


@dataclass(frozen=True)
class InvoiceTotals:
    invoices: int
    with_several_totals: int
    outside_the_month: int
    to_look_at: list[str]  # invoice numbers, at most 50


def invoice_totals(warehouse: Warehouse, customer_id: str, month: str) -> InvoiceTotals:
    """Invoices that state several totals, or bill a period other than the partition's month."""
    connection = warehouse.connect()
    warehouse.view(connection, "charges", customer_id, month, INVOICE_CHARGES.name)
    first_day = dt.date(int(month[:4]), int(month[5:7]), 1)
    last_day = (first_day + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    odd = connection.sql(INVOICE_TOTALS_SQL, params={"first_day": first_day, "last_day": last_day}).fetchall()
    invoices = warehouse.first_row(
        connection, "SELECT count(DISTINCT (carrier, account_number, invoice_number)) FROM charges"
    )[0]
    return InvoiceTotals(
        invoices, sum(1 for row in odd if row[3] > 1), sum(1 for row in odd if not row[4]), [row[2] for row in odd][:50]
    )


def findings_sanity(warehouse: Warehouse, customer_id: str, month: str) -> dict[str, int]:
    """problem -> cases: no finding disputes more than the charges it refers to; per invoice, line-level disputes
    stay within the invoice's charges."""
    connection = warehouse.connect()
    warehouse.view(connection, "findings", customer_id, month, "findings")
    warehouse.view(connection, "invoice_charges", customer_id, month, "invoice_charges")
    return {problem: cases for problem, cases in connection.execute(SANITY_SQL).fetchall()}
