"""Ingest a customer-month drop: read every file, parse, validate with pandera, quarantine bad
rows, pseudonymize identifiers, and return the tables the warehouse stores.

Pure functions over polars frames; the Dagster assets that call them are in ``assets.ingest``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from pandera.errors import SchemaErrors

from reports.inputs.parsing import ParseContext, concat_quarantine, parse_table, quarantine_entries
from reports.inputs.pseudonymize import Pseudonymizer
from reports.inputs.readers import InputFileError, read_text_frame
from reports.layout import DataRoot, LinkRefused
from reports.privacy.processing_log import identifier_in
from schemas.tables import DROP_FILES, LINEAGE_COLUMNS, MODELS, ROSTER, STORED_COLUMNS, TableSpec, reason_for_check


@dataclass(frozen=True)
class SourceFile:
    path: Path
    name: str  # path relative to the customer-month drop folder, e.g. "invoices/inv-1001.csv"
    ref: str = ""  # how stored tables, metadata and messages name it: the name, unless that could identify someone

    def __post_init__(self):
        if not self.ref:
            object.__setattr__(self, "ref", self.name)


def file_reference(name: str, position: int) -> str:
    """The name a file is stored under: its own, or, when the name holds something that could identify a person
    (a long number such as a phone number or an IMEI, an email address), its position in the folder's name
    order, e.g. `usage/file-2.csv`. Publishing maps it back to the name from the customer's own inbox."""
    if identifier_in(name) is None:
        return name
    folder, _, base = name.rpartition("/")
    suffix = Path(base).suffix.lower()
    return f"{folder}/file-{position}{suffix}" if folder else f"file-{position}{suffix}"


def drop_files(data_root: DataRoot, customer_id: str, month: str, table: str) -> list[SourceFile]:
    """The files of one customer-month drop that feed `table`, in name order.

    Nothing is read through a symbolic link: a customer or month folder, a table folder or a file the table
    would read that is a link (or resolves outside the drop) fails the customer-month, naming it. A link could
    reach another customer's drop."""
    drop = data_root.drop_dir(customer_id, month)
    subfolder, stem, allowed = DROP_FILES[table]
    refuse_links(data_root, drop)
    if not drop.is_dir():
        raise InputFileError(f"inbox/{customer_id}/{month}: no such drop folder")
    if stem:  # the roster: exactly one roster.csv or roster.xlsx
        candidates = sorted(p for p in drop.iterdir() if (p.is_file() or p.is_symlink()) and p.stem.lower() == stem)
        if not candidates:
            raise InputFileError(f"inbox/{customer_id}/{month}: no roster (expected roster.csv or roster.xlsx)")
        refuse_links(data_root, *candidates)
        if len(candidates) > 1:
            names = ", ".join(p.name for p in candidates)
            raise InputFileError(f"inbox/{customer_id}/{month}: more than one roster ({names}); keep exactly one")
    else:
        folder = refuse_links(data_root, drop / subfolder)[0]
        candidates = sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []
        candidates = [p for p in refuse_links(data_root, *candidates) if p.is_file()]
    files = []
    for path in candidates:
        name = path.relative_to(drop).as_posix()
        if path.suffix.lower() not in allowed:
            expected = " or ".join(sorted(allowed))
            raise InputFileError(f"inbox/{customer_id}/{month}/{name}: unsupported file type; expected {expected}")
        files.append(SourceFile(path, name, file_reference(name, len(files) + 1)))
    return files


def refuse_links(data_root: DataRoot, *paths: Path) -> list[Path]:
    """The paths, once none is (or passes through) a symbolic link; else InputFileError naming the first one."""
    try:
        return [data_root.refuse_links(path) for path in paths]
    except LinkRefused as problem:
        raise InputFileError(str(problem)) from None


@dataclass
class IngestResult:
    accepted: (
        pl.LazyFrame
    )  # pseudonymized rows, STORED_COLUMNS + source_file/source_row (spilled to Parquet when large)
    rejected: pl.DataFrame  # the quarantined rows' parsed cells, pseudonymized the same way (null where unparseable)
    quarantine: pl.DataFrame  # file, row, column, value (withheld for personal columns), reason_code, reason
    accounting: pl.DataFrame  # file, rows_read, rows_accepted, rows_quarantined
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of read, validate, pseudonymize

    @property
    def rows_read(self) -> int:
        return int(self.accounting["rows_read"].sum())

    @property
    def rows_accepted(self) -> int:
        return int(self.accounting["rows_accepted"].sum())


