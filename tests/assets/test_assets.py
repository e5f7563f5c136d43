"""Asset tier: materialize the asset graph for one explicit customer-month on a tmp_path data root."""

import datetime as dt
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    FloatMetadataValue,
    IntMetadataValue,
    MultiPartitionKey,
    TableMetadataValue,
    TableSchemaMetadataValue,
    TextMetadataValue,
    materialize,
)

from assets import audit, ingest, publish, report, savings
from assets.delivery import delivery_asset
from pipelines.definitions import stage_definitions
from pipelines.resources import DataRootResource, DeliveryResource, PseudonymKeyResource
from schemas.outputs import FINDING_TYPES, FINDINGS_CSV_COLUMNS, QUARANTINE_CSV_COLUMNS
from schemas.tables import INVOICE_CHARGES, LINEAGE_COLUMNS, ROSTER, STORED_COLUMNS
from tests.support.builders import (
    INVOICE_HEADER,
    ROSTER_HEADER,
    USAGE_HEADER,
    charge_row,
    drop,
    roster_row,
    usage_row,
    write_csv,
    write_customer,
    write_parquet,
    write_xlsx,
)

MASTER_KEY = "0f" * 32
MONTH_ASSETS = [
    ingest.roster,
    ingest.invoice_charges,
    ingest.device_usage,
    audit.line_month_usage,
    audit.findings,
    publish.quarantine_report,
    publish.findings_report,
]
CHECKS = [*stage_definitions()["ingest"].asset_checks, *stage_definitions()["audit"].asset_checks]


@pytest.fixture
def data_root(tmp_path):
    write_customer(tmp_path, "acme")
    folder = drop(tmp_path, "acme", "2026-06")
    write_xlsx(
        folder / "roster.xlsx",
        ROSTER_HEADER,
        [
            roster_row("+14155550100", "E1"),
            roster_row("415.555.0101", "E2", line_status_date=dt.date(2025, 3, 1)),
            roster_row("555", "E3"),  # bad phone: quarantined, value restored only in the published file
        ],
    )
    write_csv(
        folder / "invoices" / "inv-1.csv",
        INVOICE_HEADER,
        [
            charge_row("(415) 555-0100", total="1,102.10"),
            charge_row("+1 415 555 0101", total="1,102.10"),
            charge_row(None, "equipment", "1,034.10", "1,102.10", charge_code="PHONE"),
            charge_row(None, "bogus", "1.00", "1,102.10"),
        ],
        bom=True,
        crlf=True,
    )
    write_parquet(
        folder / "usage" / "u.parquet",
        pl.DataFrame(
            {
                "date": [dt.date(2026, 6, 1), dt.date(2026, 6, 2), dt.date(2026, 7, 1)],
                "msisdn": ["+14155550100", "4155550101", "+14155550100"],
                "imei": ["356938035643809"] * 3,
                "voice_minutes": [10.5, 0.0, 1.0],
                "sms_count": [3, 0, 1],
                "data_mb": [100.25, 2048.0, 1.0],
                "roaming_voice_minutes": [0.0, 0.0, 0.0],
                "roaming_data_mb": [0.0, 12.5, 0.0],
            }
        ),
    )
    write_csv(folder / "usage" / "u2.csv", USAGE_HEADER, [usage_row("06/03/2026", "+14155550101")])
    return tmp_path


def run_month(
    root, customer="acme", month="2026-06", assets=MONTH_ASSETS, checks=CHECKS, raise_on_error=True, instance=None
):
    instance = instance or DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("customers", [customer])
    materialize(
        [ingest.customer_contracts],
        partition_key=customer,
        instance=instance,
        resources={"data_root": DataRootResource(path=str(root))},
    )
    return materialize(
        [*assets, *checks],
        partition_key=MultiPartitionKey({"customer": customer, "month": month}),
        resources={
            "data_root": DataRootResource(path=str(root)),
            "delivery": DeliveryResource(),
            "pseudonym_key": PseudonymKeyResource(master_key=MASTER_KEY),
        },
        instance=instance,
        raise_on_error=raise_on_error,
    )


