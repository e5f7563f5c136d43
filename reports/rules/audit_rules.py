"""The audit rules: every overbilling rule of the audit rules, as its own named DuckDB query.

Rules run in the order the rules give, over one customer-month's pseudonymized tables. Each
rule's query returns its findings and the ids of the charges it consumed; consumed charges
are removed from `remaining` before the next rule looks. Money stays DECIMAL throughout:
no division, rounding half-up to cents only where a rule says "round".

Rules v1.1: a number whose roster rows were all quarantined (its msisdn still parsed) is on the roster but
cannot be verified; its charges are taken out of `remaining` before rule 1, so rules 1-8 never judge them,
while rule 9 adds up every charge (docs/audit-rules.md).

Evidence sentences carry the placeholder ``{msisdn}``; the phone number is put in only when
the customer's own findings.csv is published.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from reports.workbook.labels import month_name
from schemas.outputs import FINDING_COLUMNS

MSISDN_PLACEHOLDER = "{msisdn}"  # written {{msisdn}} inside DuckDB format() strings
MINIMUM_FINDING = "0.01"

# Shared by the audit and the savings rules: amounts printed with two decimals, and a roster's ordered
# features read the same way by both.
SHARED_MACROS = """
CREATE OR REPLACE TEMP MACRO money(x) AS CAST(CAST(round(x, 2) AS DECIMAL(18, 2)) AS VARCHAR);
CREATE OR REPLACE TEMP MACRO ordered_features(features) AS
    list_filter(list_transform(string_split(coalesce(features, ''), ';'), lambda f: trim(f)), lambda f: f <> '');
"""

# The audit's own: quantities without trailing zeros.
MACROS = (
    SHARED_MACROS
    + """
CREATE OR REPLACE TEMP MACRO qty(x) AS CASE WHEN x IS NULL THEN 'none'
    ELSE rtrim(rtrim(CAST(CAST(x AS DECIMAL(18, 6)) AS VARCHAR), '0'), '.') END;
"""
)

# Rules v1.1: the numbers on the roster that cannot be verified. A number whose roster rows were all quarantined
# (the row is there, some cell broke a rule) while its msisdn still parsed: `rejected_roster` (the quarantined
# rows, pseudonymized; msisdn NULL where it did not parse) minus the rows whose bad cell was the msisdn itself
# (`roster_quarantine`), minus the numbers that also have an accepted row on `roster`.
UNVERIFIABLE_LINES = """
SELECT DISTINCT r.msisdn
FROM rejected_roster r
WHERE r.msisdn IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM roster_quarantine q
                  WHERE q.file = r.source_file AND q."row" = r.source_row AND q."column" = 'msisdn')
  AND NOT EXISTS (SELECT 1 FROM roster l WHERE l.msisdn = r.msisdn)
"""

# The session's working tables, built from the warehouse views `invoice_charges`, `roster`,
# `line_month_usage`, `contract_plans`, `contract_features`, `contract_roaming`, `rejected_charges`,
# `rejected_roster`, `roster_quarantine`.
PREPARE = """
CREATE OR REPLACE TEMP TABLE charges AS
SELECT row_number() OVER (ORDER BY source_file, source_row) AS charge_id, *
FROM invoice_charges;

CREATE OR REPLACE TEMP TABLE remaining AS SELECT * FROM charges;

CREATE OR REPLACE TEMP TABLE lines AS
SELECT msisdn, employee_id, plan_code, line_status, line_status_date, ordered_features(features) AS features
FROM roster;

-- v1.1: charges on a number that is on the roster but cannot be verified are not examined by rules 1-8 (it is
-- never an UNKNOWN_LINE either); rule 9 adds up `charges`, every charge of the invoice, theirs included.
CREATE OR REPLACE TEMP TABLE unverifiable_lines AS $UNVERIFIABLE_LINES;
DELETE FROM remaining WHERE msisdn IN (SELECT msisdn FROM unverifiable_lines);

