"""The published files' columns (data contract, "Published output"): one definition for every writer and reader."""

QUARANTINE_CSV_COLUMNS = ["file", "row", "column", "value", "reason"]
FINDINGS_CSV_COLUMNS = [
    "customer_id", "billing_month", "carrier", "account_number", "invoice_number", "msisdn", "employee_id",
    "finding_type", "charge_type", "charge_code", "billed_amount", "expected_amount", "disputed_amount", "currency",
    "evidence",
]  # fmt: skip
SAVINGS_CSV_COLUMNS = [
    "customer_id", "billing_month", "carrier", "msisdn", "employee_id", "savings_type", "current_plan_code",
    "recommended_plan_code", "feature_code", "monthly_savings", "annual_savings", "currency", "rationale",
]  # fmt: skip
