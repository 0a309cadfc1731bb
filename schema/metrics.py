"""What GraphQL tells the request metrics (``app/middleware.py`` measures the request itself).

* :class:`OperationMetrics` names the request's operation in ``scope["state"]["operation"]``
  (the ``operation`` of ``OperationLatency``), and counts the errors of the result by their
  ``extensions.code`` (``Errors``), as shaped by :class:`schema.errors.ErrorShaping`.
* :func:`count_user_error`: a typed error of a mutation payload counts too, by its code.

The name is the operation's own, when the document was valid and names it (at most
``MAX_OPERATION_NAME`` characters: a metric dimension); else the request is ``anonymous``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from starlette.types import Scope
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionResult

from domain.errors import DomainError
from resolvers import metrics

OPERATION_STATE_KEY = "operation"
MAX_OPERATION_NAME = 64


def operation_of(scope: Scope) -> str | None:
    """The GraphQL operation this request served, when it named a valid one."""
    name = (scope.get("state") or {}).get(OPERATION_STATE_KEY)
    return name if isinstance(name, str) and name else None


def count_user_error(error: DomainError) -> None:
    metrics.record(metrics.ERRORS, code=error.code.value)


class OperationMetrics(SchemaExtension):
    """Listed before :class:`ErrorShaping`, so it sees the errors once they are shaped."""

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context
        result = context.result
        if not isinstance(result, (GraphQLExecutionResult, ExecutionResult)):
            return
        request: Any = getattr(context.context, "request", None)
        name = context.operation_name
        if request is not None and name and len(name) <= MAX_OPERATION_NAME and _ran(result):
            request.scope.setdefault("state", {})[OPERATION_STATE_KEY] = name
        codes = Counter(
            str((e.extensions or {}).get("code", "UNKNOWN")) for e in result.errors or []
        )
        for code, count in sorted(codes.items()):
            metrics.record(metrics.ERRORS, value=count, code=code)


def _ran(result: GraphQLExecutionResult | ExecutionResult) -> bool:
    """The document was valid and executed: data, or errors of its fields (a parse or
    validation failure has neither)."""
    return result.data is not None or any(e.path for e in result.errors or [])
