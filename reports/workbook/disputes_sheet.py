"""The "Disputes to file" sheet: the findings the way a carrier's dispute form takes them.

One block per carrier, one per account inside it, and for each invoice its date, the last day to file, the amount to
claim and its findings with their evidence. The rows are those of the published disputes-<carrier>.csv files, so
the sheet's totals are theirs, and theirs are findings.csv's. Streamed like the Findings sheet: a customer with
50,000 findings gets as many rows without holding them in memory.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl
from openpyxl.cell import WriteOnlyCell
from openpyxl.utils import get_column_letter

from reports.workbook import styles
from reports.workbook.cells import ROWS_PER_CHUNK, excel_number, excel_text, set_value
from reports.workbook.labels import charge_type_label, month_name
from reports.workbook.printing import print_ready
from reports.workbook.sheets import decimal_total, wrapped_lines
from reports.workbook.styles import LINE_HEIGHT_POINTS

TITLE = "Disputes to file"
HEADERS = (
    "Invoice",
    "Invoice date",
    "Last day to file",
    "MSISDN",
    "Finding",
    "Charge",
    "Billed",
    "To claim",
    "Evidence",
)
WIDTHS = (17.0, 12.0, 12.0, 15.0, 22.0, 14.0, 12.0, 12.0, 52.0)
NUMBER_COLUMNS = (2, 3, 7, 8)  # 1-based positions of dates and amounts (headers flush right)
KEY = ["carrier", "account_number", "invoice_number"]


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


_lines = wrapped_lines


class _Row:
    """Cells of one kind of row, styled once (named styles) and refilled for every row of that kind: a write-only
    sheet writes each row as it is appended (see build_data_sheet). A `band` row writes every one of its cells,
    empty ones too, so its fill runs across the sheet."""

    def __init__(self, ws, style_names: dict[int, str], band: bool = False):
        self.band = band
        self.cells = {}
        for column, name in style_names.items():
            cell = WriteOnlyCell(ws)
            cell.style = name
            self.cells[column] = cell

    def values(self, values: dict[int, object]) -> list:
        line = [None] * len(HEADERS)
        for column, cell in self.cells.items():
            value = values.get(column)
            if isinstance(value, Decimal):
                value = excel_number(value)
            elif isinstance(value, str):
                value = excel_text(value)
            if value is not None or self.band:
                line[column - 1] = set_value(cell, value)
        return line


def build_disputes(wb, report, row_styles: dict[str, str]) -> None:
    rows = report.dispute_rows.sort(KEY, maintain_order=True, nulls_last=True)
    ws = wb.create_sheet(TITLE)
    for index, width in enumerate(WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    ws.freeze_panes = "A2"
    ws.sheet_view.showGridLines = False
    print_ready(ws, report, month_name(report.billing_month), title_rows="1:1")
    ws.row_dimensions[1].height = 2 * LINE_HEIGHT_POINTS
    ws.append(
        [
            (styles.NUMBER_HEADER if i in NUMBER_COLUMNS else styles.HEADER).cell(ws, h)
            for i, h in enumerate(HEADERS, start=1)
        ]
    )
    ws.row_dimensions.pop(1, None)
    window = "the contract's dispute window (90 days unless the carrier's contract sets dispute_window_days)"
    notes = [
        f"One block per carrier and account. File each invoice's findings with the carrier by its last day to file: "
        f"the invoice date plus {window}.",
        "The evidence of each finding is ready to paste into the carrier's dispute form; disputes-<carrier>.csv in "
        "the same folder holds the same rows, to attach to it.",
    ]
    for note in notes:
        ws.append([styles.SUBTITLE.cell(ws, note)])
    ws.append([])
    if not rows.height:
        ws.append([styles.NOTE.cell(ws, "No findings this month: nothing to dispute.")])
        return

    def band(kind: str, special: dict[int, str]) -> _Row:
        return _Row(ws, {c: special.get(c, row_styles[kind]) for c in range(1, len(HEADERS) + 1)}, band=True)

    carrier_row = band("carrier", {8: row_styles["carrier_money"]})
    account_row = band("account", {8: row_styles["account_money"]})
    invoice_row = band(
        "invoice",
        {
            2: row_styles["invoice_date"],
            3: row_styles["deadline"],
            8: row_styles["invoice_money"],
            9: row_styles["invoice_note"],
        },
    )
    money = row_styles["money"]
    finding_row = _Row(
        ws,
        {
            4: row_styles["text"],
            5: row_styles["text"],
            6: row_styles["text"],
            7: money,
            8: money,
            9: row_styles["wide"],
        },
    )

    def totals(by: list[str]) -> dict[tuple, tuple[int, int, Decimal]]:
        grouped = rows.group_by(by).agg(
            pl.len().alias("__n"),
            pl.struct(KEY).n_unique().alias("__invoices"),
            pl.col("disputed_amount").sum().alias("__total"),
        )
        return {tuple(r[: len(by)]): (r[-3], r[-2], Decimal(r[-1] or 0)) for r in grouped.iter_rows()}

    by_carrier, by_account, by_invoice = totals(KEY[:1]), totals(KEY[:2]), totals(KEY)
    heights = ws.row_dimensions
    row_number = 4  # the header, two notes and a blank row are written
    current: list = [object(), object(), object()]
    columns = [
        "carrier",
        "account_number",
        "invoice_number",
        "invoice_date",
        "last_day_to_file",
        "msisdn",
        "finding",
        "charge_type",
        "charge_code",
        "billed_amount",
        "disputed_amount",
        "evidence",
    ]

    def append(line: list, lines: int = 1) -> None:
        nonlocal row_number
        row_number += 1
        if lines > 1:
            heights[row_number].height = lines * LINE_HEIGHT_POINTS
        ws.append(line)
        heights.pop(row_number, None)

    for piece in rows.select(columns).iter_slices(ROWS_PER_CHUNK):
        for (
            carrier,
            account,
            invoice,
            invoice_date,
            deadline,
            msisdn,
            finding,
            charge_type,
            charge_code,
            billed,
            disputed,
            evidence,
        ) in piece.iter_rows():
            if carrier != current[0]:
                current = [carrier, object(), object()]
                n, invoices, total = by_carrier[(carrier,)]
                append([])
                append(
                    carrier_row.values(
                        {1: f"{carrier}: {_plural(invoices, 'invoice')}, {_plural(n, 'finding')}", 8: total}
                    )
                )
            if account != current[1]:
                current = [carrier, account, object()]
                n, invoices, total = by_account[(carrier, account)]
                append(
                    account_row.values(
                        {
                            1: f"Account {account or '(none)'}: {_plural(invoices, 'invoice')}, "
                            f"{_plural(n, 'finding')}",
                            8: total,
                        }
                    )
                )
            if invoice != current[2]:
                current = [carrier, account, invoice]
                n, _, total = by_invoice[(carrier, account, invoice)]
                note = (
                    None
                    if invoice_date is not None
                    else (
                        "No invoice date on this invoice: the last day to file counts from the end of its billing period."
                    )
                )
                append(
                    invoice_row.values(
                        {
                            1: invoice or "(none)",
                            2: invoice_date,
                            3: deadline,
                            5: _plural(n, "finding"),
                            8: total,
                            9: note,
                        }
                    ),
                    _lines(note, WIDTHS[8]),
                )
            charge = charge_code or (charge_type_label(charge_type) if charge_type else None)
            lines = max(
                _lines(evidence, WIDTHS[8]),
                _lines(finding, WIDTHS[4]),
                _lines(charge, WIDTHS[5]),
                _lines(msisdn, WIDTHS[3]),
            )
            append(finding_row.values({4: msisdn, 5: finding, 6: charge, 7: billed, 8: disputed, 9: evidence}), lines)

    append([])
    grand = decimal_total(rows, "disputed_amount")
    total_cells = {
        1: styles.TOTAL.cell(
            ws, f"Total to claim: {_plural(rows.height, 'finding')} on {_plural(len(by_invoice), 'invoice')}"
        )
    }
    line = [total_cells[1]] + [styles.TOTAL.cell(ws, None) for _ in range(6)]
    line.append(styles.TOTAL.merged(styles.money(report.currency, report.region)).cell(ws, excel_number(grand)))
    append(line)
