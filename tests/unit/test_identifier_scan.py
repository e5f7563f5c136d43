"""The leak scanner the end-to-end privacy tests rely on (tests/support/identifiers.py): it must find an identifier
wherever a file holds it as a value, and not where its digits only happen to be part of another value."""

import pytest

from tests.support.identifiers import leaks

EMPLOYEE_ID = "203609"


@pytest.mark.parametrize(
    "text",
    [
        f"employee_id\n{EMPLOYEE_ID}\n",
        f'{{"employee_id": "{EMPLOYEE_ID}"}}',
        f"E,{EMPLOYEE_ID},x",
        f"line {EMPLOYEE_ID}.",  # at the end of a sentence
        f"ids: [{EMPLOYEE_ID}]",
    ],
)
def test_an_identifier_held_as_a_value_is_found(tmp_path, text):
    path = tmp_path / "written.txt"
    path.write_text(text)
    assert leaks([path], {EMPLOYEE_ID}) == [(str(path), EMPLOYEE_ID)]


@pytest.mark.parametrize(
    "text",
    [
        f"sha256 dd{EMPLOYEE_ID}e9",  # inside a hex digest
        f'"timestamp": 1796196065.{EMPLOYEE_ID}, "user_message": "Finished"',  # an event's timestamp, in JSON
        f"STEP_SUCCESS|2026-12-02 07:21:05.{EMPLOYEE_ID}|savings_report",  # its time of day, in a SQLite row
        f"{EMPLOYEE_ID}7",  # a longer number
    ],
)
def test_digits_that_are_part_of_another_value_are_not_a_leak(tmp_path, text):
    path = tmp_path / "written.txt"
    path.write_text(text)
    assert leaks([path], {EMPLOYEE_ID}) == []


def test_the_file_name_is_scanned_too(tmp_path):
    path = tmp_path / f"{EMPLOYEE_ID}.json"
    path.write_text("{}")
    assert leaks([path], {EMPLOYEE_ID}) == [(str(path), EMPLOYEE_ID)]
