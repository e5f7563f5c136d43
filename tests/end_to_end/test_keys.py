"""Per-customer data keys (docs/keys.md), through the `tem` command line: keys random per customer and stored only
wrapped; every key problem refusing `tem run` before anything is written, naming the customer; `tem keys rotate`
(all or nothing, SIGKILL at each of its steps, then the same command); `destroy_key`; `tem keys migrate` of a data
root written before per-customer keys."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from reports.inputs.pseudonymize import legacy_pseudonymizer, parse_master_key
from reports.layout import DataRoot
from reports.privacy import keys, processing_log
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
from tests.support.commands import copy_root
from tests.support.commands import tem as run_tem
from tests.support.privacy_root import CUSTOMER, MONTHS, SUBJECT, write_privacy_root

OLD = "c3" * 32  # the master key the roots are written with
NEW = "9d" * 32
OTHER_NEW = "4b" * 32
WRONG = "d4" * 32
SECOND = "globex"  # a second customer, with a copy of acme's first month: the same numbers under two customers
REPOSITORY = Path(__file__).resolve().parents[2]
ROTATION_CRASH_POINTS = ["rotate-staging", "rotate-staged", "rotate-swapping", "rotate-swapped"]
MIGRATION_CRASH_POINTS = ["migrate-committed", "migrate-cleared"]
PSEUDONYM = re.compile(rb"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")


def tem(*args: str, home: Path, master: str | None = OLD, **extra: str) -> subprocess.CompletedProcess:
    """`tem` in its own process; master=None leaves TEM_MASTER_KEY unset."""
    return run_tem(*args, home=home, master_key=master, **extra)


def rotate(root: Path, home: Path, master: str | None = OLD, new: str | None = NEW, **extra: str):
    if new is not None:
        extra["TEM_NEW_MASTER_KEY"] = new
    return tem("keys", "rotate", "--data-root", str(root), home=home, master=master, **extra)


def tree_hash(root: Path) -> str:
    """Every file of the data root but the processing log, which records refusals too."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] == ".privacy":
            continue
        digest.update(relative.as_posix().encode() + b"\0" + (path.read_bytes() if path.is_file() else b"/"))
    return digest.hexdigest()


def published(root: Path) -> dict[str, bytes]:
    base = root / "published"
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def warehouse_tables(root: Path) -> dict[str, pl.DataFrame]:
    base = root / "warehouse"
    return {p.relative_to(base).as_posix(): pl.read_parquet(p) for p in sorted(base.rglob("*.parquet"))}


def pseudonyms_in(root: Path) -> set[str]:
    """Every 32-hex value in a text column of the warehouse."""
    found = set()
    for frame in warehouse_tables(root).values():
        for column in frame.select(pl.col(pl.String)).iter_columns():
            found |= {v for v in column.drop_nulls().unique().to_list() if PSEUDONYM.fullmatch(v.encode())}
    return found


def data_key(root: Path, customer: str, master: str = OLD, folder: str = keys.KEYS) -> bytes:
    return keys.unwrap(DataRoot.at(root), customer, parse_master_key(master), folder)


def opens(root: Path, customer: str, master: str, folder: str = keys.KEYS) -> bool:
    try:
        data_key(root, customer, master, folder)
        return True
    except keys.KeyRefused:
        return False


def last_record(root: Path) -> dict:
    return processing_log.read(root)[-1]


def stderr_lines(run: subprocess.CompletedProcess) -> list[str]:
    return [line for line in run.stderr.splitlines() if line.strip()]


def refusal(customer: str) -> str:
    return (
        f"customer {customer}: TEM_MASTER_KEY does not open its data key (.secrets/keys/{customer}.json); "
        "use the master key this data root was written with"
    )


def write_root(root: Path) -> Path:
    write_privacy_root(root)
    write_customer(root, SECOND)
    shutil.copytree(root / "inbox" / CUSTOMER / MONTHS[0], root / "inbox" / SECOND / MONTHS[0])
    return root


