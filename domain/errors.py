"""Expected failures, typed. Every code a client may see is a member of :class:`ErrorCode`.

Error tree::

    DomainError                     (code, message, field)
     ├── InvalidInput               INVALID_INPUT
     ├── NotFound                   *_NOT_FOUND
     ├── QueryTooComplex            QUERY_TOO_COMPLEX (domain/query_cost.py; a GraphQL error)
     ├── Unauthenticated            UNAUTHENTICATED  (not a payload error: a GraphQL error)
     └── Forbidden                  FORBIDDEN        (not a payload error: a GraphQL error)
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_INPUT = "INVALID_INPUT"
    PRODUCT_NOT_FOUND = "PRODUCT_NOT_FOUND"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    QUANTITY_LIMIT = "QUANTITY_LIMIT"
    LINE_LIMIT = "LINE_LIMIT"
    LINE_NOT_FOUND = "LINE_NOT_FOUND"
    CART_EMPTY = "CART_EMPTY"
    CART_TOTAL_LIMIT = "CART_TOTAL_LIMIT"
    CART_VERSION_MISMATCH = "CART_VERSION_MISMATCH"
    COUPON_INVALID = "COUPON_INVALID"
    OFFER_NOT_FOUND = "OFFER_NOT_FOUND"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    PAYMENT_SESSION_NOT_FOUND = "PAYMENT_SESSION_NOT_FOUND"
    PAYMENT_SESSION_CLOSED = "PAYMENT_SESSION_CLOSED"
    PAYMENT_IN_PROGRESS = "PAYMENT_IN_PROGRESS"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
    GATEWAY_UNAVAILABLE = "GATEWAY_UNAVAILABLE"
    REFUND_EXCEEDS_CAPTURED = "REFUND_EXCEEDS_CAPTURED"
    NOT_REFUNDABLE = "NOT_REFUNDABLE"
    STOCK_CONFLICT = "STOCK_CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
    PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"


class DomainError(Exception):
    """An expected failure with a code a client can branch on."""

    code: ErrorCode = ErrorCode.INVALID_INPUT

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        field: Sequence[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field: list[str] | None = list(field) if field is not None else None


class InvalidInput(DomainError):
    code = ErrorCode.INVALID_INPUT


class NotFound(DomainError):
    code = ErrorCode.PRODUCT_NOT_FOUND


class Unauthenticated(DomainError):
    code = ErrorCode.UNAUTHENTICATED


class Forbidden(DomainError):
    code = ErrorCode.FORBIDDEN
