"""What `tem run` shows (issue #17): a plan line, one line per finished run, a summary; Dagster's own log kept out of
the terminal; one line per failure; the development-key warning once; Ctrl-C; data roots refused before anything is
written; --help and --version."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from tests.support.commands import REPOSITORY, instance_at, tem

MASTER_KEY = "3e" * 32
SAMPLE = REPOSITORY / "data"
RUN_LINE = re.compile(
    r"^\[ ?\d+/39\] (?P<scope>[a-z0-9-]+(?: \d{4}-\d{2})?) +(?P<stage>contracts|audit|savings|publish) +"
    r"(?P<status>ok|FAILED|not run)(?: \d+\.\d+s)?$"
)
NOISE = ("Traceback", "dagster - ", "Not executing", "Dependencies for step", "DagsterExecution", "Failure:", "Error:")


def sample_copy(to: Path) -> Path:
    """The bundled sample's input (customers/ and inbox/ only: data/ may hold the outputs of someone's run)."""
    for folder in ("customers", "inbox"):
        shutil.copytree(SAMPLE / folder, to / folder)
    return to


def break_three_files(root: Path) -> None:
    """A corrupt workbook, a usage CSV without its msisdn column, and a contract that is not YAML."""
    (root / "inbox/globex/2026-07/invoices/northwind-mobile-INV-1003.xlsx").write_bytes(b"PK\x03\x04 not a workbook")
    usage = root / "inbox/initech-uk/2026-08/usage/usage-part-1.csv"
    rows = [line.split(",") for line in usage.read_text(encoding="utf-8-sig").splitlines()]
    assert rows[0][1] == "msisdn"
    usage.write_text("".join(",".join(row[:1] + row[2:]) + "\n" for row in rows))
    (root / "customers/umbrella-de/contracts/rhein-funk.yaml").write_text("carrier: rhein-funk\nplans: [unclosed\n")


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    """The whole sample (3 customers x 4 months) with two workers and no TEM_MASTER_KEY (the development key)."""
    base = tmp_path_factory.mktemp("sample-run")
    root = sample_copy(base / "root")
    return (
        root,
        base / "home",
        tem("run", "--data-root", str(root), "--workers", "2", home=base / "home", master_key=None),
    )


def test_a_run_prints_a_plan_line_one_line_per_run_and_a_summary(sample_run):
    root, home, run = sample_run
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert lines[0] == "Plan: 3 customer(s), 12 customer-month(s) (2026-06 to 2026-09), 39 runs, 2 at a time"
    runs = [RUN_LINE.match(line) for line in lines[1:40]]
    assert all(runs), lines[1:40]
    assert [int(line[1:3]) for line in lines[1:40]] == list(range(1, 40))
    assert {(m["scope"], m["stage"]) for m in runs} == {
        (c, "contracts") for c in ("globex", "initech-uk", "umbrella-de")
    } | {
        (f"{c} 2026-0{m}", stage)
        for c in ("globex", "initech-uk", "umbrella-de")
        for m in (6, 7, 8, 9)
        for stage in ("audit", "savings", "publish")
    }
    assert {m["status"] for m in runs} == {"ok"}
    summary = lines[40:]
    assert summary[0] == "" and re.fullmatch(
        r"Finished 39 runs in \d+(\.\d|m \d\ds)s?: 12 customer-month\(s\) published, "
        r"0 failed\.",
        summary[1],
    ), summary[:2]
    assert summary[2] == f"Published files are under {root / 'published'}/<customer>/<YYYY-MM>/:"
    assert (
        len(summary) == 3 + 12 + 1
        and summary[-1] == f"Runs are recorded in the Dagster instance at DAGSTER_HOME={home}"
    )
    assert not any(noise in run.stdout + run.stderr for noise in NOISE)


def test_the_development_key_warning_is_given_once_per_command(sample_run):
    _, _, run = sample_run
    assert (run.stdout + run.stderr).count("TEM_MASTER_KEY is not set") == 1
    assert run.stderr.splitlines() == [line for line in run.stderr.splitlines() if line.startswith("warning: ")]


def test_every_run_is_a_stage_job_tagged_with_its_stage(sample_run):
    from collections import Counter

    _, home, _ = sample_run
    with instance_at(home) as instance:
        runs = instance.get_runs()
    assert Counter((r.job_name, r.tags.get("tem/stage")) for r in runs) == {
        ("load_customer_contracts", "contracts"): 3,
        ("audit_customer_month", "audit"): 12,
        ("recommend_savings", "savings"): 12,
        ("publish_customer_month", "publish"): 12,
    }


def test_three_broken_files_are_one_line_each(tmp_path):
    """With one worker (everything in the tem process). The broken contract stops its customer's four months and is
    said once; each broken inbox file once, with its customer-month; nothing of Dagster's log, no class names."""
    root = sample_copy(tmp_path / "root")
    break_three_files(root)
    run = tem("run", "--data-root", str(root), "--workers", "1", home=tmp_path / "home", master_key=MASTER_KEY)
    assert run.returncode == 1, run.stderr[-3000:]
    failures = run.stderr.splitlines()
    assert all(line.startswith("FAILED ") for line in failures), failures
    assert (
        failures.count("FAILED umbrella-de: customers/umbrella-de/contracts/rhein-funk.yaml: not valid YAML at line 3")
        == 1
    )
    assert not any(line.startswith("FAILED umbrella-de 2026-") for line in failures)  # its months: not repeated
    assert [line for line in failures if "northwind-mobile-INV-1003.xlsx" in line] == [
        "FAILED globex 2026-07: invoices/northwind-mobile-INV-1003.xlsx: the workbook could not be opened (damaged or "
        "not an .xlsx file)"
    ]
    assert [line for line in failures if "usage-part-1.csv" in line] == [
        "FAILED initech-uk 2026-08: usage/usage-part-1.csv: missing required column(s): msisdn"
    ]
    # the only other line: initech-uk 2026-09's savings, which ran and found its history month 2026-08 missing
    assert len(failures) == 4 and failures[2].startswith("FAILED initech-uk 2026-09: line_month_usage of 2026-08"), (
        failures
    )
    assert not any(noise in run.stdout + run.stderr for noise in NOISE)
    lines = run.stdout.splitlines()
    assert lines[0].startswith("Plan: 3 customer(s), 12 customer-month(s)") and all(
        RUN_LINE.match(line) for line in lines[1:40]
    )
    assert "Finished 39 runs in" in lines[41] and "5 customer-month(s) published, 7 failed." in lines[41]
    assert (
        sum(1 for line in lines[1:40] if line.endswith("not run")) == 12 + 2 + 2 + 1
    )  # umbrella-de; globex 07; initech 08, 09


