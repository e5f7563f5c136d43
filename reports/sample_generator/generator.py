"""`write_sample_data`: each customer's lines, then month by month its usage, charges, planted billing errors and
the oracle's check of them, and the files of its inbox and expected results."""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import polars as pl

from .charges import clean_charges, tariff_frames
from .defects import INVOICE_DEFECTS, ROSTER_DEFECTS, USAGE_DEFECTS, choose_defects, place_bad_rows, quarantine_rows
from .expected import (
    Finding,
    Invoice,
    MeasuredUsageBook,
    audit_invoice,
    recommend_savings,
    roster_entries,
    write_expected,
)
from .invoices import InvoiceBook, PlantContext, apply_plant, finish_invoices
from .lines import NumberAllocator, imei_payload, imei_with_check_digit, line_inventory, lines_of_month
from .months import MONTHS, BillingMonth
from .profiles import CUSTOMERS, USER_DEVICES, CustomerProfile, FileStyle
from .randomness import Randomness
from .rendering import (
    INVOICE_KINDS,
    ROSTER_KINDS,
    USAGE_KINDS,
    VIP_WORDS,
    FileWriter,
    contract_yaml,
    customer_yaml,
    variant_labels,
)
from .summary import SampleSummary, SummaryBuilder
from .usage import USAGE_TOTAL_COLUMNS, generate_usage

DEFAULT_SEED = 20261
BENCHMARK_CUSTOMER = "globex"
# openpyxl writes some 40k cells a second; bigger tables are written as CSV instead.
XLSX_MAX_ROWS = 5_000
USAGE_FILE_MAX_ROWS = 1_000_000
MIN_BULK_LINES = 5
# US numbers are unique up to 600k allocations (60 exchanges x 10^4), IMEIs up to 10^6 per TAC.
MAX_LINES = 500_000


def write_sample_data(
    root: Path, *, seed: int = DEFAULT_SEED, lines: int | None = None, expected_dir: Path | None = None
) -> SampleSummary:
    """Write the sample customers, inbox and expected results under `root`.

    `lines` sets the number of lines of the benchmark customer (globex); the other
    customers keep their default size. The ground truth goes to `expected_dir`
    (default root/expected) as <customer>/<YYYY-MM>/{quarantine,findings,savings}.csv;
    keep it outside root where nothing but inbox/, customers/ and published/ may hold
    identifiers. The generated customers' folders under customers/, inbox/ and the
    expected folder are replaced; nothing else is touched.
    """
    root = Path(root)
    expected_dir = root / "expected" if expected_dir is None else Path(expected_dir)
    summary = SummaryBuilder(root, seed)
    for profile in CUSTOMERS:
        line_count = profile.default_lines
        if lines is not None and profile.customer_id == BENCHMARK_CUSTOMER:
            line_count = lines
        minimum = len(profile.roles) + MIN_BULK_LINES
        if line_count < minimum:
            raise ValueError(
                f"lines={line_count} is too small for customer {profile.customer_id}: "
                f"its planted scenarios need at least {minimum} lines"
            )
        if line_count > MAX_LINES:
            raise ValueError(f"lines={line_count} is too large: at most {MAX_LINES:,} lines get unique numbers")
        for folder in (root / "customers", root / "inbox", expected_dir):
            shutil.rmtree(folder / profile.customer_id, ignore_errors=True)
        _CustomerGenerator(profile, line_count, seed, root, expected_dir, summary).run()
    return summary.build()


