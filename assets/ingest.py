"""Ingest assets: the customer's contracts, and per customer-month the roster, invoice charges
and device usage, validated, quarantined and pseudonymized into the warehouse."""

import datetime as dt
import time
from pathlib import Path

import polars as pl

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from reports.rules.money import money_text
from reports.inputs.intake import DROP_FILES, drop_files, ingest_table
from reports.inputs.parsing import ParseContext
from reports.inputs.readers import InputFileError
from reports.warehouse import Warehouse
from reports.layout import DataRoot, LinkRefused
from pipelines.partitions import customer_months, customers_partitions, split_key
from pipelines.resources import DataRootResource, PseudonymKeyResource
from schemas.contract import Contract, ContractError, CustomerSettings, load_contract, load_customer_settings
from schemas.tables import DEVICE_USAGE, INVOICE_CHARGES, ROSTER, STORED_COLUMNS, TableSpec

INGEST_GROUP = "ingest"
def not_reconciled_reason(warehouse: Warehouse, customer_id: str, month: str) -> str | None:
    """Why a customer-month has nothing to recommend or publish yet, or None when its ingest is in the warehouse.

    Savings of month M depend on the usage of M-2..M (a partition mapping), so a backfill of the months
    with drops also targets savings and reports of the one or two months after the last drop. Those
    partitions have no inbox drop, or were not ingested in that backfill: they record why and write nothing,
    rather than failing the backfill or publishing an empty report.
    """
    if all(warehouse.exists(customer_id, month, table) for table in DROP_FILES):
        return None
    if not warehouse.data_root.drop_dir(customer_id, month).is_dir():
        return f"nothing to reconcile: the inbox has no drop for {customer_id} {month}; nothing was published"
    return (f"{customer_id} {month} has not been ingested yet: materialize its roster, invoice_charges and "
            "device_usage first (tem run or the reconcile_customer_month job does); nothing was published")


def nothing_to_publish(context: AssetExecutionContext, reason: str) -> MaterializeResult:
    """The materialization of a customer-month that has nothing to reconcile (see not_reconciled_reason)."""
    context.log.info(reason)
    return MaterializeResult(metadata={"skipped": reason})


def customer_settings(data_root: DataRoot, customer_id: str):
    path = customer_file_checked(data_root, data_root.customer_file(customer_id))
    return load_customer_settings(path, f"customers/{customer_id}/customer.yaml")


def customer_file_checked(data_root: DataRoot, path: Path) -> Path:
    """A path under customers/<id>/, refused (ContractError) if it or a folder on the way is a symbolic link."""
    try:
        return data_root.refuse_links(path)
    except LinkRefused as problem:
        raise ContractError(str(problem)) from None


def _ingest_partition(context: AssetExecutionContext, spec: TableSpec, data_root: DataRootResource,
                      pseudonym_key: PseudonymKeyResource) -> MaterializeResult:  # fmt: skip
    customer_id, month = split_key(context.partition_key)
    root = data_root.root
    try:
        settings = customer_settings(root, customer_id)
        files = drop_files(root, customer_id, month, spec.name)
        pseudonymizer = pseudonym_key.pseudonymizer(customer_id, root, context.log)
    except (InputFileError, ContractError) as problem:
        raise Failure(description=f"{customer_id} {month}: {problem}") from None

    warehouse = data_root.warehouse
    root.warehouse_dir(customer_id, month).mkdir(parents=True, exist_ok=True)
    with warehouse.scratch(customer_id, month, f"ingest-{spec.name}") as spill:
        try:
            result = ingest_table(spec, files, ParseContext(settings.region, month), pseudonymizer, spill_dir=spill)
        except (InputFileError, ContractError) as problem:
            raise Failure(description=f"{customer_id} {month}: {problem}") from None
        started_writing = time.perf_counter()
        warehouse.write(customer_id, month, spec.name, result.accepted)
        warehouse.write(customer_id, month, f"{spec.name}_rejected", result.rejected)
        warehouse.write(customer_id, month, f"{spec.name}_quarantine", result.quarantine)
        warehouse.write(customer_id, month, f"{spec.name}_accounting", result.accounting)
        seconds = {**result.seconds, "write": round(time.perf_counter() - started_writing, 3)}

    reasons = result.quarantine.group_by("reason_code").agg(pl.len().alias("cells")).sort("reason_code")
    metadata = {
        "files": len(files),
        "rows_read": result.rows_read,
        "rows_accepted": result.rows_accepted,
        "rows_quarantined": int(result.accounting["rows_quarantined"].sum()),
        "quarantine_reasons": MetadataValue.json({code: n for code, n in reasons.iter_rows()}),
        "accounting_by_file": MetadataValue.md(_markdown_table(result.accounting)),
        "seconds_by_stage": MetadataValue.json(seconds),
    }
    if spec.name == INVOICE_CHARGES.name and result.rows_accepted:
        charges = warehouse.read(customer_id, month, spec.name)
        totals = charges.group_by("carrier").agg(pl.col("amount").sum()).sort("carrier")
        metadata["invoices"] = charges["invoice_number"].n_unique()
        metadata["charges_total"] = MetadataValue.json(
            {carrier: money_text(amount, settings.currency) for carrier, amount in totals.iter_rows()}
        )
    return MaterializeResult(metadata=metadata)


