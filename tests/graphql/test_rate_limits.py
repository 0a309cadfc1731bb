"""Rate limits through the real app on the real Redis: 429 with ``Retry-After`` and
``RATE_LIMITED``, per user and per IP, each alias counted, a batch all or nothing, the
callback's own bucket, routes that are never limited, and Redis down.

Each test's app has a service name of its own, so its windows (``<prefix>:ratelimit``) are
its own too; requests come from the addresses the ASGI transport says they come from.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

import schema.cost
import schema.parsing
from app.container import Container
from app.main import create_app
from app.middleware import RequestIdMiddleware
from app.rate_limits import ClientAddress
from app.settings import Settings
from schema.build import build_schema
from schema.http import GraphQLApp
from tests.support.services import free_port

Headers = dict[str, str]
Clients = Callable[[str], httpx.AsyncClient]

OFFERS = {"query": "{ offers { code } }"}
COUPON = 'c{n}: cartCouponApply(code: "GUESS{n}") {{ errors {{ code }} }}'


def coupons(*numbers: int) -> dict[str, str]:
    return {"query": "mutation { " + " ".join(COUPON.format(n=n) for n in numbers) + " }"}


@asynccontextmanager
async def limited_app(
    settings: Settings, *, app: Callable[[Container], Any] = create_app, **update: Any
) -> AsyncIterator[tuple[Clients, Container]]:
    """An app on the module's database with limits of its own; ``clients(ip)`` talks to it
    from ``ip``."""
    update.setdefault("service_name", f"rl-{secrets.token_hex(4)}")
    container = Container(settings.model_copy(update=update))
    asgi = app(container)
    opened: list[httpx.AsyncClient] = []

    def clients(ip: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=asgi, client=(ip, 50_000))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        opened.append(client)
        return client

    try:
        yield clients, container
    finally:
        for client in opened:
            await client.aclose()
        await container.aclose()


def assert_limited(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    body = response.json()
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": retry_after}
    assert str(retry_after) in error["message"]
    assert body["extensions"]["requestId"] == response.headers["x-request-id"]
    return retry_after


async def test_over_the_limit_answers_429_with_retry_after(
    settings: Settings, container: Container
) -> None:
    async with limited_app(settings, rate_limit_ip="2/minute") as (clients, _):
        client = clients("203.0.113.9")
        for _ in range(2):
            ok = await client.post("/graphql", json=OFFERS)
            assert ok.status_code == 200 and "errors" not in ok.json()
        assert_limited(await client.post("/graphql", json=OFFERS))
        # GraphQL over HTTP's media type keeps the status and says so
        spec = await client.post(
            "/graphql", json=OFFERS, headers={"accept": "application/graphql-response+json"}
        )
        assert_limited(spec)
        assert spec.headers["content-type"].startswith("application/graphql-response+json")
        # a client's X-Forwarded-For changes nothing (no trusted proxy)
        spoofed = await client.post("/graphql", json=OFFERS, headers={"x-forwarded-for": "1.1.1.1"})
        assert_limited(spoofed)
        # another address has its own window
        assert (await clients("203.0.113.10").post("/graphql", json=OFFERS)).status_code == 200


CATALOG_PAGE = {
    "query": "{ products(first: 50) { edges { cursor node { id title category"
    " price { amount currency formatted } gstRateBp offers { code } } }"
    " pageInfo { hasNextPage endCursor } } }"
}


async def test_requests_weigh_their_query_cost(settings: Settings, container: Container) -> None:
    """The storefront's catalog page costs 153 (``extensions.cost``): a window of 400 holds two
    of them and a few cheap requests, not three pages."""
    async with limited_app(settings, rate_limit_ip="400/minute") as (clients, _):
        client = clients("203.0.113.77")
        for _ in range(2):
            page = await client.post("/graphql", json=CATALOG_PAGE)
            assert page.status_code == 200
            assert page.json()["extensions"]["cost"] == {"requested": 153, "limit": 5000}
        assert_limited(await client.post("/graphql", json=CATALOG_PAGE))
        for _ in range(94):  # 306 taken, 94 left: a request of cost 0 or 1 weighs 1
            assert (await client.post("/graphql", json=OFFERS)).status_code == 200
        assert_limited(await client.post("/graphql", json={"query": "{ __typename }"}))
    # a query over the cost limit is refused unrun and weighs the limit, not its 33,060
    sessions = "paymentSessions(first: 100) { edges { node { timeline { type } } } }"
    attack = {"query": "{ " + " ".join(f"a{n}: {sessions}" for n in range(30)) + " }"}
    async with limited_app(settings, rate_limit_ip="5001/minute") as (clients, _):
        client = clients("203.0.113.79")
        refused = await client.post("/graphql", json=attack)
        assert refused.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        assert (await client.post("/graphql", json=OFFERS)).status_code == 200
        assert_limited(await client.post("/graphql", json=OFFERS))


async def test_a_request_is_parsed_once_and_priced_once(
    settings: Settings, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rate limits read the document Strawberry runs (one parse, cached by its text) and
    its cost is walked once, for their weight and ``extensions.cost`` alike."""
    parses: list[str] = []
    walks: list[str | None] = []
    real_parse, real_walk = schema.parsing.parse, schema.cost._query_cost

    def counting_parse(query: str, **options: Any) -> Any:
        parses.append(query)
        return real_parse(query, **options)

    def counting_walk(schema_: Any, document: Any, operation: str | None, *rest: Any) -> int:
        walks.append(operation)
        return real_walk(schema_, document, operation, *rest)

    monkeypatch.setattr(schema.parsing, "parse", counting_parse)
    monkeypatch.setattr(schema.cost, "_query_cost", counting_walk)
    # a text of this test's own: nothing cached it before
    page = {"query": CATALOG_PAGE["query"].replace("first: 50", "first: 49")}
    async with limited_app(settings, rate_limit_ip="10000/minute") as (clients, _):
        client = clients("203.0.113.81")
        answer = await client.post("/graphql", json=page)
        assert answer.json()["extensions"]["cost"] == {"requested": 150, "limit": 5000}
        assert (len(parses), len(walks)) == (1, 1)
        await client.post("/graphql", json=page)  # seen before: priced again, not parsed
        assert (len(parses), len(walks)) == (1, 2)


