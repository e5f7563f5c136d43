"""The record of processing activities we keep as a processor (GDPR Art. 30(2)), built from configuration.

`tem privacy record [--customer ID]` prints it as Markdown: one section per customer (each customer is a
controller), in customer id order. Every statement comes from the data root and the environment, never from hand-
written text about a particular customer:

* `customers/<id>/customer.yaml` (name, region, currency, retention_months) and the carriers named by
  `customers/<id>/contracts/*.yaml`;
* `<data root>/provider.yaml`, optional: the processor's name and contact and its sub-processors (`load_provider`);
* the data contract's personal columns (`schemas.tables`) and the published columns (`schemas.outputs`);
* the delivery target (`TEM_DELIVERY`, `TEM_S3_BUCKET`, `TEM_S3_PREFIX`, `TEM_S3_ENDPOINT_URL`, `AWS_REGION`) and
  whether `TEM_MASTER_KEY` is set (never its value);
* what exists under the data root: the customer's wrapped data key (`.secrets/keys/<id>.json`), the development key
  (`.secrets/master.key`), its warehouse folder, its inbox month folders (names only) and its processing log records
  (counted, never shown).

The output holds no personal data (column names and counts only) and no time: the same configuration gives the same
bytes. Domain code: no Dagster.

**Transfers.** A sub-processor's `location` is free text whose region comes first: the text before the first "(" or
",". The location is inside the EU/EEA when that region is "EU", "EEA", "European Union", or the English name or ISO
3166 alpha-2 code of an EU/EEA member state ("EU (Frankfurt)", "Ireland (Dublin)", "DE, Frankfurt"). Anything else
("US (Virginia)", "United Kingdom", "Switzerland", "eu-central-1") is taken as outside, listed under Transfers, and
must name its safeguard in `transfer_safeguard` (such as "standard contractual clauses (Art. 46(2)(c))" or "adequacy
decision (Art. 45)"): a provider.yaml with a transfer and no safeguard is refused. Unknown fields are refused too, so
a misspelt `subprocessors` cannot make the record say that there are none.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from reports.layout import DataRoot, LinkRefused
from reports.privacy import processing_log
from schemas.contract import DEFAULT_RETENTION_MONTHS, ContractError, _describe, _load_yaml, load_customer_settings
from schemas.names import ID_PATTERN, InvalidName, validate_id
from schemas.outputs import FINDINGS_CSV_COLUMNS, SAVINGS_CSV_COLUMNS
from schemas.tables import (
    DEVICE_USAGE,
    DROPPED_PERSONAL_COLUMNS,
    INVOICE_CHARGES,
    PERSONAL_COLUMNS,
    PSEUDONYMIZED_COLUMNS,
    ROSTER,
    DeviceUsageModel,
    InvoiceChargeModel,
    RosterModel,
)

PROVIDER_FILE = "provider.yaml"
PURGE_SCHEDULE = "daily_retention_purge"
DEFAULT_LINK_SECONDS = 3600  # `tem reports url --expires` default
MAX_LINK_SECONDS = 7 * 24 * 3600  # and its limit (S3 SigV4 allows no more)

EU_EEA_REGIONS = frozenset(
    {"eu", "eea", "european union", "european economic area"}
    | {  # EU member states: name and ISO 3166 alpha-2 code (Greece also as EL, the EU's own code)
        "austria",
        "at",
        "belgium",
        "be",
        "bulgaria",
        "bg",
        "croatia",
        "hr",
        "cyprus",
        "cy",
        "czechia",
        "czech republic",
        "cz",
        "denmark",
        "dk",
        "estonia",
        "ee",
        "finland",
        "fi",
        "france",
        "fr",
        "germany",
        "de",
        "greece",
        "gr",
        "el",
        "hungary",
        "hu",
        "ireland",
        "ie",
        "italy",
        "it",
        "latvia",
        "lv",
        "lithuania",
        "lt",
        "luxembourg",
        "lu",
        "malta",
        "mt",
        "netherlands",
        "the netherlands",
        "nl",
        "poland",
        "pl",
        "portugal",
        "pt",
        "romania",
        "ro",
        "slovakia",
        "sk",
        "slovenia",
        "si",
        "spain",
        "es",
        "sweden",
        "se",
    }
    | {"iceland", "is", "liechtenstein", "li", "norway", "no"}  # the other EEA states
)

_TABLES = (ROSTER, INVOICE_CHARGES, DEVICE_USAGE)
_MODELS = (RosterModel, InvoiceChargeModel, DeviceUsageModel)
_PUBLISHED_FILES = {"findings.csv": FINDINGS_CSV_COLUMNS, "savings.csv": SAVINGS_CSV_COLUMNS}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


class RecordError(ValueError):
    """The record cannot be made as asked (an invalid or unknown customer id, a customer.yaml or provider.yaml that
    does not follow its contract, an unreadable processing log): one line, naming the file and field."""


# --------------------------------------------------------------------------------------------- provider.yaml
class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _not_blank(cls, value: object) -> object:
        if isinstance(value, str):
            value = " ".join(value.split())
            if not value:
                raise ValueError("must not be empty")
        return value


class Subprocessor(_Settings):
    name: str
    purpose: str
    location: str  # region first: "EU (Frankfurt)", "Ireland (Dublin)", "US (Virginia)"
    transfer_safeguard: str | None = Field(default=None, validate_default=True)

    @property
    def outside_eu_eea(self) -> bool:
        return not in_eu_eea(self.location)

    @field_validator("transfer_safeguard", mode="after")
    @classmethod
    def _safeguard_of_a_transfer(cls, value: str | None, info: ValidationInfo) -> str | None:
        location = info.data.get("location")
        if value is None and location is not None and not in_eu_eea(location):
            raise ValueError(
                f"location {location!r} is outside the EU/EEA, so it is a transfer: name its safeguard (such as "
                "'standard contractual clauses (Art. 46(2)(c))' or 'adequacy decision (Art. 45)'); a location in the "
                "EU/EEA starts with EU, EEA or a member state, such as 'EU (Frankfurt)' or 'Ireland (Dublin)'"
            )
        return value


class ProviderSettings(_Settings):
    """`<data root>/provider.yaml`: who we are, and who processes on our behalf."""

    name: str
    contact: str
    subprocessors: list[Subprocessor] = Field(default_factory=list)

    @field_validator("subprocessors", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return [] if value is None else value


def in_eu_eea(location: str) -> bool:
    """Whether a sub-processor location is inside the EU/EEA (the rule is in the module docstring)."""
    region = re.split(r"[(,]", location, maxsplit=1)[0]
    return " ".join(region.split()).casefold() in EU_EEA_REGIONS


def load_provider(root: Path) -> ProviderSettings | None:
    """`<root>/provider.yaml` validated, or None when there is none. RecordError (a ContractError-style line naming
    the file and the field) when it cannot be used."""
    path = Path(root) / PROVIDER_FILE
    if not path.exists() and not path.is_symlink():
        return None
    try:
        document = _load_yaml(path, PROVIDER_FILE)  # the defensive loader of customer files: no aliases, 1 MiB
    except ContractError as problem:
        raise RecordError(str(problem)) from None
    try:
        return ProviderSettings.model_validate(document)
    except ValidationError as exc:
        raise RecordError(f"{PROVIDER_FILE}: {_describe(exc)}") from None


# --------------------------------------------------------------------------------------------- the record
def registered_customers(root: Path) -> list[str]:
    """The customer ids with a customers/<id>/customer.yaml, sorted: the controllers a full record covers."""
    folder = Path(root) / "customers"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if ID_PATTERN.fullmatch(p.name) and (p / "customer.yaml").is_file())


def record_markdown(root: Path, customer_ids: Iterable[str], *, environ: Mapping[str, str] | None = None) -> str:
    """The Art. 30(2) record of these customers (each a controller), one section each in id order, as Markdown.

    `environ` is the environment the delivery and key settings are read from (default: os.environ). Raises
    RecordError for an invalid or unknown customer id, a broken customer.yaml or provider.yaml, or an unreadable
    processing log."""
    environ = os.environ if environ is None else environ
    data_root = DataRoot.at(root)
    ids = sorted(set(customer_ids))
    for customer_id in ids:
        _check_customer(data_root, customer_id)
    provider = load_provider(data_root.path)

    processor = (
        f"{_md(provider.name)}, the processor," if provider else f"the processor ({PROVIDER_FILE} not configured)"
    )
    lines = [
        "# Record of processing activities (GDPR Art. 30(2))",
        "",
        f"Kept by {processor} for each controller on whose behalf it processes personal data. Generated by",
        "`tem privacy record` from the data root's configuration (`customers/`, `provider.yaml`, the environment);",
        "it names no person and holds no personal data.",
    ]
    if not ids:
        lines += ["", "No customer is registered (no customers/<id>/customer.yaml)."]
    for customer_id in ids:
        lines += ["", *_customer_section(data_root, customer_id, provider, environ)]
    return "\n".join(lines).rstrip("\n") + "\n"


def _check_customer(data_root: DataRoot, customer_id: str) -> None:
    try:
        validate_id(customer_id)
    except InvalidName as problem:
        raise RecordError(str(problem)) from None
    try:  # a link could lead to another customer's files (reports/layout.py): refused, as everywhere
        for path in (
            data_root.customer_file(customer_id),
            data_root.contracts_dir(customer_id),
            data_root.path / "inbox" / customer_id,
        ):
            data_root.refuse_links(path)
    except LinkRefused as problem:
        raise RecordError(str(problem)) from None
    if not data_root.customer_file(customer_id).is_file():
        raise RecordError(
            f"unknown customer {customer_id!r}: no customers/{customer_id}/customer.yaml in the data root"
        )


def _customer_section(
    data_root: DataRoot, customer_id: str, provider: ProviderSettings | None, environ: Mapping[str, str]
) -> list[str]:
    shown_file = f"customers/{customer_id}/customer.yaml"
    try:
        settings = load_customer_settings(data_root.customer_file(customer_id), shown_file)
    except ContractError as problem:
        raise RecordError(str(problem)) from None
    delivery = _Delivery.of(environ)
    name = _md(settings.name)
    lines = [f"## {name} (customer `{customer_id}`)", ""]

    lines += [
        "### Controller",
        "",
        f"- Name: {name}",
        f"- Customer id: `{customer_id}`",
        f"- Region: {settings.region} (phone numbers written without a country code are read as {settings.region} numbers)",
        f"- Currency: {settings.currency}",
        f"- Carriers with a contract: {_list(_carriers(data_root, customer_id), code=True)}",
        f"- Contact details: not held in the configuration ({shown_file} has no contact field)",
        "",
    ]

    lines += ["### Processor", ""]
    if provider is None:
        lines += [f"- not configured: add {PROVIDER_FILE} to the data root (name, contact, subprocessors)", ""]
    else:
        lines += [
            f"- Name: {_md(provider.name)}",
            f"- Contact: {_md(provider.contact)}",
            f"- Sub-processors: {len(provider.subprocessors)} (under Recipients)",
            "",
        ]

    lines += [
        "### Categories of data subjects",
        "",
        "- Employees and other users of the controller's mobile lines: the people its line roster lists, "
        "including managers named on roster rows and people who have left, while a month that lists them "
        "is held.",
        "",
    ]

    lines += ["### Categories of personal data", "", "The data contract's personal columns:", ""]
    lines += [
        f"- `{column}` ({', '.join(_tables_with(column))}): {_treatment(column)}" for column in sorted(PERSONAL_COLUMNS)
    ]
    lines += [
        "",
        "Linked to those identifiers, and personal data too while held (under pseudonyms in the warehouse):",
        "",
    ]
    for table in _TABLES:
        linked = [c.name for c in table.columns if c.name not in PERSONAL_COLUMNS]
        lines.append(f"- {table.name}: {', '.join(linked)}")
    lines.append("")

    lines += [
        "### Purposes",
        "",
        "- Audit the carrier invoices against the negotiated contracts and the usage the devices measured "
        "(overbilling to dispute).",
        "- Recommend plan and line changes (lines to cancel, plans to right-size, features to drop).",
        "- Chargeback: allocate the costs by cost center and department.",
        "",
        "Each month: validate the delivered files, pseudonymize them into the warehouse, audit, and publish "
        "the controller's report and CSV files.",
        "",
    ]

    lines += [
        "### Recipients",
        "",
        f"- The controller itself, through its published reports: {delivery.target(customer_id)}",
        "- The controller, on request: archives of one data subject's data (`tem privacy export`)",
    ]
    if provider is None:
        lines.append(f"- Sub-processors: not configured: add {PROVIDER_FILE}")
    elif not provider.subprocessors:
        lines.append(f"- Sub-processors: none ({PROVIDER_FILE} lists none)")
    else:
        lines.append("- Sub-processors:")
        lines += [f"  - {_md(s.name)}: {_md(s.purpose)}; location {_md(s.location)}" for s in provider.subprocessors]
    lines.append("")

    lines += ["### Transfers to third countries", ""]
    transfers = [s for s in provider.subprocessors if s.outside_eu_eea] if provider else []
    if provider is None:
        lines.append(f"- None recorded: {PROVIDER_FILE} is not configured, so no sub-processor location is known.")
    elif not transfers:
        lines.append("- None: no sub-processor is located outside the EU/EEA.")
    else:
        lines += [
            f"- To {_md(s.location)}: {_md(s.name)} ({_md(s.purpose)}); safeguard: {_md(s.transfer_safeguard or '')}"
            for s in transfers
        ]
    lines.append("")

    months = data_root.months(customer_id)
    retention = (
        f"{settings.retention_months} billing months ({shown_file})"
        if "retention_months" in settings.model_fields_set
        else f"{DEFAULT_RETENTION_MONTHS} billing months (the default: {shown_file} sets no retention_months)"
    )
    lines += [
        "### Retention",
        "",
        f"- Retention: {retention}",
        f"- Billing months held now: {len(months)}" + (f" ({', '.join(months)})" if months else ""),
        f"- Older months are removed by `tem privacy purge --customer {customer_id}` and by the daily schedule "
        f"`{PURGE_SCHEDULE}`.",
        "",
    ]

    lines += [
        "### Technical and organisational measures",
        "",
        *_measures(data_root, customer_id, delivery, environ),
        "",
    ]
    return lines


def _measures(data_root: DataRoot, customer_id: str, delivery: "_Delivery", environ: Mapping[str, str]) -> list[str]:
    pseudonymized = ", ".join(f"`{c}`" for c in sorted(PSEUDONYMIZED_COLUMNS))
    dropped = ", ".join(f"`{c}`" for c in sorted(DROPPED_PERSONAL_COLUMNS))
    items = [
        f"**Pseudonymization keyed per customer**: in force. {pseudonymized} are replaced in the warehouse by "
        "HMAC-SHA256 pseudonyms under field keys of this customer's own data key, so another customer's pseudonyms "
        f"of the same value are unrelated; {dropped} are dropped at ingest.",
        f"**Wrapped keys**: {_key_state(data_root, customer_id)} Master key: {_master_key_state(data_root, environ)}",
        f"**Encryption requested for delivered objects**: {delivery.encryption()}",
        f"**Signed expiring links**: {delivery.links()}",
        f"**Processing log**: {_log_state(data_root, customer_id)}",
    ]
    return [f"- {item}" for item in items]


def _key_state(data_root: DataRoot, customer_id: str) -> str:
    key_file = data_root.secrets_dir() / "keys" / f"{customer_id}.json"
    if key_file.is_file():
        return (
            f"in force: per-customer data key, stored wrapped (AES key wrap) under the master key "
            f"(.secrets/keys/{customer_id}.json)."
        )
    if (data_root.path / "warehouse" / customer_id).exists():
        return (
            "not in force: keys derived from the master key (legacy; migrate with `tem keys migrate`): the "
            f"warehouse exists but .secrets/keys/{customer_id}.json does not."
        )
    return (
        "no data key yet (nothing of this customer has been pseudonymized): its per-customer data key, stored "
        "wrapped (AES key wrap) under the master key, is created on its first run."
    )


def _master_key_state(data_root: DataRoot, environ: Mapping[str, str]) -> str:
    if "TEM_MASTER_KEY" in environ:
        if not environ["TEM_MASTER_KEY"].strip():
            return "TEM_MASTER_KEY is set but empty: every run is refused until it holds the master key."
        return "production key from TEM_MASTER_KEY (kept outside the data root)."
    if (data_root.secrets_dir() / "master.key").exists():
        return (
            "development key in use (.secrets/master.key, inside the data root): not for production; set "
            "TEM_MASTER_KEY."
        )
    return "TEM_MASTER_KEY is not set: a development key would be created in .secrets/master.key; set TEM_MASTER_KEY."


def _log_state(data_root: DataRoot, customer_id: str) -> str:
    shown = f"{processing_log.LOG_FOLDER}/{processing_log.LOG_NAME}"
    try:
        records = processing_log.read(data_root.path, customer_id)
    except (processing_log.ProcessingLogError, OSError) as problem:
        text = str(problem) if isinstance(problem, processing_log.ProcessingLogError) else "cannot be read"
        raise RecordError(text if text.startswith("processing log:") else f"processing log: {text}") from None
    count = f"{len(records)} record{'' if len(records) == 1 else 's'}" if records else "no records yet"
    return (
        f"in force: `{shown}` in the data root, {count} for this customer; one line per operation, chained by "
        "SHA-256 (`tem privacy log --verify`), never an identifier."
    )


class _Delivery:
    """The delivery target as the environment configures it (the settings of pipelines.resources.DeliveryResource)."""

    def __init__(self, target: str, bucket: str | None, prefix: str, endpoint: bool, region: str | None):
        self.kind, self.bucket, self.prefix, self.endpoint, self.region = target, bucket, prefix, endpoint, region

    @classmethod
    def of(cls, environ: Mapping[str, str]) -> "_Delivery":
        return cls(
            environ.get("TEM_DELIVERY") or "local",
            environ.get("TEM_S3_BUCKET") or None,
            (environ.get("TEM_S3_PREFIX") or "").strip("/"),
            bool(environ.get("TEM_S3_ENDPOINT_URL")),
            environ.get("AWS_REGION") or None,
        )

    def target(self, customer_id: str) -> str:
        if self.kind == "local":
            return f"the data root's folder `published/{customer_id}/<YYYY-MM>/`; TEM_DELIVERY local."
        if self.kind != "s3":
            return (
                f"unknown delivery target `{_code(self.kind)}` (TEM_DELIVERY): delivery fails until it is local or s3."
            )
        if not self.bucket:
            return "an S3 bucket, but TEM_S3_BUCKET is not set: delivery fails until it is."
        key = "/".join(part for part in (self.prefix, customer_id, "<YYYY-MM>") if part)
        where = (
            "an S3-compatible endpoint (TEM_S3_ENDPOINT_URL)"
            if self.endpoint
            else f"AWS region {_md(self.region or 'us-east-1 (the default: AWS_REGION is not set)')}"
        )
        return f"objects `s3://{_code(self.bucket)}/{_code(key)}/` on {where}; TEM_DELIVERY s3."

    def _s3(self) -> bool:
        return self.kind == "s3" and bool(self.bucket)

    def encryption(self) -> str:
        if self._s3():
            return "in force: every delivered object is written with server-side encryption (AES256) requested."
        if self.kind == "local":
            return (
                "not applicable: the delivery is the local published/ folder (TEM_DELIVERY local), protected by "
                "the disk it is on."
            )
        return "not in force: no working delivery target (see Recipients)."

    def links(self) -> str:
        if self._s3():
            return (
                f"in force: `tem reports url` prints presigned links to one object each, which expire (default "
                f"{DEFAULT_LINK_SECONDS} seconds, at most {MAX_LINK_SECONDS} seconds, 7 days)."
            )
        if self.kind == "local":
            return (
                "not in force: with the local delivery `tem reports url` prints file:// paths, which are not "
                "signed and do not expire."
            )
        return "not in force: no working delivery target (see Recipients)."


# --------------------------------------------------------------------------------------------- helpers
def _carriers(data_root: DataRoot, customer_id: str) -> list[str]:
    folder = data_root.contracts_dir(customer_id)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.yaml") if ID_PATTERN.fullmatch(p.stem))


def _tables_with(column: str) -> list[str]:
    return [t.name for t in _TABLES if any(c.name == column for c in t.columns)]


def _treatment(column: str) -> str:
    if column in DROPPED_PERSONAL_COLUMNS:
        return "dropped at ingest: never stored in the warehouse; in the clear only in the customer's inbox."
    files = ", ".join(name for name, columns in _PUBLISHED_FILES.items() if column in columns)
    if column in _rejectable_columns():
        files = f"{files}; quarantine.csv for a cell it rejected" if files else "quarantine.csv, for a cell it rejected"
    where = f"the customer's inbox and its own published files ({files})" if files else "the customer's inbox"
    return f"pseudonymized with a keyed HMAC per customer in the warehouse; in the clear only in {where}."


@functools.cache
def _rejectable_columns() -> frozenset[str]:
    """Columns whose rejected cell quarantine.csv repeats as delivered: those parsed as something other than text,
    and those the pandera models check (a value that breaks a check is shown; a missing one is empty)."""
    typed = {c.name for table in _TABLES for c in table.columns if c.kind != "text"}
    checked = {name for model in _MODELS for name, column in model.to_schema().columns.items() if column.checks}
    return frozenset(typed | checked)


def _list(items: list[str], code: bool = False) -> str:
    if not items:
        return "none"
    return ", ".join(f"`{item}`" if code else _md(item) for item in items)


def _code(text: str) -> str:
    """Configuration text inside a Markdown code span: one line, no backtick."""
    return " ".join(str(text).replace("`", "'").split())


def _md(text: str) -> str:
    """Configuration text as one line of Markdown: blanks collapsed, Markdown's special characters escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))
