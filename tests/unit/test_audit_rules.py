"""Table-driven tests of every overbilling rule, with its edges.

Each case lists roster lines, measured usage and invoice charges for June 2026 under the test
contract (BIZ-5GB: 40.00 less 15% = 34.00, 5120 MB, data overage 0.015/MB; BIZ-UNL: 65.00 -> 55.25,
unlimited; INTL-PASS feature 10.00; roaming 0.25/min, 0.05/MB) and the findings expected:
(finding_type, invoice_number, msisdn, charge_code, disputed_amount).
"""

import datetime as dt
from decimal import Decimal

import duckdb
import polars as pl
import pytest

from reports.inputs.contracts import contract_frames
from reports.rules.audit_rules import run_rules
from schemas.contract import Contract, CustomerSettings
from schemas.tables import STORED_COLUMNS
from schemas.values import MONEY, QUANTITY
from tests.support.builders import CONTRACT

SECOND_CONTRACT = {
    "carrier": "southpoint",
    "discount_pct": 0,
    "plans": [
        {
            "code": "SP-10",
            "monthly_fee": 20.00,
            "voice_min": 500,
            "sms": 100,
            "data_mb": 10240,
            "overage_voice_per_min": 0.10,
            "overage_sms_per_msg": 0.05,
            "overage_data_per_mb": 0.01,
        }
    ],
    "features": [],
    "roaming": {"voice_per_min": 0.30, "data_per_mb": 0.04},
}


def line(msisdn="L1", plan="BIZ-5GB", features="INTL-PASS", status="active", status_date="2025-01-01", employee="E1"):
    return {
        "msisdn": msisdn,
        "plan_code": plan,
        "features": features,
        "line_status": status,
        "line_status_date": dt.date.fromisoformat(status_date),
        "employee_id": employee,
    }


def charge(
    charge_type="plan",
    code="BIZ-5GB",
    amount="34.00",
    msisdn="L1",
    invoice="INV-1",
    quantity=None,
    unit_rate=None,
    carrier="northwind-mobile",
    total=None,
):
    return {
        "invoice_number": invoice,
        "carrier": carrier,
        "account_number": "ACC-1",
        "msisdn": msisdn,
        "charge_type": charge_type,
        "charge_code": code,
        "amount": amount,
        "quantity": quantity,
        "unit_rate": unit_rate,
        "invoice_total": total,
    }


def usage(msisdn="L1", voice="0", sms="0", data="0", roaming_voice="0", roaming_data="0"):
    return {
        "msisdn": msisdn,
        "voice_minutes": voice,
        "sms_count": sms,
        "data_mb": data,
        "roaming_voice_minutes": roaming_voice,
        "roaming_data_mb": roaming_data,
    }


def audit(lines, charges, usages=(), rejected=(), rejected_lines=(), roster_quarantine=()):
    """Run the rules on a session with these tables. `rejected_lines` (msisdn, source_file, source_row) and
    `roster_quarantine` (file, row, column) are quarantined roster rows and their bad cells (v1.1)."""
    connection = duckdb.connect()
    tables = contract_frames(
        "acme",
        CustomerSettings(name="Acme", region="US", currency="USD"),
        [Contract.model_validate(CONTRACT), Contract.model_validate(SECOND_CONTRACT)],
    )

    def invoice_frame(rows):
        rows = [dict(r) for r in rows]
        for position, row in enumerate(rows, start=2):
            if row["invoice_total"] is None:  # the invoice's own total unless a case says otherwise
                row["invoice_total"] = str(
                    sum(Decimal(r["amount"]) for r in rows if r["invoice_number"] == row["invoice_number"])
                )
            row.update(
                source_file=f"invoices/{row['invoice_number']}.csv",
                source_row=position,
                period_start=dt.date(2026, 6, 1),
                period_end=dt.date(2026, 6, 30),
            )
        frame = pl.DataFrame(
            rows,
            schema_overrides={
                "amount": pl.String,
                "quantity": pl.String,
                "unit_rate": pl.String,
                "invoice_total": pl.String,
            },
            infer_schema_length=None,
        )
        for column in STORED_COLUMNS["invoice_charges"]:
            if column not in frame.columns:
                frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(column))
        return frame.with_columns(
            pl.col("amount", "invoice_total").cast(MONEY),
            pl.col("quantity", "unit_rate").cast(QUANTITY),
            pl.col("period_start", "period_end").cast(pl.Date),
        )

    charges_frame = invoice_frame(charges)
    rejected_frame = invoice_frame(rejected) if rejected else charges_frame.clear()
    usage_frame = pl.DataFrame(list(usages) or [usage("nobody")]).with_columns(pl.exclude("msisdn").cast(QUANTITY))
    roster = pl.DataFrame(lines)
    rejected_roster = pl.DataFrame(
        list(rejected_lines), schema={"msisdn": pl.String, "source_file": pl.String, "source_row": pl.Int64}
    )
    quarantine = pl.DataFrame(list(roster_quarantine), schema={"file": pl.String, "row": pl.Int64, "column": pl.String})
    for name, frame in {
        **tables,
        "invoice_charges": charges_frame,
        "rejected_charges": rejected_frame,
        "roster": roster,
        "line_month_usage": usage_frame,
        "rejected_roster": rejected_roster,
        "roster_quarantine": quarantine,
    }.items():
        connection.register(f"{name}_frame", frame)
        connection.execute(f"CREATE VIEW {name} AS SELECT * FROM {name}_frame")
    found = run_rules(connection, "USD", "2026-06")
    return [
        (r["finding_type"], r["invoice_number"], r["msisdn"], r["charge_code"], f"{r['disputed_amount']:.2f}")
        for r in found.iter_rows(named=True)
    ], found


