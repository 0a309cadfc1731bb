"""Payment sessions in PostgreSQL: checkout (reserve and store atomically), locked updates,
reservation commit/release, and look-ups. Implements ``domain.ports.PaymentSessionRepository``.

Concurrency:
* one checkout per (customer, idempotency key) at a time: a transaction-scoped advisory lock
  (PostgreSQL; SQLite serialises writers anyway), backed by a unique constraint;
* the customer's cart row is locked ``FOR UPDATE`` while it is read and snapshotted;
* stock is taken with ``UPDATE products SET stock = stock - q WHERE stock >= q``, in product id
  order, so of many sessions racing for the last unit exactly one gets it;
* a coupon use is reserved with the offer row locked ``FOR UPDATE`` while uses are counted.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from datasources.postgres.carts import _active_cart, _cart_from_rows, _lines, count_usage
from datasources.postgres.catalog import offer_from_row, product_from_row
from datasources.postgres.payment_tables import (
    PaymentSessionLineRow,
    PaymentSessionRow,
    StockReservationRow,
)
from datasources.postgres.sql import dialect_name
from datasources.postgres.tables import (
    CartLineRow,
    CartRow,
    CouponRedemptionRow,
    OfferRow,
    ProductRow,
)
from domain.cart import Cart
from domain.catalog import Product
from domain.errors import DomainError, ErrorCode
from domain.offers import Offer
from domain.payment_session import PaymentSession, SessionLine
from domain.payments import PaymentStatus
from domain.pricing import UsageCounts


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _session_from_rows(
    row: PaymentSessionRow, lines: Sequence[PaymentSessionLineRow]
) -> PaymentSession:
    created, expires = _aware(row.created_at), _aware(row.expires_at)
    assert created is not None and expires is not None
    return PaymentSession(
        id=str(row.id),
        customer_id=row.customer_id,
        customer_email=row.customer_email,
        status=PaymentStatus(row.status),
        currency=row.currency,
        subtotal=row.subtotal_paise,
        discount=row.discount_paise,
        tax=row.tax_paise,
        amount=row.amount_paise,
        coupon_code=row.coupon_code,
        offer_id=str(row.offer_id) if row.offer_id else None,
        lines=tuple(
            SessionLine(
                product_id=str(line.product_id),
                sku=line.sku,
                title=line.title,
                quantity=line.quantity,
                unit_price=line.unit_price_paise,
                gst_rate_bp=line.gst_rate_bp,
                subtotal=line.subtotal_paise,
                discount=line.discount_paise,
                tax=line.tax_paise,
                total=line.total_paise,
            )
            for line in sorted(lines, key=lambda x: x.position)
        ),
        razorpay_order_id=row.razorpay_order_id,
        razorpay_payment_id=row.razorpay_payment_id,
        idempotency_key=row.idempotency_key,
        fingerprint=row.fingerprint,
        cart_id=str(row.cart_id),
        cart_version=row.cart_version,
        created_at=created,
        expires_at=expires,
        paid_at=_aware(row.paid_at),
        captured_amount=row.captured_paise,
        refunded_amount=row.refunded_paise,
        needs_review=row.needs_review,
        failure_reason=row.failure_reason,
    )


async def _load(
    session: AsyncSession, session_id: uuid.UUID, *, for_update: bool = False
) -> PaymentSession | None:
    statement = select(PaymentSessionRow).where(col(PaymentSessionRow.id) == session_id)
    if for_update:
        statement = statement.with_for_update()
    row = (await session.scalars(statement)).one_or_none()
    if row is None:
        return None
    lines = (
        await session.scalars(
            select(PaymentSessionLineRow).where(col(PaymentSessionLineRow.session_id) == row.id)
        )
    ).all()
    return _session_from_rows(row, lines)


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


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
        return await _load(self._session, row_id) if row_id is not None else None

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

    async def reserve_stock(
        self, quantities: Mapping[str, int], *, skus: Mapping[str, str]
    ) -> None:
        for product_id in sorted(quantities):
            taken = (
                await self._session.execute(
                    update(ProductRow)
                    .where(col(ProductRow.id) == uuid.UUID(product_id))
                    .where(col(ProductRow.stock) >= quantities[product_id])
                    .values(stock=col(ProductRow.stock) - quantities[product_id])
                    .returning(col(ProductRow.id))
                    .execution_options(synchronize_session=False)
                )
            ).scalar_one_or_none()
            if taken is None:
                raise DomainError(
                    f"{skus.get(product_id, product_id)} is out of stock",
                    code=ErrorCode.OUT_OF_STOCK,
                    field=["cart", "lines"],
                )

    async def insert(self, session: PaymentSession, *, stock: Mapping[str, int]) -> None:
        now = session.created_at
        session_id = uuid.UUID(session.id)
        self._session.add(
            PaymentSessionRow(
                id=session_id,
                customer_id=session.customer_id,
                customer_email=session.customer_email,
                status=session.status.value,
                currency=session.currency,
                subtotal_paise=session.subtotal,
                discount_paise=session.discount,
                tax_paise=session.tax,
                amount_paise=session.amount,
                coupon_code=session.coupon_code,
                offer_id=uuid.UUID(session.offer_id) if session.offer_id else None,
                idempotency_key=session.idempotency_key,
                fingerprint=session.fingerprint,
                cart_id=uuid.UUID(session.cart_id),
                cart_version=session.cart_version,
                created_at=now,
                updated_at=now,
                expires_at=session.expires_at,
            )
        )
        await self._session.flush()
        for position, line in enumerate(session.lines):
            self._session.add(
                PaymentSessionLineRow(
                    session_id=session_id,
                    position=position,
                    product_id=uuid.UUID(line.product_id),
                    sku=line.sku,
                    title=line.title,
                    quantity=line.quantity,
                    unit_price_paise=line.unit_price,
                    gst_rate_bp=line.gst_rate_bp,
                    subtotal_paise=line.subtotal,
                    discount_paise=line.discount,
                    tax_paise=line.tax,
                    total_paise=line.total,
                )
            )
        for product_id, quantity in stock.items():
            self._session.add(
                StockReservationRow(
                    session_id=session_id,
                    product_id=uuid.UUID(product_id),
                    quantity=quantity,
                    status="HELD",
                    updated_at=now,
                )
            )
        if session.offer_id is not None:
            self._session.add(
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
        await self._session.flush()


class SqlSessionUpdate:
    """A session locked for an update, with what a status change brings along."""

    def __init__(self, session: AsyncSession, current: PaymentSession) -> None:
        self._session = session
        self.session = current

    async def save(self, changed: PaymentSession, *, now: datetime) -> PaymentSession:
        await self._session.execute(
            update(PaymentSessionRow)
            .where(col(PaymentSessionRow.id) == uuid.UUID(changed.id))
            .values(
                status=changed.status.value,
                razorpay_order_id=changed.razorpay_order_id,
                razorpay_payment_id=changed.razorpay_payment_id,
                idempotency_key=changed.idempotency_key,
                captured_paise=changed.captured_amount,
                refunded_paise=changed.refunded_amount,
                needs_review=changed.needs_review,
                failure_reason=changed.failure_reason,
                paid_at=changed.paid_at,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        self.session = changed
        return changed

    async def commit_reservations(self, *, now: datetime) -> None:
        """PAID: the held units and the coupon use count for good. Units released earlier (a
        late capture of an expired session) are taken again, as far as stock allows."""
        session_id = uuid.UUID(self.session.id)
        released = (
            await self._session.scalars(
                select(StockReservationRow)
                .where(col(StockReservationRow.session_id) == session_id)
                .where(col(StockReservationRow.status) == "RELEASED")
            )
        ).all()
        for reservation in released:
            await self._session.execute(
                update(ProductRow)
                .where(col(ProductRow.id) == reservation.product_id)
                .values(
                    stock=func.max(0, col(ProductRow.stock) - reservation.quantity)
                    if dialect_name(self._session) == "sqlite"
                    else func.greatest(0, col(ProductRow.stock) - reservation.quantity)
                )
                .execution_options(synchronize_session=False)
            )
        await self._session.execute(
            update(StockReservationRow)
            .where(col(StockReservationRow.session_id) == session_id)
            .values(status="COMMITTED", updated_at=now)
            .execution_options(synchronize_session=False)
        )
        await self._session.execute(
            update(CouponRedemptionRow)
            .where(col(CouponRedemptionRow.payment_session_id) == session_id)
            .values(status="PAID", updated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def release_reservations(self, *, now: datetime) -> None:
        """Closed unpaid: held units go back on the shelf, the coupon use is freed. Only HELD
        rows move, so releasing twice gives nothing back twice."""
        session_id = uuid.UUID(self.session.id)
        held = (
            await self._session.scalars(
                select(StockReservationRow)
                .where(col(StockReservationRow.session_id) == session_id)
                .where(col(StockReservationRow.status) == "HELD")
                .with_for_update()
            )
        ).all()
        for reservation in sorted(held, key=lambda r: r.product_id):
            await self._session.execute(
                update(ProductRow)
                .where(col(ProductRow.id) == reservation.product_id)
                .values(stock=col(ProductRow.stock) + reservation.quantity)
                .execution_options(synchronize_session=False)
            )
        await self._session.execute(
            update(StockReservationRow)
            .where(col(StockReservationRow.session_id) == session_id)
            .where(col(StockReservationRow.status) == "HELD")
            .values(status="RELEASED", updated_at=now)
            .execution_options(synchronize_session=False)
        )
        await self._session.execute(
            update(CouponRedemptionRow)
            .where(col(CouponRedemptionRow.payment_session_id) == session_id)
            .where(col(CouponRedemptionRow.status) == "RESERVED")
            .values(status="RELEASED", updated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def take_paid_lines_out_of_cart(self, *, now: datetime) -> None:
        """The products paid for leave the customer's active cart (what is left stays)."""
        cart = await _active_cart(self._session, self.session.customer_id, for_update=True)
        if cart is None:
            return
        paid: dict[uuid.UUID, int] = {}
        for line in self.session.lines:
            key = uuid.UUID(line.product_id)
            paid[key] = paid.get(key, 0) + line.quantity
        rows = (
            await self._session.scalars(
                select(CartLineRow)
                .where(col(CartLineRow.cart_id) == cart.id)
                .where(col(CartLineRow.product_id).in_(list(paid)))
            )
        ).all()
        if not rows and cart.coupon_code != self.session.coupon_code:
            return
        for row in rows:
            left = row.quantity - paid[row.product_id]
            if left > 0:
                await self._session.execute(
                    update(CartLineRow)
                    .where(col(CartLineRow.id) == row.id)
                    .values(quantity=left, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
            else:
                await self._session.execute(
                    delete(CartLineRow)
                    .where(col(CartLineRow.id) == row.id)
                    .execution_options(synchronize_session=False)
                )
        coupon = None if cart.coupon_code == self.session.coupon_code else cart.coupon_code
        await self._session.execute(
            update(CartRow)
            .where(col(CartRow.id) == cart.id)
            .values(version=col(CartRow.version) + 1, coupon_code=coupon, updated_at=now)
            .execution_options(synchronize_session=False)
        )


class SqlPaymentSessions:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @asynccontextmanager
    async def checkout(
        self, *, customer_id: str, idempotency_key: str
    ) -> AsyncIterator[SqlCheckout]:
        async with self._sessions() as session, session.begin():
            if dialect_name(session) == "postgresql":
                await session.execute(
                    text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                    {"k": f"checkout:{customer_id}:{idempotency_key}"},
                )
            else:  # SQLite: take the single write lock now, not at the first write
                await session.execute(text("UPDATE carts SET version = version WHERE 0"))
            yield SqlCheckout(session, customer_id=customer_id, idempotency_key=idempotency_key)

    @asynccontextmanager
    async def lock(self, session_id: str) -> AsyncIterator[SqlSessionUpdate | None]:
        """The session locked ``FOR UPDATE`` (None if there is no such session)."""
        key = _uuid(session_id)
        async with self._sessions() as session, session.begin():
            if dialect_name(session) != "postgresql":
                await session.execute(text("UPDATE carts SET version = version WHERE 0"))
            current = await _load(session, key, for_update=True) if key else None
            yield SqlSessionUpdate(session, current) if current is not None else None

    async def get(self, session_id: str) -> PaymentSession | None:
        key = _uuid(session_id)
        if key is None:
            return None
        async with self._sessions() as session:
            return await _load(session, key)

    async def get_by_order(self, order_id: str) -> PaymentSession | None:
        async with self._sessions() as session:
            row_id = (
                await session.scalars(
                    select(col(PaymentSessionRow.id)).where(
                        col(PaymentSessionRow.razorpay_order_id) == order_id
                    )
                )
            ).one_or_none()
            return await _load(session, row_id) if row_id is not None else None

    async def attach_order(self, session_id: str, *, order_id: str, now: datetime) -> bool:
        """Store the Razorpay order id on a session still waiting for it."""
        async with self._sessions() as session, session.begin():
            done = (
                await session.execute(
                    update(PaymentSessionRow)
                    .where(col(PaymentSessionRow.id) == uuid.UUID(session_id))
                    .where(col(PaymentSessionRow.razorpay_order_id).is_(None))
                    .values(razorpay_order_id=order_id, updated_at=now)
                    .returning(col(PaymentSessionRow.id))
                    .execution_options(synchronize_session=False)
                )
            ).scalar_one_or_none()
        return done is not None

    async def page(
        self,
        *,
        customer_id: str | None,
        status: PaymentStatus | None,
        first: int,
        before: tuple[datetime, str] | None,
    ) -> list[PaymentSession]:
        """Newest first; ``before`` is the (created_at, id) of the last one already seen."""
        statement = select(PaymentSessionRow)
        if customer_id is not None:
            statement = statement.where(col(PaymentSessionRow.customer_id) == customer_id)
        if status is not None:
            statement = statement.where(col(PaymentSessionRow.status) == status.value)
        if before is not None:
            at, last_id = before
            statement = statement.where(
                (col(PaymentSessionRow.created_at) < at)
                | (
                    (col(PaymentSessionRow.created_at) == at)
                    & (col(PaymentSessionRow.id) < uuid.UUID(last_id))
                )
            )
        statement = statement.order_by(
            col(PaymentSessionRow.created_at).desc(), col(PaymentSessionRow.id).desc()
        ).limit(first)
        async with self._sessions() as session:
            rows = (await session.scalars(statement)).all()
            ids = [row.id for row in rows]
            lines = (
                (
                    await session.scalars(
                        select(PaymentSessionLineRow).where(
                            col(PaymentSessionLineRow.session_id).in_(ids)
                        )
                    )
                ).all()
                if ids
                else []
            )
        by_session: dict[uuid.UUID, list[PaymentSessionLineRow]] = {}
        for line in lines:
            by_session.setdefault(line.session_id, []).append(line)
        return [_session_from_rows(row, by_session.get(row.id, [])) for row in rows]

    async def due(
        self, *, statuses: Sequence[PaymentStatus], before: datetime, limit: int
    ) -> list[str]:
        """Ids of sessions in ``statuses`` whose ``expires_at`` (or creation, for reconciling)
        is before ``before``, oldest first."""
        statement = (
            select(col(PaymentSessionRow.id))
            .where(col(PaymentSessionRow.status).in_([s.value for s in statuses]))
            .where(col(PaymentSessionRow.expires_at) < before)
            .order_by(col(PaymentSessionRow.expires_at))
            .limit(limit)
        )
        async with self._sessions() as session:
            return [str(i) for i in (await session.scalars(statement)).all()]
