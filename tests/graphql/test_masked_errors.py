"""Unexpected failures inside resolvers are masked, and carry the request id that is logged.

A GraphQL error from an unexpected exception says "Internal server error" with
``extensions.code = INTERNAL_SERVER_ERROR`` and nothing of the exception (no text, no stack);
the response's ``extensions.requestId`` equals its ``X-Request-Id`` header and the log line's
``correlation_id``, and the line carries the real exception. HTTP-level error answers (400,
413) carry the request id too.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from app.container import Container
from app.logging import StorefrontFormatter
from app.settings import Settings
from tests.support.payments_flow import Overriding, app_client, dead_url, raising
from tests.support.services import free_port

Headers = dict[str, str]
PRODUCTS = "{ products(first: 3) { edges { node { sku } } } }"
ADD = """mutation($lines: [CartLineInput!]!) {
  cartLinesAdd(lines: $lines) { cart { version } errors { code } } }"""
GRAPHQL_LOGGER = "storefront.graphql"


def secret_text() -> str:
    """Exception text that must never reach a client (it is unique, so any leak shows)."""
    return f"secret-internal-detail-{secrets.token_hex(6)}"


def request_id_header(sent: str | None) -> Headers:
    return {} if sent is None else {"x-request-id": sent}


def the_request_id(response: httpx.Response, sent: str | None) -> str:
    """The response's request id: the same in the body and the header (and the sent one)."""
    body_id = response.json()["extensions"]["requestId"]
    assert body_id == response.headers["x-request-id"]
    if sent is None:
        uuid.UUID(body_id)  # a new one
    else:
        assert body_id == sent
    return str(body_id)


def assert_masked(error: dict[str, Any], *, path: list[str], leaks: list[str]) -> None:
    assert error["message"] == "Internal server error"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert error["path"] == path
    assert set(error) <= {"message", "locations", "path", "extensions"}
    shown = json.dumps(error)
    for leak in leaks:
        assert leak not in shown


def logged_failure(caplog: pytest.LogCaptureFixture, request_id: str) -> logging.LogRecord:
    """The one log line for the masked error of this request."""
    mine = [
        r
        for r in caplog.records
        if r.name == GRAPHQL_LOGGER and getattr(r, "request_id", None) == request_id
    ]
    assert len(mine) == 1, [r.getMessage() for r in caplog.records]
    record = mine[0]
    assert record.levelno == logging.ERROR
    return record


def as_json_line(record: logging.LogRecord) -> dict[str, Any]:
    line: dict[str, Any] = json.loads(
        StorefrontFormatter(service="storefront-gateway").format(record)
    )
    return line


@pytest.mark.parametrize("sent", [None, "support-ticket-4711"], ids=["generated", "sent"])
async def test_an_unexpected_error_in_a_query_is_masked_with_the_logged_request_id(
    sent: str | None,
    settings: Settings,
    container: Container,
    caplog: pytest.LogCaptureFixture,
) -> None:
    detail = secret_text()
    broken = Overriding(container.deps.products, list_page=raising(RuntimeError(detail)))
    caplog.set_level(logging.ERROR, logger=GRAPHQL_LOGGER)
    async with app_client(Container(settings), borrow_from=container, products=broken) as c:
        response = await c.post(
            "/graphql", json={"query": PRODUCTS}, headers=request_id_header(sent)
        )
    assert response.status_code == 200
    assert detail not in response.text and "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert_masked(error, path=["products"], leaks=[detail, "RuntimeError"])
    request_id = the_request_id(response, sent)
    record = logged_failure(caplog, request_id)
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError) and str(record.exc_info[1]) == detail
    line = as_json_line(record)
    assert line["correlation_id"] == request_id
    assert f"RuntimeError: {detail}" in line["exception"]
    assert "products" in line["message"]


async def test_a_dead_database_is_masked_and_the_real_error_is_logged(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    database = dead_url("postgresql+asyncpg", port, "/nowhere").replace("://", "://postgres@", 1)
    dead = Container(settings.model_copy(update={"database_url": database}))
    caplog.set_level(logging.ERROR, logger=GRAPHQL_LOGGER)
    query = f'{{ product(id: "{uuid.uuid4()}") {{ sku }} }}'
    async with app_client(dead) as c:
        response = await c.post("/graphql", json={"query": query})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"product": None}
    [error] = body["errors"]
    assert_masked(error, path=["product"], leaks=[str(port), "Connect", "127.0.0.1"])
    assert str(port) not in response.text and "Traceback" not in response.text
    request_id = the_request_id(response, None)
    record = logged_failure(caplog, request_id)
    assert record.exc_info is not None and isinstance(record.exc_info[1], OSError)
    line = as_json_line(record)
    assert line["correlation_id"] == request_id
    assert str(port) in line["exception"]  # the real error, for whoever reads the logs


