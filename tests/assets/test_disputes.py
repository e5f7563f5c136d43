"""Disputes as they are filed (per carrier, account and invoice, with the last day to file), the plain-language labels
of every type, and the published disputes-<carrier>.csv files."""

import datetime as dt
import json
from decimal import Decimal

import openpyxl
import polars as pl
import pytest
import yaml
from dagster import DagsterInstance, MultiPartitionKey, materialize

from assets import audit, ingest, publish, report, savings
from assets.delivery import delivery_asset
from pipelines.resources import DataRootResource, DeliveryResource, PseudonymKeyResource
from reports.publishing.disputes import FROM_INVOICE_DATE, FROM_MONTH_END, FROM_PERIOD_END, dispute_rows, month_end
from reports.publishing.publish import remove_stale_disputes
from reports.rules import audit_rules, savings_rules
from reports.workbook.labels import FINDING_LABELS, SAVINGS_LABELS, finding_label, savings_label
from schemas.contract import DEFAULT_DISPUTE_WINDOW_DAYS, ContractError, load_contract
from schemas.outputs import DISPUTES_CSV_COLUMNS, FINDING_TYPES, FINDINGS_CSV_COLUMNS, SAVINGS_TYPES
from tests.support.builders import (
    CONTRACT,
    INVOICE_HEADER,
    ROSTER_HEADER,
    USAGE_HEADER,
    charge_row,
    drop,
    roster_row,
    usage_row,
    write_csv,
    write_customer,
)

MASTER_KEY = "1e" * 32
OTHER_CONTRACT = {**CONTRACT, "carrier": "southpoint", "dispute_window_days": 45}


# ---------------------------------------------------------------------------------------------------------
# Labels: one per type the rules define


def test_every_finding_type_the_rules_define_has_a_label_in_their_order():
    assert list(FINDING_LABELS) == [rule.finding_type for rule in audit_rules.RULES]
    assert tuple(FINDING_LABELS) == FINDING_TYPES
    for code, (label, meaning) in FINDING_LABELS.items():
        assert label and meaning.endswith(".") and "_" not in label, code
        assert finding_label(code) == label


def test_every_savings_type_the_rules_define_has_a_label_in_their_order():
    assert list(SAVINGS_LABELS) == [rule.savings_type for rule in savings_rules.RULES]
    assert tuple(SAVINGS_LABELS) == SAVINGS_TYPES
    for code, (label, meaning) in SAVINGS_LABELS.items():
        assert label and meaning.endswith(".") and "_" not in label, code
        assert savings_label(code) == label


def test_a_type_without_a_label_still_reads_as_words():
    assert finding_label("NEW_RULE") == "New rule"
    assert savings_label("SHARED_PLAN_MERGE") == "Shared plan merge"


# ---------------------------------------------------------------------------------------------------------
# Last day to file


def findings(*rows):
    """findings.csv rows (amounts as published text) from (carrier, account, invoice, type, disputed)."""
    records = [
        {
            "customer_id": "acme",
            "billing_month": "2026-06",
            "carrier": carrier,
            "account_number": account,
            "invoice_number": invoice,
            "msisdn": "+14155550100",
            "employee_id": "E1",
            "finding_type": kind,
            "charge_type": "feature",
            "charge_code": "F",
            "billed_amount": disputed,
            "expected_amount": "0.00",
            "disputed_amount": disputed,
            "currency": "USD",
            "evidence": f"Invoice {invoice}: dispute {disputed} USD.",
        }
        for carrier, account, invoice, kind, disputed in rows
    ]
    return pl.DataFrame(records, schema={c: pl.String for c in FINDINGS_CSV_COLUMNS})


INVOICES = pl.DataFrame(
    {
        "carrier": ["northwind-mobile", "northwind-mobile", "southpoint"],
        "account_number": ["ACC-1", "ACC-2", "SP-9"],
        "invoice_number": ["INV-1", "INV-2", "SP-1"],
        "invoice_date": [dt.date(2026, 7, 3), None, dt.date(2026, 7, 20)],
        "period_end": [dt.date(2026, 6, 30), dt.date(2026, 6, 30), dt.date(2026, 6, 30)],
    }
)


