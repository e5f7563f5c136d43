"""How `tem run` executes its work: Dagster runs, several at a time, in worker processes.

The runs are those of the stages of pipelines/jobs.py (RUN_STAGES): a customer's contracts are one run of
`load_customer_contracts`; a customer-month is a run of `audit_customer_month`, one of `recommend_savings` and one of
`publish_customer_month`, each tagged `tem/stage=<stage>`. Which run waits for which is not written here: it is
derived from the asset graph (`derive_plan`): a run waits for the runs that materialize, for the partitions its
partition mapping names, every parent of its assets that another run holds. With today's stages and graph:

- a month's audit waits for its customer's contracts;
- its savings wait for the contracts, its own audit and the audits of the two months before (their usage is the
  history; the savings asset's three-month partition mapping);
- its publish run waits for its savings and audit, and for the audits and savings of the 11 months before that are
  planned too (the report's 12-month trend reads their charges, findings and savings).

The hand-written plan this replaces also made a month's savings wait for the savings of the month before. The graph
has no such edge (savings read usage, not earlier savings): that wait only served to have every earlier month's
figures in the warehouse before a month's report, which the trend's own mapping now says directly.

Waiting is for order only: a run that fails never stops another customer-month, except that a run is not started
when a run of its own customer-month, or its customer's contracts, failed (`Plan.requires`); savings say themselves
what history is missing, and the trend shows the months it has.

Each worker process keeps its Dagster instance handle and its phone-number and pseudonym caches for every run it
executes; with one worker everything runs in this process, in customer and calendar order. With several, the plan
is derived by the first worker that has loaded the definitions, so that this process never imports Dagster.
"""

from __future__ import annotations

import heapq
import multiprocessing
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field

# Dagster's console log stays out of the terminal (every event is in the instance; the UI shows it); the outcome of
# each run is printed by `tem run` itself
QUIET_LOGGING = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
INTERRUPTED = "interrupted (Ctrl-C): the tem command that executed this run stopped it"


@dataclass(frozen=True)
class StageRun:
    """One Dagster run `tem run` launches: a stage of one partition."""

    customer_id: str
    month: str  # "" for a stage partitioned by customer only (the contracts)
    stage: str  # a RunStage name of pipelines/jobs.py
    tags: tuple[tuple[str, str], ...] = ()  # Dagster run tags, e.g. the privacy request a rebuild answers

    @property
    def scope(self) -> str:
        """The partition, as printed: `globex 2026-09`, or `globex` for the customer's own runs."""
        return f"{self.customer_id} {self.month}" if self.month else self.customer_id

    @property
    def label(self) -> str:
        return f"{self.scope} {self.stage}"


@dataclass
class StageResult:
    ok: bool
    run_id: str | None = None
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: bool = False  # not started: a run it requires failed


@dataclass(frozen=True)
class Plan:
    """Every run to execute, with the runs each must wait for (derived from the asset graph by `derive_plan`)."""

    stages: tuple[str, ...]  # the stage names in RUN_STAGES order: breaks ties in ordering, and prints
    waits: dict[StageRun, frozenset[StageRun]]
    refused: dict[StageRun, str] = field(default_factory=dict)  # runs that cannot run at all, and why

    def order(self, run: StageRun) -> tuple:
        return run.customer_id, run.month, self.stages.index(run.stage)

    def requires(self, run: StageRun) -> list[StageRun]:
        """The runs this one waits for that must also have succeeded for it to start: those of its own
        customer-month and its customer's own (the contracts). Not a fact of the asset graph, a choice: a run with
        its own month's inputs missing can only fail, while one whose other months are missing says so itself
        (savings without their history, a trend without a month)."""
        return sorted(
            (
                before
                for before in self.waits[run]
                if before.customer_id == run.customer_id and before.month in ("", run.month)
            ),
            key=self.order,
        )

    def customer_months(self) -> list[tuple[str, str]]:
        return sorted({(run.customer_id, run.month) for run in self.waits if run.month})


def stage_assets(defs=None) -> list[tuple[str, frozenset]]:
    """RUN_STAGES resolved on the asset graph: (stage name, its asset keys), in order."""
    from pipelines.jobs import RUN_STAGES

    if defs is None:
        from pipelines.definitions import defs
    graph = defs.resolve_asset_graph()
    return [(stage.name, frozenset(stage.selection.resolve(graph))) for stage in RUN_STAGES]


