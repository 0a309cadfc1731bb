"""JSON log lines in Powertools' shape (``app/logging.py``): every stdlib logger, the keys of
what is being served (``correlation_id``…), exceptions, extras; the request id a request logs
with (``app/middleware.py``)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.container import Container
from app.logging import StorefrontFormatter, configure_logging, log_keys
from app.main import create_app
from app.middleware import pick_request_id
from app.settings import Settings

SERVICE = "storefront-gateway"


def record(
    message: str = "parked %s",
    *args: object,
    level: int = logging.ERROR,
    exc_info: Any = None,
    **extra: object,
) -> logging.LogRecord:
    made = logging.LogRecord(
        "resolvers.outbox", level, __file__, 42, message, args or ("k",), exc_info, "park"
    )
    for name, value in extra.items():
        setattr(made, name, value)
    made.created = 1_767_225_600.25
    made.msecs = 250.0
    return made


def line(made: logging.LogRecord) -> dict[str, Any]:
    formatted: dict[str, Any] = json.loads(StorefrontFormatter(service=SERVICE).format(made))
    return formatted


def test_a_line_is_powertools_json_with_its_extras() -> None:
    body = line(record(kind="notify.customer", dedupe_key="paid:s:customer", attempts=3))
    assert body == {
        "level": "ERROR",
        "location": "park:42",
        "message": "parked k",
        "timestamp": "2026-01-01T00:00:00.250+00:00",
        "service": SERVICE,
        "logger": "resolvers.outbox",
        "kind": "notify.customer",
        "dedupe_key": "paid:s:customer",
        "attempts": 3,
    }
    assert datetime.fromisoformat(body["timestamp"]).tzinfo == UTC


def test_the_keys_of_what_is_served_are_on_every_line_inside_only() -> None:
    with log_keys(correlation_id="req-1", clientRequestId="ticket-9", absent=None):
        inside = line(record())
        with log_keys(cold_start=False):
            nested = line(record())
        after_nested = line(record())
    outside = line(record())
    assert (inside["correlation_id"], inside["clientRequestId"]) == ("req-1", "ticket-9")
    assert "absent" not in inside
    assert nested["correlation_id"] == "req-1" and nested["cold_start"] is False
    assert "cold_start" not in after_nested
    assert "correlation_id" not in outside and "clientRequestId" not in outside


def test_a_line_naming_its_request_has_it_as_correlation_id_once() -> None:
    made = record(request_id="req-own")
    with log_keys(correlation_id="req-context"):
        body = line(made)
    assert body["correlation_id"] == "req-own"
    assert "request_id" not in body
    assert made.request_id == "req-own"  # type: ignore[attr-defined]  # other handlers see it


def test_an_error_carries_its_exception() -> None:
    try:
        raise RuntimeError("the real cause")
    except RuntimeError:
        body = line(record(exc_info=sys.exc_info()))
    assert body["exception_name"] == "RuntimeError"
    assert "Traceback (most recent call last)" in body["exception"]
    assert body["exception"].endswith("RuntimeError: the real cause")
    assert body["level"] == "ERROR" and body["message"] == "parked k"


async def test_concurrent_requests_never_see_each_others_keys() -> None:
    seen: dict[str, str] = {}

    async def serve(request_id: str, pause: float) -> None:
        with log_keys(correlation_id=request_id):
            await asyncio.sleep(pause)
            seen[request_id] = line(record())["correlation_id"]

    await asyncio.gather(serve("req-a", 0.02), serve("req-b", 0.0), serve("req-c", 0.01))
    assert seen == {"req-a": "req-a", "req-b": "req-b", "req-c": "req-c"}


# --- the root logger -------------------------------------------------------------------------


@pytest.fixture
def bare_root() -> Iterator[logging.Logger]:
    """The root logger without its handlers for the test, put back after it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    for handler in handlers:
        root.removeHandler(handler)
    try:
        yield root
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


class LambdaLoggerHandler(logging.Handler):
    """Named as the Python runtime's root handler (awslambdaric) is."""

    def emit(self, record: logging.LogRecord) -> None:
        raise AssertionError("the runtime's handler must be gone")


class LambdaLoggerHandlerWithFrameType(LambdaLoggerHandler):
    """The runtime's handler when it writes framed (telemetry) log records."""


def test_configure_logging_is_idempotent_and_every_stdlib_logger_logs_json(
    bare_root: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    bare_root.addHandler(LambdaLoggerHandler())
    bare_root.addHandler(LambdaLoggerHandlerWithFrameType())
    configure_logging(level="INFO", service=SERVICE)
    configure_logging(level="WARNING", service=SERVICE)
    names = [type(h).__name__ for h in bare_root.handlers]
    assert names.count("_Stdout") == 1
    assert not [n for n in names if n.startswith("LambdaLoggerHandler")]
    assert bare_root.level == logging.WARNING
    capsys.readouterr()
    logging.getLogger("datasources.sns.notifier").warning("publish %s retried", "n-1")
    logging.getLogger("datasources.sns.notifier").info("below the level")
    [printed] = capsys.readouterr().out.splitlines()
    body = json.loads(printed)
    assert (body["level"], body["logger"], body["message"]) == (
        "WARNING",
        "datasources.sns.notifier",
        "publish n-1 retried",
    )
    assert body["service"] == SERVICE


# --- a request -------------------------------------------------------------------------------


def quiet_settings(tmp_path: Path) -> Settings:
    return Settings(
        environment="test",
        graphiql_enabled=False,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/no-tables.db",  # every query fails
        redis_url=None,
        aws_endpoint_url=None,
        cognito_user_pool_id=None,
        log_level="INFO",
    )


async def test_a_failing_request_logs_its_exception_with_the_request_id_as_correlation_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    container = Container(quiet_settings(tmp_path))
    app = create_app(container)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            capsys.readouterr()
            response = await http.post(
                "/graphql",
                json={"query": "query Shelf { products(first: 1) { edges { node { sku } } } }"},
                headers={"x-request-id": "support-4711"},
            )
    finally:
        await container.aclose()
    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    printed = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    [failure] = [x for x in printed if x.get("logger") == "storefront.graphql"]
    assert failure["level"] == "ERROR"
    assert failure["correlation_id"] == "support-4711"  # locally, the client's id is the id
    assert failure["clientRequestId"] == "support-4711"
    assert "no such table" in failure["exception"]
    assert "request_id" not in failure


def scope(*, header: str | None = None, gateway: str | None = None) -> dict[str, Any]:
    made: dict[str, Any] = {"type": "http", "headers": []}
    if header is not None:
        made["headers"].append((b"x-request-id", header.encode("latin-1")))
    if gateway is not None:
        made["aws.event"] = {"requestContext": {"requestId": gateway}}
    return made


def test_api_gateways_request_id_wins_over_the_clients() -> None:
    gateway = "JKJaXmPLvHc+SH/A="  # HTTP API ids are base64
    assert pick_request_id(scope(header="mine-1", gateway=gateway)) == gateway
    assert pick_request_id(scope(header="mine-1")) == "mine-1"
    assert pick_request_id(scope(header="<script>", gateway="gw-2")) == "gw-2"
    made = pick_request_id(scope(header="<script>"))
    assert made != "<script>" and len(made) == 36  # a new UUID
