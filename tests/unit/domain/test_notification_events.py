"""Notify messages name their event (API.md "Notifications"), and a message without one is
named from its dedupe key (``domain/notifications.py``)."""

from __future__ import annotations

import pytest

from domain.notifications import notification_event
from domain.outbox import (
    OutboxKind,
    OutboxMessage,
    on_paid,
    on_payment_failed,
    on_refund_processed,
    on_review,
)
from domain.payments import PaymentStatus
from tests.support.payment_fakes import NOW, payment_session

SESSION = payment_session(status=PaymentStatus.PAID, payment_id="pay_1", captured=11_800)
NOTIFY = (OutboxKind.NOTIFY_CUSTOMER, OutboxKind.NOTIFY_ADMIN)


def events(messages: list[OutboxMessage]) -> list[tuple[str, object]]:
    return [(m.dedupe_key.split(":")[0], m.payload["event"]) for m in messages if m.kind in NOTIFY]


def test_every_notify_payload_carries_its_event() -> None:
    assert events(on_paid(SESSION, at=NOW)) == [("paid", "payment.paid"), ("paid", "payment.paid")]
    assert events(on_review(SESSION, why="late capture")) == [("review", "payment.review")]
    failed = on_payment_failed(SESSION, payment_id="pay_1", at=NOW, notify_customer=True)
    assert events(failed) == [("failed", "payment.failed")]
    refunded = on_refund_processed(SESSION, refund_id="rfnd_1", amount=100, at=NOW)
    assert events(refunded) == [("refund", "refund.processed")]


def test_counter_messages_carry_no_event() -> None:
    for message in on_paid(SESSION, at=NOW):
        if message.kind not in NOTIFY:
            assert "event" not in message.payload


@pytest.mark.parametrize(
    ("dedupe_key", "payload", "expected"),
    [
        ("paid:s:customer", {}, "payment.paid"),
        ("review:s:why", {}, "payment.review"),
        ("failed:pay:customer", {}, "payment.failed"),
        ("refund:rfnd:customer", {}, "refund.processed"),
        ("paid:s:customer", {"event": "refund.processed"}, "refund.processed"),
        ("paid:s:customer", {"event": ""}, "payment.paid"),
        ("unknown:s", {}, "notify.admin"),
        ("", {}, "notify.admin"),
    ],
)
def test_the_event_of_a_message(dedupe_key: str, payload: dict[str, str], expected: str) -> None:
    assert (
        notification_event(kind="notify.admin", dedupe_key=dedupe_key, payload=payload) == expected
    )
