"""Resources: where the data root is, and where the pseudonymization key comes from.

Assets never read os.environ: configuration arrives through these resources (EnvVar in
definitions.py), so the UI shows it and tests can pass their own.
"""

from __future__ import annotations

import logging
from typing import Optional

from dagster import ConfigurableResource

from assets.pseudonymize import Pseudonymizer, load_or_create_dev_key, parse_master_key
from assets.warehouse import Warehouse
from pipelines.layout import DataRoot, validate_id

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
    """The master secret (TEM_MASTER_KEY, 64 hex characters). Without one, a development key
    is created under the data root's .secrets/ and a warning is logged."""

    master_key: Optional[str] = None

    def pseudonymizer(self, customer_id: str, data_root: DataRoot, logger=None) -> Pseudonymizer:
        validate_id(customer_id)
        if self.master_key:
            key = parse_master_key(self.master_key)
        else:
            (logger or log).warning(
                "TEM_MASTER_KEY is not set: using the development key in %s. "
                "Set TEM_MASTER_KEY (64 hex characters) in production.",
                data_root.secrets_dir() / "master.key",
            )
            key = load_or_create_dev_key(data_root.secrets_dir())
        return Pseudonymizer(key, customer_id)
