"""The payment session state machine: a full expected table, edge tables, and properties.

The tables are written out by hand from API.md "Payment sessions" and the rules in the
docstring of domain/payments.py; they are not derived from the implementation.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import partial
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.payments import (
    PaymentEventKind,
    PaymentStatus,
    Refusal,
    Transition,
    apply,
    is_payable,
    merchant_date,
    merchant_timezone,
    payment_mismatch,
    refund_status,
    refundable_amount,
)

S = PaymentStatus
E = PaymentEventKind
R = Refusal
CAPTURED = 10_000
PARTIAL = 4_000

# Flags: "changed", "review" (needs_review), "commit" (commits_reservations),
# "release" (releases_reservations). A row: (status, event) -> (new status, flags, refusal).
# REFUND_PROCESSED rows report refunded_total = PARTIAL (4,000 of 10,000 captured); every other
# row reports refunded_total = 0. All payments match the session.
Row = tuple[S, frozenset[str], R | None]


def row(status: S, flags: str = "", refused: R | None = None) -> Row:
    return status, frozenset(flags.split()), refused


TABLE: dict[tuple[S, E], Row] = {
    # CREATED: everything is possible.
    (S.CREATED, E.PAYMENT_FAILED): row(S.ATTEMPTED, "changed"),
    (S.CREATED, E.PAYMENT_AUTHORIZED): row(S.AUTHORIZED, "changed"),
    (S.CREATED, E.PAYMENT_CAPTURED): row(S.PAID, "changed commit"),
    (S.CREATED, E.ORDER_PAID): row(S.PAID, "changed commit"),
    (S.CREATED, E.REFUND_PROCESSED): row(S.CREATED, "", R.NOT_CAPTURED),
    (S.CREATED, E.CANCEL): row(S.CANCELLED, "changed release"),
    (S.CREATED, E.EXPIRE): row(S.EXPIRED, "changed release"),
    (S.CREATED, E.FAIL): row(S.FAILED, "changed release"),
    # ATTEMPTED: still payable; another failed attempt changes nothing.
    (S.ATTEMPTED, E.PAYMENT_FAILED): row(S.ATTEMPTED),
    (S.ATTEMPTED, E.PAYMENT_AUTHORIZED): row(S.AUTHORIZED, "changed"),
    (S.ATTEMPTED, E.PAYMENT_CAPTURED): row(S.PAID, "changed commit"),
    (S.ATTEMPTED, E.ORDER_PAID): row(S.PAID, "changed commit"),
    (S.ATTEMPTED, E.REFUND_PROCESSED): row(S.ATTEMPTED, "", R.NOT_CAPTURED),
    (S.ATTEMPTED, E.CANCEL): row(S.CANCELLED, "changed release"),
    (S.ATTEMPTED, E.EXPIRE): row(S.EXPIRED, "changed release"),
    (S.ATTEMPTED, E.FAIL): row(S.FAILED, "changed release"),
    # AUTHORIZED: money is held; a capture pays it, a void or lapse (the authorized payment
    # failing) closes it FAILED and gives the reservations back.
    (S.AUTHORIZED, E.PAYMENT_FAILED): row(S.FAILED, "changed release"),
    (S.AUTHORIZED, E.PAYMENT_AUTHORIZED): row(S.AUTHORIZED),
    (S.AUTHORIZED, E.PAYMENT_CAPTURED): row(S.PAID, "changed commit"),
    (S.AUTHORIZED, E.ORDER_PAID): row(S.PAID, "changed commit"),
    (S.AUTHORIZED, E.REFUND_PROCESSED): row(S.AUTHORIZED, "", R.NOT_CAPTURED),
    (S.AUTHORIZED, E.CANCEL): row(S.AUTHORIZED, "", R.PAYMENT_IN_PROGRESS),
    (S.AUTHORIZED, E.EXPIRE): row(S.AUTHORIZED, "", R.PAYMENT_IN_PROGRESS),
    (S.AUTHORIZED, E.FAIL): row(S.AUTHORIZED, "", R.PAYMENT_IN_PROGRESS),
    # PAID: late payment events are no-ops; only refunds move it.
    (S.PAID, E.PAYMENT_FAILED): row(S.PAID),
    (S.PAID, E.PAYMENT_AUTHORIZED): row(S.PAID),
    (S.PAID, E.PAYMENT_CAPTURED): row(S.PAID),
    (S.PAID, E.ORDER_PAID): row(S.PAID),
    (S.PAID, E.REFUND_PROCESSED): row(S.PARTIALLY_REFUNDED, "changed"),
    (S.PAID, E.CANCEL): row(S.PAID, "", R.NOT_PAYABLE),
    (S.PAID, E.EXPIRE): row(S.PAID, "", R.NOT_PAYABLE),
    (S.PAID, E.FAIL): row(S.PAID, "", R.NOT_PAYABLE),
    # PARTIALLY_REFUNDED: the same refund total again is a duplicate.
    (S.PARTIALLY_REFUNDED, E.PAYMENT_FAILED): row(S.PARTIALLY_REFUNDED),
    (S.PARTIALLY_REFUNDED, E.PAYMENT_AUTHORIZED): row(S.PARTIALLY_REFUNDED),
    (S.PARTIALLY_REFUNDED, E.PAYMENT_CAPTURED): row(S.PARTIALLY_REFUNDED),
    (S.PARTIALLY_REFUNDED, E.ORDER_PAID): row(S.PARTIALLY_REFUNDED),
    (S.PARTIALLY_REFUNDED, E.REFUND_PROCESSED): row(S.PARTIALLY_REFUNDED),
    (S.PARTIALLY_REFUNDED, E.CANCEL): row(S.PARTIALLY_REFUNDED, "", R.NOT_PAYABLE),
    (S.PARTIALLY_REFUNDED, E.EXPIRE): row(S.PARTIALLY_REFUNDED, "", R.NOT_PAYABLE),
    (S.PARTIALLY_REFUNDED, E.FAIL): row(S.PARTIALLY_REFUNDED, "", R.NOT_PAYABLE),
    # REFUNDED: the end; a smaller (stale) refund total never moves it back.
    (S.REFUNDED, E.PAYMENT_FAILED): row(S.REFUNDED),
    (S.REFUNDED, E.PAYMENT_AUTHORIZED): row(S.REFUNDED),
    (S.REFUNDED, E.PAYMENT_CAPTURED): row(S.REFUNDED),
    (S.REFUNDED, E.ORDER_PAID): row(S.REFUNDED),
    (S.REFUNDED, E.REFUND_PROCESSED): row(S.REFUNDED),
    (S.REFUNDED, E.CANCEL): row(S.REFUNDED, "", R.NOT_PAYABLE),
    (S.REFUNDED, E.EXPIRE): row(S.REFUNDED, "", R.NOT_PAYABLE),
    (S.REFUNDED, E.FAIL): row(S.REFUNDED, "", R.NOT_PAYABLE),
    # FAILED: closed; a late capture reopens it as PAID for review.
    (S.FAILED, E.PAYMENT_FAILED): row(S.FAILED),
    (S.FAILED, E.PAYMENT_AUTHORIZED): row(S.FAILED, "", R.NOT_PAYABLE),
    (S.FAILED, E.PAYMENT_CAPTURED): row(S.PAID, "changed commit review"),
    (S.FAILED, E.ORDER_PAID): row(S.PAID, "changed commit review"),
    (S.FAILED, E.REFUND_PROCESSED): row(S.FAILED, "", R.NOT_CAPTURED),
    (S.FAILED, E.CANCEL): row(S.FAILED, "", R.NOT_PAYABLE),
    (S.FAILED, E.EXPIRE): row(S.FAILED, "", R.NOT_PAYABLE),
    (S.FAILED, E.FAIL): row(S.FAILED),
    # EXPIRED
    (S.EXPIRED, E.PAYMENT_FAILED): row(S.EXPIRED),
    (S.EXPIRED, E.PAYMENT_AUTHORIZED): row(S.EXPIRED, "", R.NOT_PAYABLE),
    (S.EXPIRED, E.PAYMENT_CAPTURED): row(S.PAID, "changed commit review"),
    (S.EXPIRED, E.ORDER_PAID): row(S.PAID, "changed commit review"),
    (S.EXPIRED, E.REFUND_PROCESSED): row(S.EXPIRED, "", R.NOT_CAPTURED),
    (S.EXPIRED, E.CANCEL): row(S.EXPIRED, "", R.NOT_PAYABLE),
    (S.EXPIRED, E.EXPIRE): row(S.EXPIRED),
    (S.EXPIRED, E.FAIL): row(S.EXPIRED, "", R.NOT_PAYABLE),
    # CANCELLED
    (S.CANCELLED, E.PAYMENT_FAILED): row(S.CANCELLED),
    (S.CANCELLED, E.PAYMENT_AUTHORIZED): row(S.CANCELLED, "", R.NOT_PAYABLE),
    (S.CANCELLED, E.PAYMENT_CAPTURED): row(S.PAID, "changed commit review"),
    (S.CANCELLED, E.ORDER_PAID): row(S.PAID, "changed commit review"),
    (S.CANCELLED, E.REFUND_PROCESSED): row(S.CANCELLED, "", R.NOT_CAPTURED),
    (S.CANCELLED, E.CANCEL): row(S.CANCELLED),
    (S.CANCELLED, E.EXPIRE): row(S.CANCELLED, "", R.NOT_PAYABLE),
    (S.CANCELLED, E.FAIL): row(S.CANCELLED, "", R.NOT_PAYABLE),
}


def flags_of(t: Transition) -> frozenset[str]:
    named = {
        "changed": t.changed,
        "review": t.needs_review,
        "commit": t.commits_reservations,
        "release": t.releases_reservations,
    }
    return frozenset(name for name, on in named.items() if on)


def test_the_table_covers_every_status_event_pair() -> None:
    assert set(TABLE) == set(product(S, E))
    assert len(TABLE) == 9 * 8


@pytest.mark.parametrize(("status", "event"), list(TABLE), ids=lambda v: str(v))
def test_transition_table(status: S, event: E) -> None:
    expected_status, expected_flags, expected_refusal = TABLE[(status, event)]
    refunded = PARTIAL if event is E.REFUND_PROCESSED else 0
    t = apply(status=status, event=event, captured_amount=CAPTURED, refunded_total=refunded)
    assert t.previous is status
    assert (t.status, flags_of(t), t.refused) == (
        expected_status,
        expected_flags,
        expected_refusal,
    )


# (status, refunded_total) -> row, for REFUND_PROCESSED with 10,000 captured.
REFUNDS: dict[tuple[S, int], Row] = {
    (S.PAID, 0): row(S.PAID),
    (S.PAID, 1): row(S.PARTIALLY_REFUNDED, "changed"),
    (S.PAID, 9_999): row(S.PARTIALLY_REFUNDED, "changed"),
    (S.PAID, 10_000): row(S.REFUNDED, "changed"),
    (S.PAID, 12_000): row(S.REFUNDED, "changed review"),
    (S.PARTIALLY_REFUNDED, 0): row(S.PARTIALLY_REFUNDED),  # stale
    (S.PARTIALLY_REFUNDED, 2_000): row(S.PARTIALLY_REFUNDED),  # stale or duplicate
    (S.PARTIALLY_REFUNDED, 9_999): row(S.PARTIALLY_REFUNDED),
    (S.PARTIALLY_REFUNDED, 10_000): row(S.REFUNDED, "changed"),
    (S.PARTIALLY_REFUNDED, 10_001): row(S.REFUNDED, "changed review"),
    (S.REFUNDED, 0): row(S.REFUNDED),
    (S.REFUNDED, 4_000): row(S.REFUNDED),
    (S.REFUNDED, 10_000): row(S.REFUNDED),
    (S.REFUNDED, 12_000): row(S.REFUNDED, "review"),
}


@pytest.mark.parametrize(("status", "refunded"), list(REFUNDS), ids=lambda v: str(v))
def test_refunds_move_forward_only(status: S, refunded: int) -> None:
    t = apply(
        status=status,
        event=E.REFUND_PROCESSED,
        captured_amount=CAPTURED,
        refunded_total=refunded,
    )
    assert (t.status, flags_of(t), t.refused) == REFUNDS[(status, refunded)]


# A capture seen after refunds were processed (webhooks out of order) lands on the refund status.
LATE_CAPTURES: dict[tuple[S, int], Row] = {
    (S.CREATED, 4_000): row(S.PARTIALLY_REFUNDED, "changed commit"),
    (S.ATTEMPTED, 10_000): row(S.REFUNDED, "changed commit"),
    (S.AUTHORIZED, 4_000): row(S.PARTIALLY_REFUNDED, "changed commit"),
    (S.AUTHORIZED, 10_000): row(S.REFUNDED, "changed commit"),
    (S.AUTHORIZED, 11_000): row(S.REFUNDED, "changed commit review"),
    (S.EXPIRED, 4_000): row(S.PARTIALLY_REFUNDED, "changed commit review"),
    (S.CANCELLED, 10_000): row(S.REFUNDED, "changed commit review"),
}


@pytest.mark.parametrize(("status", "refunded"), list(LATE_CAPTURES), ids=lambda v: str(v))
@pytest.mark.parametrize("event", [E.PAYMENT_CAPTURED, E.ORDER_PAID])
def test_capture_after_refunds(status: S, refunded: int, event: E) -> None:
    t = apply(status=status, event=event, captured_amount=CAPTURED, refunded_total=refunded)
    assert (t.status, flags_of(t), t.refused) == LATE_CAPTURES[(status, refunded)]


# AUTHORIZED + PAYMENT_FAILED: the authorization was voided or lapsed. Only a failure of the
# authorized payment closes the session (or one whose ids are not known); another payment's
# failure (a second attempt that failed) changes nothing.
@pytest.mark.parametrize(
    ("payment_id", "session_payment_id", "expected"),
    [
        ("pay_A", "pay_A", row(S.FAILED, "changed release")),
        (None, "pay_A", row(S.FAILED, "changed release")),
        ("pay_A", None, row(S.FAILED, "changed release")),
        ("pay_B", "pay_A", row(S.AUTHORIZED)),
    ],
)
def test_a_failed_authorization_closes_the_session(
    payment_id: str | None, session_payment_id: str | None, expected: Row
) -> None:
    t = apply(
        status=S.AUTHORIZED,
        event=E.PAYMENT_FAILED,
        captured_amount=0,
        payment_id=payment_id,
        session_payment_id=session_payment_id,
    )
    assert (t.status, flags_of(t), t.refused) == expected


# A closed session whose late capture could not be fulfilled holds money being refunded in
# full: once the processed refunds cover the capture it is REFUNDED. Without a capture a refund
# on a closed session is refused NOT_CAPTURED.
CLOSED_REFUNDS: dict[tuple[int, int], tuple[str, R | None]] = {
    # (captured, refunded_total) -> (flags, refusal); the status is REFUNDED when "changed"
    (10_000, 10_000): ("changed", None),
    (10_000, 12_000): ("changed review", None),
    (10_000, 9_999): ("", R.NOT_CAPTURED),
    (10_000, 0): ("", R.NOT_CAPTURED),
    (0, 0): ("", R.NOT_CAPTURED),
    (0, 5_000): ("", R.NOT_CAPTURED),
}


@pytest.mark.parametrize("status", [S.EXPIRED, S.CANCELLED, S.FAILED])
@pytest.mark.parametrize(("captured", "refunded"), list(CLOSED_REFUNDS), ids=lambda v: str(v))
def test_a_refunded_late_payment_ends_refunded(status: S, captured: int, refunded: int) -> None:
    t = apply(
        status=status,
        event=E.REFUND_PROCESSED,
        captured_amount=captured,
        refunded_total=refunded,
    )
    flags, refusal = CLOSED_REFUNDS[(captured, refunded)]
    expected = row(S.REFUNDED if "changed" in flags else status, flags, refusal)
    assert (t.status, flags_of(t), t.refused) == expected


# A gateway event about a payment that does not match the session changes nothing; a capture
# of one needs review (money was taken). Commands ignore the flag.
MISMATCH_REVIEW = {
    E.PAYMENT_FAILED: False,
    E.PAYMENT_AUTHORIZED: False,
    E.PAYMENT_CAPTURED: True,
    E.ORDER_PAID: True,
    E.REFUND_PROCESSED: False,
}


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("event", list(MISMATCH_REVIEW))
def test_mismatched_payments_are_refused(status: S, event: E) -> None:
    t = apply(
        status=status,
        event=event,
        captured_amount=CAPTURED,
        refunded_total=PARTIAL,
        payment_matches=False,
    )
    expected_flags = frozenset({"review"}) if MISMATCH_REVIEW[event] else frozenset()
    assert (t.status, flags_of(t), t.refused) == (status, expected_flags, R.PAYMENT_MISMATCH)


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("event", [E.CANCEL, E.EXPIRE, E.FAIL])
def test_commands_ignore_payment_match(status: S, event: E) -> None:
    t = apply(status=status, event=event, captured_amount=CAPTURED, payment_matches=False)
    assert (t.status, flags_of(t), t.refused) == TABLE[(status, event)]


@pytest.mark.parametrize("status", [S.PAID, S.PARTIALLY_REFUNDED, S.REFUNDED])
@pytest.mark.parametrize("event", [E.PAYMENT_CAPTURED, E.ORDER_PAID])
@pytest.mark.parametrize(
    ("payment_id", "session_payment_id", "review"),
    [
        ("pay_B", "pay_A", True),  # a second payment captured on a paid session
        ("pay_A", "pay_A", False),  # the same capture again
        (None, "pay_A", False),  # unknown: treated as a duplicate
        ("pay_B", None, False),
    ],
)
def test_second_capture_on_a_paid_session_needs_review(
    status: S, event: E, payment_id: str | None, session_payment_id: str | None, review: bool
) -> None:
    t = apply(
        status=status,
        event=event,
        captured_amount=CAPTURED,
        payment_id=payment_id,
        session_payment_id=session_payment_id,
    )
    assert (t.status, t.changed, t.needs_review, t.commits_reservations) == (
        status,
        False,
        review,
        False,
    )


def test_negative_amounts_are_programming_errors() -> None:
    with pytest.raises(ValueError):
        apply(status=S.PAID, event=E.REFUND_PROCESSED, captured_amount=100, refunded_total=-1)
    with pytest.raises(ValueError):
        apply(status=S.CREATED, event=E.PAYMENT_CAPTURED, captured_amount=-1)


@pytest.mark.parametrize("event", list(E))
@pytest.mark.parametrize(("captured", "refunded"), [(-1, 0), (0, -1), (CAPTURED, -1), (-1, -1)])
def test_any_negative_amount_is_refused_whatever_the_event(
    event: E, captured: int, refunded: int
) -> None:
    """The guard refuses it before any rule runs, not a helper further down by chance."""
    with pytest.raises(ValueError, match=r"^amounts must not be negative$"):
        apply(status=S.CREATED, event=event, captured_amount=captured, refunded_total=refunded)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (E.CANCEL, S.CANCELLED),
        (E.EXPIRE, S.EXPIRED),
        (E.FAIL, S.FAILED),
        (E.PAYMENT_FAILED, S.ATTEMPTED),
        (E.PAYMENT_AUTHORIZED, S.AUTHORIZED),
    ],
)
def test_nothing_captured_yet_is_the_normal_case(event: E, expected: S) -> None:
    """Use cases pass the session's captured amount, 0 until a capture is known."""
    assert apply(status=S.CREATED, event=event, captured_amount=0).status is expected


