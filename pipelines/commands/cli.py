"""`tem`: the command line of the TEM pipeline.

    tem run [--data-root DIR] [--customer ID]... [--month YYYY-MM]... [--workers N]
    tem sample-data [--data-root DIR] [--seed N] [--lines N]
    tem ui [--data-root DIR] [--port N]
    tem privacy export|erase|log ...   (pipelines/commands/privacy.py)
    tem keys rotate|migrate ...        (pipelines/commands/keys.py)

`tem run` executes the same Dagster definitions the UI shows, as the runs of the stages of pipelines/jobs.py (a
customer's contracts, then per customer-month an audit, a savings and a publish run; see
pipelines/commands/runner.py), several at a time, recorded in the Dagster instance at DAGSTER_HOME (default:
<data root>/.dagster). It prints a plan line, one line per finished run (a progress bar too on a terminal) and a
summary; Dagster's own log stays in the instance, where the UI shows it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from reports.layout import DataRoot, configured_data_root
from schemas.clock import InvalidClock, pinned_today
from schemas.names import InvalidName, validate_id, validate_month

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
MIN_SAMPLE_LINES, MAX_SAMPLE_LINES = 25, 500_000


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


class Interrupted(Exception):
    """Ctrl-C (SIGINT): the one line to print; exit status 130."""


def resolve_data_root(option: str | None) -> DataRoot:
    chosen = option or str(configured_data_root())
    return DataRoot.at(chosen)


def existing_data_root(option: str | None, inbox_elsewhere: bool = False) -> DataRoot:
    """The data root of a command that reads one, refused (UsageError, before anything is written) when it does not
    exist or holds neither inbox/ nor customers/: a mistyped --data-root must not become a new, empty data root
    with a Dagster instance in it. With `inbox_elsewhere` (an S3 inbox, mirrored into the data root by the command
    itself) the data root may still be empty or missing."""
    data_root = resolve_data_root(option)
    path, where = data_root.path, "check --data-root or TEM_DATA_ROOT"
    if inbox_elsewhere and not path.is_file():
        return data_root
    if not path.exists():
        raise UsageError(f"data root {path} does not exist ({where})")
    if not path.is_dir():
        raise UsageError(f"data root {path} is not a folder ({where})")
    if not ((path / "inbox").is_dir() or (path / "customers").is_dir()):
        raise UsageError(f"{path} is not a data root: it has neither inbox/ nor customers/ ({where})")
    return data_root


def s3_inbox() -> bool:
    return (os.environ.get("TEM_INBOX") or "local") != "local"


def point_at(data_root: DataRoot) -> None:
    """Point the Dagster definitions and instance of this process, and of the workers it starts, at this data root
    (before they are imported); nothing is written."""
    os.environ["TEM_DATA_ROOT"] = str(data_root.path)
    if not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = str(data_root.path / ".dagster")


def prepare_environment(data_root: DataRoot) -> None:
    """Point the Dagster definitions and instance at this data root (before they are imported), and create the
    instance's folder and settings when missing."""
    point_at(data_root)
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    dagster_home.mkdir(parents=True, exist_ok=True)
    instance_settings = dagster_home / "dagster.yaml"
    if not instance_settings.exists():
        shutil.copyfile(REPOSITORY_ROOT / "dagster.yaml", instance_settings)


@dataclass
class RunOutcome:
    customer_id: str
    month: str | None
    ok: bool
    problems: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.customer_id} {self.month}" if self.month else self.customer_id


