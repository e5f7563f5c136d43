"""Plain-language names of the codes the published files use: the one place a finding, saving or charge type gets
the words a telecom manager or a CFO reads.

The codes themselves are defined by the rules (reports/rules/audit_rules.py `RULES`, reports/rules/savings_rules.py `RULES`);
tests/assets/test_disputes.py checks that every type those rules define has a label here, in the rules' order. The CSV files
keep the codes; the workbook shows these labels, keeps the code in a column for filters and explains every type on
its Glossary sheet.
"""

from __future__ import annotations

MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)  # not strftime("%B"): that follows the machine's locale


def month_name(billing_month: str) -> str:
    """'2026-09' -> 'September 2026', as the evidence, the rationale and the workbook say it."""
    return f"{MONTH_NAMES[int(billing_month[5:7]) - 1]} {billing_month[:4]}"


# code -> (label, one-sentence explanation); in the order the rules run
FINDING_LABELS: dict[str, tuple[str, str]] = {
    "UNKNOWN_LINE": (
        "Number not on your roster",
        "The carrier billed a phone number that is not on your line roster for the month: claim back every charge "
        "of that number.",
    ),
    "CANCELLED_LINE_BILLED": (
        "Cancelled line still billed",
        "A line cancelled before the billing period started is still billed: claim back every charge of it.",
    ),
    "DUPLICATE_CHARGE": (
        "Same charge billed twice",
        "The same plan or feature is billed more than once for one line on one invoice: claim back the repeats.",
    ),
    "UNORDERED_FEATURE": (
        "Feature you did not order",
        "A feature (roaming pass, insurance, hotspot...) is billed on a line you did not order it for: claim back "
        "its charge.",
    ),
    "PLAN_RATE_MISMATCH": (
        "Plan billed above contract price",
        "A plan is billed above the line's ordered plan at your contract price (after the contract discount): claim "
        "back the difference.",
    ),
    "FEATURE_RATE_MISMATCH": (
        "Feature billed above contract price",
        "An ordered feature is billed above its contract monthly fee: claim back the difference.",
    ),
    "USAGE_OVERBILLED": (
        "More usage billed than used",
        "The invoice bills more overage or roaming usage than the device measured (beyond a 2% tolerance): claim "
        "back the charge above the measured usage at the contract rate.",
    ),
    "OVERAGE_RATE_MISMATCH": (
        "Usage billed above contract rate",
        "Overage or roaming usage is billed at a unit rate above the contract rate: claim back the difference.",
    ),
    "INVOICE_TOTAL_MISMATCH": (
        "Invoice total above its charges",
        "The invoice's stated total is more than the sum of its charges: claim back the difference.",
    ),
}

SAVINGS_LABELS: dict[str, tuple[str, str]] = {
    "TERMINATED_EMPLOYEE_LINE": (
        "Cancel line of a departed employee",
        "The employee using the line left before the month started, but the line is still active: cancel it and "
        "stop paying its plan and features.",
    ),
    "ZERO_USAGE_LINE": (
        "Cancel unused line",
        "The line made no calls, sent no texts and used no data, at home or abroad, for three months: cancel it.",
    ),
    "PLAN_RIGHTSIZE": (
        "Move to a cheaper plan",
        "Another plan of the same carrier's contract costs at least 1.00 a month less for the line's average usage "
        "over three months: switch the line to it.",
    ),
    "UNUSED_FEATURE": (
        "Drop unused roaming feature",
        "The line pays for a roaming feature but did not roam for three months: remove the feature.",
    ),
}

# charge types of an invoice (schemas/tables.py CHARGE_TYPES), as the cost allocation names them
CHARGE_TYPE_LABELS: dict[str, str] = {
    "plan": "Plans",
    "feature": "Features",
    "overage_voice": "Voice overage",
    "overage_sms": "Text overage",
    "overage_data": "Data overage",
    "roaming_voice": "Roaming calls",
    "roaming_data": "Roaming data",
    "one_time": "One-time charges",
    "equipment": "Equipment",
    "tax": "Taxes",
    "surcharge": "Surcharges",
    "credit": "Credits",
    "late_fee": "Late fees",
    "account_fee": "Account fees",
}

# Words of the workbook a reader may not know, explained on the Glossary sheet
TERMS: tuple[tuple[str, str], ...] = (
    (
        "Amount to claim",
        "What the carrier billed above what the contract and the measured usage say is due: the "
        "disputed amount of a finding, summed per invoice, account and carrier.",
    ),
    (
        "Last day to file",
        "The invoice date plus the dispute window of the carrier's contract (90 days unless the "
        "contract sets dispute_window_days). Carriers refuse disputes filed later. An invoice "
        "without an invoice date counts from the end of its billing period.",
    ),
    (
        "Evidence",
        "A sentence per finding stating what was billed, what the contract and the measured usage say, "
        "and the difference: ready to paste into the carrier's dispute form.",
    ),
    (
        "Monthly / annual savings",
        "What the customer stops paying each month once the action is taken; annual is twelve times monthly.",
    ),
    (
        "Cumulative annual savings",
        "The annual savings of this action and of every action ranked above it: the top "
        "N actions save this much a year.",
    ),
    (
        "Account-level charges",
        "Charges the carrier bills to the account rather than to a phone line (equipment, "
        "taxes, surcharges, fees, credits): they cannot be allocated to a cost center from "
        "the invoice alone.",
    ),
    (
        "Quarantined input rows",
        "Rows of the invoices, usage or roster files that broke a rule of the data contract "
        "and were left out of the audit; each is listed with its reason in quarantine.csv.",
    ),
)


def _fallback(code: str) -> str:
    """A readable name for a code that has no label yet (a rule added later): 'NEW_RULE' -> 'New rule'."""
    return code.replace("_", " ").capitalize() if code else "(none)"


def finding_label(code: str | None) -> str:
    return FINDING_LABELS[code][0] if code in FINDING_LABELS else _fallback(code or "")


def savings_label(code: str | None) -> str:
    return SAVINGS_LABELS[code][0] if code in SAVINGS_LABELS else _fallback(code or "")


def charge_type_label(code: str | None) -> str:
    if code is None or code == "":
        return "(no charge type)"
    return CHARGE_TYPE_LABELS.get(code, _fallback(code))
