"""Refund planning: never more than was captured, in total, counting refunds still in flight.

Messages and fields are asserted too: they reach the admin as ``errors { code field message }``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import DomainError, ErrorCode, InvalidInput
from domain.payments import PaymentStatus
from domain.refunds import (
    Refund,
    RefundStatus,
    committed_total,
    plan_refund,
    processed_total,
    validate_refund_key,
)

S = PaymentStatus
CAPTURED = 10_000
AT = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


def refund(amount: int, status: RefundStatus, *, n: int = 1) -> Refund:
    return Refund(
        id=f"refund-{n}",
        session_id="session-1",
        amount=amount,
        currency="INR",
        status=status,
        idempotency_key=f"refund-key-{n:04d}",
        reason=None,
        razorpay_refund_id=None if status is RefundStatus.PENDING else f"rfnd_{n:014d}",
        created_at=AT,
    )


MIXED = [
    refund(1_000, RefundStatus.PROCESSED, n=1),
    refund(2_000, RefundStatus.PENDING, n=2),
    refund(4_000, RefundStatus.FAILED, n=3),
    refund(500, RefundStatus.PROCESSED, n=4),
]


def test_totals_count_what_each_one_promises() -> None:
    assert processed_total(MIXED) == 1_500  # settled at Razorpay
    assert committed_total(MIXED) == 3_500  # settled or on its way; failed ones free their amount
    assert processed_total([]) == committed_total([]) == 0


@pytest.mark.parametrize(
    ("refunds", "requested", "expected"),
    [
        ([], None, CAPTURED),  # everything
        ([], 1, 1),  # the smallest refund
        ([], CAPTURED, CAPTURED),  # exactly all of it
        (MIXED, None, CAPTURED - 3_500),  # all that is left, pending ones counted
        (MIXED, CAPTURED - 3_500, CAPTURED - 3_500),
        ([refund(CAPTURED, RefundStatus.FAILED)], None, CAPTURED),  # a failed one is free again
    ],
)
@pytest.mark.parametrize("status", [S.PAID, S.PARTIALLY_REFUNDED])
def test_plan_refund_answers_the_amount(
    status: S, refunds: list[Refund], requested: int | None, expected: int
) -> None:
    assert plan_refund(status=status, captured=CAPTURED, refunds=refunds, requested=requested) == (
        expected
    )


@pytest.mark.parametrize(
    "status", [S.CREATED, S.ATTEMPTED, S.AUTHORIZED, S.FAILED, S.EXPIRED, S.CANCELLED]
)
def test_only_a_paid_session_can_be_refunded(status: S) -> None:
    with pytest.raises(DomainError) as caught:
        plan_refund(status=status, captured=CAPTURED, refunds=[], requested=1_000)
    assert caught.value.code is ErrorCode.NOT_REFUNDABLE
    assert caught.value.message == (
        f"only a paid session can be refunded (this one is {status.value})"
    )
    assert caught.value.field is None


@pytest.mark.parametrize("captured", [0, -1])
def test_nothing_captured_is_not_refundable(captured: int) -> None:
    with pytest.raises(DomainError) as caught:
        plan_refund(status=S.PAID, captured=captured, refunds=[], requested=None)
    assert caught.value.code is ErrorCode.NOT_REFUNDABLE


def test_one_paisa_captured_is_refundable() -> None:
    assert plan_refund(status=S.PAID, captured=1, refunds=[], requested=None) == 1


@pytest.mark.parametrize("requested", [0, -1, -CAPTURED])
def test_a_requested_amount_must_be_positive(requested: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        plan_refund(status=S.PAID, captured=CAPTURED, refunds=[], requested=requested)
    assert caught.value.code is ErrorCode.INVALID_INPUT
    assert caught.value.message == "amount must be at least 1 paisa"
    assert caught.value.field == ["input", "amount"]


@pytest.mark.parametrize(
    ("status", "refunds", "requested", "left"),
    [
        (S.PAID, [], CAPTURED + 1, CAPTURED),
        (S.PARTIALLY_REFUNDED, MIXED, CAPTURED - 3_500 + 1, CAPTURED - 3_500),
        # everything is refunded or on its way: nothing is left, asked for or not
        (S.PARTIALLY_REFUNDED, [refund(CAPTURED, RefundStatus.PENDING)], None, 0),
        (S.REFUNDED, [refund(CAPTURED, RefundStatus.PROCESSED)], None, 0),
        (S.REFUNDED, [refund(CAPTURED, RefundStatus.PROCESSED)], 1, 0),
        # more committed than captured (cannot happen at Razorpay): still "0 left", never less
        (S.REFUNDED, [refund(CAPTURED + 500, RefundStatus.PROCESSED)], None, 0),
    ],
)
def test_never_more_than_is_left(
    status: S, refunds: list[Refund], requested: int | None, left: int
) -> None:
    with pytest.raises(DomainError) as caught:
        plan_refund(status=status, captured=CAPTURED, refunds=refunds, requested=requested)
    assert caught.value.code is ErrorCode.REFUND_EXCEEDS_CAPTURED
    assert caught.value.message == f"at most {left} paise can still be refunded"
    assert caught.value.field == ["input", "amount"]


def test_status_is_checked_before_the_amount() -> None:
    with pytest.raises(DomainError) as caught:
        plan_refund(status=S.CREATED, captured=CAPTURED, refunds=[], requested=0)
    assert caught.value.code is ErrorCode.NOT_REFUNDABLE


@pytest.mark.parametrize("key", ["k" * 10, "k" * 100, "refund-2025-01-15#1", "!~" * 5])
def test_refund_keys_that_razorpay_accepts(key: str) -> None:
    assert validate_refund_key(key) == key


@pytest.mark.parametrize(
    "key", ["", "k" * 9, "k" * 101, "refund key 1", "refund-\tkey-1", "refund-ключ-1"]
)
def test_refund_keys_that_razorpay_refuses(key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_refund_key(key)
    assert caught.value.message == (
        "idempotencyKey must be 10 to 100 printable characters without spaces"
    )
    assert caught.value.field == ["input", "idempotencyKey"]