def test_materialize_one_customer_month(data_root):
    result = run_month(data_root)
    assert result.success
    warehouse = data_root / "warehouse" / "acme" / "2026-06"
    roster = pl.read_parquet(warehouse / "roster.parquet")
    charges = pl.read_parquet(warehouse / "invoice_charges.parquet")
    usage = pl.read_parquet(warehouse / "device_usage.parquet")
    assert roster.height == 2 and charges.height == 3 and usage.height == 3
    assert set(charges["msisdn"].drop_nulls()) == set(roster["msisdn"])  # formats normalised before hashing
    assert set(usage["msisdn"]) == set(roster["msisdn"])
    assert str(charges["amount"].sum()) == "1102.1000"

    checks = result.get_asset_check_evaluations()
    assert len(checks) == 8 and all(c.passed for c in checks)
    metadata = result.asset_materializations_for_node("invoice_charges")[0].metadata
    assert metadata["rows_read"].value == 4 and metadata["rows_quarantined"].value == 1

    published = pl.read_csv(data_root / "published" / "acme" / "2026-06" / "quarantine.csv", infer_schema=False)
    assert published.columns == ["file", "row", "column", "value", "reason"]
    assert published.select("file", "row", "column", "value").rows() == [
        ("invoices/inv-1.csv", "5", "charge_type", "bogus"),
        ("roster.xlsx", "4", "msisdn", "555"),  # restored from the customer's own file at publish time
        ("usage/u.parquet", "4", "date", "2026-07-01"),
    ]


