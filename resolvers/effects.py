"""Carrying out one outbox effect (``domain.effects``): what the dispatcher does per message.

Gateway effects (capture, refund, read-back) feed the gateway's answer back through
:func:`resolvers.payment_events.settle`, a transaction of its own, so their outcome follows the
same rules as a webhook's. A failure the dispatcher should retry raises
:class:`~domain.payment_ports.PaymentPortError` with ``retryable=True``.
"""

from __future__ import annotations

import json
import logging

from domain.effects import (
    Capture,
    Count,
    CountKind,
    Effect,
    Notify,
    RequestRefund,
    Timeline,
)
from domain.gateway import PaymentGatewayError, PaymentGatewayRejected
from domain.outbox import PendingMessage, effect_of
from domain.payment_ports import NotificationTopic, PaymentPortError
from domain.payment_rules import PaymentReported, RefundRefused, RefundReported
from domain.refunds import RefundStatus, processed_total
from resolvers import metrics
from resolvers.deps import Deps
from resolvers.payment_events import read_key, record, settle

logger = logging.getLogger(__name__)


class GatewayUnavailable(PaymentPortError):
    """The gateway could not be reached for an effect: retry later."""


async def carry_out(deps: Deps, message: PendingMessage) -> list[Effect]:
    """Carry out one message; answers the effects of what the gateway's answer changed (the
    caller may carry those out at once)."""
    effect = effect_of(message)
    if isinstance(effect, Notify):
        await _notify(deps, effect)
    elif isinstance(effect, Count):
        await _count(deps, effect)
    elif isinstance(effect, Timeline):
        await deps.timeline.append(
            session_id=effect.session_id,
            at=effect.at,
            type=effect.type,
            source=effect.source,
            detail=effect.detail,
            entry_id=effect.key,
        )
    else:
        try:
            if isinstance(effect, Capture):
                return await _capture(deps, effect)
            if isinstance(effect, RequestRefund):
                return await request_refund(
                    deps, session_id=effect.session_id, refund_id=effect.refund_id
                )
            return await sync_payment(
                deps, session_id=effect.session_id, payment_id=effect.payment_id
            )
        except PaymentGatewayError as exc:
            raise GatewayUnavailable(f"gateway: {exc}", retryable=True) from exc
    return []


async def _notify(deps: Deps, effect: Notify) -> None:
    body: dict[str, str | int] = {
        "event": effect.event,
        "notification_id": effect.key,
        "payment_session_id": effect.session_id,
        "subject": effect.subject,
        "message": effect.message,
        "amount": effect.amount,
        "currency": "INR",
    }
    customer = effect.topic is NotificationTopic.CUSTOMER
    if customer:
        # sealed in the outbox; opened here, at send time only (a KMS error is retried)
        email = await deps.pii.open(effect.email, customer_id=effect.customer_id)
        contact = await deps.pii.open(effect.contact, customer_id=effect.customer_id)
        body["customer_id"] = effect.customer_id
        body["email"] = email or ""
        body["contact"] = contact or ""
    await deps.notifier.publish(
        topic=effect.topic,
        subject=effect.subject,
        message=json.dumps(body, ensure_ascii=False, sort_keys=True),
        dedupe_key=effect.key,
        event=effect.event,
        customer_id=effect.customer_id if customer else None,
    )


async def _count(deps: Deps, effect: Count) -> None:
    """The sales counter, and the metrics: only when this call counted the key (the counters
    count each key once however often the effect is carried out), so a payment is in the
    metrics once too."""
    if effect.kind is CountKind.PAID:
        if await deps.sales.record_paid(day=effect.day, amount=effect.amount, event_key=effect.key):
            metrics.record(metrics.PAYMENTS_PAID)
            metrics.record(metrics.AMOUNT_PAID, value=effect.amount, unit="None")
    elif effect.kind is CountKind.FAILED:
        if await deps.sales.record_failed(day=effect.day, event_key=effect.key):
            metrics.record(metrics.PAYMENTS_FAILED)
    elif await deps.sales.record_refund(day=effect.day, amount=effect.amount, event_key=effect.key):
        metrics.record(metrics.AMOUNT_REFUNDED, value=effect.amount, unit="None")


async def _capture(deps: Deps, effect: Capture) -> list[Effect]:
    """Capture an authorized payment; whatever Razorpay answers is applied to the session."""
    try:
        payment = await deps.gateway.capture_payment(
            effect.payment_id, amount=effect.amount, currency=effect.currency
        )
    except PaymentGatewayRejected:
        # captured meanwhile (auto-capture), voided or lapsed: apply what is true now
        payment = await deps.gateway.fetch_payment(effect.payment_id)
    except PaymentGatewayError as exc:
        # stays AUTHORIZED; the dispatcher retries with backoff, reconciliation also looks
        await record(
            deps,
            effect.session_id,
            "payment.capture_failed",
            "system",
            f"{effect.payment_id}: {exc}",
        )
        raise
    settled = await settle(
        deps,
        effect.session_id,
        PaymentReported(payment=payment, source="capture"),
        key=read_key("capture", payment),
    )
    return list(settled.decision.effects)


async def request_refund(deps: Deps, *, session_id: str, refund_id: str) -> list[Effect]:
    """Ask the gateway for one of our PENDING refunds, with its idempotency key (a retry after
    a lost answer reaches the same refund); apply the answer."""
    session = await deps.payments.get(session_id)
    refund = next((r for r in await deps.payments.refunds(session_id) if r.id == refund_id), None)
    if session is None or refund is None or refund.status is not RefundStatus.PENDING:
        return []
    if refund.razorpay_refund_id is not None:
        answer = await deps.gateway.fetch_refund(refund.razorpay_refund_id)
    elif session.razorpay_payment_id is None:
        refused = await settle(
            deps,
            session_id,
            RefundRefused(refund_id=refund.id, source="refund", reason="no captured payment"),
        )
        return list(refused.decision.effects)
    else:
        try:
            answer = await deps.gateway.refund_payment(
                session.razorpay_payment_id,
                amount=refund.amount,
                idempotency_key=refund.idempotency_key,
                notes={"payment_session_id": session.id, "refund_id": refund.id},
            )
        except PaymentGatewayRejected as exc:
            refused = await settle(
                deps,
                session_id,
                RefundRefused(refund_id=refund.id, source="refund", reason=str(exc)[:200]),
            )
            return list(refused.decision.effects)
    settled = await settle(deps, session_id, RefundReported(refund=answer, source="refund"))
    return list(settled.decision.effects)


async def sync_payment(deps: Deps, *, session_id: str, payment_id: str) -> list[Effect]:
    """Read a payment back and apply its state and any refunds this API has not seen."""
    payment = await deps.gateway.fetch_payment(payment_id)
    settled = await settle(
        deps,
        session_id,
        PaymentReported(payment=payment, source="sync"),
        key=read_key("sync", payment),
    )
    effects = list(settled.decision.effects)
    if payment.amount_refunded > processed_total(settled.decision.ledger.refunds):
        for answer in await deps.gateway.payment_refunds(payment_id):
            refund = await settle(
                deps,
                session_id,
                RefundReported(refund=answer, payment=payment, source="sync"),
                key=f"sync:{answer.id}:{answer.status}",
            )
            effects += refund.decision.effects
    return effects
