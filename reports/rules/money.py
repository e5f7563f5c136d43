"""Money shown to people: exact decimals as text with two decimals and the currency."""

from decimal import ROUND_HALF_UP, Decimal

import polars as pl

CENT = Decimal("0.01")


def money_text(amount: Decimal | int | None, currency: str) -> str:
    """'1234.50 USD'; an empty sum is 0.00."""
    value = Decimal(amount or 0).quantize(CENT, rounding=ROUND_HALF_UP)
    return f"{value} {currency}"


def total_text(column: pl.Series, currency: str) -> str:
    return money_text(column.sum() if column.len() else None, currency)
