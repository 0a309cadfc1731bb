"""Request id: taken from a sane ``X-Request-Id``, else API Gateway's, else a new UUID.

Stored in ``scope["state"]["request_id"]`` (GraphQL puts it in ``extensions.requestId``), in a
context variable (every log line carries it) and echoed as the ``X-Request-Id`` header.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logging import request_id_var

_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def pick_request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _SANE.match(candidate):
                return candidate
    event: Any = scope.get("aws.event")
    if isinstance(event, dict):
        context = event.get("requestContext") or {}
        candidate = context.get("requestId") if isinstance(context, dict) else None
        if isinstance(candidate, str) and _SANE.match(candidate):
            return candidate
    return str(uuid.uuid4())


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = pick_request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["x-request-id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_header)
        finally:
            request_id_var.reset(token)
