"""The transactional outbox: rows written in the caller's transaction, handed out in batches
with ``FOR UPDATE SKIP LOCKED`` so concurrent dispatchers never take the same row.

A row is pending (``sent_at`` and ``parked_at`` empty), sent, or parked (the dead letter: it
failed too often; never claimed until :meth:`SqlOutbox.requeue`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from datasources.postgres.payment_tables import OutboxRow
from datasources.postgres.sql import as_utc, dialect_name, insert_on_conflict
from domain.dead_letter import ParkedMessage
from domain.outbox import OutboxKind, OutboxMessage, PendingMessage

MAX_ERROR_CHARS = 2000


def _aware(value: datetime | None) -> datetime:
    stamp = as_utc(value)
    if stamp is None:
        raise ValueError("a parked row has parked_at")
    return stamp


def _pending() -> list[ColumnElement[bool]]:
    return [col(OutboxRow.sent_at).is_(None), col(OutboxRow.parked_at).is_(None)]


def _parked(kind: OutboxKind | None, ids: Sequence[str] | None) -> list[ColumnElement[bool]]:
    """Parked, unsent rows, of ``kind`` and among ``ids`` when given (ids must be uuids)."""
    where: list[ColumnElement[bool]] = [
        col(OutboxRow.parked_at).is_not(None),
        col(OutboxRow.sent_at).is_(None),
    ]
    if kind is not None:
        where.append(col(OutboxRow.kind) == kind.value)
    if ids is not None:
        where.append(col(OutboxRow.id).in_([uuid.UUID(i) for i in ids]))
    return where


async def enqueue(
    session: AsyncSession, messages: Sequence[OutboxMessage], *, now: datetime
) -> None:
    """Add messages in the caller's transaction, in one statement; a dedupe key already there
    is kept as it is."""
    rows: dict[str, dict[str, object]] = {}
    for m in messages:  # the first message of a key wins, as against a stored one
        rows.setdefault(
            m.dedupe_key,
            {
                "id": uuid.uuid4(),
                "kind": m.kind.value,
                "dedupe_key": m.dedupe_key,
                "payload": dict(m.payload),
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
            },
        )
    if rows:
        await session.execute(
            insert_on_conflict(session, OutboxRow)
            .values(list(rows.values()))
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
        )


class SqlOutbox:
    """Messages are claimed with a lease (``next_attempt_at`` pushed into the future) in one
    short transaction, then published and marked one by one: no lock is held across a network
    call, and a dispatcher that dies mid-publish leaves at most one message to be sent again
    when its lease runs out."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def claim(
        self,
        *,
        limit: int,
        now: datetime,
        lease: timedelta,
        keys: Sequence[str] | None = None,
    ) -> list[PendingMessage]:
        async with self._sessions() as session, session.begin():
            due = (
                select(col(OutboxRow.id))
                .where(*_pending())
                .where(col(OutboxRow.next_attempt_at) <= now)
                .order_by(col(OutboxRow.created_at))
                .limit(limit)
            )
            if keys is not None:
                due = due.where(col(OutboxRow.dedupe_key).in_(list(keys)))
            if dialect_name(session) == "postgresql":
                due = due.with_for_update(skip_locked=True)
            ids = list((await session.scalars(due)).all())
            if not ids:
                return []
            rows = (
                await session.scalars(
                    update(OutboxRow)
                    .where(col(OutboxRow.id).in_(ids))
                    .where(*_pending())
                    .values(next_attempt_at=now + lease)
                    .returning(OutboxRow)
                    .execution_options(synchronize_session=False)
                )
            ).all()
            rows = sorted(rows, key=lambda r: r.created_at)
        return [
            PendingMessage(
                id=str(row.id),
                kind=OutboxKind(row.kind),
                dedupe_key=row.dedupe_key,
                payload=dict(row.payload),
                attempts=row.attempts,
            )
            for row in rows
        ]

    async def mark_sent(self, message_id: str, *, now: datetime) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxRow)
                .where(col(OutboxRow.id) == uuid.UUID(message_id))
                .values(sent_at=now, attempts=col(OutboxRow.attempts) + 1, last_error=None)
                .execution_options(synchronize_session=False)
            )

    async def mark_failed(self, message_id: str, *, error: str, retry_at: datetime) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxRow)
                .where(col(OutboxRow.id) == uuid.UUID(message_id))
                .where(col(OutboxRow.sent_at).is_(None))
                .values(
                    attempts=col(OutboxRow.attempts) + 1,
                    last_error=error[:MAX_ERROR_CHARS],
                    next_attempt_at=retry_at,
                )
                .execution_options(synchronize_session=False)
            )

    async def release(self, message_ids: Sequence[str], *, now: datetime) -> None:
        """Give leased messages back untried (a dispatcher was stopped before them)."""
        if not message_ids:
            return
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxRow)
                .where(col(OutboxRow.id).in_([uuid.UUID(i) for i in message_ids]))
                .where(col(OutboxRow.sent_at).is_(None))
                .values(next_attempt_at=now)
                .execution_options(synchronize_session=False)
            )

    async def park(self, message_id: str, *, error: str, now: datetime) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxRow)
                .where(col(OutboxRow.id) == uuid.UUID(message_id))
                .where(*_pending())
                .values(
                    attempts=col(OutboxRow.attempts) + 1,
                    last_error=error[:MAX_ERROR_CHARS],
                    parked_at=now,
                )
                .execution_options(synchronize_session=False)
            )

    async def requeue(
        self,
        *,
        now: datetime,
        kind: OutboxKind | None = None,
        ids: Sequence[str] | None = None,
    ) -> int:
        """Parked rows become due at ``now`` with a fresh count of attempts (``last_error``
        stays until a delivery succeeds)."""
        if ids is not None and not ids:
            return 0
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(OutboxRow)
                .where(*_parked(kind, ids))
                .values(parked_at=None, attempts=0, next_attempt_at=now)
                .execution_options(synchronize_session=False)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def parked(
        self,
        *,
        limit: int,
        kind: OutboxKind | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[ParkedMessage]:
        if ids is not None and not ids:
            return []
        async with self._sessions() as session:
            rows = (
                await session.scalars(
                    select(OutboxRow)
                    .where(*_parked(kind, ids))
                    .order_by(col(OutboxRow.parked_at), col(OutboxRow.id))
                    .limit(limit)
                )
            ).all()
        return [
            ParkedMessage(
                id=str(row.id),
                kind=OutboxKind(row.kind),
                dedupe_key=row.dedupe_key,
                attempts=row.attempts,
                last_error=row.last_error,
                created_at=_aware(row.created_at),
                parked_at=_aware(row.parked_at),
            )
            for row in rows
        ]

    async def pending_count(self) -> int:
        return await self._count(*_pending())

    async def parked_count(self) -> int:
        return await self._count(*_parked(None, None))

    async def _count(self, *where: ColumnElement[bool]) -> int:
        async with self._sessions() as session:
            count = await session.scalar(select(func.count()).select_from(OutboxRow).where(*where))
        return int(count or 0)