CASES = {
    "a clean line has no findings": (
        [line()],
        [charge(), charge("feature", "INTL-PASS", "10.00")],
        [usage(data="100")],
        [],
    ),
    "unknown line: every charge of it, once per invoice": (
        [line()],
        [
            charge(),
            charge(msisdn="L9"),
            charge("feature", "INTL-PASS", "10.00", msisdn="L9"),
            charge(msisdn="L9", invoice="INV-2"),
        ],
        [],
        [("UNKNOWN_LINE", "INV-1", "L9", None, "44.00"), ("UNKNOWN_LINE", "INV-2", "L9", None, "34.00")],
    ),
    "unknown line with only a credit is consumed but not published": (
        [line()],
        [charge(), charge("credit", "GOODWILL", "-5.00", msisdn="L9")],
        [],
        [],
    ),
    "cancelled before the period: everything disputed, duplicates not examined again": (
        [line(status="cancelled", status_date="2026-05-15")],
        [charge(), charge(), charge("feature", "HOTSPOT", "5.00")],
        [],
        [("CANCELLED_LINE_BILLED", "INV-1", "L1", None, "73.00")],
    ),
    "cancelled on the first day of the period is not before it": (
        [line(status="cancelled", status_date="2026-06-01")],
        [charge()],
        [],
        [],
    ),
    "duplicate plan charge: the repeats are disputed": (
        [line()],
        [charge(), charge(), charge()],
        [],
        [("DUPLICATE_CHARGE", "INV-1", "L1", "BIZ-5GB", "68.00")],
    ),
    "duplicate that also mismatches its rate: the first goes on to the rate rule": (
        [line()],
        [charge(amount="36.00"), charge(amount="36.00")],
        [],
        [
            ("DUPLICATE_CHARGE", "INV-1", "L1", "BIZ-5GB", "36.00"),
            ("PLAN_RATE_MISMATCH", "INV-1", "L1", "BIZ-5GB", "2.00"),
        ],
    ),
    "the same plan on two invoices is not a duplicate; both are judged": (
        [line()],
        [charge(amount="35.00"), charge(amount="35.00", invoice="INV-2")],
        [],
        [
            ("PLAN_RATE_MISMATCH", "INV-1", "L1", "BIZ-5GB", "1.00"),
            ("PLAN_RATE_MISMATCH", "INV-2", "L1", "BIZ-5GB", "1.00"),
        ],
    ),
    "unordered feature": (
        [line(features="")],
        [charge(), charge("feature", "INTL-PASS", "10.00")],
        [],
        [("UNORDERED_FEATURE", "INV-1", "L1", "INTL-PASS", "10.00")],
    ),
    "ordered features are split on ; and trimmed": (
        [line(features=" HOTSPOT ; INTL-PASS ")],
        [charge("feature", "INTL-PASS", "10.00")],
        [],
        [],
    ),
    "plan rate: 0.01 above is tolerated": ([line()], [charge(amount="34.01")], [], []),
    "plan rate: 0.02 above is a finding": (
        [line()],
        [charge(amount="34.02")],
        [],
        [("PLAN_RATE_MISMATCH", "INV-1", "L1", "BIZ-5GB", "0.02")],
    ),
    "a billed plan code other than the ordered one is judged against the ordered plan": (
        [line()],
        [charge(code="BIZ-UNL", amount="55.25")],
        [],
        [("PLAN_RATE_MISMATCH", "INV-1", "L1", "BIZ-UNL", "21.25")],
    ),
    "plan billed below the contract is not a finding": ([line()], [charge(amount="30.00")], [], []),
    "feature rate mismatch": (
        [line()],
        [charge("feature", "INTL-PASS", "12.50")],
        [],
        [("FEATURE_RATE_MISMATCH", "INV-1", "L1", "INTL-PASS", "2.50")],
    ),
    "feature 0.01 above is tolerated": ([line()], [charge("feature", "INTL-PASS", "10.01")], [], []),
    # data: measured 6000 MB, allowance 5120 -> 880 MB due; tolerance 2% of 6000 = 120 MB
    "usage: quantity at the 2% boundary is supported": (
        [line()],
        [charge("overage_data", "DATA", "15.00", quantity="1000", unit_rate="0.015")],
        [usage(data="6000")],
        [],
    ),
    "usage: quantity just above the 2% boundary is overbilled": (
        [line()],
        [charge("overage_data", "DATA", "15.00", quantity="1000.01", unit_rate="0.015")],
        [usage(data="6000")],
        [("USAGE_OVERBILLED", "INV-1", "L1", "DATA", "1.80")],
    ),
    "usage: overage billed with no usage at all": (
        [line()],
        [charge("overage_data", "DATA", "3.00", quantity="200", unit_rate="0.015")],
        [],
        [("USAGE_OVERBILLED", "INV-1", "L1", "DATA", "3.00")],
    ),
    "usage: unlimited allowance means no overage is due": (
        [line(plan="BIZ-UNL")],
        [
            charge(code="BIZ-UNL", amount="55.25"),
            charge("overage_data", "DATA", "4.00", quantity="10", unit_rate="0.4"),
        ],
        [usage(data="100")],
        [("USAGE_OVERBILLED", "INV-1", "L1", "DATA", "4.00")],
    ),
    "roaming with no allowance: measured roaming is due, within 2%": (
        [line()],
        [charge("roaming_data", "ROAM", "5.10", quantity="102", unit_rate="0.05")],
        [usage(roaming_data="100")],
        [],
    ),
    "roaming billed without any roaming measured": (
        [line()],
        [charge("roaming_voice", "ROAM", "2.50", quantity="10", unit_rate="0.25")],
        [usage(voice="300")],
        [("USAGE_OVERBILLED", "INV-1", "L1", "ROAM", "2.50")],
    ),
    "roaming quantity above measured: the contract price of the measured quantity is due": (
        [line()],
        [charge("roaming_data", "ROAM", "10.00", quantity="200", unit_rate="0.05")],
        [usage(roaming_data="100")],
        [("USAGE_OVERBILLED", "INV-1", "L1", "ROAM", "5.00")],
    ),
    "overage rate mismatch when the quantity is supported": (
        [line()],
        [charge("overage_data", "DATA", "17.60", quantity="880", unit_rate="0.02")],
        [usage(data="6000")],
        [("OVERAGE_RATE_MISMATCH", "INV-1", "L1", "DATA", "4.40")],
    ),
    "overage rate within 0.0001 is tolerated": (
        [line()],
        [charge("overage_data", "DATA", "13.29", quantity="880", unit_rate="0.0151")],
        [usage(data="6000")],
        [],
    ),
    "roaming rate mismatch": (
        [line()],
        [charge("roaming_voice", "ROAM", "3.00", quantity="10", unit_rate="0.30")],
        [usage(roaming_voice="10")],
        [("OVERAGE_RATE_MISMATCH", "INV-1", "L1", "ROAM", "0.50")],
    ),
    "an overbilled quantity is not examined again for its rate": (
        [line()],
        [charge("overage_data", "DATA", "20.00", quantity="1000", unit_rate="0.02")],
        [usage(data="5120")],
        [("USAGE_OVERBILLED", "INV-1", "L1", "DATA", "20.00")],
    ),
    "invoice total above the charges": (
        [line()],
        [charge(total="40.00"), charge("tax", "TAX", "3.00", msisdn=None, total="40.00")],
        [],
        [("INVOICE_TOTAL_MISMATCH", "INV-1", None, None, "3.00")],
    ),
    "invoice total below the charges is not disputed": (
        [line()],
        [charge(total="30.00")],
        [],
        [],
    ),
    "quarantined rows are not in the sum of the charges": (
        [line()],
        [charge(total="39.00")],
        [],
        [("INVOICE_TOTAL_MISMATCH", "INV-1", None, None, "5.00")],
    ),
    "credits and account-level charges are left alone": (
        [line()],
        [
            charge(),
            charge("credit", "GOODWILL", "-5.00"),
            charge("account_fee", "ACCT", "2.00", msisdn=None),
            charge("surcharge", "REG", "1.00", msisdn=None),
            charge("one_time", "ACT", "25.00"),
            charge("equipment", "PHONE", "1200.00"),
            charge("late_fee", "LATE", "10.00", msisdn=None),
        ],
        [],
        [],
    ),
    "several carriers and invoices for one customer": (
        [line(), line("L2", plan="SP-10", features="")],
        [
            charge(amount="36.00"),
            charge(code="SP-10", amount="21.00", msisdn="L2", carrier="southpoint", invoice="SP-1"),
            charge(
                "overage_voice",
                "VOICE",
                "6.00",
                msisdn="L2",
                carrier="southpoint",
                invoice="SP-1",
                quantity="60",
                unit_rate="0.10",
            ),
        ],
        [usage("L2", voice="520")],
        [
            ("PLAN_RATE_MISMATCH", "INV-1", "L1", "BIZ-5GB", "2.00"),
            ("PLAN_RATE_MISMATCH", "SP-1", "L2", "SP-10", "1.00"),
            ("USAGE_OVERBILLED", "SP-1", "L2", "VOICE", "4.00"),
        ],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_rule_cases(name):
    lines, charges, usages, expected = CASES[name]
    rejected = [charge("bogus", "X", "5.00", total="39.00")] if "quarantined" in name else ()
    found, _ = audit(lines, charges, usages, rejected)
    assert sorted(found, key=str) == sorted(expected, key=str)


def test_total_mismatch_evidence_mentions_quarantined_rows():
    _, found = audit([line()], [charge(total="39.00")], [], [charge("bogus", "X", "5.00", total="39.00")])
    assert found["evidence"][0] == (
        "Invoice INV-1 (northwind-mobile, account ACC-1) states a total of 39.00 USD, but its 1 charges add up to "
        "34.00 USD. Dispute the difference, 5.00 USD. Note: 1 row(s) of this invoice were quarantined and are not in "
        "that sum; see quarantine.csv."
    )


def test_findings_carry_amounts_and_evidence():
    _, found = audit([line()], [charge(amount="36.00")], [])
    row = found.row(0, named=True)
    assert (row["billed_amount"], row["expected_amount"], row["disputed_amount"]) == (
        Decimal("36"),
        Decimal("34"),
        Decimal("2"),
    )
    assert row["employee_id"] == "E1"
    assert row["evidence"] == (
        "Invoice INV-1 (northwind-mobile, account ACC-1) bills plan BIZ-5GB at 36.00 USD for {msisdn}; the line's "
        "ordered plan BIZ-5GB costs 34.00 USD under the contract (40.00 less the 15% discount). "
        "Dispute the difference, 2.00 USD."
    )


def test_usage_evidence_states_billed_measured_and_contract():
    _, found = audit(
        [line()], [charge("overage_data", "DATA", "15.00", quantity="1000.01", unit_rate="0.015")], [usage(data="6000")]
    )
    assert found["evidence"][0] == (
        "Invoice INV-1 (northwind-mobile, account ACC-1) bills 1000.01 MB of overage data for {msisdn} (15.00 USD); "
        "the device measured 6000 MB against the 5120 MB allowance of plan BIZ-5GB, so 880 MB of overage are due, "
        "13.20 USD at 0.015 per MB. Dispute 1.80 USD."
    )
