"""The payment rules in one pure function: :func:`decide`.

A session as it stands (a :class:`Ledger`: the session, its refunds and what it holds) and one
event in; the next ledger and the typed effects (``domain.effects``) out. No I/O: the use case
(``resolvers.payment_events``) loads the ledger under the session's lock, records the event id,
calls :func:`decide`, applies the holds, writes the outbox effects, and commits, all in one
transaction. The status rules themselves are the table in :func:`domain.payments.apply`.

Events:

- :class:`PaymentReported`: a payment as the gateway reports it (a webhook's payment entity,
  the read-back of a checkout callback or ``paymentSessionVerify``, reconciliation, the answer
  to a capture).
- :class:`RefundReported`: a refund as the gateway reports it (a ``refund.*`` webhook with its
  payment, the answer to a refund request, a read-back). A refund whose payment's capture was
  not seen yet brings that capture in first, so the refund always counts.
- :class:`Close`: cancel (customer), expire (30 minutes), fail (the order could not be made).

Rules beyond the status table (API.md "Payment sessions"):

- ``refunded_amount`` is always the sum of the session's processed refunds.
- A late capture on an EXPIRED, CANCELLED or FAILED session re-takes its stock and coupon use if
  every limit still allows it (:func:`fulfilment_blocker` on an :class:`Availability` the use
  case reads under lock): the session becomes PAID and admins review it. Otherwise the session
  stays closed with the money recorded, a full refund is asked for (reason
  :data:`LATE_PAYMENT_REASON`) and the session ends REFUNDED when Razorpay processes it; the
  customer and admins are told.
- Each review reason notifies admins once (the key names the reason and the payment).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Final

from domain.effects import (
    Capture,
    CommitHolds,
    Count,
    CountKind,
    Effect,
    Notify,
    ReleaseHolds,
    RequestRefund,
    RetakeHolds,
    SaveRefund,
    SyncPayment,
    TakeOutOfCart,
    Timeline,
)
from domain.gateway import GatewayPayment, GatewayRefund
from domain.money import format_inr
from domain.payment_ports import NotificationTopic
from domain.payment_session import PaymentSession
from domain.payments import (
    CAPTURE_EVENTS,
    CLOSED_STATUSES,
    PAID_STATUSES,
    PaymentEventKind,
    PaymentStatus,
    Refusal,
    Transition,
    apply,
    merchant_date,
    payment_mismatch,
)
from domain.pii import redact
from domain.pricing import UsageCounts
from domain.refunds import Refund, RefundStatus, committed_total, processed_total

LATE_PAYMENT_REASON: Final = "late payment: could not be fulfilled"
_ASKED_AGAIN: Final = frozenset({"verify", "callback", "reconcile"})  # capture now
_IDS: Final = uuid.UUID("6f1d3c1e-9a51-4d8e-b1f0-3f1f2b9c0a77")  # namespace of derived ids


class Holds(StrEnum):
    """Where a session's stock units and coupon use stand; they always move together."""

    HELD = "HELD"  # reserved while the session is payable
    COMMITTED = "COMMITTED"  # paid for
    RELEASED = "RELEASED"  # given back when the session closed unpaid


@dataclass(frozen=True, slots=True, kw_only=True)
class Ledger:
    session: PaymentSession
    refunds: tuple[Refund, ...] = ()
    holds: Holds = Holds.HELD


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentReported:
    payment: GatewayPayment
    source: str  # webhook | verify | callback | reconcile | capture | sync
    name: str | None = None  # the webhook's event name, for the timeline


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundReported:
    refund: GatewayRefund
    source: str
    payment: GatewayPayment | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Close:
    kind: PaymentEventKind  # CANCEL | EXPIRE | FAIL
    source: str
    reason: str | None = None
    free_idempotency_key: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundRefused:
    """The gateway refused to make one of our refunds (it answered, so it never will)."""

    refund_id: str
    source: str
    reason: str


Event = PaymentReported | RefundReported | RefundRefused | Close


