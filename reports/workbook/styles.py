"""Look of the customer workbook: fonts, fills, number formats and the widths of columns."""

from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.styles.borders import DEFAULT_BORDER
from openpyxl.styles.fonts import DEFAULT_FONT
from openpyxl.workbook import Workbook

from reports.workbook.cells import text_cell

BRAND = "1F4E78"  # dark blue of headers and titles
FONT = "Calibri"  # openpyxl's default; a font without a name falls back to a serif in LibreOffice
HEADER_FONT = Font(name=FONT, size=11, bold=True, color="FFFFFF")
HEADER_FILL = PatternFill(fill_type="solid", start_color=BRAND, end_color=BRAND)
TITLE_FONT = Font(name=FONT, size=16, bold=True, color=BRAND)
SUBTITLE_FONT = Font(name=FONT, size=11, italic=True, color="595959")
SECTION_FONT = Font(name=FONT, size=12, bold=True, color=BRAND)
LABEL_FONT = Font(name=FONT, size=11, color="404040")
BOLD_FONT = Font(name=FONT, size=11, bold=True)
NOTE_FONT = Font(name=FONT, size=11, italic=True, color="C00000")
TOTAL_BORDER = Border(top=Side(style="thin", color=BRAND))
HEADER_BORDER = Border(left=Side(style="thin", color="FFFFFF"), right=Side(style="thin", color="FFFFFF"))
BLOCK_FILL = PatternFill(fill_type="solid", start_color="DDEBF7", end_color="DDEBF7")  # a carrier's heading row
INVOICE_FILL = PatternFill(fill_type="solid", start_color="F2F2F2", end_color="F2F2F2")  # an invoice's row
KEY_FIGURE_FILL = PatternFill(fill_type="solid", start_color="DDEBF7", end_color="DDEBF7")
TOP = Alignment(vertical="top")
WRAP = Alignment(vertical="top", wrap_text=True)
WRAP_INDENTED = Alignment(vertical="top", wrap_text=True, indent=1)  # running text beside a right-aligned amount
# headers wrap within their column and keep one character clear of the next column's header
HEADER_ALIGNMENT = Alignment(horizontal="left", vertical="center", wrap_text=True, indent=1)
RIGHT_ALIGNMENT = Alignment(horizontal="right", vertical="center", wrap_text=True, indent=1)  # headers over numbers
LINE_HEIGHT_POINTS = 15  # one line of the default 11 pt font

COUNT_FORMAT = "#,##0"
TEXT_FORMAT = "@"
PERCENT_FORMAT = "0%"
MONTH_FORMAT = "mmm yyyy"  # month names in the reader's language
LETTER_REGIONS = frozenset({"US", "CA", "MX", "PH", "CL", "CO", "VE"})  # regions printing on US Letter, not A4

MAX_WIDTH = 60  # ordinary columns stop growing here
WIDE_MAX_WIDTH = 100  # evidence and rationale: wrapped text, wider
MIN_WIDTH = 8
PADDING = 2  # characters added to the longest value so filter buttons do not hide text

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
# where the euro sign goes before the amount (€1,234.56); elsewhere after it, as in 1.234,56 €
EURO_SYMBOL_FIRST = frozenset({"IE", "MT", "CY", "NL"})


def _symbol_first(currency: str, region: str | None) -> bool:
    return currency != "EUR" or region in EURO_SYMBOL_FIRST or region is None


def currency_format(currency: str, region: str | None = None) -> str:
    """Excel number format showing an amount in the customer's currency, two decimals; the symbol where the
    customer's region writes it (the separators follow the reader's locale, as Excel and LibreOffice show them)."""
    symbol = CURRENCY_SYMBOLS.get(currency)
    if symbol is None:
        return f'#,##0.00" {currency}"'
    if _symbol_first(currency, region):
        return f'"{symbol}"#,##0.00'
    return f'#,##0.00" {symbol}"'


def axis_format(currency: str, region: str | None = None) -> str:
    """currency_format without the cents, for the value axis of a chart."""
    return currency_format(currency, region).replace("#,##0.00", "#,##0")


def money_text(amount: Decimal, currency: str, region: str | None = None) -> str:
    """How currency_format displays an amount: used to size columns, never written to a cell."""
    digits = f"{abs(amount):,.2f}"
    sign = "-" if amount < 0 else ""
    symbol = CURRENCY_SYMBOLS.get(currency)
    if symbol is None:
        return f"{sign}{digits} {currency}"
    return f"{sign}{symbol}{digits}" if _symbol_first(currency, region) else f"{sign}{digits} {symbol}"


def date_format(region: str) -> str:
    """Dates as the customer's region writes them: MM/DD/YYYY in the US, DD/MM/YYYY elsewhere."""
    return "mm/dd/yyyy" if region == "US" else "dd/mm/yyyy"


def date_text(day, region: str) -> str:
    """How date_format displays a date (for sentences and widths; cells hold real dates)."""
    return day.strftime("%m/%d/%Y" if region == "US" else "%d/%m/%Y")


def column_width(longest: int, wide: bool = False) -> float:
    """Width for a column whose longest shown value has `longest` characters (a width unit is one digit;
    capitals such as finding types are wider, hence the tenth added)."""
    cap = WIDE_MAX_WIDTH if wide else MAX_WIDTH
    return float(min(max(round(longest * 1.1) + PADDING, MIN_WIDTH), cap))


