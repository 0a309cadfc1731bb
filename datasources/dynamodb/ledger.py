"""Webhook event-id dedupe: a conditional PutItem that only the first claimer wins.

Item: ``pk = WEBHOOK#<event id>``, ``sk = WEBHOOK``, ``claimed_at`` (ISO UTC) and
``expires_at`` (epoch seconds, default now + 7 days: Razorpay retries for 24 hours). An
expired claim that DynamoDB has not deleted yet counts as absent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from botocore.exceptions import ClientError

from datasources.aws import ClientFactory, utc_now
from datasources.dynamodb.table import error_code, key, n, s, translate_errors

DEFAULT_RETENTION: Final = timedelta(days=7)
SORT_KEY: Final = "WEBHOOK"


def webhook_pk(event_id: str) -> str:
    if not event_id:
        raise ValueError("event_id must not be empty")
    return f"WEBHOOK#{event_id}"


class DynamoWebhookEventLedger:
    def __init__(
        self,
        *,
        clients: ClientFactory,
        table_name: str,
        retention: timedelta = DEFAULT_RETENTION,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._clients = clients
        self._table = table_name
        self._retention = retention
        self._clock = clock

    async def claim(self, event_id: str) -> bool:
        now = self._clock()
        client = await self._clients.client("dynamodb")
        with translate_errors("webhook claim"):
            try:
                await client.put_item(
                    TableName=self._table,
                    Item={
                        **key(webhook_pk(event_id), SORT_KEY),
                        "claimed_at": s(now.isoformat()),
                        "expires_at": n(int((now + self._retention).timestamp())),
                    },
                    ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now",
                    ExpressionAttributeValues={":now": n(int(now.timestamp()))},
                )
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    async def release(self, event_id: str) -> None:
        client = await self._clients.client("dynamodb")
        with translate_errors("webhook release"):
            await client.delete_item(TableName=self._table, Key=key(webhook_pk(event_id), SORT_KEY))
