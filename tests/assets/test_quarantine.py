"""Every quarantine reason, row numbers as a spreadsheet shows them, and the row accounting."""

import polars as pl
import pytest

from reports.inputs.intake import SourceFile, ingest_table
from reports.inputs.parsing import ParseContext
from reports.inputs.pseudonymize import Pseudonymizer
from schemas.tables import DEVICE_USAGE, INVOICE_CHARGES, ROSTER
from tests.support.builders import (
    INVOICE_HEADER,
    ROSTER_HEADER,
    USAGE_HEADER,
    charge_row,
    roster_row,
    usage_row,
    write_csv,
)

PSEUDONYMIZER = Pseudonymizer(b"\x01" * 32, "acme")
CONTEXT = ParseContext("US", "2026-06")


def ingest(tmp_path, spec, header, rows, name):
    path = write_csv(tmp_path / name, header, rows)
    return ingest_table(spec, [SourceFile(path, name)], CONTEXT, PSEUDONYMIZER)


def quarantined(result):
    return sorted(result.quarantine.select("file", "row", "column", "reason_code").iter_rows())


def assert_balanced(result):
    row = result.accounting.row(0, named=True)
    assert row["rows_read"] == row["rows_accepted"] + row["rows_quarantined"]


ROSTER_CASES = [
    ({"line_status": "retired"}, "line_status", "bad_enum"),
    ({"employment_status": "fired"}, "employment_status", "bad_enum"),
    ({"vip": "maybe"}, "vip", "bad_enum"),
    ({"line_status_date": "2025-02-31"}, "line_status_date", "bad_date"),
    ({"termination_date": "31/01/2026"}, "termination_date", "bad_date"),  # day-first in a US roster
    ({"msisdn": "12345"}, "msisdn", "bad_phone"),
    ({"imei": "35693803564380"}, "imei", "bad_imei"),
    ({"carrier": "North Wind!"}, "carrier", "bad_id"),
    ({"plan_code": ""}, "plan_code", "missing_value"),
    ({"line_status": ""}, "line_status", "missing_value"),
]


@pytest.mark.parametrize("override, column, reason", ROSTER_CASES)
def test_roster_reasons(tmp_path, override, column, reason):
    line = {"msisdn": "+14155550101", "employee_id": "E2", **override}
    rows = [roster_row("+14155550100", "E1"), roster_row(**line), roster_row("+14155550102", "E3")]
    result = ingest(tmp_path, ROSTER, ROSTER_HEADER, rows, "roster.csv")
    assert quarantined(result) == [("roster.csv", 3, column, reason)]
    assert result.accepted.collect().height == 2
    assert_balanced(result)


def test_roster_duplicate_line_keeps_the_first(tmp_path):
    rows = [roster_row("+14155550100", "E1"), roster_row("(415) 555-0100", "E2")]
    result = ingest(tmp_path, ROSTER, ROSTER_HEADER, rows, "roster.csv")
    assert quarantined(result) == [("roster.csv", 3, "msisdn", "duplicate_line")]
    assert_balanced(result)


INVOICE_CASES = [
    ({"charge_type": "bonus"}, "charge_type", "bad_enum"),
    ({"amount": "12,34.00"}, "amount", "bad_number"),
    ({"quantity": "lots"}, "quantity", "bad_number"),
    ({"period_start": "13/01/2026"}, "period_start", "bad_date"),
    ({"msisdn": "+1 555 0100"}, "msisdn", "bad_phone"),
    ({"invoice_total": ""}, "invoice_total", "missing_value"),
]


@pytest.mark.parametrize("override, column, reason", INVOICE_CASES)
def test_invoice_reasons(tmp_path, override, column, reason):
    charge = {"msisdn": "+14155550101", **override}
    rows = [charge_row("+14155550100"), charge_row(**charge), charge_row(None, "tax", "3.10")]
    result = ingest(tmp_path, INVOICE_CHARGES, INVOICE_HEADER, rows, "invoices/inv-1.csv")
    assert quarantined(result) == [("invoices/inv-1.csv", 3, column, reason)]
    assert_balanced(result)


def test_account_level_charges_need_no_msisdn(tmp_path):
    rows = [charge_row(None, "tax", "3.10"), charge_row(None, "credit", "-5.00")]
    result = ingest(tmp_path, INVOICE_CHARGES, INVOICE_HEADER, rows, "invoices/inv-1.csv")
    assert result.quarantine.height == 0 and result.accepted.collect()["msisdn"].null_count() == 2


USAGE_CASES = [
    ({"voice": "-1"}, "voice_minutes", "negative"),
    ({"roaming_data_mb": "-0.5"}, "roaming_data_mb", "negative"),
    ({"sms": "2.5"}, "sms_count", "not_integer"),
    ({"data": "n/a"}, "data_mb", "bad_number"),
    ({"day": "2026-07-01"}, "date", "date_outside_month"),
    ({"day": "06/31/2026"}, "date", "bad_date"),
    ({"msisdn": "555"}, "msisdn", "bad_phone"),
    ({"msisdn": ""}, "msisdn", "missing_value"),
]


@pytest.mark.parametrize("override, column, reason", USAGE_CASES)
def test_usage_reasons(tmp_path, override, column, reason):
    bad = {"day": "2026-06-02", "msisdn": "+14155550100", **override}
    rows = [usage_row("2026-06-01", "+14155550100"), usage_row(bad.pop("day"), bad.pop("msisdn"), **bad)]
    result = ingest(tmp_path, DEVICE_USAGE, USAGE_HEADER, rows, "usage/u.csv")
    assert quarantined(result) == [("usage/u.csv", 3, column, reason)]
    assert_balanced(result)


