"""Cart repository and coupon usage counts (domain.ports.CartRepository, CouponUsage).

Concurrency: :meth:`SqlCartRepository.lock` runs one transaction holding the cart row with
``SELECT … FOR UPDATE`` (PostgreSQL), so two devices changing one cart are serialised and the
second sees the first's result. SQLite has no row locks; there the transaction starts with a
no-op ``UPDATE`` of the customer's cart, which takes SQLite's write lock before anything is
read (the connection waits up to ``busy_timeout`` for it). On both, :meth:`save` also checks
the version it bumps (``UPDATE … WHERE version = :locked``) as a last line of defence.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy import case, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from datasources.postgres.catalog import product_from_row
from datasources.postgres.sql import dialect_name, insert_on_conflict
from datasources.postgres.tables import CartLineRow, CartRow, CouponRedemptionRow, ProductRow
from domain.cart import Cart, CartLine
from domain.catalog import Product
from domain.errors import DomainError, ErrorCode
from domain.pricing import UsageCounts


def _now() -> datetime:
    return datetime.now(UTC)


def _cart_from_rows(row: CartRow, lines: Sequence[CartLineRow]) -> Cart:
    return Cart(
        id=str(row.id),
        customer_id=row.customer_id,
        version=row.version,
        coupon_code=row.coupon_code,
        lines=tuple(
            CartLine(id=str(line.id), product_id=str(line.product_id), quantity=line.quantity)
            for line in lines
        ),
    )


async def _active_cart(
    session: AsyncSession, customer_id: str, *, for_update: bool = False
) -> CartRow | None:
    statement = (
        select(CartRow)
        .where(col(CartRow.customer_id) == customer_id)
        .where(col(CartRow.active).is_(True))
    )
    if for_update:
        statement = statement.with_for_update()
    return (await session.scalars(statement)).one_or_none()


async def _create_cart(session: AsyncSession, customer_id: str) -> None:
    """Create the customer's active cart unless one exists (a concurrent creator wins quietly)."""
    now = _now()
    statement = (
        insert_on_conflict(session, CartRow)
        .values(
            id=uuid.uuid4(),
            customer_id=customer_id,
            active=True,
            version=0,
            coupon_code=None,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )
    await session.execute(statement)


async def _lines(session: AsyncSession, cart_id: uuid.UUID) -> Sequence[CartLineRow]:
    statement = (
        select(CartLineRow)
        .where(col(CartLineRow.cart_id) == cart_id)
        .order_by(col(CartLineRow.position), col(CartLineRow.created_at))
    )
    return (await session.scalars(statement)).all()


class _SqlCartTransaction:
    def __init__(self, session: AsyncSession, cart: Cart) -> None:
        self._session = session
        self._cart = cart

    @property
    def cart(self) -> Cart:
        return self._cart

    async def products(self, ids: Sequence[str]) -> list[Product | None]:
        keys = {uuid.UUID(i) for i in ids}
        if not keys:
            return [None] * len(ids)
        rows = (
            await self._session.scalars(select(ProductRow).where(col(ProductRow.id).in_(keys)))
        ).all()
        by_id = {str(row.id): product_from_row(row) for row in rows}
        return [by_id.get(i) for i in ids]

    async def save(self, cart: Cart) -> Cart:
        locked = self._cart
        if cart.id != locked.id or cart.version != locked.version:
            raise DomainError(
                "the cart changed meanwhile; try again", code=ErrorCode.CART_VERSION_MISMATCH
            )
        now = _now()
        cart_id = uuid.UUID(cart.id)
        bumped = (
            await self._session.execute(
                update(CartRow)
                .where(col(CartRow.id) == cart_id)
                .where(col(CartRow.version) == locked.version)
                .values(version=locked.version + 1, coupon_code=cart.coupon_code, updated_at=now)
                .returning(col(CartRow.version))
                .execution_options(synchronize_session=False)
            )
        ).scalar_one_or_none()
        if bumped is None:
            raise DomainError(
                "the cart changed meanwhile; try again", code=ErrorCode.CART_VERSION_MISMATCH
            )
        await self._write_lines(cart_id, before=locked.lines, after=cart.lines, now=now)
        self._cart = Cart(
            id=cart.id,
            customer_id=locked.customer_id,
            version=bumped,
            lines=cart.lines,
            coupon_code=cart.coupon_code,
        )
        return self._cart

    async def _write_lines(
        self,
        cart_id: uuid.UUID,
        *,
        before: Sequence[CartLine],
        after: Sequence[CartLine],
        now: datetime,
    ) -> None:
        """Delete, update and insert only what changed; ``position`` is the index in ``after``."""
        old = {line.id: (position, line) for position, line in enumerate(before)}
        new_ids = {line.id for line in after}
        gone = [uuid.UUID(line_id) for line_id in old if line_id not in new_ids]
        if gone:
            await self._session.execute(
                delete(CartLineRow)
                .where(col(CartLineRow.id).in_(gone))
                .execution_options(synchronize_session=False)
            )
        changed: list[dict[str, object]] = []
        added: list[dict[str, object]] = []
        for position, line in enumerate(after):
            previous = old.get(line.id)
            if previous is None:
                added.append(
                    {
                        "id": uuid.UUID(line.id),
                        "cart_id": cart_id,
                        "product_id": uuid.UUID(line.product_id),
                        "quantity": line.quantity,
                        "position": position,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            elif previous != (position, line):
                changed.append(
                    {
                        "id": uuid.UUID(line.id),
                        "quantity": line.quantity,
                        "position": position,
                        "updated_at": now,
                    }
                )
        if changed:
            await self._session.execute(update(CartLineRow), changed)
        if added:
            await self._session.execute(insert(CartLineRow), added)


class SqlCartRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def load(self, *, customer_id: str) -> Cart:
        async with self._sessions() as session, session.begin():
            row = await _active_cart(session, customer_id)
            if row is None:
                await _create_cart(session, customer_id)
                row = await _active_cart(session, customer_id)
                assert row is not None
            lines = await _lines(session, row.id)
            return _cart_from_rows(row, lines)

    @asynccontextmanager
    async def lock(self, *, customer_id: str) -> AsyncIterator[_SqlCartTransaction]:
        async with self._sessions() as session, session.begin():
            if dialect_name(session) == "sqlite":
                # Take SQLite's single write lock first, so this transaction reads what the
                # previous writer committed and nobody writes until it ends.
                await session.execute(
                    update(CartRow)
                    .where(col(CartRow.customer_id) == customer_id)
                    .where(col(CartRow.active).is_(True))
                    .values(version=col(CartRow.version))
                    .execution_options(synchronize_session=False)
                )
            row = await _active_cart(session, customer_id, for_update=True)
            if row is None:
                await _create_cart(session, customer_id)
                row = await _active_cart(session, customer_id, for_update=True)
                assert row is not None
            lines = await _lines(session, row.id)
            yield _SqlCartTransaction(session, _cart_from_rows(row, lines))


class SqlCouponUsage:
    """Counts from ``coupon_redemptions`` (filled by payment sessions)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def counts(
        self,
        *,
        offer_id: str,
        customer_id: str,
        now: datetime,
        excluding_session_id: str | None = None,
    ) -> UsageCounts:
        async with self._sessions() as session:
            return await count_usage(
                session,
                offer_id=offer_id,
                customer_id=customer_id,
                now=now,
                excluding_session_id=excluding_session_id,
            )


async def count_usage(
    session: AsyncSession,
    *,
    offer_id: str,
    customer_id: str,
    now: datetime,
    excluding_session_id: str | None = None,
) -> UsageCounts:
    """PAID uses plus live reservations of an offer, in total and by one customer.

    A reservation counts until its session releases it (expiry, cancel, failure) or pays: a
    session can still be paid after its ``expires_at`` (an authorized payment, a Checkout tab
    left open, the expiry job not having run yet), so the clock alone never frees a use.
    """
    counted = col(CouponRedemptionRow.status).in_(["PAID", "RESERVED"])
    statement = (
        select(
            func.count(),
            func.coalesce(
                func.sum(case((col(CouponRedemptionRow.customer_id) == customer_id, 1), else_=0)),
                0,
            ),
        )
        .select_from(CouponRedemptionRow)
        .where(col(CouponRedemptionRow.offer_id) == uuid.UUID(offer_id))
        .where(counted)
    )
    if excluding_session_id is not None:
        statement = statement.where(
            or_(
                col(CouponRedemptionRow.payment_session_id).is_(None),
                col(CouponRedemptionRow.payment_session_id) != uuid.UUID(excluding_session_id),
            )
        )
    total, mine = (await session.execute(statement)).one()
    return UsageCounts(total_used=int(total), customer_used=int(mine))
