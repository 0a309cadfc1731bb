"""JSON logs for CloudWatch, each line carrying the request id of the request being served.

A line logged with ``extra=resolvers.metrics.metric(name, …)`` is also a metric: it is written
in CloudWatch's embedded metric format (``_aws.CloudWatchMetrics``, namespace = the service
name, the metric's value and dimensions as top-level fields) and keeps ``"metric": name``."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, *, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self._service,
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            payload["requestId"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key != "request_id":
                payload[key] = value
        metric = payload.get("metric")
        if isinstance(metric, dict) and metric.get("name"):
            payload.update(self._embedded_metric(metric, created=record.created))
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)

    def _embedded_metric(self, metric: dict[str, Any], *, created: float) -> dict[str, object]:
        name = str(metric["name"])
        dimensions = {str(k): str(v) for k, v in dict(metric.get("dimensions") or {}).items()}
        return {
            "metric": name,
            name: metric.get("value", 1),
            **dimensions,
            "_aws": {
                "Timestamp": int(created * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self._service,
                        "Dimensions": [sorted(dimensions)],
                        "Metrics": [{"Name": name, "Unit": str(metric.get("unit", "Count"))}],
                    }
                ],
            },
        }


def configure_logging(*, level: str, service: str) -> None:
    """Idempotent: a warm Lambda or a test building many apps configures the root logger once."""
    root = logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, "_storefront", False):
            root.setLevel(level)
            return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service=service))
    handler._storefront = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
