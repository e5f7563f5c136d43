"""Publishing: the files a customer downloads from published/<customer>/<month>/.

Identifiers come back in the clear only here, for that customer alone: values the warehouse
withheld are read again from the customer's own inbox files at publish time.
"""

from collections.abc import Callable
from pathlib import Path

import duckdb
import polars as pl
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from assets.audit import currency_of
from reports.rules.audit_rules import FINDING_TYPES, MSISDN_PLACEHOLDER
from reports.rules.savings_rules import SAVINGS_TYPES
from assets.ingest import (
    customer_file_checked,
    customer_settings,
    drop_files,
    not_reconciled_reason,
    nothing_to_publish,
)
from reports.inputs.parsing import phone_lookup
from reports.inputs.pseudonymize import Pseudonymizer
from reports.inputs.readers import InputFileError, read_text_frame
from reports.layout import DataRoot, atomic_replace, temp_path_for
from schemas.names import validate_id
from pipelines.partitions import customer_months, split_key
from pipelines.resources import DataRootResource, PseudonymKeyResource
from reports.disputes import INVOICE_DATES_SQL, by_carrier, dispute_rows
from schemas.contract import ContractError, load_contract
from schemas.outputs import (
    DISPUTES_CSV_AMOUNTS,
    DISPUTES_FILE_PREFIX,
    FINDINGS_CSV_COLUMNS,
    QUARANTINE_CSV_COLUMNS,
    SAVINGS_CSV_COLUMNS,
    disputes_file_name,
)
from schemas.tables import DEVICE_USAGE, INVOICE_CHARGES, ROSTER

PUBLISH_GROUP = "publish"
INGESTED_TABLES = (ROSTER.name, INVOICE_CHARGES.name, DEVICE_USAGE.name)


# OWASP "CSV Injection": a spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...),
# +cmd|' /C calc'!A0, @SUM(1), -2+3...). Such a text cell is published with a single quote in front, which makes
# the spreadsheet show it as text. A cell that is a plain number (-12.50, and E.164 numbers such as +447700900123)
# is read as a number, never as a formula, and is left as it is; so are the numeric (amount) columns.
FORMULA_START = r"^[=+\-@\t\r]"
PLAIN_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"  # ASCII digits only: what every spreadsheet reads as a number


def _neutralised(column: str) -> pl.Expr:
    cell = pl.col(column)
    runnable = cell.str.contains(FORMULA_START) & ~cell.str.contains(PLAIN_NUMBER)
    return pl.when(runnable).then(pl.lit("'") + cell).otherwise(cell).alias(column)


def without_formulas(frame: pl.DataFrame, numeric_columns: tuple[str, ...] = ()) -> pl.DataFrame:
    """`frame` with every text cell a spreadsheet would run as a formula quoted (see FORMULA_START), one
    expression per text column; columns in `numeric_columns` (amounts formatted as text) are left alone."""
    text_columns = [c for c, dtype in frame.schema.items() if dtype == pl.String and c not in numeric_columns]
    return frame.with_columns(_neutralised(c) for c in text_columns)


def write_csv_atomically(path: Path, frame: pl.DataFrame, numeric_columns: tuple[str, ...] = ()) -> None:
    """CSV with a header, UTF-8, LF line ends, no cell a spreadsheet would run as a formula (`without_formulas`),
    written aside and renamed into place.

    polars quotes a cell that holds a separator, a quote, a LF or a CR (Python's csv module leaves a lone CR
    unquoted, which a spreadsheet takes as the end of the row, so the rest of the cell would start a new row
    unquoted); an empty text is written as an empty field, like a missing value."""
    safe = without_formulas(frame, numeric_columns)
    safe = safe.with_columns(pl.col(c).replace("", None) for c, dtype in safe.schema.items() if dtype == pl.String)
    tmp = temp_path_for(path)
    try:
        safe.write_csv(tmp, line_terminator="\n", quote_style="necessary", null_value="")
        atomic_replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def restore_withheld_values(data_root: DataRoot, customer_id: str, month: str, table: str,
                            quarantine: pl.DataFrame) -> pl.DataFrame:  # fmt: skip
    """Fill the withheld values (every quarantined cell's) from the inbox file the row came from, trimmed as
    the parser saw them."""
    withheld = quarantine.filter(pl.col("value").is_null())
    if not withheld.height:
        return quarantine
    files = {f.ref: f for f in drop_files(data_root, customer_id, month, table)}
    restored = []
    for file_name, rows in withheld.group_by("file", maintain_order=True):
        source = files.get(file_name[0])
        if source is None:
            continue
        text = read_text_frame(source.path, source.ref, [])
        for column in rows["column"].unique().to_list():
            if column not in text.columns:
                continue
            restored.append(
                text.select(
                    pl.lit(source.ref).alias("file"),
                    pl.col("source_row").alias("row"),
                    pl.lit(column).alias("column"),
                    pl.col(column).cast(pl.String).str.strip_chars().replace("", None).alias("__restored"),
                ).join(rows.select("file", "row", "column"), on=["file", "row", "column"], how="semi")
            )
    if not restored:
        return quarantine
    lookup = pl.concat(restored)
    return (
        quarantine.join(lookup, on=["file", "row", "column"], how="left", maintain_order="left")
        .with_columns(pl.coalesce("value", "__restored").alias("value"))
        .drop("__restored")
    )


