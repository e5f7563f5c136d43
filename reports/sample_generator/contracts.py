"""The carriers' rate cards of the sample, as the product's contract models (schemas/contract.py), and the
lookups the generator and the oracle make in them.

A rate card here is exactly what customers/<id>/contracts/<carrier>.yaml holds, so it is a
`schemas.contract.Contract` and is validated by the product's rules when this module is imported. What only the
generator needs to know about a card (which plans are for devices without a user) stays beside it."""

from __future__ import annotations

from decimal import Decimal

from schemas.contract import Contract, Feature, Plan, RoamingRates

D = Decimal
UNITS = ("voice", "sms", "data")
_ALLOWANCE_FIELDS = {"voice": "voice_min", "sms": "sms", "data": "data_mb"}
_OVERAGE_RATE_FIELDS = {"voice": "overage_voice_per_min", "sms": "overage_sms_per_msg", "data": "overage_data_per_mb"}
_NO_OVERAGE = D("0.00")


def allowance(plan: Plan, unit: str) -> Decimal | None:
    """The plan's allowance of a unit; None is unlimited."""
    return getattr(plan, _ALLOWANCE_FIELDS[unit])


def overage_rate(plan: Plan, unit: str) -> Decimal:
    return getattr(plan, _OVERAGE_RATE_FIELDS[unit])


class Tariff:
    """One rate card looked up by code, with fee(p) of audit-rules.md worked out once per plan."""

    def __init__(self, contract: Contract):
        self.contract = contract
        self.carrier = contract.carrier
        self.plans = contract.plans
        self.features = contract.features
        self._plans = {p.code: p for p in contract.plans}
        self._features = {f.code: f for f in contract.features}
        self._fees = {p.code: contract.discounted_fee(p) for p in contract.plans}
        self._roaming = {"voice": contract.roaming.voice_per_min, "data": contract.roaming.data_per_mb}
        # (unit, allowance, overage rate) of the units a plan does not give unlimited
        self.limits = {
            p.code: tuple((u, allowance(p, u), overage_rate(p, u)) for u in UNITS if allowance(p, u) is not None)
            for p in contract.plans
        }

    def plan(self, code: str) -> Plan:
        return self._plans[code]

    def feature(self, code: str) -> Feature:
        return self._features[code]

    def fee(self, plan: Plan) -> Decimal:
        """fee(p) of audit-rules.md: round(monthly_fee x (1 - discount_pct / 100)), `Contract.discounted_fee`."""
        return self._fees[plan.code]

    def roaming_rate(self, unit: str) -> Decimal:
        return self._roaming[unit]


def _plan(
    code: str,
    name: str,
    monthly_fee: Decimal,
    voice_min: int | None,
    sms: int | None,
    data_mb: int | None,
    overage_voice_per_min: Decimal = _NO_OVERAGE,
    overage_sms_per_msg: Decimal = _NO_OVERAGE,
    overage_data_per_mb: Decimal = _NO_OVERAGE,
) -> Plan:
    return Plan(
        code=code,
        name=name,
        monthly_fee=monthly_fee,
        voice_min=voice_min,
        sms=sms,
        data_mb=data_mb,
        overage_voice_per_min=overage_voice_per_min,
        overage_sms_per_msg=overage_sms_per_msg,
        overage_data_per_mb=overage_data_per_mb,
    )


def _feature(code: str, name: str, category: str, monthly_fee: Decimal) -> Feature:
    return Feature(code=code, name=name, category=category, monthly_fee=monthly_fee)


def _roaming(voice_per_min: Decimal, data_per_mb: Decimal) -> RoamingRates:
    return RoamingRates(voice_per_min=voice_per_min, data_per_mb=data_per_mb)


