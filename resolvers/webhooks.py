"""``POST /webhooks/razorpay``: Razorpay tells what really happened, at least once, in any order.

1. The signature is checked over the raw bytes before anything is parsed (the current and the
   previous webhook secret are accepted, for rotation). A bad one answers 400, changes nothing.
2. The session is found by the payment's order (a refund event carries its payment too).
3. One transaction (:func:`resolvers.payment_events.settle`): the session locked, the event id
   recorded in PostgreSQL, the rules applied, the effects written to the outbox. A redelivery
   of a recorded id answers ``200 duplicate`` (before any lock, when it is recorded already;
   else in that transaction); a failure rolls everything back and answers 5xx,
   so Razorpay retries. No Razorpay call happens before the answer.
4. The answer (after carrying out the event's own effects for a configured moment, by default
   none); the route carries them out after it, and the dispatcher job whatever is left.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from domain.effects import Effect
from domain.payment_ports import PaymentPortError
from domain.payment_rules import PaymentReported, RefundReported
from domain.payment_session import PaymentSession
from domain.signatures import webhook_signature_valid
from domain.webhooks import PAYMENT_EVENTS, REFUND_EVENTS, MalformedEvent, WebhookEvent, parse_event
from resolvers import metrics
from resolvers.deps import Deps
from resolvers.outbox import dispatch_inline
from resolvers.payment_events import settle

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    status: int
    detail: str
    # the applied event's outbox effects not carried out yet: the route may carry them out
    # after its answer (``resolvers.outbox.dispatch_effects``); the dispatcher job does anyway
    effects: tuple[Effect, ...] = field(default=(), compare=False)


async def receive(
    deps: Deps, *, body: bytes, signature: str | None, event_id: str | None
) -> WebhookAnswer:
    if not signature or not webhook_signature_valid(
        secrets=deps.checkout.webhook_secrets, body=body, signature=signature
    ):
        logger.warning("webhook with a bad signature refused (event id %s)", event_id)
        metrics.record(metrics.WEBHOOK_SIGNATURE_FAILURES)
        return WebhookAnswer(400, "invalid signature")
    try:
        event = parse_event(body)
    except MalformedEvent as exc:
        logger.warning("signed webhook could not be read: %s", exc)
        return WebhookAnswer(400, f"malformed event: {exc}")
    if event.created_at is not None:
        lag = deps.clock.now().timestamp() - event.created_at
        metrics.record(metrics.WEBHOOK_LAG, value=max(lag, 0.0) * 1000, unit="Milliseconds")
    key = (event_id or "").strip()[:128] or "body-" + hashlib.sha256(body).hexdigest()
    try:
        if await deps.payments.event_recorded(f"webhook:{key}"):
            # a redelivery of an applied event: answered without the locks its first delivery
            # took (a repeat still in flight is caught by the event's own transaction)
            return WebhookAnswer(200, "duplicate")
        session = await _session_of(deps, event)
        if session is None:
            return WebhookAnswer(200, "not ours" if event.name in _HANDLED else "ignored")
        settled = await settle(deps, session.id, _event(event), event_id=f"webhook:{key}")
    except (PaymentPortError, OSError) as exc:
        logger.error("webhook %s (%s) could not be stored: %s", key, event.name, exc)
        return WebhookAnswer(503, "try again")
    except Exception:
        logger.exception("webhook %s (%s) failed; Razorpay will retry", key, event.name)
        return WebhookAnswer(500, "failed")
    if settled.duplicate:
        return WebhookAnswer(200, "duplicate")
    effects = settled.decision.effects
    try:
        await dispatch_inline(deps, effects, budget=deps.checkout.webhook_inline_dispatch_seconds)
    except Exception:  # the event is stored: the dispatcher job carries its effects out
        logger.exception("inline dispatch of webhook %s failed", key)
    return WebhookAnswer(200, "applied", effects=effects)


_HANDLED = PAYMENT_EVENTS | REFUND_EVENTS


async def _session_of(deps: Deps, event: WebhookEvent) -> PaymentSession | None:
    """The session an event is about: by its payment's order id; a refund without a payment
    entity by the refund's payment, or by the refund already known."""
    if event.name not in _HANDLED:
        return None
    if event.payment is not None and event.payment.order_id:
        found = await deps.payments.get_by_order(event.payment.order_id)
        if found is not None:
            return found
    if event.refund is not None:
        found = await deps.payments.get_by_payment(event.refund.payment_id)
        if found is not None:
            return found
        known = await deps.payments.refund_by_gateway_id(event.refund.id)
        if known is not None:
            return await deps.payments.get(known.session_id)
    return None


def _event(event: WebhookEvent) -> PaymentReported | RefundReported:
    if event.name in REFUND_EVENTS and event.refund is not None:
        return RefundReported(
            refund=event.refund, payment=event.payment, source="webhook", name=event.name
        )
    assert event.payment is not None  # parse_event guarantees a payment for payment events
    return PaymentReported(payment=event.payment, source="webhook", name=event.name)
