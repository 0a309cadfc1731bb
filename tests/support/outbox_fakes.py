"""In-memory fakes for the outbox dispatcher's ports, behaving like the adapters:

- :class:`FakeOutbox` keeps one row per dedupe key, as ``datasources/postgres/outbox.py`` does:
  ``claim`` hands out due, unsent, unparked rows oldest first and leases them; ``park`` counts
  the attempt and parks; ``requeue`` makes parked rows due with attempts reset.
- :class:`FakeNotifier` records every publish with its attributes; ``failures`` maps a dedupe
  key to the exception its every publish raises.

``outbox_deps()`` wires them into :func:`tests.support.fakes.fake_deps`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from domain.dead_letter import ParkedMessage
from domain.outbox import OutboxKind, OutboxMessage, PendingMessage
from domain.payment_ports import NotificationTopic
from resolvers.deps import Deps
from tests.support.fakes import FixedClock, fake_deps


@dataclass
class FakeRow:
    id: str
    kind: OutboxKind
    dedupe_key: str
    payload: Mapping[str, str | int]
    created_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    parked_at: datetime | None = None


@dataclass
class FakeOutbox:
    rows: dict[str, FakeRow] = field(default_factory=dict)  # by id, in insertion order

    def add(self, message: OutboxMessage, *, now: datetime) -> str:
        """Enqueue (a dedupe key already there is kept); answers the row id."""
        for row in self.rows.values():
            if row.dedupe_key == message.dedupe_key:
                return row.id
        row_id = str(uuid.uuid4())
        self.rows[row_id] = FakeRow(
            id=row_id,
            kind=message.kind,
            dedupe_key=message.dedupe_key,
            payload=dict(message.payload),
            created_at=now + timedelta(microseconds=len(self.rows)),
            next_attempt_at=now,
        )
        return row_id

    def by_key(self, dedupe_key: str) -> FakeRow:
        return next(r for r in self.rows.values() if r.dedupe_key == dedupe_key)

    @staticmethod
    def _pending(row: FakeRow) -> bool:
        return row.sent_at is None and row.parked_at is None

    @staticmethod
    def _matches(row: FakeRow, kind: OutboxKind | None, ids: Sequence[str] | None) -> bool:
        return (
            row.parked_at is not None
            and row.sent_at is None
            and (kind is None or row.kind is kind)
            and (ids is None or row.id in ids)
        )

    async def claim(self, *, limit: int, now: datetime, lease: timedelta) -> list[PendingMessage]:
        due = sorted(
            (r for r in self.rows.values() if self._pending(r) and r.next_attempt_at <= now),
            key=lambda r: r.created_at,
        )[:limit]
        for row in due:
            row.next_attempt_at = now + lease
        return [
            PendingMessage(
                id=r.id,
                kind=r.kind,
                dedupe_key=r.dedupe_key,
                payload=dict(r.payload),
                attempts=r.attempts,
            )
            for r in due
        ]

    async def mark_sent(self, message_id: str, *, now: datetime) -> None:
        row = self.rows[message_id]
        row.sent_at, row.attempts, row.last_error = now, row.attempts + 1, None

    async def mark_failed(self, message_id: str, *, error: str, retry_at: datetime) -> None:
        row = self.rows[message_id]
        if row.sent_at is None:
            row.attempts, row.last_error, row.next_attempt_at = row.attempts + 1, error, retry_at

    async def park(self, message_id: str, *, error: str, now: datetime) -> None:
        row = self.rows[message_id]
        if self._pending(row):
            row.attempts, row.last_error, row.parked_at = row.attempts + 1, error, now

    async def requeue(
        self,
        *,
        now: datetime,
        kind: OutboxKind | None = None,
        ids: Sequence[str] | None = None,
    ) -> int:
        matching = [r for r in self.rows.values() if self._matches(r, kind, ids)]
        for row in matching:
            row.parked_at, row.attempts, row.next_attempt_at = None, 0, now
        return len(matching)

    async def parked(
        self,
        *,
        limit: int,
        kind: OutboxKind | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[ParkedMessage]:
        matching = sorted(
            (r for r in self.rows.values() if self._matches(r, kind, ids)),
            key=lambda r: (r.parked_at, r.id),
        )
        return [
            ParkedMessage(
                id=r.id,
                kind=r.kind,
                dedupe_key=r.dedupe_key,
                attempts=r.attempts,
                last_error=r.last_error,
                created_at=r.created_at,
                parked_at=r.parked_at or r.created_at,
            )
            for r in matching[:limit]
        ]

    async def pending_count(self) -> int:
        return sum(1 for r in self.rows.values() if self._pending(r))

    async def parked_count(self) -> int:
        return sum(1 for r in self.rows.values() if self._matches(r, None, None))


@dataclass(frozen=True, slots=True)
class Published:
    topic: NotificationTopic
    subject: str
    message: str
    dedupe_key: str
    event: str
    customer_id: str | None


@dataclass
class FakeNotifier:
    published: list[Published] = field(default_factory=list)
    failures: dict[str, Exception] = field(default_factory=dict)  # dedupe key → raised
    calls: int = 0

    async def publish(
        self,
        *,
        topic: NotificationTopic,
        subject: str,
        message: str,
        dedupe_key: str,
        event: str,
        customer_id: str | None = None,
    ) -> str:
        self.calls += 1
        if dedupe_key in self.failures:
            raise self.failures[dedupe_key]
        self.published.append(
            Published(
                topic=topic,
                subject=subject,
                message=message,
                dedupe_key=dedupe_key,
                event=event,
                customer_id=customer_id,
            )
        )
        return f"msg-{len(self.published)}"


@dataclass
class OutboxFakes:
    deps: Deps
    outbox: FakeOutbox
    notifier: FakeNotifier
    clock: FixedClock


def outbox_deps(*, max_attempts: int = 3) -> OutboxFakes:
    outbox, notifier, clock = FakeOutbox(), FakeNotifier(), FixedClock()
    deps = replace(
        fake_deps(),
        clock=clock,
        outbox=outbox,
        notifier=notifier,
        outbox_max_attempts=max_attempts,
    )
    return OutboxFakes(deps=deps, outbox=outbox, notifier=notifier, clock=clock)
