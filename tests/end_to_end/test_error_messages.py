"""A failure is one line naming the file and the problem, never a wrapper's class name or a traceback."""

from __future__ import annotations

import polars as pl
import pytest
from dagster._utils.error import SerializableErrorInfo

from pipelines.commands.runner import error_line
from reports.inputs.readers import InputFileError, read_text_frame
from tests.end_to_end.test_privacy import tem
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


def test_cr_only_line_ends_are_named(tmp_path):
    path = tmp_path / "u.csv"
    path.write_bytes(b"date,msisdn\r2026-06-01,+14155550100\r")
    with pytest.raises(InputFileError, match=r"^usage/u.csv: its lines end with CR only; save it with LF or CRLF"):
        read_text_frame(path, "usage/u.csv", ["date", "msisdn"])
    path.write_bytes(b"date,msisdn\r\n2026-06-01,+14155550100\r\n")  # CRLF is fine
    assert read_text_frame(path, "usage/u.csv", ["date", "msisdn"]).height == 1


def test_a_parquet_list_column_is_named(tmp_path):
    path = tmp_path / "u.parquet"
    pl.DataFrame({"date": ["2026-06-01"], "imei": [["1", "2"]]}).write_parquet(path)
    with pytest.raises(InputFileError, match=r"^usage/u.parquet: column\(s\) imei hold lists"):
        read_text_frame(path, "usage/u.parquet", ["date"])


def error(cls_name, message, cause=None):
    return SerializableErrorInfo(message=message, stack=["  File x\n"], cls_name=cls_name, cause=cause)


def test_error_line_shows_the_cause_not_the_wrapper():
    """No class names: our Failure's sentence, an operating-system error's own words; only a defect of the pipeline
    (an error that is neither) is named by its type, the one clue there is."""
    wrapped = error(
        "DagsterExecutionStepExecutionError",
        'Error occurred while executing op "roster":\n',
        error("PermissionError", "[Errno 13] Permission denied: '/srv/tem/warehouse/acme'\n"),
    )
    assert error_line(wrapped) == "Permission denied: '/srv/tem/warehouse/acme'"
    failure = error(
        "Failure", "dagster._core.definitions.events.Failure: acme 2026-06: roster.csv: no such file\n\nmore"
    )
    assert error_line(failure) == "acme 2026-06: roster.csv: no such file"
    defect = error(
        "DagsterExecutionStepExecutionError", "Error occurred while executing op", error("KeyError", "'carrier'")
    )
    assert error_line(defect, "findings") == (
        "unexpected error in step findings (KeyError: 'carrier'); the run's logs in the Dagster UI have the details"
    )


def test_an_unexpected_error_reaches_the_summary_as_one_line(tmp_path):
    root = tmp_path / "root"
    write_customer(root, "acme")
    folder = drop(root, "acme", "2026-06")
    write_csv(folder / "roster.csv", ROSTER_HEADER, [roster_row("+14155550100")])
    write_csv(folder / "invoices" / "inv.csv", INVOICE_HEADER, [charge_row("+14155550100")])
    write_csv(folder / "usage" / "u.csv", USAGE_HEADER, [usage_row("2026-06-01", "+14155550100")])
    (root / "warehouse" / "acme").mkdir(parents=True)
    (root / "warehouse" / "acme" / "2026-06").write_text("not a folder")
    run = tem("run", "--data-root", str(root), "--workers", "1", home=tmp_path / "home")
    assert run.returncode == 1
    failures = [line for line in run.stderr.splitlines() if line.startswith("FAILED acme 2026-06:")]
    assert failures == [f"FAILED acme 2026-06: File exists: '{root / 'warehouse' / 'acme' / '2026-06'}'"], run.stderr[
        -3000:
    ]
    assert "Error" not in run.stderr and "Traceback" not in run.stderr  # no class name, no stack trace


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"files": [{"size": 1}]}', b'{"files": [{"name": 7}]}'])
def test_a_damaged_manifest_is_one_line_from_reports_url(tmp_path, content):
    root = tmp_path / "root"
    write_customer(root, "acme")
    folder = root / "published" / "acme" / "2026-06"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_bytes(content)
    run = tem(
        "reports", "url", "--data-root", str(root), "--customer", "acme", "--month", "2026-06", home=tmp_path / "home"
    )
    assert run.returncode == 2, run.stderr
    assert (
        run.stderr.strip().splitlines()
        == [
            "tem: acme 2026-06: manifest.json is damaged (not a manifest of this pipeline); run tem run for that month "
            "again to deliver it anew"
        ]
        or "a file name is not text" in run.stderr
    ), run.stderr
    assert "Traceback" not in run.stderr