def select_partitions(data_root: DataRoot, customers: list[str], months: list[str]) -> dict[str, list[str]]:
    """customer -> months to run: every drop in the inbox, narrowed by --customer and --month."""
    for customer_id in customers:
        validate_id(customer_id)
    for month in months:
        validate_month(month)
    available = {c: data_root.months(c) for c in data_root.customers()}
    available = {c: m for c, m in available.items() if m}
    if customers:
        unregistered = [c for c in customers if not data_root.customer_file(c).is_file()]
        if unregistered:
            raise UsageError(
                f"unknown customer(s): {', '.join(unregistered)} (no customers/<id>/customer.yaml under "
                f"{data_root.path})"
            )
        unknown = [c for c in customers if c not in available]
        if unknown:
            raise UsageError(f"no inbox drops for customer(s): {', '.join(unknown)} under {data_root.path / 'inbox'}")
        available = {c: available[c] for c in customers}
    if months:
        available = {c: [m for m in ms if m in months] for c, ms in available.items()}
        available = {c: ms for c, ms in available.items() if ms}
        if not available:
            raise UsageError(f"no inbox drops for month(s): {', '.join(months)}")
    if not available:
        raise UsageError(f"nothing to run: no inbox/<customer>/<YYYY-MM>/ drops under {data_root.path}")
    return {customer_id: with_history(data_root, customer_id, selected) for customer_id, selected in available.items()}


def with_history(data_root: DataRoot, customer_id: str, selected: list[str]) -> list[str]:
    """The selected months plus the months of their savings history (history_months, the one statement of the rule;
    tests/assets/test_runner.py checks that the savings asset's partition mapping names the same months) that are in the
    inbox but not reconciled yet; in calendar order so history is built first."""
    from reports.rules.history import history_months

    in_inbox = set(data_root.months(customer_id))
    months = set(selected)
    for month in selected:
        months.update(
            m
            for m in history_months(month)
            if m != month
            and m in in_inbox
            and not data_root.warehouse_table(customer_id, m, "line_month_usage").exists()
        )
    return sorted(months)


def worker_count(option: int | None) -> int:
    chosen = option if option is not None else os.environ.get("TEM_WORKERS") or os.cpu_count() or 1
    try:
        workers = int(chosen)
    except ValueError:
        raise UsageError(f"TEM_WORKERS must be a whole number, not {chosen!r}") from None
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    return workers


def command_run(args: argparse.Namespace) -> int:
    from pipelines.commands.keys import check_run_keys
    from pipelines.commands.runner import stop_workers, worker_pool
    from reports.privacy import processing_log

    started = time.monotonic()
    data_root = existing_data_root(args.data_root, inbox_elsewhere=s3_inbox())
    workers = worker_count(args.workers)
    point_at(data_root)
    # the workers import the definitions (about 2 s) while this process looks at the inbox and the keys. The month
    # partitions start at the inbox's first month when a process loads the definitions, so with an S3 inbox, which
    # select_partitions_from_inbox mirrors first, the workers are started after it (by `execute`)
    pool = None if s3_inbox() else worker_pool(min(workers, drops_at_most(data_root, args)))
    try:
        plan = select_partitions_from_inbox(data_root, args)  # quick: no Dagster in this process
        problems = check_run_keys(data_root, sorted(plan))  # every customer's key, before anything is written
    except BaseException:
        if pool is not None:
            stop_workers(pool)
        raise
    if problems:
        if pool is not None:
            stop_workers(pool)
        for problem in problems:
            print(f"tem run: {problem}", file=sys.stderr)
        detail = problems[0] if len(problems) == 1 else f"{problems[0]} (and {len(problems) - 1} more)"
        try:
            detail = processing_log.check_free_text(detail)
        except ValueError:
            detail = "a customer's key cannot be used"
        processing_log.append(
            data_root.path,
            "run",
            customer=next(iter(plan)) if len(plan) == 1 else None,
            months=[],
            request=None,
            counts={"customers": len(plan), "customer_months": 0, "failed": 0},
            outcome="refused",
            detail=detail,
        )
        return 1
    prepare_environment(data_root)
    try:
        execution = execute(data_root, plan, workers, pool=pool)
    except Interrupted:
        processing_log.append(
            data_root.path,
            "run",
            customer=next(iter(plan)) if len(plan) == 1 else None,
            months=sorted({m for months in plan.values() for m in months}),
            request=None,
            counts={"customers": len(plan), "customer_months": sum(map(len, plan.values())), "failed": 0},
            outcome="failed",
            detail="interrupted (Ctrl-C)",
        )
        raise
    outcomes = execution.outcomes
    failed = [o for o in outcomes if not o.ok]
    processing_log.append(
        data_root.path,
        "run",
        customer=next(iter(plan)) if len(plan) == 1 else None,
        months=sorted({o.month for o in outcomes if o.month}),
        request=None,
        counts={"customers": len(plan), "customer_months": len(outcomes), "failed": len(failed)},
        outcome="failed" if failed else "done",
    )
    return report(execution, data_root, time.monotonic() - started)


