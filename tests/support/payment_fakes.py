"""In-memory fakes of the payment ports, for use-case tests of the money path without services.

They behave like the SQL and Razorpay adapters, not like stubs:

- :class:`FakePaymentSessions` is a store with transactions. ``lock()`` and ``checkout()`` open
  one (one writer at a time, as SQLite has): what the block changes (sessions, refund rows,
  recorded event ids, holds, stock, coupon uses, the cart, outbox messages) stays only when
  the block ends without an exception; any exception, ``CancelledError`` included, rolls it
  all back. A transaction opened inside another raises (it would wait for itself).
  Its :class:`FakeSessionUpdate` records event ids once, reads an
  :class:`~domain.payment_rules.Availability` from the catalog, the offers and the coupon
  uses, and persists a :class:`~domain.payment_rules.Decision` the way
  ``datasources/postgres/session_update.py`` does: the session, refund rows (with the
  ``uq_refunds_*`` constraints), holds on stock (``stock`` is on sale, ``stock_on_hand −
  stock`` is held; a move that breaks that raises) and coupon uses, the paid lines out of the
  cart, and every outbox effect through :func:`domain.outbox.message_of` into a
  :class:`~tests.support.outbox_fakes.FakeOutbox` (one message per dedupe key).
  ``faults`` raise once at a named step (see :data:`FAULTS`); ``down`` makes every call fail
  as an unreachable database does.
- :class:`FakeGateway` answers like Razorpay: unknown ids and a capture of a payment that is
  not ``authorized`` (or for another amount) are refused; a refund needs a captured payment
  and room left, and its idempotency key answers the same refund; ``down`` makes every call
  fail as unreachable.
- :class:`FakeTimeline` keeps entries in append order, one per ``entry_id``; ``down`` makes
  appends fail.

``payment_deps()`` builds :class:`resolvers.deps.Deps` on them (and on ``tests.support.fakes``
and ``tests.support.outbox_fakes``).
"""

from __future__ import annotations

import asyncio
import builtins
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final

from domain.cart import Cart
from domain.catalog import Product
from domain.effects import (
    OUTBOX_EFFECTS,
    CommitHolds,
    ReleaseHolds,
    RetakeHolds,
    SaveRefund,
    TakeOutOfCart,
)
from domain.errors import DomainError, ErrorCode
from domain.gateway import (
    GatewayOrder,
    GatewayPayment,
    GatewayRefund,
    PaymentGatewayError,
    PaymentGatewayRejected,
)
from domain.offers import Offer
from domain.outbox import message_of
from domain.payment_ports import RecordStoreError, TimelineEntry
from domain.payment_rules import Availability, Decision, Holds, Ledger
from domain.payment_session import CheckoutConfig, PaymentSession, SessionLine, paid_quantities
from domain.payments import CLOSED_STATUSES, PAID_STATUSES, PaymentStatus
from domain.pricing import UsageCounts
from domain.refunds import Refund, RefundStatus
from resolvers.deps import Deps
from tests.support.fakes import (
    FakeCarts,
    FakeCouponUsage,
    FakeOffers,
    FakeProducts,
    FixedClock,
    fake_deps,
)
from tests.support.outbox_fakes import FakeNotifier, FakeOutbox, FakeSales

NOW = FixedClock().at
WEBHOOK_SECRET = "whsec_current_0123456789"
PREVIOUS_WEBHOOK_SECRET = "whsec_previous_9876543210"
PRODUCT_ID = "0f6c2b1e-7d6a-4a57-9c39-2f1b9a0e0001"
DEFAULT_STOCK: Final = 10  # units on sale of a product a session names, when none is arranged
OPEN: Final = (PaymentStatus.CREATED, PaymentStatus.ATTEMPTED, PaymentStatus.AUTHORIZED)
# Where a fault may be raised: the SessionUpdate's steps, and the transaction's end ("commit":
# before it is stored, so it rolls back; "committed": after, so it is kept and the caller
# still sees an exception, as when a worker dies between its commit and its answer).
FAULTS: Final = frozenset({"record_event", "availability", "persist", "commit", "committed"})


# --- Timeline ----------------------------------------------------------------------------------


