"""Razorpay webhook deliveries for tests: bodies as RAZORPAY.md shapes them, signed likewise."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import httpx

from domain.signatures import hmac_sha256_hex
from tests.support.stack import RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET, RAZORPAY_WEBHOOK_SECRET


async def sandbox_entity(base_url: str, path: str) -> dict[str, Any]:
    async with httpx.AsyncClient(auth=(RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET)) as client:
        entity: dict[str, Any] = (await client.get(f"{base_url}/v1/{path}")).json()
    return entity


def event_body(name: str, *, created_at: int | None = None, **entities: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "entity": "event",
            "account_id": "acc_TestAccount001",
            "event": name,
            "contains": list(entities),
            "payload": {kind: {"entity": entity} for kind, entity in entities.items()},
            "created_at": int(time.time()) if created_at is None else created_at,
        }
    ).encode()


def signed_headers(
    body: bytes, *, event_id: str | None = None, secret: str = RAZORPAY_WEBHOOK_SECRET
) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "x-razorpay-signature": hmac_sha256_hex(secret, body),
        "x-razorpay-event-id": event_id or secrets.token_urlsafe(10),
        "user-agent": "Razorpay-Webhook/v1",
    }


async def deliver(
    client: httpx.AsyncClient, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    return await client.post("/webhooks/razorpay", content=body, headers=headers)


def payment_entity(
    *, id: str = "pay_Fake000000001", order_id: str = "order_Fake00000001", **changes: Any
) -> dict[str, Any]:
    """A captured payment entity as Razorpay's webhooks carry it (the unit tests' fakes use
    the same ids); ``changes`` replace fields."""
    entity: dict[str, Any] = {
        "id": id,
        "entity": "payment",
        "amount": 11_800,
        "currency": "INR",
        "status": "captured",
        "order_id": order_id,
        "method": "upi",
        "captured": True,
        "amount_refunded": 0,
        "refund_status": None,
        "email": "asha@example.com",
        "contact": "+919900000001",
        "error_code": None,
        "error_description": None,
        "created_at": 1_736_942_000,
    }
    entity.update(changes)
    return entity
