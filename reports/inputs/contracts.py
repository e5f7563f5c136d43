"""The customer's own files under customers/<id>/: customer.yaml and one contract per carrier, read as ingest and
publishing read them (never through a symbolic link), and stored as warehouse tables (no personal data)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from reports.layout import DataRoot, LinkRefused
from reports.warehouse.store import Warehouse
from schemas.contract import Contract, ContractError, CustomerSettings, load_contract, load_customer_settings
from schemas.values import MONEY, QUANTITY

PLAN_SCHEMA = {
    "carrier": pl.String,
    "discount_pct": QUANTITY,
    "fee": MONEY,
    "code": pl.String,
    "name": pl.String,
    "monthly_fee": MONEY,
    "voice_min": QUANTITY,
    "sms": QUANTITY,
    "data_mb": QUANTITY,
    "overage_voice_per_min": QUANTITY,
    "overage_sms_per_msg": QUANTITY,
    "overage_data_per_mb": QUANTITY,
}
FEATURE_SCHEMA = {
    "carrier": pl.String,
    "code": pl.String,
    "name": pl.String,
    "category": pl.String,
    "monthly_fee": MONEY,
}
ROAMING_SCHEMA = {"carrier": pl.String, "voice_per_min": QUANTITY, "data_per_mb": QUANTITY}
SETTINGS_SCHEMA = {"customer_id": pl.String, "name": pl.String, "region": pl.String, "currency": pl.String}


def customer_file_checked(data_root: DataRoot, path: Path) -> Path:
    """A path under customers/<id>/, refused (ContractError) if it or a folder on the way is a symbolic link."""
    try:
        return data_root.refuse_links(path)
    except LinkRefused as problem:
        raise ContractError(str(problem)) from None


def customer_settings(data_root: DataRoot, customer_id: str) -> CustomerSettings:
    path = customer_file_checked(data_root, data_root.customer_file(customer_id))
    return load_customer_settings(path, f"customers/{customer_id}/customer.yaml")


def contract_tables(data_root: DataRoot, customer_id: str) -> dict[str, pl.DataFrame]:
    """customer.yaml and every contracts/<carrier>.yaml as warehouse tables (no personal data)."""
    settings = customer_settings(data_root, customer_id)
    folder = customer_file_checked(data_root, data_root.contracts_dir(customer_id))
    paths = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []
    paths = [customer_file_checked(data_root, path) for path in paths]
    if not paths:
        raise ContractError(f"customers/{customer_id}/contracts/: no contract (<carrier>.yaml) found")
    contracts = [load_contract(path, f"customers/{customer_id}/contracts/{path.name}") for path in paths]
    return contract_frames(customer_id, settings, contracts)


def contract_frames(customer_id: str, settings: CustomerSettings, contracts: list[Contract]) -> dict[str, pl.DataFrame]:
    plans = [
        {"carrier": c.carrier, "discount_pct": c.discount_pct, "fee": c.discounted_fee(plan), **plan.model_dump()}
        for c in contracts
        for plan in c.plans
    ]
    features = [{"carrier": c.carrier, **feature.model_dump()} for c in contracts for feature in c.features]
    roaming = [{"carrier": c.carrier, **c.roaming.model_dump()} for c in contracts]
    return {
        "customer_settings": pl.DataFrame(
            [{"customer_id": customer_id, **settings.model_dump()}], schema=SETTINGS_SCHEMA
        ),
        "contract_plans": pl.DataFrame(plans, schema=PLAN_SCHEMA),
        "contract_features": pl.DataFrame(features, schema=FEATURE_SCHEMA),
        "contract_roaming": pl.DataFrame(roaming, schema=ROAMING_SCHEMA),
    }


def dispute_windows(data_root: DataRoot, customer_id: str, carriers: list[str]) -> dict[str, int]:
    """carrier -> `dispute_window_days` of its contract (contracts/<carrier>.yaml, read as ingest reads it), for the
    carriers that have a contract file; the others get the default window."""
    folder = customer_file_checked(data_root, data_root.contracts_dir(customer_id))
    windows = {}
    for carrier in carriers:
        for path in (folder / f"{carrier}.yaml", folder / f"{carrier}.yml"):
            if path.exists() or path.is_symlink():
                path = customer_file_checked(data_root, path)
                contract = load_contract(path, f"customers/{customer_id}/contracts/{path.name}")
                windows[carrier] = contract.dispute_window_days
                break
    return windows


def currency_of(warehouse: Warehouse, customer_id: str) -> str:
    """The customer's currency, as its contracts run stored it."""
    return warehouse.read(customer_id, None, "customer_settings")["currency"][0]
