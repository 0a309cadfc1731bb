"""Request id, and each request's latency and server errors as metrics.

The request id is API Gateway's (``requestContext.requestId``, on Lambda), else a sane
``X-Request-Id`` sent by the client, else a new UUID. It is stored in
``scope["state"]["request_id"]`` (GraphQL puts it in ``extensions.requestId``), is the
``correlation_id`` of every line logged while the request is served, and is echoed as the
``X-Request-Id`` header. A client's own sane ``X-Request-Id`` is logged as ``clientRequestId``
(on Lambda it is not the request id).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logging import log_keys
from resolvers import metrics
from schema.error_answers import PAYLOAD_TOO_LARGE, request_id_in, send_error
from schema.metrics import operation_of

# API Gateway's HTTP API ids are base64 ("JKJaXmPLvHcESHA="): "=", "+" and "/" are sane too
_SANE = re.compile(r"^[A-Za-z0-9._:=+/-]{1,128}$")


def client_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _SANE.match(candidate) else None
    return None


def gateway_request_id(scope: Scope) -> str | None:
    event: Any = scope.get("aws.event")
    if isinstance(event, dict):
        context = event.get("requestContext") or {}
        candidate = context.get("requestId") if isinstance(context, dict) else None
        if isinstance(candidate, str) and _SANE.match(candidate):
            return candidate
    return None


def pick_request_id(scope: Scope) -> str:
    return gateway_request_id(scope) or client_request_id(scope) or str(uuid.uuid4())


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = pick_request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["x-request-id"] = request_id
            await send(message)

        with log_keys(correlation_id=request_id, clientRequestId=client_request_id(scope)):
            await self.app(scope, receive, send_with_header)


ANONYMOUS = "anonymous"
HTTP_5XX = "HTTP_5XX"


class RequestMetrics:
    """``OperationLatency`` (milliseconds, by ``operation``) of each request to the measured
    paths: for GraphQL the operation's name (``scope["state"]["operation"]``, set by the
    schema) or ``anonymous``; for the others the name given here. ``Errors`` with the code
    ``HTTP_5XX`` for every answer of 500 or more (and a request that raised). The latency is the
    client's wait: until the answer's last byte (a background task may run after it)."""

    def __init__(self, app: ASGIApp, *, graphql_path: str, routes: Mapping[str, str]) -> None:
        self.app = app
        self.graphql_path = graphql_path
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered: float | None = None  # when the answer's last byte went (a background task
        status: int | None = None  # may run after it: not the client's wait)
        failed = False

        async def noting_send(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                answered = time.perf_counter()

        try:
            await self.app(scope, receive, noting_send)
        except Exception:
            failed = True
            raise
        finally:
            if failed or (status is not None and status >= 500):
                metrics.record(metrics.ERRORS, code=HTTP_5XX)
            operation = self._operation(scope)
            if operation is not None and (failed or answered is not None):
                elapsed = ((answered or time.perf_counter()) - started) * 1000
                metrics.record(
                    metrics.OPERATION_LATENCY,
                    value=round(elapsed, 3),
                    unit="Milliseconds",
                    operation=operation,
                )

    def _operation(self, scope: Scope) -> str | None:
        path = scope.get("path", "")
        if path == self.graphql_path:
            return operation_of(scope) or ANONYMOUS
        return self.routes.get(path)


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuse request bodies over a limit with 413, by ``Content-Length`` or while streaming,
    before any handler buffers them."""

    def __init__(
        self, app: ASGIApp, *, default: int, per_path: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.default = default
        self.per_path = per_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope.get("path", ""), self.default)
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _too_large(scope, send)
                return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _too_large(scope, send)


async def _too_large(scope: Scope, send: Send) -> None:
    await send_error(
        send,
        "request body too large",
        status=413,
        code=PAYLOAD_TOO_LARGE,
        request_id=request_id_in(scope),
    )
