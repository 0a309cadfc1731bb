"""Every error answer is JSON with a request id; nothing answers a bare 500 (API.md
"Protection"), through the real app on real services.

The shape, for every HTTP-level failure: ``{"errors": [{"message", "extensions": {"code"}}],
"extensions": {"requestId"}}``, the id equal to the ``X-Request-Id`` header (API Gateway's id
on Lambda, whatever the client sent). Every answer carries the security headers; CORS answers
only the allowed origins.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from app.container import Container
from app.logging import StorefrontFormatter
from app.main import create_app
from app.settings import LOCAL_CORS_ORIGINS, Settings
from schema.http import GraphQLApp
from tests.support.payments_flow import Overriding, app_client

PRODUCTS = "{ products(first: 3) { edges { node { sku } } } }"
GATEWAY_ID = "JKJaXmPLvHcESHA="  # an HTTP API request id, as API Gateway makes them
ERRORS_LOGGER = "storefront.errors"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def with_deep(key: str, depth: int) -> str:
    """A GraphQL body whose ``key`` (variables, extensions) holds JSON ``depth`` deep."""
    return '{"query":"{__typename}","' + key + '":{"a":' + nested(depth) + "}}"


def error_of(response: httpx.Response, *, status: int, code: str) -> dict[str, Any]:
    """The answer's one error, after checking the shape every error answer has."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"errors", "extensions"}
    [error] = body["errors"]
    assert error["extensions"]["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert body["extensions"]["requestId"] == response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"
    return dict(error)


# --- bad input ---------------------------------------------------------------------------------

DEEP_JSON: dict[str, dict[str, Any]] = {
    # ~80 KB of brackets: under the body limit, far over any recursion limit
    "post-variables": {
        "method": "POST",
        "content": with_deep("variables", 40_000),
    },
    "post-extensions": {
        "method": "POST",
        "content": with_deep("extensions", 40_000),
    },
    "post-body": {"method": "POST", "content": nested(40_000)},
    "get-variables": {
        "method": "GET",
        "params": {"query": "{__typename}", "variables": '{"a":' + nested(3_000) + "}"},
    },
    "get-extensions": {
        "method": "GET",
        "params": {"query": "{__typename}", "extensions": '{"a":' + nested(3_000) + "}"},
    },
    # deeper than MAX_JSON_DEPTH, nowhere near the recursion limit: refused all the same
    "post-variables-65": {
        "method": "POST",
        "content": with_deep("variables", 65),
    },
}


@pytest.mark.parametrize("case", list(DEEP_JSON))
async def test_deeply_nested_json_is_a_400_with_the_request_id(
    case: str, client: httpx.AsyncClient
) -> None:
    spec = dict(DEEP_JSON[case])
    spec["headers"] = {"content-type": "application/json"}
    response = await client.request(url="/graphql", **spec)
    error = error_of(response, status=400, code="BAD_REQUEST")
    assert "nested too deeply" in error["message"]


async def test_nesting_that_inputs_need_still_works(client: httpx.AsyncClient) -> None:
    variables = {"a": json.loads(nested(10)), "b": {"c": {"d": [1, {"e": [2]}]}}}
    response = await client.post("/graphql", json={"query": "{__typename}", "variables": variables})
    assert response.json()["data"] == {"__typename": "Query"}


async def test_a_deeply_nested_query_text_is_a_request_error_with_the_request_id(
    client: httpx.AsyncClient,
) -> None:
    accept = {"accept": "application/graphql-response+json"}
    for query in ("{" + "a{" * 20_000 + "}" * 20_001, "{__typename(a:" + nested(20_000) + ")}"):
        response = await client.post("/graphql", json={"query": query}, headers=accept)
        assert response.status_code == 400
        body = response.json()
        assert "nested too deeply" in body["errors"][0]["message"]
        assert body["extensions"]["requestId"] == response.headers["x-request-id"]


async def test_an_oversized_body_is_a_413_with_the_request_id(client: httpx.AsyncClient) -> None:
    graphql = await client.post(
        "/graphql", content=b" " * 200_000, headers={"content-type": "application/json"}
    )
    error_of(graphql, status=413, code="PAYLOAD_TOO_LARGE")
    webhook = await client.post("/webhooks/razorpay", content=b" " * 300_000)
    error_of(webhook, status=413, code="PAYLOAD_TOO_LARGE")


async def test_unknown_routes_and_wrong_methods_are_json(client: httpx.AsyncClient) -> None:
    error_of(await client.get("/nowhere"), status=404, code="NOT_FOUND")
    error_of(await client.get("/static/graphiql/nothing.js"), status=404, code="NOT_FOUND")
    wrong = await client.delete("/graphql")
    error_of(wrong, status=405, code="METHOD_NOT_ALLOWED")
    assert {"GET", "POST"} <= set(wrong.headers["allow"].replace(" ", "").split(","))
    error_of(await client.get("/webhooks/razorpay"), status=405, code="METHOD_NOT_ALLOWED")


async def test_bad_json_and_wrong_content_type_are_json(client: httpx.AsyncClient) -> None:
    bad = await client.post(
        "/graphql", content=b'{"query": ', headers={"content-type": "application/json"}
    )
    error_of(bad, status=400, code="BAD_REQUEST")
    odd = await client.post("/graphql", content=b"{ x }", headers={"content-type": "text/csv"})
    error_of(odd, status=400, code="BAD_REQUEST")


# --- timeout and unexpected failures -----------------------------------------------------------


async def test_a_request_over_its_time_answers_504_masked(
    settings: Settings, container: Container
) -> None:
    async def forever(*_: Any, **__: Any) -> Any:
        await asyncio.sleep(30)

    slow = Overriding(container.deps.products, list_page=forever)
    quick = Container(settings.model_copy(update={"request_timeout_seconds": 0.3}))
    async with app_client(quick, borrow_from=container, products=slow) as c:
        started = time.monotonic()
        response = await c.post("/graphql", json={"query": PRODUCTS})
        elapsed = time.monotonic() - started
        after = await c.post("/graphql", json={"query": "{ __typename }"})
    assert elapsed < 5
    error = error_of(response, status=504, code="TIMEOUT")
    assert error["message"] == "the request took too long: try again"
    assert after.json()["data"] == {"__typename": "Query"}  # the app goes on


class Lines(logging.Handler):
    """The JSON lines a logger writes, formatted while the request is served (its keys)."""

    def __init__(self) -> None:
        super().__init__()
        self.formatter_ = StorefrontFormatter(service="storefront-gateway")
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.formatter_.format(record)))


