"""Retention and offboarding end to end, through the `tem` command line (and the Dagster job): `tem privacy purge`
(dry run, every place an expired month is held, Dagster runs and materializations, bad input, SIGKILL) and
`tem customer offboard` (return archive, refusals, SIGKILL at several points, a scan of everything afterwards)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import sqlite3
import subprocess
import zipfile
from contextlib import closing
from pathlib import Path

import polars as pl
import pytest

from reports.privacy import processing_log
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
from tests.support.commands import copy_root, instance_at, tree_hash
from tests.support.commands import tem as run_tem
from tests.support.privacy_root import CUSTOMER, MONTHS, NEW_HIRE, OTHER, REPORT, SUBJECT, write_privacy_root

MASTER_KEY = "c3" * 32
OTHER_CUSTOMER = "globex"
OTHER_MONTHS = ("2026-07", "2026-08")
OTHER_PERSON = {"employee_id": "E7001", "line": "+14155550199"}
EXPIRED = ["2026-06", "2026-07"]  # retention 2 as of 2026-10-15 keeps 2026-08 onwards
KEPT = "2026-08"
RAW = "\n\0raw bytes\0\n"
OFFBOARD_CRASH_POINTS = ["offboard-moved", "offboard-runs", "offboard-certified"]


def tem(*args: str, home: Path, **extra: str) -> subprocess.CompletedProcess:
    return run_tem(*args, home=home, master_key=extra.pop("TEM_MASTER_KEY", MASTER_KEY), **extra)


def set_retention(root: Path, customer_id: str, value: str) -> None:
    path = root / "customers" / customer_id / "customer.yaml"
    lines = [line for line in path.read_text().splitlines() if not line.startswith("retention_months")]
    path.write_text("\n".join(lines + [f"retention_months: {value}"]) + "\n")


def write_other_customer(root: Path) -> None:
    """A second customer, one line, two months: nothing of it expires (default retention 24)."""
    write_customer(root, OTHER_CUSTOMER)
    number = OTHER_PERSON["line"]
    for month in OTHER_MONTHS:
        folder = drop(root, OTHER_CUSTOMER, month)
        write_csv(folder / "roster.csv", ROSTER_HEADER, [roster_row(number, OTHER_PERSON["employee_id"])])
        charge = charge_row(
            number,
            amount="36.00",
            total="36.00",
            invoice_date=f"{month}-28",
            period_start=f"{month}-01",
            period_end=f"{month}-31",
            invoice_number="INV-G1",
        )
        write_csv(folder / "invoices" / "inv-1.csv", INVOICE_HEADER, [charge])
        write_csv(folder / "usage" / "u.csv", USAGE_HEADER, [usage_row(f"{month}-02", number)])


@pytest.fixture(scope="module")
def reconciled(tmp_path_factory):
    """acme (2026-06..08, retention 2) and globex (2026-07..08) after `tem run`: (root, DAGSTER_HOME)."""
    base = tmp_path_factory.mktemp("lifecycle")
    root, home = write_privacy_root(base / "root"), base / "home"
    write_other_customer(root)
    set_retention(root, CUSTOMER, "2")
    run = tem("run", "--data-root", str(root), "--workers", "1", home=home)
    assert run.returncode == 0, run.stderr[-3000:]
    return root, home


@pytest.fixture
def fresh(reconciled, tmp_path):
    return copy_root(*reconciled, tmp_path)


# ------------------------------------------------------------------------------------------------- helpers


def held(root: Path, home: Path) -> str:
    """Everything but the processing log and the lock files (which a refused command may write)."""
    digest = hashlib.sha256()
    for folder in (root, home):
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder).as_posix()
            if path.is_file() and path.name != ".tem-instance.lock" and not relative.startswith(".privacy/"):
                digest.update(relative.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def files_of(base: Path) -> dict[str, str]:
    return (
        {
            p.relative_to(base).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(base.rglob("*"))
            if p.is_file()
        }
        if base.is_dir()
        else {}
    )


def dagster_state(home: Path) -> dict:
    """Runs per customer-month (by partition tags), materialized partitions per asset, the customers partitions,
    asset check executions per partition."""
    from dagster import RunsFilter

    with instance_at(home) as instance:
        runs = {}
        for record in instance.get_run_records(RunsFilter()):
            tags = record.dagster_run.tags
            key = tags.get("dagster/partition", "-")
            runs.setdefault(key, []).append(record.dagster_run.run_id)
        partitions = {
            k.to_user_string(): sorted(instance.get_materialized_partitions(k)) for k in instance.get_asset_keys()
        }
        customers = sorted(instance.get_dynamic_partitions("customers"))
    with closing(sqlite3.connect(f"file:{home / 'event_log.db'}?mode=ro", uri=True)) as db:  # dagster.yaml's
        checks = dict(
            db.execute("SELECT partition, count(*) FROM asset_check_executions GROUP BY partition").fetchall()
        )
        events = dict(db.execute("SELECT run_id, count(*) FROM event_logs GROUP BY run_id").fetchall())
    return {"runs": runs, "partitions": partitions, "customers": customers, "checks": checks, "events": events}


def everything_written(*folders: Path) -> dict[Path, str]:
    """Each file's path and content as text: Parquet decoded into its values, SQLite databases dumped table by table
    (and their raw bytes: deleted rows must not linger in free pages), zip archives opened, the rest as bytes."""
    found = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if not path.is_file():
                continue
            parts = [str(path)]
            data = path.read_bytes()
            if data[:4] == b"PAR1":
                frame = pl.read_parquet(path)
                parts.extend(" ".join(map(str, column.to_list())) for column in frame.iter_columns())
            elif data[:16] == b"SQLite format 3\x00":
                with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                    parts.extend(str(row) for row in db.iterdump())
                # the raw pages too (free pages keep deleted rows), printable runs only: compressed blobs are noise
                parts.append(RAW)
                parts.extend(m.decode() for m in re.findall(rb"[ -~]{6,}", data))
            elif data[:4] == b"PK\x03\x04":
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    parts.extend(archive.read(name).decode("utf-8", "replace") for name in archive.namelist())
            else:
                parts.append(data.decode("utf-8", "replace"))
            found[path] = "\n".join(parts)
    return found


def people_identifiers() -> set[str]:
    found = set()
    for person in (SUBJECT, REPORT, OTHER, NEW_HIRE):
        for key in ("employee_id", "first", "last", "email", "line", "imei"):
            if key in person:
                found.add(person[key])
        found.update(person.get("lines", []))
        found.update(person.get("imeis", []))
    return found | {"4155550101", "4155550102", "4155550103", "4155550104"}


def customer_identifiers(root: Path) -> set[str]:
    """The customer id and name, its invoice numbers, its people's identifiers and their pseudonyms (computed while
    the customer's key still exists)."""
    from reports.privacy.keys import pseudonymizer_for

    pseudonymizer = pseudonymizer_for(root, CUSTOMER, MASTER_KEY)
    pseudonyms = set()
    for person in (SUBJECT, REPORT, OTHER, NEW_HIRE):
        for number in person.get("lines", []) + ([person["line"]] if "line" in person else []):
            pseudonyms.add(pseudonymizer.pseudonym("msisdn", number))
        for imei in person.get("imeis", []) + ([person["imei"]] if "imei" in person else []):
            pseudonyms.add(pseudonymizer.pseudonym("imei", imei))
        pseudonyms.add(pseudonymizer.pseudonym("employee_id", person["employee_id"]))
    return {CUSTOMER, "INV-0601", "INV-0701", "INV-0801"} | people_identifiers() | pseudonyms


