"""paymentSessionCreate: price the cart on the server, reserve, store, create the Razorpay order.

All or nothing in one database transaction (cart locked, stock and coupon use reserved, session
stored); then the Razorpay order for exactly the session's amount, outside the transaction. If
Razorpay fails or times out the session is closed FAILED, every reservation is released and the
idempotency key is freed, so a retry with it starts afresh. Concurrent requests of one customer
wait for each other (the customer's lock in the repository); one key answers one session and
order, and a cart has at most one open session (a new one cancels the earlier, API.md).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import replace
from datetime import timedelta

from domain.cart import Cart, CartView, view_cart
from domain.catalog import Product
from domain.errors import DomainError, ErrorCode
from domain.gateway import PaymentGatewayError
from domain.identity import Principal
from domain.payment_rules import Close, decide
from domain.payment_session import (
    PaymentSession,
    SessionLine,
    cart_fingerprint,
    check_cart_version,
    check_payable_total,
    order_notes,
    paid_quantities,
    replay_or_refuse,
    validate_idempotency_key,
)
from domain.payments import PaymentEventKind, PaymentStatus
from domain.pii import PiiError
from domain.ports import CheckoutTransaction
from domain.pricing import MAX_CART_TOTAL, PricedCart
from resolvers import metrics
from resolvers.deps import Deps
from resolvers.payment_events import record, settle

logger = logging.getLogger(__name__)

ORDER_WAIT_POLL_SECONDS = 0.05


def gateway_unavailable(
    message: str = "the payment gateway is unavailable; try again",
) -> DomainError:
    return DomainError(message, code=ErrorCode.GATEWAY_UNAVAILABLE)


async def create_session(
    deps: Deps,
    *,
    principal: Principal,
    idempotency_key: str,
    expected_cart_version: int | None = None,
    expected_amount: int | None = None,
) -> PaymentSession:
    key = validate_idempotency_key(idempotency_key)
    contact = await _sealed_contact(deps, principal)  # before the transaction: no KMS call in it
    async with deps.payments.checkout(customer_id=principal.subject, idempotency_key=key) as tx:
        existing = await tx.existing()
        if existing is None:
            await _close_open_sessions(deps, tx)
        cart, products = await tx.cart()
        if existing is not None:
            replayed = replay_or_refuse(existing, fingerprint=cart_fingerprint(cart))
        else:
            replayed = None
            session = await _reserve_and_store(
                deps,
                tx,
                principal=principal,
                key=key,
                contact=contact,
                expected=expected_cart_version,
                expected_amount=expected_amount,
                cart=cart,
                products=products,
            )
    if replayed is not None:
        return await _await_order(deps, replayed)
    # the session's first note is written while Razorpay makes the order (it needs nothing
    # of it): one timeline round trip less to wait for. It takes its time and sort key when it
    # starts, before the order exists, so it sorts first whatever comes next.
    noted = asyncio.create_task(
        record(deps, session.id, "session.created", "customer", f"amount {session.amount}")
    )
    try:
        created = await _create_order(deps, session)
    finally:
        await noted  # best effort: record() logs a timeline failure and never raises it
    metrics.record(metrics.PAYMENT_SESSIONS_CREATED)
    await record(deps, session.id, "order.created", "system", created.razorpay_order_id)
    return created


async def _sealed_contact(deps: Deps, principal: Principal) -> tuple[str | None, str | None]:
    """The caller's e-mail and phone sealed for storage (domain.pii). If they cannot be sealed
    now (KMS unreachable) the session is stored without them, never with them in plain text:
    the checkout goes on without a prefill, and its notifications without a contact."""
    try:
        email = await deps.pii.seal(principal.email, customer_id=principal.subject)
        phone = await deps.pii.seal(principal.phone_number, customer_id=principal.subject)
    except PiiError as exc:
        logger.error("customer contact not stored: sealing failed: %s", exc.message)
        return None, None
    return email, phone


async def _close_open_sessions(deps: Deps, tx: CheckoutTransaction) -> None:
    """A cart has at most one open payment session: a new checkout cancels the earlier one
    (CREATED or ATTEMPTED) in its own transaction, releasing what it held; an AUTHORIZED one
    has money on its way, so the new checkout is refused."""
    now = deps.clock.now()
    for earlier in await tx.open_sessions():
        if earlier.ledger.session.status is PaymentStatus.AUTHORIZED:
            raise DomainError(
                "a payment for this cart is being completed: wait for it to finish",
                code=ErrorCode.PAYMENT_IN_PROGRESS,
            )
        decision = decide(
            earlier.ledger,
            Close(
                kind=PaymentEventKind.CANCEL,
                source="customer",
                reason="replaced by a newer checkout of the same cart",
            ),
            now=now,
            key=f"checkout:{uuid.uuid4()}",
        )
        await earlier.persist(decision, now=now)


async def _reserve_and_store(
    deps: Deps,
    tx: CheckoutTransaction,
    *,
    principal: Principal,
    key: str,
    contact: tuple[str | None, str | None],
    expected: int | None,
    expected_amount: int | None,
    cart: Cart,
    products: dict[str, Product],
) -> PaymentSession:
    now = deps.clock.now()
    _check_cart_is_payable(cart, products, expected=expected)
    offer = await tx.offer(cart.coupon_code) if cart.coupon_code else None
    usage = await tx.usage(offer_id=offer.id, now=now) if offer is not None else None
    view = view_cart(cart, products=products, offer=offer, usage=usage, now=now)
    _check_priced_cart(view.priced, expected_amount=expected_amount)
    coupon = view.priced.coupon
    lines = _session_lines(view)
    quantities = paid_quantities(lines)
    await tx.reserve_stock(quantities, skus={line.product_id: line.sku for line in lines})
    session = PaymentSession(
        id=str(uuid.uuid4()),
        customer_id=principal.subject,
        customer_email=contact[0],
        customer_contact=contact[1],
        status=PaymentStatus.CREATED,
        currency=deps.checkout.currency,
        subtotal=view.priced.subtotal,
        discount=view.priced.discount,
        tax=view.priced.tax,
        amount=view.priced.total,
        coupon_code=coupon.code if coupon is not None else None,
        offer_id=offer.id if offer is not None and coupon is not None else None,
        lines=lines,
        razorpay_order_id=None,
        razorpay_payment_id=None,
        idempotency_key=key,
        fingerprint=cart_fingerprint(cart),
        cart_id=cart.id,
        cart_version=cart.version,
        created_at=now,
        expires_at=now + timedelta(minutes=deps.checkout.ttl_minutes),
    )
    await tx.insert(session, stock=quantities)
    return session


def _check_cart_is_payable(
    cart: Cart, products: dict[str, Product], *, expected: int | None
) -> None:
    """Before pricing: the cart has lines, is the version the client saw, and sells only
    products still on sale."""
    if not cart.lines:
        raise DomainError("the cart is empty", code=ErrorCode.CART_EMPTY)
    check_cart_version(cart, expected=expected)
    for index, line in enumerate(cart.lines):
        product = products.get(line.product_id)
        if product is None or not product.active:
            raise DomainError(
                "a product in the cart is no longer sold: remove it",
                code=ErrorCode.PRODUCT_NOT_FOUND,
                field=["cart", "lines", str(index)],
            )


def _check_priced_cart(priced: PricedCart, *, expected_amount: int | None) -> None:
    """After pricing: its coupon applies, and the total is payable, the one the client saw and
    within the limit."""
    coupon = priced.coupon
    if coupon is not None and not coupon.applicable:
        reason = coupon.reason.value if coupon.reason else "NOT_APPLICABLE"
        raise DomainError(
            f"coupon {coupon.code} cannot be used ({reason}): remove it or change the cart",
            code=ErrorCode.COUPON_INVALID,
            field=["cart", "coupon"],
        )
    check_payable_total(priced.total)
    if expected_amount is not None and expected_amount != priced.total:
        raise DomainError(
            f"the total is now {priced.total} paise, not {expected_amount}: review the cart",
            code=ErrorCode.AMOUNT_MISMATCH,
            field=["input", "expectedAmount"],
        )
    if priced.total > MAX_CART_TOTAL:
        raise DomainError("the cart total is above the limit", code=ErrorCode.CART_TOTAL_LIMIT)


def _session_lines(view: CartView) -> tuple[SessionLine, ...]:
    """The priced lines as the session keeps them: what was sold, at what price and tax."""
    return tuple(
        SessionLine(
            product_id=v.product.id,
            sku=v.product.sku,
            title=v.product.title,
            quantity=v.line.quantity,
            unit_price=v.unit_price,
            gst_rate_bp=v.product.gst_rate_bp,
            subtotal=v.priced.subtotal,
            discount=v.priced.discount,
            tax=v.priced.tax,
            total=v.priced.total,
        )
        for v in view.lines
    )


async def _create_order(deps: Deps, session: PaymentSession) -> PaymentSession:
    try:
        order = await deps.gateway.create_order(
            amount=session.amount,
            currency=session.currency,
            receipt=session.id,
            notes=order_notes(session),
        )
    except PaymentGatewayError as exc:
        logger.warning("order create failed for session %s: %s", session.id, exc)
        await _give_up(deps, session.id, f"gateway unavailable: {exc}")
        raise gateway_unavailable() from exc
    if order.amount != session.amount or order.currency != session.currency:
        # never hand the customer an order for another amount
        await _give_up(
            deps,
            session.id,
            f"gateway order {order.id} has amount {order.amount} {order.currency}",
        )
        raise DomainError(
            "the payment gateway answered another amount", code=ErrorCode.AMOUNT_MISMATCH
        )
    return await _attach(deps, session, order.id)


async def _attach(deps: Deps, session: PaymentSession, order_id: str) -> PaymentSession:
    """Store the order on the session, unless the session was closed meanwhile (cancelled
    while the order was being made): then the order is left unpaid and the caller is told."""
    if not await deps.payments.attach_order(session.id, order_id=order_id, now=deps.clock.now()):
        current = await deps.payments.get(session.id)
        if current is not None and current.razorpay_order_id == order_id:
            return current
        raise DomainError(
            "the payment session was closed while it was being set up",
            code=ErrorCode.PAYMENT_SESSION_CLOSED,
        )
    return replace(session, razorpay_order_id=order_id)


async def recover_order(deps: Deps, session: PaymentSession) -> PaymentSession:
    """A session stored without its order (the process died in between): find the order
    Razorpay made for it (receipt = session id) or give the session up, freeing its key and
    reservations, so a retry starts afresh. Used by replays that waited too long and by the
    reconciliation job."""
    try:
        orders = await deps.gateway.orders_by_receipt(session.id)
    except PaymentGatewayError as exc:
        raise gateway_unavailable() from exc
    usable = [o for o in orders if o.amount == session.amount and o.currency == session.currency]
    if usable:
        attached = await _attach(deps, session, usable[0].id)
        await record(deps, session.id, "order.recovered", "system", usable[0].id)
        return attached
    await _give_up(deps, session.id, "no order was made for this session")
    raise gateway_unavailable("setting up the payment failed; try again")


async def _give_up(deps: Deps, session_id: str, reason: str) -> None:
    """Close a session whose order could not be made: FAILED, reservations released, its
    idempotency key freed so that a retry with it starts afresh."""
    await settle(
        deps,
        session_id,
        Close(
            kind=PaymentEventKind.FAIL,
            source="system",
            reason=reason,
            free_idempotency_key=True,
        ),
    )


async def _await_order(deps: Deps, session: PaymentSession) -> PaymentSession:
    """A replay while the first request is still creating the Razorpay order: wait for it."""
    deadline = asyncio.get_running_loop().time() + deps.checkout.order_wait_seconds
    current: PaymentSession | None = session
    while current is not None and current.awaiting_order:
        if asyncio.get_running_loop().time() > deadline:
            return await recover_order(deps, current)
        await asyncio.sleep(ORDER_WAIT_POLL_SECONDS)
        current = await deps.payments.get(session.id)
    if current is None or (current.razorpay_order_id is None):
        raise gateway_unavailable()
    return current
