"""Checkout and webhook signatures agree with RAZORPAY.md's vector and the SDK's verifier."""

from __future__ import annotations

import razorpay

from infra.local.razorpay_sandbox import checkout_signature, webhook_signature

VECTOR_SECRET = "EnLs21M47BllR3X8PSFtjtbd"
VECTOR_ORDER = "order_IEIaMR65cu6nz3"
VECTOR_PAYMENT = "pay_IH4NVgf4Dreq1l"
VECTOR_SIGNATURE = "0d4e745a1838664ad6c9c9902212a32d627d68e917290b0ad5f08ff4561bc50f"


def test_checkout_signature_test_vector() -> None:
    signature = checkout_signature(
        key_secret=VECTOR_SECRET, order_id=VECTOR_ORDER, payment_id=VECTOR_PAYMENT
    )
    assert signature == VECTOR_SIGNATURE


def test_sdk_verifies_the_vector() -> None:
    client = razorpay.Client(auth=("rzp_test_IEIaMR65cu6nz3", VECTOR_SECRET))
    try:
        assert client.utility.verify_payment_signature(
            {
                "razorpay_order_id": VECTOR_ORDER,
                "razorpay_payment_id": VECTOR_PAYMENT,
                "razorpay_signature": VECTOR_SIGNATURE,
            }
        )
    finally:
        client.session.close()


def test_webhook_signature_matches_sdk() -> None:
    body = b'{"entity":"event","event":"payment.captured"}'
    signature = webhook_signature(secret="whsec", body=body)
    client = razorpay.Client(auth=("k", "s"))
    try:
        assert client.utility.verify_webhook_signature(body.decode(), signature, "whsec")
    finally:
        client.session.close()
