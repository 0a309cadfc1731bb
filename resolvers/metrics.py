"""Metrics, the port use cases count through: ``record(PAYMENTS_PAID)``.

A use case names the metric, its value and unit, and any dimension of its own; the sink that
writes it is installed by the composition root (``app/metrics.py``: CloudWatch embedded metric
format through Powertools, namespace ``StorefrontGateway``, dimension ``service`` on every
metric). Until one is installed nothing is written, so use cases run on fakes with no setup; a
test installs a recording sink to see what was counted.

A metric never breaks what it measures: a sink that fails is logged, and the use case goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Literal, Protocol

logger = logging.getLogger(__name__)

Unit = Literal["Count", "Seconds", "Milliseconds", "None"]

# The names the SAM template's alarms and dashboard use: change them only together.
OPERATION_LATENCY = "OperationLatency"  # Milliseconds, dimension operation (app/middleware.py)
ERRORS = "Errors"  # Count, dimension code (schema/, app/middleware.py)
PAYMENT_SESSIONS_CREATED = "PaymentSessionsCreated"  # Count (resolvers/checkout.py)
PAYMENTS_PAID = "PaymentsPaid"  # Count (resolvers/effects.py, once per sales counter key)
PAYMENTS_FAILED = "PaymentsFailed"  # Count (idem)
AMOUNT_PAID = "AmountPaid"  # None, paise (idem)
AMOUNT_REFUNDED = "AmountRefunded"  # None, paise (idem)
WEBHOOK_LAG = "WebhookLag"  # Milliseconds: received minus the event's created_at
WEBHOOK_SIGNATURE_FAILURES = "WebhookSignatureFailures"  # Count (resolvers/webhooks.py)
OUTBOX_BACKLOG = "OutboxBacklog"  # Count, a gauge: unsent messages not parked (app/jobs.py)
OUTBOX_PARKED = "OutboxParked"  # Count, a gauge: parked messages (app/jobs.py)
OUTBOX_MESSAGES_PARKED = "OutboxMessagesParked"  # Count, dimension kind (resolvers/outbox.py)


class MetricsSink(Protocol):
    def record(
        self, name: str, *, value: float, unit: Unit, dimensions: Mapping[str, str]
    ) -> None: ...


class Discard:
    """What records metrics until a sink is installed: nothing."""

    def record(self, name: str, *, value: float, unit: Unit, dimensions: Mapping[str, str]) -> None:
        return None


_sink: MetricsSink = Discard()


def install(sink: MetricsSink | None) -> MetricsSink:
    """Record every metric through ``sink`` from now on (None: discard them); answers the sink
    it replaces."""
    global _sink
    previous, _sink = _sink, sink if sink is not None else Discard()
    return previous


def installed() -> MetricsSink:
    return _sink


def record(name: str, *, value: float = 1, unit: Unit = "Count", **dimensions: str) -> None:
    """Count ``value`` of ``name`` (in ``unit``), with these dimensions of its own."""
    if not name or not name.isidentifier():
        raise ValueError(f"metric names are identifiers: {name!r}")
    try:
        _sink.record(name, value=value, unit=unit, dimensions=dimensions)
    except Exception:
        logger.warning("metric %s not recorded", name, exc_info=True)
