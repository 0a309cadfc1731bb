"""The transactional outbox: rows written in the caller's transaction, handed out in batches
with ``FOR UPDATE SKIP LOCKED`` so concurrent dispatchers never take the same row."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

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
                .where(col(OutboxRow.sent_at).is_(None))
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
                    .where(col(OutboxRow.sent_at).is_(None))
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
                    last_error=error[:2000],
                    next_attempt_at=retry_at,
                )
                .execution_options(synchronize_session=False)
            )

    async def pending_count(self) -> int:
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(OutboxRow).where(col(OutboxRow.sent_at).is_(None))
            )
        return int(count or 0)
