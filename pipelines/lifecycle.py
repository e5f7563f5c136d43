"""Retention in Dagster: the `purge_expired_data` job and its daily schedule, and the deletions in Dagster's storage
that `tem privacy purge` and `tem customer offboard` make (reports/privacy/lifecycle.py holds the rest).

`DagsterHistory` is the lifecycle's view of a DagsterInstance:

* runs of a customer-month are found by their partition tags (`dagster/partition/customer` and
  `dagster/partition/month`, or `dagster/partition` = `<customer>|<month>`), every run of a customer also by
  `dagster/partition` = `<customer>` (its contracts runs);
* a run is deleted with `DagsterInstance.delete_run` (the run, its tags and every event of it, materializations and
  check evaluations included), its captured compute logs with the compute log manager's `delete_logs` (dagster.yaml
  captures none), and, for Dagster's run-sharded SQLite event log, its emptied shard file (dagster.yaml keeps every
  run's events in one file, pipelines/instance_storage.py);
* what is left of a partition is wiped with `DagsterInstance.wipe_asset_partitions` where the storage implements it;
  Dagster 1.13's SQL storages (SQLite, PostgreSQL) raise NotImplementedError there, so the same is done through the
  event log storage's own tables: events still filed under the partition (runless reports), the asset check
  executions of the deleted runs and partitions, and each asset's cached "latest materialization" when it was one of
  them (recomputed from what remains); then `wipe_asset_cached_status`, so the UI recomputes its partition status;
* offboarding also removes the customer from the `customers` dynamic partitions (`delete_dynamic_partition`), from the
  inbox sensor's cursor, and compacts the SQLite files (VACUUM), so deleted rows do not linger in free pages.

The job's op uses the instance of its own run (`context.instance`) and never deletes that run (it is not partitioned,
and it is excluded by id). Its log names no customer: counts only; the processing log has the details.
"""

# no `from __future__ import annotations`: Dagster reads the op's parameter annotations (context, resources)
import contextlib
import json
import os
import re
import sqlite3
from collections.abc import Iterable

from dagster import (
    AssetKey,
    DefaultScheduleStatus,
    Failure,
    OpExecutionContext,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    in_process_executor,
    job,
    op,
    schedule,
)

from pipelines.partitions import CUSTOMER_DIMENSION, MONTH_DIMENSION, customers_partitions
from pipelines.resources import DataRootResource, DeliveryResource
from reports.privacy import lifecycle
from schemas import clock

PARTITION_TAG = "dagster/partition"
CUSTOMER_TAG = f"{PARTITION_TAG}/{CUSTOMER_DIMENSION}"
MONTH_TAG = f"{PARTITION_TAG}/{MONTH_DIMENSION}"
OPERATION_TAG = "tem/privacy_operation"
PURGE_JOB = "purge_expired_data"
INBOX_SENSOR = "inbox_sensor"
_RUN_ID = re.compile(r"^[0-9a-f-]{36}$")


def partition_key(customer_id: str, month: str) -> str:
    """The customer x month partition key as Dagster stores it (dimensions in name order: customer|month)."""
    return f"{customer_id}|{month}"


