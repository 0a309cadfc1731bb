"""Cache-aside decorators for :class:`domain.ports.OfferRepository`; the database stays the truth.

:class:`RedisOfferCache` (ElastiCache) keeps, as JSON with a short TTL (60 s by default):

- ``{prefix}:active``: the offers that are switched on and have not ended (live or upcoming);
  ``list_live(now)`` filters it with ``Offer.is_live(now)``, so an offer starting or ending
  inside the TTL is shown exactly on time;
- ``{prefix}:code:{CODE}``: the offer with that (normalised) code, or ``null`` when none has
  it (negative caching: typing a wrong code twice costs one query).

Invalidation is by generation: ``{prefix}:gen`` holds a random token that every ``upsert``
replaces, and each cached value carries the token it was filled under. A value whose token is
not the current one is a miss. The token is read in the same ``MGET`` as the values (one round
trip per read), and because a reader stamps what it fills with the token it saw *before*
reading the database, a fill racing an upsert can never resurrect the old offer. Every process
shares the token, so an upsert in one Lambda invalidates all of them at once.

Redis is never required: on connection errors and timeouts reads go to the database, a warning
is logged, and Redis is left alone for ``retry_after`` seconds (so a dead cache costs one
timeout, not one per request). Nothing here ever fails a request.

:class:`LocalOfferCache` is the same idea in-process (cachetools), for the local stack without
``REDIS_URL``: one process, so clearing on upsert is exact.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from cachetools import TTLCache
from redis.asyncio import Redis
from redis.exceptions import RedisError

from datasources.offer_codec import offer_from_json, offer_to_json
from domain.offers import Offer, normalise_code
from domain.ports import OfferRepository

logger = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 60
CACHE_ERRORS = (RedisError, OSError, TimeoutError)


def _not_ended(offers: Sequence[Offer], now: datetime) -> list[Offer]:
    return [o for o in offers if o.active and (o.ends_at is None or now < o.ends_at)]


_MISS = object()


# The generation token lapses after a day (a new one only makes entries refill), so databases
# that are gone (test runs, old stacks) leave nothing behind in a shared Redis.
GENERATION_TTL_SECONDS = 24 * 3600


class RedisOfferCache:
    """An OfferRepository that reads through Redis to ``inner`` (see the module docstring)."""

    def __init__(
        self,
        inner: OfferRepository,
        *,
        redis: Redis,
        prefix: str,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        retry_after: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._retry_after = retry_after
        self._monotonic = monotonic
        self._skip_until = 0.0

    # -- keys and Redis plumbing ---------------------------------------------------------------

    @property
    def generation_key(self) -> str:
        return f"{self._prefix}:gen"

    @property
    def active_key(self) -> str:
        return f"{self._prefix}:active"

    def code_key(self, code: str) -> str:
        return f"{self._prefix}:code:{code}"

    def _usable(self) -> bool:
        return self._monotonic() >= self._skip_until

    def _failed(self, exc: BaseException, doing: str) -> None:
        self._skip_until = self._monotonic() + self._retry_after
        logger.warning(
            "offers cache unavailable while %s, using the database: %s: %s",
            doing,
            type(exc).__name__,
            exc,
        )

    async def _read(self, keys: Sequence[str]) -> tuple[str, list[Any]] | None:
        """The current generation and each key's payload (``_MISS`` when absent or stale)."""
        if not self._usable():
            return None
        try:
            raw = await self._redis.mget([self.generation_key, *keys])
            generation = raw[0]
            if generation is None:
                await self._redis.set(
                    self.generation_key, uuid.uuid4().hex, nx=True, ex=GENERATION_TTL_SECONDS
                )
                generation = await self._redis.get(self.generation_key)
        except CACHE_ERRORS as exc:
            self._failed(exc, "reading")
            return None
        token = generation.decode() if isinstance(generation, bytes) else str(generation)
        return token, [self._payload(value, token) for value in raw[1:]]

    @staticmethod
    def _payload(value: Any, token: str) -> Any:
        if value is None:
            return _MISS
        try:
            entry = json.loads(value)
            if entry["g"] != token:
                return _MISS
            return entry["v"]
        except (ValueError, KeyError, TypeError):
            return _MISS

    async def _write(self, token: str, entries: dict[str, Any]) -> None:
        if not entries or not self._usable():
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, payload in entries.items():
                    pipe.set(key, json.dumps({"g": token, "v": payload}), ex=self._ttl)
                await pipe.execute()
        except CACHE_ERRORS as exc:
            self._failed(exc, "filling")

    async def invalidate(self) -> None:
        """Make every cached offer stale, in every process. Tried even while Redis seems down."""
        try:
            await self._redis.set(self.generation_key, uuid.uuid4().hex, ex=GENERATION_TTL_SECONDS)
        except CACHE_ERRORS as exc:
            self._failed(exc, "invalidating")

    # -- OfferRepository ---------------------------------------------------------------------

    async def list_active(self, *, now: datetime) -> list[Offer]:
        cached = await self._read([self.active_key])
        if cached is not None and cached[1][0] is not _MISS:
            try:
                return _not_ended([offer_from_json(o) for o in cached[1][0]], now)
            except (ValueError, KeyError, TypeError) as exc:
                logger.warning("ignoring a malformed cached offer list: %s", exc)
        offers = await self._inner.list_active(now=now)
        if cached is not None:
            await self._write(cached[0], {self.active_key: [offer_to_json(o) for o in offers]})
        return offers

    async def list_live(self, *, now: datetime) -> list[Offer]:
        return [o for o in await self.list_active(now=now) if o.is_live(now=now)]

    async def get_by_codes(self, codes: Sequence[str]) -> list[Offer | None]:
        wanted = [normalise_code(code) for code in codes]
        unique = list(dict.fromkeys(code for code in wanted if code))
        found: dict[str, Offer | None] = {}
        cached = await self._read([self.code_key(code) for code in unique])
        if cached is not None:
            for code, payload in zip(unique, cached[1], strict=True):
                if payload is _MISS:
                    continue
                try:
                    found[code] = offer_from_json(payload) if payload is not None else None
                except (ValueError, KeyError, TypeError):
                    continue
        missing = [code for code in unique if code not in found]
        if missing:
            fetched = await self._inner.get_by_codes(missing)
            found.update(zip(missing, fetched, strict=True))
            if cached is not None:
                await self._write(
                    cached[0],
                    {
                        self.code_key(code): offer_to_json(offer) if offer else None
                        for code, offer in zip(missing, fetched, strict=True)
                    },
                )
        return [found.get(code) for code in wanted]

    async def get_many(self, ids: Sequence[str]) -> list[Offer | None]:
        return await self._inner.get_many(ids)  # admin look-ups: always the truth

    async def upsert(self, offer: Offer) -> Offer:
        stored = await self._inner.upsert(offer)
        await self.invalidate()
        return stored


