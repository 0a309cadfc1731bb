"""Catalog: products and offers.

Revision ID: 0001_catalog
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_catalog"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("sku", sa.String(length=64), nullable=False, unique=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("price_paise", sa.BigInteger(), nullable=False),
        sa.Column("gst_rate_bp", sa.Integer(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("image_url", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("price_paise >= 0", name="ck_products_price_non_negative"),
        sa.CheckConstraint("stock >= 0", name="ck_products_stock_non_negative"),
        sa.CheckConstraint("gst_rate_bp BETWEEN 0 AND 10000", name="ck_products_gst_rate"),
    )
    op.create_index("ix_products_category_sku", "products", ["category", "sku"])
    op.create_table(
        "offers",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("code", sa.String(length=64), nullable=False, unique=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("percent_bp", sa.Integer(), nullable=True),
        sa.Column("flat_paise", sa.BigInteger(), nullable=True),
        sa.Column("max_discount_paise", sa.BigInteger(), nullable=True),
        sa.Column("min_subtotal_paise", sa.BigInteger(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("product_ids", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("usage_limit", sa.Integer(), nullable=True),
        sa.Column("per_customer_limit", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("kind IN ('PERCENT', 'FLAT')", name="ck_offers_kind"),
        sa.CheckConstraint(
            "percent_bp IS NULL OR percent_bp BETWEEN 0 AND 10000", name="ck_offers_pct"
        ),
        sa.CheckConstraint("flat_paise IS NULL OR flat_paise >= 0", name="ck_offers_flat"),
        sa.CheckConstraint(
            "ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at", name="ck_offers_window"
        ),
    )


def downgrade() -> None:
    op.drop_table("offers")
    op.drop_index("ix_products_category_sku", table_name="products")
    op.drop_table("products")
