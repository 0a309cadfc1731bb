"""The storm: hundreds of webhook deliveries for many sessions, with duplicates, shuffled order
and bad signatures mixed in, sent concurrently. Afterwards every session is in the right state,
the dashboard equals the sum of PAID amounts exactly, and each notification went out once.
Also: an SNS outage loses nothing, and everything goes out once SNS is back."""

from __future__ import annotations

import asyncio
import random
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from datasources.aws import AwsClients, default_config
from datasources.sns.notifier import SnsNotifier
from domain.payment_ports import NotificationTopic
from domain.payment_rules import PaymentReported
from domain.payments import merchant_date
from infra.local.razorpay_sandbox import SandboxServer
from infra.local.razorpay_sandbox.control_client import SandboxControl
from infra.local.razorpay_sandbox.testing import WebhookReceiver
from resolvers.outbox import dispatch, dispatch_all
from resolvers.payment_events import settle
from resolvers.sales import dashboard
from tests.support.services import free_port
from tests.support.shop import GET, create_session, data, fill_cart
from tests.support.stack import REGION, Stack

Headers = dict[str, str]


async def published(stack: Stack, queue: str) -> list[str]:
    """Every message body in one of the stack's subscribed queues (drained)."""
    queue_url = stack.queues[queue]
    sqs = await stack.container.aws.client("sqs")
    bodies: list[str] = []
    while True:
        answer = await sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        messages = answer.get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(message["Body"])
            await sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


async def test_webhook_storm(
    new_customer: Callable[..., Headers],
    sandbox: SandboxControl,
    razorpay_sandbox: SandboxServer,
    private_stack: Stack,
) -> None:
    gql = private_stack.gql  # a database, table and topics of the test's own: exact counts
    rng = random.Random(20261125)
    receiver = WebhookReceiver()
    receiver.start()
    sandbox.configure(webhook_url=receiver.webhook_url)
    try:
        # 50 customers, a session each (a cart has one open session); 40 get paid, 10 see
        # their payment fail
        sessions: list[tuple[Headers, dict[str, Any], bool]] = []
        for n in range(50):
            customer = new_customer()
            await fill_cart(gql, customer, {"GRO-DAL-002": 1 + n % 10})
            session = (await create_session(gql, customer))["paymentSession"]
            sessions.append((customer, session, n % 5 != 4))
        for _, session, pays in sessions:
            sandbox.pay(session["razorpayOrderId"], outcome="success" if pays else "failure")
        sandbox.flush(timeout=30)
        real = receiver.received()
    finally:
        receiver.stop()
    assert len(real) == 40 * 3 + 10  # authorized, captured, order.paid / failed

    deliveries: list[tuple[bytes, dict[str, str], bool]] = []
    for delivery in real:
        headers = {
            k: v for k, v in delivery.headers.items() if k.startswith(("x-razorpay", "content"))
        }
        deliveries += [(delivery.body, headers, True)] * rng.randint(1, 3)
    for delivery in rng.sample(real, 40):
        forged = dict(delivery.headers) | {"x-razorpay-signature": secrets.token_hex(32)}
        deliveries.append((delivery.body, forged, False))
        tampered = delivery.body.replace(b'"amount":', b'"amount":1', 1)
        deliveries.append((tampered, dict(delivery.headers), False))
    rng.shuffle(deliveries)

    gate = asyncio.Semaphore(32)

    async def send(body: bytes, headers: dict[str, str]) -> int:
        async with gate:
            response = await private_stack.client.post(
                "/webhooks/razorpay", content=body, headers=headers
            )
            return response.status_code

    codes = await asyncio.gather(*(send(b, h) for b, h, _ in deliveries))
    expected = [200 if good else 400 for _, _, good in deliveries]
    assert codes == expected, Counter(zip(codes, expected, strict=True))
    assert len(deliveries) >= 250

    deps = private_stack.container.deps

    class NextMinutes:  # the dispatcher job, after the leases of cut-off inline dispatches
        def now(self) -> Any:
            return deps.clock.now() + timedelta(minutes=2)

    await dispatch_all(replace(deps, clock=NextMinutes()))

    paid_total = 0
    for customer, session, pays in sessions:
        found = (await data(gql, GET, customer, id=session["id"]))["paymentSession"]
        assert found["status"] == ("PAID" if pays else "ATTEMPTED"), session["id"]
        if pays:
            paid_total += found["amount"]["amount"]
            timeline = await deps.timeline.list(session["id"])  # the storm app's own table
            assert [e.type for e in timeline].count("status.PAID") == 1

    today = merchant_date(deps.clock.now())
    board = await dashboard(deps, from_day=today - timedelta(days=1), to_day=today)
    assert board.totals.paid_count == 40
    assert board.totals.paid_amount == paid_total
    assert board.totals.failed_count == 10
    assert board.totals.refunded_amount == 0

    customer_messages = await published(private_stack, "customer_queue")
    admin_messages = await published(private_stack, "admin_queue")
    # exactly once each: 50 to customers (40 paid, 10 failed), 40 to admins
    assert (len(customer_messages), len(admin_messages)) == (50, 40)
    for _, session, pays in sessions:
        short = session["id"][:8]
        mine = [body for body in customer_messages if f"order {short}" in body]
        assert len(mine) == 1, (short, mine)
        assert ("We received" in mine[0]) is pays
        admins = [body for body in admin_messages if session["id"] in body]
        assert len(admins) == (1 if pays else 0), (short, admins)