NORTHWIND = Contract(
    carrier="northwind-mobile",
    discount_pct=D("15"),
    plans=[
        _plan("NW-BIZ-2GB", "Business 2 GB", D("25.00"), 500, 500, 2048, D("0.10"), D("0.05"), D("0.015")),
        _plan("NW-BIZ-10GB", "Business 10 GB", D("45.00"), None, None, 10240, overage_data_per_mb=D("0.012")),
        _plan("NW-BIZ-UNL", "Business Unlimited", D("70.00"), None, None, None),
        _plan("NW-DATA-5GB", "Connected device 5 GB", D("20.00"), 0, 0, 5120, D("0.25"), D("0.10"), D("0.015")),
    ],
    features=[
        _feature("NW-INTL", "International travel pass", "roaming", D("10.00")),
        _feature("NW-HOTSPOT", "Mobile hotspot", "hotspot", D("5.00")),
        _feature("NW-PROTECT", "Device protection", "insurance", D("8.99")),
    ],
    roaming=_roaming(D("0.25"), D("0.0125")),
)
SOUTHPOINT = Contract(
    carrier="southpoint-wireless",
    discount_pct=D("10"),
    plans=[
        _plan("SP-ESS-3GB", "Essentials 3 GB", D("30.00"), None, None, 3072, overage_data_per_mb=D("0.02")),
        _plan("SP-PRO-15GB", "Pro 15 GB", D("50.00"), None, None, 15360, overage_data_per_mb=D("0.0095")),
        _plan("SP-UNL-MAX", "Unlimited Max", D("80.00"), None, None, None),
    ],
    features=[
        _feature("SP-WORLD", "World traveller", "roaming", D("12.00")),
        _feature("SP-CARE", "Care plus", "insurance", D("7.50")),
    ],
    roaming=_roaming(D("0.35"), D("0.0195")),
)
ALBION = Contract(
    # 12.5 % makes fee(AT-IOT-1GB) = 11.025 exactly: half-up gives 11.03, half-even 11.02.
    carrier="albion-telecom",
    discount_pct=D("12.5"),
    plans=[
        _plan(
            "AT-ESS-4GB",
            "Essential 4GB",
            D("18.00"),
            1000,
            None,
            4096,
            overage_voice_per_min=D("0.045"),
            overage_data_per_mb=D("0.0095"),
        ),
        _plan("AT-PLUS-20GB", "Plus 20GB", D("27.50"), None, None, 20480, overage_data_per_mb=D("0.008")),
        _plan("AT-UNL", "Unlimited", D("36.00"), None, None, None),
        _plan("AT-IOT-1GB", "Connect IoT 1GB", D("12.60"), 0, 50, 1024, D("0.10"), D("0.04"), D("0.02")),
    ],
    features=[
        _feature("AT-EUROAM", "Europe roaming bundle", "roaming", D("6.00")),
        _feature("AT-TETHER", "Tethering", "hotspot", D("3.00")),
        _feature("AT-CARE", "Handset insurance", "insurance", D("7.99")),
    ],
    roaming=_roaming(D("0.19"), D("0.0075")),
)
RHEIN_FUNK = Contract(
    carrier="rhein-funk",
    discount_pct=D("0"),
    plans=[
        _plan("RF-BUSINESS-S", "Business S 5 GB", D("19.99"), None, None, 5120, overage_data_per_mb=D("0.01")),
        _plan("RF-BUSINESS-M", "Business M 12 GB", D("29.99"), None, None, 12288, overage_data_per_mb=D("0.009")),
        _plan("RF-BUSINESS-L", "Business L unbegrenzt", D("44.99"), None, None, None),
    ],
    features=[
        _feature("RF-EU-PLUS", "EU+ Reisepaket", "roaming", D("4.99")),
        _feature("RF-HOTSPOT", "Hotspot-Flat", "hotspot", D("2.50")),
        _feature("RF-GERAETESCHUTZ", "Geräteschutz", "insurance", D("6.99")),
    ],
    roaming=_roaming(D("0.29"), D("0.0049")),
)

# Generator only (not in the contract files): data-only plans, given to hotspots and IoT lines without a user.
DEVICE_PLANS = frozenset({"NW-DATA-5GB", "AT-IOT-1GB"})
