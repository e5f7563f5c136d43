"""Data-subject requests end to end, through the `tem` command line: export, erasure (dry run, SIGKILL at every
step, a second request, a run afterwards) and the processing log they write."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import subprocess
import zipfile
from pathlib import Path

import polars as pl
import pytest

from reports.privacy import processing_log
from tests.support.commands import copy_root, tree_hash
from tests.support.commands import tem as run_tem
from tests.support.privacy_root import (
    CUSTOMER,
    MONTHS,
    NEW_HIRE,
    OTHER,
    REPORT,
    SUBJECT,
    SUBJECT_NATIONAL,
    write_privacy_root,
)

MASTER_KEY = "c3" * 32
CRASH_POINTS = ["staged", "committed", "applied", "removed", "rebuilt"]


def tem(*args: str, home: Path, **extra: str) -> subprocess.CompletedProcess:
    return run_tem(*args, home=home, master_key=extra.pop("TEM_MASTER_KEY", MASTER_KEY), **extra)


def published(root: Path) -> dict[str, str]:
    base = root / "published"
    return {
        p.relative_to(base).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(base.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def reconciled(tmp_path_factory):
    """The privacy root after `tem run`: (root, DAGSTER_HOME); each test works on its own copy (`fresh`), since
    every command writes the processing log."""
    base = tmp_path_factory.mktemp("privacy")
    root, home = write_privacy_root(base / "root"), base / "home"
    run = tem("run", "--data-root", str(root), "--workers", "1", home=home)
    assert run.returncode == 0, run.stderr[-3000:]
    return root, home


@pytest.fixture
def fresh(reconciled, tmp_path):
    return copy_root(*reconciled, tmp_path)


def subject_identifiers() -> set[str]:
    s = SUBJECT
    return {s["employee_id"], s["first"], s["last"], s["email"], *s["lines"], *s["imeis"], "4155550101", "4155550102"}


def subject_pseudonyms(root: Path) -> set[str]:
    from reports.privacy.keys import pseudonymizer_for

    pseudonymizer = pseudonymizer_for(root, CUSTOMER, MASTER_KEY)  # the customer's own data key in this root
    return (
        {pseudonymizer.pseudonym("msisdn", n) for n in SUBJECT["lines"]}
        | {pseudonymizer.pseudonym("imei", i) for i in SUBJECT["imeis"]}
        | {pseudonymizer.pseudonym("employee_id", SUBJECT["employee_id"])}
    )


def everything_written(*folders: Path) -> str:
    """Every file's content as text: Parquet decoded into its values, SQLite databases dumped table by table,
    zip archives opened, the rest as bytes."""
    parts = []
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if not path.is_file():
                continue
            parts.append(str(path))
            data = path.read_bytes()
            if data[:4] == b"PAR1":
                frame = pl.read_parquet(path)
                parts.extend(" ".join(map(str, column.to_list())) for column in frame.iter_columns())
            elif data[:16] == b"SQLite format 3\x00":
                with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                    parts.extend(str(row) for row in db.iterdump())
            elif data[:4] == b"PK\x03\x04":
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    parts.extend(archive.read(name).decode("utf-8", "replace") for name in archive.namelist())
            else:
                parts.append(data.decode("utf-8", "replace"))
    return "\n".join(parts)


def read_zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def csv_rows(data: bytes) -> pl.DataFrame:
    return pl.read_csv(io.BytesIO(data), infer_schema=False, raise_if_empty=False)


# ------------------------------------------------------------------------------------------------- export
def test_export_holds_every_row_of_the_subject_and_no_one_else(fresh, tmp_path):
    root, home = fresh
    out = tmp_path / "subject.zip"
    run = tem(
        "privacy",
        "export",
        "--data-root",
        str(root),
        "--customer",
        CUSTOMER,
        "--employee",
        "E2001",
        "--out",
        str(out),
        "--request",
        "DSR-2026-0042",
        home=home,
    )
    assert run.returncode == 0, run.stderr
    files = read_zip(out)
    assert sorted(files) == [
        "README.txt",
        "charges.csv",
        "findings.csv",
        "roster.csv",
        "savings.csv",
        "subject.json",
        "usage.csv",
    ]
    subject = json.loads(files["subject.json"])
    assert subject["selector"] == {"employee_id": "E2001"} and subject["request"] == "DSR-2026-0042"
    assert subject["months"] == ["2026-06", "2026-07"]  # the subject left before August

    roster = csv_rows(files["roster.csv"])
    assert roster.height == 4  # two lines in two months, the quarantined July row (vip=maybe) included
    assert "manager_employee_id" not in roster.columns  # another person's data
    assert set(roster["email"]) == {SUBJECT["email"]} and SUBJECT_NATIONAL in set(roster["msisdn"])  # as delivered
    usage = csv_rows(files["usage.csv"])
    assert usage.height == 2 * 2 * 3  # 3 days x 2 lines x 2 months; the negative-minutes rows were not accepted
    assert set(usage["msisdn"]) == set(SUBJECT["lines"]) and set(usage["billing_month"]) == {"2026-06", "2026-07"}
    charges = csv_rows(files["charges.csv"])
    assert charges.height == 2 * 3 and set(charges["msisdn"]) == set(SUBJECT["lines"])
    assert sorted(charges["amount"].to_list()) == ["10.00", "10.00", "45.00", "45.00", "45.00", "45.00"]
    findings = csv_rows(files["findings.csv"])
    assert findings.height and set(findings["msisdn"]) <= set(SUBJECT["lines"])
    for name in ("findings.csv", "savings.csv"):
        header = files[name].split(b"\n", 1)[0].decode()
        assert header == (root / "published" / CUSTOMER / "2026-06" / name).read_text().split("\n", 1)[0]

    blob = b"\n".join(files.values()).decode()
    for person in (REPORT, OTHER, NEW_HIRE):
        for key in ("employee_id", "first", "last", "email", "imei", "line"):
            if key in person:
                assert person[key] not in blob, (person["employee_id"], key)
    assert "E1000" not in blob  # the subject's own manager

    again = tmp_path / "again.zip"
    tem(
        "privacy",
        "export",
        "--data-root",
        str(root),
        "--customer",
        CUSTOMER,
        "--employee",
        "E2001",
        "--out",
        str(again),
        "--request",
        "DSR-2026-0042",
        home=home,
    )
    assert again.read_bytes() == out.read_bytes()  # same holdings, same bytes

    by_number = tmp_path / "by-number.zip"
    run = tem(
        "privacy",
        "export",
        "--data-root",
        str(root),
        "--customer",
        CUSTOMER,
        "--msisdn",
        "415.555.0102",
        "--out",
        str(by_number),
        "--request",
        "DSR-2026-0042",
        home=home,
    )
    assert run.returncode == 0, run.stderr
    number_files = read_zip(by_number)
    assert json.loads(number_files["subject.json"])["selector"] == {"msisdn": "+14155550102"}
    for name in ("roster.csv", "usage.csv", "charges.csv", "findings.csv", "savings.csv"):
        assert number_files[name] == files[name], name  # the line's user is the same person


def test_export_of_someone_not_held_is_an_empty_archive(fresh, tmp_path):
    root, home = fresh
    out = tmp_path / "nobody.zip"
    run = tem(
        "privacy",
        "export",
        "--data-root",
        str(root),
        "--customer",
        CUSTOMER,
        "--employee",
        "E9999",
        "--out",
        str(out),
        home=home,
    )
    assert run.returncode == 0, run.stderr
    assert "no data held for this subject" in run.stdout
    files = read_zip(out)
    assert json.loads(files["subject.json"])["data_held"] is False
    for name in ("roster.csv", "usage.csv", "charges.csv", "findings.csv", "savings.csv"):
        assert files[name].count(b"\n") == 1, name  # the header only


@pytest.mark.parametrize(
    "args, message",
    [
        (["--customer", "nobody", "--employee", "E2001"], "unknown customer 'nobody'"),
        (["--customer", "../acme", "--employee", "E2001"], "is not allowed"),
        (["--customer", CUSTOMER, "--msisdn", "12"], "--msisdn is not a valid phone number"),
    ],
)
def test_bad_requests_are_refused_in_one_line_and_logged(fresh, tmp_path, args, message):
    root, home = fresh
    before = tree_hash(root / "inbox", root / "published", root / "warehouse")
    for command in (["export", "--out", str(tmp_path / "x.zip")], ["erase", "--request", "DSR-1"]):
        run = tem("privacy", *command, "--data-root", str(root), *args, home=home)
        assert run.returncode == 1, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1 and message in run.stderr, run.stderr
    assert tree_hash(root / "inbox", root / "published", root / "warehouse") == before
    records = processing_log.read(root)
    assert [(r["action"], r["outcome"]) for r in records[-2:]] == [("export", "refused"), ("erase", "refused")]
    assert processing_log.verify(root)[0]


# ------------------------------------------------------------------------------------------------- erasure
def invoice_totals(root: Path) -> dict[tuple[str, str], str]:
    totals = {}
    for month in MONTHS:
        charges = pl.read_parquet(root / "warehouse" / CUSTOMER / month / "invoice_charges.parquet")
        for invoice, amount in charges.group_by("invoice_number").agg(pl.col("amount").sum()).iter_rows():
            totals[(month, invoice)] = str(amount)
    return totals


def other_published_rows(root: Path) -> dict[str, list]:
    rows = {}
    for month in MONTHS:
        for name in ("findings.csv", "savings.csv"):
            frame = pl.read_csv(root / "published" / CUSTOMER / month / name, infer_schema=False, raise_if_empty=False)
            if frame.height:
                frame = frame.filter(
                    ~pl.col("msisdn").is_in(SUBJECT["lines"]).fill_null(False) | (pl.col("billing_month") == "2026-08")
                )
            rows[f"{month}/{name}"] = sorted(frame.iter_rows())
    return rows


def erasure_runs(home: Path, request: str) -> dict[str, int]:
    """Runs per job in the instance at `home` tagged with this erasure request."""
    from dagster import DagsterInstance, RunsFilter

    from pipelines.commands.privacy import OPERATION_TAG, REQUEST_TAG

    os.environ["DAGSTER_HOME"], previous = str(home), os.environ.get("DAGSTER_HOME")
    try:
        with DagsterInstance.get() as instance:
            runs = instance.get_runs(RunsFilter(tags={REQUEST_TAG: request, OPERATION_TAG: "erase"}))
    finally:
        os.environ.pop("DAGSTER_HOME") if previous is None else os.environ.update(DAGSTER_HOME=previous)
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.job_name] = counts.get(run.job_name, 0) + 1
    return counts


def assert_erased(root: Path, home: Path) -> None:
    """Nothing of the subject anywhere; their first number is the new hire's in August, so it may remain there only."""
    from reports.privacy.keys import pseudonymizer_for

    pseudonym = pseudonymizer_for(root, CUSTOMER, MASTER_KEY).pseudonym("msisdn", SUBJECT["lines"][0])
    reassigned = {SUBJECT["lines"][0], "4155550101", pseudonym}
    written = everything_written(root, home)
    left = sorted(i for i in (subject_identifiers() | subject_pseudonyms(root)) - reassigned if i in written)
    assert not left, f"the subject is still held: {left}"
    months_held = [
        root / place / CUSTOMER / month for place in ("inbox", "warehouse", "published") for month in MONTHS[:2]
    ]
    written = everything_written(*months_held)
    assert not [i for i in reassigned if i in written], "the subject's first number is still held in their months"


