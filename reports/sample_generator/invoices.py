"""A month's invoices: the clean charges of every account, the billing errors planted on them, the
account-level charges and the stated totals, and the invoices as the oracle reads them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Callable

import polars as pl

from .charges import ACCOUNT_LEVEL_ORDER, CHARGE_SCHEMA, DUPLICATE_SEQ, UNKNOWN_LINE_ORDER, USAGE_CHARGES
from .contracts import DEVICE_PLANS, Tariff
from .expected import AMOUNT_SLACK, TOLERANCE_SHARE, Charge, Invoice, MeasuredUsage
from .money import CENT, MILLI, from_cents, from_milli, round_cents, to_units
from .months import BillingMonth
from .profiles import CustomerProfile, Plant

D = Decimal


# --------------------------------------------------------------------------- planted billing errors


class InvoiceBook:
    """The month's charges of every account, open to planted errors."""

    def __init__(self, charges: pl.DataFrame):
        self.charges = charges
        self.total_adjustment_cents: dict[int, int] = {}

    def first(self, line_id: int, charge_type: str) -> dict:
        rows = (
            self.charges.filter((pl.col("line_id") == line_id) & (pl.col("charge_type") == charge_type))
            .sort("seq")
            .to_dicts()
        )
        if not rows:
            raise RuntimeError(f"line {line_id} has no {charge_type} charge to plant an error on")
        return rows[0]

    def change(self, row: dict, **values) -> None:
        match = (
            (pl.col("line_id") == row["line_id"])
            & (pl.col("charge_type") == row["charge_type"])
            & (pl.col("seq") == row["seq"])
        )
        self.charges = self.charges.with_columns(
            pl.when(match).then(pl.lit(value, CHARGE_SCHEMA[name])).otherwise(pl.col(name)).alias(name)
            for name, value in values.items()
        )

    def add(self, *rows: dict) -> None:
        self.charges = pl.concat([self.charges, pl.DataFrame(list(rows), schema=CHARGE_SCHEMA)])


@dataclass
class PlantContext:
    profile: CustomerProfile
    month: BillingMonth
    book: InvoiceBook
    lines: dict[int, dict]  # month_lines rows of role lines by line id
    usage: Callable[[str], MeasuredUsage]
    fresh_number: Callable[[], str]

    def role_line(self, name: str) -> dict:
        return self.lines[self.profile.role_index(name)]

    def tariff_of(self, line: dict) -> Tariff:
        return self.profile.tariff(line["carrier"])


def _usage_charge(line: dict, charge_type: str, quantity: Decimal, rate: Decimal) -> dict:
    unit, kind, code, description, seq = USAGE_CHARGES[charge_type]
    return {
        "account_index": line["account_index"],
        "line_id": line["line_id"],
        "msisdn": line["msisdn"],
        "line_order": line["line_id"],
        "seq": seq,
        "charge_type": charge_type,
        "charge_code": code,
        "description": description,
        "quantity_milli": to_units(quantity, 3),
        "unit_rate": str(rate),
        "amount_cents": to_units(round_cents(rate * quantity), 2),
    }


def _recurring_charges(line: dict, tariff: Tariff, *, line_order: int) -> list[dict]:
    plan = tariff.plan(line["plan_code"])
    base = {
        "account_index": line["account_index"],
        "line_id": line.get("line_id"),
        "msisdn": line["msisdn"],
        "line_order": line_order,
        "quantity_milli": None,
        "unit_rate": None,
    }
    rows = [
        {
            **base,
            "seq": 0,
            "charge_type": "plan",
            "charge_code": plan.code,
            "description": plan.name,
            "amount_cents": to_units(tariff.fee(plan), 2),
        }
    ]
    for position, code in enumerate(line["features"], start=1):
        feature = tariff.feature(code)
        rows.append(
            {
                **base,
                "seq": position,
                "charge_type": "feature",
                "charge_code": code,
                "description": feature.name,
                "amount_cents": to_units(feature.monthly_fee, 2),
            }
        )
    return rows


