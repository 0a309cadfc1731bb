"""Issue 9 defect 1: a worker that dies while handling a capture loses nothing.

API.md "Payment sessions": "A worker that dies at any point of handling an event loses
nothing: Razorpay's redelivery or the reconciliation job applies it later", and "Money captured
for an expired, cancelled or failed session is never dropped ...: if its stock and coupon use
can still be taken (within every limit), the session becomes PAID and admins are notified to
review it".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest

from infra.local.razorpay_sandbox.control_client import SandboxControl
from resolvers.outbox import dispatch_all
from resolvers.payments import expire_due
from tests.integration.money_path.support import (
    Queue,
    SetClock,
    payment,
    reviews,
    row_locked,
    run_jobs,
    status_of,
    stock_of,
    wait_for_lock_waiters,
)
from tests.support.payments_flow import open_session, own_product
from tests.support.stack import Stack
from tests.support.webhooks import deliver, event_body, signed_headers

Headers = dict[str, str]


@pytest.mark.parametrize("recovered_by", ["redelivery", "jobs"])
async def test_a_capture_whose_handler_died_is_applied_later(
    recovered_by: str,
    private_stack: Stack,
    clock: SetClock,
    sandbox: SandboxControl,
    new_customer: Callable[..., Headers],
    admin: Headers,
) -> None:
    """Defect 1. Pay, expire, then ``payment.captured`` whose handler is cancelled mid-event
    (it waits for the session's row lock, held by the test; then the task is cancelled, as a
    Lambda timeout or a deploy would). Redelivered with the same event id, or left to the
    scheduled jobs: the session is PAID again (stock re-taken) and admins are asked to
    review it."""
    gql, client = private_stack.gql, private_stack.client
    product = await own_product(gql, admin, stock=10)
    customer = new_customer()
    session = await open_session(gql, customer, product["id"], quantity=2)
    paid = sandbox.pay(session["razorpayOrderId"], outcome="success")
    captured = await payment(sandbox, paid["razorpay_payment_id"])
    assert captured["status"] == "captured"

    clock.advance(minutes=31)
    assert await expire_due(private_stack.container.deps) == 1
    assert await status_of(gql, customer, session["id"]) == "EXPIRED"
    assert await stock_of(gql, admin, product["id"]) == 10

    body = event_body("payment.captured", payment=captured)
    headers = signed_headers(body, event_id="evt_DiesMidEvent01")
    async with row_locked(private_stack, "payment_sessions", session["id"]):
        handling = asyncio.create_task(deliver(client, body, headers))
        blocked = await wait_for_lock_waiters(private_stack, 1, tasks=[handling])
        assert blocked, f"the handler never waited for the session: {handling.result()}"
        handling.cancel()  # the worker dies mid-event
        with contextlib.suppress(asyncio.CancelledError):
            await handling

    if recovered_by == "redelivery":
        again = await deliver(client, body, headers)  # Razorpay retries: same id, same body
        assert again.status_code == 200, again.text
        await dispatch_all(private_stack.container.deps)
    await run_jobs(private_stack, clock)
    await run_jobs(private_stack, clock)

    assert await status_of(gql, customer, session["id"]) == "PAID"
    assert await stock_of(gql, admin, product["id"]) == 8
    admin_messages = await Queue(private_stack, "admin_queue").read()
    assert reviews(admin_messages, session["id"]), admin_messages