async def test_users_and_addresses_are_counted_apart(
    settings: Settings, container: Container, new_customer: Callable[..., Headers]
) -> None:
    asha, ravi = new_customer(), new_customer()
    async with limited_app(settings, rate_limit_principal="3/minute", rate_limit_ip="5/minute") as (
        clients,
        _,
    ):
        home, office = clients("198.51.100.1"), clients("198.51.100.2")
        for _ in range(3):
            assert (await home.post("/graphql", json=OFFERS, headers=asha)).status_code == 200
        assert_limited(await home.post("/graphql", json=OFFERS, headers=asha))
        # asha's own limit follows her to another address
        assert_limited(await office.post("/graphql", json=OFFERS, headers=asha))
        # ravi at home shares the address's window: 3 taken (the refusal took nothing), 2 left
        for _ in range(2):
            assert (await home.post("/graphql", json=OFFERS, headers=ravi)).status_code == 200
        assert_limited(await home.post("/graphql", json=OFFERS, headers=ravi))
        assert_limited(await home.post("/graphql", json=OFFERS))  # anonymous: the address's
        assert (await office.post("/graphql", json=OFFERS, headers=ravi)).status_code == 200


async def test_each_alias_of_a_limited_mutation_counts(
    settings: Settings, container: Container, new_customer: Callable[..., Headers]
) -> None:
    customer = new_customer()
    async with limited_app(settings, rate_limit_coupon_apply="3/minute") as (clients, _):
        client = clients("192.0.2.50")
        two = await client.post("/graphql", json=coupons(1, 2), headers=customer)
        assert two.status_code == 200 and set(two.json()["data"]) == {"c1", "c2"}
        # two more would make 4: refused whole, and nothing of it was counted
        assert_limited(await client.post("/graphql", json=coupons(3, 4), headers=customer))
        assert (await client.post("/graphql", json=coupons(5), headers=customer)).status_code == 200
        assert_limited(await client.post("/graphql", json=coupons(6), headers=customer))
        # other GraphQL requests are not in the coupon bucket
        assert (await client.post("/graphql", json=OFFERS, headers=customer)).status_code == 200


async def test_payment_session_create_has_its_own_bucket(
    settings: Settings, container: Container, new_customer: Callable[..., Headers]
) -> None:
    customer = new_customer()
    create = {
        "query": "mutation($k: String!) { paymentSessionCreate(input: {idempotencyKey: $k}) "
        "{ errors { code } } }"
    }
    async with limited_app(settings, rate_limit_payment_session_create="2/minute") as (clients, _):
        client = clients("192.0.2.60")
        for n in range(2):
            answer = await client.post(
                "/graphql",
                json={**create, "variables": {"k": f"rate-limit-key-{n}"}},
                headers=customer,
            )
            assert answer.status_code == 200
            assert answer.json()["data"]["paymentSessionCreate"]["errors"]  # an empty cart
        assert_limited(
            await client.post(
                "/graphql", json={**create, "variables": {"k": "k-3"}}, headers=customer
            )
        )


