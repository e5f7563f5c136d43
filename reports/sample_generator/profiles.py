"""The sample's customers: who they are, their accounts and rate cards, the named lines with scripted lives,
the billing errors planted on them and the file layout of each billing month."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cached_property

from schemas.contract import Contract

from .contracts import ALBION, NORTHWIND, RHEIN_FUNK, SOUTHPOINT, Tariff
from .months import BillingMonth

D = Decimal


@dataclass(frozen=True)
class Account:
    """One carrier billing account: one invoice per billing month."""

    carrier: str
    account_number: str
    bulk_share: float  # share of bulk lines on this account
    invoice_pattern: str  # fields: seq, yyyy, mm, yymm
    invoice_seq_start: int = 1
    invoice_seq_step: int = 1
    account_fee: Decimal = D("15.00")

    def invoice_number(self, month: BillingMonth) -> str:
        return self.invoice_pattern.format(
            seq=self.invoice_seq_start + month.index * self.invoice_seq_step,
            yyyy=month.start.year,
            mm=f"{month.start.month:02d}",
            yymm=f"{month.start.year % 100:02d}{month.start.month:02d}",
        )


@dataclass(frozen=True)
class PhonePlan:
    """How a region's mobile numbers are allocated and written."""

    region: str
    country_code: str
    prefixes: tuple[str, ...]  # US: area codes, exchanges are drawn per seed
    subscriber_digits: int
    formats: tuple[str, ...]


@dataclass(frozen=True)
class Department:
    name: str
    cost_center: str
    job_titles: tuple[str, ...]


@dataclass(frozen=True)
class EmployeeIdStyle:
    prefix: str
    first_number: int
    step: int
    width: int


@dataclass(frozen=True)
class LineRole:
    """A named line with a scripted life; plants and savings scenarios use it."""

    name: str
    account: int
    plan: str
    features: tuple[str, ...] = ()
    usage: str = "typical"  # zero | light | typical | heavy | traveller
    user: bool = True
    vip: bool = False
    on_leave: bool = False
    joined: date | None = None  # added after the first billing month
    cancelled: date | None = None
    suspended: tuple[date, date] | None = None  # (suspended on, active again on)
    terminated: date | None = None  # the employee's termination date


@dataclass(frozen=True)
class Plant:
    """A billing error (or a near miss that must not be one) put on one invoice."""

    month: str
    kind: str
    role: str | None = None
    account: int = 0
    amount: Decimal | None = None


@dataclass(frozen=True)
class FileStyle:
    format: str  # csv | xlsx | parquet
    dates: str = "iso"  # iso | regional (CSV text dates)
    thousands: bool = False  # "1,234.50" in CSV amounts
    bom: bool = False
    crlf: bool = False
    headers: str = "plain"  # plain | upper | mixed
    shuffled: bool = False
    extra_column: bool = False
    numbers: str = "float64"  # parquet: float64 | decimal


def _csv(dates: str = "iso", **options) -> FileStyle:
    return FileStyle("csv", dates=dates, **options)


def _xlsx(**options) -> FileStyle:
    return FileStyle("xlsx", **options)


def _parquet(numbers: str) -> FileStyle:
    return FileStyle("parquet", numbers=numbers)


@dataclass(frozen=True)
class MonthLayout:
    roster: FileStyle
    invoices: tuple[FileStyle, ...]  # one per account, in account order
    usage: tuple[FileStyle, ...]  # usage-part-1, usage-part-2, ...


