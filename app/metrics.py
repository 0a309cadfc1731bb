"""CloudWatch metrics in embedded metric format (EMF), written by Powertools for AWS Lambda:
the sink behind ``resolvers.metrics.record``.

Every metric is in the namespace ``POWERTOOLS_METRICS_NAMESPACE`` (read by Powertools; default
``StorefrontGateway``) with the dimension ``service``. A metric with dimensions of its own
(``OperationLatency`` by ``operation``, ``Errors`` by ``code``, ``OutboxMessagesParked`` by
``kind``) is written at once, alone in its EMF blob, so dimension sets are never mixed: the
line Powertools' ``single_metric`` prints, formatted here by hand (a ``json.dumps`` of one
dict: a few microseconds, where ``single_metric`` took ~50 per request). The others are
collected during a Lambda invocation and written in one blob at its end (``log_metrics`` on
the handler, :meth:`PowertoolsMetrics.flushing`); outside an invocation (uvicorn, the local
jobs loop) they are written at once as well.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)

from resolvers import metrics
from resolvers.metrics import Unit

DEFAULT_NAMESPACE = "StorefrontGateway"

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

_collecting: ContextVar[bool] = ContextVar("collecting_metrics", default=False)


class _PerInvocation(AmazonCloudWatchEMFProvider):
    """Flushes nothing when nothing was collected: most invocations (a GraphQL request) write
    only single metrics, and Powertools would warn about an empty set every time."""

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        if self.metric_set or raise_on_empty_metrics:
            super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)


class PowertoolsMetrics:
    """A :class:`resolvers.metrics.MetricsSink` writing EMF to stdout."""

    def __init__(self, *, service: str, namespace: str | None = None) -> None:
        self.service = service
        self._batch = _PerInvocation(namespace=namespace, service=service)
        self._batch.namespace = self._batch.namespace or DEFAULT_NAMESPACE
        self.namespace: str = self._batch.namespace

    def record(self, name: str, *, value: float, unit: Unit, dimensions: Mapping[str, str]) -> None:
        if dimensions or not _collecting.get():
            sys.stdout.write(self.single_blob(name, value=value, unit=unit, dimensions=dimensions))
        else:
            self._batch.add_metric(name=name, unit=unit, value=value)

    def single_blob(
        self,
        name: str,
        *,
        value: float,
        unit: Unit,
        dimensions: Mapping[str, str],
        timestamp_ms: int | None = None,
    ) -> str:
        """The EMF line ``single_metric`` prints for this one metric, newline included."""
        dims = {"service": self.service, **dimensions}
        blob = {
            "_aws": {
                "Timestamp": int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [list(dims)],
                        "Metrics": [{"Name": name, "Unit": unit}],
                    }
                ],
            },
            **dims,
            name: [float(value)],
        }
        return json.dumps(blob, separators=(",", ":")) + "\n"

    def flushing(self, handler: Handler) -> Handler:
        """``handler`` collecting the metrics without dimensions of their own, written in one
        blob when it returns or raises."""
        flushed: Handler = self._batch.log_metrics(handler, raise_on_empty_metrics=False)

        @functools.wraps(handler)
        def collecting(event: dict[str, Any], context: Any) -> dict[str, Any]:
            token = _collecting.set(True)
            try:
                return flushed(event, context)
            finally:
                _collecting.reset(token)

        return collecting


def configure_metrics(*, service: str) -> PowertoolsMetrics:
    """Idempotent: install the Powertools sink once per process (per service name)."""
    current = metrics.installed()
    if isinstance(current, PowertoolsMetrics) and current.service == service:
        return current
    sink = PowertoolsMetrics(service=service)
    metrics.install(sink)
    return sink
