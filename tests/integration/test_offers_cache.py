"""The offers cache against the real Redis and PostgreSQL: hits cost no SQL, upserts invalidate
(across instances and against racing fills), and a dead Redis falls back to the database."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from app.container import Container
from datasources.postgres.catalog import SqlOfferRepository
from datasources.postgres.engine import StatementCounter
from datasources.redis.offers_cache import LocalOfferCache, RedisOfferCache
from domain.cart import LineAdd
from domain.offers import Offer, OfferKind
from infra.local.seed import OFFERS, product_id
from resolvers import admin_catalog, carts
from resolvers.deps import Deps
from tests.support.cleanup import switch_off_test_offers
from tests.support.services import free_port

LIVE_SEEDED = sorted(o.code for o in OFFERS if not o.expired)


@pytest.fixture(autouse=True)
async def _only_seeded_offers_stay_live(container: Container) -> AsyncIterator[None]:
    yield
    await switch_off_test_offers(container)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys (only those) are deleted afterwards."""
    prefix = f"test:{uuid.uuid4().hex}:offers"
    yield prefix
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)


@pytest.fixture
def database(container: Container) -> SqlOfferRepository:
    return SqlOfferRepository(container.sessions)


def new_offer(**changes: object) -> Offer:
    offer = Offer.validated(
        id=str(uuid.uuid4()),
        code=f"CACHE{uuid.uuid4().hex[:10]}",
        kind=OfferKind.FLAT,
        flat=2_500,
        description="cache test",
    )
    return replace(offer, **changes)  # type: ignore[arg-type]


async def test_cache_hits_cost_no_sql(
    container: Container, redis: Redis, prefix: str, database: SqlOfferRepository
) -> None:
    cache = RedisOfferCache(database, redis=redis, prefix=prefix)
    now = datetime.now(UTC)
    with StatementCounter(container.engine) as cold:
        live = await cache.list_live(now=now)
        found = await cache.get_by_codes(["welcome10", "NO-SUCH", "FLAT150", "welcome10"])
    with StatementCounter(container.engine) as warm:
        assert await cache.list_live(now=now) == live
        assert await cache.get_by_codes(["welcome10", "NO-SUCH", "FLAT150", "welcome10"]) == found
    assert (cold.count, warm.count) == (2, 0), warm.statements
    assert [o.code for o in live] == LIVE_SEEDED
    assert [o.code if o else None for o in found] == ["WELCOME10", None, "FLAT150", "WELCOME10"]
    assert live == await database.list_live(now=now)  # exactly what the database says
    raw = await redis.get(cache.code_key("WELCOME10"))
    assert raw is not None and 0 < await redis.ttl(cache.code_key("WELCOME10")) <= 60


async def test_cached_active_list_gives_live_offers_exactly_on_time(
    container: Container, redis: Redis, prefix: str, database: SqlOfferRepository
) -> None:
    now = datetime.now(UTC)
    later = new_offer(starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=2))
    cache = RedisOfferCache(database, redis=redis, prefix=prefix)
    await cache.upsert(later)
    assert later.code not in {o.code for o in await cache.list_live(now=now)}
    with StatementCounter(container.engine) as counter:
        during = await cache.list_live(now=now + timedelta(minutes=90))
        after = await cache.list_live(now=now + timedelta(hours=3))
    assert counter.count == 0
    assert later.code in {o.code for o in during}
    assert later.code not in {o.code for o in after}


async def test_upsert_invalidates_every_instance(
    container: Container, redis: Redis, prefix: str, database: SqlOfferRepository
) -> None:
    one = RedisOfferCache(database, redis=redis, prefix=prefix)
    two = RedisOfferCache(database, redis=redis, prefix=prefix)  # another Lambda, say
    offer = new_offer()
    now = datetime.now(UTC)
    assert await two.get_by_codes([offer.code]) == [None]  # cached as missing
    await two.list_live(now=now)
    await one.upsert(offer)
    assert await two.get_by_codes([offer.code]) == [offer]
    assert offer in await two.list_live(now=now)
    changed = replace(offer, description="changed", flat=3_000)
    await one.upsert(changed)
    assert await two.get_by_codes([offer.code.lower()]) == [changed]
    switched_off = replace(changed, active=False)
    await one.upsert(switched_off)
    assert offer.code not in {o.code for o in await two.list_live(now=now)}
    assert await two.get_by_codes([offer.code]) == [switched_off]  # pricing says NOT_FOUND
    with StatementCounter(container.engine) as counter:
        await two.get_by_codes([offer.code])
    assert counter.count == 0


