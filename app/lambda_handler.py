"""AWS Lambda entry point via Mangum: API Gateway HTTP API (v2), REST (v1) and function URLs;
and EventBridge scheduled events, which run the scheduled jobs (app/jobs.py).

The ASGI app and its clients are built on the first invocation and reused while the Lambda
stays warm. ``lifespan="off"``: Mangum would otherwise run start-up and shut-down on every
invocation, closing the pools it should keep. Jobs run on Mangum's event loop, so they share
the same pools.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mangum import Mangum

_adapter: Mangum | None = None


def _get_adapter() -> Mangum:
    global _adapter
    if _adapter is None:
        from app.main import create_app

        _adapter = Mangum(create_app(), lifespan="off", api_gateway_base_path="/")
    return _adapter


def _is_scheduled(event: dict[str, Any]) -> bool:
    return "detail-type" in event and "source" in event and "requestContext" not in event


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    adapter = _get_adapter()
    if _is_scheduled(event):
        from app.container import get_container
        from app.jobs import run_scheduled

        loop = asyncio.get_event_loop()
        results = loop.run_until_complete(run_scheduled(get_container()))
        return {"ok": True, "jobs": results}
    result: dict[str, Any] = adapter(event, context)
    return result