def published_quarantine(data_root: DataRoot, warehouse, customer_id: str, month: str) -> pl.DataFrame:
    parts = []
    for table in INGESTED_TABLES:
        quarantine = warehouse.read(customer_id, month, f"{table}_quarantine")
        parts.append(restore_withheld_values(data_root, customer_id, month, table, quarantine))
    combined = pl.concat(parts).sort("file", "row", "column")
    return combined.select(QUARANTINE_CSV_COLUMNS)


@asset(
    partitions_def=customer_months,
    pool="tem_publish",
    group_name=PUBLISH_GROUP,
    kinds={"csv"},
    deps=["roster", "invoice_charges", "device_usage"],
    description="published/<customer>/<month>/quarantine.csv: every rejected input row with file, row, column and reason.",
)
def quarantine_report(context: AssetExecutionContext, data_root: DataRootResource) -> MaterializeResult:
    customer_id, month = split_key(context.partition_key)
    root = data_root.root
    try:
        frame = published_quarantine(root, data_root.warehouse, customer_id, month)
    except InputFileError as problem:
        raise Failure(description=f"{customer_id} {month}: {problem}") from None
    target = root.published_dir(customer_id, month) / "quarantine.csv"
    # the customer reads its own file names; the metadata keeps the stored references (SourceFile.ref)
    names = {f.ref: f.name for table in INGESTED_TABLES for f in drop_files(root, customer_id, month, table)}
    write_csv_atomically(target, frame.with_columns(pl.col("file").replace(names)).sort("file", "row", "column"))
    by_file = frame.group_by("file").agg(pl.col("row").n_unique().alias("rows")).sort("file")
    return MaterializeResult(
        metadata={
            "quarantined_rows": int(by_file["rows"].sum()) if by_file.height else 0,
            "quarantined_cells": frame.height,
            "rows_by_file": MetadataValue.json({f: n for f, n in by_file.iter_rows()}),
            "published_file": MetadataValue.path(f"published/{customer_id}/{month}/quarantine.csv"),
        }
    )


def reidentification_maps(data_root: DataRoot, customer_id: str, month: str,
                          pseudonymizer: Pseudonymizer) -> dict[str, pl.DataFrame]:  # fmt: skip
    """pseudonym -> identifier for the msisdns (E.164) and employee ids in this customer-month's own inbox.

    Computed at publish time from the customer's files, once per distinct value; nothing maps
    pseudonyms back to people anywhere else.
    """
    region = customer_settings(data_root, customer_id).region
    phones, employees = [], []
    for table, columns in ((ROSTER.name, ["msisdn", "employee_id"]), (INVOICE_CHARGES.name, ["msisdn"])):
        for source in drop_files(data_root, customer_id, month, table):
            text = read_text_frame(source.path, source.ref, [])
            present = [c for c in columns if c in text.columns]
            trimmed = text.select(pl.col(c).str.strip_chars() for c in present)
            if "msisdn" in present:
                phones.append(trimmed["msisdn"])
            if "employee_id" in present:
                employees.append(trimmed["employee_id"])
    e164 = phone_lookup(pl.concat(phones) if phones else pl.Series([], dtype=pl.String), region)["e164"]
    employee_ids = pl.concat(employees) if employees else pl.Series([], dtype=pl.String)
    return {
        "msisdn": pseudonymizer.mapping("msisdn", e164),
        "employee_id": pseudonymizer.mapping("employee_id", employee_ids.filter(employee_ids != "")),
    }