@dataclass(frozen=True)
class CustomerProfile:
    customer_id: str
    name: str
    region: str
    currency: str
    email_domain: str
    contracts: tuple[Contract, ...]
    accounts: tuple[Account, ...]
    default_lines: int
    phones: PhonePlan
    employee_ids: EmployeeIdStyle
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    departments: tuple[Department, ...]
    tax_label: str
    tax_rate: Decimal
    roles: tuple[LineRole, ...]
    plants: tuple[Plant, ...]
    layouts: tuple[MonthLayout, ...]  # one per billing month

    def contract(self, carrier: str) -> Contract:
        return next(c for c in self.contracts if c.carrier == carrier)

    def tariff(self, carrier: str) -> Tariff:
        return self._tariffs[carrier]

    @cached_property
    def _tariffs(self) -> dict[str, Tariff]:
        return {c.carrier: Tariff(c) for c in self.contracts}

    def role_index(self, name: str) -> int:
        return next(i for i, role in enumerate(self.roles) if role.name == name)

    @property
    def regional_date_format(self) -> str:
        return "%m/%d/%Y" if self.region == "US" else "%d/%m/%Y"


US_PHONES = PhonePlan(
    "US",
    "1",
    ("212", "312", "415", "617", "206", "512", "303", "404", "646", "773", "857", "213"),
    4,
    ("e164", "national", "dotted", "international"),
)
GB_PHONES = PhonePlan(
    "GB",
    "44",
    ("7400", "7412", "7451", "7520", "7533", "7723", "7800", "7842", "7956", "7960", "7388"),
    6,
    ("e164", "national", "international"),
)
DE_PHONES = PhonePlan(
    "DE",
    "49",
    ("151", "152", "157", "160", "162", "170", "171", "172", "175", "176", "177", "178", "179"),
    8,
    ("e164", "national", "international"),
)

USER_DEVICES = (
    ("Apple", "iPhone 15", "35391811"),
    ("Apple", "iPhone 16 Pro", "35675812"),
    ("Samsung", "Galaxy S24", "35045127"),
    ("Samsung", "Galaxy A55", "35226419"),
    ("Google", "Pixel 9", "35881263"),
)
DATA_DEVICES = (
    ("Netgear", "Nighthawk M6", "35978210"),
    ("Sierra Wireless", "AirLink RV55", "35286509"),
    ("Teltonika", "RUT241", "86447305"),
)