@dataclass
class FakeTimeline:
    entries: list[TimelineEntry] = field(default_factory=list)
    down: bool = False
    by_id: dict[tuple[str, str], TimelineEntry] = field(default_factory=dict)

    async def append(
        self,
        *,
        session_id: str,
        at: datetime,
        type: str,
        source: str,
        detail: str | None = None,
        entry_id: str | None = None,
    ) -> TimelineEntry:
        if self.down:
            raise RecordStoreError("timeline append: endpoint unreachable", retryable=True)
        if entry_id is not None and (session_id, entry_id) in self.by_id:
            return self.by_id[(session_id, entry_id)]
        entry = TimelineEntry(session_id=session_id, at=at, type=type, source=source, detail=detail)
        self.entries.append(entry)
        if entry_id is not None:
            self.by_id[(session_id, entry_id)] = entry
        return entry

    async def list(self, session_id: str) -> Sequence[TimelineEntry]:
        mine = [e for e in self.entries if e.session_id == session_id]
        return sorted(mine, key=lambda e: e.at)  # stable: equal instants keep append order

    def types(self, session_id: str) -> builtins.list[str]:  # `list` is the port's method here
        return [e.type for e in self.entries if e.session_id == session_id]


# --- Payment sessions --------------------------------------------------------------------------


class ConstraintViolation(Exception):
    """What the database raises when a row breaks a constraint (named as in the schema)."""


def _default_holds(status: PaymentStatus) -> Holds:
    if status in PAID_STATUSES:
        return Holds.COMMITTED
    if status in CLOSED_STATUSES:
        return Holds.RELEASED
    return Holds.HELD


_REDEMPTION: Final = {Holds.HELD: "RESERVED", Holds.COMMITTED: "PAID", Holds.RELEASED: "RELEASED"}


class FakeSessionUpdate:
    """One locked session, valid only inside its transaction (see ``domain.ports``)."""

    def __init__(self, repo: FakePaymentSessions, ledger: Ledger) -> None:
        self._repo = repo
        self._ledger = ledger
        self.closed = False

    @property
    def ledger(self) -> Ledger:
        return self._ledger

    def _check(self, step: str) -> None:
        if self.closed:
            raise AssertionError("a SessionUpdate used after its transaction ended")
        self._repo.fault(step)

    async def record_event(self, key: str, *, source: str, now: datetime) -> bool:
        self._check("record_event")
        key = key[:200]
        if key in self._repo.events:
            return False
        self._repo.events[key] = (self._ledger.session.id, source[:24])
        return True

    async def availability(self) -> Availability:
        self._check("availability")
        session = self._ledger.session
        repo = self._repo
        stock = {
            product_id: product.stock
            for product_id in sorted(paid_quantities(session.lines))
            if (product := repo.products.items.get(product_id)) is not None
        }
        usage: UsageCounts | None = None
        usage_limit = per_customer = None
        offer = repo.offers.items.get(session.offer_id) if session.offer_id else None
        if offer is not None:
            usage_limit, per_customer = offer.usage_limit, offer.per_customer_limit
            usage = await repo.coupon_usage.counts(
                offer_id=offer.id,
                customer_id=session.customer_id,
                now=session.created_at,
                excluding_session_id=session.id,
            )
        return Availability(
            stock=stock, coupon=usage, usage_limit=usage_limit, per_customer_limit=per_customer
        )

    async def persist(self, decision: Decision, *, now: datetime) -> None:
        self._check("persist")
        repo = self._repo
        before = self._ledger
        session = decision.session
        if session.id != before.session.id:
            raise ValueError("a SessionUpdate persists only the session it locked")
        if session != before.session:
            repo.sessions[session.id] = session
            repo.updated_at[session.id] = now
        known = {r.id for r in before.refunds}
        kinds = {type(e) for e in decision.effects}
        for effect in decision.effects:
            if isinstance(effect, SaveRefund):
                repo.save_refund(effect.refund, known=known, now=now)
                known.add(effect.refund.id)
        self._ledger = decision.ledger
        if TakeOutOfCart in kinds:
            repo.take_out_of_cart(session)
        if CommitHolds in kinds or RetakeHolds in kinds:
            repo.set_redemption(session.id, "PAID")
            quantities = paid_quantities(session.lines)
            if RetakeHolds in kinds:
                short = repo.move_stock(quantities, on_sale=-1, on_hand=-1)
                if short is not None:
                    raise RuntimeError(f"stock of {short} changed under its lock")
            else:
                repo.settle_stock(quantities, on_hand=-1)
            repo.holds[session.id] = Holds.COMMITTED
        if ReleaseHolds in kinds:
            repo.set_redemption(session.id, "RELEASED")
            if repo.holds.get(session.id) is Holds.HELD:
                repo.settle_stock(repo.held.get(session.id, {}), on_hand=0)
            repo.holds[session.id] = Holds.RELEASED
        for effect in decision.effects:
            if isinstance(effect, OUTBOX_EFFECTS):
                repo.outbox.add(message_of(effect), now=now)