@pytest.mark.parametrize("event", [E.PAYMENT_CAPTURED, E.ORDER_PAID])
def test_a_capture_without_a_refunded_total_means_nothing_refunded(event: E) -> None:
    t = apply(status=S.CREATED, event=event, captured_amount=CAPTURED)
    assert (t.status, flags_of(t), t.refused) == (S.PAID, frozenset({"changed", "commit"}), None)


# --- helpers ---------------------------------------------------------------------------------

PAYABLE = {S.CREATED, S.ATTEMPTED}


@pytest.mark.parametrize("status", list(S))
def test_payable(status: S) -> None:
    assert is_payable(status) is (status in PAYABLE)


@pytest.mark.parametrize(
    ("captured", "refunded", "expected"),
    [
        (10_000, 0, S.PAID),
        (10_000, 1, S.PARTIALLY_REFUNDED),
        (10_000, 9_999, S.PARTIALLY_REFUNDED),
        (10_000, 10_000, S.REFUNDED),
        (10_000, 10_500, S.REFUNDED),
        (0, 0, S.PAID),
    ],
)
def test_refund_status(captured: int, refunded: int, expected: S) -> None:
    assert refund_status(captured, refunded) is expected


@pytest.mark.parametrize(("captured", "refunded"), [(-1, 0), (10_000, -1), (-1, -1)])
def test_refund_status_rejects_negative_amounts(captured: int, refunded: int) -> None:
    with pytest.raises(ValueError, match=r"^amounts must not be negative$"):
        refund_status(captured, refunded)