@dataclass(frozen=True, slots=True, kw_only=True)
class Availability:
    """What a late capture could take again, read under lock: units on sale per product of the
    session, and the uses of its offer (this session's own excluded) with the offer's limits."""

    stock: Mapping[str, int]
    coupon: UsageCounts | None = None
    usage_limit: int | None = None
    per_customer_limit: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    ledger: Ledger
    effects: tuple[Effect, ...] = ()
    changed: bool = False
    refused: Refusal | None = None

    @property
    def session(self) -> PaymentSession:
        return self.ledger.session


def derived_id(*parts: str) -> str:
    """A stable id for a row the rules create (the same event always names the same row)."""
    return str(uuid.uuid5(_IDS, ":".join(parts)))


def event_of(payment: GatewayPayment) -> PaymentEventKind | None:
    """What a payment's state at Razorpay means for its session (None: nothing yet).

    ``refunded`` counts as a capture only when the money was captured; an authorization that
    Razorpay gave back uncaptured (voided, lapsed) is a failed payment, never PAID.
    """
    if payment.status == "captured" and payment.captured:
        return PaymentEventKind.PAYMENT_CAPTURED
    if payment.status == "refunded":
        return (
            PaymentEventKind.PAYMENT_CAPTURED
            if payment.captured
            else PaymentEventKind.PAYMENT_FAILED
        )
    if payment.status == "authorized":
        return PaymentEventKind.PAYMENT_AUTHORIZED
    if payment.status == "failed":
        return PaymentEventKind.PAYMENT_FAILED
    return None


def mismatch_of(session: PaymentSession, payment: GatewayPayment) -> str | None:
    if session.razorpay_order_id is None:
        return None
    return payment_mismatch(
        expected_amount=session.amount,
        expected_order_id=session.razorpay_order_id,
        amount=payment.amount,
        currency=payment.currency,
        order_id=payment.order_id or "",
        expected_currency=session.currency,
    )


def _late_capture(ledger: Ledger, payment: GatewayPayment) -> bool:
    session = ledger.session
    return (
        session.status in CLOSED_STATUSES
        and session.captured_amount == 0
        and event_of(payment) in CAPTURE_EVENTS
        and mismatch_of(session, payment) is None
    )


def needs_availability(ledger: Ledger, event: Event) -> bool:
    """The event may reopen a closed session: read an :class:`Availability` under lock first."""
    payment = event.payment if isinstance(event, PaymentReported | RefundReported) else None
    return payment is not None and _late_capture(ledger, payment)


def fulfilment_blocker(session: PaymentSession, availability: Availability) -> str | None:
    """Why a late capture cannot be fulfilled any more (None: every limit allows it)."""
    wanted: dict[str, int] = {}
    for line in session.lines:
        wanted[line.product_id] = wanted.get(line.product_id, 0) + line.quantity
    for product_id, quantity in sorted(wanted.items()):
        if availability.stock.get(product_id, 0) < quantity:
            sku = next(line.sku for line in session.lines if line.product_id == product_id)
            return f"{sku} is sold out"
    if session.offer_id is not None:
        uses = availability.coupon
        if uses is None:
            return f"coupon {session.coupon_code} is gone"
        if availability.usage_limit is not None and uses.total_used >= availability.usage_limit:
            return f"coupon {session.coupon_code} reached its usage limit"
        if (
            availability.per_customer_limit is not None
            and uses.customer_used >= availability.per_customer_limit
        ):
            return f"coupon {session.coupon_code} reached its per-customer limit"
    return None