@pytest.fixture(scope="module")
def reconciled(tmp_path_factory):
    """acme (three months) and globex (one) after `tem run` under OLD: (root, DAGSTER_HOME), copied by each test that
    changes it."""
    base = tmp_path_factory.mktemp("keys")
    root, home = write_root(base / "root"), base / "home"
    run = tem("run", "--data-root", str(root), "--workers", "1", home=home)
    assert run.returncode == 0, run.stderr[-3000:]
    return root, home


@pytest.fixture
def fresh(reconciled, tmp_path):
    return copy_root(*reconciled, tmp_path)


# ------------------------------------------------------------------------------------------- keys at rest
def test_each_customer_has_its_own_random_key_stored_only_wrapped(reconciled):
    root, home = reconciled
    assert keys.keyring_customers(DataRoot.at(root)) == [CUSTOMER, SECOND]
    secrets_dir = root / ".secrets"
    assert oct(secrets_dir.stat().st_mode)[-3:] == "700" and oct((secrets_dir / "keys").stat().st_mode)[-3:] == "700"
    data_keys = {}
    for customer in (CUSTOMER, SECOND):
        path = secrets_dir / "keys" / f"{customer}.json"
        assert oct(path.stat().st_mode)[-3:] == "600"
        record = json.loads(path.read_text())
        assert (record["format"], record["version"], record["customer"]) == ("tem-customer-key", 1, customer)
        data_keys[customer] = data_key(root, customer)
        assert len(data_keys[customer]) == 32
        assert (
            record["key_id"]
            == keys.key_id_of(data_keys[customer])
            == (root / "warehouse" / customer / "key_id").read_text().strip()
        )
        assert len(base64.b64decode(record["wrapped_key"])) == 40  # RFC 3394: the key plus its 8-byte check
    assert data_keys[CUSTOMER] != data_keys[SECOND]
    forms = [
        form
        for key in data_keys.values()
        for form in (key, key.hex().encode(), key.hex().upper().encode(), base64.b64encode(key))
    ]
    files = [p for folder in (root, home) for p in folder.rglob("*") if p.is_file()]
    assert len(files) > 50
    assert not [p for p in files if any(form in p.read_bytes() for form in forms)], "a data key is stored unwrapped"


def test_pseudonyms_come_from_the_customer_key_and_differ_between_customers(reconciled):
    root, _ = reconciled
    number, employee = SUBJECT["lines"][1], SUBJECT["employee_id"]
    rosters = {c: pl.read_parquet(root / "warehouse" / c / MONTHS[0] / "roster.parquet") for c in (CUSTOMER, SECOND)}
    for customer, roster in rosters.items():
        pseudonymizer = keys.pseudonymizer_for(root, customer, OLD)
        assert pseudonymizer.pseudonym("msisdn", number) in set(roster["msisdn"])
        assert pseudonymizer.pseudonym("employee_id", employee) in set(roster["employee_id"])
        legacy = legacy_pseudonymizer(parse_master_key(OLD), customer)  # not from the master key any more
        assert legacy.pseudonym("msisdn", number) not in set(roster["msisdn"])
    # the same people and numbers under the two customers: nothing in common
    for column in ("msisdn", "imei", "employee_id"):
        assert rosters[CUSTOMER][column].len() == rosters[SECOND][column].len() > 0
        assert not set(rosters[CUSTOMER][column].drop_nulls()) & set(rosters[SECOND][column].drop_nulls())


