"""Assemble the schema from the per-domain Query/Mutation types."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql.error import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types.execution import ExecutionContext

from schema.admin import AdminCatalogMutation
from schema.carts import CartMutation, CartQuery
from schema.catalog import CatalogQuery
from schema.cost import QueryCostLimiter
from schema.errors import ErrorShaping
from schema.metrics import OperationMetrics
from schema.parsing import CACHE_SIZE, MAX_TOKENS, SharedParserCache
from schema.payments import PaymentMutation, PaymentQuery
from schema.refunds import RefundMutation
from schema.sales import SalesQuery
from schema.viewer import ViewerQuery

Query = merge_types("Query", (CatalogQuery, ViewerQuery, CartQuery, PaymentQuery, SalesQuery))
Mutation = merge_types(
    "Mutation", (CartMutation, PaymentMutation, RefundMutation, AdminCatalogMutation)
)


class StorefrontSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Logging happens in :class:`ErrorShaping`, once, with the request id."""


# Breadth, not only depth: a request may not fan out into thousands of resolvers
# (schema/parsing.py MAX_TOKENS). GraphiQL's introspection query uses no aliases.
MAX_ALIASES = 30
# Parsed documents (schema/parsing.py, shared with the rate limits) and validation answers
# kept per process, CACHE_SIZE of each (LRU, bounded: unique query texts cannot grow memory).
# A persisted query or a storefront page's query hits after its first use.
DEFAULT_MAX_QUERY_COST = 5_000  # app/settings.py:max_query_cost says why
DEFAULT_PAGE_SIZE = 20


def build_schema(
    *,
    max_depth: int = 12,
    max_cost: int = DEFAULT_MAX_QUERY_COST,
    default_page_size: int = DEFAULT_PAGE_SIZE,
    introspection: bool = True,
    max_batch_operations: int | None = None,
) -> strawberry.Schema:
    """Built once per process. The validation rules are classes made here, once: the same
    classes on every request are what lets ValidationCache answer a document it has seen.
    Without ``introspection`` (production's default) ``__schema`` and ``__type`` are refused.
    ``max_batch_operations``: accept a JSON list of operations in one request, at most that
    many (None: batching off, a list answers 400)."""
    rules = [
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
    ]
    if not introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    extensions: list[Any] = [
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),  # a parse option, no rule
        SharedParserCache,  # one parse per request: the rate limits read the same document
        lambda: AddValidationRules(rules),
        lambda: ValidationCache(maxsize=CACHE_SIZE),
        # after ValidationCache: it prices documents that are valid, before they run
        lambda: QueryCostLimiter(limit=max_cost, default_page_size=default_page_size),
        OperationMetrics,  # before ErrorShaping: it sees the shaped errors
        ErrorShaping,
    ]
    config = StrawberryConfig(
        batching_config=None
        if max_batch_operations is None
        else {"max_operations": max_batch_operations}
    )
    return StorefrontSchema(query=Query, mutation=Mutation, extensions=extensions, config=config)


def print_sdl() -> str:
    return build_schema().as_str() + "\n"