def _markdown_table(frame: pl.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * frame.width + "\n"
    return header + "".join("| " + " | ".join(str(v) for v in row) + " |\n" for row in frame.iter_rows())


# Concurrency pools (limits in dagster.yaml) keep a backfill of many customer-months from running more
# heavy steps at once than the machine has cores and memory for.
ASSET_KW = dict(partitions_def=customer_months, group_name=INGEST_GROUP, kinds={"polars", "parquet"},
                deps=["customer_contracts"], pool="tem_ingest")  # fmt: skip


@asset(description="The month's line and employee inventory, validated and pseudonymized.", **ASSET_KW)
def roster(context: AssetExecutionContext, data_root: DataRootResource, pseudonym_key: PseudonymKeyResource):
    return _ingest_partition(context, ROSTER, data_root, pseudonym_key)


@asset(description="Every charge of the month's carrier invoices, validated and pseudonymized.", **ASSET_KW)
def invoice_charges(context: AssetExecutionContext, data_root: DataRootResource, pseudonym_key: PseudonymKeyResource):
    return _ingest_partition(context, INVOICE_CHARGES, data_root, pseudonym_key)


@asset(description="Per-device daily usage measured by the customer's devices, validated and pseudonymized.", **ASSET_KW)
def device_usage(context: AssetExecutionContext, data_root: DataRootResource, pseudonym_key: PseudonymKeyResource):
    return _ingest_partition(context, DEVICE_USAGE, data_root, pseudonym_key)


def accounting_check(data_root: DataRootResource, partition_key, table: str) -> AssetCheckResult:
    """Re-count the stored tables: for every file, rows read = rows accepted + rows quarantined."""
    customer_id, month = split_key(partition_key)
    warehouse = data_root.warehouse
    connection = warehouse.connect()
    warehouse.view(connection, "accepted", customer_id, month, table)
    warehouse.view(connection, "quarantined", customer_id, month, f"{table}_quarantine")
    warehouse.view(connection, "accounting", customer_id, month, f"{table}_accounting")
    mismatches = connection.execute(
        """
        SELECT a.file, a.rows_read,
               coalesce(ok.n, 0) AS rows_accepted, coalesce(bad.n, 0) AS rows_quarantined
        FROM accounting a
        LEFT JOIN (SELECT source_file AS file, count(*) AS n FROM accepted GROUP BY ALL) ok USING (file)
        LEFT JOIN (SELECT file, count(DISTINCT "row") AS n FROM quarantined GROUP BY ALL) bad USING (file)
        WHERE a.rows_read <> coalesce(ok.n, 0) + coalesce(bad.n, 0)
        """
    ).fetchall()
    totals = warehouse.first_row(
        connection,
        "SELECT coalesce(sum(rows_read), 0), (SELECT count(*) FROM accepted), "
        "(SELECT count(*) FROM (SELECT DISTINCT file, \"row\" FROM quarantined)) FROM accounting",
    )
    return AssetCheckResult(
        passed=not mismatches,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "rows_read": int(totals[0]),
            "rows_accepted": int(totals[1]),
            "rows_quarantined": int(totals[2]),
            "files_out_of_balance": MetadataValue.json([list(map(str, m)) for m in mismatches]),
        },
        description="Every row read is either accepted or quarantined." if not mismatches
        else "Some rows were neither accepted nor quarantined, or counted twice.",
    )


CHECK_KW = dict(partitions_def=customer_months, blocking=True, name="row_accounting")


@asset_check(asset=roster, **CHECK_KW)
def roster_row_accounting(context, data_root: DataRootResource) -> AssetCheckResult:
    return accounting_check(data_root, context.partition_key, ROSTER.name)


@asset_check(asset=invoice_charges, **CHECK_KW)
def invoice_charges_row_accounting(context, data_root: DataRootResource) -> AssetCheckResult:
    return accounting_check(data_root, context.partition_key, INVOICE_CHARGES.name)


@asset_check(asset=device_usage, **CHECK_KW)
def device_usage_row_accounting(context, data_root: DataRootResource) -> AssetCheckResult:
    return accounting_check(data_root, context.partition_key, DEVICE_USAGE.name)


