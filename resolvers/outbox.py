"""The outbox dispatcher: publish what state changes wrote to the outbox, with retries.

Nothing is lost while SNS or DynamoDB are unreachable: a message stays in PostgreSQL until its
publish succeeds, retried with exponential backoff. Messages are claimed with a lease (SKIP
LOCKED), so dispatchers running at once (the job, a webhook's inline dispatch) never take the
same one; only a dispatcher dying between a publish and its mark can send a message again (the
message carries its dedupe key for subscribers, and FIFO topics drop such repeats themselves).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from domain.outbox import OutboxKind, PendingMessage, retry_delay
from domain.payment_ports import NotificationTopic, PaymentPortError
from resolvers.deps import Deps

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Dispatched:
    sent: int
    failed: int


async def _deliver(deps: Deps, message: PendingMessage) -> None:
    payload = message.payload
    if message.kind in (OutboxKind.NOTIFY_CUSTOMER, OutboxKind.NOTIFY_ADMIN):
        topic = (
            NotificationTopic.CUSTOMER
            if message.kind is OutboxKind.NOTIFY_CUSTOMER
            else NotificationTopic.ADMIN
        )
        await deps.notifier.publish(
            topic=topic,
            subject=str(payload["subject"]),
            message=str(payload["message"]),
            dedupe_key=message.dedupe_key,
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
    """Send one batch of due messages; answers how many went out and how many must wait."""
    now = deps.clock.now()
    sent = failed = 0
    for message in await deps.outbox.claim(limit=limit, now=now, lease=LEASE):
        try:
            await _deliver(deps, message)
        except PaymentPortError as exc:
            failed += 1
            await deps.outbox.mark_failed(
                message.id, error=exc.message, retry_at=now + retry_delay(message.attempts + 1)
            )
            logger.warning(
                "outbox %s (%s) not delivered: %s", message.kind, message.dedupe_key, exc
            )
            continue
        sent += 1
        await deps.outbox.mark_sent(message.id, now=deps.clock.now())
    return Dispatched(sent=sent, failed=failed)


async def dispatch_all(deps: Deps, *, rounds: int = 20, limit: int = 100) -> Dispatched:
    """Batches until nothing due is left (or ``rounds`` batches ran)."""
    sent = failed = 0
    for _ in range(rounds):
        result = await dispatch(deps, limit=limit)
        sent += result.sent
        failed += result.failed
        if result.sent + result.failed < limit:
            break
    return Dispatched(sent=sent, failed=failed)
