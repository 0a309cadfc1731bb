"""KMS envelope encryption of customer PII: AES-256-GCM data keys from KMS, per customer.

Sealing a value for a customer::

    data key   KMS GenerateDataKey(KeyId, KeySpec=AES_256, EncryptionContext={"customer_id": id})
               -> the plaintext key (memory only) and its encrypted copy (stored with the value)
    value      AES-GCM(key, 12-byte random nonce, plaintext, associated data = customer id)
    text       "pii:" + base64( 0x01 | len(encrypted key), 2 bytes big-endian | encrypted key
                                | nonce | ciphertext + 16-byte tag )

Opening it: KMS Decrypt(encrypted key, the same encryption context), then AES-GCM with the
same associated data. A value copied onto another customer's row fails twice over: KMS refuses
the context and AES-GCM the associated data.

Data keys are cached, per customer, for at most ``max_age`` seconds and ``max_uses`` values
(and ``max_customers`` customers), so a checkout costs no KMS call most of the time and one
data key never encrypts much. Decrypted data keys are cached the same way, keyed by the
encrypted key and the customer. Plaintext keys live in process memory only.

The AWS Encryption SDK was considered and rejected: it speaks synchronous boto3 only (a KMS
call would block the event loop), its import is heavy for a Lambda cold start, and it brings a
large dependency for what is ~100 lines over ``cryptography``'s AESGCM here.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from botocore.exceptions import BotoCoreError, ClientError
from cachetools import TTLCache
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from datasources.aws import ClientFactory
from domain.pii import SEALED_PREFIX, PiiError, is_sealed

logger = logging.getLogger(__name__)

VERSION: Final = 1
NONCE_BYTES: Final = 12
CONTEXT_KEY: Final = "customer_id"
DEFAULT_MAX_AGE_SECONDS: Final = 300.0
DEFAULT_MAX_USES: Final = 100
DEFAULT_MAX_CUSTOMERS: Final = 1000
_RETRYABLE: Final = frozenset(
    {
        "ThrottlingException",
        "KMSInternalException",
        "DependencyTimeoutException",
        "ServiceUnavailableException",
        "RequestLimitExceeded",
    }
)


@dataclass(slots=True)
class _DataKey:
    plaintext: bytes
    encrypted: bytes
    uses: int = 0


def _context(customer_id: str) -> dict[str, str]:
    if not customer_id:
        raise PiiError("a customer id is needed to seal or open PII", retryable=False)
    return {CONTEXT_KEY: customer_id}


def _translate(exc: Exception, operation: str) -> PiiError:
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return PiiError(f"kms {operation}: {code}", retryable=code in _RETRYABLE or status >= 500)
    return PiiError(f"kms {operation}: {type(exc).__name__}", retryable=True)


def encode(*, encrypted_key: bytes, nonce: bytes, ciphertext: bytes) -> str:
    if len(nonce) != NONCE_BYTES:
        raise ValueError("the nonce must be 12 bytes")
    blob = struct.pack(">BH", VERSION, len(encrypted_key)) + encrypted_key + nonce + ciphertext
    return SEALED_PREFIX + base64.b64encode(blob).decode("ascii")


def decode(sealed: str) -> tuple[bytes, bytes, bytes]:
    """(encrypted key, nonce, ciphertext + tag) of a sealed text; PiiError if malformed."""
    if not is_sealed(sealed):
        raise PiiError("not a sealed value", retryable=False)
    try:
        blob = base64.b64decode(sealed[len(SEALED_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PiiError("malformed sealed value", retryable=False) from exc
    if len(blob) < 3:
        raise PiiError("malformed sealed value", retryable=False)
    version, key_length = struct.unpack(">BH", blob[:3])
    if version != VERSION:
        raise PiiError(f"unknown sealed value version {version}", retryable=False)
    rest = blob[3:]
    if len(rest) < key_length + NONCE_BYTES + 16:
        raise PiiError("malformed sealed value", retryable=False)
    encrypted_key = rest[:key_length]
    nonce = rest[key_length : key_length + NONCE_BYTES]
    return encrypted_key, nonce, rest[key_length + NONCE_BYTES :]


class KmsEnvelope:
    """Seals and opens PII with one KMS key; process-scoped (its caches are its point)."""

    def __init__(
        self,
        *,
        clients: ClientFactory,
        key_id: str,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        max_uses: int = DEFAULT_MAX_USES,
        max_customers: int = DEFAULT_MAX_CUSTOMERS,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if not key_id:
            raise ValueError("key_id is required")
        if max_uses < 1 or max_age_seconds <= 0 or max_customers < 1:
            raise ValueError("cache bounds must be positive")
        self._clients = clients
        self._key_id = key_id
        self._max_uses = max_uses
        self._data_keys: TTLCache[str, _DataKey] = TTLCache(
            maxsize=max_customers, ttl=max_age_seconds, timer=timer
        )
        self._opened_keys: TTLCache[tuple[bytes, str], _DataKey] = TTLCache(
            maxsize=max_customers, ttl=max_age_seconds, timer=timer
        )

    async def _data_key(self, customer_id: str) -> _DataKey:
        cached = self._data_keys.get(customer_id)
        if cached is not None and cached.uses < self._max_uses:
            return cached
        client = await self._clients.client("kms")
        try:
            answer = await client.generate_data_key(
                KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=_context(customer_id)
            )
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "GenerateDataKey") from exc
        fresh = _DataKey(plaintext=answer["Plaintext"], encrypted=answer["CiphertextBlob"])
        self._data_keys[customer_id] = fresh
        return fresh

    async def _opened_key(self, encrypted: bytes, customer_id: str) -> bytes:
        cached = self._opened_keys.get((encrypted, customer_id))
        if cached is not None and cached.uses < self._max_uses:
            cached.uses += 1
            return cached.plaintext
        client = await self._clients.client("kms")
        try:
            answer = await client.decrypt(
                CiphertextBlob=encrypted,
                EncryptionContext=_context(customer_id),
                KeyId=self._key_id,
            )
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "Decrypt") from exc
        opened = _DataKey(plaintext=answer["Plaintext"], encrypted=encrypted, uses=1)
        self._opened_keys[(encrypted, customer_id)] = opened
        return opened.plaintext

    async def encrypt(self, plaintext: str, *, customer_id: str) -> str:
        key = await self._data_key(customer_id)
        key.uses += 1
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(key.plaintext).encrypt(
            nonce, plaintext.encode("utf-8"), customer_id.encode("utf-8")
        )
        return encode(encrypted_key=key.encrypted, nonce=nonce, ciphertext=ciphertext)

    async def decrypt(self, sealed: str, *, customer_id: str) -> str:
        encrypted_key, nonce, ciphertext = decode(sealed)
        key = await self._opened_key(encrypted_key, customer_id)
        try:
            plain = AESGCM(key).decrypt(nonce, ciphertext, customer_id.encode("utf-8"))
        except InvalidTag as exc:
            raise PiiError("sealed value does not open for this customer", retryable=False) from exc
        return plain.decode("utf-8")


class KmsPiiVault:
    """:class:`domain.pii.PiiVault` over :class:`KmsEnvelope`."""

    def __init__(self, envelope: KmsEnvelope) -> None:
        self.envelope = envelope

    async def seal(self, value: str | None, *, customer_id: str) -> str | None:
        if value is None or is_sealed(value):
            return value
        return await self.envelope.encrypt(value, customer_id=customer_id)

    async def open(self, value: str | None, *, customer_id: str) -> str | None:
        if value is None or not is_sealed(value):
            return value
        return await self.envelope.decrypt(value, customer_id=customer_id)


class DropPii:
    """The vault without a KMS key (never in production: it requires ``KMS_KEY_ID``): PII is
    not stored at all rather than stored in plain text, and that is logged once. Checkouts
    then have no prefill and customer notifications no contact; sealed values stay closed."""

    def __init__(self) -> None:
        self._warned = False

    async def seal(self, value: str | None, *, customer_id: str) -> str | None:
        if value is None or is_sealed(value):
            return value
        if not self._warned:
            self._warned = True
            logger.warning(
                "KMS_KEY_ID is not set: customer e-mail and phone are not stored "
                "(set it to keep them, encrypted with KMS)"
            )
        return None

    async def open(self, value: str | None, *, customer_id: str) -> str | None:
        return None if is_sealed(value) else value
