"""Turn the text cells of an input table into typed values, vectorised with polars.

Each parser returns the typed column; a cell that had text but did not parse becomes a
quarantine entry (reason code + sentence). Phone numbers go through `phonenumbers` once per
distinct value and are joined back.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
import polars as pl

from schemas.tables import TableSpec
from schemas.values import DECIMAL_TEXT, FALSE_WORDS, ISO_DATE_TEXT, MONEY, QUANTITY, REGIONAL_DATE_TEXT, TRUE_WORDS

DECIMAL_DTYPES = {"money": MONEY, "quantity": QUANTITY, "count": QUANTITY}


@dataclass(frozen=True)
class ParseContext:
    region: str  # the customer's ISO 3166 country, default for phone numbers without +
    billing_month: str  # YYYY-MM

    @property
    def day_first(self) -> bool:
        return self.region != "US"

    @property
    def regional_date_format(self) -> str:
        return "%d/%m/%Y" if self.day_first else "%m/%d/%Y"

    @property
    def date_formats_hint(self) -> str:
        return "YYYY-MM-DD or " + ("DD/MM/YYYY" if self.day_first else "MM/DD/YYYY")


PhoneKey = tuple[int, int, bool, int]
_E164_BY_NUMBER: dict[PhoneKey, str | None] = {}  # one validity check per number, however it was written
_E164_CACHE_LIMIT = 2_000_000


@lru_cache(maxsize=65_536)  # single numbers (a subject's); tables go through `phone_lookup`
def normalize_phone(text: str, region: str) -> str | None:
    """E.164 form of a phone number written in any common format, or None if it is not a valid number.

    `phonenumbers` parses each distinct text; its validity check, the costlier half, runs once per number
    (the same number written nationally and in E.164 is checked once)."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    key = (
        number.country_code,
        number.national_number,
        bool(number.italian_leading_zero),
        number.number_of_leading_zeros or 1,
    )
    if key not in _E164_BY_NUMBER:
        if len(_E164_BY_NUMBER) >= _E164_CACHE_LIMIT:
            _E164_BY_NUMBER.clear()
        # valid in the customer's own region implies valid (and checking it skips the search for the number's
        # region among all that share its country code); otherwise ask for any region
        valid = phonenumbers.is_valid_number_for_region(number, region) or phonenumbers.is_valid_number(number)
        _E164_BY_NUMBER[key] = (
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) if valid else None
        )
    return _E164_BY_NUMBER[key]


PHONE_PUNCTUATION = r"[\s().\-/]"


# Every punctuation-free spelling this process has normalized, per region, as a frame: a month's usage repeats the
# same numbers in every chunk and table, and joining them against what is known is vectorised where calling even a
# cached function once per distinct spelling per chunk is not (issue #19). Reset past _E164_CACHE_LIMIT spellings.
_KNOWN_SPELLINGS: dict[str, pl.DataFrame] = {}
_KNOWN_SCHEMA = {"canonical": pl.String, "e164": pl.String}


def forget_phone_numbers() -> None:
    """Drop every normalized number this process holds (tests count phonenumbers calls from a cold start)."""
    normalize_phone.cache_clear()
    _E164_BY_NUMBER.clear()
    _KNOWN_SPELLINGS.clear()


def phone_lookup(values: pl.Series, region: str) -> pl.DataFrame:
    """Distinct raw phone texts -> E.164 (null when invalid). Spaces, dots, dashes and parentheses carry no
    meaning, so they are stripped in polars first; phonenumbers then runs once per distinct number this process
    has not met before."""
    raw = values.drop_nulls().unique()
    pairs = pl.DataFrame({"raw": raw}, schema={"raw": pl.String}).with_columns(
        pl.col("raw").str.replace_all(PHONE_PUNCTUATION, "").alias("canonical")
    )
    known = _KNOWN_SPELLINGS.get(region, pl.DataFrame(schema=_KNOWN_SCHEMA))
    new = pairs.select("canonical").unique().join(known, on="canonical", how="anti")["canonical"].to_list()
    if new:
        added = pl.DataFrame(
            {"canonical": new, "e164": [normalize_phone(v, region) for v in new]}, schema=_KNOWN_SCHEMA
        )
        known = added if known.height + added.height > _E164_CACHE_LIMIT else pl.concat([known, added])
        _KNOWN_SPELLINGS[region] = known
    return pairs.join(known, on="canonical", how="left").select("raw", "e164")


def _date_expr(column: str, context: ParseContext) -> pl.Expr:
    text = pl.col(column)
    iso = pl.when(text.str.contains(ISO_DATE_TEXT)).then(text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False))
    regional = pl.when(text.str.contains(REGIONAL_DATE_TEXT)).then(
        text.str.to_date(context.regional_date_format, strict=False)
    )
    return pl.coalesce(iso, regional)


def _decimal_expr(column: str, dtype: pl.DataType) -> pl.Expr:
    text = pl.col(column)
    return pl.when(text.str.contains(DECIMAL_TEXT)).then(
        text.str.replace_all(",", "", literal=True).cast(dtype, strict=False)
    )


def _bool_expr(column: str) -> pl.Expr:
    word = pl.col(column).str.to_lowercase()
    return pl.when(word.is_in(TRUE_WORDS)).then(True).when(word.is_in(FALSE_WORDS)).then(False)


