"""The audit oracle and the expected results: what the pipeline must quarantine, find and recommend.

`audit_invoice` and `recommend_savings` are plain Python and Decimal, following audit-rules.md line by line, on
the product's contract model (schemas/contract.py), independent of the vectorised code that generated the
charges; the generator refuses to write a month where their findings differ from the errors it planted.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterable, NamedTuple, Sequence

import polars as pl

from schemas.contract import Contract
from schemas.outputs import FINDINGS_CSV_COLUMNS, SAVINGS_CSV_COLUMNS

from .charges import USAGE_CHARGES
from .contracts import UNITS, Tariff, allowance, overage_rate
from .money import CENT, from_milli, round_cents
from .usage import USAGE_TOTAL_COLUMNS

D = Decimal

QUARANTINE_REASONS = (
    "bad_date",
    "bad_number",
    "negative",
    "not_integer",
    "bad_enum",
    "bad_phone",
    "bad_imei",
    "date_outside_month",
    "bad_id",
)
# the expected results compare the published columns, less the sentences (evidence, rationale), which the
# oracle does not write
FINDING_COLUMNS = tuple(c for c in FINDINGS_CSV_COLUMNS if c != "evidence")
SAVINGS_COLUMNS = tuple(c for c in SAVINGS_CSV_COLUMNS if c != "rationale")
QUARANTINE_COLUMNS = ("file", "row", "column", "reason_code")


# --------------------------------------------------------------------------- audit oracle
# Row-sized records are NamedTuples: a frozen dataclass is several times slower to build,
# and the benchmark size builds millions of them.


class RosterEntry(NamedTuple):
    carrier: str
    plan_code: str
    features: tuple[str, ...]
    line_status: str
    line_status_date: date
    employee_id: str | None
    employment_status: str | None
    termination_date: date | None


class MeasuredUsage(NamedTuple):
    voice: Decimal = D(0)
    sms: Decimal = D(0)
    data: Decimal = D(0)
    roaming_voice: Decimal = D(0)
    roaming_data: Decimal = D(0)

    def domestic(self, unit: str) -> Decimal:
        return getattr(self, unit)

    def roaming(self, unit: str) -> Decimal:
        return getattr(self, f"roaming_{unit}")

    @property
    def is_zero(self) -> bool:
        return not any((self.voice, self.sms, self.data, self.roaming_voice, self.roaming_data))


NO_USAGE = MeasuredUsage()


class Charge(NamedTuple):
    msisdn: str | None  # E.164
    charge_type: str
    charge_code: str
    quantity: Decimal | None
    unit_rate: Decimal | None
    amount: Decimal


@dataclass(frozen=True)
class Invoice:
    invoice_number: str
    carrier: str
    account_number: str
    period_start: date
    stated_total: Decimal
    charges: tuple[Charge, ...]  # in file order


@dataclass(frozen=True)
class Finding:
    customer_id: str
    billing_month: str
    carrier: str
    account_number: str
    invoice_number: str
    msisdn: str
    employee_id: str
    finding_type: str
    charge_type: str
    charge_code: str
    billed_amount: Decimal
    expected_amount: Decimal
    disputed_amount: Decimal
    currency: str


@dataclass(frozen=True)
class Saving:
    customer_id: str
    billing_month: str
    carrier: str
    msisdn: str
    employee_id: str
    savings_type: str
    current_plan_code: str
    recommended_plan_code: str
    feature_code: str
    monthly_savings: Decimal
    annual_savings: Decimal
    currency: str


TOLERANCE_SHARE = D("0.02")
AMOUNT_SLACK = D("0.01")
RATE_SLACK = D("0.0001")


def audit_invoice(
    invoice: Invoice,
    contract: Contract,
    roster: dict[str, RosterEntry],
    usage: Callable[[str], MeasuredUsage],
    *,
    customer_id: str,
    billing_month: str,
    currency: str,
) -> list[Finding]:
    """Findings of audit-rules.md for one invoice, rules 1-9 in order.

    For findings that cover several charges (UNKNOWN_LINE, CANCELLED_LINE_BILLED,
    INVOICE_TOTAL_MISMATCH) charge_type and charge_code are empty. billed - expected
    = disputed on every finding: for DUPLICATE_CHARGE billed is the sum of all
    occurrences and expected the first one.
    """
    tariff = Tariff(contract)
    findings: list[Finding] = []

    def report(
        finding_type: str, msisdn: str | None, billed: Decimal, expected: Decimal, charge: Charge | None = None
    ) -> None:
        disputed = billed - expected
        if disputed < AMOUNT_SLACK:  # only amounts of at least 0.01 are published
            return
        entry = roster.get(msisdn) if msisdn else None
        findings.append(
            Finding(
                customer_id,
                billing_month,
                invoice.carrier,
                invoice.account_number,
                invoice.invoice_number,
                msisdn or "",
                (entry.employee_id or "") if entry else "",
                finding_type,
                charge.charge_type if charge else "",
                charge.charge_code if charge else "",
                billed,
                expected,
                disputed,
                currency,
            )
        )

    def consume_whole_lines(finding_type: str, applies: Callable[[str], bool]) -> None:
        per_line: dict[str, list[Charge]] = {}
        for charge in remaining:
            if charge.msisdn and applies(charge.msisdn):
                per_line.setdefault(charge.msisdn, []).append(charge)
        for msisdn, charges in per_line.items():
            report(finding_type, msisdn, sum((c.amount for c in charges), D(0)), D(0))
        remaining[:] = [c for c in remaining if c.msisdn not in per_line]

    remaining = list(invoice.charges)
    # 1 and 2: charges of lines that are not on the roster, or were cancelled before the period.
    consume_whole_lines("UNKNOWN_LINE", lambda msisdn: msisdn not in roster)
    consume_whole_lines(
        "CANCELLED_LINE_BILLED",
        lambda msisdn: (
            roster[msisdn].line_status == "cancelled" and roster[msisdn].line_status_date < invoice.period_start
        ),
    )

    # 3: repeated plan/feature charges; the first occurrence stays for the rules below.
    occurrences: dict[tuple, list[int]] = {}
    for position, charge in enumerate(remaining):
        if charge.charge_type in ("plan", "feature") and charge.msisdn:
            occurrences.setdefault((charge.msisdn, charge.charge_type, charge.charge_code), []).append(position)
    repeats = set()
    for (msisdn, _, _), positions in occurrences.items():
        if len(positions) > 1:
            charges = [remaining[p] for p in positions]
            report("DUPLICATE_CHARGE", msisdn, sum((c.amount for c in charges), D(0)), charges[0].amount, charges[0])
            repeats.update(positions[1:])
    remaining = [c for p, c in enumerate(remaining) if p not in repeats]

    for charge in remaining:
        if not charge.msisdn:
            continue
        line = roster[charge.msisdn]
        ordered_plan = tariff.plan(line.plan_code)
        if charge.charge_type == "feature":
            if charge.charge_code not in line.features:  # 4
                report("UNORDERED_FEATURE", charge.msisdn, charge.amount, D(0), charge)
                continue
            fee = tariff.feature(charge.charge_code).monthly_fee
            if charge.amount > fee + AMOUNT_SLACK:  # 6
                report("FEATURE_RATE_MISMATCH", charge.msisdn, charge.amount, fee, charge)
        elif charge.charge_type == "plan":
            fee = tariff.fee(ordered_plan)
            if charge.amount > fee + AMOUNT_SLACK:  # 5
                report("PLAN_RATE_MISMATCH", charge.msisdn, charge.amount, fee, charge)
        elif charge.charge_type in USAGE_CHARGES:  # 7 and 8
            unit, kind, *_ = USAGE_CHARGES[charge.charge_type]
            measured = usage(charge.msisdn)
            if kind == "overage":
                used = measured.domestic(unit)
                allowed = allowance(ordered_plan, unit)
                expected_quantity = D(0) if allowed is None else max(D(0), used - allowed)
                rate = overage_rate(ordered_plan, unit)
            else:
                used = measured.roaming(unit)
                expected_quantity = used
                rate = tariff.roaming_rate(unit)
            quantity = charge.quantity or D(0)
            if quantity > expected_quantity + TOLERANCE_SHARE * used:
                report("USAGE_OVERBILLED", charge.msisdn, charge.amount, round_cents(rate * expected_quantity), charge)
            elif (charge.unit_rate or D(0)) > rate + RATE_SLACK:
                report("OVERAGE_RATE_MISMATCH", charge.msisdn, charge.amount, round_cents(rate * quantity), charge)

    charged = sum((c.amount for c in invoice.charges), D(0))  # 9
    if invoice.stated_total - charged > AMOUNT_SLACK:
        report("INVOICE_TOTAL_MISMATCH", None, invoice.stated_total, charged)
    return findings


def recommend_savings(
    roster: dict[str, RosterEntry],
    contracts: dict[str, Contract],
    history: Sequence[Callable[[str], MeasuredUsage]] | None,
    period_start: date,
    *,
    customer_id: str,
    billing_month: str,
    currency: str,
) -> list[Saving]:
    """Savings of audit-rules.md for one month. `history` is usage for M-2, M-1, M, or
    None when the inbox lacks one of them. Plan costs are compared as 3 x cost, so the
    mean never has to be rounded."""
    tariffs = {carrier: Tariff(contract) for carrier, contract in contracts.items()}
    savings: list[Saving] = []
    for msisdn, line in roster.items():
        if line.line_status != "active":
            continue
        tariff = tariffs[line.carrier]
        ordered = tariff.plan(line.plan_code)
        recurring = tariff.fee(ordered) + sum((tariff.feature(f).monthly_fee for f in line.features), D(0))

        def saving(savings_type: str, amount: Decimal, recommended: str = "", feature: str = "") -> Saving:
            return Saving(
                customer_id,
                billing_month,
                line.carrier,
                msisdn,
                line.employee_id or "",
                savings_type,
                ordered.code,
                recommended,
                feature,
                amount,
                amount * 12,
                currency,
            )

        months = [measured(msisdn) for measured in history] if history else None
        line_saving = None
        if line.employment_status == "terminated" and line.termination_date and line.termination_date < period_start:
            line_saving = saving("TERMINATED_EMPLOYEE_LINE", recurring)
        elif months and all(m.is_zero for m in months):
            line_saving = saving("ZERO_USAGE_LINE", recurring)
        elif months:
            three_month_usage = {
                u: months[0].domestic(u) + months[1].domestic(u) + months[2].domestic(u) for u in UNITS
            }
            triple_cost = {}  # 3 x cost(p)
            for plan in tariff.plans:
                cost = 3 * tariff.fee(plan)
                for unit, allowed, rate in tariff.limits[plan.code]:
                    if three_month_usage[unit] > 3 * allowed:
                        cost += (three_month_usage[unit] - 3 * allowed) * rate
                triple_cost[plan.code] = cost
            best = min(tariff.plans, key=lambda p: (triple_cost[p.code], p.code != ordered.code, p.code))
            difference = triple_cost[ordered.code] - triple_cost[best.code]
            if difference >= 3:
                line_saving = saving("PLAN_RIGHTSIZE", round_cents(difference / 3), recommended=best.code)
        if line_saving and line_saving.monthly_savings >= CENT:
            savings.append(line_saving)
        if months and not (line_saving and line_saving.savings_type in ("TERMINATED_EMPLOYEE_LINE", "ZERO_USAGE_LINE")):
            never_roamed = all(m.roaming_voice == 0 and m.roaming_data == 0 for m in months)
            for code in line.features:
                feature = tariff.feature(code)
                if feature.category == "roaming" and never_roamed and feature.monthly_fee >= CENT:
                    savings.append(saving("UNUSED_FEATURE", feature.monthly_fee, feature=code))
    return savings


# --------------------------------------------------------------------------- the month as the oracle reads it


class MeasuredUsageBook:
    """A month's measured usage per E.164 number, turned into Decimals on first use
    (most lines are never asked for in months without savings history)."""

    def __init__(self, totals: pl.DataFrame):
        self._milli = {row[0]: row[1:] for row in totals.select("msisdn", *USAGE_TOTAL_COLUMNS).iter_rows()}
        self._measured: dict[str, MeasuredUsage] = {}

    def __call__(self, msisdn: str) -> MeasuredUsage:
        measured = self._measured.get(msisdn)
        if measured is None:
            milli = self._milli.get(msisdn)
            if milli is None:
                return NO_USAGE
            voice, sms, data, roaming_voice, roaming_data = milli
            measured = self._measured[msisdn] = MeasuredUsage(
                from_milli(voice),
                from_milli(sms * 1000),
                from_milli(data),
                from_milli(roaming_voice),
                from_milli(roaming_data),
            )
        return measured


def roster_entries(month_lines: pl.DataFrame) -> dict[str, RosterEntry]:
    """The month's roster as the oracle reads it, by E.164 number."""
    return {
        msisdn: RosterEntry(carrier, plan, tuple(features), status, status_date, employee, employment, terminated)
        for msisdn, carrier, plan, features, status, status_date, employee, employment, terminated in month_lines.select(
            "msisdn",
            "carrier",
            "plan_code",
            "features",
            "line_status",
            "line_status_date",
            "employee_id",
            "employment_status",
            "shown_termination_date",
        ).iter_rows()
    }


# --------------------------------------------------------------------------- expected results


def write_expected(
    folder: Path, quarantine: list[tuple[str, int, str, str]], findings: list[Finding], savings: list[Saving]
) -> list[tuple[str, Path, int]]:
    """Write quarantine.csv, findings.csv and savings.csv of one customer-month; return (name, path, rows) of each."""

    def text(value):
        return f"{value:.2f}" if isinstance(value, Decimal) else value

    written = []
    for name, columns, rows in (
        ("quarantine", QUARANTINE_COLUMNS, sorted(quarantine)),
        ("findings", FINDING_COLUMNS, ([text(getattr(f, c)) for c in FINDING_COLUMNS] for f in findings)),
        ("savings", SAVINGS_COLUMNS, ([text(getattr(s, c)) for c in SAVINGS_COLUMNS] for s in savings)),
    ):
        path = folder / f"{name}.csv"
        written.append((name, path, _write_rows_csv(path, columns, rows)))
    return written


def _write_rows_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if value is None else value for value in row])
            count += 1
    return count
