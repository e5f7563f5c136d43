"""End to end: `tem run` (the CLI, in its own process) on a generated sample data root, in a fresh DAGSTER_HOME."""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from reports.sample_generator import write_sample_data
from tests.support.identifiers import inbox_identifiers, leaks

MASTER_KEY = "5a" * 32
REPOSITORY = Path(__file__).resolve().parents[2]


def tem(*args, dagster_home: Path, master_key: str | None = MASTER_KEY) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TEM_DATA_ROOT", "TEM_MASTER_KEY", "DAGSTER_HOME")}
    env["DAGSTER_HOME"] = str(dagster_home)
    if master_key:
        env["TEM_MASTER_KEY"] = master_key
    return subprocess.run(
        [sys.executable, "-m", "pipelines.commands.cli", *args],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    root, expected = base / "root", base / "expected"
    write_sample_data(root, seed=20261, expected_dir=expected)
    run = tem("run", "--data-root", str(root), dagster_home=base / "dagster_home")
    return root, expected, base / "dagster_home", run


def drops(root: Path) -> list[tuple[str, str]]:
    return sorted((p.parent.name, p.name) for p in (root / "inbox").glob("*/*") if p.is_dir())


def test_run_succeeds_and_publishes_every_customer_month(sample):
    root, _, _, run = sample
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(drops(root)) >= 12
    for customer_id, month in drops(root):
        assert (root / "published" / customer_id / month / "quarantine.csv").exists()
    assert str(root / "published") in run.stdout


def test_quarantine_matches_the_rows_the_generator_broke(sample):
    root, expected, _, _ = sample
    for customer_id, month in drops(root):
        want_file = expected / customer_id / month / "quarantine.csv"
        want = set(
            pl.read_csv(want_file, infer_schema=False).select("file", "row", "column", "reason_code").iter_rows()
        )
        got = set()
        for table in ("roster", "invoice_charges", "device_usage"):
            stored = pl.read_parquet(root / "warehouse" / customer_id / month / f"{table}_quarantine.parquet")
            got |= {
                (f, str(r), c, code)
                for f, r, c, code in stored.select("file", "row", "column", "reason_code").iter_rows()
            }
        assert got == want, (customer_id, month)
        published = pl.read_csv(root / "published" / customer_id / month / "quarantine.csv", infer_schema=False)
        assert published.columns == ["file", "row", "column", "value", "reason"]
        assert set(published.select("file", "row", "column").iter_rows()) == {w[:3] for w in want}
        assert published["reason"].null_count() == 0


def test_no_identifier_leaves_inbox_customers_and_published(sample):
    root, _, dagster_home, run = sample
    regions = {
        p.parent.name: yaml.safe_load(p.read_text())["region"] for p in (root / "customers").glob("*/customer.yaml")
    }
    identifiers = inbox_identifiers(root, regions)
    assert len(identifiers) > 100
    written = [
        p
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).parts[0] not in {"inbox", "customers", "published"}
    ]
    written += [p for p in dagster_home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in written) and any("dagster_home" in str(p) for p in written)
    assert leaks(written, identifiers) == []
    assert [i for i in identifiers if i in run.stdout + run.stderr] == []


def test_a_second_run_publishes_the_same_files(sample, tmp_path):
    root, _, dagster_home, _ = sample

    def digests():
        return {
            p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "published").rglob("*"))
            if p.is_file()
        }

    before = digests()
    again = tem("run", "--data-root", str(root), "--customer", "globex", dagster_home=dagster_home)
    assert again.returncode == 0, again.stderr[-2000:]
    assert digests() == before


