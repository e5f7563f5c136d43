"""The warehouse: one Parquet file per table and customer-month, DuckDB as the query engine.

Why files and not one DuckDB database: DuckDB allows one writer per database file. Each
customer-month writes only its own files (warehouse/<customer>/<month>/<table>.parquet), so
any number of partitions can run at once; queries open an in-memory DuckDB over the files.
Writes go to a temporary file in the same folder and are renamed into place (atomic), so a
re-run replaces a partition's rows instead of adding to them.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from reports.layout import DataRoot, atomic_replace, temp_path_for

CONTRACTS_FOLDER = "contracts"


class Warehouse:
    def __init__(self, data_root: DataRoot):
        self.data_root = data_root

    def table_path(self, customer_id: str, month: str | None, table: str) -> Path:
        base = self.data_root.warehouse_dir(customer_id)
        folder = base / CONTRACTS_FOLDER if month is None else self.data_root.warehouse_dir(customer_id, month)
        return folder / f"{table}.parquet"

    def write(self, customer_id: str, month: str | None, table: str, frame: pl.DataFrame | pl.LazyFrame) -> Path:
        """Replace the table atomically; a LazyFrame is streamed to the file, never held in memory whole."""
        final = self.table_path(customer_id, month, table)
        tmp = temp_path_for(final)
        try:
            if isinstance(frame, pl.LazyFrame):
                frame.sink_parquet(tmp, compression="zstd", statistics=True)
            else:
                frame.write_parquet(tmp, compression="zstd", statistics=True)
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
        """An in-memory DuckDB session; reference tables with `read_parquet(path)` or `view()`."""
        return duckdb.connect(":memory:")

    @staticmethod
    def first_row(connection: duckdb.DuckDBPyConnection, sql: str) -> tuple:
        """The first row of a query, with the result fully consumed (DuckDB 2 refuses new work otherwise)."""
        return connection.sql(sql).fetchall()[0]

    def view(
        self, connection: duckdb.DuckDBPyConnection, name: str, customer_id: str, month: str | None, table: str
    ) -> None:
        path = self.table_path(customer_id, month, table)
        literal = str(path).replace("'", "''")  # path built from validated ids only
        connection.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{literal}')")
