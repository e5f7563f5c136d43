"""How `tem run` orders its runs: the plan derived from the asset graph (which run waits for which), and that a
failure stops only its own customer-month."""

from __future__ import annotations

import pytest
from dagster import AssetKey

from pipelines.commands import runner
from pipelines.commands.runner import Plan, StageResult, StageRun, derive_plan, run_stages, stage_assets
from pipelines.definitions import defs

GRAPH = defs.resolve_asset_graph()
STAGES = stage_assets(defs)


def contracts(customer: str) -> StageRun:
    return StageRun(customer, "", "contracts")


def audit(customer: str, month: str) -> StageRun:
    return StageRun(customer, month, "audit")


def savings(customer: str, month: str) -> StageRun:
    return StageRun(customer, month, "savings")


def publish(customer: str, month: str) -> StageRun:
    return StageRun(customer, month, "publish")


def plan_for(months: dict[str, list[str]], stages=STAGES) -> Plan:
    return derive_plan(GRAPH, stages, months)


def test_the_derived_plan_has_exactly_the_waits_the_assets_read():
    """acme 2026-07..09 and globex 2026-09. Audits wait for the contracts (every ingest asset reads them); savings
    for the contracts, their month's audit (roster) and the planned audits of M-2..M (line_month_usage through the
    three-month mapping); a publish run for its month's audit and savings, and for the planned audits and savings of
    the 11 months before (the report's 12-month trend of charges, findings and savings). Customers never wait for
    each other, and nothing waits for a month that is not planned."""
    plan = plan_for({"acme": ["2026-07", "2026-08", "2026-09"], "globex": ["2026-09"]})
    jul, aug, sep = "2026-07", "2026-08", "2026-09"
    acme = contracts("acme")
    assert plan.waits == {
        acme: set(),
        audit("acme", jul): {acme},
        audit("acme", aug): {acme},
        audit("acme", sep): {acme},
        savings("acme", jul): {acme, audit("acme", jul)},
        savings("acme", aug): {acme, audit("acme", jul), audit("acme", aug)},
        savings("acme", sep): {acme, audit("acme", jul), audit("acme", aug), audit("acme", sep)},
        publish("acme", jul): {audit("acme", jul), savings("acme", jul)},
        publish("acme", aug): {audit("acme", jul), audit("acme", aug), savings("acme", jul), savings("acme", aug)},
        publish("acme", sep): {audit("acme", m) for m in (jul, aug, sep)}
        | {savings("acme", m) for m in (jul, aug, sep)},
        contracts("globex"): set(),
        audit("globex", sep): {contracts("globex")},
        savings("globex", sep): {contracts("globex"), audit("globex", sep)},
        publish("globex", sep): {audit("globex", sep), savings("globex", sep)},
    }
    assert plan.refused == {}
    # what must have succeeded: its own customer-month's runs and the customer's contracts, never another month's
    assert plan.requires(savings("acme", sep)) == [acme, audit("acme", sep)]
    assert plan.requires(publish("acme", sep)) == [audit("acme", sep), savings("acme", sep)]


def test_the_savings_history_is_the_partition_mapping_of_the_savings_asset():
    """`tem run` adds the unreconciled history months with history_months (cli.with_history): the same months as
    the partition mapping the savings asset declares on line_month_usage, the one the plan is derived from (as far
    as the month partitions go back: they start with the earliest inbox drop)."""
    from pipelines.partitions import billing_months, customer_month_key, split_key
    from reports.rules.history import history_months

    for month in billing_months.get_partition_keys():
        mapped = GRAPH.get_parent_partition_keys_for_child(
            customer_month_key("acme", month), AssetKey("line_month_usage"), AssetKey("savings")
        ).partitions_subset
        expected = [m for m in history_months(month) if billing_months.has_partition_key(m)]
        assert sorted(split_key(key)[1] for key in mapped.get_partition_keys()) == expected, month
    assert len(history_months(billing_months.get_last_partition_key())) == 3


def test_the_stages_are_jobs_that_cover_every_asset_once():
    from pipelines.jobs import RUN_STAGES, STAGE_TAG

    covered = [key for _, keys in STAGES for key in keys]
    assert sorted(covered) == sorted(GRAPH.materializable_asset_keys) and len(covered) == len(set(covered))
    for stage in RUN_STAGES:
        job = defs.resolve_job_def(stage.job_name)
        assert set(job.asset_layer.selected_asset_keys) == dict(STAGES)[stage.name]
        assert stage.job_name == "load_customer_contracts" or job.tags[STAGE_TAG] == stage.name


