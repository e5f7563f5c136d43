"""Symbolic links are never followed: a customer's file or folder that is a link, or that resolves outside the
folder it belongs in, is refused with a one-line message, so one customer's drop can never read (and publish)
another customer's files, and `tem reports url` never hands out another customer's links."""

import calendar
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reports.inputs.contracts import contract_tables, customer_settings
from reports.inputs.intake import drop_files
from reports.inputs.readers import InputFileError
from reports.layout import DataRoot, LinkRefused
from reports.publishing.delivery import MANIFEST, DeliveryError, LocalStore, object_key
from reports.warehouse.readiness import inbox_has_usage
from schemas.contract import ContractError
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
)

REPOSITORY = Path(__file__).resolve().parents[2]
OTHER_IMEI = "490154203237518"  # globex's device: must never appear in another customer's files
NUMBERS = {"acme": "+14155550100", "globex": "+14155550177", "hooli": "+14155550155", "initech": "+14155550166"}


def write_drop(root: Path, customer_id: str, month: str, imei: str = "356938035643809") -> Path:
    number = NUMBERS[customer_id]
    folder = drop(root, customer_id, month)
    write_csv(folder / "roster.csv", ROSTER_HEADER, [roster_row(number)])
    last_day = calendar.monthrange(int(month[:4]), int(month[5:]))[1]
    write_csv(
        folder / "invoices" / "inv-1.csv",
        INVOICE_HEADER,
        [
            charge_row(
                number, amount="36.00", total="36.00", period_start=f"{month}-01", period_end=f"{month}-{last_day}"
            ),
        ],
    )
    write_csv(
        folder / "usage" / "u.csv",
        USAGE_HEADER,
        [usage_row(f"{month}-{day:02d}", number, imei=imei) for day in range(1, 4)],
    )
    return folder


def link(path: Path, target: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)
    return path


@pytest.fixture
def root(tmp_path) -> Path:
    for customer_id in ("acme", "globex"):
        write_customer(tmp_path, customer_id)
        write_drop(tmp_path, customer_id, "2026-07", OTHER_IMEI if customer_id == "globex" else "356938035643809")
    return tmp_path


def refused(root: Path, month: str = "2026-07", table: str = "device_usage", customer_id: str = "acme") -> str:
    with pytest.raises(InputFileError) as problem:
        drop_files(DataRoot.at(root), customer_id, month, table)
    return str(problem.value)


# --- the inbox ------------------------------------------------------------------------------------------------
def test_a_linked_file_in_a_drop_is_refused(root):
    link(root / "inbox" / "acme" / "2026-07" / "usage" / "steal.csv", "../../../globex/2026-07/usage/u.csv")
    assert refused(root) == "inbox/acme/2026-07/usage/steal.csv: is a symbolic link; links are refused"
    assert [f.name for f in drop_files(DataRoot.at(root), "globex", "2026-07", "device_usage")] == ["usage/u.csv"]


def test_a_link_inside_the_same_drop_is_refused_too(root):
    link(root / "inbox" / "acme" / "2026-07" / "invoices" / "copy.csv", "inv-1.csv")
    assert refused(root, table="invoice_charges") == (
        "inbox/acme/2026-07/invoices/copy.csv: is a symbolic link; links are refused"
    )


def test_a_linked_roster_is_refused(root):
    roster = root / "inbox" / "acme" / "2026-07" / "roster.csv"
    roster.unlink()
    link(roster, "../../globex/2026-07/roster.csv")
    assert refused(root, table="roster") == "inbox/acme/2026-07/roster.csv: is a symbolic link; links are refused"


def test_a_linked_table_folder_is_refused(root):
    usage = root / "inbox" / "acme" / "2026-07" / "usage"
    for path in usage.iterdir():
        path.unlink()
    usage.rmdir()
    link(usage, "../../globex/2026-07/usage")
    assert refused(root) == "inbox/acme/2026-07/usage: is a symbolic link; links are refused"


def test_a_linked_month_folder_is_refused(root):
    link(root / "inbox" / "acme" / "2026-08", "../globex/2026-07")
    assert refused(root, "2026-08", "roster") == "inbox/acme/2026-08: is a symbolic link; links are refused"
    with pytest.raises(InputFileError, match="inbox/acme/2026-08: is a symbolic link; links are refused"):
        inbox_has_usage(DataRoot.at(root), "acme", "2026-08")  # savings never take it for usage history


def test_a_linked_customer_folder_is_refused(root):
    write_customer(root, "hooli")
    link(root / "inbox" / "hooli", "globex")
    assert refused(root, customer_id="hooli") == "inbox/hooli: is a symbolic link; links are refused"


