"""Every reader variant: CSV (BOM, CRLF, LF, blank lines), XLSX (date and number cells), Parquet (typed columns),
and files that cannot be read at all."""

import datetime as dt

import polars as pl
import pytest

from reports.inputs.readers import InputFileError, read_text_frame
from tests.support.builders import USAGE_HEADER, write_csv, write_parquet, write_xlsx

REQUIRED = ["date", "msisdn"]


@pytest.mark.parametrize("bom", [False, True])
@pytest.mark.parametrize("crlf", [False, True])
def test_csv_encodings_and_line_ends(tmp_path, bom, crlf):
    path = write_csv(
        tmp_path / "u.csv",
        [" Date ", "MSISDN", "Data_MB"],
        [["2026-06-01", "+14155550123", "1,234.5"]],
        bom=bom,
        crlf=crlf,
    )
    frame = read_text_frame(path, "usage/u.csv", REQUIRED)
    assert frame.columns == ["source_row", "date", "msisdn", "data_mb"]
    assert frame.row(0) == (2, "2026-06-01", "+14155550123", "1,234.5")


def test_csv_row_numbers_count_the_header_and_skip_blank_lines(tmp_path):
    path = tmp_path / "u.csv"
    path.write_text("date,msisdn\n2026-06-01,a\n\n2026-06-02,b\n")
    frame = read_text_frame(path, "u.csv", REQUIRED)
    assert frame.select("source_row", "msisdn").rows() == [(2, "a"), (4, "b")]


def test_xlsx_date_and_number_cells_become_text(tmp_path):
    path = write_xlsx(
        tmp_path / "i.xlsx",
        ["Date", "msisdn", "amount"],
        [[dt.date(2026, 6, 1), "+14155550123", 1234.5], [dt.datetime(2026, 6, 2), 4155550124, 40]],
    )
    frame = read_text_frame(path, "i.xlsx", REQUIRED)
    assert frame["date"].to_list() == ["2026-06-01 00:00:00", "2026-06-02 00:00:00"]
    assert frame["amount"].to_list() == ["1234.5", "40"]
    assert frame["msisdn"].to_list() == ["+14155550123", "4155550124"]
    assert frame["source_row"].to_list() == [2, 3]


def test_parquet_typed_columns_become_text(tmp_path):
    typed = pl.DataFrame(
        {"date": [dt.date(2026, 6, 1)], "msisdn": ["+14155550123"], "data_mb": [12.25], "sms_count": [3]}
    )
    frame = read_text_frame(write_parquet(tmp_path / "u.parquet", typed), "u.parquet", REQUIRED)
    assert frame.row(0) == (2, "2026-06-01", "+14155550123", "12.25", "3")


def test_missing_required_column_names_file_and_column(tmp_path):
    path = write_csv(tmp_path / "u.csv", ["date", "phone"], [["2026-06-01", "x"]])
    with pytest.raises(InputFileError, match=r"usage/u.csv: missing required column\(s\): msisdn"):
        read_text_frame(path, "usage/u.csv", REQUIRED)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("u.csv", b"PK\x03\x04rest-of-a-zip", "not a CSV text file"),
        ("u.xlsx", b"date,msisdn\n", "not an Excel .xlsx workbook"),
        ("u.parquet", b"date,msisdn\n", "not a Parquet file"),
        ("u.csv", "date,msisdn\n2026-06-01,caf\xe9\n".encode("latin-1"), "not UTF-8 text"),
        ("u.csv", b"date,msisdn\n1,2,3\n", "not a well-formed CSV file"),
        ("u.json", b"{}", "unsupported file type"),
        ("u.xlsx", b"PK\x03\x04broken", "could not be opened"),
    ],
)
def test_unreadable_files_fail_with_a_message_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputFileError) as raised:
        read_text_frame(path, f"usage/{name}", REQUIRED)
    assert str(raised.value).startswith(f"usage/{name}: ")
    assert message in str(raised.value)
    assert "caf" not in str(raised.value)  # never a cell value in the message


def test_duplicate_headers_are_refused(tmp_path):
    path = write_csv(tmp_path / "u.csv", ["date", "MSISDN", "msisdn "], [["2026-06-01", "a", "b"]])
    with pytest.raises(InputFileError, match="more than once: msisdn"):
        read_text_frame(path, "u.csv", REQUIRED)


def test_unknown_columns_are_kept_out_of_the_tables(tmp_path):
    from reports.inputs.intake import SourceFile, ingest_table
    from reports.inputs.parsing import ParseContext
    from reports.inputs.pseudonymize import Pseudonymizer
    from schemas.tables import DEVICE_USAGE

    header = ["Extra", *reversed(USAGE_HEADER)]
    row = ["ignored", "0", "0", "1.5", "2", "3", "356938035643809", "+14155550123", "2026-06-01"]
    path = write_csv(tmp_path / "u.csv", header, [row])
    result = ingest_table(
        DEVICE_USAGE, [SourceFile(path, "usage/u.csv")], ParseContext("US", "2026-06"), Pseudonymizer(b"k" * 32, "acme")
    )
    assert "extra" not in result.accepted.collect().columns
    assert result.accepted.collect().height == 1 and result.quarantine.height == 0


@pytest.mark.parametrize("kind", ["csv", "parquet", "xlsx"])
def test_reading_only_some_columns_gives_the_same_cells_on_the_same_rows(tmp_path, kind):
    header = ["Date", " MSISDN ", "Employee_ID", "Data_MB"]
    rows = [
        ["2026-06-01", "+14155550123", "E1", "1"],
        ["", "", "", ""],  # blank: the whole read drops it, a partial read keeps it (no value to look for)
        ["2026-06-02", " (415) 555-0124 ", None, "2"],
        ["2026-06-03", None, "E3", "3"],
    ]
    if kind == "csv":
        path = write_csv(tmp_path / "u.csv", header, rows)
    elif kind == "parquet":
        columns = {name: [row[i] for row in rows] for i, name in enumerate(header)}
        path = write_parquet(tmp_path / "u.parquet", pl.DataFrame(columns))
    else:
        path = write_xlsx(tmp_path / "u.xlsx", header, rows)
    whole = read_text_frame(path, "u", REQUIRED)
    part = read_text_frame(path, "u", [], only=["msisdn", "employee_id", "not_in_the_file"])
    assert part.columns == ["source_row", "msisdn", "employee_id"]
    assert whole.select(part.columns).rows() == part.join(whole.select("source_row"), on="source_row").rows()
    assert part.filter(pl.col("source_row") == 4)["msisdn"].to_list() == [" (415) 555-0124 "]
    assert read_text_frame(path, "u", [], only=["nothing_here"]).columns == ["source_row"]


def test_reading_only_some_columns_still_refuses_a_repeated_header(tmp_path):
    path = write_csv(tmp_path / "u.csv", ["msisdn", "Amount", "amount "], [["+1", "1", "2"]])
    with pytest.raises(InputFileError, match="more than once: amount"):
        read_text_frame(path, "u", [], only=["msisdn"])
