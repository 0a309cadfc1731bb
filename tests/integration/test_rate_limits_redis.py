"""The limits adapter on the real Redis: sliding windows shared by instances, weighted, a
refused request taking nothing, keys under the prefix; in process while Redis is down, with
one log line per outage."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from datasources.redis.rate_limits import LimitsRateLimiter, Policy
from domain.rate_limits import Bucket, Charge, Subject
from tests.support.services import free_port

POLICY: Policy = {
    (Bucket.REQUESTS, Subject.IP): "5/minute",
    (Bucket.REQUESTS, Subject.USER): "3/minute",
}


def ip(key: str, cost: int = 1) -> Charge:
    return Charge(bucket=Bucket.REQUESTS, subject=Subject.IP, key=key, cost=cost)


def user(key: str, cost: int = 1) -> Charge:
    return Charge(bucket=Bucket.REQUESTS, subject=Subject.USER, key=key, cost=cost)


@pytest.fixture
def prefix() -> str:
    return f"test-{secrets.token_hex(4)}:ratelimit"


@pytest.fixture
async def redis(redis_url: str, prefix: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_windows_are_shared_weighted_and_kept_under_the_prefix(
    redis_url: str, prefix: str, redis: Redis
) -> None:
    one = LimitsRateLimiter(policy=POLICY, redis_url=redis_url, prefix=prefix)
    two = LimitsRateLimiter(policy=POLICY, redis_url=redis_url, prefix=prefix)
    try:
        assert (await one.hit([ip("203.0.113.9", cost=3)])).allowed
        assert (await two.hit([ip("203.0.113.9")])).allowed  # another instance, same window
        refused = await one.hit([ip("203.0.113.9", cost=2)])
        assert not refused.allowed and 55 <= refused.retry_after <= 60
        assert (await two.hit([ip("203.0.113.9")])).allowed  # the refusal took nothing
        assert not (await two.hit([ip("203.0.113.9")])).allowed
        assert (await one.hit([ip("198.51.100.1")])).allowed  # another client
        keys = sorted([k.decode() async for k in redis.scan_iter(match=f"{prefix}:*")])
        # a sliding window counter per client (hash-tagged: this window's count and the last
        # one's live under one tag), O(1) in Redis whatever the weights
        assert {k.split("}")[0] + "}" for k in keys} == {
            f"{prefix}:{{LIMITER/requests/ip/198.51.100.1/5/1/minute}}",
            f"{prefix}:{{LIMITER/requests/ip/203.0.113.9/5/1/minute}}",
        }
        assert len(keys) <= 4  # two counters per client at most, whatever the weights
        assert not one.degraded
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_request_refused_by_one_bucket_takes_nothing_from_the_others(
    redis_url: str, prefix: str, redis: Redis
) -> None:
    limiter = LimitsRateLimiter(policy=POLICY, redis_url=redis_url, prefix=prefix)
    try:
        for _ in range(3):
            assert (await limiter.hit([ip("10.0.0.1"), user("asha")])).allowed
        assert not (await limiter.hit([ip("10.0.0.1"), user("asha")])).allowed
        # the IP bucket holds 3, not 4: two more from another user fit, the third does not
        assert (await limiter.hit([ip("10.0.0.1"), user("ravi")])).allowed
        assert (await limiter.hit([ip("10.0.0.1"), user("ravi")])).allowed
        assert not (await limiter.hit([ip("10.0.0.1"), user("ravi")])).allowed
        # a bucket the policy does not name is not counted
        other = Charge(bucket=Bucket.CALLBACK, subject=Subject.IP, key="10.0.0.1", cost=1)
        assert (await limiter.hit([other])).allowed
    finally:
        await limiter.aclose()


async def test_redis_down_counts_in_process_and_logs_once(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    limiter = LimitsRateLimiter(policy=POLICY, redis_url=dead, prefix=prefix, retry_seconds=0)
    try:
        with caplog.at_level(logging.INFO, logger="datasources.redis.rate_limits"):
            verdicts = [(await limiter.hit([user("asha")])).allowed for _ in range(5)]
        assert verdicts == [True, True, True, False, False]  # the limit holds in process
        assert limiter.degraded
        lines = [r for r in caplog.records if r.name == "datasources.redis.rate_limits"]
        # retried on every request (retry_seconds=0) and failing each time: one line
        assert len(lines) == 1 and lines[0].levelno == logging.WARNING
        assert "Redis unavailable" in lines[0].getMessage()
    finally:
        await limiter.aclose()


async def test_back_on_redis_once_it_answers(
    redis_url: str, prefix: str, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = LimitsRateLimiter(policy=POLICY, redis_url=redis_url, prefix=prefix, retry_seconds=0)
    try:
        limiter._down_since = 0.0  # as if an outage had begun
        with caplog.at_level(logging.INFO, logger="datasources.redis.rate_limits"):
            assert (await limiter.hit([user("asha")])).allowed
            assert (await limiter.hit([user("asha")])).allowed
        assert not limiter.degraded
        lines = [r.getMessage() for r in caplog.records if r.name.endswith("rate_limits")]
        assert lines == ["rate limits: Redis answers again; counting there"]
        assert [k async for k in redis.scan_iter(match=f"{prefix}:*")]
    finally:
        await limiter.aclose()