def validation_failures(text: pl.DataFrame, typed: pl.DataFrame, spec: TableSpec) -> pl.DataFrame:
    """Row-level pandera failures as quarantine entries, with the cell's text as the sender wrote it."""
    try:
        MODELS[spec.name].validate(typed, lazy=True)
        return concat_quarantine([])
    except SchemaErrors as errors:
        cases = errors.failure_cases
    row_cases = cases.filter(pl.col("index").is_not_null())
    table_cases = cases.filter(pl.col("index").is_null() & (pl.col("check") != "not_nullable"))
    if table_cases.height:  # a dtype or column problem is a bug in parsing, not a bad row
        problems = ", ".join(sorted(set(f"{c}: {k}" for c, k in table_cases.select("column", "check").iter_rows())))
        raise RuntimeError(f"{spec.name}: parsed table does not match its schema ({problems})")
    entries = []
    positions = typed.with_row_index("__position").select(
        pl.col("__position").cast(pl.Int64), "source_file", "source_row"
    )
    for (column, check), group in row_cases.group_by(["column", "check"], maintain_order=True):
        code, sentence = reason_for_check(column, check)
        rows = (
            group.select(pl.col("index").cast(pl.Int64).alias("__position"))
            .join(positions, on="__position")
            .join(
                text.select("source_file", "source_row", pl.col(column).alias("value")),
                on=["source_file", "source_row"],
            )
        )
        entries.append(quarantine_entries(rows, column, code, sentence))
    return concat_quarantine(entries)


# What the rules read of a rejected row: its pseudonymized identifiers (a keyed hash is safe whatever text it hashed)
# and, of a rejected charge, the invoice it belongs to. Every other cell of a rejected row is withheld: in a row with
# a missing field the values shift left, so any column can hold someone's phone number or IMEI.
REJECTED_KEEPS = {"invoice_charges": ("carrier", "account_number", "invoice_number")}


def withhold_rejected(rejected: pl.DataFrame, accepted: pl.DataFrame, spec: TableSpec) -> pl.DataFrame:
    """The rejected rows with only what is safe to store: pseudonyms, lineage, and the invoice keys that also
    appear on accepted rows (a key no accepted row has may be a shifted value)."""
    keep = set(spec.pseudonymized) | set(LINEAGE_COLUMNS)
    withheld = []
    for column, dtype in rejected.schema.items():
        if column in keep:
            continue
        if column in REJECTED_KEEPS.get(spec.name, ()):
            known = accepted[column].unique()
            withheld.append(pl.when(pl.col(column).is_in(known.implode())).then(pl.col(column)).alias(column))
        else:
            withheld.append(pl.lit(None, dtype=dtype).alias(column))
    return rejected.with_columns(withheld)


def duplicate_roster_lines(typed: pl.DataFrame, already_bad: pl.DataFrame) -> pl.DataFrame:
    """A line may appear once in a roster: later rows with the same msisdn are quarantined."""
    good = typed.join(
        already_bad.select(pl.col("file").alias("source_file"), pl.col("row").alias("source_row")),
        on=["source_file", "source_row"],
        how="anti",
    ).filter(pl.col("msisdn").is_not_null())
    ranked = good.sort("source_file", "source_row").with_columns(
        pl.col("source_row").rank("ordinal").over("msisdn").alias("__occurrence"),
        pl.col("source_row").first().over("msisdn").alias("__first_row"),
    )
    repeats = ranked.filter(pl.col("__occurrence") > 1)
    if not repeats.height:
        return concat_quarantine([])
    return quarantine_entries(
        repeats.select("source_file", "source_row", pl.lit(None, dtype=pl.String).alias("value")),
        "msisdn",
        "duplicate_line",
        "the same line (msisdn) already appears earlier in the roster",
    )


# Rows parsed, validated and pseudonymized at a time: a 200,000-line customer sends ~5 million usage rows a month,
# whose text alone would take gigabytes; a slice of a million rows keeps a run's memory flat, whatever the size.
CHUNK_ROWS = 1_000_000


def _text_chunks(spec: TableSpec, files: list[SourceFile], chunk_rows: int | None):
    """Text frames of the table's rows (source_row, known columns, source_file): one per file, sliced into
    chunks of at most `chunk_rows` rows (None: all files at once)."""
    frames = []
    for source in files:
        frame = read_text_frame(source.path, source.ref, spec.required_headers)
        known = [c.name for c in spec.columns if c.name in frame.columns]
        frame = frame.select("source_row", *known).with_columns(pl.lit(source.ref).alias("source_file"))
        if chunk_rows is None:
            frames.append(frame)
        elif frame.height:
            yield from frame.iter_slices(chunk_rows)
        else:
            yield frame  # a file with a header only: its columns are still checked
    if chunk_rows is None or not files:
        yield (
            pl.concat(frames, how="diagonal")
            if frames
            else pl.DataFrame(schema={"source_row": pl.Int64, "source_file": pl.String})
        )


