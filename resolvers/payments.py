"""Payment session use cases after creation: verify, the checkout callback, cancel, expiry,
and reading sessions (owner or admin; another customer's session answers like a missing one).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from domain.catalog import validate_page_size
from domain.errors import DomainError, ErrorCode
from domain.gateway import GatewayPayment
from domain.identity import Principal
from domain.payment_ports import TimelineEntry
from domain.payment_rules import Close, PaymentReported, mismatch_of
from domain.payment_session import PaymentSession
from domain.payments import PaymentEventKind, PaymentStatus, Refusal
from domain.pii import PiiError
from domain.signatures import checkout_signature_valid
from resolvers.deps import Deps
from resolvers.outbox import dispatch_inline
from resolvers.pagination import decode_cursor, encode_cursor
from resolvers.payment_events import fetch_payment, not_found, record, settle

logger = logging.getLogger(__name__)

EXPIRABLE = (PaymentStatus.CREATED, PaymentStatus.ATTEMPTED)
_ERROR_CODE = re.compile(r"[^A-Z_]")
_PAYMENT_ID = re.compile(r"^pay_[A-Za-z0-9]{6,40}$")
_ORDER_ID = re.compile(r"^order_[A-Za-z0-9]{6,40}$")  # Razorpay's: "order_" + 14 base62


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckoutOptions:
    """What the storefront hands Razorpay Checkout."""

    key_id: str
    order_id: str
    amount: int
    currency: str
    name: str
    description: str
    callback_url: str


@dataclass(frozen=True, slots=True)
class Prefill:
    """The customer's e-mail and phone for Razorpay Checkout's prefill, in plain text."""

    email: str | None = None
    contact: str | None = None


async def prefill(deps: Deps, *, principal: Principal | None, session: PaymentSession) -> Prefill:
    """The session's contact, opened only for its owner or an admin (anyone else: nothing). A
    value that cannot be opened (KMS unreachable, tampered with) is left out and logged."""
    if principal is None or _visible(session, principal) is None:
        return Prefill()
    try:
        return Prefill(
            email=await deps.pii.open(session.customer_email, customer_id=session.customer_id),
            contact=await deps.pii.open(session.customer_contact, customer_id=session.customer_id),
        )
    except PiiError as exc:
        logger.error("prefill of session %s not opened: %s", session.id, exc.message)
        return Prefill()


def checkout_options(deps: Deps, session: PaymentSession) -> CheckoutOptions:
    units = sum(line.quantity for line in session.lines)
    return CheckoutOptions(
        key_id=deps.checkout.key_id,
        order_id=session.razorpay_order_id or "",
        amount=session.amount,
        currency=session.currency,
        name=deps.checkout.merchant_name,
        description=f"{units} item{'s' if units != 1 else ''}, order {session.id[:8]}",
        callback_url=deps.checkout.callback_url,
    )


def _visible(session: PaymentSession | None, principal: Principal) -> PaymentSession | None:
    if session is None:
        return None
    if session.customer_id == principal.subject or principal.is_admin:
        return session
    return None


async def get_session(
    deps: Deps, *, principal: Principal, session_id: str
) -> PaymentSession | None:
    return _visible(await deps.payments.get(session_id), principal)


async def _owned(deps: Deps, principal: Principal, session_id: str) -> PaymentSession:
    session = await get_session(deps, principal=principal, session_id=session_id)
    if session is None:
        raise not_found()
    return session


@dataclass(frozen=True, slots=True)
class SessionPage:
    sessions: list[PaymentSession]
    cursors: list[str]
    has_next_page: bool


async def list_sessions(
    deps: Deps,
    *,
    principal: Principal,
    first: int,
    after: str | None,
    status: PaymentStatus | None,
) -> SessionPage:
    """The caller's sessions, newest first (every customer's for an admin)."""
    first = validate_page_size(first=first, maximum=deps.max_page_size)
    before = None
    if after:
        raw = decode_cursor(after)
        at, _, last_id = raw.partition("|")
        try:
            instant = datetime.fromisoformat(at)
            if instant.tzinfo is None:
                raise ValueError("a cursor's instant has an offset")
            before = (instant.astimezone(UTC), str(uuid.UUID(last_id)))
        except (ValueError, OverflowError) as exc:  # 0001-01-01+14:00 is before year 1 in UTC
            raise DomainError("malformed cursor", field=["after"]) from exc
    rows = await deps.payments.page(
        customer_id=None if principal.is_admin else principal.subject,
        status=status,
        first=first + 1,
        before=before,
    )
    shown = rows[:first]
    cursors = [encode_cursor(f"{s.created_at.isoformat()}|{s.id}") for s in shown]
    return SessionPage(sessions=shown, cursors=cursors, has_next_page=len(rows) > first)


async def timeline(deps: Deps, session_id: str) -> list[TimelineEntry]:
    return list(await deps.timeline.list(session_id))


async def verify(
    deps: Deps,
    *,
    principal: Principal,
    session_id: str,
    order_id: str,
    payment_id: str,
    signature: str,
) -> PaymentSession:
    """paymentSessionVerify: the HMAC against the order id stored on the session, then the
    payment as Razorpay reports it decides (amount, currency, order, status)."""
    session = await _owned(deps, principal, session_id)
    return await _verify_signed(
        deps,
        session,
        order_id=order_id,
        payment_id=payment_id,
        signature=signature,
        source="verify",
    )


async def _verify_signed(
    deps: Deps,
    session: PaymentSession,
    *,
    order_id: str,
    payment_id: str,
    signature: str,
    source: str,
) -> PaymentSession:
    stored = session.razorpay_order_id
    if stored is None or not checkout_signature_valid(
        key_secret=deps.checkout.key_secret,
        order_id=stored,
        payment_id=payment_id,
        signature=signature,
    ):
        await record(deps, session.id, f"{source}.signature_invalid", source, payment_id[:64])
        raise DomainError(
            "the payment signature does not match",
            code=ErrorCode.SIGNATURE_INVALID,
            field=["input", "razorpaySignature"],
        )
    if order_id != stored:
        await record(deps, session.id, f"{source}.order_id_ignored", source, order_id[:64])
    await record(deps, session.id, f"{source}.signature_valid", source, payment_id)
    payment = await fetch_payment(deps, payment_id)
    settled = await _settle_payment(deps, session.id, payment, source=source)
    if mismatch_of(session, payment) is not None:
        raise DomainError("the payment does not match this session", code=ErrorCode.AMOUNT_MISMATCH)
    return settled


async def _settle_payment(
    deps: Deps, session_id: str, payment: GatewayPayment, *, source: str
) -> PaymentSession:
    """Apply a payment read back from Razorpay, carry out its effects for a moment (a manual
    capture, notifications), and answer the session as it stands then."""
    settled = await settle(deps, session_id, PaymentReported(payment=payment, source=source))
    await dispatch_inline(deps, settled.decision.effects)
    return await deps.payments.get(session_id) or settled.session


async def cancel(deps: Deps, *, principal: Principal, session_id: str) -> PaymentSession:
    session = await _owned(deps, principal, session_id)
    settled = await settle(deps, session.id, Close(kind=PaymentEventKind.CANCEL, source="customer"))
    refused = settled.decision.refused
    if refused is not None:
        reason = (
            "a payment is in progress"
            if refused is Refusal.PAYMENT_IN_PROGRESS
            else f"the session is {settled.session.status.value}"
        )
        raise DomainError(
            f"this session can no longer be cancelled: {reason}",
            code=ErrorCode.PAYMENT_SESSION_CLOSED,
        )
    await dispatch_inline(deps, settled.decision.effects)
    return settled.session


async def expire_due(deps: Deps, *, limit: int = 200) -> int:
    """Close sessions left unpaid past their expiry, releasing what they held. Returns how
    many expired. Safe to run anywhere, any number of times, concurrently; one session that
    fails is logged and the others still expire."""
    expired = 0
    for session_id in await deps.payments.due(
        statuses=EXPIRABLE, before=deps.clock.now(), limit=limit
    ):
        try:
            settled = await settle(
                deps, session_id, Close(kind=PaymentEventKind.EXPIRE, source="system")
            )
        except Exception:
            logger.exception("expiry of session %s failed; the others go on", session_id)
            continue
        expired += settled.decision.changed
    return expired


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str


async def checkout_callback(deps: Deps, form: Mapping[str, str]) -> Redirect:
    """The browser's form post from Razorpay Checkout: verify, then send it to the storefront.

    Nothing in the form is trusted: the session is found by the order id, the signature is
    checked against the order id stored on it, and the payment is read back from Razorpay.
    """
    failure = deps.checkout.failure_url
    if "razorpay_payment_id" in form and "razorpay_signature" in form:
        order_id = form.get("razorpay_order_id", "")
        session = await deps.payments.get_by_order(order_id) if _ORDER_ID.match(order_id) else None
        if session is None:
            return Redirect(_with(failure, reason="unknown_order"))
        try:
            settled = await _verify_signed(
                deps,
                session,
                order_id=form.get("razorpay_order_id", ""),
                payment_id=form["razorpay_payment_id"],
                signature=form["razorpay_signature"],
                source="callback",
            )
        except DomainError as error:
            return Redirect(_with(failure, payment_session_id=session.id, reason=error.code.value))
        ok = settled.status in (PaymentStatus.PAID, PaymentStatus.AUTHORIZED)
        target = deps.checkout.success_url if ok else failure
        return Redirect(_with(target, payment_session_id=session.id, status=settled.status.value))
    metadata = _metadata(form.get("error[metadata]", ""))
    order_id = metadata.get("order_id", "")
    session = await deps.payments.get_by_order(order_id) if _ORDER_ID.match(order_id) else None
    if session is None:
        return Redirect(_with(failure, reason="unknown_order"))
    # anyone can post this form: store no free text, and act only on what Razorpay confirms
    code = _ERROR_CODE.sub("", form.get("error[code]", ""))[:64]
    await record(deps, session.id, "callback.payment_failed", "callback", code or None)
    payment_id = metadata.get("payment_id", "")
    if _PAYMENT_ID.match(payment_id):
        try:
            payment = await fetch_payment(deps, payment_id)
        except DomainError as error:
            logger.info("callback failure for %s not confirmed: %s", session.id, error.message)
        else:
            if payment.order_id == session.razorpay_order_id:
                await _settle_payment(deps, session.id, payment, source="callback")
    return Redirect(_with(failure, payment_session_id=session.id, reason="payment_failed"))


def _metadata(raw: str) -> dict[str, str]:
    try:
        parsed = json.loads(raw) if raw else {}
    except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested past the stack
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {k: v for k, v in parsed.items() if isinstance(k, str) and isinstance(v, str)}


def _with(url: str, **params: str) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)
