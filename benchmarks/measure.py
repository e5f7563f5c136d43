"""Measuring a command: wall time, peak resident memory and CPU time of its whole process tree, and, for `tem run`, the time
per stage that its Dagster runs recorded in the instance at DAGSTER_HOME.

Nothing here imports a project module: `tem` is run as a command, and the Dagster event log is read in a
separate Python process with Dagster's own API.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

STAGES = ("read", "validate", "pseudonymize", "audit", "savings", "report", "publish")
# Dagster steps (assets) whose whole duration is one stage; ingest steps report their own split.
STEP_STAGE = {
    "line_month_usage": "audit",
    "findings": "audit",
    "savings": "savings",
    "customer_report": "report",
    "quarantine_report": "publish",
    "findings_report": "publish",
    "savings_report": "publish",
    "delivery": "publish",
}
INGEST_STEPS = ("roster", "invoice_charges", "device_usage")
INGEST_SPLIT = {"read": "read", "validate": "validate", "pseudonymize": "pseudonymize", "write": "pseudonymize"}
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree_sample(pid: int) -> tuple[int, dict[int, float]]:
    """(resident memory of a process and all its descendants in bytes, {pid: CPU seconds so far} for each of
    them), from /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            children[int(fields[1])].append(int(entry))
            stats[int(entry)] = (int(fields[21]) * PAGE_SIZE, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
        except (OSError, IndexError, ValueError):
            continue
    total, cpu, stack = 0, {}, [pid]
    while stack:
        current = stack.pop()
        if current in stats:
            total += stats[current][0]
            cpu[current] = stats[current][1]
        stack.extend(children.get(current, []))
    return total, cpu


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    return tree_sample(pid)[0]


@dataclass
class Measured:
    wall: float  # seconds
    peak: int  # bytes: the highest resident memory of the whole process tree seen (sampled every 0.1 s)
    cpu: float  # seconds of CPU (user + system) used by the whole process tree
    result: subprocess.CompletedProcess


def run_measured(command: list[str], env: dict, cwd: Path) -> Measured:
    """Run a command, sampling its process tree every 0.1 s. CPU time is the larger of what the kernel reports
    for waited-for descendants (exact when every process is waited for) and the sum over the processes seen of
    their last sampled CPU time (which misses at most the last 0.1 s of each). The files written before (the
    generated inbox) are flushed to disk first, so that their write-back is not charged to the command."""
    os.sync()
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    cpu_seen: dict[int, float] = {}
    output: dict[str, str] = {}

    def drain(stream, name):
        output[name] = stream.read()

    readers = [
        threading.Thread(target=drain, args=(process.stdout, "out")),
        threading.Thread(target=drain, args=(process.stderr, "err")),
    ]
    for reader in readers:
        reader.start()
    while process.poll() is None:
        rss, cpu = tree_sample(process.pid)
        peak = max(peak, rss)
        cpu_seen.update(cpu)
        time.sleep(0.1)
    for reader in readers:
        reader.join()
    wall = time.perf_counter() - started
    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    waited = (usage_after.ru_utime - usage_before.ru_utime) + (usage_after.ru_stime - usage_before.ru_stime)
    result = subprocess.CompletedProcess(command, process.returncode, output.get("out", ""), output.get("err", ""))
    return Measured(wall, peak, max(waited, sum(cpu_seen.values())), result)


def bare_scan_seconds(files: list[Path]) -> tuple[float, int, int]:
    """Time DuckDB needs just to read every CSV and Parquet input file once (all columns, as text for CSV);
    returns (seconds, rows, files it could not read without an extension, i.e. .xlsx)."""
    import duckdb

    connection = duckdb.connect()
    rows, skipped = 0, 0
    started = time.perf_counter()
    for path in files:
        literal = str(path).replace("'", "''")
        if path.suffix == ".csv":
            query = f"SELECT count(*), max(COLUMNS(*)) FROM read_csv('{literal}', all_varchar = true, header = true)"
        elif path.suffix == ".parquet":
            query = f"SELECT count(*), max(COLUMNS(*)) FROM read_parquet('{literal}')"
        else:
            skipped += 1
            continue
        rows += connection.sql(query).fetchall()[0][0]
    return time.perf_counter() - started, rows, skipped


# Run in a separate process with DAGSTER_HOME set: every step's duration (STEP_START to STEP_SUCCESS), the ingest
# steps' own split (asset metadata `seconds_by_stage`), and every run's duration and job.
EVENT_LOG_SCRIPT = r"""
import json
from dagster import DagsterEventType, DagsterInstance
instance = DagsterInstance.get()
steps, ingest, runs = {}, [], []
for record in instance.get_run_records():
    run = record.dagster_run
    runs.append({"job": run.job_name, "seconds": (record.end_time or 0) - (record.start_time or 0),
                 "status": run.status.value})
    starts = {}
    for entry in instance.all_logs(run.run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            starts[event.step_key] = entry.timestamp
        elif event.event_type == DagsterEventType.STEP_SUCCESS and event.step_key in starts:
            steps[event.step_key] = steps.get(event.step_key, 0) + entry.timestamp - starts[event.step_key]
        elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            metadata = event.step_materialization_data.materialization.metadata
            if "seconds_by_stage" in metadata:
                ingest.append(metadata["seconds_by_stage"].value)
print(json.dumps({"steps": steps, "ingest": ingest, "runs": runs}))
"""


def dagster_times(env: dict, cwd: Path) -> dict:
    """{"stages": {stage: seconds summed over the runs}, "steps": seconds in all steps, "runs": [{job, seconds}]}
    from the instance at env["DAGSTER_HOME"]. With several workers the sums exceed the wall time."""
    result = subprocess.run([sys.executable, "-c", EVENT_LOG_SCRIPT], env=env, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"reading the Dagster event log failed:\n{result.stderr[-3000:]}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    seconds = {stage: 0.0 for stage in STAGES}
    for step, duration in data["steps"].items():
        if step in STEP_STAGE:
            seconds[STEP_STAGE[step]] += duration
    unknown = set()
    for split in data["ingest"]:
        for part, duration in split.items():
            if part in INGEST_SPLIT:
                seconds[INGEST_SPLIT[part]] += duration
            else:
                unknown.add(part)
    if unknown:
        print(
            f"warning: ingest metadata has stage(s) this benchmark does not know, not counted: {sorted(unknown)}",
            file=sys.stderr,
        )
    return {"stages": seconds, "steps": sum(data["steps"].values()), "runs": data["runs"]}
