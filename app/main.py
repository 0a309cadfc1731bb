"""The Starlette application: /graphql, /healthz, /readyz and GraphiQL's static assets.

``create_app()`` builds the app around a :class:`Container`; nothing here does I/O until the
first request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from app.container import Container, get_container
from app.graphiql import GRAPHIQL_STATIC_DIR, graphiql_html
from app.logging import configure_logging
from app.middleware import RequestIdMiddleware
from schema.build import build_schema
from schema.http import GraphQLApp

GRAPHIQL_STATIC_URL = "/static/graphiql"


def create_app(container: Container | None = None) -> Starlette:
    container = container or get_container()
    settings = container.settings
    configure_logging(level=settings.log_level, service=settings.service_name)

    graphql = GraphQLApp(
        build_schema(max_depth=settings.max_query_depth),
        deps=lambda: container.deps,
        ide_html=graphiql_html(static_url=GRAPHIQL_STATIC_URL)
        if settings.graphiql_enabled
        else None,
    )

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        checks = await container.readiness()
        ready = all(str(v).startswith("ok") for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await container.aclose()

    routes: list[BaseRoute] = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    if settings.graphiql_enabled:
        routes.append(
            Mount(GRAPHIQL_STATIC_URL, StaticFiles(directory=GRAPHIQL_STATIC_DIR), name="graphiql")
        )
    app = Starlette(routes=routes, middleware=[Middleware(RequestIdMiddleware)], lifespan=lifespan)
    app.state.container = container
    return app