# ------------------------------------------------------------------------------------------- refusals
def test_a_wrong_master_key_fails_tem_run_before_anything_is_written(fresh, tmp_path):
    root, _ = fresh
    before, home = tree_hash(root), tmp_path / "another-home"
    run = tem("run", "--data-root", str(root), "--workers", "1", home=home, master=WRONG)
    assert run.returncode == 1, run.stdout + run.stderr
    assert stderr_lines(run) == [f"tem run: {refusal(CUSTOMER)}", f"tem run: {refusal(SECOND)}"]
    assert run.stdout == "" and "Traceback" not in run.stderr
    assert tree_hash(root) == before
    assert not home.exists()  # no Dagster instance, let alone a run
    record = last_record(root)
    assert (record["action"], record["outcome"], record["customer"]) == ("run", "refused", None)
    assert record["detail"].startswith(refusal(CUSTOMER))

    only = tem("run", "--data-root", str(root), "--customer", SECOND, home=home, master=WRONG)
    assert only.returncode == 1 and stderr_lines(only) == [f"tem run: {refusal(SECOND)}"]
    assert tree_hash(root) == before and not home.exists()


@pytest.mark.parametrize(
    "bad, why",
    [
        ("", "TEM_MASTER_KEY is set but empty"),
        ("   ", "TEM_MASTER_KEY is set but empty"),
        ("c3" * 16, "TEM_MASTER_KEY must be 64 hexadecimal characters (32 random bytes), got 32 characters"),
        ("zq" * 32, "TEM_MASTER_KEY must contain only hexadecimal characters 0-9 and a-f"),
    ],
)
def test_an_empty_short_or_malformed_master_key_fails_in_one_line(fresh, tmp_path, bad, why):
    root, _ = fresh
    before = tree_hash(root)
    run = tem("run", "--data-root", str(root), home=tmp_path / "another-home", master=bad)
    assert run.returncode == 1
    assert len(stderr_lines(run)) == 1, run.stderr
    assert stderr_lines(run)[0].startswith(f"tem run: customers {CUSTOMER}, {SECOND}: {why}")
    assert not bad.strip() or bad not in run.stderr
    assert tree_hash(root) == before and not (tmp_path / "another-home").exists()
    assert not (root / ".secrets" / "master.key").exists()  # an empty key is not taken for an unset one


def test_a_key_that_did_not_write_the_warehouse_is_refused(fresh, tmp_path):
    from dagster import Failure

    from pipelines.resources import PseudonymKeyResource

    root, _ = fresh
    assert keys.destroy_key(root, CUSTOMER)
    before = tree_hash(root)
    missing = tem("run", "--data-root", str(root), home=tmp_path / "h", master=OLD)
    assert missing.returncode == 1
    assert stderr_lines(missing) == [
        f"tem run: customer {CUSTOMER}: its data key (.secrets/keys/{CUSTOMER}.json) is missing, but its warehouse was "
        f"written with one (warehouse/{CUSTOMER}/key_id); restore the key file from a backup of this data root"
    ]  # a new key is not created in its place
    assert tree_hash(root) == before

    keys.create_customer_key(DataRoot.at(root), CUSTOMER, parse_master_key(OLD))  # a key, but another one
    before = tree_hash(root)
    other = tem("run", "--data-root", str(root), home=tmp_path / "h", master=OLD)
    assert other.returncode == 1
    assert stderr_lines(other) == [
        f"tem run: customer {CUSTOMER}: its data key (.secrets/keys/{CUSTOMER}.json) is not the key that wrote its "
        f"warehouse (warehouse/{CUSTOMER}/key_id); restore the customer's key file from the backup of this data root "
        "that matches its warehouse"
    ]
    assert tree_hash(root) == before and not (tmp_path / "h").exists()
    # the Dagster resource (a run started from the UI) refuses the same way, before its asset writes anything
    with pytest.raises(Failure, match=f"^customer {CUSTOMER}: its data key .* is not the key that wrote its warehouse"):
        PseudonymKeyResource(master_key=OLD).pseudonymizer(CUSTOMER, DataRoot.at(root))
    with pytest.raises(Failure, match=f"^customer {SECOND}: TEM_MASTER_KEY is set but empty"):
        PseudonymKeyResource(master_key="").pseudonymizer(SECOND, DataRoot.at(root))
    with pytest.raises(Failure, match=f"^{re.escape(refusal(SECOND))}$"):
        PseudonymKeyResource(master_key=WRONG).pseudonymizer(SECOND, DataRoot.at(root))
    with pytest.raises(Failure, match="TEM_MASTER_KEY is not set and there is no development key"):
        PseudonymKeyResource().pseudonymizer(SECOND, DataRoot.at(root))
    assert tree_hash(root) == before


