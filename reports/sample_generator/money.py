"""Exact money for the sample: Decimal outside the frames, integer minor units inside them.

Frames hold cents, thousandths of a minute or MB and ten-thousandths of a rate, because polars Decimal
multiplication rounds to the wider operand's scale."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

CENT = Decimal("0.01")
MILLI = Decimal("0.001")


def round_cents(value: Decimal) -> Decimal:
    """Round half-up to cents, as audit-rules.md means by `round`."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@lru_cache(maxsize=1 << 16)  # plan and feature fees repeat on every invoice
def from_cents(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


_ZERO_MILLI = Decimal(0).scaleb(-3)


def from_milli(milli: int) -> Decimal:
    return Decimal(milli).scaleb(-3) if milli else _ZERO_MILLI


def to_units(value: Decimal, places: int) -> int:
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {places} decimals")
    return int(scaled)
