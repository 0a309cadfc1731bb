"""The Razorpay API under ``/v1``: orders, payments, captures, refunds (HTTP Basic auth)."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from infra.local.razorpay_sandbox import validation
from infra.local.razorpay_sandbox.config import SandboxConfig
from infra.local.razorpay_sandbox.entities import JSON, collection
from infra.local.razorpay_sandbox.errors import AUTH_FAILED_BODY, ApiError, server_error
from infra.local.razorpay_sandbox.runtime import Sandbox

logger = logging.getLogger(__name__)
Handler = Callable[[Request, Sandbox], Awaitable[JSON]]


def sandbox_of(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def authorized(request: Request, *, config: SandboxConfig) -> bool:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    key_id, _, key_secret = decoded.partition(":")
    return hmac.compare_digest(key_id, config.key_id) and hmac.compare_digest(
        key_secret, config.key_secret
    )


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        sandbox = sandbox_of(request)
        if not authorized(request, config=sandbox.config):
            return JSONResponse(AUTH_FAILED_BODY, status_code=401)
        try:
            return JSONResponse(await handler(request, sandbox))
        except ApiError as exc:
            return exc.response()
        except Exception:  # a sandbox bug: answer like Razorpay's 5xx, and log it
            logger.exception("sandbox error on %s %s", request.method, request.url.path)
            return server_error().response()

    return run


async def read_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        return validation.form_to_json({k: str(v) for k, v in form.items()})
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ApiError("The request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError("The request body should be a JSON object")
    return data


def _int_param(request: Request, name: str, *, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) > maximum:
        raise ApiError(f"The {name} must be an integer between 0 and {maximum}.", field=name)
    return int(raw)


async def create_order(request: Request, sandbox: Sandbox) -> JSON:
    order = validation.order_request(await read_body(request))
    return sandbox.store.create_order(order)


async def list_orders(request: Request, sandbox: Sandbox) -> JSON:
    items = sandbox.store.list_orders(
        receipt=request.query_params.get("receipt"),
        skip=_int_param(request, "skip", default=0, maximum=10**9),
        count=_int_param(request, "count", default=10, maximum=100),
    )
    return collection(items)


async def fetch_order(request: Request, sandbox: Sandbox) -> JSON:
    return sandbox.store.order(request.path_params["id"])


async def order_payments(request: Request, sandbox: Sandbox) -> JSON:
    return collection(sandbox.store.order_payments(request.path_params["id"]))


async def fetch_payment(request: Request, sandbox: Sandbox) -> JSON:
    return sandbox.store.payment(request.path_params["id"])


async def capture_payment(request: Request, sandbox: Sandbox) -> JSON:
    data = await read_body(request)
    validation.reject_unknown(data, allowed=frozenset({"amount", "currency"}))
    sandbox.store.payment(request.path_params["id"])  # unknown ids first, as Razorpay does
    amount = validation.amount(data.get("amount"))
    assert amount is not None
    currency = data.get("currency")
    return sandbox.capture(
        payment_id=request.path_params["id"],
        amount=amount,
        currency=None if currency is None else validation.currency(currency),
    )


async def refund_payment(request: Request, sandbox: Sandbox) -> JSON:
    key = validation.idempotency_key(request.headers.get("x-refund-idempotency"))
    sandbox.store.payment(request.path_params["id"])
    refund = validation.refund_request(await read_body(request))
    return sandbox.refund(payment_id=request.path_params["id"], request=refund, idempotency_key=key)


async def payment_refunds(request: Request, sandbox: Sandbox) -> JSON:
    return collection(sandbox.store.payment_refunds(request.path_params["id"]))


async def payment_refund(request: Request, sandbox: Sandbox) -> JSON:
    return sandbox.store.refund(request.path_params["rid"], payment_id=request.path_params["id"])


async def fetch_refund(request: Request, sandbox: Sandbox) -> JSON:
    return sandbox.store.refund(request.path_params["id"])


def api_routes() -> list[Route]:
    def route(path: str, handler: Handler, method: str) -> Route:
        return Route(f"/v1{path}", endpoint(handler), methods=[method])

    return [
        route("/orders", create_order, "POST"),
        route("/orders", list_orders, "GET"),
        route("/orders/{id}", fetch_order, "GET"),
        route("/orders/{id}/payments", order_payments, "GET"),
        route("/payments/{id}", fetch_payment, "GET"),
        route("/payments/{id}/capture", capture_payment, "POST"),
        route("/payments/{id}/refund", refund_payment, "POST"),
        route("/payments/{id}/refunds", payment_refunds, "GET"),
        route("/payments/{id}/refunds/{rid}", payment_refund, "GET"),
        route("/refunds/{id}", fetch_refund, "GET"),
    ]


async def http_error(request: Request, exc: Exception) -> Response:
    """Unknown ``/v1`` URLs answer like Razorpay (JSON); everything else plainly."""
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/v1/"):
        return ApiError(
            "The requested URL was not found on the server.", source="NA", step="NA", reason="NA"
        ).response()
    return PlainTextResponse(exc.detail, status_code=exc.status_code)
