"""The billing months the sample covers."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

BILLING_MONTH_KEYS = ("2026-06", "2026-07", "2026-08", "2026-09")


@dataclass(frozen=True)
class BillingMonth:
    index: int
    key: str
    start: date
    end: date

    @property
    def days(self) -> int:
        return self.end.day

    @staticmethod
    def of(index: int, key: str) -> BillingMonth:
        year, month = (int(part) for part in key.split("-"))
        last = calendar.monthrange(year, month)[1]
        return BillingMonth(index, key, date(year, month, 1), date(year, month, last))


MONTHS = tuple(BillingMonth.of(i, key) for i, key in enumerate(BILLING_MONTH_KEYS))
# Terminations may predate the first billing month by one month.
TERMINATION_MONTHS = (BillingMonth.of(-1, "2026-05"),) + MONTHS


def month_of(day: date) -> int:
    return next(m.index for m in MONTHS if m.start <= day <= m.end)
