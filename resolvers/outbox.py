"""The outbox dispatcher: publish what state changes wrote to the outbox, with retries.

Nothing is lost while SNS or DynamoDB are unreachable: a message stays in PostgreSQL until its
publish succeeds, retried with exponential backoff. Messages are claimed with a lease (SKIP
LOCKED), so dispatchers running at once (the job, a webhook's inline dispatch) never take the
same one; only a dispatcher dying between a publish and its mark can send a message again (the
message carries its dedupe key for subscribers, and FIFO topics drop such repeats themselves).

A failed delivery (a :class:`PaymentPortError`, or any other exception: one bad message never
stops the batch) counts as an attempt. After ``deps.outbox_max_attempts`` of them the message
is parked, the dead letter: logged at ERROR with its kind, dedupe key and last error, counted
as the metric ``OutboxMessagesParked`` (dimension ``kind``), and never retried until an
operator requeues it (``python -m app.outbox_admin``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from domain.dead_letter import exhausted
from domain.notifications import notification_event
from domain.outbox import OutboxKind, PendingMessage, retry_delay
from domain.payment_ports import NotificationTopic, PaymentPortError
from resolvers.deps import Deps
from resolvers.metrics import metric

logger = logging.getLogger(__name__)


PARKED_METRIC = "OutboxMessagesParked"


@dataclass(frozen=True, slots=True)
class Dispatched:
    sent: int
    failed: int  # failed attempts, the parked ones included
    parked: int = 0


async def _deliver(deps: Deps, message: PendingMessage) -> None:
    payload = message.payload
    if message.kind in (OutboxKind.NOTIFY_CUSTOMER, OutboxKind.NOTIFY_ADMIN):
        topic = (
            NotificationTopic.CUSTOMER
            if message.kind is OutboxKind.NOTIFY_CUSTOMER
            else NotificationTopic.ADMIN
        )
        customer_id = payload.get("customer_id")
        await deps.notifier.publish(
            topic=topic,
            subject=str(payload["subject"]),
            message=str(payload["message"]),
            dedupe_key=message.dedupe_key,
            event=notification_event(
                kind=message.kind.value, dedupe_key=message.dedupe_key, payload=payload
            ),
            customer_id=(
                str(customer_id)
                if topic is NotificationTopic.CUSTOMER and customer_id is not None
                else None
            ),
        )
        return
    day = date.fromisoformat(str(payload["day"]))
    if message.kind is OutboxKind.SALES_PAID:
        await deps.sales.record_paid(
            day=day, amount=int(payload["amount"]), event_key=message.dedupe_key
        )
    elif message.kind is OutboxKind.SALES_FAILED:
        await deps.sales.record_failed(day=day, event_key=message.dedupe_key)
    elif message.kind is OutboxKind.SALES_REFUND:
        await deps.sales.record_refund(
            day=day, amount=int(payload["amount"]), event_key=message.dedupe_key
        )


LEASE = timedelta(seconds=60)


async def dispatch(deps: Deps, *, limit: int = 100) -> Dispatched:
    """Send one batch of due messages; answers how many went out, how many failed (and must
    wait for a retry) and how many of those were parked."""
    now = deps.clock.now()
    sent = failed = parked = 0
    for message in await deps.outbox.claim(limit=limit, now=now, lease=LEASE):
        try:
            await _deliver(deps, message)
        except PaymentPortError as exc:
            error, unexpected = exc.message, None
        except Exception as exc:  # a bug or an untranslated error: this message, not the batch
            error, unexpected = f"{type(exc).__name__}: {exc}", exc
        else:
            sent += 1
            await deps.outbox.mark_sent(message.id, now=deps.clock.now())
            continue
        failed += 1
        if await _failed(deps, message, error=error, unexpected=unexpected, now=now):
            parked += 1
    return Dispatched(sent=sent, failed=failed, parked=parked)


async def _failed(
    deps: Deps,
    message: PendingMessage,
    *,
    error: str,
    unexpected: Exception | None,
    now: datetime,
) -> bool:
    """Record a failed attempt: park the message when it was its last one (answers True), or
    retry it later with backoff."""
    attempts = message.attempts + 1
    if not exhausted(attempts=attempts, max_attempts=deps.outbox_max_attempts):
        await deps.outbox.mark_failed(message.id, error=error, retry_at=now + retry_delay(attempts))
        logger.warning(
            "outbox %s (%s) not delivered (attempt %d of %d): %s",
            message.kind.value,
            message.dedupe_key,
            attempts,
            deps.outbox_max_attempts,
            error,
            exc_info=unexpected,
        )
        return False
    await deps.outbox.park(message.id, error=error, now=now)
    logger.error(
        "outbox %s (%s) parked after %d failed attempts: %s",
        message.kind.value,
        message.dedupe_key,
        attempts,
        error,
        exc_info=unexpected,
        extra={
            "outbox_id": message.id,
            "kind": message.kind.value,
            "dedupe_key": message.dedupe_key,
            "attempts": attempts,
            "last_error": error,
            **metric(PARKED_METRIC, kind=message.kind.value),
        },
    )
    return True


async def dispatch_all(deps: Deps, *, rounds: int = 20, limit: int = 100) -> Dispatched:
    """Batches until nothing due is left (or ``rounds`` batches ran)."""
    sent = failed = parked = 0
    for _ in range(rounds):
        result = await dispatch(deps, limit=limit)
        sent += result.sent
        failed += result.failed
        parked += result.parked
        if result.sent + result.failed < limit:
            break
    return Dispatched(sent=sent, failed=failed, parked=parked)
