"""Webhooks and refunds against the real services: signatures, dedupe, order, mismatches,
money captured after expiry, partial and full refunds, and what goes to the outbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from app.container import Container
from app.main import create_app
from app.settings import Settings
from domain.signatures import checkout_signature
from infra.local.razorpay_sandbox import SandboxServer
from infra.local.razorpay_sandbox.control_client import SandboxControl
from resolvers.payments import expire_due
from tests.support.payments_flow import REFUND, ask_refund
from tests.support.shop import GET, create_session, data, fill_cart, verify
from tests.support.stack import RAZORPAY_KEY_SECRET, GraphQLClient, Stack
from tests.support.webhooks import deliver, event_body, sandbox_entity, signed_headers

Headers = dict[str, str]


@pytest.fixture
def admin(new_customer: Callable[..., Headers]) -> Headers:
    return new_customer("admin")


async def paid_on_sandbox(
    gql: GraphQLClient,
    customer: Headers,
    sandbox: SandboxControl,
    razorpay_sandbox: SandboxServer,
    items: dict[str, int] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A session whose order the customer paid on Checkout; the app has not heard yet."""
    await fill_cart(gql, customer, items or {"GRO-TEA-003": 1})
    session = (await create_session(gql, customer))["paymentSession"]
    paid = sandbox.pay(session["razorpayOrderId"], outcome="success")
    payment = await sandbox_entity(
        razorpay_sandbox.base_url, f"payments/{paid['razorpay_payment_id']}"
    )
    return session, payment


