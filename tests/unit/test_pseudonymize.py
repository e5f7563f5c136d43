"""Pseudonym properties: stable, keyed per customer and field, changing with the customer's data key,
computed once per distinct value; the legacy derivation (migration tests only); the development key and
master-key validation."""

import hashlib
import hmac

import polars as pl
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from reports.inputs import pseudonymize
from reports.inputs.pseudonymize import (
    MasterKeyError,
    Pseudonymizer,
    legacy_pseudonymizer,
    load_or_create_dev_key,
    parse_master_key,
)

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))


def test_same_value_same_customer_gives_the_same_pseudonym():
    assert Pseudonymizer(KEY_A, "acme").pseudonym("msisdn", "+14155550100") == Pseudonymizer(KEY_A, "acme").pseudonym(
        "msisdn", "+14155550100"
    )


def test_two_customers_get_unrelated_pseudonyms():
    assert Pseudonymizer(KEY_A, "acme").pseudonym("msisdn", "+14155550100") != Pseudonymizer(KEY_A, "globex").pseudonym(
        "msisdn", "+14155550100"
    )


def test_pseudonyms_change_with_the_data_key():
    assert Pseudonymizer(KEY_A, "acme").pseudonym("employee_id", "E1") != Pseudonymizer(KEY_B, "acme").pseudonym(
        "employee_id", "E1"
    )


def test_fields_have_their_own_keys_but_manager_ids_join_employee_ids():
    p = Pseudonymizer(KEY_A, "acme")
    assert p.pseudonym("msisdn", "1234") != p.pseudonym("imei", "1234")
    assert p.pseudonym("manager_employee_id", "E1") == p.pseudonym("employee_id", "E1")


def hkdf(key: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(key)


def test_pseudonym_is_hmac_sha256_under_an_hkdf_key_from_the_data_key():
    p = Pseudonymizer(KEY_A, "acme")
    key = p.field_key("msisdn")
    assert key == hkdf(KEY_A, b"tem-pseudonym-v2", b"customer=acme;field=msisdn")
    expected = hmac.new(key, b"+14155550100", hashlib.sha256).hexdigest()[:32]
    assert p.pseudonym("msisdn", "+14155550100") == expected


def test_the_legacy_derivation_is_the_one_of_the_versions_before_data_keys():
    """Field keys straight from the master key (salt tem-pseudonym-v1): what older data roots hold, and what the
    migration tests write; never the same pseudonyms as a data key's, even were the master key the data key."""
    legacy = legacy_pseudonymizer(KEY_A, "acme")
    assert legacy.field_key("imei") == hkdf(KEY_A, b"tem-pseudonym-v1", b"customer=acme;field=imei")
    assert legacy.pseudonym("imei", "356938035643809") != Pseudonymizer(KEY_A, "acme").pseudonym(
        "imei", "356938035643809"
    )
    assert "\\x" not in repr(legacy) and "acme" in repr(legacy)


def test_a_data_key_is_32_bytes():
    with pytest.raises(ValueError):
        Pseudonymizer(b"short", "acme")


def test_replace_columns_hashes_each_distinct_value_once(monkeypatch):
    calls = []
    real_digest = hmac.digest

    def counting_digest(key, message, digest):
        calls.append(message)
        return real_digest(key, message, digest)

    monkeypatch.setattr(pseudonymize.hmac, "digest", counting_digest)
    pseudonymize.forget_derived_keys()
    frame = pl.DataFrame({"msisdn": ["+1", "+2", "+1", None, "+2", "+1"], "amount": [1, 2, 3, 4, 5, 6]})
    out = Pseudonymizer(KEY_A, "acme").replace_columns(frame, {"msisdn": "msisdn"})
    assert sorted(calls) == [b"+1", b"+2"]
    Pseudonymizer(KEY_A, "acme").replace_columns(frame, {"msisdn": "msisdn"})  # the next table: no new HMAC
    assert len(calls) == 2
    assert out["amount"].to_list() == [1, 2, 3, 4, 5, 6]  # row order kept
    assert out["msisdn"][0] == out["msisdn"][2] == out["msisdn"][5] and out["msisdn"][3] is None


def test_repr_holds_no_key_material():
    assert "\\x00" not in repr(Pseudonymizer(KEY_A, "acme")) and "acme" in repr(Pseudonymizer(KEY_A, "acme"))


def test_development_key_is_created_once_and_reused(tmp_path):
    first = load_or_create_dev_key(tmp_path / ".secrets")
    second = load_or_create_dev_key(tmp_path / ".secrets")
    assert first == second and len(first) == 32
    assert oct((tmp_path / ".secrets" / "master.key").stat().st_mode)[-3:] == "600"


@pytest.mark.parametrize("bad", ["abc", "zz" * 32, "00" * 31, "00" * 33])
def test_malformed_master_keys_are_refused_without_echoing_them(bad):
    with pytest.raises(MasterKeyError) as raised:
        parse_master_key(bad)
    assert bad not in str(raised.value)


def test_a_valid_master_key_parses():
    assert parse_master_key("ab" * 32) == bytes([0xAB]) * 32


@pytest.mark.parametrize("empty", ["", "   ", "\n"])
def test_an_empty_master_key_is_refused_not_taken_for_an_unset_one(empty):
    with pytest.raises(MasterKeyError, match="TEM_MASTER_KEY is set but empty"):
        parse_master_key(empty)


def test_the_key_name_appears_in_the_message():
    with pytest.raises(MasterKeyError, match="^TEM_NEW_MASTER_KEY must be 64"):
        parse_master_key("ab", "TEM_NEW_MASTER_KEY")


def test_values_met_before_keep_their_pseudonyms_once_the_process_holds_too_many(monkeypatch):
    monkeypatch.setattr(pseudonymize, "_KNOWN_LIMIT", 4)
    pseudonymize.forget_derived_keys()
    p = Pseudonymizer(b"\x07" * 32, "acme")
    first = pl.DataFrame({"msisdn": ["+14155550100", "+14155550101", "+14155550102"]})
    p.replace_columns(first, {"msisdn": "msisdn"})
    # two values met before and three new: past the limit of four
    later = pl.DataFrame(
        {"msisdn": ["+14155550100", "+14155550103", "+14155550102", "+14155550104", None, "+14155550105"]}
    )
    replaced = p.replace_columns(later, {"msisdn": "msisdn"})["msisdn"].to_list()
    assert replaced == [None if v is None else p.pseudonym("msisdn", v) for v in later["msisdn"]]
    assert dict(p.mapping("msisdn", first["msisdn"]).iter_rows()) == {
        v: p.pseudonym("msisdn", v) for v in first["msisdn"]
    }
