"""Clean charges: every billed line's plan, feature, overage and roaming charges exactly as its contract and
its measured usage say (vectorised polars, money in integer cents)."""

from __future__ import annotations

import polars as pl

from .contracts import UNITS, allowance, overage_rate
from .money import to_units
from .profiles import CustomerProfile
from .usage import USAGE_TOTAL_COLUMNS

CHARGE_SCHEMA = {
    "account_index": pl.Int64,
    "line_id": pl.Int64,
    "msisdn": pl.String,
    "line_order": pl.Int64,
    "seq": pl.Int64,
    "charge_type": pl.String,
    "charge_code": pl.String,
    "description": pl.String,
    "quantity_milli": pl.Int64,
    "unit_rate": pl.String,
    "amount_cents": pl.Int64,
}
USAGE_CHARGES = {  # charge_type: (unit, overage or roaming, charge_code, description, order on the invoice)
    "overage_voice": ("voice", "overage", "OVG-VOICE", "Voice overage (minutes)", 10),
    "overage_sms": ("sms", "overage", "OVG-SMS", "SMS overage (messages)", 11),
    "overage_data": ("data", "overage", "OVG-DATA", "Data overage (MB)", 12),
    "roaming_voice": ("voice", "roaming", "ROAM-VOICE", "Roaming voice (minutes)", 20),
    "roaming_data": ("data", "roaming", "ROAM-DATA", "Roaming data (MB)", 21),
}
DUPLICATE_SEQ = 90  # a duplicated charge is listed after the line's regular charges
UNKNOWN_LINE_ORDER = 10**12
ACCOUNT_LEVEL_ORDER = 10**12 + 1


def tariff_frames(profile: CustomerProfile) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Plans, features and per-account roaming rates in integer units for the frames."""
    plan_rows, feature_rows, roaming_rows = [], [], []
    for contract in profile.contracts:
        tariff = profile.tariff(contract.carrier)
        for plan in contract.plans:
            row = {"plan_code": plan.code, "plan_name": plan.name, "fee_cents": to_units(tariff.fee(plan), 2)}
            for unit in UNITS:
                allowed = allowance(plan, unit)
                row[f"{unit}_allow_milli"] = None if allowed is None else to_units(allowed, 3)
                row[f"{unit}_rate_e4"] = to_units(overage_rate(plan, unit), 4)
                row[f"{unit}_rate"] = str(overage_rate(plan, unit))
            plan_rows.append(row)
        for feature in contract.features:
            feature_rows.append(
                {
                    "carrier": contract.carrier,
                    "charge_code": feature.code,
                    "feature_name": feature.name,
                    "fee_cents": to_units(feature.monthly_fee, 2),
                }
            )
    for position, account in enumerate(profile.accounts):
        tariff = profile.tariff(account.carrier)
        roaming_rows.append(
            {
                "account_index": position,
                **{f"roaming_{unit}_rate_e4": to_units(tariff.roaming_rate(unit), 4) for unit in ("voice", "data")},
                **{f"roaming_{unit}_rate": str(tariff.roaming_rate(unit)) for unit in ("voice", "data")},
            }
        )
    return pl.DataFrame(plan_rows), pl.DataFrame(feature_rows), pl.DataFrame(roaming_rows)


def _amount_cents(rate_e4: pl.Expr, quantity_milli: pl.Expr) -> pl.Expr:
    """round_half_up(rate x quantity) in cents, exactly: 1e-4 x 1e-3 = 1e-7 units."""
    return (rate_e4 * quantity_milli + 50_000) // 100_000


def clean_charges(
    month_lines: pl.DataFrame, totals: pl.DataFrame, plans: pl.DataFrame, features: pl.DataFrame, roaming: pl.DataFrame
) -> pl.DataFrame:
    """Every billed line's charges exactly as the contract and measured usage say."""
    billed = (
        month_lines.filter("billed")
        .select("line_id", "account_index", "carrier", "msisdn", "plan_code", "features")
        .join(totals, on="line_id", how="left")
        .with_columns(pl.col(c).fill_null(0) for c in USAGE_TOTAL_COLUMNS)
        .with_columns(sms_milli=pl.col("sms_count") * 1000, line_order=pl.col("line_id"))
    )
    common = ("account_index", "line_id", "msisdn", "line_order")
    plan_rows = billed.join(plans, on="plan_code").select(
        *common,
        seq=pl.lit(0, pl.Int64),
        charge_type=pl.lit("plan"),
        charge_code="plan_code",
        description="plan_name",
        quantity_milli=pl.lit(None, pl.Int64),
        unit_rate=pl.lit(None, pl.String),
        amount_cents="fee_cents",
    )
    feature_rows = (
        billed.with_columns(position=pl.int_ranges(pl.col("features").list.len()))
        .explode("features", "position")
        .filter(pl.col("features").is_not_null())
        .join(features, left_on=["carrier", "features"], right_on=["carrier", "charge_code"])
        .select(
            *common,
            seq=pl.col("position") + 1,
            charge_type=pl.lit("feature"),
            charge_code="features",
            description="feature_name",
            quantity_milli=pl.lit(None, pl.Int64),
            unit_rate=pl.lit(None, pl.String),
            amount_cents="fee_cents",
        )
    )
    with_rates = billed.join(plans, on="plan_code").join(roaming, on="account_index")
    usage_rows = []
    for charge_type, (unit, kind, code, description, seq) in USAGE_CHARGES.items():
        if kind == "overage":
            used = pl.col("sms_milli" if unit == "sms" else f"{unit}_milli")
            allowed, rate_e4, rate = (pl.col(f"{unit}_allow_milli"), pl.col(f"{unit}_rate_e4"), pl.col(f"{unit}_rate"))
            quantity = used - allowed
            billable = allowed.is_not_null() & (rate_e4 > 0) & (quantity > 0)
        else:
            quantity = pl.col(f"roaming_{unit}_milli")
            rate_e4, rate = pl.col(f"roaming_{unit}_rate_e4"), pl.col(f"roaming_{unit}_rate")
            billable = quantity > 0
        usage_rows.append(
            with_rates.filter(billable).select(
                *common,
                seq=pl.lit(seq, pl.Int64),
                charge_type=pl.lit(charge_type),
                charge_code=pl.lit(code),
                description=pl.lit(description),
                quantity_milli=quantity,
                unit_rate=rate,
                amount_cents=_amount_cents(rate_e4, quantity),
            )
        )
    return pl.concat([frame.cast(CHARGE_SCHEMA) for frame in (plan_rows, feature_rows, *usage_rows)]).sort(
        "account_index", "line_order", "seq"
    )
