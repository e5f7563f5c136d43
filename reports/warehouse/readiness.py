"""Whether a customer-month can be reconciled further: its ingest is in the warehouse, and, for the savings rules,
three months of usage history are in the inbox and have been built."""

from __future__ import annotations

from reports.inputs.intake import drop_files
from reports.inputs.readers import InputFileError
from reports.layout import DataRoot
from reports.rules.history import history_months
from reports.warehouse.store import Warehouse
from schemas.tables import DEVICE_USAGE, DROP_FILES


class HistoryNotReady(RuntimeError):
    """An earlier month's usage is in the inbox but cannot serve as history yet; the message says what to do."""


def not_reconciled_reason(
    warehouse: Warehouse, customer_id: str, month: str, tables: tuple[str, ...] = tuple(DROP_FILES)
) -> str | None:
    """Why a customer-month has nothing to recommend or publish yet, or None when the ingested tables the caller
    reads (`tables`: by default all three) are in the warehouse.

    Savings of month M depend on the usage of M-2..M (a partition mapping), so a backfill of the months
    with drops also targets savings and reports of the one or two months after the last drop. Those
    partitions have no inbox drop, or were not ingested in that backfill: they record why and write nothing,
    rather than failing the backfill or publishing an empty report.

    The savings ask for the roster and the usage only, the tables they read: the asset graph does not make them
    wait for the invoices, so a grouping of the assets into runs (pipelines/jobs.py RUN_STAGES) may ingest those
    later or beside them, and asking for every table would race with it.
    """
    if all(warehouse.exists(customer_id, month, table) for table in tables):
        return None
    if not warehouse.data_root.drop_dir(customer_id, month).is_dir():
        return f"nothing to reconcile: the inbox has no drop for {customer_id} {month}; nothing was published"
    names = [table for table in DROP_FILES if table in tables]
    listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
    return (
        f"{customer_id} {month} has not been ingested yet: materialize its {listed} first (tem run or the "
        "reconcile_customer_month job does); nothing was published"
    )


def inbox_has_usage(data_root: DataRoot, customer_id: str, month: str) -> bool:
    """Whether the month's drop has usage files, listed as ingest lists them: a drop that would be refused (a
    symbolic link, a file of the wrong type) raises InputFileError rather than pass for history."""
    drop = data_root.drop_dir(customer_id, month)
    if not (drop.is_dir() or drop.is_symlink()):
        return False
    return bool(drop_files(data_root, customer_id, month, DEVICE_USAGE.name))


def history_status(data_root: DataRoot, warehouse: Warehouse, customer_id: str, month: str) -> tuple[bool, str]:
    """(whether the three-month rules apply, why not). Raises HistoryNotReady if an earlier month is in the
    inbox but has not been reconciled yet, or its drop would be refused."""
    try:
        missing_in_inbox = [m for m in history_months(month) if not inbox_has_usage(data_root, customer_id, m)]
    except InputFileError as problem:
        raise HistoryNotReady(f"usage history: {problem}") from None
    if missing_in_inbox:
        return False, (
            f"usage history incomplete: the inbox has no usage for {', '.join(missing_in_inbox)}; "
            "ZERO_USAGE_LINE, PLAN_RIGHTSIZE and UNUSED_FEATURE need M-2, M-1 and M"
        )
    not_built = [m for m in history_months(month) if not warehouse.exists(customer_id, m, "line_month_usage")]
    if not_built:
        raise HistoryNotReady(
            f"line_month_usage of {', '.join(not_built)} is not in the warehouse (that month failed "
            "or was not run); reconcile it first"
        )
    return True, "three months of usage history"
