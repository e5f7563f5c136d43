"""A small data root for the privacy tests: one customer, three months, every file format, and a subject who has
two lines, manages someone, leaves in the third month (one of their numbers goes to a new hire) and has
quarantined rows."""

from __future__ import annotations

from pathlib import Path

import polars as pl

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
    write_parquet,
    write_xlsx,
)

CUSTOMER = "acme"
MONTHS = ("2026-06", "2026-07", "2026-08")
SUBJECT = {
    "employee_id": "E2001",
    "first": "Ottoline",
    "last": "Vasquez-Brennan",
    "email": "ottoline.vb@acme.example",
    "lines": ["+14155550101", "+14155550102"],
    "imeis": ["356938035640001", "356938035640002"],
}
# the subject's first number written the way a roster might: national format
SUBJECT_NATIONAL = "(415) 555-0101"
REPORT = {
    "employee_id": "E2002",
    "first": "Bartholomew",
    "last": "Ng",
    "email": "b.ng@acme.example",
    "line": "+14155550103",
    "imei": "356938035640003",
}
OTHER = {
    "employee_id": "E2003",
    "first": "Philippa",
    "last": "Okonkwo",
    "email": "p.okonkwo@acme.example",
    "line": "+14155550104",
    "imei": "356938035640004",
}
NEW_HIRE = {
    "employee_id": "E2004",
    "first": "Cosimo",
    "last": "Tarrant",
    "email": "c.tarrant@acme.example",
    "imei": "356938035640005",
}


def _person_row(person: dict, msisdn: str, imei: str, **overrides) -> list[object]:
    return roster_row(
        msisdn,
        person["employee_id"],
        first_name=person["first"],
        last_name=person["last"],
        email=person["email"],
        imei=imei,
        **overrides,
    )


def _period(month: str) -> dict:
    last = {"06": "30", "07": "31", "08": "31"}[month[5:]]
    return {"period_start": f"{month}-01", "period_end": f"{month}-{last}", "invoice_date": f"{month}-28"}


def write_privacy_root(root: Path) -> Path:
    write_customer(root, CUSTOMER)
    s, r, o, n = SUBJECT, REPORT, OTHER, NEW_HIRE
    for index, month in enumerate(MONTHS):
        folder = drop(root, CUSTOMER, month)
        rows = []
        if month != "2026-08":  # the subject leaves after July
            rows.append(_person_row(s, SUBJECT_NATIONAL if index == 0 else s["lines"][0], s["imeis"][0]))
            # July: the subject's second line has a bad vip cell, so that roster row is quarantined
            rows.append(
                _person_row(
                    s, s["lines"][1], s["imeis"][1], vip="maybe" if month == "2026-07" else "no", features="INTL-PASS"
                )
            )
        else:  # the subject's first number goes to a new hire
            rows.append(_person_row(n, s["lines"][0], n["imei"], manager_employee_id="E1000"))
        rows.append(
            _person_row(
                r, r["line"], r["imei"], manager_employee_id=s["employee_id"] if month != "2026-08" else "E1000"
            )
        )
        rows.append(_person_row(o, o["line"], o["imei"]))
        if month == "2026-07":
            write_xlsx(folder / "roster.xlsx", ROSTER_HEADER, rows)
        else:
            write_csv(folder / "roster.csv", ROSTER_HEADER, rows, crlf=month == "2026-06")

        period = _period(month)
        if month != "2026-08":
            lines, imeis = [s["lines"][0], s["lines"][1], r["line"], o["line"]], [*s["imeis"], r["imei"], o["imei"]]
        else:
            lines, imeis = [s["lines"][0], r["line"], o["line"]], [n["imei"], r["imei"], o["imei"]]
        charges = [charge_row(line, amount="45.00", **period) for line in lines]  # billed above fee(34.00): findings
        if month != "2026-08":
            charges.append(
                charge_row(
                    s["lines"][1], "feature", "10.00", charge_code="INTL-PASS", description="Travel pass", **period
                )
            )
        charges.append(charge_row(None, "tax", "5.00", charge_code="TAX", description="Sales tax", **period))
        total = f"{sum(float(c[INVOICE_HEADER.index('amount')]) for c in charges):.2f}"
        charges = [row[:-1] + [total] for row in charges]
        if month == "2026-07":
            write_xlsx(
                folder / "invoices" / "INV-0701.xlsx",
                INVOICE_HEADER,
                [[c.replace("INV-1", "INV-0701") if isinstance(c, str) else c for c in row] for row in charges],
            )
        else:
            write_csv(
                folder / "invoices" / f"INV-{month[5:]}01.csv",
                INVOICE_HEADER,
                [
                    [c.replace("INV-1", f"INV-{month[5:]}01") if isinstance(c, str) else c for c in row]
                    for row in charges
                ],
            )

        usage = []
        for day in (3, 4, 5):
            date = f"{month}-{day:02d}"
            for line, imei in zip(lines, imeis):
                usage.append(usage_row(date, line, imei=imei))
        if month != "2026-08":
            usage.append(usage_row(f"{month}-06", s["lines"][1], voice="-4", imei=s["imeis"][1]))  # quarantined
        if month == "2026-07":
            write_parquet(
                folder / "usage" / "usage.parquet",
                pl.DataFrame(
                    [dict(zip(USAGE_HEADER, row)) for row in usage], schema={c: pl.String for c in USAGE_HEADER}
                ),
            )
        else:
            write_csv(folder / "usage" / "usage.csv", USAGE_HEADER, usage)
    return root
