"""Issue 9's defects, each through its use case on the in-memory fakes
(tests/support/payment_fakes.py): ``receive`` and ``settle`` for webhooks, ``create_session``
for checkout, ``create_refund``, ``expire_due`` and ``reconcile`` for the jobs. The fakes keep
stock on hand apart from what sessions hold, coupon uses per session, and the outbox the
dispatcher carries out, so each test reads the end state a merchant would see.

Defects 5 (stock upsert), 9 (lock order) and 11 (cursor) are tested against PostgreSQL and the
GraphQL schema in tests/integration/money_path; 12 (dead letter) in test_outbox_dispatch.py.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from domain.cart import Cart, CartLine
from domain.catalog import Product
from domain.errors import DomainError, ErrorCode
from domain.identity import ADMIN_GROUP, Principal
from domain.offers import Offer, OfferKind
from domain.payment_rules import LATE_PAYMENT_REASON, Holds
from domain.payments import PaymentStatus
from domain.refunds import RefundStatus
from domain.signatures import hmac_sha256_hex
from resolvers.checkout import create_session
from resolvers.payments import expire_due
from resolvers.reconcile import reconcile
from resolvers.refunds import create_refund
from resolvers.webhooks import WebhookAnswer, receive
from tests.support.payment_fakes import (
    DEFAULT_STOCK,
    NOW,
    PRODUCT_ID,
    WEBHOOK_SECRET,
    PaymentFakes,
    gateway_payment,
    payment_deps,
    payment_session,
)
from tests.support.webhooks import event_body, payment_entity

S = PaymentStatus
PAY = "pay_Fake000000001"
ORDER = "order_Fake00000001"
SESSION = payment_session()
ADMIN = Principal(subject="admin-1", username="admin", groups=frozenset({ADMIN_GROUP}))
ASHA = Principal(subject="customer-asha", username="asha", email="asha@example.com")


def refund_entity(amount: int, *, id: str, **changes: Any) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "id": id,
        "entity": "refund",
        "amount": amount,
        "currency": "INR",
        "payment_id": PAY,
        "notes": [],
        "status": "processed",
    }
    entity.update(changes)
    return entity


async def deliver(fakes: PaymentFakes, name: str, event_id: str, **entities: Any) -> WebhookAnswer:
    body = event_body(name, created_at=1_736_942_100, **entities)
    return await receive(
        fakes.deps, body=body, signature=hmac_sha256_hex(WEBHOOK_SECRET, body), event_id=event_id
    )


def published(fakes: PaymentFakes) -> list[str]:
    return [p.event for p in fakes.notifier.published]


# --- defect 2: a late capture re-takes within every limit, else refunds in full ----------------


async def test_a_late_capture_whose_stock_went_elsewhere_is_refunded_in_full() -> None:
    cancelled = replace(SESSION, status=S.CANCELLED)
    fakes = payment_deps(sessions=[cancelled], gateway_payments={PAY: gateway_payment()})
    tee = fakes.payments.products.items[PRODUCT_ID]
    fakes.payments.products.items[PRODUCT_ID] = replace(tee, stock=0, stock_on_hand=1)  # held

    assert await deliver(fakes, "payment.captured", "evt_1", payment=payment_entity()) == (
        WebhookAnswer(200, "applied")
    )

    session = fakes.payments.sessions[SESSION.id]
    assert (session.status, session.captured_amount, session.refunded_amount) == (
        S.REFUNDED,
        11_800,
        11_800,
    )
    [refund] = fakes.payments.refund_rows.values()
    assert (refund.amount, refund.status, refund.reason) == (
        11_800,
        RefundStatus.PROCESSED,
        LATE_PAYMENT_REASON,
    )
    assert fakes.gateway.refund_calls == [(PAY, 11_800, f"late-{PAY}")]
    assert fakes.payments.stock() == (0, 1)  # nothing oversold
    assert fakes.payments.holds[SESSION.id] is Holds.RELEASED
    assert set(published(fakes)) == {"payment.refunding", "payment.review", "refund.processed"}


async def test_a_late_capture_whose_coupon_is_used_up_is_refunded_and_the_limit_holds() -> None:
    """As reproduced: once-per-customer coupon, S1 created → cancelled, S2 paid with it, then
    S1's payment is captured: S1 is refunded, the coupon counts one use."""
    offer = Offer.validated(
        id="7a0d5f8e-1c2b-4e3d-9f4a-5b6c7d8e0001",
        code="ONCE",
        kind=OfferKind.FLAT,
        flat=1_000,
        per_customer_limit=1,
    )
    s1 = replace(SESSION, status=S.CANCELLED, offer_id=offer.id, coupon_code="ONCE")
    s2 = replace(
        payment_session(id="5b0c6a53-0f0e-4b8e-9a53-3b8f5a1c0002", order_id="order_Fake00000002"),
        status=S.PAID,
        offer_id=offer.id,
        coupon_code="ONCE",
        razorpay_payment_id="pay_Fake000000002",
        captured_amount=11_800,
    )
    fakes = payment_deps(
        sessions=[s1, s2], offers=[offer], gateway_payments={PAY: gateway_payment()}
    )

    await deliver(fakes, "payment.captured", "evt_1", payment=payment_entity())

    assert fakes.payments.sessions[s1.id].status is S.REFUNDED
    assert fakes.payments.redemption(s1.id) == "RELEASED"
    uses = await fakes.payments.coupon_usage.counts(
        offer_id=offer.id, customer_id=SESSION.customer_id, now=NOW
    )
    assert uses.customer_used == 1


