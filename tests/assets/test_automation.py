"""The inbox sensor (new drop, incomplete drop, unchanged files, changed file) and the monthly schedule."""

import datetime as dt

import pytest
from dagster import SkipReason, build_schedule_context, build_sensor_context, instance_for_test, materialize

from assets import ingest
from pipelines.automation import inbox_sensor, monthly_reconciliation, previous_month
from pipelines.resources import DataRootResource, InboxResource
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


def complete_drop(root, customer_id, month, with_usage=True):
    folder = drop(root, customer_id, month)
    write_csv(folder / "roster.csv", ROSTER_HEADER, [roster_row("+14155550100")])
    write_csv(folder / "invoices" / "inv.csv", INVOICE_HEADER, [charge_row("+14155550100")])
    if with_usage:
        write_csv(folder / "usage" / "u.csv", USAGE_HEADER, [usage_row("2026-06-01", "+14155550100")])
    return folder


class Ticker:
    """Evaluates the sensor tick after tick, carrying its cursor like the daemon does."""

    def __init__(self, root, instance):
        self.root, self.cursor = root, None
        self.instance = instance
        self.resources = {"data_root": DataRootResource(path=str(root)), "inbox": InboxResource()}

    def tick(self):
        # entered and closed: an unclosed evaluation context leaves its own instance as Dagster's current
        # definitions-state storage, and the next test that loads definitions fails on its dead weakref
        with build_sensor_context(instance=self.instance, cursor=self.cursor, resources=self.resources) as context:
            result = inbox_sensor(context)
        self.cursor = result.cursor
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        return result

    def load_contracts(self, customer_id):
        assert materialize(
            [ingest.customer_contracts], partition_key=customer_id, instance=self.instance, resources=self.resources
        ).success


def reconcile_keys(result):
    return sorted(str(r.partition_key) for r in result.run_requests if r.job_name == "reconcile_customer_month")


def contracts_keys(result):
    return sorted(r.partition_key for r in result.run_requests if r.job_name == "load_customer_contracts")


@pytest.fixture
def ticker(tmp_path):
    write_customer(tmp_path, "acme")
    with instance_for_test() as instance:
        yield Ticker(tmp_path, instance)


def test_new_drop_registers_the_customer_then_runs_once_settled(ticker):
    complete_drop(ticker.root, "acme", "2026-06")
    first = ticker.tick()
    assert [r.partition_keys for r in first.dynamic_partitions_requests] == [["acme"]]
    assert contracts_keys(first) == ["acme"] and reconcile_keys(first) == []  # not settled for one tick yet
    ticker.load_contracts("acme")
    second = ticker.tick()
    assert reconcile_keys(second) == ["acme|2026-06"] and contracts_keys(second) == []


def test_drop_waits_for_contracts(ticker):
    complete_drop(ticker.root, "acme", "2026-06")
    ticker.tick()
    assert reconcile_keys(ticker.tick()) == []  # settled, but contracts not loaded yet
    ticker.load_contracts("acme")
    assert reconcile_keys(ticker.tick()) == ["acme|2026-06"]


def test_incomplete_drop_never_runs(ticker):
    complete_drop(ticker.root, "acme", "2026-06", with_usage=False)
    ticker.tick()
    ticker.load_contracts("acme")
    assert reconcile_keys(ticker.tick()) == [] and reconcile_keys(ticker.tick()) == []


def test_unchanged_files_do_not_run_twice_and_a_changed_file_reruns(ticker):
    folder = complete_drop(ticker.root, "acme", "2026-06")
    ticker.tick()
    ticker.load_contracts("acme")
    ran = ticker.tick()
    assert reconcile_keys(ran) == ["acme|2026-06"]
    assert reconcile_keys(ticker.tick()) == []
    write_csv(
        folder / "invoices" / "inv.csv", INVOICE_HEADER, [charge_row("+14155550100", amount="35.00", total="35.00")]
    )
    assert reconcile_keys(ticker.tick()) == []  # changed: wait one tick for the upload to settle
    rerun = ticker.tick()
    assert reconcile_keys(rerun) == ["acme|2026-06"]
    assert rerun.run_requests[0].run_key != ran.run_requests[0].run_key


def test_changed_contract_is_reloaded(ticker):
    complete_drop(ticker.root, "acme", "2026-06")
    ticker.tick()
    contract = ticker.root / "customers" / "acme" / "contracts" / "northwind-mobile.yaml"
    contract.write_text(contract.read_text().replace("discount_pct: 15", "discount_pct: 20"))
    assert contracts_keys(ticker.tick()) == ["acme"]


def test_schedule_reconciles_the_previous_month_for_registered_customers(tmp_path):
    for customer_id in ("acme", "globex", "initech"):
        write_customer(tmp_path, customer_id)
    complete_drop(tmp_path, "acme", "2026-09")
    complete_drop(tmp_path, "globex", "2026-09")
    complete_drop(tmp_path, "initech", "2026-08")
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("customers", ["acme", "globex", "initech"])
        with build_schedule_context(
            instance=instance,
            scheduled_execution_time=dt.datetime(2026, 10, 3, 6),
            resources={"data_root": DataRootResource(path=str(tmp_path))},
        ) as context:
            requests = monthly_reconciliation(context)
    assert sorted(str(r.partition_key) for r in requests) == ["acme|2026-09", "globex|2026-09"]


def test_schedule_skips_when_nothing_was_delivered(tmp_path):
    with instance_for_test() as instance:
        with build_schedule_context(
            instance=instance,
            scheduled_execution_time=dt.datetime(2027, 1, 3, 6),
            resources={"data_root": DataRootResource(path=str(tmp_path))},
        ) as context:
            assert isinstance(monthly_reconciliation(context), SkipReason)


@pytest.mark.parametrize("moment, month", [(dt.datetime(2026, 10, 3), "2026-09"), (dt.datetime(2027, 1, 1), "2026-12")])
def test_previous_month(moment, month):
    assert previous_month(moment) == month
