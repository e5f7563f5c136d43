"""Table-driven tests of every savings type, with its edges, for billing month August 2026
(history: June, July, August).

Contract (no discount): BASIC 20.00 (100 min, 100 SMS, 1024 MB; overage 0.10/min, 0.05/SMS, 0.02/MB),
PLUS 30.00 (unlimited voice and SMS, 5120 MB; 0.01/MB), MAX 50.00 (unlimited); features INTL-PASS
(roaming, 10.00) and HOTSPOT (hotspot, 5.00). Expected rows:
(savings_type, msisdn, recommended_plan_code, feature_code, monthly_savings).
"""

import datetime as dt

import duckdb
import polars as pl
import pytest

from reports.inputs.contracts import contract_frames
from reports.rules.history import history_months
from reports.rules.savings_rules import run_savings_rules
from schemas.contract import Contract, CustomerSettings
from schemas.values import QUANTITY

CONTRACT = {
    "carrier": "northwind-mobile",
    "discount_pct": 0,
    "plans": [
        {
            "code": "BASIC",
            "monthly_fee": 20.00,
            "voice_min": 100,
            "sms": 100,
            "data_mb": 1024,
            "overage_voice_per_min": 0.10,
            "overage_sms_per_msg": 0.05,
            "overage_data_per_mb": 0.02,
        },
        {
            "code": "PLUS",
            "monthly_fee": 30.00,
            "voice_min": None,
            "sms": None,
            "data_mb": 5120,
            "overage_voice_per_min": 0,
            "overage_sms_per_msg": 0,
            "overage_data_per_mb": 0.01,
        },
        {
            "code": "MAX",
            "monthly_fee": 50.00,
            "voice_min": None,
            "sms": None,
            "data_mb": None,
            "overage_voice_per_min": 0,
            "overage_sms_per_msg": 0,
            "overage_data_per_mb": 0,
        },
    ],
    "features": [
        {"code": "INTL-PASS", "name": "Travel pass", "category": "roaming", "monthly_fee": 10.00},
        {"code": "HOTSPOT", "name": "Hotspot", "category": "hotspot", "monthly_fee": 5.00},
    ],
    "roaming": {"voice_per_min": 0.25, "data_per_mb": 0.05},
}
MONTH = "2026-08"


def line(msisdn, plan="PLUS", features="", status="active", employment="active", terminated=None):
    return {
        "msisdn": msisdn,
        "employee_id": f"E-{msisdn}",
        "carrier": "northwind-mobile",
        "plan_code": plan,
        "features": features,
        "line_status": status,
        "employment_status": employment,
        "termination_date": dt.date.fromisoformat(terminated) if terminated else None,
    }


def used(msisdn, data=(100, 100, 100), voice=(10, 10, 10), sms=(5, 5, 5), roaming=(0, 0, 0)):
    """Monthly usage rows for June, July, August."""
    return [
        {
            "msisdn": msisdn,
            "month_index": i + 1,
            "voice_minutes": str(voice[i]),
            "sms_count": str(sms[i]),
            "data_mb": str(data[i]),
            "roaming_voice_minutes": "0",
            "roaming_data_mb": str(roaming[i]),
        }
        for i in range(3)
    ]


def recommend(lines, usage_rows, has_history=True):
    connection = duckdb.connect()
    tables = contract_frames(
        "acme", CustomerSettings(name="Acme", region="US", currency="USD"), [Contract.model_validate(CONTRACT)]
    )
    history = pl.DataFrame(usage_rows or used("nobody")).with_columns(
        pl.col("voice_minutes", "sms_count", "data_mb", "roaming_voice_minutes", "roaming_data_mb").cast(QUANTITY)
    )
    for name, frame in {**tables, "roster": pl.DataFrame(lines), "history_usage": history}.items():
        connection.register(f"{name}_frame", frame)
        connection.execute(f"CREATE VIEW {name} AS SELECT * FROM {name}_frame")
    found = run_savings_rules(connection, "USD", MONTH, has_history)
    rows = [
        (r["savings_type"], r["msisdn"], r["recommended_plan_code"], r["feature_code"], f"{r['monthly_savings']:.2f}")
        for r in found.iter_rows(named=True)
    ]
    return rows, found


