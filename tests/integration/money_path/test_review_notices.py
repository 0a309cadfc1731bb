"""Issue 9 defect 10: every review reason reaches the admins, each once.

API.md "Payment sessions": money captured for an expired session makes it PAID "and admins are
notified to review it"; "Notifications (SNS)": ``notification_id`` is "the same on every retry:
subscribers drop repeats". A session that needs review for a second, different reason must
notify the admins again; a redelivered event must not.
"""

from __future__ import annotations

from collections.abc import Callable

from infra.local.razorpay_sandbox.control_client import SandboxControl
from resolvers.outbox import dispatch_all
from resolvers.payments import expire_due
from tests.integration.money_path.support import (
    Queue,
    SetClock,
    about,
    payment,
    razorpay,
    reviews,
    send,
    status_of,
)
from tests.support.payments_flow import open_session, own_product
from tests.support.stack import Stack

Headers = dict[str, str]


async def test_a_second_review_reason_notifies_admins_again_a_redelivery_does_not(
    private_stack: Stack,
    clock: SetClock,
    sandbox: SandboxControl,
    new_customer: Callable[..., Headers],
    admin: Headers,
) -> None:
    """Defect 10. The customer authorized two payments on one order (manual capture); the
    session expired; both are captured later. The first capture (late, on an EXPIRED session)
    asks the admins to review; its redelivery adds nothing; the second capture (money taken
    twice) asks them again; its redelivery adds nothing."""
    sandbox.configure(auto_capture=False)
    gql, client, deps = private_stack.gql, private_stack.client, private_stack.container.deps
    product = await own_product(gql, admin, stock=10)
    customer = new_customer()
    session = await open_session(gql, customer, product["id"])
    first = sandbox.pay(session["razorpayOrderId"], outcome="success")["razorpay_payment_id"]
    second = sandbox.pay(session["razorpayOrderId"], outcome="success")["razorpay_payment_id"]
    clock.advance(minutes=31)
    assert await expire_due(deps) == 1
    for payment_id in (first, second):  # captured in Razorpay's dashboard, later
        amount = (await payment(sandbox, payment_id))["amount"]
        await razorpay(
            "POST",
            sandbox.base_url,
            f"payments/{payment_id}/capture",
            json={"amount": amount, "currency": "INR"},
        )
    admins = Queue(private_stack, "admin_queue")

    async def captured(payment_id: str, event_id: str) -> list[dict[str, str]]:
        """Deliver payment.captured; answer what the admins got because of it."""
        answer = await send(
            client,
            "payment.captured",
            event_id=event_id,
            payment=await payment(sandbox, payment_id),
        )
        assert answer.status_code == 200, answer.text
        await dispatch_all(deps)
        return about(await admins.read(), session["id"])

    late = await captured(first, "evt_LateCapture001")
    assert await status_of(gql, customer, session["id"]) == "PAID"
    assert reviews(late, session["id"]), late
    assert await captured(first, "evt_LateCapture001") == []  # redelivered: nothing new

    twice = await captured(second, "evt_SecondCapture1")
    assert reviews(twice, session["id"]), admins.seen
    assert await captured(second, "evt_SecondCapture1") == []