@dataclass(frozen=True)
class CellStyle:
    """The parts of a cell's look this report uses; None leaves openpyxl's default."""

    font: Font | None = None
    fill: PatternFill | None = None
    number_format: str | None = None
    alignment: Alignment | None = None
    border: Border | None = None

    def cell(self, ws, value) -> WriteOnlyCell:
        cell = text_cell(ws, value)
        if self.font is not None:
            cell.font = self.font
        if self.fill is not None:
            cell.fill = self.fill
        if self.number_format is not None:
            cell.number_format = self.number_format
        if self.alignment is not None:
            cell.alignment = self.alignment
        if self.border is not None:
            cell.border = self.border
        return cell

    def merged(self, other: "CellStyle") -> "CellStyle":
        """This style with the parts `other` sets replacing its own."""

        def pick(mine, theirs):
            return mine if theirs is None else theirs

        return CellStyle(
            font=pick(self.font, other.font),
            fill=pick(self.fill, other.fill),
            number_format=pick(self.number_format, other.number_format),
            alignment=pick(self.alignment, other.alignment),
            border=pick(self.border, other.border),
        )


HEADER = CellStyle(font=HEADER_FONT, fill=HEADER_FILL, alignment=HEADER_ALIGNMENT, border=HEADER_BORDER)
NUMBER_HEADER = CellStyle(font=HEADER_FONT, fill=HEADER_FILL, alignment=RIGHT_ALIGNMENT, border=HEADER_BORDER)
RIGHT = CellStyle(alignment=RIGHT_ALIGNMENT)
WRAPPED = CellStyle(alignment=WRAP)
TOP_ALIGNED = CellStyle(alignment=TOP)
BOLD = CellStyle(font=BOLD_FONT)
PERCENT = CellStyle(number_format=PERCENT_FORMAT)
MONTH = CellStyle(number_format=MONTH_FORMAT, alignment=Alignment(horizontal="left"))
BLOCK = CellStyle(font=SECTION_FONT, fill=BLOCK_FILL, alignment=TOP)
ACCOUNT = CellStyle(font=BOLD_FONT, fill=BLOCK_FILL, alignment=TOP)
INVOICE = CellStyle(font=BOLD_FONT, fill=INVOICE_FILL, alignment=TOP)
TITLE = CellStyle(font=TITLE_FONT)
SUBTITLE = CellStyle(font=SUBTITLE_FONT)
SECTION = CellStyle(font=SECTION_FONT)
LABEL = CellStyle(font=LABEL_FONT)
NOTE = CellStyle(font=NOTE_FONT)
COUNT = CellStyle(number_format=COUNT_FORMAT)
TOTAL = CellStyle(font=BOLD_FONT, border=TOTAL_BORDER)


@cache
def money(currency: str, region: str | None = None) -> CellStyle:
    return CellStyle(number_format=currency_format(currency, region))


@cache
def date(region: str) -> CellStyle:
    return CellStyle(number_format=date_format(region))


# Named styles of the Findings and Savings data cells, by column kind (see reports.workbook.cells.Column): registered
# once per workbook, a cell takes one in a single step (`cell.style = name`), sharing its font, alignment and
# number format with every other cell of its kind.
DATA_STYLE_NAMES = {
    "text": "Report text",
    "wide": "Report wrapped text",
    "money": "Report amount",
    "count": "Report count",
    "date": "Report date",
    # the Disputes to file sheet's heading rows: carrier, account, invoice
    "carrier": "Report carrier",
    "carrier_money": "Report carrier amount",
    "account": "Report account",
    "account_money": "Report account amount",
    "invoice": "Report invoice",
    "invoice_date": "Report invoice date",
    "deadline": "Report last day to file",
    "invoice_money": "Report invoice amount",
    "invoice_note": "Report invoice note",
}
DEADLINE_FONT = Font(name=FONT, size=11, bold=True, color="C00000")


def add_data_styles(wb: Workbook, currency: str, region: str | None = None) -> dict[str, str]:
    """Register the data cells' named styles on `wb` (once per workbook); returns column kind -> style name.

    Top-aligned, since rows grow with their wrapped evidence or rationale; text wraps within its column; amounts
    in `currency`.
    """
    amount = currency_format(currency, region)
    day = date_format(region or "")
    looks = {
        "text": dict(alignment=WRAP),
        "wide": dict(alignment=WRAP_INDENTED),
        "money": dict(alignment=TOP, number_format=amount),
        "count": dict(alignment=Alignment(horizontal="center", vertical="top"), number_format=COUNT_FORMAT),
        "date": dict(alignment=TOP, number_format=day),
        "carrier": dict(font=SECTION_FONT, fill=BLOCK_FILL, alignment=TOP),
        "carrier_money": dict(font=SECTION_FONT, fill=BLOCK_FILL, alignment=TOP, number_format=amount),
        "account": dict(font=BOLD_FONT, fill=BLOCK_FILL, alignment=TOP),
        "account_money": dict(font=BOLD_FONT, fill=BLOCK_FILL, alignment=TOP, number_format=amount),
        "invoice": dict(font=BOLD_FONT, fill=INVOICE_FILL, alignment=TOP),
        "invoice_date": dict(font=BOLD_FONT, fill=INVOICE_FILL, alignment=TOP, number_format=day),
        "deadline": dict(font=DEADLINE_FONT, fill=INVOICE_FILL, alignment=TOP, number_format=day),
        "invoice_money": dict(font=BOLD_FONT, fill=INVOICE_FILL, alignment=TOP, number_format=amount),
        "invoice_note": dict(font=NOTE_FONT, fill=INVOICE_FILL, alignment=WRAP),
    }
    for kind, name in DATA_STYLE_NAMES.items():
        look = {"font": DEFAULT_FONT, **looks[kind]}
        wb.add_named_style(NamedStyle(name=name, border=DEFAULT_BORDER, **look))  # as Normal, but for these parts
    return dict(DATA_STYLE_NAMES)
