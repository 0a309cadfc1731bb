"""Razorpay state and its transitions, guarded by one lock: in memory, and with ``path`` also
in a SQLite file (the local stack's ``.devstack/razorpay-sandbox.db``), so a restart finds the
orders, payments and refunds it had.

Every mutating method answers the entity JSON the API returns plus the webhook events
Razorpay would send, as snapshots taken inside the lock. With a file, what a method changed is
written (one transaction) before the lock is let go: what the API answered is on disk.
"""

from __future__ import annotations

import dataclasses
import json
import random
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.local.razorpay_sandbox.entities import JSON, Event, Order, Payment, Refund
from infra.local.razorpay_sandbox.errors import ApiError, not_found
from infra.local.razorpay_sandbox.ids import new_id
from infra.local.razorpay_sandbox.validation import OrderRequest, RefundRequest

METHOD_DETAILS: dict[str, dict[str, Any]] = {
    "upi": {"vpa": "success@razorpay"},
    "card": {},
    "netbanking": {"bank": "HDFC"},
    "wallet": {"wallet": "paytm"},
}
DEFAULT_FAILURE: dict[str, str] = {
    "code": "BAD_REQUEST_ERROR",
    "description": "Payment failed",
    "source": "customer",
    "step": "payment_authorization",
    "reason": "payment_failed",
}


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """What a customer does on Checkout."""

    success: bool
    method: str = "upi"
    email: str = "void@razorpay.com"
    contact: str = "+919999999999"
    capture: bool | None = None  # None: the order's payment_capture, else the sandbox default
    error: dict[str, str] | None = None
    notes: dict[str, Any] | None = None


_KINDS: dict[str, type[Order] | type[Payment] | type[Refund]] = {
    "order": Order,
    "payment": Payment,
    "refund": Refund,
}
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS entities (kind TEXT NOT NULL, id TEXT NOT NULL,"
    " body TEXT NOT NULL, PRIMARY KEY (kind, id))",
    "CREATE TABLE IF NOT EXISTS refund_idempotency (key TEXT PRIMARY KEY,"
    " payment_id TEXT NOT NULL, amount INTEGER, refund_id TEXT NOT NULL)",
)


