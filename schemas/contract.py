"""Customer settings (customer.yaml) and carrier rate cards (contracts/<carrier>.yaml).

Parsed with pydantic; a file that does not follow the contract raises ``ContractError``
naming the file and the field, which fails that customer (never a traceback).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

import phonenumbers
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipelines.layout import ID_PATTERN

Money = Decimal
CENT = Decimal("0.01")
ISO_CURRENCIES_HINT = "an ISO 4217 code such as USD, EUR or GBP"


class ContractError(ValueError):
    """A customer or contract file that cannot be used; the message names file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CustomerSettings(_Strict):
    name: str = Field(min_length=1)
    region: str
    currency: str

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


def _decimal(value: object) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError("must be a number")
    # YAML floats arrive as Python floats: go through their shortest repr, which is what was written
    text = str(value) if isinstance(value, (int, float)) else str(value).strip().replace(",", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError("must be a number") from None
    if not number.is_finite():
        raise ValueError("must be a finite number")
    return number


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

    @field_validator(
        "monthly_fee", "overage_voice_per_min", "overage_sms_per_msg", "overage_data_per_mb", mode="before"
    )
    @classmethod
    def _exact(cls, value: object) -> Decimal:
        return _decimal(value)

    @field_validator("voice_min", "sms", "data_mb", mode="before")
    @classmethod
    def _allowance(cls, value: object) -> Decimal | None:
        return None if value is None else _decimal(value)


class Feature(_Strict):
    code: str = Field(min_length=1)
    name: str = ""
    category: Literal["roaming", "hotspot", "insurance", "other"]
    monthly_fee: Money = Field(ge=0)

    @field_validator("monthly_fee", mode="before")
    @classmethod
    def _exact(cls, value: object) -> Decimal:
        return _decimal(value)


class RoamingRates(_Strict):
    voice_per_min: Decimal = Field(ge=0)
    data_per_mb: Decimal = Field(ge=0)

    @field_validator("voice_per_min", "data_per_mb", mode="before")
    @classmethod
    def _exact(cls, value: object) -> Decimal:
        return _decimal(value)


class Contract(_Strict):
    carrier: str
    discount_pct: Decimal = Field(default=Decimal("0"), ge=0, le=100)
    plans: list[Plan] = Field(min_length=1)
    features: list[Feature] = Field(default_factory=list)
    roaming: RoamingRates

    def discounted_fee(self, plan: Plan) -> Decimal:
        """fee(p): the plan's monthly fee after the contract discount, rounded half-up to cents."""
        return (plan.monthly_fee * (1 - self.discount_pct / 100)).quantize(CENT, rounding=ROUND_HALF_UP)

    @field_validator("carrier")
    @classmethod
    def _carrier_id(cls, value: str) -> str:
        if not ID_PATTERN.fullmatch(value):
            raise ValueError("must match ^[a-z0-9][a-z0-9-]{1,62}$")
        return value

    @field_validator("discount_pct", mode="before")
    @classmethod
    def _exact(cls, value: object) -> Decimal:
        return _decimal(value)

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


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(top level)"
        problems.append(f"field '{field}': {item['msg']}")
    return "; ".join(problems)


def _load_yaml(path: Path, display_name: str) -> dict:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ContractError(f"{display_name}: file not found") from None
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
