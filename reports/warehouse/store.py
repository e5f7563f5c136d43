"""The warehouse: one Parquet file per table and customer-month, DuckDB as the query engine.

Why files and not one DuckDB database: DuckDB allows one writer per database file. Each
customer-month writes only its own files (warehouse/<customer>/<month>/<table>.parquet), so
any number of partitions can run at once; queries open an in-memory DuckDB over the files.
Writes go to a temporary file in the same folder and are renamed into place (atomic), so a
re-run replaces a partition's rows instead of adding to them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from reports.layout import DataRoot, atomic_replace, temp_path_for

_database: tuple[int, duckdb.DuckDBPyConnection] | None = None
_sessions: weakref.WeakSet = weakref.WeakSet()  # the sessions (cursors) handed out and still referenced


def _process_database() -> duckdb.DuckDBPyConnection:
    """This process's in-memory DuckDB database, opened on first use (again in a forked child, which must not use
    its parent's)."""
    global _database
    if _database is None or _database[0] != os.getpid():
        _database = (os.getpid(), duckdb.connect(":memory:"))
        _sessions.clear()
    return _database[1]


def _session() -> duckdb.DuckDBPyConnection:
    database = _process_database()
    if not _sessions:
        # DuckDB keeps the memory its queries used after their session is gone, where a closed database gives it
        # back; that memory would then sit under the polars work of the next steps (at 200,000 lines the process
        # tree's peak grew from 2.3 to 3.0 GB). With no session open, shrinking the memory limit frees it
        # (half a millisecond); nothing is evicted, since nothing is held.
        database.execute("SET memory_limit = '1MB'")
        database.execute("RESET memory_limit")
    session = database.cursor()
    _sessions.add(session)
    return session


ZSTD_LEVEL = 1


class Warehouse:
    def __init__(self, data_root: DataRoot):
        self.data_root = data_root

    def table_path(self, customer_id: str, month: str | None, table: str) -> Path:
        return self.data_root.warehouse_table(customer_id, month, table)

    def write(self, customer_id: str, month: str | None, table: str, frame: pl.DataFrame | pl.LazyFrame) -> Path:
        """Replace the table atomically; a LazyFrame is streamed to the file, never held in memory whole."""
        final = self.table_path(customer_id, month, table)
        tmp = temp_path_for(final)
        try:
            # zstd at level 1: the size of the default level (3) in about half the time
            if isinstance(frame, pl.LazyFrame):
                frame.sink_parquet(tmp, compression="zstd", compression_level=ZSTD_LEVEL, statistics=True)
            else:
                frame.write_parquet(tmp, compression="zstd", compression_level=ZSTD_LEVEL, statistics=True)
            atomic_replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return final

    @contextmanager
    def scratch(self, customer_id: str, month: str, purpose: str):
        """A private folder beside a partition's tables for intermediate files (pseudonymized, like the tables
        themselves), removed afterwards whatever happens."""
        folder = Path(tempfile.mkdtemp(prefix=f".{purpose}-", dir=self.data_root.warehouse_dir(customer_id, month)))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def exists(self, customer_id: str, month: str | None, table: str) -> bool:
        return self.table_path(customer_id, month, table).exists()

    def read(self, customer_id: str, month: str | None, table: str) -> pl.DataFrame:
        path = self.table_path(customer_id, month, table)
        if not path.exists():
            where = f"{customer_id} {month}" if month else customer_id
            raise FileNotFoundError(f"warehouse table {table} for {where} has not been built yet; materialize it first")
        return pl.read_parquet(path)

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB session; reference tables with `read_parquet(path)` or `view()`.

        A session is a cursor on this process's one in-memory database: opening a database costs about 20 ms, a
        cursor nothing, and a step opens several. What a session creates must be TEMP (its views, tables and macros:
        `view()` and the rules do so): temporary objects are the cursor's own, invisible to every other session and
        dropped when it is closed or garbage-collected, so nothing of one customer-month outlives its session."""
        return _session()

    @staticmethod
    def first_row(connection: duckdb.DuckDBPyConnection, sql: str) -> tuple:
        """The first row of a query, with the result fully consumed (DuckDB 2 refuses new work otherwise)."""
        return connection.sql(sql).fetchall()[0]

    def view(
        self, connection: duckdb.DuckDBPyConnection, name: str, customer_id: str, month: str | None, table: str
    ) -> None:
        path = self.table_path(customer_id, month, table)
        literal = str(path).replace("'", "''")  # path built from validated ids only
        connection.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM read_parquet('{literal}')")
