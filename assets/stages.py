"""The four stages every asset belongs to: the group the UI draws it in, the concurrency pool its steps wait in
(limits in dagster.yaml), who owns it and who reads it."""

from __future__ import annotations

INGEST, AUDIT, SAVINGS, PUBLISH = "ingest", "audit", "savings", "publish"

# Concurrency pools keep a backfill of many customer-months from running more heavy steps at once than the machine
# has cores and memory for.
INGEST_POOL, DUCKDB_POOL, PUBLISH_POOL = "tem_ingest", "tem_duckdb", "tem_publish"

PLATFORM = ["team:tem-platform"]  # the warehouse tables, pseudonymized: the pipeline's own
ANALYSTS = ["team:tem-analysts"]  # what the customer receives, in the clear for that customer alone
INTERNAL = {"audience": "internal"}
CUSTOMER = {"audience": "customer"}


def internal(group: str, pool: str | None = None) -> dict:
    """@asset arguments of a warehouse asset of `group`."""
    return {"group_name": group, "owners": PLATFORM, "tags": INTERNAL, **({"pool": pool} if pool else {})}


def customer_facing(pool: str = PUBLISH_POOL) -> dict:
    """@asset arguments of an asset that publishes or delivers to the customer."""
    return {"group_name": PUBLISH, "owners": ANALYSTS, "tags": CUSTOMER, "pool": pool}
