"""The local instance's SQLite storages (pipelines/instance_storage.py): where runs and events are kept, one engine
per process whose connections commit without an fsync each, and schema questions answered once."""

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from dagster import DagsterRun

from pipelines.instance_storage import LocalEventLogStorage, LocalRunStorage
from tests.support.commands import instance_at

PROJECT = Path(__file__).resolve().parents[2]
SYNCHRONOUS_NORMAL = 1


@pytest.fixture
def home(tmp_path) -> Path:
    shutil.copy(PROJECT / "dagster.yaml", tmp_path / "dagster.yaml")
    return tmp_path


def test_runs_and_events_are_kept_in_one_file_each_under_dagster_home(home):
    with instance_at(home) as instance:
        assert isinstance(instance.run_storage, LocalRunStorage)
        assert isinstance(instance.event_log_storage, LocalEventLogStorage)
        run = instance.add_run(DagsterRun(job_name="reconcile_customer_month", run_id="a" * 32))
        instance.report_engine_event("started by a test", run)
    with closing(sqlite3.connect(home / "history" / "runs.db")) as db:  # Dagster's default place for runs
        assert db.execute("SELECT run_id FROM runs").fetchall() == [("a" * 32,)]
    with closing(sqlite3.connect(home / "event_log.db")) as db:
        assert db.execute("SELECT count(*) FROM event_logs WHERE run_id = ?", ("a" * 32,)).fetchone()[0] == 1


def test_each_storage_commits_through_one_engine_without_an_fsync_per_commit(home):
    with instance_at(home) as instance:
        runs, events = instance.run_storage, instance.event_log_storage
        with runs.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == SYNCHRONOUS_NORMAL
        with events.index_connection() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == SYNCHRONOUS_NORMAL
        assert runs._shared.get() is runs._shared.get()
        with events.index_connection():
            pass
        assert events._shared.get() is events._shared.get()


def test_schema_questions_are_asked_of_the_database_until_the_answer_is_yes(home, monkeypatch):
    with instance_at(home) as instance:
        events = instance.event_log_storage
        dialect = type(events._shared.get().dialect)
        asked = []
        real_has_table = dialect.has_table
        monkeypatch.setattr(
            dialect,
            "has_table",
            lambda self, conn, name, *a, **k: asked.append(name) or real_has_table(self, conn, name, *a, **k),
        )
        for _ in range(3):
            assert events.has_table("dynamic_partitions")
            assert not events.has_table("no_such_table")
        assert asked == ["dynamic_partitions", "no_such_table", "no_such_table", "no_such_table"]

        runs = instance.run_storage
        runs._schema_yes.clear()  # opening the instance asked already
        inspected = []
        real_get_columns = dialect.get_columns
        monkeypatch.setattr(
            dialect,
            "get_columns",
            lambda self, conn, table, *a, **k: inspected.append(table) or real_get_columns(self, conn, table, *a, **k),
        )
        assert all(runs.has_run_stats_index_cols() for _ in range(3))
        assert inspected == ["runs"]
