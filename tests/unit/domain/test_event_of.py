"""What a payment's state at Razorpay means for its session (domain.payment_rules.event_of)."""

from __future__ import annotations

import pytest

from domain.gateway import GatewayPayment
from domain.payment_rules import event_of
from domain.payments import PaymentEventKind


def payment(status: str, *, captured: bool, refunded: int = 0) -> GatewayPayment:
    return GatewayPayment(
        id="pay_X",
        order_id="order_X",
        amount=10_000,
        currency="INR",
        status=status,
        captured=captured,
        method="upi",
        amount_refunded=refunded,
    )


@pytest.mark.parametrize(
    ("status", "captured", "expected"),
    [
        ("created", False, None),
        ("authorized", False, PaymentEventKind.PAYMENT_AUTHORIZED),
        ("captured", True, PaymentEventKind.PAYMENT_CAPTURED),
        ("failed", False, PaymentEventKind.PAYMENT_FAILED),
        # captured, then refunded: the session was paid (its refunds are synced separately)
        ("refunded", True, PaymentEventKind.PAYMENT_CAPTURED),
        # an authorization Razorpay gave back uncaptured: never PAID
        ("refunded", False, PaymentEventKind.PAYMENT_FAILED),
        ("captured", False, None),  # inconsistent answer: trust nothing
        ("something-new", True, None),
    ],
)
def test_event_of(status: str, captured: bool, expected: PaymentEventKind | None) -> None:
    assert event_of(payment(status, captured=captured)) is expected
