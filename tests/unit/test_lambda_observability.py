"""The Lambda handler observed with Powertools (``app/lambda_handler.py``): AWS's own API Gateway
v2 sample event in, and on stdout the log lines with API Gateway's request id as their
``correlation_id`` and the Lambda context, the request's metrics, and the invocation's own
metrics flushed in one blob at its end; a scheduled event's outbox gauges; the tracer only on
Lambda. No AWS and no database: the requests here never reach one."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import app.container
import app.lambda_handler
import app.logging
from app.settings import Settings, get_settings
from app.tracing import traced
from domain.effects import Notify
from domain.outbox import message_of
from domain.payment_ports import NotificationError, NotificationTopic
from resolvers.deps import Deps
from tests.integration.test_lambda_handler import load_event
from tests.support.payment_fakes import NOW, payment_deps

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_ID = "JKJaXmPLvHcESHA="  # an HTTP API request id, as API Gateway makes them


@dataclass(frozen=True)
class LambdaContext:
    function_name: str = "storefront-gateway-GatewayFunction"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = (
        "arn:aws:lambda:ap-south-1:123456789012:function:storefront-gateway-GatewayFunction"
    )
    aws_request_id: str = "6f1d9a3e-52c1-4c1b-9d2a-1b7a0f1e0c11"


def v2_event(path: str, body: str, headers: dict[str, str]) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(load_event("apiGatewayProxyV2Event.json"))
    event.update(rawPath=path, rawQueryString="", body=body, isBase64Encoded=False)
    event["headers"] = {"content-type": "application/json", **headers}
    event.pop("queryStringParameters", None)
    event.pop("cookies", None)
    event["requestContext"]["http"].update(method="POST", path=path)
    event["requestContext"]["requestId"] = GATEWAY_ID
    return event


_RUNTIME = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lambda-runtime")


def invoke(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """On a thread of its own, as the Lambda runtime calls it: no running event loop."""
    result: dict[str, Any] = _RUNTIME.submit(app.lambda_handler.handler, event, context).result(60)
    return result


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Settings as Lambda would read them, with nothing to reach: a database never opened."""
    env = {
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "INFO",
        "GRAPHIQL_ENABLED": "false",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/never-opened.db",
        "RAZORPAY_WEBHOOK_SECRET": "whsec_observability_0001",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in (
        "REDIS_URL",
        "AWS_ENDPOINT_URL",
        "COGNITO_USER_POOL_ID",
        "AWS_LAMBDA_FUNCTION_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
    ):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    monkeypatch.setattr(app.container, "_container", None)
    monkeypatch.setattr(app.lambda_handler, "_adapter", None)
    monkeypatch.setattr(app.lambda_handler, "_observed", None)
    monkeypatch.setattr(app.logging, "_cold_start", True)
    yield
    warm = app.container._container
    if warm is not None:
        _RUNTIME.submit(lambda: asyncio.get_event_loop().run_until_complete(warm.aclose())).result(
            30
        )
    get_settings.cache_clear()


def printed(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]


def emf(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [x for x in lines if "_aws" in x]


def logs(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [x for x in lines if "_aws" not in x]


def metric_names(blob: dict[str, Any]) -> list[str]:
    [definition] = blob["_aws"]["CloudWatchMetrics"]
    return [m["Name"] for m in definition["Metrics"]]


@pytest.mark.usefixtures("lambda_env")
def test_a_refused_webhook_logs_with_api_gateways_id_and_flushes_the_invocations_metrics(
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = v2_event(
        "/webhooks/razorpay",
        '{"event": "payment.captured"}',
        {"x-razorpay-signature": "not-the-signature", "x-request-id": "client-ticket-7"},
    )
    capsys.readouterr()
    result = invoke(event, LambdaContext())
    assert result["statusCode"] == 400
    assert result["headers"]["x-request-id"] == GATEWAY_ID  # API Gateway's id wins
    lines = printed(capsys)

    [refused] = [x for x in logs(lines) if x["logger"] == "resolvers.webhooks"]
    assert refused["level"] == "WARNING"
    assert refused["message"] == "webhook with a bad signature refused (event id None)"
    assert refused["correlation_id"] == GATEWAY_ID
    assert refused["clientRequestId"] == "client-ticket-7"
    assert refused["service"] == "storefront-gateway"
    assert {k: refused[k] for k in LAMBDA_KEYS} == {
        "cold_start": True,
        "function_name": "storefront-gateway-GatewayFunction",
        "function_memory_size": 1024,
        "function_arn": LambdaContext.invoked_function_arn,
        "function_request_id": "6f1d9a3e-52c1-4c1b-9d2a-1b7a0f1e0c11",
    }
    assert all(x["correlation_id"] == GATEWAY_ID for x in logs(lines))

    latency, invocation = emf(lines)
    assert metric_names(latency) == ["OperationLatency"]
    assert (latency["operation"], latency["service"]) == ("razorpay_webhook", "storefront-gateway")
    # the invocation's own metrics: one blob, written last, when the invocation ended
    assert lines[-1] is invocation
    assert invocation["_aws"]["CloudWatchMetrics"] == [
        {
            "Namespace": "StorefrontGateway",
            "Dimensions": [["service"]],
            "Metrics": [{"Name": "WebhookSignatureFailures", "Unit": "Count"}],
        }
    ]
    assert invocation["WebhookSignatureFailures"] == [1.0]

    again = invoke(event, LambdaContext(aws_request_id="second-invocation"))
    assert again["statusCode"] == 400
    second = printed(capsys)
    [refused] = [x for x in logs(second) if x["logger"] == "resolvers.webhooks"]
    assert (refused["cold_start"], refused["function_request_id"]) == (False, "second-invocation")
    assert second[-1]["WebhookSignatureFailures"] == [1.0]  # this invocation's only


LAMBDA_KEYS = (
    "cold_start",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
)


@pytest.mark.usefixtures("lambda_env")
def test_a_graphql_operation_is_measured_by_its_name_and_its_errors_by_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    named = invoke(v2_event("/graphql", json.dumps({"query": "query Shelf { __typename }"}), {}))
    assert json.loads(named["body"])["data"] == {"__typename": "Query"}
    [latency] = emf(printed(capsys))  # nothing else: no blob for the invocation
    assert latency["operation"] == "Shelf"
    assert latency["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "OperationLatency", "Unit": "Milliseconds"}
    ]
    assert isinstance(latency["OperationLatency"][0], float)

    invalid = invoke(v2_event("/graphql", json.dumps({"query": "query Bad { nope }"}), {}))
    assert invalid["statusCode"] == 200
    errors, latency = emf(printed(capsys))
    assert (errors["code"], errors["Errors"]) == ("GRAPHQL_VALIDATION_FAILED", [1.0])
    assert errors["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "code"]]
    assert latency["operation"] == "anonymous"  # not a valid operation: no name of its own

    broken = invoke(v2_event("/graphql", "{not json", {}))
    assert broken["statusCode"] == 400
    errors, latency = emf(printed(capsys))
    assert (errors["code"], latency["operation"]) == ("BAD_REQUEST", "anonymous")


@pytest.mark.usefixtures("lambda_env")
def test_a_scheduled_run_writes_the_outbox_gauges_when_it_ends(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fakes = payment_deps()
    for key in ("review:s1", "review:s2", "review:s3"):
        fakes.outbox.add(message_of(notice(key)), now=NOW)
    fakes.notifier.failures["review:s2"] = NotificationError("sns down", retryable=True)
    parked = fakes.outbox.add(message_of(notice("review:old")), now=NOW)
    fakes.outbox.rows[parked].parked_at = NOW
    monkeypatch.setattr(app.container, "get_container", lambda: Jobs(deps=fakes.deps))
    event = load_event("eventBridgeEvent.json") | {
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "detail": {},
    }
    capsys.readouterr()
    result = invoke(event, LambdaContext())
    assert result == {"ok": True, "jobs": {"reconciled": 0, "expired": 0, "published": 2}}
    lines = printed(capsys)
    [gauges] = emf(lines)
    assert gauges["_aws"]["CloudWatchMetrics"] == [
        {
            "Namespace": "StorefrontGateway",
            "Dimensions": [["service"]],
            "Metrics": [
                {"Name": "OutboxBacklog", "Unit": "Count"},
                {"Name": "OutboxParked", "Unit": "Count"},
            ],
        }
    ]
    assert (gauges["OutboxBacklog"], gauges["OutboxParked"]) == ([1.0], [1.0])
    # the run's lines carry the scheduled event's id as their correlation id
    [failed] = [x for x in logs(lines) if x["logger"] == "resolvers.outbox"]
    assert failed["correlation_id"] == event["id"]


@dataclass
class Jobs:
    """What the jobs need of the container."""

    deps: Deps

    async def refresh_secrets(self) -> None:
        """No secret ARNs configured: nothing to re-read."""


def notice(key: str) -> Notify:
    return Notify(
        key=key,
        topic=NotificationTopic.ADMIN,
        event="payment.review",
        session_id="s",
        customer_id="c",
        subject=f"s {key}",
        message=f"m {key}",
    )


# --- the tracer ------------------------------------------------------------------------------


def test_outside_lambda_the_handler_is_not_traced() -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {}

    assert traced(handler, settings=Settings(aws_lambda_function_name=None)) is handler


def test_tracing_switched_off_for_powertools_makes_no_tracer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {}

    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    on_lambda = Settings(aws_lambda_function_name="storefront-gateway-GatewayFunction")
    assert traced(handler, settings=on_lambda) is handler


TRACED = """
import json, sys
import app.lambda_handler
from tests.unit.test_lambda_observability import LambdaContext, v2_event
event = v2_event("/graphql", json.dumps({"query": "{ __typename }"}), {})
result = app.lambda_handler.handler(event, LambdaContext())
print(json.dumps({"status": result["statusCode"], "xray": "aws_xray_sdk.core" in sys.modules}))
"""


def run_handler(tmp_path: Path, **env: str) -> dict[str, Any]:
    """The handler's first invocation in a fresh interpreter, with this environment."""
    base = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING",
        "GRAPHIQL_ENABLED": "false",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/never-opened.db",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-south-1",
    }
    done = subprocess.run(
        [sys.executable, "-c", TRACED],
        env=base | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return answer


def test_the_x_ray_sdk_is_not_even_imported_outside_lambda(tmp_path: Path) -> None:
    assert run_handler(tmp_path) == {"status": 200, "xray": False}


def test_on_lambda_the_handler_is_traced_in_a_subsegment_of_its_own(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:  # X-Ray's daemon, UDP
        daemon.bind(("127.0.0.1", 0))
        daemon.settimeout(10)
        port = daemon.getsockname()[1]
        answer = run_handler(
            tmp_path,
            AWS_LAMBDA_FUNCTION_NAME="storefront-gateway-GatewayFunction",
            LAMBDA_TASK_ROOT=str(ROOT),
            AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{port}",
            _X_AMZN_TRACE_ID="Root=1-5759e988-bd862e3fe1be46a994272793;"
            "Parent=53995c3f42cd8ad8;Sampled=1",
        )
        assert answer == {"status": 200, "xray": True}
        documents = []
        while True:
            try:
                packet = daemon.recv(65_535)
            except TimeoutError:
                break
            documents.append(json.loads(packet.decode().split("\n", 1)[1]))
            if any(d.get("name") == "## _answer" for d in documents):
                break
    [handler] = [d for d in documents if d.get("name") == "## _answer"]
    assert handler["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert handler["annotations"] == {"ColdStart": True, "Service": "storefront-gateway"}
    assert "metadata" not in handler or "_answer response" not in json.dumps(handler["metadata"])
