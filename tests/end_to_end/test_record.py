"""The record of processing (GDPR Art. 30(2)): `reports.privacy.record`, built from configuration only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from reports.privacy import processing_log
from reports.privacy.record import RecordError, in_eu_eea, load_provider, record_markdown, registered_customers
from schemas.tables import PERSONAL_COLUMNS
from tests.support.builders import (
    INVOICE_HEADER,
    ROSTER_HEADER,
    USAGE_HEADER,
    charge_row,
    drop,
    roster_row,
    usage_row,
    write_csv,
    write_customer,
)

PROVIDER = {
    "name": "Telemetrix Audit GmbH",
    "contact": "privacy@telemetrix.example, +49 30 0000000",
    "subprocessors": [
        {"name": "Hetzner Online", "purpose": "hosting of the data root", "location": "EU (Falkenstein)"},
        {"name": "Mailjet", "purpose": "notification e-mail", "location": "France (Paris)"},
        {
            "name": "Snowcap Backups Inc.",
            "purpose": "encrypted off-site backups",
            "location": "US (Oregon)",
            "transfer_safeguard": "standard contractual clauses (Art. 46(2)(c))",
        },
    ],
}

# identifiers delivered in the inbox: none of them may appear in the record
PEOPLE = [
    {
        "msisdn": "+14155550181",
        "employee_id": "E7781",
        "first": "Wilhelmina",
        "last": "Farquharson",
        "email": "w.farquharson@initech.example",
        "imei": "356938035649181",
        "manager": "E7700",
    },
    {
        "msisdn": "+14155550182",
        "employee_id": "E7782",
        "first": "Anselm",
        "last": "Oyelaran",
        "email": "a.oyelaran@initech.example",
        "imei": "356938035649182",
        "manager": "E7781",
    },
]
NO_ENV: dict[str, str] = {}


def _inbox(root: Path, customer: str, month: str) -> None:
    folder = drop(root, customer, month)
    rows = [
        roster_row(
            p["msisdn"],
            p["employee_id"],
            first_name=p["first"],
            last_name=p["last"],
            email=p["email"],
            imei=p["imei"],
            manager_employee_id=p["manager"],
        )
        for p in PEOPLE
    ]
    write_csv(folder / "roster.csv", ROSTER_HEADER, rows)
    write_csv(
        folder / "invoices" / "inv-1.csv", INVOICE_HEADER, [charge_row(p["msisdn"], total="68.00") for p in PEOPLE]
    )
    write_csv(
        folder / "usage" / "usage.csv",
        USAGE_HEADER,
        [usage_row(f"{month}-03", p["msisdn"], imei=p["imei"]) for p in PEOPLE],
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Two customers (initech with 6 months of retention and two months held, globex with the default and none)
    and a provider.yaml with one sub-processor outside the EU/EEA."""
    write_customer(tmp_path, "initech")
    write_customer(tmp_path, "globex", region="DE", currency="EUR")
    (tmp_path / "customers" / "initech" / "customer.yaml").write_text(
        "name: Initech Holdings\nregion: US\ncurrency: USD\nretention_months: 6\n"
    )
    for month in ("2026-08", "2026-09"):
        _inbox(tmp_path, "initech", month)
    (tmp_path / "provider.yaml").write_text(yaml.safe_dump(PROVIDER, sort_keys=False))
    return tmp_path


def _sections(markdown: str) -> list[str]:
    return re.findall(r"^## (.+)$", markdown, flags=re.MULTILINE)


def _section(markdown: str, customer: str) -> str:
    start = markdown.index(f"(customer `{customer}`)")
    following = markdown.find("\n## ", start)
    return markdown[start:] if following < 0 else markdown[start:following]


def _subsection(section: str, title: str) -> str:
    start = section.index(f"### {title}\n")
    following = section.find("\n### ", start + 1)
    return section[start:] if following < 0 else section[start:following]


