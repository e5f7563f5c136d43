"""Retention and offboarding: what is held of a customer ends, everywhere, and a crash never leaves it half done.

Retention (`purge`): a customer's billing month M is expired on the as-of date D when M is more than
`retention_months` (customer.yaml, default 24) months before D's month. An expired customer-month is deleted from the
inbox, the warehouse (its scratch folders are inside it), the published folder, the delivery target and from Dagster's
storage (its runs with their events, its materializations and check results).

Offboarding (`offboard`): optionally a verified return archive of everything the customer delivered and everything
published for it, then everything of the customer deleted (its folders, delivered objects, Dagster runs and partition,
its data key) and a deletion certificate kept under `.privacy/certificates/`.

Both are journaled, so the same command finishes an interrupted one:

* purge: `.privacy/pending/purge.<customer>.json` names the expired months (and the counts recounted just before the
  first deletion) before anything is deleted; each month's inbox drop is first renamed aside (`inbox/<c>/.purge-<M>`,
  which no run or sensor reads), then its delivered objects (manifest first), published and warehouse folders are
  removed, then the trash, then its Dagster runs and partition history. Every step is idempotent; the journal is
  removed last.
* offboard: the return archive is written and read back first (a failure there changes nothing). Then
  `.privacy/pending/offboard.<customer>.json` records what will be deleted (folders, counts of files and bytes, the
  delivered objects, the Dagster run ids, whether a key exists) before anything is. The customer's folders are renamed
  aside at once (`inbox/<c>` -> `inbox/.offboard-<c>`, and so on: the customer is unknown to `tem run` and the inbox
  sensor from the first rename), then its delivered objects, Dagster runs and partition, its key and the renamed
  folders are deleted, the certificate is written (atomically), the log record appended and the journal removed last.

Journal names hold a dot, which no customer id can, so they never collide with an erasure's `<customer>.json`.
Journals, certificates and log records hold no personal data: counts, folder names, months and Dagster run ids.

Dagster's storage is reached through a `History` (pipelines/lifecycle.py implements it on a DagsterInstance): this
module never imports Dagster.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from reports.layout import DataRoot, LinkRefused, file_sha256, fsync_folder
from reports.privacy import processing_log
from reports.privacy.erasure import crash_point, customer_lock, privacy_dir
from reports.publishing.delivery import LocalStore
from schemas import clock
from schemas.names import ID_PATTERN, MONTH_PATTERN, InvalidName, validate_id

MANIFEST = "manifest.json"  # a delivery's manifest, removed first
ARCHIVE_MANIFEST = "MANIFEST.json"
ARCHIVE_TIME = (1980, 1, 1, 0, 0, 0)  # fixed entry times: the same files give the same archive
TOPS = ("inbox", "customers", "warehouse", "published")  # inbox first: without it the customer has nothing to run
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class LifecycleRefused(Exception):
    """The operation cannot be done as asked: one line, exit 1, nothing changed."""


class LifecycleUsage(Exception):
    """A malformed option (an --as-of that is not a date): one line, exit 2, nothing changed."""


# --------------------------------------------------------------------------------------------- Dagster's side
class History(Protocol):
    """What the lifecycle needs of the orchestrator's storage (pipelines/lifecycle.py: DagsterHistory)."""

    def customers(self) -> list[str]:
        """Customers registered as partitions."""

    def months(self, customer_id: str) -> set[str]:
        """Months of the customer with a run or a materialization."""

    def runs(self, customer_id: str, month: str | None = None) -> list[str]:
        """Run ids of the customer-month's partition (every run of the customer without a month)."""

    def delete_run(self, run_id: str) -> None:
        """Delete the run, its events and its captured logs (nothing when it is gone already)."""

    def wipe_partitions(self, customer_id: str, months: list[str] | None, run_ids: Iterable[str]) -> None:
        """Wipe what is left of these partitions (every partition of the customer without months): materializations,
        check results, cached status; `run_ids` are the runs just deleted."""

    def registered(self, customer_id: str) -> bool:
        """The customer is a partition of the `customers` set."""

    def forget_customer(self, customer_id: str) -> bool:
        """Remove the customer's partition (and what the sensor remembers of it); True if it was registered."""

    def compact(self) -> bool:
        """Reclaim the space of deleted rows where the storage keeps it (SQLite); True if done."""


