"""What every answer gets, whatever went wrong (API.md "Protection"):

* :class:`ErrorBoundary`: any unexpected exception answers 500 JSON, masked, with the request
  id (the exception is logged with it), if the answer has not started;
* :class:`RequestTimeout`: a request not answered within ``request_timeout_seconds`` answers
  504 JSON; once the answer has started (a webhook's background task runs after it) no
  deadline applies;
* :class:`SecurityHeaders`: ``nosniff``, ``Referrer-Policy``, ``X-Frame-Options``, HSTS in
  production, and a Content-Security-Policy on HTML answers that set none themselves;
* :class:`JsonCORS`: Starlette's CORS middleware whose refused preflight is JSON too;
* :func:`http_exception_answer` (the router's 404 and 405) and :func:`server_error_answer`
  (Starlette's last resort, outside every middleware) in the same JSON shape.

The shape itself is ``schema/error_answers.py``'s.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schema.error_answers import (
    INTERNAL_SERVER_ERROR,
    TIMEOUT,
    error_response,
    request_id_in,
    send_error,
)

logger = logging.getLogger("storefront.errors")

INTERNAL_ERROR_MESSAGE = "internal error"
TIMEOUT_MESSAGE = "the request took too long: try again"

# A strict policy for any HTML answer that brings none of its own (GraphiQL brings its own).
DEFAULT_HTML_CSP = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
HSTS = "max-age=31536000; includeSubDomains"


class ErrorBoundary:
    """Placed inside RequestIdMiddleware (so the id and its log keys are set) and outside
    everything else: nothing answers a bare 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            request_id = request_id_in(scope)
            logger.exception(
                "unexpected error answering %s %s",
                scope.get("method"),
                scope.get("path"),
                extra={"request_id": request_id},
            )
            if started:  # nothing more can be said to the client: the server closes it
                raise
            await send_error(
                send,
                INTERNAL_ERROR_MESSAGE,
                status=500,
                code=INTERNAL_SERVER_ERROR,
                request_id=request_id,
            )


class RequestTimeout:
    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        deadline = asyncio.timeout(self.seconds)

        async def send_without_deadline(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                started = True
                deadline.reschedule(None)  # the answer is on its way; what follows may take long
            await send(message)

        try:
            async with deadline:
                await self.app(scope, receive, send_without_deadline)
        except TimeoutError:
            if started or not deadline.expired():  # not ours: the boundary masks it
                raise
            request_id = request_id_in(scope)
            logger.error(
                "request timed out after %ss: %s %s",
                self.seconds,
                scope.get("method"),
                scope.get("path"),
                extra={"request_id": request_id},
            )
            await send_error(send, TIMEOUT_MESSAGE, status=504, code=TIMEOUT, request_id=request_id)


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("referrer-policy", "no-referrer")
                headers.setdefault("x-frame-options", "DENY")
                if self.hsts:
                    headers.setdefault("strict-transport-security", HSTS)
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("content-security-policy", DEFAULT_HTML_CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class JsonCORS(CORSMiddleware):
    """Starlette's CORS, but a refused preflight is the JSON error (with its CORS headers)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") == "OPTIONS":
            headers = Headers(scope=scope)
            if "origin" in headers and "access-control-request-method" in headers:
                answer = self.preflight_response(request_headers=headers)
                if answer.status_code != 200:
                    refused = bytes(answer.body).decode("utf-8", "replace")
                    kept = {
                        k: v
                        for k, v in answer.headers.items()
                        if k not in ("content-type", "content-length")
                    }
                    response = error_response(
                        refused, status=400, request_id=request_id_in(scope), headers=kept
                    )
                    await response(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)


async def http_exception_answer(request: Request, exc: Exception) -> Response:
    """The router's and static files' 404 and 405 (and any HTTPException a route raises)."""
    if not isinstance(exc, HTTPException):  # registered for HTTPException only
        raise exc
    return error_response(
        exc.detail,
        status=exc.status_code,
        request_id=request_id_in(request.scope),
        headers=exc.headers,
    )


async def server_error_answer(request: Request, exc: Exception) -> Response:
    """Starlette's ServerErrorMiddleware, outside every middleware: reached only if one of the
    outer middlewares itself fails (ErrorBoundary answers everything inside)."""
    return error_response(
        INTERNAL_ERROR_MESSAGE, status=500, request_id=request_id_in(request.scope)
    )
