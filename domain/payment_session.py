"""Payment sessions: what a customer agreed to pay for, frozen at checkout, and its rules.

A session snapshots the priced cart (lines, cost, coupon) when it is created; the Razorpay order
is for exactly its ``amount``. Reservations (stock units, one coupon use) are held while the
session is payable, committed on PAID and released when it closes unpaid.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.cart import Cart
from domain.errors import DomainError, ErrorCode, InvalidInput
from domain.payments import PaymentStatus, is_payable

MIN_ORDER_AMOUNT = 100  # Razorpay's smallest order: ₹1.00
_KEY = re.compile(r"^[\x21-\x7e]{8,100}$")  # printable ASCII, no spaces


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckoutConfig:
    """Merchant settings the payment use cases need (from app settings)."""

    key_id: str
    key_secret: str
    merchant_name: str
    callback_url: str
    success_url: str
    failure_url: str
    currency: str = "INR"
    ttl_minutes: int = 30
    order_wait_seconds: float = 15.0  # a replay waits this long for the first request's order
    webhook_secrets: tuple[str, ...] = ()  # current first, then the previous one (rotation)
    # how long a verify, callback or cancel carries out its own outbox effects before it
    # answers (a manual capture, notifications); the rest is the dispatcher's
    inline_dispatch_seconds: float = 2.0
    # the same for a webhook, before its answer (0: answer at once after the commit)
    webhook_inline_dispatch_seconds: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionLine:
    product_id: str
    sku: str
    title: str
    quantity: int
    unit_price: int
    gst_rate_bp: int
    subtotal: int
    discount: int
    tax: int
    total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentSession:
    id: str
    customer_id: str
    # the customer's e-mail and phone, sealed (domain.pii: "pii:…") when a KMS key is set
    customer_email: str | None
    customer_contact: str | None = None
    status: PaymentStatus
    currency: str
    subtotal: int
    discount: int
    tax: int
    amount: int  # = total, what the Razorpay order is for
    coupon_code: str | None
    offer_id: str | None
    lines: tuple[SessionLine, ...]
    razorpay_order_id: str | None
    razorpay_payment_id: str | None
    idempotency_key: str | None
    fingerprint: str
    cart_id: str
    cart_version: int
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None = None
    captured_amount: int = 0
    refunded_amount: int = 0
    needs_review: bool = False
    failure_reason: str | None = None

    @property
    def payable(self) -> bool:
        return is_payable(self.status)

    @property
    def awaiting_order(self) -> bool:
        """Stored, but the Razorpay order is still being created (or that failed)."""
        return self.razorpay_order_id is None and self.status is PaymentStatus.CREATED


def validate_idempotency_key(key: str) -> str:
    if not _KEY.match(key):
        raise InvalidInput(
            "idempotencyKey must be 8 to 100 printable characters without spaces",
            field=["input", "idempotencyKey"],
        )
    return key


def cart_fingerprint(cart: Cart) -> str:
    """What the customer is buying: products, quantities and coupon (not line ids or prices)."""
    content = {
        "lines": sorted([line.product_id, line.quantity] for line in cart.lines),
        "coupon": cart.coupon_code,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def replay_or_refuse(existing: PaymentSession, *, fingerprint: str) -> PaymentSession:
    """The same idempotency key again: the same session, unless the cart is another one.

    A session that is no longer payable (paid, closed) is replayed as it is: its own payment
    changed the cart (paid lines leave it), so a late retry must not read as key reuse.
    """
    if existing.fingerprint == fingerprint or not existing.payable:
        return existing
    raise DomainError(
        "this idempotency key was used for a different cart",
        code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
        field=["input", "idempotencyKey"],
    )


def check_cart_version(cart: Cart, *, expected: int | None) -> None:
    if expected is not None and expected != cart.version:
        raise DomainError(
            f"the cart is at version {cart.version}, not {expected}: review it and try again",
            code=ErrorCode.CART_VERSION_MISMATCH,
            field=["input", "expectedCartVersion"],
        )


def check_payable_total(amount: int) -> None:
    if amount < MIN_ORDER_AMOUNT:
        raise InvalidInput(
            "the total is below ₹1.00, the smallest amount Razorpay accepts", field=["input"]
        )


def order_notes(session: PaymentSession) -> dict[str, str]:
    return {"payment_session_id": session.id, "customer_id": session.customer_id[:256]}


def paid_quantities(lines: Sequence[SessionLine]) -> dict[str, int]:
    """Quantity per product that a paid session takes out of the customer's cart."""
    result: dict[str, int] = {}
    for line in lines:
        result[line.product_id] = result.get(line.product_id, 0) + line.quantity
    return result
