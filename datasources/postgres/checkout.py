"""One checkout's transaction, in the lock order of ``locks.py``: the customer (taken by the
repository), the cart's open sessions, the cart, the offer, the products."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from datasources.postgres import stock
from datasources.postgres.carts import _active_cart, _cart_from_rows, _lines, count_usage
from datasources.postgres.catalog import offer_from_row, product_from_row
from datasources.postgres.payment_tables import PaymentSessionRow, StockReservationRow
from datasources.postgres.session_rows import load_session, session_to_rows
from datasources.postgres.session_update import SqlSessionUpdate, load_ledger
from datasources.postgres.tables import CouponRedemptionRow, OfferRow, ProductRow
from domain.cart import Cart
from domain.catalog import Product
from domain.errors import DomainError, ErrorCode
from domain.offers import Offer
from domain.payment_session import PaymentSession
from domain.pricing import UsageCounts

OPEN = ("CREATED", "ATTEMPTED", "AUTHORIZED")


class SqlCheckout:
    """One checkout's transaction: everything it does commits or rolls back together."""

    def __init__(self, session: AsyncSession, *, customer_id: str, idempotency_key: str) -> None:
        self._session = session
        self._customer_id = customer_id
        self._key = idempotency_key

    async def existing(self) -> PaymentSession | None:
        row_id = (
            await self._session.scalars(
                select(col(PaymentSessionRow.id))
                .where(col(PaymentSessionRow.customer_id) == self._customer_id)
                .where(col(PaymentSessionRow.idempotency_key) == self._key)
            )
        ).one_or_none()
        return await load_session(self._session, row_id) if row_id is not None else None

    async def cart(self) -> tuple[Cart, dict[str, Product]]:
        """The customer's active cart, locked, with its products (an empty cart if none)."""
        row = await _active_cart(self._session, self._customer_id, for_update=True)
        if row is None:
            return Cart(id=str(uuid.uuid4()), customer_id=self._customer_id, version=0), {}
        cart = _cart_from_rows(row, await _lines(self._session, row.id))
        ids = [uuid.UUID(p) for p in cart.product_ids]
        rows = (
            (
                await self._session.scalars(select(ProductRow).where(col(ProductRow.id).in_(ids)))
            ).all()
            if ids
            else []
        )
        return cart, {str(r.id): product_from_row(r) for r in rows}

    async def offer(self, code: str) -> Offer | None:
        """The offer a coupon code names, locked so that uses are counted one checkout at a time."""
        row = (
            await self._session.scalars(
                select(OfferRow).where(col(OfferRow.code) == code).with_for_update()
            )
        ).one_or_none()
        return offer_from_row(row) if row is not None else None

    async def usage(self, *, offer_id: str, now: datetime) -> UsageCounts:
        return await count_usage(
            self._session, offer_id=offer_id, customer_id=self._customer_id, now=now
        )

    async def open_sessions(self) -> list[SqlSessionUpdate]:
        """The cart's open payment sessions (CREATED, ATTEMPTED, AUTHORIZED), locked in id
        order. Called before :meth:`cart`: sessions come before the cart in the lock order."""
        cart = await _active_cart(self._session, self._customer_id)
        if cart is None:
            return []
        ids = (
            await self._session.scalars(
                select(col(PaymentSessionRow.id))
                .where(col(PaymentSessionRow.cart_id) == cart.id)
                .where(col(PaymentSessionRow.status).in_(OPEN))
                .order_by(col(PaymentSessionRow.id))
                .with_for_update()
            )
        ).all()
        found = []
        for row_id in ids:
            current = await load_session(self._session, row_id)
            if current is not None:
                found.append(
                    SqlSessionUpdate(self._session, await load_ledger(self._session, current))
                )
        return found

    async def reserve_stock(
        self, quantities: Mapping[str, int], *, skus: Mapping[str, str]
    ) -> None:
        short = await stock.reserve(self._session, quantities)
        if short is not None:
            raise DomainError(
                f"{skus.get(short, short)} is out of stock",
                code=ErrorCode.OUT_OF_STOCK,
                field=["cart", "lines"],
            )

    async def insert(self, session: PaymentSession, *, stock: Mapping[str, int]) -> None:
        row, lines = session_to_rows(session)
        self._session.add(row)
        await self._session.flush()
        self._session.add_all([*lines, *_holds(session, stock=stock)])
        await self._session.flush()


def _holds(
    session: PaymentSession, *, stock: Mapping[str, int]
) -> list[StockReservationRow | CouponRedemptionRow]:
    """What a new session holds until it is paid or closed: its stock, and its coupon's use."""
    now = session.created_at
    session_id = uuid.UUID(session.id)
    holds: list[StockReservationRow | CouponRedemptionRow] = [
        StockReservationRow(
            session_id=session_id,
            product_id=uuid.UUID(product_id),
            quantity=quantity,
            status="HELD",
            updated_at=now,
        )
        for product_id, quantity in stock.items()
    ]
    if session.offer_id is not None:
        holds.append(
            CouponRedemptionRow(
                id=uuid.uuid4(),
                offer_id=uuid.UUID(session.offer_id),
                customer_id=session.customer_id,
                payment_session_id=session_id,
                status="RESERVED",
                expires_at=session.expires_at,
                created_at=now,
                updated_at=now,
            )
        )
    return holds
