"""Running `tem` the way a user does, in its own process, for the tests that drive the command line."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def tem(*args: str, home: Path, master_key: str | None, **extra: str) -> subprocess.CompletedProcess:
    """`tem ARGS` with DAGSTER_HOME=home, nothing inherited from TEM_*, AWS_* or DAGSTER_* but the suite's pinned
    TEM_TODAY; master_key=None leaves TEM_MASTER_KEY unset (the development key)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEM_", "AWS_", "DAGSTER_")) or k == "TEM_TODAY"}
    env.update({"DAGSTER_HOME": str(home), "TEM_OPERATOR": "test-operator"})
    if master_key is not None:
        env["TEM_MASTER_KEY"] = master_key
    env.update(extra)
    return subprocess.run(
        [sys.executable, "-m", "pipelines.commands.cli", *args],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@contextmanager
def instance_at(home: Path):
    """The Dagster instance of a DAGSTER_HOME, opened as `tem` opens it: with DAGSTER_HOME set (dagster.yaml's event
    log lives there, pipelines/instance_storage.py)."""
    from dagster import DagsterInstance

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with DagsterInstance.get() as instance:
            yield instance
    finally:
        os.environ.pop("DAGSTER_HOME") if previous is None else os.environ.update(DAGSTER_HOME=previous)


def copy_root(root: Path, home: Path, to: Path) -> tuple[Path, Path]:
    """A copy of a data root and its DAGSTER_HOME under `to`, for a test that changes them."""
    shutil.copytree(root, to / "root", symlinks=True)
    shutil.copytree(home, to / "home", symlinks=True)
    return to / "root", to / "home"


def tree_hash(*folders: Path) -> str:
    """Every file's path and bytes under the folders (the instance's lock file aside)."""
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name != ".tem-instance.lock":
                digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
