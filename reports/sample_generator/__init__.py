"""Deterministic sample data root for the TEM pipeline, with its own ground truth (`tem sample-data`).

`write_sample_data(root)` writes three customers with four billing months each, in every input variant the data
contract allows, plus the expected results: the rows the pipeline must quarantine and the findings and savings it
must publish.

How it is built (one module per job):

* `profiles`, `contracts`: the customers, and their carriers' rate cards as the product's contract models.
* `lines`, `usage`, `charges`: a customer's lines are one polars frame (one row per line and its whole
  lifecycle); usage and clean charges are derived from it, all vectorised, so `lines=200_000` stays fast.
  Randomness is counter based (`randomness`), so a value never depends on row order and a seed gives identical
  bytes. Money in frames is integer minor units (`money`); everything that decides money outside them is Decimal.
* `invoices`: billing errors are *planted* on role lines; then an independent oracle (`expected`: `audit_invoice`,
  `recommend_savings`, plain Python and Decimal following audit-rules.md line by line) evaluates the whole month,
  and the generator (`generator`) refuses to write a month where the oracle's findings differ from the plants.
* `defects`, `rendering`: bad input rows are added only while rendering files, one bad cell each, so they never
  touch the model the oracle sees.
"""

from schemas.outputs import FINDING_TYPES, SAVINGS_TYPES

from .contracts import ALBION, NORTHWIND, RHEIN_FUNK, SOUTHPOINT, Tariff
from .expected import (
    FINDING_COLUMNS,
    QUARANTINE_COLUMNS,
    QUARANTINE_REASONS,
    SAVINGS_COLUMNS,
    Charge,
    Finding,
    Invoice,
    MeasuredUsage,
    RosterEntry,
    Saving,
    audit_invoice,
    recommend_savings,
)
from .generator import DEFAULT_SEED, MAX_LINES, write_sample_data
from .months import BILLING_MONTH_KEYS
from .rendering import INVOICE_KINDS, ROSTER_KINDS, USAGE_KINDS
from .summary import SampleSummary, WrittenFile

__all__ = [
    "ALBION",
    "BILLING_MONTH_KEYS",
    "DEFAULT_SEED",
    "FINDING_COLUMNS",
    "FINDING_TYPES",
    "INVOICE_KINDS",
    "MAX_LINES",
    "NORTHWIND",
    "QUARANTINE_COLUMNS",
    "QUARANTINE_REASONS",
    "RHEIN_FUNK",
    "ROSTER_KINDS",
    "SAVINGS_COLUMNS",
    "SAVINGS_TYPES",
    "SOUTHPOINT",
    "USAGE_KINDS",
    "Charge",
    "Finding",
    "Invoice",
    "MeasuredUsage",
    "RosterEntry",
    "SampleSummary",
    "Saving",
    "Tariff",
    "WrittenFile",
    "audit_invoice",
    "recommend_savings",
    "write_sample_data",
]
