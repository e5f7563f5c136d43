"""The processing log: the record format, the SHA-256 chain and what verify says when it breaks, the identifier
guard, and appends from several processes at once."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from reports.privacy import processing_log
from reports.privacy.processing_log import (
    ACTIONS,
    GENESIS,
    ProcessingLogError,
    append,
    check_free_text,
    command_log,
    format_records,
    log_path,
    read,
    verify,
)

START = datetime(2026, 10, 15, 9, 30, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock(monkeypatch):
    """The log's clock pinned to START, one second further per record."""
    ticks = iter(range(10_000))
    monkeypatch.setattr(processing_log, "now", lambda: START + timedelta(seconds=next(ticks)))
    monkeypatch.setenv("TEM_OPERATOR", "alice")


def write_chain(root: Path, n: int = 5) -> list[dict]:
    records = []
    for i in range(n):
        customer = "acme" if i % 2 == 0 else "globex"
        records.append(
            append(
                root,
                ACTIONS[i % len(ACTIONS)],
                customer=customer,
                months=["2026-08", "2026-06", "2026-07"][: 1 + i % 3],
                request=f"DSR-2026-{i:04d}",
                counts={"rows": 10 * i, "files": i},
                outcome="done",
            )
        )
    return records


def lines_of(root: Path) -> list[bytes]:
    return log_path(root).read_bytes().split(b"\n")[:-1]


def rewrite(root: Path, lines: list[bytes], newline_at_end: bool = True) -> None:
    log_path(root).write_bytes(b"\n".join(lines) + (b"\n" if newline_at_end else b""))


def test_record_format_and_first_prev(tmp_path, clock):
    record = append(
        tmp_path,
        "export",
        customer="acme",
        months=["2026-07", "2026-06"],
        request="DSR-2026-0042",
        counts={"subjects": 1, "files": 3},
        outcome="done",
    )
    assert list(record) == [
        "seq",
        "time",
        "operator",
        "action",
        "customer",
        "months",
        "request",
        "counts",
        "outcome",
        "detail",
        "prev",
    ]
    assert record == {
        "seq": 1,
        "time": "2026-10-15T09:30:00Z",
        "operator": "alice",
        "action": "export",
        "customer": "acme",
        "months": ["2026-06", "2026-07"],
        "request": "DSR-2026-0042",
        "counts": {"files": 3, "subjects": 1},
        "outcome": "done",
        "detail": None,
        "prev": "0" * 64,
    }
    assert GENESIS == "0" * 64
    line = log_path(tmp_path).read_bytes()
    assert line == json.dumps(record, sort_keys=False, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    assert stat.S_IMODE(os.stat(log_path(tmp_path)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / ".privacy").st_mode) == 0o700


def test_chain_of_several_records_verifies(tmp_path, clock):
    records = write_chain(tmp_path, 6)
    lines = lines_of(tmp_path)
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5, 6]
    for before, line in zip(lines, lines[1:]):
        assert json.loads(line)["prev"] == hashlib.sha256(before).hexdigest()
    assert read(tmp_path) == records
    assert verify(tmp_path) == (True, "6 records, chain intact")
    out = io.StringIO()
    assert command_log(tmp_path, None, True, out=out, err=io.StringIO()) == 0
    assert out.getvalue() == "processing log: 6 records, chain intact\n"


@pytest.mark.parametrize("chunk", [1, 5, 64])
def test_last_line_read_backwards_in_small_chunks(tmp_path, clock, monkeypatch, chunk):
    monkeypatch.setattr(processing_log, "_TAIL_CHUNK", chunk)
    write_chain(tmp_path, 4)
    assert verify(tmp_path) == (True, "4 records, chain intact")


def test_absent_log_verifies(tmp_path):
    assert verify(tmp_path) == (True, "no records yet")
    assert read(tmp_path) == []


