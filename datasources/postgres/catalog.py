"""Product and offer repositories (implement domain.ports.ProductRepository/OfferRepository)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from datasources.offer_codec import OFFER
from datasources.postgres.sql import as_utc, insert_on_conflict, is_unique_violation
from datasources.postgres.tables import OfferRow, ProductRow
from domain.catalog import Product, check_stock_on_hand
from domain.errors import InvalidInput
from domain.offers import Offer, normalise_code
from domain.ports import ProductQuery

# Each Offer field and its OfferRow column: the same name, but money columns say their unit.
OFFER_COLUMNS = {field.name: field.name for field in dataclasses.fields(Offer)} | {
    "flat": "flat_paise",
    "max_discount": "max_discount_paise",
    "min_subtotal": "min_subtotal_paise",
}


def product_from_row(row: ProductRow) -> Product:
    return Product(
        id=str(row.id),
        sku=row.sku,
        title=row.title,
        description=row.description,
        category=row.category,
        price=row.price_paise,
        gst_rate_bp=row.gst_rate_bp,
        stock=row.on_hand - row.reserved,
        stock_on_hand=row.on_hand,
        image_url=row.image_url,
        active=row.active,
    )


def offer_from_row(row: OfferRow) -> Offer:
    values = {field: getattr(row, column) for field, column in OFFER_COLUMNS.items()}
    # the rest converts as the codec does: kind by value, JSON lists to tuples
    return OFFER.validate_python(
        values
        | {"id": str(row.id), "starts_at": as_utc(row.starts_at), "ends_at": as_utc(row.ends_at)}
    )


def product_values(product: Product) -> dict[str, object]:
    """Column values of a product, without the timestamps and without ``reserved`` (which
    only payment sessions move)."""
    return {
        "id": uuid.UUID(product.id),
        "sku": product.sku,
        "title": product.title,
        "description": product.description,
        "category": product.category,
        "price_paise": product.price,
        "gst_rate_bp": product.gst_rate_bp,
        "on_hand": product.stock_on_hand,
        "image_url": product.image_url,
        "active": product.active,
    }


def offer_values(offer: Offer) -> dict[str, object]:
    """Column values of an offer, without the timestamps."""
    values: dict[str, object] = {
        column: getattr(offer, field) for field, column in OFFER_COLUMNS.items()
    }
    return values | {
        "id": uuid.UUID(offer.id),
        "kind": offer.kind.value,
        "product_ids": list(offer.product_ids),
        "categories": list(offer.categories),
    }


_Row = TypeVar("_Row", ProductRow, OfferRow)


async def _upsert(
    sessions: async_sessionmaker[AsyncSession],
    entity: type[_Row],
    values: dict[str, object],
    *,
    unique_column: str,
    unique_field: str,
    on_insert: dict[str, object] | None = None,
    check: Callable[[AsyncSession], Awaitable[None]] | None = None,
) -> _Row:
    """INSERT … ON CONFLICT (id) DO UPDATE, keeping ``created_at``; the row as stored. An
    update changes the columns in ``values`` only (``on_insert`` is for a new row).
    ``check`` runs first, in the same transaction."""
    now = datetime.now(UTC)
    async with sessions() as session:
        insert = insert_on_conflict(session, entity).values(
            **values, **(on_insert or {}), created_at=now, updated_at=now
        )
        changes = {k: insert.excluded[k] for k in values if k != "id"}
        statement = insert.on_conflict_do_update(
            index_elements=["id"], set_={**changes, "updated_at": now}
        ).returning(entity)
        try:
            async with session.begin():
                if check is not None:
                    await check(session)
                row = (await session.scalars(statement)).one()
        except IntegrityError as exc:
            if is_unique_violation(exc, column=unique_column):
                raise InvalidInput(
                    f"another one already has this {unique_field}", field=[unique_field]
                ) from exc
            raise
    assert isinstance(row, entity)
    return row


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

    async def upsert(self, product: Product, *, expected_on_hand: int | None = None) -> Product:
        """On hand is set, conditionally on ``expected_on_hand``; ``reserved`` is never
        written here (a new product starts with nothing held). The row is locked while
        the rule is checked, so a checkout cannot hold units in between."""

        async def check(session: AsyncSession) -> None:
            current = (
                await session.execute(
                    select(col(ProductRow.on_hand), col(ProductRow.reserved))
                    .where(col(ProductRow.id) == uuid.UUID(product.id))
                    .with_for_update()
                )
            ).one_or_none()
            on_hand, reserved = current if current is not None else (0, 0)
            check_stock_on_hand(
                new=product.stock_on_hand,
                current=on_hand,
                reserved=reserved,
                expected=expected_on_hand,
            )

        row = await _upsert(
            self._sessions,
            ProductRow,
            product_values(product),
            unique_column="sku",
            unique_field="sku",
            on_insert={"reserved": 0},
            check=check,
        )
        return product_from_row(row)


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

    async def list_active(self, *, now: datetime) -> list[Offer]:
        statement = (
            select(OfferRow)
            .where(col(OfferRow.active).is_(True))
            .where(or_(col(OfferRow.ends_at).is_(None), col(OfferRow.ends_at) > now))
            .order_by(col(OfferRow.code))
        )
        async with self._sessions() as session:
            rows = (await session.scalars(statement)).all()
        return [offer_from_row(row) for row in rows]

    async def get_many(self, ids: Sequence[str]) -> list[Offer | None]:
        keys = {uuid.UUID(i) for i in ids}
        if not keys:
            return []
        async with self._sessions() as session:
            rows = (await session.scalars(select(OfferRow).where(col(OfferRow.id).in_(keys)))).all()
        by_id = {str(row.id): offer_from_row(row) for row in rows}
        return [by_id.get(i) for i in ids]

    async def get_by_codes(self, codes: Sequence[str]) -> list[Offer | None]:
        wanted = [normalise_code(code) for code in codes]
        keys = {code for code in wanted if code}
        if not keys:
            return [None] * len(wanted)
        async with self._sessions() as session:
            rows = (
                await session.scalars(select(OfferRow).where(col(OfferRow.code).in_(keys)))
            ).all()
        by_code = {row.code: offer_from_row(row) for row in rows}
        return [by_code.get(code) for code in wanted]

    async def upsert(self, offer: Offer) -> Offer:
        row = await _upsert(
            self._sessions, OfferRow, offer_values(offer), unique_column="code", unique_field="code"
        )
        return offer_from_row(row)