def test_rerun_replaces_rows_instead_of_adding(data_root):
    run_month(data_root)
    first = pl.read_parquet(data_root / "warehouse" / "acme" / "2026-06" / "invoice_charges.parquet")
    run_month(data_root)
    second = pl.read_parquet(data_root / "warehouse" / "acme" / "2026-06" / "invoice_charges.parquet")
    assert first.equals(second)
    leftovers = [p for p in (data_root / "warehouse").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_unreadable_file_fails_the_customer_month_with_its_name(data_root):
    (data_root / "inbox" / "acme" / "2026-06" / "usage" / "u2.csv").write_bytes(b"PK\x03\x04")
    result = run_month(data_root, raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert any("acme 2026-06: usage/u2.csv: not a CSV text file" in e.step_failure_data.error.message for e in failures)


def test_contract_that_does_not_parse_names_file_and_field(data_root):
    contract = data_root / "customers" / "acme" / "contracts" / "northwind-mobile.yaml"
    contract.write_text(contract.read_text().replace("monthly_fee: 40.0", "monthly_fee: forty"))
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("customers", ["acme"])
    result = materialize(
        [ingest.customer_contracts],
        partition_key="acme",
        instance=instance,
        raise_on_error=False,
        resources={"data_root": DataRootResource(path=str(data_root))},
    )
    message = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message
    assert "customers/acme/contracts/northwind-mobile.yaml" in message and "plans.0.monthly_fee" in message


def test_contracts_are_stored_as_exact_decimals(data_root):
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("customers", ["acme"])
    result = materialize(
        [ingest.customer_contracts],
        partition_key="acme",
        instance=instance,
        resources={"data_root": DataRootResource(path=str(data_root))},
    )
    assert result.success
    plans = pl.read_parquet(data_root / "warehouse" / "acme" / "contracts" / "contract_plans.parquet")
    assert str(plans.filter(pl.col("code") == "BIZ-5GB")["overage_data_per_mb"][0]) == "0.015000"
    assert plans.filter(pl.col("code") == "BIZ-UNL")["data_mb"][0] is None


def test_findings_are_published_with_identifiers_restored(data_root):
    folder = data_root / "inbox" / "acme" / "2026-06"
    write_csv(
        folder / "invoices" / "inv-2.csv",
        INVOICE_HEADER,
        [
            charge_row("415-555-0100", amount="36.00", total="36.00", invoice_number="INV-2"),
        ],
    )
    result = run_month(data_root)
    assert result.success
    findings = pl.read_csv(data_root / "published" / "acme" / "2026-06" / "findings.csv", infer_schema=False)
    assert findings.columns == FINDINGS_CSV_COLUMNS
    assert findings.select("invoice_number", "msisdn", "employee_id", "finding_type", "disputed_amount").rows() == [
        ("INV-2", "+14155550100", "E1", "PLAN_RATE_MISMATCH", "2.00")
    ]
    assert findings["evidence"][0].startswith(
        "Invoice INV-2 (northwind-mobile, account ACC-1) bills plan BIZ-5GB at 36.00 USD for +14155550100;"
    )
    stored = pl.read_parquet(data_root / "warehouse" / "acme" / "2026-06" / "findings.parquet")
    assert "+14155550100" not in str(stored.rows()) and "E1" not in stored["employee_id"].to_list()
    metadata = result.asset_materializations_for_node("findings")[0].metadata
    by_type = {r.data["finding_type"]: r.data for r in metadata["by_finding_type"].value.records}
    assert by_type["PLAN_RATE_MISMATCH"] == {"finding_type": "PLAN_RATE_MISMATCH", "findings": 1, "disputed": 2.0}
    assert metadata["disputed_total"].value == 2.0 and metadata["currency"].value == "USD"


def test_checks_catch_clear_identifiers_and_odd_invoices(data_root):
    assert run_month(data_root).success
    resource = DataRootResource(path=str(data_root))
    key = MultiPartitionKey({"customer": "acme", "month": "2026-06"})
    warehouse = data_root / "warehouse" / "acme" / "2026-06"
    roster = pl.read_parquet(warehouse / "roster.parquet")
    roster.with_columns(pl.lit("+14155550100").alias("msisdn")).write_parquet(warehouse / "roster.parquet")
    result = ingest.schema_check(resource, key, ROSTER)
    assert not result.passed and result.metadata["problems"].value == {"msisdn not pseudonymized": 2}

    charges = pl.read_parquet(warehouse / "invoice_charges.parquet")
    charges.with_columns(
        pl.when(pl.col("source_row") == 2)
        .then(pl.col("invoice_total") + 1)
        .otherwise(pl.col("invoice_total"))
        .alias("invoice_total")
    ).write_parquet(warehouse / "invoice_charges.parquet")
    totals = ingest.invoice_totals_check(resource, key)
    assert not totals.passed and totals.metadata["invoices_with_several_totals"].value == 1


def test_workspace_loads_as_a_code_location():
    """What the webserver and daemon load: workspace.yaml -> pipelines.definitions."""
    repository = Path(__file__).resolve().parents[2]
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=repository,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "All code locations passed validation" in result.stdout + result.stderr


def test_months_after_the_last_drop_publish_nothing_and_say_why(data_root):
    """A backfill of the months with drops also targets savings and reports of the next two months (the history
    mapping); there they must succeed without writing anything, and say why."""
    downstream = [savings.savings, publish.savings_report, report.customer_report, delivery_asset("local")]
    result = run_month(data_root, month="2026-07", assets=downstream, checks=[])
    assert result.success
    reasons = {
        event.asset_key.to_user_string(): event.step_materialization_data.materialization.metadata["skipped"].value
        for event in result.get_asset_materialization_events()
    }
    assert set(reasons) == {"savings", "savings_report", "customer_report", "delivery"}
    assert all(
        reason.startswith("nothing to reconcile: the inbox has no drop for acme 2026-07") for reason in reasons.values()
    )
    assert not (data_root / "published" / "acme" / "2026-07").exists()
    assert not (data_root / "warehouse" / "acme" / "2026-07").exists()

    # a drop that exists but was not ingested: same, with the reason to ingest it first
    drop(data_root, "acme", "2026-07")
    result = run_month(data_root, month="2026-07", assets=[savings.savings], checks=[])
    skipped = result.get_asset_materialization_events()[0].step_materialization_data.materialization.metadata["skipped"]
    assert skipped.value.startswith(
        "acme 2026-07 has not been ingested yet: materialize its roster and device_usage first"
    )


def test_savings_need_the_roster_and_usage_of_their_month_not_its_invoices(data_root):
    """The savings do not wait for the invoices in the asset graph, so a grouping of the assets into runs may ingest
    them later: savings computed before the invoices are in the warehouse are the savings. (A trial grouping with
    the roster and usage in a run of their own failed a 200,000-line benchmark: a month's savings, run before its
    invoices were ingested, wrote nothing, and its report then had no savings to publish.)"""
    usage_run = [ingest.roster, ingest.device_usage, audit.line_month_usage]
    assert run_month(data_root, assets=usage_run, checks=[]).success
    assert not (data_root / "warehouse" / "acme" / "2026-06" / "invoice_charges.parquet").exists()

    result = run_month(data_root, assets=[savings.savings], checks=[])
    materialized = result.get_asset_materialization_events()[0].step_materialization_data.materialization
    assert "skipped" not in materialized.metadata
    assert (data_root / "warehouse" / "acme" / "2026-06" / "savings.parquet").exists()


def test_checks_hold_stored_tables_to_the_table_models(data_root):
    """The stored-schema check takes its types and required values from schemas/tables.py: a type the pandera model
    does not allow, and a null where the model requires a value, both fail it."""
    assert run_month(data_root).success
    resource = DataRootResource(path=str(data_root))
    key = MultiPartitionKey({"customer": "acme", "month": "2026-06"})
    warehouse = data_root / "warehouse" / "acme" / "2026-06"
    roster = pl.read_parquet(warehouse / "roster.parquet")
    roster.with_columns(pl.col("vip").cast(pl.String)).write_parquet(warehouse / "roster.parquet")
    result = ingest.schema_check(resource, key, ROSTER)
    assert not result.passed and result.metadata["problems"].value == {"vip type": "VARCHAR, expected BOOLEAN"}

    charges = pl.read_parquet(warehouse / "invoice_charges.parquet")
    charges.with_columns(pl.lit(None, pl.String).alias("account_number")).write_parquet(
        warehouse / "invoice_charges.parquet"
    )  # required by InvoiceChargeModel, never checked before
    result = ingest.schema_check(resource, key, INVOICE_CHARGES)
    assert not result.passed and result.metadata["problems"].value == {"account_number nulls": 3}


def latest_metadata(instance, asset: str, partition: MultiPartitionKey) -> dict:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[str(partition)]), limit=1
    ).records
    assert len(records) == 1, asset
    return records[0].asset_materialization.metadata