def test_operator_falls_back_to_the_os_user(tmp_path, clock, monkeypatch):
    monkeypatch.delenv("TEM_OPERATOR")
    monkeypatch.setattr(processing_log.getpass, "getuser", lambda: "os-user")
    assert append(tmp_path, "run", customer=None, outcome="done")["operator"] == "os-user"

    def no_user():
        raise OSError("no login name")

    monkeypatch.setattr(processing_log.getpass, "getuser", no_user)
    assert append(tmp_path, "run", customer=None, outcome="done")["operator"] == str(os.getuid())


def test_edited_middle_record_fails_naming_it(tmp_path, clock):
    write_chain(tmp_path, 5)
    lines = lines_of(tmp_path)
    lines[2] = lines[2].replace(b'"rows":20', b'"rows":21')  # record 3
    rewrite(tmp_path, lines)
    ok, message = verify(tmp_path)
    assert not ok
    assert message.startswith("record 3 (line 3) was edited")
    err = io.StringIO()
    assert command_log(tmp_path, None, True, out=io.StringIO(), err=err) == 1
    assert err.getvalue().startswith("processing log: record 3 (line 3) was edited")
    assert err.getvalue().count("\n") == 1


def test_edited_seq_fails_naming_it(tmp_path, clock):
    write_chain(tmp_path, 4)
    lines = lines_of(tmp_path)
    lines[1] = lines[1].replace(b'{"seq":2,', b'{"seq":7,')
    rewrite(tmp_path, lines)
    ok, message = verify(tmp_path)
    assert not ok and message.startswith("record 2 (line 2) was edited")


def test_line_that_is_not_json_fails(tmp_path, clock):
    write_chain(tmp_path, 4)
    lines = lines_of(tmp_path)
    lines[1] = lines[1][:-5]
    rewrite(tmp_path, lines)
    ok, message = verify(tmp_path)
    assert not ok and message.startswith("record 2 (line 2) is not a JSON record")


def test_removed_record_fails_naming_it(tmp_path, clock):
    write_chain(tmp_path, 5)
    lines = lines_of(tmp_path)
    del lines[2]  # record 3
    rewrite(tmp_path, lines)
    ok, message = verify(tmp_path)
    assert not ok
    assert message.startswith("record 3 (line 3) was removed")


def test_removed_first_record_fails(tmp_path, clock):
    write_chain(tmp_path, 3)
    rewrite(tmp_path, lines_of(tmp_path)[1:])
    ok, message = verify(tmp_path)
    assert not ok and message.startswith("record 1 (line 1) was removed")


def test_swapped_records_fail_naming_them(tmp_path, clock):
    write_chain(tmp_path, 5)
    lines = lines_of(tmp_path)
    lines[1], lines[2] = lines[2], lines[1]  # records 2 and 3
    rewrite(tmp_path, lines)
    ok, message = verify(tmp_path)
    assert not ok
    assert message.startswith("record 3 (line 2) is out of order")
    assert "record 2" in message and "line 3" in message


def test_missing_last_newline_fails_and_blocks_append(tmp_path, clock):
    write_chain(tmp_path, 4)
    rewrite(tmp_path, lines_of(tmp_path), newline_at_end=False)
    ok, message = verify(tmp_path)
    assert not ok
    assert message.startswith("record 4 (line 4) has no trailing newline")
    size = log_path(tmp_path).stat().st_size
    with pytest.raises(ProcessingLogError, match=r"tem privacy log --verify"):
        append(tmp_path, "run", customer="acme", outcome="done")
    assert log_path(tmp_path).stat().st_size == size  # nothing appended, nothing repaired


def test_torn_last_line_fails_and_blocks_append(tmp_path, clock):
    write_chain(tmp_path, 3)
    data = log_path(tmp_path).read_bytes()
    log_path(tmp_path).write_bytes(data + b'{"seq":4,"time":"2026-')
    ok, message = verify(tmp_path)
    assert not ok and message.startswith("record 4 (line 4) is cut short")
    with pytest.raises(ProcessingLogError, match=r"tem privacy log --verify"):
        append(tmp_path, "run", customer="acme", outcome="done")


