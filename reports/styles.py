"""Look of the customer workbook: fonts, fills, number formats and the widths of columns."""

from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.styles.borders import DEFAULT_BORDER
from openpyxl.styles.fonts import DEFAULT_FONT
from openpyxl.workbook import Workbook

from reports.cells import text_cell

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
KEY_FIGURE_FILL = PatternFill(fill_type="solid", start_color="DDEBF7", end_color="DDEBF7")
TOP = Alignment(vertical="top")
WRAP = Alignment(vertical="top", wrap_text=True)
HEADER_ALIGNMENT = Alignment(vertical="center", wrap_text=False)
RIGHT_ALIGNMENT = Alignment(horizontal="right", vertical="center")  # headers over numbers
LINE_HEIGHT_POINTS = 15  # one line of the default 11 pt font

COUNT_FORMAT = "#,##0"
TEXT_FORMAT = "@"

MAX_WIDTH = 60  # ordinary columns stop growing here
WIDE_MAX_WIDTH = 100  # evidence and rationale: wrapped text, wider
MIN_WIDTH = 8
PADDING = 2  # characters added to the longest value so filter buttons do not hide text

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}


def currency_format(currency: str) -> str:
    """Excel number format showing an amount in the customer's currency, two decimals."""
    symbol = CURRENCY_SYMBOLS.get(currency)
    if symbol is not None:
        return f'"{symbol}"#,##0.00'
    return f'#,##0.00" {currency}"'


def money_text(amount: Decimal, currency: str) -> str:
    """How currency_format displays an amount: used to size columns, never written to a cell."""
    digits = f"{abs(amount):,.2f}"
    sign = "-" if amount < 0 else ""
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{sign}{symbol}{digits}" if symbol is not None else f"{sign}{digits} {currency}"


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


HEADER = CellStyle(font=HEADER_FONT, fill=HEADER_FILL, alignment=HEADER_ALIGNMENT)
NUMBER_HEADER = CellStyle(font=HEADER_FONT, fill=HEADER_FILL, alignment=RIGHT_ALIGNMENT)
RIGHT = CellStyle(alignment=RIGHT_ALIGNMENT)
TITLE = CellStyle(font=TITLE_FONT)
SUBTITLE = CellStyle(font=SUBTITLE_FONT)
SECTION = CellStyle(font=SECTION_FONT)
LABEL = CellStyle(font=LABEL_FONT)
NOTE = CellStyle(font=NOTE_FONT)
COUNT = CellStyle(number_format=COUNT_FORMAT)
TOTAL = CellStyle(font=BOLD_FONT, border=TOTAL_BORDER)


@cache
def money(currency: str) -> CellStyle:
    return CellStyle(number_format=currency_format(currency))


# Named styles of the Findings and Savings data cells, by column kind (see reports.cells.Column): registered
# once per workbook, a cell takes one in a single step (`cell.style = name`), sharing its font, alignment and
# number format with every other cell of its kind.
DATA_STYLE_NAMES = {"text": "Report text", "wide": "Report wrapped text", "money": "Report amount"}


def add_data_styles(wb: Workbook, currency: str) -> dict[str, str]:
    """Register the data cells' named styles on `wb` (once per workbook); returns column kind -> style name.

    Top-aligned, since rows grow with their wrapped evidence or rationale; amounts in `currency`.
    """
    looks = {
        "text": dict(alignment=TOP),
        "wide": dict(alignment=WRAP),
        "money": dict(alignment=TOP, number_format=currency_format(currency)),
    }
    for kind, name in DATA_STYLE_NAMES.items():
        wb.add_named_style(NamedStyle(name=name, font=DEFAULT_FONT, border=DEFAULT_BORDER, **looks[kind]))  # as Normal
    return dict(DATA_STYLE_NAMES)