class LocalOfferCache:
    """In-process TTL cache for one process without Redis (the local stack). Not shared, so it
    is exact only when this process is the only writer; the TTL bounds staleness otherwise."""

    def __init__(
        self,
        inner: OfferRepository,
        *,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        maxsize: int = 1024,
    ) -> None:
        self._inner = inner
        self._cache: TTLCache[str, Any] = TTLCache(maxsize=maxsize, ttl=ttl_seconds)
        self._generation = 0

    def invalidate(self) -> None:
        self._generation += 1
        self._cache.clear()

    async def list_active(self, *, now: datetime) -> list[Offer]:
        offers = self._cache.get("active")
        if offers is None:
            generation = self._generation
            offers = await self._inner.list_active(now=now)
            if generation == self._generation:  # no upsert while we read
                self._cache["active"] = offers
        return _not_ended(offers, now)

    async def list_live(self, *, now: datetime) -> list[Offer]:
        return [o for o in await self.list_active(now=now) if o.is_live(now=now)]

    async def get_by_codes(self, codes: Sequence[str]) -> list[Offer | None]:
        wanted = [normalise_code(code) for code in codes]
        found: dict[str, Offer | None] = {}
        for code in dict.fromkeys(c for c in wanted if c):
            hit = self._cache.get(f"code:{code}", _MISS)
            if hit is not _MISS:
                found[code] = hit
        missing = [code for code in dict.fromkeys(wanted) if code and code not in found]
        if missing:
            generation = self._generation
            fetched = await self._inner.get_by_codes(missing)
            found.update(zip(missing, fetched, strict=True))
            if generation == self._generation:  # no upsert while we read
                for code, offer in zip(missing, fetched, strict=True):
                    self._cache[f"code:{code}"] = offer
        return [found.get(code) for code in wanted]

    async def get_many(self, ids: Sequence[str]) -> list[Offer | None]:
        return await self._inner.get_many(ids)

    async def upsert(self, offer: Offer) -> Offer:
        stored = await self._inner.upsert(offer)
        self.invalidate()
        return stored