def test_last_day_to_file_is_the_invoice_date_plus_the_contract_window():
    found = findings(
        ("southpoint", "SP-9", "SP-1", "UNKNOWN_LINE", "5.00"),
        ("northwind-mobile", "ACC-2", "INV-2", "DUPLICATE_CHARGE", "2.50"),
        ("northwind-mobile", "ACC-1", "INV-1", "UNORDERED_FEATURE", "10.00"),
        ("northwind-mobile", "ACC-1", "INV-1", "PLAN_RATE_MISMATCH", "4.00"),
        ("northwind-mobile", "ACC-9", "INV-404", "INVOICE_TOTAL_MISMATCH", "1.00"),
    )
    rows = dispute_rows(found, INVOICES, {"southpoint": 45}, "2026-06")
    assert rows.columns[: len(DISPUTES_CSV_COLUMNS)] == DISPUTES_CSV_COLUMNS
    got = rows.select("invoice_number", "invoice_date", "last_day_to_file", "counted_from", "window_days").rows()
    assert got == [
        # grouped by carrier, account and invoice; an invoice's findings keep their order
        ("INV-1", dt.date(2026, 7, 3), dt.date(2026, 10, 1), FROM_INVOICE_DATE, DEFAULT_DISPUTE_WINDOW_DAYS),
        ("INV-1", dt.date(2026, 7, 3), dt.date(2026, 10, 1), FROM_INVOICE_DATE, 90),
        # no invoice date: 90 days from the end of the billing period
        ("INV-2", None, dt.date(2026, 9, 28), FROM_PERIOD_END, 90),
        # an invoice the month's charges do not know: from the end of the billing month
        ("INV-404", None, dt.date(2026, 9, 28), FROM_MONTH_END, 90),
        # the contract's own window
        ("SP-1", dt.date(2026, 7, 20), dt.date(2026, 9, 3), FROM_INVOICE_DATE, 45),
    ]
    assert rows["finding_type"].to_list()[:2] == ["UNORDERED_FEATURE", "PLAN_RATE_MISMATCH"]
    assert rows["finding"].to_list()[:2] == ["Feature you did not order", "Plan billed above contract price"]
    # the same amounts and evidence as findings.csv
    assert sorted(rows["disputed_amount"].to_list()) == sorted(found["disputed_amount"].to_list())
    assert set(rows["evidence"].to_list()) == set(found["evidence"].to_list())


def test_month_end_handles_every_month_length():
    assert [month_end(m) for m in ("2026-02", "2028-02", "2026-04", "2026-12")] == [
        dt.date(2026, 2, 28),
        dt.date(2028, 2, 29),
        dt.date(2026, 4, 30),
        dt.date(2026, 12, 31),
    ]


def contract_file(tmp_path, **fields):
    path = tmp_path / "northwind-mobile.yaml"
    path.write_text(yaml.safe_dump({**CONTRACT, **fields}, sort_keys=False))
    return path


def test_contract_dispute_window_defaults_to_ninety_days(tmp_path):
    assert load_contract(contract_file(tmp_path), "c.yaml").dispute_window_days == 90
    assert load_contract(contract_file(tmp_path, dispute_window_days=30), "c.yaml").dispute_window_days == 30
    assert load_contract(contract_file(tmp_path, dispute_window_days="120"), "c.yaml").dispute_window_days == 120


@pytest.mark.parametrize("value", [0, -5, 1.5, "90 days", True, None, "1e2"])
def test_contract_dispute_window_must_be_whole_days_of_at_least_one(tmp_path, value):
    with pytest.raises(ContractError, match=r"c\.yaml: field 'dispute_window_days': .*whole number of days"):
        load_contract(contract_file(tmp_path, dispute_window_days=value), "c.yaml")


# ---------------------------------------------------------------------------------------------------------
# Published files: one disputes-<carrier>.csv per carrier with findings, in the manifest


@pytest.fixture
def two_carrier_root(tmp_path):
    """northwind-mobile bills an unordered feature twice (two findings); southpoint (45-day window) bills an
    unknown number; a third contract's carrier bills nothing wrong."""
    quiet = {**CONTRACT, "carrier": "quiet-mobile"}
    write_customer(tmp_path, "acme", contracts=[CONTRACT, OTHER_CONTRACT, quiet])
    folder = drop(tmp_path, "acme", "2026-06")
    write_csv(
        folder / "roster.csv",
        ROSTER_HEADER,
        [
            roster_row("+14155550100", "E1"),
            roster_row("+14155550101", "E2"),
            roster_row("+14155550102", "E3", carrier="quiet-mobile", account_number="Q-1"),
        ],
    )
    write_csv(
        folder / "invoices" / "nw.csv",
        INVOICE_HEADER,
        [
            charge_row("+14155550100", total="54.00"),
            charge_row("+14155550100", "feature", "10.00", "54.00", charge_code="INTL-PASS"),
            charge_row("+14155550101", "feature", "10.00", "54.00", charge_code="INTL-PASS"),
        ],
    )
    write_csv(
        folder / "invoices" / "sp.csv",
        INVOICE_HEADER,
        [
            charge_row(
                "+14155550199",
                amount="25.00",
                total="25.00",
                carrier="southpoint",
                account_number="SP-9",
                invoice_number="SP-1",
                invoice_date="",
            ),
        ],
    )
    write_csv(
        folder / "invoices" / "q.csv",
        INVOICE_HEADER,
        [
            charge_row(
                "+14155550102", total="34.00", carrier="quiet-mobile", account_number="Q-1", invoice_number="Q-1"
            ),
        ],
    )
    write_csv(folder / "usage" / "u.csv", USAGE_HEADER, [usage_row("2026-06-03", "+14155550100")])
    return tmp_path


