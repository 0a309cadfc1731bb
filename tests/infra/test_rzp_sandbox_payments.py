"""Paying orders through the control API; manual and automatic capture via the SDK."""

from __future__ import annotations

from typing import Any

import pytest
import razorpay
from razorpay.errors import BadRequestError

from infra.local.razorpay_sandbox.control_client import SandboxControl

PAYMENT_KEYS = {
    "id", "entity", "amount", "currency", "status", "order_id", "method", "captured",
    "amount_refunded", "refund_status", "email", "contact", "error_code", "error_description",
    "error_source", "error_step", "error_reason", "created_at",
}  # fmt: skip

SDK_TIMEOUT = 5  # seconds; the SDK has no default timeout


def new_order(rzp: razorpay.Client, **extra: Any) -> dict[str, Any]:
    order: dict[str, Any] = rzp.order.create(
        {"amount": 49_900, "currency": "INR", "receipt": "ps_1", **extra}, timeout=SDK_TIMEOUT
    )
    return order


def test_pay_success_auto_capture(rzp: razorpay.Client, control: SandboxControl) -> None:
    order = new_order(rzp)
    result = control.pay(order["id"], outcome="success", method="upi")
    assert set(result) == {"razorpay_payment_id", "razorpay_order_id", "razorpay_signature"}
    assert result["razorpay_order_id"] == order["id"]
    assert rzp.utility.verify_payment_signature(result) is True

    payment = rzp.payment.fetch(result["razorpay_payment_id"], timeout=SDK_TIMEOUT)
    assert set(payment) >= PAYMENT_KEYS
    assert payment["entity"] == "payment" and payment["method"] == "upi"
    assert payment["status"] == "captured" and payment["captured"] is True
    assert (payment["amount"], payment["currency"]) == (49_900, "INR")
    assert payment["amount_refunded"] == 0 and payment["refund_status"] is None
    assert payment["error_code"] is None

    paid = rzp.order.fetch(order["id"], timeout=SDK_TIMEOUT)
    assert paid["status"] == "paid" and paid["attempts"] == 1
    assert (paid["amount_paid"], paid["amount_due"]) == (49_900, 0)
    listed = rzp.order.payments(order["id"], timeout=SDK_TIMEOUT)
    assert listed == {"entity": "collection", "count": 1, "items": [payment]}


def test_pay_failure_then_retry(rzp: razorpay.Client, control: SandboxControl) -> None:
    order = new_order(rzp)
    failed = control.pay(order["id"], outcome="failure")
    error = failed["error"]
    assert error["code"] == "BAD_REQUEST_ERROR"
    assert {"description", "reason", "source", "step"} <= set(error)
    assert error["metadata"]["order_id"] == order["id"]
    payment = rzp.payment.fetch(error["metadata"]["payment_id"], timeout=SDK_TIMEOUT)
    assert payment["status"] == "failed" and payment["captured"] is False
    assert payment["error_code"] == "BAD_REQUEST_ERROR"
    assert payment["error_reason"] == error["reason"]
    attempted = rzp.order.fetch(order["id"], timeout=SDK_TIMEOUT)
    assert (attempted["status"], attempted["attempts"], attempted["amount_paid"]) == (
        "attempted",
        1,
        0,
    )

    control.pay(order["id"], outcome="success")
    paid = rzp.order.fetch(order["id"], timeout=SDK_TIMEOUT)
    assert (paid["status"], paid["attempts"]) == ("paid", 2)
    assert rzp.order.payments(order["id"], timeout=SDK_TIMEOUT)["count"] == 2


def test_paying_a_paid_order_is_refused(rzp: razorpay.Client, control: SandboxControl) -> None:
    order = new_order(rzp)
    control.pay(order["id"])
    response = control.http.post(f"/_sandbox/orders/{order['id']}/pay", json={})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BAD_REQUEST_ERROR"


def test_manual_capture(rzp: razorpay.Client, control: SandboxControl) -> None:
    control.configure(auto_capture=False)
    order = new_order(rzp)
    payment_id = control.pay(order["id"])["razorpay_payment_id"]
    payment = rzp.payment.fetch(payment_id, timeout=SDK_TIMEOUT)
    assert payment["status"] == "authorized" and payment["captured"] is False
    assert rzp.order.fetch(order["id"], timeout=SDK_TIMEOUT)["status"] == "attempted"

    with pytest.raises(BadRequestError, match="equal to the amount authorized"):
        rzp.payment.capture(payment_id, 100, timeout=SDK_TIMEOUT)
    captured = rzp.payment.capture(payment_id, 49_900, timeout=SDK_TIMEOUT)
    assert captured["status"] == "captured" and captured["captured"] is True
    assert captured["fee"] is not None
    with pytest.raises(BadRequestError, match="already been captured"):
        rzp.payment.capture(payment_id, 49_900, timeout=SDK_TIMEOUT)
    order_now = rzp.order.fetch(order["id"], timeout=SDK_TIMEOUT)
    assert (order_now["status"], order_now["amount_due"]) == ("paid", 0)


def test_order_payment_capture_overrides_default(
    rzp: razorpay.Client, control: SandboxControl
) -> None:
    order = new_order(rzp, payment_capture=0)
    payment_id = control.pay(order["id"])["razorpay_payment_id"]
    assert rzp.payment.fetch(payment_id, timeout=SDK_TIMEOUT)["status"] == "authorized"


def test_failed_payment_cannot_be_captured(rzp: razorpay.Client, control: SandboxControl) -> None:
    order = new_order(rzp)
    payment_id = control.pay(order["id"], outcome="failure")["error"]["metadata"]["payment_id"]
    with pytest.raises(BadRequestError, match="authorized"):
        rzp.payment.capture(payment_id, 49_900, timeout=SDK_TIMEOUT)
    with pytest.raises(BadRequestError, match="does not exist"):
        rzp.payment.capture("pay_AAAAAAAAAAAAAA", 49_900, timeout=SDK_TIMEOUT)


@pytest.mark.parametrize(
    ("method", "detail"),
    [("card", "card_id"), ("netbanking", "bank"), ("wallet", "wallet"), ("upi", "vpa")],
)
def test_methods(rzp: razorpay.Client, control: SandboxControl, method: str, detail: str) -> None:
    order = new_order(rzp)
    payment_id = control.pay(order["id"], method=method)["razorpay_payment_id"]
    payment = rzp.payment.fetch(payment_id, timeout=SDK_TIMEOUT)
    assert payment["method"] == method and payment[detail]


def test_control_api_rejects_bad_input(rzp: razorpay.Client, control: SandboxControl) -> None:
    order = new_order(rzp)
    http = control.http
    assert (
        http.post(f"/_sandbox/orders/{order['id']}/pay", json={"outcome": "x"}).status_code == 400
    )
    assert (
        http.post(f"/_sandbox/orders/{order['id']}/pay", json={"method": "cash"}).status_code == 400
    )
    assert http.post("/_sandbox/orders/order_AAAAAAAAAAAAAA/pay", json={}).status_code == 400
    assert http.post("/_sandbox/config", json={"nope": 1}).status_code == 400
    assert http.post("/_sandbox/config", json={"auto_capture": "yes"}).status_code == 400
    assert http.post("/_sandbox/config", content=b"{").status_code == 400