@dataclass(slots=True)
class _Draft:
    """A decision being built: the ledger so far and the effects in order."""

    ledger: Ledger
    key: str
    now: datetime
    source: str
    effects: list[Effect] = field(default_factory=list)
    changed: bool = False
    refused: Refusal | None = None

    @property
    def session(self) -> PaymentSession:
        return self.ledger.session

    def note(self, type_: str, detail: str | None = None) -> None:
        self.effects.append(
            Timeline(
                key=f"tl:{self.key}:{len(self.effects)}",
                session_id=self.session.id,
                at=self.now,
                type=type_,
                source=self.source,
                detail=redact(detail),  # the timeline never holds an e-mail or phone
            )
        )

    def notify(
        self,
        topic: NotificationTopic,
        event: str,
        key: str,
        subject: str,
        message: str,
        *,
        amount: int = 0,
    ) -> None:
        session = self.session
        customer = topic is NotificationTopic.CUSTOMER
        self.effects.append(
            Notify(
                key=key,
                topic=topic,
                event=event,
                session_id=session.id,
                customer_id=session.customer_id,
                subject=subject,
                message=message,
                amount=amount,
                # the customer's contact for the customer's message only (sealed as stored)
                email=session.customer_email if customer else None,
                contact=session.customer_contact if customer else None,
            )
        )

    def review(self, why: str) -> None:
        session = self.session
        if not session.needs_review:
            self.ledger = replace(self.ledger, session=replace(session, needs_review=True))
        self.note("review.needed", why)
        self.notify(
            NotificationTopic.ADMIN,
            "payment.review",
            f"review:{session.id}:{why}",
            f"Review payment session {session.id[:8]}",
            f"Session {session.id} ({self.session.status.value}) needs review: {why}.",
        )

    def hold(self, effect: Effect, holds: Holds) -> None:
        self.effects.append(effect)
        self.ledger = replace(self.ledger, holds=holds)

    def record(self, transition: Transition, event: PaymentEventKind, detail: str | None) -> None:
        suffix = f" ({detail})" if detail else ""
        if transition.changed:
            self.changed = True
            self.note(
                f"status.{transition.status.value}",
                f"{transition.previous.value} → {transition.status.value} on {event.value}"
                + suffix,
            )
        elif transition.refused is not None:
            self.refused = transition.refused
            self.note(
                f"refused.{transition.refused.value}",
                f"{event.value} on {transition.status.value}{suffix}",
            )

    def decision(self) -> Decision:
        return Decision(
            ledger=self.ledger,
            effects=tuple(self.effects),
            changed=self.changed,
            refused=self.refused,
        )


def decide(
    ledger: Ledger,
    event: Event,
    *,
    now: datetime,
    key: str,
    availability: Availability | None = None,
) -> Decision:
    """Apply one event. Total and pure: every ledger and event answer a decision.

    ``key`` names this application of the event (a webhook's event id, or a fresh id for other
    sources): outbox keys of its timeline entries derive from it. ``availability`` is required
    when :func:`needs_availability` says so.
    """
    draft = _Draft(ledger=ledger, key=key, now=now, source=event.source)
    if isinstance(event, Close):
        _close(draft, event)
    elif isinstance(event, PaymentReported):
        if event.name is not None:
            payment = event.payment
            draft.note(
                f"webhook.{event.name}",
                f"{payment.id}: {payment.status} {payment.amount} {payment.currency}",
            )
        if event.source == "capture":
            draft.note("payment.capture", f"{event.payment.id}: {event.payment.status}")
        _payment(draft, event.payment, availability=availability, confirm=event.source == "webhook")
    elif isinstance(event, RefundReported):
        _refund(draft, event, availability=availability)
    else:
        _refund_refused(draft, event)
    return draft.decision()


def _close(draft: _Draft, event: Close) -> None:
    session = draft.session
    transition = apply(
        status=session.status, event=event.kind, captured_amount=session.captured_amount
    )
    if transition.changed:
        draft.ledger = replace(
            draft.ledger,
            session=replace(
                session,
                status=transition.status,
                failure_reason=event.reason or session.failure_reason,
                idempotency_key=None if event.free_idempotency_key else session.idempotency_key,
            ),
        )
        if draft.ledger.holds is Holds.HELD:
            draft.hold(ReleaseHolds(), Holds.RELEASED)
    draft.record(transition, event.kind, None)