class FakeCheckout:
    """One checkout's transaction (see ``domain.ports.CheckoutTransaction``)."""

    def __init__(self, repo: FakePaymentSessions, *, customer_id: str, key: str) -> None:
        self._repo = repo
        self._customer_id = customer_id
        self._key = key

    async def existing(self) -> PaymentSession | None:
        return next(
            (
                s
                for s in self._repo.sessions.values()
                if s.customer_id == self._customer_id and s.idempotency_key == self._key
            ),
            None,
        )

    async def open_sessions(self) -> list[FakeSessionUpdate]:
        cart = self._repo.cart_store.items.get(self._customer_id)
        if cart is None:
            return []
        ids = sorted(
            s.id for s in self._repo.sessions.values() if s.cart_id == cart.id and s.status in OPEN
        )
        return [self._repo.update_of(i) for i in ids]

    async def cart(self) -> tuple[Cart, dict[str, Product]]:
        cart = self._repo.cart_store.items.get(self._customer_id)
        if cart is None:
            return Cart(id=str(uuid.uuid4()), customer_id=self._customer_id, version=0), {}
        items = self._repo.products.items
        return cart, {i: items[i] for i in cart.product_ids if i in items}

    async def offer(self, code: str) -> Offer | None:
        return next((o for o in self._repo.offers.items.values() if o.code == code), None)

    async def usage(self, *, offer_id: str, now: datetime) -> UsageCounts:
        return await self._repo.coupon_usage.counts(
            offer_id=offer_id, customer_id=self._customer_id, now=now
        )

    async def reserve_stock(
        self, quantities: Mapping[str, int], *, skus: Mapping[str, str]
    ) -> None:
        short = self._repo.move_stock(quantities, on_sale=-1, on_hand=0)
        if short is not None:
            raise DomainError(
                f"{skus.get(short, short)} is out of stock",
                code=ErrorCode.OUT_OF_STOCK,
                field=["cart", "lines"],
            )

    async def insert(self, session: PaymentSession, *, stock: Mapping[str, int]) -> None:
        repo = self._repo
        if session.id in repo.sessions:
            raise ConstraintViolation("payment_sessions_pkey")
        if any(
            s.customer_id == session.customer_id and s.idempotency_key == session.idempotency_key
            for s in repo.sessions.values()
        ):
            raise ConstraintViolation("uq_payment_sessions_idempotency")
        repo.sessions[session.id] = session
        repo.updated_at[session.id] = session.created_at
        repo.held[session.id] = dict(stock)
        repo.holds[session.id] = Holds.HELD if stock else Holds.RELEASED
        if session.offer_id is not None:
            repo.coupon_usage.sessions[session.id] = (
                session.offer_id,
                session.customer_id,
                "RESERVED",
            )


