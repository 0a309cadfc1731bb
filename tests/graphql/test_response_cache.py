"""The response cache through the real app on real PostgreSQL and Redis (API.md "Caching and
persisted queries"): a repeated anonymous catalog query sends no SQL; saves and stock moves
are seen by every instance (polled with a deadline, never timed); tokens, carts and errors are
never cached; variables make entries of their own; RESPONSE_CACHE_ENABLED=false and Redis down
still answer; ``Cache-Control`` and ``Vary`` on GET, with a token and on mutations.

Each test's apps have a service name of their own, so their cache prefix (entries and catalog
version) is theirs too; they share the module's database.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from app.container import Container
from app.main import create_app
from app.settings import Settings
from datasources.postgres.engine import StatementCounter
from domain.response_cache import PRIVATE_CACHE_CONTROL, PUBLIC_CACHE_CONTROL
from schema.response_cache import catalog_document
from tests.support.payments_flow import PRODUCT_UPSERT, open_session, own_product
from tests.support.services import free_port
from tests.support.shop import CANCEL, data
from tests.support.stack import GraphQLClient

Headers = dict[str, str]

PAGE = "query($first: Int) { products(first: $first) { edges { node { sku title stock } } } }"
PRODUCT = "query($id: ID!) { product(id: $id) { title stock } }"
OFFERS = "{ offers { code description } }"
OFFER_UPSERT = """mutation($input: OfferInput!) {
  offerUpsert(input: $input) { offer { id code } errors { code message } } }"""


class App:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(container)), base_url="http://t"
        )

    async def post(
        self, query: str, headers: Headers | None = None, **variables: Any
    ) -> httpx.Response:
        return await self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )

    async def get(self, query: str, headers: Headers | None = None) -> httpx.Response:
        return await self.client.get(
            "/graphql",
            params={"query": query},
            headers={"accept": "application/json"} | (headers or {}),
        )

    async def statements(self, call: Callable[[], Awaitable[httpx.Response]]) -> tuple[int, Any]:
        """How many SQL statements ``call`` sent, and its JSON answer."""
        with StatementCounter(self.container.engine) as counter:
            response = await call()
        assert response.status_code == 200, response.text
        return counter.count, response.json()


@asynccontextmanager
async def apps(settings: Settings, count: int = 1, **update: Any) -> AsyncIterator[list[App]]:
    """``count`` instances (containers of their own) sharing one cache prefix."""
    update.setdefault("service_name", f"rc-{secrets.token_hex(4)}")
    made = [App(Container(settings.model_copy(update=update))) for _ in range(count)]
    try:
        yield made
    finally:
        for app in made:
            await app.client.aclose()
            await app.container.aclose()


async def eventually(check: Callable[[], Awaitable[bool]], *, deadline: float = 5.0) -> None:
    """Poll ``check`` until it holds; fail after ``deadline`` seconds (a bound, not a timing)."""
    give_up = time.monotonic() + deadline
    while not await check():
        assert time.monotonic() < give_up, "not seen before the deadline"
        await asyncio.sleep(0.05)


@pytest.fixture
def admin(new_customer: Callable[..., Headers]) -> Headers:
    return new_customer("admin")


async def test_a_repeated_anonymous_query_is_answered_from_the_cache(
    settings: Settings, container: Container
) -> None:
    async with apps(settings) as [app]:
        cold, first = await app.statements(lambda: app.post(PAGE, first=5))
        warm, second = await app.statements(lambda: app.post(PAGE, first=5))
        other, third = await app.statements(lambda: app.post(PAGE, first=6))
    assert cold > 0
    assert warm == 0
    assert other > 0  # other variables: an entry of its own
    assert "errors" not in first and second["data"] == first["data"]
    assert len(third["data"]["products"]["edges"]) == 6
    assert second["extensions"]["cost"] == first["extensions"]["cost"]
    assert second["extensions"]["requestId"] != first["extensions"]["requestId"]


async def test_the_same_document_spelled_differently_shares_an_entry(
    settings: Settings, container: Container
) -> None:
    async with apps(settings) as [app]:
        await app.post("{ offers { code } }")
        warm, _ = await app.statements(lambda: app.post("query {\n  offers {\n    code\n  }\n}"))
    assert warm == 0


async def test_another_instance_reads_the_redis_entry(
    settings: Settings, container: Container
) -> None:
    async with apps(settings, count=2) as [one, two]:
        await one.post(PAGE, first=3)
        warm, _ = await two.statements(lambda: two.post(PAGE, first=3))
    assert warm == 0


async def test_requests_with_a_token_are_never_cached_nor_served_from_it(
    settings: Settings, container: Container, new_customer: Callable[..., Headers]
) -> None:
    customer = new_customer()
    async with apps(settings) as [app]:
        await app.post(PAGE, first=4)  # cached for anonymous callers
        signed_in, _ = await app.statements(lambda: app.post(PAGE, customer, first=4))
        again, _ = await app.statements(lambda: app.post(PAGE, customer, first=4))
        refused, _ = await app.statements(
            lambda: app.post(PAGE, {"authorization": "Bearer not-a-token"}, first=4)
        )
    assert signed_in > 0 and again > 0
    assert refused > 0  # a refused token is not anonymous either: never from the cache


@pytest.mark.parametrize(
    "query",
    [
        "{ products { edges { node { sku } } } cart { version } }",
        "{ viewer { id } }",
        "{ offers { code } __typename }",
        'mutation { cartCouponApply(code: "X") { errors { code } } }',
        "{ products { edges { node { sku } } } } query Two { offers { code } }",
    ],
)
def test_only_catalog_queries_are_cacheable(query: str) -> None:
    assert catalog_document(query, None) is None


def test_catalog_queries_with_fragments_and_aliases_are_cacheable() -> None:
    query = (
        'query A { ...F first: product(id: "x") { sku } } fragment F on Query { offers { code } }'
    )
    assert catalog_document(query, "A") is not None


async def test_an_answer_with_errors_is_not_cached(
    settings: Settings, container: Container
) -> None:
    bad = '{ product(id: "not-a-product-id") { title } products(first: 5000) { edges { cursor } } }'
    async with apps(settings) as [app]:
        first = (await app.post(bad)).json()
        assert first.get("errors"), first
        await app.post(bad)
        store: Any = app.container.response_store
        assert len(store._local) == 0


async def test_switched_off_every_request_runs(settings: Settings, container: Container) -> None:
    async with apps(settings, response_cache_enabled=False) as [app]:
        await app.post(PAGE, first=5)
        again, body = await app.statements(lambda: app.post(PAGE, first=5))
    assert again > 0
    assert "errors" not in body


async def test_with_redis_down_catalog_queries_still_answer(
    settings: Settings, container: Container
) -> None:
    async with apps(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0") as [app]:
        answers = [(await app.post(PAGE, first=5)).json() for _ in range(2)]
    for body in answers:
        assert "errors" not in body, body
        assert len(body["data"]["products"]["edges"]) == 5


async def test_without_redis_the_cache_is_in_process_and_saves_clear_it(
    settings: Settings, container: Container, admin: Headers
) -> None:
    async with apps(settings, redis_url=None) as [app]:
        product = await own_product(GraphQLClient(app.client), admin)
        await app.post(PRODUCT, id=product["id"])
        warm, _ = await app.statements(lambda: app.post(PRODUCT, id=product["id"]))
        assert warm == 0
        await data(
            GraphQLClient(app.client),
            PRODUCT_UPSERT,
            admin,
            input=product["spec"] | {"id": product["id"], "title": "Renamed locally"},
        )
        body = (await app.post(PRODUCT, id=product["id"])).json()
    assert body["data"]["product"]["title"] == "Renamed locally"


async def test_a_product_save_is_seen_by_every_instance(
    settings: Settings, container: Container, admin: Headers
) -> None:
    async with apps(settings, count=2) as [one, two]:
        product = await own_product(GraphQLClient(one.client), admin)
        before = [(await app.post(PRODUCT, id=product["id"])).json() for app in (one, two)]
        assert [b["data"]["product"]["title"] for b in before] == [product["spec"]["title"]] * 2
        renamed = await data(
            GraphQLClient(one.client),
            PRODUCT_UPSERT,
            admin,
            input=product["spec"] | {"id": product["id"], "title": "Renamed"},
        )
        assert renamed["productUpsert"]["errors"] == []
        # the instance that saved sees it on its next read
        mine = (await one.post(PRODUCT, id=product["id"])).json()
        assert mine["data"]["product"]["title"] == "Renamed"

        async def seen_by_two() -> bool:
            body = (await two.post(PRODUCT, id=product["id"])).json()
            return bool(body["data"]["product"]["title"] == "Renamed")

        await eventually(seen_by_two)


async def test_an_offer_save_is_seen_by_every_instance(
    settings: Settings, container: Container, admin: Headers
) -> None:
    code = f"RC{secrets.token_hex(3).upper()}"
    offer = {"code": code, "kind": "FLAT", "flat": 1_000, "description": "first"}
    async with apps(settings, count=2) as [one, two]:
        for app in (one, two):
            assert code not in {
                o["code"] for o in (await app.post(OFFERS)).json()["data"]["offers"]
            }
        made = await data(GraphQLClient(one.client), OFFER_UPSERT, admin, input=offer)
        assert made["offerUpsert"]["errors"] == [], made

        async def listed_by(app: App) -> bool:
            offers = (await app.post(OFFERS)).json()["data"]["offers"]
            return code in {o["code"] for o in offers}

        assert await listed_by(one)
        await eventually(lambda: listed_by(two))
        await data(
            GraphQLClient(one.client),
            OFFER_UPSERT,
            admin,
            input=offer | {"id": made["offerUpsert"]["offer"]["id"], "active": False},
        )
        assert not await listed_by(one)


async def test_stock_moves_are_seen_by_anonymous_readers(
    settings: Settings,
    container: Container,
    admin: Headers,
    new_customer: Callable[..., Headers],
    sandbox: Any,
) -> None:
    customer = new_customer()
    async with apps(settings, count=2) as [one, two]:
        product = await own_product(GraphQLClient(one.client), admin, stock=5)

        async def stock_in(app: App) -> int:
            return int(
                (await app.post(PRODUCT, id=product["id"])).json()["data"]["product"]["stock"]
            )

        assert [await stock_in(one), await stock_in(two)] == [5, 5]
        session = await open_session(
            GraphQLClient(one.client), customer, product["id"], quantity=2
        )  # reserve
        assert await stock_in(one) == 3

        async def two_sees(units: int) -> bool:
            return await stock_in(two) == units

        await eventually(lambda: two_sees(3))
        cancelled = await data(
            GraphQLClient(one.client), CANCEL, customer, id=session["id"]
        )  # release
        assert cancelled["paymentSessionCancel"]["errors"] == []
        assert await stock_in(one) == 5
        await eventually(lambda: two_sees(5))


async def test_cache_control_and_vary(
    settings: Settings, container: Container, new_customer: Callable[..., Headers]
) -> None:
    customer = new_customer()
    query = "{ products(first: 2) { edges { node { sku } } } }"
    async with apps(settings) as [app]:
        anonymous_get = await app.get(query)
        cached_get = await app.get(query)
        token_get = await app.get(query, customer)
        anonymous_post = await app.post(query)
        mutation = await app.post('mutation { cartCouponApply(code: "X") { errors { code } } }')
        cart_get = await app.get("{ cart { version } }", customer)
        bad_get = await app.get("{ nope }")
    for response in (anonymous_get, cached_get):
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == PUBLIC_CACHE_CONTROL
    for response in (token_get, anonymous_post, mutation, cart_get, bad_get):
        assert response.headers["cache-control"] == PRIVATE_CACHE_CONTROL, response.text
    for response in (anonymous_get, token_get, mutation, bad_get):
        assert {"authorization", "accept"} <= {
            v.strip().lower() for v in response.headers["vary"].split(",")
        }
