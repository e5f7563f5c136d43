"""Benchmark `tem run` on a generated customer of N lines, three consecutive months.

    .venv/bin/python benchmarks/run.py --lines 50000 [--lines 200000] [--workers N] [--workdir DIR] [--keep]

For each N: writes a data root with `tem sample-data --lines N`, keeps customer globex's three months
2026-07..09 (the generator's other months and customers are removed, so nothing else is read), runs
`tem run` on it in a fresh DAGSTER_HOME, and prints wall time per stage (read, validate, pseudonymize,
audit, savings, report, publish; summed over the runs from the Dagster event log and asset metadata, so
with several workers they add up to more than the wall time), total wall time, input rows per second, peak
resident memory of the whole `tem run` process tree, and the time of a bare DuckDB scan of the same input
files, so the pipeline's overhead is a ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

CUSTOMER = "globex"
MONTHS = ("2026-07", "2026-08", "2026-09")
STAGES = ("read", "validate", "pseudonymize", "audit", "savings", "report", "publish")
# Dagster steps (assets) whose whole duration is one stage; ingest steps report their own split.
STEP_STAGE = {
    "line_month_usage": "audit", "findings": "audit", "savings": "savings", "customer_report": "report",
    "quarantine_report": "publish", "findings_report": "publish", "savings_report": "publish", "delivery": "publish",
}  # fmt: skip
INGEST_STEPS = ("roster", "invoice_charges", "device_usage")
INGEST_SPLIT = {"read": "read", "validate": "validate", "pseudonymize": "pseudonymize", "write": "pseudonymize"}


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            children[int(fields[1])].append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack.extend(children.get(current, []))
    return total


def run_measured(command: list[str], env: dict) -> tuple[float, int, subprocess.CompletedProcess]:
    """(wall seconds, peak RSS of the process tree in bytes, result), sampling memory every 0.1 s."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    peak = 0
    output: dict[str, str] = {}

    def drain(stream, name):
        output[name] = stream.read()

    readers = [threading.Thread(target=drain, args=(process.stdout, "out")),
               threading.Thread(target=drain, args=(process.stderr, "err"))]  # fmt: skip
    for reader in readers:
        reader.start()
    while process.poll() is None:
        peak = max(peak, tree_rss_bytes(process.pid))
        time.sleep(0.1)
    for reader in readers:
        reader.join()
    wall = time.perf_counter() - started
    return wall, peak, subprocess.CompletedProcess(command, process.returncode, output.get("out", ""), output.get("err", ""))


def input_files(root: Path) -> list[Path]:
    return sorted(p for m in MONTHS for p in (root / "inbox" / CUSTOMER / m).rglob("*") if p.is_file())


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


def stage_seconds(dagster_home: Path, env: dict) -> dict[str, float]:
    """Per-stage wall time summed over the benchmark's runs, from the instance at dagster_home."""
    script = r"""
import json
from dagster import DagsterEventType, DagsterInstance, EventRecordsFilter
instance = DagsterInstance.get()
steps, ingest = {}, []
for run in instance.get_runs():
    starts = {}
    for record in instance.all_logs(run.run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            starts[event.step_key] = record.timestamp
        elif event.event_type == DagsterEventType.STEP_SUCCESS and event.step_key in starts:
            steps[event.step_key] = steps.get(event.step_key, 0) + record.timestamp - starts[event.step_key]
        elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            metadata = event.step_materialization_data.materialization.metadata
            if "seconds_by_stage" in metadata:
                ingest.append(metadata["seconds_by_stage"].value)
print(json.dumps({"steps": steps, "ingest": ingest}))
"""
    import json

    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=REPOSITORY, capture_output=True, text=True,
                            check=True)  # fmt: skip
    data = json.loads(result.stdout.strip().splitlines()[-1])
    seconds = {stage: 0.0 for stage in STAGES}
    for step, duration in data["steps"].items():
        if step in STEP_STAGE:
            seconds[STEP_STAGE[step]] += duration
    for split in data["ingest"]:
        for part, duration in split.items():
            seconds[INGEST_SPLIT[part]] += duration
    return seconds


def benchmark(lines: int, workdir: Path, workers: int | None) -> dict:
    root, home = workdir / f"root-{lines}", workdir / f"dagster-{lines}"
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)
    tem = [sys.executable, "-m", "pipelines.cli"]
    env = {**os.environ, "DAGSTER_HOME": str(home), "TEM_MASTER_KEY": os.environ.get("TEM_MASTER_KEY", "be" * 32)}
    env.pop("TEM_DATA_ROOT", None)
    generated = subprocess.run([*tem, "sample-data", "--data-root", str(root), "--lines", str(lines),
                                "--expected", str(workdir / f"expected-{lines}")],
                               env=env, cwd=REPOSITORY, capture_output=True, text=True)  # fmt: skip
    if generated.returncode != 0:
        raise SystemExit(generated.stderr)
    for drop in (root / "inbox").glob("*/*"):  # one customer, three months: nothing else to read
        if drop.parent.name != CUSTOMER or drop.name not in MONTHS:
            shutil.rmtree(drop)
    scan_seconds, input_rows, not_scanned = bare_scan_seconds(input_files(root))
    worker_args = [] if workers is None else ["--workers", str(workers)]
    wall, peak, run = run_measured([*tem, "run", "--data-root", str(root), *worker_args], env)
    if run.returncode != 0:
        raise SystemExit(f"tem run failed:\n{run.stderr[-4000:]}")
    return {
        "lines": lines, "workers": workers or os.cpu_count(), "wall": wall, "peak_mb": peak / 2**20, "input_rows": input_rows,
        "rows_per_second": input_rows / wall, "scan": scan_seconds, "ratio": wall / scan_seconds,
        "not_scanned": not_scanned, "stages": stage_seconds(home, env),
    }  # fmt: skip


def print_table(results: list[dict]) -> None:
    header = ["lines", "input rows", "workers", *STAGES, "total s", "rows/s", "peak MB", "bare scan s", "ratio"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in results:
        cells = [f"{r['lines']:,}", f"{r['input_rows']:,}", str(r["workers"]), *(f"{r['stages'][s]:.1f}" for s in STAGES),
                 f"{r['wall']:.1f}", f"{r['rows_per_second']:,.0f}", f"{r['peak_mb']:,.0f}", f"{r['scan']:.1f}",
                 f"{r['ratio']:.1f}x"]  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    skipped = {r["not_scanned"] for r in results}
    if skipped != {0}:
        print(f"(the bare scan skips .xlsx files, which DuckDB cannot read without an extension: {skipped})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, action="append", required=True)
    parser.add_argument("--workers", type=int, default=None, help="tem run --workers (default: tem's own)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the generated data roots")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tem-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for lines in args.lines:
            results.append(benchmark(lines, workdir, args.workers))
            print(f"lines={lines:,}: {results[-1]['wall']:.1f} s, peak {results[-1]['peak_mb']:,.0f} MB", flush=True)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print_table(results)


if __name__ == "__main__":
    main()