# ------------------------------------------------------------------------------------------------ the record
def test_one_section_per_customer_in_id_order_with_everything_the_record_holds(root: Path) -> None:
    markdown = record_markdown(root, ["initech", "globex"], environ=NO_ENV)

    assert _sections(markdown) == ["Globex (customer `globex`)", "Initech Holdings (customer `initech`)"]
    assert "Kept by Telemetrix Audit GmbH, the processor," in markdown
    for customer, name in (("globex", "Globex"), ("initech", "Initech Holdings")):
        section = _section(markdown, customer)
        for title in (
            "Controller",
            "Processor",
            "Categories of data subjects",
            "Categories of personal data",
            "Purposes",
            "Recipients",
            "Transfers to third countries",
            "Retention",
            "Technical and organisational measures",
        ):
            assert f"### {title}\n" in section, (customer, title)
        assert f"- Name: {name}\n" in _subsection(section, "Controller")
        assert "- Carriers with a contract: `northwind-mobile`" in section
        personal = _subsection(section, "Categories of personal data")
        for column in PERSONAL_COLUMNS:
            assert f"- `{column}` (" in personal, column
        assert "`first_name` (roster): dropped at ingest" in personal
        assert (
            "`msisdn` (roster, invoice_charges, device_usage): pseudonymized with a keyed HMAC per customer" in personal
        )
        assert "employees and other users of the controller's mobile lines" in section.lower()
        processor = _subsection(section, "Processor")
        assert "Telemetrix Audit GmbH" in processor and "privacy@telemetrix.example" in processor
        recipients = _subsection(section, "Recipients")
        assert "Hetzner Online: hosting of the data root; location EU (Falkenstein)" in recipients
        assert "Mailjet: notification e-mail; location France (Paris)" in recipients
        assert "Snowcap Backups Inc.: encrypted off-site backups; location US (Oregon)" in recipients
        assert f"`published/{customer}/<YYYY-MM>/`" in recipients
        transfers = _subsection(section, "Transfers to third countries")
        assert transfers.count("\n- ") == 1  # only the sub-processor outside the EU/EEA
        assert (
            "- To US (Oregon): Snowcap Backups Inc. (encrypted off-site backups); "
            "safeguard: standard contractual clauses (Art. 46(2)(c))"
        ) in transfers
        assert "daily_retention_purge" in section and f"tem privacy purge --customer {customer}" in section

    initech = _subsection(_section(markdown, "initech"), "Retention")
    assert "- Retention: 6 billing months (customers/initech/customer.yaml)" in initech
    assert "- Billing months held now: 2 (2026-08, 2026-09)" in initech
    globex = _subsection(_section(markdown, "globex"), "Retention")
    assert "- Retention: 24 billing months (the default" in globex
    assert "- Billing months held now: 0\n" in globex
    assert "Region: DE" in _section(markdown, "globex") and "Currency: EUR" in _section(markdown, "globex")


def test_customer_filter_gives_only_that_controller(root: Path) -> None:
    markdown = record_markdown(root, ["initech"], environ=NO_ENV)
    assert _sections(markdown) == ["Initech Holdings (customer `initech`)"]
    assert "globex" not in markdown.lower()
    assert record_markdown(root, ["initech", "initech"], environ=NO_ENV) == markdown


def test_registered_customers_are_those_with_a_customer_yaml(root: Path) -> None:
    drop(root, "umbrella", "2026-09")  # an inbox without customer settings is no controller we can describe
    assert registered_customers(root) == ["globex", "initech"]
    assert registered_customers(root / "nowhere") == []


def test_without_provider_yaml_the_processor_is_not_configured(root: Path) -> None:
    (root / "provider.yaml").unlink()
    assert load_provider(root) is None
    markdown = record_markdown(root, ["globex"], environ=NO_ENV)
    section = _section(markdown, "globex")
    assert "not configured: add provider.yaml" in _subsection(section, "Processor")
    assert "Sub-processors: not configured: add provider.yaml" in _subsection(section, "Recipients")
    assert "None recorded: provider.yaml is not configured" in _subsection(section, "Transfers to third countries")


def test_provider_without_subprocessors_has_no_transfer(root: Path) -> None:
    (root / "provider.yaml").write_text("name: Telemetrix Audit GmbH\ncontact: dpo@telemetrix.example\n")
    section = _section(record_markdown(root, ["globex"], environ=NO_ENV), "globex")
    assert "Sub-processors: none (provider.yaml lists none)" in section
    assert "- None: no sub-processor is located outside the EU/EEA." in section


def test_the_same_configuration_gives_the_same_bytes_and_no_date(root: Path) -> None:
    first = record_markdown(root, ["globex", "initech"], environ=NO_ENV)
    second = record_markdown(root, ["initech", "globex"], environ=NO_ENV)
    assert first == second
    held = {"2026-08", "2026-09"}  # the only dates it shows: the months held, by name
    assert set(re.findall(r"\d{4}-\d{2}(?:-\d{2})?", first)) == held
    assert "2026-10" not in first  # the pinned today (tests/conftest.py) is not printed


def test_no_identifier_from_the_inbox_appears(root: Path) -> None:
    markdown = record_markdown(root, ["globex", "initech"], environ=NO_ENV)
    for person in PEOPLE:
        for value in person.values():
            assert value not in markdown, value
    assert "14155550" not in markdown and "@initech.example" not in markdown
    assert "Zelda" not in markdown and "Quinterro" not in markdown  # builders' defaults


