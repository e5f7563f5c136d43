"""How `tem run` executes customer-months: runs of the reconcile job, several at a time, in worker processes.

A customer-month is two runs of `reconcile_customer_month`, each materializing part of its assets:

- audit: ingest (roster, invoices, usage and their checks), line_month_usage, findings, quarantine.csv, findings.csv;
- publish: savings and everything after it (savings.csv, report.xlsx, delivery).

Splitting there lets the months run side by side: a month's savings read the usage of the two months before
(their audit runs), and its report's Trend reads the months before it (their publish runs), so a publish run
waits for those to finish; audit runs wait for nothing. A run that fails never stops another customer-month:
waiting is for order only, and savings say themselves what history is missing. Only a month's own publish
run is skipped when its audit run failed.

Each worker process keeps its own Dagster instance handle and its phone-number and pseudonym caches for every
run it executes; with one worker everything runs in this process, in calendar order.
"""

from __future__ import annotations

import multiprocessing
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field

AUDIT, PUBLISH = "audit", "publish"
QUIET_LOGGING = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True, order=True)
class Stage:
    customer_id: str
    month: str
    part: str  # AUDIT or PUBLISH (sorts before it)


@dataclass
class StageResult:
    ok: bool
    run_id: str | None = None
    problems: list[str] = field(default_factory=list)


def plan_stages(plan: dict[str, list[str]]) -> dict[Stage, set[Stage]]:
    """Every stage of every planned customer-month -> the stages that must have finished before it starts."""
    from assets.savings_rules import history_months

    waits: dict[Stage, set[Stage]] = {}
    for customer_id, months in plan.items():
        planned = sorted(months)
        for index, month in enumerate(planned):
            waits[Stage(customer_id, month, AUDIT)] = set()
            before = {Stage(customer_id, month, AUDIT)}
            before |= {Stage(customer_id, m, AUDIT) for m in history_months(month) if m in planned and m != month}
            if index:  # the Trend sheet reads the months before: the previous one's publish run (and so all earlier)
                before.add(Stage(customer_id, planned[index - 1], PUBLISH))
            waits[Stage(customer_id, month, PUBLISH)] = before
    return waits


def failure_messages(result) -> list[str]:
    messages = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            error = event.step_failure_data.error
            messages.append(error.message.strip().splitlines()[0] if error.message else error.cls_name)
    return messages or ([] if result.success else ["the run failed; open it in the Dagster UI for details"])


_worker_state: dict = {}


def run_stage(stage: Stage) -> StageResult:
    """Execute one stage as a Dagster run in this process (also the worker processes' entry point)."""
    if not _worker_state:
        warnings.filterwarnings("ignore", category=UserWarning, module="dagster")
        from dagster import AssetSelection, DagsterInstance

        from pipelines.definitions import defs
        from pipelines.jobs import RECONCILE_JOB

        job = defs.resolve_job_def(RECONCILE_JOB)
        graph = defs.resolve_asset_graph()
        publish_keys = AssetSelection.assets("savings").downstream().resolve(graph)
        job_keys = {key for key in job.asset_layer.selected_asset_keys}
        _worker_state.update(instance=DagsterInstance.get(), job=job,
                             selection={AUDIT: sorted(job_keys - publish_keys), PUBLISH: sorted(job_keys & publish_keys)})  # fmt: skip
    from pipelines.partitions import customer_month_key

    result = _worker_state["job"].execute_in_process(
        partition_key=customer_month_key(stage.customer_id, stage.month),
        instance=_worker_state["instance"],
        asset_selection=_worker_state["selection"][stage.part],
        raise_on_error=False,
        run_config=QUIET_LOGGING,
    )
    failed_checks = [c for c in result.get_asset_check_evaluations() if not c.passed]
    ok = result.success and not failed_checks
    problems = [] if ok else failure_messages(result) + [
        f"check {c.check_name} on {c.asset_key.to_user_string()} failed" for c in failed_checks
    ]
    return StageResult(ok, result.run_id, problems)


def run_stages(waits: dict[Stage, set[Stage]], workers: int, on_finished) -> dict[Stage, StageResult]:
    """Run every stage once the stages it waits for have finished, at most `workers` at a time; call
    on_finished(stage, result) as each one ends. A publish stage whose audit stage failed is not run."""
    results: dict[Stage, StageResult] = {}

    def settle(stage: Stage, result: StageResult) -> None:
        results[stage] = result
        on_finished(stage, result)

    def startable(stage: Stage) -> bool:
        return all(before in results for before in waits[stage])

    def skip_if_audit_failed(stage: Stage) -> bool:
        audit = results.get(Stage(stage.customer_id, stage.month, AUDIT))
        if stage.part == PUBLISH and audit is not None and not audit.ok:
            settle(stage, StageResult(False, None, ["not published: its audit run failed (above)"]))
            return True
        return False

    pending = sorted(waits, key=lambda s: (s.month, s.part, s.customer_id))  # oldest months first
    if workers <= 1:
        for stage in sorted(waits):  # customer, month, audit before publish: every wait is met in this order
            if not skip_if_audit_failed(stage):
                settle(stage, run_stage(stage))
        return results

    running: dict[Future, Stage] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        while pending or running:
            for stage in list(pending):
                if len(running) >= workers:
                    break
                if startable(stage):
                    pending.remove(stage)
                    if not skip_if_audit_failed(stage):
                        running[pool.submit(run_stage, stage)] = stage
            if not running:
                if any(startable(s) for s in pending):
                    continue  # a skipped stage let others start
                if pending:
                    raise RuntimeError(f"stages wait for stages that are not planned: {pending}")
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                stage = running.pop(future)
                try:
                    settle(stage, future.result())
                except Exception as problem:  # noqa: BLE001 - a worker that died: that stage failed, others go on
                    settle(stage, StageResult(False, None, [f"the worker process failed: {type(problem).__name__}"]))
    return results
