"""``POST /webhooks/razorpay``: Razorpay tells what really happened, at least once, in any order.

1. The signature is checked over the raw bytes before anything is parsed (the current and the
   previous webhook secret are accepted, for rotation). A bad one answers 400, changes nothing.
2. The event id is claimed in DynamoDB with a conditional write: a redelivery answers 200 and
   does nothing. If handling fails the claim is given back and the answer is 5xx, so Razorpay
   retries.
3. The event goes through the same use cases and state machine as checkout verification.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from domain.errors import DomainError, ErrorCode
from domain.payment_ports import PaymentPortError
from domain.signatures import webhook_signature_valid
from domain.webhooks import PAYMENT_EVENTS, REFUND_EVENTS, MalformedEvent, WebhookEvent, parse_event
from resolvers.deps import Deps
from resolvers.payment_events import record, settle_gateway_payment
from resolvers.refunds import gateway_refund_update, sync_refunds

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    status: int
    detail: str


async def receive(
    deps: Deps, *, body: bytes, signature: str | None, event_id: str | None
) -> WebhookAnswer:
    if not signature or not webhook_signature_valid(
        secrets=deps.checkout.webhook_secrets, body=body, signature=signature
    ):
        logger.warning("webhook with a bad signature refused (event id %s)", event_id)
        return WebhookAnswer(400, "invalid signature")
    try:
        event = parse_event(body)
    except MalformedEvent as exc:
        logger.warning("signed webhook could not be read: %s", exc)
        return WebhookAnswer(400, f"malformed event: {exc}")
    key = (event_id or "").strip()[:128] or "body-" + hashlib.sha256(body).hexdigest()
    try:
        if not await deps.webhook_ledger.claim(key):
            return WebhookAnswer(200, "duplicate")
    except PaymentPortError as exc:
        logger.error("webhook ledger unavailable: %s", exc.message)
        return WebhookAnswer(503, "try again")
    try:
        detail = await _handle(deps, event)
    except Exception:
        logger.exception("webhook %s (%s) failed; Razorpay will retry", key, event.name)
        try:
            await deps.webhook_ledger.release(key)
        except PaymentPortError as exc:
            logger.error("could not release webhook claim %s: %s", key, exc.message)
        return WebhookAnswer(500, "failed")
    return WebhookAnswer(200, detail)


async def _handle(deps: Deps, event: WebhookEvent) -> str:
    if event.name in PAYMENT_EVENTS and event.payment is not None:
        payment = event.payment
        session = await deps.payments.get_by_order(payment.order_id or "")
        if session is None:
            return "not ours"
        await record(
            deps,
            session.id,
            f"webhook.{event.name}",
            "webhook",
            f"{payment.id}: {payment.status} {payment.amount} {payment.currency}",
        )
        await settle_gateway_payment(deps, session, payment, source="webhook", strict=False)
        await sync_refunds(deps, session.id, payment, source="webhook")
        return "applied"
    if event.name in REFUND_EVENTS and event.refund is not None:
        try:
            _, refund = await gateway_refund_update(deps, event.refund, source="webhook")
        except DomainError as error:
            if error.code is ErrorCode.PAYMENT_SESSION_NOT_FOUND:
                return "not ours"
            raise
        await record(deps, refund.session_id, f"webhook.{event.name}", "webhook", event.refund.id)
        return "applied"
    return "ignored"
