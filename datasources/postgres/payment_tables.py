"""Payment session tables: the session (a snapshot of the priced cart), its lines, and the
stock it holds. Coupon uses are held in ``coupon_redemptions`` (tables.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlmodel import Field, SQLModel

from datasources.postgres.tables import _ts

STATUSES = (
    "CREATED",
    "ATTEMPTED",
    "AUTHORIZED",
    "PAID",
    "FAILED",
    "EXPIRED",
    "CANCELLED",
    "PARTIALLY_REFUNDED",
    "REFUNDED",
)


class PaymentSessionRow(SQLModel, table=True):
    __tablename__ = "payment_sessions"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in STATUSES) + ")",
            name="ck_payment_sessions_status",
        ),
        CheckConstraint("amount_paise >= 0", name="ck_payment_sessions_amount"),
        # a refund can be seen before its capture, so refunded may exceed captured for a while
        CheckConstraint("refunded_paise >= 0", name="ck_payment_sessions_refunds"),
        UniqueConstraint("customer_id", "idempotency_key", name="uq_payment_sessions_idempotency"),
        UniqueConstraint("razorpay_order_id", name="uq_payment_sessions_order"),
        Index("ix_payment_sessions_customer_created", "customer_id", "created_at"),
        Index("ix_payment_sessions_status_expires", "status", "expires_at"),
        Index("ix_payment_sessions_reconcile", "status", "reconciled_at"),
        Index("ix_payment_sessions_cart", "cart_id", "status"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    customer_id: str = Field(max_length=128, nullable=False)
    # sealed (domain.pii, "pii:…"): KMS envelope encryption, the customer id as context
    customer_email: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    customer_contact: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status: str = Field(max_length=24, nullable=False)
    currency: str = Field(max_length=3, nullable=False)
    subtotal_paise: int = Field(sa_column=Column(BigInteger, nullable=False))
    discount_paise: int = Field(sa_column=Column(BigInteger, nullable=False))
    tax_paise: int = Field(sa_column=Column(BigInteger, nullable=False))
    amount_paise: int = Field(sa_column=Column(BigInteger, nullable=False))
    coupon_code: str | None = Field(default=None, max_length=64, nullable=True)
    offer_id: uuid.UUID | None = Field(default=None, nullable=True)
    razorpay_order_id: str | None = Field(default=None, max_length=64, nullable=True)
    razorpay_payment_id: str | None = Field(default=None, max_length=64, nullable=True)
    idempotency_key: str | None = Field(default=None, max_length=100, nullable=True)
    fingerprint: str = Field(max_length=64, nullable=False)
    cart_id: uuid.UUID = Field(nullable=False)
    cart_version: int = Field(nullable=False)
    captured_paise: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    refunded_paise: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    needs_review: bool = Field(default=False, nullable=False)
    failure_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    expires_at: datetime = _ts()
    paid_at: datetime | None = _ts(nullable=True)
    reconciled_at: datetime | None = _ts(nullable=True)  # last checked against Razorpay


class PaymentEventRow(SQLModel, table=True):
    """A gateway event applied to a session: recorded in the transaction that applies it, so
    an event is applied exactly once and a worker dying mid-event leaves nothing behind."""

    __tablename__ = "payment_events"

    event_key: str = Field(sa_column=Column(String(200), primary_key=True))
    session_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("payment_sessions.id"), nullable=False, index=True)
    )
    source: str = Field(max_length=24, nullable=False)
    received_at: datetime = _ts()


class PaymentSessionLineRow(SQLModel, table=True):
    __tablename__ = "payment_session_lines"
    __table_args__ = (CheckConstraint("quantity BETWEEN 1 AND 100", name="ck_psl_quantity"),)

    session_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("payment_sessions.id", ondelete="CASCADE"), primary_key=True
        )
    )
    position: int = Field(sa_column=Column(Integer, primary_key=True))
    product_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("products.id"), nullable=False))
    sku: str = Field(sa_column=Column(String(64), nullable=False))
    title: str = Field(sa_column=Column(String(200), nullable=False))
    quantity: int = Field(nullable=False)
    unit_price_paise: int = Field(sa_column=Column(BigInteger, nullable=False))
    gst_rate_bp: int = Field(nullable=False)
    subtotal_paise: int = Field(sa_column=Column(BigInteger, nullable=False))
    discount_paise: int = Field(sa_column=Column(BigInteger, nullable=False))
    tax_paise: int = Field(sa_column=Column(BigInteger, nullable=False))
    total_paise: int = Field(sa_column=Column(BigInteger, nullable=False))


class StockReservationRow(SQLModel, table=True):
    """Units a session took out of ``products.stock``: HELD, then COMMITTED or RELEASED."""

    __tablename__ = "stock_reservations"
    __table_args__ = (
        CheckConstraint("status IN ('HELD', 'COMMITTED', 'RELEASED')", name="ck_stock_res_status"),
        CheckConstraint("quantity > 0", name="ck_stock_res_quantity"),
    )

    session_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("payment_sessions.id", ondelete="CASCADE"), primary_key=True
        )
    )
    product_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("products.id"), primary_key=True)
    )
    quantity: int = Field(nullable=False)
    status: str = Field(max_length=16, nullable=False)
    updated_at: datetime = _ts()


class RefundRow(SQLModel, table=True):
    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("status IN ('PENDING', 'PROCESSED', 'FAILED')", name="ck_refunds_status"),
        CheckConstraint("amount_paise > 0", name="ck_refunds_amount"),
        UniqueConstraint("session_id", "idempotency_key", name="uq_refunds_idempotency"),
        UniqueConstraint("razorpay_refund_id", name="uq_refunds_gateway_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    session_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("payment_sessions.id"), nullable=False, index=True)
    )
    amount_paise: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3, nullable=False)
    status: str = Field(max_length=16, nullable=False)
    idempotency_key: str = Field(max_length=100, nullable=False)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    razorpay_refund_id: str | None = Field(default=None, max_length=64, nullable=True)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    processed_at: datetime | None = _ts(nullable=True)


class OutboxRow(SQLModel, table=True):
    """Transactional outbox: written with the state change, published by the dispatcher.
    ``parked_at`` set: the dead letter (failed too often, not claimed until requeued)."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_outbox_dedupe_key"),
        Index("ix_outbox_pending", "sent_at", "next_attempt_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(max_length=32, nullable=False)
    dedupe_key: str = Field(max_length=200, nullable=False)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    attempts: int = Field(default=0, nullable=False)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _ts()
    next_attempt_at: datetime = _ts()
    sent_at: datetime | None = _ts(nullable=True)
    parked_at: datetime | None = _ts(nullable=True)