def restore_identifiers(frame: pl.DataFrame, maps: dict[str, pl.DataFrame]) -> pl.DataFrame:
    for column, lookup in maps.items():
        frame = (
            frame.join(lookup.rename({"pseudonym": column, "value": "__clear"}), on=column, how="left",
                       maintain_order="left")  # fmt: skip
            .with_columns(pl.col("__clear").alias(column))
            .drop("__clear")
        )
    return frame


def published_rows(stored: pl.DataFrame, maps: dict[str, pl.DataFrame], customer_id: str, month: str,
                   currency: str, columns: list[str], money_columns: tuple[str, ...]) -> pl.DataFrame:  # fmt: skip
    """Rows of a published CSV: identifiers restored for this customer, evidence completed, amounts with two
    decimals (half-up), empty cells for missing values."""
    restored = restore_identifiers(stored, maps)
    if "evidence" in restored.columns:
        restored = restored.with_columns(
            pl.col("evidence").str.replace(MSISDN_PLACEHOLDER, pl.col("msisdn").fill_null("this line"), literal=True)
        )
    fields = {"customer_id": "$customer_id", "billing_month": "$month", "currency": "$currency"}
    for column in columns:
        if column in money_columns:
            fields[column] = f"CAST(CAST(round({column}, 2) AS DECIMAL(18, 2)) AS VARCHAR)"
        elif column not in fields:
            fields[column] = f"coalesce(CAST({column} AS VARCHAR), '')"
    select = ", ".join(f"{expression} AS {name}" for name, expression in fields.items())
    return duckdb.sql(
        f"SELECT {select} FROM restored",
        params={"customer_id": customer_id, "month": month, "currency": currency},
    ).pl().select(columns)


def contract_windows(data_root: DataRoot, customer_id: str, carriers: list[str]) -> dict[str, int]:
    """carrier -> `dispute_window_days` of its contract (contracts/<carrier>.yaml, read as ingest reads it), for the
    carriers that have a contract file; the others get the default window."""
    folder = customer_file_checked(data_root, data_root.contracts_dir(customer_id))
    windows = {}
    for carrier in carriers:
        for path in (folder / f"{carrier}.yaml", folder / f"{carrier}.yml"):
            if path.exists() or path.is_symlink():
                path = customer_file_checked(data_root, path)
                contract = load_contract(path, f"customers/{customer_id}/contracts/{path.name}")
                windows[carrier] = contract.dispute_window_days
                break
    return windows


def publish_disputes(data_root: DataRoot, warehouse, customer_id: str, month: str, findings: pl.DataFrame) -> dict:
    """published/<customer>/<month>/disputes-<carrier>.csv, one per carrier with findings, from the rows of
    findings.csv (same amounts, same evidence) with each invoice's date and last day to file. A carrier without
    findings gets no file, and a file left by an earlier run for a carrier that no longer has findings is removed."""
    folder = data_root.published_dir(customer_id, month)
    connection = warehouse.connect()
    warehouse.view(connection, "invoice_charges", customer_id, month, "invoice_charges")
    invoices = connection.sql(INVOICE_DATES_SQL).pl()
    carriers = sorted(set(findings["carrier"].drop_nulls().to_list()))
    for carrier in carriers:
        validate_id(carrier, "carrier")  # a file name part: ingest accepts no other carrier ids
    rows = dispute_rows(findings, invoices, contract_windows(data_root, customer_id, carriers), month)
    written = {}
    for carrier, part in by_carrier(rows).items():
        write_csv_atomically(folder / disputes_file_name(carrier), part, DISPUTES_CSV_AMOUNTS)
        written[disputes_file_name(carrier)] = part.height
    for stale in sorted(folder.glob(f"{DISPUTES_FILE_PREFIX}*.csv")):
        if stale.name not in written:
            stale.unlink()
    return {"dispute_files": MetadataValue.json(written)}


# The order of published rows, on the values the customer reads: the warehouse orders by pseudonyms, which follow
# the customer's data key, so the same inbox under another key (a new data root) would list rows differently.
PUBLICATION_ORDER = {
    "findings": ("finding_type", FINDING_TYPES, ("carrier", "account_number", "invoice_number", "__type", "msisdn",
                                                 "charge_type", "charge_code", "evidence")),
    "savings": ("savings_type", SAVINGS_TYPES, ("carrier", "__type", "msisdn", "feature_code", "rationale")),
}  # fmt: skip


