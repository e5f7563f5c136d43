"""How `tem run` executes its work: Dagster runs, several at a time, in worker processes.

A customer's contracts are one run of `load_customer_contracts`; a customer-month is three runs of
`reconcile_customer_month`, each materializing a part of its assets:

- audit: ingest (roster, invoices, usage and their checks), line_month_usage, findings, quarantine.csv, findings.csv;
- savings: the savings asset;
- publish: savings.csv, report.xlsx and the delivery.

Split there, months run side by side and wait only for what they read: a month's audit waits for its customer's
contracts; its savings wait for its own audit, the audits of the two months before (their usage is the history)
and the savings of the month before (so that savings, and with them every earlier month, are done in order);
its publish run waits for its savings, after which every earlier month's figures that the Trend sheet reads are
in the warehouse. Waiting is for order only: a run that fails never stops another customer-month, except that a
customer-month's next part is not run when its previous part failed (savings say themselves what history is
missing).

Each worker process keeps its Dagster instance handle and its phone-number and pseudonym caches for every run it
executes; with one worker everything runs in this process, in customer and calendar order.
"""

from __future__ import annotations

import multiprocessing
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace

CONTRACTS, AUDIT, SAVINGS, PUBLISH = "contracts", "audit", "savings", "publish"
PARTS = (CONTRACTS, AUDIT, SAVINGS, PUBLISH)  # a customer-month's chain, in order
QUIET_LOGGING = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class Stage:
    customer_id: str
    month: str  # "" for the customer's contracts
    part: str
    tags: tuple[tuple[str, str], ...] = ()  # Dagster run tags, e.g. the privacy request a rebuild answers

    @property
    def order(self) -> tuple:
        return self.customer_id, self.month, PARTS.index(self.part)

    @property
    def label(self) -> str:
        return " ".join(name for name in (self.customer_id, self.month, self.part) if name)  # no month: contracts


@dataclass
class StageResult:
    ok: bool
    run_id: str | None = None
    problems: list[str] = field(default_factory=list)


def requirement(stage: Stage) -> Stage | None:
    """The stage that must have succeeded for this one to run at all."""
    if stage.part == CONTRACTS:
        return None
    if stage.part == AUDIT:
        return replace(stage, month="", part=CONTRACTS)
    return replace(stage, part=PARTS[PARTS.index(stage.part) - 1])


def plan_stages(plan: dict[str, list[str]], tags: dict[str, str] | None = None) -> dict[Stage, set[Stage]]:
    """Every stage of every planned customer and customer-month -> the stages that must have finished first."""
    from reports.rules.savings_rules import history_months

    run_tags = tuple(sorted((tags or {}).items()))
    waits: dict[Stage, set[Stage]] = {}
    for customer_id, months in plan.items():
        planned = sorted(months)
        waits[Stage(customer_id, "", CONTRACTS, run_tags)] = set()
        for index, month in enumerate(planned):
            for part in (AUDIT, SAVINGS, PUBLISH):
                stage = Stage(customer_id, month, part, run_tags)
                waits[stage] = {requirement(stage)}
            savings = waits[Stage(customer_id, month, SAVINGS, run_tags)]
            savings |= {Stage(customer_id, m, AUDIT, run_tags) for m in history_months(month)
                        if m in planned and m != month}  # fmt: skip
            if index:
                savings.add(Stage(customer_id, planned[index - 1], SAVINGS, run_tags))
    return waits


# Rough relative cost of each part (an audit reads and checks every input row; savings is one DuckDB query; publish
# writes the workbook), to start first the stages with the longest chain of work still behind them.
PART_WEIGHT = {CONTRACTS: 1, AUDIT: 10, SAVINGS: 1, PUBLISH: 4}


def chain_lengths(waits: dict[Stage, set[Stage]]) -> dict[Stage, int]:
    """Each stage's weight plus that of the heaviest chain of stages waiting on it, directly or not.

    Started in that order (highest first), the work that holds up the most other work goes first: with two
    workers, the third month's audit starts before the first month's savings and report, rather than after."""
    waiting_on: dict[Stage, list[Stage]] = {stage: [] for stage in waits}
    for stage, before in waits.items():
        for required in before:
            waiting_on.setdefault(required, []).append(stage)
    lengths: dict[Stage, int] = {}
    for stage in sorted(waits, key=lambda s: s.order, reverse=True):  # every stage waits only on earlier ones
        lengths[stage] = PART_WEIGHT[stage.part] + max((lengths[s] for s in waiting_on[stage]), default=0)
    return lengths