class DagsterHistory:
    """reports.privacy.lifecycle.History on a DagsterInstance; `keep_run_id` (the purge job's own run) is never
    deleted."""

    def __init__(self, instance, keep_run_id: str | None = None, owns_instance: bool = False):
        self.instance = instance
        self.keep_run_id = keep_run_id
        self._owns = owns_instance

    def close(self) -> None:
        if self._owns:
            self.instance.dispose()

    # --- finding ------------------------------------------------------------------------------------------------
    def _run_ids(self, tags: dict[str, str]) -> set[str]:
        return {record.dagster_run.run_id for record in self.instance.get_run_records(RunsFilter(tags=tags))}

    def runs(self, customer_id: str, month: str | None = None) -> list[str]:
        if month is None:
            found = self._run_ids({CUSTOMER_TAG: customer_id}) | self._run_ids({PARTITION_TAG: customer_id})
        else:
            found = self._run_ids({CUSTOMER_TAG: customer_id, MONTH_TAG: month}) | self._run_ids(
                {PARTITION_TAG: partition_key(customer_id, month)}
            )
        return sorted(found - {self.keep_run_id})

    def _partitions(self, customer_id: str) -> dict[AssetKey, list[str]]:
        """Materialized partitions of the customer, per asset."""
        found = {}
        for asset_key in self.instance.get_asset_keys():
            keys = [
                k
                for k in self.instance.get_materialized_partitions(asset_key)
                if k == customer_id or k.startswith(f"{customer_id}|")
            ]
            if keys:
                found[asset_key] = keys
        return found

    def months(self, customer_id: str) -> set[str]:
        months = set()
        for record in self.instance.get_run_records(RunsFilter(tags={CUSTOMER_TAG: customer_id})):
            month = record.dagster_run.tags.get(MONTH_TAG)
            if month:
                months.add(month)
        for keys in self._partitions(customer_id).values():
            months.update(k.split("|", 1)[1] for k in keys if "|" in k)
        return months

    def customers(self) -> list[str]:
        return list(self.instance.get_dynamic_partitions(customers_partitions.name))

    def registered(self, customer_id: str) -> bool:
        return self.instance.has_dynamic_partition(customers_partitions.name, customer_id)

    # --- deleting -----------------------------------------------------------------------------------------------
    def delete_run(self, run_id: str) -> None:
        """The run, its tags and events (materializations, check evaluations), its compute logs and, with the
        run-sharded SQLite event log, its shard file. Idempotent: a run killed half-deleted is finished."""
        if run_id == self.keep_run_id:
            return
        with contextlib.suppress(NotImplementedError):
            self.instance.compute_log_manager.delete_logs(prefix=[run_id])
        self.instance.delete_run(run_id)  # run storage, then the events of both event log shards
        storage = self.instance.event_log_storage
        if _is_sharded_sqlite(storage) and _RUN_ID.fullmatch(run_id):
            shard = storage.path_for_shard(run_id)
            for path in (shard, f"{shard}-wal", f"{shard}-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)

    def wipe_partitions(self, customer_id: str, months: list[str] | None, run_ids: Iterable[str]) -> None:
        """Materializations and check results of these partitions (every partition of the customer without months)
        that outlived their runs, and each asset's cached latest materialization and partition status."""
        run_ids = set(run_ids)
        keys = None if months is None else {partition_key(customer_id, m) for m in months}

        def matches(key: str | None) -> bool:
            if key is None:
                return False
            return key in keys if keys is not None else key == customer_id or key.startswith(f"{customer_id}|")

        for asset_key, partitions in self._partitions(customer_id).items():
            targets = [k for k in partitions if matches(k)]
            if targets:
                with contextlib.suppress(NotImplementedError):  # Dagster 1.13's SQL storages: done below instead
                    self.instance.wipe_asset_partitions(asset_key, targets)
        _clean_event_storage(self.instance.event_log_storage, customer_id, keys, matches, run_ids)
        asset_keys = list(self.instance.get_asset_keys())
        if asset_keys:
            self.instance.wipe_asset_cached_status(asset_keys)

    def forget_customer(self, customer_id: str) -> bool:
        registered = self.registered(customer_id)
        if registered:
            self.instance.delete_dynamic_partition(customers_partitions.name, customer_id)
        _forget_in_sensor_cursor(self.instance, customer_id)
        return registered

    def compact(self) -> bool:
        """VACUUM the SQLite files of the instance (deleted rows otherwise stay in free pages); False when the
        storage is not SQLite or a file is busy."""
        paths = _sqlite_files(self.instance)
        done = bool(paths)
        for path in paths:
            try:
                with contextlib.closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as connection:
                    connection.execute("VACUUM")
                    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                done = False
        return done


def _is_sharded_sqlite(storage) -> bool:
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    return isinstance(storage, SqliteEventLogStorage)


def _clean_event_storage(storage, customer_id: str, keys: set[str] | None, matches, run_ids: set[str]) -> None:
    """What `wipe_asset_partitions` would do, through the SQL event log storage's own tables (Dagster 1.13 has no
    partition wipe for them): events filed under the partitions, asset check executions of the partitions or of the
    deleted runs, and each asset's latest materialization when it is gone (recomputed from the events that remain)."""
    import sqlalchemy as db
    from dagster._core.events import DagsterEventType
    from dagster._core.events.log import EventLogEntry
    from dagster._core.instance import RUNLESS_RUN_ID
    from dagster._core.storage.event_log.base import EventLogRecord
    from dagster._core.storage.event_log.schema import (
        AssetCheckExecutionsTable,
        AssetEventTagsTable,
        AssetKeyTable,
        SqlEventLogStorageTable,
    )
    from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
    from dagster_shared.serdes import deserialize_value, serialize_value

    if not isinstance(storage, SqlEventLogStorage):
        return

    def partition_clause(column):
        if keys is not None:
            return column.in_(sorted(keys))
        return db.or_(column == customer_id, column.like(f"{customer_id}|%"))  # ids hold no LIKE wildcard

    def drop_events(conn) -> None:
        ids = [
            row[0]
            for row in conn.execute(
                db.select(SqlEventLogStorageTable.c.id).where(partition_clause(SqlEventLogStorageTable.c.partition))
            ).fetchall()
        ]
        if ids:
            conn.execute(AssetEventTagsTable.delete().where(AssetEventTagsTable.c.event_id.in_(ids)))
            conn.execute(SqlEventLogStorageTable.delete().where(SqlEventLogStorageTable.c.id.in_(ids)))

    materialized = DagsterEventType.ASSET_MATERIALIZATION.value
    planned = DagsterEventType.ASSET_MATERIALIZATION_PLANNED.value
    with storage.index_connection() as conn:
        drop_events(conn)
        if storage.has_table("asset_check_executions"):
            clause = partition_clause(AssetCheckExecutionsTable.c.partition)
            if run_ids:
                clause = db.or_(clause, AssetCheckExecutionsTable.c.run_id.in_(sorted(run_ids)))
            conn.execute(AssetCheckExecutionsTable.delete().where(clause))
        rows = conn.execute(
            db.select(AssetKeyTable.c.asset_key, AssetKeyTable.c.last_materialization, AssetKeyTable.c.last_run_id)
        ).fetchall()
        for asset_key, last, last_run_id in rows:
            stale = last_run_id in run_ids
            if last:
                try:
                    record = deserialize_value(last)
                except Exception:  # noqa: BLE001 - an old format: recomputed
                    record = None
                entry = record.event_log_entry if isinstance(record, EventLogRecord) else None
                stale = (
                    stale
                    or entry is None
                    or entry.run_id in run_ids
                    or (entry.dagster_event is not None and matches(entry.dagster_event.partition))
                )
            if not stale:
                continue

            def latest(types: list[str]):
                return conn.execute(
                    db.select(SqlEventLogStorageTable.c.id, SqlEventLogStorageTable.c.event)
                    .where(
                        db.and_(
                            SqlEventLogStorageTable.c.asset_key == asset_key,
                            SqlEventLogStorageTable.c.dagster_event_type.in_(types),
                        )
                    )
                    .order_by(SqlEventLogStorageTable.c.id.desc())
                    .limit(1)
                ).fetchone()

            last_materialization = latest([materialized])
            last_run = latest([materialized, planned])
            values = {
                "last_materialization": None
                if last_materialization is None
                else serialize_value(
                    EventLogRecord(
                        storage_id=last_materialization[0],
                        event_log_entry=deserialize_value(last_materialization[1], EventLogEntry),
                    )
                ),
                "last_run_id": None if last_run is None else deserialize_value(last_run[1], EventLogEntry).run_id,
            }
            conn.execute(AssetKeyTable.update().where(AssetKeyTable.c.asset_key == asset_key).values(**values))
    if _is_sharded_sqlite(storage) and os.path.exists(storage.path_for_shard(RUNLESS_RUN_ID)):
        with storage.run_connection(RUNLESS_RUN_ID) as conn:  # runless reports keep their own shard
            drop_events(conn)


def _forget_in_sensor_cursor(instance, customer_id: str) -> None:
    """Drop the customer's drops and contracts fingerprints from the inbox sensor's cursor (a customer onboarded again
    under the same id is then picked up like a new one)."""
    from dagster._core.scheduler.instigation import InstigatorType, SensorInstigatorData

    if instance.schedule_storage is None:
        return
    prefix = f"{customer_id}|"
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        data = state.instigator_data
        if state.name != INBOX_SENSOR or not isinstance(data, SensorInstigatorData) or not data.cursor:
            continue
        try:
            cursor = json.loads(data.cursor)
        except ValueError:
            continue
        if not isinstance(cursor, dict):
            continue
        for section in ("seen", "requested"):
            if isinstance(cursor.get(section), dict):
                cursor[section] = {k: v for k, v in cursor[section].items() if not k.startswith(prefix)}
        if isinstance(cursor.get("contracts"), dict):
            cursor["contracts"].pop(customer_id, None)
        last_run_key = data.last_run_key
        if last_run_key and f"|{customer_id}|" in f"|{last_run_key}|":  # "<c>|<month>|..." or "contracts|<c>|..."
            last_run_key = None
        new = json.dumps(cursor, sort_keys=True)
        if new != data.cursor or last_run_key != data.last_run_key:
            instance.update_instigator_state(state.with_data(data._replace(cursor=new, last_run_key=last_run_key)))


def _sqlite_files(instance) -> list[str]:
    """The instance's SQLite database files that hold runs, events and schedules (none for other storages)."""
    from dagster._core.storage.event_log import ConsolidatedSqliteEventLogStorage
    from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
    from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
    from sqlalchemy.engine import make_url

    paths = []
    storage = instance.event_log_storage
    if _is_sharded_sqlite(storage):
        paths.append(storage.path_for_shard("index"))
    elif isinstance(storage, ConsolidatedSqliteEventLogStorage):  # dagster.yaml's LocalEventLogStorage
        paths.append(storage.get_db_path())
    for other, kind in ((instance.run_storage, SqliteRunStorage), (instance.schedule_storage, SqliteScheduleStorage)):
        if isinstance(other, kind):
            conn_string = getattr(other, "_conn_string", "")
            database = make_url(conn_string).database if conn_string else None
            if database:
                paths.append(database)
    return [p for p in paths if os.path.isfile(p)]


# --------------------------------------------------------------------------------------------- the job and schedule
@op(
    name="purge_expired",
    description="Deletes every expired customer-month (retention_months in customer.yaml) everywhere: inbox, "
    "warehouse, published folder, delivery target, and its Dagster runs and materializations.",
)
def purge_expired(context: OpExecutionContext, data_root: DataRootResource, delivery: DeliveryResource) -> None:
    root = data_root.root
    history = DagsterHistory(context.instance, keep_run_id=context.run_id)
    as_of = clock.today()
    try:
        result = lifecycle.purge(root, None, as_of, history, delivery.store(root), out=lambda line: None)
    except lifecycle.LifecycleRefused as problem:
        raise Failure(description=str(problem)) from None
    counts = {"customer_months": 0, "files": 0, "bytes": 0, "objects": 0, "runs": 0}
    for plan in result.purged:
        for name, value in plan.counts().items():
            counts[name] += value
    # counts only, never a customer: an offboarded customer leaves nothing in this run (the processing log has each)
    context.log.info(
        f"retention purge as of {as_of.isoformat()}: {counts['customer_months']} customer-month(s) of "
        f"{len(result.purged)} customer(s) deleted: {counts['files']} files ({counts['bytes']} bytes), "
        f"{counts['objects']} delivered objects, {counts['runs']} Dagster runs; see the processing log"
    )


@job(
    name=PURGE_JOB,
    executor_def=in_process_executor,
    tags={OPERATION_TAG: "purge"},
    description="Retention: deletes every customer-month older than its customer's retention_months, everywhere "
    "(the same purge as `tem privacy purge`).",
)
def purge_job():
    purge_expired()


@schedule(
    name="daily_retention_purge",
    job=purge_job,
    cron_schedule="0 4 * * *",  # 04:00 UTC every day, before anyone reads the day's reports
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Runs the retention purge every day, so that retention holds without anyone remembering it.",
)
def daily_retention_purge(context: ScheduleEvaluationContext):
    day = context.scheduled_execution_time.date().isoformat()
    return RunRequest(run_key=f"retention|{day}", tags={OPERATION_TAG: "purge"})
