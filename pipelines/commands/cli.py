"""`tem`: the command line of the TEM pipeline.

    tem run [--data-root DIR] [--customer ID]... [--month YYYY-MM]... [--workers N]
    tem sample-data [--data-root DIR] [--seed N] [--lines N]
    tem ui [--data-root DIR] [--port N]
    tem privacy export|erase|log ...   (pipelines/commands/privacy.py)
    tem keys rotate|migrate ...        (pipelines/commands/keys.py)

`tem run` executes the same Dagster definitions the UI shows, three runs of the reconcile job per customer-month
(audit, savings, publish; see pipelines/commands/runner.py), several at a time, recorded in the Dagster instance at
DAGSTER_HOME (default: <data root>/.dagster).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from reports.layout import DataRoot

from schemas.names import InvalidName, validate_id, validate_month
from schemas.clock import InvalidClock, pinned_today

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_ROOT = REPOSITORY_ROOT / "data"
MIN_SAMPLE_LINES, MAX_SAMPLE_LINES = 25, 500_000


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


def resolve_data_root(option: str | None) -> DataRoot:
    chosen = option or os.environ.get("TEM_DATA_ROOT") or str(DEFAULT_DATA_ROOT)
    return DataRoot.at(chosen)


def prepare_environment(data_root: DataRoot) -> None:
    """Point the Dagster definitions and instance at this data root (before they are imported)."""
    os.environ["TEM_DATA_ROOT"] = str(data_root.path)
    if not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = str(data_root.path / ".dagster")
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
            raise UsageError(f"unknown customer(s): {', '.join(unregistered)} (no customers/<id>/customer.yaml under "
                             f"{data_root.path})")  # fmt: skip
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
    """The selected months plus the two before each that are in the inbox but not reconciled yet, since savings
    for month M read the usage of M-2 and M-1; in calendar order so history is built first."""
    from reports.rules.savings_rules import history_months
    from reports.warehouse import Warehouse

    in_inbox = set(data_root.months(customer_id))
    warehouse = Warehouse(data_root)
    months = set(selected)
    for month in selected:
        months.update(m for m in history_months(month)[:2]
                      if m in in_inbox and not warehouse.exists(customer_id, m, "line_month_usage"))  # fmt: skip
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
    from reports.privacy import processing_log
    from pipelines.commands.keys import check_run_keys

    data_root = resolve_data_root(args.data_root)
    workers = worker_count(args.workers)
    plan = select_partitions_from_inbox(data_root, args)  # quick: no Dagster in this process
    problems = check_run_keys(data_root, sorted(plan))  # every customer's key, before anything is written
    if problems:
        for problem in problems:
            print(f"tem run: {problem}", file=sys.stderr)
        detail = problems[0] if len(problems) == 1 else f"{problems[0]} (and {len(problems) - 1} more)"
        try:
            detail = processing_log.check_free_text(detail)
        except ValueError:
            detail = "a customer's key cannot be used"
        processing_log.append(
            data_root.path, "run", customer=next(iter(plan)) if len(plan) == 1 else None, months=[], request=None,
            counts={"customers": len(plan), "customer_months": 0, "failed": 0}, outcome="refused", detail=detail,
        )  # fmt: skip
        return 1
    prepare_environment(data_root)
    outcomes = execute_plan(data_root, plan, workers)
    failed = [o for o in outcomes if not o.ok]
    processing_log.append(
        data_root.path, "run", customer=next(iter(plan)) if len(plan) == 1 else None,
        months=sorted({o.month for o in outcomes if o.month}), request=None,
        counts={"customers": len(plan), "customer_months": len(outcomes), "failed": len(failed)},
        outcome="failed" if failed else "done",
    )  # fmt: skip
    return report(outcomes, data_root)


def execute_plan(data_root: DataRoot, plan: dict[str, list[str]], workers: int | None = None,
                 tags: dict[str, str] | None = None) -> list[RunOutcome]:  # fmt: skip
    """Run the planned customer-months in worker processes (never more than there are customer-months)."""
    from pipelines.commands.runner import worker_pool

    prepare_environment(data_root)
    workers = min(worker_count(workers), max(1, sum(map(len, plan.values()))))
    pool = worker_pool(workers)
    try:
        return run_plan(data_root, plan, pool, workers, tags)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def select_partitions_from_inbox(data_root: DataRoot, args: argparse.Namespace) -> dict[str, list[str]]:
    if (os.environ.get("TEM_INBOX") or "local") != "local":  # a local inbox is the data root itself: nothing to sync
        from pipelines.resources import InboxResource
        from reports.delivery import DeliveryError

        try:
            InboxResource.from_environment(deferred=False).sync(data_root)  # an S3 inbox lands in the data root first
        except DeliveryError as problem:
            raise UsageError(str(problem)) from None
    plan = select_partitions(data_root, args.customer or [], args.month or [])
    for ignored in data_root.ignored_inbox_entries():
        print(f"warning: ignoring {ignored}: not a valid customer id or YYYY-MM month folder", file=sys.stderr)
    return plan


def run_plan(data_root: DataRoot, plan: dict[str, list[str]], pool, workers: int,
             tags: dict[str, str] | None = None) -> list[RunOutcome]:  # fmt: skip
    """Run every planned customer-month. With a worker pool this process never imports Dagster: the workers
    do, register each customer's partition with its contracts run and check each month against the partitions."""
    from pipelines.commands.runner import PUBLISH, Stage, plan_stages, run_stages

    outcomes: list[RunOutcome] = []
    runnable = {customer_id: sorted(months) for customer_id, months in plan.items() if months}
    finished_parts: dict[tuple[str, str], list] = {}

    def finished(stage: Stage, result) -> None:
        if not stage.month:  # a customer's contracts: reported with each of its months
            for month in runnable[stage.customer_id]:
                finished_parts.setdefault((stage.customer_id, month), []).append(result)
            return
        parts = finished_parts.setdefault((stage.customer_id, stage.month), [])
        parts.append(result)
        if stage.part != PUBLISH:
            return
        failed = [part for part in parts if not part.ok]
        ok = not failed
        problems = failed[0].problems if failed else []  # the first failure is the cause; later parts were not run
        runs = " ".join(part.run_id[:8] for part in parts[1:] if part.run_id)  # audit, savings, publish (not contracts)
        outcomes.append(RunOutcome(stage.customer_id, stage.month, ok, problems))
        print(f"{'ok    ' if ok else 'FAILED'} {stage.customer_id} {stage.month}  runs {runs}", flush=True)

    if runnable:
        run_stages(plan_stages(runnable, tags), finished, pool, workers)
    return sorted(outcomes, key=lambda o: (o.customer_id, o.month or ""))


