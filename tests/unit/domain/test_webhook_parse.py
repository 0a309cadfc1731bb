"""Razorpay webhook bodies (RAZORPAY.md, Webhooks) read into the gateway's records.

A malformed body's message is asserted exactly: it is the detail of the 400 answer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.gateway import GatewayPayment, GatewayRefund
from domain.webhooks import MalformedEvent, WebhookEvent, parse_event


def payment_entity(**changes: Any) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "id": "pay_29QQoUBi66xm2f",
        "entity": "payment",
        "amount": 50_000,
        "currency": "INR",
        "status": "captured",
        "order_id": "order_9A33XWu170gUtm",
        "invoice_id": None,
        "international": False,
        "method": "card",
        "amount_refunded": 10_000,
        "refund_status": "partial",
        "captured": True,
        "description": None,
        "email": "gaurav.kumar@example.com",
        "contact": "+919876543210",
        "notes": [],
        "fee": 1_180,
        "tax": 180,
        "error_code": "NONE_YET",
        "error_description": "nothing went wrong",
        "created_at": 1_567_674_599,
    }
    entity.update(changes)
    return entity


def refund_entity(**changes: Any) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "id": "rfnd_DfjjhJC6eDvUAi",
        "entity": "refund",
        "amount": 10_000,
        "currency": "INR",
        "payment_id": "pay_29QQoUBi66xm2f",
        "notes": {"refund_id": "9d1f7c9e", "attempt": 2},
        "receipt": None,
        "status": "processed",
        "speed_processed": "normal",
        "created_at": 1_567_675_000,
    }
    entity.update(changes)
    return entity


def body(name: Any, **entities: Any) -> bytes:
    return json.dumps(
        {
            "entity": "event",
            "account_id": "acc_BFQ7uQEaa7j2z7",
            "event": name,
            "contains": list(entities),
            "payload": {kind: {"entity": entity} for kind, entity in entities.items()},
            "created_at": 1_567_674_606,
        }
    ).encode()


def without(entity: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if k != key}


PAYMENT = GatewayPayment(
    id="pay_29QQoUBi66xm2f",
    order_id="order_9A33XWu170gUtm",
    amount=50_000,
    currency="INR",
    status="captured",
    captured=True,
    method="card",
    amount_refunded=10_000,
    email="gaurav.kumar@example.com",
    contact="+919876543210",
    error_code="NONE_YET",
    error_description="nothing went wrong",
)
REFUND = GatewayRefund(
    id="rfnd_DfjjhJC6eDvUAi",
    payment_id="pay_29QQoUBi66xm2f",
    amount=10_000,
    currency="INR",
    status="processed",
    notes={"refund_id": "9d1f7c9e", "attempt": "2"},
)


@pytest.mark.parametrize(
    "name", ["payment.authorized", "payment.captured", "payment.failed", "order.paid"]
)
def test_a_payment_event_reads_every_field(name: str) -> None:
    assert parse_event(body(name, payment=payment_entity())) == WebhookEvent(
        name=name, payment=PAYMENT, refund=None
    )


@pytest.mark.parametrize("name", ["refund.created", "refund.processed", "refund.failed"])
def test_a_refund_event_reads_the_refund_and_its_payment(name: str) -> None:
    event = parse_event(body(name, refund=refund_entity(), payment=payment_entity()))
    assert event == WebhookEvent(name=name, payment=PAYMENT, refund=REFUND)


def test_a_refund_event_without_its_payment_is_still_read() -> None:
    event = parse_event(body("refund.processed", refund=refund_entity()))
    assert event == WebhookEvent(name="refund.processed", payment=None, refund=REFUND)


def test_optional_payment_fields_default_when_absent() -> None:
    entity = {
        "id": "pay_1",
        "amount": 100,
        "currency": "INR",
        "status": "failed",
    }
    assert parse_event(body("payment.failed", payment=entity)).payment == GatewayPayment(
        id="pay_1",
        order_id=None,
        amount=100,
        currency="INR",
        status="failed",
        captured=False,
        method=None,
        amount_refunded=0,
    )


@pytest.mark.parametrize(
    "field", ["order_id", "method", "email", "contact", "error_code", "error_description"]
)
@pytest.mark.parametrize("value", [None, 42, ["x"]])
def test_optional_strings_that_are_not_strings_are_none(field: str, value: Any) -> None:
    payment = parse_event(body("payment.captured", payment=payment_entity(**{field: value})))
    assert payment.payment is not None
    assert getattr(payment.payment, field) is None


@pytest.mark.parametrize(
    ("value", "captured"),
    [(True, True), (False, False), ("true", False), (1, False), (None, False)],
)
def test_captured_only_when_razorpay_says_true(value: Any, captured: bool) -> None:
    event = parse_event(body("payment.captured", payment=payment_entity(captured=value)))
    assert event.payment is not None
    assert event.payment.captured is captured


def test_captured_is_false_when_absent() -> None:
    entity = without(payment_entity(), "captured")
    event = parse_event(body("payment.authorized", payment=entity))
    assert event.payment is not None
    assert event.payment.captured is False


@pytest.mark.parametrize(
    ("notes", "expected"),
    [
        ([], {}),  # Razorpay's empty notes are a list
        (None, {}),
        ({"a": "b", "n": 1, "flag": True}, {"a": "b", "n": "1", "flag": "True"}),
    ],
)
def test_refund_notes_are_strings(notes: Any, expected: dict[str, str]) -> None:
    event = parse_event(body("refund.created", refund=refund_entity(notes=notes)))
    assert event.refund is not None
    assert event.refund.notes == expected


def test_refund_notes_absent() -> None:
    event = parse_event(body("refund.created", refund=without(refund_entity(), "notes")))
    assert event.refund is not None
    assert event.refund.notes == {}


@pytest.mark.parametrize("key", ["id", "currency", "status"])
@pytest.mark.parametrize("value", ["", 7, None, "absent"])
def test_required_payment_strings(key: str, value: Any) -> None:
    entity = without(payment_entity(), key) if value == "absent" else payment_entity(**{key: value})
    with pytest.raises(MalformedEvent) as caught:
        parse_event(body("payment.captured", payment=entity))
    assert str(caught.value) == f"{key} is missing"


@pytest.mark.parametrize("key", ["id", "payment_id", "currency", "status"])
def test_required_refund_strings(key: str) -> None:
    with pytest.raises(MalformedEvent) as caught:
        parse_event(body("refund.processed", refund=without(refund_entity(), key)))
    assert str(caught.value) == f"{key} is missing"


NOT_INTEGERS = ["50000", 500.0, True, False, None]


@pytest.mark.parametrize(
    ("key", "entity"),
    [("amount", without(payment_entity(), "amount"))]  # an absent amount_refunded is 0
    + [
        (key, payment_entity(**{key: v}))
        for key in ("amount", "amount_refunded")
        for v in NOT_INTEGERS
    ],
)
def test_payment_amounts_are_integers(key: str, entity: dict[str, Any]) -> None:
    with pytest.raises(MalformedEvent) as caught:
        parse_event(body("payment.captured", payment=entity))
    assert str(caught.value) == f"{key} is not an integer"


@pytest.mark.parametrize("value", ["10000", 1e4, True])
def test_refund_amounts_are_integers(value: Any) -> None:
    with pytest.raises(MalformedEvent) as caught:
        parse_event(body("refund.processed", refund=refund_entity(amount=value)))
    assert str(caught.value) == "amount is not an integer"


@pytest.mark.parametrize("raw", [b"", b"{", b"\x80\x81 not utf-8", b'{"event": "payment.captured"'])
def test_not_json(raw: bytes) -> None:
    with pytest.raises(MalformedEvent) as caught:
        parse_event(raw)
    assert str(caught.value) == "not JSON"


@pytest.mark.parametrize(
    "document", [[], "payment.captured", 5, {}, {"event": 5}, {"event": None}, {"name": "x"}]
)
def test_no_event_name(document: Any) -> None:
    with pytest.raises(MalformedEvent) as caught:
        parse_event(json.dumps(document).encode())
    assert str(caught.value) == "no event name"


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {},
        {"payment": "pay_1"},
        {"payment": {}},
        {"payment": {"entity": "pay_1"}},
        {"payment": {"entity": None}},
        {"refund": {"entity": refund_entity()}},
    ],
)
@pytest.mark.parametrize("name", ["payment.captured", "order.paid"])
def test_a_payment_event_needs_a_payment(name: str, payload: Any) -> None:
    raw = json.dumps({"event": name, "payload": payload}).encode()
    with pytest.raises(MalformedEvent) as caught:
        parse_event(raw)
    assert str(caught.value) == f"{name} without a payment"


@pytest.mark.parametrize(
    "payload",
    [None, {}, {"refund": []}, {"refund": {"entity": []}}, {"payment": {"entity": {}}}],
)
def test_a_refund_event_needs_a_refund(payload: Any) -> None:
    raw = json.dumps({"event": "refund.failed", "payload": payload}).encode()
    with pytest.raises(MalformedEvent) as caught:
        parse_event(raw)
    assert str(caught.value) == "refund.failed without a refund"


def test_other_events_are_read_as_they_come() -> None:
    assert parse_event(b'{"event": "settlement.processed"}') == WebhookEvent(
        name="settlement.processed", payment=None, refund=None
    )
    dispute = parse_event(body("payment.dispute.created", payment=payment_entity()))
    assert dispute == WebhookEvent(name="payment.dispute.created", payment=PAYMENT, refund=None)


def test_when_razorpay_made_the_event_is_read_when_it_is_an_integer() -> None:
    """The webhook's lag metric is measured from it; anything else leaves it unknown."""
    assert parse_event(body("payment.captured", payment=payment_entity())).created_at == (
        1_567_674_606
    )
    for created_at in ("1567674606", True, 1_567_674_606.5, None):
        document = json.loads(body("payment.captured", payment=payment_entity()))
        document["created_at"] = created_at
        assert parse_event(json.dumps(document).encode()).created_at is None
    document.pop("created_at")
    assert parse_event(json.dumps(document).encode()).created_at is None
