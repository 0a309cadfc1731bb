"""CloudWatch embedded metric format as Powertools prints it (``app/metrics.py``): namespace,
the ``service`` dimension on every metric, a blob of its own for a metric with dimensions of
its own, one blob per Lambda invocation for the others."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from app.metrics import DEFAULT_NAMESPACE, PowertoolsMetrics, configure_metrics
from resolvers import metrics

SERVICE = "storefront-gateway"


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[PowertoolsMetrics]:
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    made = PowertoolsMetrics(service=SERVICE)
    previous = metrics.install(made)
    try:
        yield made
    finally:
        metrics.install(previous)


def blobs(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = capsys.readouterr().out
    return [json.loads(x) for x in out.splitlines() if x.startswith('{"_aws"')]


def definition(blob: dict[str, Any]) -> dict[str, Any]:
    [one] = blob["_aws"]["CloudWatchMetrics"]
    assert isinstance(blob["_aws"]["Timestamp"], int)
    return dict(one)


@pytest.mark.parametrize(
    ("name", "value", "unit", "dimensions"),
    [
        ("OperationLatency", 12.5, "Milliseconds", {"operation": "Shelf"}),
        ("Errors", 2, "Count", {"code": "INVALID_INPUT"}),
        ("OutboxMessagesParked", 1, "Count", {"kind": "notify.customer"}),
    ],
)
def test_a_metric_with_its_own_dimensions_is_a_blob_of_its_own(
    sink: PowertoolsMetrics,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: float,
    unit: metrics.Unit,
    dimensions: dict[str, str],
) -> None:
    capsys.readouterr()
    metrics.record(name, value=value, unit=unit, **dimensions)
    [blob] = blobs(capsys)
    assert definition(blob) == {
        "Namespace": "StorefrontGateway",
        "Dimensions": [["service", *dimensions]],
        "Metrics": [{"Name": name, "Unit": unit}],
    }
    assert blob[name] == [float(value)]
    assert blob["service"] == SERVICE
    for key, dimension in dimensions.items():
        assert blob[key] == dimension


def test_outside_an_invocation_every_metric_is_written_at_once(
    sink: PowertoolsMetrics, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    metrics.record("AmountPaid", value=11_800, unit="None")
    metrics.record("WebhookSignatureFailures")
    paid, refused = blobs(capsys)
    assert definition(paid) == {
        "Namespace": DEFAULT_NAMESPACE,
        "Dimensions": [["service"]],
        "Metrics": [{"Name": "AmountPaid", "Unit": "None"}],
    }
    assert paid["AmountPaid"] == [11_800.0]
    assert definition(refused)["Metrics"] == [{"Name": "WebhookSignatureFailures", "Unit": "Count"}]
    assert refused["WebhookSignatureFailures"] == [1.0]


def test_an_invocation_writes_its_metrics_without_dimensions_in_one_blob_when_it_ends(
    sink: PowertoolsMetrics, capsys: pytest.CaptureFixture[str]
) -> None:
    seen_inside: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        metrics.record("PaymentsPaid")
        metrics.record("AmountPaid", value=11_800, unit="None")
        metrics.record("PaymentsPaid")
        metrics.record("AmountPaid", value=500, unit="None")
        metrics.record("OutboxBacklog", value=7)
        metrics.record("OperationLatency", value=3.5, unit="Milliseconds", operation="Shelf")
        seen_inside.extend(blobs(capsys))
        return {"ok": True}

    capsys.readouterr()
    assert sink.flushing(handler)({}, None) == {"ok": True}
    [latency] = seen_inside  # its own dimensions: at once
    assert definition(latency)["Dimensions"] == [["service", "operation"]]
    [batch] = blobs(capsys)
    assert definition(batch) == {
        "Namespace": "StorefrontGateway",
        "Dimensions": [["service"]],
        "Metrics": [
            {"Name": "PaymentsPaid", "Unit": "Count"},
            {"Name": "AmountPaid", "Unit": "None"},
            {"Name": "OutboxBacklog", "Unit": "Count"},
        ],
    }
    assert batch["PaymentsPaid"] == [1.0, 1.0]
    assert batch["AmountPaid"] == [11_800.0, 500.0]
    assert batch["OutboxBacklog"] == [7.0]
    assert batch["service"] == SERVICE
    # the next invocation starts empty, and one that collected nothing prints nothing
    assert sink.flushing(lambda event, context: {"ok": 2})({}, None) == {"ok": 2}
    assert blobs(capsys) == []
    metrics.record("PaymentsFailed")  # after the invocation: at once again
    [failed] = blobs(capsys)
    assert failed["PaymentsFailed"] == [1.0]


def test_an_invocation_that_raises_still_writes_what_it_collected(
    sink: PowertoolsMetrics, capsys: pytest.CaptureFixture[str]
) -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        metrics.record("PaymentSessionsCreated")
        raise RuntimeError("boom")

    capsys.readouterr()
    with pytest.raises(RuntimeError):
        sink.flushing(handler)({}, None)
    [blob] = blobs(capsys)
    assert blob["PaymentSessionsCreated"] == [1.0]


def test_the_namespace_comes_from_powertools_environment_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "StorefrontStaging")
    made = PowertoolsMetrics(service=SERVICE)
    capsys.readouterr()
    made.record("WebhookLag", value=850.0, unit="Milliseconds", dimensions={})
    [blob] = blobs(capsys)
    assert definition(blob)["Namespace"] == "StorefrontStaging"
    assert definition(blob)["Metrics"] == [{"Name": "WebhookLag", "Unit": "Milliseconds"}]


def test_configure_metrics_installs_one_sink_per_process() -> None:
    previous = metrics.installed()
    try:
        first = configure_metrics(service=SERVICE)
        assert configure_metrics(service=SERVICE) is first
        assert metrics.installed() is first
    finally:
        metrics.install(previous)


def test_a_failing_sink_never_breaks_the_use_case(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def record(self, name: str, **_: object) -> None:
            raise OSError("stdout closed")

    previous = metrics.install(Broken())  # type: ignore[arg-type]
    try:
        metrics.record("PaymentsPaid")
    finally:
        metrics.install(previous)
    [warning] = [r for r in caplog.records if r.name == "resolvers.metrics"]
    assert warning.getMessage() == "metric PaymentsPaid not recorded"


@pytest.mark.parametrize("name", ["", "has space", "a.b", "1st"])
def test_metric_names_are_identifiers(name: str) -> None:
    with pytest.raises(ValueError):
        metrics.record(name)


@pytest.mark.parametrize(
    ("name", "value", "unit", "dimensions"),
    [
        ("OperationLatency", 0.731, "Milliseconds", {"operation": "Shelf"}),
        ("Errors", 1, "Count", {"code": "RATE_LIMITED"}),
        ("WebhookLag", 850, "Milliseconds", {}),
        ("OutboxMessagesParked", 3, "Count", {"kind": "notify.customer"}),
    ],
)
def test_the_hand_made_blob_is_the_one_powertools_single_metric_prints(
    sink: PowertoolsMetrics,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: float,
    unit: metrics.Unit,
    dimensions: dict[str, str],
) -> None:
    from aws_lambda_powertools.metrics import single_metric

    capsys.readouterr()
    with single_metric(
        name=name,
        unit=unit,  # type: ignore[arg-type]
        value=value,
        namespace=sink.namespace,
        default_dimensions={"service": SERVICE, **dimensions},
    ):
        pass
    [theirs] = blobs(capsys)
    ours = json.loads(
        sink.single_blob(
            name,
            value=value,
            unit=unit,
            dimensions=dimensions,
            timestamp_ms=theirs["_aws"]["Timestamp"],
        )
    )
    assert ours == theirs
    assert list(ours) == list(theirs)  # the same keys in the same order
