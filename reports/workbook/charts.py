"""Charts of the customer workbook, drawn from cells the sheets already hold.

A chart never draws a bar or a line of zeros: the sheets hand it only the rows and series that have an amount.
Every chart has one value axis, so no line seems to cross another it is not comparable with.
"""

import math

from openpyxl.chart import BarChart, LineChart, Reference, Series
from openpyxl.chart.label import DataLabelList

BAR_WIDTH_CM = 15  # the Summary's right half, F:I
BAR_BASE_HEIGHT_CM = 2.6  # title and axis
BAR_HEIGHT_PER_CATEGORY_CM = 1.0
ROW_HEIGHT_CM = 0.53  # one row of the default 15 pt height
LINE_WIDTH_CM = 18
LINE_HEIGHT_CM = 8.5
SERIES_COLOURS = {2: "1F4E78", 3: "C00000", 4: "70AD47"}  # by Trend column: invoiced, disputed, monthly savings


def _show_axes(chart) -> None:
    # openpyxl 3.1 marks axes deleted unless told otherwise: Excel would draw the chart without labels
    chart.x_axis.delete = False
    chart.y_axis.delete = False


def bar_height_cm(categories: int) -> float:
    return BAR_BASE_HEIGHT_CM + BAR_HEIGHT_PER_CATEGORY_CM * max(categories, 1)


def rows_spanned(categories: int) -> int:
    """Sheet rows a bar chart of `categories` bars covers, to place the next chart below it."""
    return math.ceil(bar_height_cm(categories) / ROW_HEIGHT_CM)


def amounts_by_category_chart(
    ws, title: str, label_column: int, value_column: int, header_row: int, last_row: int, number_format: str
) -> BarChart:
    """Horizontal bars, one per table row (labels in `label_column`), first row on top."""
    chart = BarChart()
    chart.type = "bar"
    chart.style = 10
    chart.title = title
    chart.width = BAR_WIDTH_CM
    chart.height = bar_height_cm(last_row - header_row)
    chart.legend = None
    values = Reference(ws, min_col=value_column, min_row=header_row, max_row=last_row)
    labels = Reference(ws, min_col=label_column, min_row=header_row + 1, max_row=last_row)
    chart.add_data(values, titles_from_data=True)
    chart.set_categories(labels)
    chart.x_axis.scaling.orientation = "maxMin"  # categories top-down in table order
    chart.y_axis.number_format = number_format
    chart.y_axis.majorGridlines = None
    chart.y_axis.scaling.min = 0
    # the amount beside each bar, nothing else (LibreOffice shows every unset part)
    chart.dataLabels = DataLabelList(
        showVal=True,
        showSerName=False,
        showCatName=False,
        showLegendKey=False,
        showPercent=False,
        showLeaderLines=False,
    )
    chart.gapWidth = 60
    _show_axes(chart)
    return chart


def trend_chart(
    ws, title: str, value_columns: list[int], header_row: int, last_row: int, number_format: str
) -> LineChart:
    """Lines of the Trend columns `value_columns` (months in column A) on one value axis starting at zero."""
    months = Reference(ws, min_col=1, min_row=header_row + 1, max_row=last_row)
    chart = LineChart()
    chart.title = title
    chart.width = LINE_WIDTH_CM
    chart.height = LINE_HEIGHT_CM
    for column in value_columns:
        # the header cell names the series
        series = Series(Reference(ws, min_col=column, min_row=header_row, max_row=last_row), title_from_data=True)
        colour = SERIES_COLOURS.get(column, "404040")
        series.marker.symbol = "circle"
        series.marker.graphicalProperties.solidFill = colour
        series.marker.graphicalProperties.line.solidFill = colour
        series.graphicalProperties.line.solidFill = colour
        series.graphicalProperties.line.width = 28575  # 2.25 pt in EMU
        series.smooth = False
        chart.series.append(series)
    chart.set_categories(months)
    chart.x_axis.number_format = "mmm yyyy"
    chart.y_axis.number_format = number_format
    chart.y_axis.scaling.min = 0
    chart.legend.position = "b"
    _show_axes(chart)
    return chart
