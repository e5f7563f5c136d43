"""A customer typed into Dagster's launch dialog, with no folder under customers/ or inbox/, does not stay."""

from dagster import DeleteDynamicPartitionsRequest, build_sensor_context, instance_for_test

from pipelines.automation import inbox_sensor
from pipelines.partitions import customers_partitions
from pipelines.resources import DataRootResource, InboxResource
from tests.support.builders import write_customer


def test_the_inbox_sensor_removes_customer_partitions_without_a_folder(tmp_path):
    write_customer(tmp_path, "acme")
    resources = {"data_root": DataRootResource(path=str(tmp_path)), "inbox": InboxResource()}
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(customers_partitions.name, ["acme", "acme-typo"])
        with build_sensor_context(instance=instance, resources=resources) as context:
            result = inbox_sensor(context)
    deletes = [r for r in result.dynamic_partitions_requests if isinstance(r, DeleteDynamicPartitionsRequest)]
    assert [(r.partitions_def_name, list(r.partition_keys)) for r in deletes] == [("customers", ["acme-typo"])]
