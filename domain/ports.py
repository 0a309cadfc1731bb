"""Ports: what the use cases need from the outside world, named for the capability.

Adapters in datasources/ implement these; app/ wires them. Results of ``get_many`` come back in
key order, with None where a key is missing (the DataLoader contract).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from domain.cart import Cart
from domain.catalog import Product
from domain.dead_letter import ParkedMessage
from domain.offers import Offer
from domain.outbox import OutboxKind, PendingMessage
from domain.payment_rules import Availability, Decision, Ledger
from domain.payment_session import PaymentSession
from domain.payments import PaymentStatus
from domain.pricing import UsageCounts
from domain.refunds import Refund


@dataclass(frozen=True, slots=True)
class ProductQuery:
    first: int
    after_sku: str | None = None
    search: str | None = None
    category: str | None = None


class ProductRepository(Protocol):
    async def get_many(self, ids: Sequence[str]) -> list[Product | None]: ...

    async def list_page(self, query: ProductQuery) -> list[Product]:
        """Products ordered by sku after ``after_sku``; at most ``query.first`` of them."""
        ...

    async def upsert(self, product: Product, *, expected_on_hand: int | None = None) -> Product:
        """Insert or update by ``product.id``; the stored product comes back. On hand is set
        to ``product.stock_on_hand``; units held by open payment sessions stay held.

        Raises :class:`~domain.errors.InvalidInput` (``field=["sku"]``) when another product
        already has the sku, and ``STOCK_CONFLICT`` by
        :func:`~domain.catalog.check_stock_on_hand` (on hand is not ``expected_on_hand``
        any more, or would go below what sessions hold); nothing is written then.
        """
        ...


class OfferRepository(Protocol):
    async def list_live(self, *, now: datetime) -> list[Offer]:
        """Active offers whose window contains ``now``, ordered by code."""
        ...

    async def list_active(self, *, now: datetime) -> list[Offer]:
        """Active offers that have not ended at ``now`` (live or not yet started), by code.

        What a cache keeps: filtering it with ``Offer.is_live`` gives :meth:`list_live` at any
        later moment, exactly, until an offer is written.
        """
        ...

    async def get_many(self, ids: Sequence[str]) -> list[Offer | None]:
        """Offers by id (canonical uuid strings), switched-off ones included, in key order."""
        ...

    async def get_by_codes(self, codes: Sequence[str]) -> list[Offer | None]:
        """Offers by code, in key order, None where no offer has the code.

        Codes are compared normalised (``normalise_code``), so look-up is case-insensitive.
        Switched-off offers are returned too (pricing reports them as ``NOT_FOUND``).
        """
        ...

    async def upsert(self, offer: Offer) -> Offer:
        """Insert or update by ``offer.id``; the stored offer comes back.

        Raises :class:`~domain.errors.InvalidInput` (``field=["code"]``) when another offer
        already has the code. Caching decorators invalidate on every upsert.
        """
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class CartTransaction(Protocol):
    """One customer's cart, locked for the length of a transaction (see CartRepository.lock)."""

    @property
    def cart(self) -> Cart:
        """The cart as locked (as last saved in this transaction)."""
        ...

    async def products(self, ids: Sequence[str]) -> list[Product | None]:
        """Products by canonical id, in key order, read inside this transaction.

        Read here rather than through ProductRepository so that a change needs one database
        connection: waiters on the lock hold theirs, and a second one could starve the pool.
        """
        ...

    async def save(self, cart: Cart) -> Cart:
        """Store ``cart`` (lines in order, coupon) as version ``cart.version + 1``; return it.

        ``cart.version`` must be the locked version; otherwise (a lost lock, a store that
        cannot lock) raises DomainError ``CART_VERSION_MISMATCH`` and stores nothing.
        """
        ...


class CartRepository(Protocol):
    async def load(self, *, customer_id: str) -> Cart:
        """The customer's active cart, created empty (version 0) if there is none yet."""
        ...

    def lock(self, *, customer_id: str) -> AbstractAsyncContextManager[CartTransaction]:
        """Lock the customer's active cart (creating it if needed) until the block ends.

        Changes of one cart are serialised: a second ``lock`` waits for the first block to
        end, then sees its saved result. Leaving the block commits; an exception rolls back.
        """
        ...


class CouponUsage(Protocol):
    async def counts(
        self,
        *,
        offer_id: str,
        customer_id: str,
        now: datetime,
        excluding_session_id: str | None = None,
    ) -> UsageCounts:
        """Uses of an offer: PAID redemptions plus reservations still live at ``now``, in all
        and by ``customer_id``. ``excluding_session_id`` leaves out that payment session's own
        reservation (when pricing the session that holds it).
        """
        ...


# --- Payment sessions ---------------------------------------------------------------------------


class SessionUpdate(Protocol):
    """A payment session locked for one event, in one transaction (see the lock order in
    ``datasources/postgres/locks.py``). Leaving the block commits; an exception rolls back."""

    @property
    def ledger(self) -> Ledger:
        """The session, its refunds and its holds as locked (as last persisted)."""
        ...

    async def record_event(self, key: str, *, source: str, now: datetime) -> bool:
        """Record a gateway event's id with this transaction: True the first time, False for a
        repeat (already applied: do nothing)."""
        ...

    async def availability(self) -> Availability:
        """What a late capture could take again, read under the locks that taking it needs."""
        ...

    async def persist(self, decision: Decision, *, now: datetime) -> None:
        """Store the decision: the session, refunds, holds, and its outbox effects."""
        ...


