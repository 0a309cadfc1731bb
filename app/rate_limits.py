"""The client's address for the rate limits, and the callback route's own limit.

:class:`ClientAddress` finds who is calling (``domain/client_ip.py``) and puts the key it is
counted under in ``scope["state"]["client_ip"]``: on Lambda the ``sourceIp`` API Gateway saw
(``requestContext.http`` in an HTTP API v2 event, ``requestContext.identity`` in a REST v1
one), else the ASGI ``client``; ``X-Forwarded-For`` only from a trusted proxy. GraphQL charges
its buckets in the view (``schema/http.py``), once the body is parsed. ``POST
/payments/razorpay/callback`` is charged here, per IP, before its form is read: over the limit
it answers 429 in JSON (never the redirect). Webhooks, ``/healthz`` and ``/readyz`` are never
limited.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from domain.client_ip import (
    CLIENT_IP_STATE_KEY,
    IPNetwork,
    client_address,
    forwarded_chain,
    rate_key,
)
from domain.rate_limits import RateLimited
from resolvers import rate_limits
from resolvers.deps import Deps
from schema.error_answers import error_response

logger = logging.getLogger(__name__)

CALLBACK_PATH = "/payments/razorpay/callback"


def gateway_source_ip(scope: Scope) -> str | None:
    """API Gateway's view of the peer, from the Lambda event Mangum passes in the scope."""
    event: Any = scope.get("aws.event")
    if not isinstance(event, dict):
        return None
    context = event.get("requestContext")
    if not isinstance(context, dict):
        return None
    for part in ("http", "identity"):  # HTTP API (v2), REST API (v1)
        section = context.get(part)
        if isinstance(section, dict) and isinstance(section.get("sourceIp"), str):
            return str(section["sourceIp"])
    return None


def client_key(scope: Scope, *, trusted: Sequence[IPNetwork]) -> str:
    peer = gateway_source_ip(scope)
    if peer is None:
        client = scope.get("client")
        peer = str(client[0]) if client else None
    forwarded = forwarded_chain(
        value.decode("latin-1")
        for name, value in scope.get("headers", [])
        if name == b"x-forwarded-for"
    )
    return rate_key(client_address(peer=peer, forwarded_for=forwarded, trusted=trusted))


class ClientAddress:
    def __init__(
        self, app: ASGIApp, *, trusted: Sequence[IPNetwork], deps: Callable[[], Deps]
    ) -> None:
        self.app = app
        self.trusted = tuple(trusted)
        self.deps = deps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = client_key(scope, trusted=self.trusted)
        state = scope.setdefault("state", {})
        state[CLIENT_IP_STATE_KEY] = key
        if scope.get("path") == CALLBACK_PATH and scope.get("method") == "POST":
            try:
                await rate_limits.admit_callback(self.deps(), ip=key)
            except RateLimited as exc:
                logger.warning("checkout callback rate limited", extra={"client_ip": key})
                request_id = str(state.get("request_id") or "")
                answer = error_response(
                    exc.message,
                    status=429,
                    code=exc.code.value,
                    request_id=request_id,
                    headers={"Retry-After": str(exc.retry_after)},
                    extensions={"retryAfter": exc.retry_after},
                )
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)
