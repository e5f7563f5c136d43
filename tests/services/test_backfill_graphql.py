"""Backfills through Dagster's GraphQL API on a real `dagster dev` (webserver + daemon), the way the UI launches them.

The bundled sample (`tem sample-data`: three customers x four months) in a fresh instance; no `tem run`, everything
goes through GraphQL. The customers are registered as dynamic partitions (addDynamicPartition, what the inbox sensor
or `tem run` would do); a backfill of `customer_contracts` for every customer; then the analyst's backfill: every
asset of `reconcile_customer_month` for every sample customer-month (`assetSelection` + `partitionNames`, what the
UI's "Materialize all..." launches). The daemon orders the runs along the asset dependencies (the two previous
months' line_month_usage before a month's savings).

Dagster applies partitionNames to the selection's root assets and walks downstream through the partition mappings,
so savings' three-month history and the report's 12-month trend also target savings and the reports of the months
after the last drop, up to the last partition: the month of the pinned TEM_TODAY (tests/conftest.py), so the test
sees the same calendar on any day. Those have no inbox drop: they must succeed, publish nothing and say why, so the
backfill completes.
A second, identical backfill must publish the same bytes: same files under published/, same SHA-256.

The backfill runs use the in-process executor (also the reconcile job's default) to keep the test within a few
minutes on two cores.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assets.report import TREND_MONTHS
from schemas import clock
from tests.support.dagster_server import (
    REPOSITORY,
    check_executions,
    dagster_dev,
    graphql,
    inbox_partition_keys,
    repository_selector,
    run_failures,
    wait_for,
)

BACKFILL_SECONDS = 900
CHECKS = [
    ("roster", "row_accounting"),
    ("invoice_charges", "row_accounting"),
    ("device_usage", "row_accounting"),
    ("findings", "findings_sanity"),
]

ADD_PARTITION = """mutation Add($repo: RepositorySelector!, $name: String!, $key: String!) {
  addDynamicPartition(repositorySelector: $repo, partitionsDefName: $name, partitionKey: $key) {
    __typename ... on AddDynamicPartitionSuccess { partitionKey } ... on Error { message } } }"""

JOB_ASSETS = """query JobAssets($job: PipelineSelector!) { assetNodes(pipeline: $job) { assetKey { path } } }"""

LAUNCH_BACKFILL = """mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PartitionKeysNotFoundError { partitionKeys }
    ... on Error { message } } }"""

BACKFILL_STATUS = """query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      id status numPartitions partitionNames isAssetBackfill
      error { message }
      runs(limit: 500) { id status tags { key value } } }
    ... on Error { message } } }"""

IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
UNFINISHED_RUN = {"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING", "MANAGED", "SUSPENDED"}


def launch_backfill(url: str, assets: list[str], partition_names: list[str], title: str) -> str:
    """An asset backfill of these partitions of these assets, as the UI launches it."""
    params = {
        "assetSelection": [{"path": [asset]} for asset in assets],
        "partitionNames": partition_names,
        "title": title,
        "runConfigData": IN_PROCESS,
    }
    result = graphql(url, LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    return result["backfillId"]


def wait_for_backfill(url: str, backfill_id: str, timeout: float = BACKFILL_SECONDS) -> dict:
    """The backfill once it is finished and none of its runs is still queued or running."""

    def finished():
        backfill = graphql(url, BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        assert backfill["__typename"] == "PartitionBackfill", backfill
        done = backfill["status"] in FINISHED and not any(r["status"] in UNFINISHED_RUN for r in backfill["runs"])
        return backfill if done else None

    return wait_for(finished, timeout, interval=2, what=f"backfill {backfill_id}")


def assert_succeeded(url: str, backfill: dict) -> tuple[list[dict], set[str]]:
    """The backfill's runs, all successful, and the partitions they ran."""
    runs = backfill["runs"]
    failed = {r["id"]: (r["status"], run_failures(url, r["id"])) for r in runs if r["status"] != "SUCCESS"}
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS") and not failed, (
        f"backfill {backfill['id']} {backfill['status']} ({backfill['error']}); "
        f"{len(runs)} runs, these did not succeed: {json.dumps(failed, indent=1)}"
    )
    assert runs, "the backfill launched no runs"
    return runs, {t["value"] for r in runs for t in r["tags"] if t["key"] == "dagster/partition"}


def following_months(month: str, count: int) -> list[str]:
    year, mon = (int(part) for part in month.split("-"))
    return [f"{year + (mon - 1 + i) // 12}-{(mon - 1 + i) % 12 + 1:02d}" for i in range(1, count + 1)]


def published_hashes(root: Path) -> dict[str, str]:
    published = root / "published"
    return {
        path.relative_to(published).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(published.rglob("*"))
        if path.is_file()
    }


