"""Data roots for the benchmark, built only with `tem sample-data` and file operations.

* `one_customer`: `tem sample-data --lines N`, then only customer globex's three months 2026-07..09 are kept
  in the inbox (the generator's other months and customers are removed, so `tem run` reads nothing else).
* `many_customers`: `tem sample-data --lines N`, then globex's customer folder (customer.yaml and contracts)
  and its inbox drop of one month are copied under K new customer ids `bench-001`..; customer.yaml holds the
  customer's name, region, currency (and optionally retention_months), not its id (the folder name is the id),
  so only `name:` is changed, to tell them apart. Every other drop is removed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

SOURCE_CUSTOMER = "globex"
MONTHS = ("2026-07", "2026-08", "2026-09")
ONE_MONTH = "2026-09"


def generate(tem: list[str], root: Path, lines: int, env: dict, cwd: Path) -> float:
    """Write a sample data root with `tem sample-data --lines N` (its expected answers beside it, outside the
    root); returns the seconds it took."""
    shutil.rmtree(root, ignore_errors=True)
    expected = root.with_name(root.name + "-expected")
    shutil.rmtree(expected, ignore_errors=True)
    started = time.perf_counter()
    result = subprocess.run(
        [*tem, "sample-data", "--data-root", str(root), "--lines", str(lines), "--expected", str(expected)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"tem sample-data --lines {lines} failed:\n{result.stderr[-3000:]}")
    shutil.rmtree(expected, ignore_errors=True)
    return time.perf_counter() - started


def keep_drops(root: Path, keep: set[tuple[str, str]]) -> None:
    """Remove every inbox drop but the (customer, month) pairs in `keep`, and customers left without drops."""
    for drop in sorted((root / "inbox").glob("*/*")):
        if (drop.parent.name, drop.name) not in keep:
            shutil.rmtree(drop)
    for customer in sorted((root / "inbox").iterdir()):
        if customer.is_dir() and not any(customer.iterdir()):
            customer.rmdir()


def one_customer(tem: list[str], root: Path, lines: int, env: dict, cwd: Path) -> float:
    seconds = generate(tem, root, lines, env, cwd)
    keep_drops(root, {(SOURCE_CUSTOMER, month) for month in MONTHS})
    return seconds


def customer_ids(count: int) -> list[str]:
    return [f"bench-{number:03d}" for number in range(1, count + 1)]


def many_customers(tem: list[str], root: Path, customers: int, lines: int, env: dict, cwd: Path) -> float:
    seconds = generate(tem, root, lines, env, cwd)
    source_settings = root / "customers" / SOURCE_CUSTOMER
    source_drop = root / "inbox" / SOURCE_CUSTOMER / ONE_MONTH
    for index, customer in enumerate(customer_ids(customers), start=1):
        target = root / "customers" / customer
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source_settings, target)
        settings = target / "customer.yaml"
        text = settings.read_text(encoding="utf-8")
        text, named = re.subn(r"(?m)^name:.*$", f"name: Benchmark customer {index:03d}", text)
        if named != 1:
            raise RuntimeError(f"{settings}: expected one `name:` line to rename the customer")
        settings.write_text(text, encoding="utf-8")
        shutil.copytree(source_drop, root / "inbox" / customer / ONE_MONTH)
    keep_drops(root, {(customer, ONE_MONTH) for customer in customer_ids(customers)})
    return seconds


def input_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "inbox").rglob("*") if p.is_file())