def _payment(
    draft: _Draft,
    payment: GatewayPayment,
    *,
    availability: Availability | None,
    confirm: bool,
) -> None:
    kind = event_of(payment)
    if kind is None:  # "created": nothing happened yet
        return
    session = draft.session
    why = mismatch_of(session, payment)
    if why is not None:
        draft.note(
            "payment.mismatch",
            f"{payment.id}: {why} differs (order {payment.order_id}, "
            f"{payment.amount} {payment.currency})",
        )
    if (
        kind in CAPTURE_EVENTS
        and why is None
        and session.status in CLOSED_STATUSES
        and session.captured_amount > 0
    ):
        # a late capture already recorded (its refund is on its way)
        if payment.id != session.razorpay_payment_id:
            draft.review(f"second payment {payment.id} on a closed session")
        return
    refunded_total = processed_total(draft.ledger.refunds)
    transition = apply(
        status=session.status,
        event=kind,
        captured_amount=payment.amount
        if kind in CAPTURE_EVENTS and why is None
        else (session.captured_amount),
        refunded_total=refunded_total,
        payment_matches=why is None,
        payment_id=payment.id,
        session_payment_id=session.razorpay_payment_id,
    )
    late = transition.changed and kind in CAPTURE_EVENTS and transition.previous in CLOSED_STATUSES
    if late:
        if availability is None:
            raise ValueError("a late capture needs the availability (needs_availability)")
        blocker = fulfilment_blocker(session, availability)
        if blocker is not None:
            _refund_late(draft, payment, blocker)
            return
    if transition.changed:
        changed = replace(session, status=transition.status, refunded_amount=refunded_total)
        if kind in CAPTURE_EVENTS:
            changed = replace(
                changed,
                razorpay_payment_id=payment.id,
                captured_amount=payment.amount,
                paid_at=session.paid_at or draft.now,
            )
        elif kind is PaymentEventKind.PAYMENT_AUTHORIZED:
            changed = replace(changed, razorpay_payment_id=payment.id)
        draft.ledger = replace(draft.ledger, session=changed)
    draft.record(transition, kind, payment.id)
    if (
        confirm
        and kind in CAPTURE_EVENTS
        and session.status in PAID_STATUSES
        and payment.id == session.razorpay_payment_id
        and payment.amount_refunded > processed_total(draft.ledger.refunds)
    ):
        # Razorpay refunded more than this API knows (a dashboard refund whose event was lost)
        draft.effects.append(
            SyncPayment(
                key=f"sync:{payment.id}:{payment.amount_refunded}",
                session_id=session.id,
                payment_id=payment.id,
            )
        )
    if transition.commits_reservations:
        _paid(draft, payment, late=late, confirm=confirm)
    if transition.releases_reservations and draft.ledger.holds is Holds.HELD:
        draft.hold(ReleaseHolds(), Holds.RELEASED)
    if (
        transition.status is PaymentStatus.AUTHORIZED
        and kind is PaymentEventKind.PAYMENT_AUTHORIZED
    ):
        # capture it; a customer verifying again, or reconciliation, asks for it now (not after
        # the backoff of a failed attempt)
        again = not transition.changed
        if not again or draft.source in _ASKED_AGAIN:
            draft.effects.append(
                Capture(
                    key=f"capture:{payment.id}" + (f":{draft.key}" if again else ""),
                    session_id=session.id,
                    payment_id=payment.id,
                    amount=payment.amount,
                    currency=payment.currency,
                )
            )
    if kind is PaymentEventKind.PAYMENT_FAILED and why is None:
        _failed(draft, payment)
    if transition.needs_review and not late:
        draft.review(f"{kind.value.lower()} {payment.id}")


def _paid(draft: _Draft, payment: GatewayPayment, *, late: bool, confirm: bool) -> None:
    session = draft.session
    draft.effects.append(TakeOutOfCart())
    draft.hold(RetakeHolds() if late else CommitHolds(), Holds.COMMITTED)
    amount = format_inr(session.captured_amount)
    short = session.id[:8]
    draft.notify(
        NotificationTopic.CUSTOMER,
        "payment.paid",
        f"paid:{session.id}:customer",
        f"Payment received for order {short}",
        f"We received {amount} for order {short}. Thank you!",
        amount=session.captured_amount,
    )
    draft.notify(
        NotificationTopic.ADMIN,
        "payment.paid",
        f"paid:{session.id}:admin",
        f"Order {short} paid",
        f"Session {session.id} paid {amount}.",
        amount=session.captured_amount,
    )
    _count_paid(draft)
    if late:
        draft.review(f"late payment {payment.id} accepted")
    if confirm or payment.amount_refunded > processed_total(draft.ledger.refunds):
        draft.effects.append(
            SyncPayment(key=f"sync:{payment.id}", session_id=session.id, payment_id=payment.id)
        )