def ingest_table(
    spec: TableSpec,
    files: list[SourceFile],
    context: ParseContext,
    pseudonymizer: Pseudonymizer,
    spill_dir: Path | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> IngestResult:
    """Read, parse, validate and pseudonymize a table, a chunk at a time. Accepted rows of each chunk go to a
    Parquet file in `spill_dir` when one is given (the caller removes it), else stay in memory. The roster is
    one chunk: duplicate lines are found across all its rows."""
    clock = StageClock()
    accepted, rejected, quarantines, accounting = [], [], [], []
    chunks = _text_chunks(spec, files, None if spec.name == ROSTER.name else chunk_rows)
    while (text := next(chunks, None)) is not None:
        clock.lap("read")
        text, typed, parse_failures = parse_table(text, spec, context)
        quarantine = concat_quarantine([parse_failures, validation_failures(text, typed, spec)])
        # one entry per bad cell: a parse failure explains the cell better than the follow-on "missing value"
        quarantine = quarantine.unique(subset=["file", "row", "column"], keep="first", maintain_order=True)
        if spec.name == ROSTER.name:
            quarantine = concat_quarantine([quarantine, duplicate_roster_lines(typed, quarantine)])
        bad_rows = quarantine.select(pl.col("file").alias("source_file"), pl.col("row").alias("source_row")).unique()
        clock.lap("validate")
        stored = pseudonymizer.replace_columns(typed, spec.pseudonymized).select(
            *STORED_COLUMNS[spec.name], *LINEAGE_COLUMNS
        )
        del typed
        good = stored.join(bad_rows, on=["source_file", "source_row"], how="anti", maintain_order="left")
        rejected.append(
            withhold_rejected(
                stored.join(bad_rows, on=["source_file", "source_row"], how="semi", maintain_order="left"), good, spec
            )
        )
        accounting.append(_accounting(text, good, bad_rows))
        quarantines.append(quarantine)
        if spill_dir is None:
            accepted.append(good.lazy())
        else:
            part = spill_dir / f"part-{len(accepted):05d}.parquet"
            good.write_parquet(part, compression="lz4", statistics=False)
            accepted.append(pl.scan_parquet(part))
        del text, stored, good
        clock.lap("pseudonymize")
    return IngestResult(
        accepted=pl.concat(accepted, how="vertical"),
        rejected=pl.concat(rejected),
        quarantine=concat_quarantine(quarantines).sort("file", "row", "column"),
        accounting=_file_totals(accounting, [f.ref for f in files]),
        seconds=clock.laps,
    )


class StageClock:
    """Wall time of consecutive stages, for the asset metadata the benchmark reads."""

    def __init__(self):
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = round(self.laps.get(stage, 0.0) + now - self._last, 3)
        self._last = now


def _accounting(text: pl.DataFrame, accepted: pl.DataFrame, bad_rows: pl.DataFrame) -> pl.DataFrame:
    """Rows read, accepted and quarantined per file, for one chunk."""

    def per_file(frame: pl.DataFrame, label: str) -> pl.DataFrame:
        return frame.group_by(pl.col("source_file").alias("file")).agg(pl.len().cast(pl.Int64).alias(label))

    keys = text.select(pl.col("source_file").alias("file")).unique()
    return (
        keys.join(per_file(text, "rows_read"), on="file", how="left")
        .join(per_file(accepted, "rows_accepted"), on="file", how="left")
        .join(per_file(bad_rows, "rows_quarantined"), on="file", how="left")
        .fill_null(0)
    )


def _file_totals(chunks: list[pl.DataFrame], names: list[str]) -> pl.DataFrame:
    """Every file of the drop (an empty one too) with its rows read, accepted and quarantined over all chunks."""
    files = pl.DataFrame({"file": names}, schema={"file": pl.String})
    counts = ["rows_read", "rows_accepted", "rows_quarantined"]
    if chunks:
        totals = pl.concat(chunks).group_by("file").agg(pl.col(c).sum() for c in counts)
    else:
        totals = pl.DataFrame(schema={"file": pl.String, **{c: pl.Int64 for c in counts}})
    return files.join(totals, on="file", how="left").with_columns(pl.col(c).fill_null(0) for c in counts).sort("file")
