"""Audit rules v1.1: a number whose roster rows were all quarantined (some cell broke a rule, its msisdn still
parses) is on the roster but cannot be verified. Rules 1-8 leave its charges alone, no saving is computed for it,
it is never an UNKNOWN_LINE; rule 9 (the invoice total) still counts every charge. A charge without a number
(an account-level charge, or an ERASED msisdn stored empty) is not examined by rules 1-8 either.
"""

import polars as pl
import pytest

from assets import publish, savings
from tests.assets.test_assets import MONTH_ASSETS, run_month
from tests.support.builders import (
    INVOICE_HEADER,
    ROSTER_HEADER,
    USAGE_HEADER,
    charge_row,
    drop,
    roster_row,
    usage_row,
    write_csv,
    write_customer,
)
from tests.unit.test_audit_rules import audit, charge, line

KNOWN = "+14155550100"  # on the roster, clean
UNVERIFIABLE = "+14155550101"  # its only roster row has vip=maybe: quarantined, the number still parses
TERMINATED = "+14155550102"  # on the roster, employee terminated before June: a saving (the control)
UNKNOWN = "+14155550199"  # on no roster row at all


@pytest.fixture
def data_root(tmp_path):
    write_customer(tmp_path, "acme")
    folder = drop(tmp_path, "acme", "2026-06")
    write_csv(
        folder / "roster.csv",
        ROSTER_HEADER,
        [
            roster_row(KNOWN, "E1"),
            # accepted, this row would be a PLAN_RATE_MISMATCH, an UNORDERED_FEATURE and a TERMINATED_EMPLOYEE_LINE
            roster_row(UNVERIFIABLE, "E2", vip="maybe", employment_status="terminated", termination_date="2026-03-01"),
            roster_row(TERMINATED, "E3", employment_status="terminated", termination_date="2026-03-01"),
            roster_row("555", "E4"),  # the msisdn itself is the bad cell: protects no number
        ],
    )
    total = "160.00"  # the charges add up to 153.00
    write_csv(
        folder / "invoices" / "inv-1.csv",
        INVOICE_HEADER,
        [
            charge_row(KNOWN, total=total),
            charge_row(UNVERIFIABLE, amount="36.00", total=total),
            charge_row(UNVERIFIABLE, "feature", "10.00", total, charge_code="INTL-PASS"),
            charge_row(TERMINATED, total=total),
            charge_row(UNKNOWN, total=total),
            charge_row(None, "tax", "5.00", total, charge_code="TAX"),
        ],
    )
    write_csv(folder / "usage" / "u.csv", USAGE_HEADER, [usage_row("2026-06-01", KNOWN)])
    return tmp_path


def test_a_line_whose_roster_row_was_quarantined_gets_no_finding_and_no_saving(data_root):
    result = run_month(data_root, assets=[*MONTH_ASSETS, savings.savings, publish.savings_report])
    assert result.success
    published = data_root / "published" / "acme" / "2026-06"
    quarantine = pl.read_csv(published / "quarantine.csv", infer_schema=False)
    assert quarantine.select("file", "row", "column").rows() == [
        ("roster.csv", "3", "vip"),
        ("roster.csv", "5", "msisdn"),
    ]

    found = pl.read_csv(published / "findings.csv", infer_schema=False)
    assert found.select("msisdn", "finding_type", "billed_amount", "expected_amount", "disputed_amount").rows() == [
        (UNKNOWN, "UNKNOWN_LINE", "34.00", "0.00", "34.00"),
        # rule 9 counts all six charges, the unverifiable line's 46.00 included
        (None, "INVOICE_TOTAL_MISMATCH", "160.00", "153.00", "7.00"),
    ]
    assert "6 charges add up to 153.00 USD" in found["evidence"][1]

    saved = pl.read_csv(published / "savings.csv", infer_schema=False)
    assert saved.select("msisdn", "savings_type").rows() == [(TERMINATED, "TERMINATED_EMPLOYEE_LINE")]

    metadata = result.asset_materializations_for_node("findings")[0].metadata
    assert metadata["unverifiable_lines"].value == 1 and metadata["charges_not_examined"].value == 2
    assert result.asset_materializations_for_node("savings")[0].metadata["unverifiable_lines"].value == 1


def test_a_truly_unknown_line_is_still_unknown(data_root):
    """Without the vip=maybe row, the same number is billed but on no roster row: UNKNOWN_LINE, as before."""
    roster = data_root / "inbox" / "acme" / "2026-06" / "roster.csv"
    write_csv(roster, ROSTER_HEADER, [roster_row(KNOWN, "E1"), roster_row(TERMINATED, "E3")])
    assert run_month(data_root).success
    found = pl.read_csv(data_root / "published" / "acme" / "2026-06" / "findings.csv", infer_schema=False)
    assert sorted(
        found.filter(pl.col("finding_type") == "UNKNOWN_LINE").select("msisdn", "disputed_amount").rows()
    ) == [
        (UNVERIFIABLE, "46.00"),
        (UNKNOWN, "34.00"),
    ]


