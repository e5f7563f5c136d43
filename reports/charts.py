"""Charts of the customer workbook, drawn from cells the sheets already hold."""

from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.chart.label import DataLabelList

BAR_WIDTH_CM = 16
BAR_HEIGHT_CM = 7.5
LINE_WIDTH_CM = 20
LINE_HEIGHT_CM = 9
SERIES_COLOURS = ("1F4E78", "C00000", "70AD47")  # invoiced, disputed, monthly savings


def _show_axes(chart) -> None:
    # openpyxl 3.1 marks axes deleted unless told otherwise: Excel would draw the chart without labels
    chart.x_axis.delete = False
    chart.y_axis.delete = False


def amounts_by_category_chart(ws, title: str, label_column: int, value_column: int, header_row: int,
                              last_row: int, number_format: str) -> BarChart:  # fmt: skip
    """Horizontal bars, one per table row (labels in `label_column`), first row on top."""
    chart = BarChart()
    chart.type = "bar"
    chart.style = 10
    chart.title = title
    chart.width = BAR_WIDTH_CM
    chart.height = BAR_HEIGHT_CM
    chart.legend = None
    values = Reference(ws, min_col=value_column, min_row=header_row, max_row=last_row)
    labels = Reference(ws, min_col=label_column, min_row=header_row + 1, max_row=last_row)
    chart.add_data(values, titles_from_data=True)
    chart.set_categories(labels)
    chart.x_axis.scaling.orientation = "maxMin"  # categories top-down in table order
    chart.y_axis.number_format = number_format
    chart.y_axis.majorGridlines = None
    # the amount beside each bar, nothing else (LibreOffice shows every unset part)
    chart.dataLabels = DataLabelList(showVal=True, showSerName=False, showCatName=False, showLegendKey=False,
                                     showPercent=False, showLeaderLines=False)  # fmt: skip
    chart.gapWidth = 60
    _show_axes(chart)
    return chart


def trend_chart(ws, title: str, header_row: int, last_row: int, number_format: str) -> LineChart:
    """Invoiced (column B) on the left axis; disputed and monthly savings (C, D) on a right axis of their own,
    since they are a few percent of the invoiced amount and would lie flat on the invoiced scale."""
    months = Reference(ws, min_col=1, min_row=header_row + 1, max_row=last_row)
    invoiced = LineChart()
    invoiced.title = title
    invoiced.width = LINE_WIDTH_CM
    invoiced.height = LINE_HEIGHT_CM
    invoiced.add_data(Reference(ws, min_col=2, min_row=header_row, max_row=last_row), titles_from_data=True)
    invoiced.set_categories(months)
    invoiced.y_axis.title = "Invoiced"
    invoiced.y_axis.number_format = number_format
    invoiced.legend.position = "b"

    recovered = LineChart()
    recovered.add_data(Reference(ws, min_col=3, max_col=4, min_row=header_row, max_row=last_row), titles_from_data=True)
    recovered.set_categories(months)
    recovered.y_axis.axId = 200  # a second value axis
    recovered.y_axis.title = "Disputed and savings"
    recovered.y_axis.number_format = number_format
    recovered.y_axis.crosses = "max"  # drawn on the right
    recovered.y_axis.majorGridlines = None

    for series, colour in zip(invoiced.series + recovered.series, SERIES_COLOURS):
        series.marker.symbol = "circle"
        series.marker.graphicalProperties.solidFill = colour
        series.marker.graphicalProperties.line.solidFill = colour
        series.graphicalProperties.line.solidFill = colour
        series.graphicalProperties.line.width = 28575  # 2.25 pt in EMU
        series.smooth = False
    _show_axes(invoiced)
    _show_axes(recovered)
    invoiced += recovered
    return invoiced
