"""Payment sessions in PostgreSQL: checkout (reserve and store atomically), locked updates,
reservation commit/release, and look-ups. Implements ``domain.ports.PaymentSessionRepository``.

Concurrency:
* one checkout or session change per customer at a time: the customer's advisory lock
  (``locks.py``, which writes down the one lock order), backed by unique constraints;
* the customer's cart row is locked ``FOR UPDATE`` while it is read and snapshotted;
* stock is taken with ``UPDATE products SET stock = stock - q WHERE stock >= q``, in product id
  order, so of many sessions racing for the last unit exactly one gets it;
* a coupon use is reserved with the offer row locked ``FOR UPDATE`` while uses are counted.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from datasources.postgres import refunds as refund_rows
from datasources.postgres import stock
from datasources.postgres.checkout import SqlCheckout
from datasources.postgres.locks import lock_customer
from datasources.postgres.payment_tables import (
    PaymentEventRow,
    PaymentSessionLineRow,
    PaymentSessionRow,
    RefundRow,
)
from datasources.postgres.session_rows import load_session, parse_uuid, session_from_rows
from datasources.postgres.session_update import SqlSessionUpdate, load_ledger, mark_reconciled
from domain.payment_session import PaymentSession
from domain.payments import PaymentStatus
from domain.refunds import Refund


class SqlPaymentSessions:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        on_stock_change: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """``on_stock_change``: awaited after a transaction that moved stock has committed
        (the catalog's availability changed: cached catalog answers are stale)."""
        self._sessions = sessions
        self._on_stock_change = on_stock_change

    async def _committed(self, session: AsyncSession) -> None:
        if session.info.pop(stock.STOCK_MOVED, False) and self._on_stock_change is not None:
            await self._on_stock_change()

    @asynccontextmanager
    async def checkout(
        self, *, customer_id: str, idempotency_key: str
    ) -> AsyncIterator[SqlCheckout]:
        async with self._sessions() as session:
            async with session.begin():
                await lock_customer(session, customer_id)
                yield SqlCheckout(session, customer_id=customer_id, idempotency_key=idempotency_key)
            await self._committed(session)

    @asynccontextmanager
    async def lock(self, session_id: str) -> AsyncIterator[SqlSessionUpdate | None]:
        """The session locked for one event (None if there is no such session): the customer's
        lock first, then the row ``FOR UPDATE`` (``locks.py``)."""
        async with self._sessions() as session:
            async with session.begin(), self._locked(session, session_id) as update:
                yield update
            await self._committed(session)

    @asynccontextmanager
    async def _locked(
        self, session: AsyncSession, session_id: str
    ) -> AsyncIterator[SqlSessionUpdate | None]:
        key = parse_uuid(session_id)
        customer = (
            (
                await session.scalars(
                    select(col(PaymentSessionRow.customer_id)).where(
                        col(PaymentSessionRow.id) == key
                    )
                )
            ).one_or_none()
            if key
            else None
        )
        if customer is None:
            yield None
            return
        await lock_customer(session, customer)
        current = await load_session(session, key, for_update=True) if key else None
        if current is None:
            yield None
            return
        yield SqlSessionUpdate(session, await load_ledger(session, current))

    async def get(self, session_id: str) -> PaymentSession | None:
        key = parse_uuid(session_id)
        if key is None:
            return None
        async with self._sessions() as session:
            return await load_session(session, key)

    async def event_recorded(self, key: str) -> bool:
        async with self._sessions() as session:
            found = await session.scalars(
                select(col(PaymentEventRow.event_key)).where(
                    col(PaymentEventRow.event_key) == key[:200]
                )
            )
            return found.one_or_none() is not None

    async def get_by_order(self, order_id: str) -> PaymentSession | None:
        async with self._sessions() as session:
            row_id = (
                await session.scalars(
                    select(col(PaymentSessionRow.id)).where(
                        col(PaymentSessionRow.razorpay_order_id) == order_id
                    )
                )
            ).one_or_none()
            return await load_session(session, row_id) if row_id is not None else None

    async def attach_order(self, session_id: str, *, order_id: str, now: datetime) -> bool:
        """Store the Razorpay order id on a session still waiting for it."""
        async with self._sessions() as session, session.begin():
            done = (
                await session.execute(
                    update(PaymentSessionRow)
                    .where(col(PaymentSessionRow.id) == uuid.UUID(session_id))
                    .where(col(PaymentSessionRow.razorpay_order_id).is_(None))
                    .where(col(PaymentSessionRow.status) == PaymentStatus.CREATED.value)
                    .values(razorpay_order_id=order_id, updated_at=now)
                    .returning(col(PaymentSessionRow.id))
                    .execution_options(synchronize_session=False)
                )
            ).scalar_one_or_none()
        return done is not None

    async def page(
        self,
        *,
        customer_id: str | None,
        status: PaymentStatus | None,
        first: int,
        before: tuple[datetime, str] | None,
    ) -> list[PaymentSession]:
        """Newest first; ``before`` is the (created_at, id) of the last one already seen."""
        statement = select(PaymentSessionRow)
        if customer_id is not None:
            statement = statement.where(col(PaymentSessionRow.customer_id) == customer_id)
        if status is not None:
            statement = statement.where(col(PaymentSessionRow.status) == status.value)
        if before is not None:
            at, last_id = before
            statement = statement.where(
                (col(PaymentSessionRow.created_at) < at)
                | (
                    (col(PaymentSessionRow.created_at) == at)
                    & (col(PaymentSessionRow.id) < uuid.UUID(last_id))
                )
            )
        statement = statement.order_by(
            col(PaymentSessionRow.created_at).desc(), col(PaymentSessionRow.id).desc()
        ).limit(first)
        async with self._sessions() as session:
            rows = (await session.scalars(statement)).all()
            ids = [row.id for row in rows]
            lines = (
                (
                    await session.scalars(
                        select(PaymentSessionLineRow).where(
                            col(PaymentSessionLineRow.session_id).in_(ids)
                        )
                    )
                ).all()
                if ids
                else []
            )
        by_session: dict[uuid.UUID, list[PaymentSessionLineRow]] = {}
        for line in lines:
            by_session.setdefault(line.session_id, []).append(line)
        return [session_from_rows(row, by_session.get(row.id, [])) for row in rows]

    async def due(
        self, *, statuses: Sequence[PaymentStatus], before: datetime, limit: int
    ) -> list[str]:
        """Ids of sessions in ``statuses`` whose ``expires_at`` is before ``before``, oldest
        first (expiry)."""
        statement = (
            select(col(PaymentSessionRow.id))
            .where(col(PaymentSessionRow.status).in_([s.value for s in statuses]))
            .where(col(PaymentSessionRow.expires_at) < before)
            .order_by(col(PaymentSessionRow.expires_at))
            .limit(limit)
        )
        async with self._sessions() as session:
            return [str(i) for i in (await session.scalars(statement)).all()]

    async def to_reconcile(
        self,
        *,
        open_statuses: Sequence[PaymentStatus],
        open_before: datetime,
        closed_statuses: Sequence[PaymentStatus],
        closed_since: datetime,
        limit: int,
    ) -> list[str]:
        """Sessions reconciliation should look at, least recently looked at first (never
        looked at before all others), so every candidate gets its turn: open ones created
        before ``open_before``; closed ones, not captured, that closed since ``closed_since``;
        any with a PENDING refund."""
        pending = select(col(RefundRow.session_id)).where(col(RefundRow.status) == "PENDING")
        row = PaymentSessionRow
        statement = (
            select(col(row.id))
            .where(
                or_(
                    (col(row.status).in_([s.value for s in open_statuses]))
                    & (col(row.created_at) < open_before),
                    (col(row.status).in_([s.value for s in closed_statuses]))
                    & (col(row.captured_paise) == 0)
                    & (col(row.updated_at) >= closed_since)
                    & col(row.razorpay_order_id).is_not(None),
                    col(row.id).in_(pending),
                )
            )
            .order_by(col(row.reconciled_at).is_not(None), col(row.reconciled_at), col(row.id))
            .limit(limit)
        )
        async with self._sessions() as session:
            return [str(i) for i in (await session.scalars(statement)).all()]

    async def mark_reconciled(self, session_ids: Sequence[str], *, now: datetime) -> None:
        if not session_ids:
            return
        async with self._sessions() as session, session.begin():
            await mark_reconciled(session, session_ids, now=now)

    async def refunds(self, session_id: str) -> list[Refund]:
        key = parse_uuid(session_id)
        if key is None:
            return []
        async with self._sessions() as session:
            return await refund_rows.refunds_of(session, key)

    async def refunds_many(self, session_ids: Sequence[str]) -> list[list[Refund]]:
        """Refunds of each session, in key order (one query for all)."""
        keys = [k for k in (parse_uuid(i) for i in session_ids) if k is not None]
        found: dict[str, list[Refund]] = {str(k): [] for k in keys}
        if keys:
            async with self._sessions() as session:
                for refund in await refund_rows.refunds_of_many(session, keys):
                    found[refund.session_id].append(refund)
        return [found.get(str(parse_uuid(i)), []) for i in session_ids]

    async def refund_by_gateway_id(self, gateway_id: str) -> Refund | None:
        async with self._sessions() as session:
            return await refund_rows.refund_by_gateway_id(session, gateway_id)

    async def get_by_payment(self, payment_id: str) -> PaymentSession | None:
        async with self._sessions() as session:
            row_id = (
                await session.scalars(
                    select(col(PaymentSessionRow.id)).where(
                        col(PaymentSessionRow.razorpay_payment_id) == payment_id
                    )
                )
            ).one_or_none()
            return await load_session(session, row_id) if row_id is not None else None