class NoHistory:
    """No Dagster instance exists (nothing was ever run): nothing to find, nothing to delete."""

    def customers(self) -> list[str]:
        return []

    def months(self, customer_id: str) -> set[str]:
        return set()

    def runs(self, customer_id: str, month: str | None = None) -> list[str]:
        return []

    def delete_run(self, run_id: str) -> None:
        return None

    def wipe_partitions(self, customer_id: str, months: list[str] | None, run_ids: Iterable[str]) -> None:
        return None

    def registered(self, customer_id: str) -> bool:
        return False

    def forget_customer(self, customer_id: str) -> bool:
        return False

    def compact(self) -> bool:
        return False


class LazyHistory:
    """A History opened only when first needed (a refusal before that opens no instance)."""

    def __init__(self, opener: Callable[[], History]):
        self._opener = opener
        self._history: History | None = None

    def __getattr__(self, name: str):
        if self._history is None:
            self._history = self._opener()
        return getattr(self._history, name)

    def close(self) -> None:
        """Close what was opened (nothing if it never was)."""
        if self._history is not None and hasattr(self._history, "close"):
            self._history.close()


# --------------------------------------------------------------------------------------------- helpers
def _folder_stats(path: Path) -> tuple[int, int]:
    """(files, bytes) under a folder, links counted as files and never followed."""
    if path.is_symlink():
        return 1, 0
    if not path.is_dir():
        return (1, path.stat().st_size) if path.is_file() else (0, 0)
    files = size = 0
    for folder, _, names in os.walk(path):
        for name in names:
            files += 1
            try:
                size += os.lstat(os.path.join(folder, name)).st_size
            except FileNotFoundError:
                pass
    return files, size


