"""The metrics the use cases record (``resolvers.metrics``), on the in-memory fakes: sessions
created, payments paid and failed, amounts paid and refunded (each once, however often the
event comes), the webhook's lag and its refused signatures."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from domain.cart import Cart, CartLine
from domain.catalog import Product
from domain.effects import Count, CountKind
from domain.identity import Principal
from domain.outbox import message_of
from domain.payments import PaymentStatus
from domain.refunds import Refund, RefundStatus
from domain.signatures import hmac_sha256_hex
from resolvers.checkout import create_session
from resolvers.outbox import dispatch
from resolvers.webhooks import WebhookAnswer, receive
from tests.support.metrics import Recorded, RecordingSink
from tests.support.payment_fakes import (
    NOW,
    PRODUCT_ID,
    WEBHOOK_SECRET,
    PaymentFakes,
    gateway_payment,
    payment_deps,
    payment_session,
)
from tests.support.webhooks import event_body, payment_entity

SESSION = payment_session()
PAY = "pay_Fake000000001"
ASHA = Principal(subject="customer-asha", username="asha", email="asha@example.com")
PAYMENT_METRICS = {"PaymentsPaid", "PaymentsFailed", "AmountPaid", "AmountRefunded"}


async def deliver(fakes: PaymentFakes, body: bytes, *, event_id: str) -> WebhookAnswer:
    signature = hmac_sha256_hex(WEBHOOK_SECRET, body)
    return await receive(fakes.deps, body=body, signature=signature, event_id=event_id)


def captured(created_at: int) -> bytes:
    return event_body("payment.captured", created_at=created_at, payment=payment_entity())


def money(recorded: RecordingSink) -> list[Recorded]:
    return [r for r in recorded.recorded if r.name in PAYMENT_METRICS]


async def test_a_paid_payment_is_counted_once_however_often_it_is_reported(
    recorded: RecordingSink,
) -> None:
    fakes = payment_deps(sessions=[SESSION], gateway_payments={PAY: gateway_payment()})
    now = int(NOW.timestamp())
    assert await deliver(fakes, captured(now - 2), event_id="evt_1") == WebhookAnswer(
        200, "applied"
    )
    assert money(recorded) == [
        Recorded("PaymentsPaid", 1, "Count"),
        Recorded("AmountPaid", 11_800, "None"),
    ]
    # a redelivery, another event id for the same capture, and the read-back: counted already
    assert (await deliver(fakes, captured(now - 2), event_id="evt_1")).detail == "duplicate"
    assert (await deliver(fakes, captured(now - 1), event_id="evt_2")).status == 200
    await dispatch(fakes.deps)
    assert money(recorded) == [
        Recorded("PaymentsPaid", 1, "Count"),
        Recorded("AmountPaid", 11_800, "None"),
    ]


async def test_a_signed_webhook_records_its_lag_behind_razorpay(recorded: RecordingSink) -> None:
    fakes = payment_deps(sessions=[SESSION], gateway_payments={PAY: gateway_payment()})
    await deliver(fakes, captured(int(NOW.timestamp()) - 3), event_id="evt_1")
    assert recorded.named("WebhookLag") == [Recorded("WebhookLag", 3_000.0, "Milliseconds")]
    assert recorded.named("WebhookSignatureFailures") == []


async def test_a_webhook_refused_for_its_signature_is_counted(recorded: RecordingSink) -> None:
    fakes = payment_deps(sessions=[SESSION])
    body = captured(int(NOW.timestamp()))
    for signature in (None, "junk", hmac_sha256_hex("another_secret", body)):
        answer = await receive(fakes.deps, body=body, signature=signature, event_id="evt_1")
        assert answer == WebhookAnswer(400, "invalid signature")
    assert recorded.recorded == [Recorded("WebhookSignatureFailures", 1, "Count")] * 3


async def test_a_failed_payment_is_counted_once(recorded: RecordingSink) -> None:
    fakes = payment_deps(sessions=[SESSION])
    failed = payment_entity(status="failed", captured=False, error_code="BAD_REQUEST_ERROR")
    body = event_body("payment.failed", created_at=int(NOW.timestamp()), payment=failed)
    assert (await deliver(fakes, body, event_id="evt_f1")).detail == "applied"
    assert (await deliver(fakes, body, event_id="evt_f2")).detail == "applied"
    assert money(recorded) == [Recorded("PaymentsFailed", 1, "Count")]


async def test_a_processed_refund_counts_its_amount_once(recorded: RecordingSink) -> None:
    session = replace(
        SESSION,
        status=PaymentStatus.PAID,
        razorpay_payment_id=PAY,
        captured_amount=11_800,
        paid_at=NOW - timedelta(minutes=1),
    )
    fakes = payment_deps(sessions=[session], gateway_payments={PAY: gateway_payment()})
    refund = Refund(
        id="9d1f7c9e-5a0b-4c1d-8e2f-000000000001",
        session_id=SESSION.id,
        amount=5_000,
        currency="INR",
        status=RefundStatus.PENDING,
        idempotency_key="refund-key-0001",
        reason="damaged",
        razorpay_refund_id=None,
        created_at=NOW - timedelta(seconds=30),
    )
    fakes.payments.refund_rows[refund.id] = refund
    entity = {
        "id": "rfnd_Fake00000001",
        "entity": "refund",
        "amount": 5_000,
        "currency": "INR",
        "payment_id": PAY,
        "notes": {"payment_session_id": SESSION.id, "refund_id": refund.id},
        "status": "processed",
    }
    body = event_body(
        "refund.processed",
        created_at=int(NOW.timestamp()),
        refund=entity,
        payment=payment_entity(amount_refunded=5_000),
    )
    assert (await deliver(fakes, body, event_id="evt_r1")).detail == "applied"
    assert (await deliver(fakes, body, event_id="evt_r2")).status == 200
    assert money(recorded) == [Recorded("AmountRefunded", 5_000, "None")]


async def test_a_counter_the_sales_table_had_counted_before_is_not_counted_again(
    recorded: RecordingSink,
) -> None:
    """A dispatcher that died between the DynamoDB write and its mark carries the message out
    again: the counter answers "counted before", and so is the metric."""
    fakes = payment_deps()
    count = Count(key="paid:s9", kind=CountKind.PAID, day=date(2025, 1, 15), amount=700)
    await fakes.sales.record_paid(day=count.day, amount=700, event_key="paid:s9")
    fakes.outbox.add(message_of(count), now=NOW)
    assert (await dispatch(fakes.deps)).sent == 1
    assert money(recorded) == []


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


async def test_a_new_payment_session_is_counted_once_per_idempotency_key(
    recorded: RecordingSink,
) -> None:
    fakes = payment_deps(products=[TEE])
    fakes.payments.cart_store.items[ASHA.subject] = Cart(
        id="cart-asha",
        customer_id=ASHA.subject,
        version=1,
        lines=(CartLine(id="line-1", product_id=PRODUCT_ID, quantity=2),),
    )
    first = await create_session(fakes.deps, principal=ASHA, idempotency_key="checkout-0001")
    again = await create_session(fakes.deps, principal=ASHA, idempotency_key="checkout-0001")
    assert again.id == first.id
    assert recorded.named("PaymentSessionsCreated") == [
        Recorded("PaymentSessionsCreated", 1, "Count")
    ]
