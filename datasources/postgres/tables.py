"""SQLModel tables. Money columns are BIGINT paise; rates are INTEGER basis points.

The Alembic migrations in ``migrations/versions`` are the schema's truth; a test checks that
these models and the migrated database agree.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlmodel import Field, SQLModel


def _ts(*, nullable: bool = False) -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), nullable=nullable))


class ProductRow(SQLModel, table=True):
    """A product. ``on_hand`` counts the units on the shelf, ``reserved`` those of them held
    by open payment sessions (datasources/postgres/stock.py moves it); available to buy is
    ``on_hand - reserved``. An admin's save sets ``on_hand`` only."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price_paise >= 0", name="ck_products_price_non_negative"),
        CheckConstraint(
            "reserved >= 0 AND reserved <= on_hand", name="ck_products_reserved_within_on_hand"
        ),
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
    on_hand: int = Field(default=0, nullable=False)
    reserved: int = Field(default=0, nullable=False)
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


class CartRow(SQLModel, table=True):
    """A customer's cart. At most one active cart per customer (a partial unique index)."""

    __tablename__ = "carts"
    __table_args__ = (
        CheckConstraint("version >= 0", name="ck_carts_version_non_negative"),
        Index(
            "uq_carts_active_customer",
            "customer_id",
            unique=True,
            postgresql_where=text("active"),
            sqlite_where=text("active"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    customer_id: str = Field(max_length=128, nullable=False)
    active: bool = Field(default=True, nullable=False)
    version: int = Field(default=0, nullable=False)
    coupon_code: str | None = Field(default=None, max_length=64, nullable=True)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class CartLineRow(SQLModel, table=True):
    """One product in a cart. ``position`` orders lines by when their product was first added."""

    __tablename__ = "cart_lines"
    __table_args__ = (
        CheckConstraint("quantity BETWEEN 1 AND 100", name="ck_cart_lines_quantity"),
        UniqueConstraint("cart_id", "product_id", name="uq_cart_lines_cart_product"),
        Index("ix_cart_lines_cart_position", "cart_id", "position"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    cart_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("carts.id", ondelete="CASCADE"), nullable=False)
    )
    product_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("products.id"), nullable=False))
    quantity: int = Field(nullable=False)
    position: int = Field(nullable=False)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class CouponRedemptionRow(SQLModel, table=True):
    """A use of an offer by a customer: ``RESERVED`` by a payment session until ``expires_at``,
    then ``PAID`` (counts for good) or ``RELEASED`` (counts no more). The payment issue writes
    these; usage limits count PAID rows plus RESERVED rows that have not expired.
    """

    __tablename__ = "coupon_redemptions"
    __table_args__ = (
        CheckConstraint(
            "status IN ('RESERVED', 'PAID', 'RELEASED')", name="ck_coupon_redemptions_status"
        ),
        Index("ix_coupon_redemptions_offer_status", "offer_id", "status"),
        Index("ix_coupon_redemptions_offer_customer", "offer_id", "customer_id"),
        Index("ix_coupon_redemptions_session", "payment_session_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    offer_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("offers.id"), nullable=False))
    customer_id: str = Field(max_length=128, nullable=False)
    payment_session_id: uuid.UUID | None = Field(default=None, nullable=True)
    status: str = Field(max_length=16, nullable=False)
    expires_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