def _remove(path: Path) -> None:
    """Remove a file, a link (never followed) or a folder; nothing when it is gone."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path)


def _write_json_atomic(path: Path, content: dict) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as handle:
        json.dump(content, handle, indent=1, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_folder(path.parent)


def _timestamp() -> str:
    return processing_log.now().astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _detail(problem: Exception | str | None) -> str | None:
    if problem is None:
        return None
    text = str(problem).splitlines()[0] if str(problem) else type(problem).__name__
    try:
        return processing_log.check_free_text(text)
    except ValueError:
        return type(problem).__name__ if isinstance(problem, Exception) else "refused"


def _logged(customer_id: str | None) -> str | None:
    return customer_id if isinstance(customer_id, str) and ID_PATTERN.fullmatch(customer_id) else None


def record(
    data_root: DataRoot,
    action: str,
    customer_id: str | None,
    months: Iterable[str],
    counts: dict[str, int],
    outcome: str,
    problem: Exception | str | None = None,
) -> None:
    """One processing-log record (never an identifier: a reason that looks like one is logged by its kind)."""
    processing_log.append(
        data_root.path,
        action,
        customer=_logged(customer_id),
        months=sorted(set(months)),
        request=None,
        counts=counts,
        outcome=outcome,
        detail=_detail(problem),
    )


class _Journal:
    """`.privacy/pending/<kind>.<customer>.json`: the committed plan of one purge or offboarding until it is done."""

    def __init__(self, data_root: DataRoot, kind: str, customer_id: str):
        self.customer_id = validate_id(customer_id)
        self.path = privacy_dir(data_root) / "pending" / f"{kind}.{customer_id}.json"

    def pending(self) -> bool:
        return self.path.is_file()

    def load(self) -> dict:
        return json.loads(self.path.read_text())

    def commit(self, content: dict) -> None:
        _write_json_atomic(self.path, content)

    def forget(self) -> None:
        self.path.unlink(missing_ok=True)
        fsync_folder(self.path.parent)


def _pending_customers(data_root: DataRoot, kind: str) -> list[str]:
    folder = privacy_dir(data_root) / "pending"
    if not folder.is_dir():
        return []
    found = (p.name[len(kind) + 1 : -len(".json")] for p in folder.glob(f"{kind}.*.json"))
    return sorted(c for c in found if ID_PATTERN.fullmatch(c))


def _erasure_pending(data_root: DataRoot, customer_id: str) -> bool:
    return (privacy_dir(data_root) / "pending" / f"{customer_id}.json").is_file()


def _folder_names(base: Path, pattern: re.Pattern) -> set[str]:
    if not base.is_dir():
        return set()
    return {p.name for p in base.iterdir() if pattern.fullmatch(p.name) and (p.is_dir() or p.is_symlink())}


def held_on_disk(data_root: DataRoot, customer_id: str) -> bool:
    """Anything of the customer under the data root (its folders or its key)."""
    return (
        any(
            (data_root.path / top / customer_id).exists() or (data_root.path / top / customer_id).is_symlink()
            for top in TOPS
        )
        or (data_root.secrets_dir() / "keys" / f"{customer_id}.json").exists()
    )


# --------------------------------------------------------------------------------------------- retention
def parse_as_of(value: str | None) -> dt.date:
    """The --as-of date (default: today, schemas/clock.py); LifecycleUsage when it is not a YYYY-MM-DD date or is
    after today (retention is never applied ahead of time)."""
    today = clock.today()
    if value is None:
        return today
    try:
        if not DATE_PATTERN.fullmatch(value):
            raise ValueError
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise LifecycleUsage(f"--as-of {value!r} is not a date of the form YYYY-MM-DD") from None
    if day > today:
        raise LifecycleUsage(
            f"--as-of {value} is after today ({today.isoformat()}): retention is never applied ahead of time"
        )
    return day


def is_expired(month: str, as_of: dt.date, retention_months: int) -> bool:
    """Month M is expired on D when it is more than `retention_months` months before D's month (retention 2 on
    2026-10-15 keeps 2026-08 onwards, expires 2026-07 and earlier)."""
    first = dt.date(int(month[:4]), int(month[5:7]), 1)
    return clock.months_between(first, as_of) > retention_months


def retention_months(data_root: DataRoot, customer_id: str) -> int:
    """The customer's retention_months (customer.yaml; the default when the customer has no customer.yaml left);
    LifecycleRefused naming the file and the field when it is not valid."""
    from schemas.contract import DEFAULT_RETENTION_MONTHS, ContractError, load_customer_settings

    path = data_root.customer_file(customer_id)
    if not path.exists():
        return DEFAULT_RETENTION_MONTHS
    try:
        return load_customer_settings(path, f"customers/{customer_id}/customer.yaml").retention_months
    except ContractError as problem:
        raise LifecycleRefused(f"{problem}; nothing was purged") from None


@dataclass
class MonthPlan:
    customer_id: str
    month: str
    files: int = 0
    bytes: int = 0
    objects: int = 0
    runs: int = 0

    def describe(self) -> str:
        return (
            f"{self.files} file(s) ({self.bytes} bytes), {self.objects} delivered object(s), {self.runs} Dagster run(s)"
        )


@dataclass
class CustomerPurge:
    customer_id: str
    retention_months: int
    months: list[MonthPlan] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "customer_months": len(self.months),
            "files": sum(m.files for m in self.months),
            "bytes": sum(m.bytes for m in self.months),
            "objects": sum(m.objects for m in self.months),
            "runs": sum(m.runs for m in self.months),
        }


def _store_months(store, customer_id: str) -> set[str]:
    months = set()
    for key in store.list_keys(f"{customer_id}/"):
        parts = key.split("/")
        if len(parts) >= 3 and MONTH_PATTERN.fullmatch(parts[-2]):
            months.add(parts[-2])
    return months


def months_held(data_root: DataRoot, customer_id: str, history: History, store) -> set[str]:
    """Every month of the customer held anywhere: inbox, warehouse, published, the delivery target, Dagster."""
    months = set()
    for top in ("inbox", "warehouse", "published"):
        months |= _folder_names(data_root.path / top / customer_id, MONTH_PATTERN)
    months |= _store_months(store, customer_id)
    months |= {m for m in history.months(customer_id) if MONTH_PATTERN.fullmatch(m)}
    return months


def plan_month(data_root: DataRoot, customer_id: str, month: str, history: History, store) -> MonthPlan:
    plan = MonthPlan(customer_id, month)
    folders = [
        data_root.refuse_links(data_root.drop_dir(customer_id, month)),
        data_root.refuse_links(data_root.path / "inbox" / customer_id / f".purge-{month}"),
        data_root.refuse_links(data_root.warehouse_dir(customer_id, month)),
        data_root.published_dir(customer_id, month),
    ]  # a link could lead to another customer's files
    for folder in folders:
        files, size = _folder_stats(folder)
        plan.files += files
        plan.bytes += size
    plan.objects = len(store.list_keys(f"{customer_id}/{month}/"))
    plan.runs = len(history.runs(customer_id, month))
    return plan


def purge_candidates(data_root: DataRoot, history: History) -> list[str]:
    """Every customer the data root or Dagster knows of (valid ids only), and those with a purge pending."""
    found: set[str] = set()
    for top in TOPS:
        found |= _folder_names(data_root.path / top, ID_PATTERN)
    found |= {c for c in history.customers() if ID_PATTERN.fullmatch(c)}
    found |= set(_pending_customers(data_root, "purge"))
    return sorted(found)


def plan_purge(
    data_root: DataRoot, customers: list[str] | None, as_of: dt.date, history: History, store
) -> list[CustomerPurge]:
    """What is expired, per customer and month, checked in full before anything is deleted: an invalid or unknown
    customer, a customer.yaml with a bad retention_months, an unfinished erasure or a folder that is a link refuses
    the whole purge."""
    if customers:
        for customer_id in customers:
            try:
                validate_id(customer_id)
            except InvalidName as problem:
                raise LifecycleRefused(str(problem)) from None
        selected = sorted(set(customers))
        for customer_id in selected:
            if not (
                held_on_disk(data_root, customer_id)
                or _Journal(data_root, "purge", customer_id).pending()
                or history.registered(customer_id)
            ):
                raise LifecycleRefused(f"unknown customer {customer_id!r}: nothing of it under {data_root.path}")
    else:
        selected = purge_candidates(data_root, history)
    offboarding = set(_pending_customers(data_root, "offboard"))
    plans = []
    for customer_id in selected:
        if customer_id in offboarding:  # being deleted entirely by `tem customer offboard`
            continue
        if _erasure_pending(data_root, customer_id):
            raise LifecycleRefused(
                f"customer {customer_id}: an erasure is not finished (.privacy/pending/"
                f"{customer_id}.json); run the same tem privacy erase command again first; "
                "nothing was purged"
            )
        retention = retention_months(data_root, customer_id)
        plan = CustomerPurge(customer_id, retention)
        try:
            for month in sorted(months_held(data_root, customer_id, history, store)):
                if is_expired(month, as_of, retention):
                    plan.months.append(plan_month(data_root, customer_id, month, history, store))
        except LinkRefused as problem:
            raise LifecycleRefused(f"{problem}; nothing was purged") from None
        plans.append(plan)
    return plans


def _delete_delivery(store, prefix: str) -> int:
    """Delete the delivered objects under a prefix, every manifest first (no reader takes what is left for a
    finished delivery); the number deleted."""
    keys = store.list_keys(prefix)
    for key in sorted(keys, key=lambda k: (not k.endswith("/" + MANIFEST), k)):
        store.delete(key)
    return len(keys)


def purge_month(data_root: DataRoot, customer_id: str, month: str, history: History, store) -> None:
    """Delete one expired customer-month everywhere; idempotent (run again after a crash, it finishes)."""
    drop = data_root.drop_dir(customer_id, month)
    trash = drop.with_name(f".purge-{month}")
    if drop.exists() or drop.is_symlink():
        if trash.exists() or trash.is_symlink():
            _remove(drop)  # a drop delivered again after an interrupted purge: expired too
        else:
            os.rename(drop, trash)  # at once, no run or sensor sees a half-deleted drop
            fsync_folder(drop.parent)
    _delete_delivery(store, f"{customer_id}/{month}/")
    for folder in (data_root.published_dir(customer_id, month), data_root.warehouse_dir(customer_id, month), trash):
        _remove(folder)  # the warehouse month holds the month's scratch folders too
    runs = history.runs(customer_id, month)
    for run_id in runs:
        history.delete_run(run_id)
    history.wipe_partitions(customer_id, [month], runs)
    for parent in (drop.parent, data_root.path / "published" / customer_id):
        if parent.is_dir() and not parent.is_symlink() and not any(parent.iterdir()):
            parent.rmdir()  # an emptied customer folder of a month-only top (never customers/)


@dataclass
class PurgeResult:
    as_of: dt.date
    purged: list[CustomerPurge]
    dry_run: bool

    @property
    def customer_months(self) -> int:
        return sum(len(p.months) for p in self.purged)


def _finish_pending_purge(
    data_root: DataRoot, journal: _Journal, history: History, store, out: Callable[[str], None]
) -> None:
    content = journal.load()
    customer_id = content["customer"]
    months = list(content["months"])
    out(f"completing an interrupted purge of {customer_id} ({', '.join(months)})")
    for index, month in enumerate(months):
        purge_month(data_root, customer_id, month, history, store)
        if index == 0:
            crash_point("purge-month")
    record(data_root, "purge", customer_id, months, dict(content["counts"]), "done")
    journal.forget()


def purge(
    data_root: DataRoot,
    customers: list[str] | None,
    as_of: dt.date,
    history: History,
    store,
    dry_run: bool = False,
    out: Callable[[str], None] = print,
) -> PurgeResult:
    """Delete every expired customer-month of the selected customers (every customer when none is given).

    Everything is checked first (LifecycleRefused, logged, nothing deleted). A dry run prints what would be deleted
    and changes nothing, the processing log included. Otherwise each customer's expired months are journaled, then
    deleted, and one `purge` record per customer purged is logged (one `nothing_to_do` record when nothing expired)."""
    try:
        plans = plan_purge(data_root, customers, as_of, history, store)
    except Exception as problem:
        if not dry_run:
            single = customers[0] if customers and len(set(customers)) == 1 else None
            record(data_root, "purge", single, [], {}, "refused", problem)
        raise
    expired = [p for p in plans if p.months]
    pending = [c for c in _pending_customers(data_root, "purge") if not customers or c in customers]
    if dry_run:
        for customer_id in pending:
            months = _Journal(data_root, "purge", customer_id).load()["months"]
            out(
                f"{customer_id}: an interrupted purge of {', '.join(months)} is pending (the same command without "
                "--dry-run completes it)"
            )
        for plan in expired:
            for month in plan.months:
                out(
                    f"{plan.customer_id} {month.month}: would delete {month.describe()} "
                    f"(retention {plan.retention_months} months)"
                )
        total = sum(len(p.months) for p in expired)
        out(
            f"dry run: would purge {total} customer-month(s) of {len(expired)} customer(s) expired as of "
            f"{as_of.isoformat()}; nothing was changed"
        )
        return PurgeResult(as_of, expired, True)

    done: list[CustomerPurge] = []
    for customer_id in sorted(set(pending) | {p.customer_id for p in expired}):
        with customer_lock(data_root, customer_id):
            journal = _Journal(data_root, "purge", customer_id)
            if journal.pending():
                _finish_pending_purge(data_root, journal, history, store, out)
            plan = next((p for p in expired if p.customer_id == customer_id), None)
            if plan is None:
                continue
            # recounted under the lock, just before the first deletion (a finished pending purge changed them)
            held = months_held(data_root, customer_id, history, store)
            plan.months = [
                plan_month(data_root, customer_id, m.month, history, store) for m in plan.months if m.month in held
            ]
            if not plan.months:
                continue
            months = [m.month for m in plan.months]
            journal.commit(
                {
                    "customer": customer_id,
                    "as_of": as_of.isoformat(),
                    "retention_months": plan.retention_months,
                    "months": months,
                    "counts": plan.counts(),
                }
            )
            crash_point("purge-journaled")
            try:
                for index, month in enumerate(plan.months):
                    purge_month(data_root, customer_id, month.month, history, store)
                    out(f"purged {customer_id} {month.month}: {month.describe()}")
                    if index == 0:
                        crash_point("purge-month")
            except Exception as problem:
                record(
                    data_root,
                    "purge",
                    customer_id,
                    months,
                    plan.counts(),
                    "failed",
                    f"{_detail(problem)}; run the same command again to finish it",
                )
                raise LifecycleRefused(
                    f"the purge of {customer_id} was interrupted ({_detail(problem)}); run the "
                    "same command again to finish it"
                ) from problem
            record(data_root, "purge", customer_id, months, plan.counts(), "done")
            journal.forget()
            done.append(plan)
    if not done and not pending:
        single = customers[0] if customers and len(set(customers)) == 1 else None
        record(data_root, "purge", single, [], {"customer_months": 0}, "nothing_to_do")
    return PurgeResult(as_of, done, False)


# --------------------------------------------------------------------------------------------- return archive
def return_sources(data_root: DataRoot, customer_id: str) -> list[tuple[str, Path]]:
    """(entry name, file) of every file the customer delivered (customers/<c>/, inbox/<c>/) and every file
    published for it (published/<c>/), sorted; links are never followed."""
    entries = []
    for top in ("customers", "inbox", "published"):
        base = data_root.path / top / customer_id
        if base.is_symlink():
            raise LifecycleRefused(f"{top}/{customer_id} is a symbolic link; links are refused")
        if not base.is_dir():
            continue
        for folder, folders, names in os.walk(base):
            folders.sort()
            for name in names:
                path = Path(folder) / name
                if path.is_symlink():
                    raise LifecycleRefused(
                        f"{path.relative_to(data_root.path).as_posix()} is a symbolic link; links are refused"
                    )
                entries.append((path.relative_to(data_root.path).as_posix(), path))
    return sorted(entries)


def _zip_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ARCHIVE_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    info.create_system = 3
    return info


def write_return_archive(data_root: DataRoot, customer_id: str, folder: Path) -> dict:
    """Write `<folder>/<customer>-return.zip` (entries sorted, fixed times, MANIFEST.json with each entry's SHA-256
    and size), then read it back and check every entry against the manifest. {"path", "sha256", "bytes"}; a folder
    that cannot be written, or an archive that does not read back, is refused with nothing deleted."""
    sources = return_sources(data_root, customer_id)
    target = folder / f"{customer_id}-return.zip"
    tmp = folder / f".{target.name}.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        manifest = []
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for name, path in sources:
                digest, size = hashlib.sha256(), 0
                with path.open("rb") as source, archive.open(_zip_info(name), "w", force_zip64=True) as entry:
                    for block in iter(lambda: source.read(1 << 20), b""):
                        digest.update(block)
                        size += len(block)
                        entry.write(block)
                manifest.append({"path": name, "sha256": digest.hexdigest(), "size": size})
            document = {
                "customer": customer_id,
                "files": manifest,
                "note": "every file the customer delivered (customers/, inbox/) and every file published "
                "for it (published/), as held on the day of offboarding",
            }
            archive.writestr(_zip_info(ARCHIVE_MANIFEST), json.dumps(document, indent=1, sort_keys=True) + "\n")
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        fsync_folder(folder)
    except OSError as problem:
        with contextlib.suppress(OSError):
            tmp.unlink()
        reason = problem.strerror or type(problem).__name__
        raise LifecycleRefused(
            f"--return-to {folder}: the return archive cannot be written there ({reason}); nothing was deleted"
        ) from None
    try:
        verify_return_archive(target, customer_id)
    except LifecycleRefused:
        target.unlink(missing_ok=True)
        raise
    return {"path": str(target), "sha256": file_sha256(target), "bytes": target.stat().st_size, "files": len(sources)}


def verify_return_archive(path: Path, customer_id: str) -> None:
    """Open the archive and check that it holds exactly the manifest's entries, each with its SHA-256 and size."""
    try:
        with zipfile.ZipFile(path) as archive:
            document = json.loads(archive.read(ARCHIVE_MANIFEST))
            expected = {e["path"]: (e["sha256"], e["size"]) for e in document["files"]}
            names = [n for n in archive.namelist() if n != ARCHIVE_MANIFEST]
            if document.get("customer") != customer_id or sorted(names) != sorted(expected):
                raise ValueError("its entries are not those of its manifest")
            for name in names:
                digest, size = hashlib.sha256(), 0
                with archive.open(name) as entry:
                    for block in iter(lambda: entry.read(1 << 20), b""):
                        digest.update(block)
                        size += len(block)
                if (digest.hexdigest(), size) != expected[name]:
                    raise ValueError(f"entry {name} does not match its manifest")
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as problem:
        raise LifecycleRefused(
            f"the return archive {path} does not read back ({problem}); nothing was deleted"
        ) from None


