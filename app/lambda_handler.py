"""AWS Lambda entry point (API Gateway HTTP API v2 / REST v1 / function URLs) via Mangum.

The ASGI app and its clients are built on the first invocation and reused while the Lambda
stays warm. ``lifespan="off"``: Mangum would otherwise run start-up and shut-down on every
invocation, closing the pools it should keep.
"""

from __future__ import annotations

from typing import Any

from mangum import Mangum

_adapter: Mangum | None = None


def _get_adapter() -> Mangum:
    global _adapter
    if _adapter is None:
        from app.main import create_app

        _adapter = Mangum(create_app(), lifespan="off", api_gateway_base_path="/")
    return _adapter


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result: dict[str, Any] = _get_adapter()(event, context)
    return result
