"""Warehouse sessions share one in-memory DuckDB database per process (reports/warehouse/store.py): what one session
creates is invisible to every other, and the memory a finished session's queries used is given back."""

from __future__ import annotations

import gc
import resource

import polars as pl
import pytest

from reports.layout import DataRoot
from reports.warehouse.store import Warehouse


@pytest.fixture
def warehouse(tmp_path):
    return Warehouse(DataRoot(tmp_path))


def resident_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def test_a_session_sees_only_its_own_views_tables_and_macros(warehouse, tmp_path):
    first = warehouse.connect()
    first.execute("CREATE OR REPLACE TEMP MACRO qty(x) AS x + 1")
    first.execute("CREATE OR REPLACE TEMP TABLE rows_of_one AS SELECT 42 AS value")
    (tmp_path / "warehouse" / "acme" / "2026-09").mkdir(parents=True)
    warehouse.write("acme", "2026-09", "roster", pl.DataFrame({"msisdn": ["a"]}))
    warehouse.view(first, "roster", "acme", "2026-09", "roster")
    assert first.sql("SELECT qty(1), (SELECT value FROM rows_of_one), (SELECT count(*) FROM roster)").fetchall() == [
        (2, 42, 1)
    ]

    second = warehouse.connect()
    for query in ("SELECT qty(1)", "SELECT * FROM rows_of_one", "SELECT * FROM roster"):
        with pytest.raises(Exception, match="does not exist"):
            second.sql(query).fetchall()


def test_the_memory_of_finished_sessions_is_given_back_to_the_next(warehouse):
    session = warehouse.connect()
    before = resident_mib()
    session.execute("CREATE TEMP TABLE big AS SELECT range AS a, repeat('x', 40) || range AS b FROM range(4000000)")
    session.sql("SELECT count(*) FROM big").fetchall()
    held = resident_mib()
    assert held - before > 150  # the table is in this process's memory
    del session
    gc.collect()

    warehouse.connect()  # no session open any more: what `big` took is given back
    assert resident_mib() < before + (held - before) / 3
