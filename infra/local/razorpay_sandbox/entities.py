"""Orders, payments and refunds as the sandbox keeps them, and their Razorpay JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from infra.local.razorpay_sandbox.ids import now

JSON = dict[str, Any]


def notes_json(notes: dict[str, Any]) -> dict[str, Any] | list[Any]:
    """Razorpay quirk: empty notes are ``[]`` (a PHP empty array), never ``{}``."""
    return dict(notes) if notes else []


def collection(items: list[JSON]) -> JSON:
    return {"entity": "collection", "count": len(items), "items": items}


@dataclass(kw_only=True)
class Order:
    id: str
    amount: int
    currency: str
    receipt: str | None
    notes: dict[str, Any]
    payment_capture: bool | None = None
    amount_paid: int = 0
    status: str = "created"
    attempts: int = 0
    created_at: int = field(default_factory=now)

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "entity": "order",
            "amount": self.amount,
            "amount_paid": self.amount_paid,
            "amount_due": self.amount - self.amount_paid,
            "currency": self.currency,
            "receipt": self.receipt,
            "offer_id": None,
            "status": self.status,
            "attempts": self.attempts,
            "notes": notes_json(self.notes),
            "created_at": self.created_at,
        }


@dataclass(kw_only=True)
class Payment:
    id: str
    order_id: str
    amount: int
    currency: str
    method: str
    email: str
    contact: str
    status: str = "created"
    captured: bool = False
    amount_refunded: int = 0
    description: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    vpa: str | None = None
    bank: str | None = None
    wallet: str | None = None
    card_id: str | None = None
    fee: int | None = None
    tax: int | None = None
    error_code: str | None = None
    error_description: str | None = None
    error_source: str | None = None
    error_step: str | None = None
    error_reason: str | None = None
    acquirer_data: JSON = field(default_factory=dict)
    created_at: int = field(default_factory=now)

    @property
    def refund_status(self) -> str | None:
        if self.amount_refunded == 0:
            return None
        return "full" if self.amount_refunded >= self.amount else "partial"

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "entity": "payment",
            "amount": self.amount,
            "currency": self.currency,
            "status": self.status,
            "order_id": self.order_id,
            "invoice_id": None,
            "international": False,
            "method": self.method,
            "amount_refunded": self.amount_refunded,
            "refund_status": self.refund_status,
            "captured": self.captured,
            "description": self.description,
            "card_id": self.card_id,
            "bank": self.bank,
            "wallet": self.wallet,
            "vpa": self.vpa,
            "email": self.email,
            "contact": self.contact,
            "notes": notes_json(self.notes),
            "fee": self.fee,
            "tax": self.tax,
            "error_code": self.error_code,
            "error_description": self.error_description,
            "error_source": self.error_source,
            "error_step": self.error_step,
            "error_reason": self.error_reason,
            "acquirer_data": dict(self.acquirer_data),
            "created_at": self.created_at,
        }


@dataclass(kw_only=True)
class Refund:
    id: str
    payment_id: str
    amount: int
    currency: str
    speed_requested: str
    notes: dict[str, Any]
    receipt: str | None
    status: str = "pending"
    created_at: int = field(default_factory=now)

    @property
    def speed_processed(self) -> str | None:
        if self.status != "processed":
            return None
        return "instant" if self.speed_requested == "optimum" else "normal"

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "entity": "refund",
            "amount": self.amount,
            "currency": self.currency,
            "payment_id": self.payment_id,
            "notes": notes_json(self.notes),
            "receipt": self.receipt,
            "acquirer_data": {"arn": None},
            "created_at": self.created_at,
            "batch_id": None,
            "status": self.status,
            "speed_processed": self.speed_processed,
            "speed_requested": self.speed_requested,
        }


@dataclass(frozen=True, kw_only=True)
class Event:
    """A webhook event to send: its name and the entity snapshots of its payload, in order."""

    name: str
    entities: dict[str, JSON]
