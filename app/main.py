"""The Starlette application: /graphql, /healthz, /readyz and GraphiQL's static assets.

``create_app()`` builds the app around a :class:`Container`; nothing here does I/O until the
first request.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from app.container import Container, get_container
from app.graphiql import GRAPHIQL_STATIC_DIR, graphiql_page
from app.guards import (
    ErrorBoundary,
    JsonCORS,
    RequestTimeout,
    SecurityHeaders,
    http_exception_answer,
    server_error_answer,
)
from app.hot_path import CachedAnswers
from app.logging import configure_logging
from app.metrics import configure_metrics
from app.middleware import BodySizeLimit, RequestIdMiddleware, RequestMetrics
from app.rate_limits import ClientAddress
from app.secrets import SecretsNotReady
from app.settings import Settings
from app.storefront import STOREFRONT_DIR, storefront_mount
from auth.backend import CognitoAuthBackend, TokenVerifier, auth_error_of, principal_of
from domain.effects import Effect
from domain.identity import Principal
from domain.webhooks import MAX_BODY_BYTES
from resolvers import outbox, payments, webhooks
from schema.build import build_schema
from schema.cost import request_weight
from schema.error_answers import SERVICE_UNAVAILABLE, error_response, request_id_in
from schema.http import GraphQLApp, Identity
from schema.response_cache import ResponseCache

GRAPHIQL_STATIC_URL = "/static/graphiql"
MAX_GRAPHQL_BODY_BYTES = 100 * 1024

logger = logging.getLogger(__name__)


class LazyVerifier:
    """The container's verifier, built on the first token to verify: creating the app, and
    every request without an ``Authorization`` header, never loads the JWKS client (httpx,
    PyJWT, cryptography)."""

    def __init__(self, verifier: Callable[[], TokenVerifier]) -> None:
        self._verifier = verifier

    async def verify(self, token: str) -> Principal:
        return await self._verifier().verify(token)


class FreshSecrets:
    """Each request starts with the current secrets (re-read once their cache is due: a
    rotation is picked up without a restart). Without them yet, 503 in JSON, with the request
    id; ``/healthz`` answers regardless."""

    def __init__(self, app: ASGIApp, *, container: Container) -> None:
        self.app = app
        self.container = container

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") != "/healthz":
            try:
                await self.container.refresh_secrets()
            except SecretsNotReady as exc:
                logger.error("secrets not ready: %s", exc)
                answer = error_response(
                    "the service is starting: try again shortly",
                    status=503,
                    code=SERVICE_UNAVAILABLE,
                    request_id=request_id_in(scope),
                    headers={"Retry-After": "5"},
                )
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


AFTER_ANSWER_BUDGET_SECONDS = 10.0


async def _carry_out(container: Container, effects: Sequence[Effect]) -> None:
    """A webhook's effects, after its answer went out; the scheduled job does what is left."""
    try:
        await outbox.dispatch_effects(container.deps, effects, budget=AFTER_ANSWER_BUDGET_SECONDS)
    except Exception:
        logger.exception("dispatch after a webhook's answer failed; the job goes on")


def _answer_guards(settings: Settings) -> list[Middleware]:
    """Outside everything but the request id, so every answer (error answers too) gets them."""
    return [
        Middleware(SecurityHeaders, hsts=settings.environment == "production"),
        Middleware(
            JsonCORS,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type", "accept", "x-request-id"],
            expose_headers=["x-request-id", "retry-after"],
            max_age=600,
        ),
    ]


def _log_explicit_production_choices(settings: Settings) -> None:
    if settings.environment != "production":
        return
    for name in ("graphiql_enabled", "introspection_enabled"):
        if getattr(settings, name):
            logger.warning("%s is on in production (set explicitly)", name.upper())


def _graphql_app(container: Container) -> GraphQLApp:
    """/graphql: the schema with its limits, the rate limits' cost of a request, the IDE page
    and the response cache."""
    settings = container.settings

    def identify(request: Request) -> Identity:
        return principal_of(request.user), auth_error_of(request.user)

    def response_cache() -> ResponseCache | None:
        store = container.response_store
        if store is None:
            return None
        return ResponseCache(
            store=store,
            version=container.catalog_version,
            # what shapes an answer besides the schema (a cached cost names the limit)
            namespace=f"{settings.max_query_cost}:{settings.default_page_size}",
        )

    ide_page = graphiql_page(settings, static_url=GRAPHIQL_STATIC_URL)
    schema = build_schema(
        max_depth=settings.max_query_depth,
        max_cost=settings.max_query_cost,
        default_page_size=settings.default_page_size,
        introspection=bool(settings.introspection_enabled),
    )
    return GraphQLApp(
        schema,
        # the rate limits count a request by its query cost
        request_cost=request_weight(
            schema._schema,
            default_page_size=settings.default_page_size,
            limit=settings.max_query_cost,
        ),
        deps=lambda: container.deps,
        identify=identify,
        ide_html=ide_page[0] if ide_page else None,
        ide_csp=ide_page[1] if ide_page else None,
        persisted_queries=lambda: container.persisted_queries,
        response_cache=response_cache,
    )


