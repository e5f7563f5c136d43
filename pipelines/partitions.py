"""Partitions, declared once: customer (dynamic, registered from the inbox) x billing month."""

import warnings

from dagster import (
    BetaWarning,
    DimensionPartitionMapping,
    DynamicPartitionsDefinition,
    IdentityPartitionMapping,
    MonthlyPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionMapping,
    MultiPartitionsDefinition,
    PreviewWarning,
    TimeWindowPartitionMapping,
)

from reports.layout import DataRoot, configured_data_root
from schemas import clock

CUSTOMER_DIMENSION = "customer"
MONTH_DIMENSION = "month"

# Partitioned asset checks (preview) and multi-dimension partition mappings (beta) are what per-customer-month
# checks and the three-month usage history need in Dagster 1.13; we pin Dagster, so silence their warnings.
warnings.filterwarnings("ignore", category=PreviewWarning)
warnings.filterwarnings("ignore", category=BetaWarning)

customers_partitions = DynamicPartitionsDefinition(name="customers")


def first_billing_month(data_root: DataRoot) -> str:
    """The earliest month any customer dropped in the inbox; the current month when there is none.

    The month dimension starts there, so the UI lists the months that exist rather than years of empty ones
    ("12 / 15 partitions", not "12 / 252"). Read when the definitions load: a drop for an even earlier month is
    picked up when the code location reloads (`tem run` loads them for every command)."""
    try:
        months = [month for customer_id in data_root.customers() for month in data_root.months(customer_id)]
    except OSError:  # an unreadable inbox: the runs that read it say why
        months = []
    return min(months, default=clock.month_key(clock.today()))


def _billing_months(first_month: str | None = None) -> MonthlyPartitionsDefinition:
    """Months from the first drop (first_billing_month) up to and including the current one.

    end_offset=1 lets the current (still open) month be reconciled too, as carriers bill early. With TEM_TODAY set
    (schemas/clock.py) the set ends with that date's month whatever Dagster's own clock says, so tests, and
    an operator replaying the past, see a calendar that does not move."""
    start = min(first_month or first_billing_month(DataRoot(configured_data_root())), clock.month_key(clock.today()))
    pinned = clock.pinned_today()
    if not pinned:
        return MonthlyPartitionsDefinition(start_date=start, fmt="%Y-%m", end_offset=1)
    # Dagster ends the set at the earlier of end_date and its own clock's month + end_offset: reach far enough
    # ahead of the machine's clock that end_date always decides, a pin in the future included
    ahead = max(0, clock.months_between(clock.real_today(), pinned))
    end = clock.first_day_after_month(pinned).strftime("%Y-%m")
    return MonthlyPartitionsDefinition(start_date=start, fmt="%Y-%m", end_offset=ahead + 2, end_date=end)


billing_months = _billing_months()
customer_months = MultiPartitionsDefinition({CUSTOMER_DIMENSION: customers_partitions, MONTH_DIMENSION: billing_months})


def trailing_months(count: int) -> MultiPartitionMapping:
    """Depend on the same customer's `count` months up to and including this one (M-count+1 .. M).

    Asset backfills walk downstream through it too: a change in month M also targets the following months that
    read it; those without an inbox drop record that they had nothing to do."""
    return MultiPartitionMapping(
        {
            CUSTOMER_DIMENSION: DimensionPartitionMapping(CUSTOMER_DIMENSION, IdentityPartitionMapping()),
            MONTH_DIMENSION: DimensionPartitionMapping(
                MONTH_DIMENSION,
                TimeWindowPartitionMapping(
                    start_offset=1 - count, end_offset=0, allow_nonexistent_upstream_partitions=True
                ),
            ),
        }
    )


def month_outside_partitions(month: str) -> str | None:
    """Why a YYYY-MM month cannot be run (before the first billing month, or after the current one), or None."""
    if billing_months.has_partition_key(month):
        return None
    first, last = billing_months.get_first_partition_key(), billing_months.get_last_partition_key()
    return f"month {month} is outside the partitions {first}..{last}"


def customer_month_key(customer_id: str, month: str) -> MultiPartitionKey:
    return MultiPartitionKey({CUSTOMER_DIMENSION: customer_id, MONTH_DIMENSION: month})


def split_key(partition_key) -> tuple[str, str]:
    """(customer_id, month) of a customer x month partition key."""
    if isinstance(partition_key, MultiPartitionKey):
        dims = partition_key.keys_by_dimension
    else:  # a plain string key such as "2026-06|globex"
        dims = customer_months.get_partition_key_from_str(str(partition_key)).keys_by_dimension
    return dims[CUSTOMER_DIMENSION], dims[MONTH_DIMENSION]
