"""Each request's metrics: ``OperationLatency`` by operation and ``Errors`` by code, from the
ASGI middleware (``app/middleware.py``) and what GraphQL tells it (``schema/metrics.py``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from app.container import Container
from app.main import create_app
from app.middleware import RequestMetrics
from app.settings import Settings
from domain.errors import DomainError, ErrorCode
from resolvers import metrics
from schema.types import user_errors
from tests.support.metrics import Recorded, RecordingSink


def latencies(sink: RecordingSink) -> list[tuple[tuple[str, str], ...]]:
    found = sink.named("OperationLatency")
    assert all(r.unit == "Milliseconds" and r.value >= 0 for r in found)
    return [r.dimensions for r in found]


def test_a_typed_error_of_a_payload_counts_by_its_code(recorded: RecordingSink) -> None:
    [error] = user_errors(DomainError("quantity must be positive", code=ErrorCode.INVALID_INPUT))
    assert error.code is ErrorCode.INVALID_INPUT
    assert recorded.recorded == [Recorded("Errors", 1, "Count", (("code", "INVALID_INPUT"),))]


async def test_a_masked_error_counts_as_internal_and_the_operation_is_named(
    tmp_path: Path,
) -> None:
    container = Container(
        Settings(
            environment="test",
            graphiql_enabled=False,
            database_url=f"sqlite+aiosqlite:///{tmp_path}/no-tables.db",
            redis_url=None,
            aws_endpoint_url=None,
            cognito_user_pool_id=None,
        )
    )
    app = create_app(container)  # installs the Powertools sink: ours goes in after it
    sink = RecordingSink()
    previous = metrics.install(sink)
    ids = ("6c1f6f0e-8a51-4d43-9d0e-000000000001", "6c1f6f0e-8a51-4d43-9d0e-000000000002")
    fields = " ".join(
        f'{alias}: product(id: "{i}") {{ sku }}' for alias, i in zip("ab", ids, strict=True)
    )
    query = f"query Shelf {{ {fields} }}"  # two failures, batched in one DataLoader call
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as http:
            failed = await http.post("/graphql", json={"query": query})
            health = await http.get("/healthz")
    finally:
        metrics.install(previous)
        await container.aclose()
    assert [e["extensions"]["code"] for e in failed.json()["errors"]] == [
        "INTERNAL_SERVER_ERROR"
    ] * 2
    assert health.status_code == 200
    assert sink.named("Errors") == [
        Recorded("Errors", 2, "Count", (("code", "INTERNAL_SERVER_ERROR"),))
    ]
    assert latencies(sink) == [(("operation", "Shelf"),)]  # /healthz is not measured


def measured(answer: int | None, *, background: float = 0.0) -> RequestMetrics:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if answer is None:
            raise RuntimeError("a bug")
        await send({"type": "http.response.start", "status": answer, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
        await asyncio.sleep(background)  # a background task, after the answer

    return RequestMetrics(
        app, graphql_path="/graphql", routes={"/webhooks/razorpay": "razorpay_webhook"}
    )


async def call(asgi: RequestMetrics, path: str) -> None:
    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    async def send(message: object) -> None:
        return None

    await asgi({"type": "http", "path": path, "headers": []}, receive, send)  # type: ignore[arg-type]


async def test_server_errors_count_as_http_5xx_and_the_route_names_the_operation(
    recorded: RecordingSink,
) -> None:
    await call(measured(503), "/webhooks/razorpay")
    await call(measured(200), "/webhooks/razorpay")
    await call(measured(500), "/readyz")  # not measured, but a 5xx all the same
    with pytest.raises(RuntimeError):
        await call(measured(None), "/graphql")
    assert recorded.named("Errors") == [Recorded("Errors", 1, "Count", (("code", "HTTP_5XX"),))] * 3
    assert latencies(recorded) == [
        (("operation", "razorpay_webhook"),),
        (("operation", "razorpay_webhook"),),
        (("operation", "anonymous"),),  # GraphQL, and no operation was named
    ]


async def test_the_latency_is_the_clients_wait_not_the_background_work_after_it(
    recorded: RecordingSink,
) -> None:
    await call(measured(200, background=0.3), "/webhooks/razorpay")
    [latency] = recorded.named("OperationLatency")
    assert latency.value < 250