@dataclass
class FakePaymentSessions:
    """Sessions by id with their refund rows, holds and recorded event ids; stock lives on the
    catalog's products, coupon uses in ``coupon_usage.sessions``, messages in ``outbox``."""

    products: FakeProducts = field(default_factory=FakeProducts)
    offers: FakeOffers = field(default_factory=FakeOffers)
    coupon_usage: FakeCouponUsage = field(default_factory=FakeCouponUsage)
    carts: FakeCarts | None = None
    outbox: FakeOutbox = field(default_factory=FakeOutbox)
    sessions: dict[str, PaymentSession] = field(default_factory=dict)
    refund_rows: dict[str, Refund] = field(default_factory=dict)
    holds: dict[str, Holds] = field(default_factory=dict)
    held: dict[str, dict[str, int]] = field(default_factory=dict)  # reservation rows' units
    events: dict[str, tuple[str, str]] = field(default_factory=dict)  # key → (session, source)
    updated_at: dict[str, datetime] = field(default_factory=dict)
    reconciled_at: dict[str, datetime] = field(default_factory=dict)
    carts_emptied: list[str] = field(default_factory=list)  # session ids, in commit order
    faults: dict[str, BaseException] = field(default_factory=dict)  # step → raised once there
    commits: int = 0
    rollbacks: int = 0
    down: bool = False  # the database is unreachable: every call raises, as asyncpg does
    _writer: asyncio.Lock = field(default_factory=asyncio.Lock)
    _owner: asyncio.Task[Any] | None = None
    _updates: list[FakeSessionUpdate] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.carts is None:
            self.carts = FakeCarts(self.products)

    @property
    def cart_store(self) -> FakeCarts:
        assert self.carts is not None
        return self.carts

    # -- arranging ------------------------------------------------------------------------------

    def add(
        self,
        session: PaymentSession,
        *,
        holds: Holds | None = None,
        refunds: Sequence[Refund] = (),
        updated_at: datetime | None = None,
    ) -> PaymentSession:
        """Store a session as a checkout and its events would have left it: its products in
        the catalog (``DEFAULT_STOCK`` on sale when new), its units held on them while it
        ``holds`` them, its coupon use, its refund rows."""
        holds = holds or _default_holds(session.status)
        quantities = paid_quantities(session.lines)
        for line in session.lines:
            if line.product_id not in self.products.items:
                self.products.items[line.product_id] = Product(
                    id=line.product_id,
                    sku=line.sku,
                    title=line.title,
                    description="",
                    category="apparel",
                    price=line.unit_price,
                    gst_rate_bp=line.gst_rate_bp,
                    stock=DEFAULT_STOCK,
                    stock_on_hand=DEFAULT_STOCK,
                )
        if holds is Holds.HELD:
            for product_id, quantity in quantities.items():
                product = self.products.items[product_id]
                self.products.items[product_id] = replace(
                    product, stock_on_hand=product.stock_on_hand + quantity
                )
        self.sessions[session.id] = session
        self.holds[session.id] = holds
        self.held[session.id] = quantities
        self.updated_at[session.id] = updated_at or session.created_at
        if session.offer_id is not None:
            self.coupon_usage.sessions[session.id] = (
                session.offer_id,
                session.customer_id,
                _REDEMPTION[holds],
            )
        for refund in refunds:
            self.refund_rows[refund.id] = refund
        return session

    def stock(self, product_id: str = PRODUCT_ID) -> tuple[int, int]:
        """(on sale, on hand) of a product."""
        product = self.products.items[product_id]
        return product.stock, product.stock_on_hand

    def redemption(self, session_id: str) -> str | None:
        use = self.coupon_usage.sessions.get(session_id)
        return use[2] if use is not None else None

    # -- transactions ---------------------------------------------------------------------------

    def _reachable(self) -> None:
        if self.down:
            raise ConnectionRefusedError("connect call failed ('127.0.0.1', 5432)")

    def fault(self, step: str) -> None:
        assert step in FAULTS, step
        self._reachable()
        fault = self.faults.pop(step, None)
        if fault is not None:
            raise fault

    def _containers(self) -> list[Any]:
        return [
            self.sessions,
            self.refund_rows,
            self.holds,
            self.held,
            self.events,
            self.updated_at,
            self.carts_emptied,
            self.products.items,
            self.coupon_usage.sessions,
            self.cart_store.items,
            self.outbox.rows,
        ]

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        self._reachable()
        task = asyncio.current_task()
        if task is not None and self._owner is task:
            raise AssertionError("a transaction opened inside another one waits for itself")
        async with self._writer:
            self._owner = task
            saved = [c.copy() for c in self._containers()]
            try:
                yield
                self.fault("commit")
            except BaseException:
                for container, copy in zip(self._containers(), saved, strict=True):
                    container.clear()
                    (container.extend if isinstance(container, list) else container.update)(copy)
                self.rollbacks += 1
                raise
            finally:
                self._owner = None
                for update in self._updates:
                    update.closed = True
                self._updates.clear()
            self.commits += 1
        self.fault("committed")

    def ledger_of(self, session_id: str) -> Ledger:
        refunds = sorted(
            (r for r in self.refund_rows.values() if r.session_id == session_id),
            key=lambda r: (r.created_at, r.id),
        )
        return Ledger(
            session=self.sessions[session_id],
            refunds=tuple(refunds),
            holds=self.holds.get(session_id, Holds.RELEASED),
        )

    def update_of(self, session_id: str) -> FakeSessionUpdate:
        update = FakeSessionUpdate(self, self.ledger_of(session_id))
        self._updates.append(update)
        return update

    # -- what persist and checkout do to the rows -----------------------------------------------

    def move_stock(
        self, quantities: Mapping[str, int], *, on_sale: int, on_hand: int
    ) -> str | None:
        """Reserve (``on_sale=-1``) or take (``on_sale=-1, on_hand=-1``) units where that many
        are on sale, all or nothing; answers the first product (in id order) short of them."""
        items = self.products.items
        for product_id, quantity in sorted(quantities.items()):
            product = items.get(product_id)
            if product is None or product.stock < quantity:
                return product_id
        for product_id, quantity in sorted(quantities.items()):
            product = items[product_id]
            items[product_id] = replace(
                product,
                stock=product.stock + on_sale * quantity,
                stock_on_hand=product.stock_on_hand + on_hand * quantity,
            )
        return None

    def settle_stock(self, quantities: Mapping[str, int], *, on_hand: int) -> None:
        """Held units leave the hold: back on sale (``on_hand=0``, a release) or off the shelf
        (``on_hand=-1``, a commit). More than is held breaks the products' CHECK."""
        items = self.products.items
        for product_id, quantity in sorted(quantities.items()):
            product = items.get(product_id)
            if product is None:
                raise RuntimeError(f"cannot settle {quantity} of {product_id}: no such product")
            if product.stock_on_hand - product.stock < quantity:
                raise ConstraintViolation("ck_products_reserved")
            items[product_id] = replace(
                product,
                stock=product.stock + (quantity if on_hand == 0 else 0),
                stock_on_hand=product.stock_on_hand + on_hand * quantity,
            )

    def set_redemption(self, session_id: str, status: str) -> None:
        use = self.coupon_usage.sessions.get(session_id)
        if use is not None:
            self.coupon_usage.sessions[session_id] = (use[0], use[1], status)

    def save_refund(self, refund: Refund, *, known: set[str], now: datetime) -> None:
        others = [r for r in self.refund_rows.values() if r.id != refund.id]
        if refund.razorpay_refund_id is not None and any(
            r.razorpay_refund_id == refund.razorpay_refund_id for r in others
        ):
            raise ConstraintViolation("uq_refunds_gateway_id")
        if refund.id in known:
            stored = self.refund_rows[refund.id]
            self.refund_rows[refund.id] = replace(
                stored,
                status=refund.status,
                razorpay_refund_id=refund.razorpay_refund_id,
                processed_at=refund.processed_at,
            )
            return
        if refund.id in self.refund_rows:
            raise ConstraintViolation("refunds_pkey")
        if any(
            r.session_id == refund.session_id and r.idempotency_key == refund.idempotency_key
            for r in others
        ):
            raise ConstraintViolation("uq_refunds_idempotency")
        self.refund_rows[refund.id] = replace(refund, created_at=now)

    def take_out_of_cart(self, session: PaymentSession) -> None:
        """As the SQL adapter: each line of a paid product loses the quantity paid for (gone
        at 0); the cart drops the session's coupon; the version goes up."""
        cart = self.cart_store.items.get(session.customer_id)
        if cart is None:
            return
        paid = paid_quantities(session.lines)
        if not any(line.product_id in paid for line in cart.lines) and (
            cart.coupon_code != session.coupon_code
        ):
            return
        lines = tuple(
            line
            if line.product_id not in paid
            else replace(line, quantity=line.quantity - paid[line.product_id])
            for line in cart.lines
            if line.product_id not in paid or line.quantity > paid[line.product_id]
        )
        coupon = None if cart.coupon_code == session.coupon_code else cart.coupon_code
        self.cart_store.items[session.customer_id] = replace(
            cart, lines=lines, coupon_code=coupon, version=cart.version + 1
        )
        self.carts_emptied.append(session.id)

    # -- the port -------------------------------------------------------------------------------

    @asynccontextmanager
    async def checkout(
        self, *, customer_id: str, idempotency_key: str
    ) -> AsyncIterator[FakeCheckout]:
        async with self._transaction():
            yield FakeCheckout(self, customer_id=customer_id, key=idempotency_key)

    @asynccontextmanager
    async def lock(self, session_id: str) -> AsyncIterator[FakeSessionUpdate | None]:
        async with self._transaction():
            yield self.update_of(session_id) if session_id in self.sessions else None

    async def get(self, session_id: str) -> PaymentSession | None:
        self._reachable()
        return self.sessions.get(session_id)

    async def event_recorded(self, key: str) -> bool:
        self._reachable()
        return key[:200] in self.events

    async def get_by_order(self, order_id: str) -> PaymentSession | None:
        self._reachable()
        return next((s for s in self.sessions.values() if s.razorpay_order_id == order_id), None)

    async def get_by_payment(self, payment_id: str) -> PaymentSession | None:
        self._reachable()
        return next(
            (s for s in self.sessions.values() if s.razorpay_payment_id == payment_id), None
        )

    async def attach_order(self, session_id: str, *, order_id: str, now: datetime) -> bool:
        async with self._transaction():
            current = self.sessions.get(session_id)
            if (
                current is None
                or current.razorpay_order_id is not None
                or current.status is not PaymentStatus.CREATED
            ):
                return False
            if any(s.razorpay_order_id == order_id for s in self.sessions.values()):
                raise ConstraintViolation("uq_payment_sessions_order")
            self.sessions[session_id] = replace(current, razorpay_order_id=order_id)
            self.updated_at[session_id] = now
            return True

    async def page(
        self,
        *,
        customer_id: str | None,
        status: PaymentStatus | None,
        first: int,
        before: tuple[datetime, str] | None,
    ) -> list[PaymentSession]:
        self._reachable()
        found = [
            s
            for s in self.sessions.values()
            if (customer_id is None or s.customer_id == customer_id)
            and (status is None or s.status is status)
            and (before is None or (s.created_at, s.id) < before)
        ]
        return sorted(found, key=lambda s: (s.created_at, s.id), reverse=True)[:first]

    async def due(
        self, *, statuses: Sequence[PaymentStatus], before: datetime, limit: int
    ) -> list[str]:
        self._reachable()
        found = [
            s for s in self.sessions.values() if s.status in statuses and s.expires_at < before
        ]
        return [s.id for s in sorted(found, key=lambda s: s.expires_at)][:limit]

    async def to_reconcile(
        self,
        *,
        open_statuses: Sequence[PaymentStatus],
        open_before: datetime,
        closed_statuses: Sequence[PaymentStatus],
        closed_since: datetime,
        limit: int,
    ) -> list[str]:
        self._reachable()
        pending = {
            r.session_id for r in self.refund_rows.values() if r.status is RefundStatus.PENDING
        }
        found = [
            s
            for s in self.sessions.values()
            if (s.status in open_statuses and s.created_at < open_before)
            or (
                s.status in closed_statuses
                and s.captured_amount == 0
                and self.updated_at.get(s.id, s.created_at) >= closed_since
                and s.razorpay_order_id is not None
            )
            or s.id in pending
        ]

        def turn(s: PaymentSession) -> tuple[bool, datetime, str]:
            checked = self.reconciled_at.get(s.id)
            return checked is not None, checked or NOW, s.id

        return [s.id for s in sorted(found, key=turn)][:limit]

    async def mark_reconciled(self, session_ids: Sequence[str], *, now: datetime) -> None:
        if not session_ids:
            return
        async with self._transaction():
            for session_id in session_ids:
                if session_id in self.sessions:
                    self.reconciled_at[session_id] = now

    async def refunds(self, session_id: str) -> list[Refund]:
        self._reachable()
        mine = [r for r in self.refund_rows.values() if r.session_id == session_id]
        return sorted(mine, key=lambda r: (r.created_at, r.id))

    async def refunds_many(self, session_ids: Sequence[str]) -> list[list[Refund]]:
        return [await self.refunds(i) for i in session_ids]

    async def refund_by_gateway_id(self, gateway_id: str) -> Refund | None:
        self._reachable()
        return next(
            (r for r in self.refund_rows.values() if r.razorpay_refund_id == gateway_id), None
        )


