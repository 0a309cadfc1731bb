"""Issue 9 defects 3 and 4: ``refundedAmount`` is always the sum of processed refunds.

API.md "Payment sessions": "``refundedAmount`` is always the sum of the session's processed
refunds, whatever order the events came in (a ``refund.processed`` that arrives before its
``payment.captured`` still counts)."
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.local.razorpay_sandbox.control_client import SandboxControl
from tests.integration.money_path.support import (
    SetClock,
    payment,
    razorpay,
    refund_webhooks,
    send,
    session_of,
    settle,
)
from tests.support.payments_flow import ask_refund, open_session, own_product
from tests.support.shop import verify
from tests.support.stack import Stack

Headers = dict[str, str]


def processed_sum(session: dict[str, Any]) -> int:
    return sum(r["amount"]["amount"] for r in session["refunds"] if r["status"] == "PROCESSED")


async def test_refunded_amount_after_a_second_partial_refund(
    private_stack: Stack,
    clock: SetClock,
    sandbox: SandboxControl,
    new_customer: Callable[..., Headers],
    admin: Headers,
) -> None:
    """Defect 3. Two partial refunds (₹100, then ₹200): refundedAmount is ₹300."""
    gql = private_stack.gql
    product = await own_product(gql, admin, price=100_000)
    customer = new_customer()
    session = await open_session(gql, customer, product["id"])
    paid = sandbox.pay(session["razorpayOrderId"], outcome="success")
    verified = await verify(gql, customer, session["id"], paid)
    assert verified["paymentSession"]["status"] == "PAID", verified
    payment_id = paid["razorpay_payment_id"]

    for key, amount in (("partial-refund-01", 10_000), ("partial-refund-02", 20_000)):
        asked = await ask_refund(gql, admin, session["id"], key, amount=amount)
        assert asked["errors"] == [], asked
        await settle(private_stack, sandbox, clock, [payment_id])

    found = await session_of(gql, customer, session["id"])
    assert [r["status"] for r in found["refunds"]] == ["PROCESSED", "PROCESSED"], found
    assert found["status"] == "PARTIALLY_REFUNDED"
    assert found["refundedAmount"] == {"amount": 30_000}, found
    assert processed_sum(found) == 30_000
    assert (await payment(sandbox, payment_id))["amount_refunded"] == 30_000


@pytest.mark.parametrize("capture", ["auto", "manual"])
async def test_a_refund_reported_before_its_capture_still_counts(
    capture: str,
    private_stack: Stack,
    clock: SetClock,
    sandbox: SandboxControl,
    new_customer: Callable[..., Headers],
    admin: Headers,
) -> None:
    """Defect 4. The merchant refunds ₹100 in Razorpay's dashboard; ``refund.processed``
    reaches the app before ``payment.captured``: with auto-capture while the session is
    CREATED (the app has heard nothing), with manual capture while it is AUTHORIZED. After
    the capture, refundedAmount is ₹100 and the session PARTIALLY_REFUNDED."""
    gql, client = private_stack.gql, private_stack.client
    product = await own_product(gql, admin, price=100_000)
    customer = new_customer()
    session = await open_session(gql, customer, product["id"])
    base = sandbox.base_url
    if capture == "auto":
        paid = sandbox.pay(session["razorpayOrderId"], outcome="success")
        payment_id = paid["razorpay_payment_id"]
    else:
        sandbox.configure(auto_capture=False)
        paid = sandbox.pay(session["razorpayOrderId"], outcome="success")
        payment_id = paid["razorpay_payment_id"]
        authorized = await payment(sandbox, payment_id)
        # the app's capture does not get through now: the session stays AUTHORIZED
        sandbox.set_faults(
            {
                "type": "error",
                "status": 503,
                "count": None,
                "method": "POST",
                "path": "/v1/payments/*/capture",
            }
        )
        answer = await send(client, "payment.authorized", payment=authorized)
        assert answer.status_code == 200, answer.text
        assert (await session_of(gql, customer, session["id"]))["status"] == "AUTHORIZED"
        sandbox.set_faults()
        await razorpay(
            "POST",
            base,
            f"payments/{payment_id}/capture",
            json={"amount": authorized["amount"], "currency": "INR"},
        )
    captured = await payment(sandbox, payment_id)  # what payment.captured carries
    assert captured["status"] == "captured" and captured["amount_refunded"] == 0

    await razorpay("POST", base, f"payments/{payment_id}/refund", json={"amount": 10_000})
    await refund_webhooks(private_stack, sandbox, payment_id)  # refund.processed first
    answer = await send(client, "payment.captured", payment=captured)  # then the capture
    assert answer.status_code == 200, answer.text
    await settle(private_stack, sandbox, clock, [payment_id], refund_webhooks_too=False)

    found = await session_of(gql, customer, session["id"])
    assert found["refundedAmount"] == {"amount": 10_000}, found
    assert found["status"] == "PARTIALLY_REFUNDED"
    assert processed_sum(found) == 10_000
