"""The months the savings of a month read (docs/audit-rules.md), in a module that imports nothing: `tem run`
plans them (pipelines/commands/cli.py) in a process that leaves the query engines to its workers."""

from __future__ import annotations

HISTORY_MONTHS = 3  # savings of month M read the usage of M-2..M


def history_months(month: str) -> list[str]:
    """The months whose usage the savings of `month` read: M-2, M-1, M as YYYY-MM."""
    year, number = int(month[:4]), int(month[5:7])
    months = []
    for back in range(HISTORY_MONTHS - 1, -1, -1):
        total = year * 12 + (number - 1) - back
        months.append(f"{total // 12:04d}-{total % 12 + 1:02d}")
    return months
