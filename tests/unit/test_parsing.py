"""Parsing of the contract's formats: phone numbers, dates in both orders, decimals with thousands separators."""

import datetime as dt
import random
from decimal import Decimal

import phonenumbers
import polars as pl
import pytest
from phonenumbers import PhoneNumberType as PNT

from reports.inputs import parsing
from reports.inputs.parsing import ParseContext, normalize_phone, parse_table, phone_lookup
from schemas.tables import INVOICE_CHARGES


def test_phone_validity_is_checked_once_per_number_however_written(monkeypatch):
    checked = []
    for name in ("is_valid_number", "is_valid_number_for_region"):
        real_check = getattr(parsing.phonenumbers, name)
        monkeypatch.setattr(
            parsing.phonenumbers,
            name,
            lambda number, *region, _name=name, _real=real_check: (
                checked.append((_name, number.national_number)) or _real(number, *region)
            ),
        )
    parsing.forget_phone_numbers()
    raw = pl.Series(["+1 650 555 0199", "(650) 555-0199", "650.555.0199", "6505550199", "+16505550199", "555"])
    lookup = dict(phone_lookup(raw, "US").iter_rows())
    assert set(lookup.values()) == {"+16505550199", None} and lookup["555"] is None
    # five spellings, three distinct after punctuation, one number: valid in the customer's region, which the
    # region's patterns tell in polars; 555 is not valid there, and phonenumbers, asked once, finds it valid nowhere
    assert sorted(checked) == [("is_valid_number", 555), ("is_valid_number_for_region", 555)]
    # a number of another region of the country code is phonenumbers' to validate, once
    checked.clear()
    assert phone_lookup(pl.Series(["(416) 967-1111", "416.967.1111"]), "US")["e164"].to_list() == ["+14169671111"] * 2
    assert sorted(checked) == [("is_valid_number", 4169671111), ("is_valid_number_for_region", 4169671111)]


@pytest.mark.parametrize(
    "text, region, e164",
    [
        ("+14155550123", "US", "+14155550123"),  # E.164
        ("(415) 555-0123", "US", "+14155550123"),  # national
        ("415.555.0123", "US", "+14155550123"),  # national with dots
        ("+1 415 555 0123", "US", "+14155550123"),  # international with spaces
        ("4155550123", "US", "+14155550123"),  # an Excel number cell
        ("07911 123456", "GB", "+447911123456"),
        ("+44 7911 123456", "US", "+447911123456"),  # international wins over the customer's region
        ("+1 416 967 1111", "US", "+14169671111"),  # Canada shares +1 with a US customer: valid, though not in the US
        ("0151 23456789", "DE", "+4915123456789"),
        ("12345", "US", None),
        ("+1 555 0100", "US", None),
        ("not a phone", "US", None),
    ],
)
def test_phone_numbers_normalise_to_e164(text, region, e164):
    assert normalize_phone(text, region) == e164