def _razorpay_routes(container: Container) -> list[BaseRoute]:
    """Razorpay's two ways in: Checkout's return (a browser's form post) and webhooks."""
    settings = container.settings

    async def razorpay_callback(request: Request) -> Response:
        """Razorpay Checkout's form post: verify, then 303 to the storefront's page."""
        try:
            async with request.form(max_files=0, max_fields=50, max_part_size=64 * 1024) as form:
                fields = {k: v for k, v in form.items() if isinstance(v, str)}
            redirect = await payments.checkout_callback(container.deps, fields)
            url = redirect.url
        except HTTPException as exc:  # a form that cannot be read (bad multipart, too big)
            logger.warning("checkout callback with an unreadable form: %s", exc.detail)
            url = settings.storefront_failure_url + "?reason=error"
        except Exception:  # the browser must land somewhere: the failure page, logged
            logger.exception("checkout callback failed")
            url = settings.storefront_failure_url + "?reason=error"
        return RedirectResponse(url, status_code=303)

    async def razorpay_webhook(request: Request) -> Response:
        """Signed over the raw bytes: read them whole (bounded) before anything is parsed."""
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return error_response(
                    "request body too large", status=413, request_id=request_id_in(request.scope)
                )
        answer = await webhooks.receive(
            container.deps,
            body=bytes(body),
            signature=request.headers.get("x-razorpay-signature"),
            event_id=request.headers.get("x-razorpay-event-id"),
        )
        after = None
        if answer.effects and settings.dispatch_after_webhook_answer:
            after = BackgroundTask(_carry_out, container, answer.effects)
        return JSONResponse({"detail": answer.detail}, status_code=answer.status, background=after)

    return [
        Route("/payments/razorpay/callback", razorpay_callback, methods=["POST"]),
        Route("/webhooks/razorpay", razorpay_webhook, methods=["POST"]),
    ]


def _health_routes(container: Container) -> list[BaseRoute]:
    """/healthz (the process answers) and /readyz (its services do)."""

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        checks = await container.readiness()
        ready = all(str(v).startswith("ok") for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]


def _static_mounts(settings: Settings) -> list[BaseRoute]:
    """GraphiQL's assets and the storefront's files, each only where the settings want it."""
    mounts: list[BaseRoute] = []
    if settings.graphiql_enabled:
        mounts.append(
            Mount(GRAPHIQL_STATIC_URL, StaticFiles(directory=GRAPHIQL_STATIC_DIR), name="graphiql")
        )
    if settings.storefront_served:
        if STOREFRONT_DIR.is_dir():
            mounts.append(storefront_mount(settings))
        else:  # the Lambda bundle carries no storefront/: S3 serves it there
            logger.warning(
                "STOREFRONT_SERVED is on but %s is missing: /shop/ is not served", STOREFRONT_DIR
            )
    return mounts


def _middleware(container: Container) -> list[Middleware]:
    """The middleware stack, outermost first."""
    settings = container.settings
    return [
        Middleware(RequestIdMiddleware),
        # repeated anonymous catalog GETs answered from their bytes, before everything else
        Middleware(
            CachedAnswers,
            enabled=settings.response_cache_enabled,
            version=lambda: container.catalog_version,
            rate_limiter=lambda: container.rate_limiter,
            trusted=settings.trusted_proxy_networks,
            ttl_seconds=min(
                settings.response_cache_local_ttl_seconds, settings.response_cache_ttl_seconds
            ),
            maxsize=settings.response_cache_local_size,
        ),
        *_answer_guards(settings),
        Middleware(
            RequestMetrics,
            graphql_path="/graphql",
            # the operation of OperationLatency for the routes that are not GraphQL
            routes={
                "/webhooks/razorpay": "razorpay_webhook",
                "/payments/razorpay/callback": "razorpay_callback",
            },
        ),
        Middleware(ErrorBoundary),  # inside the metrics: they count its 500s
        Middleware(RequestTimeout, seconds=settings.request_timeout_seconds),
        # the client's address for the rate limits (GraphQL charges them in its view), and the
        # callback route's limit
        Middleware(
            ClientAddress,
            trusted=settings.trusted_proxy_networks,
            deps=lambda: container.deps,
        ),
        Middleware(FreshSecrets, container=container),
        Middleware(
            BodySizeLimit, default=1024 * 1024, per_path={"/graphql": MAX_GRAPHQL_BODY_BYTES}
        ),
        # Lazy: the verifier (and its JWKS client) is built on the first token to verify.
        Middleware(
            AuthenticationMiddleware,
            backend=CognitoAuthBackend(verifier=LazyVerifier(lambda: container.verifier)),
        ),
    ]


def create_app(container: Container | None = None) -> Starlette:
    container = container or get_container()
    settings = container.settings
    configure_logging(level=settings.log_level, service=settings.service_name)
    configure_metrics(service=settings.service_name)
    graphql = _graphql_app(container)
    _log_explicit_production_choices(settings)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await container.aclose()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            *_razorpay_routes(container),
            *_health_routes(container),
            *_static_mounts(settings),
        ],
        middleware=_middleware(container),
        lifespan=lifespan,
        # the router's 404/405 and Starlette's last resort: JSON with the request id
        exception_handlers={HTTPException: http_exception_answer, 500: server_error_answer},
    )
    app.state.container = container
    return app