async def test_a_fill_racing_an_upsert_is_never_served(
    container: Container, redis: Redis, prefix: str, database: SqlOfferRepository
) -> None:
    offer = new_offer()
    await database.upsert(offer)

    class SlowDatabase(SqlOfferRepository):
        """Reads the old row, then an admin's upsert lands before the reader fills Redis."""

        async def get_by_codes(self, codes: Sequence[str]) -> list[Offer | None]:
            result = await super().get_by_codes(codes)
            await writer.upsert(replace(offer, description="new"))
            return result

    reader = RedisOfferCache(SlowDatabase(container.sessions), redis=redis, prefix=prefix)
    writer = RedisOfferCache(database, redis=redis, prefix=prefix)
    [stale] = await reader.get_by_codes([offer.code])
    assert stale is not None and stale.description == "cache test"  # read before the write
    [fresh] = await writer.get_by_codes([offer.code])
    assert fresh is not None and fresh.description == "new"


async def test_upsert_through_the_use_case_invalidates_the_apps_cache(
    container: Container,
) -> None:
    deps: Deps = container.deps
    code = f"ADMIN{uuid.uuid4().hex[:8]}".upper()
    assert await deps.offers.get_by_codes([code]) == [None]
    created = await admin_catalog.offer_upsert(deps, code=code, kind="FLAT", flat=500)
    assert await deps.offers.get_by_codes([code]) == [created]
    customer = f"customer-{uuid.uuid4()}"
    await carts.add_lines(
        deps,
        customer_id=customer,
        lines=[LineAdd(product_id=str(product_id("BOK-NOV-001")), quantity=1)],
    )
    view = await carts.apply_coupon(deps, customer_id=customer, code=code)
    assert view.priced.discount == 500
    await admin_catalog.offer_upsert(deps, id=created.id, code=code, kind="FLAT", flat=700)
    assert (await carts.get_cart(deps, customer_id=customer)).priced.discount == 700


async def test_redis_down_serves_from_the_database(
    container: Container, database: SqlOfferRepository, caplog: pytest.LogCaptureFixture
) -> None:
    dead = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    try:
        cache = RedisOfferCache(database, redis=dead, prefix="test:dead:offers")
        now = datetime.now(UTC)
        with caplog.at_level(logging.WARNING, logger="datasources.redis.offers_cache"):
            assert await cache.list_live(now=now) == await database.list_live(now=now)
            [found] = await cache.get_by_codes(["welcome10"])
            offer = await cache.upsert(new_offer())
            assert await cache.get_by_codes([offer.code]) == [offer]
        assert found is not None and found.code == "WELCOME10"
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert warnings and "offers cache unavailable" in warnings[0].getMessage()
        # one failure backs off: the reads after it did not knock on the dead port again
        assert sum("reading" in r.getMessage() for r in warnings) == 1
    finally:
        await dead.aclose()


async def test_the_app_works_with_redis_down(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    dead = container.settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    app = Container(dead)
    try:
        customer = f"customer-{uuid.uuid4()}"
        with caplog.at_level(logging.ERROR):
            await carts.add_lines(
                app.deps,
                customer_id=customer,
                lines=[LineAdd(product_id=str(product_id("GRO-TEA-003")), quantity=2)],
            )
            view = await carts.apply_coupon(app.deps, customer_id=customer, code="WELCOME10")
        # 10 % of 57,800 = 5,780; tax 5 % of 52,020 = 2,601
        assert (view.priced.discount, view.priced.total) == (5_780, 54_621)
    finally:
        await app.aclose()


async def test_malformed_entries_are_misses(
    redis: Redis, prefix: str, database: SqlOfferRepository
) -> None:
    cache = RedisOfferCache(database, redis=redis, prefix=prefix)
    await cache.get_by_codes(["WELCOME10"])
    await redis.set(cache.code_key("WELCOME10"), b"{not json")
    await redis.set(cache.active_key, b'{"g": "x", "v": []}')
    [offer] = await cache.get_by_codes(["WELCOME10"])
    assert offer is not None and offer.code == "WELCOME10"
    assert [o.code for o in await cache.list_live(now=datetime.now(UTC))] == LIVE_SEEDED


async def test_in_process_cache_without_redis(
    container: Container, database: SqlOfferRepository
) -> None:
    cache = LocalOfferCache(database)
    now = datetime.now(UTC)
    offer = new_offer()
    assert await cache.get_by_codes([offer.code]) == [None]
    await cache.list_live(now=now)
    with StatementCounter(container.engine) as counter:
        await cache.list_live(now=now)
        await cache.get_by_codes([offer.code])
    assert counter.count == 0
    await cache.upsert(offer)
    assert await cache.get_by_codes([offer.code.lower()]) == [offer]
    assert offer in await cache.list_live(now=now)
