"""Issue 9 defect 9: one lock order everywhere, so a late capture and a checkout of the same
customer and products never deadlock.

API.md: every error answer is JSON, nothing answers a bare 500; a webhook is answered 2xx when
applied. A deadlock (asyncpg ``DeadlockDetectedError``) surfaces as a 500 on the webhook route
or an internal error on ``paymentSessionCreate``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from infra.local.razorpay_sandbox.control_client import SandboxControl
from tests.integration.money_path.support import (
    payment,
    row_locked,
    status_of,
    wait_for_lock_waiters,
)
from tests.support.payments_flow import open_session, own_product
from tests.support.shop import CANCEL, data
from tests.support.stack import Stack
from tests.support.webhooks import deliver, event_body, signed_headers

Headers = dict[str, str]


async def test_a_late_capture_and_a_checkout_of_the_same_cart_do_not_deadlock(
    private_stack: Stack,
    sandbox: SandboxControl,
    new_customer: Callable[..., Headers],
    admin: Headers,
) -> None:
    """Defect 9. A cancelled session's order is paid (a late capture: its stock is taken
    again) while the same customer checks out the same cart again. The interleaving that
    deadlocks is forced: the test holds the product's row lock until the capture waits for it
    and the checkout waits too (behind the cart it locked, or behind whatever the one lock
    order makes it wait for). Both then finish: the capture answered 200, the checkout
    without an internal error."""
    gql, client = private_stack.gql, private_stack.client
    product = await own_product(gql, admin, stock=10)
    customer = new_customer()
    late = await open_session(gql, customer, product["id"])
    cancelled = (await data(gql, CANCEL, customer, id=late["id"]))["paymentSessionCancel"]
    assert cancelled["paymentSession"]["status"] == "CANCELLED", cancelled
    paid = sandbox.pay(late["razorpayOrderId"], outcome="success")
    body = event_body(
        "payment.captured", payment=await payment(sandbox, paid["razorpay_payment_id"])
    )

    async with row_locked(private_stack, "products", product["id"]):
        capture = asyncio.create_task(deliver(client, body, signed_headers(body)))
        # (a capture that takes no product lock cannot deadlock here: then nothing waits)
        await wait_for_lock_waiters(private_stack, 1, tasks=[capture])
        checkout = asyncio.create_task(
            gql(
                "mutation($input: PaymentSessionCreateInput!) { paymentSessionCreate("
                "input: $input) { paymentSession { id status } errors { code message } } }",
                {"input": {"idempotencyKey": "checkout-during-capture"}},
                headers=customer,
            )
        )
        await wait_for_lock_waiters(private_stack, 2, tasks=[checkout])
    captured, created = await asyncio.gather(capture, checkout)

    assert captured.status_code == 200, captured.text
    assert "errors" not in created, created
    assert await status_of(gql, customer, late["id"]) == "PAID"
