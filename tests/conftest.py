"""Shared test settings.

The calendar is pinned for every test and every process a test starts: the billing-month partitions end with
TEM_TODAY's month (schemas/clock.py), so no test depends on the day it runs. The sample's months are 2026-06 to
2026-09; the pinned day falls in the month after them.

The tests are grouped by layer (docs/architecture.md): unit/ (pure functions), assets/ (Dagster definitions
materialized in process), end_to_end/ (the `tem` command), services/ (tests that start a server: S3, PostgreSQL,
the Dagster webserver, chromium). Every test under services/ is marked `slow`: `pytest -m "not slow"` leaves them out.
"""

import os
from pathlib import Path

import pytest

PINNED_TODAY = "2026-10-15"
os.environ["TEM_TODAY"] = PINNED_TODAY  # before any test module imports the definitions

SERVICES = Path(__file__).resolve().parent / "services"


def pytest_collection_modifyitems(items):
    for item in items:
        if SERVICES in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.slow)
