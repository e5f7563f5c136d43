"""The jobs: load a customer's contracts, reconcile one customer-month, and the stages `tem run` splits it into.

`reconcile_customer_month` is the whole customer-month in one run: what the UI's launches and backfills, the inbox
sensor and the monthly schedule request. `tem run` executes the same assets as the runs of RUN_STAGES, one run per
stage and partition, so that months run side by side and each run waits only for the runs whose assets it reads
(pipelines/commands/runner.py derives those waits from the asset graph). RUN_STAGES is the one place that groups
assets into runs: merge two stages (say savings and publish into one run per customer-month) and the runner plans
the new grouping from the same graph, with nothing else to change.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetCheckKey, AssetKey, AssetSelection, define_asset_job, in_process_executor

CONTRACTS_JOB = "load_customer_contracts"
RECONCILE_JOB = "reconcile_customer_month"
STAGE_TAG = "tem/stage"  # the stage of every run `tem run` launches, e.g. tem/stage=audit
CONTRACTS_SELECTION = AssetSelection.assets("customer_contracts")
# the report deadlines check (pipelines/deadlines.py) looks at every customer-month, not at the one a run delivers:
# it runs in its own job, every morning, never as part of a customer-month's run
DEADLINE_CHECK = AssetSelection.checks(AssetCheckKey(AssetKey("delivery"), "delivered_by_the_5th"))
MONTH_SELECTION = AssetSelection.all() - CONTRACTS_SELECTION - DEADLINE_CHECK
SAVINGS_SELECTION = AssetSelection.assets("savings")
# what reads the savings: savings.csv, the report, the delivery
AFTER_SAVINGS = SAVINGS_SELECTION.downstream() - SAVINGS_SELECTION - DEADLINE_CHECK


@dataclass(frozen=True)
class RunStage:
    """A group of assets that `tem run` materializes in one run per partition, as the job `job_name`."""

    name: str  # what `tem run` prints, and the run's tem/stage tag
    job_name: str
    selection: AssetSelection  # every asset of the stage must have the same partitions (a job has one)
    description: str


# In execution order (the runner orders by the asset graph; this order breaks ties and is how they are printed).
RUN_STAGES = (
    RunStage(
        "contracts",
        CONTRACTS_JOB,
        CONTRACTS_SELECTION,
        "Load and validate one customer's settings and carrier contracts.",
    ),
    RunStage(
        "audit",
        "audit_customer_month",
        MONTH_SELECTION - SAVINGS_SELECTION - AFTER_SAVINGS,
        "Ingest one customer-month (roster, invoices, usage, with their checks), audit it and publish its "
        "findings.csv and quarantine.csv.",
    ),
    RunStage(
        "savings",
        "recommend_savings",
        SAVINGS_SELECTION,
        "The savings of one customer-month, from its usage and that of the two months before.",
    ),
    RunStage(
        "publish",
        "publish_customer_month",
        AFTER_SAVINGS,
        "Publish one customer-month: savings.csv, report.xlsx (its trend reads up to 11 months before) and "
        "the delivery.",
    ),
)

# the steps of a customer-month depend on each other and share the in-process phone-number cache: one process per
# run (not one per step) keeps a backfill of many small months from paying Python start-up a dozen times per run;
# runs still execute in parallel, one process each
_JOB_KW = dict(executor_def=in_process_executor)

contracts_job = define_asset_job(CONTRACTS_JOB, selection=CONTRACTS_SELECTION, description=RUN_STAGES[0].description)
reconcile_job = define_asset_job(
    RECONCILE_JOB,
    selection=MONTH_SELECTION,
    description="Ingest, audit and publish one customer-month.",
    **_JOB_KW,
)
stage_jobs = [
    define_asset_job(
        stage.job_name,
        selection=stage.selection,
        description=stage.description,
        tags={STAGE_TAG: stage.name},
        **_JOB_KW,
    )
    for stage in RUN_STAGES
    if stage.job_name != CONTRACTS_JOB
]
