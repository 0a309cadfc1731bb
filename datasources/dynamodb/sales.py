"""Daily sales counters, each event counted exactly once.

One TransactWriteItems per record call:

1. Put ``pk = SALESEVENT#<kind>#<event key>``, ``sk = SALESEVENT`` (with ``day``, ``amount``,
   ``recorded_at``) on condition ``attribute_not_exists(pk)``;
2. Update ``pk = SALES``, ``sk = DAY#<YYYY-MM-DD>`` with ``ADD <counters>``.

Both happen or neither does. A duplicate fails the condition: DynamoDB cancels the transaction
with reason ``ConditionalCheckFailed`` and the call answers False (already counted). Concurrent
transactions on the same day item may be cancelled with ``TransactionConflict``; those are
retried with jittered backoff (botocore does not retry them). Markers have no TTL: a duplicate
arriving months later is still a no-op. ``kind`` (paid, failed, refund) is part of the marker
key, so one key may be used for different kinds.

Day counters: ``paid_count``, ``paid_amount``, ``refund_count``, ``refunded_amount``,
``failed_count`` (Numbers; amounts are integer paise). Days are the merchant's dates
(Asia/Kolkata): callers convert instants with ``domain.payments.merchant_date``.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from botocore.exceptions import ClientError

from datasources.aws import ClientFactory
from datasources.dynamodb.table import error_code, get_n, key, n, s, translate_errors
from domain.payment_ports import RecordStoreError, SalesDay

SALES_PK: Final = "SALES"
DAY_PREFIX: Final = "DAY#"
MARKER_SK: Final = "SALESEVENT"
MAX_DAYS: Final = 366
MAX_CONFLICT_RETRIES: Final = 12


def day_sk(day: date) -> str:
    return f"{DAY_PREFIX}{day.isoformat()}"


def marker_pk(kind: str, event_key: str) -> str:
    if not event_key:
        raise ValueError("event_key must not be empty")
    return f"SALESEVENT#{kind}#{event_key}"


def _check_day(day: date) -> date:
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError("sales days are dates (the merchant's day), not datetimes")
    return day


def _check_amount(amount: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError(f"amount must be a non-negative integer of paise: {amount!r}")
    return amount


class DynamoSalesCounters:
    def __init__(self, *, clients: ClientFactory, table_name: str) -> None:
        self._clients = clients
        self._table = table_name

    async def record_paid(self, *, day: date, amount: int, event_key: str) -> bool:
        return await self._record(
            kind="paid",
            day=day,
            event_key=event_key,
            amount=_check_amount(amount),
            counters={"paid_count": 1, "paid_amount": amount},
        )

    async def record_failed(self, *, day: date, event_key: str) -> bool:
        return await self._record(
            kind="failed", day=day, event_key=event_key, amount=0, counters={"failed_count": 1}
        )

    async def record_refund(self, *, day: date, amount: int, event_key: str) -> bool:
        return await self._record(
            kind="refund",
            day=day,
            event_key=event_key,
            amount=_check_amount(amount),
            counters={"refund_count": 1, "refunded_amount": amount},
        )

    async def read(self, *, from_day: date, to_day: date) -> list[SalesDay]:
        _check_day(from_day)
        _check_day(to_day)
        if to_day < from_day:
            raise ValueError("to_day is before from_day")
        if (to_day - from_day).days + 1 > MAX_DAYS:
            raise ValueError(f"at most {MAX_DAYS} days at a time")
        client = await self._clients.client("dynamodb")
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
            "ExpressionAttributeValues": {
                ":pk": s(SALES_PK),
                ":from": s(day_sk(from_day)),
                ":to": s(day_sk(to_day)),
            },
            "ConsistentRead": True,
        }
        found: dict[date, SalesDay] = {}
        with translate_errors("sales read"):
            while True:
                page = await client.query(**request)
                for item in page.get("Items", []):
                    day = date.fromisoformat(item["sk"]["S"].removeprefix(DAY_PREFIX))
                    found[day] = SalesDay(
                        day=day,
                        paid_count=get_n(item, "paid_count"),
                        paid_amount=get_n(item, "paid_amount"),
                        refund_count=get_n(item, "refund_count"),
                        refunded_amount=get_n(item, "refunded_amount"),
                        failed_count=get_n(item, "failed_count"),
                    )
                last = page.get("LastEvaluatedKey")
                if not last:
                    break
                request["ExclusiveStartKey"] = last
        days = (from_day + timedelta(days=offset) for offset in range((to_day - from_day).days + 1))
        return [found.get(day, SalesDay(day=day)) for day in days]

    async def _record(
        self, *, kind: str, day: date, event_key: str, amount: int, counters: dict[str, int]
    ) -> bool:
        _check_day(day)
        names = {f"#c{index}": name for index, name in enumerate(counters)}
        values = {f":c{index}": n(value) for index, value in enumerate(counters.values())}
        pairs = zip(names, values, strict=True)
        update = "ADD " + ", ".join(f"{name} {value}" for name, value in pairs)
        items = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **key(marker_pk(kind, event_key), MARKER_SK),
                        "day": s(day.isoformat()),
                        "amount": n(amount),
                        "recorded_at": s(datetime.now(UTC).isoformat()),
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": key(SALES_PK, day_sk(day)),
                    "UpdateExpression": update,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            },
        ]
        client = await self._clients.client("dynamodb")
        for attempt in range(MAX_CONFLICT_RETRIES):
            with translate_errors("sales record"):
                try:
                    await client.transact_write_items(TransactItems=items)
                    return True
                except ClientError as exc:
                    if error_code(exc) != "TransactionCanceledException":
                        raise
                    reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                    if reasons and reasons[0] == "ConditionalCheckFailed":
                        return False  # the marker exists: counted before
                    if not any(code == "TransactionConflict" for code in reasons):
                        raise
            await asyncio.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))
        raise RecordStoreError("sales record: too many transaction conflicts", retryable=True)
