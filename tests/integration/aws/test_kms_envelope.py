"""KMS envelope encryption of PII (datasources/kms/envelope.py) against the emulator's real KMS
(moto server over HTTP): round trip, the customer as encryption context and associated data,
the format, and the data-key caches' bounds (age, uses) measured in KMS calls."""

from __future__ import annotations

import base64
import struct
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from datasources.aws import AwsClients
from datasources.kms.envelope import KmsEnvelope, KmsPiiVault, decode, encode
from domain.pii import PiiError, is_sealed


class KmsCalls:
    """The KMS operations the envelope sent, counted from botocore's events."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def __call__(self, *, model: Any, **_: Any) -> None:
        self.counts[model.name] += 1


class ManualTimer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def calls(aws: AwsClients) -> AsyncIterator[KmsCalls]:
    counter = KmsCalls()
    kms = await aws.client("kms")
    kms.meta.events.register("before-call.kms", counter)
    yield counter
    kms.meta.events.unregister("before-call.kms", counter)


def envelope(aws: AwsClients, key: str, **bounds: Any) -> KmsEnvelope:
    return KmsEnvelope(clients=aws, key_id=key, **bounds)


async def test_a_value_round_trips_and_is_not_in_its_sealed_text(
    aws: AwsClients, kms_key_id: str
) -> None:
    vault = KmsPiiVault(envelope(aws, kms_key_id))
    sealed = await vault.seal("asha@example.com", customer_id="customer-asha")
    assert sealed is not None and is_sealed(sealed)
    assert "asha" not in sealed and b"asha@example.com" not in base64.b64decode(sealed[4:])
    assert await vault.open(sealed, customer_id="customer-asha") == "asha@example.com"
    # sealing twice: other nonces, other text; None and sealed values are left as they are
    assert await vault.seal("asha@example.com", customer_id="customer-asha") != sealed
    assert await vault.seal(None, customer_id="customer-asha") is None
    assert await vault.seal(sealed, customer_id="customer-asha") == sealed
    assert await vault.open("legacy@example.com", customer_id="x") == "legacy@example.com"


async def test_the_format_is_versioned_and_length_prefixed(
    aws: AwsClients, kms_key_id: str
) -> None:
    sealed = await envelope(aws, kms_key_id).encrypt("+919900000001", customer_id="c-1")
    blob = base64.b64decode(sealed.removeprefix("pii:"))
    version, key_length = struct.unpack(">BH", blob[:3])
    assert version == 1
    encrypted_key, nonce, ciphertext = decode(sealed)
    assert blob[3 : 3 + key_length] == encrypted_key and len(nonce) == 12
    assert len(ciphertext) == len("+919900000001") + 16  # AES-GCM's tag
    assert encode(encrypted_key=encrypted_key, nonce=nonce, ciphertext=ciphertext) == sealed


async def test_another_customer_cannot_open_it(aws: AwsClients, kms_key_id: str) -> None:
    sealed = await envelope(aws, kms_key_id).encrypt("asha@example.com", customer_id="asha")
    # a fresh envelope (no cached keys): KMS itself refuses the other encryption context
    with pytest.raises(PiiError) as refused:
        await envelope(aws, kms_key_id).decrypt(sealed, customer_id="ravi")
    assert "Decrypt" in refused.value.message and not refused.value.retryable
    # the data key opened for its own customer: AES-GCM's associated data still refuses
    shared = envelope(aws, kms_key_id)
    assert await shared.decrypt(sealed, customer_id="asha") == "asha@example.com"
    with pytest.raises(PiiError):
        await shared.decrypt(sealed, customer_id="ravi")


async def test_tampered_or_malformed_values_do_not_open(aws: AwsClients, kms_key_id: str) -> None:
    box = envelope(aws, kms_key_id)
    encrypted_key, nonce, ciphertext = decode(await box.encrypt("a@b.in", customer_id="c"))
    flipped = ciphertext[:-1] + bytes([ciphertext[-1] ^ 1])
    tampered = encode(encrypted_key=encrypted_key, nonce=nonce, ciphertext=flipped)
    for bad in (tampered, "pii:not-base64!", "pii:" + base64.b64encode(b"\x02\x00\x01").decode()):
        with pytest.raises(PiiError):
            await box.decrypt(bad, customer_id="c")


async def test_data_keys_are_reused_up_to_their_uses(
    aws: AwsClients, kms_key_id: str, calls: KmsCalls
) -> None:
    box = envelope(aws, kms_key_id, max_uses=3)
    sealed = [await box.encrypt(f"v{i}", customer_id="c-uses") for i in range(7)]
    assert calls.counts["GenerateDataKey"] == 3  # 3 + 3 + 1 values
    assert len({decode(s)[0] for s in sealed}) == 3
    await box.encrypt("other", customer_id="c-other")  # a key per customer
    assert calls.counts["GenerateDataKey"] == 4
    opener = envelope(aws, kms_key_id, max_uses=3)
    same_key = [s for s in sealed if decode(s)[0] == decode(sealed[0])[0]]
    for value in same_key * 2:  # 6 opens of one data key: 2 Decrypt calls
        await opener.decrypt(value, customer_id="c-uses")
    assert calls.counts["Decrypt"] == 2


async def test_data_keys_are_reused_up_to_their_age(
    aws: AwsClients, kms_key_id: str, calls: KmsCalls
) -> None:
    timer = ManualTimer()
    box = envelope(aws, kms_key_id, max_age_seconds=300, timer=timer)
    first = await box.encrypt("v1", customer_id="c-age")
    timer.now += 299
    second = await box.encrypt("v2", customer_id="c-age")
    assert calls.counts["GenerateDataKey"] == 1 and decode(first)[0] == decode(second)[0]
    timer.now += 2  # 301 s after the key was made
    third = await box.encrypt("v3", customer_id="c-age")
    assert calls.counts["GenerateDataKey"] == 2 and decode(third)[0] != decode(first)[0]
    for value in (first, first):
        assert await box.decrypt(value, customer_id="c-age") == "v1"
    assert calls.counts["Decrypt"] == 1
    timer.now += 301
    assert await box.decrypt(first, customer_id="c-age") == "v1"
    assert calls.counts["Decrypt"] == 2


async def test_at_most_so_many_customers_are_cached(
    aws: AwsClients, kms_key_id: str, calls: KmsCalls
) -> None:
    box = envelope(aws, kms_key_id, max_customers=2)
    for customer in ("a", "b", "c", "a"):
        await box.encrypt("v", customer_id=customer)
    assert calls.counts["GenerateDataKey"] == 4  # "a" was dropped for "c"
