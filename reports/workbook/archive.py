"""Saving a write-only workbook atomically and byte for byte the same every time.

openpyxl 3.1.5 does not give reproducible bytes: `Workbook.save` stamps `docProps/core.xml` with the current
time, and `zipfile` stamps every entry with the current time (`writestr`) or the temporary file's mtime
(`write`, which openpyxl uses for write-only sheets). We therefore save through
`openpyxl.writer.excel.ExcelWriter` onto our own `ZipFile` whose entries all carry one fixed time.
"""

import io
import os
import shutil
from datetime import datetime
from pathlib import Path
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo

from openpyxl.workbook import Workbook
from openpyxl.writer.excel import ExcelWriter

COPY_BUFFER = 1024 * 1024


class ReproducibleArchive(ZipFile):
    """An .xlsx zip whose entries all carry `stamp` and the same file mode."""

    def __init__(self, file: Path, stamp: datetime):
        super().__init__(file, "w", ZIP_DEFLATED, allowZip64=True)
        self._date_time = (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)

    def _entry(self, name: str) -> ZipInfo:
        entry = ZipInfo(name, date_time=self._date_time)
        entry.compress_type = ZIP_DEFLATED
        entry.external_attr = 0o600 << 16  # what zipfile gives writestr entries; files' own modes would vary
        return entry

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):
        if not isinstance(zinfo_or_arcname, ZipInfo):
            zinfo_or_arcname = self._entry(zinfo_or_arcname)
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        entry = self._entry(arcname if arcname is not None else os.path.basename(filename))
        with open(filename, "rb") as part, self.open(entry, "w") as out:
            shutil.copyfileobj(part, out, COPY_BUFFER)


def save_reproducibly(wb: Workbook, path: Path, stamp: datetime) -> None:
    """Save a write-only workbook to `path` (via a temporary file beside it) with every timestamp = `stamp`."""
    wb.properties.created = stamp
    wb.properties.modified = stamp
    temporary = path.with_name(f".{path.name}.partial")
    try:
        with ReproducibleArchive(temporary, stamp) as archive:
            ExcelWriter(wb, archive).write_data()
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def reproducible_bytes(wb: Workbook, stamp: datetime) -> bytes:
    """The workbook as .xlsx bytes with every zip entry dated `stamp`; its document times are left as the caller set
    them (a rewritten inbox workbook keeps its own)."""
    buffer = io.BytesIO()
    with ReproducibleArchive(buffer, stamp) as archive:
        ExcelWriter(wb, archive).write_data()
    return buffer.getvalue()
