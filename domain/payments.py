"""The payment session state machine, exactly as API.md "Payment sessions" states it. Pure.

Statuses move only forward::

    CREATED ──► ATTEMPTED ──► AUTHORIZED ──► PAID ──► PARTIALLY_REFUNDED ──► REFUNDED
       │            │                          ▲  (straight to a refund status when refunds
       └────────────┴──► EXPIRED | CANCELLED | FAILED ──┘   were processed before the capture
                          (closed; a late capture reopens    was seen)
                           it as PAID with needs_review)

Events arrive twice, late and in any order (checkout callback, ``paymentSessionVerify``,
webhooks). :func:`apply` is total: every (status, event) pair answers a :class:`Transition`,
never an exception. A duplicate, late or backwards event is a no-op (``changed=False``); an
event that was understood but must not be applied also names a :class:`Refusal`.

Rules chosen where API.md leaves room (the table test in
``tests/unit/domain/test_payment_states.py`` spells out every pair):

- ``PAYMENT_FAILED`` moves CREATED to ATTEMPTED (still payable). On AUTHORIZED it is the
  authorization being voided or lapsing uncaptured: FAILED, reservations released (when it is
  about another payment than the authorized one it is a no-op). Anywhere else: a late event.
- ``PAYMENT_AUTHORIZED`` moves CREATED|ATTEMPTED to AUTHORIZED. On a closed session it is
  refused (``NOT_PAYABLE``): do not capture it; Razorpay releases an uncaptured authorization.
- ``PAYMENT_CAPTURED`` and ``ORDER_PAID`` mean the same thing (money captured). From
  CREATED|ATTEMPTED|AUTHORIZED they make the session PAID; from EXPIRED|CANCELLED|FAILED too,
  with ``needs_review`` (money is never dropped; admins are told). In the PAID family they are
  duplicates, unless they are about *another* payment (``payment_id != session_payment_id``):
  money captured twice, so ``needs_review``.
- ``CANCEL``/``EXPIRE``/``FAIL`` close CREATED|ATTEMPTED and release the reservations. Asked
  again with the same outcome they are duplicates (no refusal, so a retried cancel succeeds);
  on AUTHORIZED they are refused ``PAYMENT_IN_PROGRESS`` (money is held, a capture is due);
  on any other closed or paid status they are refused ``NOT_PAYABLE``.
- ``REFUND_PROCESSED`` carries the *absolute* ``refunded_total`` (every processed refund of
  the session, this one included), never a delta, so applying it twice is applying it once. It
  moves the PAID family forward only; before a capture is known it is refused
  ``NOT_CAPTURED`` (the capture, when it arrives, lands directly on the refund status because
  the caller passes the same ``refunded_total``). A closed session whose late capture could not
  be fulfilled (money held, being refunded in full) becomes REFUNDED once all of it is.
  ``refunded_total > captured_amount`` cannot happen at Razorpay; if reported, the session is
  REFUNDED and ``needs_review`` is set.
- A gateway event about a payment that does not match the session (amount, currency or order
  id; see :func:`payment_mismatch`) is refused ``PAYMENT_MISMATCH`` and changes nothing; when it
  is a capture, money was taken, so ``needs_review`` is set as well.

Days for the sales dashboard are the merchant's days in Asia/Kolkata: :func:`merchant_date`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from enum import StrEnum
from functools import cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.money import CURRENCY

MERCHANT_TIMEZONE: Final = "Asia/Kolkata"


class PaymentStatus(StrEnum):
    CREATED = "CREATED"
    ATTEMPTED = "ATTEMPTED"
    AUTHORIZED = "AUTHORIZED"
    PAID = "PAID"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"


class PaymentEventKind(StrEnum):
    """What can happen to a session. The first five come from the gateway, the rest are ours."""

    PAYMENT_FAILED = "PAYMENT_FAILED"  # an attempt failed; the session is still payable
    PAYMENT_AUTHORIZED = "PAYMENT_AUTHORIZED"
    PAYMENT_CAPTURED = "PAYMENT_CAPTURED"
    ORDER_PAID = "ORDER_PAID"
    REFUND_PROCESSED = "REFUND_PROCESSED"  # with the session's absolute refunded_total
    CANCEL = "CANCEL"  # the customer gave up (paymentSessionCancel)
    EXPIRE = "EXPIRE"  # 30 minutes passed unpaid
    FAIL = "FAIL"  # give up: e.g. the gateway said the order cannot be paid


class Refusal(StrEnum):
    """Why an event that was understood was not applied."""

    NOT_PAYABLE = "NOT_PAYABLE"  # the session is closed, paid or refunded
    PAYMENT_IN_PROGRESS = "PAYMENT_IN_PROGRESS"  # authorized: money is held, a capture is due
    PAYMENT_MISMATCH = "PAYMENT_MISMATCH"  # amount, currency or order id differ from the session
    NOT_CAPTURED = "NOT_CAPTURED"  # a refund for a session whose capture is not known yet


PAYABLE_STATUSES: Final = frozenset({PaymentStatus.CREATED, PaymentStatus.ATTEMPTED})
CLOSED_STATUSES: Final = frozenset(
    {PaymentStatus.EXPIRED, PaymentStatus.CANCELLED, PaymentStatus.FAILED}
)
PAID_STATUSES: Final = frozenset(
    {PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}
)
CAPTURE_EVENTS: Final = frozenset({PaymentEventKind.PAYMENT_CAPTURED, PaymentEventKind.ORDER_PAID})
_CLOSING: Final = {
    PaymentEventKind.CANCEL: PaymentStatus.CANCELLED,
    PaymentEventKind.EXPIRE: PaymentStatus.EXPIRED,
    PaymentEventKind.FAIL: PaymentStatus.FAILED,
}
_REFUND_RANK: Final = {
    PaymentStatus.PAID: 0,
    PaymentStatus.PARTIALLY_REFUNDED: 1,
    PaymentStatus.REFUNDED: 2,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Transition:
    """The outcome of one event. ``status`` is the status to store (``previous`` if unchanged).

    - ``commits_reservations``: the session just became paid: commit its coupon use and stock
      (re-reserving them when a closed session is reopened: that may fail, hence the review),
      take the paid lines out of the cart, notify the customer and admins, count the sale.
    - ``releases_reservations``: the session just closed (EXPIRED, CANCELLED or FAILED).
    - ``needs_review``: money was captured where it should not have been (closed session,
      mismatched or second payment) or more was refunded than captured: tell the admins.
    """

    previous: PaymentStatus
    status: PaymentStatus
    changed: bool
    needs_review: bool = False
    commits_reservations: bool = False
    releases_reservations: bool = False
    refused: Refusal | None = None


def is_payable(status: PaymentStatus) -> bool:
    """A payment attempt may still start: CREATED or ATTEMPTED."""
    return status in PAYABLE_STATUSES


def refund_status(captured: int, refunded_total: int) -> PaymentStatus:
    """PAID while nothing is refunded, REFUNDED once everything captured is, else partial."""
    if captured < 0 or refunded_total < 0:
        raise ValueError("amounts must not be negative")
    if refunded_total == 0:
        return PaymentStatus.PAID
    if refunded_total < captured:
        return PaymentStatus.PARTIALLY_REFUNDED
    return PaymentStatus.REFUNDED


def refundable_amount(captured: int, refunded_total: int) -> int:
    """What may still be refunded (never negative)."""
    return max(0, captured - refunded_total)


def payment_mismatch(
    *,
    expected_amount: int,
    expected_order_id: str,
    amount: int,
    currency: str,
    order_id: str,
    expected_currency: str = CURRENCY,
) -> str | None:
    """Why a gateway payment does not belong to the session (``None`` when it does).

    The answer names the first field that differs, for the timeline: ``"order_id"``,
    ``"currency"`` or ``"amount"``.
    """
    if order_id != expected_order_id:
        return "order_id"
    if currency.upper() != expected_currency.upper():
        return "currency"
    if amount != expected_amount:
        return "amount"
    return None


def _stay(
    status: PaymentStatus, *, refused: Refusal | None = None, needs_review: bool = False
) -> Transition:
    return Transition(
        previous=status, status=status, changed=False, refused=refused, needs_review=needs_review
    )


def _move(
    previous: PaymentStatus,
    status: PaymentStatus,
    *,
    needs_review: bool = False,
    commits_reservations: bool = False,
    releases_reservations: bool = False,
) -> Transition:
    return Transition(
        previous=previous,
        status=status,
        changed=True,
        needs_review=needs_review,
        commits_reservations=commits_reservations,
        releases_reservations=releases_reservations,
    )


def apply(
    *,
    status: PaymentStatus,
    event: PaymentEventKind,
    captured_amount: int,
    refunded_total: int = 0,
    payment_matches: bool = True,
    payment_id: str | None = None,
    session_payment_id: str | None = None,
) -> Transition:
    """Apply one event to a session in ``status``. Total, pure and idempotent.

    ``captured_amount``: what the session's payment captures (the session amount when the
    payment matches). ``refunded_total``: every processed refund of the session so far, the
    one being reported included (store the refund first, then pass the sum).
    ``payment_matches``: the gateway payment matches the session (:func:`payment_mismatch`);
    ignored for CANCEL/EXPIRE/FAIL. ``payment_id``/``session_payment_id``: the event's payment
    and the one that paid the session, when known; they tell a duplicate capture from a second
    payment.
    """
    if captured_amount < 0 or refunded_total < 0:
        raise ValueError("amounts must not be negative")

    if event in _CLOSING:
        return _close(status, _CLOSING[event])

    if not payment_matches:
        return _stay(status, refused=Refusal.PAYMENT_MISMATCH, needs_review=event in CAPTURE_EVENTS)

    if event is PaymentEventKind.PAYMENT_FAILED:
        if status is PaymentStatus.CREATED:
            return _move(status, PaymentStatus.ATTEMPTED)
        if status is PaymentStatus.AUTHORIZED and (
            payment_id is None or session_payment_id is None or payment_id == session_payment_id
        ):
            return _move(status, PaymentStatus.FAILED, releases_reservations=True)
        return _stay(status)

    if event is PaymentEventKind.PAYMENT_AUTHORIZED:
        if status in PAYABLE_STATUSES:
            return _move(status, PaymentStatus.AUTHORIZED)
        if status in CLOSED_STATUSES:
            return _stay(status, refused=Refusal.NOT_PAYABLE)
        return _stay(status)

    over_refunded = refunded_total > captured_amount
    if event in CAPTURE_EVENTS:
        if status in PAID_STATUSES:
            second_payment = (
                payment_id is not None
                and session_payment_id is not None
                and payment_id != session_payment_id
            )
            return _stay(status, needs_review=second_payment)
        target = refund_status(captured_amount, refunded_total)
        return _move(
            status,
            target,
            commits_reservations=True,
            needs_review=status in CLOSED_STATUSES or over_refunded,
        )

    # REFUND_PROCESSED
    if status in CLOSED_STATUSES and 0 < captured_amount <= refunded_total:
        return _move(status, PaymentStatus.REFUNDED, needs_review=over_refunded)
    if status not in PAID_STATUSES:
        return _stay(status, refused=Refusal.NOT_CAPTURED)
    target = refund_status(captured_amount, refunded_total)
    if _REFUND_RANK[target] <= _REFUND_RANK[status]:
        return _stay(status, needs_review=over_refunded)
    return _move(status, target, needs_review=over_refunded)


def _close(status: PaymentStatus, target: PaymentStatus) -> Transition:
    if status in PAYABLE_STATUSES:
        return _move(status, target, releases_reservations=True)
    if status is target:
        return _stay(status)
    if status is PaymentStatus.AUTHORIZED:
        return _stay(status, refused=Refusal.PAYMENT_IN_PROGRESS)
    return _stay(status, refused=Refusal.NOT_PAYABLE)


@cache
def merchant_timezone() -> tzinfo:
    """Asia/Kolkata from the system's tz database; loaded on first use, never at import.

    India has kept +05:30 without daylight saving since 1945, so where no tz database is
    installed (some slim Lambda images) the fixed offset gives the same dates.
    """
    try:
        return ZoneInfo(MERCHANT_TIMEZONE)
    except ZoneInfoNotFoundError:
        return timezone(timedelta(hours=5, minutes=30), "IST")


def merchant_date(at: datetime) -> date:
    """The merchant's calendar day (Asia/Kolkata) of an aware instant."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("merchant_date needs an aware datetime (UTC preferred)")
    return at.astimezone(merchant_timezone()).date()
