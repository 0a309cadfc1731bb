"""Refunds: admin refundCreate. (Refund outcomes Razorpay reports go through
``domain.payment_rules`` like every other event.)

The amount is reserved under the session's row lock (a PENDING refund row), so concurrent
refunds can never add up to more than was captured. Razorpay is then asked with the admin's
idempotency key as ``X-Refund-Idempotency``: a retry after a timeout reaches the same refund.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace

from domain.effects import SaveRefund, Timeline
from domain.errors import DomainError, ErrorCode
from domain.gateway import PaymentGatewayError
from domain.identity import Principal, Role, authorize
from domain.payment_rules import Decision
from domain.payment_session import PaymentSession
from domain.refunds import Refund, RefundStatus, plan_refund, validate_refund_key
from domain.text import check_text
from resolvers.deps import Deps
from resolvers.effects import request_refund
from resolvers.outbox import dispatch_inline
from resolvers.payment_events import not_found

logger = logging.getLogger(__name__)


async def create_refund(
    deps: Deps,
    *,
    principal: Principal,
    session_id: str,
    amount: int | None,
    idempotency_key: str,
    reason: str | None = None,
) -> tuple[PaymentSession, Refund]:
    authorize(principal, role=Role.ADMIN)
    key = validate_refund_key(idempotency_key)
    if reason is not None:
        check_text(reason, field=["input", "reason"], multiline=True)
        if len(reason) > 500:
            raise DomainError("reason is limited to 500 characters", field=["input", "reason"])
    now = deps.clock.now()
    async with deps.payments.lock(session_id) as tx:
        if tx is None:
            raise not_found()
        ledger = tx.ledger
        session = ledger.session
        existing = next((r for r in ledger.refunds if r.idempotency_key == key), None)
        if existing is not None:
            if amount is not None and amount != existing.amount:
                raise DomainError(
                    "this idempotency key was used for another amount",
                    code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
                    field=["input", "idempotencyKey"],
                )
            refund = existing
        else:
            refund = Refund(
                id=str(uuid.uuid4()),
                session_id=session.id,
                amount=plan_refund(
                    status=session.status,
                    captured=session.captured_amount,
                    refunds=ledger.refunds,
                    requested=amount,
                ),
                currency=session.currency,
                status=RefundStatus.PENDING,
                idempotency_key=key,
                reason=reason,
                razorpay_refund_id=None,
                created_at=now,
            )
            note = Timeline(
                key=f"tl:refund:{refund.id}",
                session_id=session.id,
                at=now,
                type="refund.requested",
                source="admin",
                detail=f"{refund.amount} paise",
            )
            await tx.persist(
                Decision(
                    ledger=replace(ledger, refunds=(*ledger.refunds, refund)),
                    effects=(SaveRefund(refund), note),
                ),
                now=now,
            )
    if refund.status is RefundStatus.PENDING and refund.razorpay_refund_id is None:
        try:
            effects = await request_refund(deps, session_id=session.id, refund_id=refund.id)
        except PaymentGatewayError as exc:
            # unknown outcome: the row stays PENDING; the same key retried reaches the same
            # refund, and reconciliation asks again with it
            raise DomainError(
                "the payment gateway is unavailable; retry with the same idempotency key",
                code=ErrorCode.GATEWAY_UNAVAILABLE,
            ) from exc
        await dispatch_inline(deps, effects)  # the refund's notice and counter, promptly
    current = await deps.payments.get(session.id)
    stored = next((r for r in await deps.payments.refunds(session.id) if r.id == refund.id), refund)
    if current is None:
        raise not_found()
    if stored.status is RefundStatus.FAILED and existing is None:
        raise DomainError("Razorpay refused the refund", code=ErrorCode.NOT_REFUNDABLE)
    return current, stored