def test_customer_filter(tmp_path, clock):
    write_chain(tmp_path, 5)
    append(tmp_path, "key_rotate", customer=None, outcome="done")
    assert [r["seq"] for r in read(tmp_path, "acme")] == [1, 3, 5]
    assert [r["seq"] for r in read(tmp_path, "globex")] == [2, 4]
    assert read(tmp_path, "initech") == []
    assert len(read(tmp_path)) == 6
    out = io.StringIO()
    assert command_log(tmp_path, "globex", False, out=out, err=io.StringIO()) == 0
    assert len(out.getvalue().splitlines()) == 2 and "acme" not in out.getvalue()


def test_format_records(tmp_path, clock):
    append(
        tmp_path,
        "erase",
        customer="acme",
        months=["2026-06", "2026-07", "2026-08", "2026-09"],
        request="ticket 1234",
        counts={"rows": 12, "files": 3},
        outcome="done",
    )
    append(tmp_path, "purge", customer="acme", months=["2026-06"], outcome="refused", detail="a run is in progress")
    first, second = format_records(read(tmp_path))
    for part in (
        "2026-10-15T09:30:00Z",
        "alice",
        "erase",
        "acme",
        "2026-06..2026-09 (4 months)",
        "ticket 1234",
        "done",
        "files=3 rows=12",
    ):
        assert part in first
    assert "refused (a run is in progress)" in second and "2026-06" in second


@pytest.mark.parametrize(
    "field, value, kind",
    [
        ("request", "+33612345678", "phone number"),
        ("request", "call 0612345678 back", "phone number"),
        ("request", "jane.doe@example.com", "email"),
        ("detail", "no subject 4915112345678 in the warehouse", "phone number"),
        ("detail", "pseudonym a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6 unknown", "pseudonym"),
        ("detail", "user@host", "email"),
    ],
)
def test_identifier_guard_refuses(tmp_path, clock, field, value, kind):
    with pytest.raises(ValueError, match=f"holds a {kind}; identifiers never enter the log"):
        append(tmp_path, "export", customer="acme", outcome="done", **{field: value})
    assert not log_path(tmp_path).exists() or log_path(tmp_path).read_bytes() == b""


@pytest.mark.parametrize("request_ref", ["DSR-2026-0042", "ticket 1234", "REQ 123456", "+123456"])
def test_identifier_guard_lets_references_pass(tmp_path, clock, request_ref):
    assert append(tmp_path, "export", customer="acme", request=request_ref, outcome="done")["request"] == request_ref
    assert check_free_text(request_ref) == request_ref


def test_check_free_text_refuses_identifiers():
    for text in ("+4915112345678", "a@b", "A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6"):
        with pytest.raises(ValueError, match="identifiers never enter the log"):
            check_free_text(text)


@pytest.mark.parametrize("value", ["3", 3.0, True, None])
def test_counts_must_be_ints(tmp_path, clock, value):
    with pytest.raises(ValueError, match="must be an int"):
        append(tmp_path, "erase", customer="acme", counts={"rows": value}, outcome="done")
    assert read(tmp_path) == []


def test_unknown_action_outcome_customer_month_refused(tmp_path, clock):
    with pytest.raises(ValueError):
        append(tmp_path, "delete", customer="acme", outcome="done")
    with pytest.raises(ValueError):
        append(tmp_path, "run", customer="acme", outcome="ok")
    with pytest.raises(ValueError):
        append(tmp_path, "run", customer="../other", outcome="done")
    with pytest.raises(ValueError):
        append(tmp_path, "run", customer="acme", months=["2026-13"], outcome="done")
    assert read(tmp_path) == []


def append_many(root: str, worker: int, n: int) -> None:
    for i in range(n):
        append(Path(root), "link", customer=f"customer-{worker}", counts={"i": i}, outcome="done")


def test_concurrent_appends_keep_one_chain(tmp_path):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=append_many, args=(str(tmp_path), w, 25)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    records = read(tmp_path)
    assert [r["seq"] for r in records] == list(range(1, 101))
    assert verify(tmp_path) == (True, "100 records, chain intact")
    for w in range(4):
        assert [r["counts"]["i"] for r in records if r["customer"] == f"customer-{w}"] == list(range(25))
