"""The delivery asset, made for the delivery target the deployment uses (the data root's published/ folder or an
S3 bucket), so that its kinds and description say where the files go."""

import polars as pl
from dagster import AssetExecutionContext, AssetsDefinition, Failure, MaterializeResult, MetadataValue, asset

from assets import metadata
from assets.stages import customer_facing
from pipelines.partitions import customer_months, split_key
from pipelines.resources import DataRootResource, DeliveryResource
from reports.publishing.delivery import DeliveryError
from reports.publishing.publish import PublishError, deliver, deliverable_files
from reports.warehouse.readiness import not_reconciled_reason

# delivery target -> (kinds, where the files go)
TARGETS = {
    "local": ({"folder"}, "the data root's published/<customer>/<month>/ folder, where they already are"),
    "s3": ({"s3"}, "the S3 bucket (TEM_S3_BUCKET, under TEM_S3_PREFIX) as <customer>/<month>/<file>"),
}


def delivered_to(delivery: DeliveryResource, customer_id: str, month: str) -> MetadataValue:
    """Where this customer-month's files went, as the target names it."""
    if delivery.target == "s3":
        prefix = delivery.prefix.strip("/")
        return MetadataValue.path(f"s3://{delivery.bucket}/{prefix + '/' if prefix else ''}{customer_id}/{month}/")
    return MetadataValue.path(f"published/{customer_id}/{month}/")


def delivery_asset(target: str) -> AssetsDefinition:
    """The delivery asset for DeliveryResource.target `target` ("local" or "s3"; another is refused when it runs)."""
    kinds, where = TARGETS.get(target, (set(), f"the delivery target {target!r}"))

    @asset(
        name="delivery",
        partitions_def=customer_months,
        kinds={*kinds, "json"},
        deps=["customer_report", "findings_report", "savings_report", "quarantine_report"],
        description=f"Delivers the customer-month's published files (with a disputes-<carrier>.csv per carrier with "
        f"findings) to {where}, then manifest.json listing every file with its size and SHA-256, written last.",
        **customer_facing(),
    )
    def delivery(
        context: AssetExecutionContext, data_root: DataRootResource, delivery: DeliveryResource
    ) -> MaterializeResult:
        customer_id, month = split_key(context.partition_key)
        if reason := not_reconciled_reason(data_root.warehouse, customer_id, month):
            return metadata.skipped(context, reason)
        try:
            files = deliverable_files(data_root.root.published_dir(customer_id, month))
            manifest = deliver(delivery.store(data_root.root), customer_id, month, files)
        except (PublishError, DeliveryError) as problem:
            raise Failure(description=f"{customer_id} {month}: {problem}") from None
        delivered = pl.DataFrame(
            [(f["name"], f["size"], f["sha256"]) for f in manifest["files"]],
            orient="row",
            schema={"file": pl.String, "bytes": pl.Int64, "sha256": pl.String},
        )
        return MaterializeResult(
            metadata={
                "target": delivery.target,
                "delivered_to": delivered_to(delivery, customer_id, month),
                "files": metadata.table(delivered),
            }
        )

    return delivery
