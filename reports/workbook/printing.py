"""How every sheet of the customer workbook prints: landscape on the customer's paper, one page wide, header rows
repeated, and a header and footer naming the customer, the month and the page."""

from __future__ import annotations

from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.properties import PageSetupProperties

from reports.workbook import styles

PAPER_LETTER, PAPER_A4 = 1, 9  # ECMA-376 paper sizes
HEADER_FOOTER_NAME_CHARACTERS = 80  # Excel allows 255 characters in each of a header's and a footer's parts together
MARGINS = PageMargins(left=0.4, right=0.4, top=0.75, bottom=0.6, header=0.3, footer=0.3)  # inches


def _escaped(text: str) -> str:
    """Text for a header or footer: "&" starts a code there (&P: page number), so a literal one is doubled."""
    text = text if len(text) <= HEADER_FOOTER_NAME_CHARACTERS else text[: HEADER_FOOTER_NAME_CHARACTERS - 1] + "…"
    return text.replace("&", "&&")


def print_ready(ws, report, month_title: str, title_rows: str | None = None, print_area: str | None = None) -> None:
    """Landscape on Letter (US and its neighbours) or A4, fitted to one page wide and as many tall as needed;
    `title_rows` ("1:1") printed again on every page; header: customer, report and month left, sheet name right;
    footer: customer id, month and currency left, "Page n of m" right."""
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = PAPER_LETTER if report.region in styles.LETTER_REGIONS else PAPER_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages tall as the rows need
    ws.page_margins = MARGINS
    if title_rows:
        ws.print_title_rows = title_rows
    if print_area:
        ws.print_area = print_area
    header, footer = ws.HeaderFooter.oddHeader, ws.HeaderFooter.oddFooter
    header.left.text = f"&B{_escaped(report.customer_name)}&B · telecom expense report {month_title}"
    header.right.text = "&A"  # the sheet's name
    footer.left.text = f"{_escaped(report.customer_id)} · {report.billing_month} · amounts in {report.currency}"
    footer.right.text = "Page &P of &N"
    for part in (header.left, header.right, footer.left, footer.right):
        part.size = 9
        part.color = "404040"
