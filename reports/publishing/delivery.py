"""Object stores behind one interface: the local published/ folder and an S3 bucket (through boto3).

Keys are `<customer_id>/<YYYY-MM>/<file>` under the store's prefix; every part is validated
before it becomes a key. S3 objects are written with server-side encryption requested.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from pathlib import Path

from reports.layout import LINK_REFUSED, atomic_replace, file_sha256, temp_path_for
from schemas.names import validate_id, validate_month

MANIFEST = "manifest.json"
FILE_NAME_CHARACTERS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")


class DeliveryError(RuntimeError):
    """A delivery or link request that cannot be served; the message says what to do."""


def object_key(customer_id: str, month: str, name: str) -> str:
    if not name or name.startswith(".") or not set(name) <= FILE_NAME_CHARACTERS:
        raise DeliveryError(f"file name {name!r} may not be delivered")
    return f"{validate_id(customer_id)}/{validate_month(month)}/{name}"


def build_manifest(customer_id: str, month: str, files: list[Path]) -> bytes:
    """Every delivered file with its size and SHA-256; no timestamps, so the same files give the same manifest."""
    entries = [{"name": p.name, "size": p.stat().st_size, "sha256": file_sha256(p)} for p in sorted(files)]
    document = {"customer_id": customer_id, "billing_month": month, "files": entries}
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


class ObjectStore(ABC):
    @abstractmethod
    def put_file(self, key: str, path: Path) -> None: ...

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def get_bytes(self, key: str) -> bytes | None: ...

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def link(self, key: str, expires_seconds: int) -> str: ...

    @abstractmethod
    def list_keys(self, prefix: str) -> list[str]: ...

    @abstractmethod
    def download(self, key: str, path: Path) -> None: ...

    def mirror(self, prefix: str, folder: Path) -> list[str]:
        """Make `folder` hold exactly the objects under `prefix` (same relative paths), downloading each to a
        temporary name first. Keys whose parts are not safe file names are skipped and returned, and so are keys
        whose local path is, or passes through, a symbolic link: nothing is written through a link (a `folder`
        that is a link is left alone entirely)."""
        keys = self.list_keys(prefix)
        if folder.is_symlink():
            return keys
        skipped, wanted = [], set()
        for key in keys:
            relative = key[len(prefix) :].lstrip("/")
            parts = relative.split("/")
            if not relative or any(not part or part in (".", "..") or part.startswith(".") for part in parts):
                skipped.append(key)
                continue
            target = folder.joinpath(*parts)
            if any(folder.joinpath(*parts[:depth]).is_symlink() for depth in range(1, len(parts) + 1)):
                skipped.append(key)
                continue
            wanted.add(target)
            tmp = temp_path_for(target)
            try:
                self.download(key, tmp)
                atomic_replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
        if folder.is_dir():
            for stale in [p for p in folder.rglob("*") if p.is_file() and p not in wanted]:
                stale.unlink()
        return skipped

    def deliver(self, customer_id: str, month: str, files: list[Path]) -> dict:
        """Upload the files, then the manifest last: a reader that finds a manifest finds a complete delivery.
        A file that is a symbolic link is refused before anything is touched: it could be another customer's."""
        for path in files:
            if path.is_symlink() or not path.is_file():
                problem = LINK_REFUSED if path.is_symlink() else "is not a file"
                raise DeliveryError(f"published/{object_key(customer_id, month, path.name)}: {problem}")
        manifest_key = object_key(customer_id, month, MANIFEST)
        self.delete(manifest_key)  # a re-delivery is incomplete until its new manifest is written
        for path in sorted(files):
            self.put_file(object_key(customer_id, month, path.name), path)
        manifest = build_manifest(customer_id, month, files)
        self.put_bytes(manifest_key, manifest)
        return json.loads(manifest)

    def manifest(self, customer_id: str, month: str) -> dict | None:
        data = self.get_bytes(object_key(customer_id, month, MANIFEST))
        if data is None:
            return None
        try:
            document = json.loads(data)
            names = [entry["name"] for entry in document["files"]]
        except (ValueError, TypeError, KeyError):
            raise DeliveryError(
                f"{customer_id} {month}: {MANIFEST} is damaged (not a manifest of this pipeline); "
                "run tem run for that month again to deliver it anew"
            ) from None
        if not all(isinstance(name, str) for name in names):
            raise DeliveryError(
                f"{customer_id} {month}: {MANIFEST} is damaged (a file name is not text); "
                "run tem run for that month again to deliver it anew"
            )
        return document


