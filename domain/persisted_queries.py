"""Automatic persisted queries, Apollo's protocol (API.md "Caching and persisted queries").

A client sends ``extensions.persistedQuery = {"version": 1, "sha256Hash": "<hex>"}``:

* without ``query``: the server runs the query it stored under that hash, or answers
  ``PERSISTED_QUERY_NOT_FOUND`` with the message Apollo clients look for
  (``PersistedQueryNotFound``), and the client sends the hash again with the query;
* with ``query``: the hash must be the SHA-256 of the query text (else
  ``PERSISTED_QUERY_HASH_MISMATCH``, nothing stored); the server stores it and runs it.

Pure rules only: the store is a port (``domain.ports.PersistedQueryStore``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from domain.errors import DomainError, ErrorCode

EXTENSION = "persistedQuery"
VERSION = 1
# the longest query text stored (a longer one still runs, it is just not remembered); the
# parser's token limit (schema/build.py) refuses far shorter documents anyway
MAX_QUERY_BYTES = 32 * 1024
TTL_SECONDS = 7 * 24 * 3600
_HASH = re.compile(r"^[0-9a-f]{64}$")


class PersistedQueryNotFound(DomainError):
    code = ErrorCode.PERSISTED_QUERY_NOT_FOUND

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotFound")  # what Apollo clients match on


class PersistedQueryHashMismatch(DomainError):
    code = ErrorCode.PERSISTED_QUERY_HASH_MISMATCH

    def __init__(self) -> None:
        super().__init__("provided sha256Hash does not match the query")


class PersistedQueryNotSupported(DomainError):
    code = ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED

    def __init__(self, detail: str) -> None:
        super().__init__(f"PersistedQueryNotSupported: {detail}")


def query_hash(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def requested_hash(extensions: Mapping[str, Any] | None) -> str | None:
    """The hash a request names (lower-case hex), None when it uses no persisted query;
    raises :class:`PersistedQueryNotSupported` for a malformed extension or another version."""
    if not extensions or EXTENSION not in extensions:
        return None
    persisted = extensions[EXTENSION]
    if not isinstance(persisted, Mapping):
        raise PersistedQueryNotSupported("persistedQuery must be an object")
    if persisted.get("version") != VERSION:
        raise PersistedQueryNotSupported("only version 1 is supported")
    value = persisted.get("sha256Hash")
    if not isinstance(value, str) or not _HASH.match(value.lower()):
        raise PersistedQueryNotSupported("sha256Hash must be 64 hexadecimal digits")
    return value.lower()


def check_query(sha256_hash: str, query: str) -> None:
    """A query sent with its hash: refused unless the hash is the query's."""
    if query_hash(query) != sha256_hash:
        raise PersistedQueryHashMismatch()


def storable(query: str) -> bool:
    return len(query.encode()) <= MAX_QUERY_BYTES