# --------------------------------------------------------------------------------------------- offboarding
def _trash(data_root: DataRoot, top: str, customer_id: str) -> Path:
    """Where a customer's folder waits for deletion: beside itself (same file system, so the rename is atomic),
    hidden (a leading dot is no valid customer id: no run, sensor or listing sees it)."""
    return data_root.path / top / f".offboard-{customer_id}"


def _key_file(data_root: DataRoot, customer_id: str) -> Path:
    return data_root.secrets_dir() / "keys" / f"{customer_id}.json"


def _destroy_key(data_root: DataRoot, customer_id: str) -> None:
    try:
        from reports.privacy.keys import destroy_key
    except ImportError:  # per-customer keys not there: the key file is all there is
        destroy_key = None
    if destroy_key is not None:
        destroy_key(data_root, customer_id)
    else:
        _key_file(data_root, customer_id).unlink(missing_ok=True)


def _customer_files_outside_folders(data_root: DataRoot, customer_id: str) -> list[Path]:
    """The customer's other traces under the data root: a key migration's journal, an unfinished erasure's journal
    (its files are in the inbox being deleted)."""
    return [
        data_root.secrets_dir() / "migrating" / f"{customer_id}.json",
        privacy_dir(data_root) / "pending" / f"{customer_id}.json",
    ]


