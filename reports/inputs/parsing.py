"""Turn the text cells of an input table into typed values, vectorised with polars.

Each parser returns the typed column; a cell that had text but did not parse becomes a
quarantine entry (reason code + sentence). Phone numbers are read with `phonenumbers`' rules and
metadata: the usual spellings of a region's valid numbers in polars, every other one by `phonenumbers`
itself, once per distinct value; the results are joined back.
"""

from __future__ import annotations

import re
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
# cached function once per distinct spelling per chunk is not (issue #19). Past _E164_CACHE_LIMIT spellings it keeps
# only those the values at hand need.
_KNOWN_SPELLINGS: dict[str, pl.DataFrame] = {}
_KNOWN_SCHEMA = {"canonical": pl.String, "e164": pl.String}


def forget_phone_numbers() -> None:
    """Drop every normalized number this process holds (tests count phonenumbers calls from a cold start)."""
    normalize_phone.cache_clear()
    _E164_BY_NUMBER.clear()
    _KNOWN_SPELLINGS.clear()


@dataclass(frozen=True)
class _NationalShapes:
    """What `phonenumbers.parse` does with a digits-only spelling in a region, where it is simple enough to do in
    polars: the country code, the national prefix, the pattern that strips it, and the international prefix."""

    country_code: str
    national_prefix: str | None
    strip_pattern: str | None  # phonenumbers' national_prefix_for_parsing (the national prefix when unset)
    international_prefix: str


@lru_cache(maxsize=256)
def _national_shapes(region: str) -> _NationalShapes | None:
    """The region's shapes, or None when its parsing rules are not the simple kind this fast path mirrors: a
    region that is not its country code's main region (its numbers in + form parse with another region's
    rules), a national prefix rewritten by a transform rule or captured as a carrier code, or patterns polars'
    regex engine does not take."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or phonenumbers.region_code_for_country_code(metadata.country_code) != region:
        return None
    if metadata.national_prefix_transform_rule or not metadata.international_prefix:
        return None
    strip = metadata.national_prefix_for_parsing or metadata.national_prefix
    if strip and re.compile(strip).groups:
        return None
    shapes = _NationalShapes(str(metadata.country_code), metadata.national_prefix, strip, metadata.international_prefix)
    try:
        pl.select(
            pl.lit("0").str.contains(f"^(?:{shapes.international_prefix})").alias("idd"),
            pl.lit("0").str.extract(f"^({strip or '0'})").alias("prefix"),
        )
    except pl.exceptions.PolarsError:
        return None
    return shapes


def _significant_digits(canonical: pl.Expr, shapes: _NationalShapes) -> pl.Expr:
    """The national significant number D of a punctuation-free spelling in the region's own country, where
    `phonenumbers.parse` would find exactly these digits if they are a valid number; null for other shapes.

    D is 2 to 17 ASCII digits, starts 1-9 and does not start with what the national prefix pattern strips (other
    digits, such as Arabic-Indic ones, are phonenumbers' to read). The shapes:
    `+<cc>D`, `<national prefix>D` (when the pattern strips exactly that prefix) and `D`, the last two not
    starting with the international prefix. For these, parse takes the region's country code (from the + form,
    or as the default; it takes a leading country code off a national spelling only when the rest is not a
    possible number alone, which a valid D is) and strips the national prefix, which it keeps stripped when D is
    viable. So the caller accepts D only when it is a valid number and sends every other spelling through
    `normalize_phone`; tests compare both on random spellings in many regions."""
    cc, prefix, strip = shapes.country_code, shapes.national_prefix, shapes.strip_pattern
    national = ~canonical.str.contains(f"^(?:{shapes.international_prefix})")
    rest = pl.when(canonical.str.starts_with(f"+{cc}")).then(canonical.str.slice(len(cc) + 1))
    if prefix:
        strips_prefix = canonical.str.starts_with(prefix) & (canonical.str.extract(f"^({strip})") == prefix)
        rest = rest.when(national & strips_prefix).then(canonical.str.slice(len(prefix)))
    rest = rest.when(national).then(canonical)
    simple = rest.str.contains(r"^[1-9][0-9]{1,16}$")  # \d would take any script's digits
    if strip:
        simple = simple & ~rest.str.contains(f"^(?:{strip})")
    return pl.when(simple).then(rest)


# phonenumbers' number types, in the order its _number_type_helper tries them after the general description
_NUMBER_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)


def _matches_description(digits: pl.Expr, description) -> pl.Expr | None:
    """phonenumbers' `_is_number_matching_desc`: the number's length is one of the description's possible lengths
    (when it lists any) and its national number pattern matches the whole number; None when the description
    matches nothing (no description, or no pattern)."""
    if description is None or not description.national_number_pattern:
        return None
    matches = digits.str.contains(f"^(?:{description.national_number_pattern})$")
    if description.possible_length:
        matches = digits.str.len_chars().is_in(list(description.possible_length)) & matches
    return matches


def _valid_for_region(digits: pl.Expr, region: str) -> pl.Expr:
    """`phonenumbers.is_valid_number_for_region` of national significant numbers of the region's own country code
    (ASCII digits, the first 1-9), as one polars expression: the number matches the region's general description
    and one of its number types, which is what phonenumbers tests (its type is not UNKNOWN), with its metadata.
    Tests compare the two on random numbers in every region phonenumbers knows."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    general = _matches_description(digits, metadata.general_desc)
    kinds = [
        m for m in (_matches_description(digits, getattr(metadata, kind)) for kind in _NUMBER_TYPES) if m is not None
    ]
    if general is None or not kinds:
        return pl.lit(False)
    return general & pl.any_horizontal(kinds)


