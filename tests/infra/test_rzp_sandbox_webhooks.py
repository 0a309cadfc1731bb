"""Webhooks to a local receiver: shapes, signatures, retries, duplicates, reorder, secrets."""

from __future__ import annotations

import json
from typing import Any

import pytest
import razorpay

from infra.local.razorpay_sandbox import webhook_signature
from infra.local.razorpay_sandbox.control_client import SandboxControl
from infra.local.razorpay_sandbox.testing import Received, WebhookReceiver

SDK_TIMEOUT = 5  # seconds; the SDK has no default timeout
WEBHOOK_SECRET = "webhook-secret-under-test"


@pytest.fixture(autouse=True)
def _webhook_secret(control: SandboxControl) -> None:
    control.configure(webhook_secret=WEBHOOK_SECRET)


def paid_order(rzp: razorpay.Client, control: SandboxControl, **pay: Any) -> dict[str, Any]:
    order: dict[str, Any] = rzp.order.create(
        {"amount": 50_000, "currency": "INR"}, timeout=SDK_TIMEOUT
    )
    control.pay(order["id"], **pay)
    return order


def event_of(request: Received) -> str:
    name: str = json.loads(request.body)["event"]
    return name


def signed_with(request: Received, secret: str) -> bool:
    return request.headers["x-razorpay-signature"] == webhook_signature(
        secret=secret, body=request.body
    )


def test_payment_events_shape_and_signature(
    rzp: razorpay.Client, control: SandboxControl, receiver: WebhookReceiver
) -> None:
    order = paid_order(rzp, control)
    control.flush()
    received = receiver.received()
    assert [event_of(r) for r in received] == [
        "payment.authorized",
        "payment.captured",
        "order.paid",
    ]
    for request in received:
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"] == "Razorpay-Webhook/v1"
        assert len(request.headers["x-razorpay-event-id"]) == 14
        assert rzp.utility.verify_webhook_signature(
            request.body.decode(), request.headers["x-razorpay-signature"], WEBHOOK_SECRET
        )
    authorized, captured, paid = (json.loads(r.body) for r in received)
    assert authorized["entity"] == "event" and authorized["account_id"].startswith("acc_")
    assert isinstance(authorized["created_at"], int)
    assert authorized["contains"] == ["payment"]
    assert authorized["payload"]["payment"]["entity"]["status"] == "authorized"
    assert captured["payload"]["payment"]["entity"]["status"] == "captured"
    assert paid["contains"] == ["payment", "order"]
    assert paid["payload"]["order"]["entity"]["id"] == order["id"]
    assert paid["payload"]["order"]["entity"]["status"] == "paid"
    assert len({r.headers["x-razorpay-event-id"] for r in received}) == 3
    deliveries = control.webhooks()
    assert [d["status"] for d in deliveries] == ["delivered"] * 3
    assert all(d["status_codes"] == [200] for d in deliveries)


def test_failure_and_manual_capture_events(
    rzp: razorpay.Client, control: SandboxControl, receiver: WebhookReceiver
) -> None:
    paid_order(rzp, control, outcome="failure")
    control.configure(auto_capture=False)
    order = rzp.order.create({"amount": 50_000, "currency": "INR"}, timeout=SDK_TIMEOUT)
    payment_id = control.pay(order["id"])["razorpay_payment_id"]
    control.flush()
    assert [event_of(r) for r in receiver.received()] == ["payment.failed", "payment.authorized"]
    rzp.payment.capture(payment_id, 50_000, timeout=SDK_TIMEOUT)
    control.flush()
    assert [event_of(r) for r in receiver.received()][2:] == ["payment.captured", "order.paid"]


def test_refund_events(
    rzp: razorpay.Client, control: SandboxControl, receiver: WebhookReceiver
) -> None:
    order = paid_order(rzp, control)
    payment_id = rzp.order.payments(order["id"], timeout=SDK_TIMEOUT)["items"][0]["id"]
    rzp.payment.refund(payment_id, {"amount": 1_000}, timeout=SDK_TIMEOUT)
    control.flush()
    created, processed = (json.loads(r.body) for r in receiver.received()[3:])
    assert (created["event"], processed["event"]) == ("refund.created", "refund.processed")
    assert created["contains"] == ["refund", "payment"]
    assert processed["payload"]["refund"]["entity"]["amount"] == 1_000
    assert processed["payload"]["payment"]["entity"]["amount_refunded"] == 1_000


def test_retry_with_backoff_until_2xx(
    rzp: razorpay.Client, control: SandboxControl, receiver: WebhookReceiver
) -> None:
    receiver.respond((500, 0.0), (500, 0.0))
    control.configure(auto_capture=False)
    paid_order(rzp, control)
    control.flush()
    received = receiver.received()
    assert len(received) == 3
    assert len({r.headers["x-razorpay-event-id"] for r in received}) == 1
    assert len({r.body for r in received}) == 1
    (delivery,) = control.webhooks()
    assert delivery["status"] == "delivered"
    assert delivery["status_codes"] == [500, 500, 200]
    assert delivery["backoff_seconds"] == 15.0  # 5 s then 10 s on the sandbox clock


