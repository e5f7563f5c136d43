"""Today's date, for everything that reads the calendar: one place that operators and tests can pin.

Set ``TEM_TODAY=YYYY-MM-DD`` to pin it (the test suite does, so no test depends on the day it runs);
otherwise it is today's date in UTC. The billing-month partitions end with this date's month.
"""

from __future__ import annotations

import datetime as dt
import os
import re

TODAY_VARIABLE = "TEM_TODAY"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class InvalidClock(ValueError):
    """TEM_TODAY is set but is not a YYYY-MM-DD date."""


def pinned_today() -> dt.date | None:
    """The date TEM_TODAY pins, or None when it is not set."""
    value = os.environ.get(TODAY_VARIABLE, "").strip()
    if not value:
        return None
    try:
        if not _DATE.fullmatch(value):
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidClock(f"{TODAY_VARIABLE}={value!r} is not a date of the form YYYY-MM-DD") from None


def real_today() -> dt.date:
    """The machine's date in UTC, whatever TEM_TODAY says."""
    return dt.datetime.now(dt.timezone.utc).date()


def today() -> dt.date:
    """The pinned date, else today's date in UTC."""
    return pinned_today() or real_today()


def months_between(start: dt.date, end: dt.date) -> int:
    """Whole calendar months from `start`'s month to `end`'s month (negative when `end` is earlier)."""
    return (end.year - start.year) * 12 + end.month - start.month


def month_key(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def first_day_after_month(day: dt.date) -> dt.date:
    """The first day of the month after `day`'s month."""
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


REPORT_DEADLINE_DAY = 5  # a month's report is due by the 5th of the following month (docs/operations.md)


def report_deadline(billing_month: str) -> dt.date:
    """The last day on which the report of `billing_month` (YYYY-MM) is on time: the 5th of the following month."""
    following = first_day_after_month(dt.date(int(billing_month[:4]), int(billing_month[5:7]), 1))
    return following.replace(day=REPORT_DEADLINE_DAY)
