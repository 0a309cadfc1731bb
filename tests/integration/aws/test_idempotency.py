"""Idempotency records: conditional claims, fingerprints, results and the TTL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from datasources.aws import AwsClients
from datasources.dynamodb import DynamoIdempotencyStore
from datasources.dynamodb.idempotency import idempotency_pk
from domain.payment_ports import IdempotencyOutcome as Outcome

TTL = timedelta(hours=24)
SCOPE = "paymentSessionCreate:user-1"


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2025, 1, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def store(aws: AwsClients, table_name: str, clock: FakeClock) -> DynamoIdempotencyStore:
    return DynamoIdempotencyStore(clients=aws, table_name=table_name, clock=clock)


async def test_claim_complete_replay_and_mismatch(store: DynamoIdempotencyStore) -> None:
    first = await store.claim(scope=SCOPE, key="k-1", fingerprint="cart-A", ttl=TTL)
    assert first.outcome is Outcome.ACQUIRED
    assert first.record.result_ref is None

    again = await store.claim(scope=SCOPE, key="k-1", fingerprint="cart-A", ttl=TTL)
    assert again.outcome is Outcome.IN_PROGRESS
    other = await store.claim(scope=SCOPE, key="k-1", fingerprint="cart-B", ttl=TTL)
    assert other.outcome is Outcome.MISMATCH
    assert other.record.fingerprint == "cart-A"

    assert not await store.complete(scope=SCOPE, key="k-1", fingerprint="cart-B", result_ref="x")
    assert await store.complete(scope=SCOPE, key="k-1", fingerprint="cart-A", result_ref="ps_1")

    replay = await store.claim(scope=SCOPE, key="k-1", fingerprint="cart-A", ttl=TTL)
    assert replay.outcome is Outcome.COMPLETED
    assert replay.record.result_ref == "ps_1"
    assert (await store.claim(scope=SCOPE, key="k-1", fingerprint="cart-B", ttl=TTL)).outcome is (
        Outcome.MISMATCH
    )
    record = await store.get(scope=SCOPE, key="k-1")
    assert record is not None
    assert (record.fingerprint, record.result_ref) == ("cart-A", "ps_1")


async def test_keys_are_scoped(store: DynamoIdempotencyStore) -> None:
    a = await store.claim(scope="scope-a", key="same", fingerprint="f", ttl=TTL)
    b = await store.claim(scope="scope-b", key="same", fingerprint="g", ttl=TTL)
    assert (a.outcome, b.outcome) == (Outcome.ACQUIRED, Outcome.ACQUIRED)
    with pytest.raises(ValueError):
        await store.claim(scope="has#hash", key="k", fingerprint="f", ttl=TTL)


async def test_concurrent_claims_acquire_once(store: DynamoIdempotencyStore) -> None:
    claims = await asyncio.gather(
        *(store.claim(scope=SCOPE, key="k-storm", fingerprint="cart-A", ttl=TTL) for _ in range(30))
    )
    outcomes = [claim.outcome for claim in claims]
    assert outcomes.count(Outcome.ACQUIRED) == 1
    assert outcomes.count(Outcome.IN_PROGRESS) == 29


async def test_the_ttl_attribute_is_set_and_honoured(
    aws: AwsClients, table_name: str, store: DynamoIdempotencyStore, clock: FakeClock
) -> None:
    claim = await store.claim(scope=SCOPE, key="k-ttl", fingerprint="cart-A", ttl=TTL)
    expected_epoch = int((clock.now + TTL).timestamp())
    assert claim.record.expires_at == datetime.fromtimestamp(expected_epoch, UTC)

    dynamodb = await aws.client("dynamodb")
    item = (
        await dynamodb.get_item(
            TableName=table_name,
            Key={"pk": {"S": idempotency_pk(SCOPE, "k-ttl")}, "sk": {"S": "IDEMPOTENCY"}},
            ConsistentRead=True,
        )
    )["Item"]
    assert int(item["expires_at"]["N"]) == expected_epoch
    assert item["fingerprint"]["S"] == "cart-A"

    clock.now += TTL  # expired; DynamoDB may not have deleted it yet
    assert await store.get(scope=SCOPE, key="k-ttl") is None
    assert not await store.complete(scope=SCOPE, key="k-ttl", fingerprint="cart-A", result_ref="x")
    fresh = await store.claim(scope=SCOPE, key="k-ttl", fingerprint="cart-B", ttl=TTL)
    assert fresh.outcome is Outcome.ACQUIRED


async def test_release_drops_only_an_unfinished_claim_of_the_same_request(
    store: DynamoIdempotencyStore,
) -> None:
    await store.claim(scope=SCOPE, key="k-rel", fingerprint="cart-A", ttl=TTL)
    await store.release(scope=SCOPE, key="k-rel", fingerprint="cart-B")  # not the owner
    assert await store.get(scope=SCOPE, key="k-rel") is not None
    await store.release(scope=SCOPE, key="k-rel", fingerprint="cart-A")
    assert await store.get(scope=SCOPE, key="k-rel") is None

    await store.claim(scope=SCOPE, key="k-done", fingerprint="cart-A", ttl=TTL)
    assert await store.complete(scope=SCOPE, key="k-done", fingerprint="cart-A", result_ref="ps")
    await store.release(scope=SCOPE, key="k-done", fingerprint="cart-A")  # completed: kept
    kept = await store.get(scope=SCOPE, key="k-done")
    assert kept is not None
    assert kept.result_ref == "ps"
    await store.release(scope=SCOPE, key="k-missing", fingerprint="cart-A")  # nothing there
