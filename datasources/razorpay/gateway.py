"""PaymentGateway over the official ``razorpay`` SDK.

The SDK is synchronous: every call runs in a worker thread with an explicit timeout (the SDK
has none by default). Its built-in retries are never enabled: they re-send POSTs and would
create duplicate orders. Vendor errors are translated at this boundary:

* ``BadRequestError`` (HTTP 4xx, ``BAD_REQUEST_ERROR``) → :class:`PaymentGatewayRejected`
* ``GatewayError``/``ServerError``, timeouts, connection errors, non-JSON bodies →
  :class:`PaymentGatewayError`
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import razorpay
import requests
from razorpay.errors import BadRequestError, GatewayError, ServerError

from domain.gateway import (
    GatewayOrder,
    GatewayPayment,
    GatewayRefund,
    PaymentGatewayError,
    PaymentGatewayRejected,
)

T = TypeVar("T")


def _order(data: Mapping[str, Any]) -> GatewayOrder:
    return GatewayOrder(
        id=str(data["id"]),
        amount=int(data["amount"]),
        currency=str(data["currency"]),
        receipt=data.get("receipt"),
        status=str(data["status"]),
        amount_paid=int(data.get("amount_paid") or 0),
        attempts=int(data.get("attempts") or 0),
    )


def _payment(data: Mapping[str, Any]) -> GatewayPayment:
    return GatewayPayment(
        id=str(data["id"]),
        order_id=data.get("order_id"),
        amount=int(data["amount"]),
        currency=str(data["currency"]),
        status=str(data["status"]),
        captured=bool(data.get("captured")),
        method=data.get("method"),
        amount_refunded=int(data.get("amount_refunded") or 0),
        email=data.get("email"),
        contact=data.get("contact"),
        error_code=data.get("error_code"),
        error_description=data.get("error_description"),
    )


def _notes(data: Mapping[str, Any]) -> dict[str, str]:
    notes = data.get("notes")
    if not isinstance(notes, Mapping):  # Razorpay answers [] for no notes
        return {}
    return {str(k): str(v) for k, v in notes.items()}


def _refund(data: Mapping[str, Any]) -> GatewayRefund:
    return GatewayRefund(
        id=str(data["id"]),
        payment_id=str(data["payment_id"]),
        amount=int(data["amount"]),
        currency=str(data["currency"]),
        status=str(data["status"]),
        notes=_notes(data),
    )


class RazorpayGateway:
    def __init__(
        self,
        *,
        key_id: str,
        key_secret: str,
        base_url: str | None = None,
        timeout_seconds: float = 10.0,
        pool_size: int = 10,
    ) -> None:
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        options: dict[str, Any] = {"base_url": base_url.rstrip("/")} if base_url else {}
        self._client = razorpay.Client(session=session, auth=(key_id, key_secret), **options)
        self._timeout = timeout_seconds
        self.key_id = key_id

    def use_keys(self, *, key_id: str, key_secret: str) -> None:
        """Rotated keys: every call from now on signs with them (the SDK reads its ``auth``
        per request; calls in flight finish with the old pair)."""
        self._client.auth = (key_id, key_secret)
        self.key_id = key_id

    async def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        kwargs["timeout"] = self._timeout
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except BadRequestError as exc:
            raise PaymentGatewayRejected(f"{what}: {exc}") from exc
        except (GatewayError, ServerError) as exc:
            raise PaymentGatewayError(f"{what}: gateway error: {exc}") from exc
        except requests.Timeout as exc:
            raise PaymentGatewayError(f"{what}: timed out after {self._timeout} s") from exc
        except (requests.RequestException, json.JSONDecodeError, ValueError, KeyError) as exc:
            raise PaymentGatewayError(f"{what}: {type(exc).__name__}") from exc

    async def create_order(
        self, *, amount: int, currency: str, receipt: str, notes: Mapping[str, str]
    ) -> GatewayOrder:
        data = {"amount": amount, "currency": currency, "receipt": receipt, "notes": dict(notes)}
        return _order(await self._call("order create", self._client.order.create, data))

    async def fetch_order(self, order_id: str) -> GatewayOrder:
        return _order(await self._call("order fetch", self._client.order.fetch, order_id))

    async def order_payments(self, order_id: str) -> list[GatewayPayment]:
        found = await self._call("order payments", self._client.order.payments, order_id)
        return [_payment(item) for item in found.get("items", [])]

    async def fetch_payment(self, payment_id: str) -> GatewayPayment:
        return _payment(await self._call("payment fetch", self._client.payment.fetch, payment_id))

    async def capture_payment(
        self, payment_id: str, *, amount: int, currency: str
    ) -> GatewayPayment:
        captured = await self._call(
            "payment capture",
            self._client.payment.capture,
            payment_id,
            amount,
            {"currency": currency},
        )
        return _payment(captured)

    async def refund_payment(
        self, payment_id: str, *, amount: int, idempotency_key: str, notes: Mapping[str, str]
    ) -> GatewayRefund:
        refund = await self._call(
            "payment refund",
            self._client.payment.refund,
            payment_id,
            {"amount": amount, "speed": "normal", "notes": dict(notes)},
            headers={"X-Refund-Idempotency": idempotency_key},
        )
        return _refund(refund)

    async def fetch_refund(self, refund_id: str) -> GatewayRefund:
        return _refund(await self._call("refund fetch", self._client.refund.fetch, refund_id))

    async def payment_refunds(self, payment_id: str) -> list[GatewayRefund]:
        found = await self._call(
            "payment refunds", self._client.payment.fetch_multiple_refund, payment_id
        )
        return [_refund(item) for item in found.get("items", [])]

    async def orders_by_receipt(self, receipt: str) -> list[GatewayOrder]:
        found = await self._call(
            "orders by receipt", self._client.order.all, {"receipt": receipt, "count": 10}
        )
        return [_order(item) for item in found.get("items", [])]

    def close(self) -> None:
        self._client.session.close()
