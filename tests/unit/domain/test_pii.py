"""domain/pii.py: what counts as sealed, and free text without e-mail addresses or phones
(timeline details), plus the vault used without a KMS key."""

from __future__ import annotations

import logging

import pytest

from datasources.kms.envelope import DropPii
from domain.pii import REDACTED, is_sealed, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("refund for asha@example.com", f"refund for {REDACTED}"),
        ("call +91 98765 43210 now", f"call {REDACTED} now"),
        ("+919900000001", REDACTED),
        ("9876543210.", f"{REDACTED}."),
        ("a.b-c+d@mail.example.co.in, +91-98765-43210", f"{REDACTED}, {REDACTED}"),
        # what timeline details are made of stays as it is
        ("pay_ABC123def456: captured", "pay_ABC123def456: captured"),
        ("49900 paise", "49900 paise"),
        ("CREATED → PAID on capture (order_Nabc123)", "CREATED → PAID on capture (order_Nabc123)"),
        ("12345678-1234-5678-9abc-123456789012", "12345678-1234-5678-9abc-123456789012"),
        ("at 2026-12-02T10:00:00.123456Z", "at 2026-12-02T10:00:00.123456Z"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_keeps_none_and_sealed_is_the_prefix() -> None:
    assert redact(None) is None
    assert is_sealed("pii:AQ==") and not is_sealed("asha@example.com") and not is_sealed(None)


async def test_without_a_key_pii_is_not_stored_and_that_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    vault = DropPii()
    with caplog.at_level(logging.WARNING):
        assert await vault.seal("asha@example.com", customer_id="c") is None
        assert await vault.seal("+919900000001", customer_id="c") is None
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "KMS_KEY_ID" in caplog.records[0].message
    assert await vault.seal(None, customer_id="c") is None
    assert await vault.open("pii:AQ==", customer_id="c") is None  # cannot open: no key
    assert await vault.open("legacy@example.com", customer_id="c") == "legacy@example.com"
