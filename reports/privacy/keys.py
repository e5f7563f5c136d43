"""Per-customer data keys, stored only wrapped under the master key (docs/keys.md).

Each customer has its own random 32-byte data key; its pseudonyms are derived from it (reports/inputs/pseudonymize.py).
The key is kept only as `<data root>/.secrets/keys/<customer>.json` (file 0600, folders 0700): its AES key wrap
(RFC 3394) under a key-encryption key derived from the master key with HKDF-SHA256, per customer, so a key file
copied onto another customer's name does not open either. The file also holds `key_id`, a short fingerprint of the
data key that is not secret, and the warehouse records the key_id that wrote it (`warehouse/<customer>/key_id`), so a
run with another key (a restored or recreated key file) is refused before it writes a pseudonym that would not join.

* `open_customer_key` opens a customer's key (creating it on first use, race-safe between processes), refusing with
  a KeyRefused that names the customer when the master key does not open it, when it is not the key that wrote the
  warehouse, or when the warehouse predates per-customer keys (`tem keys migrate`, pipelines/commands/keys.py).
* `prepare_customer_keys` is the check `tem run` makes for every planned customer before anything is written.
* `rotate` re-wraps every key under a new master key, all or nothing (the protocol is in its docstring).
* `destroy_key` destroys a customer's wrapped key: whatever its pseudonymized data, in a backup say, can then no
  longer be linked to anyone.

Domain code: it reads and writes the data root and never imports Dagster.
"""

from __future__ import annotations

import base64
import fcntl
import hmac
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from reports.inputs.pseudonymize import (
    MasterKeyError,
    Pseudonymizer,
    forget_derived_keys,
    load_or_create_dev_key,
    parse_master_key,
)
from reports.layout import DataRoot, fsync_folder
from schemas.names import ID_PATTERN, MONTH_PATTERN, validate_id

KEY_FORMAT = "tem-customer-key"
KEY_FORMAT_VERSION = 1
DATA_KEY_BYTES = 32
KEK_SALT = b"tem-kek-v1"
KEY_ID_LABEL = b"tem-key-id"
KEY_ID_HEX_LENGTH = 16

KEYS = "keys"  # .secrets/keys/<customer>.json: the key set in use
STAGING = "keys.rotating"  # a rotation's new key set, complete once it holds COMPLETE
RETIRED = "keys.old"  # the previous key set during a rotation's swap, destroyed right after
COMPLETE = ".complete"
LOCK = "keys.lock"
MIGRATING = "migrating"  # .secrets/migrating/<customer>.json: a key migration not finished yet
DEV_KEY = "master.key"
WAREHOUSE_KEY_ID = "key_id"  # warehouse/<customer>/key_id
DEV_KEY_WARNED = "TEM_DEV_KEY_WARNED"  # set once the development-key warning was given (worker processes inherit it)

_warned_in_this_process = False


class KeyProblem(Exception):
    """A key that cannot be used as things stand: one line, nothing was written."""


class KeyRefused(KeyProblem):
    """A customer's key cannot be used: the message names the customer."""

    def __init__(self, customer_id: str, reason: str):
        super().__init__(f"customer {customer_id}: {reason}")
        self.customer_id = customer_id


class RotationRefused(KeyProblem):
    """The rotation cannot be done (or finished) as asked; the key set is as it was."""


# --------------------------------------------------------------------------------------------- paths
def _root(data_root: DataRoot | str | os.PathLike) -> DataRoot:
    return data_root if isinstance(data_root, DataRoot) else DataRoot.at(data_root)


def keys_dir(root: DataRoot, folder: str = KEYS) -> Path:
    return root.secrets_dir() / folder


def key_path(root: DataRoot, customer_id: str, folder: str = KEYS) -> Path:
    return keys_dir(root, folder) / f"{validate_id(customer_id)}.json"


def shown(root: DataRoot, path: Path) -> str:
    """A path as messages show it: relative to the data root."""
    try:
        return path.relative_to(root.path).as_posix()
    except ValueError:
        return str(path)