def _count_paid(draft: _Draft) -> None:
    session = draft.session
    draft.effects.append(
        Count(
            key=f"paid:{session.id}",
            kind=CountKind.PAID,
            day=merchant_date(session.paid_at or draft.now),
            amount=session.captured_amount,
        )
    )


def _refund_late(draft: _Draft, payment: GatewayPayment, blocker: str) -> None:
    """Money captured for a closed session that can no longer be fulfilled: refund all of it."""
    session = replace(
        draft.session,
        razorpay_payment_id=payment.id,
        captured_amount=payment.amount,
        paid_at=draft.session.paid_at or draft.now,
        refunded_amount=processed_total(draft.ledger.refunds),
    )
    draft.ledger = replace(draft.ledger, session=session)
    draft.note("payment.late", f"{payment.id}: {blocker}; refunding {payment.amount} paise")
    _count_paid(draft)
    # what Razorpay refunded already (a refund reported before this capture) is not asked
    # again; it is read back so that its refund rows come in
    left = payment.amount - max(committed_total(draft.ledger.refunds), payment.amount_refunded)
    if payment.amount_refunded > processed_total(draft.ledger.refunds):
        draft.effects.append(
            SyncPayment(key=f"sync:{payment.id}", session_id=session.id, payment_id=payment.id)
        )
    if left > 0:
        refund = Refund(
            id=derived_id("late", payment.id),
            session_id=session.id,
            amount=left,
            currency=payment.currency,
            status=RefundStatus.PENDING,
            idempotency_key=f"late-{payment.id}",
            reason=LATE_PAYMENT_REASON,
            razorpay_refund_id=None,
            created_at=draft.now,
        )
        draft.ledger = replace(draft.ledger, refunds=(*draft.ledger.refunds, refund))
        draft.effects.append(SaveRefund(refund))
        draft.effects.append(
            RequestRefund(key=f"refund:{refund.id}", session_id=session.id, refund_id=refund.id)
        )
    short = session.id[:8]
    draft.notify(
        NotificationTopic.CUSTOMER,
        "payment.refunding",
        f"late:{payment.id}:customer",
        f"Your payment for order {short} is being refunded",
        f"We received {format_inr(payment.amount)} for order {short} after it had closed, "
        f"and could not fulfil it ({blocker}). We are refunding all of it.",
        amount=payment.amount,
    )
    draft.review(f"late payment {payment.id} refunded: {blocker}")


def _failed(draft: _Draft, payment: GatewayPayment) -> None:
    session = draft.session
    draft.effects.append(
        Count(
            key=f"failed:{payment.id}",
            kind=CountKind.FAILED,
            day=merchant_date(draft.now),
        )
    )
    if session.payable or session.status is PaymentStatus.FAILED:
        short = session.id[:8]
        again = (
            "you can try again before the session expires."
            if session.payable
            else "nothing was charged; start a new checkout to try again."
        )
        draft.notify(
            NotificationTopic.CUSTOMER,
            "payment.failed",
            f"failed:{payment.id}:customer",
            f"Payment failed for order {short}",
            f"Your payment for order {short} did not go through; {again}",
        )


def match_refund(refunds: tuple[Refund, ...], answer: GatewayRefund) -> Refund | None:
    """Our row for a refund the gateway reports: by its gateway id; else by the row id we sent
    in its notes (an answer lost to a timeout); else a PENDING row of the same amount that never
    got an id. None: made outside this API (e.g. the Razorpay dashboard)."""
    by_id = next((r for r in refunds if r.razorpay_refund_id == answer.id), None)
    if by_id is not None:
        return by_id
    unnamed = [r for r in refunds if r.razorpay_refund_id is None]
    ours = answer.notes.get("refund_id")
    by_note = next((r for r in unnamed if r.id == ours), None)
    by_amount = next(
        (r for r in unnamed if r.status is RefundStatus.PENDING and r.amount == answer.amount),
        None,
    )
    return by_note or by_amount


_REFUND_STATUS: Final = {"processed": RefundStatus.PROCESSED, "failed": RefundStatus.FAILED}