def derive_plan(
    graph, stages: list[tuple[str, frozenset]], plan: dict[str, list[str]], tags: dict[str, str] | None = None
) -> Plan:
    """The runs of every stage for every planned customer (its per-customer stages) and customer-month, each with
    the runs it waits for: for each asset of its stage and each parent of that asset materialized by another run,
    the parent partitions the asset graph's partition mapping names for the run's partition, and the planned runs
    that hold them. Parents no planned run holds (months before the plan, already in the warehouse or not in the
    inbox) are not waited for. Works for any grouping of the assets into stages (`stages`)."""
    from graphlib import CycleError, TopologicalSorter

    from dagster import MultiPartitionsDefinition

    from pipelines.partitions import customer_month_key, month_outside_partitions, split_key

    run_tags = tuple(sorted((tags or {}).items()))
    stage_of: dict = {}
    per_month: dict[str, bool] = {}
    for name, keys in stages:
        for key in keys:
            if key in stage_of:
                raise ValueError(f"asset {key.to_user_string()} is in two stages: {stage_of[key]} and {name}")
            stage_of[key] = name
        partitioned = {type(graph.get(key).partitions_def) for key in keys}
        if len(partitioned) != 1:
            raise ValueError(f"stage {name}: its assets must share one partitions definition")
        per_month[name] = partitioned.pop() is MultiPartitionsDefinition

    def partition_key(run: StageRun):
        return customer_month_key(run.customer_id, run.month) if run.month else run.customer_id

    runs: dict[tuple[str, str, str], StageRun] = {}
    refused: dict[StageRun, str] = {}
    for customer_id, months in plan.items():
        for name, _ in stages:
            for month in sorted(months) if per_month[name] else [""]:
                run = runs[(name, customer_id, month)] = StageRun(customer_id, month, name, run_tags)
                if month and (problem := month_outside_partitions(month)):
                    refused[run] = problem

    keys_of = dict(stages)
    waits: dict[StageRun, frozenset[StageRun]] = {}
    for run in runs.values():
        before: set[StageRun] = set()
        if run not in refused:
            for asset in keys_of[run.stage]:
                for parent in graph.get(asset).parent_keys:
                    if parent not in stage_of:
                        continue  # not materialized by any stage: nothing to wait for
                    mapped = graph.get_parent_partition_keys_for_child(partition_key(run), parent, asset)
                    for key in mapped.partitions_subset.get_partition_keys():
                        customer_id, month = split_key(key) if per_month[stage_of[parent]] else (str(key), "")
                        held_by = runs.get((stage_of[parent], customer_id, month))
                        if held_by is not None and held_by != run:
                            before.add(held_by)
        waits[run] = frozenset(before)
    try:
        tuple(TopologicalSorter(waits).static_order())
    except CycleError as cycle:
        raise ValueError(
            f"the stages make runs wait for each other in a cycle: {[r.label for r in cycle.args[1]]}"
        ) from None
    return Plan(tuple(name for name, _ in stages), waits, refused)


def plan_runs(plan: dict[str, list[str]], tags: dict[str, str] | None = None) -> Plan:
    """The plan for these customers and months (customer -> months) from the definitions (a worker's task)."""
    load_definitions()
    return derive_plan(_worker_state["graph"], _worker_state["stages"], plan, tags)


# Rough relative cost of a run of each stage (an audit reads and checks every input row; savings is one DuckDB query;
# publish writes the workbook), to start first the runs with the longest chain of work still behind them. The asset
# graph says what waits for what, not what each costs; a stage not named here (a new grouping) counts 1.
STAGE_WEIGHT = {"contracts": 1, "audit": 10, "savings": 1, "publish": 4}


def chain_lengths(plan: Plan) -> dict[StageRun, int]:
    """Each run's weight plus that of the heaviest chain of runs waiting on it, directly or not.

    Started in that order (highest first), the work that holds up the most other work goes first: with two
    workers, the third month's audit starts before the first month's savings and report, rather than after."""
    from graphlib import TopologicalSorter

    waiting_on: dict[StageRun, list[StageRun]] = {run: [] for run in plan.waits}
    for run, before in plan.waits.items():
        for required in before:
            waiting_on[required].append(run)
    lengths: dict[StageRun, int] = {}
    for run in reversed(tuple(TopologicalSorter(plan.waits).static_order())):  # every run after those it waits for
        lengths[run] = STAGE_WEIGHT.get(run.stage, 1) + max((lengths[r] for r in waiting_on[run]), default=0)
    return lengths