def test_materializations_speak_dagsters_metadata_vocabulary(data_root):
    """Read back from the instance for one partition: row counts as ints, the column schema of the table models,
    breakdowns as tables, amounts as floats beside a currency entry; no identifier anywhere."""
    instance = DagsterInstance.ephemeral()
    partition = MultiPartitionKey({"customer": "acme", "month": "2026-06"})
    assert run_month(data_root, instance=instance).success

    roster = latest_metadata(instance, "roster", partition)
    assert isinstance(roster["dagster/row_count"], IntMetadataValue) and roster["dagster/row_count"].value == 2
    schema = roster["dagster/column_schema"]
    assert isinstance(schema, TableSchemaMetadataValue)
    columns = {c.name: c for c in schema.schema.columns}
    assert list(columns) == STORED_COLUMNS["roster"] + LINEAGE_COLUMNS
    assert (columns["msisdn"].type, columns["msisdn"].constraints.nullable) == ("VARCHAR", False)
    assert "pseudonym" in columns["msisdn"].description
    assert (columns["vip"].type, columns["vip"].constraints.nullable) == ("BOOLEAN", True)
    assert columns["line_status"].description == "one of active, suspended, cancelled"

    charges = latest_metadata(instance, "invoice_charges", partition)
    reasons = charges["quarantine_reasons"]
    assert isinstance(reasons, TableMetadataValue)
    assert [r.data for r in reasons.value.records] == [{"reason_code": "bad_enum", "cells": 1}]
    assert [c.type for c in reasons.value.schema.columns] == ["string", "int"]
    accounting = [r.data for r in charges["accounting_by_file"].value.records]
    assert accounting == [{"file": "invoices/inv-1.csv", "rows_read": 4, "rows_accepted": 3, "rows_quarantined": 1}]
    assert isinstance(charges["charges_total"], FloatMetadataValue) and charges["charges_total"].value == 1102.10
    assert isinstance(charges["currency"], TextMetadataValue) and charges["currency"].value == "USD"
    by_carrier = [r.data for r in charges["charges_by_carrier"].value.records]
    assert by_carrier == [{"carrier": "northwind-mobile", "invoices": 1, "charges": 3, "charges_total": 1102.10}]

    findings = latest_metadata(instance, "findings", partition)
    assert isinstance(findings["dagster/row_count"], IntMetadataValue)
    assert findings["dagster/row_count"].value == findings["findings"].value
    assert isinstance(findings["disputed_total"], FloatMetadataValue) and findings["currency"].value == "USD"
    by_type = findings["by_finding_type"]
    assert isinstance(by_type, TableMetadataValue)
    assert [r.data["finding_type"] for r in by_type.value.records] == list(FINDING_TYPES)
    assert [(c.name, c.type) for c in by_type.value.schema.columns] == [
        ("finding_type", "string"),
        ("findings", "int"),
        ("disputed", "float"),
    ]
    assert isinstance(findings["dagster/column_schema"], TableSchemaMetadataValue)

    published = latest_metadata(instance, "quarantine_report", partition)
    assert published["dagster/row_count"].value == 3
    assert [c.name for c in published["dagster/column_schema"].schema.columns] == QUARANTINE_CSV_COLUMNS

    everything = " ".join(
        str(v.value)
        for asset in (
            "roster",
            "invoice_charges",
            "device_usage",
            "line_month_usage",
            "findings",
            "quarantine_report",
            "findings_report",
        )
        for v in latest_metadata(instance, asset, partition).values()
    )
    for identifier in ("4155550100", "4155550101", "356938035643809", "Zelda", "Quinterro"):
        assert identifier not in everything


