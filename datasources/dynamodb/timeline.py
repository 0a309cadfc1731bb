"""The payment timeline: every state change, webhook and callback of a session, in time order.

Item: ``pk = SESSION#<session id>``, ``sk = TL#<at, UTC, ISO with microseconds>Z#<ulid>``,
attributes ``at``, ``type``, ``source``, ``detail`` (absent when None). The timestamp prefix
orders entries by ``at``; the ULID-like suffix (48-bit milliseconds + 80 random bits,
monotonic within a process) keeps entries with the same ``at`` in append order and makes every
key unique, so two writers never overwrite each other.
"""

from __future__ import annotations

import builtins
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any, Final

from datasources.aws import ClientFactory
from datasources.dynamodb.table import get_s, key, s, translate_errors
from domain.payment_ports import TimelineEntry

SORT_PREFIX: Final = "TL#"
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
        """``entry_id``: the entry's own id (the outbox key of a decision's note); appending
        the same id again writes the same item, so a retried dispatch shows it once."""
        if detail is not None and len(detail) > MAX_DETAIL_CHARS:
            detail = detail[: MAX_DETAIL_CHARS - 1] + "…"
        stamp = timestamp_key(at)
        suffix = new_ulid() if entry_id is None else "ID#" + entry_id[:400]
        item: dict[str, Any] = {
            **key(session_pk(session_id), f"{SORT_PREFIX}{stamp}#{suffix}"),
            "at": s(stamp),
            "type": s(type),
            "source": s(source),
        }
        if detail is not None:
            item["detail"] = s(detail)
        client = await self._clients.client("dynamodb")
        with translate_errors("timeline append"):
            await client.put_item(
                TableName=self._table,
                Item=item,
                # never overwrite another entry; an entry with its own id is the same item again
                **({"ConditionExpression": "attribute_not_exists(pk)"} if entry_id is None else {}),
            )
        return TimelineEntry(
            session_id=session_id,
            at=datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
            type=type,
            source=source,
            detail=detail,
        )

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
