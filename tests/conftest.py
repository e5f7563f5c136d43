"""Shared test settings.

The calendar is pinned for every test and every process a test starts: the billing-month partitions end with
TEM_TODAY's month (schemas/clock.py), so no test depends on the day it runs. The sample's months are 2026-06 to
2026-09; the pinned day falls in the month after them.
"""

import os

PINNED_TODAY = "2026-10-15"
os.environ["TEM_TODAY"] = PINNED_TODAY  # before any test module imports the definitions