GLOBEX = CustomerProfile(
    customer_id="globex",
    name="Globex Corporation",
    region="US",
    currency="USD",
    email_domain="globex.example",
    contracts=(NORTHWIND, SOUTHPOINT),
    accounts=(
        Account("northwind-mobile", "NW-40021877", 0.5, "INV-{seq}", 1001, 2, D("25.00")),
        Account("northwind-mobile", "NW-40021905", 0.2, "INV-{seq}", 1002, 2),
        Account("southpoint-wireless", "SPW-88035521", 0.3, "SPW-{yymm}-0042", account_fee=D("9.95")),
    ),
    default_lines=40,
    phones=US_PHONES,
    employee_ids=EmployeeIdStyle("E", 10234, 7, 5),
    first_names=(
        "James",
        "Mary",
        "Robert",
        "Patricia",
        "John",
        "Jennifer",
        "Michael",
        "Linda",
        "David",
        "Elizabeth",
        "William",
        "Barbara",
        "Richard",
        "Susan",
        "Joseph",
        "Jessica",
        "Thomas",
        "Sarah",
        "Carlos",
        "Karen",
        "Daniel",
        "Lisa",
        "Matthew",
        "Nancy",
        "Anthony",
        "Betty",
        "Mark",
        "Sandra",
        "Priya",
        "Ashley",
        "Kevin",
        "Emily",
        "Brian",
        "Donna",
        "Wei",
        "Michelle",
        "Luis",
        "Amanda",
        "Jamal",
        "Melissa",
    ),
    last_names=(
        "Smith",
        "Johnson",
        "Williams",
        "Brown",
        "Jones",
        "Garcia",
        "Miller",
        "Davis",
        "Rodriguez",
        "Martinez",
        "Hernandez",
        "Lopez",
        "Gonzalez",
        "Wilson",
        "Anderson",
        "Thomas",
        "Taylor",
        "Moore",
        "Jackson",
        "Martin",
        "Lee",
        "Perez",
        "Thompson",
        "White",
        "Harris",
        "Sanchez",
        "Clark",
        "Ramirez",
        "Lewis",
        "Robinson",
        "Walker",
        "Young",
        "Allen",
        "King",
        "Wright",
        "Scott",
        "Nguyen",
        "Hill",
        "Flores",
        "Patel",
    ),
    departments=(
        Department("Sales", "CC-1100", ("Account Executive", "Sales Manager", "Sales Engineer")),
        Department("Engineering", "CC-2100", ("Software Engineer", "Engineering Manager", "QA Analyst")),
        Department("Field Service", "CC-3100", ("Field Technician", "Service Coordinator")),
        Department("Operations", "CC-4100", ("Operations Analyst", "Logistics Coordinator")),
        Department("Finance", "CC-5100", ("Financial Analyst", "Controller")),
        Department("Executive", "CC-9000", ("Vice President", "Chief of Staff")),
    ),
    tax_label="Sales tax and 911 fees",
    tax_rate=D("0.0825"),
    roles=(
        LineRole("lobby-hotspot", 0, "NW-DATA-5GB", ("NW-HOTSPOT",), usage="zero", user=False),
        LineRole("idle-sales-phone", 2, "SP-PRO-15GB", ("SP-WORLD", "SP-CARE"), usage="zero"),
        LineRole("executive-light-user", 0, "NW-BIZ-UNL", ("NW-PROTECT",), usage="light", vip=True),
        LineRole("ops-light-user", 2, "SP-UNL-MAX", usage="light"),
        LineRole("consultant-unused-pass", 0, "NW-BIZ-10GB", ("NW-INTL",)),
        LineRole("leaver-may", 1, "NW-BIZ-2GB", terminated=date(2026, 5, 22)),
        LineRole(
            "leaver-july", 2, "SP-ESS-3GB", ("SP-WORLD",), terminated=date(2026, 7, 10), cancelled=date(2026, 9, 8)
        ),
        LineRole("road-warrior", 0, "NW-BIZ-10GB", ("NW-INTL",), usage="traveller"),
        LineRole("field-heavy-1", 1, "NW-BIZ-2GB", ("NW-HOTSPOT",), usage="heavy"),
        LineRole("field-heavy-2", 0, "NW-BIZ-2GB", usage="heavy"),
        LineRole("sales-heavy", 2, "SP-ESS-3GB", usage="heavy"),
        LineRole("cancelled-june", 0, "NW-BIZ-10GB", ("NW-PROTECT",), cancelled=date(2026, 6, 18)),
        LineRole("cancelled-on-first", 2, "SP-PRO-15GB", cancelled=date(2026, 8, 1)),
        LineRole("suspended-august", 0, "NW-BIZ-10GB", suspended=(date(2026, 8, 2), date(2026, 9, 3))),
        LineRole("joiner-july", 1, "NW-BIZ-10GB", ("NW-HOTSPOT",), joined=date(2026, 7, 14)),
        LineRole("joiner-september", 2, "SP-PRO-15GB", ("SP-CARE",), joined=date(2026, 9, 2)),
        LineRole("on-leave", 0, "NW-BIZ-2GB", usage="light", on_leave=True),
        LineRole("account-manager", 0, "NW-BIZ-10GB", ("NW-PROTECT",)),
        LineRole("field-engineer", 1, "NW-BIZ-2GB"),
        LineRole("sales-rep", 2, "SP-PRO-15GB", ("SP-CARE",)),
    ),
    plants=(
        Plant("2026-06", "duplicate_plan", "account-manager"),
        Plant("2026-06", "overage_rate_increase", "field-heavy-1"),
        Plant("2026-07", "unknown_line", account=0),
        Plant("2026-07", "plan_upgraded_code", "field-engineer"),
        Plant("2026-07", "plan_one_cent_over", "sales-rep"),
        Plant("2026-08", "cancelled_line_billed", "cancelled-june"),
        Plant("2026-08", "roaming_inflated", "road-warrior"),
        Plant("2026-08", "feature_price_increase", "account-manager"),
        Plant("2026-08", "invoice_total_overstated", account=2, amount=D("42.17")),
        Plant("2026-09", "overage_just_outside_tolerance", "field-heavy-1"),
        Plant("2026-09", "overage_just_inside_tolerance", "field-heavy-2"),
        Plant("2026-09", "unordered_feature", "field-engineer"),
        Plant("2026-09", "duplicate_feature", "sales-rep"),
    ),
    layouts=(
        MonthLayout(
            roster=_csv(),
            invoices=(
                _csv("regional", thousands=True, bom=True),
                _xlsx(headers="upper"),
                _csv(crlf=True, shuffled=True, extra_column=True),
            ),
            usage=(_parquet("float64"),),
        ),
        MonthLayout(
            roster=_xlsx(headers="mixed", extra_column=True),
            invoices=(_xlsx(), _csv("regional", thousands=True, bom=True, crlf=True), _csv()),
            usage=(_csv("regional", bom=True, crlf=True),),
        ),
        MonthLayout(
            roster=_csv("regional", bom=True, crlf=True, headers="upper", shuffled=True),
            invoices=(_csv(thousands=True, shuffled=True), _csv("regional"), _xlsx(headers="mixed", extra_column=True)),
            usage=(_csv(), _parquet("decimal")),
        ),
        MonthLayout(
            roster=_xlsx(headers="upper", shuffled=True),
            invoices=(
                _csv("regional", thousands=True, bom=True, crlf=True, headers="mixed"),
                _xlsx(),
                _csv(thousands=True, extra_column=True),
            ),
            usage=(_parquet("decimal"), _csv("regional", headers="upper")),
        ),
    ),
)