def _valid_e164(country_code: int, digits: list[str], region: str) -> list[str | None]:
    """E.164 of each national significant number (leading digit 1-9) of the country code, None when not valid:
    one validity check per number, shared with `normalize_phone`."""
    out = []
    for text in digits:
        key = (country_code, int(text), False, 1)
        if key not in _E164_BY_NUMBER:
            if len(_E164_BY_NUMBER) >= _E164_CACHE_LIMIT:
                _E164_BY_NUMBER.clear()
            number = phonenumbers.PhoneNumber(country_code=country_code, national_number=int(text))
            valid = phonenumbers.is_valid_number_for_region(number, region) or phonenumbers.is_valid_number(number)
            _E164_BY_NUMBER[key] = f"+{country_code}{text}" if valid else None
        out.append(_E164_BY_NUMBER[key])
    return out


def _normalize_spellings(canonical: list[str], region: str) -> pl.DataFrame:
    """E.164 (null when invalid) of distinct punctuation-free spellings. The shapes a region's numbers are
    usually written in are reduced to their digits in polars, whose validity in the region is checked in polars
    too (`_valid_for_region`): a valid number of the region in such a shape never reaches phonenumbers. Digits
    not valid there are checked once by phonenumbers (another region of the country code may have them); a
    spelling of another shape, or whose digits are valid nowhere, is parsed."""
    frame = pl.DataFrame({"canonical": canonical}, schema={"canonical": pl.String})
    shapes = _national_shapes(region)
    if shapes is None:
        return frame.with_columns(pl.Series("e164", [normalize_phone(v, region) for v in canonical], pl.String))
    frame = frame.with_columns(_significant_digits(pl.col("canonical"), shapes).alias("digits"))
    numbers = frame.select(pl.col("digits").drop_nulls().unique())
    try:  # valid in the region: known from the patterns, for all numbers at once
        numbers = numbers.with_columns(_valid_for_region(pl.col("digits"), region).alias("valid"))
    except pl.exceptions.PolarsError:  # a pattern polars' regex engine does not take: phonenumbers checks each
        numbers = numbers.with_columns(pl.lit(False).alias("valid"))
    # the others may still be valid in another region of the country code (a Canadian number for a US customer)
    others = numbers.filter(~pl.col("valid"))["digits"].to_list()
    checked = pl.concat(
        [
            numbers.filter("valid").select(
                "digits", (pl.lit(f"+{shapes.country_code}") + pl.col("digits")).alias("fast")
            ),
            pl.DataFrame(
                {"digits": others, "fast": _valid_e164(int(shapes.country_code), others, region)},
                schema={"digits": pl.String, "fast": pl.String},
            ),
        ]
    )
    frame = frame.join(checked, on="digits", how="left", maintain_order="left")
    parse = frame.filter(pl.col("fast").is_null())["canonical"].to_list()
    parsed = pl.DataFrame(
        {"canonical": parse, "parsed": [normalize_phone(v, region) for v in parse]},
        schema={"canonical": pl.String, "parsed": pl.String},
    )
    return frame.join(parsed, on="canonical", how="left", maintain_order="left").select(
        "canonical", pl.coalesce("fast", "parsed").alias("e164")
    )


def phone_lookup(values: pl.Series, region: str) -> pl.DataFrame:
    """Distinct raw phone texts -> E.164 (null when invalid). Spaces, dots, dashes and parentheses carry no
    meaning, so they are stripped in polars first; only spellings this process has not met before go further
    (`_normalize_spellings`)."""
    raw = values.drop_nulls().unique()
    pairs = pl.DataFrame({"raw": raw}, schema={"raw": pl.String}).with_columns(
        pl.col("raw").str.replace_all(PHONE_PUNCTUATION, "").alias("canonical")
    )
    known = _KNOWN_SPELLINGS.get(region, pl.DataFrame(schema=_KNOWN_SCHEMA))
    new = pairs.select("canonical").unique().join(known, on="canonical", how="anti")["canonical"].to_list()
    if new:
        added = _normalize_spellings(new, region)
        if known.height + added.height > _E164_CACHE_LIMIT:  # past the limit, keep what these values need
            known = known.join(pairs.select("canonical"), on="canonical", how="semi")
        known = pl.concat([known, added])
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
    failed: list[tuple[str, str]] = []  # (column, kind) of the columns whose cells can fail to parse
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
            failed.append((name, kind))

    typed_frame = frame.select("source_file", "source_row", *typed)
    # a cell failed where it had text and its typed value is null: flags from the typed frame, not a second parse
    failure_flags = pl.concat(
        [
            frame.select("source_file", "source_row", *[name for name, _ in failed]),
            typed_frame.select([pl.col(name).is_null().alias(f"__null_{name}") for name, _ in failed]),
        ],
        how="horizontal",
    ).select(
        "source_file",
        "source_row",
        *[(pl.col(name).is_not_null() & pl.col(f"__null_{name}")).alias(f"__fail_{name}") for name, _ in failed],
    )
    entries = []
    for name, kind in failed:
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
                pl.concat(
                    [
                        frame.select("source_file", "source_row", "date"),
                        typed_frame.select(pl.col("date").alias("__day")),
                    ],
                    how="horizontal",
                ),
                context,
            )
        )

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
