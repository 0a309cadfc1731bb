"""The payment gateway port (Razorpay behind it) and the records it hands back.

Error tree::

    PaymentGatewayError          the gateway could not be reached or failed (timeout, 5xx, junk)
     └── PaymentGatewayRejected  the gateway answered and refused (4xx: bad request, bad state)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


class PaymentGatewayError(Exception):
    """Unavailable or failed: the outcome of a create is unknown; a read may be retried."""


class PaymentGatewayRejected(PaymentGatewayError):
    """The gateway refused the request (e.g. capture of a payment that is not authorized)."""


@dataclass(frozen=True, slots=True)
class GatewayOrder:
    id: str
    amount: int
    currency: str
    receipt: str | None
    status: str  # created | attempted | paid
    amount_paid: int
    attempts: int


@dataclass(frozen=True, slots=True)
class GatewayPayment:
    id: str
    order_id: str | None
    amount: int
    currency: str
    status: str  # created | authorized | captured | refunded | failed
    captured: bool
    method: str | None
    amount_refunded: int
    email: str | None = None
    contact: str | None = None
    error_code: str | None = None
    error_description: str | None = None


@dataclass(frozen=True, slots=True)
class GatewayRefund:
    id: str
    payment_id: str
    amount: int
    currency: str
    status: str  # pending | processed | failed
    notes: Mapping[str, str] = field(default_factory=dict)


class PaymentGateway(Protocol):
    key_id: str

    async def create_order(
        self, *, amount: int, currency: str, receipt: str, notes: Mapping[str, str]
    ) -> GatewayOrder: ...

    async def fetch_order(self, order_id: str) -> GatewayOrder: ...

    async def order_payments(self, order_id: str) -> list[GatewayPayment]: ...

    async def fetch_payment(self, payment_id: str) -> GatewayPayment: ...

    async def capture_payment(
        self, payment_id: str, *, amount: int, currency: str
    ) -> GatewayPayment: ...

    async def refund_payment(
        self, payment_id: str, *, amount: int, idempotency_key: str, notes: Mapping[str, str]
    ) -> GatewayRefund: ...

    async def fetch_refund(self, refund_id: str) -> GatewayRefund: ...

    async def payment_refunds(self, payment_id: str) -> list[GatewayRefund]: ...

    async def orders_by_receipt(self, receipt: str) -> list[GatewayOrder]: ...
