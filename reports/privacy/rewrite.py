"""Rewrite one inbox file in its own format without some rows and with some cells changed (GDPR erasure).

Rows are named by the `source_row` numbers that `reports.inputs.readers.read_text_frame` gives them (header = row 1), so the
mapping from a number to a physical record follows that reader exactly:

- CSV (polars): leading lines that are empty (b"" or b"\\r") before the header are skipped and not counted; the first
  other line is the header (row 1); from then on every record counts, blank lines included (the reader numbers them
  and drops them afterwards); a record may span lines inside quotes (polars toggles its quote state on every `"`, so
  a line end is a record end exactly when the number of quotes before it is even); the empty piece after a final line
  end is not a record.
- XLSX (fastexcel/calamine): the first sheet; the header is its first row holding a value (empty leading rows are not
  counted), every row after it counts, empty ones included.
- Parquet: row i (0-based) is source_row i + 2.

Everything not edited is left as it was: CSV bytes are copied unchanged (BOM, line ends, quoting), the workbook keeps
its other sheets and styles, the Parquet schema (types, order, metadata) and compression are kept. Output is
deterministic. Money cells are never converted through floats.
"""

from __future__ import annotations

import io
import os
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import compress, count, repeat
from operator import and_
from pathlib import Path
from xml.etree import ElementTree
from zipfile import ZipFile

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from openpyxl import load_workbook
from openpyxl.worksheet.cell_range import CellRange
from openpyxl.worksheet.worksheet import Worksheet

from reports.workbook.archive import reproducible_bytes

BOM = b"\xef\xbb\xbf"
ZIP_MAGIC = b"PK\x03\x04"
PARQUET_MAGIC = b"PAR1"
FIXED_TIMESTAMP = datetime(2026, 1, 1, 0, 0, 0)  # workbook times when the source states none, and zip entry dates
CORE_PROPERTIES = "docProps/core.xml"
DCTERMS = "{http://purl.org/dc/terms/}"


class RewriteError(ValueError):
    """The file cannot be rewritten. One line naming the file and the problem, never a cell value."""


