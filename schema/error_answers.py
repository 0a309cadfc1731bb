"""The one shape of every error answer given outside GraphQL execution (HTTP-level failures):

    {"errors": [{"message": ..., "extensions": {"code": ..., ...}}],
     "extensions": {"requestId": ...}}

the same shape as a GraphQL request error, so a client reads every failure one way. Used by the
GraphQL view (bad JSON, wrong content type), the middleware (413, timeout, unexpected
exception), the router (404, 405) and the start-up gate (503). No strawberry here: the app's
middleware imports it on every cold start.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import Send

BAD_REQUEST = "BAD_REQUEST"
NOT_FOUND = "NOT_FOUND"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
TIMEOUT = "TIMEOUT"

# the code of an HTTP status when the answer names none itself
_CODE_OF_STATUS = {
    400: BAD_REQUEST,
    404: NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    413: PAYLOAD_TOO_LARGE,
    500: INTERNAL_SERVER_ERROR,
    503: SERVICE_UNAVAILABLE,
    504: TIMEOUT,
}


def code_of_status(status: int) -> str:
    if status in _CODE_OF_STATUS:
        return _CODE_OF_STATUS[status]
    return INTERNAL_SERVER_ERROR if status >= 500 else BAD_REQUEST


def error_body(
    message: str,
    *,
    code: str,
    request_id: str | None,
    extensions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The error document: ``extensions`` go into the error's own extensions, next to ``code``
    (e.g. ``retryAfter``)."""
    return {
        "errors": [{"message": message, "extensions": {"code": code, **(extensions or {})}}],
        "extensions": {"requestId": request_id},
    }


def error_response(
    message: str,
    *,
    status: int,
    request_id: str | None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body = error_body(
        message, code=code or code_of_status(status), request_id=request_id, extensions=extensions
    )
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


async def send_error(
    send: Send,
    message: str,
    *,
    status: int,
    request_id: str | None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> None:
    """The same answer sent straight over ASGI, for middleware that has no Response to hand."""
    body = json.dumps(
        error_body(message, code=code or code_of_status(status), request_id=request_id),
        separators=(",", ":"),
    ).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def request_id_in(scope: Mapping[str, Any]) -> str | None:
    """The request id RequestIdMiddleware put in the scope (None outside a request)."""
    state = scope.get("state") or {}
    request_id = state.get("request_id") if isinstance(state, Mapping) else None
    return request_id if isinstance(request_id, str) else None
