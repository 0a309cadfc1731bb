"""Ports for the payment flow's records and notifications. Pure: Protocols and plain records.

Adapters live in ``datasources/dynamodb`` (timeline, sales counters) and ``datasources/sns``
(notifier); app/ wires them. Money is integer paise; instants are aware datetimes (UTC); sales
days are the merchant's dates (``domain.payments.merchant_date``).

Error tree (adapters translate vendor errors at the boundary, ``raise ... from exc``)::

    PaymentPortError                (message, retryable)
     ├── RecordStoreError           a record store (DynamoDB) read or write failed
     └── NotificationError          a notification could not be published (SNS)

``retryable`` is True for throttling, timeouts, unreachable endpoints and server errors: the
caller (an outbox dispatcher, a webhook answered 5xx so Razorpay retries) may try again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol


class PaymentPortError(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class RecordStoreError(PaymentPortError):
    """A timeline or sales-counter operation failed."""


class NotificationError(PaymentPortError):
    """A notification was not published; retry when ``retryable``."""


# --- Payment timeline -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineEntry:
    """One thing that happened to a session: GraphQL ``PaymentEvent {at type source detail}``."""

    session_id: str
    at: datetime
    type: str  # e.g. "payment.captured", "status.PAID", "callback.signature_invalid"
    source: str  # e.g. "webhook", "callback", "verify", "customer", "admin", "system"
    detail: str | None = None


class PaymentTimeline(Protocol):
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
        """Record an entry. Entries are never changed or removed.

        With ``entry_id`` (e.g. an outbox dedupe key) the append is idempotent: the same id
        appended again to the session, whatever the other arguments, keeps the first entry and
        answers it.
        """
        ...

    async def list(self, session_id: str) -> Sequence[TimelineEntry]:
        """Every entry of the session ordered by ``at``; equal ``at`` keep append order."""
        ...


# --- Sales counters ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SalesDay:
    """One merchant day (Asia/Kolkata) of the sales dashboard. Amounts in paise."""

    day: date
    paid_count: int = 0
    paid_amount: int = 0
    refund_count: int = 0
    refunded_amount: int = 0
    failed_count: int = 0


class SalesCounters(Protocol):
    """Daily counters. Each ``event_key`` counts EXACTLY ONCE per kind (paid, failed, refund),
    however often and however concurrently it is recorded; the methods answer True when this
    call counted it and False when it had been counted before."""

    async def record_paid(self, *, day: date, amount: int, event_key: str) -> bool: ...

    async def record_failed(self, *, day: date, event_key: str) -> bool: ...

    async def record_refund(self, *, day: date, amount: int, event_key: str) -> bool: ...

    async def read(self, *, from_day: date, to_day: date) -> list[SalesDay]:
        """Every day from ``from_day`` to ``to_day`` inclusive, in order; zeros where none."""
        ...


# --- Notifications ----------------------------------------------------------------------------


class NotificationTopic(StrEnum):
    CUSTOMER = "customer"
    ADMIN = "admin"


class Notifier(Protocol):
    async def publish(
        self,
        *,
        topic: NotificationTopic,
        subject: str,
        message: str,
        dedupe_key: str,
        event: str,
        customer_id: str | None = None,
    ) -> str:
        """Publish and answer the message id; raises :class:`NotificationError`.

        The message carries the attributes of API.md "Notifications": ``event`` (e.g.
        ``payment.paid``, :class:`domain.notifications.NotificationEvent`), ``notification_id``
        = ``dedupe_key`` (the outbox dedupe key, the same on every retry, so subscribers drop a
        re-sent message; FIFO topics deduplicate on it themselves) and, on the customer topic
        only, ``customer_id`` (required there, so a filter policy can route one customer's
        messages; ignored for the admin topic).
        """
        ...
