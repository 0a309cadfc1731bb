"""Customer PII (e-mail, phone): sealed at rest, opened only for its owner, an admin or a send.

Pure: the port, the sealed-text marker and the redaction of free text. The adapter
(``datasources/kms/envelope.py``) seals with KMS envelope encryption, the customer id as the
encryption context; app/ wires it (or ``DropPii`` there when no KMS key is configured).

A sealed value is text starting with :data:`SEALED_PREFIX`; anything else is a plain value
written before encryption was turned on (``python -m app.encrypt_pii`` seals those).
"""

from __future__ import annotations

import re
from typing import Final, Protocol

from domain.payment_ports import PaymentPortError

SEALED_PREFIX: Final = "pii:"
REDACTED: Final = "[redacted]"

# e-mail addresses, and phone-like runs: an optional +, then 10 to 15 digits that may be
# separated by single spaces, dots or dashes (Razorpay ids and amounts are not like that:
# ids carry letters, amounts in details are short or followed by "paise")
_EMAIL: Final = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_PHONE: Final = re.compile(r"(?<![\w.\-])\+?\d(?:[ .\-]?\d){9,14}(?![\w\-])")


class PiiError(PaymentPortError):
    """A value could not be sealed or opened (KMS unreachable: retryable; a value sealed for
    another customer, or tampered with: not)."""


def is_sealed(value: str | None) -> bool:
    return value is not None and value.startswith(SEALED_PREFIX)


def redact(text: str | None) -> str | None:
    """Free text (a timeline detail, a reason) without e-mail addresses or phone numbers."""
    if text is None:
        return None
    return _PHONE.sub(REDACTED, _EMAIL.sub(REDACTED, text))


class PiiVault(Protocol):
    """Seals and opens one customer's PII. ``None`` stays ``None``."""

    async def seal(self, value: str | None, *, customer_id: str) -> str | None:
        """The value sealed for ``customer_id`` (a sealed value is answered as it is)."""
        ...

    async def open(self, value: str | None, *, customer_id: str) -> str | None:
        """The plain value; a plain (legacy) value is answered as it is. Raises
        :class:`PiiError` when a sealed value cannot be opened for ``customer_id``."""
        ...