def _reference_e164(text: str, region: str) -> str | None:
    """What phonenumbers alone makes of a spelling: parse, then valid anywhere."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return (
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if phonenumbers.is_valid_number(number)
        else None
    )


def _random_spellings(rng: random.Random, region: str, count: int) -> list[str]:
    """Punctuation-free spellings around the region's example numbers: digits changed, cut or added, behind every
    prefix that changes how phonenumbers reads them (national and international prefixes, country codes with and
    without +, another country's code, GB's 180020)."""
    cc = str(phonenumbers.country_code_for_region(region))
    examples = [
        phonenumbers.national_significant_number(example)
        for kind in (PNT.MOBILE, PNT.FIXED_LINE, PNT.TOLL_FREE, PNT.PREMIUM_RATE, PNT.VOIP)
        if (example := phonenumbers.example_number_for_type(region, kind)) is not None
    ]
    prefixes = [
        "",
        "0",
        "1",
        "00",
        "+",
        f"+{cc}",
        cc,
        f"00{cc}",
        f"011{cc}",
        f"0{cc}",
        "180020",
        "+0",
        f"+{cc}0",
        f"+{cc}1",
    ]
    spellings = set()
    while len(spellings) < count:
        digits = list(rng.choice(examples))
        for _ in range(rng.randint(0, 4)):
            digits[rng.randrange(len(digits))] = str(rng.randint(0, 9))
        if rng.random() < 0.2:
            digits = digits[: rng.randint(1, len(digits))] + [str(rng.randint(0, 9)) for _ in range(rng.randint(0, 3))]
        prefix = rng.choice([*prefixes, f"+{rng.randint(1, 999)}"])
        spellings.add(prefix + "".join(digits))
    return sorted(spellings)


# regions whose spellings take the polars fast path (simple national prefixes), and some that do not
@pytest.mark.parametrize("region", ["US", "GB", "DE", "FR", "IT", "ES", "NL", "IN", "CH", "SE", "MX", "CA", "AU", "BR"])
def test_phone_lookup_agrees_with_phonenumbers_on_random_spellings(region):
    spellings = _random_spellings(random.Random(f"spellings-{region}"), region, 1_500)
    parsing.forget_phone_numbers()
    lookup = dict(phone_lookup(pl.Series(spellings), region).iter_rows())
    expected = {text: _reference_e164(text, region) for text in spellings}
    assert sum(e164 is not None for e164 in expected.values()) > 200  # valid numbers are among them
    assert {text: lookup[text] for text in spellings} == expected


def test_phone_lookup_parses_no_spelling_of_a_valid_number_in_the_regions_usual_shapes(monkeypatch):
    parsing.forget_phone_numbers()
    parsed = []
    real_parse = parsing.phonenumbers.parse
    monkeypatch.setattr(parsing.phonenumbers, "parse", lambda *a, **k: parsed.append(a[0]) or real_parse(*a, **k))
    us = ["(650) 253-0000", "+1 650 253 0000", "1-650-253-0000", "650.253.0000"]
    gb = ["07911 123456", "+44 7911 123456", "7911 123456"]
    assert set(phone_lookup(pl.Series(us), "US")["e164"]) == {"+16502530000"}
    assert set(phone_lookup(pl.Series(gb), "GB")["e164"]) == {"+447911123456"}
    assert parsed == []
    # another country's number, and a number that is not valid, are parsed
    lookup = dict(phone_lookup(pl.Series(["+44 7911 123456", "(650) 155-0100"]), "US").iter_rows())
    assert lookup == {"+44 7911 123456": "+447911123456", "(650) 155-0100": None}
    assert sorted(parsed) == ["+447911123456", "6501550100"]


def _random_national_numbers(rng: random.Random, region: str, count: int) -> list[str]:
    """National significant numbers (ASCII digits, first 1-9) around the region's example numbers of every type,
    digits changed, added or cut, and random ones of 2 to 17 digits."""
    examples = [
        phonenumbers.national_significant_number(example)
        for kind in PNT.values()
        if (example := phonenumbers.example_number_for_type(region, kind)) is not None
    ]
    numbers = set()
    while len(numbers) < count:
        if examples and rng.random() < 0.8:
            digits = list(rng.choice(examples))
            for _ in range(rng.randint(0, 3)):
                digits[rng.randrange(len(digits))] = str(rng.randint(0, 9))
            if rng.random() < 0.2:
                digits.append(str(rng.randint(0, 9)))
            if rng.random() < 0.2 and len(digits) > 2:
                digits.pop()
        else:
            digits = [str(rng.randint(0, 9)) for _ in range(rng.randint(2, 17))]
        text = "".join(digits).lstrip("0")
        if len(text) >= 2:
            numbers.add(text)
    return sorted(numbers)


def test_validity_in_the_region_agrees_with_phonenumbers_in_every_region():
    """The polars check of a number's validity in a region is phonenumbers' own, in each of its regions."""
    rng = random.Random("validity")
    checked = valid = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        country_code = phonenumbers.country_code_for_region(region)
        numbers = _random_national_numbers(rng, region, 200)
        got = pl.DataFrame({"digits": numbers}).select(parsing._valid_for_region(pl.col("digits"), region))
        expected = [
            phonenumbers.is_valid_number_for_region(
                phonenumbers.PhoneNumber(country_code=country_code, national_number=int(n)), region
            )
            for n in numbers
        ]
        assert dict(zip(numbers, got.to_series().to_list())) == dict(zip(numbers, expected)), region
        checked += len(numbers)
        valid += sum(expected)
    assert checked > 45_000 and valid > 10_000  # many numbers, many of them valid


def test_a_description_matches_whole_numbers_of_its_possible_lengths_only():
    """Each description is tested as phonenumbers tests it: the length first, then the pattern on the whole number
    (phonenumbers' own regions may never tell the length apart from the pattern; a description can)."""
    from phonenumbers.phonenumberutil import _is_number_matching_desc

    description = phonenumbers.PhoneNumberDesc(national_number_pattern=r"1\d{1,5}", possible_length=(3, 5))
    numbers = ["12", "123", "1234", "12345", "123456", "223", "0123"]
    got = pl.DataFrame({"digits": numbers}).select(parsing._matches_description(pl.col("digits"), description))
    expected = [_is_number_matching_desc(number, description) for number in numbers]
    assert got.to_series().to_list() == expected == [False, True, False, True, False, False, False]
    assert parsing._matches_description(pl.col("digits"), phonenumbers.PhoneNumberDesc()) is None  # no pattern


def test_digits_of_another_script_give_an_e164_number_in_ascii_digits():
    parsing.forget_phone_numbers()  # nothing met before: the spelling alone decides
    lookup = dict(phone_lookup(pl.Series(["٢١٢٥٥٥٠١٠٠", "2١2 555 ٠100"]), "US").iter_rows())
    assert lookup == {"٢١٢٥٥٥٠١٠٠": "+12125550100", "2١2 555 ٠100": "+12125550100"}


def _parse_one(column: str, text: str, region: str = "US"):
    row = {c.name: None for c in INVOICE_CHARGES.columns}
    row.update({"source_file": "i.csv", "source_row": 2, column: text})
    frame = pl.DataFrame(
        [row],
        schema={
            **{c.name: pl.String for c in INVOICE_CHARGES.columns},
            "source_file": pl.String,
            "source_row": pl.Int64,
        },
    )
    _, typed, failures = parse_table(frame, INVOICE_CHARGES, ParseContext(region, "2026-06"))
    return typed[column][0], failures.filter(pl.col("column") == column)["reason_code"].to_list()


@pytest.mark.parametrize(
    "text, region, expected",
    [
        ("2026-06-30", "US", dt.date(2026, 6, 30)),
        ("06/30/2026", "US", dt.date(2026, 6, 30)),
        ("6/3/2026", "US", dt.date(2026, 6, 3)),
        ("30/06/2026", "GB", dt.date(2026, 6, 30)),
        ("03/06/2026", "DE", dt.date(2026, 6, 3)),
        ("2026-06-30 00:00:00", "GB", dt.date(2026, 6, 30)),  # an Excel date cell
        ("2026-06-30", "DE", dt.date(2026, 6, 30)),
        ("2026-06-30 10:30", "US", dt.date(2026, 6, 30)),  # a time of day is ignored
        ("2026-06-30T23:59:59.250", "DE", dt.date(2026, 6, 30)),
    ],
)
def test_dates_in_iso_and_regional_order(text, region, expected):
    assert _parse_one("period_end", text, region) == (expected, [])


@pytest.mark.parametrize(
    "text, region",
    [
        ("30/06/2026", "US"),
        ("06/30/2026", "GB"),
        ("2026-13-01", "US"),
        ("2026-02-30", "US"),
        ("June 1", "US"),
        ("20260601", "US"),
        ("2026-06-30T10:30Z", "US"),  # a time zone would say the day may be another
        ("2026-06-30 10:30+02:00", "DE"),
        ("06/30/2026 10:30", "US"),  # a time only after an ISO date
    ],
)
def test_unparseable_dates_are_quarantined(text, region):
    assert _parse_one("period_end", text, region) == (None, ["bad_date"])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1234.5", "1234.5"),
        ("1,234.50", "1234.5"),
        ("-3.00", "-3"),
        ("12,345,678.9", "12345678.9"),
        (".5", "0.5"),
        ("40", "40"),
        ("1.5e-3", "0.0015"),
    ],
)
def test_decimals_are_exact(text, expected):
    value, reasons = _parse_one("amount", text)
    assert reasons == [] and isinstance(value, Decimal) and value == Decimal(expected)


