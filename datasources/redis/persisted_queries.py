"""The automatic-persisted-query store (``domain.ports.PersistedQueryStore``).

:class:`RedisPersistedQueries` keeps each query text under ``{prefix}:{sha256}`` for a week
(refreshed on every store), shared by every instance. Redis down: a look-up answers None (the
client sends its query again, which still runs) and nothing is stored; logged once.
:class:`LocalPersistedQueries` is the in-process fallback without ``REDIS_URL`` (bounded).
"""

from __future__ import annotations

import logging

from cachetools import TTLCache
from redis.asyncio import Redis

from datasources.redis.breaker import CACHE_ERRORS, Breaker
from domain.persisted_queries import TTL_SECONDS

logger = logging.getLogger(__name__)


class RedisPersistedQueries:
    def __init__(
        self, *, redis: Redis, prefix: str, ttl_seconds: int = TTL_SECONDS, retry_after: float = 5
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._breaker = Breaker(
            what="persisted-query store", logger=logger, retry_after=retry_after
        )

    def key(self, sha256_hash: str) -> str:
        return f"{self._prefix}:{sha256_hash}"

    async def get(self, sha256_hash: str) -> str | None:
        if not self._breaker.usable():
            return None
        try:
            value = await self._redis.get(self.key(sha256_hash))
        except CACHE_ERRORS as exc:
            self._breaker.failed(exc, "reading")
            return None
        self._breaker.succeeded()
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def put(self, sha256_hash: str, query: str) -> None:
        if not self._breaker.usable():
            return
        try:
            await self._redis.set(self.key(sha256_hash), query, ex=self._ttl)
        except CACHE_ERRORS as exc:
            self._breaker.failed(exc, "storing")
            return
        self._breaker.succeeded()


class LocalPersistedQueries:
    def __init__(self, *, ttl_seconds: int = TTL_SECONDS, maxsize: int = 1024) -> None:
        self._queries: TTLCache[str, str] = TTLCache(maxsize=maxsize, ttl=ttl_seconds)

    async def get(self, sha256_hash: str) -> str | None:
        return self._queries.get(sha256_hash)

    async def put(self, sha256_hash: str, query: str) -> None:
        self._queries[sha256_hash] = query
