"""Refunds: admin refundCreate, and refund outcomes reported by Razorpay (webhooks).

The amount is reserved under the session's row lock (a PENDING refund row), so concurrent
refunds can never add up to more than was captured. Razorpay is then asked with the admin's
idempotency key as ``X-Refund-Idempotency``: a retry after a timeout reaches the same refund.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace

from domain.errors import DomainError, ErrorCode
from domain.gateway import (
    GatewayPayment,
    GatewayRefund,
    PaymentGatewayError,
    PaymentGatewayRejected,
)
from domain.identity import Principal, Role, authorize
from domain.payment_session import PaymentSession
from domain.payments import PaymentEventKind
from domain.refunds import Refund, RefundStatus, plan_refund, validate_refund_key
from domain.text import check_text
from resolvers.deps import Deps
from resolvers.payment_events import apply_event, not_found, record

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
        session = tx.session
        refunds = await tx.refunds()
        existing = next((r for r in refunds if r.idempotency_key == key), None)
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
                    refunds=refunds,
                    requested=amount,
                ),
                currency=session.currency,
                status=RefundStatus.PENDING,
                idempotency_key=key,
                reason=reason,
                razorpay_refund_id=None,
                created_at=now,
            )
            await tx.add_refund(refund)
    if existing is None:
        await record(deps, session.id, "refund.requested", "admin", f"{refund.amount} paise")
    if refund.status is not RefundStatus.PENDING or refund.razorpay_refund_id is not None:
        return await _current(deps, session.id), refund
    return await _ask_gateway(deps, session, refund)


async def _ask_gateway(
    deps: Deps, session: PaymentSession, refund: Refund
) -> tuple[PaymentSession, Refund]:
    if session.razorpay_payment_id is None:
        raise DomainError("the session has no captured payment", code=ErrorCode.NOT_REFUNDABLE)
    try:
        answer = await deps.gateway.refund_payment(
            session.razorpay_payment_id,
            amount=refund.amount,
            idempotency_key=refund.idempotency_key,
            notes={"payment_session_id": session.id, "refund_id": refund.id},
        )
    except PaymentGatewayRejected as exc:
        await settle_refund(deps, refund, status=RefundStatus.FAILED, source="admin")
        raise DomainError(
            f"Razorpay refused the refund: {exc}", code=ErrorCode.NOT_REFUNDABLE
        ) from exc
    except PaymentGatewayError as exc:
        # unknown outcome: the row stays PENDING; the same key retried reaches the same refund
        raise DomainError(
            "the payment gateway is unavailable; retry with the same idempotency key",
            code=ErrorCode.GATEWAY_UNAVAILABLE,
        ) from exc
    return await gateway_refund_update(deps, answer, source="admin", known=refund)


async def gateway_refund_update(
    deps: Deps, answer: GatewayRefund, *, source: str, known: Refund | None = None
) -> tuple[PaymentSession, Refund]:
    """A refund as Razorpay reports it (an API answer or a ``refund.*`` webhook)."""
    refund = known or await _match(deps, answer)
    status = {
        "processed": RefundStatus.PROCESSED,
        "failed": RefundStatus.FAILED,
    }.get(answer.status, RefundStatus.PENDING)
    refund = replace(refund, razorpay_refund_id=answer.id)
    return await settle_refund(deps, refund, status=status, source=source)


async def _match(deps: Deps, answer: GatewayRefund) -> Refund:
    """Our refund row for a refund Razorpay reports: by its Razorpay id; else by the row id we
    sent in its notes (an answer lost to a timeout); else a PENDING row of the same amount that
    never got an id; else (made in the Razorpay dashboard) a new row, adopted."""
    found = await deps.payments.refund_by_gateway_id(answer.id)
    if found is not None:
        return found
    session = await deps.payments.get_by_payment(answer.payment_id)
    if session is None:
        raise not_found()
    refunds = await deps.payments.refunds(session.id)
    ours = answer.notes.get("refund_id")
    unnamed = [r for r in refunds if r.razorpay_refund_id is None]
    by_note = next((r for r in unnamed if r.id == ours), None)
    by_amount = next(
        (r for r in unnamed if r.status is RefundStatus.PENDING and r.amount == answer.amount),
        None,
    )
    return by_note or by_amount or await _adopt(deps, session, answer)


async def sync_refunds(
    deps: Deps, session_id: str, payment: GatewayPayment, *, source: str
) -> None:
    """Bring in refunds Razorpay reports for a payment that this API has not recorded yet."""
    if payment.amount_refunded <= 0:
        return
    try:
        answers = await deps.gateway.payment_refunds(payment.id)
    except PaymentGatewayError as exc:
        logger.warning("refunds of %s unreadable (%s): %s", payment.id, session_id, exc)
        return
    for answer in answers:
        await gateway_refund_update(deps, answer, source=source)


async def _adopt(deps: Deps, session: PaymentSession, answer: GatewayRefund) -> Refund:
    """A refund made outside this API (e.g. the Razorpay dashboard): record it on its session."""
    refund = Refund(
        id=str(uuid.uuid4()),
        session_id=session.id,
        amount=answer.amount,
        currency=answer.currency,
        status=RefundStatus.PENDING,
        idempotency_key=answer.id,
        reason="made outside the API",
        razorpay_refund_id=answer.id,
        created_at=deps.clock.now(),
    )
    async with deps.payments.lock(session.id) as tx:
        assert tx is not None
        if not any(r.razorpay_refund_id == answer.id for r in await tx.refunds()):
            await tx.add_refund(refund)
    found = await deps.payments.refund_by_gateway_id(answer.id)
    return found or refund


async def settle_refund(
    deps: Deps, refund: Refund, *, status: RefundStatus, source: str
) -> tuple[PaymentSession, Refund]:
    """Store a refund's outcome once; a processed refund moves the session forward."""
    now = deps.clock.now()
    async with deps.payments.lock(refund.session_id) as tx:
        if tx is None:
            raise not_found()
        stored = next((r for r in await tx.refunds() if r.id == refund.id), refund)
        final = stored.status is not RefundStatus.PENDING
        updated = (
            stored
            if final
            else replace(
                stored,
                status=status,
                razorpay_refund_id=refund.razorpay_refund_id or stored.razorpay_refund_id,
                processed_at=now if status is RefundStatus.PROCESSED else None,
            )
        )
        if updated != stored:
            await tx.save_refund(updated, now=now)
    if updated.status is RefundStatus.PROCESSED and not final:
        await record(
            deps,
            refund.session_id,
            "refund.processed",
            source,
            f"{updated.razorpay_refund_id}: {updated.amount} paise",
        )
        applied = await apply_event(
            deps,
            refund.session_id,
            PaymentEventKind.REFUND_PROCESSED,
            source=source,
            refund=(updated.razorpay_refund_id or updated.id, updated.amount),
        )
        return applied.session, updated
    if updated.status is RefundStatus.FAILED and not final:
        await record(deps, refund.session_id, "refund.failed", source, updated.razorpay_refund_id)
    return await _current(deps, refund.session_id), updated


async def _current(deps: Deps, session_id: str) -> PaymentSession:
    session = await deps.payments.get(session_id)
    if session is None:
        raise not_found()
    return session