def log_records(root: Path, action: str) -> list[dict]:
    return [r for r in processing_log.read(root) if r["action"] == action]


def one_line(run: subprocess.CompletedProcess) -> str:
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    return lines[0]


# ------------------------------------------------------------------------------------------------- purge
def test_dry_run_changes_nothing_then_the_purge_removes_expired_months_everywhere(fresh):
    root, home = fresh
    others = files_of(root / "published" / OTHER_CUSTOMER)
    kept = {top: files_of(root / top / CUSTOMER / KEPT) for top in ("inbox", "warehouse", "published")}
    before = tree_hash(root, home)  # before this process opens the instance (SQLite's WAL files would change)

    dry = tem("privacy", "purge", "--data-root", str(root), "--as-of", "2026-10-15", "--dry-run", home=home)
    assert dry.returncode == 0, dry.stderr
    for month in EXPIRED:
        assert f"{CUSTOMER} {month}: would delete" in dry.stdout and "3 Dagster run(s)" in dry.stdout, dry.stdout
    assert KEPT not in dry.stdout and OTHER_CUSTOMER not in dry.stdout
    assert "nothing was changed" in dry.stdout
    assert tree_hash(root, home) == before  # not even the processing log
    before_state = dagster_state(home)
    expired_runs = {m: before_state["runs"][f"{CUSTOMER}|{m}"] for m in EXPIRED}
    assert all(len(ids) == 3 for ids in expired_runs.values()), before_state["runs"]  # audit, savings, publish
    assert all(run_id in before_state["events"] for ids in expired_runs.values() for run_id in ids)

    run = tem("privacy", "purge", "--data-root", str(root), "--as-of", "2026-10-15", home=home)
    assert run.returncode == 0, run.stderr
    assert "purged 2 customer-month(s) of 1 customer(s)" in run.stdout, run.stdout
    for month in EXPIRED:
        for top in ("inbox", "warehouse", "published"):
            assert not (root / top / CUSTOMER / month).exists(), (top, month)
    assert not list((root / "inbox" / CUSTOMER).glob(".purge-*"))  # the renamed drops are gone too
    assert not list((root / "warehouse" / CUSTOMER).rglob(".ingest-*"))  # no scratch left
    for top, files in kept.items():
        assert files_of(root / top / CUSTOMER / KEPT) == files, top  # months kept are not touched
    assert files_of(root / "published" / OTHER_CUSTOMER) == others  # byte-identical
    assert (root / "customers" / CUSTOMER / "customer.yaml").exists()

    state = dagster_state(home)
    for month in EXPIRED:
        key = f"{CUSTOMER}|{month}"
        assert key not in state["runs"] and key not in state["checks"], month
        for asset, partitions in state["partitions"].items():
            assert key not in partitions, (asset, month)
        for run_id in expired_runs[month]:
            assert run_id not in state["events"]  # the run's events
    assert len(state["runs"][f"{CUSTOMER}|{KEPT}"]) == 3 and state["checks"][f"{CUSTOMER}|{KEPT}"]
    assert state["customers"] == sorted([CUSTOMER, OTHER_CUSTOMER])
    assert state["partitions"]["roster"] == [f"{CUSTOMER}|{KEPT}", *(f"{OTHER_CUSTOMER}|{m}" for m in OTHER_MONTHS)]
    for month in OTHER_MONTHS:
        assert len(state["runs"][f"{OTHER_CUSTOMER}|{month}"]) == 3

    record = log_records(root, "purge")[-1]
    assert (record["customer"], record["months"], record["outcome"]) == (CUSTOMER, EXPIRED, "done")
    assert record["counts"]["runs"] == 6 and record["counts"]["customer_months"] == 2 and record["counts"]["files"] > 0

    again = tem("privacy", "purge", "--data-root", str(root), "--as-of", "2026-10-15", home=home)
    assert again.returncode == 0 and "nothing to purge" in again.stdout, again.stderr
    assert log_records(root, "purge")[-1]["outcome"] == "nothing_to_do"
    assert processing_log.verify(root)[0]


