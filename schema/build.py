"""Assemble the schema from the per-domain Query/Mutation types."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types.execution import ExecutionContext

from schema.admin import AdminCatalogMutation
from schema.carts import CartMutation, CartQuery
from schema.catalog import CatalogQuery
from schema.errors import ErrorShaping
from schema.metrics import OperationMetrics
from schema.payments import PaymentMutation, PaymentQuery
from schema.refunds import RefundMutation, SalesQuery
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


# Breadth, not only depth: a request may not fan out into thousands of resolvers. GraphiQL's
# introspection query is ~200 tokens and uses no aliases.
MAX_ALIASES = 30
MAX_TOKENS = 2_000


def build_schema(
    *, max_depth: int = 12, max_batch_operations: int | None = None
) -> strawberry.Schema:
    """``max_batch_operations``: accept a JSON list of operations in one request, at most
    that many (None: batching off, a list answers 400)."""
    extensions: list[Any] = [
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: QueryDepthLimiter(max_depth=max_depth),
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
