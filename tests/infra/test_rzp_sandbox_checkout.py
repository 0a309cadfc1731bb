"""Hosted Checkout: open the page with httpx, press the buttons, follow the form posts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser

import httpx
import razorpay

from infra.local.razorpay_sandbox.control_client import SandboxControl
from infra.local.razorpay_sandbox.testing import WebhookReceiver

SDK_TIMEOUT = 5  # seconds; the SDK has no default timeout


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class Forms(HTMLParser):
    """Every <form> with its named inputs and buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(action=values["action"], method=values["method"]))
        elif tag in ("input", "button") and "name" in values and self.forms:
            self.forms[-1].fields[values["name"]] = values.get("value", "")


def forms(html: str) -> list[Form]:
    parser = Forms()
    parser.feed(html)
    return parser.forms


def open_checkout(
    http: httpx.Client, *, order_id: str, receiver: WebhookReceiver, cancel: bool = True
) -> httpx.Response:
    key_id = str(http.get("/_sandbox/config").json()["key_id"])
    data = {
        "key_id": key_id,
        "order_id": order_id,
        "name": "Storefront",
        "description": "Order ps_1",
        "callback_url": receiver.callback_url,
        "prefill[email]": "asha@example.com",
        "prefill[contact]": "+919876543210",
    }
    if cancel:
        data["cancel_url"] = receiver.cancel_url
    return http.post("/v1/checkout/embedded", data=data)


def press(http: httpx.Client, page: httpx.Response, button: str) -> httpx.Response:
    form = next(f for f in forms(page.text) if f.fields.get("action") == button)
    return http.post(form.action, data=form.fields)


def follow(page: httpx.Response) -> dict[str, str]:
    """Submit the auto-posting form as a browser would; return what the merchant got."""
    (form,) = forms(page.text)
    assert form.method == "post"
    httpx.post(form.action, data=form.fields).raise_for_status()
    return form.fields


def test_pay_button(
    rzp: razorpay.Client, control: SandboxControl, receiver: WebhookReceiver, base_url: str
) -> None:
    order = rzp.order.create({"amount": 129_900, "currency": "INR"}, timeout=SDK_TIMEOUT)
    with httpx.Client(base_url=base_url) as http:
        page = open_checkout(http, order_id=order["id"], receiver=receiver)
        assert page.status_code == 200 and "INR 1299.00" in page.text
        fields = follow(press(http, page, "pay"))
    (posted,) = receiver.received("/callback")
    assert posted.form == fields
    assert set(posted.form) == {"razorpay_payment_id", "razorpay_order_id", "razorpay_signature"}
    assert posted.form["razorpay_order_id"] == order["id"]
    assert rzp.utility.verify_payment_signature(posted.form)
    payment = rzp.payment.fetch(posted.form["razorpay_payment_id"], timeout=SDK_TIMEOUT)
    assert payment["email"] == "asha@example.com" and payment["status"] == "captured"


def test_fail_button(
    rzp: razorpay.Client, control: SandboxControl, receiver: WebhookReceiver, base_url: str
) -> None:
    order = rzp.order.create({"amount": 500, "currency": "INR"}, timeout=SDK_TIMEOUT)
    with httpx.Client(base_url=base_url) as http:
        page = open_checkout(http, order_id=order["id"], receiver=receiver)
        fields = follow(press(http, page, "fail"))
    assert {"error[code]", "error[description]", "error[reason]", "error[metadata]"} <= set(fields)
    metadata = json.loads(fields["error[metadata]"])
    assert metadata["order_id"] == order["id"]
    payment = rzp.payment.fetch(metadata["payment_id"], timeout=SDK_TIMEOUT)
    assert payment["status"] == "failed"
    assert rzp.order.fetch(order["id"], timeout=SDK_TIMEOUT)["status"] == "attempted"


def test_cancel_button(
    rzp: razorpay.Client, control: SandboxControl, receiver: WebhookReceiver, base_url: str
) -> None:
    order = rzp.order.create({"amount": 500, "currency": "INR"}, timeout=SDK_TIMEOUT)
    with httpx.Client(base_url=base_url) as http:
        page = open_checkout(http, order_id=order["id"], receiver=receiver)
        redirect = press(http, page, "cancel")
        assert redirect.status_code == 303
        assert redirect.headers["location"] == receiver.cancel_url
        assert rzp.order.fetch(order["id"], timeout=SDK_TIMEOUT)["attempts"] == 0

        page = open_checkout(http, order_id=order["id"], receiver=receiver, cancel=False)
        fields = follow(press(http, page, "cancel"))
    assert fields["error[reason]"] == "payment_cancelled"
    assert json.loads(fields["error[metadata]"])["order_id"] == order["id"]


def test_checkout_errors(
    rzp: razorpay.Client, control: SandboxControl, receiver: WebhookReceiver, base_url: str
) -> None:
    order = rzp.order.create({"amount": 500, "currency": "INR"}, timeout=SDK_TIMEOUT)
    with httpx.Client(base_url=base_url) as http:
        bad_key = http.post(
            "/v1/checkout/embedded",
            data={"key_id": "rzp_test_nope", "order_id": order["id"], "callback_url": "x"},
        )
        assert bad_key.status_code == 401
        unknown = open_checkout(http, order_id="order_AAAAAAAAAAAAAA", receiver=receiver)
        assert unknown.status_code == 400
        control.pay(order["id"])
        paid = open_checkout(http, order_id=order["id"], receiver=receiver)
        assert paid.status_code == 400 and "already been paid" in paid.text
