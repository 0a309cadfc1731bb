"""Error shaping: expected failures keep their code; anything else is masked and logged.

Every error leaves with ``extensions.code``:

* a :class:`domain.errors.DomainError` → its code (and ``field``), message kept;
* a parse/validation error from graphql-core → ``GRAPHQL_VALIDATION_FAILED``;
* anything else → ``INTERNAL_SERVER_ERROR``, message "Internal server error", the original
  logged with the request id so support can find it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.error import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionResult

from domain.errors import DomainError

logger = logging.getLogger("storefront.graphql")

INTERNAL = "INTERNAL_SERVER_ERROR"
VALIDATION = "GRAPHQL_VALIDATION_FAILED"


def shape_error(error: GraphQLError, *, request_id: str | None) -> GraphQLError:
    original = error.original_error
    extensions = dict(error.extensions or {})
    if isinstance(original, DomainError):
        extensions["code"] = original.code.value
        if original.field:
            extensions["field"] = original.field
        message = original.message
    elif original is None or isinstance(original, GraphQLError):
        extensions.setdefault("code", VALIDATION)
        message = error.message
    else:
        logger.error(
            "unexpected error in %s",
            ".".join(str(p) for p in error.path or []) or "operation",
            exc_info=original,
            extra={"request_id": request_id},
        )
        extensions = {"code": INTERNAL}
        message = "Internal server error"
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


class ErrorShaping(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if not isinstance(result, (GraphQLExecutionResult, ExecutionResult)) or not result.errors:
            return
        context = self.execution_context.context
        request_id = getattr(context, "request_id", None)
        result.errors = [shape_error(e, request_id=request_id) for e in result.errors]