def test_definitions_declare_owners_tags_kinds_columns_and_check_descriptions():
    stages = stage_definitions()
    specs = {
        spec.key.to_user_string(): spec
        for stage in stages.values()
        for definition in stage.assets or []
        for spec in definition.specs
    }
    customer_facing = {"quarantine_report", "findings_report", "savings_report", "customer_report", "delivery"}
    for name, spec in specs.items():
        audience = "customer" if name in customer_facing else "internal"
        assert spec.tags["audience"] == audience, name
        assert spec.owners == ["team:tem-analysts" if audience == "customer" else "team:tem-platform"], name
        assert spec.kinds and "dagster/code_references" in spec.metadata, name
    not_tables = {"customer_contracts", "customer_report", "delivery"}
    for name in set(specs) - not_tables:
        assert isinstance(specs[name].metadata["dagster/column_schema"], TableSchemaMetadataValue), name
    assert specs["delivery"].kinds == {"folder", "json"}  # the local folder, not S3
    s3_delivery = next(a for a in stage_definitions("s3")["publish"].assets if a.key == AssetKey("delivery"))
    assert s3_delivery.specs_by_key[AssetKey("delivery")].kinds == {"s3", "json"}

    checks = [
        spec for stage in stages.values() for definition in stage.asset_checks or [] for spec in definition.check_specs
    ]
    assert sorted((c.asset_key.to_user_string(), c.name) for c in checks) == sorted(
        [
            (table, check)
            for table in ("roster", "invoice_charges", "device_usage")
            for check in ("row_accounting", "warehouse_schema")
        ]
        + [("invoice_charges", "invoice_totals"), ("findings", "findings_sanity"), ("delivery", "delivered_by_the_5th")]
    )
    assert all(c.description for c in checks)
