"""Issue 9 defect 2: a late capture re-takes stock and coupon within every limit, or is
refunded in full.

API.md "Payment sessions": "Money captured for an expired, cancelled or failed session is never
dropped, and never oversells: if its stock and coupon use can still be taken (within every
limit), the session becomes PAID ...; if they cannot (sold out meanwhile, coupon limit
reached), the payment is refunded in full automatically (the session ends REFUNDED; refund
reason "late payment: could not be fulfilled") and the customer and admins are notified."
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.local.razorpay_sandbox.control_client import SandboxControl
from tests.integration.money_path.support import (
    LATE_REASON,
    Queue,
    SetClock,
    about,
    make_offer,
    payment,
    send,
    session_of,
    settle,
    stock_of,
)
from tests.support.payments_flow import open_session, own_product
from tests.support.shop import CANCEL, create_session, data
from tests.support.stack import Stack

Headers = dict[str, str]
ADD = """mutation($lines: [CartLineInput!]!) { cartLinesAdd(lines: $lines) { errors { code } } }"""
APPLY = """mutation($code: String!) { cartCouponApply(code: $code) {
  cart { coupon { applicable reason } } errors { code } } }"""


def assert_refunded_in_full(session: dict[str, Any]) -> None:
    total = session["amount"]["amount"]
    assert session["status"] == "REFUNDED", session
    assert session["refundedAmount"] == {"amount": total}, session
    assert session["refunds"] == [
        {"amount": {"amount": total}, "status": "PROCESSED", "reason": LATE_REASON}
    ], session


async def test_a_late_capture_over_a_once_per_customer_coupon_is_refunded(
    private_stack: Stack,
    clock: SetClock,
    sandbox: SandboxControl,
    new_customer: Callable[..., Headers],
    admin: Headers,
) -> None:
    """Defect 2 (coupon). Once-per-customer coupon: create S1, cancel it, create S2, pay
    both orders on Razorpay. Exactly one session is PAID with the discount; the late one is
    refunded in full automatically, and the customer is told."""
    gql, client = private_stack.gql, private_stack.client
    product = await own_product(gql, admin, stock=10)
    code = await make_offer(gql, admin, kind="FLAT", flat=5_000, perCustomerLimit=1)
    customer = new_customer()
    lines = [{"productId": product["id"], "quantity": 1}]
    assert (await data(gql, ADD, customer, lines=lines))["cartLinesAdd"]["errors"] == []
    applied = (await data(gql, APPLY, customer, code=code))["cartCouponApply"]
    assert applied["cart"]["coupon"]["applicable"], applied

    first = (await create_session(gql, customer))["paymentSession"]
    cancelled = (await data(gql, CANCEL, customer, id=first["id"]))["paymentSessionCancel"]
    assert cancelled["paymentSession"]["status"] == "CANCELLED", cancelled
    second_answer = await create_session(gql, customer)
    assert second_answer["errors"] == [], second_answer
    second = second_answer["paymentSession"]
    assert first["cost"]["discount"] == second["cost"]["discount"] == {"amount": 5_000}

    # the customer had two Checkout tabs open: both orders get paid
    payments = []
    for session in (second, first):
        paid = sandbox.pay(session["razorpayOrderId"], outcome="success")
        captured = await payment(sandbox, paid["razorpay_payment_id"])
        payments.append(captured["id"])
        answer = await send(client, "payment.captured", payment=captured)
        assert answer.status_code == 200, answer.text
    await settle(private_stack, sandbox, clock, payments)

    now_second = await session_of(gql, customer, second["id"])
    now_first = await session_of(gql, customer, first["id"])
    assert (now_second["status"], now_first["status"]) == ("PAID", "REFUNDED")
    assert now_second["cost"]["discount"] == {"amount": 5_000}
    assert_refunded_in_full(now_first)
    refunded_at_razorpay = await payment(sandbox, payments[1])
    assert refunded_at_razorpay["amount_refunded"] == now_first["amount"]["amount"]
    assert about(await Queue(private_stack, "customer_queue").read(), first["id"])


async def test_a_late_capture_of_a_unit_sold_meanwhile_is_refunded(
    private_stack: Stack,
    clock: SetClock,
    sandbox: SandboxControl,
    new_customer: Callable[..., Headers],
    admin: Headers,
) -> None:
    """Defect 2 (stock). The last unit: A's session is cancelled, B buys the unit, then A's
    order is paid anyway. A is refunded in full automatically; stock never goes below 0."""
    gql, client = private_stack.gql, private_stack.client
    product = await own_product(gql, admin, stock=1)
    late_buyer, buyer = new_customer(), new_customer()
    late = await open_session(gql, late_buyer, product["id"])
    cancelled = (await data(gql, CANCEL, late_buyer, id=late["id"]))["paymentSessionCancel"]
    assert cancelled["paymentSession"]["status"] == "CANCELLED", cancelled

    sold = await open_session(gql, buyer, product["id"])
    paid = sandbox.pay(sold["razorpayOrderId"], outcome="success")
    answer = await send(
        client, "payment.captured", payment=await payment(sandbox, paid["razorpay_payment_id"])
    )
    assert answer.status_code == 200, answer.text
    assert (await session_of(gql, buyer, sold["id"]))["status"] == "PAID"
    assert await stock_of(gql, admin, product["id"]) == 0

    paid_late = sandbox.pay(late["razorpayOrderId"], outcome="success")
    captured = await payment(sandbox, paid_late["razorpay_payment_id"])
    answer = await send(client, "payment.captured", payment=captured)
    assert answer.status_code == 200, answer.text
    await settle(private_stack, sandbox, clock, [captured["id"]])

    assert_refunded_in_full(await session_of(gql, late_buyer, late["id"]))
    assert (await session_of(gql, buyer, sold["id"]))["status"] == "PAID"
    assert await stock_of(gql, admin, product["id"]) == 0
    assert (await payment(sandbox, captured["id"]))["amount_refunded"] == captured["amount"]
    assert about(await Queue(private_stack, "customer_queue").read(), late["id"])
