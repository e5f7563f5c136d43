"""The one clock: TEM_TODAY pins the calendar the partitions end with; a bad value is refused in one line."""

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.partitions import _billing_months, first_billing_month, month_outside_partitions
from reports.layout import DataRoot
from schemas import clock


@pytest.mark.parametrize(
    "today, last", [("2026-10-15", "2026-10"), ("2026-12-31", "2026-12"), ("2030-01-01", "2030-01")]
)
def test_the_partitions_end_with_the_pinned_month(monkeypatch, today, last):
    monkeypatch.setenv("TEM_TODAY", today)
    months = _billing_months("2026-06")
    assert months.get_last_partition_key() == last
    assert months.get_first_partition_key() == "2026-06"


def test_the_suite_runs_on_a_pinned_calendar():
    assert clock.today() == dt.date(2026, 10, 15)
    assert month_outside_partitions("2026-10") is None
    assert month_outside_partitions("2026-11") == "month 2026-11 is outside the partitions 2026-06..2026-10"
    assert month_outside_partitions("2026-05") == "month 2026-05 is outside the partitions 2026-06..2026-10"


def test_the_months_start_with_the_earliest_drop(tmp_path):
    """The UI lists the months that exist, not years of empty ones; an empty inbox starts with today's month."""
    root = DataRoot(tmp_path)
    assert first_billing_month(root) == "2026-10"
    for customer_id, month in (("acme", "2026-02"), ("globex", "2025-11"), ("globex", "2026-03")):
        (tmp_path / "inbox" / customer_id / month).mkdir(parents=True)
    (tmp_path / "inbox" / "globex" / "notes").mkdir()
    assert first_billing_month(root) == "2025-11"
    assert _billing_months(first_billing_month(root)).get_partition_keys()[:2] == ["2025-11", "2025-12"]


def test_without_a_pin_today_is_the_real_utc_date(monkeypatch):
    monkeypatch.delenv("TEM_TODAY")
    assert clock.pinned_today() is None
    assert clock.today() == dt.datetime.now(dt.timezone.utc).date()


@pytest.mark.parametrize(
    "day, following", [(dt.date(2026, 11, 30), dt.date(2026, 12, 1)), (dt.date(2026, 12, 1), dt.date(2027, 1, 1))]
)
def test_first_day_after_month(day, following):
    assert clock.first_day_after_month(day) == following


@pytest.mark.parametrize("value", ["2026-1015", "15.10.2026", "2026-02-30", "today"])
def test_a_bad_pin_is_refused_in_one_line(tmp_path, value):
    env = {"PATH": "/usr/bin:/bin", "TEM_TODAY": value, "TEM_DATA_ROOT": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-m", "pipelines.commands.cli", "run"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip() == f"tem: TEM_TODAY={value!r} is not a date of the form YYYY-MM-DD"
