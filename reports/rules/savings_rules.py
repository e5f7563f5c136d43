"""The savings rules: what a customer can stop paying for, each type as its own named DuckDB query.

Input views (pseudonymized): `roster` (month M), `history_usage` (line_month_usage of M-2, M-1
and M with a `month_index` 1..3, only when the inbox holds all three months), the contract
tables. Averages over three months are never divided in DuckDB (that would give a binary
float): costs are compared as 3 x cost, and money is brought back to cents with an exact
integer half-up division.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import duckdb
import polars as pl

from reports.rules.audit_rules import SHARED_MACROS
from reports.rules.history import history_months
from reports.workbook.labels import month_name

MINIMUM_SAVING = "0.01"
RIGHTSIZE_THRESHOLD_X3 = "3.00"  # cost(ordered) - cost(best) >= 1.00, compared as three times the costs

MACROS = (
    SHARED_MACROS
    + """
CREATE OR REPLACE TEMP MACRO qty(x) AS CASE WHEN x IS NULL THEN 'unlimited'
    ELSE rtrim(rtrim(CAST(CAST(x AS DECIMAL(38, 6)) AS VARCHAR), '0'), '.') END;
-- x / 3 rounded half-up to cents, exactly (x >= 0 with at most 12 decimals)
CREATE OR REPLACE TEMP MACRO third_to_cents(x) AS
    CAST((200 * CAST(x * 1000000000000 AS HUGEINT) + 3000000000000) // 6000000000000 AS DECIMAL(36, 0))
    * CAST(0.01 AS DECIMAL(3, 2));
"""
)

PREPARE = """
CREATE OR REPLACE TEMP TABLE active_lines AS
SELECT r.msisdn, r.employee_id, r.carrier, r.plan_code, r.employment_status, r.termination_date,
       ordered_features(r.features) AS features
FROM roster r
WHERE r.line_status = 'active';

-- recurring(line) = fee(ordered plan) + contract fees of its ordered features
CREATE OR REPLACE TEMP TABLE recurring AS
SELECT l.msisdn, p.fee AS plan_fee,
       p.fee + coalesce((SELECT sum(f.monthly_fee) FROM contract_features f
                         WHERE f.carrier = l.carrier AND list_contains(l.features, f.code)), 0) AS recurring_fee,
       coalesce((SELECT string_agg(f.code || ' ' || money(f.monthly_fee), ', ' ORDER BY f.code) FROM contract_features f
                 WHERE f.carrier = l.carrier AND list_contains(l.features, f.code)), 'none') AS feature_fees
FROM active_lines l
JOIN contract_plans p ON p.carrier = l.carrier AND p.code = l.plan_code;

-- each active line's usage in each of the three months (a month without rows used nothing)
CREATE OR REPLACE TEMP TABLE line_history AS
SELECT l.msisdn, m.month_index,
       coalesce(u.voice_minutes, 0) AS voice, coalesce(u.sms_count, 0) AS sms, coalesce(u.data_mb, 0) AS data,
       coalesce(u.roaming_voice_minutes, 0) AS roaming_voice, coalesce(u.roaming_data_mb, 0) AS roaming_data
FROM active_lines l
CROSS JOIN (SELECT unnest([1, 2, 3]) AS month_index) m
LEFT JOIN history_usage u ON u.msisdn = l.msisdn AND u.month_index = m.month_index;

CREATE OR REPLACE TEMP TABLE line_totals AS
SELECT msisdn,
       sum(voice) AS voice_3m, sum(sms) AS sms_3m, sum(data) AS data_3m,
       sum(voice + sms + data + roaming_voice + roaming_data) AS all_usage_3m,
       sum(roaming_voice + roaming_data) AS roaming_3m,
       -- a line has exactly one row per month_index here (one roster row per line, one usage total per line and
       -- month): the months' data are picked, not sorted and joined per line (string_agg ORDER BY took twice as long)
       qty(any_value(data) FILTER (month_index = 1)) || ' / ' || qty(any_value(data) FILTER (month_index = 2)) || ' / '
       || qty(any_value(data) FILTER (month_index = 3)) AS data_by_month
FROM line_history GROUP BY msisdn;
"""


@dataclass(frozen=True)
class SavingsRule:
    savings_type: str
    description: str
    needs_history: bool
    sql: str  # returns SAVINGS_COLUMNS (monthly_savings exact), pseudonymized


RULES: tuple[SavingsRule, ...] = (
    SavingsRule(
        "TERMINATED_EMPLOYEE_LINE",
        "The line's employee was terminated before the month started: cancel the line.",
        False,
        """
        SELECT l.carrier, l.msisdn, l.employee_id, 'TERMINATED_EMPLOYEE_LINE' AS savings_type,
               l.plan_code AS current_plan_code, NULL::VARCHAR AS recommended_plan_code, NULL::VARCHAR AS feature_code,
               r.recurring_fee AS monthly_savings,
               format('The employee using this line was terminated on {}, before {}, but the line is still active; '
                      || 'cancelling it saves its recurring {} {} a month (plan {} {} after discount; features: {}).',
                      strftime(l.termination_date, '%Y-%m-%d'), $month_name, money(r.recurring_fee), $currency,
                      l.plan_code, money(r.plan_fee), r.feature_fees) AS rationale
        FROM active_lines l JOIN recurring r USING (msisdn)
        WHERE l.employment_status = 'terminated' AND l.termination_date < $period_start
        """,
    ),
    SavingsRule(
        "ZERO_USAGE_LINE",
        "No domestic or roaming usage at all in the three months: cancel the line.",
        True,
        """
        SELECT l.carrier, l.msisdn, l.employee_id, 'ZERO_USAGE_LINE' AS savings_type,
               l.plan_code AS current_plan_code, NULL::VARCHAR AS recommended_plan_code, NULL::VARCHAR AS feature_code,
               r.recurring_fee AS monthly_savings,
               format('No calls, messages, data or roaming were measured on this line in {}; cancelling it saves its '
                      || 'recurring {} {} a month (plan {} {} after discount; features: {}).',
                      $history_names, money(r.recurring_fee), $currency, l.plan_code, money(r.plan_fee),
                      r.feature_fees) AS rationale
        FROM active_lines l JOIN recurring r USING (msisdn) JOIN line_totals t USING (msisdn)
        WHERE t.all_usage_3m = 0
        """,
    ),
    SavingsRule(
        "PLAN_RIGHTSIZE",
        "Another plan of the carrier's contract costs at least 1.00 a month less for the line's average usage.",
        True,
        """
        WITH priced AS (
            -- 3 x cost(p) = 3 x fee(p) + sum over units of max(0, 3-month total - 3 x allowance) x overage rate
            SELECT l.msisdn, p.code, p.fee, p.voice_min, p.sms, p.data_mb, l.plan_code = p.code AS is_ordered,
                   3 * p.fee
                   + CASE WHEN p.voice_min IS NULL THEN 0
                          ELSE greatest(0, t.voice_3m - 3 * p.voice_min) * p.overage_voice_per_min END
                   + CASE WHEN p.sms IS NULL THEN 0
                          ELSE greatest(0, t.sms_3m - 3 * p.sms) * p.overage_sms_per_msg END
                   + CASE WHEN p.data_mb IS NULL THEN 0
                          ELSE greatest(0, t.data_3m - 3 * p.data_mb) * p.overage_data_per_mb END AS cost_x3
            FROM active_lines l
            JOIN line_totals t USING (msisdn)
            JOIN contract_plans p ON p.carrier = l.carrier
        ), ranked AS (
            SELECT *, row_number() OVER (PARTITION BY msisdn ORDER BY cost_x3, is_ordered DESC, code) AS rank
            FROM priced
        ), choice AS (
            SELECT o.msisdn, o.code AS current_code, o.cost_x3 AS current_x3, o.fee AS current_fee,
                   b.code AS best_code, b.cost_x3 AS best_x3, b.fee AS best_fee,
                   b.voice_min AS best_voice, b.sms AS best_sms, b.data_mb AS best_data,
                   o.voice_min AS current_voice, o.sms AS current_sms, o.data_mb AS current_data
            FROM ranked b JOIN priced o ON o.msisdn = b.msisdn AND o.is_ordered
            WHERE b.rank = 1 AND NOT b.is_ordered AND o.cost_x3 - b.cost_x3 >= $threshold_x3
        )
        SELECT l.carrier, l.msisdn, l.employee_id, 'PLAN_RIGHTSIZE' AS savings_type,
               l.plan_code AS current_plan_code, c.best_code AS recommended_plan_code, NULL::VARCHAR AS feature_code,
               third_to_cents(c.current_x3 - c.best_x3) AS monthly_savings,
               format('Over {} the line averaged {} min, {} SMS and {} MB a month (data by month: {} MB). '
                      || 'Plan {} ({} min, {} SMS, {} MB) costs {} {} a month for that use; plan {} ({} min, {} SMS, '
                      || '{} MB) costs {} {}. Switching saves {} {} a month.',
                      $history_names, qty(third_to_cents(t.voice_3m)), qty(third_to_cents(t.sms_3m)),
                      qty(third_to_cents(t.data_3m)), t.data_by_month,
                      c.current_code, qty(c.current_voice), qty(c.current_sms), qty(c.current_data),
                      money(third_to_cents(c.current_x3)), $currency,
                      c.best_code, qty(c.best_voice), qty(c.best_sms), qty(c.best_data),
                      money(third_to_cents(c.best_x3)), $currency,
                      money(third_to_cents(c.current_x3 - c.best_x3)), $currency) AS rationale
        FROM choice c JOIN active_lines l USING (msisdn) JOIN line_totals t USING (msisdn)
        """,
    ),
    SavingsRule(
        "UNUSED_FEATURE",
        "A roaming feature on a line that did not roam in the three months: remove the feature.",
        True,
        """
        SELECT l.carrier, l.msisdn, l.employee_id, 'UNUSED_FEATURE' AS savings_type,
               l.plan_code AS current_plan_code, NULL::VARCHAR AS recommended_plan_code, f.code AS feature_code,
               f.monthly_fee AS monthly_savings,
               format('No roaming was measured on this line in {}, yet it pays for the roaming feature {} ({}); '
                      || 'removing it saves {} {} a month.',
                      $history_names, f.code, coalesce(nullif(f.name, ''), f.code), money(f.monthly_fee),
                      $currency) AS rationale
        FROM active_lines l
        JOIN line_totals t USING (msisdn)
        JOIN contract_features f ON f.carrier = l.carrier AND list_contains(l.features, f.code)
        WHERE f.category = 'roaming' AND t.roaming_3m = 0
        """,
    ),
)

# One line-level recommendation per line, in this priority; UNUSED_FEATURE is dropped for lines
# that are to be cancelled.
LINE_LEVEL = ("TERMINATED_EMPLOYEE_LINE", "ZERO_USAGE_LINE", "PLAN_RIGHTSIZE")
CANCELLING = ("TERMINATED_EMPLOYEE_LINE", "ZERO_USAGE_LINE")

SAVINGS_SCHEMA = {
    "carrier": pl.String,
    "msisdn": pl.String,
    "employee_id": pl.String,
    "savings_type": pl.String,
    "current_plan_code": pl.String,
    "recommended_plan_code": pl.String,
    "feature_code": pl.String,
    "monthly_savings": pl.Decimal(18, 4),
    "annual_savings": pl.Decimal(18, 4),
    "rationale": pl.String,
}


def run_savings_rules(
    connection: duckdb.DuckDBPyConnection, currency: str, month: str, has_history: bool
) -> pl.DataFrame:
    """Apply the savings rules on a session with the input views; returns the recommendations to publish."""
    connection.execute(MACROS)
    connection.execute(PREPARE)
    names = [month_name(m) for m in history_months(month)]
    parameters = {
        "currency": currency,
        "month_name": month_name(month),
        "period_start": dt.date(int(month[:4]), int(month[5:7]), 1),
        "history_names": f"{names[0]}, {names[1]} and {names[2]}",
        "threshold_x3": RIGHTSIZE_THRESHOLD_X3,
    }
    results = []
    for priority, rule in enumerate(RULES, start=1):
        if rule.needs_history and not has_history:
            continue
        used = {name: value for name, value in parameters.items() if f"${name}" in rule.sql}
        frame = connection.sql(rule.sql, params=used).pl()
        results.append(frame.with_columns(pl.lit(priority).alias("priority")))
    if not results:
        return pl.DataFrame(schema=SAVINGS_SCHEMA)
    candidates = pl.concat(
        [
            r.with_columns((pl.col("monthly_savings") * 12).alias("annual_savings")).cast(
                {**SAVINGS_SCHEMA, "priority": pl.Int64}
            )
            for r in results
        ],
        how="vertical",
    )
    line_level = candidates.filter(pl.col("savings_type").is_in(LINE_LEVEL))
    chosen = line_level.sort("priority").unique(subset="msisdn", keep="first", maintain_order=True)
    cancelled = chosen.filter(pl.col("savings_type").is_in(CANCELLING))["msisdn"]
    features = candidates.filter(
        (pl.col("savings_type") == "UNUSED_FEATURE") & ~pl.col("msisdn").is_in(cancelled.implode())
    )
    savings = pl.concat([chosen, features]).filter(pl.col("monthly_savings") >= pl.lit(Decimal(MINIMUM_SAVING)))
    return savings.sort("carrier", "priority", "msisdn", "feature_code", nulls_last=False).select(list(SAVINGS_SCHEMA))