@pytest.mark.parametrize("text", ["1,23.4", "12abc", "$5.00", "1.234,50", "--1", "1 234"])
def test_unparseable_numbers_are_quarantined(text):
    assert _parse_one("amount", text) == (None, ["bad_number"])


def test_phone_lookup_sends_only_spellings_it_has_not_met_to_phonenumbers(monkeypatch):
    parsing.forget_phone_numbers()
    calls = []
    real_parse, real_valid = parsing.phonenumbers.parse, parsing.phonenumbers.is_valid_number_for_region
    monkeypatch.setattr(parsing.phonenumbers, "parse", lambda text, *a: calls.append(text) or real_parse(text, *a))
    monkeypatch.setattr(
        parsing.phonenumbers,
        "is_valid_number_for_region",
        lambda number, *a: calls.append(number.national_number) or real_valid(number, *a),
    )
    first = phone_lookup(pl.Series(["(650) 555-0199", "+1 650 555 0100", "+44 7911 123456", "(416) 967-1111"]), "US")
    # the US numbers are valid by the region's patterns; the British one is parsed, the Canadian one checked
    assert sorted(calls, key=str) == ["+447911123456", 4169671111, 7911123456]
    calls.clear()
    # a later chunk: the same numbers, spelled as before or not, reach phonenumbers no more; a new one not valid
    # in the region does
    again = phone_lookup(
        pl.Series(["650-555-0199", "+16505550100", "416 967 1111", "+447911123456", "+1 416 967 1112", None]), "US"
    )
    assert calls == [4169671112]
    assert dict(first.iter_rows())["(650) 555-0199"] == dict(again.iter_rows())["650-555-0199"] == "+16505550199"
    assert phone_lookup(pl.Series(["6505550199"]), "GB")["e164"].to_list() == [None]  # known per region


def test_spellings_met_before_keep_their_number_once_the_process_holds_too_many(monkeypatch):
    monkeypatch.setattr(parsing, "_E164_CACHE_LIMIT", 3)
    parsing.forget_phone_numbers()
    phone_lookup(pl.Series(["(650) 253-0000", "+1 650 253 0001", "650.253.0002"]), "US")
    later = pl.Series(["650-253-0000", "(650) 253-0003", "+16502530001", "650 253 0004"])
    assert dict(phone_lookup(later, "US").iter_rows()) == {
        "650-253-0000": "+16502530000",
        "(650) 253-0003": "+16502530003",
        "+16502530001": "+16502530001",
        "650 253 0004": "+16502530004",
    }