def apply_plant(plant: Plant, ctx: PlantContext) -> list[tuple[int, str, str]]:
    """Apply one plant; return the findings it must produce as (account, msisdn, type)."""
    book = ctx.book
    if plant.kind in ("unknown_line", "invoice_total_overstated", "invoice_total_one_cent_over"):
        account = plant.account
        if plant.kind == "unknown_line":
            tariff = ctx.profile.tariff(ctx.profile.accounts[account].carrier)
            plan = next(p for p in tariff.plans if p.code not in DEVICE_PLANS)
            stranger = {
                "account_index": account,
                "line_id": None,
                "msisdn": ctx.fresh_number(),
                "plan_code": plan.code,
                "features": [tariff.features[0].code],
            }
            book.add(*_recurring_charges(stranger, tariff, line_order=UNKNOWN_LINE_ORDER))
            return [(account, stranger["msisdn"], "UNKNOWN_LINE")]
        adjustment = plant.amount if plant.kind == "invoice_total_overstated" else CENT
        book.total_adjustment_cents[account] = book.total_adjustment_cents.get(account, 0) + to_units(adjustment, 2)
        return [(account, "", "INVOICE_TOTAL_MISMATCH")] if adjustment > AMOUNT_SLACK else []

    line = ctx.role_line(plant.role)
    tariff = ctx.tariff_of(line)
    line_id, account, msisdn = line["line_id"], line["account_index"], line["msisdn"]
    expect = lambda *types: [(account, msisdn, t) for t in types]  # noqa: E731
    usage = ctx.usage(msisdn)

    if plant.kind == "cancelled_line_billed":
        if line["billed"]:
            raise RuntimeError(f"{plant.role} is still billed in {ctx.month.key}")
        book.add(*_recurring_charges(line, tariff, line_order=line_id))
        return expect("CANCELLED_LINE_BILLED")
    if plant.kind == "duplicate_plan":
        book.add({**book.first(line_id, "plan"), "seq": DUPLICATE_SEQ})
        return expect("DUPLICATE_CHARGE")
    if plant.kind == "duplicate_overpriced_plan":
        row = book.first(line_id, "plan")
        overpriced = row["amount_cents"] + 750
        book.change(row, amount_cents=overpriced)
        book.add({**row, "amount_cents": overpriced, "seq": DUPLICATE_SEQ})
        return expect("DUPLICATE_CHARGE", "PLAN_RATE_MISMATCH")
    if plant.kind == "duplicate_feature":
        book.add({**book.first(line_id, "feature"), "seq": DUPLICATE_SEQ})
        return expect("DUPLICATE_CHARGE")
    if plant.kind == "unordered_feature":
        extra = next(f for f in tariff.features if f.code not in line["features"])
        book.add(
            {
                "account_index": account,
                "line_id": line_id,
                "msisdn": msisdn,
                "line_order": line_id,
                "seq": 30,
                "charge_type": "feature",
                "charge_code": extra.code,
                "description": extra.name,
                "quantity_milli": None,
                "unit_rate": None,
                "amount_cents": to_units(extra.monthly_fee, 2),
            }
        )
        return expect("UNORDERED_FEATURE")
    if plant.kind == "plan_list_price":  # the carrier forgot the discount
        plan = tariff.plan(line["plan_code"])
        if tariff.contract.discount_pct == 0:
            raise RuntimeError(f"{plant.role}: plan_list_price needs a discounted contract")
        book.change(book.first(line_id, "plan"), amount_cents=to_units(plan.monthly_fee, 2))
        return expect("PLAN_RATE_MISMATCH")
    if plant.kind == "plan_upgraded_code":  # billed a pricier plan than the one ordered
        ordered = tariff.plan(line["plan_code"])
        pricier = max((p for p in tariff.plans if p.code not in DEVICE_PLANS), key=tariff.fee)
        if tariff.fee(pricier) <= tariff.fee(ordered):
            raise RuntimeError(f"{plant.role} already has the priciest plan")
        book.change(
            book.first(line_id, "plan"),
            charge_code=pricier.code,
            description=pricier.name,
            amount_cents=to_units(tariff.fee(pricier), 2),
        )
        return expect("PLAN_RATE_MISMATCH")
    if plant.kind == "plan_one_cent_over":  # within the 0.01 slack: not a finding
        row = book.first(line_id, "plan")
        book.change(row, amount_cents=row["amount_cents"] + 1)
        return []
    if plant.kind == "feature_price_increase":
        row = book.first(line_id, "feature")
        book.change(row, amount_cents=row["amount_cents"] + 100)
        return expect("FEATURE_RATE_MISMATCH")
    if plant.kind in (
        "overage_just_outside_tolerance",
        "overage_just_inside_tolerance",
        "overage_inflated",
        "overage_rate_increase",
    ):
        plan = tariff.plan(line["plan_code"])
        row = book.first(line_id, "overage_data")
        rate = plan.overage_data_per_mb
        expected_quantity = usage.data - plan.data_mb
        limit = expected_quantity + TOLERANCE_SHARE * usage.data
        if plant.kind == "overage_rate_increase":
            rate = rate + D("0.005")
            quantity, found = expected_quantity, "OVERAGE_RATE_MISMATCH"
        elif plant.kind == "overage_inflated":
            quantity, found = (expected_quantity * D("1.25")).quantize(MILLI), "USAGE_OVERBILLED"
        elif plant.kind == "overage_just_outside_tolerance":
            quantity, found = limit.quantize(MILLI, rounding=ROUND_FLOOR) + MILLI, "USAGE_OVERBILLED"
        else:
            quantity, found = limit.quantize(MILLI, rounding=ROUND_FLOOR) - MILLI, None
        replacement = _usage_charge(line, "overage_data", quantity, rate)
        book.change(
            row,
            quantity_milli=replacement["quantity_milli"],
            unit_rate=replacement["unit_rate"],
            amount_cents=replacement["amount_cents"],
        )
        return expect(found) if found else []
    if plant.kind == "roaming_inflated":
        row = book.first(line_id, "roaming_data")
        inflated = _usage_charge(
            line, "roaming_data", (usage.roaming_data * D("1.15")).quantize(MILLI), tariff.roaming_rate("data")
        )
        book.change(row, quantity_milli=inflated["quantity_milli"], amount_cents=inflated["amount_cents"])
        return expect("USAGE_OVERBILLED")
    if plant.kind == "roaming_not_used":
        book.add(_usage_charge(line, "roaming_voice", D("42.5"), tariff.roaming_rate("voice")))
        return expect("USAGE_OVERBILLED")
    if plant.kind == "roaming_rate_increase":
        row = book.first(line_id, "roaming_voice")
        rate = (tariff.roaming_rate("voice") * D("1.2")).quantize(D("0.0001"))
        repriced = _usage_charge(line, "roaming_voice", from_milli(row["quantity_milli"]), rate)
        book.change(row, unit_rate=repriced["unit_rate"], amount_cents=repriced["amount_cents"])
        return expect("OVERAGE_RATE_MISMATCH")
    raise ValueError(f"unknown plant kind {plant.kind!r}")


