"""Benchmark `tem run` against the performance targets of issue #19, in one command.

    .venv/bin/python benchmarks/run.py [--only N[,N]] [--scale S] [--workdir DIR] [--keep] [--workers N] [--tem CMD]

Four comparisons, each printed with its time per stage, then one table of target, measured value and pass/fail:

1. scale     200,000 lines x 3 months: wall time of the whole `tem run` (target <= 90 s) and peak resident memory
             of its whole process tree, the `tem` process and its workers (target <= 3 GB, i.e. 3,072 MiB).
2. reference 20,000 lines x 3 months: `tem run` against benchmarks/reference.py, a plain-Python per-row
             implementation of the same rules (target: the pipeline at least 10x faster). The reference's findings,
             savings and quarantined cells must be those `tem run` published (benchmarks/agreement.py says what is
             compared); when they differ the differences are printed and the command exits with status 1.
3. customers 50 customers x 1 month x 200 lines: total `tem run` wall time (target <= 60 s) and the time per
             customer-month (wall time / customer-months, and the Dagster run and step time per customer-month).
4. flatness  peak memory at 200,000 lines / peak memory at 50,000 lines (target <= 1.5); the 200,000-line run is
             comparison 1's when both are selected.

Data roots are built with `tem sample-data` (benchmarks/roots.py): for 1, 2 and 4 customer globex's months
2026-07..09 (nothing else is left in the inbox), for 3 globex's 2026-09 drop and settings cloned under 50
customer ids. Every `tem run` runs on a fresh root in a fresh DAGSTER_HOME, with TEM_TODAY=2026-10-15 and a
fixed TEM_MASTER_KEY (the environment's when it is 64 hex characters; other TEM_ variables are removed).
Stage times (read, validate, pseudonymize, audit, savings, report, publish) are summed over the Dagster runs
from the instance's event log and the ingest assets' metadata, so with two workers they add up to more than the
wall time; CPU s is the CPU time of the whole process tree. The benchmark imports
no project module: it runs `tem` (default: the repository's .venv/bin/tem; --tem gives another command, e.g. a
wrapper around a checkout) and reads the published CSV files.

--only 1,4 (or names: scale, reference, customers, flatness) runs some comparisons; --scale 0.01 shrinks every
size (lines, and customers for 3; at least 25 lines and 2 customers) for a quick smoke check, where the targets,
which are for scale 1, are shown but do not apply. Data roots are built under --workdir (default: a temporary
folder, removed at the end) and removed once measured unless --keep.

Exit status: 0 when every run succeeded and the reference agreed with the pipeline, whether or not targets were
met (this is a benchmark, not a test); 1 when a run failed or the reference disagreed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import agreement
import measure
import roots

REPOSITORY = Path(__file__).resolve().parents[1]
BENCHMARKS = Path(__file__).resolve().parent
DEFAULT_TEM = REPOSITORY / ".venv" / "bin" / "tem"
TODAY = "2026-10-15"
FALLBACK_MASTER_KEY = "be" * 32
MIB = 2**20

COMPARISONS = {"1": "scale", "2": "reference", "3": "customers", "4": "flatness"}
LINES = {"scale": 200_000, "reference": 20_000, "flatness_small": 50_000, "customers": 200}
CUSTOMERS = 50
TARGETS = {"scale_wall": 90.0, "scale_peak_mib": 3 * 1024, "speedup": 10.0, "customers_wall": 60.0, "flatness": 1.5}


class RunFailed(RuntimeError):
    """A `tem` command or the reference failed: reported, and the benchmark exits 1."""


def run_env(dagster_home: Path | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEM_") or k == "TEM_MASTER_KEY"}
    env.pop("DAGSTER_HOME", None)
    if not re.fullmatch(r"[0-9a-fA-F]{64}", env.get("TEM_MASTER_KEY", "")):
        env["TEM_MASTER_KEY"] = FALLBACK_MASTER_KEY
    env["TEM_TODAY"] = TODAY
    if dagster_home is not None:
        env["DAGSTER_HOME"] = str(dagster_home)
    return env


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.tem = shlex.split(args.tem)
        self.scale = args.scale
        self.workers = args.workers
        self.keep = args.keep
        self.workdir = workdir
        self.pipeline_runs: dict[int, dict] = {}  # lines -> result of `tem run` on globex x 3 months

    def lines(self, name: str) -> int:
        return max(25, round(LINES[name] * self.scale))

    def customers(self) -> int:
        return max(2, round(CUSTOMERS * self.scale))

    def discard(self, *paths: Path) -> None:
        if not self.keep:
            for path in paths:
                shutil.rmtree(path, ignore_errors=True)

    def tem_run(self, root: Path, label: str) -> dict:
        """`tem run` on `root` in a fresh DAGSTER_HOME: wall, peak and the Dagster stage times."""
        home = self.workdir / f"dagster-{label}"
        shutil.rmtree(home, ignore_errors=True)
        env = run_env(home)
        worker_args = [] if self.workers is None else ["--workers", str(self.workers)]
        run = measure.run_measured([*self.tem, "run", "--data-root", str(root), *worker_args], env, REPOSITORY)
        if run.result.returncode != 0:
            raise RunFailed(f"tem run on {root} failed (exit {run.result.returncode}):\n{run.result.stderr[-4000:]}")
        times = measure.dagster_times(env, REPOSITORY)
        self.discard(home)
        return {
            "wall": run.wall,
            "peak_mib": run.peak / MIB,
            "cpu": run.cpu,
            "workers": self.workers or os.cpu_count(),
            **times,
        }

    def pipeline_on_one_customer(self, lines: int, keep_root: bool = False) -> dict:
        """globex x 3 months of `lines` lines: generate, bare scan, tem run (cached per size)."""
        if lines in self.pipeline_runs and not keep_root:
            return self.pipeline_runs[lines]
        root = self.workdir / f"root-{lines}"
        progress(f"generating {lines:,} lines x 3 months ...")
        generated = roots.one_customer(self.tem, root, lines, run_env(None), REPOSITORY)
        scan, input_rows, not_scanned = measure.bare_scan_seconds(roots.input_files(root))
        progress(f"  generated in {generated:.0f} s ({input_rows:,} rows in CSV/Parquet); tem run ...")
        result = {
            "lines": lines,
            "input_rows": input_rows,
            "scan": scan,
            "not_scanned": not_scanned,
            "root": root,
            **self.tem_run(root, f"{lines}"),
        }
        result["rows_per_second"] = input_rows / result["wall"]
        result["ratio"] = result["wall"] / scan if scan else float("nan")
        progress(f"  tem run: {result['wall']:.1f} s, CPU {result['cpu']:.0f} s, peak {result['peak_mib']:,.0f} MiB")
        self.pipeline_runs[lines] = result
        if not keep_root:
            self.discard(root)
        return result

    # -- the four comparisons --------------------------------------------------------------------------
    def scale_run(self) -> dict:
        return self.pipeline_on_one_customer(self.lines("scale"))

    def reference(self) -> dict:
        lines = self.lines("reference")
        pipeline = self.pipeline_on_one_customer(lines, keep_root=True)
        root = pipeline["root"]
        out = self.workdir / f"reference-{lines}"
        timings = self.workdir / f"reference-{lines}.json"
        shutil.rmtree(out, ignore_errors=True)
        progress("  reference.py on the same inbox ...")
        command = [
            sys.executable,
            str(BENCHMARKS / "reference.py"),
            "--data-root",
            str(root),
            "--out",
            str(out),
            "--timings",
            str(timings),
        ]
        run = measure.run_measured(command, run_env(None), REPOSITORY)
        if run.result.returncode != 0:
            raise RunFailed(f"reference.py failed (exit {run.result.returncode}):\n{run.result.stderr[-4000:]}")
        wall, peak = run.wall, run.peak
        report = json.loads(timings.read_text())
        agreed = agreement.compare(root / "published", out)
        progress(
            f"  reference: {wall:.1f} s, CPU {run.cpu:.0f} s, peak {peak / MIB:,.0f} MiB; "
            f"{'agrees' if agreed['agree'] else 'DISAGREES'} with the published files"
        )
        self.discard(root, out)
        timings.unlink(missing_ok=True)
        return {
            "lines": lines,
            "pipeline": pipeline,
            "wall": wall,
            "peak_mib": peak / MIB,
            "cpu": run.cpu,
            "stages": report["seconds"],
            "counts": report["counts"],
            "agreement": agreed,
            "speedup": wall / pipeline["wall"],
        }

    def many_customers(self) -> dict:
        customers, lines = self.customers(), LINES["customers"]
        root = self.workdir / f"root-{customers}-customers"
        progress(f"generating {customers} customers x 1 month x {lines} lines ...")
        roots.many_customers(self.tem, root, customers, lines, run_env(None), REPOSITORY)
        progress("  tem run ...")
        result = {"customers": customers, "lines": lines, **self.tem_run(root, f"{customers}-customers")}
        self.discard(root)
        runs = result["runs"]
        result["customer_months"] = customers
        result["per_customer_month"] = result["wall"] / customers
        result["run_seconds_per_cm"] = sum(r["seconds"] for r in runs) / customers
        result["step_seconds_per_cm"] = result["steps"] / customers
        result["dagster_runs"] = len(runs)
        progress(f"  tem run: {result['wall']:.1f} s, {result['per_customer_month']:.2f} s per customer-month")
        return result

    def flatness(self) -> dict:
        small = self.pipeline_on_one_customer(self.lines("flatness_small"))
        large = self.pipeline_on_one_customer(self.lines("scale"))
        return {"small": small, "large": large, "ratio": large["peak_mib"] / small["peak_mib"]}


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- printing ----------------------------------------------------------------------------------------------
def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def stage_cells(stages: dict, names) -> list[str]:
    return [f"{stages[s]:.1f}" if s in stages else "–" for s in names]


def pipeline_table(runs: list[dict]) -> str:
    header = [
        "lines",
        "input rows",
        "workers",
        *measure.STAGES,
        "total s",
        "CPU s",
        "rows/s",
        "peak MiB",
        "bare scan s",
        "ratio",
    ]
    rows = [
        [
            f"{r['lines']:,}",
            f"{r['input_rows']:,}",
            str(r["workers"]),
            *stage_cells(r["stages"], measure.STAGES),
            f"{r['wall']:.1f}",
            f"{r['cpu']:.0f}",
            f"{r['rows_per_second']:,.0f}",
            f"{r['peak_mib']:,.0f}",
            f"{r['scan']:.1f}",
            f"{r['ratio']:.1f}x",
        ]
        for r in runs
    ]
    table = markdown(header, rows)
    if any(r["not_scanned"] for r in runs):
        table += "\n(the bare scan skips .xlsx files, which DuckDB cannot read without an extension)"
    return table


def reference_table(result: dict) -> str:
    columns = ["read", "validate", "phones", "pseudonymize", "audit", "savings", "report", "publish", "write"]
    pipeline = result["pipeline"]
    header = ["run", *columns, "total s", "CPU s", "peak MiB"]
    rows = [
        [
            f"tem run ({pipeline['workers']} workers)",
            *stage_cells(pipeline["stages"], columns),
            f"{pipeline['wall']:.1f}",
            f"{pipeline['cpu']:.0f}",
            f"{pipeline['peak_mib']:,.0f}",
        ],
        [
            "reference.py (1 process)",
            *stage_cells(result["stages"], columns),
            f"{result['wall']:.1f}",
            f"{result['cpu']:.0f}",
            f"{result['peak_mib']:,.0f}",
        ],
    ]
    counts = result["agreement"]["counts"]
    notes = [
        f"{result['lines']:,} lines x 3 months, {pipeline['input_rows']:,} input rows; reference / pipeline = "
        f"{result['speedup']:.1f}x in wall time, {result['cpu'] / pipeline['cpu']:.1f}x in CPU time.",
        "Stages: the pipeline's validate includes phone number parsing (once per distinct number); the reference's "
        "phones is phonenumbers on every cell, its validate the other cells; the reference writes three CSV files "
        "per month and no workbook, and does not pseudonymize.",
        f"Compared: {counts['findings'][0]:,} findings, {counts['savings'][0]:,} savings, {counts['quarantine'][0]:,} "
        f"quarantined cells published by tem run; the reference has {counts['findings'][1]:,}, "
        f"{counts['savings'][1]:,} and {counts['quarantine'][1]:,}: "
        + ("identical." if result["agreement"]["agree"] else "THEY DIFFER (below)."),
    ]
    return markdown(header, rows) + "\n" + "\n".join(notes)


def customers_table(result: dict) -> str:
    header = [
        "customers x months",
        "lines",
        "workers",
        *measure.STAGES,
        "total s",
        "CPU s",
        "s per customer-month",
        "Dagster runs",
        "run s per c-m",
        "step s per c-m",
        "peak MiB",
    ]
    row = [
        f"{result['customers']} x 1",
        f"{result['lines']:,}",
        str(result["workers"]),
        *stage_cells(result["stages"], measure.STAGES),
        f"{result['wall']:.1f}",
        f"{result['cpu']:.0f}",
        f"{result['per_customer_month']:.2f}",
        str(result["dagster_runs"]),
        f"{result['run_seconds_per_cm']:.2f}",
        f"{result['step_seconds_per_cm']:.2f}",
        f"{result['peak_mib']:,.0f}",
    ]
    note = (
        "run s per c-m: the Dagster runs' durations (each customer's contracts run and a customer-month's audit, "
        "savings and publish runs) summed and divided by the customer-months; step s: the same for the steps "
        "inside them; the difference is Dagster's own per-run cost."
    )
    return markdown(header, [row]) + "\n" + note


def verdict(measured: float, target: float, at_most: bool) -> str:
    ok = measured <= target if at_most else measured >= target
    return "pass" if ok else "FAIL"


def summary(results: dict, scale: float) -> str:
    rows = []
    if "scale" in results:
        r = results["scale"]
        size = f"{r['lines']:,} lines x 3 months"
        rows.append(
            [
                "1",
                f"{size}: tem run wall time",
                f"<= {TARGETS['scale_wall']:.0f} s",
                f"{r['wall']:.1f} s",
                verdict(r["wall"], TARGETS["scale_wall"], True),
            ]
        )
        rows.append(
            [
                "1",
                f"{size}: peak memory of the process tree",
                f"<= {TARGETS['scale_peak_mib']:,} MiB (3 GB)",
                f"{r['peak_mib']:,.0f} MiB",
                verdict(r["peak_mib"], TARGETS["scale_peak_mib"], True),
            ]
        )
    if "reference" in results:
        r = results["reference"]
        size = f"{r['lines']:,} lines x 3 months"
        rows.append(
            [
                "2",
                f"{size}: reference time / tem run time",
                f">= {TARGETS['speedup']:.0f}x",
                f"{r['speedup']:.1f}x ({r['wall']:.1f} s / {r['pipeline']['wall']:.1f} s; CPU time "
                f"{r['cpu'] / r['pipeline']['cpu']:.1f}x)",
                verdict(r["speedup"], TARGETS["speedup"], False),
            ]
        )
        counts = r["agreement"]["counts"]
        rows.append(
            [
                "2",
                f"{size}: reference = published findings, savings, quarantine",
                "identical",
                f"{'identical' if r['agreement']['agree'] else 'DIFFERENT'} ({counts['findings'][0]:,} / "
                f"{counts['savings'][0]:,} / {counts['quarantine'][0]:,} rows)",
                "pass" if r["agreement"]["agree"] else "FAIL",
            ]
        )
    if "customers" in results:
        r = results["customers"]
        rows.append(
            [
                "3",
                f"{r['customers']} customers x 1 month x {r['lines']} lines: tem run wall time",
                f"<= {TARGETS['customers_wall']:.0f} s",
                f"{r['wall']:.1f} s ({r['per_customer_month']:.2f} s per customer-month)",
                verdict(r["wall"], TARGETS["customers_wall"], True),
            ]
        )
    if "flatness" in results:
        r = results["flatness"]
        rows.append(
            [
                "4",
                f"peak memory {r['large']['lines']:,} / {r['small']['lines']:,} lines",
                f"<= {TARGETS['flatness']}",
                f"{r['ratio']:.2f} ({r['large']['peak_mib']:,.0f} / {r['small']['peak_mib']:,.0f} MiB)",
                verdict(r["ratio"], TARGETS["flatness"], True),
            ]
        )
    for name, problem in results.get("errors", {}).items():
        rows.append(
            [next(k for k, v in COMPARISONS.items() if v == name), name, "runs", f"error: {problem[:80]}", "FAIL"]
        )
    table = markdown(["#", "comparison", "target", "measured", "result"], rows)
    if scale != 1:
        table += (
            f"\n(scale {scale:g}: sizes are shrunk, so the targets, set for scale 1, do not apply; pass/fail "
            "is shown only to exercise the table)"
        )
    return table


def selected(only: list[str] | None) -> list[str]:
    if not only:
        return list(COMPARISONS.values())
    names = []
    for item in ",".join(only).split(","):
        item = item.strip().lower()
        name = COMPARISONS.get(item, item)
        if name not in COMPARISONS.values():
            raise SystemExit(f"--only: unknown comparison {item!r}; use 1-4 or {', '.join(COMPARISONS.values())}")
        names.append(name)
    return [n for n in COMPARISONS.values() if n in names]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", help="comparisons to run: 1-4 or their names, comma-separated")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every size by this (smoke check: 0.01)")
    parser.add_argument("--workers", type=int, default=None, help="tem run --workers (default: tem's own)")
    parser.add_argument("--workdir", type=Path, default=None, help="where data roots are built (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the data roots, Dagster homes and reference output")
    parser.add_argument("--tem", default=str(DEFAULT_TEM), help=f"the tem command (default: {DEFAULT_TEM})")
    args = parser.parse_args()
    if not 0 < args.scale <= 1:
        parser.error("--scale must be in (0, 1]")
    names = selected(args.only)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tem-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    bench = Bench(args, workdir.resolve())
    results: dict = {"errors": {}}
    # the quickest and the one that checks correctness first; the 200,000-line run last, shared by 1 and 4
    order = [n for n in ("reference", "customers", "flatness", "scale") if n in names]
    try:
        for name in order:
            progress(f"comparison {next(k for k, v in COMPARISONS.items() if v == name)}: {name}")
            try:
                results[name] = {
                    "scale": bench.scale_run,
                    "reference": bench.reference,
                    "customers": bench.many_customers,
                    "flatness": bench.flatness,
                }[name]()
            except RuntimeError as problem:  # RunFailed, or a data root that could not be built
                print(str(problem), file=sys.stderr, flush=True)
                results["errors"][name] = str(problem).splitlines()[0]
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    if "scale" in results or "flatness" in results:
        shown = {bench.lines("scale")} | ({bench.lines("flatness_small")} if "flatness" in results else set())
        runs = sorted((r for r in bench.pipeline_runs.values() if r["lines"] in shown), key=lambda r: r["lines"])
        print("## 1, 4: tem run on customer globex, 3 months\n")
        print(pipeline_table(runs) + "\n")
    if "reference" in results:
        print("## 2: tem run against the plain-Python reference\n")
        print(reference_table(results["reference"]) + "\n")
        if not results["reference"]["agreement"]["agree"]:
            print("\n".join(results["reference"]["agreement"]["differences"]) + "\n")
    if "customers" in results:
        print("## 3: many small customers, one month\n")
        print(customers_table(results["customers"]) + "\n")
    print("## Targets\n")
    print(summary(results, args.scale))
    disagreed = "reference" in results and not results["reference"]["agreement"]["agree"]
    return 1 if results["errors"] or disagreed else 0


if __name__ == "__main__":
    sys.exit(main())