async def test_a_late_capture_that_can_be_fulfilled_takes_its_stock_and_coupon_again() -> None:
    offer = Offer.validated(
        id="7a0d5f8e-1c2b-4e3d-9f4a-5b6c7d8e0001", code="TEN", kind=OfferKind.FLAT, flat=1_000
    )
    expired = replace(SESSION, status=S.EXPIRED, offer_id=offer.id, coupon_code="TEN")
    fakes = payment_deps(
        sessions=[expired], offers=[offer], gateway_payments={PAY: gateway_payment()}
    )

    await deliver(fakes, "payment.captured", "evt_1", payment=payment_entity())

    session = fakes.payments.sessions[SESSION.id]
    assert (session.status, session.needs_review) == (S.PAID, True)
    assert fakes.payments.stock() == (DEFAULT_STOCK - 1, DEFAULT_STOCK - 1)
    assert fakes.payments.redemption(SESSION.id) == "PAID"
    assert fakes.payments.holds[SESSION.id] is Holds.COMMITTED
    assert fakes.gateway.refund_calls == []


# --- defects 3 and 4: refundedAmount ---------------------------------------------------------


async def test_a_second_partial_refund_is_added_to_refunded_amount() -> None:
    paid = replace(SESSION, status=S.PAID, razorpay_payment_id=PAY, captured_amount=11_800)
    fakes = payment_deps(sessions=[paid], gateway_payments={PAY: gateway_payment()})

    await deliver(fakes, "refund.processed", "evt_1", refund=refund_entity(3_000, id="rfnd_A"))
    await deliver(fakes, "refund.processed", "evt_2", refund=refund_entity(2_000, id="rfnd_B"))

    session = fakes.payments.sessions[SESSION.id]
    assert (session.status, session.refunded_amount) == (S.PARTIALLY_REFUNDED, 5_000)
    assert fakes.sales.days[NOW.date()].refunded_amount == 5_000


async def test_a_refund_delivered_before_its_capture_still_counts() -> None:
    fakes = payment_deps(
        sessions=[SESSION], gateway_payments={PAY: gateway_payment(amount_refunded=5_000)}
    )
    refunded = payment_entity(amount_refunded=5_000)

    answer = await deliver(
        fakes,
        "refund.processed",
        "evt_1",
        refund=refund_entity(5_000, id="rfnd_A"),
        payment=refunded,
    )
    assert answer == WebhookAnswer(200, "applied")
    assert await deliver(fakes, "payment.captured", "evt_2", payment=refunded) == WebhookAnswer(
        200, "applied"
    )

    session = fakes.payments.sessions[SESSION.id]
    assert (session.status, session.captured_amount, session.refunded_amount) == (
        S.PARTIALLY_REFUNDED,
        11_800,
        5_000,
    )
    day = fakes.sales.days[NOW.date()]
    assert (day.paid_count, day.refund_count, day.refunded_amount) == (1, 1, 5_000)


