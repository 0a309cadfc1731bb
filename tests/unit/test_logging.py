"""JSON log lines, and metrics as CloudWatch embedded metric format (``app/logging.py`` with
``resolvers/metrics.py``)."""

from __future__ import annotations

import json
import logging

import pytest

from app.logging import JsonFormatter
from resolvers.metrics import metric


def line(**extra: object) -> dict[str, object]:
    record = logging.LogRecord(
        "resolvers.outbox", logging.ERROR, __file__, 1, "parked %s", ("k",), None
    )
    for name, value in extra.items():
        setattr(record, name, value)
    record.created = 1_767_225_600.25
    formatted: dict[str, object] = json.loads(
        JsonFormatter(service="storefront-gateway").format(record)
    )
    return formatted


def test_a_metric_line_is_embedded_metric_format() -> None:
    body = line(
        dedupe_key="paid:s:customer", **metric("OutboxMessagesParked", kind="notify.customer")
    )
    assert body["level"] == "ERROR"
    assert body["message"] == "parked k"
    assert body["metric"] == "OutboxMessagesParked"
    assert body["OutboxMessagesParked"] == 1
    assert body["kind"] == "notify.customer"
    assert body["dedupe_key"] == "paid:s:customer"
    assert body["_aws"] == {
        "Timestamp": 1_767_225_600_250,
        "CloudWatchMetrics": [
            {
                "Namespace": "storefront-gateway",
                "Dimensions": [["kind"]],
                "Metrics": [{"Name": "OutboxMessagesParked", "Unit": "Count"}],
            }
        ],
    }


def test_a_metric_without_dimensions_and_with_a_value() -> None:
    body = line(**metric("OutboxBacklog", value=7, unit="None"))
    aws = body["_aws"]
    assert isinstance(aws, dict)
    assert aws["CloudWatchMetrics"][0]["Dimensions"] == [[]]
    assert aws["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "OutboxBacklog", "Unit": "None"}]
    assert body["OutboxBacklog"] == 7


def test_an_ordinary_line_is_no_metric() -> None:
    body = line(kind="notify.admin")
    assert "_aws" not in body
    assert "metric" not in body


@pytest.mark.parametrize("name", ["", "has space", "a.b", "1st"])
def test_metric_names_are_identifiers(name: str) -> None:
    with pytest.raises(ValueError):
        metric(name)