@pytest.fixture
def error_lines() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger(ERRORS_LOGGER)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def on_lambda(app: ASGIApp, request_id: str) -> ASGIApp:
    """The app as Mangum calls it: the API Gateway event in the scope."""

    async def call(scope: Scope, receive: Receive, send: Send) -> None:
        event = {"requestContext": {"requestId": request_id}}
        await app({**scope, "aws.event": event}, receive, send)

    return call


async def test_an_unexpected_exception_answers_500_masked_and_logged(
    settings: Settings, error_lines: Lines
) -> None:
    detail = f"secret-internal-detail-{secrets.token_hex(6)}"
    broken = Container(settings)

    async def readiness() -> dict[str, str]:
        raise RuntimeError(detail)

    broken.readiness = readiness  # type: ignore[method-assign]
    async with app_client(broken) as c:
        response = await c.get("/readyz", headers={"x-request-id": "client-ticket-7"})
    error = error_of(response, status=500, code="INTERNAL_SERVER_ERROR")
    assert error["message"] == "internal error"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert detail not in response.text and "RuntimeError" not in response.text
    [line] = [x for x in error_lines.lines if detail in x.get("exception", "")]
    assert line["correlation_id"] == response.headers["x-request-id"] == "client-ticket-7"
    assert line["level"] == "ERROR"


