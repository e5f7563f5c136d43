"""A killed `tem run` leaves nothing behind: its workers die with it, and the runs it left STARTED are marked
failed by the next command, so they hold no run slot and block no queue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, instance_for_test

from pipelines.commands.runner import PROCESS_TAG, fail_orphaned_runs, process_alive, process_tags
from tests.end_to_end.test_privacy import MASTER_KEY
from tests.support.privacy_root import write_privacy_root

REPOSITORY = Path(__file__).resolve().parents[2]


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state != b"Z"


def test_a_run_whose_process_is_gone_is_marked_failed_and_a_live_one_is_not(tmp_path):
    gone = subprocess.Popen(
        [sys.executable, "-c", "import pipelines.commands.runner as r; print(r.process_tags()['tem/process'])"],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        text=True,
    )
    dead_process = gone.communicate(timeout=60)[0].strip()
    assert not process_alive(dead_process) and process_alive(process_tags()[PROCESS_TAG])
    with instance_for_test() as instance:
        from dagster._core.test_utils import create_run_for_test

        dead = create_run_for_test(
            instance,
            job_name="reconcile_customer_month",
            status=DagsterRunStatus.STARTED,
            tags={**process_tags(), PROCESS_TAG: dead_process},
        )
        live = create_run_for_test(
            instance, job_name="reconcile_customer_month", status=DagsterRunStatus.STARTED, tags=process_tags()
        )
        assert fail_orphaned_runs(instance) == [dead.run_id]
        assert instance.get_run_by_id(dead.run_id).status == DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(live.run_id).status == DagsterRunStatus.STARTED
        assert fail_orphaned_runs(instance) == []


def test_workers_die_with_a_killed_tem_run(tmp_path):
    root = write_privacy_root(tmp_path / "root")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEM_", "DAGSTER_")) or k == "TEM_TODAY"}
    env.update(DAGSTER_HOME=str(tmp_path / "home"), TEM_MASTER_KEY=MASTER_KEY)
    tem = subprocess.Popen(
        [sys.executable, "-m", "pipelines.commands.cli", "run", "--data-root", str(root), "--workers", "2"],
        cwd=REPOSITORY,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        workers = wait_until(
            lambda: (
                [
                    p
                    for p in children(tem.pid)
                    if "spawn_main" in (Path("/proc") / str(p) / "cmdline").read_bytes().decode(errors="replace")
                ]
                if len(children(tem.pid)) >= 2
                else None
            ),
            60,
            "two worker processes",
        )
        tem.send_signal(signal.SIGKILL)
        tem.wait(timeout=30)
        wait_until(lambda: not any(alive(pid) for pid in workers), 60, "the workers to end with their parent")
    finally:
        if tem.poll() is None:
            tem.kill()

    rerun = subprocess.run(
        [sys.executable, "-m", "pipelines.commands.cli", "run", "--data-root", str(root), "--workers", "1"],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    os.environ["DAGSTER_HOME"], previous = str(tmp_path / "home"), os.environ.get("DAGSTER_HOME")
    try:
        with DagsterInstance.get() as instance:
            statuses = {r.status for r in instance.get_runs()}
    finally:
        os.environ.pop("DAGSTER_HOME") if previous is None else os.environ.update(DAGSTER_HOME=previous)
    assert DagsterRunStatus.STARTED not in statuses and DagsterRunStatus.STARTING not in statuses, statuses
