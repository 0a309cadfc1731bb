"""Text from clients: no control characters (PostgreSQL refuses NUL; logs and e-mails do not
want the rest). Line breaks and tabs are allowed where prose is (``multiline``)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from domain.errors import InvalidInput

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_text(value: str, *, field: Sequence[str], multiline: bool = False) -> str:
    pattern = _CONTROL_BUT_LINES if multiline else _CONTROL
    if pattern.search(value):
        raise InvalidInput(f"{field[-1]} contains control characters", field=field)
    return value