@dataclass
class _CustomerGenerator:
    profile: CustomerProfile
    line_count: int
    seed: int
    root: Path
    expected_dir: Path
    summary: SummaryBuilder
    usage_history: list[MeasuredUsageBook] = field(default_factory=list)  # the last 3 months

    def run(self) -> None:
        profile = self.profile
        self.summary.customers.append(profile.customer_id)
        self.rand = Randomness(self.seed, profile.customer_id)
        self.numbers = NumberAllocator(profile.phones, self.rand)
        self.imei_offset = self.rand.python("imei").randrange(1_000_000)
        self.lines = line_inventory(profile, self.line_count, self.rand, self.numbers, self.imei_offset)
        self.next_allocation = self.lines.height  # fresh numbers for strangers and bad rows
        self.plans, self.features, self.roaming = tariff_frames(profile)
        self.writer = FileWriter(profile, self.rand)
        self._write_customer_files()
        for month in MONTHS:
            self._write_month(month)

    # ---- helpers

    @property
    def customer_dir(self) -> Path:
        return self.root / "customers" / self.profile.customer_id

    def inbox(self, month: BillingMonth) -> Path:
        return self.root / "inbox" / self.profile.customer_id / month.key

    def expected(self, month: BillingMonth) -> Path:
        return self.expected_dir / self.profile.customer_id / month.key

    def fresh_number(self) -> str:
        allocation = self.next_allocation
        self.next_allocation += 1
        return pl.select(self.numbers.e164(pl.lit(allocation, pl.Int64))).item()

    def fresh_imei(self) -> str:
        allocation = self.next_allocation
        self.next_allocation += 1
        payload = imei_payload(pl.lit(USER_DEVICES[0][2]), pl.lit(allocation, pl.Int64), self.imei_offset)
        return pl.select(imei_with_check_digit(payload)).item()

    def _write_customer_files(self) -> None:
        profile = self.profile
        path = self.customer_dir / "customer.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(customer_yaml(profile), encoding="utf-8")
        self.summary.add(path, "customer")
        for contract in profile.contracts:
            path = self.customer_dir / "contracts" / f"{contract.carrier}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(contract_yaml(contract), encoding="utf-8")
            self.summary.add(path, "contract")

    # ---- one billing month

    def _write_month(self, month: BillingMonth) -> None:
        profile = self.profile
        month_lines = lines_of_month(self.lines, month)
        usage = generate_usage(month_lines, self.plans, month, self.rand)
        totals = usage.group_by("line_id").agg(pl.col(c).sum() for c in USAGE_TOTAL_COLUMNS).sort("line_id")
        measured = MeasuredUsageBook(totals.join(month_lines.select("line_id", "msisdn"), on="line_id"))
        self.usage_history = [*self.usage_history[-2:], measured]

        book = InvoiceBook(clean_charges(month_lines, totals, self.plans, self.features, self.roaming))
        role_lines = {row["line_id"]: row for row in month_lines.filter(pl.col("role").is_not_null()).to_dicts()}
        ctx = PlantContext(profile, month, book, role_lines, measured, self.fresh_number)
        planted = Counter()
        for plant in profile.plants:
            if plant.month == month.key:
                planted.update(apply_plant(plant, ctx))

        invoices = finish_invoices(profile, month, book)
        roster = roster_entries(month_lines)
        findings = []
        for account_index, (invoice, _) in invoices.items():
            contract = profile.contract(invoice.carrier)
            findings += audit_invoice(
                invoice,
                contract,
                roster,
                measured,
                customer_id=profile.customer_id,
                billing_month=month.key,
                currency=profile.currency,
            )
        self._check_planted(month, invoices, planted, findings)

        history = self.usage_history if month.index >= 2 else None  # M-2, M-1, M all in the inbox
        savings = recommend_savings(
            roster,
            {c.carrier: c for c in profile.contracts},
            history,
            month.start,
            customer_id=profile.customer_id,
            billing_month=month.key,
            currency=profile.currency,
        )

        quarantine = []
        quarantine += self._write_roster(month, month_lines)
        quarantine += self._write_invoices(month, invoices)
        quarantine += self._write_usage(month, usage, month_lines)
        for name, path, rows in write_expected(self.expected(month), quarantine, findings, savings):
            self.summary.add(path, "expected", rows)
            self.summary.counts[name] += rows

    def _check_planted(self, month, invoices, planted: Counter, findings: list[Finding]) -> None:
        numbers = {account: invoice.invoice_number for account, (invoice, _) in invoices.items()}
        wanted = Counter({(numbers[account], msisdn, kind): n for (account, msisdn, kind), n in planted.items()})
        found = Counter((f.invoice_number, f.msisdn, f.finding_type) for f in findings)
        if wanted != found:
            raise RuntimeError(
                f"{self.profile.customer_id} {month.key}: the rules do not find exactly the planted billing "
                f"errors; missing {sorted((wanted - found).elements())}, "
                f"unexpected {sorted((found - wanted).elements())}"
            )

    # ---- files

    def _effective(self, style: FileStyle, rows: int) -> tuple[FileStyle, tuple[str, ...]]:
        if style.format == "xlsx" and rows > XLSX_MAX_ROWS:
            return replace(style, format="csv"), ("xlsx-too-large-as-csv",)
        return style, ()

    def _write_roster(self, month: BillingMonth, month_lines: pl.DataFrame) -> list:
        profile, layout = self.profile, self.profile.layouts[month.index]
        style, fallback = self._effective(layout.roster, month_lines.height)
        true_word, false_word = VIP_WORDS[(CUSTOMERS.index(profile) + month.index) % len(VIP_WORDS)]
        table = self.writer.with_phones(month_lines, "msisdn", f"roster/{month.key}").select(
            "msisdn",
            carrier="carrier",
            account_number="account_number",
            plan_code="plan_code",
            features=pl.col("features").list.join(";"),
            line_status="line_status",
            line_status_date="line_status_date",
            employee_id="employee_id",
            first_name="first_name",
            last_name="last_name",
            email="email",
            department="department",
            cost_center="cost_center",
            job_title="job_title",
            manager_employee_id="manager_employee_id",
            employment_status="employment_status",
            termination_date="shown_termination_date",
            vip=pl.when("vip").then(pl.lit(true_word)).otherwise(pl.lit(false_word)),
            device_make="device_make",
            device_model="device_model",
            imei="imei",
        )
        path = self.inbox(month) / f"roster.{style.format}"
        defects = [d for _, d in choose_defects(profile, month, ROSTER_DEFECTS, [(path.name, style)], ROSTER_KINDS)]
        # Each bad roster row is an extra line nobody bills or uses: a fresh number and IMEI.
        cells = [
            (defect, table.row(0, named=True) | {"msisdn": self.fresh_number(), "imei": self.fresh_imei()})
            for defect in defects
        ]
        bad_rows = place_bad_rows(self.rand, month, cells, table.height, "roster")
        self.writer.write(path, table, ROSTER_KINDS, style, bad_rows, month)
        self.summary.add(
            path, "roster", table.height + len(bad_rows), variant_labels(style, profile, "roster") + fallback
        )
        return quarantine_rows(path, bad_rows, self.inbox(month))

    def _write_invoices(self, month: BillingMonth, invoices: dict[int, tuple[Invoice, pl.DataFrame]]) -> list:
        profile, layout = self.profile, self.profile.layouts[month.index]
        quarantine = []
        files = []
        for account_index, (invoice, rows) in invoices.items():
            style, fallback = self._effective(layout.invoices[account_index], rows.height)
            path = self.inbox(month) / "invoices" / f"{invoice.carrier}-{invoice.invoice_number}.{style.format}"
            files.append((account_index, invoice, rows, style, fallback, path))
        defects = choose_defects(profile, month, INVOICE_DEFECTS, [(f[5].name, f[3]) for f in files], INVOICE_KINDS)
        for account_index, invoice, rows, style, fallback, path in files:
            account = profile.accounts[account_index]
            invoice_date = month.end + timedelta(days=3 + 2 * account_index)
            table = self.writer.with_phones(rows, "msisdn", f"invoice/{invoice.invoice_number}").select(
                invoice_number=pl.lit(invoice.invoice_number),
                carrier=pl.lit(invoice.carrier),
                account_number=pl.lit(account.account_number),
                invoice_date=pl.lit(invoice_date),
                period_start=pl.lit(month.start),
                period_end=pl.lit(month.end),
                msisdn="msisdn",
                charge_type="charge_type",
                charge_code="charge_code",
                description="description",
                quantity="quantity_milli",
                unit_rate="unit_rate",
                amount="amount_cents",
                invoice_total="invoice_total",
            )
            # A bad invoice row is an extra SIM replacement charge; the stated total leaves it out.
            template = {
                **table.row(0, named=True),
                "msisdn": None,
                "charge_type": "one_time",
                "charge_code": "SIM-SWAP",
                "description": "Replacement SIM card",
                "quantity": None,
                "unit_rate": None,
                "amount": 500,
            }
            mine = [d for name, d in defects if name == path.name]
            bad_rows = place_bad_rows(
                self.rand, month, [(d, template) for d in mine], table.height, f"invoice/{invoice.invoice_number}"
            )
            self.writer.write(path, table, INVOICE_KINDS, style, bad_rows, month)
            self.summary.add(
                path, "invoice", table.height + len(bad_rows), variant_labels(style, profile, "invoice") + fallback
            )
            quarantine += quarantine_rows(path, bad_rows, self.inbox(month))
        return quarantine

    def _write_usage(self, month: BillingMonth, usage: pl.DataFrame, month_lines: pl.DataFrame) -> list:
        profile, layout = self.profile, self.profile.layouts[month.index]
        table = usage.join(month_lines.select("line_id", "imei"), on="line_id", maintain_order="left")
        # Split the month by row count into the layout's parts, and big parts into files of bounded size.
        files = []
        per_part = -(-table.height // len(layout.usage))
        for part, style in enumerate(layout.usage):
            part_rows = table.slice(part * per_part, per_part)
            chunks = max(1, -(-part_rows.height // USAGE_FILE_MAX_ROWS))
            chunk_rows = -(-part_rows.height // chunks) if part_rows.height else 0
            for chunk in range(chunks):
                files.append((style, part_rows.slice(chunk * chunk_rows, chunk_rows) if chunk_rows else part_rows))
        paths = [
            self.inbox(month) / "usage" / f"usage-part-{n}.{'csv' if s.format == 'csv' else 'parquet'}"
            for n, (s, _) in enumerate(files, start=1)
        ]
        defects = choose_defects(
            profile, month, USAGE_DEFECTS, [(p.name, s) for p, (s, _) in zip(paths, files)], USAGE_KINDS
        )
        template = self._usage_template(month, table, month_lines)
        quarantine = []
        for path, (style, rows) in zip(paths, files):
            stream = f"usage/{path.name}"
            # Formatted once per line and file: usage files are far too big to format row by row.
            numbers = self.writer.with_phones(
                month_lines.select("line_id", "msisdn"), "msisdn", f"{stream}/{month.key}", key=pl.col("line_id")
            )
            written = rows.join(numbers, on="line_id", maintain_order="left").select(
                date="date",
                msisdn="msisdn",
                imei="imei",
                voice_minutes="voice_milli",
                sms_count="sms_count",
                data_mb="data_milli",
                roaming_voice_minutes="roaming_voice_milli",
                roaming_data_mb="roaming_data_milli",
            )
            mine = [d for name, d in defects if name == path.name]
            bad_rows = place_bad_rows(self.rand, month, [(d, template) for d in mine], written.height, stream)
            self.writer.write(path, written, USAGE_KINDS, style, bad_rows, month)
            self.summary.add(path, "usage", written.height + len(bad_rows), variant_labels(style, profile, "usage"))
            quarantine += quarantine_rows(path, bad_rows, self.inbox(month))
        return quarantine

    def _usage_template(self, month: BillingMonth, table: pl.DataFrame, month_lines: pl.DataFrame) -> dict:
        """A valid usage row for a light user on a day without activity, so it never doubles a day."""
        light = month_lines.filter(pl.col("has_usage") & (pl.col("usage_profile") == "light"))
        for candidate in light.select("line_id", "msisdn", "imei").iter_rows(named=True):
            busy = set(table.filter(pl.col("line_id") == candidate["line_id"])["day"].to_list())
            free = [d for d in range(1, month.days + 1) if d not in busy]
            if free:
                return {
                    "date": month.start + timedelta(days=free[0] - 1),
                    "msisdn": candidate["msisdn"],
                    "imei": candidate["imei"],
                    "voice_minutes": 4500,
                    "sms_count": 2,
                    "data_mb": 35250,
                    "roaming_voice_minutes": 0,
                    "roaming_data_mb": 0,
                }
        raise RuntimeError(
            f"{self.profile.customer_id} {month.key}: no light user with an idle day to carry the bad usage rows"
        )