@pytest.mark.parametrize(
    ("refunded", "expected"), [(0, 10_000), (1, 9_999), (9_999, 1), (10_000, 0), (12_000, 0)]
)
def test_refundable_amount(refunded: int, expected: int) -> None:
    assert refundable_amount(CAPTURED, refunded) == expected


def test_payment_mismatch_names_the_first_difference() -> None:
    check = partial(payment_mismatch, expected_amount=500, expected_order_id="order_A")
    assert check(amount=500, currency="INR", order_id="order_A") is None
    assert check(amount=500, currency="inr", order_id="order_A") is None
    assert check(amount=499, currency="INR", order_id="order_A") == "amount"
    assert check(amount=500, currency="USD", order_id="order_A") == "currency"
    assert check(amount=1, currency="USD", order_id="order_B") == "order_id"


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (datetime(2025, 3, 31, 18, 29, 59, 999_999, tzinfo=UTC), date(2025, 3, 31)),  # 23:59 IST
        (datetime(2025, 3, 31, 18, 30, tzinfo=UTC), date(2025, 4, 1)),  # 00:00 IST
        (datetime(2025, 1, 1, 0, 0, tzinfo=UTC), date(2025, 1, 1)),  # 05:30 IST
        (datetime(2024, 12, 31, 18, 30, tzinfo=UTC), date(2025, 1, 1)),  # IST new year
        (
            datetime(2025, 4, 1, 0, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            date(2025, 4, 1),
        ),
        (datetime(2025, 3, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))), date(2025, 4, 1)),
    ],
)
def test_merchant_date_is_the_day_in_kolkata(at: datetime, expected: date) -> None:
    assert merchant_date(at) == expected