# ------------------------------------------------------------------------------------------------ refusals
def test_a_provider_yaml_without_name_is_one_line_naming_file_and_field(root: Path) -> None:
    (root / "provider.yaml").write_text("contact: privacy@telemetrix.example\nsubprocessors: []\n")
    with pytest.raises(RecordError) as refused:
        load_provider(root)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("provider.yaml: ") and "field 'name'" in message
    with pytest.raises(RecordError, match=r"^provider\.yaml: field 'name'"):
        record_markdown(root, ["globex"], environ=NO_ENV)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "name: P\ncontact: c\nsubprocessors:\n  - name: S\n    purpose: backups\n    location: US (Oregon)\n",
            r"^provider\.yaml: field 'subprocessors\.0\.transfer_safeguard': location 'US \(Oregon\)' is outside the EU/EEA",
        ),
        (
            "name: P\ncontact: c\nsubprocessors:\n  - name: S\n    location: EU\n",
            r"^provider\.yaml: field 'subprocessors\.0\.purpose': Field required",
        ),
        ("name: P\ncontact: '  '\n", r"^provider\.yaml: field 'contact': must not be empty"),
        ("name: P\ncontact: c\nsubprocesors: []\n", r"^provider\.yaml: field 'subprocesors': Extra inputs"),
        (
            "base: &b {name: S, purpose: x, location: EU}\nname: P\ncontact: c\nsubprocessors: [*b]\n",
            r"^provider\.yaml: YAML anchors on lists or mappings \(&b\) are not accepted",
        ),
        ("- just a list\n", r"^provider\.yaml: expected a mapping of fields at the top level$"),
        ("name: [unclosed\n", r"^provider\.yaml: not valid YAML at line"),
    ],
)
def test_a_broken_provider_yaml_is_refused_in_one_line(root: Path, content: str, expected: str) -> None:
    (root / "provider.yaml").write_text(content)
    with pytest.raises(RecordError, match=expected) as refused:
        load_provider(root)
    assert "\n" not in str(refused.value)


def test_a_safeguard_may_be_given_for_any_location_and_numbers_are_text(root: Path) -> None:
    (root / "provider.yaml").write_text(
        "name: 4711\ncontact: c\nsubprocessors:\n"
        "  - {name: A, purpose: p, location: 'Ireland (Dublin)', transfer_safeguard: not needed}\n"
        "  - {name: B, purpose: p, location: 'United Kingdom (London)', transfer_safeguard: adequacy decision (Art. 45)}\n"
    )
    provider = load_provider(root)
    assert provider is not None and provider.name == "4711"
    assert [s.outside_eu_eea for s in provider.subprocessors] == [False, True]


@pytest.mark.parametrize("customer", ["umbrella", "Globex", "../globex", "x"])
def test_an_unknown_or_invalid_customer_is_refused(root: Path, customer: str) -> None:
    with pytest.raises(RecordError) as refused:
        record_markdown(root, ["globex", customer], environ=NO_ENV)
    assert isinstance(refused.value, ValueError)
    assert "\n" not in str(refused.value) and repr(customer) in str(refused.value)


def test_a_linked_customer_folder_is_refused(root: Path) -> None:
    (root / "inbox").mkdir(exist_ok=True)
    (root / "inbox" / "globex").symlink_to(root / "inbox" / "initech")  # would show initech's months as globex's
    with pytest.raises(RecordError, match=r"^inbox/globex: is a symbolic link; links are refused$"):
        record_markdown(root, ["globex"], environ=NO_ENV)


def test_a_broken_customer_yaml_is_refused_naming_it(root: Path) -> None:
    (root / "customers" / "globex" / "customer.yaml").write_text(
        "name: Globex\nregion: US\ncurrency: USD\nretention_months: 0\n"
    )
    with pytest.raises(RecordError, match=r"^customers/globex/customer\.yaml: field 'retention_months'"):
        record_markdown(root, ["globex"], environ=NO_ENV)


def test_no_customer_at_all(tmp_path: Path) -> None:
    markdown = record_markdown(tmp_path, [], environ=NO_ENV)
    assert _sections(markdown) == [] and "No customer is registered" in markdown
    assert markdown.endswith(".\n") and not markdown.endswith("\n\n")


# ------------------------------------------------------------------------------------------------ the measures
def _measure(markdown: str, customer: str, title: str) -> str:
    measures = _subsection(_section(markdown, customer), "Technical and organisational measures")
    return next(line for line in measures.splitlines() if line.startswith(f"- **{title}**: "))