@dataclass
class Execution:
    plan: object  # pipelines.commands.runner.Plan
    results: dict  # StageRun -> StageResult
    outcomes: list[RunOutcome]


def execute_plan(
    data_root: DataRoot, plan: dict[str, list[str]], workers: int | None = None, tags: dict[str, str] | None = None
) -> list[RunOutcome]:
    """Run the planned customer-months (customer -> months), printing a line per run; their outcomes."""
    return execute(data_root, plan, workers, tags).outcomes


def execute(
    data_root: DataRoot,
    plan: dict[str, list[str]],
    workers: int | None = None,
    tags: dict[str, str] | None = None,
    display: "RunDisplay | None" = None,
    pool=None,
) -> Execution:
    """Run the planned customer-months in worker processes (never more than there are customer-months, or those of
    `pool`, already started, which this shuts down). Ctrl-C stops the workers, marks their unfinished runs failed and
    raises Interrupted."""
    import signal

    from pipelines.commands.runner import (
        RunInterrupted,
        fail_interrupted_runs,
        make_plan,
        run_stages,
        stop_workers,
        worker_pool,
    )

    prepare_environment(data_root)
    runnable = {customer_id: sorted(months) for customer_id, months in plan.items() if months}
    workers = min(worker_count(workers), max(1, sum(map(len, runnable.values()))))
    display = display or RunDisplay()
    try:
        display.loading("Loading the pipeline definitions…")
        if pool is None:
            pool = worker_pool(workers)
        stage_plan = make_plan(runnable, pool, tags, workers)
        display.start(plan_line(stage_plan, workers), stage_plan)
        results = run_stages(stage_plan, display.finished, pool, workers)
    except KeyboardInterrupt as interrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not cut the clean-up short
        display.close()
        stopped = stop_workers(pool) if pool is not None else 0
        pool = None
        marked = fail_interrupted_runs() + (1 if isinstance(interrupt, RunInterrupted) else 0)
        workers_note = f"stopped {stopped} worker(s), " if stopped else ""
        raise Interrupted(f"interrupted: {workers_note}{marked} unfinished run(s) marked failed") from None
    finally:
        display.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return Execution(stage_plan, results, outcomes_of(stage_plan, results))


def outcomes_of(plan, results: dict) -> list[RunOutcome]:
    """One outcome per customer-month: ok when every run of it and of its customer succeeded; its problems are those
    of the runs that failed (not of those then not run). A customer-month with a run not settled has none."""
    outcomes = []
    for customer_id, month in plan.customer_months():
        own = sorted(
            (run for run in plan.waits if run.customer_id == customer_id and run.month in ("", month)), key=plan.order
        )
        if not all(run in results for run in own):
            continue
        failed = [run for run in own if not results[run].ok]
        problems = [p for run in failed if not results[run].skipped for p in results[run].problems]
        outcomes.append(RunOutcome(customer_id, month, not failed, list(dict.fromkeys(problems))))
    return outcomes


def plan_line(plan, workers: int) -> str:
    customers = {run.customer_id for run in plan.waits}
    customer_months = plan.customer_months()
    months = sorted({month for _, month in customer_months})
    span = f" ({months[0]} to {months[-1]})" if len(months) > 1 else f" ({months[0]})" if months else ""
    return (
        f"Plan: {len(customers)} customer(s), {len(customer_months)} customer-month(s){span}, "
        f"{len(plan.waits)} runs, {workers} at a time"
    )