PSEUDONYM_PATTERN = "^[0-9a-f]{32}$"
# stored column -> (DuckDB type family, may be null)
STORED_TYPES = {
    ROSTER.name: {"msisdn": ("VARCHAR", False), "carrier": ("VARCHAR", False), "plan_code": ("VARCHAR", False),
                  "line_status": ("VARCHAR", False), "line_status_date": ("DATE", True),
                  "termination_date": ("DATE", True), "vip": ("BOOLEAN", True)},
    INVOICE_CHARGES.name: {"invoice_number": ("VARCHAR", False), "period_start": ("DATE", False),
                           "period_end": ("DATE", False), "charge_type": ("VARCHAR", False),
                           "quantity": ("DECIMAL", True), "unit_rate": ("DECIMAL", True),
                           "amount": ("DECIMAL", False), "invoice_total": ("DECIMAL", False)},
    DEVICE_USAGE.name: {"date": ("DATE", False), "msisdn": ("VARCHAR", False), "voice_minutes": ("DECIMAL", False),
                        "sms_count": ("DECIMAL", False), "data_mb": ("DECIMAL", False),
                        "roaming_voice_minutes": ("DECIMAL", False), "roaming_data_mb": ("DECIMAL", False)},
}  # fmt: skip


def schema_check(data_root: DataRootResource, partition_key, spec: TableSpec) -> AssetCheckResult:
    """The stored table has the warehouse columns and types, its required columns are never null, and every
    personal column holds pseudonyms only (32 hex characters), never a clear identifier."""
    customer_id, month = split_key(partition_key)
    warehouse = data_root.warehouse
    connection = warehouse.connect()
    warehouse.view(connection, "stored", customer_id, month, spec.name)
    types = {name: kind for name, kind, *_ in connection.sql("DESCRIBE stored").fetchall()}
    problems = {}
    missing = [c for c in STORED_COLUMNS[spec.name] if c not in types]
    if missing:
        problems["missing columns"] = missing
    for column, (family, nullable) in STORED_TYPES[spec.name].items():
        if column in types and not types[column].startswith(family):
            problems[f"{column} type"] = f"{types[column]}, expected {family}"
        elif column in types and not nullable:
            nulls = warehouse.first_row(connection, f'SELECT count(*) FROM stored WHERE "{column}" IS NULL')[0]
            if nulls:
                problems[f"{column} nulls"] = nulls
    for column in spec.pseudonymized:
        if column in types:
            clear = warehouse.first_row(connection, f"SELECT count(*) FROM stored WHERE \"{column}\" IS NOT NULL "
                                                    f"AND NOT regexp_full_match(\"{column}\", '{PSEUDONYM_PATTERN}')")[0]  # fmt: skip
            if clear:
                problems[f"{column} not pseudonymized"] = clear
    leftover = sorted(set(types) & set(spec.dropped))
    if leftover:
        problems["personal columns stored"] = leftover
    return AssetCheckResult(
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        metadata={"rows": warehouse.first_row(connection, "SELECT count(*) FROM stored")[0],
                  "problems": MetadataValue.json(problems)},  # fmt: skip
        description="Columns, types, required values and pseudonyms as the warehouse expects." if not problems
        else "; ".join(problems),
    )


SCHEMA_KW = dict(partitions_def=customer_months, blocking=True, name="warehouse_schema")


@asset_check(asset=roster, **SCHEMA_KW)
def roster_schema(context, data_root: DataRootResource) -> AssetCheckResult:
    return schema_check(data_root, context.partition_key, ROSTER)


@asset_check(asset=invoice_charges, **SCHEMA_KW)
def invoice_charges_schema(context, data_root: DataRootResource) -> AssetCheckResult:
    return schema_check(data_root, context.partition_key, INVOICE_CHARGES)


@asset_check(asset=device_usage, **SCHEMA_KW)
def device_usage_schema(context, data_root: DataRootResource) -> AssetCheckResult:
    return schema_check(data_root, context.partition_key, DEVICE_USAGE)


INVOICE_TOTALS_SQL = """
SELECT carrier, account_number, invoice_number,
       count(DISTINCT invoice_total) AS stated_totals,
       bool_and(period_start = $first_day AND period_end = $last_day) AS period_is_month
FROM charges GROUP BY ALL
HAVING stated_totals > 1 OR NOT period_is_month
ORDER BY ALL
"""


@asset_check(asset=invoice_charges, partitions_def=customer_months, blocking=False, name="invoice_totals",
             description="Each invoice states one total on all its rows and bills the partition's month; "
                         "a warning, since the audit still runs (rule 9 compares the total with the charges).")  # fmt: skip
def invoice_totals(context, data_root: DataRootResource) -> AssetCheckResult:
    return invoice_totals_check(data_root, context.partition_key)


