"""Orders through the real SDK: shapes, validation errors, auth, unknown ids."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import razorpay
from razorpay.errors import BadRequestError

from infra.local.razorpay_sandbox import SandboxConfig

ORDER_KEYS = {
    "id", "entity", "amount", "amount_paid", "amount_due", "currency", "receipt",
    "offer_id", "status", "attempts", "notes", "created_at",
}  # fmt: skip
ID = re.compile(r"^order_[0-9A-Za-z]{14}$")


@pytest.fixture
def auth(sandbox_config: SandboxConfig) -> tuple[str, str]:
    return (sandbox_config.key_id, sandbox_config.key_secret)


SDK_TIMEOUT = 5  # seconds; the SDK has no default timeout


def test_create_and_fetch_order_shape(rzp: razorpay.Client) -> None:
    order = rzp.order.create(
        {"amount": 50_000, "currency": "INR", "receipt": "ps_123"}, timeout=SDK_TIMEOUT
    )
    assert set(order) == ORDER_KEYS
    assert ID.match(order["id"])
    assert order["entity"] == "order"
    assert (order["amount"], order["amount_paid"], order["amount_due"]) == (50_000, 0, 50_000)
    assert order["status"] == "created" and order["attempts"] == 0
    assert order["notes"] == [] and order["offer_id"] is None
    assert isinstance(order["created_at"], int)
    assert rzp.order.fetch(order["id"], timeout=SDK_TIMEOUT) == order


def test_notes_round_trip_as_object(rzp: razorpay.Client) -> None:
    notes = {"session_id": "ps_1", "customer": "c_9"}
    order = rzp.order.create(
        {"amount": 100, "currency": "INR", "notes": notes}, timeout=SDK_TIMEOUT
    )
    assert order["notes"] == notes
    assert order["receipt"] is None


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"currency": "INR"}, "amount", "The amount field is required."),
        ({"amount": 99, "currency": "INR"}, "amount", "The amount must be atleast INR 1.00"),
        ({"amount": "500", "currency": "INR"}, "amount", "The amount must be an integer."),
        ({"amount": 500.0, "currency": "INR"}, "amount", "The amount must be an integer."),
        ({"amount": 500}, "currency", "The currency field is required."),
        ({"amount": 500, "currency": "RUPEE"}, "currency", "The currency must be 3 characters."),
        ({"amount": 500, "currency": "INR", "receipt": "r" * 41}, "receipt", None),
        ({"amount": 500, "currency": "INR", "notes": dict.fromkeys("abcdefghijklmnop", "v")},
         "notes", None),
        ({"amount": 500, "currency": "INR", "notes": {"k": "v" * 257}}, "notes", None),
        ({"amount": 500, "currency": "INR", "amount_paise": 1}, None, None),
    ],
)  # fmt: skip
def test_validation_errors(
    rzp: razorpay.Client,
    base_url: str,
    auth: tuple[str, str],
    data: dict[str, Any],
    field: str | None,
    message: str | None,
) -> None:
    with pytest.raises(BadRequestError) as caught:
        rzp.order.create(data, timeout=SDK_TIMEOUT)
    if message is not None:
        assert str(caught.value) == message
    raw = httpx.post(f"{base_url}/v1/orders", json=data, auth=auth)
    assert raw.status_code == 400
    error = raw.json()["error"]
    assert error["code"] == "BAD_REQUEST_ERROR"
    assert {"description", "source", "step", "reason", "metadata"} <= set(error)
    assert error.get("field") == field


def test_limits_are_inclusive(rzp: razorpay.Client) -> None:
    order = rzp.order.create(
        {
            "amount": 100,
            "currency": "INR",
            "receipt": "r" * 40,
            "notes": {str(i): "v" * 256 for i in range(15)},
        },
        timeout=SDK_TIMEOUT,
    )
    assert len(order["notes"]) == 15


@pytest.mark.parametrize("wrong", ["key_secret", "key_id"])
def test_bad_credentials(base_url: str, auth: tuple[str, str], wrong: str) -> None:
    key_id, key_secret = auth
    if wrong == "key_secret":
        auth = (key_id, "wrong-secret")
    else:
        auth = ("rzp_test_Zz99Zz99Zz99Zz", key_secret)
    client = razorpay.Client(auth=auth, base_url=base_url)
    try:
        with pytest.raises(BadRequestError, match="Authentication failed"):
            client.order.create({"amount": 500, "currency": "INR"}, timeout=SDK_TIMEOUT)
    finally:
        client.session.close()
    raw = httpx.get(f"{base_url}/v1/orders/order_x", auth=auth)
    assert raw.status_code == 401
    assert raw.json() == {
        "error": {"code": "BAD_REQUEST_ERROR", "description": "Authentication failed"}
    }
    assert httpx.get(f"{base_url}/v1/orders/order_x").status_code == 401


@pytest.mark.parametrize("kind", ["order", "payment", "refund"])
def test_unknown_ids(rzp: razorpay.Client, kind: str) -> None:
    resource = getattr(rzp, kind)
    with pytest.raises(BadRequestError, match="The id provided does not exist"):
        resource.fetch(f"{kind}_AAAAAAAAAAAAAA", timeout=SDK_TIMEOUT)
    with pytest.raises(BadRequestError, match="The id provided does not exist"):
        rzp.order.payments("order_AAAAAAAAAAAAAA", timeout=SDK_TIMEOUT)


def test_list_orders_by_receipt_and_unknown_url(
    rzp: razorpay.Client, base_url: str, auth: tuple[str, str]
) -> None:
    first = rzp.order.create({"amount": 500, "currency": "INR", "receipt": "a"}, timeout=5)
    rzp.order.create({"amount": 500, "currency": "INR", "receipt": "b"}, timeout=5)
    found = rzp.order.all({"receipt": "a"}, timeout=SDK_TIMEOUT)
    assert found["entity"] == "collection" and found["count"] == 1
    assert found["items"] == [first]
    assert rzp.order.all(timeout=SDK_TIMEOUT)["count"] == 2
    missing = httpx.get(f"{base_url}/v1/nowhere", auth=auth)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "BAD_REQUEST_ERROR"


def test_form_encoded_order(base_url: str, auth: tuple[str, str]) -> None:
    response = httpx.post(
        f"{base_url}/v1/orders",
        data={"amount": "1000", "currency": "INR", "notes[a]": "b"},
        auth=auth,
    )
    assert response.status_code == 200, response.text
    assert response.json()["notes"] == {"a": "b"}