async def test_sns_outage_loses_nothing(
    new_customer: Callable[..., Headers],
    sandbox: SandboxControl,
    razorpay_sandbox: SandboxServer,
    private_stack: Stack,
) -> None:
    gql = private_stack.gql  # a database, table and topics of the test's own: exact counts
    deps = private_stack.container.deps
    dead = AwsClients(
        region=REGION,
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        config=default_config(max_attempts=1, connect_timeout=0.5),
    )
    outage_began = deps.clock.now()

    class Frozen:
        def now(self) -> Any:
            return outage_began

    down = replace(
        deps,
        clock=Frozen(),
        notifier=SnsNotifier(
            clients=dead,
            topic_arns={
                NotificationTopic.CUSTOMER: private_stack.queues["customer"],
                NotificationTopic.ADMIN: private_stack.queues["admin"],
            },
        ),
    )
    paid_ids = []
    for _ in range(3):
        customer = new_customer()
        await fill_cart(gql, customer, {"BOK-KID-004": 1})
        session = (await create_session(gql, customer))["paymentSession"]
        paid = sandbox.pay(session["razorpayOrderId"], outcome="success")
        payment = await deps.gateway.fetch_payment(paid["razorpay_payment_id"])
        stored = await deps.payments.get(session["id"])
        assert stored is not None
        await settle(down, stored.id, PaymentReported(payment=payment, source="verify"))
        paid_ids.append(session["id"])

    try:
        outage = await dispatch(down)
        again = await dispatch(down)  # not due yet: backoff
    finally:
        await dead.aclose()
    # the sales counters and timeline entries (DynamoDB) were reachable; the 6 notifications
    # (3 customer, 3 admin) of these sessions wait in the outbox
    assert (outage.sent, outage.failed) == (6, 6)
    assert await deps.outbox.pending_count() == 6
    assert (again.sent, again.failed) == (0, 0)
    assert await published(private_stack, "admin_queue") == []

    class AfterBackoff:
        def now(self) -> Any:
            return deps.clock.now() + timedelta(minutes=1)

    back = await dispatch_all(replace(deps, clock=AfterBackoff()))
    assert (back.sent, back.failed) == (6, 0)
    customer_messages = await published(private_stack, "customer_queue")
    admin_messages = await published(private_stack, "admin_queue")
    assert (len(customer_messages), len(admin_messages)) == (3, 3)
    for session_id in paid_ids:
        short = session_id[:8]
        assert sum(f"order {short}" in body for body in customer_messages) == 1
        assert sum(session_id in body for body in admin_messages) == 1
