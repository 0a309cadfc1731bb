"""AWS Lambda entry point via Mangum: API Gateway HTTP API (v2), REST (v1) and function URLs;
and EventBridge scheduled events, which run the scheduled jobs (app/jobs.py).

The ASGI app and its clients are built on the first invocation and reused while the Lambda
stays warm. ``lifespan="off"``: Mangum would otherwise run start-up and shut-down on every
invocation, closing the pools it should keep. Jobs run on Mangum's event loop, so they share
the same pools.

Each invocation is observed with Powertools (built on the first one): its log lines carry the
Lambda context and the correlation id (``app/logging.py``), the metrics it collected are
written in one EMF blob when it ends (``app/metrics.py``), and on Lambda it is traced
(``app/tracing.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from mangum import Mangum

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

_adapter: Mangum | None = None
_observed: Handler | None = None


def _get_adapter() -> Mangum:
    global _adapter
    if _adapter is None:
        from app.main import create_app

        _adapter = Mangum(create_app(), lifespan="off", api_gateway_base_path="/")
    return _adapter


def _is_scheduled(event: dict[str, Any]) -> bool:
    return "detail-type" in event and "source" in event and "requestContext" not in event


def _answer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    adapter = _get_adapter()
    if _is_scheduled(event):
        from app.container import get_container
        from app.jobs import run_scheduled

        loop = asyncio.get_event_loop()
        results = loop.run_until_complete(run_scheduled(get_container()))
        return {"ok": True, "jobs": results}
    result: dict[str, Any] = adapter(event, context)
    return result


def _observe(handler: Handler) -> Handler:
    from app.logging import configure_logging, lambda_logging
    from app.metrics import configure_metrics
    from app.settings import get_settings
    from app.tracing import traced

    settings = get_settings()
    configure_logging(level=settings.log_level, service=settings.service_name)
    flushed = configure_metrics(service=settings.service_name).flushing(handler)
    return lambda_logging(traced(flushed, settings=settings))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _observed
    if _observed is None:
        _observed = _observe(_answer)
    return _observed(event, context)
