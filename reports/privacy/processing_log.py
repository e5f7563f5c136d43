"""The processing log (GDPR Art. 30): one JSON line per privacy operation, chained by SHA-256.

The log is append-only JSON Lines at ``<data root>/.privacy/processing-log.jsonl``. Each record holds, in this
key order::

    seq        1-based position in the log
    time       UTC, ISO 8601 to the second with a trailing "Z" (from ``now()``, which tests pin)
    operator   TEM_OPERATOR, else the OS user (else the numeric uid)
    action     one of ACTIONS
    customer   the customer id, or null
    months     the billing months touched, sorted
    request    the request reference (free text such as "DSR-2026-0042" or "ticket 1234"), or null
    counts     {name: int}, sorted by name
    outcome    one of OUTCOMES
    detail     a short reason for a refused or failed operation, or null
    prev       hex SHA-256 of the previous record's exact line bytes without the newline (64 zeros for the first)

Each record is one line written by ``json.dumps(record, sort_keys=False, separators=(",", ":"),
ensure_ascii=False)``, so editing, removing or reordering a record breaks the chain and ``verify`` names the first
bad record. A hash chain has no outside anchor: cutting records off the end, or rewriting every record from some
point on, cannot be told from a shorter log. The chain catches edits in place, not a determined rewrite.

Identifiers never enter the log. The log holds no employee, phone number, email or pseudonym: callers pass counts,
and ``request`` and ``detail`` are refused (ValueError) when they hold something that looks like one:

* a phone number: 7 or more digits in a row, with or without a leading "+" ("+33612345678", "0612345678");
* an email address: any "@";
* a pseudonym: 32 hex digits in a row.

"DSR-2026-0042" and "ticket 1234" pass (no run of 7 digits). The customer id and the months are checked against
the same rules as every path name (reports.layout), and counts must be ints (a bool or a string is refused).

Appending is safe with concurrent processes: the log is opened with O_APPEND and held under an exclusive flock
while its last line is read (backwards from the end, never the whole file) and the new line is written with one
``os.write`` followed by ``os.fsync``. A log whose last line has no trailing newline (a write cut short) is not
repaired silently: ``append`` refuses with a ProcessingLogError that tells the operator to run
``tem privacy log --verify``.
"""

from __future__ import annotations

import errno
import fcntl
import getpass
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType

from reports.layout import fsync_folder
from schemas.names import validate_id, validate_month

ACTIONS = ("run", "export", "erase", "purge", "offboard", "key_rotate", "link")
OUTCOMES = ("done", "refused", "failed", "nothing_to_do", "dry_run")
FIELDS = ("seq", "time", "operator", "action", "customer", "months", "request", "counts", "outcome", "detail", "prev")

LOG_FOLDER = ".privacy"
LOG_NAME = "processing-log.jsonl"
GENESIS = "0" * 64
_TAIL_CHUNK = 8192
_NO_COUNTS: Mapping[str, int] = MappingProxyType({})

_PHONE = re.compile(r"\+?\d{7,}")
_PSEUDONYM = re.compile(r"[0-9A-Fa-f]{32}")


class ProcessingLogError(Exception):
    """The log cannot be appended to or read as it stands (a torn or unreadable line); nothing was written."""


def now() -> datetime:
    """The clock of the log (tests monkeypatch this)."""
    return datetime.now(timezone.utc)


def log_path(root: Path) -> Path:
    return Path(root) / LOG_FOLDER / LOG_NAME


def operator() -> str:
    """TEM_OPERATOR, else the OS user, else the numeric uid."""
    chosen = os.environ.get("TEM_OPERATOR", "").strip()
    if chosen:
        return chosen
    try:
        return getpass.getuser()
    except Exception:  # no login name (KeyError before Python 3.13, OSError since)
        return str(os.getuid())


def identifier_in(text: str) -> str | None:
    """What kind of identifier ``text`` seems to hold ("phone number", "email", "pseudonym"), or None."""
    if _PHONE.search(text):
        return "phone number"
    if "@" in text:
        return "email"
    if _PSEUDONYM.search(text):
        return "pseudonym"
    return None


def check_free_text(text: str, what: str = "text") -> str:
    """``text`` unchanged, or ValueError when it looks like it holds an identifier (the guard on request and
    detail, for callers that check a --request before doing any work)."""
    _guard(what, text)
    return text


