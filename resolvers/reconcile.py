"""Reconciliation: sessions are checked against Razorpay and corrected, so a lost webhook, a
closed browser or a worker that died still ends in the right state.

It looks at open sessions (CREATED, ATTEMPTED, AUTHORIZED) older than a few minutes, at closed
ones (EXPIRED, CANCELLED, FAILED) of the last 3 days that Razorpay can still capture (a bank may
authorize late: RAZORPAY.md), and at sessions with a refund still PENDING. The least recently
checked come first, so a few old sessions can never starve the newer ones; each session is
checked on its own, and one that fails is logged and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from cachetools import TTLCache

from domain.errors import DomainError
from domain.gateway import PaymentGatewayError, PaymentGatewayRejected
from domain.payment_rules import PaymentReported, RefundReported
from domain.payments import CLOSED_STATUSES, PaymentStatus
from domain.refunds import RefundStatus, processed_total
from resolvers.checkout import recover_order
from resolvers.deps import Deps
from resolvers.effects import request_refund
from resolvers.outbox import dispatch_effects
from resolvers.payment_events import read_key, settle

logger = logging.getLogger(__name__)

OPEN = (PaymentStatus.CREATED, PaymentStatus.ATTEMPTED, PaymentStatus.AUTHORIZED)
CLOSED = tuple(sorted(CLOSED_STATUSES))
LATE_CAPTURE_WINDOW = timedelta(days=3)
# captured money first: it decides the session; then authorizations, then failures
_ORDER = {"captured": 0, "refunded": 1, "authorized": 2, "failed": 3}
# A session Razorpay cannot answer for is warned about once (per process and error, for a
# day), then logged at DEBUG: the job runs every minute and would repeat it for ever.
_WARNED: TTLCache[str, str] = TTLCache(maxsize=4096, ttl=24 * 3600)
REJECTED_HINT = (
    "Razorpay does not know this session's order (made with other keys, or on a sandbox that "
    "was reset): the session is left as it is; check the keys, or start the local stack "
    "afresh with `make run FRESH=1`"
)
UNAVAILABLE_HINT = "Razorpay did not answer: the next run tries again"


def warn_unreadable(session_id: str, exc: PaymentGatewayError) -> None:
    text = str(exc)
    if _WARNED.get(session_id) == text:
        logger.debug("reconcile: session %s still unreadable at Razorpay: %s", session_id, text)
        return
    _WARNED[session_id] = text
    hint = REJECTED_HINT if isinstance(exc, PaymentGatewayRejected) else UNAVAILABLE_HINT
    logger.warning(
        "reconcile: session %s unreadable at Razorpay: %s. %s (logged once; the next failures "
        "at DEBUG)",
        session_id,
        text,
        hint,
    )


async def reconcile(
    deps: Deps,
    *,
    older_than: timedelta = timedelta(minutes=5),
    limit: int = 100,
    budget: float | None = None,
) -> int:
    """Check up to ``limit`` sessions; answers how many changed. With a ``budget`` (seconds)
    no session is started after it, and what a session changed is carried out within it
    (``dispatch_effects``: never a notification cut off half-sent); the rest waits."""
    loop = asyncio.get_running_loop()
    deadline = None if budget is None else loop.time() + budget
    now = deps.clock.now()
    ids = await deps.payments.to_reconcile(
        open_statuses=OPEN,
        open_before=now - older_than,
        closed_statuses=CLOSED,
        closed_since=now - LATE_CAPTURE_WINDOW,
        limit=limit,
    )
    corrected = 0
    for session_id in ids:
        left = None if deadline is None else deadline - loop.time()
        if left is not None and left <= 0:
            break
        try:
            corrected += await reconcile_one(deps, session_id, deadline=deadline)
        except PaymentGatewayError as exc:
            warn_unreadable(session_id, exc)
        except Exception:
            logger.exception("reconcile: session %s failed; the others go on", session_id)
        finally:
            with contextlib.suppress(Exception):
                await deps.payments.mark_reconciled([session_id], now=now)
    return corrected


async def reconcile_one(deps: Deps, session_id: str, *, deadline: float | None = None) -> bool:
    """Bring one session in line with Razorpay; True when it changed. ``deadline``
    (event-loop time): what it changed is carried out until then, the job does the rest."""

    def budget() -> float | None:
        return None if deadline is None else deadline - asyncio.get_running_loop().time()

    session = await deps.payments.get(session_id)
    if session is None:
        return False
    changed = False
    if session.razorpay_order_id is None:  # stored, but its order never attached
        if session.awaiting_order:
            with contextlib.suppress(DomainError):
                await recover_order(deps, session)
            return True
        return False
    payments = await deps.gateway.order_payments(session.razorpay_order_id)
    for payment in sorted(payments, key=lambda p: _ORDER.get(p.status, 9)):
        settled = await settle(
            deps,
            session_id,
            PaymentReported(payment=payment, source="reconcile"),
            key=read_key("reconcile", payment),
        )
        changed = changed or settled.decision.changed
        await dispatch_effects(deps, settled.decision.effects, budget=budget())
        if payment.amount_refunded > processed_total(settled.decision.ledger.refunds):
            for answer in await deps.gateway.payment_refunds(payment.id):
                result = await settle(
                    deps,
                    session_id,
                    RefundReported(refund=answer, payment=payment, source="reconcile"),
                    key=f"reconcile:{answer.id}:{answer.status}",
                )
                changed = changed or result.decision.changed
                await dispatch_effects(deps, result.decision.effects, budget=budget())
    for refund in await deps.payments.refunds(session_id):
        if refund.status is RefundStatus.PENDING:
            await dispatch_effects(
                deps,
                await request_refund(deps, session_id=session_id, refund_id=refund.id),
                budget=budget(),
            )
    return changed or (await deps.payments.get(session_id) or session).status is not session.status