PARSE_REASONS = {
    "date": ("bad_date", "not a date; expected {dates}"),
    "money": ("bad_number", "not a number; expected a decimal such as 1234.50 or 1,234.50"),
    "quantity": ("bad_number", "not a number; expected a decimal such as 1234.5 or 1,234.5"),
    "count": ("bad_number", "not a number; expected a whole number"),
    "phone": ("bad_phone", "not a valid phone number for any region"),
    "bool": ("bad_enum", "not a yes/no value; expected true/false, yes/no or 1/0"),
}


def parse_table(
    text_frame: pl.DataFrame, spec: TableSpec, context: ParseContext
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(trimmed text frame, typed frame, parse-failure quarantine entries); both frames keep every row, in order."""
    frame = text_frame
    for column in spec.columns:  # optional columns the sender left out
        if column.name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(column.name))
    stripped = [
        pl.when(pl.col(c.name).str.strip_chars().is_in(["", c.accepted_as_empty or ""]))
        .then(None)
        .otherwise(pl.col(c.name).str.strip_chars())
        .alias(c.name)
        for c in spec.columns
    ]
    frame = frame.select("source_file", "source_row", *stripped)

    phone_columns = spec.of_kind("phone")
    for column in phone_columns:
        lookup = phone_lookup(frame[column], context.region).rename({"raw": column, "e164": f"__{column}_e164"})
        frame = frame.join(lookup, on=column, how="left", maintain_order="left")

    typed: list[pl.Expr] = []
    failed: list[tuple[str, str, pl.Expr]] = []  # (column, kind, expression true where the cell failed)
    for column in spec.columns:
        name, kind = column.name, column.kind
        if kind == "date":
            parsed = _date_expr(name, context)
        elif kind in DECIMAL_DTYPES:
            parsed = _decimal_expr(name, DECIMAL_DTYPES[kind])
            if column.empty_means_zero:
                parsed = pl.when(pl.col(name).is_null()).then(pl.lit(0).cast(DECIMAL_DTYPES[kind])).otherwise(parsed)
        elif kind == "phone":
            parsed = pl.col(f"__{name}_e164")
        elif kind == "bool":
            parsed = _bool_expr(name)
        elif kind == "enum":
            parsed = pl.col(name).str.to_lowercase()
        else:
            parsed = pl.col(name)
        typed.append(parsed.alias(name))
        if kind in PARSE_REASONS:
            failed.append((name, kind, pl.col(name).is_not_null() & parsed.is_null()))

    failure_flags = frame.select(
        "source_file", "source_row", *[flag.alias(f"__fail_{name}") for name, _, flag in failed]
    )
    entries = []
    for name, kind, _ in failed:
        code, sentence = PARSE_REASONS[kind]
        bad = failure_flags.filter(pl.col(f"__fail_{name}")).select("source_file", "source_row")
        if bad.height:
            values = frame.join(bad, on=["source_file", "source_row"], how="semi").select(
                "source_file", "source_row", pl.col(name).alias("value")
            )
            entries.append(quarantine_entries(values, name, code, sentence.format(dates=context.date_formats_hint)))

    if "date" in spec.of_kind("date") and spec.name == "device_usage":
        entries.append(
            _usage_outside_month(
                frame.select("source_file", "source_row", "date", _date_expr("date", context).alias("__day")), context
            )
        )

    typed_frame = frame.select("source_file", "source_row", *typed)
    text = frame.select("source_file", "source_row", *[c.name for c in spec.columns])
    return text, typed_frame, concat_quarantine(entries)


def _usage_outside_month(frame: pl.DataFrame, context: ParseContext) -> pl.DataFrame:
    outside = frame.filter(
        pl.col("__day").is_not_null() & (pl.col("__day").dt.strftime("%Y-%m") != context.billing_month)
    )
    return quarantine_entries(
        outside.select("source_file", "source_row", pl.col("date").alias("value")),
        "date",
        "date_outside_month",
        f"the date is not in the billing month {context.billing_month}",
    )


QUARANTINE_SCHEMA = {
    "file": pl.String,
    "row": pl.Int64,
    "column": pl.String,
    "value": pl.String,
    "reason_code": pl.String,
    "reason": pl.String,
}


def quarantine_entries(rows: pl.DataFrame, column: str, code: str, sentence: str) -> pl.DataFrame:
    """Quarantine entries for (source_file, source_row, value) rows. The value is withheld (null) whatever the
    column: in a row with a missing field the values shift left, so a phone number can land in `date` and an
    IMEI in `device_model`. Publishing reads the values again from the customer's own inbox file."""
    return rows.select(
        pl.col("source_file").alias("file"),
        pl.col("source_row").alias("row"),
        pl.lit(column).alias("column"),
        pl.lit(None, dtype=pl.String).alias("value"),
        pl.lit(code).alias("reason_code"),
        pl.lit(sentence).alias("reason"),
    )


def concat_quarantine(entries: list[pl.DataFrame]) -> pl.DataFrame:
    entries = [e for e in entries if e.height]
    if not entries:
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return pl.concat([e.cast(QUARANTINE_SCHEMA) for e in entries], how="vertical")
