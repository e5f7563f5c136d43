"""The DuckDB sessions the rules run in: one customer-month's warehouse tables as views, named as the rules expect,
and the month's measured usage per line that both rule sets read."""

from __future__ import annotations

import duckdb
import polars as pl

from reports.rules.audit_rules import UNVERIFIABLE_LINES
from reports.rules.history import history_months
from reports.warehouse.store import Warehouse

LINE_MONTH_USAGE_SQL = """
SELECT msisdn,
       sum(voice_minutes) AS voice_minutes, sum(sms_count) AS sms_count, sum(data_mb) AS data_mb,
       sum(roaming_voice_minutes) AS roaming_voice_minutes, sum(roaming_data_mb) AS roaming_data_mb,
       count(DISTINCT date) AS active_days, count(*) AS usage_rows
FROM device_usage
GROUP BY msisdn
ORDER BY msisdn
"""
USAGE_TOTAL = pl.Decimal(38, 6)  # DuckDB's sum of DECIMAL(18,6)
LINE_MONTH_USAGE_SCHEMA = {
    "msisdn": pl.String,
    "voice_minutes": USAGE_TOTAL,
    "sms_count": USAGE_TOTAL,
    "data_mb": USAGE_TOTAL,
    "roaming_voice_minutes": USAGE_TOTAL,
    "roaming_data_mb": USAGE_TOTAL,
    "active_days": pl.Int64,
    "usage_rows": pl.Int64,
}
HISTORY_USAGE_SCHEMA = {
    **{
        column: LINE_MONTH_USAGE_SCHEMA[column]
        for column in ("msisdn", "voice_minutes", "sms_count", "data_mb", "roaming_voice_minutes", "roaming_data_mb")
    },
    "month_index": pl.Int32,
}


def line_month_usage(warehouse: Warehouse, customer_id: str, month: str) -> pl.DataFrame:
    """Each line's measured domestic and roaming usage in the month (the sum of its daily usage rows)."""
    connection = warehouse.connect()
    warehouse.view(connection, "device_usage", customer_id, month, "device_usage")
    return connection.sql(LINE_MONTH_USAGE_SQL).pl()


def audit_session(warehouse: Warehouse, customer_id: str, month: str) -> duckdb.DuckDBPyConnection:
    """A DuckDB session with the customer-month's tables as views, named as the audit rules expect."""
    connection = warehouse.connect()
    for view, month_of_table, table in (
        ("invoice_charges", month, "invoice_charges"),
        ("rejected_charges", month, "invoice_charges_rejected"),
        ("roster", month, "roster"),
        ("rejected_roster", month, "roster_rejected"),
        ("roster_quarantine", month, "roster_quarantine"),
        ("line_month_usage", month, "line_month_usage"),
        ("contract_plans", None, "contract_plans"),
        ("contract_features", None, "contract_features"),
        ("contract_roaming", None, "contract_roaming"),
    ):
        warehouse.view(connection, view, customer_id, month_of_table, table)
    return connection


def savings_session(warehouse: Warehouse, customer_id: str, month: str, has_history: bool) -> duckdb.DuckDBPyConnection:
    """A DuckDB session with the views the savings rules expect, and `history_usage`: the line_month_usage of
    M-2, M-1 and M (month_index 1, 2, 3), empty when the three months are not all there."""
    connection = warehouse.connect()
    for view, table_month, table in (
        ("roster", month, "roster"),
        ("contract_plans", None, "contract_plans"),
        ("contract_features", None, "contract_features"),
        ("rejected_roster", month, "roster_rejected"),
        ("roster_quarantine", month, "roster_quarantine"),
    ):
        warehouse.view(connection, view, customer_id, table_month, table)
    history = [
        pl.read_parquet(warehouse.table_path(customer_id, m, "line_month_usage")).with_columns(
            pl.lit(i).alias("month_index")
        )
        for i, m in enumerate(history_months(month), start=1)
        if has_history
    ]
    history_usage = pl.concat(history) if history else pl.DataFrame(schema=HISTORY_USAGE_SCHEMA)
    connection.register("history_usage", history_usage)
    return connection


def unverifiable_lines(connection: duckdb.DuckDBPyConnection) -> int:
    """Rules v1.1: how many numbers are on the roster only in rows that were all quarantined (never which)."""
    return connection.sql(f"SELECT count(*) FROM ({UNVERIFIABLE_LINES})").fetchall()[0][0]