def test_the_planner_plans_any_grouping_of_the_assets():
    """Savings and publish merged into one run per customer-month: that run waits for the planned audits of its
    history and for the merged runs of the months before (the trend reads their savings)."""
    audit_keys = dict(STAGES)["audit"]
    merged = [
        ("contracts", dict(STAGES)["contracts"]),
        ("audit", audit_keys),
        ("report", dict(STAGES)["savings"] | dict(STAGES)["publish"]),
    ]
    plan = plan_for({"acme": ["2026-07", "2026-08", "2026-09"]}, merged)
    report = lambda month: StageRun("acme", month, "report")  # noqa: E731
    assert plan.waits[report("2026-09")] == {
        contracts("acme"),
        audit("acme", "2026-07"),
        audit("acme", "2026-08"),
        audit("acme", "2026-09"),
        report("2026-07"),
        report("2026-08"),
    }
    assert plan.requires(report("2026-09")) == [contracts("acme"), audit("acme", "2026-09")]
    one_run = [
        ("contracts", dict(STAGES)["contracts"]),
        ("month", frozenset().union(*(k for n, k in STAGES if n != "contracts"))),
    ]
    plan = plan_for({"acme": ["2026-08", "2026-09"]}, one_run)
    assert plan.waits[StageRun("acme", "2026-09", "month")] == {contracts("acme"), StageRun("acme", "2026-08", "month")}
    with pytest.raises(ValueError, match="is in two stages"):
        plan_for({"acme": ["2026-09"]}, [*merged, ("again", audit_keys)])


def test_a_month_outside_the_partitions_is_refused_without_running():
    plan = plan_for({"acme": ["2026-09", "2099-01"]})
    assert set(plan.refused) == {StageRun("acme", "2099-01", stage) for stage in ("audit", "savings", "publish")}
    assert all(problem.startswith("month 2099-01 is outside the partitions") for problem in plan.refused.values())
    assert plan.waits[publish("acme", "2026-09")] == {audit("acme", "2026-09"), savings("acme", "2026-09")}


def test_a_failed_audit_skips_only_the_rest_of_its_own_month(monkeypatch):
    executed = []

    def fake_run(run):
        executed.append(run)
        return StageResult(ok=run != audit("acme", "2026-08"), run_id=f"run-{len(executed)}")

    monkeypatch.setattr(runner, "run_stage", fake_run)
    finished = []
    plan = plan_for({"acme": ["2026-07", "2026-08", "2026-09"]})
    results = run_stages(plan, lambda run, result: finished.append(run))

    for run in (savings("acme", "2026-08"), publish("acme", "2026-08")):
        assert run not in executed and not results[run].ok and results[run].skipped
    assert results[savings("acme", "2026-08")].problems == ["not run: its audit run failed"]
    assert results[publish("acme", "2026-09")].ok  # the next month still runs (its savings say what is missing)
    assert sorted(finished, key=plan.order) == sorted(plan.waits, key=plan.order)
    for run in executed:  # every run after everything it waits for
        assert plan.waits[run] <= set(finished[: finished.index(run)]), run


def test_a_failed_contract_skips_every_month_of_its_customer_only(monkeypatch):
    monkeypatch.setattr(runner, "run_stage", lambda run: StageResult(ok=run != contracts("acme")))
    results = run_stages(plan_for({"acme": ["2026-08", "2026-09"], "globex": ["2026-09"]}), lambda run, result: None)
    assert [r for r, result in results.items() if not result.ok and not result.skipped] == [contracts("acme")]
    assert all(results[r].skipped for r in results if r.customer_id == "acme" and r.month)
    assert all(results[r].ok for r in results if r.customer_id == "globex")


def test_with_two_workers_the_longest_chain_of_work_starts_first(monkeypatch):
    """The third month's audit holds up that month's savings and report; it starts before the first month's savings
    and report."""
    from concurrent.futures import ThreadPoolExecutor

    started = []
    monkeypatch.setattr(runner, "run_stage", lambda run: started.append(run) or StageResult(ok=True))
    plan = plan_for({"acme": ["2026-07", "2026-08", "2026-09"]})
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = run_stages(plan, lambda run, result: None, pool, workers=2)

    assert all(result.ok for result in results.values()) and sorted(started, key=plan.order) == sorted(
        plan.waits, key=plan.order
    )
    assert started[:4] == [contracts("acme"), *(audit("acme", month) for month in ("2026-07", "2026-08", "2026-09"))]
    for run in started:
        assert all(started.index(before) < started.index(run) for before in plan.waits[run]), run


def test_the_tem_process_plans_without_importing_dagster(tmp_path):
    """`tem run` leaves Dagster and DuckDB to its workers (one of them derives the plan), starts them before it looks
    at the inbox and the keys (they import the definitions meanwhile), and no more of them than there are
    customer-months."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    for month in ("2026-07", "2026-08"):
        (tmp_path / "root" / "inbox" / "acme" / month).mkdir(parents=True)
    code = f"""
