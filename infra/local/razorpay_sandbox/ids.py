"""Razorpay-style ids and signatures."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import time

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
ID_LENGTH = 14


def new_id(prefix: str) -> str:
    """``prefix`` + ``_`` + 14 base62 characters (``new_id("pay")`` → ``pay_Hx3…``)."""
    body = "".join(secrets.choice(BASE62) for _ in range(ID_LENGTH))
    return f"{prefix}_{body}" if prefix else body


def now() -> int:
    """Unix seconds, as Razorpay's ``created_at``."""
    return int(time.time())


def hmac_hex(*, secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def checkout_signature(*, key_secret: str, order_id: str, payment_id: str) -> str:
    """``hex(HMAC_SHA256(key_secret, order_id + "|" + payment_id))``."""
    return hmac_hex(secret=key_secret, message=f"{order_id}|{payment_id}".encode())


def webhook_signature(*, secret: str, body: bytes) -> str:
    """``X-Razorpay-Signature``: hex HMAC-SHA256 of the raw body with the webhook secret."""
    return hmac_hex(secret=secret, message=body)
