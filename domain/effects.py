"""What a payment decision asks the world to do, typed. Pure records, no behaviour.

Two families (see ``domain.payment_rules.decide``):

- **Holds**, applied by the use case inside the event's own transaction, in the lock order
  (``datasources/postgres/locks.py``): :class:`TakeOutOfCart`, :class:`CommitHolds`,
  :class:`RetakeHolds`, :class:`ReleaseHolds`, and :class:`SaveRefund` (a refund row).
- **Outbox effects**, written to the transactional outbox in that same transaction and carried
  out later by the dispatcher, with retries, backoff and a dead letter: :class:`Capture`,
  :class:`RequestRefund`, :class:`SyncPayment`, :class:`Notify`, :class:`Count`,
  :class:`Timeline`. Each has a ``key``: the outbox keeps one message per key, so an event
  applied twice, or a dispatcher retrying, never does the same thing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from domain.payment_ports import NotificationTopic
from domain.refunds import Refund

# --- holds: in the event's transaction --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommitHolds:
    """PAID: the held stock units and coupon use count for good."""


@dataclass(frozen=True, slots=True)
class RetakeHolds:
    """A late capture that can be fulfilled: take the stock and the coupon use again."""


@dataclass(frozen=True, slots=True)
class ReleaseHolds:
    """Closed unpaid: the held units go back on sale, the coupon use is freed."""


@dataclass(frozen=True, slots=True)
class TakeOutOfCart:
    """The lines paid for leave the customer's active cart."""


@dataclass(frozen=True, slots=True)
class SaveRefund:
    """Insert or update one refund row of the session."""

    refund: Refund


# --- outbox effects: carried out by the dispatcher --------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Capture:
    """Capture an authorized payment (manual-capture accounts)."""

    key: str
    session_id: str
    payment_id: str
    amount: int
    currency: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestRefund:
    """Ask the gateway for a refund row that is PENDING and has no gateway id yet."""

    key: str
    session_id: str
    refund_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncPayment:
    """Read a payment back from the gateway and apply what is true there (its capture, its
    refunds): confirms a webhook's word and brings in refunds whose events were lost."""

    key: str
    session_id: str
    payment_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Notify:
    """An SNS message; ``key`` is its ``notification_id`` (the same on every retry)."""

    key: str
    topic: NotificationTopic
    event: str  # e.g. "payment.paid"
    session_id: str
    customer_id: str
    subject: str
    message: str
    amount: int = 0  # paise: what was paid or refunded
    # the customer's contact, sealed (domain.pii): opened only when the message is sent
    email: str | None = None
    contact: str | None = None


class CountKind(StrEnum):
    PAID = "paid"
    FAILED = "failed"
    REFUND = "refund"


@dataclass(frozen=True, slots=True, kw_only=True)
class Count:
    """A sales-dashboard counter on the merchant's day; each key counts once."""

    key: str
    kind: CountKind
    day: date
    amount: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeline:
    """An entry of the session's timeline (``PaymentEvent``); the key makes it appear once."""

    key: str
    session_id: str
    at: datetime
    type: str
    source: str
    detail: str | None = None


Hold = CommitHolds | RetakeHolds | ReleaseHolds | TakeOutOfCart | SaveRefund
OutboxEffect = Capture | RequestRefund | SyncPayment | Notify | Count | Timeline
Effect = Hold | OutboxEffect
OUTBOX_EFFECTS = (Capture, RequestRefund, SyncPayment, Notify, Count, Timeline)