def certificates_dir(data_root: DataRoot) -> Path:
    return privacy_dir(data_root) / "certificates"


@dataclass
class Offboarded:
    certificate: Path
    content: dict
    resumed: bool
    already: bool = False  # offboarded before: nothing was done


def offboard(
    data_root: DataRoot,
    customer_id: str,
    confirm: str,
    return_to: str | None,
    history: History,
    store,
    out: Callable[[str], None] = print,
) -> Offboarded:
    """Offboard the customer (see the module docstring); refusals are logged and raise LifecycleRefused."""
    try:
        try:
            validate_id(customer_id)
        except InvalidName as problem:
            raise LifecycleRefused(str(problem)) from None
        if confirm != customer_id:
            raise LifecycleRefused(
                f"--confirm {confirm!r} does not repeat the customer id {customer_id!r}; nothing was deleted"
            )
        folder = None
        if return_to is not None:
            folder = Path(return_to).expanduser().resolve()
            if folder == data_root.path or folder.is_relative_to(data_root.path):
                raise LifecycleRefused(
                    "--return-to must be outside the data root (the archive holds the customer's "
                    "files, and the data root keeps nothing of it); nothing was deleted"
                )
        journal = _Journal(data_root, "offboard", customer_id)

        def already_gone() -> Offboarded | None:
            if (
                journal.pending()
                or held_on_disk(data_root, customer_id)
                or history.registered(customer_id)
                or history.runs(customer_id)
            ):
                return None
            done = sorted(certificates_dir(data_root).glob(f"{customer_id}-*.json"))
            if done:  # a second identical command (or one that waited for the first): nothing to do
                out(
                    f"customer {customer_id} was offboarded already; nothing of it is held; deletion certificate: "
                    f"{done[-1]}"
                )
                record(data_root, "offboard", customer_id, [], {}, "nothing_to_do")
                return Offboarded(done[-1], json.loads(done[-1].read_text()), True, already=True)
            raise LifecycleRefused(
                f"unknown customer {customer_id!r}: nothing of it under {data_root.path} or in Dagster"
            )

        if gone := already_gone():
            return gone
        with customer_lock(data_root, customer_id):
            if gone := already_gone():  # another offboarding of it finished while this one waited
                return gone
            resumed = journal.pending()
            if resumed:
                archive = journal.load().get("return_archive")
                out(
                    f"completing an interrupted offboarding of {customer_id}"
                    + (f" (its return archive was written before: {archive['path']})" if archive else "")
                )
            else:
                archive = write_return_archive(data_root, customer_id, folder) if folder is not None else None
                if archive:
                    out(
                        f"return archive written and verified: {archive['path']} ({archive['files']} files, "
                        f"{archive['bytes']} bytes, SHA-256 {archive['sha256']})"
                    )
                crash_point("offboard-archived")
                journal.commit(_offboard_plan(data_root, customer_id, archive, history, store))
                crash_point("offboard-journaled")
            return _complete_offboarding(data_root, journal, history, store, resumed)
    except LifecycleRefused as problem:
        record(data_root, "offboard", customer_id, [], {}, "refused", problem)
        raise
    except Exception as problem:
        record(
            data_root,
            "offboard",
            customer_id,
            [],
            {},
            "failed",
            f"{_detail(problem)}; run the same command again to finish it",
        )
        raise


