"""The payment timeline: every state change, webhook and callback of a session, in time order.

Item: ``pk = SESSION#<session id>``, ``sk = TL#<at, UTC, ISO with microseconds>Z#<ulid>``,
attributes ``at``, ``type``, ``source``, ``detail`` (absent when None). The timestamp prefix
orders entries by ``at``; the ULID-like suffix (48-bit milliseconds + 80 random bits,
monotonic within a process) keeps entries with the same ``at`` in append order and makes every
key unique, so two writers never overwrite each other.

An append with an ``entry_id`` (an outbox dedupe key: the dispatcher may write the same entry
again after a retry) also writes a marker ``pk = SESSION#<session id>``, ``sk =
TLID#<sha256 of the id>`` holding the entry's key and attributes, in one transaction with the
entry, on condition that the marker does not exist. A second append of the id fails the
condition, writes nothing and answers the first entry, whatever its ``at``. Markers are not
entries: ``list`` reads the ``TL#`` prefix only.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import random
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any, Final

from botocore.exceptions import ClientError

from datasources.aws import ClientFactory
from datasources.dynamodb.table import error_code, get_s, key, s, translate_errors
from domain.payment_ports import RecordStoreError, TimelineEntry
from domain.pii import redact

SORT_PREFIX: Final = "TL#"
MARKER_PREFIX: Final = "TLID#"
MAX_CONFLICT_RETRIES: Final = 8
MAX_DETAIL_CHARS: Final = 16_000  # DynamoDB items stop at 400 KB; a timeline line is far less
_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class MonotonicUlid:
    """ULID-like ids: 26 Crockford base32 characters, strictly increasing within a process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def __call__(self) -> str:
        with self._lock:
            candidate = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
            value = max(candidate, self._last + 1)
            self._last = value
        chars = []
        for _ in range(26):
            chars.append(_CROCKFORD[value & 31])
            value >>= 5
        return "".join(reversed(chars))


new_ulid = MonotonicUlid()


def session_pk(session_id: str) -> str:
    if not session_id:
        raise ValueError("session_id must not be empty")
    return f"SESSION#{session_id}"


def marker_sk(entry_id: str) -> str:
    if not entry_id:
        raise ValueError("entry_id must not be empty")
    return MARKER_PREFIX + hashlib.sha256(entry_id.encode()).hexdigest()


def timestamp_key(at: datetime) -> str:
    """Fixed width, UTC, microseconds: sorts as text exactly as the instants sort."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("timeline instants must be aware datetimes")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class DynamoPaymentTimeline:
    def __init__(
        self, *, clients: ClientFactory, table_name: str, page_size: int | None = None
    ) -> None:
        self._clients = clients
        self._table = table_name
        self._page_size = page_size  # items per Query page (None: DynamoDB's 1 MB pages)

    async def append(
        self,
        *,
        session_id: str,
        at: datetime,
        type: str,
        source: str,
        detail: str | None = None,
        entry_id: str | None = None,
    ) -> TimelineEntry:
        detail = redact(detail)  # never an e-mail or phone in the timeline (domain.pii)
        if detail is not None and len(detail) > MAX_DETAIL_CHARS:
            detail = detail[: MAX_DETAIL_CHARS - 1] + "…"
        pk = session_pk(session_id)
        stamp = timestamp_key(at)
        entry_sk = f"{SORT_PREFIX}{stamp}#{new_ulid()}"
        attributes: dict[str, Any] = {"at": s(stamp), "type": s(type), "source": s(source)}
        if detail is not None:
            attributes["detail"] = s(detail)
        client = await self._clients.client("dynamodb")
        if entry_id is None:
            with translate_errors("timeline append"):
                await client.put_item(
                    TableName=self._table,
                    Item={**key(pk, entry_sk), **attributes},
                    ConditionExpression="attribute_not_exists(pk)",  # never overwrite an entry
                )
            return _entry(session_id, attributes)
        marker = {**key(pk, marker_sk(entry_id)), **attributes, "entry_sk": s(entry_sk)}
        items = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": marker,
                    "ConditionExpression": "attribute_not_exists(pk)",  # the id's first append
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {**key(pk, entry_sk), **attributes, "entry_id": s(entry_id)},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        for attempt in range(MAX_CONFLICT_RETRIES):
            with translate_errors("timeline append"):
                try:
                    await client.transact_write_items(TransactItems=items)
                    return _entry(session_id, attributes)
                except ClientError as exc:
                    if error_code(exc) != "TransactionCanceledException":
                        raise
                    reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                    if reasons and reasons[0] == "ConditionalCheckFailed":
                        return await self._appended(session_id, entry_id)
                    if not any(code == "TransactionConflict" for code in reasons):
                        raise
            await asyncio.sleep(random.uniform(0, min(0.5, 0.01 * 2**attempt)))
        raise RecordStoreError("timeline append: too many transaction conflicts", retryable=True)

    async def _appended(self, session_id: str, entry_id: str) -> TimelineEntry:
        """The entry an earlier append of ``entry_id`` wrote (its marker holds a copy)."""
        client = await self._clients.client("dynamodb")
        with translate_errors("timeline append"):
            answer = await client.get_item(
                TableName=self._table,
                Key=key(session_pk(session_id), marker_sk(entry_id)),
                ConsistentRead=True,
            )
        item = answer.get("Item")
        if item is None:  # the marker was there a moment ago; entries are never deleted
            raise RecordStoreError("timeline append: entry id marker vanished", retryable=True)
        return _entry(session_id, item)

    async def list(self, session_id: str) -> builtins.list[TimelineEntry]:
        client = await self._clients.client("dynamodb")
        entries: builtins.list[TimelineEntry] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": s(session_pk(session_id)),
                ":prefix": s(SORT_PREFIX),
            },
            "ConsistentRead": True,
            "ScanIndexForward": True,
        }
        if self._page_size is not None:
            request["Limit"] = self._page_size
        with translate_errors("timeline list"):
            while True:
                page = await client.query(**request)
                entries.extend(_entry(session_id, item) for item in page.get("Items", []))
                last = page.get("LastEvaluatedKey")
                if not last:
                    return entries
                request["ExclusiveStartKey"] = last


def _entry(session_id: str, item: dict[str, Any]) -> TimelineEntry:
    return TimelineEntry(
        session_id=session_id,
        at=datetime.strptime(get_s(item, "at") or "", "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
        type=get_s(item, "type") or "",
        source=get_s(item, "source") or "",
        detail=get_s(item, "detail"),
    )
