"""Payment sessions, their lines and stock reservations.

Revision ID: 0003_payment_sessions
Revises: 0002_carts
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_payment_sessions"
down_revision: str | None = "0002_carts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

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


def _money(name: str, **kw: object) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=False, **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "payment_sessions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("customer_id", sa.String(length=128), nullable=False),
        sa.Column("customer_email", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        _money("subtotal_paise"),
        _money("discount_paise"),
        _money("tax_paise"),
        _money("amount_paise"),
        sa.Column("coupon_code", sa.String(length=64), nullable=True),
        sa.Column("offer_id", sa.Uuid(), nullable=True),
        sa.Column("razorpay_order_id", sa.String(length=64), nullable=True),
        sa.Column("razorpay_payment_id", sa.String(length=64), nullable=True),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("cart_id", sa.Uuid(), nullable=False),
        sa.Column("cart_version", sa.Integer(), nullable=False),
        _money("captured_paise"),
        _money("refunded_paise"),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in STATUSES) + ")",
            name="ck_payment_sessions_status",
        ),
        sa.CheckConstraint("amount_paise >= 0", name="ck_payment_sessions_amount"),
        sa.CheckConstraint(
            "refunded_paise >= 0 AND refunded_paise <= captured_paise",
            name="ck_payment_sessions_refunds",
        ),
        sa.UniqueConstraint(
            "customer_id", "idempotency_key", name="uq_payment_sessions_idempotency"
        ),
        sa.UniqueConstraint("razorpay_order_id", name="uq_payment_sessions_order"),
    )
    op.create_index(
        "ix_payment_sessions_customer_created", "payment_sessions", ["customer_id", "created_at"]
    )
    op.create_index(
        "ix_payment_sessions_status_expires", "payment_sessions", ["status", "expires_at"]
    )
    op.create_table(
        "payment_session_lines",
        sa.Column(
            "session_id",
            sa.Uuid(),
            sa.ForeignKey("payment_sessions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("product_id", sa.Uuid(), sa.ForeignKey("products.id"), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        _money("unit_price_paise"),
        sa.Column("gst_rate_bp", sa.Integer(), nullable=False),
        _money("subtotal_paise"),
        _money("discount_paise"),
        _money("tax_paise"),
        _money("total_paise"),
        sa.CheckConstraint("quantity BETWEEN 1 AND 100", name="ck_psl_quantity"),
    )
    op.create_table(
        "stock_reservations",
        sa.Column(
            "session_id",
            sa.Uuid(),
            sa.ForeignKey("payment_sessions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("product_id", sa.Uuid(), sa.ForeignKey("products.id"), primary_key=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('HELD', 'COMMITTED', 'RELEASED')", name="ck_stock_res_status"
        ),
        sa.CheckConstraint("quantity > 0", name="ck_stock_res_quantity"),
    )


def downgrade() -> None:
    op.drop_table("stock_reservations")
    op.drop_table("payment_session_lines")
    op.drop_index("ix_payment_sessions_status_expires", table_name="payment_sessions")
    op.drop_index("ix_payment_sessions_customer_created", table_name="payment_sessions")
    op.drop_table("payment_sessions")
