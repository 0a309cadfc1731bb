"""Opaque cursors for keyset pagination (base64 of a versioned key)."""

from __future__ import annotations

import base64
import binascii

from domain.errors import InvalidInput

_PREFIX = "v1:"


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode((_PREFIX + key).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, field: str = "after") -> str:
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidInput("malformed cursor", field=[field]) from exc
    if not raw.startswith(_PREFIX) or not raw.isprintable():
        raise InvalidInput("malformed cursor", field=[field])
    return raw[len(_PREFIX) :]
