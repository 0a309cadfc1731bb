"""Webhook event-id ledger: the first claim wins, atomically, and claims expire."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from datasources.aws import AwsClients
from datasources.dynamodb import DynamoWebhookEventLedger
from datasources.dynamodb.ledger import webhook_pk


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def ledger(aws: AwsClients, table_name: str) -> DynamoWebhookEventLedger:
    return DynamoWebhookEventLedger(clients=aws, table_name=table_name)


async def test_fifty_concurrent_claims_of_one_event_have_one_winner(
    ledger: DynamoWebhookEventLedger,
) -> None:
    results = await asyncio.gather(*(ledger.claim("evt_storm") for _ in range(50)))
    assert results.count(True) == 1
    assert results.count(False) == 49
    assert not await ledger.claim("evt_storm")


async def test_distinct_events_are_claimed_independently(ledger: DynamoWebhookEventLedger) -> None:
    results = await asyncio.gather(*(ledger.claim(f"evt_{i}") for i in range(20)))
    assert all(results)


async def test_a_released_claim_can_be_claimed_again(ledger: DynamoWebhookEventLedger) -> None:
    assert await ledger.claim("evt_retry")
    await ledger.release("evt_retry")
    assert await ledger.claim("evt_retry")
    assert not await ledger.claim("evt_retry")
    await ledger.release("evt_never_claimed")  # releasing nothing is fine


async def test_claims_carry_a_ttl_and_expire(aws: AwsClients, table_name: str) -> None:
    clock = FakeClock(datetime(2025, 1, 1, 12, 0, tzinfo=UTC))
    ledger = DynamoWebhookEventLedger(
        clients=aws, table_name=table_name, retention=timedelta(days=7), clock=clock
    )
    assert await ledger.claim("evt_ttl")

    dynamodb = await aws.client("dynamodb")
    item = (
        await dynamodb.get_item(
            TableName=table_name,
            Key={"pk": {"S": webhook_pk("evt_ttl")}, "sk": {"S": "WEBHOOK"}},
            ConsistentRead=True,
        )
    )["Item"]
    assert int(item["expires_at"]["N"]) == int((clock.now + timedelta(days=7)).timestamp())

    clock.now += timedelta(days=7) - timedelta(seconds=1)
    assert not await ledger.claim("evt_ttl")  # still within retention
    clock.now += timedelta(seconds=1)
    assert await ledger.claim("evt_ttl")  # expired (DynamoDB deletes lazily): claimable again
    assert not await ledger.claim("evt_ttl")


async def test_the_ttl_attribute_is_enabled_on_the_table(aws: AwsClients, table_name: str) -> None:
    dynamodb = await aws.client("dynamodb")
    ttl = await dynamodb.describe_time_to_live(TableName=table_name)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] in {"ENABLED", "ENABLING"}