def test_receiver_timeout_is_retried(
    rzp: razorpay.Client, control: SandboxControl, receiver: WebhookReceiver
) -> None:
    control.configure(auto_capture=False, webhook_timeout=0.2)
    receiver.respond((200, 0.6))
    paid_order(rzp, control)
    control.flush()
    (delivery,) = control.webhooks()
    assert delivery["status"] == "delivered"
    assert [a["error"] for a in delivery["attempts"]] == ["timeout", None]
    assert delivery["status_codes"] == [None, 200]


def test_gives_up_after_max_attempts(
    rzp: razorpay.Client, control: SandboxControl, receiver: WebhookReceiver
) -> None:
    control.configure(auto_capture=False, webhook_max_attempts=3)
    receiver.respond(*[(503, 0.0)] * 5)
    paid_order(rzp, control)
    control.flush()
    (delivery,) = control.webhooks()
    assert (delivery["status"], delivery["status_codes"]) == ("failed", [503, 503, 503])


def test_retry_window_disables_the_webhook(
    rzp: razorpay.Client, control: SandboxControl, receiver: WebhookReceiver
) -> None:
    control.configure(auto_capture=False, webhook_retry_window=40)  # 5+10+20 fit, 40 does not
    receiver.respond(*[(500, 0.0)] * 10)
    paid_order(rzp, control)
    control.flush()
    assert control.webhooks()[0]["status_codes"] == [500] * 4
    assert control.config()["webhook_enabled"] is False
    paid_order(rzp, control)
    assert control.webhooks()[-1]["status"] == "disabled"


def test_duplicates(
    rzp: razorpay.Client, control: SandboxControl, receiver: WebhookReceiver
) -> None:
    control.set_faults({"type": "webhook_duplicate", "times": 3, "event": "payment.captured"})
    paid_order(rzp, control)
    control.flush()
    captured = [r for r in receiver.received() if event_of(r) == "payment.captured"]
    assert len(captured) == 3
    assert len({r.headers["x-razorpay-event-id"] for r in captured}) == 1
    assert len(receiver.received()) == 5
    assert all(signed_with(r, WEBHOOK_SECRET) for r in captured)


def test_reorder_reverse(
    rzp: razorpay.Client, control: SandboxControl, receiver: WebhookReceiver
) -> None:
    control.set_faults({"type": "webhook_reorder", "count": 3, "order": "reverse"})
    paid_order(rzp, control)
    control.flush()
    assert [event_of(r) for r in receiver.received()] == [
        "order.paid",
        "payment.captured",
        "payment.authorized",
    ]


def test_hold_and_release_shuffled(
    rzp: razorpay.Client, control: SandboxControl, receiver: WebhookReceiver
) -> None:
    control.set_faults({"type": "webhook_reorder", "count": None})
    paid_order(rzp, control)
    paid_order(rzp, control)
    result = control.flush()
    assert result["held"] == 6 and receiver.received() == []
    assert control.release(order="shuffle", seed=7) == 6
    control.flush()
    events = [event_of(r) for r in receiver.received()]
    assert sorted(events) == sorted(["payment.authorized", "payment.captured", "order.paid"] * 2)


def test_sign_with_an_old_secret(
    rzp: razorpay.Client, control: SandboxControl, receiver: WebhookReceiver
) -> None:
    control.set_faults({"type": "webhook_sign_with", "secret": "old-secret", "count": 1})
    paid_order(rzp, control)
    control.flush()
    first, *rest = receiver.received()
    assert signed_with(first, "old-secret") and not signed_with(first, WEBHOOK_SECRET)
    assert all(signed_with(r, WEBHOOK_SECRET) for r in rest)


def test_rotation_keeps_in_flight_retries_on_the_old_secret(
    rzp: razorpay.Client, control: SandboxControl, receiver: WebhookReceiver
) -> None:
    control.configure(auto_capture=False, webhook_backoff_initial=200)  # 200 ms real
    receiver.respond((500, 0.0))
    paid_order(rzp, control)
    control.configure(webhook_secret="rotated-secret")
    paid_order(rzp, control)
    control.flush()
    by_event: dict[str, list[Received]] = {}
    for request in receiver.received():
        by_event.setdefault(request.headers["x-razorpay-event-id"], []).append(request)
    first, second = by_event.values()
    assert len(first) == 2 and all(signed_with(r, WEBHOOK_SECRET) for r in first)
    assert len(second) == 1 and signed_with(second[0], "rotated-secret")


def test_redeliver_an_event(
    rzp: razorpay.Client, control: SandboxControl, receiver: WebhookReceiver
) -> None:
    control.configure(auto_capture=False)
    paid_order(rzp, control)
    control.flush()
    (delivery,) = control.webhooks()
    control.redeliver(delivery["event_id"], times=2, secret="other")
    control.flush()
    first, *again = receiver.received()
    assert len(again) == 2 and all(r.body == first.body for r in again)
    assert all(signed_with(r, "other") for r in again)
    assert control.webhooks(event_id=delivery["event_id"], status="delivered")[2]["id"]


def test_without_webhook_url_events_are_recorded_not_sent(
    rzp: razorpay.Client, control: SandboxControl, receiver: WebhookReceiver
) -> None:
    control.configure(webhook_url=None)
    paid_order(rzp, control)
    assert control.flush()["pending"] == 0
    assert {d["status"] for d in control.webhooks()} == {"skipped"}
    assert receiver.received() == []