def keyring_customers(root: DataRoot, folder: str = KEYS) -> list[str]:
    """The customers with a key file in this key folder."""
    base = keys_dir(root, folder)
    if not base.is_dir():
        return []
    return sorted(p.stem for p in base.glob("*.json") if ID_PATTERN.fullmatch(p.stem))


# --------------------------------------------------------------------------------------------- key material
def key_id_of(data_key: bytes) -> str:
    """A short fingerprint of a data key (not secret): HMAC-SHA256(data key, "tem-key-id"), first 16 hex."""
    return hmac.digest(data_key, KEY_ID_LABEL, "sha256").hex()[:KEY_ID_HEX_LENGTH]


def _key_encryption_key(master_key: bytes, customer_id: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=KEK_SALT, info=f"tem-kek-v1;customer={customer_id}".encode()
    ).derive(master_key)


def wrap(master_key: bytes, customer_id: str, data_key: bytes) -> dict:
    """The key file's content for this data key under this master key."""
    wrapped = aes_key_wrap(_key_encryption_key(master_key, customer_id), data_key)
    return {
        "format": KEY_FORMAT,
        "version": KEY_FORMAT_VERSION,
        "customer": customer_id,
        "key_id": key_id_of(data_key),
        "wrap": "AES-256 key wrap (RFC 3394)",
        "kek": "HKDF-SHA256(master key, salt 'tem-kek-v1', info 'tem-kek-v1;customer=<id>')",
        "wrapped_key": base64.b64encode(wrapped).decode("ascii"),
    }