def test_measures_with_the_local_delivery_and_a_development_key(root: Path) -> None:
    secrets = root / ".secrets"
    (secrets / "keys").mkdir(parents=True)
    (secrets / "master.key").write_text("0" * 64)
    (secrets / "keys" / "initech.json").write_text("{}")  # only its existence is read
    (root / "warehouse" / "globex").mkdir(parents=True)  # written before per-customer keys
    markdown = record_markdown(root, ["globex", "initech"], environ=NO_ENV)

    assert "0" * 64 not in markdown
    assert _measure(markdown, "initech", "Pseudonymization keyed per customer").endswith(
        "are dropped at ingest."
    ) and "in force." in _measure(markdown, "initech", "Pseudonymization keyed per customer")
    keys = _measure(markdown, "initech", "Wrapped keys")
    assert "in force: per-customer data key, stored wrapped (AES key wrap) under the master key" in keys
    assert "development key in use (.secrets/master.key" in keys
    assert "keys derived from the master key (legacy; migrate" in _measure(markdown, "globex", "Wrapped keys")
    assert _measure(markdown, "initech", "Encryption requested for delivered objects").startswith(
        "- **Encryption requested for delivered objects**: not applicable"
    )
    assert "not in force" in _measure(markdown, "initech", "Signed expiring links")
    assert "no records yet" in _measure(markdown, "initech", "Processing log")


def test_measures_with_s3_delivery_and_a_production_key(root: Path) -> None:
    environ = {
        "TEM_DELIVERY": "s3",
        "TEM_S3_BUCKET": "tem-reports",
        "TEM_S3_PREFIX": "prod/",
        "AWS_REGION": "eu-central-1",
        "TEM_MASTER_KEY": "ab" * 32,
    }
    markdown = record_markdown(root, ["initech"], environ=environ)

    assert "ab" * 32 not in markdown
    assert "`s3://tem-reports/prod/initech/<YYYY-MM>/` on AWS region eu-central-1" in markdown
    assert "server-side encryption (AES256) requested" in _measure(
        markdown, "initech", "Encryption requested for delivered objects"
    )
    assert "in force: `tem reports url` prints presigned links" in _measure(
        markdown, "initech", "Signed expiring links"
    )
    keys = _measure(markdown, "initech", "Wrapped keys")
    assert "no data key yet" in keys and "production key from TEM_MASTER_KEY" in keys


def test_measures_read_the_process_environment_by_default(root: Path, monkeypatch) -> None:
    monkeypatch.setenv("TEM_DELIVERY", "s3")
    monkeypatch.delenv("TEM_S3_BUCKET", raising=False)
    monkeypatch.setenv("TEM_MASTER_KEY", " ")
    markdown = record_markdown(root, ["globex"])
    assert "TEM_S3_BUCKET is not set" in markdown
    assert "not in force: no working delivery target" in _measure(markdown, "globex", "Signed expiring links")
    assert "TEM_MASTER_KEY is set but empty" in markdown


def test_the_processing_log_is_counted_per_customer(root: Path, monkeypatch) -> None:
    monkeypatch.setenv("TEM_OPERATOR", "alice")
    processing_log.append(root, "run", customer="initech", months=["2026-08"], outcome="done")
    processing_log.append(root, "export", customer="initech", request="DSR-2026-0042", outcome="done")
    processing_log.append(root, "run", customer="globex", outcome="nothing_to_do")
    markdown = record_markdown(root, ["globex", "initech"], environ=NO_ENV)
    assert "`.privacy/processing-log.jsonl` in the data root, 2 records for this customer" in markdown
    assert "1 record for this customer" in markdown
    assert "alice" not in markdown and "DSR-2026-0042" not in markdown

    with processing_log.log_path(root).open("ab") as log:
        log.write(b"not a record\n")
    with pytest.raises(RecordError, match=r"^processing log: line 4 of .* is not a record"):
        record_markdown(root, ["globex"], environ=NO_ENV)


def test_configuration_text_cannot_inject_markdown(root: Path) -> None:
    (root / "customers" / "globex" / "customer.yaml").write_text(
        'name: "Globex\\n## Fake section <script>"\nregion: DE\ncurrency: EUR\n'
    )
    markdown = record_markdown(root, ["globex"], environ=NO_ENV)
    assert _sections(markdown) == ["Globex \\#\\# Fake section \\<script\\> (customer `globex`)"]


# ------------------------------------------------------------------------------------------------ the rule
@pytest.mark.parametrize(
    "location",
    [
        "EU (Frankfurt)",
        "eu",
        "EEA",
        "Ireland (Dublin)",
        "DE, Frankfurt",
        "Norway",
        "the Netherlands (Amsterdam)",
        "  Czech   Republic (Prague)",
    ],
)
def test_inside_the_eu_eea(location: str) -> None:
    assert in_eu_eea(location)


@pytest.mark.parametrize(
    "location",
    [
        "US (Virginia)",
        "United Kingdom (London)",
        "Switzerland",
        "eu-central-1",
        "Frankfurt, Germany",
        "Europe",
        "GB",
        "",
    ],
)
def test_outside_the_eu_eea_or_not_recognised(location: str) -> None:
    assert not in_eu_eea(location)