@pytest.mark.parametrize("value", ["0", '"two"'])
def test_a_bad_retention_months_refuses_the_purge_naming_file_and_field(fresh, value):
    root, home = fresh
    set_retention(root, CUSTOMER, value)
    before = held(root, home)
    run = tem("privacy", "purge", "--data-root", str(root), "--as-of", "2026-10-15", home=home)
    assert run.returncode == 1, run.stderr
    line = one_line(run)
    assert "customers/acme/customer.yaml" in line and "retention_months" in line, line
    assert held(root, home) == before  # nothing purged, not even the other customer's months
    assert log_records(root, "purge")[-1]["outcome"] == "refused"


@pytest.mark.parametrize(
    "args, status, message",
    [
        (["--as-of", "2026/10/15"], 2, "is not a date of the form YYYY-MM-DD"),
        (["--as-of", "15-10-2026"], 2, "is not a date of the form YYYY-MM-DD"),
        (["--as-of", "2026-02-30"], 2, "is not a date of the form YYYY-MM-DD"),
        (["--as-of", "2027-01-01"], 2, "is after today"),
        (["--customer", "nobody", "--as-of", "2026-10-15"], 1, "unknown customer 'nobody'"),
        (["--customer", "../acme"], 1, "is not allowed"),
    ],
)
def test_bad_purge_input_is_refused_in_one_line_with_nothing_changed(fresh, args, status, message):
    root, home = fresh
    before = held(root, home)
    run = tem("privacy", "purge", "--data-root", str(root), *args, home=home)
    assert run.returncode == status, (run.returncode, run.stderr)
    assert message in one_line(run)
    assert held(root, home) == before
    assert log_records(root, "purge")[-1]["outcome"] == "refused"


