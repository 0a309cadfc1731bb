"""Issue 9 defect 7: AUTHORIZED is not a dead end, and reconciliation is fair.

API.md "Payment sessions": "``AUTHORIZED → FAILED`` (the authorization was voided or lapsed
uncaptured; reservations released)"; RAZORPAY.md: "A payment left ``authorized`` and not
captured within 3 days of its creation is refunded to the customer automatically by Razorpay".

The sandbox cannot void an authorization, so Razorpay's side of a lapsed one is played by
sandbox faults that answer what Razorpay then reports: the payment ``failed`` (or
``refunded`` uncaptured), and a capture refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from infra.local.razorpay_sandbox.control_client import SandboxControl
from resolvers.outbox import dispatch_all
from resolvers.reconcile import reconcile
from tests.integration.money_path.support import (
    SetClock,
    make_offer,
    payment,
    run_jobs,
    send,
    status_of,
    stock_of,
)
from tests.support.payments_flow import open_session, own_product
from tests.support.shop import APPLY, create_session, data
from tests.support.stack import Stack

Headers = dict[str, str]
ADD = """mutation($lines: [CartLineInput!]!) { cartLinesAdd(lines: $lines) { errors { code } } }"""
CAPTURE_DOWN = {
    "type": "error",
    "status": 503,
    "count": None,
    "method": "POST",
    "path": "/v1/payments/*/capture",
}


def answering(path: str, entity: dict[str, Any], *, status: int = 200) -> dict[str, Any]:
    """A sandbox fault that makes Razorpay answer ``entity`` on ``GET path``."""
    return {
        "type": "error",
        "status": status,
        "count": None,
        "method": "GET",
        "path": path,
        "body": json.dumps(entity),
    }


def lapsed(authorized: dict[str, Any], how: str) -> dict[str, Any]:
    """The payment as Razorpay reports it once the authorization is voided or lapsed."""
    if how == "refunded":
        return authorized | {
            "status": "refunded",
            "captured": False,
            "amount_refunded": authorized["amount"],
            "refund_status": "full",
        }
    return authorized | {
        "status": "failed",
        "captured": False,
        "error_code": "BAD_REQUEST_ERROR",
        "error_description": "Payment was not captured in time",
        "error_source": "internal",
        "error_step": "payment_authorization",
        "error_reason": "authorization_expired",
    }


async def authorized_session(
    stack: Stack, sandbox: SandboxControl, customer: Headers, product_id: str, coupon: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A session with 2 units and the coupon, AUTHORIZED (manual capture, capture not through)."""
    gql = stack.gql
    lines = [{"productId": product_id, "quantity": 2}]
    assert (await data(gql, ADD, customer, lines=lines))["cartLinesAdd"]["errors"] == []
    applied = (await data(gql, APPLY, customer, code=coupon))["cartCouponApply"]
    assert applied["errors"] == [], applied
    created = await create_session(gql, customer)
    assert created["errors"] == [], created
    session = created["paymentSession"]
    paid = sandbox.pay(session["razorpayOrderId"], outcome="success")
    authorized = await payment(sandbox, paid["razorpay_payment_id"])
    assert authorized["status"] == "authorized"
    sandbox.set_faults(CAPTURE_DOWN)
    answer = await send(stack.client, "payment.authorized", payment=authorized)
    assert answer.status_code == 200, answer.text
    assert await status_of(gql, customer, session["id"]) == "AUTHORIZED"
    return session, authorized


@pytest.mark.parametrize(
    ("told_by", "how"),
    [("webhook", "failed"), ("reconciliation", "failed"), ("reconciliation", "refunded")],
)
async def test_a_lapsed_authorization_fails_the_session_and_frees_what_it_held(
    told_by: str,
    how: str,
    private_stack: Stack,
    clock: SetClock,
    sandbox: SandboxControl,
    new_customer: Callable[..., Headers],
    admin: Headers,
) -> None:
    """Defect 7. An AUTHORIZED session whose authorization lapses (``payment.failed`` for
    the authorized payment, or reconciliation reading it failed / refunded uncaptured) ends
    FAILED; its 2 units go back on the shelf and its single-use coupon is free again."""
    sandbox.configure(auto_capture=False)
    gql = private_stack.gql
    product = await own_product(gql, admin, stock=5)
    code = await make_offer(gql, admin, kind="FLAT", flat=5_000, usageLimit=1)
    customer = new_customer()
    session, authorized = await authorized_session(
        private_stack, sandbox, customer, product["id"], code
    )
    assert await stock_of(gql, admin, product["id"]) == 3

    gone = lapsed(authorized, how)
    refused = {
        "error": {
            "code": "BAD_REQUEST_ERROR",
            "description": "Only payments which "
            "have been authorized and not yet captured can be captured",
        }
    }
    sandbox.set_faults(
        answering(f"/v1/payments/{gone['id']}", gone),
        answering(
            f"/v1/orders/{session['razorpayOrderId']}/payments",
            {"entity": "collection", "count": 1, "items": [gone]},
        ),
        {**answering("/v1/payments/*/capture", refused, status=400), "method": "POST"},
    )
    if told_by == "webhook":
        answer = await send(private_stack.client, "payment.failed", payment=gone)
        assert answer.status_code == 200, answer.text
        await dispatch_all(private_stack.container.deps)
    else:
        await run_jobs(private_stack, clock)

    assert await status_of(gql, customer, session["id"]) == "FAILED"
    assert await stock_of(gql, admin, product["id"]) == 5
    other = new_customer()
    lines = [{"productId": product["id"], "quantity": 1}]
    assert (await data(gql, ADD, other, lines=lines))["cartLinesAdd"]["errors"] == []
    applied = (await data(gql, APPLY, other, code=code))["cartCouponApply"]
    assert applied["cart"]["coupon"]["applicable"], applied  # the coupon use was released
    assert (await create_session(gql, other))["errors"] == []


async def test_old_stuck_sessions_do_not_starve_a_newer_one(
    private_stack: Stack,
    clock: SetClock,
    sandbox: SandboxControl,
    new_customer: Callable[..., Headers],
    admin: Headers,
) -> None:
    """Defect 7 (fair order). Three older sessions stay AUTHORIZED (their capture never gets
    through); a newer one was paid and captured but the app never heard. Two reconciliation
    runs of 2 sessions each reach the newer one: it is PAID."""
    sandbox.configure(auto_capture=False)
    gql = private_stack.gql
    product = await own_product(gql, admin, stock=20)
    stuck = []
    for _ in range(3):
        customer = new_customer()
        session = await open_session(gql, customer, product["id"])
        paid = sandbox.pay(session["razorpayOrderId"], outcome="success")
        sandbox.set_faults(CAPTURE_DOWN)
        answer = await send(
            private_stack.client,
            "payment.authorized",
            payment=await payment(sandbox, paid["razorpay_payment_id"]),
        )
        assert answer.status_code == 200, answer.text
        assert await status_of(gql, customer, session["id"]) == "AUTHORIZED"
        stuck.append((customer, session["id"]))
    clock.advance(seconds=5)
    newer_buyer = new_customer()
    newer = await open_session(gql, newer_buyer, product["id"])
    sandbox.pay(newer["razorpayOrderId"], outcome="success", capture=True)  # app never hears

    clock.advance(minutes=6)
    for _ in range(2):
        await reconcile(private_stack.container.deps, limit=2)
    assert await status_of(gql, newer_buyer, newer["id"]) == "PAID"
    assert [await status_of(gql, c, i) for c, i in stuck] == ["AUTHORIZED"] * 3
