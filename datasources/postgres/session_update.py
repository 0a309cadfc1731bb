"""A payment session locked for an update, and what a status change brings along:
reservations committed or released, paid lines out of the cart, refunds, outbox messages."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from datasources.postgres import refunds as refund_rows
from datasources.postgres import stock
from datasources.postgres.carts import _active_cart
from datasources.postgres.outbox import enqueue
from datasources.postgres.payment_tables import PaymentSessionRow, StockReservationRow
from datasources.postgres.tables import CartLineRow, CartRow, CouponRedemptionRow
from domain.outbox import OutboxMessage
from domain.payment_session import PaymentSession
from domain.refunds import Refund


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
        rows = await self._reservations(session_id, "HELD", "RELEASED")
        held = {str(r.product_id): r.quantity for r in rows if r.status == "HELD"}
        released = {str(r.product_id): r.quantity for r in rows if r.status == "RELEASED"}
        if held:
            await stock.commit(self._session, held)
        if released and await stock.take(self._session, released) is not None:
            # as before the late-capture rules (issue 9): take what is left of each product
            left = await stock.available(self._session, released)
            partial = {p: min(q, left.get(p, 0)) for p, q in released.items()}
            if partial := {p: q for p, q in partial.items() if q > 0}:
                await stock.take(self._session, partial)
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

    async def _reservations(
        self, session_id: uuid.UUID, *statuses: str
    ) -> Sequence[StockReservationRow]:
        return (
            await self._session.scalars(
                select(StockReservationRow)
                .where(col(StockReservationRow.session_id) == session_id)
                .where(col(StockReservationRow.status).in_(statuses))
                .with_for_update()
            )
        ).all()

    async def release_reservations(self, *, now: datetime) -> None:
        """Closed unpaid: held units go back on the shelf, the coupon use is freed. Only HELD
        rows move, so releasing twice gives nothing back twice."""
        session_id = uuid.UUID(self.session.id)
        held = await self._reservations(session_id, "HELD")
        if held:
            await stock.release(self._session, {str(r.product_id): r.quantity for r in held})
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

    async def enqueue(self, messages: Sequence[OutboxMessage], *, now: datetime) -> None:
        await enqueue(self._session, messages, now=now)

    async def refunds(self) -> list[Refund]:
        return await refund_rows.refunds_of(self._session, uuid.UUID(self.session.id))

    async def add_refund(self, refund: Refund) -> None:
        await refund_rows.insert_refund(self._session, refund)

    async def save_refund(self, refund: Refund, *, now: datetime) -> None:
        await refund_rows.update_refund(self._session, refund, now=now)