@pytest.mark.parametrize("point", ["purge-journaled", "purge-month"])
def test_a_purge_killed_midway_is_completed_by_the_same_command(fresh, point):
    root, home = fresh
    others = files_of(root / "published" / OTHER_CUSTOMER)
    args = ["privacy", "purge", "--data-root", str(root), "--customer", CUSTOMER, "--as-of", "2026-10-15"]
    killed = tem(*args, home=home, TEM_CRASH_AT=point)
    assert killed.returncode == -9, (killed.returncode, killed.stderr[-2000:])
    assert (root / ".privacy" / "pending" / f"purge.{CUSTOMER}.json").exists()
    done = tem(*args, home=home)
    assert done.returncode == 0, done.stderr
    assert "completing an interrupted purge" in done.stdout
    for month in EXPIRED:
        assert not (root / "inbox" / CUSTOMER / month).exists() and not (root / "warehouse" / CUSTOMER / month).exists()
        assert f"{CUSTOMER}|{month}" not in dagster_state(home)["runs"]
    assert not list((root / "inbox" / CUSTOMER).glob(".purge-*"))
    assert (root / "inbox" / CUSTOMER / KEPT).is_dir()
    assert files_of(root / "published" / OTHER_CUSTOMER) == others
    assert not (root / ".privacy" / "pending" / f"purge.{CUSTOMER}.json").exists()
    assert [r["outcome"] for r in log_records(root, "purge")] == ["done"]
    assert processing_log.verify(root)[0]


def test_the_dagster_job_runs_the_same_purge_and_keeps_its_own_run(fresh, monkeypatch):
    from dagster import DagsterRunStatus, build_schedule_context

    from pipelines.definitions import defs
    from pipelines.lifecycle import daily_retention_purge, purge_job
    from pipelines.resources import DataRootResource, DeliveryResource

    root, home = fresh
    schedule = defs.resolve_schedule_def("daily_retention_purge")
    assert schedule.cron_schedule == "0 4 * * *" and schedule.job_name == "purge_expired_data"
    assert schedule.default_status.value == "STOPPED"
    assert defs.resolve_job_def("purge_expired_data") is not None
    monkeypatch.setenv("TEM_OPERATOR", "dagster-daemon")
    with instance_at(home) as instance:
        tick = dt.datetime(2026, 10, 15, 4, tzinfo=dt.timezone.utc)
        with build_schedule_context(instance=instance, scheduled_execution_time=tick) as context:
            request = daily_retention_purge(context)
        assert request.run_key == "retention|2026-10-15"
        result = purge_job.execute_in_process(
            instance=instance,
            resources={"data_root": DataRootResource(path=str(root)), "delivery": DeliveryResource()},
        )
        assert result.success
        own = instance.get_run_by_id(result.run_id)
        assert own is not None and own.status == DagsterRunStatus.SUCCESS  # the purge never deletes its own run
        messages = [e.message for e in instance.all_logs(result.run_id) if e.message]
    assert any("2 customer-month(s) of 1 customer(s) deleted" in m for m in messages), messages
    assert not any(CUSTOMER in m for m in messages)  # counts only: an offboarding leaves nothing in this run
    for month in EXPIRED:
        assert not (root / "inbox" / CUSTOMER / month).exists()
        assert f"{CUSTOMER}|{month}" not in dagster_state(home)["runs"]
    assert (root / "inbox" / CUSTOMER / KEPT).is_dir()
    record = log_records(root, "purge")[-1]
    assert (record["operator"], record["customer"], record["outcome"]) == ("dagster-daemon", CUSTOMER, "done")