INITECH = CustomerProfile(
    customer_id="initech-uk",
    name="Initech UK Ltd",
    region="GB",
    currency="GBP",
    email_domain="initech.example",
    contracts=(ALBION,),
    accounts=(Account("albion-telecom", "ALB-771204", 1.0, "AT{yyyy}{mm}-0417", account_fee=D("12.00")),),
    default_lines=25,
    phones=GB_PHONES,
    employee_ids=EmployeeIdStyle("INI-", 4100, 3, 5),
    first_names=(
        "Oliver",
        "Amelia",
        "George",
        "Isla",
        "Harry",
        "Ava",
        "Jack",
        "Olivia",
        "Charlie",
        "Emily",
        "Thomas",
        "Sophie",
        "Oscar",
        "Grace",
        "William",
        "Lily",
        "James",
        "Freya",
        "Henry",
        "Chloe",
        "Alfie",
        "Ella",
        "Leo",
        "Evie",
        "Arthur",
        "Ruby",
        "Noah",
        "Poppy",
        "Joshua",
        "Mia",
        "Aaliyah",
        "Rhys",
        "Siobhan",
        "Callum",
        "Niamh",
        "Ewan",
    ),
    last_names=(
        "Smith",
        "Jones",
        "Taylor",
        "Brown",
        "Williams",
        "Wilson",
        "Johnson",
        "Davies",
        "Robinson",
        "Wright",
        "Thompson",
        "Evans",
        "Walker",
        "White",
        "Roberts",
        "Green",
        "Hall",
        "Wood",
        "Jackson",
        "Clarke",
        "Khan",
        "Patel",
        "Hughes",
        "Edwards",
        "Turner",
        "Lewis",
        "Morgan",
        "Campbell",
        "O'Brien",
        "MacDonald",
    ),
    departments=(
        Department("Sales", "UK-SAL-100", ("Account Manager", "Sales Director")),
        Department("Consulting", "UK-CON-200", ("Consultant", "Senior Consultant", "Practice Lead")),
        Department("Support", "UK-SUP-300", ("Support Engineer", "Service Desk Analyst")),
        Department("Finance", "UK-FIN-400", ("Management Accountant", "Payroll Officer")),
        Department("Facilities", "UK-FAC-500", ("Facilities Coordinator",)),
    ),
    tax_label="VAT 20%",
    tax_rate=D("0.20"),
    roles=(
        LineRole("meeting-room-router", 0, "AT-IOT-1GB", usage="zero", user=False),
        LineRole("director-light", 0, "AT-UNL", ("AT-CARE",), usage="light", vip=True),
        LineRole("analyst-unused-roaming", 0, "AT-PLUS-20GB", ("AT-EUROAM",)),
        LineRole("leaver-june", 0, "AT-ESS-4GB", terminated=date(2026, 6, 20)),
        LineRole("uk-traveller", 0, "AT-PLUS-20GB", ("AT-EUROAM",), usage="traveller"),
        LineRole("uk-heavy", 0, "AT-ESS-4GB", ("AT-TETHER",), usage="heavy"),
        LineRole("uk-account-lead", 0, "AT-PLUS-20GB", ("AT-CARE",)),
        LineRole("uk-support", 0, "AT-ESS-4GB", ("AT-TETHER",)),
        LineRole("uk-cancelled", 0, "AT-ESS-4GB", cancelled=date(2026, 7, 21)),
        LineRole("uk-joiner", 0, "AT-PLUS-20GB", joined=date(2026, 8, 11)),
        LineRole("uk-suspended", 0, "AT-ESS-4GB", suspended=(date(2026, 7, 1), date(2026, 8, 4))),
    ),
    plants=(
        Plant("2026-06", "plan_list_price", "uk-account-lead"),
        Plant("2026-06", "invoice_total_one_cent_over", account=0),
        Plant("2026-07", "duplicate_feature", "uk-support"),
        Plant("2026-07", "overage_inflated", "uk-heavy"),
        Plant("2026-08", "unordered_feature", "uk-account-lead"),
        Plant("2026-08", "roaming_not_used", "uk-support"),
        Plant("2026-09", "unknown_line", account=0),
        Plant("2026-09", "roaming_rate_increase", "uk-traveller"),
    ),
    layouts=(
        MonthLayout(
            roster=_xlsx(), invoices=(_csv("regional", thousands=True, bom=True, crlf=True),), usage=(_csv("regional"),)
        ),
        MonthLayout(
            roster=_csv("regional", bom=True, headers="mixed", extra_column=True),
            invoices=(_xlsx(),),
            usage=(_parquet("decimal"),),
        ),
        MonthLayout(
            roster=_csv(crlf=True, shuffled=True),
            invoices=(_csv(headers="upper"),),
            usage=(_csv("regional", bom=True, crlf=True), _csv()),
        ),
        MonthLayout(
            roster=_xlsx(headers="mixed"),
            invoices=(_csv("regional", thousands=True, shuffled=True, extra_column=True),),
            usage=(_parquet("float64"),),
        ),
    ),
)

