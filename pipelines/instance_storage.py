"""The local Dagster instance's event log: every run's events in one SQLite file, through one engine per process.

dagster.yaml (the instance `tem` creates under DAGSTER_HOME) names `LocalEventLogStorage` as its event log storage.
Dagster's default SQLite event log keeps a database file per run, creates and stamps that file's schema when the run
starts (about 0.1 s), and, like its consolidated variant, builds a new SQLAlchemy engine, so a new connection and
an empty statement cache, for every event it stores. A customer-month's runs store about a hundred events each, so
for small customers that bookkeeping cost more than the reconciliation itself (issue #19: 27 s of the 36 s six
small customer-months took). Here all runs share one file, as they share one database in the team instance's
PostgreSQL storage, and each process keeps one engine: a pool of connections and the compiled statements.

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
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import create_engine
from watchdog.events import PatternMatchingEventHandler
from watchdog.observers import Observer


class LocalEventLogStorage(ConsolidatedSqliteEventLogStorage):
    """ConsolidatedSqliteEventLogStorage with one engine per process instead of one per connection."""

    def __init__(self, base_dir, inst_data=None):
        self._engine_lock = threading.Lock()
        self._engine = None
        self._engine_pid = None
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def config_type(cls):
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        """`base_dir` defaults to DAGSTER_HOME; without one (a `dagster` command run where dagster.yaml is but no
        DAGSTER_HOME is set, to which Dagster gives a temporary instance), a temporary folder removed at exit."""
        base_dir = config_value.get("base_dir") or os.environ.get("DAGSTER_HOME")
        if not base_dir:
            base_dir = tempfile.mkdtemp(prefix=".tmp_dagster_event_log_")
            atexit.register(shutil.rmtree, base_dir, ignore_errors=True)
        return cls(base_dir, inst_data=inst_data)

    def _shared_engine(self):
        with self._engine_lock:
            if self._engine is None or self._engine_pid != os.getpid():
                # a forked child never uses its parent's pooled SQLite connections (SQLite forbids it)
                if self._engine is not None:
                    self._engine.dispose(close=False)
                self._engine = create_engine(self._conn_string, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
                self._engine_pid = os.getpid()
            return self._engine

    @contextmanager
    def _connect(self):
        with self._shared_engine().connect() as conn:
            with conn.begin():
                yield conn

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
        with self._engine_lock:
            if self._engine is not None and self._engine_pid == os.getpid():
                self._engine.dispose()
            self._engine = None
        super().dispose()


class _DatabaseWatch(PatternMatchingEventHandler):
    def __init__(self, storage: LocalEventLogStorage):
        self._storage = storage
        database = storage.get_db_path()
        super().__init__(patterns=[database, f"{database}-wal"])

    def on_modified(self, event):
        self._storage.on_modified()
