"""The transactional outbox: rows written in the caller's transaction, handed out in batches
with ``FOR UPDATE SKIP LOCKED`` so concurrent dispatchers never take the same row."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from datasources.postgres.payment_tables import OutboxRow
from datasources.postgres.sql import dialect_name, insert_on_conflict
from domain.outbox import OutboxKind, OutboxMessage, PendingMessage


async def enqueue(
    session: AsyncSession, messages: Sequence[OutboxMessage], *, now: datetime
) -> None:
    """Add messages in the caller's transaction; a dedupe key already there is kept as is."""
    for message in messages:
        await session.execute(
            insert_on_conflict(session, OutboxRow)
            .values(
                id=uuid.uuid4(),
                kind=message.kind.value,
                dedupe_key=message.dedupe_key,
                payload=dict(message.payload),
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
        )


class SqlOutboxBatch:
    def __init__(self, session: AsyncSession, messages: list[PendingMessage]) -> None:
        self._session = session
        self.messages = messages

    async def mark_sent(self, message_id: str, *, now: datetime) -> None:
        await self._session.execute(
            update(OutboxRow)
            .where(col(OutboxRow.id) == uuid.UUID(message_id))
            .values(sent_at=now, attempts=col(OutboxRow.attempts) + 1, last_error=None)
            .execution_options(synchronize_session=False)
        )

    async def mark_failed(self, message_id: str, *, error: str, retry_at: datetime) -> None:
        await self._session.execute(
            update(OutboxRow)
            .where(col(OutboxRow.id) == uuid.UUID(message_id))
            .values(
                attempts=col(OutboxRow.attempts) + 1,
                last_error=error[:2000],
                next_attempt_at=retry_at,
            )
            .execution_options(synchronize_session=False)
        )


class SqlOutbox:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @asynccontextmanager
    async def batch(self, *, limit: int, now: datetime) -> AsyncIterator[SqlOutboxBatch]:
        """Due, unsent messages, oldest first, locked until the batch's transaction ends."""
        async with self._sessions() as session, session.begin():
            statement = (
                select(OutboxRow)
                .where(col(OutboxRow.sent_at).is_(None))
                .where(col(OutboxRow.next_attempt_at) <= now)
                .order_by(col(OutboxRow.created_at))
                .limit(limit)
            )
            if dialect_name(session) == "postgresql":
                statement = statement.with_for_update(skip_locked=True)
            rows = (await session.scalars(statement)).all()
            messages = [
                PendingMessage(
                    id=str(row.id),
                    kind=OutboxKind(row.kind),
                    dedupe_key=row.dedupe_key,
                    payload=dict(row.payload),
                    attempts=row.attempts,
                )
                for row in rows
            ]
            yield SqlOutboxBatch(session, messages)

    async def pending_count(self) -> int:
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(OutboxRow).where(col(OutboxRow.sent_at).is_(None))
            )
        return int(count or 0)