def test_a_path_that_resolves_outside_its_folder_is_refused(root):
    data_root = DataRoot.at(root)
    with pytest.raises(LinkRefused, match="resolves outside"):
        data_root.refuse_links(data_root.path / "inbox" / "acme" / ".." / "globex" / "2026-07")


def test_linked_customer_files_are_refused(root):
    data_root = DataRoot.at(root)
    contracts = root / "customers" / "acme" / "contracts"
    (contracts / "northwind-mobile.yaml").unlink()
    link(contracts / "northwind-mobile.yaml", "../../globex/contracts/northwind-mobile.yaml")
    with pytest.raises(ContractError) as problem:
        contract_tables(data_root, "acme")
    assert str(problem.value) == (
        "customers/acme/contracts/northwind-mobile.yaml: is a symbolic link; links are refused"
    )

    (root / "customers" / "acme" / "customer.yaml").unlink()
    link(root / "customers" / "acme" / "customer.yaml", "../globex/customer.yaml")
    with pytest.raises(ContractError, match=r"^customers/acme/customer.yaml: is a symbolic link; links are refused$"):
        customer_settings(data_root, "acme")

    write_customer(root, "hooli")
    (root / "customers" / "hooli" / "contracts" / "northwind-mobile.yaml").unlink()
    (root / "customers" / "hooli" / "contracts").rmdir()
    link(root / "customers" / "hooli" / "contracts", "../globex/contracts")
    with pytest.raises(ContractError, match=r"^customers/hooli/contracts: is a symbolic link; links are refused$"):
        contract_tables(data_root, "hooli")

    link(root / "customers" / "initech", "globex")
    with pytest.raises(ContractError, match=r"^customers/initech: is a symbolic link; links are refused$"):
        customer_settings(data_root, "initech")


# --- the local delivery store -----------------------------------------------------------------------------------
def delivered(root: Path, customer_id: str, month: str) -> Path:
    folder = root / "published" / customer_id / month
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "findings.csv").write_text(f"{customer_id}\n")
    LocalStore(root / "published").deliver(customer_id, month, [folder / "findings.csv"])
    return folder


def test_the_local_store_refuses_a_linked_published_folder(tmp_path):
    delivered(tmp_path, "globex", "2026-07")
    link(tmp_path / "published" / "acme" / "2026-07", "../globex/2026-07")
    store = LocalStore(tmp_path / "published")
    with pytest.raises(DeliveryError, match=r"^published/acme/2026-07: is a symbolic link; links are refused$"):
        store.manifest("acme", "2026-07")
    with pytest.raises(DeliveryError, match="is a symbolic link"):
        store.link(object_key("acme", "2026-07", "findings.csv"), 60)
    with pytest.raises(DeliveryError, match="is a symbolic link"):  # nor is anything written through it
        store.deliver("acme", "2026-07", [tmp_path / "published" / "globex" / "2026-07" / "findings.csv"])
    assert (tmp_path / "published" / "globex" / "2026-07" / MANIFEST).exists()

    link(tmp_path / "published" / "hooli", "globex")
    with pytest.raises(DeliveryError, match=r"^published/hooli: is a symbolic link; links are refused$"):
        store.manifest("hooli", "2026-07")


def test_the_local_store_refuses_a_linked_published_file(tmp_path):
    other = delivered(tmp_path, "globex", "2026-07")
    mine = delivered(tmp_path, "acme", "2026-07")
    (mine / "findings.csv").unlink()
    link(mine / "findings.csv", str(other / "findings.csv"))
    store = LocalStore(tmp_path / "published")
    with pytest.raises(
        DeliveryError, match=r"^published/acme/2026-07/findings.csv: is a symbolic link; links are refused$"
    ):
        store.link(object_key("acme", "2026-07", "findings.csv"), 60)
    with pytest.raises(DeliveryError, match=r"^published/acme/2026-07/findings.csv: is a symbolic link"):
        store.manifest("acme", "2026-07")  # what `tem reports url` reads first: no link is printed at all
    with pytest.raises(DeliveryError, match="is a symbolic link"):  # S3 or local: a linked file is never delivered
        store.deliver("acme", "2026-07", [mine / "findings.csv"])


def test_mirroring_an_inbox_never_writes_through_a_link(tmp_path):
    """An S3 inbox is mirrored into the data root: a local link there is neither written through nor cleaned up
    through (which would delete the other customer's files)."""
    bucket = LocalStore(tmp_path / "bucket")
    for name in ("roster.csv", "usage/u.csv"):
        (tmp_path / "bucket" / "inbox" / "acme" / "2026-07" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "bucket" / "inbox" / "acme" / "2026-07" / name).write_text("acme\n")
    globex = write_drop(tmp_path / "root", "globex", "2026-07")
    before = sorted(p.relative_to(globex).as_posix() for p in globex.rglob("*"))
    link(tmp_path / "root" / "inbox" / "acme" / "2026-07", "../globex/2026-07")
    skipped = bucket.mirror("inbox/acme/", tmp_path / "root" / "inbox" / "acme")
    assert skipped == ["inbox/acme/2026-07/roster.csv", "inbox/acme/2026-07/usage/u.csv"]
    link(tmp_path / "root" / "inbox" / "hooli", "globex")
    assert bucket.mirror("inbox/acme/", tmp_path / "root" / "inbox" / "hooli") == skipped
    assert sorted(p.relative_to(globex).as_posix() for p in globex.rglob("*")) == before
    assert (globex / "roster.csv").read_text() != "acme\n"