class _NoOffset(tzinfo):
    """A tzinfo that does not know its offset: Python treats such datetimes as naive."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


@pytest.mark.parametrize(
    "at",
    [datetime(2025, 1, 1, 12, 0), datetime(2025, 1, 1, 12, 0, tzinfo=_NoOffset())],
    ids=["no-tzinfo", "tzinfo-without-offset"],
)
def test_merchant_date_refuses_naive_datetimes(at: datetime) -> None:
    with pytest.raises(
        ValueError, match=r"^merchant_date needs an aware datetime \(UTC preferred\)$"
    ):
        merchant_date(at)


def test_merchant_timezone_is_plus_five_thirty() -> None:
    offset = datetime(2025, 6, 1, tzinfo=UTC).astimezone(merchant_timezone()).utcoffset()
    assert offset == timedelta(hours=5, minutes=30)


# --- properties ------------------------------------------------------------------------------

# Where a status may go (API.md "Payment sessions"): forward only, and the moves form no
# cycle (AUTHORIZED → FAILED → the PAID family is the longest detour).
CLOSED = {S.EXPIRED, S.CANCELLED, S.FAILED}
PAID_FAMILY = {S.PAID, S.PARTIALLY_REFUNDED, S.REFUNDED}
FORWARD: dict[S, set[S]] = {
    S.CREATED: {S.ATTEMPTED, S.AUTHORIZED} | CLOSED | PAID_FAMILY,
    S.ATTEMPTED: {S.AUTHORIZED} | CLOSED | PAID_FAMILY,
    S.AUTHORIZED: {S.FAILED} | PAID_FAMILY,
    S.EXPIRED: PAID_FAMILY,
    S.CANCELLED: PAID_FAMILY,
    S.FAILED: PAID_FAMILY,
    S.PAID: {S.PARTIALLY_REFUNDED, S.REFUNDED},
    S.PARTIALLY_REFUNDED: {S.REFUNDED},
    S.REFUNDED: set(),
}
CAPTURES = {E.PAYMENT_CAPTURED, E.ORDER_PAID}


def test_the_forward_moves_have_no_cycle() -> None:
    reach = {status: set(targets) for status, targets in FORWARD.items()}
    for _ in S:
        for targets in reach.values():
            targets |= set().union(*(reach[t] for t in targets))
    assert all(status not in targets for status, targets in reach.items())


@st.composite
def events(draw: st.DrawFn) -> dict[str, object]:
    return {
        "event": draw(st.sampled_from(E)),
        "refunded_total": draw(
            st.one_of(
                st.sampled_from([0, 1, PARTIAL, CAPTURED - 1, CAPTURED]), st.integers(0, 12_000)
            )
        ),
        "payment_matches": draw(st.booleans() | st.just(True)),
        "payment_id": draw(st.sampled_from([None, "pay_A", "pay_B"])),
        "session_payment_id": draw(st.sampled_from([None, "pay_A"])),
    }


def step(status: S, params: dict[str, object]) -> Transition:
    return apply(status=status, captured_amount=CAPTURED, **params)  # type: ignore[arg-type]


PROPERTIES = settings(max_examples=500, deadline=None)


@PROPERTIES
@given(start=st.sampled_from(S), sequence=st.lists(events(), max_size=25))
def test_no_sequence_moves_a_session_backwards(start: S, sequence: list[dict[str, object]]) -> None:
    status = start
    commits = releases = 0
    for params in sequence:
        t = step(status, params)
        assert t.previous is status
        assert t.status is status or t.status in FORWARD[status], (status, params, t)
        assert t.changed is (t.status is not status)
        if t.refused is not None:
            assert not t.changed
        assert t.commits_reservations is (t.changed and params["event"] in CAPTURES)
        assert t.releases_reservations is (t.status in CLOSED and status not in CLOSED)
        commits += t.commits_reservations
        releases += t.releases_reservations
        status = t.status
    assert commits <= 1
    assert releases <= 1


@PROPERTIES
@given(start=st.sampled_from(S), params=events())
def test_applying_an_event_twice_equals_applying_it_once(
    start: S, params: dict[str, object]
) -> None:
    once = step(start, params)
    twice = step(once.status, params)
    assert twice.status is once.status
    assert not twice.changed
    assert not twice.commits_reservations
    assert not twice.releases_reservations


@PROPERTIES
@given(start=st.sampled_from(S), sequence=st.lists(events(), max_size=12))
def test_duplicating_every_event_changes_nothing(
    start: S, sequence: list[dict[str, object]]
) -> None:
    """Webhooks delivered twice (each retried right away) end where single delivery ends."""
    single = doubled = start
    for params in sequence:
        single = step(single, params).status
        doubled = step(step(doubled, params).status, params).status
    assert doubled is single
