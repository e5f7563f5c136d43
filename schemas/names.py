"""Customer ids, carrier names and billing months: what a name that becomes part of a path or a storage key may be.

Checked before a name touches a path, so ``../other`` or ``Globex`` is refused up front.
"""

from __future__ import annotations

import re

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
MONTH_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class InvalidName(ValueError):
    """A customer id, carrier or month that may not be used in a path."""


def validate_id(value: str, what: str = "customer id") -> str:
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise InvalidName(
            f"{what} {value!r} is not allowed: use 2-63 characters of a-z, 0-9 and '-', starting with a letter or digit"
        )
    return value


def validate_month(value: str) -> str:
    if not isinstance(value, str) or not MONTH_PATTERN.fullmatch(value):
        raise InvalidName(f"billing month {value!r} is not of the form YYYY-MM")
    return value
