"""Pure rules of persisted queries and the response cache's key."""

from __future__ import annotations

import hashlib

import pytest

from domain.errors import ErrorCode
from domain.persisted_queries import (
    MAX_QUERY_BYTES,
    PersistedQueryHashMismatch,
    PersistedQueryNotSupported,
    check_query,
    requested_hash,
    storable,
)
from domain.response_cache import response_key

QUERY = "{ offers { code } }"
HASH = hashlib.sha256(QUERY.encode()).hexdigest()


def test_the_requested_hash_is_read_from_the_extension() -> None:
    assert requested_hash(None) is None
    assert requested_hash({"other": 1}) is None
    extension = {"persistedQuery": {"version": 1, "sha256Hash": HASH.upper()}}
    assert requested_hash(extension) == HASH


@pytest.mark.parametrize(
    "persisted",
    [
        "abc",
        {"version": 2, "sha256Hash": HASH},
        {"version": 1},
        {"version": 1, "sha256Hash": "z" * 64},
        {"version": 1, "sha256Hash": HASH[:-1]},
    ],
)
def test_a_malformed_extension_is_not_supported(persisted: object) -> None:
    with pytest.raises(PersistedQueryNotSupported) as caught:
        requested_hash({"persistedQuery": persisted})
    assert caught.value.code == ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED


def test_the_hash_must_be_the_query_s() -> None:
    check_query(HASH, QUERY)
    with pytest.raises(PersistedQueryHashMismatch):
        check_query(HASH, QUERY + " ")


def test_long_queries_are_not_stored() -> None:
    assert storable(QUERY)
    assert not storable("x" * (MAX_QUERY_BYTES + 1))


def test_the_key_changes_with_everything_that_shapes_the_answer() -> None:
    base = {
        "namespace": "n",
        "document": QUERY,
        "operation_name": None,
        "variables": {"a": 1, "b": 2},
        "catalog_version": 7,
    }
    key = response_key(**base)  # type: ignore[arg-type]
    assert response_key(**(base | {"variables": {"b": 2, "a": 1}})) == key  # type: ignore[arg-type]
    for change in (
        {"namespace": "m"},
        {"document": "{ offers { id } }"},
        {"operation_name": "A"},
        {"variables": {"a": 2, "b": 2}},
        {"catalog_version": 8},
    ):
        assert response_key(**(base | change)) != key  # type: ignore[arg-type]