def test_destroying_a_key_leaves_its_pseudonyms_unlinkable(fresh):
    root, _ = fresh
    path = root / ".secrets" / "keys" / f"{SECOND}.json"
    wrapped = json.loads(path.read_text())["wrapped_key"].encode()
    known = keys.pseudonymizer_for(root, SECOND, OLD).pseudonym("msisdn", SUBJECT["lines"][1])
    assert known in pseudonyms_in(root)
    assert keys.destroy_key(root, SECOND) is True
    assert not path.exists() and keys.destroy_key(root, SECOND) is False
    assert not [p for p in (root / ".secrets").rglob("*") if p.is_file() and wrapped in p.read_bytes()]
    with pytest.raises(
        keys.KeyRefused, match=rf"^customer {SECOND}: its data key \(.secrets/keys/{SECOND}.json\) is missing"
    ):
        keys.pseudonymizer_for(root, SECOND, OLD)
    assert keys.pseudonymizer_for(root, CUSTOMER, OLD)  # the other customer is untouched


def test_two_processes_creating_the_same_key_agree(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    code = (
        "import sys; from reports.privacy import keys; from reports.layout import DataRoot; "
        "from reports.inputs.pseudonymize import parse_master_key; "
        f"key = keys.open_customer_key(DataRoot.at(sys.argv[1]), 'acme', parse_master_key({OLD!r})); "
        "print(keys.key_id_of(key))"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", code, str(root)], cwd=REPOSITORY, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    ids = {p.communicate(timeout=120)[0].strip() for p in processes}
    assert all(p.returncode == 0 for p in processes)
    assert ids == {keys.key_id_of(data_key(root, "acme"))}
    assert sorted(p.name for p in (root / ".secrets" / "keys").iterdir()) == ["acme.json"]


def test_without_a_master_key_a_development_key_is_used_and_the_warning_given_once(tmp_path):
    root = tmp_path / "root"
    for customer, number in ((CUSTOMER, "+14155550100"), (SECOND, "+14155550177")):
        write_customer(root, customer)
        folder = drop(root, customer, "2026-06")
        write_csv(folder / "roster.csv", ROSTER_HEADER, [roster_row(number)])
        write_csv(
            folder / "invoices" / "inv-1.csv", INVOICE_HEADER, [charge_row(number, amount="36.00", total="36.00")]
        )
        write_csv(folder / "usage" / "u.csv", USAGE_HEADER, [usage_row("2026-06-01", number)])
    run = tem("run", "--data-root", str(root), "--workers", "2", home=tmp_path / "home", master=None)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stderr.count("TEM_MASTER_KEY is not set: using the development key") == 1, run.stderr
    dev_key = (root / ".secrets" / "master.key").read_text().strip()
    assert oct((root / ".secrets" / "master.key").stat().st_mode)[-3:] == "600"
    for customer in (CUSTOMER, SECOND):  # wrapped under the development key like under any master key
        assert keys.pseudonymizer_for(root, customer, dev_key)
    empty = tem("run", "--data-root", str(root), home=tmp_path / "home", master="")
    assert empty.returncode == 1 and len(stderr_lines(empty)) == 1 and "set but empty" in empty.stderr
    # the development key is not rotated: rotation needs TEM_MASTER_KEY
    refused = rotate(root, tmp_path / "home", master=None)
    assert refused.returncode == 1
    assert stderr_lines(refused) == [
        "tem keys rotate: TEM_MASTER_KEY is not set: TEM_MASTER_KEY must hold the current "
        "master key (rotation needs it set; the development key .secrets/master.key is "
        "not rotated, see docs/keys.md); nothing was rotated"
    ]


# ------------------------------------------------------------------------------------------- rotation
def test_rotation_keeps_every_pseudonym_and_the_old_key_opens_nothing(fresh):
    root, home = fresh
    files, tables = published(root), warehouse_tables(root)
    data_keys = {c: data_key(root, c) for c in (CUSTOMER, SECOND)}
    wrapped = {c: json.loads((root / ".secrets" / "keys" / f"{c}.json").read_text()) for c in data_keys}

    done = rotate(root, home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "rotated 2 customer key(s) to TEM_NEW_MASTER_KEY: from now on set TEM_MASTER_KEY "
        "to that key; the old master key opens nothing"
    )
    assert sorted(p.name for p in (root / ".secrets").iterdir()) == ["keys", "keys.lock"]
    for customer, key in data_keys.items():
        record = json.loads((root / ".secrets" / "keys" / f"{customer}.json").read_text())
        assert (
            record["key_id"] == wrapped[customer]["key_id"]
            and record["wrapped_key"] != wrapped[customer]["wrapped_key"]
        )
        assert data_key(root, customer, NEW) == key and not opens(root, customer, OLD)
    record = last_record(root)
    assert (record["action"], record["outcome"], record["counts"]) == ("key_rotate", "done", {"customers": 2})

    again = tem("run", "--data-root", str(root), "--workers", "1", home=home, master=NEW)
    assert again.returncode == 0, again.stderr[-3000:]
    assert published(root) == files  # byte-identical
    after = warehouse_tables(root)
    assert sorted(after) == sorted(tables) and all(after[name].equals(tables[name]) for name in tables)

    old = tem("run", "--data-root", str(root), home=home, master=OLD)
    assert old.returncode == 1 and stderr_lines(old) == [f"tem run: {refusal(CUSTOMER)}", f"tem run: {refusal(SECOND)}"]
    with pytest.raises(keys.KeyRefused):
        keys.pseudonymizer_for(root, CUSTOMER, OLD)

    for master in (NEW, OLD):  # after success, with the new key as the current one, or the same command again
        noop = rotate(root, home, master=master)
        assert noop.returncode == 0, noop.stderr
        assert noop.stdout.startswith("already rotated")
        assert (last_record(root)["action"], last_record(root)["outcome"]) == ("key_rotate", "nothing_to_do")


@pytest.mark.parametrize(
    "master, new, why",
    [
        (
            OLD,
            None,
            "TEM_NEW_MASTER_KEY is not set: TEM_NEW_MASTER_KEY must hold the new master key (64 hexadecimal "
            "characters); nothing was rotated",
        ),
        (OLD, "", "TEM_NEW_MASTER_KEY is set but empty"),
        (OLD, "9d" * 31, "TEM_NEW_MASTER_KEY must be 64 hexadecimal characters"),
        ("", NEW, "TEM_MASTER_KEY is set but empty"),
        (WRONG, NEW, f"{refusal(CUSTOMER)} (and 1 more customer(s)); nothing was rotated"),
    ],
)
def test_a_rotation_that_cannot_be_done_changes_nothing(fresh, master, new, why):
    root, home = fresh
    before = tree_hash(root)
    run = rotate(root, home, master=master, new=new)
    assert run.returncode == 1, run.stdout
    assert len(stderr_lines(run)) == 1 and stderr_lines(run)[0].startswith(f"tem keys rotate: {why}"), run.stderr
    assert tree_hash(root) == before
    record = last_record(root)
    assert (record["action"], record["outcome"], record["counts"]) == ("key_rotate", "refused", {"customers": 2})
    assert record["detail"].startswith(why)
    assert run.stdout == ""


def test_usage_errors_exit_2(fresh):
    root, home = fresh
    assert tem("keys", home=home).returncode == 2
    assert tem("keys", "rotate", "--data-root", str(root), "--bogus", home=home).returncode == 2
    bad = tem("keys", "migrate", "--data-root", str(root), "--customer", "../x", home=home)
    assert bad.returncode == 2 and "customer id '../x' is not allowed" in bad.stderr


def key_sets(root: Path) -> dict[str, str]:
    """Each key folder present -> which master key opens every one of its keys ("old", "new"), never a mix."""
    sets = {}
    for folder in (keys.KEYS, keys.STAGING, keys.RETIRED):
        if not (root / ".secrets" / folder).exists():
            continue
        names = keys.keyring_customers(DataRoot.at(root), folder)
        complete = (root / ".secrets" / folder / keys.COMPLETE).exists() or folder != keys.STAGING
        if folder == keys.STAGING and not complete:
            sets[folder] = "incomplete"
            continue
        assert names == [CUSTOMER, SECOND], (folder, names)  # a complete set
        by_old = [opens(root, c, OLD, folder) for c in names]
        by_new = [opens(root, c, NEW, folder) for c in names]
        assert all(by_old) != all(by_new) and (all(by_old) or all(by_new)), (folder, by_old, by_new)
        sets[folder] = "old" if all(by_old) else "new"
    return sets


@pytest.mark.parametrize("point", ROTATION_CRASH_POINTS)
def test_sigkill_during_rotation_then_the_same_command_completes_it(fresh, point):
    root, home = fresh
    data_keys = {c: data_key(root, c) for c in (CUSTOMER, SECOND)}
    killed = rotate(root, home, TEM_CRASH_AT=point)
    assert killed.returncode == -9, killed.stderr

    state = key_sets(root)
    assert (
        state
        == {
            "rotate-staging": {"keys": "old", "keys.rotating": "incomplete"},
            "rotate-staged": {"keys": "old", "keys.rotating": "new"},
            "rotate-swapping": {"keys.rotating": "new", "keys.old": "old"},
            "rotate-swapped": {"keys": "new", "keys.old": "old"},
        }[point]
    )
    if point == "rotate-staging":  # nothing decided yet: the old key still works
        assert keys.pseudonymizer_for(root, CUSTOMER, OLD)
    else:  # decided: no run under either key until the rotation is finished
        for master in (OLD, NEW):
            before = tree_hash(root)
            run = tem("run", "--data-root", str(root), home=home, master=master)
            assert run.returncode == 1
            assert f"customer {CUSTOMER}: a key rotation is in progress or was interrupted" in run.stderr
            assert "run `tem keys rotate` again to finish it" in run.stderr
            assert tree_hash(root) == before

    finished = rotate(root, home)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.startswith("rotated 2" if point == "rotate-staging" else "completed an interrupted rotation")
    assert key_sets(root) == {"keys": "new"}
    assert sorted(p.name for p in (root / ".secrets").iterdir()) == ["keys", "keys.lock"]
    assert not (root / ".secrets" / "keys" / keys.COMPLETE).exists()
    assert {c: data_key(root, c, NEW) for c in data_keys} == data_keys  # the same data keys: the same pseudonyms
    assert (last_record(root)["outcome"], last_record(root)["counts"]) == ("done", {"customers": 2})
    assert rotate(root, home).stdout.startswith("already rotated")


def test_an_interrupted_rotation_is_not_finished_with_another_new_key(fresh):
    root, home = fresh
    assert rotate(root, home, TEM_CRASH_AT="rotate-staged").returncode == -9
    before = tree_hash(root)
    other = rotate(root, home, new=OTHER_NEW)
    assert other.returncode == 1
    assert stderr_lines(other) == [
        "tem keys rotate: an interrupted rotation to another master key is pending: run "
        "`tem keys rotate` again with the TEM_NEW_MASTER_KEY it was started with"
    ]
    assert tree_hash(root) == before
    assert rotate(root, home).returncode == 0 and key_sets(root) == {"keys": "new"}


# ------------------------------------------------------------------------------------------- migration
LEGACY_RUN = """
import sys
from reports.inputs.pseudonymize import legacy_pseudonymizer, parse_master_key
from pipelines import resources
from pipelines.commands import cli, keys as key_commands

# what the versions before per-customer data keys did: pseudonyms straight from the master key, no key files
resources.PseudonymKeyResource.pseudonymizer = (
    lambda self, customer_id, data_root, logger=None: legacy_pseudonymizer(parse_master_key(self.master_key), customer_id))
key_commands.check_run_keys = lambda data_root, customers: []
sys.exit(cli.main(["run", "--data-root", sys.argv[1], "--workers", "1"]))
"""


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    """The privacy root written the way the previous version wrote it: (root, DAGSTER_HOME)."""
    base = tmp_path_factory.mktemp("legacy")
    root, home = write_privacy_root(base / "root"), base / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEM_", "AWS_", "DAGSTER_")) or k == "TEM_TODAY"}
    env.update(DAGSTER_HOME=str(home), TEM_MASTER_KEY=OLD)
    run = subprocess.run(
        [sys.executable, "-c", LEGACY_RUN, str(root)],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert not (root / ".secrets").exists() and not (root / "warehouse" / CUSTOMER / "key_id").exists()
    roster = pl.read_parquet(root / "warehouse" / CUSTOMER / MONTHS[0] / "roster.parquet")
    assert legacy_pseudonymizer(parse_master_key(OLD), CUSTOMER).pseudonym("msisdn", SUBJECT["lines"][1]) in set(
        roster["msisdn"]
    )
    return root, home


@pytest.fixture
def legacy_copy(legacy, tmp_path):
    root, home = legacy
    shutil.copytree(root, tmp_path / "root", symlinks=True)
    shutil.copytree(home, tmp_path / "home", symlinks=True)
    return tmp_path / "root", tmp_path / "home"


@pytest.fixture(scope="module")
def migrated(legacy, tmp_path_factory):
    """The legacy root after `tem keys migrate`: (root, home, its published files, warehouse pseudonyms before)."""
    base = tmp_path_factory.mktemp("migrated")
    shutil.copytree(legacy[0], base / "root", symlinks=True)
    shutil.copytree(legacy[1], base / "home", symlinks=True)
    root, home = base / "root", base / "home"
    files, old_pseudonyms = published(root), pseudonyms_in(root)
    run = tem("keys", "migrate", "--data-root", str(root), "--workers", "1", home=home)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().endswith(
        f"customer {CUSTOMER}: migrated to its own data key; rebuilt 3 month(s) ({', '.join(MONTHS)}) from the inbox"
    )
    return root, home, files, old_pseudonyms


def assert_migrated(root: Path, old_pseudonyms: set[str]) -> None:
    new_pseudonyms = pseudonyms_in(root)
    assert len(old_pseudonyms) > 10 and len(new_pseudonyms) == len(old_pseudonyms)
    assert not new_pseudonyms & old_pseudonyms, "a pseudonym of the master key survived the migration"
    pseudonymizer = keys.pseudonymizer_for(root, CUSTOMER, OLD)
    expected = (
        {pseudonymizer.pseudonym("msisdn", n) for n in SUBJECT["lines"]}
        | {pseudonymizer.pseudonym("imei", i) for i in SUBJECT["imeis"]}
        | {pseudonymizer.pseudonym("employee_id", SUBJECT["employee_id"])}
    )
    assert expected <= new_pseudonyms
    assert (root / "warehouse" / CUSTOMER / "key_id").read_text().strip() == keys.key_id_of(data_key(root, CUSTOMER))
    assert not (root / ".secrets" / "migrating" / f"{CUSTOMER}.json").exists()
    assert sorted(p.name for p in (root / "warehouse" / CUSTOMER).iterdir()) == [*MONTHS, "contracts", "key_id"]


def same_rows(before: dict[str, bytes], after: dict[str, bytes]) -> None:
    """The same files; each CSV holds the same lines (their order follows the pseudonyms, see docs/keys.md)."""
    assert sorted(before) == sorted(after)
    for name in before:
        if name.endswith(".csv"):
            assert sorted(before[name].splitlines()) == sorted(after[name].splitlines()), name
        if name.endswith("quarantine.csv"):
            assert before[name] == after[name], name


def test_tem_run_refuses_a_legacy_root_and_names_the_command(legacy_copy):
    root, home = legacy_copy
    before = tree_hash(root)
    run = tem("run", "--data-root", str(root), home=home)
    assert run.returncode == 1
    assert stderr_lines(run) == [
        f"tem run: customer {CUSTOMER}: its warehouse was written before per-customer data "
        f"keys (no warehouse/{CUSTOMER}/key_id); run `tem keys migrate` once to rebuild it "
        "(docs/keys.md)"
    ]
    rotation = rotate(root, home)
    assert rotation.returncode == 1 and "run `tem keys migrate` first, then rotate" in rotation.stderr
    assert tree_hash(root) == before


def test_migration_changes_every_pseudonym_and_publishes_the_same_rows(migrated):
    root, home, files, old_pseudonyms = migrated
    assert_migrated(root, old_pseudonyms)
    same_rows(files, published(root))
    record = [r for r in processing_log.read(root) if r["action"] == "key_rotate"][-1]
    assert (record["customer"], record["months"], record["outcome"]) == (CUSTOMER, list(MONTHS), "done")
    assert keys.prepare_customer_keys(DataRoot.at(root), [CUSTOMER], OLD, print) == []  # `tem run` accepts it now
    again = tem("keys", "migrate", "--data-root", str(root), home=home)
    assert again.returncode == 0 and again.stdout.startswith("nothing to migrate")
    assert last_record(root)["outcome"] == "nothing_to_do"


# not strict: a month whose rows happen to keep their order under the new key passes by chance
def test_migration_publishes_byte_identical_files(migrated):
    root, _, files, _ = migrated
    assert published(root) == files


def test_a_legacy_month_without_its_inbox_drop_is_refused(legacy_copy):
    root, home = legacy_copy
    shutil.rmtree(root / "inbox" / CUSTOMER / MONTHS[0])
    before = tree_hash(root)
    run = tem("keys", "migrate", "--data-root", str(root), home=home)
    assert run.returncode == 1
    assert stderr_lines(run) == [
        f"tem keys migrate: customer {CUSTOMER}: warehouse month(s) {MONTHS[0]} have no inbox "
        f"drop to rebuild them from; restore inbox/{CUSTOMER}/<month> or remove "
        f"warehouse/{CUSTOMER}/<month>, then run again; nothing was migrated"
    ]
    assert tree_hash(root) == before
    assert (last_record(root)["action"], last_record(root)["outcome"]) == ("key_rotate", "refused")


@pytest.mark.parametrize("point", MIGRATION_CRASH_POINTS)
def test_sigkill_during_migration_then_the_same_command_completes_it(legacy_copy, point):
    root, home = legacy_copy
    files, old_pseudonyms = published(root), pseudonyms_in(root)
    killed = tem("keys", "migrate", "--data-root", str(root), "--workers", "1", home=home, TEM_CRASH_AT=point)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (root / ".secrets" / "migrating" / f"{CUSTOMER}.json").exists()
    run = tem("run", "--data-root", str(root), home=home)
    assert run.returncode == 1 and stderr_lines(run) == [
        f"tem run: customer {CUSTOMER}: a key migration is not finished (.secrets/migrating/{CUSTOMER}.json); run "
        "`tem keys migrate` to complete it"
    ]
    finished = tem("keys", "migrate", "--data-root", str(root), "--workers", "1", home=home)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert_migrated(root, old_pseudonyms)
    same_rows(files, published(root))
