"""Rows with a missing field shift their values left, so an identifier can land in any column: nothing of such a row
may reach the warehouse or Dagster's storage in the clear, and quarantine.csv still shows the customer its values."""

from __future__ import annotations

import polars as pl

from tests.end_to_end.test_privacy import everything_written, tem
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

MSISDN, IMEI, MANAGER = "+14155550177", "356938035649917", "MGR-7Q4Z"


def test_values_of_a_shifted_row_never_reach_the_warehouse_or_dagster(tmp_path):
    root, home = tmp_path / "root", tmp_path / "home"
    write_customer(root, "acme")
    folder = drop(root, "acme", "2026-06")
    good = roster_row("+14155550100")
    shifted = roster_row(MSISDN, "E4711", manager_employee_id=MANAGER, imei=IMEI)
    del shifted[ROSTER_HEADER.index("job_title")]  # job_title missing: the manager id lands in job_title
    write_csv(folder / "roster.csv", ROSTER_HEADER, [good, shifted + [""]])
    write_csv(folder / "invoices" / "inv.csv", INVOICE_HEADER, [charge_row("+14155550100")])
    usage_shifted = usage_row("2026-06-02", MSISDN, imei=IMEI)[1:] + [""]  # the date missing: the msisdn is in `date`
    write_csv(folder / "usage" / "u.csv", USAGE_HEADER, [usage_row("2026-06-01", "+14155550100"), usage_shifted])

    run = tem("run", "--data-root", str(root), "--workers", "1", home=home)
    assert run.returncode == 0, run.stderr[-2000:]
    stored = everything_written(root / "warehouse", home)
    for identifier in (MSISDN, MSISDN[2:], IMEI, MANAGER):
        assert identifier not in stored, identifier

    published = pl.read_csv(root / "published" / "acme" / "2026-06" / "quarantine.csv", infer_schema=False)
    shown = set(published.select("file", "row", "column", "value").iter_rows())
    assert ("usage/u.csv", "3", "date", MSISDN) in shown  # the customer sees its own values
    assert ("usage/u.csv", "3", "msisdn", IMEI) in shown


def test_a_file_name_holding_identifiers_is_stored_by_position(tmp_path):
    root, home = tmp_path / "root", tmp_path / "home"
    write_customer(root, "acme")
    folder = drop(root, "acme", "2026-06")
    write_csv(folder / "roster.csv", ROSTER_HEADER, [roster_row("+14155550100")])
    write_csv(folder / "invoices" / "inv.csv", INVOICE_HEADER, [charge_row("+14155550100")])
    named = f"device-{IMEI}-{MSISDN}.csv"
    write_csv(
        folder / "usage" / named,
        USAGE_HEADER,
        [usage_row("2026-06-01", "+14155550100"), usage_row("2026-06-02", "+14155550100", voice="-1")],
    )
    run = tem("run", "--data-root", str(root), "--workers", "1", home=home)
    assert run.returncode == 0, run.stderr[-2000:]
    stored = everything_written(root / "warehouse", home)
    for identifier in (MSISDN, MSISDN[2:], IMEI):
        assert identifier not in stored, identifier
    assert "usage/file-1.csv" in stored  # how the warehouse and Dagster refer to it
    published = pl.read_csv(root / "published" / "acme" / "2026-06" / "quarantine.csv", infer_schema=False)
    assert published["file"].to_list() == [f"usage/{named}"]  # the customer sees its own file name
