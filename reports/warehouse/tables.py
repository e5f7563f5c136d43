"""What the warehouse tables hold, column by column: the DuckDB type, whether a value is required, whether it is a
pseudonym, and the rule the contract holds it to. Read from the table specs and pandera models of schemas/tables.py,
so the stored-schema check and the column schema Dagster shows say the same as the contract."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from schemas.tables import MODELS, PSEUDONYMIZED_COLUMNS, STORED_COLUMNS, TableSpec
from schemas.values import MONEY, QUANTITY

PSEUDONYM_PATTERN = "^[0-9a-f]{32}$"
# a column the pandera model does not type is typed by its spec's kind
KIND_DTYPES = {
    "text": pl.String,
    "enum": pl.String,
    "phone": pl.String,
    "date": pl.Date,
    "bool": pl.Boolean,
    "money": MONEY,
    "quantity": QUANTITY,
    "count": QUANTITY,
}
DUCKDB_TYPES = {pl.String: "VARCHAR", pl.Date: "DATE", pl.Boolean: "BOOLEAN", pl.Int64: "BIGINT", pl.Int32: "INTEGER"}


@dataclass(frozen=True)
class StoredColumn:
    name: str
    type: str  # as DuckDB's DESCRIBE shows it: VARCHAR, DATE, DECIMAL(18,4)...
    required: bool = False  # never null
    pseudonym: bool = False  # 32 hex characters, never a clear identifier
    rule: str = ""  # what the contract holds a value to, in words

    @property
    def type_family(self) -> str:
        """DECIMAL for DECIMAL(18,4): what the stored-schema check compares."""
        return self.type.split("(", 1)[0]


def duckdb_type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Decimal):
        return f"DECIMAL({dtype.precision},{dtype.scale})"
    return DUCKDB_TYPES[dtype if isinstance(dtype, type) else type(dtype)]


def _rule(check) -> str:
    statistics = check.statistics or {}
    if check.name == "isin":
        return "one of " + ", ".join(statistics["allowed_values"])
    if check.name == "str_matches":
        return f"matches {statistics['pattern']}"
    if check.name == "greater_than_or_equal_to":
        return f">= {statistics['min_value']}"
    if check.name == "whole_number":
        return "a whole number"
    return check.name


def stored_columns(spec: TableSpec) -> list[StoredColumn]:
    """The stored (pseudonymized) table's columns, in order: types and required values from the pandera model,
    the spec's kind for a column the model leaves alone (a descriptive text column)."""
    model = MODELS[spec.name].to_schema().columns
    kinds = {column.name: column.kind for column in spec.columns}
    columns = []
    for name in STORED_COLUMNS[spec.name]:
        checked = model.get(name)
        dtype = checked.dtype.type if checked is not None else KIND_DTYPES[kinds[name]]
        pseudonym = name in spec.pseudonymized
        rules = [] if pseudonym or checked is None else [_rule(check) for check in checked.checks]
        columns.append(
            StoredColumn(
                name,
                duckdb_type(dtype),
                required=checked is not None and not checked.nullable,
                pseudonym=pseudonym,
                rule="; ".join(rules),
            )
        )
    return columns


def frame_columns(schema: dict[str, pl.DataType]) -> list[StoredColumn]:
    """The columns of a table the pipeline derives (line_month_usage, findings, savings) from its polars schema."""
    return [
        StoredColumn(name, duckdb_type(dtype), pseudonym=name in PSEUDONYMIZED_COLUMNS)
        for name, dtype in schema.items()
    ]