async def test_an_unexpected_error_in_a_mutation_is_masked_with_the_logged_request_id(
    settings: Settings,
    container: Container,
    new_customer: Callable[..., Headers],
    caplog: pytest.LogCaptureFixture,
) -> None:
    detail = secret_text()
    broken = Overriding(container.deps.carts, lock=raising(RuntimeError(detail)))
    customer = new_customer()
    caplog.set_level(logging.ERROR, logger=GRAPHQL_LOGGER)
    lines = [{"productId": str(uuid.uuid4()), "quantity": 1}]
    sent = f"mutation-{secrets.token_hex(4)}"
    async with app_client(Container(settings), borrow_from=container, carts=broken) as c:
        response = await c.post(
            "/graphql",
            json={"query": ADD, "variables": {"lines": lines}},
            headers=customer | {"x-request-id": sent},
        )
    assert response.status_code == 200
    assert detail not in response.text and "Traceback" not in response.text
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert_masked(error, path=["cartLinesAdd"], leaks=[detail, "RuntimeError"])
    request_id = the_request_id(response, sent)
    record = logged_failure(caplog, request_id)
    assert record.exc_info is not None and str(record.exc_info[1]) == detail
    assert as_json_line(record)["correlation_id"] == sent


async def test_expected_errors_are_not_masked_nor_logged_as_unexpected(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The contrast: a typed failure keeps its code and message."""
    caplog.set_level(logging.ERROR, logger=GRAPHQL_LOGGER)
    response = await client.post("/graphql", json={"query": "{ cart { id } }"})
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["message"] != "Internal server error"
    the_request_id(response, None)
    assert [r for r in caplog.records if r.name == GRAPHQL_LOGGER] == []


# --- HTTP-level errors ---------------------------------------------------------------------

BAD_REQUESTS: dict[str, dict[str, Any]] = {
    "bad-json": {
        "method": "POST",
        "content": b'{"query": "{ offers { code } }"',
        "headers": {"content-type": "application/json"},
    },
    "not-utf8": {
        "method": "POST",
        "content": b"\xff\xfe{}",
        "headers": {"content-type": "application/json"},
    },
    "no-query": {"method": "POST", "json": {"variables": {}}},
    "unsupported-content-type": {
        "method": "POST",
        "content": b"{ offers { code } }",
        "headers": {"content-type": "text/plain"},
    },
    "mutation-over-get": {
        "method": "GET",
        "params": {"query": "mutation { cartCouponRemove { errors { code } } }"},
    },
}


@pytest.mark.parametrize("sent", [None, "http-level-0001"], ids=["generated", "sent"])
@pytest.mark.parametrize("case", list(BAD_REQUESTS))
async def test_http_level_400s_carry_the_request_id(
    case: str, sent: str | None, client: httpx.AsyncClient
) -> None:
    spec = dict(BAD_REQUESTS[case])
    spec["headers"] = spec.get("headers", {}) | request_id_header(sent)
    response = await client.request(url="/graphql", **spec)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    the_request_id(response, sent)


async def _chunks(total: int) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * 10_000
        sent += 10_000


def _too_large(how: str) -> dict[str, Any]:
    if how == "content-length":
        return {"content": b" " * 200_000, "headers": {"content-type": "application/json"}}
    return {"content": _chunks(300_000), "headers": {"content-type": "application/json"}}


@pytest.mark.parametrize("how", ["content-length", "streamed"])
async def test_an_oversized_body_answers_413_json_with_the_request_id_header(
    how: str, client: httpx.AsyncClient
) -> None:
    spec = _too_large(how)
    spec["headers"] |= {"x-request-id": "too-large-0001"}
    response = await client.post("/graphql", **spec)
    assert response.status_code == 413
    assert response.headers["x-request-id"] == "too-large-0001"
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize("how", ["content-length", "streamed"])
async def test_an_oversized_body_answers_413_with_the_request_id_in_the_body(
    how: str, client: httpx.AsyncClient
) -> None:
    spec = _too_large(how)
    response = await client.post("/graphql", **spec)
    assert response.status_code == 413
    the_request_id(response, None)
