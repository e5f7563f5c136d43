"""Erasure with delivery to an S3 bucket (moto's server): every delivered object of the months held is replaced,
manifests included, and none of them holds the subject afterwards."""

from __future__ import annotations

import hashlib
import json

import boto3

from tests.end_to_end.test_privacy import tem
from tests.support.privacy_root import CUSTOMER, MONTHS, SUBJECT, write_privacy_root
from tests.support.s3_server import CREDENTIALS, moto_s3_server

BUCKET = "tem-privacy"


def objects(client) -> dict[str, bytes]:
    listed = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def test_erasure_replaces_every_delivered_object_and_manifest(tmp_path):
    root, home = write_privacy_root(tmp_path / "root"), tmp_path / "home"
    with moto_s3_server() as endpoint:
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        client.create_bucket(Bucket=BUCKET)
        s3 = {
            "TEM_DELIVERY": "s3",
            "TEM_S3_BUCKET": BUCKET,
            "TEM_S3_PREFIX": "out",
            "TEM_S3_ENDPOINT_URL": endpoint,
            **CREDENTIALS,
        }
        run = tem("run", "--data-root", str(root), "--workers", "1", home=home, **s3)
        assert run.returncode == 0, run.stderr[-2000:]
        before = objects(client)
        assert SUBJECT["lines"][1].encode() in before[f"out/{CUSTOMER}/2026-06/findings.csv"]

        erase = tem(
            "privacy",
            "erase",
            "--data-root",
            str(root),
            "--customer",
            CUSTOMER,
            "--employee",
            SUBJECT["employee_id"],
            "--request",
            "DSR-2026-0050",
            home=home,
            **s3,
        )
        assert erase.returncode == 0, erase.stderr[-2000:]
        after = objects(client)

    assert sorted(after) == sorted(before)  # the same objects, replaced
    for key, body in after.items():
        for identifier in (SUBJECT["employee_id"], SUBJECT["lines"][1], SUBJECT["email"]):
            assert identifier.encode() not in body, (key, identifier)
    for month in MONTHS:
        manifest = json.loads(after[f"out/{CUSTOMER}/{month}/manifest.json"])
        for entry in manifest["files"]:
            body = after[f"out/{CUSTOMER}/{month}/{entry['name']}"]
            assert hashlib.sha256(body).hexdigest() == entry["sha256"]  # the manifest describes the new objects
    changed = [k for k in before if before[k] != after[k]]
    assert f"out/{CUSTOMER}/2026-06/findings.csv" in changed
