"""The one Dagster root: merges the small definitions of each stage."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import Definitions, EnvVar

from assets import audit, ingest, publish, report, savings
from pipelines import automation, lifecycle
from pipelines.jobs import contracts_job, reconcile_job
from pipelines.resources import DataRootResource, DeliveryResource, InboxResource, PseudonymKeyResource

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_ROOT = REPOSITORY_ROOT / "data"



def _resources() -> dict:
    # Configuration comes from the environment through EnvVar, so the UI shows where it came from.
    data_root = EnvVar("TEM_DATA_ROOT") if os.environ.get("TEM_DATA_ROOT") else str(DEFAULT_DATA_ROOT)
    # set (even empty, which the resource refuses) or unset (the development key): never one taken for the other
    master_key = EnvVar("TEM_MASTER_KEY") if "TEM_MASTER_KEY" in os.environ else None
    return {
        "data_root": DataRootResource(path=data_root),
        "pseudonym_key": PseudonymKeyResource(master_key=master_key),
        "delivery": DeliveryResource.from_environment(),
        "inbox": InboxResource.from_environment(),
    }


def stage_definitions() -> dict[str, Definitions]:
    """One small Definitions per stage. Built in a function: Dagster allows one Definitions at module scope."""
    return {
        "ingest": Definitions(
            assets=[ingest.customer_contracts, ingest.roster, ingest.invoice_charges, ingest.device_usage],
            asset_checks=[
                ingest.roster_row_accounting,
                ingest.invoice_charges_row_accounting,
                ingest.device_usage_row_accounting,
                ingest.roster_schema,
                ingest.invoice_charges_schema,
                ingest.device_usage_schema,
                ingest.invoice_totals,
            ],
        ),
        "audit": Definitions(assets=[audit.line_month_usage, audit.findings], asset_checks=[audit.findings_sanity]),
        "savings": Definitions(assets=[savings.savings]),
        "publish": Definitions(
            assets=[publish.quarantine_report, publish.findings_report, publish.savings_report,
                    report.customer_report, report.delivery]  # fmt: skip
        ),
        "operations": Definitions(
            jobs=[contracts_job, reconcile_job, lifecycle.purge_job],
            sensors=[automation.inbox_sensor],
            schedules=[automation.monthly_reconciliation, lifecycle.daily_retention_purge],
        ),
    }


defs = Definitions.merge(*stage_definitions().values(), Definitions(resources=_resources()))
