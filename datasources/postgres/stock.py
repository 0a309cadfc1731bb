"""Stock moves on ``products.on_hand`` and ``products.reserved`` (API.md "Stock").

Available to buy is ``on_hand - reserved``; the table's CHECK keeps ``0 <= reserved <= on_hand``.
Every function runs in the caller's transaction (``session``), takes product ids as canonical
uuid strings and touches the rows one at a time in sorted id order (the last step of the lock
order in datasources/postgres/locks.py), so two callers never wait on each other in a circle.
Each is all or nothing: a move that cannot be made for one product changes no product.

- :func:`reserve`   hold units for an open payment session       reserved += q
- :func:`release`   the session closed unpaid                     reserved -= q
- :func:`commit`    the session was paid                          reserved -= q, on_hand -= q
- :func:`take`      a late capture takes units held by nobody     on_hand -= q
- :func:`available` lock the rows and read what is left to buy

On PostgreSQL each row is locked by its conditional UPDATE (or SELECT … FOR UPDATE) until the
caller's transaction ends; SQLite has one writer at a time anyway.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from datasources.postgres.tables import ProductRow

# ``session.info`` flag: this transaction moved stock (what the catalog shows changed)
STOCK_MOVED = "stock_moved"


class StockInvariantError(RuntimeError):
    """A release or commit of a product that does not exist: a bookkeeping bug, never an
    expected failure (the caller's transaction must roll back)."""


def _sorted(quantities: Mapping[str, int]) -> list[tuple[str, int]]:
    for product_id, quantity in quantities.items():
        if quantity < 1:
            raise ValueError(f"quantity of {product_id} must be positive, not {quantity}")
    return sorted(quantities.items())


async def _move(
    session: AsyncSession,
    product_id: str,
    *,
    reserved: int = 0,
    on_hand: int = 0,
    need_available: int | None = None,
) -> bool:
    """``reserved += reserved, on_hand += on_hand`` on one row, if it exists and (when
    ``need_available`` is given) at least that many units are available; whether it did."""
    statement = update(ProductRow).where(col(ProductRow.id) == uuid.UUID(product_id))
    if need_available is not None:
        statement = statement.where(
            col(ProductRow.on_hand) - col(ProductRow.reserved) >= need_available
        )
    values: dict[str, object] = {}
    if reserved:
        values["reserved"] = col(ProductRow.reserved) + reserved
    if on_hand:
        values["on_hand"] = col(ProductRow.on_hand) + on_hand
    moved = (
        await session.execute(
            statement.values(**values)
            .returning(col(ProductRow.id))
            .execution_options(synchronize_session=False)
        )
    ).scalar_one_or_none()
    if moved is not None:
        session.info[STOCK_MOVED] = True  # SqlPaymentSessions tells the catalog after commit
    return moved is not None


async def _all_or_nothing(
    session: AsyncSession, quantities: Mapping[str, int], *, reserved: int, on_hand: int
) -> str | None:
    """Move ``q * reserved`` and ``q * on_hand`` for every product where ``q`` units are
    available, in id order; at the first product short of them, undo the moves made (those
    rows are locked by this transaction, so the undo is exact) and answer its id."""
    done: list[tuple[str, int]] = []
    for product_id, quantity in _sorted(quantities):
        if not await _move(
            session,
            product_id,
            reserved=quantity * reserved,
            on_hand=quantity * on_hand,
            need_available=quantity,
        ):
            for undo_id, undo_quantity in done:
                await _move(
                    session,
                    undo_id,
                    reserved=-undo_quantity * reserved,
                    on_hand=-undo_quantity * on_hand,
                )
            return product_id
        done.append((product_id, quantity))
    return None


async def reserve(session: AsyncSession, quantities: Mapping[str, int]) -> str | None:
    """Hold ``quantities`` (product id → units) for an open payment session. Answers None,
    or the id of the first product (in id order) short of stock; nothing is held then."""
    return await _all_or_nothing(session, quantities, reserved=1, on_hand=0)


async def take(session: AsyncSession, quantities: Mapping[str, int]) -> str | None:
    """A late capture: take units off the shelf that nobody holds (``on_hand -= q`` where
    ``on_hand - reserved >= q``). Answers None, or the first product short; nothing is
    taken then."""
    return await _all_or_nothing(session, quantities, reserved=0, on_hand=-1)


async def _settle(
    session: AsyncSession, quantities: Mapping[str, int], *, on_hand: int, what: str
) -> None:
    """``reserved -= q`` (and ``on_hand += on_hand * q``) for every product. More than is held
    breaks the CHECK (an IntegrityError at the statement); a product that does not exist
    raises :class:`StockInvariantError`. Either way the caller's transaction must roll back."""
    for product_id, quantity in _sorted(quantities):
        if not await _move(session, product_id, reserved=-quantity, on_hand=on_hand * quantity):
            raise StockInvariantError(f"cannot {what} {quantity} of {product_id}: no such product")


async def release(session: AsyncSession, quantities: Mapping[str, int]) -> None:
    """A session closed unpaid: its held units are available again (``reserved -= q``)."""
    await _settle(session, quantities, on_hand=0, what="release")


async def commit(session: AsyncSession, quantities: Mapping[str, int]) -> None:
    """A session was paid: its held units leave the shelf (``reserved -= q, on_hand -= q``)."""
    await _settle(session, quantities, on_hand=-1, what="commit")


async def available(session: AsyncSession, product_ids: Iterable[str]) -> dict[str, int]:
    """Lock the products' rows (FOR UPDATE, in id order) and answer ``on_hand - reserved``
    for each; an id that names no product is left out."""
    keys = sorted({uuid.UUID(product_id) for product_id in product_ids})
    if not keys:
        return {}
    rows = (
        await session.execute(
            select(col(ProductRow.id), col(ProductRow.on_hand) - col(ProductRow.reserved))
            .where(col(ProductRow.id).in_(keys))
            .order_by(col(ProductRow.id))
            .with_for_update()
        )
    ).all()
    return {str(product_id): int(left) for product_id, left in rows}
