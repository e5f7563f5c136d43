"""The two jobs: load a customer's contracts, and reconcile one customer-month."""

from dagster import AssetSelection, define_asset_job, in_process_executor

CONTRACTS_JOB = "load_customer_contracts"
RECONCILE_JOB = "reconcile_customer_month"
CONTRACTS_SELECTION = AssetSelection.assets("customer_contracts")

contracts_job = define_asset_job(
    CONTRACTS_JOB,
    selection=CONTRACTS_SELECTION,
    description="Load and validate one customer's settings and carrier contracts.",
)
reconcile_job = define_asset_job(
    RECONCILE_JOB,
    selection=AssetSelection.all() - CONTRACTS_SELECTION,
    description="Ingest, audit and publish one customer-month.",
    # the steps of a customer-month depend on each other and share the in-process phone-number cache: one
    # process per run (not one per step) keeps a backfill of many small months from paying Python start-up
    # a dozen times per run; runs still execute in parallel, one process each
    executor_def=in_process_executor,
)