@dataclass(frozen=True)
class RowEdits:
    """Rows to remove and cells to set, by `source_row` number; columns named as read_text_frame names them."""

    drop: frozenset[int] = frozenset()
    set_values: Mapping[str, Mapping[int, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "drop", frozenset(self.drop))


def rewrite_file(source: Path, target: Path, edits: RowEdits, display_name: str) -> int:
    """Write `source` rewritten with `edits` to `target` (a new file; the caller renames it into place).

    Returns the number of rows removed. On any error `target` does not exist afterwards.
    """
    source, target = Path(source), Path(target)
    if target.exists() and source.exists() and os.path.samefile(source, target):
        raise RewriteError(f"{display_name}: the rewritten file must not replace the source directly")
    try:
        suffix = source.suffix.lower()
        if suffix not in REWRITERS:
            raise RewriteError(f"{display_name}: unsupported file type {suffix!r}; expected .csv, .xlsx or .parquet")
        drop, set_values = _checked_edits(edits, display_name)
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise RewriteError(f"{display_name}: cannot be opened ({exc.strerror or 'I/O error'})") from None
        payload = REWRITERS[suffix](data, drop, set_values, display_name)
        try:
            with target.open("wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise RewriteError(
                f"{display_name}: the rewritten file could not be written ({exc.strerror or 'I/O error'})"
            ) from None
    except BaseException:
        try:
            target.unlink(missing_ok=True)
        except OSError:
            pass
        raise
    return len(drop)


def _checked_edits(edits: RowEdits, display_name: str) -> tuple[frozenset[int], dict[str, dict[int, str]]]:
    """Edits with column names normalised like the reader's headers; edits of dropped rows are moot."""
    rows = set(edits.drop)
    set_values: dict[str, dict[int, str]] = {}
    for column, cells in edits.set_values.items():
        name = str(column).strip().lower()
        if name in set_values:
            raise RewriteError(f"{display_name}: the edits name column {name!r} more than once")
        kept = {row: text for row, text in cells.items() if row not in edits.drop}
        if any(not isinstance(text, str) for text in kept.values()):
            raise RewriteError(f"{display_name}: a new value for column {name!r} is not text")
        rows.update(kept)
        set_values[name] = kept
    if any(isinstance(row, bool) or not isinstance(row, int) for row in rows):
        raise RewriteError(f"{display_name}: row numbers must be whole numbers")
    return edits.drop, set_values


def _rows_outside(rows: set[int] | frozenset[int], last_row: int, display_name: str) -> None:
    outside = sorted(row for row in rows if row < 2 or row > last_row)
    if outside:
        shown = ", ".join(str(row) for row in outside[:5]) + (", ..." if len(outside) > 5 else "")
        has = f"rows 2 to {last_row}" if last_row >= 2 else "no data rows"
        raise RewriteError(f"{display_name}: row(s) {shown} are not data rows of the file (it has {has})")


def _all_rows(drop: frozenset[int], set_values: Mapping[str, Mapping[int, str]]) -> set[int]:
    rows = set(drop)
    for cells in set_values.values():
        rows.update(cells)
    return rows


def _column_positions(names: list[str], set_values: Mapping[str, object], display_name: str) -> dict[str, int]:
    """Position of every edited column among the (already normalised) header names."""
    positions = {}
    for column in set_values:
        found = [i for i, name in enumerate(names) if name == column]
        if not found:
            raise RewriteError(f"{display_name}: the file has no column {column!r}")
        if len(found) > 1:
            raise RewriteError(f"{display_name}: the header names column {column!r} more than once")
        positions[column] = found[0]
    return positions


# ---------------------------------------------------------------------------------------------------------------- CSV


def _csv_records(body: bytes, display_name: str) -> list[bytes]:
    """`body` split into records, line ends removed (a CRLF record keeps its b"\\r").

    Joining the records with b"\\n" gives `body` back. A file whose body ends with a line end has a last, empty piece.
    Lines are split in C; only when a line holds an odd number of quotes (a quoted field spanning lines) are the
    lines from one such line to the next odd one joined into one record.
    """
    lines = body.split(b"\n")
    if b'"' not in body:
        return lines
    odd = list(compress(count(), map(and_, map(bytes.count, lines, repeat(b'"')), repeat(1))))
    if not odd:
        return lines
    if len(odd) % 2:
        raise RewriteError(f"{display_name}: not a well-formed CSV file (unbalanced quotes)")
    records: list[bytes] = []
    previous = 0
    for first, last in zip(odd[::2], odd[1::2]):
        records.extend(lines[previous:first])
        records.append(b"\n".join(lines[first : last + 1]))
        previous = last + 1
    records.extend(lines[previous:])
    return records


def _csv_fields(record: bytes, display_name: str) -> list[bytes]:
    """A record's fields as written (quotes kept), split on the commas outside quotes."""
    fields: list[bytes] = []
    pending: bytes | None = None
    for piece in record.split(b","):
        pending = piece if pending is None else pending + b"," + piece
        if not pending.count(b'"') % 2:
            fields.append(pending)
            pending = None
    if pending is not None:
        raise RewriteError(f"{display_name}: not a well-formed CSV file (unbalanced quotes)")
    return fields


def _csv_unquote(raw: bytes) -> bytes:
    if len(raw) >= 2 and raw.startswith(b'"') and raw.endswith(b'"'):
        return raw[1:-1].replace(b'""', b'"')
    return raw


def _csv_cell(text: str) -> bytes:
    """An edited field: unquoted unless it needs quotes."""
    raw = text.encode("utf-8")
    if any(special in raw for special in (b",", b'"', b"\r", b"\n")):
        return b'"' + raw.replace(b'"', b'""') + b'"'
    return raw


def _split_line_end(record: bytes) -> tuple[bytes, bytes]:
    # a record is complete (even quotes), so a final CR lies outside quotes: it belongs to the CRLF line end
    return (record[:-1], b"\r") if record.endswith(b"\r") else (record, b"")


def _rewrite_csv(data: bytes, drop: frozenset[int], set_values: dict[str, dict[int, str]], display_name: str) -> bytes:
    if data.startswith(ZIP_MAGIC) or data.startswith(PARQUET_MAGIC):
        raise RewriteError(f"{display_name}: not a CSV text file (it looks like a binary workbook or Parquet file)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise RewriteError(f"{display_name}: not UTF-8 text; save it as UTF-8 CSV") from None
    bom = BOM if data.startswith(BOM) else b""
    body = data[len(bom) :]
    records = _csv_records(body, display_name)
    ends_with_line_end = body.endswith(b"\n")
    record_count = len(records) - ends_with_line_end  # the empty piece after a final line end is no record

    header = 0  # polars skips empty lines (LF or CRLF) before the header and does not count them
    while header < record_count and records[header] in (b"", b"\r"):
        header += 1
    rows = _all_rows(drop, set_values)
    last_row = record_count - header  # source_row r is records[header + r - 1]
    _rows_outside(rows, last_row, display_name)

    if set_values:
        if header >= record_count:
            names: list[str] = []
        else:
            header_fields = _csv_fields(_split_line_end(records[header])[0], display_name)
            names = [_csv_unquote(raw).decode("utf-8").strip().lower() for raw in header_fields]
        positions = _column_positions(names, set_values, display_name)
        changes: dict[int, dict[int, str]] = {}
        for column, cells in set_values.items():
            for row, text in cells.items():
                changes.setdefault(row, {})[positions[column]] = text
        for row, cells in changes.items():
            index = header + row - 1
            content, line_end = _split_line_end(records[index])
            fields = _csv_fields(content, display_name)
            for position, text in cells.items():
                if position >= len(fields):  # a short row: polars reads the missing fields as empty
                    fields.extend([b""] * (position + 1 - len(fields)))
                fields[position] = _csv_cell(text)
            records[index] = b",".join(fields) + line_end

    if not drop:
        return bom + b"\n".join(records)
    keep = [True] * len(records)
    for row in drop:
        keep[header + row - 1] = False
    output = b"\n".join(compress(records, keep))
    if not ends_with_line_end and not keep[record_count - 1] and output.endswith(b"\r"):
        output = output[:-1]  # the new last record loses its line end, as the old last one had none
    return bom + output


# --------------------------------------------------------------------------------------------------------------- XLSX


def _rewrite_xlsx(data: bytes, drop: frozenset[int], set_values: dict[str, dict[int, str]], display_name: str) -> bytes:
    if not data.startswith(ZIP_MAGIC):
        raise RewriteError(f"{display_name}: not an Excel .xlsx workbook")
    try:
        workbook = load_workbook(io.BytesIO(data), rich_text=True)
        stated = _stated_times(data)
    except Exception:  # openpyxl raises many types for damaged workbooks
        raise RewriteError(f"{display_name}: the workbook could not be opened (damaged or not an .xlsx file)") from None
    if not workbook.sheetnames:
        raise RewriteError(f"{display_name}: the workbook has no sheet")
    sheet = workbook[workbook.sheetnames[0]]
    if not isinstance(sheet, Worksheet):
        raise RewriteError(f"{display_name}: the first sheet is not a worksheet")
    cells = sheet._cells  # read-only scan; iterating the sheet would create every empty cell (openpyxl is pinned)

    formulas = [coordinate for coordinate, cell in cells.items() if cell.data_type == "f"]
    if formulas:
        # openpyxl saves formulas without their computed values, which the reader would then see as empty cells:
        # the first sheet keeps the values it shows instead (other sheets keep their formulas).
        try:
            values = load_workbook(io.BytesIO(data), data_only=True)[workbook.sheetnames[0]]
        except Exception:
            raise RewriteError(f"{display_name}: the workbook's computed values could not be read") from None
        for row, column in formulas:
            cells[row, column].value = values.cell(row=row, column=column).value

    # the reader's header is the first row holding a value (an empty text counts, a style alone does not)
    used_rows = [row for (row, _), cell in cells.items() if cell.value is not None]
    header = min(used_rows, default=0)
    last_row = max(used_rows) - header + 1 if used_rows else 0
    _rows_outside(_all_rows(drop, set_values), last_row, display_name)

    if set_values:
        header_cells = {column: cell.value for (row, column), cell in cells.items() if row == header}
        width = max(header_cells, default=0)
        names = [
            "" if header_cells.get(column) is None else str(header_cells[column]).strip().lower()
            for column in range(1, width + 1)
        ]
        positions = _column_positions(names, set_values, display_name)
        for name, edits in set_values.items():
            for row, text in edits.items():
                cell = sheet.cell(row=header + row - 1, column=positions[name] + 1)
                try:
                    cell.value = text or None
                except Exception:  # a merged-over cell (read-only), or characters a workbook cannot hold
                    raise RewriteError(f"{display_name}: column {name!r} of row {row} cannot be set") from None
                if text.startswith("="):
                    cell.data_type = "s"  # text, never a formula

    if drop:
        deleted = sorted(header + row - 1 for row in drop)
        for first, amount in reversed(_runs(deleted)):
            sheet.delete_rows(first, amount)
        _follow_deleted_rows(sheet, deleted)

    if "created" not in stated:
        workbook.properties.created = FIXED_TIMESTAMP
    if "modified" not in stated:
        workbook.properties.modified = FIXED_TIMESTAMP
    try:
        return reproducible_bytes(workbook, FIXED_TIMESTAMP)
    except Exception:
        raise RewriteError(f"{display_name}: the workbook could not be saved") from None


def _stated_times(data: bytes) -> set[str]:
    """Which of the document times the source workbook states (openpyxl fills a missing one with now)."""
    with ZipFile(io.BytesIO(data)) as archive:
        if CORE_PROPERTIES not in archive.namelist():
            return set()
        root = ElementTree.fromstring(archive.read(CORE_PROPERTIES))
    return {name for name in ("created", "modified") if (root.findtext(f"{DCTERMS}{name}") or "").strip()}


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Sorted row numbers as (first, amount) runs of consecutive rows."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and runs[-1][0] + runs[-1][1] == row:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((row, 1))
    return runs


def _follow_deleted_rows(sheet, deleted: list[int]) -> None:
    """Move what openpyxl's delete_rows leaves behind: row heights and flags, merged ranges, filter and table ranges."""
    gone = set(deleted)

    def shifted(min_row: int, max_row: int) -> tuple[int, int] | None:
        low, high = min_row - bisect_left(deleted, min_row), max_row - bisect_right(deleted, max_row)
        return (low, high) if low <= high else None

    def shifted_ref(ref: str | None) -> str | None:
        if not ref:
            return ref
        area = CellRange(ref)
        rows = shifted(area.min_row, area.max_row)
        if rows is None:
            return None
        return CellRange(min_col=area.min_col, min_row=rows[0], max_col=area.max_col, max_row=rows[1]).coord

    dimensions = sorted(sheet.row_dimensions.items())
    sheet.row_dimensions.clear()
    for index, dimension in dimensions:
        if index not in gone:
            dimension.index = index - bisect_left(deleted, index)
            sheet.row_dimensions[dimension.index] = dimension

    for merged in list(sheet.merged_cells.ranges):
        rows = shifted(merged.min_row, merged.max_row)
        if rows is None or (rows[0] == rows[1] and merged.min_col == merged.max_col):
            sheet.merged_cells.remove(merged)
        else:
            merged.min_row, merged.max_row = rows

    if sheet.auto_filter.ref:
        sheet.auto_filter.ref = shifted_ref(sheet.auto_filter.ref)
    for name in list(sheet.tables):
        table = sheet.tables[name]
        ref = shifted_ref(table.ref)
        if ref is None:
            del sheet.tables[name]
            continue
        table.ref = ref
        if table.autoFilter is not None and table.autoFilter.ref:
            table.autoFilter.ref = ref


# ------------------------------------------------------------------------------------------------------------ Parquet

PARQUET_CODECS = {
    "UNCOMPRESSED": "NONE",
    "SNAPPY": "SNAPPY",
    "GZIP": "GZIP",
    "BROTLI": "BROTLI",
    "ZSTD": "ZSTD",
    "LZ4": "LZ4",
    "LZ4_RAW": "LZ4",
}


def _rewrite_parquet(
    data: bytes, drop: frozenset[int], set_values: dict[str, dict[int, str]], display_name: str
) -> bytes:
    if not data.startswith(PARQUET_MAGIC):
        raise RewriteError(f"{display_name}: not a Parquet file")
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        table = parquet.read()
        metadata = parquet.metadata
    except (pa.ArrowException, OSError, ValueError):
        raise RewriteError(f"{display_name}: the Parquet file could not be read (damaged)") from None
    rows = table.num_rows
    _rows_outside(_all_rows(drop, set_values), rows + 1, display_name)

    names = [name.strip().lower() for name in table.column_names]
    for column, position in _column_positions(names, set_values, display_name).items():
        cells = sorted(set_values[column].items())
        if not cells:
            continue
        schema_field = table.schema.field(position)
        replaced = _replaced_column(table.column(position), schema_field, cells, rows, column, display_name)
        table = table.set_column(position, schema_field, replaced)

    if drop:
        table = table.filter(_mask(rows, (row - 2 for row in drop), keep=True))

    codecs = {}
    for group in range(metadata.num_row_groups):
        chunks = metadata.row_group(group)
        for index in range(chunks.num_columns):
            chunk = chunks.column(index)
            codecs.setdefault(chunk.path_in_schema, PARQUET_CODECS.get(chunk.compression, "SNAPPY"))
    compression: str | dict[str, str] = "SNAPPY"
    if codecs:
        compression = next(iter(codecs.values())) if len(set(codecs.values())) == 1 else codecs
    group_rows = max((metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)), default=0)
    sink = pa.BufferOutputStream()
    try:
        pq.write_table(table, sink, compression=compression, row_group_size=group_rows or None)
    except (pa.ArrowException, ValueError):
        raise RewriteError(f"{display_name}: the rewritten Parquet file could not be written") from None
    return sink.getvalue().to_pybytes()


def _mask(length: int, positions, keep: bool):
    """A boolean array of `length`: the positions False when `keep` (else True), built without a Python list."""
    flags = bytearray(b"\x01" * length if keep else length)
    for position in positions:
        flags[position] = 0 if keep else 1
    return pa.Array.from_buffers(pa.uint8(), length, [None, pa.py_buffer(flags)]).cast(pa.bool_())


def _replaced_column(column, schema_field, cells: list[tuple[int, str]], rows: int, name: str, display_name: str):
    """`column` with the cells at the given source rows set to the new text, cast to the column's type."""
    column_type = schema_field.type
    value_type = column_type.value_type if pa.types.is_dictionary(column_type) else column_type
    textual = pa.types.is_string(value_type) or pa.types.is_large_string(value_type)
    texts = []
    for _, text in cells:
        if text == "" and (not textual or schema_field.nullable):
            if not schema_field.nullable:
                raise RewriteError(f"{display_name}: column {name!r} cannot be emptied (it holds no empty values)")
            texts.append(None)  # an emptied cell, as in a CSV or a workbook
        else:
            texts.append(text)
    try:
        # text to the column's type by Arrow's own parsers: decimals stay exact, never through a float
        replacements = pa.array(texts, pa.string()).cast(value_type)
        values = column.combine_chunks()
        if pa.types.is_dictionary(column_type):
            values = values.cast(value_type)
        replaced = pc.replace_with_mask(values, _mask(rows, (row - 2 for row, _ in cells), keep=False), replacements)
        if pa.types.is_dictionary(column_type):
            replaced = replaced.dictionary_encode().cast(column_type)
    except (pa.ArrowException, ValueError):
        raise RewriteError(f"{display_name}: a new value for column {name!r} is not a valid {value_type}") from None
    return replaced


REWRITERS: dict[str, Callable[[bytes, frozenset[int], dict[str, dict[int, str]], str], bytes]] = {
    ".csv": _rewrite_csv,
    ".xlsx": _rewrite_xlsx,
    ".parquet": _rewrite_parquet,
}
