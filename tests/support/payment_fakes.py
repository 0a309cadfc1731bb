"""In-memory fakes of the payment ports, for use-case tests of the money path without services.

They behave like the adapters, not like stubs:

- :class:`FakePaymentSessions` locks a session per id (waiters queue), and its
  :class:`FakeSessionUpdate` is a transaction: what a block saves, enqueues or reserves is
  stored only when the block ends without an exception; an exception rolls it all back.
  Refund rows keep the unique ``(session, idempotency key)`` and Razorpay-id constraints, and
  the outbox keeps one message per ``dedupe_key``, as PostgreSQL does.
- :class:`FakeWebhookLedger` claims an event id once (a conditional write); an id that was
  released can be claimed again; ``failing`` makes an operation raise ``RecordStoreError``.
- :class:`FakeGateway` answers like Razorpay: unknown ids and a capture of a payment that is
  not ``authorized`` (or for another amount) are refused; ``down`` makes every call fail as
  unreachable.
- :class:`FakeTimeline` keeps entries in append order, one per ``entry_id``; ``down`` makes
  appends fail.
- ``FakePaymentSessions.down`` makes every call fail as an unreachable database does.

``payment_deps()`` builds :class:`resolvers.deps.Deps` on them (and on ``tests.support.fakes``).
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from domain.gateway import (
    GatewayPayment,
    GatewayRefund,
    PaymentGatewayError,
    PaymentGatewayRejected,
)
from domain.outbox import OutboxMessage
from domain.payment_ports import RecordStoreError, TimelineEntry
from domain.payment_session import CheckoutConfig, PaymentSession, SessionLine
from domain.payments import PaymentStatus
from domain.refunds import Refund
from resolvers.deps import Deps
from tests.support.fakes import FixedClock, fake_deps

NOW = FixedClock().at
WEBHOOK_SECRET = "whsec_current_0123456789"
PREVIOUS_WEBHOOK_SECRET = "whsec_previous_9876543210"


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


# --- Webhook ledger ----------------------------------------------------------------------------


@dataclass
class FakeWebhookLedger:
    claimed: set[str] = field(default_factory=set)
    failing: set[str] = field(default_factory=set)  # "claim", "release": raise RecordStoreError

    def _check(self, operation: str, event_id: str) -> None:
        if not event_id:
            raise ValueError("event_id must not be empty")
        if operation in self.failing:
            raise RecordStoreError(f"webhook {operation}: throttled", retryable=True)

    async def claim(self, event_id: str) -> bool:
        self._check("claim", event_id)
        if event_id in self.claimed:
            return False
        self.claimed.add(event_id)
        return True

    async def release(self, event_id: str) -> None:
        self._check("release", event_id)
        self.claimed.discard(event_id)


# --- Payment sessions --------------------------------------------------------------------------


class FakeSessionUpdate:
    """One locked session; changes are staged and stored by the repository on success."""

    def __init__(self, repo: FakePaymentSessions, session: PaymentSession) -> None:
        self._repo = repo
        self.session = session
        self.refund_rows = {
            r.id: r for r in repo.refund_rows.values() if r.session_id == session.id
        }
        self.messages: list[OutboxMessage] = []
        self.reservation = repo.reservations.get(session.id, "HELD")
        self.lines_taken_out = False

    async def save(self, changed: PaymentSession, *, now: datetime) -> PaymentSession:
        if changed.id != self.session.id:
            raise ValueError("a transaction saves only the session it locked")
        self.session = changed
        return changed

    async def commit_reservations(self, *, now: datetime) -> None:
        self.reservation = "COMMITTED"

    async def release_reservations(self, *, now: datetime) -> None:
        if self.reservation == "HELD":  # only held units go back, so twice gives back once
            self.reservation = "RELEASED"

    async def take_paid_lines_out_of_cart(self, *, now: datetime) -> None:
        self.lines_taken_out = True

    async def enqueue(self, messages: Sequence[OutboxMessage], *, now: datetime) -> None:
        self.messages.extend(messages)

    async def refunds(self) -> list[Refund]:
        return sorted(self.refund_rows.values(), key=lambda r: (r.created_at, r.id))

    async def add_refund(self, refund: Refund) -> None:
        if refund.session_id != self.session.id:
            raise ValueError("a refund row belongs to the locked session")
        others = [*self._repo.refund_rows.values(), *self.refund_rows.values()]
        if any(r.id == refund.id for r in others):
            raise ValueError(f"duplicate refund id {refund.id}")
        if any(r.idempotency_key == refund.idempotency_key for r in self.refund_rows.values()):
            raise ValueError("uq_refunds_idempotency")
        if refund.razorpay_refund_id is not None and any(
            r.razorpay_refund_id == refund.razorpay_refund_id for r in others
        ):
            raise ValueError("uq_refunds_gateway_id")
        self.refund_rows[refund.id] = refund

    async def save_refund(self, refund: Refund, *, now: datetime) -> None:
        if refund.id not in self.refund_rows:
            raise ValueError(f"no refund row {refund.id} on this session")
        self.refund_rows[refund.id] = refund


@dataclass
class FakePaymentSessions:
    """Sessions by id, their refund rows, the outbox and the state of their reservations."""

    sessions: dict[str, PaymentSession] = field(default_factory=dict)
    refund_rows: dict[str, Refund] = field(default_factory=dict)
    outbox: dict[str, OutboxMessage] = field(default_factory=dict)  # by dedupe_key
    reservations: dict[str, str] = field(default_factory=dict)  # HELD | COMMITTED | RELEASED
    carts_emptied: list[str] = field(default_factory=list)  # session ids, in commit order
    commits: int = 0
    down: bool = False  # the database is unreachable: every call raises, as asyncpg does
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def _reachable(self) -> None:
        if self.down:
            raise ConnectionRefusedError("connect call failed ('127.0.0.1', 5432)")

    def add(self, session: PaymentSession) -> PaymentSession:
        self.sessions[session.id] = session
        self.reservations.setdefault(session.id, "HELD")
        return session

    @asynccontextmanager
    async def lock(self, session_id: str) -> AsyncIterator[FakeSessionUpdate | None]:
        self._reachable()
        async with self._locks.setdefault(session_id, asyncio.Lock()):
            current = self.sessions.get(session_id)
            if current is None:
                yield None
                return
            tx = FakeSessionUpdate(self, current)
            yield tx  # an exception in the block is raised here: nothing below runs
            self.sessions[session_id] = tx.session
            for refund in tx.refund_rows.values():
                self.refund_rows[refund.id] = refund
            for message in tx.messages:
                self.outbox.setdefault(message.dedupe_key, message)
            self.reservations[session_id] = tx.reservation
            if tx.lines_taken_out:
                self.carts_emptied.append(session_id)
            self.commits += 1

    async def get(self, session_id: str) -> PaymentSession | None:
        self._reachable()
        return self.sessions.get(session_id)

    async def get_by_order(self, order_id: str) -> PaymentSession | None:
        self._reachable()
        return next((s for s in self.sessions.values() if s.razorpay_order_id == order_id), None)

    async def get_by_payment(self, payment_id: str) -> PaymentSession | None:
        self._reachable()
        return next(
            (s for s in self.sessions.values() if s.razorpay_payment_id == payment_id), None
        )

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
    """Payments and refunds as Razorpay holds them; ``captures`` lists capture calls."""

    payments: dict[str, GatewayPayment] = field(default_factory=dict)
    refunds: dict[str, GatewayRefund] = field(default_factory=dict)
    down: bool = False
    captures: list[tuple[str, int]] = field(default_factory=list)
    key_id: str = "rzp_test_FakeKey0000001"

    def _reachable(self) -> None:
        if self.down:
            raise PaymentGatewayError("Razorpay timed out")

    def _payment(self, payment_id: str) -> GatewayPayment:
        if payment_id not in self.payments:
            raise PaymentGatewayRejected("The id provided does not exist")
        return self.payments[payment_id]

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
) -> PaymentSession:
    """A one-line session of ``amount`` paise (₹100 + 18 % GST by default)."""
    subtotal = round(amount / 1.18)
    line = SessionLine(
        product_id="0f6c2b1e-7d6a-4a57-9c39-2f1b9a0e0001",
        sku="TEE-001",
        title="Tee",
        quantity=1,
        unit_price=subtotal,
        gst_rate_bp=1800,
        subtotal=subtotal,
        discount=0,
        tax=amount - subtotal,
        total=amount,
    )
    return PaymentSession(
        id=id,
        customer_id="customer-asha",
        customer_email="asha@example.com",
        status=status,
        currency="INR",
        subtotal=subtotal,
        discount=0,
        tax=amount - subtotal,
        amount=amount,
        coupon_code=None,
        offer_id=None,
        lines=(line,),
        razorpay_order_id=order_id,
        razorpay_payment_id=payment_id,
        idempotency_key="checkout-key-0001",
        fingerprint="f" * 64,
        cart_id="cart-asha",
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
    ledger: FakeWebhookLedger


def payment_deps(
    *,
    sessions: Sequence[PaymentSession] = (),
    gateway_payments: Mapping[str, GatewayPayment] | None = None,
    webhook_secrets: tuple[str, ...] = (WEBHOOK_SECRET, PREVIOUS_WEBHOOK_SECRET),
) -> PaymentFakes:
    payments = FakePaymentSessions()
    for session in sessions:
        payments.add(session)
    gateway = FakeGateway(payments=dict(gateway_payments or {}))
    timeline = FakeTimeline()
    ledger = FakeWebhookLedger()
    checkout = CheckoutConfig(
        key_id=gateway.key_id,
        key_secret="fake_key_secret_0123456789",
        merchant_name="Demo Store",
        callback_url="http://127.0.0.1:8000/payments/razorpay/callback",
        success_url="http://127.0.0.1:8000/shop/success",
        failure_url="http://127.0.0.1:8000/shop/failure",
        webhook_secrets=webhook_secrets,
    )
    deps = replace(
        fake_deps(),
        payments=payments,  # type: ignore[arg-type]
        gateway=gateway,  # type: ignore[arg-type]
        timeline=timeline,
        checkout=checkout,
        webhook_ledger=ledger,
    )
    return PaymentFakes(
        deps=deps, payments=payments, gateway=gateway, timeline=timeline, ledger=ledger
    )
