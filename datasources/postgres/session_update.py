"""A payment session locked for one event: its ledger read, the event id recorded, the
availability a late capture needs, and a decision persisted (the session, its refunds, its
holds and its outbox effects), all in the one transaction. Locks follow ``locks.py``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from datasources.postgres import refunds as refund_rows
from datasources.postgres import stock
from datasources.postgres.carts import _active_cart, count_usage
from datasources.postgres.outbox import enqueue
from datasources.postgres.payment_tables import (
    PaymentEventRow,
    PaymentSessionRow,
    StockReservationRow,
)
from datasources.postgres.sql import insert_on_conflict
from datasources.postgres.tables import CartLineRow, CartRow, CouponRedemptionRow, OfferRow
from domain.effects import (
    CommitHolds,
    ReleaseHolds,
    RetakeHolds,
    SaveRefund,
    TakeOutOfCart,
)
from domain.outbox import message_of
from domain.payment_rules import Availability, Decision, Holds, Ledger
from domain.payment_session import PaymentSession, paid_quantities
from domain.refunds import Refund

_HOLDS = {"HELD": Holds.HELD, "COMMITTED": Holds.COMMITTED, "RELEASED": Holds.RELEASED}


async def load_ledger(session: AsyncSession, current: PaymentSession) -> Ledger:
    key = uuid.UUID(current.id)
    statuses = (
        await session.scalars(
            select(col(StockReservationRow.status)).where(
                col(StockReservationRow.session_id) == key
            )
        )
    ).all()
    holds = _HOLDS[statuses[0]] if statuses else Holds.RELEASED
    refunds = await refund_rows.refunds_of(session, key)
    return Ledger(session=current, refunds=tuple(refunds), holds=holds)


class SqlSessionUpdate:
    """One session, locked; see ``domain.ports.SessionUpdate``."""

    def __init__(self, session: AsyncSession, ledger: Ledger) -> None:
        self._session = session
        self.ledger = ledger

    @property
    def session(self) -> PaymentSession:
        return self.ledger.session

    async def record_event(self, key: str, *, source: str, now: datetime) -> bool:
        """True the first time this event key is seen (recorded now), False for a repeat."""
        inserted = (
            await self._session.execute(
                insert_on_conflict(self._session, PaymentEventRow)
                .values(
                    event_key=key[:200],
                    session_id=uuid.UUID(self.session.id),
                    source=source[:24],
                    received_at=now,
                )
                .on_conflict_do_nothing(index_elements=["event_key"])
                .returning(col(PaymentEventRow.event_key))
            )
        ).scalar_one_or_none()
        return inserted is not None

    async def availability(self) -> Availability:
        """What a late capture could take again, locked in the lock order: the cart (its paid
        lines will leave it), the offer, then the products."""
        current = self.session
        await _active_cart(self._session, current.customer_id, for_update=True)
        usage = None
        usage_limit = per_customer = None
        if current.offer_id is not None:
            offer = (
                await self._session.scalars(
                    select(OfferRow)
                    .where(col(OfferRow.id) == uuid.UUID(current.offer_id))
                    .with_for_update()
                )
            ).one_or_none()
            if offer is not None:
                usage_limit, per_customer = offer.usage_limit, offer.per_customer_limit
                usage = await count_usage(
                    self._session,
                    offer_id=current.offer_id,
                    customer_id=current.customer_id,
                    now=current.created_at,
                    excluding_session_id=current.id,
                )
        on_sale = await stock.available(self._session, paid_quantities(current.lines))
        return Availability(
            stock=on_sale, coupon=usage, usage_limit=usage_limit, per_customer_limit=per_customer
        )

    async def persist(self, decision: Decision, *, now: datetime) -> None:
        """Store what the decision changed. Holds are applied in the lock order (cart, coupon,
        stock), whatever order the decision lists them in; outbox effects are enqueued."""
        before = self.ledger
        if decision.session != before.session:
            await self._save(decision.session, now=now)
        known = {r.id for r in before.refunds}
        holds = {type(e) for e in decision.effects}
        for effect in decision.effects:
            if isinstance(effect, SaveRefund):
                await self._save_refund(effect.refund, known=known, now=now)
                known.add(effect.refund.id)
        self.ledger = decision.ledger
        if TakeOutOfCart in holds:
            await self._take_paid_lines_out_of_cart(now=now)
        if CommitHolds in holds or RetakeHolds in holds:
            await self._coupon(to="PAID", now=now)
            quantities = paid_quantities(self.session.lines)
            if RetakeHolds in holds:
                short = await stock.take(self._session, quantities)
                if short is not None:  # availability was read under the same locks
                    raise RuntimeError(f"stock of {short} changed under its lock")
            else:
                await stock.commit(self._session, quantities)
            await self._reservations(to="COMMITTED", now=now)
        if ReleaseHolds in holds:
            await self._coupon(to="RELEASED", now=now)
            await stock.release(self._session, await self._held())
            await self._reservations(to="RELEASED", now=now)
        messages = [message_of(e) for e in decision.effects if not isinstance(e, _HOLD_TYPES)]
        if messages:
            await enqueue(self._session, messages, now=now)

    async def _save(self, changed: PaymentSession, *, now: datetime) -> None:
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

    async def _save_refund(self, refund: Refund, *, known: set[str], now: datetime) -> None:
        if refund.id in known:
            await refund_rows.update_refund(self._session, refund, now=now)
        else:
            await refund_rows.insert_refund(self._session, replace(refund, created_at=now))

    async def _held(self) -> dict[str, int]:
        rows = (
            await self._session.scalars(
                select(StockReservationRow)
                .where(col(StockReservationRow.session_id) == uuid.UUID(self.session.id))
                .where(col(StockReservationRow.status) == "HELD")
            )
        ).all()
        return {str(r.product_id): r.quantity for r in rows}

    async def _reservations(self, *, to: str, now: datetime) -> None:
        await self._session.execute(
            update(StockReservationRow)
            .where(col(StockReservationRow.session_id) == uuid.UUID(self.session.id))
            .values(status=to, updated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def _coupon(self, *, to: str, now: datetime) -> None:
        await self._session.execute(
            update(CouponRedemptionRow)
            .where(col(CouponRedemptionRow.payment_session_id) == uuid.UUID(self.session.id))
            .values(status=to, updated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def _take_paid_lines_out_of_cart(self, *, now: datetime) -> None:
        """The products paid for leave the customer's active cart (what is left stays)."""
        cart = await _active_cart(self._session, self.session.customer_id, for_update=True)
        if cart is None:
            return
        paid = {uuid.UUID(k): v for k, v in paid_quantities(self.session.lines).items()}
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


_HOLD_TYPES = (CommitHolds, RetakeHolds, ReleaseHolds, TakeOutOfCart, SaveRefund)


async def mark_reconciled(session: AsyncSession, ids: Sequence[str], *, now: datetime) -> None:
    await session.execute(
        update(PaymentSessionRow)
        .where(col(PaymentSessionRow.id).in_([uuid.UUID(i) for i in ids]))
        .values(reconciled_at=now)
        .execution_options(synchronize_session=False)
    )
