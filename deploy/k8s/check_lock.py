"""Fail the image build when the image holds a package that requirements.lock does not pin, at that version.

`pip install -c requirements.lock ...` pins every package the lock names, but a constraint file cannot refuse
a package it does not name: pip installs it at whatever version the index offers. Run after the install:

    python check_lock.py requirements.lock dagster-k8s

Every installed distribution except the project itself and the base image's pip, setuptools and wheel must
appear in the lock with the same version, and each name given after the lock must be installed (so an
extra that resolves to nothing, such as a `k8s` extra missing from pyproject.toml, fails the build too).
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import distributions
from pathlib import Path

PROJECT = "tem-pipeline"
BASE_IMAGE_TOOLS = {"pip", "setuptools", "wheel"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            if not sep:
                raise ValueError(f"{path}: {line!r} is not pinned with ==")
            pins[canonical(name)] = version.strip()
    return pins


def problems(installed: dict[str, str], lock: dict[str, str], required: list[str]) -> list[str]:
    found = []
    for name, version in sorted(installed.items()):
        if name == PROJECT or name in BASE_IMAGE_TOOLS:
            continue
        if name not in lock:
            found.append(f"{name}=={version} is installed but not in the lock")
        elif lock[name] != version:
            found.append(f"{name}=={version} is installed but the lock pins {lock[name]}")
    found += [f"{name} is not installed" for name in map(canonical, required) if name not in installed]
    return found


def main(argv: list[str]) -> int:
    lock_path, *required = argv
    installed = {canonical(d.metadata["Name"]): d.version for d in distributions()}
    found = problems(installed, read_lock(Path(lock_path)), required)
    for problem in found:
        print(f"check_lock: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