# --- Gateway -----------------------------------------------------------------------------------


@dataclass
class FakeGateway:
    """Orders, payments and refunds as Razorpay holds them; ``captures`` lists capture calls,
    ``refund_calls`` the (payment, amount, idempotency key) of refund calls. New refunds are
    ``refund_status`` (``processed`` or ``pending``)."""

    payments: dict[str, GatewayPayment] = field(default_factory=dict)
    refunds: dict[str, GatewayRefund] = field(default_factory=dict)
    orders: dict[str, GatewayOrder] = field(default_factory=dict)
    down: bool = False
    captures: list[tuple[str, int]] = field(default_factory=list)
    refund_calls: list[tuple[str, int, str]] = field(default_factory=list)
    refund_status: str = "processed"
    key_id: str = "rzp_test_FakeKey0000001"
    _refund_keys: dict[tuple[str, str], str] = field(default_factory=dict)

    def _reachable(self) -> None:
        if self.down:
            raise PaymentGatewayError("Razorpay timed out")

    def _payment(self, payment_id: str) -> GatewayPayment:
        if payment_id not in self.payments:
            raise PaymentGatewayRejected("The id provided does not exist")
        return self.payments[payment_id]

    async def create_order(
        self, *, amount: int, currency: str, receipt: str, notes: Mapping[str, str]
    ) -> GatewayOrder:
        self._reachable()
        order = GatewayOrder(
            id=f"order_Fake{len(self.orders) + 1:08d}",
            amount=amount,
            currency=currency,
            receipt=receipt,
            status="created",
            amount_paid=0,
            attempts=0,
        )
        self.orders[order.id] = order
        return order

    async def fetch_order(self, order_id: str) -> GatewayOrder:
        self._reachable()
        if order_id not in self.orders:
            raise PaymentGatewayRejected("The id provided does not exist")
        return self.orders[order_id]

    async def orders_by_receipt(self, receipt: str) -> list[GatewayOrder]:
        self._reachable()
        return [o for o in self.orders.values() if o.receipt == receipt]

    async def order_payments(self, order_id: str) -> list[GatewayPayment]:
        self._reachable()
        return [p for p in self.payments.values() if p.order_id == order_id]

    async def fetch_payment(self, payment_id: str) -> GatewayPayment:
        self._reachable()
        return self._payment(payment_id)

    async def capture_payment(
        self, payment_id: str, *, amount: int, currency: str
    ) -> GatewayPayment:
        self._reachable()
        payment = self._payment(payment_id)
        self.captures.append((payment_id, amount))
        if payment.status != "authorized":
            raise PaymentGatewayRejected("This payment has already been captured")
        if amount != payment.amount or currency != payment.currency:
            raise PaymentGatewayRejected("Capture amount must be equal to the amount authorized")
        captured = replace(payment, status="captured", captured=True)
        self.payments[payment_id] = captured
        return captured

    async def refund_payment(
        self, payment_id: str, *, amount: int, idempotency_key: str, notes: Mapping[str, str]
    ) -> GatewayRefund:
        self._reachable()
        payment = self._payment(payment_id)
        self.refund_calls.append((payment_id, amount, idempotency_key))
        again = self._refund_keys.get((payment_id, idempotency_key))
        if again is not None:
            return self.refunds[again]
        if not payment.captured:
            raise PaymentGatewayRejected("The payment has not been captured")
        if amount > payment.amount - payment.amount_refunded:
            raise PaymentGatewayRejected(
                "The refund amount provided is greater than amount captured"
            )
        refund = GatewayRefund(
            id=f"rfnd_Fake{len(self.refunds) + 1:08d}",
            payment_id=payment_id,
            amount=amount,
            currency=payment.currency,
            status=self.refund_status,
            notes=dict(notes),
        )
        self.refunds[refund.id] = refund
        self._refund_keys[(payment_id, idempotency_key)] = refund.id
        refunded = payment.amount_refunded + amount
        self.payments[payment_id] = replace(
            payment,
            amount_refunded=refunded,
            status="refunded" if refunded >= payment.amount else payment.status,
        )
        return refund

    async def payment_refunds(self, payment_id: str) -> list[GatewayRefund]:
        self._reachable()
        self._payment(payment_id)
        return [r for r in self.refunds.values() if r.payment_id == payment_id]

    async def fetch_refund(self, refund_id: str) -> GatewayRefund:
        self._reachable()
        if refund_id not in self.refunds:
            raise PaymentGatewayRejected("The id provided does not exist")
        return self.refunds[refund_id]


