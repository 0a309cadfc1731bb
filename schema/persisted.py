"""Automatic persisted queries in the view (``domain/persisted_queries.py`` has the rules).

:func:`resolve` runs before anything else looks at a request (the rate limits read its query
text, the query cost prices its document): a hash-only request gets the stored query filled
in, so it is charged, priced and run exactly like the full one. A query sent with its hash is
remembered only once it turned out to be a valid document (:func:`remember`), so garbage never
fills the store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from graphql.error import GraphQLError
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from domain.errors import DomainError
from domain.persisted_queries import (
    PersistedQueryNotFound,
    PersistedQueryNotSupported,
    check_query,
    requested_hash,
    storable,
)
from domain.ports import PersistedQueryStore
from resolvers import metrics

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Resolved:
    data: GraphQLRequestData
    store_as: str | None = None  # a hash to remember the query under once it ran


def refusal(error: DomainError) -> ExecutionResult:
    metrics.record(metrics.ERRORS, code=error.code.value)
    return ExecutionResult(
        data=None,
        errors=[GraphQLError(error.message, extensions={"code": error.code.value})],
    )


async def resolve(
    data: GraphQLRequestData, *, store: PersistedQueryStore | None
) -> Resolved | ExecutionResult:
    """The request with its query, or the error answer (not found, hash mismatch)."""
    try:
        sha256_hash = requested_hash(data.extensions)
        if sha256_hash is None:
            return Resolved(data)
        if not data.query:
            query = await store.get(sha256_hash) if store is not None else None
            if query is None:
                raise PersistedQueryNotFound()
            return Resolved(replace(data, query=query))
        check_query(sha256_hash, data.query)
    except (PersistedQueryNotFound, PersistedQueryNotSupported) as exc:
        return refusal(exc)
    except DomainError as exc:  # the hash mismatch
        logger.info("persisted query refused: %s", exc.message)
        return refusal(exc)
    stored_as = sha256_hash if store is not None and storable(data.query) else None
    return Resolved(data, store_as=stored_as)


def ran(result: object) -> bool:
    """Whether the document parsed and validated (it got as far as execution)."""
    if not isinstance(result, ExecutionResult):
        return True  # a stream: it started
    errors = result.errors or []
    return result.data is not None or not errors or any(e.path for e in errors)


async def remember(
    resolved: Resolved, result: object, *, store: PersistedQueryStore | None
) -> None:
    if store is not None and resolved.store_as and resolved.data.query and ran(result):
        await store.put(resolved.store_as, resolved.data.query)
