"""The inbox sensor and the monthly schedule.

The sensor registers new customers as dynamic partitions (and removes the ones typed in the UI that have no
folder), loads their contracts, and requests a
reconciliation run for a customer-month when its drop is complete (a roster, at least one
invoice and one usage file) and unchanged since the previous tick. Its cursor remembers each
drop's fingerprint, so the same files never run twice; a re-delivered file with different
content changes the fingerprint and triggers a re-run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from dagster import (
    AssetKey,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    schedule,
    sensor,
)

from pipelines.jobs import CONTRACTS_JOB, RECONCILE_JOB, contracts_job, reconcile_job
from pipelines.partitions import customer_month_key, customers_partitions
from pipelines.resources import DataRootResource, InboxResource
from reports.layout import DataRoot

CONTRACTS_ASSET = AssetKey("customer_contracts")


def _fingerprint(files: list[Path], base: Path) -> str:
    """Changes when a file is added, removed or rewritten (name, size and content hash)."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.relative_to(base).as_posix().encode())
        digest.update(str(path.stat().st_size).encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:24]


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]


@dataclass(frozen=True)
class Drop:
    customer_id: str
    month: str
    complete: bool
    fingerprint: str

    @property
    def key(self) -> str:
        return f"{self.customer_id}|{self.month}"


def inbox_drops(data_root: DataRoot) -> list[Drop]:
    drops = []
    for customer_id in data_root.customers():
        for month in data_root.months(customer_id):
            folder = data_root.drop_dir(customer_id, month)
            has_roster = any(p.is_file() and p.stem.lower() == "roster" for p in folder.iterdir())
            complete = has_roster and bool(_files(folder / "invoices")) and bool(_files(folder / "usage"))
            drops.append(Drop(customer_id, month, complete, _fingerprint(_files(folder), folder)))
    return drops


def contracts_fingerprint(data_root: DataRoot, customer_id: str) -> str:
    folder = data_root.customer_dir(customer_id)
    return _fingerprint(_files(folder), folder)


@sensor(
    name="inbox_sensor",
    jobs=[contracts_job, reconcile_job],
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description="Registers new customers, loads changed contracts and reconciles complete inbox drops once they "
    "are unchanged for one tick.",
)
def inbox_sensor(context: SensorEvaluationContext, data_root: DataRootResource, inbox: InboxResource) -> SensorResult:
    root = data_root.root
    inbox.sync(root, context.log)  # an S3 inbox is mirrored into the data root; the fingerprints see the copy
    cursor = json.loads(context.cursor) if context.cursor else {}
    seen: dict[str, str] = cursor.get("seen", {})  # fingerprint at the previous tick
    requested: dict[str, str] = cursor.get("requested", {})  # fingerprint last run
    contracts_requested: dict[str, str] = cursor.get("contracts", {})

    drops = inbox_drops(root)
    registered = set(context.instance.get_dynamic_partitions(customers_partitions.name))
    new_customers = sorted({d.customer_id for d in drops} - registered)
    # Dagster's launch dialog lets anyone type a new customer partition; one with no folder under customers/ or
    # inbox/ is a typo, and is removed here (its runs fail before writing: there is no contract and no drop)
    phantoms = sorted(registered - set(root.customers()))
    if phantoms:
        context.log.warning(
            f"removed {len(phantoms)} customer partition(s) with no folder under customers/ or "
            f"inbox/: {', '.join(phantoms)}"
        )
    loaded = set(context.instance.get_materialized_partitions(CONTRACTS_ASSET)) if registered else set()

    run_requests: list[RunRequest] = []
    for customer_id in sorted({d.customer_id for d in drops}):
        if not root.customer_file(customer_id).exists():
            context.log.warning(f"inbox/{customer_id} has drops but customers/{customer_id}/customer.yaml is missing")
            continue
        fingerprint = contracts_fingerprint(root, customer_id)
        if contracts_requested.get(customer_id) != fingerprint:
            run_requests.append(
                RunRequest(
                    job_name=CONTRACTS_JOB, partition_key=customer_id, run_key=f"contracts|{customer_id}|{fingerprint}"
                )
            )
            contracts_requested[customer_id] = fingerprint

    for drop in drops:
        settled = drop.complete and seen.get(drop.key) == drop.fingerprint
        seen[drop.key] = drop.fingerprint
        if not settled or requested.get(drop.key) == drop.fingerprint:
            continue
        if drop.customer_id not in loaded:
            continue  # contracts first; the drop is picked up on a later tick
        run_requests.append(
            RunRequest(
                job_name=RECONCILE_JOB,
                partition_key=customer_month_key(drop.customer_id, drop.month),
                run_key=f"{drop.key}|{drop.fingerprint}",
            )
        )
        requested[drop.key] = drop.fingerprint

    new_cursor = json.dumps({"seen": seen, "requested": requested, "contracts": contracts_requested}, sort_keys=True)
    return SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[
            *([customers_partitions.build_add_request(new_customers)] if new_customers else []),
            *([customers_partitions.build_delete_request(phantoms)] if phantoms else []),
        ],
        cursor=new_cursor,
    )


def previous_month(moment: dt.datetime) -> str:
    first = moment.date().replace(day=1)
    last_month = first - dt.timedelta(days=1)
    return last_month.strftime("%Y-%m")


def monthly_run_requests(context: ScheduleEvaluationContext, data_root: DataRoot) -> list[RunRequest] | SkipReason:
    month = previous_month(context.scheduled_execution_time)
    customers = sorted(context.instance.get_dynamic_partitions(customers_partitions.name))
    ready = [c for c in customers if month in data_root.months(c)]
    for customer_id in sorted(set(customers) - set(ready)):
        context.log.info(f"{customer_id}: no inbox drop for {month}; nothing to reconcile")
    if not ready:
        return SkipReason(f"no registered customer has an inbox drop for {month}")
    return [
        RunRequest(partition_key=customer_month_key(customer_id, month), run_key=f"monthly|{customer_id}|{month}")
        for customer_id in ready
    ]


@schedule(
    name="monthly_reconciliation",
    job=reconcile_job,
    cron_schedule="0 6 3 * *",  # 06:00 on the 3rd: carriers have invoiced the previous month by then
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Reconciles the previous month for every registered customer that has a drop for it.",
)
def monthly_reconciliation(context: ScheduleEvaluationContext, data_root: DataRootResource):
    return monthly_run_requests(context, data_root.root)
