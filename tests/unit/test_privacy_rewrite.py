"""Rewriting an inbox file in its own format without some rows and with some cells changed (GDPR erasure).

Row numbers are the reader's `source_row`, so every format is checked against `read_text_frame` itself."""

import datetime as dt
import io
import os
import re
import zipfile
from decimal import Decimal

import openpyxl
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reports.inputs.readers import read_text_frame
from reports.privacy import rewrite as rewrite_module
from reports.privacy.rewrite import RewriteError, RowEdits, rewrite_file
from schemas.tables import ERASED
from tests.support.builders import write_xlsx

BOM = b"\xef\xbb\xbf"


def rows_of(path):
    """The reader's view: (source_row, cells...) tuples."""
    return read_text_frame(path, path.name, []).rows()


def values_of(path):
    return [row[1:] for row in rows_of(path)]


def rewritten(tmp_path, name, source_bytes, edits):
    source = tmp_path / name
    source.write_bytes(source_bytes)
    target = tmp_path / f"out-{name}"
    removed = rewrite_file(source, target, edits, f"inbox/{name}")
    return removed, target


# ---------------------------------------------------------------------------------------------------- CSV numbering

CSV_FILES = {
    "plain-lf": b"date,msisdn\n2026-06-01,a\n2026-06-02,b\n2026-06-03,c\n",
    "bom-crlf": BOM + b"date,msisdn\r\n2026-06-01,a\r\n2026-06-02,b\r\n",
    "no-final-line-end": b"date,msisdn\n2026-06-01,a\n2026-06-02,b",
    "crlf-no-final-line-end": b"date,msisdn\r\n2026-06-01,a\r\n2026-06-02,b",
    "blank-lines": b"date,msisdn\n2026-06-01,a\n\n\n2026-06-02,b\n\n",
    "blank-crlf-lines": b"date,msisdn\r\n\r\n2026-06-01,a\r\n\r\n2026-06-02,b\r\n\r\n",
    "whitespace-and-comma-lines": b"date,msisdn\n2026-06-01,a\n \n,\n2026-06-02,b\n",
    "empty-lines-before-header": b"\n\r\n\ndate,msisdn\n2026-06-01,a\n\n2026-06-02,b\n",
    "bom-then-empty-lines": BOM + b"\r\n\r\ndate,msisdn\r\n2026-06-01,a\r\n2026-06-02,b",
    "quoted-newlines": b'date,msisdn,note\n2026-06-01,a,"one\ntwo"\n2026-06-02,"b","x, ""y""\n\nz"\n2026-06-03,c,\n',
    "quoted-crlf-newlines": b'date,msisdn,note\r\n2026-06-01,a,"one\r\ntwo"\r\n\r\n2026-06-02,b,"3\r\n4"',
    "quoted-header": b'"Date"," MSISDN ","no\nte"\n2026-06-01,a,1\n2026-06-02,b,2\n',
    "quotes-inside-a-line": b'date,msisdn,note\n2026-06-01,"a","say ""hi"""\n2026-06-02,b,""\n',
    "short-rows": b"date,msisdn,note\n2026-06-01\n2026-06-02,b\n2026-06-03,c,n\n",
    "lone-cr-in-field": b"date,msisdn\n2026-06-01,a\rb\n2026-06-02,c\n",
}


@pytest.mark.parametrize("name", sorted(CSV_FILES))
def test_csv_row_numbers_agree_with_the_reader(tmp_path, name):
    source = tmp_path / "source.csv"
    source.write_bytes(CSV_FILES[name])
    original = rows_of(source)
    assert len(original) >= 2
    for number, *cells in original:
        removed, target = rewritten(tmp_path, "u.csv", CSV_FILES[name], RowEdits(drop=frozenset({number})))
        assert removed == 1
        assert values_of(target) == [tuple(row[1:]) for row in original if row[0] != number]

        _, target = rewritten(tmp_path, "u.csv", CSV_FILES[name], RowEdits(set_values={"msisdn": {number: ERASED}}))
        expected = [row if row[0] != number else (row[0], row[1], ERASED, *row[3:]) for row in original]
        assert rows_of(target) == expected


