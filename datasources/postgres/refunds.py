"""Refund rows: read and written inside a session's lock (see payments.SqlSessionUpdate)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from datasources.postgres.payment_tables import RefundRow
from datasources.postgres.sql import as_utc
from domain.refunds import Refund, RefundStatus


def refund_from_row(row: RefundRow) -> Refund:
    created = as_utc(row.created_at)
    assert created is not None
    return Refund(
        id=str(row.id),
        session_id=str(row.session_id),
        amount=row.amount_paise,
        currency=row.currency,
        status=RefundStatus(row.status),
        idempotency_key=row.idempotency_key,
        reason=row.reason,
        razorpay_refund_id=row.razorpay_refund_id,
        created_at=created,
        processed_at=as_utc(row.processed_at),
    )


async def refunds_of(session: AsyncSession, session_id: uuid.UUID) -> list[Refund]:
    rows = (
        await session.scalars(
            select(RefundRow)
            .where(col(RefundRow.session_id) == session_id)
            .order_by(col(RefundRow.created_at), col(RefundRow.id))
        )
    ).all()
    return [refund_from_row(row) for row in rows]


async def refund_by_gateway_id(session: AsyncSession, gateway_id: str) -> Refund | None:
    row = (
        await session.scalars(
            select(RefundRow).where(col(RefundRow.razorpay_refund_id) == gateway_id)
        )
    ).one_or_none()
    return refund_from_row(row) if row is not None else None


async def insert_refund(session: AsyncSession, refund: Refund) -> None:
    session.add(
        RefundRow(
            id=uuid.UUID(refund.id),
            session_id=uuid.UUID(refund.session_id),
            amount_paise=refund.amount,
            currency=refund.currency,
            status=refund.status.value,
            idempotency_key=refund.idempotency_key,
            reason=refund.reason,
            razorpay_refund_id=refund.razorpay_refund_id,
            created_at=refund.created_at,
            updated_at=refund.created_at,
            processed_at=refund.processed_at,
        )
    )
    await session.flush()


async def update_refund(session: AsyncSession, refund: Refund, *, now: datetime) -> None:
    await session.execute(
        update(RefundRow)
        .where(col(RefundRow.id) == uuid.UUID(refund.id))
        .values(
            status=refund.status.value,
            razorpay_refund_id=refund.razorpay_refund_id,
            processed_at=refund.processed_at,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


async def refunds_of_many(session: AsyncSession, session_ids: list[uuid.UUID]) -> list[Refund]:
    rows = (
        await session.scalars(
            select(RefundRow)
            .where(col(RefundRow.session_id).in_(session_ids))
            .order_by(col(RefundRow.created_at), col(RefundRow.id))
        )
    ).all()
    return [refund_from_row(row) for row in rows]
