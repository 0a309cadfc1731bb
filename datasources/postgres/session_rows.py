"""Payment session rows to domain entities and back, and loading one (optionally locked)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from datasources.postgres.payment_tables import PaymentSessionLineRow, PaymentSessionRow
from datasources.postgres.sql import as_utc
from domain.payment_session import PaymentSession, SessionLine
from domain.payments import PaymentStatus


def session_from_rows(
    row: PaymentSessionRow, lines: Sequence[PaymentSessionLineRow]
) -> PaymentSession:
    created, expires = as_utc(row.created_at), as_utc(row.expires_at)
    assert created is not None and expires is not None
    return PaymentSession(
        id=str(row.id),
        customer_id=row.customer_id,
        customer_email=row.customer_email,
        customer_contact=row.customer_contact,
        status=PaymentStatus(row.status),
        currency=row.currency,
        subtotal=row.subtotal_paise,
        discount=row.discount_paise,
        tax=row.tax_paise,
        amount=row.amount_paise,
        coupon_code=row.coupon_code,
        offer_id=str(row.offer_id) if row.offer_id else None,
        lines=tuple(
            SessionLine(
                product_id=str(line.product_id),
                sku=line.sku,
                title=line.title,
                quantity=line.quantity,
                unit_price=line.unit_price_paise,
                gst_rate_bp=line.gst_rate_bp,
                subtotal=line.subtotal_paise,
                discount=line.discount_paise,
                tax=line.tax_paise,
                total=line.total_paise,
            )
            for line in sorted(lines, key=lambda x: x.position)
        ),
        razorpay_order_id=row.razorpay_order_id,
        razorpay_payment_id=row.razorpay_payment_id,
        idempotency_key=row.idempotency_key,
        fingerprint=row.fingerprint,
        cart_id=str(row.cart_id),
        cart_version=row.cart_version,
        created_at=created,
        expires_at=expires,
        paid_at=as_utc(row.paid_at),
        captured_amount=row.captured_paise,
        refunded_amount=row.refunded_paise,
        needs_review=row.needs_review,
        failure_reason=row.failure_reason,
    )


def session_to_rows(
    session: PaymentSession,
) -> tuple[PaymentSessionRow, list[PaymentSessionLineRow]]:
    """A new session's row and its lines' rows (in their order): the inverse of
    :func:`session_from_rows`."""
    now = session.created_at
    session_id = uuid.UUID(session.id)
    row = PaymentSessionRow(
        id=session_id,
        customer_id=session.customer_id,
        customer_email=session.customer_email,
        customer_contact=session.customer_contact,
        status=session.status.value,
        currency=session.currency,
        subtotal_paise=session.subtotal,
        discount_paise=session.discount,
        tax_paise=session.tax,
        amount_paise=session.amount,
        coupon_code=session.coupon_code,
        offer_id=uuid.UUID(session.offer_id) if session.offer_id else None,
        idempotency_key=session.idempotency_key,
        fingerprint=session.fingerprint,
        cart_id=uuid.UUID(session.cart_id),
        cart_version=session.cart_version,
        created_at=now,
        updated_at=now,
        expires_at=session.expires_at,
    )
    lines = [
        PaymentSessionLineRow(
            session_id=session_id,
            position=position,
            product_id=uuid.UUID(line.product_id),
            sku=line.sku,
            title=line.title,
            quantity=line.quantity,
            unit_price_paise=line.unit_price,
            gst_rate_bp=line.gst_rate_bp,
            subtotal_paise=line.subtotal,
            discount_paise=line.discount,
            tax_paise=line.tax,
            total_paise=line.total,
        )
        for position, line in enumerate(session.lines)
    ]
    return row, lines


async def load_session(
    session: AsyncSession, session_id: uuid.UUID, *, for_update: bool = False
) -> PaymentSession | None:
    statement = select(PaymentSessionRow).where(col(PaymentSessionRow.id) == session_id)
    if for_update:
        statement = statement.with_for_update()
    row = (await session.scalars(statement)).one_or_none()
    if row is None:
        return None
    lines = (
        await session.scalars(
            select(PaymentSessionLineRow).where(col(PaymentSessionLineRow.session_id) == row.id)
        )
    ).all()
    return session_from_rows(row, lines)


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None