def test_csv_what_the_reader_counts(tmp_path):
    """The numbering this module follows, pinned: blank lines count (then vanish), a quoted line break does not
    start a row, empty lines before the header do not count."""
    path = tmp_path / "u.csv"
    path.write_bytes(b'\r\n\r\ndate,msisdn\r\n2026-06-01,"a\r\nb"\r\n\r\n2026-06-02,c\r\n\r\n')
    assert rows_of(path) == [(2, "2026-06-01", "a\r\nb"), (4, "2026-06-02", "c")]


# ------------------------------------------------------------------------------------------------ CSV byte-exactness

MESSY = (
    BOM
    + b"Date,MSISDN,note\r\n"  # row 1
    + b'2026-06-01,+14155550101,"two\r\nlines, ""quoted"""\r\n'  # row 2, spans two lines
    + b"\r\n"  # row 3, blank
    + b'2026-06-02,"+14155550102",plain\r\n'  # row 4, quoted msisdn
    + b"2026-06-03,+14155550103,last"  # row 5, no line end
)


def test_csv_unchanged_without_edits(tmp_path):
    removed, target = rewritten(tmp_path, "u.csv", MESSY, RowEdits())
    assert removed == 0
    assert target.read_bytes() == MESSY


def test_csv_drops_a_multi_line_record_and_keeps_everything_else(tmp_path):
    removed, target = rewritten(tmp_path, "u.csv", MESSY, RowEdits(drop=frozenset({2})))
    assert removed == 1
    assert target.read_bytes() == MESSY.replace(b'2026-06-01,+14155550101,"two\r\nlines, ""quoted"""\r\n', b"")


def test_csv_dropping_the_last_record_leaves_no_dangling_line_end(tmp_path):
    _, target = rewritten(tmp_path, "u.csv", MESSY, RowEdits(drop=frozenset({5})))
    # row 4, now the last record, loses its CRLF: the source ended without a line end, so does the output
    assert target.read_bytes() == MESSY.replace(b"\r\n2026-06-03,+14155550103,last", b"")
    _, target = rewritten(tmp_path, "v.csv", MESSY, RowEdits(drop=frozenset({4, 5})))
    assert target.read_bytes() == BOM + b'Date,MSISDN,note\r\n2026-06-01,+14155550101,"two\r\nlines, ""quoted"""\r\n'


def test_csv_last_line_end_follows_the_source(tmp_path):
    with_end = b"date,msisdn\r\n2026-06-01,a\r\n2026-06-02,b\r\n"
    _, target = rewritten(tmp_path, "a.csv", with_end, RowEdits(drop=frozenset({3})))
    assert target.read_bytes() == b"date,msisdn\r\n2026-06-01,a\r\n"
    without_end = b"date,msisdn\r\n2026-06-01,a\r\n2026-06-02,b"
    _, target = rewritten(tmp_path, "b.csv", without_end, RowEdits(drop=frozenset({3})))
    assert target.read_bytes() == b"date,msisdn\r\n2026-06-01,a"
    _, target = rewritten(tmp_path, "c.csv", without_end, RowEdits(drop=frozenset({2, 3})))
    assert target.read_bytes() == b"date,msisdn"
    lf = b"date,msisdn\n2026-06-01,a\n2026-06-02,b"
    _, target = rewritten(tmp_path, "d.csv", lf, RowEdits(drop=frozenset({3})))
    assert target.read_bytes() == b"date,msisdn\n2026-06-01,a"


def test_csv_edits_change_only_the_edited_fields(tmp_path):
    edits = RowEdits(set_values={"msisdn": {2: ERASED, 4: ERASED, 5: ERASED}, "NOTE ": {5: 'say "x", then\nstop'}})
    removed, target = rewritten(tmp_path, "u.csv", MESSY, edits)
    assert removed == 0
    assert target.read_bytes() == (
        BOM
        + b"Date,MSISDN,note\r\n"
        + b'2026-06-01,ERASED,"two\r\nlines, ""quoted"""\r\n'
        + b"\r\n"
        + b"2026-06-02,ERASED,plain\r\n"  # an edited field is unquoted unless it needs quotes
        + b'2026-06-03,ERASED,"say ""x"", then\nstop"'
    )
    assert rows_of(target) == [
        (2, "2026-06-01", ERASED, 'two\r\nlines, "quoted"'),
        (4, "2026-06-02", ERASED, "plain"),
        (5, "2026-06-03", ERASED, 'say "x", then\nstop'),
    ]


