"""One module per input file format, each turning a file into a frame of text columns plus its header as written.

A format is a module with `read(path, display_name, positions=None) -> (frame, header)` and one line in READERS
below; one that can read its header alone has `header(path, display_name)` in HEADERS too, and then reads only the
columns at `positions` when asked. Which formats each input table accepts is part of the contract
(schemas/tables.py DROP_FILES).
"""

from __future__ import annotations

from reports.inputs.formats import csv, excel, parquet

READERS = {".csv": csv.read, ".xlsx": excel.read, ".parquet": parquet.read}
HEADERS = {".csv": csv.header, ".parquet": parquet.header}
