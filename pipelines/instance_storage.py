"""The local Dagster instance's event log and run storage: SQLite files, each through one engine per process.

dagster.yaml (the instance `tem` creates under DAGSTER_HOME) names `LocalEventLogStorage` as its event log storage.
Dagster's default SQLite event log keeps a database file per run, creates and stamps that file's schema when the run
starts (about 0.1 s), and, like its consolidated variant, builds a new SQLAlchemy engine, so a new connection and
an empty statement cache, for every event it stores. A customer-month's runs store about a hundred events each, so
for small customers that bookkeeping cost more than the reconciliation itself (issue #19: 27 s of the 36 s six
small customer-months took). Here all runs share one file, as they share one database in the team instance's
PostgreSQL storage, and each process keeps one engine: a pool of connections and the compiled statements.

The run storage gets the same treatment (`LocalRunStorage`: Dagster's SQLite run storage in its default place,
`<DAGSTER_HOME>/history/runs.db`): Dagster builds an engine per connection there too, and asks SQLAlchemy's
inspector about the schema on every run. Both commit with `synchronous=NORMAL` (see `_SharedEngine`). Together
these took 50 small customer-months from 61 to 46 s.

Everything else is Dagster's `ConsolidatedSqliteEventLogStorage`: the schema and its migrations, the write-ahead
log that lets the webserver read while runs write, the watch the UI's live run view uses, and the concurrency
tables the pools need. The file is `<base_dir>/event_log.db`, base_dir defaulting to DAGSTER_HOME; the privacy
operations delete runs' events from it and compact it (pipelines/lifecycle.py). Open the instance with DAGSTER_HOME
set, as `tem`, `tem ui` and Dagster's commands do: `DagsterInstance.from_config(folder)` while DAGSTER_HOME names
another folder (or none) would read the events from there (tests/support/commands.py `instance_at` sets it).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from contextlib import contextmanager

from dagster import Field, StringSource
from dagster._core.storage.event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import create_engine, event
from watchdog.events import PatternMatchingEventHandler
from watchdog.observers import Observer


class _SharedEngine:
    """One SQLAlchemy engine per process for a SQLite file (a forked child builds its own: SQLite forbids using a
    parent's connections), whose connections commit without waiting for the disk. In WAL mode
    `synchronous=NORMAL` keeps the database consistent through any crash; a power cut or operating-system crash
    may lose the last commits, here a run's latest bookkeeping, which `tem` reconciles at its next start (runs
    left STARTED are marked failed). With `FULL`, Dagster's default, every event waited for an fsync."""

    def __init__(self, conn_string: str):
        self._conn_string = conn_string
        self._lock = threading.Lock()
        self._engine = None
        self._pid = None

    def get(self):
        with self._lock:
            if self._engine is None or self._pid != os.getpid():
                if self._engine is not None:
                    self._engine.dispose(close=False)
                engine = create_engine(self._conn_string, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
                event.listen(engine, "connect", _commit_without_fsync)
                self._engine, self._pid = engine, os.getpid()
            return self._engine

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None and self._pid == os.getpid():
                self._engine.dispose()
            self._engine = None


def _commit_without_fsync(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class LocalEventLogStorage(ConsolidatedSqliteEventLogStorage):
    """ConsolidatedSqliteEventLogStorage with one engine per process instead of one per connection."""

    def __init__(self, base_dir, inst_data=None):
        self._shared = None
        self._tables: set[str] = set()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def config_type(cls):
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        """`base_dir` defaults to DAGSTER_HOME; without one (a `dagster` command run where dagster.yaml is but no
        DAGSTER_HOME is set, to which Dagster gives a temporary instance), a temporary folder removed at exit."""
        return cls(config_value.get("base_dir") or _instance_folder("event log"), inst_data=inst_data)

    @contextmanager
    def _connect(self):
        if self._shared is None:
            self._shared = _SharedEngine(self._conn_string)
        with self._shared.get().connect() as conn:
            with conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        """Dagster asks before every dynamic-partition lookup (several times a step), each time through a new
        engine; a table, once there, stays (the schema only grows by migration)."""
        if table_name not in self._tables:
            with self._connect() as conn:
                if conn.dialect.has_table(conn, table_name):
                    self._tables.add(table_name)
        return table_name in self._tables

    def watch(self, run_id, cursor, callback):
        """The UI's live view of a run: Dagster's own watch looks for changes to the database file only, but in WAL
        mode a write changes the `-wal` file beside it (the database file itself only at a checkpoint), so events
        would appear in the UI late, a thousand pages at a time. This one watches both."""
        if not self._obs:
            self._obs = Observer()
            self._obs.start()
            self._obs.schedule(_DatabaseWatch(self), self._base_dir, recursive=False)
        self._watchers[run_id][callback] = cursor

    def dispose(self):
        if self._shared is not None:
            self._shared.dispose()
        super().dispose()


def _yes_is_final(method):
    """Memoize a schema question once its answer is yes: tables and columns, once there, stay."""

    def asked(self, *args):
        key = (method.__name__, args)
        if key not in self._schema_yes and method(self, *args):
            self._schema_yes.add(key)
        return key in self._schema_yes

    return asked


class LocalRunStorage(SqliteRunStorage):
    """Dagster's SQLite run storage (`<DAGSTER_HOME>/history/runs.db`, where Dagster keeps it by default) with one
    engine per process instead of a new one per connection, and its schema questions (asked on every run, each
    through SQLAlchemy's inspector) answered once."""

    def __init__(self, conn_string, inst_data=None):
        self._shared = _SharedEngine(conn_string)
        self._schema_yes: set = set()
        super().__init__(conn_string, inst_data=inst_data)

    @classmethod
    def config_type(cls):
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        base_dir = config_value.get("base_dir") or os.path.join(_instance_folder("run storage"), "history")
        return cls.from_local(base_dir, inst_data=inst_data)

    @contextmanager
    def connect(self):
        with self._shared.get().connect() as conn:
            with conn.begin():
                yield conn

    has_run_stats_index_cols = _yes_is_final(SqliteRunStorage.has_run_stats_index_cols)
    has_bulk_actions_selector_cols = _yes_is_final(SqliteRunStorage.has_bulk_actions_selector_cols)
    has_backfill_id_column = _yes_is_final(SqliteRunStorage.has_backfill_id_column)
    has_bulk_action_job_name_column = _yes_is_final(SqliteRunStorage.has_bulk_action_job_name_column)
    has_backfill_tags_table = _yes_is_final(SqliteRunStorage.has_backfill_tags_table)
    has_built_index = _yes_is_final(SqliteRunStorage.has_built_index)

    def dispose(self):
        self._shared.dispose()
        super().dispose()


def _instance_folder(what: str) -> str:
    """DAGSTER_HOME; without one (a `dagster` command run where dagster.yaml is but no DAGSTER_HOME is set, to
    which Dagster gives a temporary instance), a temporary folder removed at exit."""
    if os.environ.get("DAGSTER_HOME"):
        return os.environ["DAGSTER_HOME"]
    folder = tempfile.mkdtemp(prefix=f".tmp_dagster_{what.replace(' ', '_')}_")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


class _DatabaseWatch(PatternMatchingEventHandler):
    def __init__(self, storage: LocalEventLogStorage):
        self._storage = storage
        database = storage.get_db_path()
        super().__init__(patterns=[database, f"{database}-wal"])

    def on_modified(self, event):
        self._storage.on_modified()