@pytest.mark.parametrize("kind", ["missing", "empty", "file", "neither"])
@pytest.mark.parametrize("command", [["run"], ["ui"], ["reports", "url", "--customer", "globex", "--month", "2026-09"]])
def test_a_data_root_that_is_not_one_is_refused_before_anything_is_written(tmp_path, command, kind):
    root = tmp_path / "typo"
    if kind == "empty":
        root.mkdir()
    elif kind == "file":
        root.write_text("not a folder")
    elif kind == "neither":
        (root / "warehouse").mkdir(parents=True)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    run = tem(*command, "--data-root", str(root), home=tmp_path / "home", master_key=MASTER_KEY)
    assert run.returncode == 2 and run.stdout == "", run.stdout + run.stderr
    assert len(run.stderr.splitlines()) == 1 and str(root) in run.stderr and "--data-root" in run.stderr, run.stderr
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # no .dagster, no home, nothing


def test_version_and_help():
    from importlib.metadata import version

    from pipelines.commands.cli import build_parser

    assert (
        tem("--version", home=Path("/nonexistent"), master_key=None).stdout.strip() == f"tem {version('tem-pipeline')}"
    )
    run_help = tem("run", "--help", home=Path("/nonexistent"), master_key=None)
    assert (
        run_help.returncode == 0
        and "examples:" in run_help.stdout
        and "tem run --data-root /srv/tem" in run_help.stdout
    )

    def commands(parser, path):
        subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subparsers:
            yield " ".join(path), parser
        for action in subparsers:
            for name, sub in action.choices.items():
                yield from commands(sub, [*path, name])

    found = dict(commands(build_parser(), ["tem"]))
    assert {"tem run", "tem sample-data", "tem reports url", "tem ui", "tem keys migrate", "tem privacy erase"} <= set(
        found
    )
    for name, parser in found.items():
        assert "example" in (parser.epilog or ""), name
        for action in parser._actions:
            assert action.help, (name, action.option_strings or action.dest)


def started_runs(home: Path) -> list[str]:
    """The ids of the runs whose status is STARTED, from the instance's SQLite run storage, read-only."""
    database = home / "history" / "runs.db"
    if not database.exists():
        return []
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)) as db:
        return [run_id for (run_id,) in db.execute("SELECT run_id FROM runs WHERE status = 'STARTED'")]


def instance_runs(home: Path) -> list:
    if not (home / "dagster.yaml").exists():
        return []
    with instance_at(home) as instance:
        return list(instance.get_runs())


@pytest.mark.parametrize("workers", ["2", "1"])
def test_ctrl_c_stops_the_workers_marks_their_runs_failed_and_exits_130(tmp_path, workers):
    """SIGINT once a run has finished and another is executing: exit status 130, one line, and no run of the
    instance left STARTED (the ones executing are marked failed)."""
    from dagster import DagsterRunStatus

    root, home = sample_copy(tmp_path / "root"), tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEM_", "AWS_", "DAGSTER_")) or k == "TEM_TODAY"}
    env.update(DAGSTER_HOME=str(home), TEM_MASTER_KEY=MASTER_KEY, TEM_OPERATOR="test-operator")
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.commands.cli", "run", "--data-root", str(root), "--workers", workers],
        cwd=REPOSITORY,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as a terminal starts it: SIGINT at its default. A test run started in the background by a non-interactive
        # shell ignores SIGINT, and an ignored signal stays ignored in children (tem then rightly ignores Ctrl-C)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    stdout: list[str] = []
    reader = threading.Thread(target=lambda: stdout.extend(process.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 240
        while not any(line.startswith("[") for line in stdout):  # a run finished: the instance exists by now
            assert process.poll() is None and time.monotonic() < deadline, ("no run line", stdout)
            time.sleep(0.1)
        executing = []
        while not executing:  # and another run is executing (read straight from the run storage: opening an
            # instance per poll took long enough that the whole `tem run` could finish in between)
            assert process.poll() is None and time.monotonic() < deadline, ("no run executing", stdout)
            executing = started_runs(home)
            time.sleep(0.02)
        assert process.poll() is None, ("tem finished before the interrupt", stdout)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 130, (stdout, process.stderr.read())
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(timeout=10)
    stderr = process.stderr.read()
    assert stderr.splitlines() == [stderr.strip()] and stderr.startswith("tem: interrupted: "), stderr
    assert "unfinished run(s) marked failed" in stderr and "Traceback" not in stderr
    statuses = {r.run_id: r.status for r in instance_runs(home)}
    assert set(statuses.values()) <= {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE}, statuses  # none left behind
    assert all(statuses[run_id] in (DagsterRunStatus.FAILURE, DagsterRunStatus.SUCCESS) for run_id in executing)
    assert not [line for line in stdout if not (line.startswith(("Plan: ", "[")))], stdout  # no summary
