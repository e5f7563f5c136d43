"""A customer-month with a drop whose report is not delivered by the 5th of the following month is late."""

import datetime as dt

import pytest
from dagster import DagsterInstance

from pipelines.deadlines import late_reports
from reports.layout import DataRoot
from schemas import clock


def test_the_deadline_is_the_5th_of_the_following_month():
    assert clock.report_deadline("2026-09") == dt.date(2026, 10, 5)
    assert clock.report_deadline("2026-12") == dt.date(2027, 1, 5)


@pytest.mark.parametrize(
    "today, late",
    [
        (dt.date(2026, 10, 5), []),  # due today: not late yet
        (dt.date(2026, 10, 6), [("acme", "2026-09", dt.date(2026, 10, 5))]),
    ],
)
def test_late_reports_are_the_undelivered_drops_past_their_deadline(tmp_path, today, late):
    for customer_id, month in (("acme", "2026-08"), ("acme", "2026-09"), ("globex", "2026-09")):
        (tmp_path / "inbox" / customer_id / month).mkdir(parents=True)
    delivered = {("acme", "2026-08"), ("globex", "2026-09")}
    assert late_reports(DataRoot(tmp_path), delivered, today) == late


def test_the_check_lists_late_customer_months_from_the_instance(tmp_path, monkeypatch):
    """Run as the report_deadlines schedule runs it: the check job, on the real definitions."""
    from pipelines.definitions import defs

    monkeypatch.setenv("TEM_TODAY", "2026-11-20")
    for customer_id, month in (("acme", "2026-09"), ("acme", "2026-10")):
        (tmp_path / "inbox" / customer_id / month).mkdir(parents=True)
    monkeypatch.setenv("TEM_DATA_ROOT", str(tmp_path))
    job = defs.resolve_job_def("check_report_deadlines")
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            resources={
                "data_root": __import__("pipelines.resources", fromlist=["x"]).DataRootResource(path=str(tmp_path))
            },
        )
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.metadata["late_customer_months"].value == 2
    rows = [
        (r.data["customer"], r.data["billing_month"], r.data["days_late"]) for r in evaluation.metadata["late"].records
    ]
    assert rows == [("acme", "2026-09", 46), ("acme", "2026-10", 15)]


def test_no_customer_month_run_executes_the_deadline_check():
    """The check judges every customer-month: run with one month's delivery, it would fail the run for the others."""
    from dagster import AssetCheckKey, AssetKey

    from pipelines.definitions import defs

    deadline = AssetCheckKey(AssetKey("delivery"), "delivered_by_the_5th")
    for job_name in ("reconcile_customer_month", "publish_customer_month", "check_report_deadlines"):
        checks = defs.resolve_job_def(job_name).asset_layer.asset_graph.asset_check_keys
        assert (deadline in checks) == (job_name == "check_report_deadlines"), job_name
