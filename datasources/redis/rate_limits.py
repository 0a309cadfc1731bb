"""Rate limits over ``limits``: sliding window counters in Redis, in-process while Redis is down.

Every instance shares the Redis windows (keys ``<prefix>:LIMITER/<bucket>/<subject>/<key>/…``).
When Redis fails (its own client: short timeouts, no retries, so a dead Redis costs a request
a fraction of a second at most), the in-process :class:`MemoryStorage` counts instead, and
Redis is tried again after ``retry_seconds``; one WARNING marks the outage and one INFO its
end, however many requests it lasted. In-process windows are per instance: while Redis is
down a client gets up to the limit from each instance.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from domain.rate_limits import ALLOWED, Bucket, Charge, Subject, Verdict, retry_after_seconds

logger = logging.getLogger(__name__)

Policy = Mapping[tuple[Bucket, Subject], str]  # e.g. (REQUESTS, USER): "300/minute"


def parse_policy(policy: Policy) -> dict[tuple[Bucket, Subject], RateLimitItem]:
    """Each limit string parsed (``limits.parse``: "10/minute", "100 per hour"…)."""
    return {bucket: parse(text) for bucket, text in policy.items()}


class LimitsRateLimiter:
    """:class:`domain.rate_limits.RateLimiter` over ``limits``' sliding window counter: two
    counters per key in Redis, whatever the weights (a moving window would keep one list entry
    per unit of cost: up to 20,000 per user)."""

    def __init__(
        self,
        *,
        policy: Policy,
        redis_url: str | None,
        prefix: str,
        timeout_seconds: float = 0.25,
        retry_seconds: float = 5.0,
    ) -> None:
        self._items = parse_policy(policy)
        self._memory = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._redis: SlidingWindowCounterRateLimiter | None = None
        self._pool: ConnectionPool | None = None
        if redis_url:
            self._pool = ConnectionPool.from_url(
                redis_url,
                socket_timeout=timeout_seconds,
                socket_connect_timeout=timeout_seconds,
                retry=Retry(NoBackoff(), 0),
            )
            storage = RedisStorage(
                "async+" + redis_url,
                implementation="redispy",
                key_prefix=prefix,
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
            self._redis = SlidingWindowCounterRateLimiter(storage)
        self._retry_seconds = retry_seconds
        self._down_since: float | None = None  # monotonic time of the last Redis failure

    @property
    def degraded(self) -> bool:
        """Counting in process (Redis failed within ``retry_seconds``)."""
        return self._down_since is not None

    async def hit(self, charges: Sequence[Charge]) -> Verdict:
        charges = [c for c in charges if (c.bucket, c.subject) in self._items]
        if not charges:
            return ALLOWED
        limiter = self._redis
        resting = self._down_since is not None and (
            time.monotonic() - self._down_since < self._retry_seconds
        )
        if limiter is None or resting:
            return await self._hit(self._memory, charges)
        try:
            verdict = await self._hit(limiter, charges)
        except Exception as exc:  # a rate limit never fails a request: count in process
            if self._down_since is None:
                logger.warning(
                    "rate limits: Redis unavailable (%s: %s); counting in process until it "
                    "answers again",
                    type(exc).__name__,
                    exc,
                )
            self._down_since = time.monotonic()
            return await self._hit(self._memory, charges)
        if self._down_since is not None:
            logger.info("rate limits: Redis answers again; counting there")
            self._down_since = None
        return verdict

    async def _hit(
        self, limiter: SlidingWindowCounterRateLimiter, charges: Sequence[Charge]
    ) -> Verdict:
        """Every bucket tested first, then all hit: a request refused by one bucket takes
        nothing from the others (two requests racing for a bucket's last room may still)."""
        plan = [(self._items[(c.bucket, c.subject)], c) for c in charges]
        fits = await asyncio.gather(*(limiter.test(i, *_ids(c), cost=c.cost) for i, c in plan))
        if all(fits):
            hits = await asyncio.gather(*(limiter.hit(i, *_ids(c), cost=c.cost) for i, c in plan))
            refused = [(i, c) for (i, c), ok in zip(plan, hits, strict=True) if not ok]
        else:
            refused = [(i, c) for (i, c), ok in zip(plan, fits, strict=True) if not ok]
        if not refused:
            return ALLOWED
        stats = await asyncio.gather(*(limiter.get_window_stats(i, *_ids(c)) for i, c in refused))
        now = time.time()
        wait = max(retry_after_seconds(reset_at=s.reset_time, now=now) for s in stats)
        return Verdict(allowed=False, retry_after=wait)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


def _ids(charge: Charge) -> tuple[str, str, str]:
    """The window's identifiers: ``LIMITER/<bucket>/<subject>/<key>/<amount>/<n>/<unit>``."""
    return charge.bucket.value, charge.subject.value, charge.key
