"""The documented team configuration (deploy/dagster-postgres.yaml) against a real PostgreSQL server:
`tem run` records its runs there and a second process reads them back."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.builders import (
    INVOICE_HEADER,
    ROSTER_HEADER,
    USAGE_HEADER,
    charge_row,
    drop,
    roster_row,
    usage_row,
    write_csv,
    write_customer,
)
from tests.support.postgres_server import postgres_server

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def postgres():
    try:
        with postgres_server() as settings:
            yield settings
    except RuntimeError as problem:
        pytest.skip(f"no PostgreSQL server could be started: {problem}")


def test_runs_are_recorded_in_postgres(tmp_path, postgres):
    root = tmp_path / "root"
    write_customer(root, "acme")
    folder = drop(root, "acme", "2026-06")
    write_csv(folder / "roster.csv", ROSTER_HEADER, [roster_row("+14155550100")])
    write_csv(folder / "invoices" / "inv-1.csv", INVOICE_HEADER, [charge_row("+14155550100")])
    write_csv(folder / "usage" / "u.csv", USAGE_HEADER, [usage_row("2026-06-01", "+14155550100")])
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPOSITORY / "deploy" / "dagster-postgres.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEM_", "DAGSTER_")) or k == "TEM_TODAY"}
    env.update(postgres, DAGSTER_HOME=str(home), TEM_MASTER_KEY="3c" * 32)

    run = subprocess.run(
        [sys.executable, "-m", "pipelines.commands.cli", "run", "--data-root", str(root)],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert not list(home.glob("**/*.db")), "nothing may fall back to SQLite"

    reader = subprocess.run(
        [
            sys.executable,
            "-c",
            "from dagster import DagsterInstance; i = DagsterInstance.get(); "
            "print(type(i.run_storage).__name__, sorted(r.job_name for r in i.get_runs()), "
            "sorted(i.get_dynamic_partitions('customers')))",
        ],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert reader.returncode == 0, reader.stderr[-2000:]
    assert reader.stdout.split(" ", 1)[0] == "PostgresRunStorage"
    # the contracts run, then the customer-month's audit, savings and publish runs (one job per stage)
    assert (
        "['audit_customer_month', 'load_customer_contracts', 'publish_customer_month', 'recommend_savings'] ['acme']"
    ) in reader.stdout
