"""Applying what happens to a payment session: one event, one short transaction.

:func:`settle` is the one path for webhooks, ``paymentSessionVerify``, the checkout callback,
cancellation, expiry, reconciliation and the dispatcher's own gateway answers:

1. lock the session (the customer's lock first: ``datasources/postgres/locks.py``);
2. record the event's id in PostgreSQL with the change (a repeat does nothing);
3. :func:`domain.payment_rules.decide`, pure: the next session and its typed effects;
4. persist the session, its refunds and holds, and write every other effect to the outbox;
5. commit. The dispatcher (``resolvers.outbox``) then captures, refunds, reads payments back,
   notifies, counts and writes the timeline, with retries and a dead letter.

A worker that dies before the commit leaves nothing (the transaction rolls back and Razorpay
redelivers); one that dies after it leaves the outbox, which the dispatcher finishes.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

from domain.errors import DomainError, ErrorCode
from domain.gateway import GatewayPayment, PaymentGatewayError, PaymentGatewayRejected
from domain.payment_ports import PaymentPortError
from domain.payment_rules import Decision, Event, decide, needs_availability
from domain.payment_session import PaymentSession
from domain.pii import redact
from resolvers.deps import Deps

logger = logging.getLogger(__name__)

TIMELINE_BUDGET_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Settled:
    decision: Decision
    duplicate: bool = False

    @property
    def session(self) -> PaymentSession:
        return self.decision.session


def read_key(source: str, payment: GatewayPayment) -> str:
    """The key of a payment read back in one state (reconciliation, a read-back)."""
    return f"{source}:{payment.id}:{payment.status}:{payment.amount_refunded}"


def not_found() -> DomainError:
    return DomainError("no such payment session", code=ErrorCode.PAYMENT_SESSION_NOT_FOUND)


async def settle(
    deps: Deps,
    session_id: str,
    event: Event,
    *,
    event_id: str | None = None,
    key: str | None = None,
) -> Settled:
    """Apply one event to a session in one transaction. ``event_id``: the gateway's id for it
    (a webhook's ``X-Razorpay-Event-Id``); a repeat of a recorded id changes nothing.
    ``key`` names what is being applied when it is not an event with an id (a read-back of a
    payment in a given state): its timeline notes then appear once however often it is read."""
    now = deps.clock.now()
    async with deps.payments.lock(session_id) as tx:
        if tx is None:
            raise not_found()
        if event_id is not None and not await tx.record_event(
            event_id, source=event.source, now=now
        ):
            return Settled(decision=Decision(ledger=tx.ledger), duplicate=True)
        availability = await tx.availability() if needs_availability(tx.ledger, event) else None
        decision = decide(
            tx.ledger,
            event,
            now=now,
            key=event_id or key or f"{event.source}:{uuid.uuid4()}",
            availability=availability,
        )
        await tx.persist(decision, now=now)
    return Settled(decision=decision)


async def record(
    deps: Deps, session_id: str, type_: str, source: str, detail: str | None = None
) -> None:
    """A timeline note outside any state change (a bad signature, an order made): best effort,
    logged when the timeline is down, bounded to a couple of seconds."""
    try:
        async with asyncio.timeout(TIMELINE_BUDGET_SECONDS):
            await deps.timeline.append(
                session_id=session_id,
                at=deps.clock.now(),
                type=type_,
                source=source,
                detail=redact(detail),
            )
    except PaymentPortError as exc:
        logger.error("timeline append failed for %s (%s): %s", session_id, type_, exc.message)
    except TimeoutError:
        logger.error("timeline append timed out for %s (%s)", session_id, type_)


async def fetch_payment(deps: Deps, payment_id: str) -> GatewayPayment:
    try:
        return await deps.gateway.fetch_payment(payment_id)
    except PaymentGatewayRejected as exc:
        raise DomainError(
            "the payment gateway does not know this payment", code=ErrorCode.SIGNATURE_INVALID
        ) from exc
    except PaymentGatewayError as exc:
        raise DomainError(
            "the payment gateway is unavailable; try again", code=ErrorCode.GATEWAY_UNAVAILABLE
        ) from exc
