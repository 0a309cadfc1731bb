"""The bare app the cold start is compared with: Strawberry on Starlette behind Mangum, one
``{ __typename }``-able Query, nothing else (no settings, logging, metrics, database or cache).

``handler`` has the project's Lambda signature; ``bench/cold_start.py`` imports it in a fresh
process and answers one API Gateway v2 event with it.
"""

from __future__ import annotations

from typing import Any

import strawberry
from mangum import Mangum
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"


_app = Starlette(routes=[Route("/graphql", GraphQL(strawberry.Schema(query=Query)))])
_adapter = Mangum(_app, lifespan="off", api_gateway_base_path="/")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result: dict[str, Any] = _adapter(event, context)
    return result