# ------------------------------------------------------------------------------------------------- offboarding
def assert_offboarded(root: Path, home: Path, identifiers: set[str]) -> dict:
    """Nothing of the customer anywhere in the data root or DAGSTER_HOME but its certificate and its log records;
    returns the certificate."""
    written = everything_written(root, home)
    allowed = {root / ".privacy" / "processing-log.jsonl"}
    certificates = sorted((root / ".privacy" / "certificates").glob(f"{CUSTOMER}-*.json"))
    assert len(certificates) == 1, certificates
    allowed.add(certificates[0])
    # whole tokens (a short name such as "Ng" is inside many words); the customer id in any case ("Acme")
    patterns = {
        i: re.compile(rf"(?<![A-Za-z0-9]){re.escape(i)}(?![A-Za-z0-9])", re.I if i == CUSTOMER else 0)
        for i in identifiers
    }

    def found(text: str) -> list[str]:
        structured, _, raw = text.partition(RAW)  # short identifiers only in decoded content: binary pages are noise
        return sorted(
            i for i, pattern in patterns.items() if pattern.search(structured) or (len(i) >= 6 and pattern.search(raw))
        )

    hits = {path: found(text) for path, text in written.items()}
    hits = {path: found for path, found in hits.items() if found}
    assert set(hits) <= allowed, {str(p): f for p, f in hits.items() if p not in allowed}
    for path in allowed:
        assert set(hits.get(path, [])) <= {CUSTOMER}, (path, hits.get(path))  # the id only, never a person
    state = dagster_state(home)
    assert state["customers"] == [OTHER_CUSTOMER]
    assert not [k for k in state["runs"] if k.startswith(CUSTOMER)]
    assert not [k for k in state["checks"] if k and k.startswith(CUSTOMER)]
    for asset, partitions in state["partitions"].items():
        assert not [p for p in partitions if p.startswith(CUSTOMER)], asset
    assert not (root / ".privacy" / "pending" / f"offboard.{CUSTOMER}.json").exists()
    return json.loads(certificates[0].read_text())