# Dagster's own wrappers around the error an asset raised: the message worth showing is the cause's
WRAPPER_ERRORS = {"DagsterExecutionStepExecutionError", "DagsterUserCodeExecutionError", "DagsterExecutionInterruptedError"}


def error_line(error) -> str:
    """One line for an error Dagster recorded: the innermost cause's own message, without class paths (a
    `Failure` carries our sentence; an unexpected error keeps its type, which is part of what it says)."""
    while error.cause is not None and error.cls_name in WRAPPER_ERRORS:
        error = error.cause
    message = (error.message or "").strip()
    prefix = f"{error.cls_name}: " if error.cls_name else ""
    for qualified in (f"dagster._core.definitions.events.{prefix}", f"dagster._core.errors.{prefix}", prefix):
        if message.startswith(qualified):
            message = message[len(qualified):]
    first = message.splitlines()[0].strip() if message else ""
    if error.cls_name in (None, "Failure"):
        return first or "the step failed"
    return f"{error.cls_name}: {first}" if first else error.cls_name


def failure_messages(result) -> list[str]:
    messages = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            step = event.step_key or "a step"
            line = error_line(event.step_failure_data.error)
            messages.append(line if event.step_failure_data.error.cls_name == "Failure" else f"step {step}: {line}")
    return messages or ([] if result.success else ["the run failed; open it in the Dagster UI for details"])


_worker_state: dict = {}