def test_dry_run_changes_nothing_then_erasure_removes_the_subject_everywhere(fresh):
    root, home = fresh
    totals, others = invoice_totals(root), other_published_rows(root)
    before = tree_hash(root, home)
    dry = tem(
        "privacy",
        "erase",
        "--data-root",
        str(root),
        "--customer",
        CUSTOMER,
        "--employee",
        "E2001",
        "--request",
        "DSR-2026-0043",
        "--dry-run",
        home=home,
    )
    assert dry.returncode == 0, dry.stderr
    assert "acme 2026-06: roster 2, usage 7, charges 3, manager_refs 1" in dry.stdout, dry.stdout
    assert tree_hash(root, home) == before

    run = tem(
        "privacy",
        "erase",
        "--data-root",
        str(root),
        "--customer",
        CUSTOMER,
        "--employee",
        "E2001",
        "--request",
        "DSR-2026-0043",
        home=home,
    )
    assert run.returncode == 0, run.stderr
    assert_erased(root, home)
    assert invoice_totals(root) == totals  # the subject's charges stay, as ERASED
    assert other_published_rows(root) == others
    erased = pl.read_csv(root / "inbox" / CUSTOMER / "2026-06" / "invoices" / "INV-0601.csv", infer_schema=False)
    assert erased.filter(pl.col("msisdn") == "ERASED").height == 3
    assert (root / "inbox" / CUSTOMER / "2026-06" / "roster.csv").read_bytes().count(b"\r\n") == 3  # CRLF kept

    record = processing_log.read(root, CUSTOMER)[-1]
    assert (record["action"], record["outcome"], record["request"]) == ("erase", "done", "DSR-2026-0043")
    # what an analyst sees in Dagster: the rebuild's runs, tagged with the request reference (never the person)
    assert erasure_runs(home, "DSR-2026-0043") == {
        "load_customer_contracts": 1,
        "audit_customer_month": 3,
        "recommend_savings": 3,
        "publish_customer_month": 3,
    }
    assert record["counts"] == {"charges": 6, "manager_refs": 2, "roster": 4, "usage": 14}

    again = tem(
        "privacy",
        "erase",
        "--data-root",
        str(root),
        "--customer",
        CUSTOMER,
        "--employee",
        "E2001",
        "--request",
        "DSR-2026-0043",
        home=home,
    )
    assert again.returncode == 0 and "nothing to erase" in again.stdout, again.stderr
    after_erasure = published(root)
    rerun = tem("run", "--data-root", str(root), "--workers", "1", home=home)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert published(root) == after_erasure  # tem run afterwards publishes exactly what the erasure left


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_an_erasure_killed_at_any_step_is_completed_by_the_same_command(fresh, point):
    root, home = fresh
    args = [
        "privacy",
        "erase",
        "--data-root",
        str(root),
        "--customer",
        CUSTOMER,
        "--msisdn",
        SUBJECT_NATIONAL,
        "--request",
        "DSR-2026-0044",
    ]
    killed = tem(*args, home=home, TEM_CRASH_AT=point)
    assert killed.returncode == -9, (killed.returncode, killed.stderr[-2000:])
    if point == "staged":  # nothing committed yet: the inbox is as it was
        assert b"ERASED" not in (root / "inbox" / CUSTOMER / "2026-06" / "invoices" / "INV-0601.csv").read_bytes()
    done = tem(*args, home=home)
    assert done.returncode == 0, done.stderr[-2000:]
    assert_erased(root, home)
    assert not list((root / "inbox").rglob(".*.erase-staged"))
    assert not (root / ".privacy" / "pending" / f"{CUSTOMER}.json").exists()
    ok, message = processing_log.verify(root)
    assert ok, message


