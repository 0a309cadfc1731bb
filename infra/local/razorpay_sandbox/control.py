"""The test-control API under ``/_sandbox`` (no auth: loopback test tooling).

See the package README for the full reference.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from infra.local.razorpay_sandbox.api import sandbox_of
from infra.local.razorpay_sandbox.entities import collection
from infra.local.razorpay_sandbox.errors import ApiError, ControlError
from infra.local.razorpay_sandbox.faults import ORDERS
from infra.local.razorpay_sandbox.runtime import Sandbox
from infra.local.razorpay_sandbox.store import METHOD_DETAILS, Attempt

Handler = Callable[[Request, Sandbox, dict[str, Any]], Awaitable[Response]]
PAY_FIELDS = frozenset({"outcome", "method", "email", "contact", "capture", "error", "notes"})


def control(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        try:
            raw = await request.body()
            data = json.loads(raw) if raw.strip() else {}
            if not isinstance(data, dict):
                raise ControlError("the body must be a JSON object")
            return await handler(request, sandbox_of(request), data)
        except ValueError:
            return ControlError("the body is not valid JSON").response()
        except ControlError as exc:
            return exc.response()
        except ApiError as exc:
            return exc.response()

    return run


def _opt(
    data: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = None
) -> Any:
    value = data.get(name, default)
    if value is not None and (
        (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind)
    ):
        raise ControlError(f"{name} has the wrong type")
    return value


async def pay(request: Request, sandbox: Sandbox, data: dict[str, Any]) -> Response:
    unknown = sorted(set(data) - PAY_FIELDS)
    if unknown:
        raise ControlError(f"unknown fields: {', '.join(unknown)}")
    outcome = data.get("outcome", "success")
    if outcome not in ("success", "failure"):
        raise ControlError('outcome must be "success" or "failure"')
    method = _opt(data, "method", str, "upi")
    if method not in METHOD_DETAILS:
        raise ControlError(f"method must be one of {', '.join(METHOD_DETAILS)}")
    attempt = Attempt(
        success=outcome == "success",
        method=method,
        email=_opt(data, "email", str, "void@razorpay.com"),
        contact=_opt(data, "contact", str, "+919999999999"),
        capture=_opt(data, "capture", bool),
        error=_opt(data, "error", dict),
        notes=_opt(data, "notes", dict),
    )
    _, result = sandbox.pay(order_id=request.path_params["order_id"], attempt=attempt)
    return JSONResponse(result)


async def get_config(request: Request, sandbox: Sandbox, data: dict[str, Any]) -> Response:
    return JSONResponse({**sandbox.config.public(), "faults": sandbox.faults.public()})


async def set_config(request: Request, sandbox: Sandbox, data: dict[str, Any]) -> Response:
    sandbox.configure(data)
    return await get_config(request, sandbox, {})


async def reset(request: Request, sandbox: Sandbox, data: dict[str, Any]) -> Response:
    sandbox.reset()
    return JSONResponse({"reset": True})


async def list_webhooks(request: Request, sandbox: Sandbox, data: dict[str, Any]) -> Response:
    query = request.query_params
    items = [
        d.to_json()
        for d in sandbox.webhooks.deliveries
        if all(
            query.get(name) in (None, value)
            for name, value in (("event", d.event), ("status", d.status), ("event_id", d.event_id))
        )
    ]
    return JSONResponse(
        {
            **collection(items),
            "pending": sandbox.webhooks.pending,
            "held": len(sandbox.webhooks.held),
        }
    )


async def flush(request: Request, sandbox: Sandbox, data: dict[str, Any]) -> Response:
    timeout = _opt(data, "timeout", (int, float), 10.0)
    release_held = bool(_opt(data, "release_held", bool, False))
    drained = await sandbox.webhooks.flush(wait=float(timeout), release_held=release_held)
    return JSONResponse(
        {
            "drained": drained,
            "pending": sandbox.webhooks.pending,
            "held": len(sandbox.webhooks.held),
            "deliveries": len(sandbox.webhooks.deliveries),
        }
    )


async def release(request: Request, sandbox: Sandbox, data: dict[str, Any]) -> Response:
    order = data.get("order", "fifo")
    if order not in ORDERS:
        raise ControlError(f"order must be one of {', '.join(ORDERS)}")
    released = sandbox.webhooks.release(order=order, seed=_opt(data, "seed", int))
    return JSONResponse({"released": released})


async def redeliver(request: Request, sandbox: Sandbox, data: dict[str, Any]) -> Response:
    times = _opt(data, "times", int, 1)
    if times < 1:
        raise ControlError("times must be >= 1")
    made = sandbox.webhooks.redeliver(
        event_id=request.path_params["event_id"], times=times, secret=_opt(data, "secret", str)
    )
    if not made:
        return JSONResponse({"detail": "unknown event id"}, status_code=404)
    return JSONResponse(collection([d.to_json() for d in made]))


async def settle_refund(request: Request, sandbox: Sandbox, data: dict[str, Any]) -> Response:
    outcome = data.get("outcome", "processed")
    if outcome not in ("processed", "failed"):
        raise ControlError('outcome must be "processed" or "failed"')
    refund_id = request.path_params["refund_id"]
    settled = sandbox.settle_refund(refund_id=refund_id, outcome=outcome)
    if not settled:
        raise ControlError(f"{refund_id} is not a pending refund")
    return JSONResponse(sandbox.store.refund(refund_id))


def control_routes() -> list[Route]:
    def route(path: str, handler: Handler, method: str) -> Route:
        return Route(f"/_sandbox{path}", control(handler), methods=[method])

    return [
        route("/orders/{order_id}/pay", pay, "POST"),
        route("/config", get_config, "GET"),
        route("/config", set_config, "POST"),
        route("/reset", reset, "POST"),
        route("/webhooks", list_webhooks, "GET"),
        route("/webhooks/flush", flush, "POST"),
        route("/webhooks/release", release, "POST"),
        route("/webhooks/{event_id}/redeliver", redeliver, "POST"),
        route("/refunds/{refund_id}/settle", settle_refund, "POST"),
    ]
