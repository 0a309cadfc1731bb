"""Product and offer repositories (implement domain.ports.ProductRepository/OfferRepository)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from datasources.postgres.tables import OfferRow, ProductRow
from domain.catalog import Product
from domain.offers import Offer, OfferKind
from domain.ports import ProductQuery


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def product_from_row(row: ProductRow) -> Product:
    return Product(
        id=str(row.id),
        sku=row.sku,
        title=row.title,
        description=row.description,
        category=row.category,
        price=row.price_paise,
        gst_rate_bp=row.gst_rate_bp,
        stock=row.stock,
        image_url=row.image_url,
        active=row.active,
    )


def offer_from_row(row: OfferRow) -> Offer:
    return Offer(
        id=str(row.id),
        code=row.code,
        description=row.description,
        kind=OfferKind(row.kind),
        percent_bp=row.percent_bp,
        flat=row.flat_paise,
        max_discount=row.max_discount_paise,
        min_subtotal=row.min_subtotal_paise,
        starts_at=_aware(row.starts_at),
        ends_at=_aware(row.ends_at),
        product_ids=tuple(row.product_ids),
        categories=tuple(row.categories),
        usage_limit=row.usage_limit,
        per_customer_limit=row.per_customer_limit,
        active=row.active,
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SqlProductRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get_many(self, ids: Sequence[str]) -> list[Product | None]:
        keys = [uuid.UUID(i) for i in ids]
        async with self._sessions() as session:
            rows = (
                await session.scalars(select(ProductRow).where(col(ProductRow.id).in_(keys)))
            ).all()
        by_id = {str(row.id): product_from_row(row) for row in rows}
        return [by_id.get(i) for i in ids]

    async def list_page(self, query: ProductQuery) -> list[Product]:
        statement = select(ProductRow).where(col(ProductRow.active).is_(True))
        if query.after_sku is not None:
            statement = statement.where(col(ProductRow.sku) > query.after_sku)
        if query.category is not None:
            statement = statement.where(col(ProductRow.category) == query.category)
        if query.search:
            pattern = f"%{_escape_like(query.search)}%"
            statement = statement.where(
                or_(
                    col(ProductRow.title).ilike(pattern, escape="\\"),
                    col(ProductRow.description).ilike(pattern, escape="\\"),
                    col(ProductRow.sku).ilike(pattern, escape="\\"),
                )
            )
        statement = statement.order_by(col(ProductRow.sku)).limit(query.first)
        async with self._sessions() as session:
            rows = (await session.scalars(statement)).all()
        return [product_from_row(row) for row in rows]


class SqlOfferRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def list_live(self, *, now: datetime) -> list[Offer]:
        statement = (
            select(OfferRow)
            .where(col(OfferRow.active).is_(True))
            .where(or_(col(OfferRow.starts_at).is_(None), col(OfferRow.starts_at) <= now))
            .where(or_(col(OfferRow.ends_at).is_(None), col(OfferRow.ends_at) > now))
            .order_by(col(OfferRow.code))
        )
        async with self._sessions() as session:
            rows = (await session.scalars(statement)).all()
        return [offer_from_row(row) for row in rows]