# --- Records and wiring ------------------------------------------------------------------------


def gateway_payment(
    *,
    id: str = "pay_Fake000000001",
    order_id: str | None = "order_Fake00000001",
    amount: int = 11_800,
    currency: str = "INR",
    status: str = "captured",
    amount_refunded: int = 0,
    method: str | None = "upi",
) -> GatewayPayment:
    """A payment as Razorpay reports it (``captured`` follows from the status)."""
    return GatewayPayment(
        id=id,
        order_id=order_id,
        amount=amount,
        currency=currency,
        status=status,
        captured=status in {"captured", "refunded"},
        method=method,
        amount_refunded=amount_refunded,
    )


def gateway_refund(
    *,
    id: str = "rfnd_Fake00000001",
    payment_id: str = "pay_Fake000000001",
    amount: int = 5_000,
    status: str = "processed",
    notes: Mapping[str, str] | None = None,
) -> GatewayRefund:
    return GatewayRefund(
        id=id,
        payment_id=payment_id,
        amount=amount,
        currency="INR",
        status=status,
        notes=dict(notes or {}),
    )


def payment_session(
    *,
    id: str = "5b0c6a53-0f0e-4b8e-9a53-3b8f5a1c0001",
    status: PaymentStatus = PaymentStatus.CREATED,
    amount: int = 11_800,
    order_id: str | None = "order_Fake00000001",
    payment_id: str | None = None,
    captured: int = 0,
    refunded: int = 0,
    created_at: datetime = NOW - timedelta(minutes=5),
    customer_id: str = "customer-asha",
    quantity: int = 1,
    product_id: str = PRODUCT_ID,
    offer_id: str | None = None,
    coupon_code: str | None = None,
    cart_id: str = "cart-asha",
) -> PaymentSession:
    """A one-line session of ``amount`` paise (₹100 + 18 % GST by default)."""
    subtotal = round(amount / 1.18)
    line = SessionLine(
        product_id=product_id,
        sku="TEE-001",
        title="Tee",
        quantity=quantity,
        unit_price=subtotal // quantity,
        gst_rate_bp=1800,
        subtotal=subtotal,
        discount=0,
        tax=amount - subtotal,
        total=amount,
    )
    return PaymentSession(
        id=id,
        customer_id=customer_id,
        customer_email="asha@example.com",
        status=status,
        currency="INR",
        subtotal=subtotal,
        discount=0,
        tax=amount - subtotal,
        amount=amount,
        coupon_code=coupon_code,
        offer_id=offer_id,
        lines=(line,),
        razorpay_order_id=order_id,
        razorpay_payment_id=payment_id,
        idempotency_key="checkout-key-0001",
        fingerprint="f" * 64,
        cart_id=cart_id,
        cart_version=3,
        created_at=created_at,
        expires_at=created_at + timedelta(minutes=30),
        captured_amount=captured,
        refunded_amount=refunded,
    )


