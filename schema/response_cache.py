"""Which answers the response cache may keep, and how it is used (API.md "Caching and
persisted queries"). The storage is behind ports (``domain.ports.ResponseStore``,
``CatalogVersion``); keys are ``domain.response_cache.response_key``.

Cacheable: a query (never a mutation or subscription) whose root fields are all among
``products``, ``product`` and ``offers`` (fragments and aliases looked through), sent with no
``Authorization`` header by nobody signed in. Only answers without errors are stored, with
their ``extensions`` (the cost) and never the request id, which each answer gets fresh.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    FragmentDefinitionNode,
    OperationDefinitionNode,
    OperationType,
    parse,
    print_ast,
)
from graphql.error import GraphQLError

from domain.ports import CatalogVersion, ResponseStore
from domain.response_cache import response_key
from schema.rate_limits import MAX_TOKENS, root_fields

CATALOG_FIELDS = frozenset({"products", "product", "offers"})
# a longer document is never cached (nor memoised: the memo stays a few MB at most)
MAX_CACHEABLE_QUERY_CHARS = 8 * 1024
# the catalog version a request's cacheable answer was made at (``scope["state"]``), for the
# hot path in front of the stack (``app/hot_path.py``); False when its operations saw two
CATALOG_VERSION_STATE_KEY = "catalog_version"


@dataclass(frozen=True, slots=True)
class ResponseCache:
    store: ResponseStore
    version: CatalogVersion
    namespace: str  # the settings that shape answers (query cost limit, page size…)


def catalog_document(query: str, operation_name: str | None) -> str | None:
    """The normalised text of ``query`` when the operation that runs is a catalog-only query,
    else None (bounded memo: a storefront sends the same few documents)."""
    if len(query) > MAX_CACHEABLE_QUERY_CHARS:
        return None
    return _catalog_document(query, operation_name)


@lru_cache(maxsize=512)
def _catalog_document(query: str, operation_name: str | None) -> str | None:
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except GraphQLError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation != OperationType.QUERY:
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    fields = set(root_fields(operations[0].selection_set, fragments, seen=set()))
    if not fields or not fields <= CATALOG_FIELDS:
        return None
    return print_ast(document)


def schema_namespace(sdl: str, settings_namespace: str) -> str:
    """A deploy with another schema or other limits never reads the previous one's entries."""
    return hashlib.sha256(f"{settings_namespace}\n{sdl}".encode()).hexdigest()[:16]


async def cache_key(
    cache: ResponseCache,
    *,
    namespace: str,
    query: str | None,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    state: MutableMapping[str, Any] | None = None,
) -> str | None:
    """The entry a request reads and fills, None when it is not cacheable now (not a
    catalog-only query, or the catalog version is unknown: its store is down). The version
    used is noted in ``state`` (:data:`CATALOG_VERSION_STATE_KEY`)."""
    if not query:
        return None
    document = catalog_document(query, operation_name)
    if document is None:
        return None
    version = await cache.version.current()
    if version is None:
        return None
    if state is not None:
        seen = state.get(CATALOG_VERSION_STATE_KEY, version)
        state[CATALOG_VERSION_STATE_KEY] = version if seen == version else False
    return response_key(
        namespace=namespace,
        document=document,
        operation_name=operation_name,
        variables=variables,
        catalog_version=version,
    )
