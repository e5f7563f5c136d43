"""Delivery: the local folder and S3 (moto's server mode, a real HTTP endpoint), manifests written last,
download links that `tem reports url` prints."""

import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3
import pytest

from reports.publishing.delivery import MANIFEST, DeliveryError, ObjectStore, object_key
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
from tests.support.s3_server import CREDENTIALS, moto_s3_server

REPOSITORY = Path(__file__).resolve().parents[2]
BUCKET = "tem-deliveries"


def small_root(root: Path) -> Path:
    for customer_id, number in (("acme", "+14155550100"), ("globex", "+14155550177")):
        write_customer(root, customer_id)
        folder = drop(root, customer_id, "2026-06")
        write_csv(folder / "roster.csv", ROSTER_HEADER, [roster_row(number)])
        write_csv(
            folder / "invoices" / "inv-1.csv", INVOICE_HEADER, [charge_row(number, amount="36.00", total="36.00")]
        )
        write_csv(folder / "usage" / "u.csv", USAGE_HEADER, [usage_row("2026-06-01", number)])
    return root


def tem(*args, env_extra: dict, home: Path) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TEM_", "AWS_", "DAGSTER_HOME")) or k == "TEM_TODAY"
    }
    env.update(DAGSTER_HOME=str(home), TEM_MASTER_KEY="7e" * 32, **env_extra)
    return subprocess.run(
        [sys.executable, "-m", "pipelines.commands.cli", *args],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


class RecordingStore(ObjectStore):
    def __init__(self):
        self.calls, self.objects = [], {}

    def put_file(self, key, path):
        self.calls.append(("put", key))
        self.objects[key] = path.read_bytes()

    def put_bytes(self, key, data):
        self.calls.append(("put", key))
        self.objects[key] = data

    def get_bytes(self, key):
        return self.objects.get(key)

    def delete(self, key):
        self.calls.append(("delete", key))
        self.objects.pop(key, None)

    def link(self, key, expires_seconds):
        return key

    def list_keys(self, prefix):
        return sorted(k for k in self.objects if k.startswith(prefix))

    def download(self, key, path):
        path.write_bytes(self.objects[key])


def test_manifest_is_removed_first_and_written_last(tmp_path):
    files = [tmp_path / "report.xlsx", tmp_path / "findings.csv"]
    for index, path in enumerate(files):
        path.write_bytes(b"x" * (index + 3))
    store = RecordingStore()
    manifest = store.deliver("acme", "2026-06", files)
    assert store.calls[0] == ("delete", "acme/2026-06/manifest.json")
    assert store.calls[-1] == ("put", "acme/2026-06/manifest.json")
    assert [f["name"] for f in manifest["files"]] == ["findings.csv", "report.xlsx"]
    assert manifest["files"][1] == {"name": "report.xlsx", "size": 3, "sha256": hashlib.sha256(b"xxx").hexdigest()}


@pytest.mark.parametrize(
    "customer, month, name",
    [
        ("../b", "2026-06", "a.csv"),
        ("acme", "2026-6", "a.csv"),
        ("acme", "2026-06", "../x"),
        ("acme", "2026-06", ".hidden"),
    ],
)
def test_keys_are_validated(customer, month, name):
    with pytest.raises((ValueError, DeliveryError)):
        object_key(customer, month, name)


def test_local_delivery_and_links(tmp_path):
    root = small_root(tmp_path / "root")
    run = tem("run", "--data-root", str(root), env_extra={}, home=tmp_path / "home")
    assert run.returncode == 0, run.stderr[-2000:]
    manifest = json.loads((root / "published" / "acme" / "2026-06" / MANIFEST).read_text())
    names = {f["name"] for f in manifest["files"]}
    disputes = {n for n in names if n.startswith("disputes-")}  # one per carrier with findings
    assert names - disputes == {"report.xlsx", "findings.csv", "savings.csv", "quarantine.csv"}
    assert {n for n in (root / "published" / "acme" / "2026-06").iterdir() if n.name.startswith("disputes-")} == {
        root / "published" / "acme" / "2026-06" / n for n in disputes
    }
    links = tem(
        "reports",
        "url",
        "--data-root",
        str(root),
        "--customer",
        "acme",
        "--month",
        "2026-06",
        env_extra={},
        home=tmp_path / "home",
    )
    assert links.returncode == 0
    assert all(line.split("\t")[1].startswith("file://") for line in links.stdout.splitlines())
    missing = tem(
        "reports",
        "url",
        "--data-root",
        str(root),
        "--customer",
        "acme",
        "--month",
        "2026-07",
        env_extra={},
        home=tmp_path / "home",
    )
    assert missing.returncode == 2 and "no delivery for acme 2026-07" in missing.stderr
    unknown = tem(
        "reports",
        "url",
        "--data-root",
        str(root),
        "--customer",
        "initech",
        "--month",
        "2026-06",
        env_extra={},
        home=tmp_path / "home",
    )
    assert unknown.returncode == 2 and "customer 'initech' is not registered" in unknown.stderr


@pytest.fixture(scope="module")
def s3_endpoint():
    with moto_s3_server() as endpoint:
        yield endpoint


def test_s3_delivery_through_presigned_links(tmp_path, s3_endpoint):
    root = small_root(tmp_path / "root")
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    client.create_bucket(Bucket=BUCKET)
    s3 = {
        "TEM_DELIVERY": "s3",
        "TEM_S3_BUCKET": BUCKET,
        "TEM_S3_PREFIX": "reports/v1",
        "TEM_S3_ENDPOINT_URL": s3_endpoint,
        **CREDENTIALS,
    }
    run = tem("run", "--data-root", str(root), env_extra=s3, home=tmp_path / "home")
    assert run.returncode == 0, run.stderr[-2000:]

    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"])
    published = {
        f"reports/v1/{p.relative_to(root / 'published').as_posix()}"
        for p in (root / "published").glob("*/2026-06/*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert keys == sorted(published | {f"reports/v1/{c}/2026-06/manifest.json" for c in ("acme", "globex")})
    assert {k.rsplit("/", 1)[1] for k in keys} >= {
        "findings.csv",
        "manifest.json",
        "quarantine.csv",
        "report.xlsx",
        "savings.csv",
    }
    for key in keys:
        assert client.head_object(Bucket=BUCKET, Key=key)["ServerSideEncryption"] == "AES256"

    links = tem(
        "reports",
        "url",
        "--data-root",
        str(root),
        "--customer",
        "acme",
        "--month",
        "2026-06",
        "--expires",
        "600",
        env_extra=s3,
        home=tmp_path / "home",
    )
    assert links.returncode == 0, links.stderr
    urls = dict(line.split("\t") for line in links.stdout.splitlines())
    manifest = json.loads(client.get_object(Bucket=BUCKET, Key="reports/v1/acme/2026-06/manifest.json")["Body"].read())
    assert set(urls) == {f["name"] for f in manifest["files"]}
    for entry in manifest["files"]:
        assert "/acme/2026-06/" in urls[entry["name"]] and "globex" not in urls[entry["name"]]
        body = urllib.request.urlopen(urls[entry["name"]], timeout=10).read()  # a plain HTTP client
        assert len(body) == entry["size"] and hashlib.sha256(body).hexdigest() == entry["sha256"]
        assert body == (root / "published" / "acme" / "2026-06" / entry["name"]).read_bytes()


def test_inbox_read_from_s3(tmp_path, s3_endpoint):
    """The same layout in a bucket: tem run mirrors it into an empty data root and publishes the same files
    as a run on the local copy."""
    source = small_root(tmp_path / "source")
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    client.create_bucket(Bucket="tem-inbox")
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        client.upload_file(str(path), "tem-inbox", f"drops/{path.relative_to(source).as_posix()}")
    client.put_object(Bucket="tem-inbox", Key="drops/inbox/Bad Name/2026-06/roster.csv", Body=b"x")

    local = tem("run", "--data-root", str(source), env_extra={}, home=tmp_path / "home-local")
    assert local.returncode == 0, local.stderr[-2000:]
    mirrored = tmp_path / "mirrored"
    s3_inbox = {
        "TEM_INBOX": "s3",
        "TEM_INBOX_BUCKET": "tem-inbox",
        "TEM_INBOX_PREFIX": "drops",
        "TEM_S3_ENDPOINT_URL": s3_endpoint,
        **CREDENTIALS,
    }
    remote = tem("run", "--data-root", str(mirrored), env_extra=s3_inbox, home=tmp_path / "home-s3")
    assert remote.returncode == 0, remote.stderr[-2000:]
    assert not (mirrored / "inbox" / "Bad Name").exists()
    for published in sorted((source / "published").rglob("*.csv")):
        twin = mirrored / published.relative_to(source)
        assert twin.read_bytes() == published.read_bytes(), published.name