def duration(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 60 else f"{int(seconds // 60)}m {int(seconds % 60):02d}s"


class RunDisplay:
    """What a command that executes runs prints on stdout: the plan line, then one line per finished run
    (`[ 7/39] globex 2026-09 audit ok 4.1s`), and, on a terminal, a progress bar below them (rich); plain lines
    when stdout is not a terminal (CI logs). Failures are detailed by the summary, once each."""

    STYLES = {"ok": "green", "FAILED": "bold red", "not run": "yellow"}

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.terminal = self.stream.isatty() and os.environ.get("TERM") != "dumb"
        self.total = self.done = 0
        self.widths = (0, 0)
        self._console = None
        self._live = None  # a rich Status (while loading) or Progress (while running)
        self._task = None

    def _rich_console(self):
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False)
        return self._console

    def loading(self, message: str) -> None:
        if self.terminal:
            self._live = self._rich_console().status(message)
            self._live.start()

    def start(self, line: str, plan) -> None:
        self.close()
        self.total, self.done = len(plan.waits), 0
        self.widths = (max((len(r.scope) for r in plan.waits), default=0), max(map(len, plan.stages), default=0))
        print(line, file=self.stream, flush=True)
        if self.terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._live = Progress(
                TextColumn("runs"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self._rich_console(),
                transient=True,
            )
            self._task = self._live.add_task("runs", total=self.total)
            self._live.start()

    def finished(self, run, result) -> None:
        self.done += 1
        status = "ok" if result.ok else "not run" if result.skipped else "FAILED"
        counter = f"[{self.done:>{len(str(self.total))}}/{self.total}]"
        head = f"{counter} {run.scope:<{self.widths[0]}} {run.stage:<{self.widths[1]}}"
        tail = "" if result.skipped else f" {result.seconds:.1f}s"
        if self._task is not None:
            from rich.text import Text

            self._live.console.print(Text.assemble(head, " ", (status, self.STYLES[status]), tail))
            self._live.advance(self._task)
        else:
            print(f"{head} {status}{tail}", file=self.stream, flush=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live, self._task = None, None


def drops_at_most(data_root: DataRoot, args: argparse.Namespace) -> int:
    """An upper bound on the customer-months `tem run` will run, from the local inbox's folder names alone (a
    month's savings history adds only months in the inbox, so --month does not narrow it): workers are started
    before the plan is known, and never more of them than this."""
    customers = [c for c in data_root.customers() if not args.customer or c in args.customer]
    return sum(len(data_root.months(customer_id)) for customer_id in customers)


def mirror_s3_inbox(data_root: DataRoot) -> None:
    """With an S3 inbox, mirror it into the data root (a local inbox is the data root itself: nothing to do). The
    definitions' month partitions start at the inbox's first month when a process loads them, so this comes before
    any process that loads them starts."""
    if not s3_inbox():
        return
    from pipelines.resources import InboxResource
    from reports.publishing.delivery import DeliveryError

    try:
        InboxResource.from_environment(deferred=False).sync(data_root)
    except DeliveryError as problem:
        raise UsageError(str(problem)) from None


def select_partitions_from_inbox(data_root: DataRoot, args: argparse.Namespace) -> dict[str, list[str]]:
    mirror_s3_inbox(data_root)
    plan = select_partitions(data_root, args.customer or [], args.month or [])
    for ignored in data_root.ignored_inbox_entries():
        print(f"warning: ignoring {ignored}: not a valid customer id or YYYY-MM month folder", file=sys.stderr)
    return plan


def _scoped(problem: str, customer_id: str, month: str) -> tuple[str, bool]:
    """A run's problem without the customer (and month) it starts with, since the FAILED line names them; and
    whether it is the customer's as a whole (it names the customer only: a contract, a key)."""
    if month and problem.startswith(f"{customer_id} {month}: "):
        return problem[len(f"{customer_id} {month}: ") :], False
    for prefix in (f"{customer_id}: ", f"customer {customer_id}: "):
        if problem.startswith(prefix):
            return problem[len(prefix) :], True
    return problem, not month


def failure_lines(plan, results: dict) -> list[str]:
    """One line per failure (`FAILED globex 2026-07: invoices/x.xlsx: ...`): runs not run because another failed
    are not repeated, and a problem of the customer's as a whole (a broken contract) is one line for the customer,
    whatever the number of its months it stopped."""
    found: dict[tuple[str, str], list[str]] = {}  # (customer, problem) -> months ([] for the customer's)
    for run in sorted(results, key=plan.order):
        result = results[run]
        if result.ok or result.skipped:
            continue
        for problem in result.problems:
            message, customers = _scoped(problem, run.customer_id, run.month)
            months = found.setdefault((run.customer_id, message), [])
            if not customers and run.month not in months:
                months.append(run.month)
    return [
        f"FAILED {customer_id}{' ' + ', '.join(months) if months else ''}: {message}"
        for (customer_id, message), months in found.items()
    ]


def report(execution: Execution, data_root: DataRoot, seconds: float) -> int:
    """The summary: how many customer-months were published in what time, where, and every failure, once."""
    outcomes = execution.outcomes
    failed = [o for o in outcomes if not o.ok]
    succeeded = [o for o in outcomes if o.ok]
    print()
    print(
        f"Finished {len(execution.results)} runs in {duration(seconds)}: {len(succeeded)} customer-month(s) "
        f"published, {len(failed)} failed."
    )
    if succeeded:
        print(f"Published files are under {data_root.path / 'published'}/<customer>/<YYYY-MM>/:")
        for outcome in succeeded:
            folder = data_root.published_dir(outcome.customer_id, outcome.month)
            files = ", ".join(sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")))
            print(f"  {folder}  ({files})")
    sys.stdout.flush()
    for line in failure_lines(execution.plan, execution.results):
        print(line, file=sys.stderr)
    sys.stderr.flush()
    print(f"Runs are recorded in the Dagster instance at DAGSTER_HOME={os.environ['DAGSTER_HOME']}")
    return 1 if failed else 0


def command_sample_data(args: argparse.Namespace) -> int:
    from reports.sample_generator import write_sample_data

    data_root = resolve_data_root(args.data_root)
    if args.lines is not None and not MIN_SAMPLE_LINES <= args.lines <= MAX_SAMPLE_LINES:
        raise UsageError(f"--lines must be between {MIN_SAMPLE_LINES} and {MAX_SAMPLE_LINES:,}")
    # the ground truth names people and numbers: keep it beside the data root, never inside it
    expected = Path(args.expected) if args.expected else data_root.path.with_name(f"{data_root.path.name}-expected")
    try:
        summary = write_sample_data(data_root.path, seed=args.seed, lines=args.lines, expected_dir=expected)
    except ValueError as problem:
        raise UsageError(str(problem)) from None
    print(summary.describe())
    print(f"Sample data root written to {data_root.path}; expected results in {expected}")
    return 0


def command_reports_url(args: argparse.Namespace) -> int:
    """Download links for one customer-month's delivered files, for that customer only."""
    data_root = existing_data_root(args.data_root)
    prepare_environment(data_root)
    customer_id, month = validate_id(args.customer), validate_month(args.month)
    if not data_root.customer_file(customer_id).exists():
        raise UsageError(f"customer {customer_id!r} is not registered (no customers/{customer_id}/customer.yaml)")
    if not 1 <= args.expires <= 7 * 24 * 3600:
        raise UsageError("--expires must be between 1 second and 7 days (604800 seconds)")
    from pipelines.resources import DeliveryResource
    from reports.publishing.delivery import DeliveryError, object_key

    store = DeliveryResource.from_environment(deferred=False).store(data_root)
    try:
        manifest = store.manifest(customer_id, month)
    except DeliveryError as problem:
        raise UsageError(str(problem)) from None
    if manifest is None:
        raise UsageError(f"no delivery for {customer_id} {month}: its manifest.json is missing (run tem run first)")
    from reports.privacy import processing_log

    for entry in manifest["files"]:
        link = store.link(object_key(customer_id, month, entry["name"]), args.expires)
        processing_log.append(
            data_root.path,
            "link",
            customer=customer_id,
            months=[month],
            request=None,
            counts={"expires_seconds": args.expires},
            outcome="done",
            detail=entry["name"],
        )
        print(f"{entry['name']}\t{link}")
    return 0


def command_ui(args: argparse.Namespace) -> int:
    """`dagster dev` on this data root, in this process's place (a signal to `tem ui` reaches the webserver), after
    the runs a killed `tem run` left STARTED are marked failed, so they hold no run slot in the UI's queue."""
    from pipelines.commands.runner import fail_orphaned_runs, open_instance

    data_root = existing_data_root(args.data_root, inbox_elsewhere=s3_inbox())
    prepare_environment(data_root)
    try:
        mirror_s3_inbox(data_root)  # before the webserver loads the definitions, whose months start at the inbox's
    except UsageError as problem:  # the UI is still of use; the inbox sensor mirrors the inbox again at each tick
        print(f"warning: the S3 inbox was not mirrored: {problem}", file=sys.stderr)
    with open_instance() as instance:
        orphans = fail_orphaned_runs(instance)
    if orphans:
        print(f"marked {len(orphans)} run(s) failed: the tem process that ran them is gone")
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-w", str(REPOSITORY_ROOT / "workspace.yaml"), "-p", str(args.port)]
    print(
        f"Dagster UI on http://127.0.0.1:{args.port} (data root {data_root.path}, DAGSTER_HOME={os.environ['DAGSTER_HOME']})",
        flush=True,
    )
    os.chdir(REPOSITORY_ROOT)
    os.execv(command[0], command)


DATA_ROOT_HELP = "the data root folder, with customers/ and inbox/ (default: $TEM_DATA_ROOT, else the bundled data/)"

RUN_EPILOG = """\
examples:
  tem run                                              every customer and month in the bundled data/
  tem run --data-root /srv/tem                         every customer and month in /srv/tem/inbox
  tem run --data-root /srv/tem --customer globex --month 2026-09 --workers 2

Each selected customer-month also runs the months of its savings history (M-2, M-1) that are in the
inbox but not reconciled yet. Output: a plan line, one line per finished run
([7/39] globex 2026-09 audit ok 4.1s; a progress bar on a terminal), then a summary with where the
published files are and every failure, once. Dagster's own log is in the instance (tem ui shows it).

exit status: 0 all published, 1 a run failed or a key was refused, 2 a usage error, 130 interrupted
(Ctrl-C stops the workers and marks their unfinished runs failed).
environment: TEM_DATA_ROOT, TEM_MASTER_KEY (64 hex characters; unset: a development key, with a
warning), TEM_WORKERS, TEM_TODAY (YYYY-MM-DD: pin today's date), DAGSTER_HOME (default
<data root>/.dagster), TEM_INBOX=s3 with TEM_INBOX_BUCKET (mirror an S3 inbox first)."""

SAMPLE_EPILOG = """\
examples:
  tem sample-data                                      the bundled data/ root (3 customers, 4 months)
  tem sample-data --data-root /tmp/tem-big --lines 20000 --seed 7

The expected results (what must be quarantined, found and saved) go beside the data root, never
inside it: they name people and numbers."""

URL_EPILOG = """\
example:
  tem reports url --data-root /srv/tem --customer globex --month 2026-09 --expires 3600

Prints one line per delivered file: its name, a tab, and a link to it (a presigned S3 URL with
TEM_DELIVERY=s3, else a file:// path) that opens that one file until it expires."""

UI_EPILOG = """\
examples:
  tem ui                                               http://127.0.0.1:3000 on the bundled data/
  tem ui --data-root /srv/tem --port 3001

The UI reads the same Dagster instance tem run records into (DAGSTER_HOME, default
<data root>/.dagster), so every run of tem run is there with its logs, metadata and checks."""


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tem-pipeline")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tem",
        description="Telecom expense management pipeline: reconcile carrier invoices against contracts "
        "and measured usage, and publish per customer and month what to dispute and what to stop paying for.",
        epilog="example: tem sample-data && tem run    (then: tem <command> --help)",
    )
    parser.add_argument("--version", action="version", version=f"tem {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    described = dict(formatter_class=argparse.RawDescriptionHelpFormatter)

    run = commands.add_parser(
        "run",
        help="reconcile customer-months and publish their reports",
        epilog=RUN_EPILOG,
        description="Reconcile every selected customer-month (every inbox drop by default) and publish its reports.",
        **described,
    )
    run.add_argument(
        "--data-root",
        metavar="DIR",
        help=DATA_ROOT_HELP + "; refused if it does not exist or holds neither inbox/ nor customers/",
    )
    run.add_argument("--customer", action="append", metavar="ID", help="only this customer, e.g. globex (repeatable)")
    run.add_argument("--month", action="append", metavar="YYYY-MM", help="only this billing month (repeatable)")
    run.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="runs at once, each worker in its own process "
        "(default: $TEM_WORKERS or the number of CPUs, never more than the customer-months; 1 runs "
        "everything in this process)",
    )
    run.set_defaults(handler=command_run)

    sample = commands.add_parser(
        "sample-data",
        help="write a deterministic sample data root",
        epilog=SAMPLE_EPILOG,
        description="Write a sample data root (customers/ and inbox/) with known problems "
        "in it, and the results a run must give.",
        **described,
    )
    sample.add_argument(
        "--data-root", metavar="DIR", help="where to write it (default: $TEM_DATA_ROOT or the bundled data/)"
    )
    sample.add_argument(
        "--seed",
        type=int,
        default=20261,
        metavar="N",
        help="random seed: the same seed writes the same files (default 20261)",
    )
    sample.add_argument(
        "--lines",
        type=int,
        default=None,
        metavar="N",
        help="scale customer globex up to N lines, "
        f"{MIN_SAMPLE_LINES} to {MAX_SAMPLE_LINES:,} (benchmarks; default: the small sample)",
    )
    sample.add_argument(
        "--expected",
        metavar="DIR",
        help="where to write the expected results (default: <data root>-expected beside the data root)",
    )
    sample.set_defaults(handler=command_sample_data)

    reports = commands.add_parser(
        "reports", help="delivered reports: download links", description="Delivered reports."
    ).add_subparsers(dest="reports", required=True)
    url = reports.add_parser(
        "url",
        help="print download links for a customer-month's delivered files",
        description="Print a download link for each delivered file of one customer-month.",
        epilog=URL_EPILOG,
        **described,
    )
    url.add_argument("--data-root", metavar="DIR", help=DATA_ROOT_HELP)
    url.add_argument("--customer", required=True, metavar="ID", help="the customer, e.g. globex")
    url.add_argument("--month", required=True, metavar="YYYY-MM", help="the billing month, e.g. 2026-09")
    url.add_argument(
        "--expires",
        type=int,
        default=3600,
        metavar="SECONDS",
        help="how long each link opens its file, 1 to 604800 (7 days; default 3600)",
    )
    url.set_defaults(handler=command_reports_url)

    from pipelines.commands import keys as key_commands
    from pipelines.commands import privacy as privacy_commands

    privacy_commands.add_parsers(commands, resolve_data_root)
    privacy_commands.add_customer_parser(commands, resolve_data_root)
    key_commands.add_parsers(commands, resolve_data_root)

    ui = commands.add_parser(
        "ui",
        help="open the Dagster UI on a data root",
        epilog=UI_EPILOG,
        description="Start the Dagster UI (dagster dev: webserver and daemon) on a data root.",
        **described,
    )
    ui.add_argument("--data-root", metavar="DIR", help=DATA_ROOT_HELP)
    ui.add_argument("--port", type=int, default=3000, metavar="N", help="the port to serve on (default 3000)")
    ui.set_defaults(handler=command_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        pinned_today()  # a bad TEM_TODAY is refused before any command reads the calendar
        return args.handler(args)
    except (UsageError, InvalidName, InvalidClock) as problem:
        print(f"tem: {problem}", file=sys.stderr)
        return 2
    except Interrupted as problem:
        print(f"tem: {problem}", file=sys.stderr, flush=True)
        return 130
    except KeyboardInterrupt:  # before any run started
        print("tem: interrupted; no run was started", file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