def _read_record(root: DataRoot, customer_id: str, path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
        if (
            not isinstance(record, dict)
            or record.get("format") != KEY_FORMAT
            or record.get("customer") != customer_id
            or not isinstance(record.get("wrapped_key"), str)
        ):
            raise ValueError
    except (OSError, ValueError):
        raise KeyRefused(
            customer_id,
            f"its key file {shown(root, path)} cannot be read as a key file; restore it "
            "from a backup of this data root",
        ) from None
    if record.get("version") != KEY_FORMAT_VERSION:
        raise KeyRefused(
            customer_id,
            f"its key file {shown(root, path)} has version {record.get('version')!r}, "
            f"this version reads {KEY_FORMAT_VERSION}",
        )
    return record


def unwrap(
    root: DataRoot, customer_id: str, master_key: bytes, folder: str = KEYS, what: str = "TEM_MASTER_KEY"
) -> bytes:
    """The customer's data key from its key file in `folder`; KeyRefused naming the customer if `what` (the master
    key) does not open it."""
    path = key_path(root, customer_id, folder)
    record = _read_record(root, customer_id, path)
    try:
        wrapped = base64.b64decode(record["wrapped_key"], validate=True)
        data_key = aes_key_unwrap(_key_encryption_key(master_key, customer_id), wrapped)
    except (InvalidUnwrap, ValueError):
        raise KeyRefused(
            customer_id,
            f"{what} does not open its data key ({shown(root, path)}); "
            "use the master key this data root was written with",
        ) from None
    if len(data_key) != DATA_KEY_BYTES or key_id_of(data_key) != record.get("key_id"):
        raise KeyRefused(
            customer_id,
            f"its key file {shown(root, path)} does not hold the key its key_id names; "
            "restore it from a backup of this data root",
        )
    return data_key


# --------------------------------------------------------------------------------------------- files


def _private_dir(folder: Path) -> None:
    """Create the folder (and .secrets above it) with mode 0700."""
    for path in (folder.parent, folder):
        if not path.is_dir():
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.chmod(0o700)
            fsync_folder(path.parent)


def _write_new(path: Path, data: bytes) -> None:
    """Write a new file (0600, refused if it exists) and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _record_bytes(record: dict) -> bytes:
    return (json.dumps(record, indent=2) + "\n").encode()


def _shred(path: Path) -> None:
    """Overwrite a file with random bytes, fsync, unlink (its folder is fsynced by the caller)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    try:
        size = os.fstat(fd).st_size
        os.write(fd, secrets.token_bytes(max(size, 1)))
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()


def _shred_folder(folder: Path) -> None:
    if not folder.exists():
        return
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.is_symlink():
            _shred(path)
    shutil.rmtree(folder)
    fsync_folder(folder.parent)


@contextmanager
def keyring_lock(root: DataRoot):
    """Exclusive use of the key set: creating a key, rotating, destroying. (Opening a key needs no lock.)"""
    _private_dir(root.secrets_dir())
    fd = os.open(root.secrets_dir() / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------- the master key
def resolve_master_key(root: DataRoot, setting: str | None, *, create_dev_key: bool = True) -> bytes | None:
    """The master key: TEM_MASTER_KEY's value when it is set (`setting`; empty, short or not hex is refused with
    MasterKeyError), else the development key `.secrets/master.key`, created on first use. Returns None when the
    development key does not exist yet and `create_dev_key` is False. Refuses to create a development key when the
    data root already holds wrapped keys: they were wrapped under a master key that is not set."""
    if setting is not None:
        return parse_master_key(setting)
    dev = root.secrets_dir() / DEV_KEY
    if dev.exists():
        return parse_master_key(dev.read_text(), name=shown(root, dev))
    if any(keyring_customers(root, folder) for folder in (KEYS, STAGING, RETIRED)):
        raise MasterKeyError(
            f"TEM_MASTER_KEY is not set and there is no development key ({shown(root, dev)}), but this data root's "
            "customer keys are wrapped under a master key: set TEM_MASTER_KEY to it"
        )
    return load_or_create_dev_key(root.secrets_dir()) if create_dev_key else None


def development_key_warning(root: DataRoot) -> str:
    return (
        f"TEM_MASTER_KEY is not set: using the development key in {root.secrets_dir() / DEV_KEY}. "
        "Set TEM_MASTER_KEY (64 hex characters) in production."
    )


def warn_development_key(root: DataRoot, warn: Callable[[str], None]) -> None:
    """Give the development-key warning once per command: not again in this process, nor in the worker processes
    it starts afterwards (they inherit TEM_DEV_KEY_WARNED)."""
    global _warned_in_this_process
    if _warned_in_this_process or os.environ.get(DEV_KEY_WARNED):
        return
    _warned_in_this_process = True
    os.environ[DEV_KEY_WARNED] = "1"
    warn(development_key_warning(root))


# --------------------------------------------------------------------------------------------- the warehouse
def warehouse_key_id(root: DataRoot, customer_id: str) -> str | None:
    """The key_id the customer's warehouse records (the key that wrote it), or None."""
    try:
        return (root.warehouse_dir(customer_id) / WAREHOUSE_KEY_ID).read_text().strip()
    except FileNotFoundError:
        return None


def warehouse_months(root: DataRoot, customer_id: str) -> list[str]:
    """The customer's warehouse months that hold tables."""
    base = root.warehouse_dir(customer_id)
    if not base.is_dir():
        return []
    return sorted(
        p.name for p in base.iterdir() if p.is_dir() and MONTH_PATTERN.fullmatch(p.name) and any(p.glob("*.parquet"))
    )


def is_legacy(root: DataRoot, customer_id: str) -> bool:
    """Written before per-customer data keys: warehouse months with tables, and no key_id recording their key.
    (Tables are looked at first: a writer records the key_id before it writes any table.)"""
    return bool(warehouse_months(root, customer_id)) and warehouse_key_id(root, customer_id) is None


def record_warehouse_key(root: DataRoot, customer_id: str, data_key: bytes) -> None:
    """Record in the warehouse which key writes it (once; the same key_id again is a no-op)."""
    key_id = key_id_of(data_key)
    recorded = warehouse_key_id(root, customer_id)
    if recorded == key_id:
        return
    if recorded is not None:
        raise KeyRefused(customer_id, _mismatch(root, customer_id))
    folder = root.warehouse_dir(customer_id)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{WAREHOUSE_KEY_ID}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    try:
        _write_new(tmp, f"{key_id}\n".encode())
        os.replace(tmp, folder / WAREHOUSE_KEY_ID)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_folder(folder)


def _mismatch(root: DataRoot, customer_id: str) -> str:
    return (
        f"its data key ({shown(root, key_path(root, customer_id))}) is not the key that wrote its warehouse "
        f"(warehouse/{customer_id}/{WAREHOUSE_KEY_ID}); restore the customer's key file from the backup of this "
        "data root that matches its warehouse"
    )


def _legacy(customer_id: str) -> str:
    return (
        "its warehouse was written before per-customer data keys (no warehouse/"
        f"{customer_id}/{WAREHOUSE_KEY_ID}); run `tem keys migrate` once to rebuild it (docs/keys.md)"
    )


# --------------------------------------------------------------------------------------------- rotation state
def rotation_pending(root: DataRoot) -> bool:
    """A rotation committed its new key set (or is swapping it in) and has not finished."""
    return (keys_dir(root, STAGING) / COMPLETE).exists() or keys_dir(root, RETIRED).exists()


def _refuse_pending_rotation(root: DataRoot, customer_id: str) -> None:
    if rotation_pending(root):
        raise KeyRefused(
            customer_id,
            "a key rotation is in progress or was interrupted (.secrets/keys.rotating, "
            ".secrets/keys.old): wait for it, or run `tem keys rotate` again to finish it",
        )


# --------------------------------------------------------------------------------------------- opening and creating
def open_customer_key(
    root: DataRoot, customer_id: str, master_key: bytes | None, *, create: bool = True
) -> bytes | None:
    """The customer's data key, checked against the key_id its warehouse records. A customer without a key and
    without a warehouse gets one (create=True) or None (create=False: nothing is written). KeyRefused, naming the
    customer, for every key problem; nothing is written then."""
    validate_id(customer_id)
    _refuse_pending_rotation(root, customer_id)
    # read in the opposite order of a first use in another process (key file, then key_id, then tables), so that
    # a customer being created right now is never taken for a legacy or a lost key
    months = warehouse_months(root, customer_id)
    recorded = warehouse_key_id(root, customer_id)
    if key_path(root, customer_id).exists():
        if master_key is None:  # a development key not created yet cannot have wrapped it
            raise KeyRefused(
                customer_id,
                "TEM_MASTER_KEY is not set and there is no development key to open its data key; set TEM_MASTER_KEY",
            )
        data_key = unwrap(root, customer_id, master_key)
        if recorded is not None and recorded != key_id_of(data_key):
            raise KeyRefused(customer_id, _mismatch(root, customer_id))
        if recorded is None and months:
            raise KeyRefused(customer_id, _legacy(customer_id))
        return data_key
    if recorded is not None:
        _refuse_pending_rotation(root, customer_id)  # the key folder is being swapped right now
        raise KeyRefused(
            customer_id,
            f"its data key ({shown(root, key_path(root, customer_id))}) is missing, but its "
            f"warehouse was written with one (warehouse/{customer_id}/{WAREHOUSE_KEY_ID}); "
            "restore the key file from a backup of this data root",
        )
    if months:
        raise KeyRefused(customer_id, _legacy(customer_id))
    if not create:
        return None
    return create_customer_key(root, customer_id, master_key)


def create_customer_key(root: DataRoot, customer_id: str, master_key: bytes | None) -> bytes:
    """A new random data key for the customer, wrapped under the master key; if the customer has one already
    (another process was first), that one. Refused when the master key does not open the keys already held: one
    master key wraps the whole key set."""
    if master_key is None:
        raise KeyRefused(customer_id, "no master key to wrap its data key under")
    with keyring_lock(root):
        _refuse_pending_rotation(root, customer_id)
        path = key_path(root, customer_id)
        if path.exists():
            return unwrap(root, customer_id, master_key)
        others = keyring_customers(root)
        if others:
            unwrap(root, others[0], master_key)  # one master key for all: a key it does not open is refused
        data_key = secrets.token_bytes(DATA_KEY_BYTES)
        _private_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        try:
            _write_new(tmp, _record_bytes(wrap(master_key, customer_id, data_key)))
            try:
                os.link(tmp, path)  # refused if another process created the key first: theirs wins
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
        fsync_folder(path.parent)
        return unwrap(root, customer_id, master_key)


def pseudonymizer_for(data_root: DataRoot | str | os.PathLike, customer_id: str, master_key_hex: str) -> Pseudonymizer:
    """The customer's pseudonymizer, from its data key in this data root opened with this master key (hex). Creates
    nothing: KeyRefused when the customer has no key yet or the master key does not open it."""
    root = _root(data_root)
    data_key = open_customer_key(root, customer_id, parse_master_key(master_key_hex), create=False)
    if data_key is None:
        raise KeyRefused(customer_id, f"it has no data key yet ({shown(root, key_path(root, customer_id))})")
    return Pseudonymizer(data_key, customer_id)


def _customers_label(customers: list[str]) -> str:
    return f"customer {customers[0]}" if len(customers) == 1 else f"customers {', '.join(customers)}"


def prepare_customer_keys(
    root: DataRoot, customers: Iterable[str], setting: str | None, warn: Callable[[str], None]
) -> list[str]:
    """Before a run: every customer's key must open with the master key and match its warehouse. Returns the
    problems, one line each naming the customer(s), with nothing written; when there are none, the keys of new
    customers are created and every warehouse records its key (the development key is created, and the warning
    given once, when TEM_MASTER_KEY is not set)."""
    customers = sorted(customers)
    if not customers:
        return []
    try:
        master_key = resolve_master_key(root, setting, create_dev_key=False)
    except MasterKeyError as problem:
        return [f"{_customers_label(customers)}: {problem}"]
    problems: list[str] = []
    new: list[str] = []
    for customer_id in customers:
        try:
            if migration_pending(root, customer_id):
                journal = shown(root, migration_path(root, customer_id))
                raise KeyRefused(
                    customer_id, f"a key migration is not finished ({journal}); run `tem keys migrate` to complete it"
                )
            if open_customer_key(root, customer_id, master_key, create=False) is None:
                new.append(customer_id)
        except KeyRefused as problem:
            problems.append(str(problem))
    if not problems and new and master_key is not None:
        others = [c for c in keyring_customers(root) if c not in customers]
        if others:  # new keys are wrapped under this master key: it must open the keys already held
            try:
                unwrap(root, others[0], master_key)
            except KeyRefused as problem:
                problems.append(f"{problem} (checked before creating the key of {_customers_label(new)})")
    if problems:
        return problems
    if setting is None:
        master_key = resolve_master_key(root, setting)
        warn_development_key(root, warn)
    for customer_id in customers:
        try:
            data_key = open_customer_key(root, customer_id, master_key, create=True)
            record_warehouse_key(root, customer_id, data_key)
        except KeyRefused as problem:  # changed under us (another command): refuse, having written only keys
            problems.append(str(problem))
    return problems


# --------------------------------------------------------------------------------------------- destroying
def destroy_key(data_root: DataRoot | str | os.PathLike, customer_id: str) -> bool:
    """Destroy the customer's wrapped data key (overwritten, then unlinked, the folder fsynced), in the key set in
    use and in a rotation's sets if one is under way. Whatever pseudonymized data of the customer is left, in a
    backup say, can no longer be linked to anyone. True if there was a key to destroy. For offboarding: the
    customer's warehouse is the offboarding's to remove (a run refuses it afterwards: its key is gone)."""
    root = _root(data_root)
    validate_id(customer_id)
    destroyed = False
    with keyring_lock(root):
        for folder in (KEYS, STAGING, RETIRED):
            path = key_path(root, customer_id, folder)
            if path.exists():
                _shred(path)
                fsync_folder(path.parent)
                destroyed = True
    forget_derived_keys()
    return destroyed


# --------------------------------------------------------------------------------------------- migration journal
def migration_path(root: DataRoot, customer_id: str) -> Path:
    return root.secrets_dir() / MIGRATING / f"{validate_id(customer_id)}.json"


def migration_pending(root: DataRoot, customer_id: str) -> bool:
    return migration_path(root, customer_id).exists()


def pending_migrations(root: DataRoot) -> list[str]:
    folder = root.secrets_dir() / MIGRATING
    return sorted(p.stem for p in folder.glob("*.json") if ID_PATTERN.fullmatch(p.stem)) if folder.is_dir() else []


def migration_months(root: DataRoot, customer_id: str) -> list[str]:
    return list(json.loads(migration_path(root, customer_id).read_text())["months"])


def begin_migration(root: DataRoot, customer_id: str, months: list[str]) -> None:
    """Commit to migrating the customer (one rename): from here on the same command finishes it."""
    path = migration_path(root, customer_id)
    _private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        _write_new(tmp, (json.dumps({"customer": customer_id, "months": sorted(months)}) + "\n").encode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_folder(path.parent)


def end_migration(root: DataRoot, customer_id: str) -> None:
    path = migration_path(root, customer_id)
    path.unlink(missing_ok=True)
    if path.parent.is_dir():
        fsync_folder(path.parent)


def clear_warehouse(root: DataRoot, customer_id: str) -> None:
    """Remove the customer's whole warehouse (its pseudonyms would not join the new key's)."""
    folder = root.warehouse_dir(customer_id)
    if folder.exists():
        shutil.rmtree(folder)
        fsync_folder(folder.parent)


# --------------------------------------------------------------------------------------------- rotation
@dataclass
class Rotation:
    outcome: str  # "done" or "nothing_to_do"
    customers: int
    message: str


def _opens(root: DataRoot, customer_id: str, master_key: bytes, folder: str = KEYS) -> bool:
    try:
        unwrap(root, customer_id, master_key, folder)
        return True
    except KeyRefused:
        return False


def _finish_rotation(root: DataRoot, new_key: bytes) -> bool:
    """Bring an interrupted rotation to its end (see `rotate`); True if there was one to finish."""
    from reports.privacy.erasure import crash_point

    secrets_dir = root.secrets_dir()
    current, staging, retired = keys_dir(root, KEYS), keys_dir(root, STAGING), keys_dir(root, RETIRED)
    if staging.exists() and not (staging / COMPLETE).exists():
        _shred_folder(staging)  # an unfinished new set: the set in use was never touched
    if staging.exists():  # complete: the rotation is decided, finish the swap
        if current.exists() and retired.exists():
            raise RotationRefused(
                "the key folders .secrets/keys, .secrets/keys.old and .secrets/keys.rotating all "
                "exist, which no rotation leaves behind; restore .secrets from a backup"
            )
        for customer_id in keyring_customers(root, STAGING):
            if not _opens(root, customer_id, new_key, STAGING):
                raise RotationRefused(
                    "an interrupted rotation to another master key is pending: run `tem keys "
                    "rotate` again with the TEM_NEW_MASTER_KEY it was started with"
                )
        if current.exists():
            os.rename(current, retired)
            fsync_folder(secrets_dir)
        crash_point("rotate-swapping")
        os.rename(staging, current)
        fsync_folder(secrets_dir)
        crash_point("rotate-swapped")
    if retired.exists():
        if not current.exists():
            raise RotationRefused(
                "the key folder .secrets/keys is missing and .secrets/keys.old is left from a "
                "rotation; restore .secrets from a backup"
            )
        for customer_id in keyring_customers(root):
            if not _opens(root, customer_id, new_key):
                raise RotationRefused(
                    "an interrupted rotation to another master key is pending: run `tem keys "
                    "rotate` again with the TEM_NEW_MASTER_KEY it was started with"
                )
        _shred_folder(retired)  # the old master key opens nothing any more
    if (current / COMPLETE).exists():  # the marker came along with the new set
        (current / COMPLETE).unlink()
        fsync_folder(current)
        return True
    return False


def rotate(data_root: DataRoot | str | os.PathLike, master_key: bytes, new_master_key: bytes) -> Rotation:
    """Re-wrap every customer's data key under `new_master_key`, all or nothing. The data keys themselves (and so
    every pseudonym) stay the same.

    1. Under the key-set lock, an interrupted rotation is finished first (steps 4-5), or its unfinished staging
       folder discarded.
    2. Every key must open with the current master key (else refused, naming the customer, nothing written); if
       every key already opens with the new one, the rotation was done: nothing to do.
    3. Stage: each key is re-wrapped into `.secrets/keys.rotating/<customer>.json` (fsynced), then the marker
       `.complete` is written (fsynced, folder fsynced). Killed before the marker, the set in use is untouched
       and the next attempt discards the staging folder.
    4. Swap: rename `keys` to `keys.old`, then `keys.rotating` to `keys` (the folder fsynced after each). Killed
       between the two, there is no `keys`, but `keys.rotating` is complete: the next attempt renames it.
    5. Destroy `keys.old` (each file overwritten, then removed) and the marker: the old master key opens nothing.
    Runs are refused while a complete staging folder or `keys.old` exists (`tem keys rotate` again finishes it).
    """
    from reports.privacy.erasure import crash_point

    root = _root(data_root)
    if not root.secrets_dir().is_dir():  # no key at all (and no lock file to create for nothing)
        _refuse_unmigrated(root)
        return Rotation("nothing_to_do", 0, "no customer keys to rotate")
    with keyring_lock(root):
        finished = _finish_rotation(root, new_master_key)
        customers = keyring_customers(root)
        _refuse_unmigrated(root)
        if not customers:
            return Rotation("done" if finished else "nothing_to_do", 0, "no customer keys to rotate")
        if all(_opens(root, c, new_master_key) for c in customers):
            if finished:
                return Rotation(
                    "done",
                    len(customers),
                    f"completed an interrupted rotation: {len(customers)} "
                    "customer key(s) now open with the new master key only",
                )
            return Rotation(
                "nothing_to_do",
                len(customers),
                "already rotated: every customer key opens with TEM_NEW_MASTER_KEY; nothing to do",
            )
        data_keys: dict[str, bytes] = {}
        for customer_id in customers:
            try:
                data_keys[customer_id] = unwrap(root, customer_id, master_key)
            except KeyRefused as problem:
                more = sum(1 for c in customers if c != customer_id and not _opens(root, c, master_key))
                raise RotationRefused(
                    f"{problem}{f' (and {more} more customer(s))' if more else ''}; nothing was rotated"
                ) from None

        staging = keys_dir(root, STAGING)
        _private_dir(staging)
        for index, customer_id in enumerate(customers):
            _write_new(
                key_path(root, customer_id, STAGING),
                _record_bytes(wrap(new_master_key, customer_id, data_keys[customer_id])),
            )
            if index == 0:
                crash_point("rotate-staging")
        _write_new(staging / COMPLETE, (json.dumps({"customers": len(customers)}) + "\n").encode())
        fsync_folder(staging)
        fsync_folder(staging.parent)
        crash_point("rotate-staged")
        _finish_rotation(root, new_master_key)
    return Rotation(
        "done",
        len(customers),
        f"rotated {len(customers)} customer key(s) to TEM_NEW_MASTER_KEY: from "
        "now on set TEM_MASTER_KEY to that key; the old master key opens nothing",
    )


def _refuse_unmigrated(root: DataRoot) -> None:
    unfinished = pending_migrations(root) or legacy_customers(root)
    if unfinished:  # their pseudonyms (still) come from the master key itself: migrate them first
        raise RotationRefused(
            f"customer {unfinished[0]}: its warehouse is not migrated to its own data key: run "
            "`tem keys migrate` first, then rotate; nothing was rotated"
        )


def _warehouse_customers(root: DataRoot) -> list[str]:
    base = root.path / "warehouse"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and ID_PATTERN.fullmatch(p.name))


def legacy_customers(root: DataRoot) -> list[str]:
    return [c for c in _warehouse_customers(root) if is_legacy(root, c)]
