"""Issue #5: a download link opens exactly one customer's object, and only until it expires.

The links come from the project's own code (S3Store.link and `tem reports url`) and are opened with a plain
HTTP client against SeaweedFS (tests/support/verifying_s3_server.py), which checks SigV4 presigned signatures and
expiry as S3 does. moto's server does not check either (it serves any signed URL for an existing key), so
every refusal asserted here would be a 200 there.
"""

import hashlib
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from reports.publishing.delivery import MANIFEST, S3Store, object_key
from tests.support.builders import write_customer
from tests.support.s3_server import CREDENTIALS
from tests.support.verifying_s3_server import VerifyingServerUnavailable, ensure_weed, verifying_s3_server

REPOSITORY = Path(__file__).resolve().parents[2]
BUCKET, PREFIX, MONTH = "tem-deliveries", "reports/v1", "2026-06"
CUSTOMERS, FILES = ("acme", "globex"), ("findings.csv", "savings.csv")


def content(customer_id: str, name: str) -> bytes:
    return f"msisdn,finding\n+14155550100,{customer_id} only: {name}\n".encode()


def fetch(url: str) -> tuple[int, bytes, str]:
    """Status, body and S3 error code of a GET by a plain HTTP client (no AWS library, no credentials)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read(), ""
    except urllib.error.HTTPError as error:
        body = error.read()
        code = re.search(rb"<Code>([^<]*)</Code>", body)
        return error.code, body, code.group(1).decode() if code else ""


def with_path(url: str, path: str, extra_query: str = "") -> str:
    """The same signed URL (query string untouched) aimed at another path."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=path, query=parts.query + extra_query))


def object_path(customer_id: str, name: str) -> str:
    return f"/{BUCKET}/{PREFIX}/{object_key(customer_id, MONTH, name)}"


def tem(*args: str, env_extra: dict, home: Path) -> subprocess.CompletedProcess:
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
        timeout=300,
    )


@pytest.fixture(scope="module")
def endpoint():
    try:
        ensure_weed()
    except VerifyingServerUnavailable as problem:
        pytest.skip(f"SeaweedFS, the S3 server that verifies presigned links, cannot be installed: {problem}")
    with verifying_s3_server((BUCKET,)) as url:
        yield url


@pytest.fixture(scope="module")
def store(endpoint, tmp_path_factory):
    """Both customers' files delivered (files, then manifest) through the project's S3Store, which signs
    with the credentials of the standard AWS environment."""
    outgoing = tmp_path_factory.mktemp("outgoing")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CREDENTIALS.items():
            patch.setenv(name, value)
        s3 = S3Store(BUCKET, PREFIX, endpoint_url=endpoint)
        for customer_id in CUSTOMERS:
            folder = outgoing / customer_id
            folder.mkdir()
            for name in FILES:
                (folder / name).write_bytes(content(customer_id, name))
            s3.deliver(customer_id, MONTH, sorted(folder.iterdir()))
        yield s3


@pytest.mark.parametrize("customer_id", CUSTOMERS)
def test_link_returns_the_exact_delivered_bytes(store, customer_id):
    manifest = store.manifest(customer_id, MONTH)
    assert [entry["name"] for entry in manifest["files"]] == list(FILES)
    for entry in manifest["files"]:
        url = store.link(object_key(customer_id, MONTH, entry["name"]), 600)
        assert urlsplit(url).path == object_path(customer_id, entry["name"])
        status, body, _ = fetch(url)
        assert status == 200
        assert body == content(customer_id, entry["name"])
        assert len(body) == entry["size"] and hashlib.sha256(body).hexdigest() == entry["sha256"]


EDITS = {
    "another customer's file": lambda url: with_path(url, object_path("globex", "findings.csv")),
    "another customer's manifest": lambda url: with_path(url, object_path("globex", MANIFEST)),
    "another customer's prefix": lambda url: with_path(url, f"/{BUCKET}/{PREFIX}/globex/{MONTH}/"),
    "a listing of another customer's prefix": lambda url: with_path(
        url, f"/{BUCKET}/", f"&list-type=2&prefix={PREFIX}/globex/"
    ),
    "the same customer's other file": lambda url: with_path(url, object_path("acme", "savings.csv")),
    "a longer lifetime": lambda url: url.replace("X-Amz-Expires=600", "X-Amz-Expires=604800"),
}


@pytest.mark.parametrize("edit", EDITS)
def test_edited_link_is_refused(store, edit):
    """A link for acme's findings.csv, edited by hand to reach something else, fails its signature check;
    an object it was edited to reach is there all the same (its own link opens it)."""
    url = store.link(object_key("acme", MONTH, "findings.csv"), 600)
    assert fetch(url)[:2] == (200, content("acme", "findings.csv"))
    edited = EDITS[edit](url)
    assert edited != url
    status, body, code = fetch(edited)
    assert (status, code) == (403, "SignatureDoesNotMatch"), body[:300]
    assert b"globex only" not in body and b"acme only: savings" not in body
    if edit in ("another customer's file", "another customer's manifest", "the same customer's other file"):
        target = urlsplit(edited).path.removeprefix(f"/{BUCKET}/{PREFIX}/")
        assert fetch(store.link(target, 600))[0] == 200


def test_expired_link_is_refused(store):
    """A 2-second link opens at once and is refused after it lapses. X-Amz-Date is in whole seconds, so a
    link may lapse up to a second early: the first request still has at least a second."""
    signed_after = time.time()
    url = store.link(object_key("acme", MONTH, "findings.csv"), 2)
    assert fetch(url)[:2] == (200, content("acme", "findings.csv"))
    time.sleep(max(0.0, signed_after + 2 + 1.5 - time.time()))
    status, body, code = fetch(url)
    assert (status, code) == (403, "AccessDenied"), body[:300]
    assert b"Request has expired" in body


def test_cli_links_open_only_that_customers_files_until_they_expire(store, endpoint, tmp_path):
    root = tmp_path / "root"
    for customer_id in CUSTOMERS:
        write_customer(root, customer_id)
    s3 = {
        "TEM_DELIVERY": "s3",
        "TEM_S3_BUCKET": BUCKET,
        "TEM_S3_PREFIX": PREFIX,
        "TEM_S3_ENDPOINT_URL": endpoint,
        **CREDENTIALS,
    }
    command = ("reports", "url", "--data-root", str(root), "--customer", "acme", "--month", MONTH, "--expires")

    links = tem(*command, "600", env_extra=s3, home=tmp_path / "home")
    assert links.returncode == 0, links.stderr
    urls = dict(line.split("\t") for line in links.stdout.splitlines())
    assert set(urls) == set(FILES)
    for name, url in urls.items():
        assert urlsplit(url).path == object_path("acme", name) and "globex" not in url
        assert fetch(url)[:2] == (200, content("acme", name))
        status, body, code = fetch(with_path(url, object_path("globex", name)))
        assert (status, code) == (403, "SignatureDoesNotMatch"), body[:300]

    short = tem(*command, "1", env_extra=s3, home=tmp_path / "home")
    assert short.returncode == 0, short.stderr
    time.sleep(1 + 1.5)  # signed before the command returned: lapsed a second ago at the latest
    for url in dict(line.split("\t") for line in short.stdout.splitlines()).values():
        status, body, code = fetch(url)
        assert (status, code) == (403, "AccessDenied") and b"Request has expired" in body, body[:300]