@dataclass
class PaymentFakes:
    deps: Deps
    payments: FakePaymentSessions
    gateway: FakeGateway
    timeline: FakeTimeline
    outbox: FakeOutbox
    notifier: FakeNotifier
    sales: FakeSales
    clock: FixedClock


def payment_deps(
    *,
    sessions: Sequence[PaymentSession] = (),
    gateway_payments: Mapping[str, GatewayPayment] | None = None,
    webhook_secrets: tuple[str, ...] = (WEBHOOK_SECRET, PREVIOUS_WEBHOOK_SECRET),
    products: Sequence[Product] = (),
    offers: Sequence[Offer] = (),
    inline_dispatch_seconds: float = 0.5,
    max_attempts: int = 3,
) -> PaymentFakes:
    base = fake_deps(products=products, offers=offers)
    assert isinstance(base.products, FakeProducts)
    assert isinstance(base.offers, FakeOffers)
    assert isinstance(base.coupon_usage, FakeCouponUsage)
    assert isinstance(base.carts, FakeCarts)
    assert isinstance(base.clock, FixedClock)
    outbox = FakeOutbox()
    payments = FakePaymentSessions(
        products=base.products,
        offers=base.offers,
        coupon_usage=base.coupon_usage,
        carts=base.carts,
        outbox=outbox,
    )
    for session in sessions:
        payments.add(session)
    gateway = FakeGateway(payments=dict(gateway_payments or {}))
    timeline, notifier, sales = FakeTimeline(), FakeNotifier(), FakeSales()
    checkout = CheckoutConfig(
        key_id=gateway.key_id,
        key_secret="fake_key_secret_0123456789",
        merchant_name="Demo Store",
        callback_url="http://127.0.0.1:8000/payments/razorpay/callback",
        success_url="http://127.0.0.1:8000/shop/success",
        failure_url="http://127.0.0.1:8000/shop/failure",
        webhook_secrets=webhook_secrets,
        inline_dispatch_seconds=inline_dispatch_seconds,
        # the use-case tests see a webhook's effects carried out before its answer
        webhook_inline_dispatch_seconds=inline_dispatch_seconds,
    )
    deps = replace(
        base,
        payments=payments,
        gateway=gateway,
        timeline=timeline,
        checkout=checkout,
        outbox=outbox,
        notifier=notifier,
        sales=sales,
        outbox_max_attempts=max_attempts,
    )
    return PaymentFakes(
        deps=deps,
        payments=payments,
        gateway=gateway,
        timeline=timeline,
        outbox=outbox,
        notifier=notifier,
        sales=sales,
        clock=base.clock,
    )
