"""Reconciliation: sessions stuck before PAID are checked against Razorpay and corrected, so a
lost webhook or a closed browser still ends in the right state."""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

from domain.errors import DomainError
from domain.gateway import PaymentGatewayError
from domain.payments import PaymentStatus
from resolvers.checkout import recover_order
from resolvers.deps import Deps
from resolvers.payment_events import settle_gateway_payment
from resolvers.refunds import sync_refunds

logger = logging.getLogger(__name__)

STUCK = (PaymentStatus.CREATED, PaymentStatus.ATTEMPTED, PaymentStatus.AUTHORIZED)
# captured money first: it decides the session; then authorizations, then failures
_ORDER = {"captured": 0, "refunded": 1, "authorized": 2, "failed": 3}


async def reconcile(
    deps: Deps, *, older_than: timedelta = timedelta(minutes=5), limit: int = 100
) -> int:
    """Check sessions created more than ``older_than`` ago and still unpaid; answers how many
    changed status."""
    ttl = timedelta(minutes=deps.checkout.ttl_minutes)
    # expires_at = created_at + ttl, so "created before now - older_than" is this:
    before = deps.clock.now() + ttl - older_than
    corrected = 0
    for session_id in await deps.payments.due(statuses=STUCK, before=before, limit=limit):
        session = await deps.payments.get(session_id)
        if session is None:
            continue
        if session.razorpay_order_id is None:  # stored, but its order never attached
            if session.awaiting_order:
                with contextlib.suppress(DomainError):
                    await recover_order(deps, session)
                corrected += 1
            continue
        try:
            payments = await deps.gateway.order_payments(session.razorpay_order_id)
        except PaymentGatewayError as exc:
            logger.warning("reconcile: order %s unreadable: %s", session.razorpay_order_id, exc)
            continue
        for payment in sorted(payments, key=lambda p: _ORDER.get(p.status, 9)):
            after = await settle_gateway_payment(
                deps, session, payment, source="reconcile", strict=False
            )
            await sync_refunds(deps, session.id, payment, source="reconcile")
            if after.status is not session.status:
                corrected += 1
                break
    return corrected