async def test_an_admin_refund_is_asked_once_and_counted() -> None:
    paid = replace(SESSION, status=S.PAID, razorpay_payment_id=PAY, captured_amount=11_800)
    fakes = payment_deps(sessions=[paid], gateway_payments={PAY: gateway_payment()})

    session, refund = await create_refund(
        fakes.deps,
        principal=ADMIN,
        session_id=SESSION.id,
        amount=4_000,
        idempotency_key="admin-key-001",
    )
    again, same = await create_refund(
        fakes.deps,
        principal=ADMIN,
        session_id=SESSION.id,
        amount=4_000,
        idempotency_key="admin-key-001",
    )

    assert (session.status, session.refunded_amount) == (S.PARTIALLY_REFUNDED, 4_000)
    assert (refund.status, same.id) == (RefundStatus.PROCESSED, refund.id)
    assert again.refunded_amount == 4_000
    assert len(fakes.gateway.refund_calls) == 1
    with pytest.raises(DomainError) as too_much:
        await create_refund(
            fakes.deps,
            principal=ADMIN,
            session_id=SESSION.id,
            amount=8_000,
            idempotency_key="admin-key-002",
        )
    assert too_much.value.code is ErrorCode.REFUND_EXCEEDS_CAPTURED


# --- defect 6: one open session per cart ------------------------------------------------------


TEE = Product(
    id=PRODUCT_ID,
    sku="TEE-001",
    title="Tee",
    description="",
    category="apparel",
    price=10_000,
    gst_rate_bp=1800,
    stock=3,
    stock_on_hand=3,
)


def shop() -> PaymentFakes:
    fakes = payment_deps(products=[TEE])
    fakes.payments.cart_store.items[ASHA.subject] = Cart(
        id="cart-asha",
        customer_id=ASHA.subject,
        version=1,
        lines=(CartLine(id="line-1", product_id=PRODUCT_ID, quantity=2),),
    )
    return fakes


async def test_a_new_checkout_of_the_same_cart_cancels_the_earlier_one() -> None:
    fakes = shop()
    first = await create_session(fakes.deps, principal=ASHA, idempotency_key="checkout-0001")
    assert fakes.payments.stock() == (1, 3)

    second = await create_session(fakes.deps, principal=ASHA, idempotency_key="checkout-0002")

    assert fakes.payments.sessions[first.id].status is S.CANCELLED
    assert fakes.payments.holds[first.id] is Holds.RELEASED
    assert (second.status, second.amount, second.razorpay_order_id) == (
        S.CREATED,
        23_600,
        "order_Fake00000002",
    )
    assert fakes.payments.stock() == (1, 3)  # held once, by the newer session
    assert [s.id for s in fakes.payments.sessions.values() if s.status is S.CREATED] == [second.id]
    # the same key again answers the same session
    assert (
        await create_session(fakes.deps, principal=ASHA, idempotency_key="checkout-0002")
    ).id == (second.id)


async def test_a_checkout_while_a_payment_is_authorized_is_refused() -> None:
    fakes = shop()
    first = await create_session(fakes.deps, principal=ASHA, idempotency_key="checkout-0001")
    fakes.payments.sessions[first.id] = replace(
        fakes.payments.sessions[first.id], status=S.AUTHORIZED, razorpay_payment_id=PAY
    )

    with pytest.raises(DomainError) as refused:
        await create_session(fakes.deps, principal=ASHA, idempotency_key="checkout-0002")

    assert refused.value.code is ErrorCode.PAYMENT_IN_PROGRESS
    assert len(fakes.payments.sessions) == 1
    assert fakes.payments.stock() == (1, 3)


async def test_a_checkout_short_of_stock_creates_nothing() -> None:
    fakes = shop()
    fakes.payments.products.items[PRODUCT_ID] = replace(TEE, stock=1)
    with pytest.raises(DomainError) as short:
        await create_session(fakes.deps, principal=ASHA, idempotency_key="checkout-0001")
    assert short.value.code is ErrorCode.OUT_OF_STOCK
    assert fakes.payments.sessions == {}
    assert fakes.payments.stock() == (1, 3)
    assert fakes.payments.rollbacks == 1


async def test_an_order_that_cannot_be_made_fails_the_session_and_frees_everything() -> None:
    fakes = shop()
    fakes.gateway.down = True
    with pytest.raises(DomainError) as down:
        await create_session(fakes.deps, principal=ASHA, idempotency_key="checkout-0001")
    assert down.value.code is ErrorCode.GATEWAY_UNAVAILABLE
    [session] = fakes.payments.sessions.values()
    assert (session.status, session.idempotency_key) == (S.FAILED, None)
    assert fakes.payments.stock() == (3, 3)


