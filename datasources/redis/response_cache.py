"""The response cache's storage: the catalog version and the answers (API.md "Caching and
persisted queries").

Catalog version (``domain.ports.CatalogVersion``):

- :class:`RedisCatalogVersion`: an integer at ``{prefix}:version``, ``INCR``-ed by every bump,
  so every instance sees it. Reads are memoised for ``memo_seconds`` (0.5 s), so a bump in one
  instance is seen by all within that (plus a round trip): the "visible within 1 s" rule. A
  missing key starts at a random number (``SET NX``), so a key lost to a flush never brings an
  old version's entries back. Redis down: the version is unknown (None) and the cache is
  bypassed; logged once.
- :class:`LocalCatalogVersion`: an in-process counter (no ``REDIS_URL``: one process).

Answers (``domain.ports.ResponseStore``): :class:`TwoLevelResponseStore` reads an in-process
L1 (a bounded ``TTLCache``), then Redis (L2, ``{prefix}:{key}``, JSON with a TTL), and fills
L1 from L2. Keys carry the catalog version, so a bump makes every entry unreachable at once;
entries are never rewritten in place. Without Redis it is L1 alone.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from cachetools import TTLCache
from redis.asyncio import Redis

from datasources.redis.breaker import CACHE_ERRORS, Breaker

logger = logging.getLogger(__name__)

MEMO_SECONDS = 0.5


class RedisCatalogVersion:
    def __init__(
        self,
        *,
        redis: Redis,
        prefix: str,
        memo_seconds: float = MEMO_SECONDS,
        retry_after: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._key = f"{prefix}:version"
        self._memo_seconds = memo_seconds
        self._monotonic = monotonic
        self._memo: tuple[float, int] | None = None  # (read at, version)
        self._breaker = Breaker(
            what="catalog version", logger=logger, retry_after=retry_after, monotonic=monotonic
        )

    @property
    def key(self) -> str:
        return self._key

    async def current(self) -> int | None:
        now = self._monotonic()
        if self._memo is not None and now - self._memo[0] < self._memo_seconds:
            return self._memo[1]
        if not self._breaker.usable():
            return None
        try:
            value = await self._redis.get(self._key)
            if value is None:
                await self._redis.set(self._key, secrets.randbits(48), nx=True)
                value = await self._redis.get(self._key)
            version = int(value or b"")
        except (*CACHE_ERRORS, ValueError, TypeError) as exc:
            self._memo = None
            self._breaker.failed(exc, "reading")
            return None
        self._breaker.succeeded()
        self._memo = (now, version)
        return version

    async def bump(self) -> None:
        """Tried even while Redis seems down (a missed bump would leave stale answers)."""
        self._memo = None
        try:
            await self._redis.incr(self._key)
        except CACHE_ERRORS as exc:
            self._breaker.failed(exc, "bumping")
            return
        self._breaker.succeeded()


class LocalCatalogVersion:
    def __init__(self) -> None:
        self._version = 0

    async def current(self) -> int | None:
        return self._version

    async def bump(self) -> None:
        self._version += 1


class TwoLevelResponseStore:
    def __init__(
        self,
        *,
        redis: Redis | None,
        prefix: str,
        ttl_seconds: int,
        local_ttl_seconds: float,
        local_maxsize: int,
        retry_after: float = 5.0,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._local: TTLCache[str, dict[str, Any]] = TTLCache(
            maxsize=local_maxsize, ttl=local_ttl_seconds
        )
        self._breaker = Breaker(what="response cache", logger=logger, retry_after=retry_after)

    def redis_key(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    async def get(self, key: str) -> dict[str, Any] | None:
        hit = self._local.get(key)
        if hit is not None:
            return hit
        if self._redis is None or not self._breaker.usable():
            return None
        try:
            raw = await self._redis.get(self.redis_key(key))
        except CACHE_ERRORS as exc:
            self._breaker.failed(exc, "reading")
            return None
        self._breaker.succeeded()
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(value, dict):
            return None
        self._local[key] = value
        return value

    async def put(self, key: str, value: Mapping[str, Any]) -> None:
        entry = dict(value)
        self._local[key] = entry
        if self._redis is None or not self._breaker.usable():
            return
        try:
            payload = json.dumps(entry, separators=(",", ":"), ensure_ascii=False)
            await self._redis.set(self.redis_key(key), payload, ex=self._ttl)
        except CACHE_ERRORS as exc:
            self._breaker.failed(exc, "filling")
            return
        self._breaker.succeeded()