def in_publication_order(table: str, rows: pl.DataFrame) -> pl.DataFrame:
    """Findings by carrier, account, invoice, then in rule order; savings by carrier and type (the rules' priority);
    then by line and the rest of the row, so the order never depends on a pseudonym."""
    type_column, types, keys = PUBLICATION_ORDER[table]
    rank = pl.col(type_column).replace_strict(list(types), list(range(len(types))), default=len(types))
    return rows.with_columns(rank.alias("__type")).sort(list(keys)).drop("__type")


def publish_table(context: AssetExecutionContext, data_root: DataRootResource, pseudonym_key: PseudonymKeyResource,
                  table: str, columns: list[str], money_columns: tuple[str, ...],
                  also: Callable[[pl.DataFrame], dict] | None = None) -> MaterializeResult:  # fmt: skip
    """Publish a warehouse table as published/<customer>/<month>/<table>.csv for its customer alone; `also` then
    publishes what is derived from the rows (the dispute files) and returns its metadata."""
    customer_id, month = split_key(context.partition_key)
    root = data_root.root
    warehouse = data_root.warehouse
    if reason := not_reconciled_reason(warehouse, customer_id, month):
        return nothing_to_publish(context, reason)
    try:
        pseudonymizer = pseudonym_key.pseudonymizer(customer_id, root, context.log)
        maps = reidentification_maps(root, customer_id, month, pseudonymizer)
    except (InputFileError, ContractError) as problem:
        raise Failure(description=f"{customer_id} {month}: {problem}") from None
    stored = warehouse.read(customer_id, month, table)
    rows = published_rows(stored, maps, customer_id, month, currency_of(warehouse, customer_id), columns, money_columns)
    line_level = stored["msisdn"].is_not_null()
    unresolved = rows.filter(line_level & (pl.col("msisdn") == "")).height
    if unresolved:
        raise Failure(description=f"{customer_id} {month}: {unresolved} row(s) of {table} refer to a line that is no "
                                  "longer in the inbox files; re-run the whole customer-month")  # fmt: skip
    rows = in_publication_order(table, rows)
    write_csv_atomically(root.published_dir(customer_id, month) / f"{table}.csv", rows, money_columns)
    try:
        extra = also(rows) if also is not None else {}
    except (ContractError, ValueError) as problem:
        raise Failure(description=f"{customer_id} {month}: {problem}") from None
    return MaterializeResult(
        metadata={
            "rows": rows.height,
            "published_file": MetadataValue.path(f"published/{customer_id}/{month}/{table}.csv"),
            **extra,
        }
    )


@asset(
    partitions_def=customer_months,
    pool="tem_publish",
    group_name=PUBLISH_GROUP,
    kinds={"csv"},
    deps=["findings"],
    description="published/<customer>/<month>/findings.csv: what to dispute with each carrier, with evidence; and "
    "disputes-<carrier>.csv per carrier with findings: the same rows with each invoice's date and last day to file.",
)
def findings_report(context: AssetExecutionContext, data_root: DataRootResource,
                    pseudonym_key: PseudonymKeyResource) -> MaterializeResult:  # fmt: skip
    customer_id, month = split_key(context.partition_key)

    def disputes(rows: pl.DataFrame) -> dict:
        return publish_disputes(data_root.root, data_root.warehouse, customer_id, month, rows)

    return publish_table(context, data_root, pseudonym_key, "findings", FINDINGS_CSV_COLUMNS,
                         ("billed_amount", "expected_amount", "disputed_amount"), also=disputes)  # fmt: skip


@asset(
    partitions_def=customer_months,
    pool="tem_publish",
    group_name=PUBLISH_GROUP,
    kinds={"csv"},
    deps=["savings"],
    description="published/<customer>/<month>/savings.csv: what the customer can stop paying for, with rationale.",
)
def savings_report(context: AssetExecutionContext, data_root: DataRootResource,
                   pseudonym_key: PseudonymKeyResource) -> MaterializeResult:  # fmt: skip
    return publish_table(context, data_root, pseudonym_key, "savings", SAVINGS_CSV_COLUMNS,
                         ("monthly_savings", "annual_savings"))  # fmt: skip
