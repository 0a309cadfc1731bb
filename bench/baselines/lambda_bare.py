"""The cold-start baseline: a bare Strawberry + Starlette + Mangum app answering
``{ __typename }``, built on the first invocation as ``app.lambda_handler`` builds the project.
"""

from __future__ import annotations

from typing import Any

import strawberry
from mangum import Mangum
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL

_adapter: Mangum | None = None


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "hello"


def _app() -> Starlette:
    schema = strawberry.Schema(query=Query)
    return Starlette(routes=[Route("/graphql", GraphQL(schema), methods=["GET", "POST"])])


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _adapter
    if _adapter is None:
        _adapter = Mangum(_app(), lifespan="off", api_gateway_base_path="/")
    result: dict[str, Any] = _adapter(event, context)
    return result