def test_empty_usage_cells_mean_no_activity(tmp_path):
    result = ingest(
        tmp_path, DEVICE_USAGE, USAGE_HEADER, [usage_row("2026-06-01", "+14155550100", voice="", sms="")], "usage/u.csv"
    )
    assert result.quarantine.height == 0
    assert result.accepted.collect()["voice_minutes"][0] == 0 and result.accepted.collect()["sms_count"][0] == 0


def test_a_row_with_two_bad_cells_is_one_quarantined_row_with_two_reasons(tmp_path):
    rows = [usage_row("2026-06-01", "+14155550100", voice="-1", data="x")]
    result = ingest(tmp_path, DEVICE_USAGE, USAGE_HEADER, rows, "usage/u.csv")
    assert quarantined(result) == [
        ("usage/u.csv", 2, "data_mb", "bad_number"),
        ("usage/u.csv", 2, "voice_minutes", "negative"),
    ]
    assert result.accounting.row(0) == ("usage/u.csv", 1, 0, 1)


def test_values_of_personal_columns_are_withheld_from_the_warehouse(tmp_path):
    rows = [roster_row("12345", "E1"), roster_row("+14155550101", "E2", imei="123")]
    result = ingest(tmp_path, ROSTER, ROSTER_HEADER, rows, "roster.csv")
    assert result.quarantine["value"].to_list() == [None, None]


def test_accepted_rows_are_pseudonymized_and_names_dropped(tmp_path):
    result = ingest(tmp_path, ROSTER, ROSTER_HEADER, [roster_row("(415) 555-0100", "E1")], "roster.csv")
    row = result.accepted.collect().row(0, named=True)
    assert row["msisdn"] == PSEUDONYMIZER.pseudonym("msisdn", "+14155550100")
    assert row["employee_id"] == PSEUDONYMIZER.pseudonym("employee_id", "E1")
    assert row["manager_employee_id"] == PSEUDONYMIZER.pseudonym("employee_id", "E1000")
    assert row["imei"] == PSEUDONYMIZER.pseudonym("imei", "356938035643809")
    assert not {"first_name", "last_name", "email"} & set(result.accepted.collect().columns)
    flat = " ".join(str(v) for v in row.values())
    for identifier in ("4155550100", "E1000", "Zelda", "Quinterro", "356938035643809"):
        assert identifier not in flat


def test_several_files_are_accounted_for_separately(tmp_path):
    first = write_csv(tmp_path / "usage" / "a.csv", USAGE_HEADER, [usage_row("2026-06-01", "+14155550100")])
    second = write_csv(
        tmp_path / "usage" / "b.csv",
        USAGE_HEADER,
        [usage_row("2026-06-01", "+14155550101"), usage_row("2026-06-02", "x")],
    )
    result = ingest_table(
        DEVICE_USAGE, [SourceFile(first, "usage/a.csv"), SourceFile(second, "usage/b.csv")], CONTEXT, PSEUDONYMIZER
    )
    assert result.accounting.rows() == [("usage/a.csv", 1, 1, 0), ("usage/b.csv", 2, 1, 1)]
    assert quarantined(result) == [("usage/b.csv", 3, "msisdn", "bad_phone")]
    assert result.accepted.collect()["source_file"].to_list() == ["usage/a.csv", "usage/b.csv"]
    assert isinstance(result.accepted.collect()["voice_minutes"].dtype, pl.Decimal)


def test_large_tables_are_processed_in_chunks_with_the_same_result(tmp_path):
    """Usage is parsed, validated and pseudonymized a slice at a time, accepted rows spilled to Parquet;
    the outcome is the same as in one piece, row order and accounting included."""
    rows = [usage_row(f"2026-06-{day:02d}", f"+1415555{day:04d}") for day in range(1, 8)]
    rows[3] = usage_row("2026-06-04", "not a phone")
    rows[5] = usage_row("2026-07-01", "+14155550106")  # outside the month
    first = write_csv(tmp_path / "usage" / "a.csv", USAGE_HEADER, rows)
    empty = write_csv(tmp_path / "usage" / "b.csv", USAGE_HEADER, [])
    second = write_csv(tmp_path / "usage" / "c.csv", USAGE_HEADER, rows[:3])
    files = [SourceFile(first, "usage/a.csv"), SourceFile(empty, "usage/b.csv"), SourceFile(second, "usage/c.csv")]
    whole = ingest_table(DEVICE_USAGE, files, CONTEXT, PSEUDONYMIZER)
    (tmp_path / "spill").mkdir()
    chunked = ingest_table(DEVICE_USAGE, files, CONTEXT, PSEUDONYMIZER, spill_dir=tmp_path / "spill", chunk_rows=2)
    assert (
        len(list((tmp_path / "spill").glob("*.parquet"))) == 7
    )  # a.csv in 4 slices, the header-only b.csv, c.csv in 2
    assert chunked.accepted.collect().equals(whole.accepted.collect())
    assert chunked.rejected.equals(whole.rejected) and chunked.quarantine.equals(whole.quarantine)
    assert (
        chunked.accounting.rows()
        == whole.accounting.rows()
        == [("usage/a.csv", 7, 5, 2), ("usage/b.csv", 0, 0, 0), ("usage/c.csv", 3, 3, 0)]
    )
