"""Counter-based random numbers (splitmix64 over seed, customer, stream and row keys), so a value never depends
on row order and a seed gives identical bytes."""

from __future__ import annotations

import hashlib
import random
from typing import Iterable, Sequence

import polars as pl

from .months import BillingMonth

_U64 = pl.UInt64


def stable_u64(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _splitmix(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """splitmix64 finaliser on UInt64 columns (wrapping arithmetic). Each step is
    materialised: written as one expression, the state would be copied at every use."""
    steps = (
        lambda z: z + pl.lit(0x9E3779B97F4A7C15, _U64),
        lambda z: z.xor(z // pl.lit(1 << 30, _U64)) * pl.lit(0xBF58476D1CE4E5B9, _U64),
        lambda z: z.xor(z // pl.lit(1 << 27, _U64)) * pl.lit(0x94D049BB133111EB, _U64),
        lambda z: z.xor(z // pl.lit(1 << 31, _U64)),
    )
    for step in steps:
        frame = frame.with_columns(step(pl.col(c)).alias(c) for c in columns)
    return frame


class Randomness:
    """Counter-based random numbers: a draw depends on (seed, customer, stream, row keys)
    only, never on row order, so vectorised generation is reproducible."""

    def __init__(self, seed: int, customer_id: str):
        self.seed = seed
        self.customer_id = customer_id

    def draws(self, frame: pl.DataFrame, streams: Iterable[str], key: pl.Expr) -> pl.DataFrame:
        """Add a Float64 column `u_<stream>` in [0, 1) per stream, keyed by the row's `key`
        (a non-negative integer that identifies the row, see `line_key`)."""
        state = "__random_state"
        customer = pl.lit(stable_u64(f"{self.seed}/{self.customer_id}"), _U64)
        frame = _splitmix(frame.with_columns(customer.xor(key.cast(_U64)).alias(state)), [state])
        columns = {f"u_{stream}": stable_u64(stream) for stream in streams}
        frame = _splitmix(
            frame.with_columns(pl.col(state).xor(pl.lit(salt, _U64)).alias(name) for name, salt in columns.items()),
            list(columns),
        )
        return frame.with_columns(
            ((pl.col(name) // pl.lit(1 << 11, _U64)).cast(pl.Float64) / float(1 << 53)).alias(name) for name in columns
        ).drop(state)

    def python(self, purpose: str) -> random.Random:
        return random.Random(f"{self.seed}/{self.customer_id}/{purpose}")


def line_key(month: BillingMonth | None = None, day: pl.Expr | None = None) -> pl.Expr:
    """One integer per line (and month, and day): the key of its random draws."""
    key = pl.col("line_id")
    if month is not None:
        key = key * 64 + month.index
    if day is not None:
        key = key * 64 + day
    return key


def uniform(stream: str) -> pl.Expr:
    return pl.col(f"u_{stream}")


def draw_index(stream: str, size: int) -> pl.Expr:
    """An index in range(size) from the draw column of `stream`."""
    return (uniform(stream) * size).floor().cast(pl.Int64)


def drop_draws(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop(pl.selectors.starts_with("u_"))


def pick(values: Sequence, index: pl.Expr) -> pl.Expr:
    return pl.lit(pl.Series(list(values))).gather(index)
