"""Carts, cart lines and coupon redemptions.

Revision ID: 0002_carts
Revises: 0001_catalog
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_carts"
down_revision: str | None = "0001_catalog"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "carts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("customer_id", sa.String(length=128), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("coupon_code", sa.String(length=64), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("version >= 0", name="ck_carts_version_non_negative"),
    )
    op.create_index(
        "uq_carts_active_customer",
        "carts",
        ["customer_id"],
        unique=True,
        postgresql_where=sa.text("active"),
        sqlite_where=sa.text("active"),
    )
    op.create_table(
        "cart_lines",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "cart_id", sa.Uuid(), sa.ForeignKey("carts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("product_id", sa.Uuid(), sa.ForeignKey("products.id"), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("quantity BETWEEN 1 AND 100", name="ck_cart_lines_quantity"),
        sa.UniqueConstraint("cart_id", "product_id", name="uq_cart_lines_cart_product"),
    )
    op.create_index("ix_cart_lines_cart_position", "cart_lines", ["cart_id", "position"])
    op.create_table(
        "coupon_redemptions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("offer_id", sa.Uuid(), sa.ForeignKey("offers.id"), nullable=False),
        sa.Column("customer_id", sa.String(length=128), nullable=False),
        sa.Column("payment_session_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "status IN ('RESERVED', 'PAID', 'RELEASED')", name="ck_coupon_redemptions_status"
        ),
    )
    op.create_index(
        "ix_coupon_redemptions_offer_status", "coupon_redemptions", ["offer_id", "status"]
    )
    op.create_index(
        "ix_coupon_redemptions_offer_customer", "coupon_redemptions", ["offer_id", "customer_id"]
    )
    op.create_index("ix_coupon_redemptions_session", "coupon_redemptions", ["payment_session_id"])


def downgrade() -> None:
    op.drop_index("ix_coupon_redemptions_session", table_name="coupon_redemptions")
    op.drop_index("ix_coupon_redemptions_offer_customer", table_name="coupon_redemptions")
    op.drop_index("ix_coupon_redemptions_offer_status", table_name="coupon_redemptions")
    op.drop_table("coupon_redemptions")
    op.drop_index("ix_cart_lines_cart_position", table_name="cart_lines")
    op.drop_table("cart_lines")
    op.drop_index("uq_carts_active_customer", table_name="carts")
    op.drop_table("carts")