def _offboard_plan(data_root: DataRoot, customer_id: str, archive: dict | None, history: History, store) -> dict:
    """What will be deleted, counted before the first deletion (no personal data: counts, folder names, run ids)."""
    folders, files, size = [], 0, 0
    for top in TOPS:
        path = data_root.path / top / customer_id
        if path.exists() or path.is_symlink():
            folders.append(f"{top}/{customer_id}")
            count, nbytes = _folder_stats(path)
            files, size = files + count, size + nbytes
    months = months_held(data_root, customer_id, history, store)
    started = _timestamp()
    return {
        "customer": customer_id,
        "started_at": started,
        "certificate": f"{customer_id}-{started.replace('-', '').replace(':', '')}.json",
        "return_archive": None if archive is None else {k: archive[k] for k in ("path", "sha256", "bytes")},
        "folders": folders,
        "files": files,
        "bytes": size,
        "objects": len(store.list_keys(f"{customer_id}/")),
        "delivery_target": "local" if isinstance(store, LocalStore) else "s3",
        "months": sorted(months),
        "runs": sorted(history.runs(customer_id)),
        "partition_registered": history.registered(customer_id),
        "key_present": _key_file(data_root, customer_id).exists(),
    }


def _complete_offboarding(data_root: DataRoot, journal: _Journal, history: History, store, resumed: bool) -> Offboarded:
    content = journal.load()
    customer_id = content["customer"]
    # 1. the customer's folders aside, at once: from the first rename no run or sensor sees the customer
    moved = 0
    for top in TOPS:
        source, trash = data_root.path / top / customer_id, _trash(data_root, top, customer_id)
        if not (source.exists() or source.is_symlink()):
            continue
        if trash.exists() or trash.is_symlink():
            _remove(source)  # delivered again after the interruption: deleted as well
        else:
            os.rename(source, trash)
            fsync_folder(source.parent)
        moved += 1
        if moved == 1:
            crash_point("offboard-moved")
    # 2. delivered objects (for the local target these were the published folder, already aside)
    _delete_delivery(store, f"{customer_id}/")
    # 3. Dagster: every run of the customer with its events and logs, what is left of its partitions, the partition
    runs = set(content["runs"]) | set(history.runs(customer_id))
    if runs != set(content["runs"]):  # a run started since the plan: counted before it is deleted
        content["runs"] = sorted(runs)
        journal.commit(content)
    for index, run_id in enumerate(sorted(runs)):
        history.delete_run(run_id)
        if index == 0:
            crash_point("offboard-runs")
    history.wipe_partitions(customer_id, None, runs)
    history.forget_customer(customer_id)
    # 4. its key, and its other traces
    _destroy_key(data_root, customer_id)
    for path in _customer_files_outside_folders(data_root, customer_id):
        path.unlink(missing_ok=True)
    # 5. the renamed folders, and whatever a run still in progress wrote since (a last sweep of folders and runs)
    for top in TOPS:
        _remove(_trash(data_root, top, customer_id))
        _remove(data_root.path / top / customer_id)
    late = set(history.runs(customer_id)) - runs
    if late:
        content["runs"] = sorted(runs | late)
        journal.commit(content)
        for run_id in sorted(late):
            history.delete_run(run_id)
        history.wipe_partitions(customer_id, None, late)
    crash_point("offboard-trashed")
    compacted = history.compact()
    # 6. the certificate, the log record, then the journal
    certificate = {
        "customer": customer_id,
        "started_at": content["started_at"],
        "deleted_at": _timestamp(),
        "operator": processing_log.operator(),
        "return_archive": content["return_archive"],
        "deleted": {
            "data_root": {"files": content["files"], "bytes": content["bytes"], "folders": content["folders"]},
            "delivery": {"objects": content["objects"], "target": content["delivery_target"]},
            "dagster": {"runs": len(content["runs"]), "partition_removed": True, "storage_compacted": compacted},
            "key_destroyed": bool(content["key_present"]) and not _key_file(data_root, customer_id).exists(),
        },
        "months": content["months"],
        "note": "counts only: no file name, identifier or personal data of the customer's people",
    }
    path = certificates_dir(data_root) / content["certificate"]
    _write_json_atomic(path, certificate)
    crash_point("offboard-certified")
    deleted = certificate["deleted"]
    record(
        data_root,
        "offboard",
        customer_id,
        content["months"],
        {
            "files": content["files"],
            "bytes": content["bytes"],
            "objects": content["objects"],
            "runs": len(content["runs"]),
            "key_destroyed": int(deleted["key_destroyed"]),
        },
        "done",
    )
    journal.forget()
    lock = privacy_dir(data_root) / "locks" / f"{customer_id}.lock"
    lock.unlink(missing_ok=True)  # held by us until the command ends; a waiting command finds the customer gone
    return Offboarded(path, certificate, resumed)