# --- defect 7: AUTHORIZED is no dead end ------------------------------------------------------


async def test_a_voided_authorization_fails_the_session_and_gives_its_stock_back() -> None:
    authorized = replace(SESSION, status=S.AUTHORIZED, razorpay_payment_id=PAY)
    fakes = payment_deps(sessions=[authorized])
    assert fakes.payments.stock() == (DEFAULT_STOCK, DEFAULT_STOCK + 1)

    failed = payment_entity(status="failed", captured=False)
    assert await deliver(fakes, "payment.failed", "evt_1", payment=failed) == WebhookAnswer(
        200, "applied"
    )

    assert fakes.payments.sessions[SESSION.id].status is S.FAILED
    assert fakes.payments.holds[SESSION.id] is Holds.RELEASED
    assert fakes.payments.stock() == (DEFAULT_STOCK + 1, DEFAULT_STOCK + 1)


async def test_an_authorized_session_is_not_expired() -> None:
    authorized = replace(
        SESSION, status=S.AUTHORIZED, razorpay_payment_id=PAY, expires_at=NOW - timedelta(hours=1)
    )
    fakes = payment_deps(sessions=[authorized])
    assert await expire_due(fakes.deps) == 0
    assert fakes.payments.sessions[SESSION.id].status is S.AUTHORIZED


# --- defect 8: one session that fails does not stop a job -------------------------------------


async def test_reconciliation_goes_on_past_a_session_that_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    older = NOW - timedelta(hours=1)
    first = payment_session(id="5b0c6a53-0f0e-4b8e-9a53-3b8f5a1c0001", created_at=older)
    second = payment_session(
        id="5b0c6a53-0f0e-4b8e-9a53-3b8f5a1c0002", order_id="order_Fake00000002", created_at=older
    )
    fakes = payment_deps(
        sessions=[first, second],
        gateway_payments={
            "pay_1": gateway_payment(id="pay_1"),
            "pay_2": gateway_payment(id="pay_2", order_id="order_Fake00000002"),
        },
    )
    fakes.payments.faults["persist"] = RuntimeError("a bug in one session")

    with caplog.at_level(logging.ERROR, logger="resolvers.reconcile"):
        assert await reconcile(fakes.deps) == 1

    assert fakes.payments.sessions[first.id].status is S.CREATED
    assert fakes.payments.sessions[second.id].status is S.PAID
    assert [r.levelno for r in caplog.records if r.name == "resolvers.reconcile"] == [logging.ERROR]
    # both had their turn: the next run checks the failed one again
    assert set(fakes.payments.reconciled_at) == {first.id, second.id}
    assert await reconcile(fakes.deps) == 1
    assert fakes.payments.sessions[first.id].status is S.PAID


async def test_reconciliation_finds_a_capture_on_a_recently_closed_session() -> None:
    """Defect 1's other half: a capture on an EXPIRED session whose webhook never landed."""
    expired = replace(SESSION, status=S.EXPIRED, created_at=NOW - timedelta(hours=2))
    fakes = payment_deps(gateway_payments={PAY: gateway_payment()})
    fakes.payments.add(expired, updated_at=NOW - timedelta(hours=1))

    assert await reconcile(fakes.deps) == 1

    session = fakes.payments.sessions[SESSION.id]
    assert (session.status, session.needs_review) == (S.PAID, True)
    assert "payment.review" in published(fakes)


async def test_expiry_goes_on_past_a_session_that_fails() -> None:
    due = NOW - timedelta(minutes=1)
    one = payment_session(
        id="5b0c6a53-0f0e-4b8e-9a53-3b8f5a1c0001", created_at=due - timedelta(minutes=31)
    )
    two = payment_session(
        id="5b0c6a53-0f0e-4b8e-9a53-3b8f5a1c0002",
        order_id="order_Fake00000002",
        created_at=due - timedelta(minutes=30),
    )
    fakes = payment_deps(sessions=[one, two])
    fakes.payments.faults["persist"] = RuntimeError("a bug in one session")

    assert await expire_due(fakes.deps) == 1
    assert [fakes.payments.sessions[s.id].status for s in (one, two)] == [S.CREATED, S.EXPIRED]
    assert await expire_due(fakes.deps) == 1
    assert fakes.payments.sessions[one.id].status is S.EXPIRED
