"""Automatic persisted queries through the real app on the real Redis (API.md "Caching and
persisted queries"): register then hit by hash (POST and GET), unknown hash, hash mismatch
refused and not stored, shared by two instances, mutations never over GET, and a hash-only
mutation charged to its mutation bucket like the full one.

Each test's app has a service name of its own, so its Redis keys (``<prefix>:apq``) are too.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from redis.asyncio import Redis

from app.container import Container
from app.main import create_app
from app.settings import Settings
from tests.support.services import free_port

OFFERS = "{ offers { code } }"
COUPON = 'mutation { cartCouponApply(code: "GUESS") { errors { code } } }'


def sha(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def persisted(sha256_hash: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256_hash}}


@asynccontextmanager
async def apps(
    settings: Settings, count: int = 1, **update: Any
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """``count`` instances (containers of their own) sharing one Redis prefix."""
    update.setdefault("service_name", f"apq-{secrets.token_hex(4)}")
    containers = [Container(settings.model_copy(update=update)) for _ in range(count)]
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(c)), base_url="http://t")
        for c in containers
    ]
    try:
        yield clients
    finally:
        for client, container in zip(clients, containers, strict=True):
            await client.aclose()
            await container.aclose()


def error_code(body: dict[str, Any]) -> str:
    [error] = body["errors"]
    return str(error["extensions"]["code"])


async def test_unknown_hash_answers_persisted_query_not_found(
    settings: Settings, container: Container
) -> None:
    async with apps(settings) as [client]:
        response = await client.post("/graphql", json={"extensions": persisted(sha(OFFERS))})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] == "PersistedQueryNotFound"  # what Apollo clients match on
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert body["extensions"]["requestId"] == response.headers["x-request-id"]


async def test_register_then_hit_by_hash_over_post_and_get(
    settings: Settings, container: Container
) -> None:
    async with apps(settings) as [client]:
        registered = await client.post(
            "/graphql", json={"query": OFFERS, "extensions": persisted(sha(OFFERS))}
        )
        by_post = await client.post("/graphql", json={"extensions": persisted(sha(OFFERS))})
        by_get = await client.get(
            "/graphql",
            params={"extensions": json.dumps(persisted(sha(OFFERS)))},
            headers={"accept": "*/*"},
        )
    assert "errors" not in registered.json(), registered.text
    codes = {o["code"] for o in registered.json()["data"]["offers"]}
    assert "WELCOME10" in codes
    for response in (by_post, by_get):
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        assert {o["code"] for o in body["data"]["offers"]} == codes
        assert body["extensions"]["cost"]["requested"] >= 1  # priced: the real document


async def test_hash_mismatch_is_refused_and_nothing_is_stored(
    settings: Settings, container: Container
) -> None:
    other = "{ offers { code description } }"
    service = f"apq-{secrets.token_hex(4)}"
    async with apps(settings, service_name=service) as [client]:
        mismatch = await client.post(
            "/graphql", json={"query": OFFERS, "extensions": persisted(sha(other))}
        )
        after = await client.post("/graphql", json={"extensions": persisted(sha(other))})
    body = mismatch.json()
    assert body["data"] is None
    assert error_code(body) == "PERSISTED_QUERY_HASH_MISMATCH"
    assert error_code(after.json()) == "PERSISTED_QUERY_NOT_FOUND"
    prefix = Container(settings.model_copy(update={"service_name": service})).cache_prefix
    redis = Redis.from_url(str(settings.redis_url))
    try:
        assert await redis.keys(f"{prefix}:apq:*") == []
    finally:
        await redis.aclose()


async def test_a_query_that_does_not_validate_is_not_stored(
    settings: Settings, container: Container
) -> None:
    broken = "{ offers { noSuchField } }"
    async with apps(settings) as [client]:
        first = await client.post(
            "/graphql", json={"query": broken, "extensions": persisted(sha(broken))}
        )
        again = await client.post("/graphql", json={"extensions": persisted(sha(broken))})
    assert first.json()["data"] is None
    assert error_code(again.json()) == "PERSISTED_QUERY_NOT_FOUND"


async def test_another_version_is_not_supported(settings: Settings, container: Container) -> None:
    extensions = {"persistedQuery": {"version": 2, "sha256Hash": sha(OFFERS)}}
    async with apps(settings) as [client]:
        body = (await client.post("/graphql", json={"extensions": extensions})).json()
    assert error_code(body) == "PERSISTED_QUERY_NOT_SUPPORTED"


async def test_stored_in_redis_and_shared_by_two_instances(
    settings: Settings, container: Container
) -> None:
    service = f"apq-{secrets.token_hex(4)}"
    async with apps(settings, count=2, service_name=service) as [one, two]:
        registered = await one.post(
            "/graphql", json={"query": OFFERS, "extensions": persisted(sha(OFFERS))}
        )
        assert "errors" not in registered.json()
        hit = await two.post("/graphql", json={"extensions": persisted(sha(OFFERS))})
        prefix = Container(settings.model_copy(update={"service_name": service})).cache_prefix
    assert "errors" not in hit.json(), hit.text
    assert hit.json()["data"] == registered.json()["data"]
    redis = Redis.from_url(str(settings.redis_url))
    try:
        key = f"{prefix}:apq:{sha(OFFERS)}"
        assert await redis.get(key) == OFFERS.encode()
        ttl = await redis.ttl(key)
        assert 0 < ttl <= settings.persisted_query_ttl_seconds
    finally:
        await redis.aclose()


async def test_without_redis_the_store_is_in_process(
    settings: Settings, container: Container
) -> None:
    async with apps(settings, redis_url=None) as [client]:
        await client.post("/graphql", json={"query": OFFERS, "extensions": persisted(sha(OFFERS))})
        hit = await client.post("/graphql", json={"extensions": persisted(sha(OFFERS))})
    assert "errors" not in hit.json(), hit.text


async def test_with_redis_down_a_hash_is_unknown_and_the_full_query_runs(
    settings: Settings, container: Container
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    async with apps(settings, redis_url=dead) as [client]:
        full = await client.post(
            "/graphql", json={"query": OFFERS, "extensions": persisted(sha(OFFERS))}
        )
        by_hash = await client.post("/graphql", json={"extensions": persisted(sha(OFFERS))})
    assert "errors" not in full.json(), full.text
    assert error_code(by_hash.json()) == "PERSISTED_QUERY_NOT_FOUND"


async def test_a_persisted_mutation_is_refused_over_get(
    settings: Settings, container: Container
) -> None:
    async with apps(settings) as [client]:
        registered = await client.post(
            "/graphql", json={"query": COUPON, "extensions": persisted(sha(COUPON))}
        )
        assert registered.status_code == 200, registered.text
        by_get = await client.get(
            "/graphql",
            params={"extensions": json.dumps(persisted(sha(COUPON)))},
            headers={"accept": "application/json"},
        )
    assert by_get.status_code in {400, 405}, by_get.text
    assert "data" not in by_get.json() or by_get.json()["data"] is None


async def test_a_hash_only_mutation_counts_in_its_mutation_bucket(
    settings: Settings, container: Container
) -> None:
    """Coupon guessing by hash: the stored query is filled in before the charge, so the
    third ``cartCouponApply`` of a 2/minute bucket is refused whichever way it was sent."""
    async with apps(settings, rate_limit_coupon_apply="2/minute") as [client]:
        answers = [
            await client.post(
                "/graphql", json={"query": COUPON, "extensions": persisted(sha(COUPON))}
            ),
            await client.post("/graphql", json={"extensions": persisted(sha(COUPON))}),
            await client.post("/graphql", json={"extensions": persisted(sha(COUPON))}),
        ]
    assert [a.status_code for a in answers] == [200, 200, 429], [a.text for a in answers]
    assert error_code(answers[2].json()) == "RATE_LIMITED"
