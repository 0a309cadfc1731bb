"""Stock units taken and given back, in the caller's transaction, rows in product id order.

(Interim version over ``products.stock``, which holds the units on sale; the stock-on-hand
change replaces it, keeping these functions.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from datasources.postgres.tables import ProductRow


async def available(session: AsyncSession, product_ids: Iterable[str]) -> dict[str, int]:
    """Units on sale per product, the rows locked (id order)."""
    ids = sorted({uuid.UUID(p) for p in product_ids})
    if not ids:
        return {}
    rows = (
        await session.execute(
            select(col(ProductRow.id), col(ProductRow.stock))
            .where(col(ProductRow.id).in_(ids))
            .order_by(col(ProductRow.id))
            .with_for_update()
        )
    ).all()
    return {str(i): int(stock) for i, stock in rows}


async def reserve(session: AsyncSession, quantities: Mapping[str, int]) -> str | None:
    """Hold units for an open session; all or nothing. The first product short of stock."""
    have = await available(session, quantities)
    for product_id in sorted(quantities):
        if have.get(product_id, 0) < quantities[product_id]:
            return product_id
    for product_id in sorted(quantities):
        await session.execute(
            update(ProductRow)
            .where(col(ProductRow.id) == uuid.UUID(product_id))
            .values(stock=col(ProductRow.stock) - quantities[product_id])
            .execution_options(synchronize_session=False)
        )
    return None


async def release(session: AsyncSession, quantities: Mapping[str, int]) -> None:
    """Held units back on sale (the session closed unpaid)."""
    for product_id in sorted(quantities):
        await session.execute(
            update(ProductRow)
            .where(col(ProductRow.id) == uuid.UUID(product_id))
            .values(stock=col(ProductRow.stock) + quantities[product_id])
            .execution_options(synchronize_session=False)
        )


async def commit(session: AsyncSession, quantities: Mapping[str, int]) -> None:
    """Held units sold (the session was paid): they were off sale already."""
    del session, quantities


async def take(session: AsyncSession, quantities: Mapping[str, int]) -> str | None:
    """Units sold straight away (a late capture); all or nothing, like :func:`reserve`."""
    return await reserve(session, quantities)
