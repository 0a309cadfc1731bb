"""What a payment state change must tell the world, decided purely and written to the
transactional outbox in the same database transaction as the change itself.

Kinds: customer and admin notifications (SNS) and sales-counter updates (DynamoDB). Each
message has a ``dedupe_key``: enqueueing the same key twice keeps one message, and the sales
counters count each key once, so a redelivered webhook never counts or notifies twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from domain.money import format_inr
from domain.notifications import NotificationEvent
from domain.payment_session import PaymentSession
from domain.payments import PAID_STATUSES, merchant_date

MAX_ATTEMPTS = 20


class OutboxKind(StrEnum):
    NOTIFY_CUSTOMER = "notify.customer"
    NOTIFY_ADMIN = "notify.admin"
    SALES_PAID = "sales.paid"
    SALES_FAILED = "sales.failed"
    SALES_REFUND = "sales.refund"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxMessage:
    kind: OutboxKind
    dedupe_key: str
    payload: Mapping[str, str | int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingMessage:
    id: str
    kind: OutboxKind
    dedupe_key: str
    payload: Mapping[str, str | int]
    attempts: int


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff, 2 s doubling up to 10 minutes."""
    return timedelta(seconds=min(2 ** max(attempts, 1), 600))


def _notify(
    kind: OutboxKind,
    key: str,
    subject: str,
    message: str,
    session: PaymentSession,
    event: NotificationEvent,
) -> OutboxMessage:
    return OutboxMessage(
        kind=kind,
        dedupe_key=key,
        payload={
            "event": event.value,
            "subject": subject,
            "message": message,
            "session_id": session.id,
            "customer_id": session.customer_id,
            "email": session.customer_email or "",
        },
    )


def on_paid(session: PaymentSession, *, at: datetime) -> list[OutboxMessage]:
    amount = format_inr(session.captured_amount or session.amount)
    short = session.id[:8]
    return [
        _notify(
            OutboxKind.NOTIFY_CUSTOMER,
            f"paid:{session.id}:customer",
            f"Payment received for order {short}",
            f"We received {amount} for order {short}. Thank you!",
            session,
            NotificationEvent.PAYMENT_PAID,
        ),
        _notify(
            OutboxKind.NOTIFY_ADMIN,
            f"paid:{session.id}:admin",
            f"Order {short} paid",
            f"Session {session.id} paid {amount}.",
            session,
            NotificationEvent.PAYMENT_PAID,
        ),
        OutboxMessage(
            kind=OutboxKind.SALES_PAID,
            dedupe_key=f"paid:{session.id}",
            payload={
                "day": merchant_date(at).isoformat(),
                "amount": session.captured_amount or session.amount,
            },
        ),
    ]


def on_review(session: PaymentSession, *, why: str) -> list[OutboxMessage]:
    return [
        _notify(
            OutboxKind.NOTIFY_ADMIN,
            f"review:{session.id}:{why}",
            f"Review payment session {session.id[:8]}",
            f"Session {session.id} ({session.status.value}) needs review: {why}.",
            session,
            NotificationEvent.PAYMENT_REVIEW,
        )
    ]


def on_payment_failed(
    session: PaymentSession, *, payment_id: str, at: datetime, notify_customer: bool
) -> list[OutboxMessage]:
    messages = [
        OutboxMessage(
            kind=OutboxKind.SALES_FAILED,
            dedupe_key=f"failed:{payment_id}",
            payload={"day": merchant_date(at).isoformat()},
        )
    ]
    if notify_customer:
        short = session.id[:8]
        messages.append(
            _notify(
                OutboxKind.NOTIFY_CUSTOMER,
                f"failed:{payment_id}:customer",
                f"Payment failed for order {short}",
                f"Your payment for order {short} did not go through; you can try again "
                "before the session expires.",
                session,
                NotificationEvent.PAYMENT_FAILED,
            )
        )
    return messages


def on_refund_processed(
    session: PaymentSession, *, refund_id: str, amount: int, at: datetime
) -> list[OutboxMessage]:
    short = session.id[:8]
    return [
        _notify(
            OutboxKind.NOTIFY_CUSTOMER,
            f"refund:{refund_id}:customer",
            f"Refund for order {short}",
            f"We refunded {format_inr(amount)} for order {short}.",
            session,
            NotificationEvent.REFUND_PROCESSED,
        ),
        OutboxMessage(
            kind=OutboxKind.SALES_REFUND,
            dedupe_key=f"refund:{refund_id}",
            payload={"day": merchant_date(at).isoformat(), "amount": amount},
        ),
    ]


def became_paid(before: PaymentSession, after: PaymentSession) -> bool:
    return after.status in PAID_STATUSES and before.status not in PAID_STATUSES
