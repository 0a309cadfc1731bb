"""Razorpay webhook bodies (RAZORPAY.md, Webhooks) read into the gateway's records. Pure.

Only what the payment flow needs is read; anything malformed raises :class:`MalformedEvent`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from domain.gateway import GatewayPayment, GatewayRefund

MAX_BODY_BYTES = 256 * 1024
PAYMENT_EVENTS = frozenset(
    {"payment.authorized", "payment.captured", "payment.failed", "order.paid"}
)
REFUND_EVENTS = frozenset({"refund.created", "refund.processed", "refund.failed"})


class MalformedEvent(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    name: str
    payment: GatewayPayment | None
    refund: GatewayRefund | None
    # when Razorpay made the event (epoch seconds), if the body says
    created_at: int | None = field(default=None, compare=False)


def _entity(payload: Any, name: str) -> dict[str, Any] | None:
    if not isinstance(payload, dict):
        return None
    wrapper = payload.get(name)
    entity = wrapper.get("entity") if isinstance(wrapper, dict) else None
    return entity if isinstance(entity, dict) else None


def _int(entity: dict[str, Any], key: str) -> int:
    value = entity.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedEvent(f"{key} is not an integer")
    return value


def _str(entity: dict[str, Any], key: str) -> str:
    value = entity.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"{key} is missing")
    return value


def _opt(entity: dict[str, Any], key: str) -> str | None:
    value = entity.get(key)
    return value if isinstance(value, str) else None


def payment_of(entity: dict[str, Any]) -> GatewayPayment:
    return GatewayPayment(
        id=_str(entity, "id"),
        order_id=_opt(entity, "order_id"),
        amount=_int(entity, "amount"),
        currency=_str(entity, "currency"),
        status=_str(entity, "status"),
        captured=entity.get("captured") is True,
        method=_opt(entity, "method"),
        amount_refunded=_int(entity, "amount_refunded") if "amount_refunded" in entity else 0,
        email=_opt(entity, "email"),
        contact=_opt(entity, "contact"),
        error_code=_opt(entity, "error_code"),
        error_description=_opt(entity, "error_description"),
    )


def refund_of(entity: dict[str, Any]) -> GatewayRefund:
    return GatewayRefund(
        id=_str(entity, "id"),
        payment_id=_str(entity, "payment_id"),
        amount=_int(entity, "amount"),
        currency=_str(entity, "currency"),
        status=_str(entity, "status"),
        notes={str(k): str(v) for k, v in notes.items()}
        if isinstance(notes := entity.get("notes"), dict)
        else {},
    )


def parse_event(body: bytes) -> WebhookEvent:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEvent("not JSON") from exc
    if not isinstance(document, dict) or not isinstance(document.get("event"), str):
        raise MalformedEvent("no event name")
    name: str = document["event"]
    payload = document.get("payload")
    payment_entity = _entity(payload, "payment")
    refund_entity = _entity(payload, "refund")
    if name in PAYMENT_EVENTS and payment_entity is None:
        raise MalformedEvent(f"{name} without a payment")
    if name in REFUND_EVENTS and refund_entity is None:
        raise MalformedEvent(f"{name} without a refund")
    return WebhookEvent(
        name=name,
        payment=payment_of(payment_entity) if payment_entity is not None else None,
        refund=refund_of(refund_entity) if refund_entity is not None else None,
        created_at=_epoch(document.get("created_at")),
    )


def _epoch(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