# The rules on their own (tests/unit/test_audit_rules.py's session): rejected roster rows and their quarantine entries.
def rejected(msisdn, *columns, row=3):
    return {"msisdn": msisdn, "source_file": "roster.csv", "source_row": row}, [
        {"file": "roster.csv", "row": row, "column": c} for c in columns
    ]


def test_rules_one_to_eight_skip_an_unverifiable_number_and_rule_nine_counts_it():
    row, entries = rejected("L2", "vip")
    found, frame = audit(
        [line()],
        [
            charge(total="134.00"),
            charge(amount="36.00", msisdn="L2", total="134.00"),
            charge("overage_data", "DATA", "20.00", msisdn="L2", quantity="1000", unit_rate="0.02", total="134.00"),
            charge(amount="34.00", msisdn="L9", total="134.00"),
        ],
        rejected_lines=[row],
        roster_quarantine=entries,
    )
    assert sorted(found, key=str) == sorted(
        [
            ("UNKNOWN_LINE", "INV-1", "L9", None, "34.00"),
            ("INVOICE_TOTAL_MISMATCH", "INV-1", None, None, "10.00"),
        ],
        key=str,
    )
    assert frame.filter(pl.col("finding_type") == "INVOICE_TOTAL_MISMATCH")["expected_amount"].to_list() == [124]


def test_a_rejected_row_whose_msisdn_was_the_bad_cell_protects_nothing():
    """Only a duplicate line keeps its (parsed) msisdn after the msisdn cell was quarantined; for any such row the
    msisdn is not 'still parses', so the number stays unknown unless another row is on the roster."""
    row, entries = rejected("L2", "msisdn", "vip")
    found, _ = audit([line()], [charge(amount="36.00", msisdn="L2")], rejected_lines=[row], roster_quarantine=entries)
    assert found == [("UNKNOWN_LINE", "INV-1", "L2", None, "36.00")]


def test_a_number_with_one_accepted_row_is_judged_as_usual():
    row, entries = rejected("L1", "vip", row=4)  # a second, quarantined row of an accepted line
    found, _ = audit([line()], [charge(amount="36.00")], rejected_lines=[row], roster_quarantine=entries)
    assert found == [("PLAN_RATE_MISMATCH", "INV-1", "L1", "BIZ-5GB", "2.00")]


def test_plan_and_feature_charges_without_a_number_are_left_to_rule_nine():
    """An ERASED msisdn is stored empty, like an account-level charge: rules 1-8 skip a plan or feature charge
    without a number (even a repeated one, or one above every contract price), rule 9 counts it."""
    found, frame = audit(
        [line()],
        [
            charge(total="130.00"),
            charge(msisdn=None, total="130.00"),
            charge(msisdn=None, total="130.00"),
            charge("feature", "INTL-PASS", "12.50", msisdn=None, total="130.00"),
            charge("feature", "HOTSPOT", "5.00", msisdn=None, total="130.00"),
        ],
    )
    # 34.00 x 3 + 12.50 + 5.00 = 119.50
    assert found == [("INVOICE_TOTAL_MISMATCH", "INV-1", None, None, "10.50")]
    assert (frame["expected_amount"].cast(pl.String).to_list(), frame["charge_count"].to_list()) == (["119.5000"], [5])


def test_erased_charges_are_left_to_rule_nine(data_root):
    """The same through ingest: an invoice msisdn ERASED (data contract v1.1) is stored without a number."""
    write_csv(
        data_root / "inbox" / "acme" / "2026-06" / "invoices" / "inv-1.csv",
        INVOICE_HEADER,
        [
            charge_row(KNOWN, total="130.00"),
            charge_row("ERASED", amount="36.00", total="130.00"),
            charge_row("ERASED", amount="36.00", total="130.00"),
            charge_row("ERASED", "feature", "12.50", "130.00", charge_code="INTL-PASS"),
        ],
    )
    assert run_month(data_root).success
    published = data_root / "published" / "acme" / "2026-06"
    assert pl.read_csv(published / "quarantine.csv", infer_schema=False)["file"].to_list() == ["roster.csv"] * 2
    found = pl.read_csv(published / "findings.csv", infer_schema=False)
    # 34.00 + 36.00 + 36.00 + 12.50 = 118.50
    assert found.select("msisdn", "finding_type", "expected_amount", "disputed_amount").rows() == [
        (None, "INVOICE_TOTAL_MISMATCH", "118.50", "11.50"),
    ]