def publish_month(root):
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("customers", ["acme"])
    resources = {
        "data_root": DataRootResource(path=str(root)),
        "delivery": DeliveryResource(),
        "pseudonym_key": PseudonymKeyResource(master_key=MASTER_KEY),
    }
    materialize([ingest.customer_contracts], partition_key="acme", instance=instance, resources=resources)
    return materialize(
        [
            ingest.roster,
            ingest.invoice_charges,
            ingest.device_usage,
            audit.line_month_usage,
            audit.findings,
            publish.quarantine_report,
            publish.findings_report,
            savings.savings,
            publish.savings_report,
            report.customer_report,
            delivery_asset("local"),
        ],
        partition_key=MultiPartitionKey({"customer": "acme", "month": "2026-06"}),
        resources=resources,
        instance=instance,
    )


def test_dispute_files_per_carrier_add_up_to_findings_csv(two_carrier_root):
    published = two_carrier_root / "published" / "acme" / "2026-06"
    published.mkdir(parents=True)
    (published / "disputes-gone-mobile.csv").write_text("left by an earlier run\n")  # a carrier without findings now
    result = publish_month(two_carrier_root)
    assert result.success

    found = pl.read_csv(published / "findings.csv", infer_schema=False)
    assert sorted(found["carrier"].unique()) == ["northwind-mobile", "southpoint"]
    files = sorted(p.name for p in published.glob("disputes-*.csv"))
    assert files == ["disputes-northwind-mobile.csv", "disputes-southpoint.csv"]  # none for quiet-mobile, stale gone
    total = Decimal(0)
    for name in files:
        rows = pl.read_csv(published / name, infer_schema=False)
        assert rows.columns == DISPUTES_CSV_COLUMNS
        carrier = name.removeprefix("disputes-").removesuffix(".csv")
        mine = found.filter(pl.col("carrier") == carrier)
        assert set(rows["carrier"]) == {carrier} and rows.height == mine.height
        assert sum(map(Decimal, rows["disputed_amount"])) == sum(map(Decimal, mine["disputed_amount"]))
        assert sorted(rows["evidence"]) == sorted(mine["evidence"])
        total += sum(map(Decimal, rows["disputed_amount"]))
    assert total == sum(map(Decimal, found["disputed_amount"])) == Decimal("45.00")

    northwind = pl.read_csv(published / "disputes-northwind-mobile.csv", infer_schema=False)
    assert set(northwind.select("invoice_date", "last_day_to_file").rows()) == {("2026-07-03", "2026-10-01")}
    assert set(northwind["finding"]) == {"Feature you did not order"}
    southpoint = pl.read_csv(published / "disputes-southpoint.csv", infer_schema=False)
    # no invoice date: the period end (2026-06-30) plus the contract's 45 days
    assert southpoint.select("invoice_date", "last_day_to_file", "finding").rows() == [
        (None, "2026-08-14", "Number not on your roster")
    ]

    manifest = json.loads((published / "manifest.json").read_text())
    assert [f["name"] for f in manifest["files"]] == [
        "disputes-northwind-mobile.csv",
        "disputes-southpoint.csv",
        "findings.csv",
        "quarantine.csv",
        "report.xlsx",
        "savings.csv",
    ]
    written = result.asset_materializations_for_node("findings_report")[0].metadata["dispute_files"].value.records
    assert [r.data for r in written] == [
        {"file": "disputes-northwind-mobile.csv", "rows": northwind.height},
        {"file": "disputes-southpoint.csv", "rows": southpoint.height},
    ]
    delivered = result.asset_materializations_for_node("delivery")[0].metadata
    assert delivered["target"].value == "local"  # what DeliveryResource() uses: the local folder, not S3
    assert delivered["delivered_to"].value == "published/acme/2026-06/"
    assert [(r.data["file"], r.data["sha256"]) for r in delivered["files"].value.records] == [
        (f["name"], f["sha256"]) for f in manifest["files"]
    ]

    sheet = openpyxl.load_workbook(published / "report.xlsx")["Disputes to file"]
    values = [row for row in sheet.iter_rows(values_only=True)]
    total_row = next(r for r in values if isinstance(r[0], str) and r[0].startswith("Total to claim"))
    assert Decimal(str(total_row[7])).quantize(Decimal("0.01")) == total
    deadlines = {r[0]: r[2] for r in values if r[0] in ("INV-1", "SP-1")}
    assert deadlines == {"INV-1": dt.datetime(2026, 10, 1), "SP-1": dt.datetime(2026, 8, 14)}
    notes = [r[8] for r in values if r[0] == "SP-1"]
    assert notes and "No invoice date" in notes[0]


class ListingStore:
    def __init__(self, keys):
        self.keys, self.deleted = keys, []

    def list_keys(self, prefix):
        return [k for k in self.keys if k.startswith(prefix)]

    def delete(self, key):
        self.deleted.append(key)


def test_delivery_removes_a_dispute_file_an_earlier_delivery_left():
    store = ListingStore(
        [
            "acme/2026-06/disputes-a.csv",
            "acme/2026-06/disputes-b.csv",
            "acme/2026-06/findings.csv",
            "acme/2026-07/disputes-b.csv",
        ]
    )
    remove_stale_disputes(store, "acme", "2026-06", {"disputes-a.csv", "findings.csv"})
    assert store.deleted == ["acme/2026-06/disputes-b.csv"]