def batching_app(container: Container) -> Starlette:
    """The GraphQL view on a schema that takes batches (the app's own does not, yet)."""
    view = GraphQLApp(
        build_schema(max_batch_operations=10),
        deps=lambda: container.deps,
        identify=lambda request: (None, None),
        ide_html=None,
    )
    return Starlette(
        routes=[Route("/graphql", view, methods=["POST"])],
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(ClientAddress, trusted=(), deps=lambda: container.deps),
        ],
    )


async def test_a_batch_is_all_or_nothing(settings: Settings, container: Container) -> None:
    async with limited_app(settings, app=batching_app, rate_limit_coupon_apply="3/minute") as (
        clients,
        _,
    ):
        client = clients("192.0.2.70")
        first = await client.post("/graphql", json=[coupons(1, 2), OFFERS])
        assert first.status_code == 200 and len(first.json()) == 2
        # 2 more coupons in a batch of 3 operations: the whole batch is refused, none runs
        refused = await client.post("/graphql", json=[OFFERS, coupons(3), coupons(4)])
        assert_limited(refused)
        last = await client.post("/graphql", json=[coupons(5), OFFERS])
        assert last.status_code == 200
        coupon, offers = last.json()
        # anonymous: the coupon ran and was refused for that, not for the rate
        assert coupon["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "offers" in offers["data"]


async def test_the_callback_has_its_own_bucket_and_answers_429_in_json(
    settings: Settings, container: Container
) -> None:
    form = {"razorpay_order_id": "order_nope", "razorpay_payment_id": "pay_nope"}
    async with limited_app(settings, rate_limit_callback="2/minute") as (clients, _):
        browser = clients("203.0.113.80")
        for _ in range(2):
            answer = await browser.post("/payments/razorpay/callback", data=form)
            assert answer.status_code == 303
        limited = await browser.post("/payments/razorpay/callback", data=form)
        assert limited.status_code == 429
        retry_after = int(limited.headers["retry-after"])
        assert limited.headers["content-type"] == "application/json"
        assert limited.json() == {
            "errors": [
                {
                    "message": f"too many requests: try again in {retry_after} s",
                    "extensions": {"code": "RATE_LIMITED", "retryAfter": retry_after},
                }
            ],
            "extensions": {"requestId": limited.headers["x-request-id"]},
        }
        # GraphQL from the same address is another bucket
        assert (await browser.post("/graphql", json=OFFERS)).status_code == 200
        other = await clients("203.0.113.81").post("/payments/razorpay/callback", data=form)
        assert other.status_code == 303


async def test_webhooks_and_health_checks_are_never_limited(
    settings: Settings, container: Container
) -> None:
    every = {
        "rate_limit_ip": "1/minute",
        "rate_limit_principal": "1/minute",
        "rate_limit_callback": "1/minute",
    }
    async with limited_app(settings, **every) as (clients, _):
        client = clients("203.0.113.90")
        for _ in range(5):
            webhook = await client.post("/webhooks/razorpay", content=b"{}")
            assert webhook.status_code not in (429, 500)
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/readyz")).status_code == 200


async def test_limits_off_by_setting(settings: Settings, container: Container) -> None:
    async with limited_app(settings, rate_limits_enabled=False, rate_limit_ip="1/minute") as (
        clients,
        limits_off,
    ):
        assert limits_off.rate_limiter is None
        client = clients("203.0.113.95")
        for _ in range(3):
            assert (await client.post("/graphql", json=OFFERS)).status_code == 200


async def test_redis_down_the_limits_hold_in_process_with_one_log_line(
    settings: Settings, container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    async with limited_app(settings, redis_url=dead, rate_limit_ip="3/minute") as (clients, app):
        client = clients("203.0.113.99")
        with caplog.at_level(logging.WARNING, logger="datasources.redis.rate_limits"):
            statuses = [(await client.post("/graphql", json=OFFERS)).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        assert app.rate_limiter is not None and app.rate_limiter.degraded
        lines = [r for r in caplog.records if r.name == "datasources.redis.rate_limits"]
        assert len(lines) == 1 and "Redis unavailable" in lines[0].getMessage()