def test_publishing_refuses_a_linked_published_folder(tmp_path):
    link(tmp_path / "published" / "acme" / "2026-07", "../globex/2026-07")
    with pytest.raises(LinkRefused, match=r"^published/acme/2026-07: is a symbolic link; links are refused$"):
        DataRoot.at(tmp_path).published_dir("acme", "2026-07")


# --- end to end: tem run and tem reports url, in their own processes --------------------------------------------
def tem(*args, home: Path) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TEM_", "AWS_", "DAGSTER_HOME")) or k == "TEM_TODAY"
    }
    env.update(DAGSTER_HOME=str(home), TEM_MASTER_KEY="3c" * 32)
    return subprocess.run(
        [sys.executable, "-m", "pipelines.commands.cli", *args],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def linked_root(tmp_path_factory):
    """globex is clean; acme steals a usage file (2026-07) and a whole month folder (2026-08) from globex; hooli's
    inbox folder is a link to globex's; initech's contract is a link to globex's."""
    base = tmp_path_factory.mktemp("symlinks")
    root = base / "root"
    for customer_id in NUMBERS:
        write_customer(root, customer_id)
    write_drop(root, "globex", "2026-07", OTHER_IMEI)
    write_drop(root, "acme", "2026-06")
    write_drop(root, "acme", "2026-07")
    link(root / "inbox" / "acme" / "2026-07" / "usage" / "steal.csv", "../../../globex/2026-07/usage/u.csv")
    link(root / "inbox" / "acme" / "2026-08", "../globex/2026-07")
    link(root / "inbox" / "hooli", "globex")
    write_drop(root, "initech", "2026-07")
    contract = root / "customers" / "initech" / "contracts" / "northwind-mobile.yaml"
    contract.unlink()
    link(contract, "../../globex/contracts/northwind-mobile.yaml")
    run = tem("run", "--data-root", str(root), "--workers", "1", home=base / "home")
    return root, base / "home", run


def test_tem_run_refuses_links_and_runs_the_other_customer_months(linked_root):
    root, _, run = linked_root
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    failed = dict(line.split(": ", 1) for line in run.stderr.splitlines() if line.startswith("FAILED "))
    # a broken contract is the customer's as a whole: one line for the customer, without months
    assert set(failed) == {"FAILED acme 2026-07", "FAILED acme 2026-08", "FAILED hooli 2026-07", "FAILED initech"}
    for label, message in (
        ("acme 2026-07", "inbox/acme/2026-07/usage/steal.csv: is a symbolic link; links are refused"),
        ("acme 2026-08", "inbox/acme/2026-08: is a symbolic link; links are refused"),
        ("hooli 2026-07", "inbox/hooli: is a symbolic link; links are refused"),
        ("initech", "customers/initech/contracts/northwind-mobile.yaml: is a symbolic link; links are refused"),
    ):
        assert failed[f"FAILED {label}"].endswith(message), failed
    published = sorted(
        p.parent.relative_to(root / "published").as_posix() for p in (root / "published").rglob(MANIFEST)
    )
    assert published == ["acme/2026-06", "globex/2026-07"]
    acme_files = [p for p in (root / "published" / "acme").rglob("*") if p.is_file()]
    acme_files += [p for p in (root / "warehouse" / "acme").rglob("*") if p.is_file()]
    assert acme_files and not [p for p in acme_files if OTHER_IMEI.encode() in p.read_bytes()]
    assert not [p for p in acme_files if NUMBERS["globex"].encode() in p.read_bytes()]


def test_tem_reports_url_refuses_a_linked_published_folder(linked_root):
    root, home, _ = linked_root
    shutil.rmtree(root / "published" / "acme" / "2026-07", ignore_errors=True)  # (published only without the fix)
    link(root / "published" / "acme" / "2026-07", "../globex/2026-07")
    links = tem("reports", "url", "--data-root", str(root), "--customer", "acme", "--month", "2026-07", home=home)
    assert links.returncode == 2, links.stdout + links.stderr
    assert links.stderr.strip() == "tem: published/acme/2026-07: is a symbolic link; links are refused"
    assert links.stdout == ""