def test_csv_emptied_cell_and_drop_together(tmp_path):
    source = b"employee_id,manager_employee_id,name\nE1,,Ann\nE2,E1,Bob\nE3,E1,Cy\n"
    edits = RowEdits(drop=frozenset({2}), set_values={"manager_employee_id": {3: "", 4: "", 2: ""}})
    removed, target = rewritten(tmp_path, "r.csv", source, edits)
    assert removed == 1
    assert target.read_bytes() == b"employee_id,manager_employee_id,name\nE2,,Bob\nE3,,Cy\n"
    assert values_of(target) == [("E2", None, "Bob"), ("E3", None, "Cy")]


def test_csv_edit_of_a_short_row_adds_the_missing_fields(tmp_path):
    edits = RowEdits(set_values={"msisdn": {2: ERASED}})
    _, target = rewritten(tmp_path, "u.csv", b"date,note,msisdn\n2026-06-01\n", edits)
    assert target.read_bytes() == b"date,note,msisdn\n2026-06-01,,ERASED\n"


def test_csv_many_rows_with_scattered_drops(tmp_path):
    lines = [b"date,msisdn,amount"] + [b"2026-06-01,+1%010d,%d.%02d" % (i, i, i % 100) for i in range(5000)]
    source = b"\r\n".join(lines) + b"\r\n"
    drop = frozenset(range(2, 5002, 7))
    removed, target = rewritten(tmp_path, "u.csv", source, RowEdits(drop=drop))
    assert removed == len(drop)
    kept = [line for number, line in enumerate(lines, start=1) if number not in drop]
    assert target.read_bytes() == b"\r\n".join(kept) + b"\r\n"


# -------------------------------------------------------------------------------------------------------------- XLSX


def workbook_rows(path, sheet=0):
    workbook = openpyxl.load_workbook(path)
    return [list(row) for row in workbook.worksheets[sheet].iter_rows(values_only=True)]


def make_xlsx(tmp_path, name="i.xlsx"):
    path = write_xlsx(
        tmp_path / name,
        ["Date", "MSISDN", "amount", "manager_employee_id"],
        [
            [dt.date(2026, 6, 1), "+14155550101", 12.5, "E1"],
            [None, None, None, None],  # an empty row: numbered, then dropped by the reader
            [dt.date(2026, 6, 2), 4155550102, 40, "E2"],
            [dt.date(2026, 6, 3), "+14155550103", Decimal("0.10"), "E1"],
        ],
    )
    workbook = openpyxl.load_workbook(path)
    notes = workbook.create_sheet("notes")
    notes.append(["keep", "me"])
    notes.append(["=1+1", 3])
    workbook.properties.created = workbook.properties.modified = dt.datetime(2026, 1, 1)
    workbook.save(path)
    return path


def test_xlsx_rows_removed_and_cells_set_as_the_reader_sees_them(tmp_path):
    source = make_xlsx(tmp_path)
    assert [row[0] for row in rows_of(source)] == [2, 4, 5]
    target = tmp_path / "out.xlsx"
    edits = RowEdits(drop=frozenset({4}), set_values={"msisdn": {2: ERASED}, "manager_employee_id": {5: ""}})
    assert rewrite_file(source, target, edits, "inbox/i.xlsx") == 1
    assert rows_of(target) == [
        (2, "2026-06-01 00:00:00", ERASED, "12.5", "E1"),
        (4, "2026-06-03 00:00:00", "+14155550103", "0.1", None),
    ]
    assert workbook_rows(target, 1) == [["keep", "me"], ["=1+1", 3]]  # other sheets as they were


def test_xlsx_numbering_agrees_with_the_reader_for_every_row(tmp_path):
    source = make_xlsx(tmp_path)
    original = rows_of(source)
    for number, *_ in original:
        target = tmp_path / f"out-{number}.xlsx"
        rewrite_file(source, target, RowEdits(drop=frozenset({number})), "i.xlsx")
        assert values_of(target) == [row[1:] for row in original if row[0] != number]