def assert_checks_passed(url: str, run_ids: set[str], partition_names: list[str]) -> None:
    for asset, check in CHECKS:
        executions = [e for e in check_executions(url, asset, check) if e["runId"] in run_ids]
        assert {e["partition"] for e in executions} == set(partition_names), (asset, check, executions)
        assert all(e["status"] == "SUCCEEDED" and e["evaluation"]["success"] for e in executions), (
            asset,
            check,
            executions,
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("backfill")
    root = base / "root"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.commands.cli",
            "sample-data",
            "--data-root",
            str(root),
            "--expected",
            str(base / "expected"),
        ],
        cwd=REPOSITORY,
        check=True,
        capture_output=True,
    )
    with dagster_dev(root, base / "dagster_home") as running:
        yield running


def run_backfills(
    url: str, customers: list[str], reconcile_assets: list[str], partition_names: list[str], title: str
) -> tuple[list[dict], set[str]]:
    """Contracts of every customer, then every reconcile asset of every customer-month: the runs and partitions."""
    contracts = wait_for_backfill(url, launch_backfill(url, ["customer_contracts"], customers, f"contracts, {title}"))
    contract_runs, contract_partitions = assert_succeeded(url, contracts)
    assert contract_partitions == set(customers)
    months = wait_for_backfill(url, launch_backfill(url, reconcile_assets, partition_names, f"every month, {title}"))
    month_runs, month_partitions = assert_succeeded(url, months)
    return contract_runs + month_runs, month_partitions


def test_backfill_every_sample_partition_twice_publishes_identical_files(server):
    url, root = server.url, server.data_root
    started = time.monotonic()
    repo = repository_selector(url)
    partition_names = inbox_partition_keys(root)
    customers = sorted({key.split("|")[0] for key in partition_names})
    months = sorted({key.split("|")[1] for key in partition_names})
    assert customers == ["globex", "initech-uk", "umbrella-de"] and len(partition_names) == 12, partition_names

    for customer_id in customers:  # register the customers, as the inbox sensor or `tem run` would
        added = graphql(url, ADD_PARTITION, {"repo": repo, "name": "customers", "key": customer_id})[
            "addDynamicPartition"
        ]
        assert added["__typename"] == "AddDynamicPartitionSuccess", added

    job = {**repo, "pipelineName": "reconcile_customer_month"}
    reconcile_assets = sorted(
        "/".join(n["assetKey"]["path"]) for n in graphql(url, JOB_ASSETS, {"job": job})["assetNodes"]
    )
    assert {"roster", "invoice_charges", "findings", "savings", "customer_report", "delivery"} <= set(reconcile_assets)
    assert "customer_contracts" not in reconcile_assets

    first_runs, first_partitions = run_backfills(url, customers, reconcile_assets, partition_names, "1st")
    # the history and trend mappings pull savings and the reports of the months after the last drop in too: up to
    # 11 months (the Trend's reach), never past the current month, which the suite pins (tests/conftest.py)
    spill = first_partitions - set(partition_names)
    assert set(partition_names) <= first_partitions
    last_partition = clock.month_key(clock.today())
    reached = [month for month in following_months(months[-1], TREND_MONTHS - 1) if month <= last_partition]
    assert reached == ["2026-10"], (reached, last_partition)  # the pinned calendar: one month after the sample
    assert spill == {f"{customer_id}|{month}" for customer_id in customers for month in reached}, spill
    assert_checks_passed(url, {r["id"] for r in first_runs}, partition_names)
    before = published_hashes(root)
    assert {name.rsplit("/", 1)[0] for name in before} == {key.replace("|", "/") for key in partition_names}
    for key in partition_names:
        names = {name.rsplit("/", 1)[1] for name in before if name.startswith(key.replace("|", "/") + "/")}
        assert {"report.xlsx", "findings.csv", "savings.csv", "quarantine.csv", "manifest.json"} <= names, (key, names)
    first_seconds = time.monotonic() - started

    second_runs, second_partitions = run_backfills(url, customers, reconcile_assets, partition_names, "2nd")
    assert second_partitions == first_partitions
    assert not {r["id"] for r in first_runs} & {r["id"] for r in second_runs}
    after = published_hashes(root)

    assert sorted(after) == sorted(before), "the second backfill changed the set of published files"
    changed = [name for name in before if before[name] != after[name]]
    assert not changed, f"the second backfill rewrote these published files with different bytes: {changed}"
    print(
        f"\nfirst backfills {first_seconds:.0f}s ({len(first_runs)} runs), both {time.monotonic() - started:.0f}s "
        f"({len(second_runs)} runs), {len(before)} published files, spill-over partitions {sorted(spill)}"
    )
