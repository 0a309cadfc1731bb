"""Idempotency records: conditional writes with a TTL, keyed by scope and client key.

Item: ``pk = IDEMPOTENCY#<scope>#<key>``, ``sk = IDEMPOTENCY``, ``fingerprint``,
``result_ref`` (absent until completed), ``created_at`` (ISO UTC), ``expires_at`` (epoch
seconds; DynamoDB's TTL attribute). A record past ``expires_at`` counts as absent even before
DynamoDB deletes it: it can be claimed again and :meth:`get` does not return it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from botocore.exceptions import ClientError

from datasources.aws import ClientFactory, utc_now
from datasources.dynamodb.table import (
    check_key_part,
    error_code,
    get_n,
    get_s,
    n,
    s,
    translate_errors,
)
from datasources.dynamodb.table import key as item_key
from domain.payment_ports import (
    IdempotencyClaim,
    IdempotencyOutcome,
    IdempotencyRecord,
    RecordStoreError,
    idempotency_outcome,
)

SORT_KEY: Final = "IDEMPOTENCY"


def idempotency_pk(scope: str, idempotency_key: str) -> str:
    check_key_part("scope", scope)
    if not idempotency_key:
        raise ValueError("idempotency key must not be empty")
    return f"IDEMPOTENCY#{scope}#{idempotency_key}"


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


class DynamoIdempotencyStore:
    def __init__(
        self,
        *,
        clients: ClientFactory,
        table_name: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._clients = clients
        self._table = table_name
        self._clock = clock

    async def claim(
        self, *, scope: str, key: str, fingerprint: str, ttl: timedelta
    ) -> IdempotencyClaim:
        if ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        for _ in range(3):
            claim = await self._try_claim(scope=scope, key=key, fingerprint=fingerprint, ttl=ttl)
            if claim is not None:
                return claim
        raise RecordStoreError("idempotency claim kept racing with expiry", retryable=True)

    async def _try_claim(
        self, *, scope: str, key: str, fingerprint: str, ttl: timedelta
    ) -> IdempotencyClaim | None:
        """The claim, or None when the record in the way vanished before it could be read."""
        now = self._clock().astimezone(UTC)
        expires_epoch = _epoch(now + ttl)
        client = await self._clients.client("dynamodb")
        with translate_errors("idempotency claim"):
            try:
                await client.put_item(
                    TableName=self._table,
                    Item={
                        **self._key(scope, key),
                        "fingerprint": s(fingerprint),
                        "created_at": s(now.isoformat()),
                        "expires_at": n(expires_epoch),
                    },
                    ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now",
                    ExpressionAttributeValues={":now": n(_epoch(now))},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                existing = exc.response.get("Item")
                current = (
                    _record(scope, key, existing)
                    if existing
                    else await self.get(scope=scope, key=key)
                )
                if current is None:
                    return None
                outcome = idempotency_outcome(current, fingerprint=fingerprint, acquired=False)
                return IdempotencyClaim(outcome=outcome, record=current)
        record = IdempotencyRecord(
            scope=scope,
            key=key,
            fingerprint=fingerprint,
            result_ref=None,
            created_at=now,
            expires_at=datetime.fromtimestamp(expires_epoch, UTC),
        )
        return IdempotencyClaim(outcome=IdempotencyOutcome.ACQUIRED, record=record)

    async def complete(self, *, scope: str, key: str, fingerprint: str, result_ref: str) -> bool:
        client = await self._clients.client("dynamodb")
        with translate_errors("idempotency complete"):
            try:
                await client.update_item(
                    TableName=self._table,
                    Key=self._key(scope, key),
                    UpdateExpression="SET result_ref = :ref",
                    ConditionExpression=(
                        "attribute_exists(pk) AND fingerprint = :fp AND expires_at > :now"
                    ),
                    ExpressionAttributeValues={
                        ":ref": s(result_ref),
                        ":fp": s(fingerprint),
                        ":now": n(_epoch(self._clock())),
                    },
                )
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    async def get(self, *, scope: str, key: str) -> IdempotencyRecord | None:
        client = await self._clients.client("dynamodb")
        with translate_errors("idempotency get"):
            answer = await client.get_item(
                TableName=self._table, Key=self._key(scope, key), ConsistentRead=True
            )
        item = answer.get("Item")
        if not item or get_n(item, "expires_at") <= _epoch(self._clock()):
            return None
        return _record(scope, key, item)

    async def release(self, *, scope: str, key: str, fingerprint: str) -> None:
        client = await self._clients.client("dynamodb")
        with translate_errors("idempotency release"):
            try:
                await client.delete_item(
                    TableName=self._table,
                    Key=self._key(scope, key),
                    ConditionExpression="fingerprint = :fp AND attribute_not_exists(result_ref)",
                    ExpressionAttributeValues={":fp": s(fingerprint)},
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise

    @staticmethod
    def _key(scope: str, idempotency_key: str) -> dict[str, dict[str, str]]:
        return item_key(idempotency_pk(scope, idempotency_key), SORT_KEY)


def _record(scope: str, idempotency_key: str, item: Mapping[str, Any]) -> IdempotencyRecord:
    return IdempotencyRecord(
        scope=scope,
        key=idempotency_key,
        fingerprint=get_s(item, "fingerprint") or "",
        result_ref=get_s(item, "result_ref"),
        created_at=datetime.fromisoformat(get_s(item, "created_at") or "1970-01-01T00:00:00+00:00"),
        expires_at=datetime.fromtimestamp(get_n(item, "expires_at"), UTC),
    )