def test_offboarding_returns_the_files_then_deletes_everything_with_a_certificate(fresh, tmp_path):
    root, home = fresh
    identifiers = customer_identifiers(root)
    delivered = {
        f"{top}/{CUSTOMER}/{name}": (root / top / CUSTOMER / name).read_bytes()
        for top in ("customers", "inbox", "published")
        for name in files_of(root / top / CUSTOMER)
    }
    others = files_of(root / "published" / OTHER_CUSTOMER)
    other_runs = {k: v for k, v in dagster_state(home)["runs"].items() if k.startswith(OTHER_CUSTOMER)}
    returned = tmp_path / "returned"

    run = tem(
        "customer",
        "offboard",
        "--data-root",
        str(root),
        "--customer",
        CUSTOMER,
        "--confirm",
        CUSTOMER,
        "--return-to",
        str(returned),
        home=home,
    )
    assert run.returncode == 0, run.stderr
    archive_path = returned / f"{CUSTOMER}-return.zip"
    with zipfile.ZipFile(archive_path) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("MANIFEST.json"))
        contents = {name: archive.read(name) for name in names if name != "MANIFEST.json"}
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert names[:-1] == sorted(names[:-1]) and names[-1] == "MANIFEST.json"
    assert contents == delivered  # every file delivered and published, byte for byte
    assert {e["path"]: e["sha256"] for e in manifest["files"]} == {
        name: hashlib.sha256(data).hexdigest() for name, data in contents.items()
    }
    assert {name.split("/")[0] for name in contents} == {"customers", "inbox", "published"}

    certificate_line = [line for line in run.stdout.splitlines() if line.startswith("deletion certificate: ")]
    assert certificate_line, run.stdout
    certificate = assert_offboarded(root, home, identifiers)
    assert certificate_line[0].endswith(".json") and Path(certificate_line[0].split(": ", 1)[1]).is_file()
    assert certificate["customer"] == CUSTOMER and certificate["operator"] == "test-operator"
    assert certificate["deleted_at"].endswith("Z")
    assert certificate["return_archive"] == {
        "path": str(archive_path.resolve()),
        "bytes": archive_path.stat().st_size,
        "sha256": hashlib.sha256(archive_path.read_bytes()).hexdigest(),
    }
    deleted = certificate["deleted"]
    assert deleted["dagster"] == {"runs": 1 + 3 * len(MONTHS), "partition_removed": True, "storage_compacted": True}
    assert deleted["key_destroyed"] is True and not (root / ".secrets" / "keys" / f"{CUSTOMER}.json").exists()
    assert deleted["data_root"]["files"] > len(delivered) and deleted["data_root"]["bytes"] > 0
    assert sorted(deleted["data_root"]["folders"]) == sorted(
        f"{t}/{CUSTOMER}" for t in ("customers", "inbox", "published", "warehouse")
    )
    assert deleted["delivery"]["objects"] == len([n for n in delivered if n.startswith("published/")])  # local target

    assert files_of(root / "published" / OTHER_CUSTOMER) == others  # byte-identical
    assert {k: v for k, v in dagster_state(home)["runs"].items() if k.startswith(OTHER_CUSTOMER)} == other_runs
    after = tem("run", "--data-root", str(root), "--customer", CUSTOMER, home=home)
    assert after.returncode == 2 and f"unknown customer(s): {CUSTOMER}" in after.stderr, after.stderr
    record = log_records(root, "offboard")[-1]
    assert (record["customer"], record["outcome"], record["counts"]["runs"]) == (CUSTOMER, "done", 10)
    assert processing_log.verify(root)[0]

    again = tem(
        "customer", "offboard", "--data-root", str(root), "--customer", CUSTOMER, "--confirm", CUSTOMER, home=home
    )
    assert again.returncode == 0 and "offboarded already" in again.stdout, again.stderr


def test_offboarding_refusals_change_nothing(fresh, tmp_path):
    root, home = fresh
    blocker = tmp_path / "file.txt"
    blocker.write_text("a regular file: nothing can be created under it")
    before = held(root, home)
    cases = [
        (["--customer", CUSTOMER, "--confirm", "acm"], "does not repeat the customer id"),
        (["--customer", "nobody", "--confirm", "nobody"], "unknown customer 'nobody'"),
        (["--customer", "Acme!", "--confirm", "Acme!"], "is not allowed"),
        (
            ["--customer", CUSTOMER, "--confirm", CUSTOMER, "--return-to", str(blocker / "sub")],
            "the return archive cannot be written there",
        ),
        (["--customer", CUSTOMER, "--confirm", CUSTOMER, "--return-to", str(root / "out")], "outside the data root"),
    ]
    for args, message in cases:
        run = tem("customer", "offboard", "--data-root", str(root), *args, home=home)
        assert run.returncode == 1, (args, run.stderr)
        assert message in one_line(run), (args, run.stderr)
        assert held(root, home) == before, args
    assert [r["outcome"] for r in log_records(root, "offboard")] == ["refused"] * len(cases)
    usage = tem("customer", "offboard", "--data-root", str(root), "--customer", CUSTOMER, home=home)
    assert usage.returncode == 2  # --confirm is required
    assert held(root, home) == before


