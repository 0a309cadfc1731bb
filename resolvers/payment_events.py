"""Applying what happens to a payment session, once: the one path for checkout callbacks,
``paymentSessionVerify``, webhooks, cancellation, expiry and reconciliation.

Every change runs through :func:`domain.payments.apply` with the session row locked, so events
that arrive twice, late or out of order are applied at most once and never move a session
backwards. The timeline (DynamoDB) gets an entry for each change and each notable refusal.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime

from domain.errors import DomainError, ErrorCode
from domain.gateway import GatewayPayment, PaymentGatewayError, PaymentGatewayRejected
from domain.outbox import (
    OutboxMessage,
    became_paid,
    on_paid,
    on_payment_failed,
    on_refund_processed,
    on_review,
)
from domain.payment_ports import PaymentPortError
from domain.payment_session import PaymentSession
from domain.payments import (
    CAPTURE_EVENTS,
    PaymentEventKind,
    PaymentStatus,
    Transition,
    apply,
    payment_mismatch,
)
from domain.refunds import processed_total
from resolvers.deps import Deps

logger = logging.getLogger(__name__)

TIMELINE_BUDGET_SECONDS = 2.0


def event_of(payment: GatewayPayment) -> PaymentEventKind | None:
    """What a payment's state at Razorpay means for its session (None: nothing yet).

    ``refunded`` counts as a capture only when the money was captured; an authorization that
    Razorpay gave back uncaptured (manual-capture accounts) is a failed payment, never PAID.
    """
    if payment.status == "captured" and payment.captured:
        return PaymentEventKind.PAYMENT_CAPTURED
    if payment.status == "refunded":
        return (
            PaymentEventKind.PAYMENT_CAPTURED
            if payment.captured
            else PaymentEventKind.PAYMENT_FAILED
        )
    if payment.status == "authorized":
        return PaymentEventKind.PAYMENT_AUTHORIZED
    if payment.status == "failed":
        return PaymentEventKind.PAYMENT_FAILED
    return None


@dataclass(frozen=True, slots=True)
class Applied:
    session: PaymentSession
    transition: Transition


def not_found() -> DomainError:
    return DomainError("no such payment session", code=ErrorCode.PAYMENT_SESSION_NOT_FOUND)


async def record(
    deps: Deps, session_id: str, type_: str, source: str, detail: str | None = None
) -> None:
    """Append to the timeline; a timeline outage is logged, never fails nor stalls the money
    path (bounded to a couple of seconds)."""
    try:
        async with asyncio.timeout(TIMELINE_BUDGET_SECONDS):
            await deps.timeline.append(
                session_id=session_id,
                at=deps.clock.now(),
                type=type_,
                source=source,
                detail=detail,
            )
    except PaymentPortError as exc:
        logger.error("timeline append failed for %s (%s): %s", session_id, type_, exc.message)
    except TimeoutError:
        logger.error("timeline append timed out for %s (%s)", session_id, type_)


async def apply_event(
    deps: Deps,
    session_id: str,
    event: PaymentEventKind,
    *,
    source: str,
    payment: GatewayPayment | None = None,
    refunded_total: int | None = None,
    failure_reason: str | None = None,
    free_idempotency_key: bool = False,
    refund: tuple[str, int] | None = None,
) -> Applied:
    """Apply one event under the session's row lock; reservations follow the transition, and
    what it must tell the world goes to the outbox in the same transaction.

    ``refund``: (gateway refund id, amount) for ``REFUND_PROCESSED``; the session's refunded
    total is then summed from its processed refunds under the same lock.
    """
    now = deps.clock.now()
    async with deps.payments.lock(session_id) as tx:
        if tx is None:
            raise not_found()
        current = tx.session
        matches = True
        if payment is not None and current.razorpay_order_id is not None:
            matches = (
                payment_mismatch(
                    expected_amount=current.amount,
                    expected_order_id=current.razorpay_order_id,
                    amount=payment.amount,
                    currency=payment.currency,
                    order_id=payment.order_id or "",
                    expected_currency=current.currency,
                )
                is None
            )
        if event is PaymentEventKind.REFUND_PROCESSED and refunded_total is None:
            refunded_total = processed_total(await tx.refunds())
        captured = payment.amount if payment is not None and matches else current.captured_amount
        transition = apply(
            status=current.status,
            event=event,
            captured_amount=captured if event in CAPTURE_EVENTS else current.captured_amount,
            refunded_total=current.refunded_amount if refunded_total is None else refunded_total,
            payment_matches=matches,
            payment_id=payment.id if payment is not None else None,
            session_payment_id=current.razorpay_payment_id,
        )
        changed = current
        if transition.changed:
            changed = replace(changed, status=transition.status)
            if event in CAPTURE_EVENTS and payment is not None:
                changed = replace(
                    changed,
                    razorpay_payment_id=payment.id,
                    captured_amount=payment.amount,
                    paid_at=changed.paid_at or now,
                )
            elif payment is not None and changed.razorpay_payment_id is None:
                changed = replace(changed, razorpay_payment_id=payment.id)
            if refunded_total is not None:
                changed = replace(changed, refunded_amount=refunded_total)
            if failure_reason is not None:
                changed = replace(changed, failure_reason=failure_reason)
            if free_idempotency_key:
                changed = replace(changed, idempotency_key=None)
        if transition.needs_review and not changed.needs_review:
            changed = replace(changed, needs_review=True)
        if changed != current:
            await tx.save(changed, now=now)
        messages = _effects(
            current,
            changed,
            event,
            transition,
            payment=payment if matches else None,
            refund=refund,
            now=now,
        )
        if messages:
            await tx.enqueue(messages, now=now)
        if transition.commits_reservations:
            await tx.commit_reservations(now=now)
            await tx.take_paid_lines_out_of_cart(now=now)
        if transition.releases_reservations:
            await tx.release_reservations(now=now)
    await _record_transition(deps, session_id, event, transition, source=source, payment=payment)
    return Applied(session=changed, transition=transition)


def _effects(
    before: PaymentSession,
    after: PaymentSession,
    event: PaymentEventKind,
    transition: Transition,
    *,
    payment: GatewayPayment | None,
    refund: tuple[str, int] | None,
    now: datetime,
) -> list[OutboxMessage]:
    messages: list[OutboxMessage] = []
    if became_paid(before, after):
        messages += on_paid(after, at=after.paid_at or now)
    if transition.needs_review and not before.needs_review:
        why = event.value.lower() + (f" {payment.id}" if payment is not None else "")
        messages += on_review(after, why=why)
    if event is PaymentEventKind.PAYMENT_FAILED and payment is not None:
        messages += on_payment_failed(
            after, payment_id=payment.id, at=now, notify_customer=after.payable
        )
    if (
        event is PaymentEventKind.REFUND_PROCESSED
        and refund is not None
        and transition.refused is None
    ):
        messages += on_refund_processed(after, refund_id=refund[0], amount=refund[1], at=now)
    return messages


async def _record_transition(
    deps: Deps,
    session_id: str,
    event: PaymentEventKind,
    transition: Transition,
    *,
    source: str,
    payment: GatewayPayment | None,
) -> None:
    detail = payment.id if payment is not None else None
    if transition.changed:
        await record(
            deps,
            session_id,
            f"status.{transition.status.value}",
            source,
            f"{transition.previous.value} → {transition.status.value} on {event.value}"
            + (f" ({detail})" if detail else ""),
        )
    elif transition.refused is not None:
        await record(
            deps,
            session_id,
            f"refused.{transition.refused.value}",
            source,
            f"{event.value} on {transition.status.value}" + (f" ({detail})" if detail else ""),
        )
    if transition.needs_review:
        await record(deps, session_id, "review.needed", source, detail)


async def settle_gateway_payment(
    deps: Deps, session: PaymentSession, payment: GatewayPayment, *, source: str, strict: bool
) -> PaymentSession:
    """Bring a session in line with a payment as Razorpay reports it (capturing an authorized
    one when the account captures manually). ``strict``: a payment that does not match the
    session is an error for the caller (verify), not only a timeline entry (webhooks)."""
    if session.razorpay_order_id is not None:
        why = payment_mismatch(
            expected_amount=session.amount,
            expected_order_id=session.razorpay_order_id,
            amount=payment.amount,
            currency=payment.currency,
            order_id=payment.order_id or "",
            expected_currency=session.currency,
        )
        if why is not None:
            await record(
                deps,
                session.id,
                "payment.mismatch",
                source,
                f"{payment.id}: {why} differs (order {payment.order_id}, "
                f"{payment.amount} {payment.currency})",
            )
            event = event_of(payment)
            if event is not None:
                await apply_event(deps, session.id, event, source=source, payment=payment)
            if strict:
                raise DomainError(
                    "the payment does not match this session", code=ErrorCode.AMOUNT_MISMATCH
                )
            latest = await deps.payments.get(session.id)
            return latest or session
    event = event_of(payment)
    if event is None:  # "created": nothing happened yet
        return session
    if event is PaymentEventKind.PAYMENT_AUTHORIZED:
        applied = await apply_event(deps, session.id, event, source=source, payment=payment)
        if applied.session.status is not PaymentStatus.AUTHORIZED:
            return applied.session  # closed: leave the authorization to lapse
        payment = await _capture(deps, session, payment)
        event = event_of(payment) or PaymentEventKind.PAYMENT_AUTHORIZED
        if event is PaymentEventKind.PAYMENT_AUTHORIZED:
            return applied.session
    return (await apply_event(deps, session.id, event, source=source, payment=payment)).session


async def _capture(deps: Deps, session: PaymentSession, payment: GatewayPayment) -> GatewayPayment:
    try:
        captured = await deps.gateway.capture_payment(
            payment.id, amount=payment.amount, currency=payment.currency
        )
    except PaymentGatewayRejected:
        # captured meanwhile (auto-capture, a webhook, a second verify): read what is true now
        try:
            captured = await deps.gateway.fetch_payment(payment.id)
        except PaymentGatewayError:
            return payment
    except PaymentGatewayError as exc:
        # stays AUTHORIZED; a later verify, webhook or the reconciliation job captures it
        await record(deps, session.id, "payment.capture_failed", "system", f"{payment.id}: {exc}")
        return payment
    await record(deps, session.id, "payment.capture", "system", f"{payment.id}: {captured.status}")
    return captured


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