class LocalStore(ObjectStore):
    """The data root's published/ folder: files are already in place; only the manifest is written.

    Nothing is read, written or linked through a symbolic link: a customer or month folder or a file that is a
    link, or resolves outside published/<customer>/<month>/, is refused (DeliveryError), so a link can never hand
    out, or overwrite, another customer's files."""

    def __init__(self, root: Path):
        self.root = root

    def _path(self, key: str) -> Path:
        parts = [part for part in key.split("/") if part]
        shown = "/".join([self.root.name, *parts])
        if any(part in (".", "..") for part in parts):
            raise DeliveryError(f"{shown}: not a delivery path")
        path = self.root
        for depth, part in enumerate(parts, start=1):
            path = path / part
            if path.is_symlink():
                raise DeliveryError(f"{'/'.join([self.root.name, *parts[:depth]])}: {LINK_REFUSED}")
        if path.resolve() != self.root.resolve().joinpath(*parts):
            raise DeliveryError(f"{shown}: resolves outside {'/'.join([self.root.name, *parts[:2]])}; refused")
        return path

    def manifest(self, customer_id: str, month: str) -> dict | None:
        """The manifest, once every file it lists is checked as well: links are refused before any is handed out."""
        document = super().manifest(customer_id, month)
        for entry in (document or {}).get("files", []):
            self._path(object_key(customer_id, month, entry["name"]))
        return document

    def put_file(self, key: str, path: Path) -> None:
        target = self._path(key)
        if target.resolve() == path.resolve():
            return
        tmp = temp_path_for(target)
        tmp.write_bytes(path.read_bytes())
        atomic_replace(tmp, target)

    def put_bytes(self, key: str, data: bytes) -> None:
        target = self._path(key)
        tmp = temp_path_for(target)
        tmp.write_bytes(data)
        atomic_replace(tmp, target)

    def get_bytes(self, key: str) -> bytes | None:
        path = self._path(key)
        return path.read_bytes() if path.exists() else None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def link(self, key: str, expires_seconds: int) -> str:
        return self._path(key).resolve().as_uri()  # a local file needs no signature; it never expires

    def list_keys(self, prefix: str) -> list[str]:
        base = self._path(prefix)
        if not base.is_dir():
            return []
        keys = sorted(p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file() or p.is_symlink())
        for key in keys:
            self._path(key)  # a link among them is refused
        return keys

    def download(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self._path(key).read_bytes())


class S3Store(ObjectStore):
    """An S3 bucket (or any S3-compatible endpoint) under a prefix, through boto3."""

    def __init__(
        self, bucket: str, prefix: str = "", endpoint_url: str | None = None, region: str | None = None, client=None
    ):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or os.environ.get("AWS_REGION", "us-east-1"),
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key  # _key("") is the prefix with its slash

    def put_file(self, key: str, path: Path) -> None:
        self.client.upload_file(str(path), self.bucket, self._key(key), ExtraArgs={"ServerSideEncryption": "AES256"})

    def put_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._key(key),
            Body=data,
            ServerSideEncryption="AES256",
            ContentType="application/json",
        )

    def get_bytes(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise DeliveryError(f"s3://{self.bucket}/{self._key(key)}: {error.response['Error'].get('Code')}") from None

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def list_keys(self, prefix: str) -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        keys = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            keys.extend(item["Key"][len(self._key("")) :] for item in page.get("Contents", []))
        return sorted(keys)

    def download(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.client.download_file(self.bucket, self._key(key), str(path))

    def link(self, key: str, expires_seconds: int) -> str:
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=expires_seconds
        )
