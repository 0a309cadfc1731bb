"""app.lambda_handler.handler answers GraphQL for API Gateway HTTP API (v2) and REST (v1) events.

The events are AWS's own samples (tests/fixtures/aws-events) with path, method, headers and body
replaced. The handler runs on a thread of its own, as in Lambda: no running event loop around it.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text

import app.container
import app.lambda_handler
from app.settings import Settings, get_settings
from tests.support.production import DIRECT_SECRETS, production_environment
from tests.support.shop import GET, create_session, data, fill_cart
from tests.support.stack import Stack

# AWS sample events (copied unchanged from ../shared/aws-events; see its README)
EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "aws-events"
QUERY = '{ products(first: 3, category: "books") { edges { node { sku price { amount } } } } }'


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def http_api_v2_event(body: str) -> dict[str, Any]:
    event = copy.deepcopy(load_event("apiGatewayProxyV2Event.json"))
    event.update(rawPath="/graphql", rawQueryString="", body=body, isBase64Encoded=False)
    event["headers"] = {"content-type": "application/json", "accept": "application/json"}
    event.pop("queryStringParameters", None)
    event["requestContext"]["http"].update(method="POST", path="/graphql")
    event["requestContext"]["requestId"] = "apigw-v2-req-1"
    return event


def rest_v1_event(body: str) -> dict[str, Any]:
    event = copy.deepcopy(load_event("apiGatewayProxyEvent.json"))
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    event.update(
        resource="/{proxy+}",
        path="/graphql",
        httpMethod="POST",
        body=body,
        isBase64Encoded=False,
        headers=headers,
        multiValueHeaders={k: [v] for k, v in headers.items()},
        queryStringParameters=None,
        multiValueQueryStringParameters=None,
    )
    event["requestContext"].update(httpMethod="POST", path="/graphql", requestId="apigw-v1-req-1")
    return event


# The Lambda runtime calls the handler again and again on one thread of its own.
_RUNTIME = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lambda-runtime")


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = _RUNTIME.submit(app.lambda_handler.handler, event, None).result(60)
    return result


def environment_of(settings: Settings) -> dict[str, str]:
    """The environment variables that make ``Settings()`` equal ``settings``: every endpoint
    (database, Redis, the AWS emulator, the Razorpay sandbox) stays on loopback."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def _use_environment(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Iterator[None]:
    for name in DIRECT_SECRETS:
        monkeypatch.delenv(name, raising=False)
    for name, value in production_environment(environment_of(settings), settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    assert get_settings().aws_endpoint_url == settings.aws_endpoint_url
    assert get_settings().razorpay_base_url == settings.razorpay_base_url
    monkeypatch.setattr(app.container, "_container", None)
    monkeypatch.setattr(app.lambda_handler, "_adapter", None)
    yield
    warm = app.container._container
    if warm is not None:  # what the runtime does at shut-down: close pools on their own loop
        _RUNTIME.submit(lambda: asyncio.get_event_loop().run_until_complete(warm.aclose())).result(
            30
        )
    get_settings.cache_clear()


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Iterator[None]:
    """Environment as Lambda would have it, for the module's app; the handler builds its own
    container from it."""
    yield from _use_environment(monkeypatch, settings)


@pytest.fixture
def private_lambda_env(monkeypatch: pytest.MonkeyPatch, private_stack: Stack) -> Iterator[None]:
    """The same for an app of the test's own: the jobs it runs see no other test's rows."""
    yield from _use_environment(monkeypatch, private_stack.settings)


def _body(result: dict[str, Any]) -> dict[str, Any]:
    raw = result["body"]
    if result.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode()
    body: dict[str, Any] = json.loads(raw)
    return body


@pytest.mark.usefixtures("lambda_env")
def test_http_api_v2_event_gets_the_graphql_answer() -> None:
    result = invoke(http_api_v2_event(json.dumps({"query": QUERY})))
    assert result["statusCode"] == 200
    body = _body(result)
    skus = [e["node"]["sku"] for e in body["data"]["products"]["edges"]]
    assert skus == ["BOK-CKB-003", "BOK-KID-004", "BOK-NOV-001"]
    assert body["extensions"]["requestId"] == "apigw-v2-req-1"
    assert result["headers"]["x-request-id"] == "apigw-v2-req-1"


@pytest.mark.usefixtures("lambda_env")
def test_rest_v1_event_gets_the_graphql_answer_and_clients_stay_warm() -> None:
    first = invoke(rest_v1_event(json.dumps({"query": QUERY})))
    adapter = app.lambda_handler._adapter
    container = app.container._container
    second = invoke(rest_v1_event(json.dumps({"query": "{ offers { code } }"})))
    assert first["statusCode"] == 200 and second["statusCode"] == 200
    assert _body(first)["data"]["products"]["edges"][0]["node"]["price"] == {"amount": 79_900}
    assert _body(first)["extensions"]["requestId"] == "apigw-v1-req-1"
    assert "WELCOME10" in {o["code"] for o in _body(second)["data"]["offers"]}
    # warm invocations reuse the adapter, the container and its connection pool
    assert app.lambda_handler._adapter is adapter
    assert app.container._container is container
    assert container is not None and "engine" in container.__dict__


@pytest.mark.usefixtures("lambda_env")
def test_bad_json_body_answers_400_with_a_request_id() -> None:
    result = invoke(http_api_v2_event("{not json"))
    assert result["statusCode"] == 400
    body = _body(result)
    assert body["extensions"]["requestId"] == "apigw-v2-req-1"
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.usefixtures("private_lambda_env", "sandbox")
async def test_scheduled_event_runs_every_job_against_the_configured_services(
    private_stack: Stack, new_customer: Callable[..., dict[str, str]]
) -> None:
    gql, container = private_stack.gql, private_stack.container
    customer = new_customer()
    await fill_cart(gql, customer, {"GRO-GHE-004": 1})
    session = (await create_session(gql, customer))["paymentSession"]
    async with container.engine.begin() as conn:  # as if 31 minutes had passed
        await conn.execute(
            text(
                "UPDATE payment_sessions SET expires_at = now() - interval '1 minute'"
                " WHERE id = :id"
            ),
            {"id": session["id"]},
        )
    event = load_event("eventBridgeEvent.json") | {
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "detail": {},
    }
    result = await asyncio.to_thread(invoke, event)
    # reconciliation read the order at the sandbox (nothing paid), expiry closed the session,
    # the publish job wrote the expiry's timeline entry: every job ran and none failed (-1)
    assert result == {"ok": True, "jobs": {"reconciled": 0, "expired": 1, "published": 1}}
    after = (await data(gql, GET, customer, id=session["id"]))["paymentSession"]
    assert after["status"] == "EXPIRED"
    assert "status.EXPIRED" in [entry["type"] for entry in after["timeline"]]
    async with container.engine.connect() as conn:
        unsent = await conn.scalar(text("SELECT count(*) FROM outbox WHERE sent_at IS NULL"))
    assert unsent == 0