async def captured_session(
    gql: GraphQLClient,
    client: httpx.AsyncClient,
    customer: Headers,
    sandbox: SandboxControl,
    razorpay_sandbox: SandboxServer,
    items: dict[str, int] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A session paid on the sandbox and made PAID by its payment.captured webhook."""
    session, payment = await paid_on_sandbox(gql, customer, sandbox, razorpay_sandbox, items)
    captured = event_body("payment.captured", payment=payment)
    await deliver(client, captured, signed_headers(captured))
    return session, payment


async def status_of(gql: GraphQLClient, who: Headers, session_id: str) -> str:
    return str((await data(gql, GET, who, id=session_id))["paymentSession"]["status"])


async def test_captured_webhook_pays_once_and_bad_signatures_change_nothing(
    gql: GraphQLClient,
    client: httpx.AsyncClient,
    new_customer: Callable[..., Headers],
    sandbox: SandboxControl,
    razorpay_sandbox: SandboxServer,
) -> None:
    customer = new_customer()
    session, payment = await paid_on_sandbox(gql, customer, sandbox, razorpay_sandbox)
    body = event_body("payment.captured", payment=payment)
    forged = await deliver(client, body, signed_headers(body, secret="not-the-secret"))
    assert forged.status_code == 400
    tampered = body.replace(b'"captured"', b'"failed"', 1)
    assert (await deliver(client, tampered, signed_headers(body))).status_code == 400
    assert await status_of(gql, customer, session["id"]) == "CREATED"
    headers = signed_headers(body, event_id="evt_same_id_001")
    first = await deliver(client, body, headers)
    again = await deliver(client, body, headers)
    assert (first.status_code, first.json()["detail"]) == (200, "applied")
    assert (again.status_code, again.json()["detail"]) == (200, "duplicate")
    assert await status_of(gql, customer, session["id"]) == "PAID"
    # a late, out-of-order failure of the same order never moves it back
    failed = payment | {"status": "failed", "id": "pay_LateFailure0001", "captured": False}
    late = event_body("payment.failed", payment=failed)
    assert (await deliver(client, late, signed_headers(late))).status_code == 200
    assert await status_of(gql, customer, session["id"]) == "PAID"


async def test_previous_secret_is_accepted_during_a_rotation(
    settings: Settings,
    container: Container,
    gql: GraphQLClient,
    new_customer: Callable[..., Headers],
    sandbox: SandboxControl,
    razorpay_sandbox: SandboxServer,
) -> None:
    rotated = Container(
        settings.model_copy(
            update={
                "razorpay_webhook_secret": SecretStr("the-new-secret"),
                "razorpay_webhook_previous_secret": settings.razorpay_webhook_secret,
            }
        )
    )
    rotated.__dict__["engine"] = container.engine
    customer = new_customer()
    session, payment = await paid_on_sandbox(gql, customer, sandbox, razorpay_sandbox)
    body = event_body("order.paid", payment=payment, order={"id": session["razorpayOrderId"]})
    app = create_app(rotated)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        with_old = await deliver(c, body, signed_headers(body))  # in flight before rotation
        with_new = await deliver(c, body, signed_headers(body, secret="the-new-secret"))
        unknown = await deliver(c, body, signed_headers(body, secret="some-other-secret"))
    await rotated.aws.aclose()
    rotated.gateway.close()
    if rotated.redis is not None:  # the paid session's stock move bumped the catalog version
        await rotated.redis.aclose()
    assert with_old.status_code == 200 and with_new.status_code == 200
    assert unknown.status_code == 400
    assert await status_of(gql, customer, session["id"]) == "PAID"


async def test_a_mismatched_payment_is_recorded_and_not_trusted(
    gql: GraphQLClient,
    client: httpx.AsyncClient,
    new_customer: Callable[..., Headers],
    sandbox: SandboxControl,
    razorpay_sandbox: SandboxServer,
) -> None:
    customer = new_customer()
    session, payment = await paid_on_sandbox(gql, customer, sandbox, razorpay_sandbox)
    cheaper = payment | {"amount": payment["amount"] - 100}
    body = event_body("payment.captured", payment=cheaper)
    assert (await deliver(client, body, signed_headers(body))).status_code == 200
    found = (await data(gql, GET, customer, id=session["id"]))["paymentSession"]
    assert found["status"] == "CREATED"
    types = [e["type"] for e in found["timeline"]]
    assert "payment.mismatch" in types and "review.needed" in types


async def test_money_captured_after_expiry_is_kept_and_flagged(
    new_customer: Callable[..., Headers],
    sandbox: SandboxControl,
    razorpay_sandbox: SandboxServer,
    private_stack: Stack,
) -> None:
    # the expiry job below runs over the whole database: this test's own
    gql, container, client = private_stack.gql, private_stack.container, private_stack.client
    customer = new_customer()
    session, payment = await paid_on_sandbox(gql, customer, sandbox, razorpay_sandbox)

    class Later:
        def now(self) -> Any:
            return container.deps.clock.now() + timedelta(minutes=31)

    assert await expire_due(replace(container.deps, clock=Later())) == 1
    assert await status_of(gql, customer, session["id"]) == "EXPIRED"
    body = event_body("payment.captured", payment=payment)
    assert (await deliver(client, body, signed_headers(body))).status_code == 200
    found = (await data(gql, GET, customer, id=session["id"]))["paymentSession"]
    assert found["status"] == "PAID"
    assert "review.needed" in [e["type"] for e in found["timeline"]]


async def test_partial_then_full_refund_and_every_limit(
    gql: GraphQLClient,
    new_customer: Callable[..., Headers],
    admin: Headers,
    sandbox: SandboxControl,
    razorpay_sandbox: SandboxServer,
) -> None:
    customer = new_customer()
    await fill_cart(gql, customer, {"HOM-LMP-002": 1})  # 249,900 + 18 % = 294,882
    session = (await create_session(gql, customer))["paymentSession"]
    total = session["amount"]["amount"]
    assert total == 294_882

    async def refund(**input: Any) -> Any:
        answer = await data(gql, REFUND, admin, input={"paymentSessionId": session["id"], **input})
        return answer["refundCreate"]

    early = await refund(idempotencyKey="refund-before-pay")
    assert early["errors"][0]["code"] == "NOT_REFUNDABLE"
    customer_try = await gql(
        REFUND,
        {"input": {"paymentSessionId": session["id"], "idempotencyKey": "x" * 12}},
        headers=customer,
    )
    assert customer_try["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # type: ignore[index]

    paid = sandbox.pay(session["razorpayOrderId"], outcome="success")
    assert (await verify(gql, customer, session["id"], paid))["paymentSession"]["status"] == "PAID"
    part = await refund(amount=100_000, idempotencyKey="refund-part-0001", reason="damaged")
    assert part["errors"] == []
    assert part["refund"]["status"] == "PROCESSED" and part["refund"]["razorpayRefundId"]
    assert part["paymentSession"]["status"] == "PARTIALLY_REFUNDED"
    assert part["paymentSession"]["refundedAmount"] == {"amount": 100_000}
    replay = await refund(amount=100_000, idempotencyKey="refund-part-0001")
    assert replay["refund"]["id"] == part["refund"]["id"]
    reused = await refund(amount=5_000, idempotencyKey="refund-part-0001")
    assert reused["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    too_much = await refund(amount=total, idempotencyKey="refund-too-much")
    assert too_much["errors"][0]["code"] == "REFUND_EXCEEDS_CAPTURED"
    rest = await refund(idempotencyKey="refund-rest-0001")  # default: all that is left
    assert rest["refund"]["amount"] == {"amount": total - 100_000}
    assert rest["paymentSession"]["status"] == "REFUNDED"
    assert rest["paymentSession"]["refundedAmount"] == {"amount": total}
    nothing_left = await refund(idempotencyKey="refund-nothing-01")
    assert nothing_left["errors"][0]["code"] == "REFUND_EXCEEDS_CAPTURED"
    # Razorpay saw one refund per idempotency key, never more than captured
    payment = await sandbox_entity(
        razorpay_sandbox.base_url, f"payments/{paid['razorpay_payment_id']}"
    )
    assert payment["amount_refunded"] == total


async def test_pending_refund_settles_by_webhook(
    gql: GraphQLClient,
    client: httpx.AsyncClient,
    new_customer: Callable[..., Headers],
    admin: Headers,
    sandbox: SandboxControl,
    razorpay_sandbox: SandboxServer,
) -> None:
    customer = new_customer()
    session, payment = await captured_session(gql, client, customer, sandbox, razorpay_sandbox)
    sandbox.configure(refund_outcome="pending")
    answer = await ask_refund(gql, admin, session["id"], "refund-pending-01")
    assert answer["refund"]["status"] == "PENDING"
    assert answer["paymentSession"]["status"] == "PAID"
    refund_id = answer["refund"]["razorpayRefundId"]
    sandbox.flush()  # the sandbox settles pending refunds on its own (compressed) clock
    settled = await sandbox_entity(razorpay_sandbox.base_url, f"refunds/{refund_id}")
    assert settled["status"] == "processed"
    body = event_body("refund.processed", refund=settled, payment=payment)
    assert (await deliver(client, body, signed_headers(body))).status_code == 200
    assert (await deliver(client, body, signed_headers(body))).status_code == 200  # new id
    found = (await data(gql, GET, customer, id=session["id"]))["paymentSession"]
    assert found["status"] == "REFUNDED"
    assert found["refundedAmount"] == {"amount": payment["amount"]}
    assert [r["status"] for r in found["refunds"]] == ["PROCESSED"]


async def test_refund_made_at_razorpay_is_adopted_not_mistaken_for_a_plain_capture(
    gql: GraphQLClient,
    new_customer: Callable[..., Headers],
    sandbox: SandboxControl,
    razorpay_sandbox: SandboxServer,
    container: Container,
) -> None:
    customer = new_customer()
    session, payment = await paid_on_sandbox(gql, customer, sandbox, razorpay_sandbox)
    # the merchant refunds in the Razorpay dashboard before this API heard of the payment
    await container.deps.gateway.refund_payment(
        payment["id"], amount=payment["amount"], idempotency_key="dashboard-refund-1", notes={}
    )
    paid = {
        "razorpay_order_id": session["razorpayOrderId"],
        "razorpay_payment_id": payment["id"],
        "razorpay_signature": checkout_signature(
            key_secret=RAZORPAY_KEY_SECRET,
            order_id=session["razorpayOrderId"],
            payment_id=payment["id"],
        ),
    }
    verified = (await verify(gql, customer, session["id"], paid))["paymentSession"]
    assert verified["status"] == "REFUNDED"
    assert verified["refundedAmount"] == {"amount": payment["amount"]}
    assert [r["status"] for r in verified["refunds"]] == ["PROCESSED"]


async def test_refund_answer_lost_to_a_timeout_is_matched_and_the_retry_is_clean(
    gql: GraphQLClient,
    client: httpx.AsyncClient,
    new_customer: Callable[..., Headers],
    admin: Headers,
    sandbox: SandboxControl,
    razorpay_sandbox: SandboxServer,
) -> None:
    customer = new_customer()
    session, payment = await paid_on_sandbox(
        gql, customer, sandbox, razorpay_sandbox, items={"HOM-BED-001": 1}
    )
    captured = event_body("payment.captured", payment=payment)
    await deliver(client, captured, signed_headers(captured))
    total = payment["amount"]
    # Razorpay makes the refund, but its answer never arrives
    sandbox.set_faults(
        {
            "type": "timeout",
            "delay": 5,
            "process": True,
            "method": "POST",
            "path": "/v1/payments/*/refund",
        }
    )
    lost = await ask_refund(gql, admin, session["id"], "refund-lost-0001", amount=10_000)
    assert lost["errors"][0]["code"] == "GATEWAY_UNAVAILABLE"
    sandbox.set_faults()
    [made] = (await sandbox_entity(razorpay_sandbox.base_url, f"payments/{payment['id']}/refunds"))[
        "items"
    ]
    body = event_body("refund.processed", refund=made, payment=payment)
    assert (await deliver(client, body, signed_headers(body))).status_code == 200
    retried = await ask_refund(gql, admin, session["id"], "refund-lost-0001", amount=10_000)
    assert retried["errors"] == []
    assert retried["refund"]["razorpayRefundId"] == made["id"]
    rest = await ask_refund(gql, admin, session["id"], "refund-lost-rest")
    assert rest["errors"] == [] and rest["refund"]["amount"] == {"amount": total - 10_000}
    final = (await data(gql, GET, customer, id=session["id"]))["paymentSession"]
    assert final["status"] == "REFUNDED"
    assert sorted(r["amount"]["amount"] for r in final["refunds"]) == sorted(
        [10_000, total - 10_000]
    )


async def test_a_failed_refund_frees_its_amount(
    gql: GraphQLClient,
    client: httpx.AsyncClient,
    new_customer: Callable[..., Headers],
    admin: Headers,
    sandbox: SandboxControl,
    razorpay_sandbox: SandboxServer,
) -> None:
    customer = new_customer()
    session, payment = await captured_session(gql, client, customer, sandbox, razorpay_sandbox)
    sandbox.configure(refund_outcome="failed")
    asked = await ask_refund(gql, admin, session["id"], "refund-will-fail")
    assert asked["refund"]["status"] == "PENDING"
    blocked = await ask_refund(gql, admin, session["id"], "refund-meanwhile", amount=100)
    assert blocked["errors"][0]["code"] == "REFUND_EXCEEDS_CAPTURED"  # all of it is in flight
    sandbox.flush()
    failed = await sandbox_entity(
        razorpay_sandbox.base_url, f"refunds/{asked['refund']['razorpayRefundId']}"
    )
    assert failed["status"] == "failed"
    body = event_body("refund.failed", refund=failed, payment=payment)
    assert (await deliver(client, body, signed_headers(body))).status_code == 200
    found = (await data(gql, GET, customer, id=session["id"]))["paymentSession"]
    assert found["status"] == "PAID" and found["refundedAmount"] == {"amount": 0}
    assert [r["status"] for r in found["refunds"]] == ["FAILED"]
    sandbox.configure(refund_outcome="processed")
    again = await ask_refund(gql, admin, session["id"], "refund-second-try")
    assert again["errors"] == [] and again["paymentSession"]["status"] == "REFUNDED"