def test_xlsx_header_below_empty_rows_is_where_the_reader_finds_it(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["B3"], sheet["C3"] = "msisdn", "name"
    sheet["B4"], sheet["C4"] = "+1", "a"
    sheet["B5"], sheet["C5"] = "+2", "b"
    source = tmp_path / "h.xlsx"
    workbook.save(source)
    assert rows_of(source) == [(2, "+1", "a"), (3, "+2", "b")]
    target = tmp_path / "out.xlsx"
    rewrite_file(source, target, RowEdits(drop=frozenset({2}), set_values={"msisdn": {3: ERASED}}), "h.xlsx")
    assert rows_of(target) == [(2, ERASED, "b")]


def test_xlsx_is_deterministic(tmp_path):
    source = make_xlsx(tmp_path)
    edits = RowEdits(drop=frozenset({2}), set_values={"msisdn": {5: ERASED}})
    first, second = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    rewrite_file(source, first, edits, "i.xlsx")
    rewrite_file(source, second, edits, "i.xlsx")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert {entry.date_time for entry in archive.infolist()} == {(2026, 1, 1, 0, 0, 0)}
        assert b"2026-01-01T00:00:00Z" in archive.read("docProps/core.xml")


def test_xlsx_without_document_times_gets_fixed_ones(tmp_path):
    source = make_xlsx(tmp_path)
    stripped = io.BytesIO()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(stripped, "w") as copy:
        for entry in original.infolist():
            data = original.read(entry.filename)
            if entry.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*", rb"\1", data)
                assert data.count(b"Z</dcterms") == 0
            copy.writestr(entry, data)
    _, target = rewritten(tmp_path, "s.xlsx", stripped.getvalue(), RowEdits(drop=frozenset({2})))
    assert openpyxl.load_workbook(target).properties.created == dt.datetime(2026, 1, 1)
    assert openpyxl.load_workbook(target).properties.modified == dt.datetime(2026, 1, 1)


def test_xlsx_formula_cells_keep_the_values_the_reader_sees(tmp_path):
    source = make_xlsx(tmp_path)
    with zipfile.ZipFile(source) as original:
        parts = {entry.filename: original.read(entry.filename) for entry in original.infolist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    # amount of row 5 becomes a formula with its computed value stored, as Excel saves it
    sheet = sheet.replace(b'<c r="C5" t="n"><v>0.1</v></c>', b'<c r="C5"><f>C2*2</f><v>25</v></c>')
    assert b"<f>C2*2</f>" in sheet
    parts["xl/worksheets/sheet1.xml"] = sheet
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as copy:
        for name, data in parts.items():
            copy.writestr(name, data)
    _, target = rewritten(tmp_path, "f.xlsx", buffer.getvalue(), RowEdits(drop=frozenset({4})))
    assert rows_of(target)[-1] == (4, "2026-06-03 00:00:00", "+14155550103", "25", "E1")
    assert workbook_rows(target, 1) == [["keep", "me"], ["=1+1", 3]]


def test_xlsx_sheet_structures_follow_deleted_rows(tmp_path):
    source = make_xlsx(tmp_path)
    workbook = openpyxl.load_workbook(source)
    sheet = workbook.active
    sheet.auto_filter.ref = "A1:D5"
    sheet.row_dimensions[5].height = 30
    sheet["F5"] = "merged"
    sheet.merge_cells("F5:G5")
    workbook.save(source)
    target = tmp_path / "out.xlsx"
    rewrite_file(source, target, RowEdits(drop=frozenset({2, 3})), "i.xlsx")
    result = openpyxl.load_workbook(target).active
    assert result.auto_filter.ref == "A1:D3"
    assert result.row_dimensions[3].height == 30
    assert [str(cells) for cells in result.merged_cells.ranges] == ["F3:G3"]
    assert result["F3"].value == "merged"


def test_xlsx_text_that_looks_like_a_formula_stays_text(tmp_path):
    source = make_xlsx(tmp_path)
    target = tmp_path / "out.xlsx"
    rewrite_file(source, target, RowEdits(set_values={"manager_employee_id": {2: "=HYPERLINK(1)"}}), "i.xlsx")
    assert rows_of(target)[0][-1] == "=HYPERLINK(1)"


# ----------------------------------------------------------------------------------------------------------- Parquet


def make_parquet(path, compression="zstd"):
    frame = pl.DataFrame(
        {
            "Date": [dt.date(2026, 6, 1), dt.date(2026, 6, 2), dt.date(2026, 6, 3)],
            "msisdn": ["+14155550101", "+14155550102", "+14155550103"],
            "amount": [Decimal("12.10"), Decimal("1234567890123.45"), Decimal("0.01")],
            "count": [1, 2, 3],
            "seen": [dt.datetime(2026, 6, 1, 8), dt.datetime(2026, 6, 2, 9), None],
        },
        schema_overrides={"amount": pl.Decimal(18, 2)},
    )
    frame.write_parquet(path, compression=compression)
    return path


def test_parquet_rows_removed_cells_set_schema_and_compression_kept(tmp_path):
    source = make_parquet(tmp_path / "u.parquet")
    target = tmp_path / "out.parquet"
    edits = RowEdits(drop=frozenset({3}), set_values={"MSISDN": {4: ERASED}, "amount": {2: "99999999999999.99"}})
    assert rewrite_file(source, target, edits, "inbox/u.parquet") == 1
    assert rows_of(target) == [
        (2, "2026-06-01", "+14155550101", "99999999999999.99", "1", "2026-06-01"),
        (3, "2026-06-03", ERASED, "0.01", "3", None),
    ]
    assert pq.read_schema(target) == pq.read_schema(source)
    assert pq.ParquetFile(target).read().column("amount").to_pylist() == [Decimal("99999999999999.99"), Decimal("0.01")]
    codecs = {pq.ParquetFile(target).metadata.row_group(0).column(i).compression for i in range(5)}
    assert codecs == {"ZSTD"}


@pytest.mark.parametrize("compression", ["snappy", "gzip", "uncompressed"])
def test_parquet_keeps_the_source_compression_and_is_deterministic(tmp_path, compression):
    source = make_parquet(tmp_path / "u.parquet", compression)
    edits = RowEdits(drop=frozenset({2}), set_values={"msisdn": {3: ERASED}})
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    rewrite_file(source, first, edits, "u.parquet")
    rewrite_file(source, second, edits, "u.parquet")
    assert first.read_bytes() == second.read_bytes()
    expected = pq.ParquetFile(source).metadata.row_group(0).column(0).compression
    assert pq.ParquetFile(first).metadata.row_group(0).column(0).compression == expected


def test_parquet_emptied_and_dictionary_columns(tmp_path):
    table = pa.table(
        {
            "msisdn": pa.array(["+1", "+2", "+1"]).dictionary_encode(),
            "manager_employee_id": pa.array(["E1", "E2", "E3"]),
            "count": pa.array([1, 2, 3], pa.int32()),
        }
    )
    source = tmp_path / "d.parquet"
    pq.write_table(table, source)
    target = tmp_path / "out.parquet"
    edits = RowEdits(set_values={"msisdn": {4: ERASED}, "manager_employee_id": {2: ""}, "count": {4: ""}})
    rewrite_file(source, target, edits, "d.parquet")
    assert pq.read_schema(target) == pq.read_schema(source)
    assert rows_of(target) == [(2, "+1", None, "1"), (3, "+2", "E2", "2"), (4, ERASED, "E3", None)]


def test_parquet_value_of_the_wrong_type_is_refused_without_showing_it(tmp_path):
    source = make_parquet(tmp_path / "u.parquet")
    target = tmp_path / "out.parquet"
    with pytest.raises(RewriteError) as error:
        rewrite_file(source, target, RowEdits(set_values={"amount": {2: "12.345 secret"}}), "inbox/u.parquet")
    assert "secret" not in str(error.value) and str(error.value).startswith("inbox/u.parquet: ")
    assert not target.exists()


# ---------------------------------------------------------------------------------------------------------- refusals

ZIP_BYTES = b"PK\x03\x04" + b"\x00" * 40


@pytest.mark.parametrize(
    "name, data, problem",
    [
        ("u.csv", ZIP_BYTES, "not a CSV text file"),
        ("u.csv", b"PAR1rest", "not a CSV text file"),
        ("u.csv", b"date,msisdn\n2026-06-01,\xff\xfe\n", "not UTF-8"),
        ("u.csv", b'date,msisdn\n2026-06-01,"open\n2026-06-02,b\n', "unbalanced quotes"),
        ("i.xlsx", b"date,msisdn\n2026-06-01,a\n", "not an Excel .xlsx workbook"),
        ("i.xlsx", ZIP_BYTES, "could not be opened"),
        ("u.parquet", b"date,msisdn\n", "not a Parquet file"),
        ("u.parquet", b"PAR1" + b"\x00" * 40, "could not be read"),
        ("u.txt", b"date,msisdn\n", "unsupported file type"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_written(tmp_path, name, data, problem):
    source = tmp_path / name
    source.write_bytes(data)
    target = tmp_path / "out"
    target.write_bytes(b"left over from an earlier attempt")
    with pytest.raises(RewriteError) as error:
        rewrite_file(source, target, RowEdits(drop=frozenset({2})), f"inbox/{name}")
    message = str(error.value)
    assert message.startswith(f"inbox/{name}: ") and problem in message and "\n" not in message
    assert not target.exists()


def test_a_zip_that_is_not_a_workbook_is_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    with pytest.raises(RewriteError, match="could not be opened"):
        rewritten(tmp_path, "z.xlsx", buffer.getvalue(), RowEdits())
    assert not (tmp_path / "out-z.xlsx").exists()


@pytest.mark.parametrize("name", ["u.csv", "i.xlsx", "u.parquet"])
def test_missing_column_and_unknown_rows_are_refused(tmp_path, name):
    source = tmp_path / name
    if name.endswith(".csv"):
        source.write_bytes(b"date,msisdn\n2026-06-01,+1secret\n")
    elif name.endswith(".xlsx"):
        write_xlsx(source, ["date", "msisdn"], [["2026-06-01", "+1secret"]])
    else:
        pl.DataFrame({"date": ["2026-06-01"], "msisdn": ["+1secret"]}).write_parquet(source)
    target = tmp_path / "out"
    for edits, problem in [
        (RowEdits(set_values={"employee_id": {2: ""}}), "no column 'employee_id'"),
        (RowEdits(drop=frozenset({3})), "row(s) 3 are not data rows"),
        (RowEdits(set_values={"msisdn": {1: ERASED}}), "row(s) 1 are not data rows"),
    ]:
        with pytest.raises(RewriteError, match=problem.replace("(", r"\(").replace(")", r"\)")) as error:
            rewrite_file(source, target, edits, name)
        assert "secret" not in str(error.value)
        assert not target.exists()


def test_target_is_synced_before_returning(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def recording_fsync(descriptor):
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}") if os.path.exists("/proc/self/fd") else descriptor)
        real_fsync(descriptor)

    monkeypatch.setattr(rewrite_module.os, "fsync", recording_fsync)
    _, target = rewritten(tmp_path, "u.csv", b"date,msisdn\n2026-06-01,a\n", RowEdits(drop=frozenset({2})))
    assert synced and (not isinstance(synced[0], str) or synced[0] == str(target))
    assert target.read_bytes() == b"date,msisdn\n"


def test_a_failed_write_leaves_no_target(tmp_path, monkeypatch):
    def failing_fsync(descriptor):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(rewrite_module.os, "fsync", failing_fsync)
    with pytest.raises(RewriteError, match="could not be written"):
        rewritten(tmp_path, "u.csv", b"date,msisdn\n2026-06-01,a\n", RowEdits(drop=frozenset({2})))
    assert not (tmp_path / "out-u.csv").exists()


def test_the_source_is_never_its_own_target(tmp_path):
    source = tmp_path / "u.csv"
    source.write_bytes(b"date,msisdn\n2026-06-01,a\n")
    with pytest.raises(RewriteError):
        rewrite_file(source, source, RowEdits(drop=frozenset({2})), "u.csv")
    assert source.read_bytes() == b"date,msisdn\n2026-06-01,a\n"