def open_instance():
    """The Dagster instance at DAGSTER_HOME, opened under a file lock: the first process to open a fresh instance
    creates its SQLite storage, and two doing it at once would both stamp its schema version."""
    import fcntl
    import os
    from pathlib import Path

    from dagster import DagsterInstance

    with open(Path(os.environ["DAGSTER_HOME"]) / ".tem-instance.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return DagsterInstance.get()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


HOST_TAG, PROCESS_TAG = "tem/host", "tem/process"


def _process_start(pid: int) -> str | None:
    """When the process started (clock ticks since boot, from /proc), which tells a live pid from a reused one."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def process_tags() -> dict[str, str]:
    """Run tags naming the process that executes a run, so a later command can tell that it is gone."""
    import os
    import socket

    return {HOST_TAG: socket.gethostname(), PROCESS_TAG: f"{os.getpid()}:{_process_start(os.getpid())}"}


def process_alive(tag: str) -> bool:
    pid, _, start = tag.partition(":")
    return pid.isdigit() and _process_start(int(pid)) == start


def fail_orphaned_runs(instance) -> list[str]:
    """Mark failed the runs that a `tem` process on this host started and never finished because it is gone
    (killed, or the machine restarted): left STARTED they would hold run slots for ever, and the queue behind
    them (the UI's launches, the sensor, the schedule) would never start. Returns their run ids."""
    import socket

    from dagster import DagsterRunStatus, RunsFilter

    in_progress = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
    records = instance.get_run_records(RunsFilter(statuses=in_progress, tags={HOST_TAG: socket.gethostname()}))
    orphans = [r.dagster_run for r in records if not process_alive(r.dagster_run.tags.get(PROCESS_TAG, ""))]
    for run in orphans:
        instance.report_run_failed(run, "the tem process that executed this run is gone (killed or crashed); "
                                        "marked failed by the next tem command")  # fmt: skip
    return [run.run_id for run in orphans]


def prepare_worker() -> None:
    """Import the definitions and open the instance once per process (a worker does it while the plan starts);
    runs that a killed `tem` left STARTED are marked failed first."""
    if _worker_state:
        return
    warnings.filterwarnings("ignore", category=UserWarning, module="dagster")
    from dagster import AssetSelection

    from pipelines.definitions import defs
    from pipelines.jobs import CONTRACTS_JOB, RECONCILE_JOB

    reconcile = defs.resolve_job_def(RECONCILE_JOB)
    graph = defs.resolve_asset_graph()
    after_savings = AssetSelection.assets("savings").downstream().resolve(graph)
    job_keys = set(reconcile.asset_layer.selected_asset_keys)
    savings = {key for key in job_keys if key.to_user_string() == "savings"}
    instance = open_instance()
    fail_orphaned_runs(instance)
    _worker_state.update(
        instance=instance,
        contracts=defs.resolve_job_def(CONTRACTS_JOB),
        reconcile=reconcile,
        selection={AUDIT: sorted(job_keys - after_savings), SAVINGS: sorted(savings),
                   PUBLISH: sorted((job_keys & after_savings) - savings)},  # fmt: skip
    )


def _end_at_once() -> None:
    """Leave the process without tearing down its modules (Dagster, polars, DuckDB: a second or more): every run
    it executed is committed to the instance and its files are renamed into place, so nothing is left to do."""
    import os
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux to end this process when the process that started it ends (killed with SIGKILL included), so
    that no worker outlives its `tem run`."""
    import ctypes
    import os
    import signal

    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the orphan check at the next command still cleans up
        return
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def prepare_pool_worker(parent_pid: int) -> None:
    """A worker process of `worker_pool`: it dies with its parent, loads the definitions now, and exits quickly
    once the pool shuts down."""
    import atexit

    die_with_parent(parent_pid)
    prepare_worker()
    atexit.register(_end_at_once)  # registered last, so it runs first at exit


def run_stage(stage: Stage) -> StageResult:
    """Execute one stage as a Dagster run in this process (also the worker processes' entry point)."""
    prepare_worker()
    from pipelines.partitions import customer_month_key, customers_partitions, month_outside_partitions

    if stage.part == CONTRACTS:  # the customer's partition is registered first (every month's runs come after)
        _worker_state["instance"].add_dynamic_partitions(customers_partitions.name, [stage.customer_id])
        result = _worker_state["contracts"].execute_in_process(
            partition_key=stage.customer_id, instance=_worker_state["instance"], raise_on_error=False,
            run_config=QUIET_LOGGING, tags={**dict(stage.tags), **process_tags()},
        )  # fmt: skip
    elif problem := month_outside_partitions(stage.month):
        return StageResult(False, None, [problem])
    else:
        result = _worker_state["reconcile"].execute_in_process(
            partition_key=customer_month_key(stage.customer_id, stage.month),
            instance=_worker_state["instance"],
            asset_selection=_worker_state["selection"][stage.part],
            raise_on_error=False,
            run_config=QUIET_LOGGING,
            tags={**dict(stage.tags), **process_tags()},
        )
    failed_checks = [c for c in result.get_asset_check_evaluations() if not c.passed]
    ok = result.success and not failed_checks
    problems = [] if ok else failure_messages(result) + [
        f"check {c.check_name} on {c.asset_key.to_user_string()} failed" for c in failed_checks
    ]
    return StageResult(ok, result.run_id, problems)


def worker_pool(workers: int) -> ProcessPoolExecutor | None:
    """Worker processes for `run_stages`, all started at once so that they import the definitions side by side;
    None for one worker (everything then runs in this process)."""
    if workers <= 1:
        return None
    import os

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=prepare_pool_worker, initargs=(os.getpid(),))  # fmt: skip
    for _ in range(workers):  # a task per worker makes the pool start them all now, not one at a time on demand
        pool.submit(int)
    return pool


def run_stages(waits: dict[Stage, set[Stage]], on_finished, pool: ProcessPoolExecutor | None = None,
               workers: int = 1) -> dict[Stage, StageResult]:  # fmt: skip
    """Run every stage once the stages it waits for have finished, at most `workers` at a time on the pool (from
    `worker_pool(workers)`; without one, in this process), and call on_finished(stage, result) as each one ends.
    A stage whose requirement failed is settled as not run."""
    results: dict[Stage, StageResult] = {}

    def settle(stage: Stage, result: StageResult) -> None:
        results[stage] = result
        on_finished(stage, result)

    def startable(stage: Stage) -> bool:
        return all(before in results for before in waits[stage])

    def skipped(stage: Stage) -> bool:
        required = requirement(stage)
        if required is not None and not results[required].ok:
            settle(stage, StageResult(False, None, [f"not run: its {required.part} run failed"]))
            return True
        return False

    if pool is None:
        for stage in sorted(waits, key=lambda s: s.order):  # every wait is met in this order
            if not skipped(stage):
                settle(stage, run_stage(stage))
        return results

    # the longest chain of work first; then oldest months first, and within a month in chain order
    lengths = chain_lengths(waits)
    pending = sorted(waits, key=lambda s: (-lengths[s], s.month, PARTS.index(s.part), s.customer_id))
    running: dict[Future, Stage] = {}
    while pending or running:
        for stage in list(pending):
            if len(running) >= workers:
                break
            if startable(stage):
                pending.remove(stage)
                if not skipped(stage):
                    running[pool.submit(run_stage, stage)] = stage
        if not running:
            if any(startable(s) for s in pending):
                continue  # settling a skipped stage let others start
            if pending:
                raise RuntimeError(f"stages wait for stages that are not planned: {[s.label for s in pending]}")
            break
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            stage = running.pop(future)
            try:
                settle(stage, future.result())
            except Exception as problem:  # noqa: BLE001 - a worker that died: that stage failed, others go on
                settle(stage, StageResult(False, None, [f"the worker process failed: {type(problem).__name__}"]))
    return results
