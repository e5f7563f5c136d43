"""Write small data roots by hand, the way a customer or a carrier would, for tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import polars as pl
import yaml

from schemas.tables import DEVICE_USAGE, INVOICE_CHARGES, ROSTER

ROSTER_HEADER = [column.name for column in ROSTER.columns]
INVOICE_HEADER = [column.name for column in INVOICE_CHARGES.columns]
USAGE_HEADER = [column.name for column in DEVICE_USAGE.columns]

CONTRACT = {
    "carrier": "northwind-mobile",
    "discount_pct": 15,
    "plans": [
        {
            "code": "BIZ-5GB",
            "name": "Business 5 GB",
            "monthly_fee": 40.00,
            "voice_min": None,
            "sms": None,
            "data_mb": 5120,
            "overage_voice_per_min": 0.00,
            "overage_sms_per_msg": 0.00,
            "overage_data_per_mb": 0.015,
        },
        {
            "code": "BIZ-UNL",
            "name": "Business Unlimited",
            "monthly_fee": 65.00,
            "voice_min": None,
            "sms": None,
            "data_mb": None,
            "overage_voice_per_min": 0,
            "overage_sms_per_msg": 0,
            "overage_data_per_mb": 0,
        },
    ],
    "features": [
        {"code": "INTL-PASS", "name": "International travel pass", "category": "roaming", "monthly_fee": 10.00}
    ],
    "roaming": {"voice_per_min": 0.25, "data_per_mb": 0.05},
}


def write_customer(
    root: Path, customer_id: str, region: str = "US", currency: str = "USD", contracts: list[dict] | None = None
) -> None:
    folder = root / "customers" / customer_id
    (folder / "contracts").mkdir(parents=True, exist_ok=True)
    (folder / "customer.yaml").write_text(
        yaml.safe_dump({"name": customer_id.title(), "region": region, "currency": currency})
    )
    for contract in contracts or [CONTRACT]:
        (folder / "contracts" / f"{contract['carrier']}.yaml").write_text(yaml.safe_dump(contract, sort_keys=False))


def write_csv(
    path: Path, header: list[str], rows: list[list[object]], *, bom: bool = False, crlf: bool = False
) -> Path:
    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        return f'"{text}"' if "," in text or '"' in text else text

    newline = "\r\n" if crlf else "\n"
    body = newline.join(",".join(cell(v) for v in row) for row in [header, *rows]) + newline
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + body.encode("utf-8"))
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    workbook.properties.created = workbook.properties.modified = dt.datetime(2026, 1, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


def write_parquet(path: Path, frame: pl.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)
    return path


def drop(root: Path, customer_id: str, month: str) -> Path:
    folder = root / "inbox" / customer_id / month
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def roster_row(msisdn: str, employee_id: str | None = "E1001", **overrides) -> list[object]:
    row = {
        "msisdn": msisdn,
        "carrier": "northwind-mobile",
        "account_number": "ACC-1",
        "plan_code": "BIZ-5GB",
        "features": "",
        "line_status": "active",
        "line_status_date": "2025-01-15",
        "employee_id": employee_id,
        "first_name": "Zelda",
        "last_name": "Quinterro",
        "email": "zelda.quinterro@example.com",
        "department": "Sales",
        "cost_center": "CC-100",
        "job_title": "Rep",
        "manager_employee_id": "E1000",
        "employment_status": "active",
        "termination_date": "",
        "vip": "no",
        "device_make": "Apple",
        "device_model": "iPhone 15",
        "imei": "356938035643809",
    }
    row.update(overrides)
    return [row[c] for c in ROSTER_HEADER]


def charge_row(
    msisdn: str | None, charge_type: str = "plan", amount: str = "34.00", total: str = "34.00", **overrides
) -> list[object]:
    row = {
        "invoice_number": "INV-1",
        "carrier": "northwind-mobile",
        "account_number": "ACC-1",
        "invoice_date": "2026-07-03",
        "period_start": "2026-06-01",
        "period_end": "2026-06-30",
        "msisdn": msisdn,
        "charge_type": charge_type,
        "charge_code": "BIZ-5GB",
        "description": "Monthly plan",
        "quantity": "",
        "unit_rate": "",
        "amount": amount,
        "invoice_total": total,
    }
    row.update(overrides)
    return [row[c] for c in INVOICE_HEADER]


def usage_row(
    day: str, msisdn: str, voice: str = "10", sms: str = "2", data: str = "150.5", **overrides
) -> list[object]:
    row = {
        "date": day,
        "msisdn": msisdn,
        "imei": "356938035643809",
        "voice_minutes": voice,
        "sms_count": sms,
        "data_mb": data,
        "roaming_voice_minutes": "0",
        "roaming_data_mb": "0",
    }
    row.update(overrides)
    return [row[c] for c in USAGE_HEADER]