def in_order(plan: Plan) -> list[StageRun]:
    """Every run after the runs it waits for; otherwise by customer, month and stage (one worker's order)."""
    remaining = {run: set(before) for run, before in plan.waits.items()}
    waiting_on: dict[StageRun, list[StageRun]] = {run: [] for run in plan.waits}
    for run, before in plan.waits.items():
        for required in before:
            waiting_on[required].append(run)
    ready = [(plan.order(run), run) for run, before in remaining.items() if not before]
    heapq.heapify(ready)
    ordered = []
    while ready:
        _, run = heapq.heappop(ready)
        ordered.append(run)
        for later in waiting_on[run]:
            remaining[later].discard(run)
            if not remaining[later]:
                heapq.heappush(ready, (plan.order(later), later))
    return ordered


# Dagster's own wrappers around the error an asset raised: the message worth showing is the cause's
WRAPPER_ERRORS = {
    "DagsterExecutionStepExecutionError",
    "DagsterUserCodeExecutionError",
    "DagsterExecutionInterruptedError",
}


def _innermost(error):
    while error.cause is not None and error.cls_name in WRAPPER_ERRORS:
        error = error.cause
    return error


def _first_line(error) -> str:
    message = (error.message or "").strip()
    prefix = f"{error.cls_name}: " if error.cls_name else ""
    for qualified in (f"dagster._core.definitions.events.{prefix}", f"dagster._core.errors.{prefix}", prefix):
        if message.startswith(qualified):
            message = message[len(qualified) :]
    return message.splitlines()[0].strip() if message else ""


def error_line(error, step: str | None = None) -> str:
    """One line for an error Dagster recorded, without class names: the innermost cause's own message (a `Failure`
    carries our sentence; an operating-system error says what went wrong with which file). Only an error that is
    neither, a defect of the pipeline, is named by its type, which is then the best clue there is."""
    error = _innermost(error)
    first = _first_line(error)
    if error.cls_name in (None, "Failure"):
        return first or "the step failed"
    if first.startswith("[Errno "):  # an OSError and its kind: the message names the problem and the file
        return first.split("] ", 1)[1] if "] " in first else first
    where = f" in step {step}" if step else ""
    what = f"{error.cls_name}: {first}" if first else error.cls_name
    return f"unexpected error{where} ({what}); the run's logs in the Dagster UI have the details"


def failure_messages(result) -> list[str]:
    messages = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            messages.append(error_line(event.step_failure_data.error, event.step_key))
    messages = list(dict.fromkeys(messages))  # the same cause reached several steps: said once
    return messages or ([] if result.success else ["the run failed; open it in the Dagster UI for details"])


def was_interrupted(result) -> bool:
    """Whether Dagster stopped the run because this process received SIGINT (it records the run as failed and
    returns, instead of raising KeyboardInterrupt)."""
    for event in result.all_events:
        error = event.step_failure_data.error if event.is_step_failure and event.step_failure_data else None
        while error is not None:
            if error.cls_name == "DagsterExecutionInterruptedError":
                return True
            error = error.cause
    return False


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


GONE = "the tem process that executed this run is gone (killed or crashed); marked failed by the next tem command"


def fail_orphaned_runs(instance, reason: str = GONE, also: tuple[str, ...] = ()) -> list[str]:
    """Mark failed the runs that a `tem` process on this host started and never finished because it is gone
    (killed, or the machine restarted), and those of the processes in `also` (process tags: this process, after an
    interrupt): left STARTED they would hold run slots for ever, and the queue behind them (the UI's launches, the
    sensor, the schedule) would never start. Returns their run ids."""
    import socket

    from dagster import DagsterRunStatus, RunsFilter

    # NOT_STARTED too: a run execute_in_process created and had not started when its process was killed
    in_progress = [
        DagsterRunStatus.NOT_STARTED,
        DagsterRunStatus.STARTING,
        DagsterRunStatus.STARTED,
        DagsterRunStatus.CANCELING,
    ]
    records = instance.get_run_records(RunsFilter(statuses=in_progress, tags={HOST_TAG: socket.gethostname()}))
    orphans = [
        r.dagster_run
        for r in records
        if r.dagster_run.tags.get(PROCESS_TAG, "") in also or not process_alive(r.dagster_run.tags.get(PROCESS_TAG, ""))
    ]
    for run in orphans:
        instance.report_run_failed(run, reason)
    return [run.run_id for run in orphans]


