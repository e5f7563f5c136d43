"""Pseudonymization: keyed HMAC-SHA256 per customer and per field.

Each customer has its own random 32-byte data key (stored only wrapped under the master key, see
reports/privacy/keys.py and docs/keys.md). Field keys are derived from it with HKDF-SHA256, one per field, so the
same phone number gets unrelated pseudonyms under two customers and under two fields. HMAC runs once per distinct
value, then the result is joined back onto the rows.

`legacy_pseudonymizer` keeps the derivation of the versions before per-customer data keys (field keys straight
from the master key); it exists only so the migration of such a data root can be tested.
"""

from __future__ import annotations

import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path

import polars as pl
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MASTER_KEY_HEX_LENGTH = 64
PSEUDONYM_HEX_LENGTH = 32  # 128 bits: no collisions in practice, short enough to read
KDF_SALT = b"tem-pseudonym-v2"  # field keys from a customer's data key
LEGACY_KDF_SALT = b"tem-pseudonym-v1"  # field keys from the master key itself (before per-customer data keys)

# Fields that share a key so that joins across columns keep working (a manager id is an employee id).
FIELD_KEYS = {
    "msisdn": "msisdn",
    "imei": "imei",
    "employee_id": "employee_id",
    "manager_employee_id": "employee_id",
}


class MasterKeyError(ValueError):
    pass


def parse_master_key(hex_key: str, name: str = "TEM_MASTER_KEY") -> bytes:
    """32 key bytes from 64 hex characters; MasterKeyError (never echoing the value) for anything else, an empty
    value included: a key that is set must be a key."""
    cleaned = hex_key.strip()
    if not cleaned:
        raise MasterKeyError(
            f"{name} is set but empty: set it to the {MASTER_KEY_HEX_LENGTH} hexadecimal characters of the master key "
            "(an empty value is never taken for an unset one)"
        )
    if len(cleaned) != MASTER_KEY_HEX_LENGTH:
        raise MasterKeyError(
            f"{name} must be {MASTER_KEY_HEX_LENGTH} hexadecimal characters (32 random bytes), "
            f"got {len(cleaned)} characters; create one with: python3 -c 'import secrets; print(secrets.token_hex(32))'"
        )
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise MasterKeyError(f"{name} must contain only hexadecimal characters 0-9 and a-f") from None


def load_or_create_dev_key(secrets_dir: Path) -> bytes:
    """The development master key under the data root's .secrets/, created on first use."""
    key_file = secrets_dir / "master.key"
    if key_file.exists():
        return parse_master_key(key_file.read_text())
    secrets_dir.mkdir(parents=True, exist_ok=True)
    secrets_dir.chmod(0o700)
    tmp = key_file.with_suffix(".tmp")
    tmp.write_text(secrets.token_hex(32) + "\n")
    tmp.chmod(0o600)
    try:
        # link fails if another process created the key first; theirs wins so both agree
        os.link(tmp, key_file)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return parse_master_key(key_file.read_text())


@lru_cache(maxsize=1024)
def _derive_field_key(key: bytes, customer_id: str, field_key: str, salt: bytes = KDF_SALT) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=salt,
        info=f"customer={customer_id};field={field_key}".encode(),
    ).derive(key)


def forget_derived_keys() -> None:
    """Drop every cached field key and pseudonym of this process (after a customer's data key is destroyed)."""
    _derive_field_key.cache_clear()
    _keyed_pseudonym.cache_clear()
    _KNOWN_PSEUDONYMS.clear()


# The pseudonyms this process has computed, per field key, as a frame (value, pseudonym): the chunks and tables of a
# month repeat the same values, and a vectorised join against what is known replaces a Python call per distinct
# value per chunk (issue #19). In memory only, like the values being pseudonymized; reset past the limit.
_KNOWN_PSEUDONYMS: dict[bytes, pl.DataFrame] = {}
_KNOWN_LIMIT = 2_000_000
_MAPPING_SCHEMA = {"value": pl.String, "pseudonym": pl.String}