class Store:
    def __init__(self, path: Path | str | None = None) -> None:
        self._lock = threading.RLock()
        self.orders: dict[str, Order] = {}
        self.payments: dict[str, Payment] = {}
        self.refunds: dict[str, Refund] = {}
        self._idempotency: dict[str, tuple[str, int | None, str]] = {}
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            for statement in _SCHEMA:
                self._db.execute(statement)
            self._load()

    @property
    def persistent(self) -> bool:
        return self._db is not None

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _load(self) -> None:
        assert self._db is not None
        tables: dict[str, dict[str, Any]] = {
            "order": self.orders,
            "payment": self.payments,
            "refund": self.refunds,
        }
        for kind, entity_id, body in self._db.execute(
            "SELECT kind, id, body FROM entities ORDER BY rowid"
        ):
            tables[kind][entity_id] = _KINDS[kind](**json.loads(body))
        for key, payment_id, amount, refund_id in self._db.execute(
            "SELECT key, payment_id, amount, refund_id FROM refund_idempotency"
        ):
            self._idempotency[key] = (payment_id, amount, refund_id)

    def _save(
        self, *entities: Order | Payment | Refund, idempotency_key: str | None = None
    ) -> None:
        """Write ``entities`` (and a refund's idempotency key) in one transaction; called with
        the lock held, after the change."""
        if self._db is None:
            return
        kinds = {Order: "order", Payment: "payment", Refund: "refund"}
        with self._db:  # one transaction
            self._db.execute("BEGIN")
            for entity in entities:
                self._db.execute(
                    "INSERT INTO entities (kind, id, body) VALUES (?, ?, ?)"
                    " ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
                    (kinds[type(entity)], entity.id, json.dumps(dataclasses.asdict(entity))),
                )
            if idempotency_key is not None:
                payment_id, amount, refund_id = self._idempotency[idempotency_key]
                self._db.execute(
                    "INSERT OR REPLACE INTO refund_idempotency VALUES (?, ?, ?, ?)",
                    (idempotency_key, payment_id, amount, refund_id),
                )

    def reset(self) -> None:
        with self._lock:
            self.orders.clear()
            self.payments.clear()
            self.refunds.clear()
            self._idempotency.clear()
            if self._db is not None:
                with self._db:
                    self._db.execute("BEGIN")
                    self._db.execute("DELETE FROM entities")
                    self._db.execute("DELETE FROM refund_idempotency")

    def pending_refunds(self) -> list[str]:
        """Refunds still pending (their settling timer does not survive a restart)."""
        with self._lock:
            return [r.id for r in self.refunds.values() if r.status == "pending"]

    # -- reads ---------------------------------------------------------------------------

    def _order(self, order_id: str) -> Order:
        try:
            return self.orders[order_id]
        except KeyError:
            raise not_found() from None

    def _payment(self, payment_id: str) -> Payment:
        try:
            return self.payments[payment_id]
        except KeyError:
            raise not_found() from None

    def order(self, order_id: str) -> JSON:
        with self._lock:
            return self._order(order_id).to_json()

    def list_orders(
        self, *, receipt: str | None = None, skip: int = 0, count: int = 10
    ) -> list[JSON]:
        with self._lock:
            found = [o for o in self.orders.values() if receipt is None or o.receipt == receipt]
            newest = sorted(found, key=lambda o: o.created_at, reverse=True)
            return [o.to_json() for o in newest[skip : skip + count]]

    def order_payments(self, order_id: str) -> list[JSON]:
        with self._lock:
            self._order(order_id)
            found = [p for p in self.payments.values() if p.order_id == order_id]
            return [p.to_json() for p in reversed(found)]

    def payment(self, payment_id: str) -> JSON:
        with self._lock:
            return self._payment(payment_id).to_json()

    def refund(self, refund_id: str, *, payment_id: str | None = None) -> JSON:
        with self._lock:
            refund = self.refunds.get(refund_id)
            if refund is None or payment_id not in (None, refund.payment_id):
                raise not_found()
            return refund.to_json()

    def payment_refunds(self, payment_id: str) -> list[JSON]:
        with self._lock:
            self._payment(payment_id)
            found = [r for r in self.refunds.values() if r.payment_id == payment_id]
            return [r.to_json() for r in reversed(found)]

    # -- orders and payments -------------------------------------------------------------

    def create_order(self, request: OrderRequest) -> JSON:
        order = Order(
            id=new_id("order"),
            amount=request.amount,
            currency=request.currency,
            receipt=request.receipt,
            notes=request.notes,
            payment_capture=request.payment_capture,
        )
        with self._lock:
            self.orders[order.id] = order
            self._save(order)
            return order.to_json()

    def pay(
        self, *, order_id: str, attempt: Attempt, auto_capture: bool
    ) -> tuple[JSON, list[Event]]:
        """A customer pays (or fails to pay) ``order_id`` on Checkout."""
        with self._lock:
            order = self._order(order_id)
            if order.status == "paid":
                raise ApiError("Order has already been paid", field="order_id")
            payment = Payment(
                id=new_id("pay"),
                order_id=order.id,
                amount=order.amount - order.amount_paid,
                currency=order.currency,
                method=attempt.method,
                email=attempt.email,
                contact=attempt.contact,
                notes=dict(attempt.notes or {}),
                **METHOD_DETAILS.get(attempt.method, {}),
            )
            if attempt.method == "card":
                payment.card_id = new_id("card")
            self.payments[payment.id] = payment
            order.attempts += 1
            order.status = "attempted"
            if not attempt.success:
                error = {**DEFAULT_FAILURE, **(attempt.error or {})}
                payment.status = "failed"
                payment.error_code = error["code"]
                payment.error_description = error["description"]
                payment.error_source = error["source"]
                payment.error_step = error["step"]
                payment.error_reason = error["reason"]
                if payment.vpa is not None:
                    payment.vpa = "failure@razorpay"
                self._save(order, payment)
                return payment.to_json(), [_event("payment.failed", payment=payment)]
            payment.status = "authorized"
            if attempt.method == "upi":
                payment.acquirer_data = {"rrn": str(random.randrange(10**11, 10**12))}
            events = [_event("payment.authorized", payment=payment)]
            capture = attempt.capture
            if capture is None:
                capture = auto_capture if order.payment_capture is None else order.payment_capture
            if capture:
                events += self._capture(payment)
            self._save(order, payment)
            return payment.to_json(), events

    def capture(
        self, *, payment_id: str, amount: int, currency: str | None
    ) -> tuple[JSON, list[Event]]:
        with self._lock:
            payment = self._payment(payment_id)
            if payment.status == "captured" or payment.captured:
                raise ApiError("This payment has already been captured")
            if payment.status != "authorized":
                raise ApiError(
                    "Only payments which have been authorized and not yet captured can be captured"
                )
            if amount != payment.amount:
                raise ApiError(
                    "Capture amount must be equal to the amount authorized", field="amount"
                )
            if currency is not None and currency != payment.currency:
                raise ApiError("Currency should be same as payment currency", field="currency")
            events = self._capture(payment)
            self._save(self.orders[payment.order_id], payment)
            return payment.to_json(), events

    def _capture(self, payment: Payment) -> list[Event]:
        payment.status = "captured"
        payment.captured = True
        base_fee = round(payment.amount * 0.02)
        payment.tax = round(base_fee * 0.18)
        payment.fee = base_fee + payment.tax
        order = self.orders[payment.order_id]
        order.amount_paid = min(order.amount, order.amount_paid + payment.amount)
        events = [_event("payment.captured", payment=payment)]
        if order.amount_paid >= order.amount:
            order.status = "paid"
            events.append(_event("order.paid", payment=payment, order=order))
        return events

    # -- refunds -------------------------------------------------------------------------

    def create_refund(
        self,
        *,
        payment_id: str,
        request: RefundRequest,
        idempotency_key: str | None,
        outcome: str,
    ) -> tuple[JSON, list[Event], bool]:
        """Answer the refund, its events, and whether it stays pending (settle it later)."""
        with self._lock:
            payment = self._payment(payment_id)
            if idempotency_key is not None and idempotency_key in self._idempotency:
                seen_payment, seen_amount, refund_id = self._idempotency[idempotency_key]
                if (seen_payment, seen_amount) != (payment_id, request.amount):
                    raise ApiError(
                        "The idempotency key was already used for a different refund request",
                        field="X-Refund-Idempotency",
                    )
                return self.refunds[refund_id].to_json(), [], False
            if payment.status == "refunded" or (
                payment.captured and payment.amount_refunded >= payment.amount
            ):
                raise ApiError("The payment has been fully refunded already")
            if not payment.captured:
                raise ApiError("Only captured payments can be refunded")
            remaining = payment.amount - payment.amount_refunded
            amount = remaining if request.amount is None else request.amount
            if amount > remaining:
                raise ApiError(
                    "The total refund amount is greater than the refund payment amount",
                    field="amount",
                )
            refund = Refund(
                id=new_id("rfnd"),
                payment_id=payment.id,
                amount=amount,
                currency=payment.currency,
                speed_requested=request.speed,
                notes=request.notes,
                receipt=request.receipt,
                status="processed" if outcome == "processed" else "pending",
            )
            self.refunds[refund.id] = refund
            if idempotency_key is not None:
                self._idempotency[idempotency_key] = (payment_id, request.amount, refund.id)
            payment.amount_refunded += amount
            if payment.amount_refunded >= payment.amount:
                payment.status = "refunded"
            self._save(refund, payment, idempotency_key=idempotency_key)
            events = [_event("refund.created", refund=refund, payment=payment)]
            if refund.status == "processed":
                events.append(_event("refund.processed", refund=refund, payment=payment))
            return refund.to_json(), events, refund.status == "pending"

    def settle_refund(self, *, refund_id: str, outcome: str) -> list[Event]:
        """Move a pending refund to ``processed`` or ``failed`` (giving the amount back)."""
        with self._lock:
            refund = self.refunds.get(refund_id)
            if refund is None or refund.status != "pending":
                return []
            payment = self.payments[refund.payment_id]
            if outcome == "failed":
                refund.status = "failed"
                payment.amount_refunded -= refund.amount
                payment.status = "captured"
                self._save(refund, payment)
                return [_event("refund.failed", refund=refund, payment=payment)]
            refund.status = "processed"
            self._save(refund)
            return [_event("refund.processed", refund=refund, payment=payment)]


def _event(name: str, **entities: Order | Payment | Refund) -> Event:
    return Event(name=name, entities={kind: e.to_json() for kind, e in entities.items()})
