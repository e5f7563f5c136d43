"""Customer settings (customer.yaml) and carrier rate cards (contracts/<carrier>.yaml).

Parsed with pydantic; a file that does not follow the contract raises ``ContractError``
naming the file and the field, which fails that customer (never a traceback).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Literal

import phonenumbers
import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from schemas.names import ID_PATTERN
from schemas.values import DECIMAL_TEXT, MONEY, QUANTITY

Money = Decimal
CENT = Decimal("0.01")
ISO_CURRENCIES_HINT = "an ISO 4217 code such as USD, EUR or GBP"
MAX_FILE_BYTES = 1024 * 1024  # customer and contract files are a few KB; anything near this is not one
MAX_NESTING = 32  # lists and mappings inside each other; a contract needs 3


class ContractError(ValueError):
    """A customer or contract file that cannot be used; the message names file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


DEFAULT_RETENTION_MONTHS = 24
DEFAULT_DISPUTE_WINDOW_DAYS = 90  # AT&T's agreements: 90 days from the invoice date; assumed unless a contract says


class CustomerSettings(_Strict):
    name: str = Field(min_length=1)
    region: str
    currency: str
    retention_months: int = DEFAULT_RETENTION_MONTHS  # contract v1.1: how many billing months are held

    @field_validator("retention_months", mode="before")
    @classmethod
    def _whole_months(cls, value: object) -> int:
        text = str(value).strip()
        if isinstance(value, bool) or not re.fullmatch(r"\d{1,4}", text) or int(text) < 1:
            raise ValueError(f"{value!r} is not a whole number of months of at least 1 (such as 24)")
        return int(text)

    @field_validator("region")
    @classmethod
    def _region_is_known(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("must be an ISO 3166 alpha-2 country code that has phone numbers, such as US or DE")
        return value

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        value = value.strip().upper()
        if len(value) != 3 or not value.isalpha():
            raise ValueError(f"must be {ISO_CURRENCIES_HINT}")
        return value


# Contract numbers follow the rules of the numbers in the data (reports/inputs/parsing.py): the same text syntax (a comma
# only as a thousands separator), the same range and places as the warehouse column they are compared with
# (amounts DECIMAL(18, 4) like invoice amounts; rates, allowances and percentages DECIMAL(18, 6) like usage and
# unit rates), extra places rounded half-even as polars rounds the data. Never through binary floating point.
DECIMAL_KINDS: dict[str, pl.Decimal] = {"money": MONEY, "quantity": QUANTITY}
_DECIMAL_SYNTAX = re.compile(DECIMAL_TEXT, re.ASCII)  # ASCII digits only, as polars can cast
_KIND_WORDS = {"money": "an amount", "quantity": "a rate, allowance or percentage"}


def contract_decimal(value: object, kind: str) -> Decimal:
    """The exact decimal of a contract number, or ValueError with a one-line reason that quotes the value.

    `value` is the text the YAML file holds (see `_ContractLoader`), or an int, float or Decimal given by code;
    a float goes through its shortest repr, which is what was written."""
    dtype = DECIMAL_KINDS[kind]
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ValueError("must be a number")
    text = (repr(value) if isinstance(value, float) else str(value)).strip()
    shown = repr(text if len(text) <= 40 else f"{text[:37]}...")
    if not _DECIMAL_SYNTAX.fullmatch(text):
        raise ValueError(
            f"{shown} is not a decimal number; write it like 1234.50 or 1,234.50 (a comma only separates thousands)"
        )
    number = Decimal(text.replace(",", ""))
    digits = dtype.precision - dtype.scale
    limit = Decimal(10) ** digits
    if number.copy_abs() < limit:  # compared before rounding: quantize cannot hold 10^30 at four places
        places = min(max(-number.as_tuple().exponent, 0), dtype.scale)
        number = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    if number.copy_abs() >= limit:
        raise ValueError(f"{shown} is too large; {_KIND_WORDS[kind]} must be less than 10^{digits}")
    return number if number else number.copy_abs()  # no -0


def _decimal_validator(kind: str, optional: bool = False):
    def validate(cls, value: object) -> Decimal | None:
        if value is None and optional:
            return None
        return contract_decimal(value, kind)

    return classmethod(validate)


class Plan(_Strict):
    code: str = Field(min_length=1)
    name: str = ""
    monthly_fee: Money = Field(ge=0)
    voice_min: Decimal | None = Field(default=None, ge=0)
    sms: Decimal | None = Field(default=None, ge=0)
    data_mb: Decimal | None = Field(default=None, ge=0)
    overage_voice_per_min: Decimal = Field(default=Decimal("0"), ge=0)
    overage_sms_per_msg: Decimal = Field(default=Decimal("0"), ge=0)
    overage_data_per_mb: Decimal = Field(default=Decimal("0"), ge=0)

    _fee = field_validator("monthly_fee", mode="before")(_decimal_validator("money"))
    _rates = field_validator("overage_voice_per_min", "overage_sms_per_msg", "overage_data_per_mb", mode="before")(
        _decimal_validator("quantity")
    )
    _allowances = field_validator("voice_min", "sms", "data_mb", mode="before")(_decimal_validator("quantity", True))


class Feature(_Strict):
    code: str = Field(min_length=1)
    name: str = ""
    category: Literal["roaming", "hotspot", "insurance", "other"]
    monthly_fee: Money = Field(ge=0)

    _fee = field_validator("monthly_fee", mode="before")(_decimal_validator("money"))


class RoamingRates(_Strict):
    voice_per_min: Decimal = Field(ge=0)
    data_per_mb: Decimal = Field(ge=0)

    _rates = field_validator("voice_per_min", "data_per_mb", mode="before")(_decimal_validator("quantity"))


class Contract(_Strict):
    carrier: str
    discount_pct: Decimal = Field(default=Decimal("0"), ge=0, le=100)
    plans: list[Plan] = Field(min_length=1)
    features: list[Feature] = Field(default_factory=list)
    roaming: RoamingRates
    dispute_window_days: int = DEFAULT_DISPUTE_WINDOW_DAYS  # days after the invoice date the carrier accepts disputes

    def discounted_fee(self, plan: Plan) -> Decimal:
        """fee(p): the plan's monthly fee after the contract discount, rounded half-up to cents."""
        return (plan.monthly_fee * (1 - self.discount_pct / 100)).quantize(CENT, rounding=ROUND_HALF_UP)

    @field_validator("carrier")
    @classmethod
    def _carrier_id(cls, value: str) -> str:
        if not ID_PATTERN.fullmatch(value):
            raise ValueError("must match ^[a-z0-9][a-z0-9-]{1,62}$")
        return value

    _discount = field_validator("discount_pct", mode="before")(_decimal_validator("quantity"))

    @field_validator("dispute_window_days", mode="before")
    @classmethod
    def _whole_days(cls, value: object) -> int:
        text = str(value).strip()
        if isinstance(value, bool) or not re.fullmatch(r"\d{1,4}", text) or int(text) < 1:
            raise ValueError(f"{value!r} is not a whole number of days of at least 1 (such as 90)")
        return int(text)

    @field_validator("plans")
    @classmethod
    def _unique_plan_codes(cls, plans: list[Plan]) -> list[Plan]:
        codes = [p.code for p in plans]
        if len(codes) != len(set(codes)):
            raise ValueError("plan codes must be unique")
        return plans

    @field_validator("features")
    @classmethod
    def _unique_feature_codes(cls, features: list[Feature]) -> list[Feature]:
        codes = [f.code for f in features]
        if len(codes) != len(set(codes)):
            raise ValueError("feature codes must be unique")
        return features


MAX_PROBLEMS_SHOWN = 10


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(top level)"
        problems.append(f"field '{field}': {item['msg'].removeprefix('Value error, ')}")
    more = len(problems) - MAX_PROBLEMS_SHOWN
    return "; ".join(problems[:MAX_PROBLEMS_SHOWN]) + (f"; and {more} more" if more > 0 else "")


class _Refused(yaml.YAMLError):
    def __init__(self, problem: str, mark: yaml.Mark) -> None:
        super().__init__(problem)
        self.problem, self.mark = problem, mark


class _ContractLoader(yaml.SafeLoader):
    """yaml.SafeLoader for files that arrive from outside (customer.yaml, contracts/*.yaml).

    * An anchor on a list or a mapping is refused when it is read, so no alias can repeat one: that is what
      an alias bomb ("billion laughs") multiplies, and what merge keys (`<<: *defaults`) need. An anchor on a
      single value (`&id001 0.00`, as yaml.safe_dump writes repeated values) costs one reference per alias
      and stays accepted.
    * Lists and mappings nest at most MAX_NESTING deep.
    * Numbers stay the text that was written (`19.99`, not the binary float 19.9900000000000019895...), to be
      parsed once, exactly, by `contract_decimal`.
    """

    _depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            if event.anchor is not None:
                raise _Refused(
                    f"YAML anchors on lists or mappings (&{event.anchor}) are not accepted; "
                    "write the values out in full",
                    event.start_mark,
                )
            if self._depth >= MAX_NESTING:
                raise _Refused(f"lists and mappings nested more than {MAX_NESTING} deep", event.start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _number_as_written(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    return loader.construct_scalar(node)


_ContractLoader.add_constructor("tag:yaml.org,2002:int", _number_as_written)
_ContractLoader.add_constructor("tag:yaml.org,2002:float", _number_as_written)


def _load_yaml(path: Path, display_name: str) -> dict:
    try:
        with path.open("rb") as handle:
            content = handle.read(MAX_FILE_BYTES + 1)  # never more than the limit in memory
    except FileNotFoundError:
        raise ContractError(f"{display_name}: file not found") from None
    except OSError as exc:
        raise ContractError(f"{display_name}: cannot be opened ({exc.strerror or 'I/O error'})") from None
    if len(content) > MAX_FILE_BYTES:
        raise ContractError(
            f"{display_name}: larger than {MAX_FILE_BYTES // 2**20} MiB, the limit for a customer or contract file"
        )
    try:
        document = yaml.load(content.decode("utf-8-sig"), Loader=_ContractLoader)  # noqa: S506 - a SafeLoader
    except _Refused as exc:
        raise ContractError(f"{display_name}: {exc.problem} (line {exc.mark.line + 1})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ContractError(f"{display_name}: not valid YAML{at}") from None
    if not isinstance(document, dict):
        raise ContractError(f"{display_name}: expected a mapping of fields at the top level")
    return document


def load_customer_settings(path: Path, display_name: str) -> CustomerSettings:
    document = _load_yaml(path, display_name)
    try:
        return CustomerSettings.model_validate(document)
    except ValidationError as exc:
        raise ContractError(f"{display_name}: {_describe(exc)}") from None


def load_contract(path: Path, display_name: str) -> Contract:
    document = _load_yaml(path, display_name)
    try:
        contract = Contract.model_validate(document)
    except ValidationError as exc:
        raise ContractError(f"{display_name}: {_describe(exc)}") from None
    if contract.carrier != path.stem:
        raise ContractError(
            f"{display_name}: field 'carrier' is {contract.carrier!r} but the file is named for {path.stem!r}"
        )
    return contract
