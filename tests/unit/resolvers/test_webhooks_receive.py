"""``POST /webhooks/razorpay``'s use case on in-memory fakes (tests/support/payment_fakes.py).

Signature before parsing; the event id recorded in the event's own transaction (a redelivery
answers ``duplicate`` and changes nothing; a failure or a killed worker leaves nothing
recorded, so the redelivery applies it); the routing of each event through ``settle`` down to
the stored session, its holds and its outbox, carried out inline by the dispatcher.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from domain.cart import Cart, CartLine
from domain.gateway import GatewayRefund
from domain.outbox import OutboxKind
from domain.payment_ports import NotificationError
from domain.payment_rules import Holds
from domain.payments import PaymentStatus
from domain.refunds import Refund, RefundStatus
from domain.signatures import hmac_sha256_hex
from resolvers.outbox import dispatch_all
from resolvers.webhooks import WebhookAnswer, receive
from tests.support.fakes import FixedClock
from tests.support.payment_fakes import (
    DEFAULT_STOCK,
    PREVIOUS_WEBHOOK_SECRET,
    PRODUCT_ID,
    WEBHOOK_SECRET,
    PaymentFakes,
    gateway_payment,
    payment_deps,
    payment_session,
)
from tests.support.webhooks import event_body, payment_entity

S = PaymentStatus
NOW = FixedClock().at
SESSION = payment_session()
ORDER = "order_Fake00000001"
PAY = "pay_Fake000000001"


def refund_entity(**changes: Any) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "id": "rfnd_Fake00000001",
        "entity": "refund",
        "amount": 5_000,
        "currency": "INR",
        "payment_id": PAY,
        "notes": [],
        "status": "processed",
        "speed_processed": "normal",
        "created_at": 1_736_943_000,
    }
    entity.update(changes)
    return entity


def body_of(name: str, **entities: dict[str, Any]) -> bytes:
    return event_body(name, created_at=1_736_942_100, **entities)


CAPTURED = body_of("payment.captured", payment=payment_entity())


async def deliver(
    fakes: PaymentFakes,
    body: bytes,
    *,
    event_id: str | None = "evt_0001",
    secret: str = WEBHOOK_SECRET,
) -> WebhookAnswer:
    return await receive(
        fakes.deps, body=body, signature=hmac_sha256_hex(secret, body), event_id=event_id
    )


OTHER_PRODUCT = "0f6c2b1e-7d6a-4a57-9c39-2f1b9a0e0002"
CART = Cart(
    id=SESSION.cart_id,
    customer_id=SESSION.customer_id,
    version=3,
    lines=(
        CartLine(id="line-tee", product_id=PRODUCT_ID, quantity=1),
        CartLine(id="line-other", product_id=OTHER_PRODUCT, quantity=2),  # added after checkout
    ),
)


def created() -> PaymentFakes:
    fakes = payment_deps(sessions=[SESSION], gateway_payments={PAY: gateway_payment()})
    fakes.payments.cart_store.items[SESSION.customer_id] = CART
    return fakes


def unchanged(fakes: PaymentFakes) -> bool:
    """Nothing of the event was stored: the session, no event id, no outbox message."""
    return (
        fakes.payments.sessions[SESSION.id] == SESSION
        and fakes.payments.events == {}
        and fakes.outbox.rows == {}
        and fakes.payments.holds[SESSION.id] is Holds.HELD
    )


def paid(**changes: Any) -> PaymentFakes:
    session = replace(
        SESSION,
        status=S.PAID,
        razorpay_payment_id=PAY,
        captured_amount=11_800,
        paid_at=NOW - timedelta(minutes=1),
        **changes,
    )
    fakes = payment_deps(sessions=[session])
    fakes.gateway.payments[PAY] = gateway_payment()
    return fakes


def pending_refund(*, amount: int = 5_000) -> Refund:
    return Refund(
        id="9d1f7c9e-5a0b-4c1d-8e2f-000000000001",
        session_id=SESSION.id,
        amount=amount,
        currency="INR",
        status=RefundStatus.PENDING,
        idempotency_key="refund-key-0001",
        reason="damaged",
        razorpay_refund_id=None,
        created_at=NOW - timedelta(seconds=30),
    )


# --- signature ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "not-hex-at-all",
        hmac_sha256_hex("another_secret", CAPTURED),
        hmac_sha256_hex(WEBHOOK_SECRET, CAPTURED + b" "),
    ],
    ids=["missing", "empty", "junk", "other-secret", "other-body"],
)
async def test_a_bad_signature_is_refused_before_anything_happens(signature: str | None) -> None:
    fakes = created()
    answer = await receive(fakes.deps, body=CAPTURED, signature=signature, event_id="evt_0001")
    assert answer == WebhookAnswer(400, "invalid signature")
    assert unchanged(fakes)
    assert fakes.timeline.entries == []


@pytest.mark.parametrize("secret", [WEBHOOK_SECRET, PREVIOUS_WEBHOOK_SECRET])
async def test_the_current_and_the_previous_secret_are_accepted(secret: str) -> None:
    fakes = created()
    assert await deliver(fakes, CAPTURED, secret=secret) == WebhookAnswer(200, "applied")
    assert fakes.payments.sessions[SESSION.id].status is S.PAID


async def test_without_configured_secrets_nothing_is_accepted() -> None:
    fakes = payment_deps(sessions=[SESSION], webhook_secrets=("",))
    answer = await deliver(fakes, CAPTURED, secret="")
    assert answer == WebhookAnswer(400, "invalid signature")
    assert unchanged(fakes)


# --- malformed bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{not json", "malformed event: not JSON"),
        (b"[]", "malformed event: no event name"),
        (body_of("payment.captured"), "malformed event: payment.captured without a payment"),
        (
            body_of("payment.captured", payment=payment_entity(amount="11800")),
            "malformed event: amount is not an integer",
        ),
    ],
)
async def test_a_signed_but_malformed_event_is_refused_unrecorded(body: bytes, detail: str) -> None:
    fakes = created()
    assert await deliver(fakes, body) == WebhookAnswer(400, detail)
    assert unchanged(fakes)


# --- the event id, recorded with the change -----------------------------------------------------


def state(fakes: PaymentFakes) -> tuple[object, ...]:
    return (
        fakes.payments.sessions[SESSION.id],
        dict(fakes.payments.events),
        dict(fakes.payments.refund_rows),
        fakes.outbox.dedupe_keys(),
        list(fakes.timeline.entries),
        list(fakes.notifier.published),
        dict(fakes.sales.days),
        fakes.payments.stock(),
    )


async def test_a_redelivery_is_answered_duplicate_and_changes_nothing() -> None:
    fakes = created()
    assert await deliver(fakes, CAPTURED) == WebhookAnswer(200, "applied")
    before = state(fakes)

    assert await deliver(fakes, CAPTURED) == WebhookAnswer(200, "duplicate")
    assert state(fakes) == before
    assert list(fakes.payments.events) == ["webhook:evt_0001"]


@pytest.mark.parametrize(
    ("event_id", "key"),
    [
        ("evt_0001", "evt_0001"),
        ("  evt_0001\t", "evt_0001"),
        ("e" * 200, "e" * 128),
        (None, "body-" + hashlib.sha256(CAPTURED).hexdigest()),
        ("   ", "body-" + hashlib.sha256(CAPTURED).hexdigest()),
    ],
    ids=["plain", "padded", "long", "missing", "blank"],
)
async def test_the_recorded_key_is_the_event_id_or_else_the_body_digest(
    event_id: str | None, key: str
) -> None:
    fakes = created()
    assert await deliver(fakes, CAPTURED, event_id=event_id) == WebhookAnswer(200, "applied")
    assert list(fakes.payments.events) == [f"webhook:{key}"]
    assert fakes.payments.events[f"webhook:{key}"] == (SESSION.id, "webhook")
    assert await deliver(fakes, CAPTURED, event_id=event_id) == WebhookAnswer(200, "duplicate")


async def test_events_with_different_ids_are_recorded_separately() -> None:
    fakes = created()
    assert await deliver(fakes, CAPTURED, event_id="evt_0001") == WebhookAnswer(200, "applied")
    # a second event about the same capture: handled, and the rules make it a no-op
    assert await deliver(fakes, CAPTURED, event_id="evt_0002") == WebhookAnswer(200, "applied")
    assert set(fakes.payments.events) == {"webhook:evt_0001", "webhook:evt_0002"}
    assert fakes.payments.sessions[SESSION.id].status is S.PAID
    assert fakes.timeline.types(SESSION.id).count("status.PAID") == 1
    assert [p.event for p in fakes.notifier.published] == ["payment.paid", "payment.paid"]


async def test_with_the_database_down_the_event_is_refused_for_a_retry() -> None:
    fakes = created()
    fakes.payments.down = True
    assert await deliver(fakes, CAPTURED) == WebhookAnswer(503, "try again")
    fakes.payments.down = False
    assert unchanged(fakes)
    assert fakes.timeline.entries == []

    assert await deliver(fakes, CAPTURED) == WebhookAnswer(200, "applied")
    assert fakes.payments.sessions[SESSION.id].status is S.PAID


@pytest.mark.parametrize("step", ["record_event", "persist", "commit"])
async def test_a_failure_inside_settle_answers_500_and_leaves_nothing_recorded(step: str) -> None:
    fakes = created()
    fakes.payments.faults[step] = RuntimeError("boom")
    assert await deliver(fakes, CAPTURED) == WebhookAnswer(500, "failed")
    assert unchanged(fakes)
    assert fakes.payments.rollbacks == 1

    # Razorpay's redelivery: applied, once
    assert await deliver(fakes, CAPTURED) == WebhookAnswer(200, "applied")
    session = fakes.payments.sessions[SESSION.id]
    assert (session.status, session.captured_amount) == (S.PAID, 11_800)
    assert fakes.payments.holds[SESSION.id] is Holds.COMMITTED
    assert fakes.sales.days[NOW.date()].paid_count == 1


@pytest.mark.parametrize("step", ["record_event", "persist", "commit"])
async def test_a_worker_killed_mid_event_leaves_nothing_and_the_redelivery_applies_it(
    step: str,
) -> None:
    """Defect 1: a cancelled handler (Lambda timeout, deploy) never leaves a claim behind."""
    fakes = created()
    fakes.payments.faults[step] = asyncio.CancelledError()
    with pytest.raises(asyncio.CancelledError):
        await deliver(fakes, CAPTURED)
    assert unchanged(fakes)

    assert await deliver(fakes, CAPTURED) == WebhookAnswer(200, "applied")
    assert fakes.payments.sessions[SESSION.id].status is S.PAID


async def test_a_kill_between_commit_and_answer_is_applied_exactly_once() -> None:
    fakes = created()
    fakes.payments.faults["committed"] = asyncio.CancelledError()
    with pytest.raises(asyncio.CancelledError):
        await deliver(fakes, CAPTURED)
    assert fakes.payments.sessions[SESSION.id].status is S.PAID  # committed
    assert fakes.notifier.published == []  # the effects wait in the outbox

    assert await deliver(fakes, CAPTURED) == WebhookAnswer(200, "duplicate")
    await dispatch_all(fakes.deps)  # the dispatcher job finishes the work
    assert sorted(p.dedupe_key for p in fakes.notifier.published) == [
        f"paid:{SESSION.id}:admin",
        f"paid:{SESSION.id}:customer",
    ]
    assert fakes.sales.days[NOW.date()].paid_count == 1
    assert fakes.timeline.types(SESSION.id).count("status.PAID") == 1


async def test_a_capture_on_an_expired_session_killed_mid_event_is_not_lost() -> None:
    """Defect 1 as reproduced: pay → expire → ``payment.captured`` with the handler cancelled
    → redeliver: the money is on the session and admins are told."""
    expired = replace(SESSION, status=S.EXPIRED)
    fakes = payment_deps(sessions=[expired], gateway_payments={PAY: gateway_payment()})
    fakes.payments.faults["persist"] = asyncio.CancelledError()
    with pytest.raises(asyncio.CancelledError):
        await deliver(fakes, CAPTURED)
    assert fakes.payments.sessions[SESSION.id] == expired
    assert fakes.payments.events == {}

    assert await deliver(fakes, CAPTURED) == WebhookAnswer(200, "applied")
    session = fakes.payments.sessions[SESSION.id]
    assert (session.status, session.captured_amount, session.needs_review) == (S.PAID, 11_800, True)
    assert fakes.payments.stock() == (DEFAULT_STOCK - 1, DEFAULT_STOCK - 1)  # taken again
    assert "payment.review" in [p.event for p in fakes.notifier.published]


# --- routing: payment events -------------------------------------------------------------------


async def test_a_captured_payment_marks_the_session_paid() -> None:
    fakes = created()
    assert await deliver(fakes, CAPTURED) == WebhookAnswer(200, "applied")

    session = fakes.payments.sessions[SESSION.id]
    assert (session.status, session.razorpay_payment_id, session.captured_amount) == (
        S.PAID,
        PAY,
        11_800,
    )
    assert session.paid_at == NOW
    assert not session.needs_review
    assert fakes.payments.holds[SESSION.id] is Holds.COMMITTED
    assert fakes.payments.stock() == (DEFAULT_STOCK, DEFAULT_STOCK)  # the held unit left
    assert fakes.payments.carts_emptied == [SESSION.id]
    cart = fakes.payments.cart_store.items[SESSION.customer_id]
    assert (cart.version, cart.lines) == (4, CART.lines[1:])  # what was paid for left
    assert {r.kind for r in fakes.outbox.rows.values()} == {
        OutboxKind.NOTIFY_CUSTOMER,
        OutboxKind.NOTIFY_ADMIN,
        OutboxKind.COUNT,
        OutboxKind.TIMELINE,
        OutboxKind.SYNC,
    }
    assert fakes.outbox.unsent() == []  # carried out before the answer
    assert [(e.type, e.source, e.detail) for e in fakes.timeline.entries] == [
        ("webhook.payment.captured", "webhook", f"{PAY}: captured 11800 INR"),
        ("status.PAID", "webhook", f"CREATED → PAID on PAYMENT_CAPTURED ({PAY})"),
    ]
    assert fakes.gateway.captures == []


async def test_order_paid_is_a_capture_too() -> None:
    fakes = created()
    body = body_of(
        "order.paid",
        payment=payment_entity(),
        order={"id": ORDER, "entity": "order", "amount": 11_800, "status": "paid"},
    )
    assert await deliver(fakes, body) == WebhookAnswer(200, "applied")
    assert fakes.payments.sessions[SESSION.id].status is S.PAID
    assert fakes.timeline.types(SESSION.id) == ["webhook.order.paid", "status.PAID"]


async def test_an_authorized_payment_is_captured_then_paid() -> None:
    authorized = gateway_payment(status="authorized")
    fakes = payment_deps(sessions=[SESSION], gateway_payments={PAY: authorized})
    body = body_of(
        "payment.authorized", payment=payment_entity(status="authorized", captured=False)
    )
    assert await deliver(fakes, body) == WebhookAnswer(200, "applied")

    assert fakes.gateway.captures == [(PAY, 11_800)]
    assert fakes.payments.sessions[SESSION.id].status is S.PAID
    assert [(e.type, e.source) for e in fakes.timeline.entries] == [
        ("webhook.payment.authorized", "webhook"),
        ("status.AUTHORIZED", "webhook"),
        ("payment.capture", "capture"),
        ("status.PAID", "capture"),
    ]


async def test_a_failed_attempt_leaves_the_session_payable() -> None:
    fakes = created()
    body = body_of(
        "payment.failed",
        payment=payment_entity(
            status="failed",
            captured=False,
            error_code="BAD_REQUEST_ERROR",
            error_description="Payment failed",
        ),
    )
    assert await deliver(fakes, body) == WebhookAnswer(200, "applied")
    assert fakes.payments.sessions[SESSION.id].status is S.ATTEMPTED
    assert fakes.payments.holds[SESSION.id] is Holds.HELD
    assert fakes.timeline.entries[0].detail == f"{PAY}: failed 11800 INR"


async def test_a_payment_that_does_not_match_is_recorded_not_trusted() -> None:
    fakes = created()
    body = body_of("payment.captured", payment=payment_entity(amount=100))
    assert await deliver(fakes, body) == WebhookAnswer(200, "applied")

    session = fakes.payments.sessions[SESSION.id]
    assert session.status is S.CREATED
    assert session.needs_review  # money was captured: admins look at it
    assert session.captured_amount == 0
    assert fakes.payments.holds[SESSION.id] is Holds.HELD
    assert [(e.type, e.source) for e in fakes.timeline.entries] == [
        ("webhook.payment.captured", "webhook"),
        ("payment.mismatch", "webhook"),
        ("refused.PAYMENT_MISMATCH", "webhook"),
        ("review.needed", "webhook"),
    ]


@pytest.mark.parametrize(
    "payment",
    [payment_entity(order_id="order_SomeoneElse1"), payment_entity(order_id=None)],
    ids=["other-order", "no-order"],
)
async def test_a_payment_for_an_order_that_is_not_ours(payment: dict[str, Any]) -> None:
    fakes = created()
    body = body_of("payment.captured", payment=payment)
    assert await deliver(fakes, body) == WebhookAnswer(200, "not ours")
    assert fakes.payments.sessions[SESSION.id] == SESSION
    assert fakes.timeline.entries == []
    assert fakes.payments.events == {}


async def test_refunds_reported_with_a_payment_are_brought_in() -> None:
    fakes = paid()
    fakes.gateway.payments[PAY] = gateway_payment(amount_refunded=5_000)
    # made in the Razorpay dashboard: this API has no row for it yet
    fakes.gateway.refunds["rfnd_Dashboard001"] = GatewayRefund(
        id="rfnd_Dashboard001", payment_id=PAY, amount=5_000, currency="INR", status="processed"
    )
    body = body_of("payment.captured", payment=payment_entity(amount_refunded=5_000))
    assert await deliver(fakes, body) == WebhookAnswer(200, "applied")

    session = fakes.payments.sessions[SESSION.id]
    assert (session.status, session.refunded_amount) == (S.PARTIALLY_REFUNDED, 5_000)
    [refund] = fakes.payments.refund_rows.values()
    assert (refund.razorpay_refund_id, refund.amount, refund.status) == (
        "rfnd_Dashboard001",
        5_000,
        RefundStatus.PROCESSED,
    )
    # the webhook's word is read back from Razorpay, which names the refund this API missed
    assert ("refund.processed", "sync") in [(e.type, e.source) for e in fakes.timeline.entries]


# --- routing: refund events --------------------------------------------------------------------


async def test_a_processed_refund_moves_the_session_forward() -> None:
    fakes = paid()
    refund = pending_refund()
    fakes.payments.refund_rows[refund.id] = refund
    body = body_of(
        "refund.processed",
        refund=refund_entity(notes={"payment_session_id": SESSION.id, "refund_id": refund.id}),
        payment=payment_entity(status="captured", amount_refunded=5_000),
    )
    assert await deliver(fakes, body) == WebhookAnswer(200, "applied")

    stored = fakes.payments.refund_rows[refund.id]
    assert (stored.status, stored.razorpay_refund_id, stored.processed_at) == (
        RefundStatus.PROCESSED,
        "rfnd_Fake00000001",
        NOW,
    )
    session = fakes.payments.sessions[SESSION.id]
    assert (session.status, session.refunded_amount) == (S.PARTIALLY_REFUNDED, 5_000)
    assert "refund:rfnd_Fake00000001" in fakes.outbox.dedupe_keys()
    assert [(e.type, e.source, e.detail) for e in fakes.timeline.entries] == [
        ("webhook.refund.processed", "webhook", "rfnd_Fake00000001"),
        ("refund.processed", "webhook", "rfnd_Fake00000001: 5000 paise"),
        (
            "status.PARTIALLY_REFUNDED",
            "webhook",
            "PAID → PARTIALLY_REFUNDED on REFUND_PROCESSED (rfnd_Fake00000001)",
        ),
    ]
    assert fakes.gateway.captures == []


async def test_a_failed_refund_frees_its_amount() -> None:
    fakes = paid()
    refund = pending_refund()
    fakes.payments.refund_rows[refund.id] = refund
    body = body_of(
        "refund.failed",
        refund=refund_entity(status="failed", notes={"refund_id": refund.id}),
        payment=payment_entity(),
    )
    assert await deliver(fakes, body) == WebhookAnswer(200, "applied")
    assert fakes.payments.refund_rows[refund.id].status is RefundStatus.FAILED
    assert fakes.payments.sessions[SESSION.id].status is S.PAID
    assert fakes.timeline.types(SESSION.id) == ["webhook.refund.failed", "refund.failed"]


async def test_a_refund_of_a_payment_that_is_not_ours() -> None:
    fakes = paid()
    body = body_of(
        "refund.processed",
        refund=refund_entity(payment_id="pay_SomeoneElse01"),
        payment=payment_entity(id="pay_SomeoneElse01", order_id="order_SomeoneElse1"),
    )
    assert await deliver(fakes, body) == WebhookAnswer(200, "not ours")
    assert fakes.payments.refund_rows == {}
    assert fakes.timeline.entries == []


async def test_a_refund_of_another_payment_of_the_order_is_not_counted() -> None:
    """The order was paid twice; the second payment's refund is not this session's money."""
    fakes = paid()
    body = body_of(
        "refund.processed",
        refund=refund_entity(payment_id="pay_SecondOne0001"),
        payment=payment_entity(id="pay_SecondOne0001", amount_refunded=5_000),
    )
    assert await deliver(fakes, body) == WebhookAnswer(200, "applied")
    session = fakes.payments.sessions[SESSION.id]
    assert (session.status, session.refunded_amount) == (S.PAID, 0)
    assert fakes.payments.refund_rows == {}
    assert fakes.timeline.types(SESSION.id) == ["webhook.refund.processed", "refund.other_payment"]


async def test_other_events_are_claimed_and_ignored() -> None:
    fakes = created()
    body = body_of("payment.dispute.created", payment=payment_entity())
    assert await deliver(fakes, body) == WebhookAnswer(200, "ignored")
    assert fakes.payments.events == {}
    assert fakes.payments.sessions[SESSION.id] == SESSION
    assert fakes.timeline.entries == []


async def test_refund_entities_of_other_events_are_ignored() -> None:
    fakes = paid()
    refund = pending_refund()
    fakes.payments.refund_rows[refund.id] = refund
    body = body_of(
        "refund.speed_changed",
        refund=refund_entity(notes={"refund_id": refund.id}),
        payment=payment_entity(),
    )
    assert await deliver(fakes, body) == WebhookAnswer(200, "ignored")
    assert fakes.payments.refund_rows[refund.id] == refund
    assert fakes.payments.sessions[SESSION.id].status is S.PAID


# --- the records stores down: the answer does not wait for them ---------------------------------


async def test_with_dynamodb_and_sns_down_the_event_is_applied_and_its_effects_wait() -> None:
    fakes = created()
    fakes.timeline.down = True
    fakes.sales.down = True
    fakes.notifier.failures.update(
        {
            f"paid:{SESSION.id}:customer": NotificationError("sns: unreachable", retryable=True),
            f"paid:{SESSION.id}:admin": NotificationError("sns: unreachable", retryable=True),
        }
    )
    assert await deliver(fakes, CAPTURED) == WebhookAnswer(200, "applied")
    assert fakes.payments.sessions[SESSION.id].status is S.PAID
    waiting = {r.kind for r in fakes.outbox.unsent()}
    assert waiting == {
        OutboxKind.NOTIFY_CUSTOMER,
        OutboxKind.NOTIFY_ADMIN,
        OutboxKind.COUNT,
        OutboxKind.TIMELINE,
    }

    fakes.timeline.down = fakes.sales.down = False
    fakes.notifier.failures.clear()
    fakes.clock.at += timedelta(minutes=11)
    await dispatch_all(fakes.deps)
    assert fakes.outbox.unsent() == []
    assert fakes.timeline.types(SESSION.id) == ["webhook.payment.captured", "status.PAID"]
    assert fakes.sales.days[NOW.date()].paid_amount == 11_800


# --- what the logs tell an operator ------------------------------------------------------------
# The identifiers and the reason are asserted, not the wording around them.


async def _refused_for_a_bad_signature(fakes: PaymentFakes) -> None:
    await receive(fakes.deps, body=CAPTURED, signature="0" * 64, event_id="evt_0001")


async def _refused_as_malformed(fakes: PaymentFakes) -> None:
    await deliver(fakes, b"{not json")


async def _database_down(fakes: PaymentFakes) -> None:
    fakes.payments.down = True
    await deliver(fakes, CAPTURED)


async def _handler_failed(fakes: PaymentFakes) -> None:
    fakes.payments.faults["persist"] = KeyError("lines")
    await deliver(fakes, CAPTURED)


@pytest.mark.parametrize(
    ("scenario", "level", "needles", "with_traceback"),
    [
        (_refused_for_a_bad_signature, logging.WARNING, ["signature", "evt_0001"], False),
        (_refused_as_malformed, logging.WARNING, ["webhook", "not JSON"], False),
        (_database_down, logging.ERROR, ["evt_0001", "connect call failed"], False),
        (_handler_failed, logging.ERROR, ["evt_0001", "payment.captured"], True),
    ],
    ids=["bad-signature", "malformed", "database-down", "handler-failed"],
)
async def test_each_refusal_is_logged_with_what_identifies_it(
    caplog: pytest.LogCaptureFixture,
    scenario: Callable[[PaymentFakes], Awaitable[None]],
    level: int,
    needles: list[str],
    with_traceback: bool,
) -> None:
    fakes = created()
    with caplog.at_level(logging.WARNING, logger="resolvers.webhooks"):
        await scenario(fakes)
    matching = [
        r
        for r in caplog.records
        if r.name == "resolvers.webhooks"
        and r.levelno == level
        and all(n in r.getMessage() for n in needles)
    ]
    assert len(matching) == 1, [(r.levelname, r.getMessage()) for r in caplog.records]
    assert (matching[0].exc_info is not None) is with_traceback


# --- what the mutation run found untested -----------------------------------------------------


async def test_with_no_webhook_budget_the_answer_comes_first_and_hands_its_effects_over() -> None:
    """The webhook's own budget applies, not verify's: with 0 nothing is carried out before
    the answer, and the answer carries the effects for the route to do after it."""
    fakes = created()
    deps = replace(
        fakes.deps,
        checkout=replace(fakes.deps.checkout, webhook_inline_dispatch_seconds=0.0),
    )
    answer = await receive(
        deps,
        body=CAPTURED,
        signature=hmac_sha256_hex(WEBHOOK_SECRET, CAPTURED),
        event_id="evt_0001",
    )
    assert answer == WebhookAnswer(200, "applied")
    assert fakes.payments.sessions[SESSION.id].status is S.PAID
    assert fakes.timeline.entries == []  # not written yet
    kinds = {type(e).__name__ for e in answer.effects}
    assert {"Timeline", "Notify", "Count", "SyncPayment"} <= kinds
    assert all(row.sent_at is None for row in fakes.outbox.rows.values())


async def test_a_refund_without_its_payment_is_found_by_the_refund_already_known() -> None:
    """A refund event without a payment entity, for a payment id the sessions do not carry:
    the refund row this API asked for names the session."""
    fakes = paid()
    refund = replace(pending_refund(), razorpay_refund_id="rfnd_Fake00000001")
    fakes.payments.refund_rows[refund.id] = refund
    body = body_of("refund.processed", refund=refund_entity(payment_id="pay_NotStoredYet01"))
    assert await deliver(fakes, body) == WebhookAnswer(200, "applied")
    assert fakes.payments.refund_rows[refund.id].status is RefundStatus.PROCESSED
    assert fakes.payments.sessions[SESSION.id].refunded_amount == 5_000


async def test_a_payment_event_that_also_carries_a_refund_is_a_payment_event() -> None:
    fakes = created()
    body = body_of("payment.captured", payment=payment_entity(), refund=refund_entity())
    assert await deliver(fakes, body) == WebhookAnswer(200, "applied")
    session = fakes.payments.sessions[SESSION.id]
    assert (session.status, session.refunded_amount) == (S.PAID, 0)
    assert fakes.payments.refund_rows == {}


async def test_a_refund_seen_before_its_capture_brings_the_capture_in_from_its_payment() -> None:
    fakes = created()
    body = body_of(
        "refund.processed",
        refund=refund_entity(),
        payment=payment_entity(status="captured", amount_refunded=5_000),
    )
    assert await deliver(fakes, body) == WebhookAnswer(200, "applied")
    session = fakes.payments.sessions[SESSION.id]
    assert (session.status, session.captured_amount, session.refunded_amount) == (
        S.PARTIALLY_REFUNDED,
        11_800,
        5_000,
    )


async def test_a_redelivery_of_an_applied_event_takes_no_lock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Razorpay redelivers (and the storm sends 30 % repeats): a repeat of a recorded event is
    answered from one read, without queueing behind the session's and customer's locks."""
    fakes = created()
    assert await deliver(fakes, CAPTURED) == WebhookAnswer(200, "applied")
    before = state(fakes)

    def no_lock(session_id: str) -> Any:
        raise AssertionError(f"locked {session_id} for a repeat")

    monkeypatch.setattr(fakes.payments, "lock", no_lock)
    assert await deliver(fakes, CAPTURED) == WebhookAnswer(200, "duplicate")
    assert state(fakes) == before
