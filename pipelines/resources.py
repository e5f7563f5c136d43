"""Resources: where the data root is, and where the pseudonymization key comes from.

Assets never read os.environ: configuration arrives through these resources (EnvVar in
definitions.py), so the UI shows it and tests can pass their own.
"""

from __future__ import annotations

import logging
import os
from typing import Optional

from dagster import ConfigurableResource, EnvVar, Failure

from reports.inputs.pseudonymize import MasterKeyError, Pseudonymizer
from reports.layout import DataRoot
from reports.privacy import keys
from reports.publishing.delivery import DeliveryError, LocalStore, ObjectStore, S3Store
from reports.warehouse.store import Warehouse
from schemas.names import ID_PATTERN, validate_id

log = logging.getLogger("tem")


class DataRootResource(ConfigurableResource):
    """The local data root: customers/, inbox/, warehouse/, published/."""

    path: str

    @property
    def root(self) -> DataRoot:
        return DataRoot.at(self.path)

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(self.root)


class PseudonymKeyResource(ConfigurableResource):
    """The master key (TEM_MASTER_KEY, 64 hex characters), which wraps each customer's own data key
    (reports/privacy/keys.py, docs/keys.md). None (TEM_MASTER_KEY unset): a development master key is created under
    the data root's .secrets/ and a warning is logged; an empty value is refused like any malformed key."""

    master_key: Optional[str] = None

    def pseudonymizer(self, customer_id: str, data_root: DataRoot, logger=None) -> Pseudonymizer:
        """The customer's pseudonymizer, built on its data key (created on first use). Any key problem fails the
        step with one line naming the customer, before the caller writes anything."""
        validate_id(customer_id)
        try:
            master_key = keys.resolve_master_key(data_root, self.master_key)
            if self.master_key is None:
                keys.warn_development_key(data_root, (logger or log).warning)
            data_key = keys.open_customer_key(data_root, customer_id, master_key, create=True)
            keys.record_warehouse_key(data_root, customer_id, data_key)
        except MasterKeyError as problem:
            raise Failure(description=f"customer {customer_id}: {problem}") from None
        except keys.KeyProblem as problem:
            raise Failure(description=str(problem)) from None
        return Pseudonymizer(data_key, customer_id)


def _environment_setting(deferred: bool):
    """A reader of optional settings: EnvVar for Dagster (resolved at run time, shown in the UI) or the value
    itself for the command line; None when the variable is unset or empty."""

    def setting(name: str):
        if not os.environ.get(name):
            return None
        return EnvVar(name) if deferred else os.environ[name]

    return setting


class DeliveryResource(ConfigurableResource):
    """Where published files are delivered: the data root's published/ folder (default) or an S3 bucket.

    S3 credentials come from the standard AWS environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    AWS_PROFILE, instance roles), never from this configuration."""

    target: str = "local"  # "local" or "s3"
    bucket: Optional[str] = None
    prefix: str = ""
    endpoint_url: Optional[str] = None  # an S3-compatible endpoint; empty for AWS
    region: Optional[str] = None

    @classmethod
    def from_environment(cls, deferred: bool = True) -> "DeliveryResource":
        """TEM_DELIVERY, TEM_S3_BUCKET, TEM_S3_PREFIX, TEM_S3_ENDPOINT_URL, AWS_REGION; as EnvVar for Dagster
        (deferred, shown in the UI) or as values for the command line."""
        setting = _environment_setting(deferred)
        return cls(
            target=os.environ.get("TEM_DELIVERY") or "local",
            bucket=setting("TEM_S3_BUCKET"),
            prefix=os.environ.get("TEM_S3_PREFIX", ""),
            endpoint_url=setting("TEM_S3_ENDPOINT_URL"),
            region=setting("AWS_REGION"),
        )

    def store(self, data_root: DataRoot) -> ObjectStore:
        if self.target == "local":
            return LocalStore(data_root.path / "published")
        if self.target == "s3":
            if not self.bucket:
                raise DeliveryError("delivery target s3 needs a bucket: set TEM_S3_BUCKET")
            return S3Store(self.bucket, self.prefix, self.endpoint_url, self.region)
        raise DeliveryError(f"unknown delivery target {self.target!r}: use 'local' or 's3' (TEM_DELIVERY)")


class InboxResource(ConfigurableResource):
    """Where customers deliver: the data root itself (default) or an S3 bucket with the same layout
    (`<prefix>/customers/...`, `<prefix>/inbox/<customer>/<YYYY-MM>/...`). An S3 inbox is mirrored into the
    data root's customers/ and inbox/ folders, the only local places customer files may live, before
    anything reads them."""

    source: str = "local"  # "local" or "s3"
    bucket: Optional[str] = None
    prefix: str = ""
    endpoint_url: Optional[str] = None
    region: Optional[str] = None

    @classmethod
    def from_environment(cls, deferred: bool = True) -> "InboxResource":
        """TEM_INBOX, TEM_INBOX_BUCKET, TEM_INBOX_PREFIX, TEM_S3_ENDPOINT_URL, AWS_REGION."""
        setting = _environment_setting(deferred)
        return cls(
            source=os.environ.get("TEM_INBOX") or "local",
            bucket=setting("TEM_INBOX_BUCKET"),
            prefix=os.environ.get("TEM_INBOX_PREFIX", ""),
            endpoint_url=setting("TEM_S3_ENDPOINT_URL"),
            region=setting("AWS_REGION"),
        )

    def _store(self) -> ObjectStore:
        if not self.bucket:
            raise DeliveryError("an S3 inbox needs a bucket: set TEM_INBOX_BUCKET")
        return S3Store(self.bucket, self.prefix, self.endpoint_url, self.region)

    def sync(self, data_root: DataRoot, logger=None) -> list[str]:
        """Mirror the S3 inbox and customer files into the data root (nothing to do for a local inbox).
        Returns the keys skipped because their names are not valid customer ids, months or file names."""
        if self.source == "local":
            return []
        if self.source != "s3":
            raise DeliveryError(f"unknown inbox source {self.source!r}: use 'local' or 's3' (TEM_INBOX)")
        store = self._store()
        skipped = []
        for top in ("customers", "inbox"):
            names = {key.split("/")[1] for key in store.list_keys(f"{top}/") if key.count("/") >= 2}
            for name in sorted(names):
                if not ID_PATTERN.fullmatch(name):
                    skipped.append(f"{top}/{name}")
                    continue
                skipped += store.mirror(f"{top}/{name}/", data_root.path / top / name)
        for item in skipped:
            (logger or log).warning("ignoring %s in the S3 inbox: not a valid customer id or file name", item)
        return skipped
