"""Razorpay's HMAC-SHA256 signatures, compared in constant time.

* Checkout: ``hex(HMAC_SHA256(key_secret, order_id + "|" + payment_id))``. Verify with the order
  id stored on the session, never one the client sent.
* Webhooks: ``hex(HMAC_SHA256(webhook_secret, raw_body))``, over the raw bytes, before parsing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable


def hmac_sha256_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def checkout_signature(*, key_secret: str, order_id: str, payment_id: str) -> str:
    return hmac_sha256_hex(key_secret, f"{order_id}|{payment_id}".encode())


def checkout_signature_valid(
    *, key_secret: str, order_id: str, payment_id: str, signature: str
) -> bool:
    expected = checkout_signature(key_secret=key_secret, order_id=order_id, payment_id=payment_id)
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())


def webhook_signature_valid(*, secrets: Iterable[str], body: bytes, signature: str) -> bool:
    """True if any of the secrets (current, previous during a rotation) signed ``body``."""
    given = signature.strip().lower().encode()
    valid = False
    for secret in secrets:
        if secret:
            # no early exit: the time taken does not tell which secret matched
            valid |= hmac.compare_digest(hmac_sha256_hex(secret, body).encode(), given)
    return valid
