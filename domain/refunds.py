"""Refunds: never more than was captured, in total, counting refunds still in flight."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.errors import DomainError, ErrorCode, InvalidInput
from domain.payments import PAID_STATUSES, PaymentStatus

_KEY = re.compile(r"^[\x21-\x7e]{10,100}$")  # Razorpay wants X-Refund-Idempotency ≥ 10 chars


class RefundStatus(StrEnum):
    PENDING = "PENDING"  # asked for (or being asked for) at Razorpay, not settled yet
    PROCESSED = "PROCESSED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True, kw_only=True)
class Refund:
    id: str
    session_id: str
    amount: int
    currency: str
    status: RefundStatus
    idempotency_key: str
    reason: str | None
    razorpay_refund_id: str | None
    created_at: datetime
    processed_at: datetime | None = None


def validate_refund_key(key: str) -> str:
    if not _KEY.match(key):
        raise InvalidInput(
            "idempotencyKey must be 10 to 100 printable characters without spaces",
            field=["input", "idempotencyKey"],
        )
    return key


def committed_total(refunds: Sequence[Refund]) -> int:
    """Refunded or on its way: what may not be refunded again."""
    return sum(r.amount for r in refunds if r.status is not RefundStatus.FAILED)


def processed_total(refunds: Sequence[Refund]) -> int:
    return sum(r.amount for r in refunds if r.status is RefundStatus.PROCESSED)


def plan_refund(
    *,
    status: PaymentStatus,
    captured: int,
    refunds: Sequence[Refund],
    requested: int | None,
) -> int:
    """The amount to refund: ``requested``, or all that is left. Raises the API's codes."""
    if status not in PAID_STATUSES or captured <= 0:
        raise DomainError(
            f"only a paid session can be refunded (this one is {status.value})",
            code=ErrorCode.NOT_REFUNDABLE,
        )
    left = captured - committed_total(refunds)
    amount = left if requested is None else requested
    if requested is not None and requested <= 0:
        raise InvalidInput("amount must be at least 1 paisa", field=["input", "amount"])
    if amount <= 0 or amount > left:
        raise DomainError(
            f"at most {max(left, 0)} paise can still be refunded",
            code=ErrorCode.REFUND_EXCEEDS_CAPTURED,
            field=["input", "amount"],
        )
    return amount
