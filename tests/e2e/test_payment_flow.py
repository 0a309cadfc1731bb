"""End to end: sign in, fill a cart, check out, pay on the Razorpay sandbox, verify, PAID."""

from __future__ import annotations

from collections.abc import Callable

from infra.local.razorpay_sandbox import SandboxServer
from infra.local.razorpay_sandbox.control_client import SandboxControl
from tests.support.shop import (
    CART,
    GET,
    create_session,
    data,
    fill_cart,
    razorpay_order,
    verify,
)
from tests.support.stack import RAZORPAY_KEY_ID, GraphQLClient


async def test_customer_pays_and_the_order_is_paid_for_exactly_the_total(
    gql: GraphQLClient,
    new_customer: Callable[..., dict[str, str]],
    sandbox: SandboxControl,
    razorpay_sandbox: SandboxServer,
) -> None:
    customer = new_customer()
    cart = await fill_cart(gql, customer, {"GRO-TEA-003": 2, "BOK-NOV-002": 1, "HOM-MUG-003": 1})
    total = cart["cost"]["total"]["amount"]
    # 2 × 28,900 @ 5 % = 57,800 + 2,890; 34,900 @ 0 %; 59,900 @ 12 % = 59,900 + 7,188
    assert total == 57_800 + 2_890 + 34_900 + 59_900 + 7_188

    created = await create_session(gql, customer, expectedCartVersion=cart["version"])
    assert created["errors"] == []
    session = created["paymentSession"]
    assert session["status"] == "CREATED"
    assert session["amount"] == {"amount": total}
    options = session["checkout"]
    assert options["keyId"] == RAZORPAY_KEY_ID
    assert options["orderId"] == session["razorpayOrderId"]
    assert options["amount"] == total and options["currency"] == "INR"
    assert options["callbackUrl"].endswith("/payments/razorpay/callback")

    # the order as Razorpay knows it: exactly the total, receipt = the session id
    order = await razorpay_order(razorpay_sandbox.base_url, session["razorpayOrderId"])
    assert (order["amount"], order["receipt"], order["status"]) == (total, session["id"], "created")

    paid = sandbox.pay(session["razorpayOrderId"], outcome="success", method="upi")
    verified = await verify(gql, customer, session["id"], paid)
    assert verified["errors"] == []
    assert verified["paymentSession"]["status"] == "PAID"
    assert verified["paymentSession"]["razorpayPaymentId"] == paid["razorpay_payment_id"]

    order = await razorpay_order(razorpay_sandbox.base_url, session["razorpayOrderId"])
    assert order["status"] == "paid" and order["amount_paid"] == total

    # the lines paid for left the cart; the timeline tells the story
    assert (await data(gql, CART, customer))["cart"]["lines"] == []
    again = (await data(gql, GET, customer, id=session["id"]))["paymentSession"]
    types = [event["type"] for event in again["timeline"]]
    assert types[0] == "session.created"
    assert "order.created" in types and "verify.signature_valid" in types
    assert types[-1] == "status.PAID"

    # verifying again changes nothing (applied at most once)
    replay = await verify(gql, customer, session["id"], paid)
    assert replay["paymentSession"]["status"] == "PAID"
    after = (await data(gql, GET, customer, id=session["id"]))["paymentSession"]
    assert [e["type"] for e in after["timeline"]].count("status.PAID") == 1
