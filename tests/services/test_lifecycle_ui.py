"""What the Dagster UI shows after a retention purge and an offboarding, through its GraphQL API on a real `dagster dev`
(webserver + daemon): no run, materialization or check result of a removed partition, and no offboarded customer in
the `customers` partitions. The purge is launched as the `purge_expired_data` job through GraphQL, the way the UI (or
its daily schedule) starts it; the offboarding runs from the command line while the server is up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.dagster_server import (
    REPOSITORY,
    check_executions,
    dagster_dev,
    graphql,
    repository_selector,
    run_failures,
    small_data_root,
    tem_environment,
    wait_for,
)

KEPT_CUSTOMER, GONE_CUSTOMER = "acme", "globex"
MONTHS = ("2026-06", "2026-07", "2026-08")
EXPIRED = [f"{KEPT_CUSTOMER}|2026-06", f"{KEPT_CUSTOMER}|2026-07"]  # retention 2 as of 2026-10-15
REMOVED = EXPIRED + [f"{GONE_CUSTOMER}|{m}" for m in MONTHS] + [GONE_CUSTOMER]
KEPT = [KEPT_CUSTOMER, f"{KEPT_CUSTOMER}|2026-08"]

RUNS = """query Runs($filter: RunsFilter) { runsOrError(filter: $filter, limit: 1000) { __typename
    ... on Runs { results { runId status jobName tags { key value } } } } }"""
LAUNCH = """mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
    ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } ... on Error { message } } }"""
RUN_STATUS = """query Status($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { status } } }"""
ASSET_NODES = (
    """{ assetNodes { assetKey { path } assetChecksOrError { __typename ... on AssetChecks { checks { name } } } } }"""
)
ASSET = """query Asset($key: AssetKeyInput!, $removed: [String!]) {
    assetNodeOrError(assetKey: $key) { __typename ... on AssetNode {
        partitionStats { numMaterialized }
        partitionKeysByDimension { name partitionKeys }
        assetMaterializations(partitions: $removed) { partition runId } } }
    assetOrError(assetKey: $key) { __typename ... on Asset { assetMaterializations(limit: 1000) { partition runId } } } }"""


def runs(url: str, **tags: str) -> list[dict]:
    selected = {"tags": [{"key": k.replace("__", "/"), "value": v} for k, v in tags.items()]} if tags else {}
    return graphql(url, RUNS, {"filter": selected})["runsOrError"]["results"]


def customer_month_runs(url: str, partition: str) -> list[dict]:
    if "|" in partition:
        customer, month = partition.split("|")
        return runs(url, **{"dagster__partition__customer": customer, "dagster__partition__month": month})
    return runs(url, **{"dagster__partition": partition})


def asset_view(url: str) -> dict[str, dict]:
    """Per asset: materialized partition count, the customers dimension, materializations of removed partitions, and
    every materialization's partition; and the partitions of its checks' executions."""
    view = {}
    for node in graphql(url, ASSET_NODES)["assetNodes"]:
        key = {"path": node["assetKey"]["path"]}
        data = graphql(url, ASSET, {"key": key, "removed": REMOVED})
        asset_node, asset = data["assetNodeOrError"], data["assetOrError"]
        dimensions = {d["name"]: d["partitionKeys"] for d in asset_node.get("partitionKeysByDimension") or []}
        checks = (node["assetChecksOrError"].get("checks") or []) if node["assetChecksOrError"] else []
        view["/".join(key["path"])] = {
            "materialized": asset_node["partitionStats"]["numMaterialized"]
            if asset_node.get("partitionStats")
            else None,
            "customers": dimensions.get("customer", dimensions.get("default", [])),
            "removed_materializations": asset_node["assetMaterializations"],
            "partitions": sorted({m["partition"] for m in asset.get("assetMaterializations") or []}),
            "check_partitions": sorted(
                {e["partition"] for c in checks for e in check_executions(url, "/".join(key["path"]), c["name"])}
            ),
        }
    return view


def cli(root: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.commands.cli", *args, "--data-root", str(root)],
        cwd=REPOSITORY,
        env=tem_environment(root, home, TEM_OPERATOR="test-operator"),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_ui_shows_nothing_of_what_a_purge_and_an_offboarding_removed(tmp_path):
    root, home = small_data_root(tmp_path / "root", MONTHS), tmp_path / "home"
    settings = root / "customers" / KEPT_CUSTOMER / "customer.yaml"
    settings.write_text(settings.read_text() + "retention_months: 2\n")
    with dagster_dev(root, home, run_tem_first=True) as server:
        url = server.url
        before = asset_view(url)  # the removed partitions are there to begin with
        assert all(len(customer_month_runs(url, p)) == (1 if "|" not in p else 3) for p in REMOVED), server.log_tail()
        assert before["roster"]["materialized"] == 6 and GONE_CUSTOMER in before["roster"]["customers"]
        assert set(REMOVED) <= set(before["roster"]["partitions"]) | {GONE_CUSTOMER}
        assert set(EXPIRED) <= set(before["roster"]["check_partitions"])

        # the retention purge, as the daily schedule (or an analyst in the UI) starts it
        selector = {**repository_selector(url), "jobName": "purge_expired_data"}
        launched = graphql(url, LAUNCH, {"params": {"selector": selector, "runConfigData": {}}})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        purge_run = launched["run"]["runId"]
        status = wait_for(
            lambda: (
                graphql(url, RUN_STATUS, {"runId": purge_run})["runOrError"].get("status")
                if graphql(url, RUN_STATUS, {"runId": purge_run})["runOrError"].get("status")
                in ("SUCCESS", "FAILURE", "CANCELED")
                else None
            ),
            timeout=300,
            what="the purge run",
        )
        assert status == "SUCCESS", run_failures(url, purge_run) or server.log_tail()
        assert not (root / "inbox" / KEPT_CUSTOMER / "2026-06").exists()

        offboarded = cli(root, home, "customer", "offboard", "--customer", GONE_CUSTOMER, "--confirm", GONE_CUSTOMER)
        assert offboarded.returncode == 0, offboarded.stderr

        for partition in REMOVED:
            assert customer_month_runs(url, partition) == [], partition
        assert runs(url, **{"dagster__partition__customer": GONE_CUSTOMER}) == []
        assert len(customer_month_runs(url, f"{KEPT_CUSTOMER}|2026-08")) == 3  # what is kept stays
        every_run = runs(url)
        shown = {t["value"] for r in every_run for t in r["tags"] if t["key"] == "dagster/partition"}
        assert not shown & set(REMOVED), shown
        assert purge_run in {r["runId"] for r in every_run}  # the purge kept its own run
        run_ids = {r["runId"] for r in every_run}

        after = asset_view(url)
        for asset, seen in after.items():
            assert seen["removed_materializations"] == [], asset
            assert set(seen["partitions"]) <= set(KEPT), (asset, seen["partitions"])
            assert not set(seen["check_partitions"]) & set(REMOVED), (asset, seen["check_partitions"])
            assert GONE_CUSTOMER not in seen["customers"], asset
            if before[asset]["materialized"]:
                assert seen["materialized"] == 1, (asset, seen["materialized"])  # acme 2026-08, or acme's contracts
        latest = graphql(
            url,
            """query L($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset {
            assetMaterializations(limit: 1) { partition runId } } } }""",
            {"key": {"path": ["delivery"]}},
        )
        newest = latest["assetOrError"]["assetMaterializations"]
        assert newest and newest[0]["partition"] in KEPT and newest[0]["runId"] in run_ids, newest