def test_a_bad_customer_month_does_not_stop_the_others(sample, tmp_path):
    source_root = sample[0]
    root = tmp_path / "root"
    shutil.copytree(source_root / "customers", root / "customers")
    shutil.copytree(source_root / "inbox", root / "inbox")
    broken = sorted((root / "inbox" / "globex" / "2026-07" / "invoices").iterdir())[0]
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    shutil.copytree(root / "inbox" / "initech-uk" / "2026-09", root / "inbox" / "initech-uk" / "2099-01")
    run = tem(
        "run",
        "--data-root",
        str(root),
        "--customer",
        "globex",
        "--customer",
        "initech-uk",
        dagster_home=tmp_path / "home",
    )
    assert run.returncode == 1
    assert f"globex 2026-07: invoices/{broken.name}" in run.stderr
    assert "initech-uk 2099-01: month 2099-01 is outside the partitions 2026-06.." in run.stderr
    assert "Traceback" not in run.stderr
    published = {(p.parent.parent.name, p.parent.name) for p in (root / "published").rglob("quarantine.csv")}
    assert ("globex", "2026-07") not in published
    assert ("globex", "2026-06") in published and ("initech-uk", "2026-09") in published


@pytest.mark.parametrize(
    "args, message",
    [
        (["--customer", "../etc"], "customer id '../etc' is not allowed"),
        (["--customer", "Globex"], "customer id 'Globex' is not allowed"),
        (["--month", "2026-13"], "billing month '2026-13' is not of the form YYYY-MM"),
        (["--customer", "nobody"], "unknown customer(s): nobody"),
    ],
)
def test_bad_selections_are_refused_before_anything_runs(sample, tmp_path, args, message):
    run = tem("run", "--data-root", str(sample[0]), *args, dagster_home=tmp_path / "home")
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr


def key_figures(sheet) -> dict[str, object]:
    """Summary's 'Key figures' block: label in column A, value in column B."""
    figures, inside = {}, False
    for label, value, *_ in sheet.iter_rows(min_col=1, max_col=2, values_only=True):
        if label == "Key figures":
            inside = True
        elif inside and label is None:
            break
        elif inside:
            figures[label] = value
    return figures


def test_every_workbook_has_its_sheets_charts_and_the_csv_totals(sample):
    from decimal import Decimal

    import openpyxl

    root = sample[0]
    for customer_id, month in drops(root):
        folder = root / "published" / customer_id / month
        workbook = openpyxl.load_workbook(folder / "report.xlsx")
        assert workbook.sheetnames == [
            "Summary",
            "Disputes to file",
            "Savings",
            "Findings",
            "Cost allocation",
            "Trend",
            "Glossary",
        ]
        # a chart only where there is something to draw: finding types and savings actions with an amount
        assert len(workbook["Summary"]._charts) <= 2 and len(workbook["Trend"]._charts) <= 2
        findings = pl.read_csv(folder / "findings.csv", infer_schema=False)
        savings = pl.read_csv(folder / "savings.csv", infer_schema=False)
        figures = key_figures(workbook["Summary"])
        disputed = sum((Decimal(v) for v in findings["disputed_amount"]), Decimal(0))
        monthly = sum((Decimal(v) for v in savings["monthly_savings"]), Decimal(0))
        annual = sum((Decimal(v) for v in savings["annual_savings"]), Decimal(0))
        assert Decimal(str(figures["Disputed total"])).quantize(Decimal("0.01")) == disputed
        assert Decimal(str(figures["Monthly savings"])).quantize(Decimal("0.01")) == monthly
        assert Decimal(str(figures["Annual savings"])).quantize(Decimal("0.01")) == annual
        assert figures["Findings"] == findings.height
        assert workbook["Findings"].max_row == findings.height + 1 and workbook["Savings"].max_row == savings.height + 1
        # no other customer's data: every row of both sheets is this customer's lines
        customers_numbers = set(findings["msisdn"].drop_nulls()) | set(savings["msisdn"].drop_nulls())
        other_folders = [p for p in (root / "published").glob(f"*/{month}") if p.parent.name != customer_id]
        for other in other_folders:
            other_numbers = set(pl.read_csv(other / "findings.csv", infer_schema=False)["msisdn"].drop_nulls())
            assert not (customers_numbers & other_numbers)
