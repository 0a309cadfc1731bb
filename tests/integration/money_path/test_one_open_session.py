"""Issue 9 defect 6: a cart has at most one open payment session.

API.md "Payment sessions": "A cart has at most one open payment session. Creating one with a
new idempotency key cancels the cart's earlier open session (CREATED or ATTEMPTED) and releases
its reservations in the same transaction; if the earlier one is AUTHORIZED (money on its way)
the create fails with ``PAYMENT_IN_PROGRESS``. Aliased creates in one request therefore leave
one open session."
"""

from __future__ import annotations

from collections.abc import Callable

from infra.local.razorpay_sandbox.control_client import SandboxControl
from tests.integration.money_path.support import payment, send, status_of, stock_of
from tests.support.payments_flow import open_session, own_product
from tests.support.shop import create_session
from tests.support.stack import Stack

Headers = dict[str, str]
ALIASED = """mutation($a: PaymentSessionCreateInput!, $b: PaymentSessionCreateInput!,
                      $c: PaymentSessionCreateInput!) {
  a: paymentSessionCreate(input: $a) { paymentSession { id status } errors { code } }
  b: paymentSessionCreate(input: $b) { paymentSession { id status } errors { code } }
  c: paymentSessionCreate(input: $c) { paymentSession { id status } errors { code } }
}"""


async def test_aliased_creates_leave_one_open_session_and_reserve_once(
    private_stack: Stack,
    sandbox: SandboxControl,
    new_customer: Callable[..., Headers],
    admin: Headers,
) -> None:
    """Defect 6. Three aliased ``paymentSessionCreate`` with distinct keys in one request
    (2 units in the cart, 10 on the shelf): one open session, the other two CANCELLED, the
    stock reserved once (8 left)."""
    gql = private_stack.gql
    product = await own_product(gql, admin, stock=10)
    customer = new_customer()
    await open_session(gql, customer, product["id"], quantity=2)  # a session before, too
    body = await gql(
        ALIASED,
        {name: {"idempotencyKey": f"aliased-create-{name}"} for name in "abc"},
        headers=customer,
    )
    assert "errors" not in body, body
    answers = body["data"]
    assert isinstance(answers, dict)
    ids = [answers[name]["paymentSession"]["id"] for name in "abc"]
    statuses = [await status_of(gql, customer, i) for i in ids]
    assert statuses == ["CANCELLED", "CANCELLED", "CREATED"], statuses
    listing = await gql(
        "{ paymentSessions(first: 10) { edges { node { id status } } } }", headers=customer
    )
    edges = listing["data"]["paymentSessions"]["edges"]  # type: ignore[index]
    open_ones = [e["node"]["id"] for e in edges if e["node"]["status"] == "CREATED"]
    assert open_ones == [ids[2]], edges
    assert await stock_of(gql, admin, product["id"]) == 8


async def test_a_create_next_to_an_authorized_session_is_payment_in_progress(
    private_stack: Stack,
    sandbox: SandboxControl,
    new_customer: Callable[..., Headers],
    admin: Headers,
) -> None:
    """Defect 6. The cart's session is AUTHORIZED (manual capture, the capture not through
    yet): a create with a new key fails with PAYMENT_IN_PROGRESS and reserves nothing."""
    gql, client = private_stack.gql, private_stack.client
    sandbox.configure(auto_capture=False)
    product = await own_product(gql, admin, stock=10)
    customer = new_customer()
    session = await open_session(gql, customer, product["id"], quantity=2)
    paid = sandbox.pay(session["razorpayOrderId"], outcome="success")
    sandbox.set_faults(
        {
            "type": "error",
            "status": 503,
            "count": None,
            "method": "POST",
            "path": "/v1/payments/*/capture",
        }
    )
    answer = await send(
        client, "payment.authorized", payment=await payment(sandbox, paid["razorpay_payment_id"])
    )
    assert answer.status_code == 200, answer.text
    sandbox.set_faults()
    assert await status_of(gql, customer, session["id"]) == "AUTHORIZED"

    again = await create_session(gql, customer, key="while-authorized-01")
    assert [e["code"] for e in again["errors"]] == ["PAYMENT_IN_PROGRESS"], again
    assert again["paymentSession"] is None
    assert await status_of(gql, customer, session["id"]) == "AUTHORIZED"
    assert await stock_of(gql, admin, product["id"]) == 8
