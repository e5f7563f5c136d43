"""How `tem run` orders its runs: what each stage waits for, and that a failure stops only its own month."""

from pipelines.commands import runner
from pipelines.commands.runner import AUDIT, CONTRACTS, PUBLISH, SAVINGS, Stage, StageResult, plan_stages, run_stages


def test_each_stage_waits_for_what_it_reads():
    waits = plan_stages({"acme": ["2026-07", "2026-08", "2026-09"], "globex": ["2026-09"]})
    assert waits[Stage("acme", "", CONTRACTS)] == set()
    assert waits[Stage("acme", "2026-07", AUDIT)] == {Stage("acme", "", CONTRACTS)}
    assert waits[Stage("acme", "2026-07", SAVINGS)] == {Stage("acme", "2026-07", AUDIT)}
    assert waits[Stage("acme", "2026-09", SAVINGS)] == {
        Stage("acme", "2026-09", AUDIT), Stage("acme", "2026-08", AUDIT), Stage("acme", "2026-07", AUDIT),  # history
        Stage("acme", "2026-08", SAVINGS),  # savings in calendar order: the Trend sheet reads the months before
    }  # fmt: skip
    assert waits[Stage("acme", "2026-09", PUBLISH)] == {Stage("acme", "2026-09", SAVINGS)}
    assert waits[Stage("globex", "2026-09", SAVINGS)] == {Stage("globex", "2026-09", AUDIT)}  # customers apart


def test_a_failed_audit_skips_only_the_rest_of_its_own_month(monkeypatch):
    executed = []

    def fake_run(stage):
        executed.append(stage)
        return StageResult(ok=stage != Stage("acme", "2026-08", AUDIT), run_id=f"run-{len(executed)}")

    monkeypatch.setattr(runner, "run_stage", fake_run)
    finished = []
    waits = plan_stages({"acme": ["2026-07", "2026-08", "2026-09"]})
    results = run_stages(waits, lambda stage, result: finished.append(stage))

    for part in (SAVINGS, PUBLISH):
        assert Stage("acme", "2026-08", part) not in executed and not results[Stage("acme", "2026-08", part)].ok
    assert results[Stage("acme", "2026-08", SAVINGS)].problems == ["not run: its audit run failed"]
    assert results[Stage("acme", "2026-09", PUBLISH)].ok  # the next month still runs (its savings say what is missing)
    assert sorted(finished, key=lambda s: s.order) == sorted(waits, key=lambda s: s.order)
    for stage in executed:  # every stage ran after everything it waits for
        assert waits[stage] <= set(finished[: finished.index(stage)]), stage


def test_with_two_workers_the_longest_chain_of_work_starts_first(monkeypatch):
    """The third month's audit holds up that month's savings and report; it starts before the first month's savings
    and report, which nothing else waits for."""
    from concurrent.futures import ThreadPoolExecutor

    started = []
    monkeypatch.setattr(runner, "run_stage", lambda stage: started.append(stage) or StageResult(ok=True))
    waits = plan_stages({"acme": ["2026-07", "2026-08", "2026-09"]})
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = run_stages(waits, lambda stage, result: None, pool, workers=2)

    assert all(result.ok for result in results.values()) and sorted(started, key=lambda s: s.order) == sorted(
        waits, key=lambda s: s.order)  # fmt: skip
    audits = [Stage("acme", month, AUDIT) for month in ("2026-07", "2026-08", "2026-09")]
    assert started[:4] == [Stage("acme", "", CONTRACTS), *audits]
    for stage in started:
        assert all(started.index(before) < started.index(stage) for before in waits[stage]), stage


def test_the_tem_process_plans_without_importing_dagster(tmp_path):
    """`tem run` leaves Dagster to its workers, and starts no more of them than there are customer-months."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    for month in ("2026-07", "2026-08"):
        (tmp_path / "root" / "inbox" / "acme" / month).mkdir(parents=True)
    code = f"""
import sys
from pipelines.commands import cli, runner
planned, pools = [], []
runner.run_stages = lambda waits, on_finished, pool, workers: planned.extend(waits) or pools.append(workers) or {{}}
assert cli.main(["run", "--data-root", {str(tmp_path / "root")!r}, "--workers", "8"]) == 0
assert len(planned) == 7, planned  # contracts, and audit, savings and publish of two months
assert pools == [2], pools  # no more workers than customer-months
print("dagster modules:", sorted(m for m in sys.modules if m.split(".")[0] == "dagster"))
"""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TEM_") or k == "TEM_TODAY"}, "DAGSTER_HOME": str(tmp_path / "home")}
    run = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "dagster modules: []" in run.stdout