def _refund(draft: _Draft, event: RefundReported, *, availability: Availability | None) -> None:
    answer = event.refund
    if event.name is not None:
        draft.note(f"webhook.{event.name}", answer.id)
    payment = event.payment
    if (
        payment is not None
        and payment.captured
        and draft.session.captured_amount == 0
        and event_of(payment) in CAPTURE_EVENTS
    ):
        _payment(draft, payment, availability=availability, confirm=False)
    found = match_refund(draft.ledger.refunds, answer)
    status = _REFUND_STATUS.get(answer.status, RefundStatus.PENDING)
    paid_by = draft.session.razorpay_payment_id
    if found is None and paid_by is not None and answer.payment_id != paid_by:
        # a refund of another payment of the order (paid twice): not this session's money
        draft.note("refund.other_payment", f"{answer.id} of {answer.payment_id}: not counted")
        return
    if found is None:
        found = Refund(
            id=derived_id("refund", answer.id),
            session_id=draft.session.id,
            amount=answer.amount,
            currency=answer.currency,
            status=RefundStatus.PENDING,
            idempotency_key=answer.id,
            reason="made outside the API",
            razorpay_refund_id=answer.id,
            created_at=draft.now,
        )
        draft.note("refund.adopted", f"{answer.id}: {answer.amount} paise")
    known = any(r.id == found.id for r in draft.ledger.refunds)
    if known and found.status is not RefundStatus.PENDING:
        return  # settled before: a refund's outcome is stored once
    updated = replace(
        found,
        status=status,
        razorpay_refund_id=found.razorpay_refund_id or answer.id,
        processed_at=draft.now if status is RefundStatus.PROCESSED else None,
    )
    if known and updated == found:
        return
    refunds = (*(r for r in draft.ledger.refunds if r.id != updated.id), updated)
    draft.ledger = replace(draft.ledger, refunds=refunds)
    draft.effects.append(SaveRefund(updated))
    if updated.status is RefundStatus.PROCESSED:
        _processed(draft, updated)
    elif updated.status is RefundStatus.FAILED:
        draft.note("refund.failed", updated.razorpay_refund_id)
        if updated.reason == LATE_PAYMENT_REASON:
            draft.review(f"refund {updated.razorpay_refund_id} of a late payment failed")


def _refund_refused(draft: _Draft, event: RefundRefused) -> None:
    found = next((r for r in draft.ledger.refunds if r.id == event.refund_id), None)
    if found is None or found.status is not RefundStatus.PENDING:
        return
    failed = replace(found, status=RefundStatus.FAILED)
    draft.ledger = replace(
        draft.ledger, refunds=tuple(failed if r.id == found.id else r for r in draft.ledger.refunds)
    )
    draft.effects.append(SaveRefund(failed))
    draft.note("refund.failed", f"{found.amount} paise: {event.reason}")
    if found.reason == LATE_PAYMENT_REASON:
        draft.review(f"refund of a late payment refused: {event.reason}")


def _processed(draft: _Draft, refund: Refund) -> None:
    session = draft.session
    gateway_id = refund.razorpay_refund_id or refund.id
    draft.note("refund.processed", f"{gateway_id}: {refund.amount} paise")
    refunded_total = processed_total(draft.ledger.refunds)
    transition = apply(
        status=session.status,
        event=PaymentEventKind.REFUND_PROCESSED,
        captured_amount=session.captured_amount,
        refunded_total=refunded_total,
    )
    draft.ledger = replace(
        draft.ledger,
        session=replace(session, status=transition.status, refunded_amount=refunded_total),
    )
    if transition.changed:
        draft.record(transition, PaymentEventKind.REFUND_PROCESSED, gateway_id)
    short = session.id[:8]
    draft.notify(
        NotificationTopic.CUSTOMER,
        "refund.processed",
        f"refund:{gateway_id}:customer",
        f"Refund for order {short}",
        f"We refunded {format_inr(refund.amount)} for order {short}.",
        amount=refund.amount,
    )
    draft.effects.append(
        Count(
            key=f"refund:{gateway_id}",
            kind=CountKind.REFUND,
            day=merchant_date(draft.now),
            amount=refund.amount,
        )
    )
    if transition.needs_review:
        draft.review(f"refunded {refunded_total} of {session.captured_amount} captured")