UMBRELLA = CustomerProfile(
    customer_id="umbrella-de",
    name="Umbrella Deutschland GmbH",
    region="DE",
    currency="EUR",
    email_domain="umbrella.example",
    contracts=(RHEIN_FUNK,),
    accounts=(Account("rhein-funk", "RF-DE-55012", 1.0, "RF-{yyyy}-{seq:05d}", 8801),),
    default_lines=20,
    phones=DE_PHONES,
    employee_ids=EmployeeIdStyle("", 200100, 11, 6),
    first_names=(
        "Lukas",
        "Anna",
        "Jonas",
        "Lena",
        "Leon",
        "Marie",
        "Finn",
        "Sophie",
        "Paul",
        "Laura",
        "Felix",
        "Julia",
        "Maximilian",
        "Hannah",
        "Jürgen",
        "Katrin",
        "Stefan",
        "Sabine",
        "Andreas",
        "Petra",
        "Tobias",
        "Jana",
        "Matthias",
        "Birgit",
        "Florian",
        "Claudia",
        "Sebastian",
        "Özlem",
        "Mehmet",
        "Björn",
    ),
    last_names=(
        "Müller",
        "Schmidt",
        "Schneider",
        "Fischer",
        "Weber",
        "Meyer",
        "Wagner",
        "Becker",
        "Schulz",
        "Hoffmann",
        "Schäfer",
        "Koch",
        "Bauer",
        "Richter",
        "Klein",
        "Wolf",
        "Schröder",
        "Neumann",
        "Schwarz",
        "Zimmermann",
        "Braun",
        "Krüger",
        "Hofmann",
        "Hartmann",
        "Lange",
        "Schmitt",
        "Werner",
        "Krause",
        "Meier",
        "Yılmaz",
    ),
    departments=(
        Department("Vertrieb", "KST-4100", ("Vertriebsmitarbeiter", "Key Account Manager")),
        Department("Logistik", "KST-4200", ("Lagerlogistiker", "Disponentin")),
        Department("Forschung", "KST-4300", ("Laborleiter", "Wissenschaftlerin")),
        Department("Verwaltung", "KST-4400", ("Sachbearbeiter", "Buchhalterin")),
        Department("Geschäftsführung", "KST-4900", ("Geschäftsführer", "Assistenz der Geschäftsführung")),
    ),
    tax_label="USt. 19 %",
    tax_rate=D("0.19"),
    roles=(
        LineRole("warehouse-scanner", 0, "RF-BUSINESS-S", usage="zero", user=False),
        LineRole("board-member-light", 0, "RF-BUSINESS-L", usage="light", vip=True),
        LineRole("buyer-unused-eu", 0, "RF-BUSINESS-M", ("RF-EU-PLUS",)),
        LineRole("leaver-august", 0, "RF-BUSINESS-S", ("RF-HOTSPOT",), terminated=date(2026, 8, 14)),
        LineRole("de-traveller", 0, "RF-BUSINESS-M", ("RF-EU-PLUS",), usage="traveller"),
        LineRole("de-heavy", 0, "RF-BUSINESS-S", usage="heavy"),
        LineRole("de-sales", 0, "RF-BUSINESS-M", ("RF-GERAETESCHUTZ",)),
        LineRole("de-service", 0, "RF-BUSINESS-S", ("RF-HOTSPOT",)),
        LineRole("de-cancelled", 0, "RF-BUSINESS-M", ("RF-HOTSPOT",), cancelled=date(2026, 7, 9)),
    ),
    plants=(
        Plant("2026-06", "feature_price_increase", "de-sales"),
        Plant("2026-07", "roaming_inflated", "de-traveller"),
        Plant("2026-07", "duplicate_plan", "de-service"),
        Plant("2026-08", "duplicate_overpriced_plan", "de-sales"),
        Plant("2026-08", "plan_upgraded_code", "de-service"),
        Plant("2026-09", "cancelled_line_billed", "de-cancelled"),
        Plant("2026-09", "invoice_total_overstated", account=0, amount=D("1000.00")),
    ),
    layouts=(
        MonthLayout(
            roster=_csv("regional", crlf=True, headers="upper"),
            invoices=(_xlsx(extra_column=True),),
            usage=(_parquet("decimal"),),
        ),
        MonthLayout(
            roster=_csv(bom=True),
            invoices=(_csv("regional", thousands=True, crlf=True, shuffled=True),),
            usage=(_csv("regional", bom=True, crlf=True),),
        ),
        MonthLayout(roster=_xlsx(), invoices=(_csv(bom=True, headers="mixed"),), usage=(_parquet("float64"),)),
        MonthLayout(
            roster=_csv("regional", shuffled=True, extra_column=True),
            invoices=(_xlsx(headers="upper"),),
            usage=(_csv(), _parquet("decimal")),
        ),
    ),
)

CUSTOMERS = (GLOBEX, INITECH, UMBRELLA)