def test_the_log_records_runs_exports_and_erasures_and_verify_finds_an_edit(fresh, tmp_path):
    root, home = fresh
    tem(
        "privacy",
        "export",
        "--data-root",
        str(root),
        "--customer",
        CUSTOMER,
        "--employee",
        "E2002",
        "--out",
        str(tmp_path / "e.zip"),
        "--request",
        "DSR-7",
        home=home,
    )
    shown = tem("privacy", "log", "--data-root", str(root), "--customer", CUSTOMER, home=home)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.strip().splitlines()
    assert [line.split()[2] for line in lines] == ["run", "export"], lines
    verified = tem("privacy", "log", "--data-root", str(root), "--verify", home=home)
    assert verified.returncode == 0 and "2 records, chain intact" in verified.stdout
    log = root / ".privacy" / "processing-log.jsonl"
    log.write_text(log.read_text().replace('"outcome":"done"', '"outcome":"refused"', 1))
    broken = tem("privacy", "log", "--data-root", str(root), "--verify", home=home)
    assert broken.returncode == 1 and "record 1" in broken.stderr, broken.stderr
    assert REPORT["employee_id"] not in log.read_text()  # never an identifier


def test_an_erasure_with_a_master_key_that_does_not_open_the_customers_key_changes_nothing(fresh):
    root, home = fresh
    before = tree_hash(root / "inbox", root / "warehouse", root / "published")
    run = tem(
        "privacy",
        "erase",
        "--data-root",
        str(root),
        "--customer",
        CUSTOMER,
        "--employee",
        "E2001",
        "--request",
        "DSR-2026-0045",
        home=home,
        TEM_MASTER_KEY="d4" * 32,
    )
    assert run.returncode == 1, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "acme" in run.stderr, run.stderr
    assert tree_hash(root / "inbox", root / "warehouse", root / "published") == before
    assert processing_log.read(root)[-1]["outcome"] == "refused"