-- the line's measured usage in the month (a line without usage rows used nothing)
CREATE OR REPLACE TEMP TABLE measured AS
SELECT l.msisdn,
       coalesce(u.voice_minutes, 0) AS u_voice, coalesce(u.sms_count, 0) AS u_sms,
       coalesce(u.data_mb, 0) AS u_data, coalesce(u.roaming_voice_minutes, 0) AS r_voice,
       coalesce(u.roaming_data_mb, 0) AS r_data
FROM lines l LEFT JOIN line_month_usage u USING (msisdn);

-- one row per usage-type charge: what was measured, what the contract allows and charges
CREATE OR REPLACE TEMP VIEW usage_charges AS
SELECT c.*, l.plan_code AS ordered_plan,
       CASE c.charge_type WHEN 'overage_voice' THEN m.u_voice WHEN 'overage_sms' THEN m.u_sms
            WHEN 'overage_data' THEN m.u_data WHEN 'roaming_voice' THEN m.r_voice ELSE m.r_data END AS measured_qty,
       CASE c.charge_type WHEN 'overage_voice' THEN p.voice_min WHEN 'overage_sms' THEN p.sms
            WHEN 'overage_data' THEN p.data_mb END AS allowance,
       CASE c.charge_type WHEN 'overage_voice' THEN p.overage_voice_per_min
            WHEN 'overage_sms' THEN p.overage_sms_per_msg WHEN 'overage_data' THEN p.overage_data_per_mb
            WHEN 'roaming_voice' THEN r.voice_per_min ELSE r.data_per_mb END AS contract_rate,
       CASE WHEN c.charge_type LIKE 'roaming_%' THEN measured_qty
            WHEN allowance IS NULL THEN 0
            ELSE greatest(0, measured_qty - allowance) END AS expected_qty,
       CASE c.charge_type WHEN 'overage_voice' THEN 'minutes' WHEN 'roaming_voice' THEN 'minutes'
            WHEN 'overage_sms' THEN 'messages' ELSE 'MB' END AS unit,
       replace(c.charge_type, '_', ' ') AS usage_kind
FROM remaining c
JOIN lines l USING (msisdn)
JOIN measured m USING (msisdn)
LEFT JOIN contract_plans p ON p.carrier = c.carrier AND p.code = l.plan_code
LEFT JOIN contract_roaming r ON r.carrier = c.carrier
WHERE c.charge_type IN ('overage_voice', 'overage_sms', 'overage_data', 'roaming_voice', 'roaming_data')
  AND c.quantity IS NOT NULL
  AND contract_rate IS NOT NULL
  AND (c.charge_type LIKE 'roaming_%' OR p.code IS NOT NULL);
"""


@dataclass(frozen=True)
class Rule:
    finding_type: str
    description: str
    sql: str  # returns FINDING_COLUMNS (msisdn/employee_id pseudonymized) + charge_count + consumed (LIST of charge_id)


LINE_LEVEL_COLUMNS = """
    c.carrier, c.account_number, c.invoice_number, c.msisdn, any_value(l.employee_id) AS employee_id,
    NULL::VARCHAR AS charge_type, NULL::VARCHAR AS charge_code,
    sum(c.amount) AS billed_amount, 0::DECIMAL(18, 4) AS expected_amount, sum(c.amount) AS disputed_amount,
    count(*) AS charge_count, list(c.charge_id ORDER BY c.charge_id) AS consumed