def invoice_totals_check(data_root: DataRootResource, partition_key) -> AssetCheckResult:
    customer_id, month = split_key(partition_key)
    warehouse = data_root.warehouse
    connection = warehouse.connect()
    warehouse.view(connection, "charges", customer_id, month, INVOICE_CHARGES.name)
    first_day = dt.date(int(month[:4]), int(month[5:7]), 1)
    last_day = (first_day + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    odd = connection.sql(INVOICE_TOTALS_SQL, params={"first_day": first_day, "last_day": last_day}).fetchall()
    invoices = warehouse.first_row(connection, "SELECT count(DISTINCT (carrier, account_number, invoice_number)) "
                                               "FROM charges")[0]  # fmt: skip
    return AssetCheckResult(
        passed=not odd,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "invoices": invoices,
            "invoices_with_several_totals": sum(1 for row in odd if row[3] > 1),
            "invoices_outside_the_month": sum(1 for row in odd if not row[4]),
            "invoices_to_look_at": MetadataValue.json([row[2] for row in odd][:50]),
        },
    )


# ----------------------------------------------------------------------------------------
# Contracts (per customer)
# ----------------------------------------------------------------------------------------
def contract_tables(data_root: DataRoot, customer_id: str) -> dict[str, pl.DataFrame]:
    """customer.yaml and every contracts/<carrier>.yaml as warehouse tables (no personal data)."""
    settings = customer_settings(data_root, customer_id)
    folder = customer_file_checked(data_root, data_root.contracts_dir(customer_id))
    paths = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []
    paths = [customer_file_checked(data_root, path) for path in paths]
    if not paths:
        raise ContractError(f"customers/{customer_id}/contracts/: no contract (<carrier>.yaml) found")
    contracts = [load_contract(path, f"customers/{customer_id}/contracts/{path.name}") for path in paths]
    return contract_frames(customer_id, settings, contracts)


RATE = pl.Decimal(18, 6)
MONEY = pl.Decimal(18, 4)
PLAN_SCHEMA = {
    "carrier": pl.String, "discount_pct": RATE, "fee": MONEY, "code": pl.String, "name": pl.String,
    "monthly_fee": MONEY, "voice_min": RATE, "sms": RATE, "data_mb": RATE, "overage_voice_per_min": RATE,
    "overage_sms_per_msg": RATE, "overage_data_per_mb": RATE,
}  # fmt: skip
FEATURE_SCHEMA = {"carrier": pl.String, "code": pl.String, "name": pl.String, "category": pl.String, "monthly_fee": MONEY}
ROAMING_SCHEMA = {"carrier": pl.String, "voice_per_min": RATE, "data_per_mb": RATE}
SETTINGS_SCHEMA = {"customer_id": pl.String, "name": pl.String, "region": pl.String, "currency": pl.String}


def contract_frames(customer_id: str, settings: CustomerSettings, contracts: list[Contract]) -> dict[str, pl.DataFrame]:
    plans = [
        {"carrier": c.carrier, "discount_pct": c.discount_pct, "fee": c.discounted_fee(plan), **plan.model_dump()}
        for c in contracts
        for plan in c.plans
    ]
    features = [{"carrier": c.carrier, **feature.model_dump()} for c in contracts for feature in c.features]
    roaming = [{"carrier": c.carrier, **c.roaming.model_dump()} for c in contracts]
    return {
        "customer_settings": pl.DataFrame([{"customer_id": customer_id, **settings.model_dump()}], schema=SETTINGS_SCHEMA),
        "contract_plans": pl.DataFrame(plans, schema=PLAN_SCHEMA),
        "contract_features": pl.DataFrame(features, schema=FEATURE_SCHEMA),
        "contract_roaming": pl.DataFrame(roaming, schema=ROAMING_SCHEMA),
    }


@asset(
    partitions_def=customers_partitions,
    group_name=INGEST_GROUP,
    kinds={"yaml", "parquet"},
    description="The customer's settings and negotiated rate cards, one per carrier.",
)
def customer_contracts(context: AssetExecutionContext, data_root: DataRootResource) -> MaterializeResult:
    customer_id = context.partition_key
    try:
        tables = contract_tables(data_root.root, customer_id)
    except ContractError as problem:
        raise Failure(description=f"{customer_id}: {problem}") from None
    for name, frame in tables.items():
        data_root.warehouse.write(customer_id, None, name, frame)
    return MaterializeResult(
        metadata={
            "carriers": MetadataValue.json(sorted(tables["contract_roaming"]["carrier"].to_list())),
            "plans": tables["contract_plans"].height,
            "features": tables["contract_features"].height,
            "currency": tables["customer_settings"]["currency"][0],
        }
    )
