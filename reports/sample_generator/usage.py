"""Measured usage: the daily usage rows of every line with activity in a billing month (vectorised polars),
values in integer thousandths of a minute or MB and whole messages."""

from __future__ import annotations

import polars as pl

from .contracts import UNITS
from .months import BillingMonth
from .randomness import Randomness, draw_index, line_key, uniform

# Monthly usage of an unlimited allowance at 100 %, and what a light user does.
REFERENCE_USAGE = {"voice": 900.0, "sms": 300.0, "data": 24_576.0}
LIGHT_USAGE = {"voice": 60.0, "sms": 40.0, "data": 300.0}
ACTIVITY = {"light": 0.4, "typical": 0.8, "traveller": 0.85, "heavy": 1.0}
ROAMING_PER_TRIP_DAY = {"voice": 18.0, "data": 240.0}
USAGE_LINES_PER_CHUNK = 25_000
# Usage values: thousandths of a minute or MB, and whole messages.
USAGE_TOTAL_COLUMNS = ("voice_milli", "sms_count", "data_milli", "roaming_voice_milli", "roaming_data_milli")


def generate_usage(
    month_lines: pl.DataFrame, plans: pl.DataFrame, month: BillingMonth, rand: Randomness
) -> pl.DataFrame:
    """Daily usage rows (one per line and day with activity), values in thousandths.

    Bounds the scenarios rely on: a heavy user is active every day at 0.85-1.15 x 1.5 x
    its allowance per day's share, so it always exceeds every limited allowance; a light
    user stays below 1.5 / 0.4 x LIGHT_USAGE; every line with a usage profile has at
    least one active day; travellers roam on a trip of 3-8 days."""
    profile = pl.col("usage_profile")
    lines = rand.draws(
        month_lines.filter("has_usage")
        .select("line_id", "usage_profile", "has_user", "trip_chance", "usage_from_day", "usage_to_day", "plan_code")
        .join(plans.select("plan_code", *[f"{u}_allow_milli" for u in UNITS]), on="plan_code"),
        ("level", "trip", "trip-start", "trip-length", "anchor-day"),
        line_key(month),
    )
    lines = lines.with_columns(
        window=pl.col("usage_to_day") - pl.col("usage_from_day") + 1,
        activity=profile.replace_strict(ACTIVITY, return_dtype=pl.Float64),
        level=pl.when(profile == "heavy").then(1.5).otherwise(0.35 + 0.4 * uniform("level")),
    )
    window = pl.col("window")
    targets = {}
    for unit in UNITS:
        allowance = pl.col(f"{unit}_allow_milli") / 1000.0
        target = (
            pl.when(profile == "light")
            .then(LIGHT_USAGE[unit])
            .otherwise(pl.col("level") * allowance.fill_null(REFERENCE_USAGE[unit]))
        )
        target = pl.when(allowance == 0).then(0.0).otherwise(target)
        if unit != "data":  # devices without a user neither call nor text
            target = pl.when(pl.col("has_user")).then(target).otherwise(0.0)
        targets[f"{unit}_daily"] = target / (pl.col("activity") * window)
    lines = lines.select(
        "line_id",
        "usage_profile",
        "activity",
        "usage_from_day",
        "usage_to_day",
        **targets,
        # one guaranteed active day, so a line with a usage profile never has an empty month
        anchor_day=pl.col("usage_from_day") + (uniform("anchor-day") * window).floor().cast(pl.Int64),
        trip=uniform("trip") < pl.col("trip_chance"),
        trip_start=pl.col("usage_from_day")
        + (uniform("trip-start") * (window - 8).clip(1, None)).floor().cast(pl.Int64),
        trip_length=3 + draw_index("trip-length", 6),
    )
    days = pl.DataFrame({"day": pl.int_range(1, month.days + 1, eager=True, dtype=pl.Int64)})
    # By chunks of lines: the candidate (line, day) grid is wide, the kept rows are narrow.
    chunks = [
        _daily_usage(days.join(chunk, how="cross"), month, rand) for chunk in lines.iter_slices(USAGE_LINES_PER_CHUNK)
    ]
    return pl.concat(chunks).sort("day", "line_id")


def _daily_usage(candidates: pl.DataFrame, month: BillingMonth, rand: Randomness) -> pl.DataFrame:
    """The active days among (line, day) candidates and their usage values."""
    day, profile = pl.col("day"), pl.col("usage_profile")
    rows = candidates.filter((day >= pl.col("usage_from_day")) & (day <= pl.col("usage_to_day"))).with_columns(
        on_trip=pl.col("trip") & (day >= pl.col("trip_start")) & (day < pl.col("trip_start") + pl.col("trip_length"))
    )
    rows = rand.draws(rows, ("active", "voice", "sms", "data", "roaming-voice", "roaming-data"), line_key(month, day))
    rows = rows.filter((uniform("active") < pl.col("activity")) | (day == pl.col("anchor_day")) | pl.col("on_trip"))

    def jitter(stream: str) -> pl.Expr:
        return pl.when(profile == "heavy").then(0.85 + 0.3 * uniform(stream)).otherwise(0.5 + uniform(stream))

    on_trip = pl.col("on_trip")
    domestic = pl.when(on_trip).then(0.25).otherwise(1.0)
    data_daily = pl.col("data_daily") * jitter("data") * domestic * 1000
    return rows.select(
        "line_id",
        "day",
        date=pl.lit(month.start) + pl.duration(days=day - 1),
        voice_milli=((pl.col("voice_daily") * jitter("voice") * domestic * 100).round() * 10).cast(pl.Int64),
        sms_count=(pl.col("sms_daily") * jitter("sms") * domestic).round().cast(pl.Int64),
        data_milli=pl.when(pl.col("data_daily") > 0).then(data_daily.round().clip(1, None)).otherwise(0).cast(pl.Int64),
        roaming_voice_milli=pl.when(on_trip)
        .then((ROAMING_PER_TRIP_DAY["voice"] * jitter("roaming-voice") * 100).round() * 10)
        .otherwise(0)
        .cast(pl.Int64),
        roaming_data_milli=pl.when(on_trip)
        .then((ROAMING_PER_TRIP_DAY["data"] * jitter("roaming-data") * 1000).round())
        .otherwise(0)
        .cast(pl.Int64),
    )
