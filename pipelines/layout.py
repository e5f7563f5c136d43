"""The data root's folder layout, and the validation of every name that becomes part of a path.

Customer ids, carrier names and billing months are checked here before they touch a path
or a storage key, so a name like ``../other`` or ``Globex`` is refused up front.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
MONTH_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class InvalidName(ValueError):
    """A customer id, carrier or month that may not be used in a path."""


def validate_id(value: str, what: str = "customer id") -> str:
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise InvalidName(
            f"{what} {value!r} is not allowed: use 2-63 characters of a-z, 0-9 and '-', "
            "starting with a letter or digit"
        )
    return value


def validate_month(value: str) -> str:
    if not isinstance(value, str) or not MONTH_PATTERN.fullmatch(value):
        raise InvalidName(f"billing month {value!r} is not of the form YYYY-MM")
    return value


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

    def published_dir(self, customer_id: str, month: str) -> Path:
        return self.path / "published" / validate_id(customer_id) / validate_month(month)

    def secrets_dir(self) -> Path:
        return self.path / ".secrets"

    # --- discovery ----------------------------------------------------------------------
    def customers(self) -> list[str]:
        """Customer ids with a folder under customers/ or inbox/ whose name is valid."""
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