@pytest.mark.parametrize("point", OFFBOARD_CRASH_POINTS)
def test_an_offboarding_killed_at_any_point_is_completed_by_the_same_command(fresh, tmp_path, point):
    root, home = fresh
    identifiers = customer_identifiers(root)
    others = files_of(root / "published" / OTHER_CUSTOMER)
    args = [
        "customer",
        "offboard",
        "--data-root",
        str(root),
        "--customer",
        CUSTOMER,
        "--confirm",
        CUSTOMER,
        "--return-to",
        str(tmp_path / "returned"),
    ]
    killed = tem(*args, home=home, TEM_CRASH_AT=point)
    assert killed.returncode == -9, (killed.returncode, killed.stderr[-2000:])
    assert (root / ".privacy" / "pending" / f"offboard.{CUSTOMER}.json").exists()
    assert not (root / "inbox" / CUSTOMER).exists()  # aside from the first step: no run picks the customer up
    run_now = tem("run", "--data-root", str(root), "--customer", CUSTOMER, home=home)
    assert run_now.returncode == 2 and ("no inbox drops" in run_now.stderr or "unknown customer" in run_now.stderr), (
        run_now.stderr
    )

    done = tem(*args, home=home)
    assert done.returncode == 0, done.stderr
    assert "completing an interrupted offboarding" in done.stdout
    certificate = assert_offboarded(root, home, identifiers)
    assert certificate["deleted"]["dagster"]["runs"] == 10 and certificate["deleted"]["key_destroyed"] is True
    assert certificate["return_archive"]["path"] == str((tmp_path / "returned" / f"{CUSTOMER}-return.zip").resolve())
    assert files_of(root / "published" / OTHER_CUSTOMER) == others
    assert [r["outcome"] for r in log_records(root, "offboard")] == ["done"]
    assert processing_log.verify(root)[0]


# ------------------------------------------------------------------------------------------------- S3 delivery
def test_purge_and_offboarding_delete_the_delivered_objects_in_s3(tmp_path):
    import boto3

    from tests.support.dagster_server import small_data_root
    from tests.support.s3_server import CREDENTIALS, moto_s3_server

    bucket = "tem-lifecycle"
    root, home = small_data_root(tmp_path / "root", ("2026-06", "2026-07", "2026-08")), tmp_path / "home"
    set_retention(root, CUSTOMER, "2")
    with moto_s3_server() as endpoint:
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        client.create_bucket(Bucket=bucket)

        def objects() -> dict[str, bytes]:
            listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
            return {o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}

        s3 = {
            "TEM_DELIVERY": "s3",
            "TEM_S3_BUCKET": bucket,
            "TEM_S3_PREFIX": "out",
            "TEM_S3_ENDPOINT_URL": endpoint,
            **CREDENTIALS,
        }
        run = tem("run", "--data-root", str(root), "--workers", "1", home=home, **s3)
        assert run.returncode == 0, run.stderr[-2000:]
        before = objects()
        assert {k.split("/")[2] for k in before if k.startswith(f"out/{CUSTOMER}/")} == {"2026-06", "2026-07", KEPT}

        purge = tem("privacy", "purge", "--data-root", str(root), "--as-of", "2026-10-15", home=home, **s3)
        assert purge.returncode == 0, purge.stderr
        after_purge = objects()
        expired = {k for k in before if k.split("/")[1:3] in ([CUSTOMER, "2026-06"], [CUSTOMER, "2026-07"])}
        assert expired and set(after_purge) == set(before) - expired
        assert all(after_purge[k] == before[k] for k in after_purge)  # the rest byte-identical

        offboard = tem(
            "customer",
            "offboard",
            "--data-root",
            str(root),
            "--customer",
            OTHER_CUSTOMER,
            "--confirm",
            OTHER_CUSTOMER,
            home=home,
            **s3,
        )
        assert offboard.returncode == 0, offboard.stderr
        after = objects()
    gone = {k for k in after_purge if k.startswith(f"out/{OTHER_CUSTOMER}/")}
    assert gone and set(after) == set(after_purge) - gone
    assert all(after[k] == before[k] for k in after)
    certificate = json.loads(next((root / ".privacy" / "certificates").glob(f"{OTHER_CUSTOMER}-*.json")).read_text())
    assert certificate["deleted"]["delivery"] == {"objects": len(gone), "target": "s3"}
    assert certificate["return_archive"] is None