import sys
from pipelines.commands import cli, runner
planned, pools, steps = [], [], []
runner.run_stages = lambda plan, on_finished, pool, workers: planned.extend(plan.waits) or pools.append(workers) or {{}}
real_pool, real_select = runner.worker_pool, cli.select_partitions_from_inbox
runner.worker_pool = lambda workers: steps.append(("workers", workers)) or real_pool(workers)
cli.select_partitions_from_inbox = lambda *a: steps.append(("inbox",)) or real_select(*a)
assert cli.main(["run", "--data-root", {str(tmp_path / "root")!r}, "--workers", "8"]) == 0
assert len(planned) == 7, planned  # contracts, and audit, savings and publish of two months
assert pools == [2], pools  # no more workers than customer-months
assert steps == [("workers", 2), ("inbox",)], steps  # started first, two processes
print("dagster modules:", sorted(m for m in sys.modules if m.split(".")[0] == "dagster"))
print("duckdb modules:", sorted(m for m in sys.modules if m.split(".")[0] == "duckdb"))
"""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TEM_") or k == "TEM_TODAY"},
        "DAGSTER_HOME": str(tmp_path / "home"),
    }
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "dagster modules: []" in run.stdout
    assert "duckdb modules: []" in run.stdout  # nor the query engine: the savings history is planned without it


@pytest.mark.parametrize("collecting", [True, False])
def test_loading_the_definitions_leaves_the_collector_as_it_was_and_their_objects_out_of_it(tmp_path, collecting):
    """A worker imports the definitions with the cyclic collector paused, then freezes what they built (it lives
    as long as the process); the collector is running again afterwards if it was before, and only then."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = f"""
import gc
{"" if collecting else "gc.disable()"}
from pipelines.commands import runner
runner.load_definitions()
print("enabled", gc.isenabled(), "frozen", gc.get_freeze_count(), "collections", sum(s["collections"] for s in gc.get_stats()))
"""
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home")}
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    words = run.stdout.split()
    assert words[words.index("enabled") + 1] == str(collecting)
    assert int(words[words.index("frozen") + 1]) > 100_000  # Dagster's classes, modules, the asset graph
    assert int(words[words.index("collections") + 1]) < 100  # not the ~550 of an import with the collector on


def test_with_an_s3_inbox_the_workers_start_once_it_is_mirrored(tmp_path):
    """A process's month partitions start at the inbox's first month when it loads the definitions. Workers started
    while an S3 inbox was still being mirrored knew none of its months ("month 2026-07 is outside the partitions"),
    so with an S3 inbox `tem run` mirrors it first and starts the workers after."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = tmp_path / "root"
    code = f"""
from pathlib import Path
from pipelines.commands import cli, runner
steps = []
real_pool = runner.worker_pool
runner.worker_pool = lambda workers: steps.append(("workers", workers)) or real_pool(workers)

def mirror(data_root, args):  # what the S3 inbox's sync leaves in the data root, then the plan from it
    steps.append(("inbox",))
    for month in ("2026-07", "2026-08"):
        (Path({str(root)!r}) / "inbox" / "acme" / month).mkdir(parents=True)
    return {{"acme": ["2026-07", "2026-08"]}}

cli.select_partitions_from_inbox = mirror
runner.run_stages = lambda plan, on_finished, pool, workers: {{}}
assert cli.main(["run", "--data-root", {str(root)!r}, "--workers", "8"]) == 0
assert steps == [("inbox",), ("workers", 2)], steps
"""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TEM_") or k == "TEM_TODAY"},
        "DAGSTER_HOME": str(tmp_path / "home"),
        "TEM_INBOX": "s3",
        "TEM_INBOX_BUCKET": "tem-inbox",
    }
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]


def test_tem_ui_mirrors_an_s3_inbox_before_the_webserver_loads_the_definitions(tmp_path, monkeypatch, capsys):
    """Same reason for `tem ui`: the webserver's code location loads the definitions once it starts, so the S3 inbox
    is mirrored before; when it cannot be, the UI still starts, with a warning."""
    from pipelines.commands import cli

    steps = []

    class Started(Exception):
        pass

    def execv(path, command):
        steps.append(("webserver", command[1]))
        raise Started

    for name, value in (("TEM_INBOX", "s3"), ("TEM_DATA_ROOT", ""), ("DAGSTER_HOME", str(tmp_path / "home"))):
        monkeypatch.setenv(name, value)  # restored afterwards, though the command sets some of them again
    monkeypatch.setattr(cli.os, "chdir", lambda path: None)
    monkeypatch.setattr(cli.os, "execv", execv)
    monkeypatch.setattr(cli, "mirror_s3_inbox", lambda data_root: steps.append(("inbox", data_root.path)))
    with pytest.raises(Started):
        cli.main(["ui", "--data-root", str(tmp_path / "root")])
    assert steps == [("inbox", tmp_path / "root"), ("webserver", "dev")]

    def unreachable(data_root):
        raise cli.UsageError("the S3 inbox tem-inbox cannot be read")

    monkeypatch.setattr(cli, "mirror_s3_inbox", unreachable)
    capsys.readouterr()
    with pytest.raises(Started):
        cli.main(["ui", "--data-root", str(tmp_path / "root")])
    assert "warning: the S3 inbox was not mirrored: the S3 inbox tem-inbox cannot be read" in capsys.readouterr().err
