"""The published files' columns (data contract, "Published output"): one definition for every writer and reader."""

# The finding and savings types, in the order their rules run (docs/audit-rules.md): the rules, the workbook's
# tables and the publication order all take them from here.
FINDING_TYPES = (
    "UNKNOWN_LINE",
    "CANCELLED_LINE_BILLED",
    "DUPLICATE_CHARGE",
    "UNORDERED_FEATURE",
    "PLAN_RATE_MISMATCH",
    "FEATURE_RATE_MISMATCH",
    "USAGE_OVERBILLED",
    "OVERAGE_RATE_MISMATCH",
    "INVOICE_TOTAL_MISMATCH",
)
SAVINGS_TYPES = ("TERMINATED_EMPLOYEE_LINE", "ZERO_USAGE_LINE", "PLAN_RIGHTSIZE", "UNUSED_FEATURE")

QUARANTINE_CSV_COLUMNS = ["file", "row", "column", "value", "reason"]
FINDINGS_CSV_COLUMNS = [
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
    "evidence",
]
SAVINGS_CSV_COLUMNS = [
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
    "rationale",
]
# What the rules return: the published columns without the customer-month's own (added when publishing)
PUBLISHING_ADDS = ("customer_id", "billing_month", "currency")
FINDING_COLUMNS = [c for c in FINDINGS_CSV_COLUMNS if c not in PUBLISHING_ADDS]
SAVINGS_COLUMNS = [c for c in SAVINGS_CSV_COLUMNS if c not in PUBLISHING_ADDS]
# disputes-<carrier>.csv: one row per finding of that carrier, ready to attach to the carrier's dispute form
DISPUTES_CSV_COLUMNS = [
    "carrier",
    "account_number",
    "invoice_number",
    "invoice_date",
    "last_day_to_file",
    "msisdn",
    "finding_type",
    "finding",
    "charge_type",
    "charge_code",
    "billed_amount",
    "expected_amount",
    "disputed_amount",
    "currency",
    "evidence",
]
DISPUTES_CSV_AMOUNTS = ("billed_amount", "expected_amount", "disputed_amount")
# the columns of each published CSV that hold amounts (written as plain decimals, never neutralised as text)
FINDINGS_CSV_AMOUNTS = ("billed_amount", "expected_amount", "disputed_amount")
SAVINGS_CSV_AMOUNTS = ("monthly_savings", "annual_savings")
DISPUTES_FILE_PREFIX = "disputes-"


def disputes_file_name(carrier: str) -> str:
    """published/<customer>/<month>/disputes-<carrier>.csv (carrier ids are 2-63 of a-z, 0-9 and -)."""
    return f"{DISPUTES_FILE_PREFIX}{carrier}.csv"