class CheckoutTransaction(Protocol):
    """One checkout, all or nothing: read the cart, reserve stock and a coupon use, store."""

    async def existing(self) -> PaymentSession | None: ...

    async def open_sessions(self) -> Sequence[SessionUpdate]:
        """The cart's open sessions, locked (before :meth:`cart`, as the lock order says)."""
        ...

    async def cart(self) -> tuple[Cart, dict[str, Product]]: ...

    async def offer(self, code: str) -> Offer | None: ...

    async def usage(self, *, offer_id: str, now: datetime) -> UsageCounts: ...

    async def reserve_stock(
        self, quantities: Mapping[str, int], *, skus: Mapping[str, str]
    ) -> None: ...

    async def insert(self, session: PaymentSession, *, stock: Mapping[str, int]) -> None: ...


class PaymentSessionRepository(Protocol):
    def checkout(
        self, *, customer_id: str, idempotency_key: str
    ) -> AbstractAsyncContextManager[CheckoutTransaction]: ...

    def lock(self, session_id: str) -> AbstractAsyncContextManager[SessionUpdate | None]: ...

    async def get(self, session_id: str) -> PaymentSession | None: ...

    async def get_by_order(self, order_id: str) -> PaymentSession | None: ...

    async def event_recorded(self, key: str) -> bool:
        """This event key was applied already (committed): a read, no lock."""
        ...

    async def attach_order(self, session_id: str, *, order_id: str, now: datetime) -> bool: ...

    async def page(
        self,
        *,
        customer_id: str | None,
        status: PaymentStatus | None,
        first: int,
        before: tuple[datetime, str] | None,
    ) -> list[PaymentSession]: ...

    async def due(
        self, *, statuses: Sequence[PaymentStatus], before: datetime, limit: int
    ) -> list[str]:
        """Sessions in ``statuses`` expiring before ``before``, oldest first."""
        ...

    async def to_reconcile(
        self,
        *,
        open_statuses: Sequence[PaymentStatus],
        open_before: datetime,
        closed_statuses: Sequence[PaymentStatus],
        closed_since: datetime,
        limit: int,
    ) -> list[str]:
        """Sessions to check against the gateway, least recently checked first."""
        ...

    async def mark_reconciled(self, session_ids: Sequence[str], *, now: datetime) -> None: ...

    async def refunds(self, session_id: str) -> list[Refund]: ...

    async def refunds_many(self, session_ids: Sequence[str]) -> list[list[Refund]]: ...

    async def refund_by_gateway_id(self, gateway_id: str) -> Refund | None: ...

    async def get_by_payment(self, payment_id: str) -> PaymentSession | None: ...


class Outbox(Protocol):
    """Messages waiting (due or backing off), sent, or parked (the dead letter: failed
    ``max_attempts`` times, never claimed until requeued)."""

    async def claim(
        self,
        *,
        limit: int,
        now: datetime,
        lease: timedelta,
        keys: Sequence[str] | None = None,
    ) -> list[PendingMessage]:
        """Due messages, oldest first, leased to the caller; never sent or parked ones (only
        those with these dedupe keys, when given)."""
        ...

    async def mark_sent(self, message_id: str, *, now: datetime) -> None: ...

    async def mark_failed(self, message_id: str, *, error: str, retry_at: datetime) -> None: ...

    async def release(self, message_ids: Sequence[str], *, now: datetime) -> None:
        """Give leased messages back untried: due again at ``now``."""
        ...

    async def park(self, message_id: str, *, error: str, now: datetime) -> None:
        """Count a last failed attempt and park the message (if it is not sent)."""
        ...

    async def requeue(
        self,
        *,
        now: datetime,
        kind: OutboxKind | None = None,
        ids: Sequence[str] | None = None,
    ) -> int:
        """Parked messages (of ``kind``, with these ids; None: any) become due at ``now`` with
        their attempts reset; answers how many. An empty ``ids`` matches nothing."""
        ...

    async def parked(
        self,
        *,
        limit: int,
        kind: OutboxKind | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[ParkedMessage]:
        """Parked messages, in the order they were parked."""
        ...

    async def pending_count(self) -> int:
        """Messages not sent and not parked."""
        ...

    async def parked_count(self) -> int: ...


class PersistedQueryStore(Protocol):
    """Query texts by their SHA-256 (automatic persisted queries), shared by every instance.
    Never fails a request: an unreachable store answers None and stores nothing."""

    async def get(self, sha256_hash: str) -> str | None: ...

    async def put(self, sha256_hash: str, query: str) -> None: ...


class CatalogVersion(Protocol):
    """A number that changes whenever what the catalog shows may have (a product or offer
    saved, stock moved); response-cache entries are keyed on it."""

    async def current(self) -> int | None:
        """None: not known now (its store is down), so nothing may be cached."""
        ...

    async def bump(self) -> None:
        """Never raises: a failure is logged."""
        ...


class ResponseStore(Protocol):
    """Answers (JSON objects) by key, for a bounded time; a miss when unsure."""

    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def put(self, key: str, value: Mapping[str, Any]) -> None: ...
