"""What materializations and checks tell Dagster, in Dagster's own vocabulary: `dagster/row_count`, a
`dagster/column_schema` built from the table models, amounts as numbers for the Plots tab, breakdowns as tables."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import polars as pl
from dagster import (
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableColumnConstraints,
    TableRecord,
    TableSchema,
)

from reports.rules.money import CENT
from reports.warehouse.tables import StoredColumn, frame_columns, stored_columns
from schemas.tables import TableSpec

ROW_COUNT = "dagster/row_count"
COLUMN_SCHEMA = "dagster/column_schema"
LINEAGE = [
    StoredColumn("source_file", "VARCHAR", required=True, rule="the inbox file, by its stored reference"),
    StoredColumn("source_row", "BIGINT", required=True, rule="the row number a spreadsheet shows"),
]
TABLE_TYPES = {
    pl.String: "string",
    pl.Int64: "int",
    pl.Int32: "int",
    pl.UInt32: "int",
    pl.Boolean: "bool",
    pl.Float64: "float",
}


def _column(column: StoredColumn) -> TableColumn:
    notes = ["pseudonym: 32 hex characters, never a clear identifier"] if column.pseudonym else []
    notes += [column.rule] if column.rule else []
    return TableColumn(
        column.name,
        column.type,
        description="; ".join(notes) or None,
        constraints=TableColumnConstraints(nullable=not column.required),
    )


def warehouse_schema(spec: TableSpec) -> TableSchema:
    """An ingested table as the warehouse stores it: the columns of schemas/tables.py, then the lineage columns."""
    return TableSchema(columns=[_column(c) for c in [*stored_columns(spec), *LINEAGE]])


def derived_schema(schema: dict[str, pl.DataType]) -> TableSchema:
    """A table the pipeline derives (line_month_usage, findings, savings), from its polars schema."""
    return TableSchema(columns=[_column(c) for c in frame_columns(schema)])


def csv_schema(columns: list[str], amounts: tuple[str, ...] = ()) -> TableSchema:
    """A published CSV (schemas/outputs.py): text cells, amounts with two decimals."""
    return TableSchema(
        columns=[
            TableColumn(c, "decimal(18,2)", description="amount, two decimals, half-up")
            if c in amounts
            else TableColumn(c, "string")
            for c in columns
        ]
    )


def columns(schema: TableSchema) -> dict:
    """Definition metadata: the Columns tab shows the schema before any run."""
    return {COLUMN_SCHEMA: MetadataValue.table_schema(schema)}


def amount(value: Decimal | int | None) -> MetadataValue:
    # Display only, for Dagster's plots: rounded from the exact Decimal, which every file and table keeps
    # (money is never a binary float); the currency is the separate `currency` entry.
    return MetadataValue.float(float(Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP)))


def table(frame: pl.DataFrame) -> MetadataValue:
    """A breakdown (counts, display amounts) as a table with its schema; never rows of a warehouse table."""
    types = {
        name: "float" if isinstance(dtype, pl.Decimal) else TABLE_TYPES[type(dtype)]
        for name, dtype in frame.schema.items()
    }

    def cell(value, kind: str):
        return amount(value).value if kind == "float" and value is not None and not isinstance(value, float) else value

    records = [
        TableRecord({name: cell(value, types[name]) for name, value in row.items()})
        for row in frame.iter_rows(named=True)
    ]
    return MetadataValue.table(records, schema=TableSchema(columns=[TableColumn(n, t) for n, t in types.items()]))


def skipped(context: AssetExecutionContext, reason: str) -> MaterializeResult:
    """The materialization of a customer-month that has nothing to reconcile (reports.warehouse.readiness)."""
    context.log.info(reason)
    return MaterializeResult(metadata={"skipped": reason})
