"""The data root's folder layout, and the validation of every name that becomes part of a path.

Customer ids, carrier names and billing months are checked here before they touch a path
or a storage key, so a name like ``../other`` or ``Globex`` is refused up front. Symbolic links
under inbox/, customers/ and published/ are refused the same way (``DataRoot.refuse_links``)
wherever a customer's files are read or published: a link could lead to another customer's.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from schemas.names import ID_PATTERN, MONTH_PATTERN, validate_id, validate_month

CONTRACTS_FOLDER = "contracts"  # warehouse/<customer>/contracts/: the customer's settings and contract tables

BUNDLED_DATA_ROOT = Path(__file__).resolve().parents[1] / "data"  # the sample data root in the repository


def configured_data_root() -> Path:
    """$TEM_DATA_ROOT when set, else the bundled data/ (what `tem` and the Dagster definitions use by default)."""
    return Path(os.environ.get("TEM_DATA_ROOT") or BUNDLED_DATA_ROOT)


class LinkRefused(ValueError):
    """A file or folder under inbox/, customers/ or published/ that is a symbolic link, or that resolves outside
    the folder its name puts it in. It is never read or written: it could reach another customer's files."""


LINK_REFUSED = "is a symbolic link; links are refused"


@dataclass(frozen=True)
class DataRoot:
    """Paths inside one data root. Every method validates the names it is given."""

    path: Path

    @classmethod
    def at(cls, path: str | os.PathLike) -> "DataRoot":
        return cls(Path(path).expanduser().resolve())

    # --- inputs -------------------------------------------------------------------------
    def customer_dir(self, customer_id: str) -> Path:
        return self.path / "customers" / validate_id(customer_id)

    def customer_file(self, customer_id: str) -> Path:
        return self.customer_dir(customer_id) / "customer.yaml"

    def contracts_dir(self, customer_id: str) -> Path:
        return self.customer_dir(customer_id) / "contracts"

    def drop_dir(self, customer_id: str, month: str) -> Path:
        return self.path / "inbox" / validate_id(customer_id) / validate_month(month)

    # --- outputs ------------------------------------------------------------------------
    def warehouse_dir(self, customer_id: str, month: str | None = None) -> Path:
        base = self.path / "warehouse" / validate_id(customer_id)
        return base if month is None else base / validate_month(month)

    def warehouse_table(self, customer_id: str, month: str | None, table: str) -> Path:
        """warehouse/<customer>/<month>/<table>.parquet; a customer's own tables (month None) are under contracts/."""
        folder = (
            self.warehouse_dir(customer_id) / CONTRACTS_FOLDER
            if month is None
            else self.warehouse_dir(customer_id, month)
        )
        return folder / f"{table}.parquet"

    def published_dir(self, customer_id: str, month: str) -> Path:
        """published/<customer>/<month>/, refused (LinkRefused) if it or its customer folder is a link: whatever is
        written there is that customer's alone."""
        return self.refuse_links(self.path / "published" / validate_id(customer_id) / validate_month(month))

    def secrets_dir(self) -> Path:
        return self.path / ".secrets"

    # --- links --------------------------------------------------------------------------
    def refuse_links(self, path: Path) -> Path:
        """`path` itself, once checked: nothing below the data root's top folder it is in (inbox/, customers/,
        published/) is a symbolic link, from the customer's folder down to the path itself, and the path resolves
        where its name puts it. The top folders themselves are the operator's (a mount point, a link to another
        disk); everything under them is named after a customer and is refused if it leads elsewhere. Parts that do
        not exist yet are fine. Raises LinkRefused, naming the first offending part relative to the data root."""
        relative = path.relative_to(self.path)
        if not relative.parts:
            return path
        top, *below = relative.parts
        owner = "/".join([top, *below[:1]])  # the customer's folder, which nothing may lead out of
        if ".." not in below:
            current, shown = self.path / top, top
            for part in below:
                current, shown = current / part, f"{shown}/{part}"
                if current.is_symlink():
                    raise LinkRefused(f"{shown}: {LINK_REFUSED}")
            if path.resolve() == (self.path / top).resolve().joinpath(*below):
                return path
        raise LinkRefused(f"{relative.as_posix()}: resolves outside {owner}; refused")

    # --- discovery ----------------------------------------------------------------------
    def customers(self) -> list[str]:
        """Customer ids with a folder under customers/ or inbox/ whose name is valid. A folder that is a symbolic
        link is listed too, so that its runs fail saying so (refuse_links) instead of vanishing without a word."""
        found: set[str] = set()
        for parent in (self.path / "customers", self.path / "inbox"):
            if parent.is_dir():
                found.update(p.name for p in parent.iterdir() if p.is_dir() and ID_PATTERN.fullmatch(p.name))
        return sorted(found)

    def months(self, customer_id: str) -> list[str]:
        inbox = self.path / "inbox" / validate_id(customer_id)
        if not inbox.is_dir():
            return []
        return sorted(p.name for p in inbox.iterdir() if p.is_dir() and MONTH_PATTERN.fullmatch(p.name))

    def ignored_inbox_entries(self) -> list[str]:
        """Folder names in the inbox that are not valid customer ids or months (reported, never read)."""
        ignored: list[str] = []
        inbox = self.path / "inbox"
        if not inbox.is_dir():
            return ignored
        for customer in sorted(inbox.iterdir()):
            if not customer.is_dir():
                continue
            if not ID_PATTERN.fullmatch(customer.name):
                ignored.append(f"inbox/{customer.name}")
                continue
            for month in sorted(customer.iterdir()):
                if month.is_dir() and not MONTH_PATTERN.fullmatch(month.name):
                    ignored.append(f"inbox/{customer.name}/{month.name}")
        return ignored


def atomic_replace(tmp_path: Path, final_path: Path) -> None:
    """Move a fully written file into place in one step (same folder, so rename is atomic)."""
    final_path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp_path, final_path)


def temp_path_for(final_path: Path) -> Path:
    final_path.parent.mkdir(parents=True, exist_ok=True)
    return final_path.with_name(f".{final_path.name}.{os.getpid()}.tmp")


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes, read a megabyte at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_folder(folder: Path) -> None:
    """Make a rename or unlink in `folder` durable (a folder that no longer exists has nothing to flush)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
