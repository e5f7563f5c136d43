"""What a run of the generator wrote: the files, their kinds and row counts, and the ground truth's size."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .months import BILLING_MONTH_KEYS


@dataclass(frozen=True)
class WrittenFile:
    """One file of the sample, its path relative to the data root."""

    path: str  # relative to the data root, or absolute for ground truth kept outside it
    kind: str  # customer | contract | roster | invoice | usage | expected
    rows: int  # data rows under the header, bad rows included; 0 for YAML
    variants: tuple[str, ...] = ()


@dataclass(frozen=True)
class SampleSummary:
    root: Path
    seed: int
    customers: tuple[str, ...]
    months: tuple[str, ...]
    files: tuple[WrittenFile, ...]
    roster_rows: int
    invoice_rows: int
    usage_rows: int
    quarantined_rows: int
    findings: int
    savings: int

    def files_of(self, kind: str) -> tuple[WrittenFile, ...]:
        return tuple(f for f in self.files if f.kind == kind)

    def describe(self) -> str:
        variants = sorted({v for f in self.files for v in f.variants})
        return "\n".join(
            [
                f"Sample data for {len(self.customers)} customers x {len(self.months)} billing months "
                f"({self.months[0]} to {self.months[-1]}), seed {self.seed}.",
                f"{len(self.files)} files: {len(self.files_of('roster'))} rosters ({self.roster_rows:,} rows), "
                f"{len(self.files_of('invoice'))} invoices ({self.invoice_rows:,} charges), "
                f"{len(self.files_of('usage'))} usage files ({self.usage_rows:,} rows).",
                f"Ground truth: {self.quarantined_rows} rows to quarantine, "
                f"{self.findings} billing findings, {self.savings} savings.",
                f"Variants: {', '.join(variants)}.",
            ]
        )


class SummaryBuilder:
    """Collects what is written, as it is written."""

    def __init__(self, root: Path, seed: int):
        self.root = root
        self.seed = seed
        self.files: list[WrittenFile] = []
        self.customers: list[str] = []
        self.counts: Counter = Counter()

    def add(self, path: Path, kind: str, rows: int = 0, variants: tuple[str, ...] = ()) -> None:
        written = path.relative_to(self.root) if path.is_relative_to(self.root) else path
        self.files.append(WrittenFile(written.as_posix(), kind, rows, variants))
        self.counts[f"{kind}_rows"] += rows

    def build(self) -> SampleSummary:
        return SampleSummary(
            root=self.root,
            seed=self.seed,
            customers=tuple(self.customers),
            months=BILLING_MONTH_KEYS,
            files=tuple(self.files),
            roster_rows=self.counts["roster_rows"],
            invoice_rows=self.counts["invoice_rows"],
            usage_rows=self.counts["usage_rows"],
            quarantined_rows=self.counts["quarantine"],
            findings=self.counts["findings"],
            savings=self.counts["savings"],
        )