"""

RULES: tuple[Rule, ...] = (
    Rule(
        "UNKNOWN_LINE",
        "A line billed on the invoice is not in the month's roster: every charge of it is disputed.",
        """
        SELECT 'UNKNOWN_LINE' AS finding_type, $LINE_LEVEL_COLUMNS,
               format('Invoice {} ({}, account {}) bills {} charge(s) totalling {} {} to {{msisdn}}, a number '
                      || 'that is not on the customer''s line roster for {}. Dispute the full {} {}.',
                      c.invoice_number, c.carrier, c.account_number, count(*), money(sum(c.amount)), $currency,
                      $month_name, money(sum(c.amount)), $currency) AS evidence
        FROM remaining c LEFT JOIN lines l USING (msisdn)
        WHERE c.msisdn IS NOT NULL AND l.msisdn IS NULL
        GROUP BY c.carrier, c.account_number, c.invoice_number, c.msisdn
        """,
    ),
    Rule(
        "CANCELLED_LINE_BILLED",
        "A line cancelled before the billing period is still billed: every charge of it is disputed.",
        """
        SELECT 'CANCELLED_LINE_BILLED' AS finding_type, $LINE_LEVEL_COLUMNS,
               format('Invoice {} ({}, account {}) bills {} charge(s) totalling {} {} to {{msisdn}}, a line '
                      || 'cancelled on {}, before the billing period that starts {}. Dispute the full {} {}.',
                      c.invoice_number, c.carrier, c.account_number, count(*), money(sum(c.amount)), $currency,
                      strftime(any_value(l.line_status_date), '%Y-%m-%d'), strftime(min(c.period_start), '%Y-%m-%d'),
                      money(sum(c.amount)), $currency) AS evidence
        FROM remaining c JOIN lines l USING (msisdn)
        WHERE l.line_status = 'cancelled' AND l.line_status_date < c.period_start
        GROUP BY c.carrier, c.account_number, c.invoice_number, c.msisdn
        """,
    ),
    Rule(
        "DUPLICATE_CHARGE",
        "The same plan or feature charge appears more than once for a line on one invoice: "
        "every occurrence after the first is disputed; the first goes on to the rules below.",
        """
        WITH occurrences AS (
            SELECT c.*,
                   row_number() OVER same_charge AS occurrence,
                   count(*) OVER (PARTITION BY carrier, account_number, invoice_number, msisdn, charge_type, charge_code)
                       AS times_billed
            FROM remaining c
            WHERE c.charge_type IN ('plan', 'feature') AND c.msisdn IS NOT NULL
            WINDOW same_charge AS (PARTITION BY carrier, account_number, invoice_number, msisdn, charge_type, charge_code
                                   ORDER BY source_file, source_row)
        )
        SELECT 'DUPLICATE_CHARGE' AS finding_type, o.carrier, o.account_number, o.invoice_number, o.msisdn,
               any_value(l.employee_id) AS employee_id, o.charge_type, o.charge_code,
               sum(o.amount) AS billed_amount,
               sum(o.amount) FILTER (WHERE o.occurrence = 1) AS expected_amount,
               sum(o.amount) FILTER (WHERE o.occurrence > 1) AS disputed_amount,
               count(*) - 1 AS charge_count,
               list(o.charge_id ORDER BY o.charge_id) FILTER (WHERE o.occurrence > 1) AS consumed,
               format('Invoice {} ({}, account {}) bills {} charge {} for {{msisdn}} {} times ({} {}); it is due once. '
                      || 'Dispute the {} repeated charge(s): {} {}.',
                      o.invoice_number, o.carrier, o.account_number, o.charge_type, coalesce(o.charge_code, '(no code)'),
                      count(*), array_to_string(list(money(o.amount) ORDER BY o.source_row), ' + '), $currency,
                      count(*) - 1, money(sum(o.amount) FILTER (WHERE o.occurrence > 1)), $currency) AS evidence
        FROM occurrences o LEFT JOIN lines l USING (msisdn)
        WHERE o.times_billed > 1
        GROUP BY o.carrier, o.account_number, o.invoice_number, o.msisdn, o.charge_type, o.charge_code
        """,
    ),
    Rule(
        "UNORDERED_FEATURE",
        "A feature is billed that the customer did not order for the line: its amount is disputed.",
        """
        SELECT 'UNORDERED_FEATURE' AS finding_type, c.carrier, c.account_number, c.invoice_number, c.msisdn,
               l.employee_id, c.charge_type, c.charge_code, c.amount AS billed_amount,
               0::DECIMAL(18, 4) AS expected_amount, c.amount AS disputed_amount,
               1 AS charge_count, [c.charge_id] AS consumed,
               format('Invoice {} ({}, account {}) bills feature {} at {} {} on {{msisdn}}, but the customer did not order '
                      || 'it for this line (ordered features: {}). Dispute {} {}.',
                      c.invoice_number, c.carrier, c.account_number, coalesce(c.charge_code, '(no code)'),
                      money(c.amount), $currency,
                      CASE WHEN len(l.features) = 0 THEN 'none' ELSE array_to_string(l.features, ', ') END,
                      money(c.amount), $currency) AS evidence
        FROM remaining c JOIN lines l USING (msisdn)
        WHERE c.charge_type = 'feature' AND NOT coalesce(list_contains(l.features, c.charge_code), false)
        """,
    ),
    Rule(
        "PLAN_RATE_MISMATCH",
        "A plan charge above the ordered plan's discounted contract fee (by more than 0.01): the excess is disputed.",
        """
        SELECT 'PLAN_RATE_MISMATCH' AS finding_type, c.carrier, c.account_number, c.invoice_number, c.msisdn,
               l.employee_id, c.charge_type, c.charge_code, c.amount AS billed_amount, p.fee AS expected_amount,
               c.amount - p.fee AS disputed_amount, 1 AS charge_count, [c.charge_id] AS consumed,
               format('Invoice {} ({}, account {}) bills plan {} at {} {} for {{msisdn}}; the line''s ordered plan {} '
                      || 'costs {} {} under the contract ({} less the {}% discount). Dispute the difference, {} {}.',
                      c.invoice_number, c.carrier, c.account_number, coalesce(c.charge_code, '(no code)'),
                      money(c.amount), $currency, p.code, money(p.fee), $currency, money(p.monthly_fee),
                      qty(p.discount_pct), money(c.amount - p.fee), $currency) AS evidence
        FROM remaining c
        JOIN lines l USING (msisdn)
        JOIN contract_plans p ON p.carrier = c.carrier AND p.code = l.plan_code
        WHERE c.charge_type = 'plan' AND c.amount > p.fee + 0.01
        """,
    ),
    Rule(
        "FEATURE_RATE_MISMATCH",
        "An ordered feature billed above its contract monthly fee (by more than 0.01): the excess is disputed.",
        """
        SELECT 'FEATURE_RATE_MISMATCH' AS finding_type, c.carrier, c.account_number, c.invoice_number, c.msisdn,
               l.employee_id, c.charge_type, c.charge_code, c.amount AS billed_amount,
               f.monthly_fee AS expected_amount, c.amount - f.monthly_fee AS disputed_amount,
               1 AS charge_count, [c.charge_id] AS consumed,
               format('Invoice {} ({}, account {}) bills feature {} at {} {} for {{msisdn}}; the contract price is {} {}. '
                      || 'Dispute the difference, {} {}.',
                      c.invoice_number, c.carrier, c.account_number, c.charge_code, money(c.amount), $currency,
                      money(f.monthly_fee), $currency, money(c.amount - f.monthly_fee), $currency) AS evidence
        FROM remaining c
        JOIN lines l USING (msisdn)
        JOIN contract_features f ON f.carrier = c.carrier AND f.code = c.charge_code
        WHERE c.charge_type = 'feature' AND list_contains(l.features, c.charge_code)
          AND c.amount > f.monthly_fee + 0.01
        """,
    ),
    Rule(
        "USAGE_OVERBILLED",
        "An overage or roaming quantity above what the device measured (beyond a 2% tolerance): "
        "the amount above the contract price of the measured quantity is disputed.",
        """
        SELECT 'USAGE_OVERBILLED' AS finding_type, u.carrier, u.account_number, u.invoice_number, u.msisdn,
               l.employee_id, u.charge_type, u.charge_code, u.amount AS billed_amount,
               round(u.contract_rate * u.expected_qty, 2) AS expected_amount,
               u.amount - round(u.contract_rate * u.expected_qty, 2) AS disputed_amount,
               1 AS charge_count, [u.charge_id] AS consumed,
               CASE WHEN u.charge_type LIKE 'roaming_%' THEN
                   format('Invoice {} ({}, account {}) bills {} {} of {} for {{msisdn}} ({} {}); the device measured {} {} '
                          || 'abroad, which costs {} {} at the contract rate of {} per {}. Dispute {} {}.',
                          u.invoice_number, u.carrier, u.account_number, qty(u.quantity), u.unit, u.usage_kind,
                          money(u.amount), $currency, qty(u.measured_qty), u.unit,
                          money(round(u.contract_rate * u.expected_qty, 2)), $currency, qty(u.contract_rate),
                          rtrim(u.unit, 's'), money(u.amount - round(u.contract_rate * u.expected_qty, 2)), $currency)
               ELSE
                   format('Invoice {} ({}, account {}) bills {} {} of {} for {{msisdn}} ({} {}); the device measured {} {} '
                          || 'against the {} allowance of plan {}, so {} {} of overage are due, {} {} at {} per {}. '
                          || 'Dispute {} {}.',
                          u.invoice_number, u.carrier, u.account_number, qty(u.quantity), u.unit, u.usage_kind,
                          money(u.amount), $currency, qty(u.measured_qty), u.unit,
                          coalesce(qty(u.allowance) || ' ' || u.unit, 'unlimited'), u.ordered_plan,
                          qty(u.expected_qty), u.unit, money(round(u.contract_rate * u.expected_qty, 2)), $currency,
                          qty(u.contract_rate), rtrim(u.unit, 's'),
                          money(u.amount - round(u.contract_rate * u.expected_qty, 2)), $currency)
               END AS evidence
        FROM usage_charges u JOIN lines l USING (msisdn)
        WHERE u.quantity > u.expected_qty + 0.02 * u.measured_qty
        """,
    ),
    Rule(
        "OVERAGE_RATE_MISMATCH",
        "An overage or roaming quantity the usage supports, billed at a unit rate above the contract rate "
        "(by more than 0.0001): the amount above the contract price is disputed.",
        """
        SELECT 'OVERAGE_RATE_MISMATCH' AS finding_type, u.carrier, u.account_number, u.invoice_number, u.msisdn,
               l.employee_id, u.charge_type, u.charge_code, u.amount AS billed_amount,
               round(u.contract_rate * u.quantity, 2) AS expected_amount,
               u.amount - round(u.contract_rate * u.quantity, 2) AS disputed_amount,
               1 AS charge_count, [u.charge_id] AS consumed,
               format('Invoice {} ({}, account {}) bills {} {} of {} for {{msisdn}} at {} per {} ({} {}); the contract '
                      || 'rate is {}, so {} {} cost {} {}. Dispute {} {}.',
                      u.invoice_number, u.carrier, u.account_number, qty(u.quantity), u.unit, u.usage_kind,
                      qty(u.unit_rate), rtrim(u.unit, 's'), money(u.amount), $currency, qty(u.contract_rate),
                      qty(u.quantity), u.unit, money(round(u.contract_rate * u.quantity, 2)), $currency,
                      money(u.amount - round(u.contract_rate * u.quantity, 2)), $currency) AS evidence
        FROM usage_charges u JOIN lines l USING (msisdn)
        WHERE u.unit_rate IS NOT NULL AND u.unit_rate > u.contract_rate + 0.0001
        """,
    ),
    Rule(
        "INVOICE_TOTAL_MISMATCH",
        "The invoice states a total above the sum of its charges (by more than 0.01): the difference is disputed.",
        """
        WITH invoices AS (
            SELECT carrier, account_number, invoice_number, mode(invoice_total) AS invoice_total,
                   sum(amount) AS charges_total, count(*) AS charge_count
            FROM charges GROUP BY ALL
        ), quarantined AS (  -- rows we could not accept are not charges we can add up; the evidence says so
            SELECT carrier, account_number, invoice_number, count(*) AS rows_quarantined
            FROM rejected_charges WHERE invoice_number IS NOT NULL GROUP BY ALL
        )
        SELECT 'INVOICE_TOTAL_MISMATCH' AS finding_type, i.carrier, i.account_number, i.invoice_number,
               NULL::VARCHAR AS msisdn, NULL::VARCHAR AS employee_id, NULL::VARCHAR AS charge_type,
               NULL::VARCHAR AS charge_code, invoice_total AS billed_amount, charges_total AS expected_amount,
               invoice_total - charges_total AS disputed_amount, charge_count, []::BIGINT[] AS consumed,
               format('Invoice {} ({}, account {}) states a total of {} {}, but its {} charges add up to {} {}. '
                      || 'Dispute the difference, {} {}.{}',
                      i.invoice_number, i.carrier, i.account_number, money(invoice_total), $currency, charge_count,
                      money(charges_total), $currency, money(invoice_total - charges_total), $currency,
                      CASE WHEN q.rows_quarantined > 0
                           THEN format(' Note: {} row(s) of this invoice were quarantined and are not in that sum; '
                                       || 'see quarantine.csv.', q.rows_quarantined)
                           ELSE '' END) AS evidence
        FROM invoices i LEFT JOIN quarantined q USING (carrier, account_number, invoice_number)
        WHERE invoice_total IS NOT NULL AND invoice_total - charges_total > 0.01
        """,
    ),
)


FINDINGS_SCHEMA = {
    "carrier": pl.String,
    "account_number": pl.String,
    "invoice_number": pl.String,
    "msisdn": pl.String,
    "employee_id": pl.String,
    "finding_type": pl.String,
    "charge_type": pl.String,
    "charge_code": pl.String,
    "billed_amount": pl.Decimal(18, 4),
    "expected_amount": pl.Decimal(18, 4),
    "disputed_amount": pl.Decimal(18, 4),
    "evidence": pl.String,
    "charge_count": pl.Int64,
    "rule_order": pl.Int64,
}


def not_examined(connection: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """After run_rules: how many numbers could not be verified, and how many charges rules 1-8 left alone for it."""
    lines, charges = connection.sql(
        "SELECT (SELECT count(*) FROM unverifiable_lines), "
        "(SELECT count(*) FROM charges WHERE msisdn IN (SELECT msisdn FROM unverifiable_lines))"
    ).fetchall()[0]
    return {"unverifiable_lines": lines, "charges_not_examined": charges}


def run_rules(connection: duckdb.DuckDBPyConnection, currency: str, month: str) -> pl.DataFrame:
    """Apply every rule in order on a session that has the input views; returns the findings to publish."""
    connection.execute(MACROS)
    connection.execute(PREPARE.replace("$UNVERIFIABLE_LINES", UNVERIFIABLE_LINES))
    parameters = {"currency": currency, "month_name": month_name(month)}
    results = []
    for order, rule in enumerate(RULES, start=1):
        sql = rule.sql.replace("$LINE_LEVEL_COLUMNS", LINE_LEVEL_COLUMNS)
        used = {name: value for name, value in parameters.items() if f"${name}" in sql}
        connection.execute(f"CREATE OR REPLACE TEMP TABLE rule_result AS {sql}", used)
        results.append(
            connection.sql(
                f"SELECT {', '.join(FINDING_COLUMNS)}, charge_count, {order} AS rule_order FROM rule_result "
                f"WHERE disputed_amount >= {MINIMUM_FINDING}"
            ).pl()
        )
        # a charge a rule has judged is not examined again, whether or not its finding reaches the threshold
        connection.execute("DELETE FROM remaining WHERE charge_id IN (SELECT unnest(consumed) FROM rule_result)")
    findings = pl.concat([r.cast(FINDINGS_SCHEMA) for r in results], how="vertical")
    return findings.sort(
        "carrier",
        "account_number",
        "invoice_number",
        "rule_order",
        "msisdn",
        "charge_type",
        "charge_code",
        nulls_last=False,
    )
