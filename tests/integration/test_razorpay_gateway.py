"""The Razorpay adapter (official SDK) against the sandbox over HTTP: shapes, errors, timeouts."""

from __future__ import annotations

import pytest
import requests

from datasources.razorpay.gateway import RazorpayGateway
from domain.gateway import PaymentGatewayError, PaymentGatewayRejected
from domain.signatures import checkout_signature_valid
from infra.local.razorpay_sandbox import SandboxServer
from infra.local.razorpay_sandbox.control_client import SandboxControl
from tests.support.stack import RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET


@pytest.fixture
def gateway(razorpay_sandbox: SandboxServer, sandbox: SandboxControl) -> RazorpayGateway:
    return RazorpayGateway(
        key_id=RAZORPAY_KEY_ID,
        key_secret=RAZORPAY_KEY_SECRET,
        base_url=razorpay_sandbox.base_url,
        timeout_seconds=2.0,
    )


async def test_order_pay_and_read_back(gateway: RazorpayGateway, sandbox: SandboxControl) -> None:
    order = await gateway.create_order(
        amount=123_456, currency="INR", receipt="sess-1", notes={"session": "sess-1"}
    )
    assert order.id.startswith("order_") and len(order.id) == len("order_") + 14
    assert (order.amount, order.currency, order.status, order.receipt) == (
        123_456,
        "INR",
        "created",
        "sess-1",
    )
    answer = sandbox.pay(order.id, outcome="success")
    assert checkout_signature_valid(
        key_secret=RAZORPAY_KEY_SECRET,
        order_id=order.id,
        payment_id=answer["razorpay_payment_id"],
        signature=answer["razorpay_signature"],
    )
    payment = await gateway.fetch_payment(answer["razorpay_payment_id"])
    assert (payment.order_id, payment.amount, payment.currency) == (order.id, 123_456, "INR")
    assert payment.status == "captured" and payment.captured
    assert [p.id for p in await gateway.order_payments(order.id)] == [payment.id]
    fetched = await gateway.fetch_order(order.id)
    assert fetched.status == "paid" and fetched.amount_paid == 123_456


async def test_manual_capture_and_refunds(
    gateway: RazorpayGateway, sandbox: SandboxControl
) -> None:
    sandbox.configure(auto_capture=False)
    order = await gateway.create_order(amount=50_000, currency="INR", receipt="r2", notes={})
    payment_id = sandbox.pay(order.id, outcome="success")["razorpay_payment_id"]
    assert (await gateway.fetch_payment(payment_id)).status == "authorized"
    with pytest.raises(PaymentGatewayRejected):
        await gateway.refund_payment(payment_id, amount=100, idempotency_key="k" * 12, notes={})
    captured = await gateway.capture_payment(payment_id, amount=50_000, currency="INR")
    assert captured.status == "captured"
    with pytest.raises(PaymentGatewayRejected):  # only from authorized
        await gateway.capture_payment(payment_id, amount=50_000, currency="INR")
    first = await gateway.refund_payment(
        payment_id, amount=20_000, idempotency_key="refund-key-0001", notes={"why": "test"}
    )
    again = await gateway.refund_payment(
        payment_id, amount=20_000, idempotency_key="refund-key-0001", notes={"why": "test"}
    )
    assert first.id == again.id and first.amount == 20_000
    with pytest.raises(PaymentGatewayRejected):  # 20,000 + 40,000 > 50,000 captured
        await gateway.refund_payment(
            payment_id, amount=40_000, idempotency_key="refund-key-0002", notes={}
        )
    assert (await gateway.fetch_payment(payment_id)).amount_refunded == 20_000
    assert (await gateway.fetch_refund(first.id)).payment_id == payment_id


async def test_validation_errors_and_bad_credentials_are_rejections(
    gateway: RazorpayGateway, razorpay_sandbox: SandboxServer
) -> None:
    with pytest.raises(PaymentGatewayRejected):
        await gateway.create_order(amount=99, currency="INR", receipt="x", notes={})
    with pytest.raises(PaymentGatewayRejected):
        await gateway.fetch_order("order_DoesNotExist01")
    wrong = RazorpayGateway(
        key_id=RAZORPAY_KEY_ID, key_secret="wrong", base_url=razorpay_sandbox.base_url
    )
    with pytest.raises(PaymentGatewayRejected, match="Authentication failed"):
        await wrong.fetch_order("order_DoesNotExist01")


async def test_5xx_and_junk_are_gateway_errors(
    gateway: RazorpayGateway, sandbox: SandboxControl
) -> None:
    sandbox.set_faults({"type": "error", "status": 502, "code": "GATEWAY_ERROR", "count": 1})
    with pytest.raises(PaymentGatewayError, match=r"^order create: gateway error") as server_error:
        await gateway.create_order(amount=10_000, currency="INR", receipt="a", notes={})
    assert not isinstance(server_error.value, PaymentGatewayRejected)
    sandbox.set_faults({"type": "error", "status": 500, "body": "<html>oops</html>", "count": 1})
    with pytest.raises(PaymentGatewayError) as junk:
        await gateway.create_order(amount=10_000, currency="INR", receipt="b", notes={})
    assert not isinstance(junk.value, PaymentGatewayRejected)
    assert await gateway.orders_by_receipt("a") == [] == await gateway.orders_by_receipt("b")


# The sandbox holds a "timeout" request for HUNG real seconds and then answers 504: a client that
# waited for the server would get that 504 (a gateway error), so "timed out" shows that the
# client gave up on its own (2 s) and what the sandbox holds shows what became of the request.
HUNG = 5


async def test_a_hung_request_times_out_on_the_client_and_creates_nothing(
    gateway: RazorpayGateway, sandbox: SandboxControl
) -> None:
    sandbox.set_faults({"type": "timeout", "delay": HUNG, "count": 1})
    with pytest.raises(PaymentGatewayError) as timed_out:
        await gateway.create_order(amount=10_000, currency="INR", receipt="hung", notes={})
    assert str(timed_out.value) == "order create: timed out after 2.0 s"
    assert isinstance(timed_out.value.__cause__, requests.Timeout)
    assert not isinstance(timed_out.value, PaymentGatewayRejected)
    assert sandbox.config()["faults"] == []  # the one hung call used the fault up
    assert await gateway.orders_by_receipt("hung") == []  # never applied


async def test_a_lost_answer_times_out_but_the_order_exists(
    gateway: RazorpayGateway, sandbox: SandboxControl
) -> None:
    sandbox.set_faults({"type": "timeout", "delay": HUNG, "process": True, "count": 1})
    with pytest.raises(PaymentGatewayError) as timed_out:
        await gateway.create_order(amount=10_000, currency="INR", receipt="lost", notes={})
    assert str(timed_out.value) == "order create: timed out after 2.0 s"
    assert isinstance(timed_out.value.__cause__, requests.Timeout)
    [order] = await gateway.orders_by_receipt("lost")  # applied: its answer was what got lost
    assert (order.amount, order.status, order.receipt) == (10_000, "created", "lost")