def report(outcomes: list[RunOutcome], data_root: DataRoot) -> int:
    failed = [o for o in outcomes if not o.ok]
    succeeded = [o for o in outcomes if o.ok]
    print()
    print(f"{len(succeeded)} customer-month(s) published, {len(failed)} failed.")
    if succeeded:
        print(f"Published files are under {data_root.path / 'published'}/<customer>/<YYYY-MM>/:")
        for outcome in succeeded:
            folder = data_root.published_dir(outcome.customer_id, outcome.month)
            files = ", ".join(sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")))
            print(f"  {folder}  ({files})")
    for outcome in failed:
        for problem in dict.fromkeys(outcome.problems):
            print(f"FAILED {outcome.label}: {problem}", file=sys.stderr)
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
    data_root = resolve_data_root(args.data_root)
    prepare_environment(data_root)
    customer_id, month = validate_id(args.customer), validate_month(args.month)
    if not data_root.customer_file(customer_id).exists():
        raise UsageError(f"customer {customer_id!r} is not registered (no customers/{customer_id}/customer.yaml)")
    if not 1 <= args.expires <= 7 * 24 * 3600:
        raise UsageError("--expires must be between 1 second and 7 days (604800 seconds)")
    from pipelines.resources import DeliveryResource
    from reports.delivery import DeliveryError, object_key

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
        processing_log.append(data_root.path, "link", customer=customer_id, months=[month], request=None,
                              counts={"expires_seconds": args.expires}, outcome="done", detail=entry["name"])  # fmt: skip
        print(f"{entry['name']}\t{link}")
    return 0


def command_ui(args: argparse.Namespace) -> int:
    """`dagster dev` on this data root, in this process's place (a signal to `tem ui` reaches the webserver), after
    the runs a killed `tem run` left STARTED are marked failed, so they hold no run slot in the UI's queue."""
    from pipelines.commands.runner import fail_orphaned_runs, open_instance

    data_root = resolve_data_root(args.data_root)
    prepare_environment(data_root)
    with open_instance() as instance:
        orphans = fail_orphaned_runs(instance)
    if orphans:
        print(f"marked {len(orphans)} run(s) failed: the tem process that ran them is gone")
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-w", str(REPOSITORY_ROOT / "workspace.yaml"), "-p", str(args.port)]
    print(f"Dagster UI on http://127.0.0.1:{args.port} (data root {data_root.path}, DAGSTER_HOME={os.environ['DAGSTER_HOME']})",
          flush=True)  # fmt: skip
    os.chdir(REPOSITORY_ROOT)
    os.execv(command[0], command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tem", description="Telecom expense management pipeline")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="reconcile customer-months and publish their reports")
    run.add_argument("--data-root", help="data root folder (default: $TEM_DATA_ROOT or the bundled data/)")
    run.add_argument("--customer", action="append", metavar="ID", help="only this customer (repeatable)")
    run.add_argument("--month", action="append", metavar="YYYY-MM", help="only this billing month (repeatable)")
    run.add_argument("--workers", type=int, metavar="N", help="customer-month runs at once, each in its own process "
                     "(default: $TEM_WORKERS or the number of CPUs; 1 runs everything in this process)")
    run.set_defaults(handler=command_run)

    sample = commands.add_parser("sample-data", help="write a deterministic sample data root")
    sample.add_argument("--data-root", help="where to write it (default: $TEM_DATA_ROOT or the bundled data/)")
    sample.add_argument("--seed", type=int, default=20261)
    sample.add_argument("--lines", type=int, default=None, help="scale customer globex up to N lines (benchmarks)")
    sample.add_argument("--expected", metavar="DIR", help="where to write the expected results "
                        "(default: <data root>-expected beside the data root)")
    sample.set_defaults(handler=command_sample_data)

    reports = commands.add_parser("reports", help="delivered reports").add_subparsers(dest="reports", required=True)
    url = reports.add_parser("url", help="print download links for a customer-month's delivered files")
    url.add_argument("--data-root")
    url.add_argument("--customer", required=True, metavar="ID")
    url.add_argument("--month", required=True, metavar="YYYY-MM")
    url.add_argument("--expires", type=int, default=3600, metavar="SECONDS", help="link lifetime (default 3600)")
    url.set_defaults(handler=command_reports_url)

    from pipelines.commands import keys as key_commands, privacy as privacy_commands

    privacy_commands.add_parsers(commands, resolve_data_root)
    privacy_commands.add_customer_parser(commands, resolve_data_root)
    key_commands.add_parsers(commands, resolve_data_root)

    ui = commands.add_parser("ui", help="open the Dagster UI on a data root")
    ui.add_argument("--data-root")
    ui.add_argument("--port", type=int, default=3000)
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


if __name__ == "__main__":
    sys.exit(main())
