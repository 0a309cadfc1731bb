"""Metrics as log fields: ``logger.error("…", extra=metric("OutboxMessagesParked", kind=…))``.

A use case names the metric and its dimensions; ``app/logging.py`` writes the line in
CloudWatch's embedded metric format (EMF), so CloudWatch Logs turns it into a metric with no
API call, and the line stays greppable by its ``metric`` field.
"""

from __future__ import annotations

from typing import Literal

Unit = Literal["Count", "Seconds", "Milliseconds", "None"]


def metric(
    name: str, *, value: float = 1, unit: Unit = "Count", **dimensions: str
) -> dict[str, object]:
    """The ``extra`` fields of a log line that counts ``value`` of ``name``."""
    if not name or not name.isidentifier():
        raise ValueError(f"metric names are identifiers: {name!r}")
    return {"metric": {"name": name, "value": value, "unit": unit, "dimensions": dimensions}}
