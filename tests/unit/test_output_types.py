"""The finding and savings types are defined once (schemas/outputs.py); every place that names them follows."""

from reports.rules import audit_rules, savings_rules
from reports.workbook.labels import FINDING_LABELS, SAVINGS_LABELS, month_name
from schemas.outputs import FINDING_COLUMNS, FINDING_TYPES, FINDINGS_CSV_COLUMNS, SAVINGS_COLUMNS, SAVINGS_TYPES


def test_every_type_has_a_label_in_rule_order():
    assert tuple(FINDING_LABELS) == FINDING_TYPES
    assert tuple(SAVINGS_LABELS) == SAVINGS_TYPES


def test_the_rules_return_the_published_columns_without_the_customer_months_own():
    assert list(savings_rules.SAVINGS_SCHEMA) == SAVINGS_COLUMNS
    assert [c for c in FINDINGS_CSV_COLUMNS if c in FINDING_COLUMNS] == FINDING_COLUMNS
    assert set(FINDINGS_CSV_COLUMNS) - set(FINDING_COLUMNS) == {"customer_id", "billing_month", "currency"}


def test_one_rule_per_type_in_order():
    assert tuple(rule.finding_type for rule in audit_rules.RULES) == FINDING_TYPES
    assert tuple(rule.savings_type for rule in savings_rules.RULES) == SAVINGS_TYPES


def test_month_names_do_not_follow_the_locale():
    assert month_name("2026-09") == "September 2026"
    assert month_name("2027-01") == "January 2027"