# --------------------------------------------------------------------------- account level and totals

# Account-level charges, rotating by month and account: (charge_type, code, description, amount).
ACCOUNT_EXTRAS = (
    (("equipment", "HW-IPH16P", "Apple iPhone 16 Pro x2", D("2198.00")),),
    (
        ("credit", "SVC-CREDIT", "Service credit - network outage", D("-35.00")),
        ("one_time", "ACTIVATION", "Activation fees", D("20.00")),
    ),
    (("late_fee", "LATE", "Late payment fee", D("18.50")),),
    (
        ("equipment", "HW-GS24", "Samsung Galaxy S24 x1", D("1049.99")),
        ("credit", "LOYALTY", "Loyalty credit", D("-50.00")),
    ),
)
SURCHARGE_SHARE = D("0.0175")


def _account_charges(
    profile: CustomerProfile, account_index: int, month: BillingMonth, line_subtotal: Decimal
) -> list[dict]:
    account = profile.accounts[account_index]
    items = [
        ("account_fee", "ACCT-MGMT", "Account management fee", account.account_fee),
        ("surcharge", "REG-RECOVERY", "Regulatory cost recovery", round_cents(line_subtotal * SURCHARGE_SHARE)),
    ]
    items += ACCOUNT_EXTRAS[(month.index + account_index) % len(ACCOUNT_EXTRAS)]
    before_tax = line_subtotal + sum((amount for *_, amount in items), D(0))
    items.append(("tax", "TAX", profile.tax_label, round_cents(before_tax * profile.tax_rate)))
    return [
        {
            "account_index": account_index,
            "line_id": None,
            "msisdn": None,
            "line_order": ACCOUNT_LEVEL_ORDER,
            "seq": seq,
            "charge_type": charge_type,
            "charge_code": code,
            "description": description,
            "quantity_milli": None,
            "unit_rate": None,
            "amount_cents": to_units(amount, 2),
        }
        for seq, (charge_type, code, description, amount) in enumerate(items)
    ]


def finish_invoices(
    profile: CustomerProfile, month: BillingMonth, book: InvoiceBook
) -> dict[int, tuple[Invoice, pl.DataFrame]]:
    """Add account-level charges and the stated totals; return the audit view and rows."""
    subtotals = dict(book.charges.group_by("account_index").agg(pl.col("amount_cents").sum()).iter_rows())
    for account_index in range(len(profile.accounts)):
        book.add(*_account_charges(profile, account_index, month, from_cents(subtotals.get(account_index, 0))))
    charges = book.charges.sort("account_index", "line_order", "seq")
    invoices = {}
    for account_index, account in enumerate(profile.accounts):
        rows = charges.filter(pl.col("account_index") == account_index)
        charged = sum(rows["amount_cents"].to_list())
        stated = charged + book.total_adjustment_cents.get(account_index, 0)
        invoice = Invoice(
            invoice_number=account.invoice_number(month),
            carrier=account.carrier,
            account_number=account.account_number,
            period_start=month.start,
            stated_total=from_cents(stated),
            charges=tuple(
                Charge(
                    msisdn,
                    charge_type,
                    code,
                    None if quantity is None else from_milli(quantity),
                    None if rate is None else D(rate),
                    from_cents(amount),
                )
                for msisdn, charge_type, code, quantity, rate, amount in rows.select(
                    "msisdn", "charge_type", "charge_code", "quantity_milli", "unit_rate", "amount_cents"
                ).iter_rows()
            ),
        )
        invoices[account_index] = (invoice, rows.with_columns(invoice_total=pl.lit(stated, pl.Int64)))
    return invoices