def _hmac_pseudonym(field_key: bytes, value: str) -> str:
    return hmac.digest(field_key, value.encode("utf-8"), "sha256").hex()[:PSEUDONYM_HEX_LENGTH]


@lru_cache(maxsize=65_536)  # single values (a subject's identifiers); tables go through `Pseudonymizer.mapping`
def _keyed_pseudonym(field_key: bytes, value: str) -> str:
    return _hmac_pseudonym(field_key, value)


class Pseudonymizer:
    """Pseudonyms for one customer, from the customer's 32-byte data key (reports/privacy/keys.py hands one out).
    Holds key material only; never logs values."""

    _salt = KDF_SALT

    def __init__(self, data_key: bytes, customer_id: str):
        if len(data_key) != 32:
            raise ValueError("a data key is 32 bytes")
        self._data_key = data_key
        self.customer_id = customer_id

    def __repr__(self) -> str:  # keep key material out of logs and tracebacks
        return f"{type(self).__name__}(customer_id={self.customer_id!r})"

    def field_key(self, field: str) -> bytes:
        return _derive_field_key(self._data_key, self.customer_id, FIELD_KEYS[field], self._salt)

    def pseudonym(self, field: str, value: str) -> str:
        return _keyed_pseudonym(self.field_key(field), value)

    def mapping(self, field: str, values: pl.Series) -> pl.DataFrame:
        """Distinct non-null values and their pseudonyms: columns `value`, `pseudonym`."""
        distinct = pl.DataFrame({"value": values.drop_nulls().unique()}, schema={"value": pl.String})
        return distinct.join(_known_pseudonyms(self.field_key(field), values), on="value", how="left")

    def replace_columns(self, frame: pl.DataFrame, columns: dict[str, str]) -> pl.DataFrame:
        """Replace each column (name -> field) by its pseudonym, computed once per distinct value."""
        for column, field in columns.items():
            if column not in frame.columns:
                continue
            known = _known_pseudonyms(self.field_key(field), frame[column])
            frame = (
                frame.join(
                    known.rename({"value": column, "pseudonym": "__pseudonym"}),
                    on=column,
                    how="left",
                    maintain_order="left",
                )
                .with_columns(pl.col("__pseudonym").alias(column))
                .drop("__pseudonym")
            )
        return frame


def _known_pseudonyms(field_key: bytes, values: pl.Series) -> pl.DataFrame:
    """This process's (value, pseudonym) frame for a field key, holding at least every value of `values`: only the
    values it has not met are sent to HMAC. Past the limit it keeps just what `values` needs, plus the new ones."""
    known = _KNOWN_PSEUDONYMS.get(field_key, pl.DataFrame(schema=_MAPPING_SCHEMA))
    asked = pl.DataFrame({"value": values}, schema={"value": pl.String})
    new = asked.join(known, on="value", how="anti").drop_nulls().unique()["value"].to_list()
    if new:
        added = pl.DataFrame(
            {"value": new, "pseudonym": [_hmac_pseudonym(field_key, v) for v in new]}, schema=_MAPPING_SCHEMA
        )
        if known.height + added.height > _KNOWN_LIMIT:
            known = known.join(asked, on="value", how="semi")
        known = pl.concat([known, added])
        _KNOWN_PSEUDONYMS[field_key] = known
    return known


class _LegacyPseudonymizer(Pseudonymizer):
    _salt = LEGACY_KDF_SALT


def legacy_pseudonymizer(master_key: bytes, customer_id: str) -> Pseudonymizer:
    """The pseudonyms of the versions before per-customer data keys: field keys derived from the master key and the
    customer id. Only for testing the migration of a data root those versions wrote (docs/keys.md); never used to
    write a warehouse."""
    return _LegacyPseudonymizer(master_key, customer_id)
