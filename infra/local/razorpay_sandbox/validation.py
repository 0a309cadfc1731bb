"""Request validation with Razorpay's messages (every failure is a ``BAD_REQUEST_ERROR``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from infra.local.razorpay_sandbox.errors import ApiError

MAX_NOTES = 15
MAX_NOTE_VALUE = 256
MAX_RECEIPT = 40
MIN_AMOUNT = 100
_CURRENCY = re.compile(r"^[A-Z]{3}$")
ORDER_FIELDS = frozenset(
    {
        "amount",
        "currency",
        "receipt",
        "notes",
        "payment_capture",
        "partial_payment",
        "first_payment_min_amount",
        "customer_id",
        "method",
        "offer_id",
    }
)
REFUND_FIELDS = frozenset({"amount", "speed", "notes", "receipt"})
REFUND_SPEEDS = ("normal", "optimum")
IDEMPOTENCY_MIN = 10


@dataclass(frozen=True, kw_only=True)
class OrderRequest:
    amount: int
    currency: str
    receipt: str | None
    notes: dict[str, Any]
    payment_capture: bool | None


@dataclass(frozen=True, kw_only=True)
class RefundRequest:
    amount: int | None
    speed: str
    notes: dict[str, Any]
    receipt: str | None


def reject_unknown(data: dict[str, Any], *, allowed: frozenset[str]) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise ApiError(f"{', '.join(extra)} is/are not required and should not be sent")


def amount(value: Any, *, field: str = "amount", required: bool = True) -> int | None:
    if value is None:
        if required:
            raise ApiError(f"The {field} field is required.", field=field)
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(f"The {field} must be an integer.", field=field)
    if value < MIN_AMOUNT:
        raise ApiError(f"The {field} must be atleast INR 1.00", field=field)
    return value


def currency(value: Any) -> str:
    if value is None:
        raise ApiError("The currency field is required.", field="currency")
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise ApiError("The currency must be 3 characters.", field="currency")
    return value


def receipt(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError("The receipt must be a string.", field="receipt")
    if len(value) > MAX_RECEIPT:
        raise ApiError(
            f"The receipt may not be greater than {MAX_RECEIPT} characters.", field="receipt"
        )
    return value


def notes(value: Any) -> dict[str, Any]:
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise ApiError("The notes must be an array.", field="notes")
    if len(value) > MAX_NOTES:
        raise ApiError(
            f"Number of fields in notes should be less than or equal to {MAX_NOTES}",
            field="notes",
        )
    for key, item in value.items():
        if isinstance(item, dict | list):
            raise ApiError(f"The notes.{key} must be a string.", field="notes")
        if len(str(item)) > MAX_NOTE_VALUE:
            raise ApiError(
                f"Notes value should be less than or equal to {MAX_NOTE_VALUE} characters",
                field="notes",
            )
    return dict(value)


def payment_capture(value: Any) -> bool | None:
    if value is None:
        return None
    if value in (True, 1, "1", "true"):
        return True
    if value in (False, 0, "0", "false"):
        return False
    raise ApiError("The payment capture field is invalid.", field="payment_capture")


def order_request(data: dict[str, Any]) -> OrderRequest:
    reject_unknown(data, allowed=ORDER_FIELDS)
    value = amount(data.get("amount"))
    assert value is not None
    return OrderRequest(
        amount=value,
        currency=currency(data.get("currency")),
        receipt=receipt(data.get("receipt")),
        notes=notes(data.get("notes")),
        payment_capture=payment_capture(data.get("payment_capture")),
    )


def refund_request(data: dict[str, Any]) -> RefundRequest:
    reject_unknown(data, allowed=REFUND_FIELDS)
    speed = data.get("speed") or "normal"
    if speed not in REFUND_SPEEDS:
        raise ApiError("The selected speed is invalid.", field="speed")
    return RefundRequest(
        amount=amount(data.get("amount"), required=False),
        speed=str(speed),
        notes=notes(data.get("notes")),
        receipt=receipt(data.get("receipt")),
    )


def idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) < IDEMPOTENCY_MIN:
        raise ApiError(
            f"X-Refund-Idempotency must be at least {IDEMPOTENCY_MIN} characters",
            field="X-Refund-Idempotency",
        )
    return value


def form_to_json(form: dict[str, str]) -> dict[str, Any]:
    """``notes[key]=v`` form fields as nested objects, the way Razorpay reads them."""
    data: dict[str, Any] = {}
    for key, value in form.items():
        match = re.fullmatch(r"(\w+)\[([^\]]*)\]", key)
        if match:
            data.setdefault(match.group(1), {})[match.group(2)] = value
        elif key == "amount" and value.isdigit():
            data[key] = int(value)
        else:
            data[key] = value
    return data
