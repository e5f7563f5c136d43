"""Erasure, all or nothing: the inbox rewritten in one step that a crash cannot leave half done.

1. Stage: every inbox file that holds the subject is rewritten beside itself, hidden
   (`inbox/<customer>/<month>/.<name>.erase-staged`), in its own format (reports/privacy/rewrite.py).
2. Commit: the journal `.privacy/pending/<customer>.json` is written in one rename. It lists each file (by month,
   table and file reference, never by a name that could hold a phone number) and the new content's SHA-256, the months to rebuild, the request reference and the counts (never an
   identifier or a pseudonym). Before this point a crash leaves the inbox as it was; the staged copies are
   cleared by the next attempt.
3. Apply: each staged copy is renamed over its file. Re-applied after a crash, a file already renamed is
   recognised by its SHA-256.
4. Everything derived from the months held is removed (delivered objects with the manifest first, the published
   folders, the warehouse months with their scratch folders) and rebuilt from the rewritten inbox by the caller.
5. The journal is removed: the erasure is complete. Until then, running the same command again resumes at 3.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
from contextlib import contextmanager
from pathlib import Path

from reports.inputs.intake import drop_files
from reports.layout import DataRoot, file_sha256, fsync_folder
from reports.privacy.rewrite import rewrite_file
from reports.privacy.subject import MonthHoldings
from schemas.names import validate_id

STAGED_SUFFIX = ".erase-staged"
MANIFEST = "manifest.json"


def crash_point(name: str) -> None:
    """Fault injection for the tests: TEM_CRASH_AT=<name> kills this process there, as a power cut would."""
    if os.environ.get("TEM_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def privacy_dir(data_root: DataRoot) -> Path:
    return data_root.path / ".privacy"


@contextmanager
def customer_lock(data_root: DataRoot, customer_id: str, shared: bool = False):
    """One privacy operation per customer at a time (a second waits for the first). A shared lock (a dry run)
    creates nothing: without the lock file there is no operation to wait for."""
    folder = privacy_dir(data_root) / "locks"
    if shared and not (folder / f"{validate_id(customer_id)}.lock").exists():
        yield
        return
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(folder / f"{validate_id(customer_id)}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def total_counts(months: list[MonthHoldings]) -> dict[str, int]:
    totals = {"roster": 0, "usage": 0, "charges": 0, "manager_refs": 0}
    for month in months:
        for key, value in month.counts.items():
            totals[key] += value
    return totals


class Journal:
    """The committed plan of one customer's erasure, until it is complete."""

    def __init__(self, data_root: DataRoot, customer_id: str):
        self.data_root = data_root
        self.customer_id = validate_id(customer_id)
        self.path = privacy_dir(data_root) / "pending" / f"{customer_id}.json"
        self._content: dict | None = None

    def pending(self) -> bool:
        return self.path.is_file()

    def _load(self) -> dict:
        if self._content is None:
            self._content = json.loads(self.path.read_text())
        return self._content

    def request(self) -> str | None:
        return self._load()["request"]

    def months(self) -> list[str]:
        return list(self._load()["months"])

    def counts(self) -> dict[str, int]:
        return dict(self._load()["counts"])

    def commit(self, content: dict) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "w") as handle:
            json.dump(content, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        fsync_folder(self.path.parent)
        self._content = content

    def apply(self) -> None:
        """Rename every staged file into place (those already renamed are recognised by their SHA-256)."""
        for entry in self._load()["files"]:
            target = inbox_file(self.data_root, self.customer_id, entry)
            staged = staged_path(target)
            if staged.exists():
                os.replace(staged, target)
                fsync_folder(target.parent)
                crash_point("applied")  # after the first file: the rest are applied when run again
            elif not target.is_file() or file_sha256(target) != entry["sha256"]:
                raise RuntimeError(
                    f"inbox/{self.customer_id}/{entry['month']}/{entry['file']}: changed since the "
                    "erasure was committed; restore it from the customer's delivery and run the same "
                    "command again"
                )

    def forget(self) -> None:
        self.path.unlink(missing_ok=True)
        self._content = None


def staged_path(target: Path) -> Path:
    return target.with_name(f".{target.name}{STAGED_SUFFIX}")


def inbox_file(data_root: DataRoot, customer_id: str, entry: dict) -> Path:
    """The inbox file a journal entry names by month, table and file reference (the journal holds no file names:
    a name can hold a phone number)."""
    for source in drop_files(data_root, customer_id, entry["month"], entry["table"]):
        if source.ref == entry["file"]:
            return source.path
    raise RuntimeError(
        f"inbox/{customer_id}/{entry['month']}/{entry['file']}: no longer in the inbox since the erasure "
        "was committed; restore it from the customer's delivery and run the same command again"
    )


def clear_staged(data_root: DataRoot, customer_id: str) -> None:
    """Remove staged copies an interrupted staging left behind (no journal: they were never committed)."""
    inbox = data_root.path / "inbox" / validate_id(customer_id)
    if inbox.is_dir():
        for stray in inbox.rglob(f".*{STAGED_SUFFIX}"):
            stray.unlink(missing_ok=True)


def stage_and_commit(
    data_root: DataRoot,
    customer_id: str,
    journal: Journal,
    changed: list[MonthHoldings],
    request: str | None,
    months: list[str],
) -> None:
    """Stage every rewritten file, then commit the journal; on any failure nothing is changed."""
    clear_staged(data_root, customer_id)
    entries, staged_paths = [], []
    try:
        for month in changed:
            for frame in month.files:
                edits = month.edits.get(frame.source.ref)
                if edits is None:
                    continue
                staged = staged_path(frame.source.path)
                staged_paths.append(staged)
                rewrite_file(frame.source.path, staged, edits, f"inbox/{customer_id}/{month.month}/{frame.source.ref}")
                entries.append(
                    {
                        "month": month.month,
                        "table": frame.table.name,
                        "file": frame.source.ref,
                        "sha256": file_sha256(staged),
                    }
                )
        crash_point("staged")
        journal.commit(
            {
                "customer": customer_id,
                "request": request,
                "months": sorted(months),
                "files": entries,
                "counts": total_counts(changed),
            }
        )
    except BaseException:
        for staged in staged_paths:
            staged.unlink(missing_ok=True)
        raise


def remove_derived(data_root: DataRoot, customer_id: str, months: list[str], store) -> None:
    """Everything derived from these months: delivered objects (the manifest first, so no reader takes a half
    removed delivery for a finished one), the published folders and the warehouse months with their scratch."""
    for month in months:
        prefix = f"{customer_id}/{month}/"
        keys = store.list_keys(prefix)
        for key in sorted(keys, key=lambda k: not k.endswith("/" + MANIFEST)):
            store.delete(key)
        for folder in (data_root.published_dir(customer_id, month), data_root.warehouse_dir(customer_id, month)):
            if folder.is_dir():
                shutil.rmtree(folder)