def load_definitions() -> None:
    """Import the definitions (and the instance's storage modules) and resolve the jobs, once per process: most of
    a worker's start-up, done while `tem` still looks at the inbox and the keys. Nothing is opened or written."""
    if "jobs" in _worker_state:
        return
    import atexit
    import gc

    warnings.filterwarnings("ignore", category=UserWarning, module="dagster")
    # The imports build some 360,000 objects that live as long as the process; the cyclic collector, run some 550
    # times on the way, took 0.4 to 0.5 s of a worker's 2.2 s start. It waits until they are built, then leaves
    # them out of every later collection (gc.freeze), which then only meets a run's own objects.
    collecting = gc.isenabled()
    gc.disable()
    try:
        import pipelines.instance_storage  # noqa: F401 - dagster.yaml's storages, imported now rather than when opened
        from pipelines.definitions import defs
        from pipelines.jobs import RUN_STAGES

        _worker_state.update(
            graph=defs.resolve_asset_graph(),
            stages=stage_assets(defs),
            jobs={stage.name: defs.resolve_job_def(stage.job_name) for stage in RUN_STAGES},
        )
    finally:
        gc.freeze()
        # at exit the frozen objects go back to the collector, so that what they hold in a reference cycle (the
        # instance's SQLite connections, which checkpoint their write-ahead log when closed) is finalized as before
        atexit.register(gc.unfreeze)
        if collecting:
            gc.enable()


def prepare_worker() -> None:
    """The definitions, and the instance opened once per process (a worker does it with its first task, once `tem`
    has set DAGSTER_HOME up); runs that a killed `tem` left STARTED are marked failed first."""
    load_definitions()
    if "instance" in _worker_state:
        return
    instance = open_instance()
    fail_orphaned_runs(instance)
    _worker_state["instance"] = instance


def _end_at_once() -> None:
    """Leave the process without tearing down its modules (Dagster, polars, DuckDB: a second or more): every run
    it executed is committed to the instance and its files are renamed into place, so nothing is left to do."""
    import os
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux to kill this process when the process that started it ends (killed with SIGKILL included), so
    that no worker outlives its `tem run`. SIGKILL, because a worker ignores SIGINT (its `tem` handles Ctrl-C) and
    Dagster points SIGTERM at the SIGINT handler."""
    import ctypes
    import os
    import signal

    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the orphan check at the next command still cleans up
        return
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def prepare_pool_worker(parent_pid: int) -> None:
    """A worker process of `worker_pool`: Ctrl-C is its `tem` process's to handle, it dies with that process, loads
    the definitions now (the instance with its first task), and exits quickly once the pool shuts down."""
    import atexit
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent_pid)
    load_definitions()
    atexit.register(_end_at_once)  # registered last, so it runs first at exit


class RunInterrupted(KeyboardInterrupt):
    """SIGINT reached this process during a run: Dagster stopped the run and recorded it as failed."""


def run_stage(run: StageRun) -> StageResult:
    """Execute one run in this process (also the worker processes' entry point)."""
    prepare_worker()
    from pipelines.jobs import STAGE_TAG
    from pipelines.partitions import customer_month_key, customers_partitions, month_outside_partitions

    started = time.monotonic()
    instance = _worker_state["instance"]
    if run.month and (problem := month_outside_partitions(run.month)):
        return StageResult(False, None, [problem])
    if not run.month:  # the customer's partition is registered by its first run (every month's runs come after)
        instance.add_dynamic_partitions(customers_partitions.name, [run.customer_id])
    result = _worker_state["jobs"][run.stage].execute_in_process(
        partition_key=customer_month_key(run.customer_id, run.month) if run.month else run.customer_id,
        instance=instance,
        raise_on_error=False,
        run_config=QUIET_LOGGING,
        tags={**dict(run.tags), STAGE_TAG: run.stage, **process_tags()},
    )
    if was_interrupted(result):
        raise RunInterrupted(result.run_id)  # Dagster recorded the run as failed; the command stops here
    failed_checks = [c for c in result.get_asset_check_evaluations() if not c.passed]
    ok = result.success and not failed_checks
    problems = (
        []
        if ok
        else failure_messages(result)
        + [f"check {c.check_name} on {c.asset_key.to_user_string()} failed" for c in failed_checks]
    )
    return StageResult(ok, result.run_id, problems, time.monotonic() - started)


def worker_pool(workers: int) -> ProcessPoolExecutor | None:
    """Worker processes for `run_stages`, all started at once so that they import the definitions side by side;
    None for one worker (everything then runs in this process). They are started with SIGINT ignored, so that a
    Ctrl-C while they start up does not print a traceback per worker; `tem` handles it (`stop_workers`)."""
    if workers <= 1:
        return None
    import os
    import signal

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=prepare_pool_worker,
            initargs=(os.getpid(),),
        )
        for _ in range(workers):  # a task per worker makes the pool start them all now, not one at a time on demand
            pool.submit(int)
    finally:
        signal.signal(signal.SIGINT, previous)
    return pool


