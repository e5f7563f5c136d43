"""The one Dagster root: merges the small definitions of each stage."""

from __future__ import annotations

import os
import warnings

from dagster import BetaWarning, Definitions, EnvVar, with_source_code_references

from assets import audit, delivery, ingest, publish, report, savings
from pipelines import automation, deadlines, lifecycle
from pipelines.jobs import contracts_job, reconcile_job, stage_jobs
from pipelines.resources import DataRootResource, DeliveryResource, InboxResource, PseudonymKeyResource
from reports.layout import BUNDLED_DATA_ROOT


def _resources(delivery_resource: DeliveryResource) -> dict:
    # Configuration comes from the environment through EnvVar, so the UI shows where it came from.
    data_root = EnvVar("TEM_DATA_ROOT") if os.environ.get("TEM_DATA_ROOT") else str(BUNDLED_DATA_ROOT)
    # set (even empty, which the resource refuses) or unset (the development key): never one taken for the other
    master_key = EnvVar("TEM_MASTER_KEY") if "TEM_MASTER_KEY" in os.environ else None
    return {
        "data_root": DataRootResource(path=data_root),
        "pseudonym_key": PseudonymKeyResource(master_key=master_key),
        "delivery": delivery_resource,
        "inbox": InboxResource.from_environment(),
    }


def _with_code_references(assets: list) -> list:
    """The assets, each linked to its source file and line (the UI's code link); the API is beta in Dagster 1.13."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        return list(with_source_code_references(assets))


def stage_definitions(delivery_target: str = "local") -> dict[str, Definitions]:
    """One small Definitions per stage. Built in a function: Dagster allows one Definitions at module scope.
    `delivery_target` is DeliveryResource.target: the delivery asset says where it delivers."""
    return {
        "ingest": Definitions(
            assets=_with_code_references(
                [ingest.customer_contracts, ingest.roster, ingest.invoice_charges, ingest.device_usage]
            ),
            asset_checks=ingest.INGEST_CHECKS,
        ),
        "audit": Definitions(
            assets=_with_code_references([audit.line_month_usage, audit.findings]), asset_checks=[audit.findings_sanity]
        ),
        "savings": Definitions(assets=_with_code_references([savings.savings])),
        "publish": Definitions(
            assets=_with_code_references(
                [
                    publish.quarantine_report,
                    publish.findings_report,
                    publish.savings_report,
                    report.customer_report,
                    delivery.delivery_asset(delivery_target),
                ]
            ),
            asset_checks=[deadlines.delivered_by_the_5th],
        ),
        "operations": Definitions(
            jobs=[contracts_job, reconcile_job, *stage_jobs, lifecycle.purge_job, deadlines.report_deadlines_job],
            sensors=[automation.inbox_sensor],
            schedules=[automation.monthly_reconciliation, lifecycle.daily_retention_purge, deadlines.report_deadlines],
        ),
    }


_delivery = DeliveryResource.from_environment()
defs = Definitions.merge(*stage_definitions(_delivery.target).values(), Definitions(resources=_resources(_delivery)))