async def test_on_lambda_api_gateways_id_wins_and_the_clients_is_logged(
    settings: Settings, container: Container, error_lines: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    detail = f"secret-internal-detail-{secrets.token_hex(6)}"

    async def broken_context(*_: Any, **__: Any) -> Any:
        raise RuntimeError(detail)

    monkeypatch.setattr(GraphQLApp, "get_context", broken_context)
    app = on_lambda(create_app(container), GATEWAY_ID)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        sent = {"x-request-id": "client-ticket-8"}
        failed = await c.post("/graphql", json={"query": "{ __typename }"}, headers=sent)
        missing = await c.get("/nowhere", headers=sent)
    error_of(failed, status=500, code="INTERNAL_SERVER_ERROR")
    assert failed.json()["extensions"]["requestId"] == GATEWAY_ID
    assert detail not in failed.text
    error_of(missing, status=404, code="NOT_FOUND")
    assert missing.json()["extensions"]["requestId"] == GATEWAY_ID
    [line] = [x for x in error_lines.lines if detail in x.get("exception", "")]
    assert (line["correlation_id"], line["clientRequestId"]) == (GATEWAY_ID, "client-ticket-8")


# --- CORS and security headers -----------------------------------------------------------------

ALLOWED = LOCAL_CORS_ORIGINS[0]
DENIED = "https://evil.example"


async def test_cors_answers_the_allowed_origin_only(client: httpx.AsyncClient) -> None:
    query = {"query": "{ __typename }"}
    allowed = await client.post("/graphql", json=query, headers={"origin": ALLOWED})
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "x-request-id" in allowed.headers["access-control-expose-headers"].lower()
    denied = await client.post("/graphql", json=query, headers={"origin": DENIED})
    assert "access-control-allow-origin" not in denied.headers
    # an error answer is readable by the allowed origin too
    missing = await client.get("/nowhere", headers={"origin": ALLOWED})
    assert missing.headers["access-control-allow-origin"] == ALLOWED


async def test_cors_preflight(client: httpx.AsyncClient) -> None:
    asks = {"access-control-request-method": "POST", "access-control-request-headers": ""}
    asks["access-control-request-headers"] = "authorization, content-type"
    ok = await client.options("/graphql", headers=asks | {"origin": ALLOWED})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in ok.headers["access-control-allow-methods"]
    assert "authorization" in ok.headers["access-control-allow-headers"].lower()
    refused = await client.options("/graphql", headers=asks | {"origin": DENIED})
    error = error_of(refused, status=400, code="BAD_REQUEST")
    assert "origin" in error["message"].lower()
    assert "access-control-allow-origin" not in refused.headers


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


async def test_every_answer_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    answers = [
        await client.post("/graphql", json={"query": "{ __typename }"}),
        await client.get("/healthz"),
        await client.get("/nowhere"),
        await client.post("/graphql", content=b" " * 200_000),
        await client.get("/static/graphiql/graphiql.min.js"),
    ]
    for answer in answers:
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers.get(name) == value, (answer.request.url, name)
        assert "strict-transport-security" not in answer.headers  # production only
        assert "content-security-policy" not in answer.headers  # HTML only


async def test_graphiql_has_a_csp_that_lets_only_its_own_scripts_run(
    client: httpx.AsyncClient,
) -> None:
    import base64
    import hashlib
    import re

    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    csp = {part.split(" ", 1)[0]: part.partition(" ")[2] for part in policy.split("; ")}
    assert csp["default-src"] == "'none'"
    assert csp["frame-ancestors"] == "'none'"
    scripts = csp["script-src"].split()
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    inline = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    assert inline  # GraphiQL's boot script: allowed by its hash, nothing else inline is
    hashes = {
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in inline
    }
    assert set(scripts) == {"'self'"} | hashes
    # every asset the page loads is the app's own (script-src/style-src 'self')
    for url in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert url.startswith(("/static/graphiql/", "data:")), url
    assert page.headers["x-frame-options"] == "DENY"


async def test_request_ids_are_fresh_per_request(client: httpx.AsyncClient) -> None:
    first, second = await client.get("/nowhere"), await client.get("/nowhere")
    ids = {r.json()["extensions"]["requestId"] for r in (first, second)}
    assert len(ids) == 2
    for request_id in ids:
        uuid.UUID(request_id)