CASES = {
    "a line on the right plan gets nothing": ([line("L1", "BASIC")], used("L1"), []),
    "terminated before the month: cancel, saving plan and features": (
        [line("L1", "PLUS", "INTL-PASS;HOTSPOT", employment="terminated", terminated="2026-07-31")],
        used("L1", roaming=(0, 5, 0)),
        [("TERMINATED_EMPLOYEE_LINE", "L1", None, None, "45.00")],
    ),
    "terminated during the month is not yet a saving": (
        [line("L1", "BASIC", employment="terminated", terminated="2026-08-01")],
        used("L1"),
        [],
    ),
    "terminated and zero usage: only the first type, and no unused feature": (
        [line("L1", "PLUS", "INTL-PASS", employment="terminated", terminated="2026-05-01")],
        used("L1", data=(0, 0, 0), voice=(0, 0, 0), sms=(0, 0, 0)),
        [("TERMINATED_EMPLOYEE_LINE", "L1", None, None, "40.00")],
    ),
    "zero usage in all three months: cancel, and no unused feature on top": (
        [line("L1", "PLUS", "INTL-PASS")],
        [],
        [("ZERO_USAGE_LINE", "L1", None, None, "40.00")],
    ),
    "roaming only is usage": (
        [line("L1", "BASIC", "INTL-PASS")],
        used("L1", data=(0, 0, 0), voice=(0, 0, 0), sms=(0, 0, 0), roaming=(0, 12.5, 0)),
        [],
    ),
    "right-size to a cheaper plan": (
        [line("L1", "PLUS")],
        used("L1", data=(400, 500, 600)),
        [("PLAN_RIGHTSIZE", "L1", "BASIC", None, "10.00")],
    ),
    # BASIC at 1474 MB a month costs 20 + 450 x 0.02 = 29.00: exactly 1.00 below PLUS
    "right-size at exactly 1.00 a month": (
        [line("L1", "PLUS")],
        used("L1", data=(1474, 1474, 1474)),
        [("PLAN_RIGHTSIZE", "L1", "BASIC", None, "1.00")],
    ),
    "right-size below 1.00 a month is not recommended": (
        [line("L1", "PLUS")],
        used("L1", data=(1474, 1474, 1475)),
        [],
    ),
    "a tie with the ordered plan keeps the ordered plan": (
        [line("L1", "PLUS")],
        used("L1", data=(1524, 1524, 1524)),
        [],
    ),
    "a tie between two other plans picks the alphabetically first": (
        [line("L1", "MAX")],
        used("L1", data=(1524, 1524, 1524)),
        [("PLAN_RIGHTSIZE", "L1", "BASIC", None, "20.00")],
    ),
    "unlimited plan stays for a heavy user": (
        [line("L1", "MAX")],
        used("L1", data=(20000, 21000, 22000), voice=(2000, 2000, 2000)),
        [],
    ),
    "a heavy user moves up to the unlimited plan": (
        [line("L1", "BASIC")],
        used("L1", data=(8000, 8000, 8000), voice=(400, 400, 400), sms=(100, 100, 100)),
        # BASIC: 20 + 300 x 0.10 + 6976 x 0.02 = 189.52; PLUS: 30 + 2880 x 0.01 = 58.80; MAX 50.00
        [("PLAN_RIGHTSIZE", "L1", "MAX", None, "139.52")],
    ),
    "averages of three months are exact: 10.00 / 3 rounds to 3.33": (
        [line("L1", "BASIC")],
        used("L1", data=(1024, 1024, 1024 + 2000), voice=(0, 0, 0), sms=(0, 0, 0)),
        # 3 x BASIC = 60 + 2000 x 0.02 = 100.00; 3 x PLUS = 90.00
        [("PLAN_RIGHTSIZE", "L1", "PLUS", None, "3.33")],
    ),
    "unused roaming feature": (
        [line("L1", "BASIC", "INTL-PASS;HOTSPOT")],
        used("L1"),
        [("UNUSED_FEATURE", "L1", None, "INTL-PASS", "10.00")],
    ),
    "a line can get right-sizing and an unused feature": (
        [line("L1", "PLUS", "INTL-PASS")],
        used("L1", data=(400, 500, 600)),
        [("PLAN_RIGHTSIZE", "L1", "BASIC", None, "10.00"), ("UNUSED_FEATURE", "L1", None, "INTL-PASS", "10.00")],
    ),
    "a suspended line is never recommended": (
        [line("L1", "PLUS", "INTL-PASS", status="suspended", employment="terminated", terminated="2026-01-01")],
        [],
        [],
    ),
    "a cancelled line is never recommended": ([line("L1", "PLUS", "INTL-PASS", status="cancelled")], [], []),
}


@pytest.mark.parametrize("name", list(CASES))
def test_savings_cases(name):
    lines, usage_rows, expected = CASES[name]
    assert sorted(recommend(lines, usage_rows)[0], key=str) == sorted(expected, key=str)


def test_without_three_months_of_history_only_terminated_lines_are_recommended():
    lines = [line("L1", "PLUS", "INTL-PASS"), line("L2", "PLUS", employment="terminated", terminated="2026-06-30")]
    rows, _ = recommend(lines, [], has_history=False)
    assert rows == [("TERMINATED_EMPLOYEE_LINE", "L2", None, None, "30.00")]


def test_annual_savings_and_rationale():
    _, found = recommend([line("L1", "PLUS")], used("L1", data=(400, 500, 600)))
    row = found.row(0, named=True)
    assert str(row["annual_savings"]) == "120.0000"
    assert row["rationale"] == (
        "Over June 2026, July 2026 and August 2026 the line averaged 10 min, 5 SMS and 500 MB a month "
        "(data by month: 400 / 500 / 600 MB). Plan PLUS (unlimited min, unlimited SMS, 5120 MB) costs 30.00 USD a "
        "month for that use; plan BASIC (100 min, 100 SMS, 1024 MB) costs 20.00 USD. Switching saves 10.00 USD a month."
    )


def test_history_months_cross_the_year():
    assert history_months("2026-02") == ["2025-12", "2026-01", "2026-02"]
