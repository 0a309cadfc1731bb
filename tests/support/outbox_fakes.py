"""In-memory fakes for the outbox dispatcher's ports, behaving like the adapters:

- :class:`FakeOutbox` keeps one row per dedupe key, as ``datasources/postgres/outbox.py`` does:
  ``claim`` hands out due, unsent, unparked rows oldest first (of the given dedupe keys) and
  leases them; ``release`` gives leased rows back untried; ``park`` counts the attempt and
  parks; ``requeue`` makes parked rows due with attempts reset.
- :class:`FakeNotifier` records every publish with its attributes; ``failures`` maps a dedupe
  key to the exception its every publish raises.
- :class:`FakeSales` counts each event key once per kind, as the DynamoDB counters do.

``outbox_deps()`` wires them into :func:`tests.support.fakes.fake_deps`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from domain.dead_letter import ParkedMessage
from domain.outbox import OutboxKind, OutboxMessage, PendingMessage
from domain.payment_ports import NotificationTopic, RecordStoreError, SalesDay
from resolvers.deps import Deps
from tests.support.fakes import FixedClock, fake_deps


@dataclass
class FakeRow:
    id: str
    kind: OutboxKind
    dedupe_key: str
    payload: Mapping[str, str | int | None]
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

    def dedupe_keys(self) -> list[str]:
        """Dedupe keys in the order they were enqueued."""
        return [r.dedupe_key for r in self.rows.values()]

    def unsent(self) -> list[FakeRow]:
        return [r for r in self.rows.values() if r.sent_at is None]

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

    async def claim(
        self,
        *,
        limit: int,
        now: datetime,
        lease: timedelta,
        keys: Sequence[str] | None = None,
    ) -> list[PendingMessage]:
        due = sorted(
            (
                r
                for r in self.rows.values()
                if self._pending(r)
                and r.next_attempt_at <= now
                and (keys is None or r.dedupe_key in keys)
            ),
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

    async def release(self, message_ids: Sequence[str], *, now: datetime) -> None:
        """Leased rows given back untried: due again at ``now`` (sent ones stay sent)."""
        for message_id in message_ids:
            row = self.rows[message_id]
            if row.sent_at is None:
                row.next_attempt_at = now

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
        if ids is not None and not ids:
            return 0
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
class FakeSales:
    """The dashboard counters: each event key counts once per kind, as the DynamoDB adapter's
    conditional writes do; ``down`` makes every write fail as a throttled table does."""

    days: dict[date, SalesDay] = field(default_factory=dict)
    counted: set[tuple[str, str]] = field(default_factory=set)  # (kind, event key)
    down: bool = False

    def _count(self, kind: str, event_key: str, day: date, **more: int) -> bool:
        if self.down:
            raise RecordStoreError("sales counter: throttled", retryable=True)
        if (kind, event_key) in self.counted:
            return False
        self.counted.add((kind, event_key))
        current = self.days.get(day, SalesDay(day=day))
        self.days[day] = replace(
            current, **{name: getattr(current, name) + value for name, value in more.items()}
        )
        return True

    async def record_paid(self, *, day: date, amount: int, event_key: str) -> bool:
        return self._count("paid", event_key, day, paid_count=1, paid_amount=amount)

    async def record_failed(self, *, day: date, event_key: str) -> bool:
        return self._count("failed", event_key, day, failed_count=1)

    async def record_refund(self, *, day: date, amount: int, event_key: str) -> bool:
        return self._count("refund", event_key, day, refund_count=1, refunded_amount=amount)

    async def read(self, *, from_day: date, to_day: date) -> list[SalesDay]:
        days = []
        day = from_day
        while day <= to_day:
            days.append(self.days.get(day, SalesDay(day=day)))
            day += timedelta(days=1)
        return days


@dataclass
class OutboxFakes:
    deps: Deps
    outbox: FakeOutbox
    notifier: FakeNotifier
    clock: FixedClock
    sales: FakeSales


def outbox_deps(*, max_attempts: int = 3) -> OutboxFakes:
    outbox, notifier, clock, sales = FakeOutbox(), FakeNotifier(), FixedClock(), FakeSales()
    deps = replace(
        fake_deps(),
        clock=clock,
        outbox=outbox,
        notifier=notifier,
        sales=sales,
        outbox_max_attempts=max_attempts,
    )
    return OutboxFakes(deps=deps, outbox=outbox, notifier=notifier, clock=clock, sales=sales)