def stop_workers(pool: ProcessPoolExecutor) -> int:
    """Kill the pool's worker processes at once (their runs stop where they are) and wait until they are gone;
    the number of workers stopped. Their unfinished runs are then orphans for `fail_orphaned_runs`."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # the pool has no public handle on them
    for process in processes:
        if process.is_alive():
            process.kill()
    for process in processes:
        process.join(timeout=30)
    pool.shutdown(wait=False, cancel_futures=True)
    return len(processes)


def fail_interrupted_runs() -> int:
    """After Ctrl-C: mark failed the runs left unfinished by this process and its (stopped) workers."""
    with open_instance() as instance:
        return len(fail_orphaned_runs(instance, INTERRUPTED, also=(process_tags()[PROCESS_TAG],)))


def make_plan(
    plan: dict[str, list[str]], pool: ProcessPoolExecutor | None, tags: dict[str, str] | None = None, workers: int = 1
) -> Plan:
    """The plan, derived in a worker when there are workers (this process then never imports Dagster). Meanwhile
    the workers open the instance (`prepare_worker`), which they would otherwise do with their first run: the
    first run waits for the plan, the second for the first."""
    if pool is None:
        return plan_runs(plan, tags)
    planned = pool.submit(plan_runs, plan, tags)
    for _ in range(workers):  # a worker that gets two does the second at once; one that fails fails its first run
        pool.submit(prepare_worker)
    return planned.result()


@contextmanager
def interrupt_record():
    """A check of whether SIGINT reached this process since the last check, whoever handled it: during a run
    Dagster catches it, interrupts the run at its next step boundary and forgets it (and DuckDB may take it as
    an interruption of its query); the signal wake-up fd records every signal, whatever the handler."""
    import os
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)

    def interrupted() -> bool:
        try:
            return signal.SIGINT in os.read(read_end, 512)
        except BlockingIOError:
            return False

    try:
        yield interrupted
    finally:
        signal.set_wakeup_fd(previous)
        os.close(read_end)
        os.close(write_end)


def run_stages(
    plan: Plan, on_finished, pool: ProcessPoolExecutor | None = None, workers: int = 1
) -> dict[StageRun, StageResult]:
    """Run every planned run once the runs it waits for have finished, at most `workers` at a time on the pool
    (from `worker_pool(workers)`; without one, in this process), and call on_finished(run, result) as each one
    ends. A run whose requirement failed is settled as not run, a refused one as failed, without running."""
    results: dict[StageRun, StageResult] = {}

    def settle(run: StageRun, result: StageResult) -> None:
        results[run] = result
        on_finished(run, result)

    def startable(run: StageRun) -> bool:
        return all(before in results for before in plan.waits[run])

    def settled_without_running(run: StageRun) -> bool:
        if run in plan.refused:
            settle(run, StageResult(False, None, [plan.refused[run]]))
            return True
        failed = [before for before in plan.requires(run) if not results[before].ok]
        if failed:
            settle(run, StageResult(False, None, [f"not run: its {failed[0].stage} run failed"], skipped=True))
            return True
        return False

    if pool is None:
        with interrupt_record() as interrupted:
            for run in in_order(plan):  # every wait is met in this order
                if not settled_without_running(run):
                    settle(run, run_stage(run))
                    if interrupted():  # Ctrl-C during the run, which Dagster or a library swallowed
                        raise RunInterrupted if not results[run].ok else KeyboardInterrupt
        return results

    # the longest chain of work first; then oldest months first, and within a month in stage order
    lengths = chain_lengths(plan)
    pending = sorted(plan.waits, key=lambda r: (-lengths[r], r.month, plan.stages.index(r.stage), r.customer_id))
    running: dict[Future, StageRun] = {}
    while pending or running:
        for run in list(pending):
            if len(running) >= workers:
                break
            if startable(run):
                pending.remove(run)
                if not settled_without_running(run):
                    running[pool.submit(run_stage, run)] = run
        if not running:
            if any(startable(r) for r in pending):
                continue  # settling a run without running it let others start
            if pending:
                raise RuntimeError(f"runs wait for runs that are not planned: {[r.label for r in pending]}")
            break
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            run = running.pop(future)
            try:
                settle(run, future.result())
            except Exception:  # noqa: BLE001 - a worker that died: that run failed, others go on
                settle(run, StageResult(False, None, ["the worker process running it ended unexpectedly"]))
    return results