def _guard(what: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"processing log: {what} must be text, not {type(value).__name__}")
    kind = identifier_in(value)
    if kind:
        raise ValueError(
            f"processing log: the {what} looks like it holds a {kind}; identifiers never enter the log "
            "(use a reference such as DSR-2026-0042)"
        )
    return value


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("processing log: the clock returned a time without a time zone")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _counts(counts: Mapping[str, int]) -> dict[str, int]:
    checked: dict[str, int] = {}
    for name, value in counts.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"processing log: count name {name!r} must be non-empty text")
        _guard(f"count name {name!r}", name)
        if type(value) is not int:  # not a bool, float, numpy integer or string
            raise ValueError(f"processing log: count {name!r} must be an int, not {type(value).__name__} {value!r}")
        checked[name] = value
    return {name: checked[name] for name in sorted(checked)}


def _line(record: Mapping) -> bytes:
    return json.dumps(record, sort_keys=False, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _digest(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _last_line(fd: int, size: int) -> bytes:
    """The last line of the file (without its newline), read backwards from the end; the file ends with b"\\n"."""
    position = size - 1  # the final newline
    tail = b""
    while position > 0:
        step = min(_TAIL_CHUNK, position)
        chunk = os.pread(fd, step, position - step)
        if len(chunk) != step:
            raise ProcessingLogError("processing log: short read while looking for the last record")
        position -= step
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return chunk[cut + 1 :] + tail
        tail = chunk + tail
    return tail


def append(
    root: Path,
    action: str,
    *,
    customer: str | None,
    months: Iterable[str] = (),
    request: str | None = None,
    counts: Mapping[str, int] = _NO_COUNTS,
    outcome: str,
    detail: str | None = None,
) -> dict:
    """Append one record to the processing log of the data root ``root`` and return it.

    Raises ValueError for a bad field (unknown action or outcome, a count that is not an int, a request or detail
    that holds an identifier, an invalid customer id or month) and ProcessingLogError when the log does not end
    with a newline or its last line is not a record; in both cases nothing is written. The data root must exist.
    """
    if action not in ACTIONS:
        raise ValueError(f"processing log: unknown action {action!r} (one of {', '.join(ACTIONS)})")
    if outcome not in OUTCOMES:
        raise ValueError(f"processing log: unknown outcome {outcome!r} (one of {', '.join(OUTCOMES)})")
    if customer is not None:
        validate_id(customer)
    if isinstance(months, str):
        raise ValueError("processing log: months must be a list of YYYY-MM, not one string")
    month_list = sorted({validate_month(m) for m in months})
    request = _guard("request reference", request)
    detail = _guard("detail", detail)
    checked_counts = _counts(counts)
    time = _timestamp(now())
    who = operator()

    folder = Path(root) / LOG_FOLDER
    if not Path(root).is_dir():
        raise ProcessingLogError(f"processing log: the data root {root} is not a folder")
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    path = folder / LOG_NAME
    flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
    created = False
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600)
        created = True
    except FileExistsError:
        fd = os.open(path, flags)
    try:
        if created:
            fsync_folder(folder)
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size == 0:
            seq, prev = 1, GENESIS
        else:
            if os.pread(fd, 1, size - 1) != b"\n":
                raise ProcessingLogError(
                    f"processing log: {path} does not end with a newline (a write was cut short?); "
                    "nothing was appended: run `tem privacy log --verify`"
                )
            last = _last_line(fd, size)
            try:
                last_seq = json.loads(last)["seq"]
                if type(last_seq) is not int:
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                raise ProcessingLogError(
                    f"processing log: the last line of {path} is not a record; nothing was appended: "
                    "run `tem privacy log --verify`"
                ) from None
            seq, prev = last_seq + 1, _digest(last)
        record = {
            "seq": seq,
            "time": time,
            "operator": who,
            "action": action,
            "customer": customer,
            "months": month_list,
            "request": request,
            "counts": checked_counts,
            "outcome": outcome,
            "detail": detail,
            "prev": prev,
        }
        data = _line(record) + b"\n"
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(errno.EIO, f"processing log: wrote {written} of {len(data)} bytes to {path}")
        os.fsync(fd)
        return record
    finally:
        os.close(fd)  # closing releases the flock


def read(root: Path, customer: str | None = None) -> list[dict]:
    """The records of the log, oldest first (only those of ``customer`` when given); [] when there is no log.

    Raises ProcessingLogError when a line is not a JSON record (run ``verify`` for the chain itself)."""
    path = log_path(root)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    if not data:
        return []
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()  # the empty piece after the final newline
    records = []
    for number, line in enumerate(lines, 1):
        record = _parse(line)
        if record is None:
            raise ProcessingLogError(
                f"processing log: line {number} of {path} is not a record: run `tem privacy log --verify`"
            )
        if customer is None or record.get("customer") == customer:
            records.append(record)
    return records


def _parse(line: bytes) -> dict | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or type(record.get("seq")) is not int or not isinstance(record.get("prev"), str):
        return None
    return record


def verify(root: Path) -> tuple[bool, str]:
    """Walk the chain: (True, "N records, chain intact"), or (False, why) naming the first bad record as
    "record N (line L) ..." where N is the seq the record has or should have had."""
    path = log_path(root)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return True, "no records yet"
    if not data:
        return True, "no records yet"
    lines = data.split(b"\n")
    torn = not data.endswith(b"\n")
    if not torn:
        lines.pop()  # the empty piece after the final newline
    previous_line: bytes | None = None
    previous_seq = 0
    for index, line in enumerate(lines):
        number = index + 1
        expected_seq = previous_seq + 1
        expected_prev = GENESIS if previous_line is None else _digest(previous_line)
        record = _parse(line)
        if record is None:
            if torn and number == len(lines):
                return False, (
                    f"record {expected_seq} (line {number}) is cut short: not a JSON record and no trailing newline "
                    "(a write was interrupted, or the file was edited)"
                )
            return False, f"record {expected_seq} (line {number}) is not a JSON record (edited)"
        seq, prev = record["seq"], record["prev"]
        if prev != expected_prev and seq == expected_seq:
            if previous_line is None:
                return False, f"record {seq} (line {number}) was edited: its prev is not 64 zeros"
            return False, (
                f"record {previous_seq} (line {number - 1}) was edited: its SHA-256 does not match the prev held by "
                f"record {seq} (line {number})"
            )
        if prev == expected_prev and seq != expected_seq:
            return (
                False,
                f"record {expected_seq} (line {number}) was edited: its seq reads {seq}, expected {expected_seq}",
            )
        if prev != expected_prev:
            found_at = _line_of_seq(lines, expected_seq, index + 1)
            if found_at:
                return False, (
                    f"record {seq} (line {number}) is out of order: record {expected_seq} should come here, "
                    f"after record {previous_seq}, and is at line {found_at} (reordered)"
                )
            return False, (
                f"record {expected_seq} (line {number}) was removed: line {number} holds record {seq} "
                f"after record {previous_seq}"
            )
        previous_line, previous_seq = line, seq
    if torn:
        return False, (
            f"record {previous_seq} (line {len(lines)}) has no trailing newline "
            "(a write was interrupted, or the file was edited)"
        )
    return True, f"{len(lines)} records, chain intact"


def _line_of_seq(lines: list[bytes], seq: int, start: int) -> int | None:
    for index in range(start, len(lines)):
        record = _parse(lines[index])
        if record is not None and record["seq"] == seq:
            return index + 1
    return None


def _months_text(months: list[str]) -> str:
    if not months:
        return "-"
    if len(months) <= 2:
        return ",".join(months)
    return f"{months[0]}..{months[-1]} ({len(months)} months)"


def format_records(records: Iterable[Mapping]) -> list[str]:
    """One human-readable line per record: time, operator, action, customer, months, request, outcome, counts."""
    lines = []
    for record in records:
        outcome = record.get("outcome") or "-"
        if record.get("detail"):
            outcome = f"{outcome} ({record['detail']})"
        counts = record.get("counts") or {}
        parts = [
            str(record.get("time") or "-"),
            str(record.get("operator") or "-"),
            f"{record.get('action') or '-':<10}",
            str(record.get("customer") or "-"),
            _months_text(list(record.get("months") or [])),
            str(record.get("request") or "-"),
            outcome,
        ]
        if counts:
            parts.append(" ".join(f"{name}={value}" for name, value in counts.items()))
        lines.append("  ".join(parts))
    return lines


def command_log(root: Path, customer: str | None, verify_chain: bool, out=sys.stdout, err=sys.stderr) -> int:
    """`tem privacy log [--customer ID] [--verify]`: print the records, or check the chain.

    Exit 0 when done; 1 with one line on ``err`` when the chain is broken or the log cannot be read."""
    if verify_chain:
        intact, message = verify(root)
        if not intact:
            print(f"processing log: {message}", file=err)
            return 1
        print(f"processing log: {message}", file=out)
        return 0
    try:
        records = read(root, customer)
    except (ProcessingLogError, OSError) as problem:
        text = str(problem)
        print(text if text.startswith("processing log:") else f"processing log: {text}", file=err)
        return 1
    for line in format_records(records):
        print(line, file=out)
    if not records:
        print("processing log: no records" + (f" for customer {customer}" if customer else ""), file=out)
    return 0
