"""SQLModel tables. Money columns are BIGINT paise; rates are INTEGER basis points.

The Alembic migrations in ``migrations/versions`` are the schema's truth; a test checks that
these models and the migrated database agree.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(*, nullable: bool = False) -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), nullable=nullable))


class ProductRow(SQLModel, table=True):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price_paise >= 0", name="ck_products_price_non_negative"),
        CheckConstraint("stock >= 0", name="ck_products_stock_non_negative"),
        CheckConstraint("gst_rate_bp BETWEEN 0 AND 10000", name="ck_products_gst_rate"),
        Index("ix_products_category_sku", "category", "sku"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    sku: str = Field(max_length=64, unique=True, nullable=False)
    title: str = Field(max_length=200, nullable=False)
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    category: str = Field(max_length=64, nullable=False)
    price_paise: int = Field(sa_column=Column(BigInteger, nullable=False))
    gst_rate_bp: int = Field(nullable=False)
    stock: int = Field(default=0, nullable=False)
    image_url: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    active: bool = Field(default=True, nullable=False)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class OfferRow(SQLModel, table=True):
    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint("kind IN ('PERCENT', 'FLAT')", name="ck_offers_kind"),
        CheckConstraint(
            "percent_bp IS NULL OR percent_bp BETWEEN 0 AND 10000", name="ck_offers_pct"
        ),
        CheckConstraint("flat_paise IS NULL OR flat_paise >= 0", name="ck_offers_flat"),
        CheckConstraint(
            "ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at", name="ck_offers_window"
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    code: str = Field(max_length=64, unique=True, nullable=False)
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    kind: str = Field(max_length=16, nullable=False)
    percent_bp: int | None = Field(default=None, nullable=True)
    flat_paise: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    max_discount_paise: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    min_subtotal_paise: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    starts_at: datetime | None = _ts(nullable=True)
    ends_at: datetime | None = _ts(nullable=True)
    product_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    categories: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    usage_limit: int | None = Field(default=None, nullable=True)
    per_customer_limit: int | None = Field(default=None, nullable=True)
    active: bool = Field(default=True, nullable=False)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
