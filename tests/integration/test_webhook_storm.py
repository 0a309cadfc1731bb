"""The storm: hundreds of webhook deliveries for many sessions, with duplicates, shuffled order
and bad signatures mixed in, sent concurrently. Afterwards every session is in the right state,
the dashboard equals the sum of PAID amounts exactly, and each notification went out once.
Also: an SNS outage loses nothing, and everything goes out once SNS is back."""

from __future__ import annotations

import asyncio
import random
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.container import Container
from app.main import create_app
from app.settings import Settings
from datasources.aws import AwsClients, default_config
from datasources.dynamodb import ensure_table
from datasources.sns.notifier import SnsNotifier
from domain.payment_ports import NotificationTopic
from domain.payments import merchant_date
from infra.local.emulator import provision_topics
from infra.local.razorpay_sandbox import SandboxServer
from infra.local.razorpay_sandbox.control_client import SandboxControl
from infra.local.razorpay_sandbox.testing import WebhookReceiver
from resolvers.outbox import dispatch, dispatch_all
from resolvers.payment_events import settle_gateway_payment
from resolvers.sales import dashboard
from tests.conftest import REGION, GraphQLClient
from tests.support.services import free_port
from tests.support.shop import GET, create_session, data, fill_cart

Headers = dict[str, str]


@dataclass
class Isolated:
    """The app on the run's database, with a DynamoDB table and SNS topics of its own, so
    the dashboard and the published notifications can be counted exactly."""

    container: Container
    queues: dict[str, str]


@pytest.fixture
async def isolated(
    settings: Settings, container: Container, aws_endpoint_url: str
) -> AsyncIterator[Isolated]:
    await dispatch_all(container.deps)  # nothing of earlier tests left to publish
    topics = await provision_topics(
        endpoint_url=aws_endpoint_url, region=REGION, prefix=f"storm{secrets.token_hex(3)}"
    )
    own = Container(
        settings.model_copy(
            update={
                "dynamodb_table": f"storm-{secrets.token_hex(4)}",
                "sns_customer_topic_arn": topics["customer"],
                "sns_admin_topic_arn": topics["admin"],
            }
        )
    )
    own.__dict__["engine"] = container.engine  # share the run's database (and its pool)
    await ensure_table(own.aws, table_name=own.settings.dynamodb_table)
    yield Isolated(container=own, queues=topics)
    await own.aws.aclose()
    own.gateway.close()
    if own.redis is not None:
        await own.redis.aclose()


async def published(container: Container, queue_url: str) -> list[str]:
    """Every message body in a subscribed queue (drained)."""
    sqs = await container.aws.client("sqs")
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
    gql: GraphQLClient,
    new_customer: Callable[..., Headers],
    sandbox: SandboxControl,
    razorpay_sandbox: SandboxServer,
    isolated: Isolated,
) -> None:
    rng = random.Random(20261125)
    receiver = WebhookReceiver()
    receiver.start()
    sandbox.configure(webhook_url=receiver.webhook_url)
    try:
        # 10 customers × 5 sessions = 50 sessions; 40 get paid, 10 see their payment fail
        sessions: list[tuple[Headers, dict[str, Any], bool]] = []
        for quantity in range(1, 11):
            customer = new_customer()
            await fill_cart(gql, customer, {"GRO-DAL-002": quantity})
            for n in range(5):
                session = (await create_session(gql, customer))["paymentSession"]
                sessions.append((customer, session, n != 4))
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

    app = create_app(isolated.container)
    gate = asyncio.Semaphore(32)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://storm"
    ) as client:

        async def send(body: bytes, headers: dict[str, str]) -> int:
            async with gate:
                response = await client.post("/webhooks/razorpay", content=body, headers=headers)
                return response.status_code

        codes = await asyncio.gather(*(send(b, h) for b, h, _ in deliveries))
    expected = [200 if good else 400 for _, _, good in deliveries]
    assert codes == expected, Counter(zip(codes, expected, strict=True))
    assert len(deliveries) >= 250

    deps = isolated.container.deps
    await dispatch_all(deps)

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

    customer_messages = await published(isolated.container, isolated.queues["customer_queue"])
    admin_messages = await published(isolated.container, isolated.queues["admin_queue"])
    # exactly once each (other tests' leftovers, if any, name other sessions)
    for _, session, pays in sessions:
        short = session["id"][:8]
        mine = [body for body in customer_messages if f"order {short}" in body]
        assert len(mine) == 1, (short, mine)
        assert ("We received" in mine[0]) is pays
        admins = [body for body in admin_messages if session["id"] in body]
        assert len(admins) == (1 if pays else 0), (short, admins)


async def test_sns_outage_loses_nothing(
    gql: GraphQLClient,
    new_customer: Callable[..., Headers],
    sandbox: SandboxControl,
    razorpay_sandbox: SandboxServer,
    isolated: Isolated,
) -> None:
    deps = isolated.container.deps
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
                NotificationTopic.CUSTOMER: isolated.queues["customer"],
                NotificationTopic.ADMIN: isolated.queues["admin"],
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
        await settle_gateway_payment(down, stored, payment, source="webhook", strict=False)
        paid_ids.append(session["id"])

    try:
        outage = await dispatch(down)
        again = await dispatch(down)  # not due yet: backoff
    finally:
        await dead.aclose()
    # the sales counters (DynamoDB) were reachable; the 6 notifications (3 customer, 3 admin)
    # of these sessions wait in the outbox (other tests' leftovers may be in the batch too)
    assert outage.sent >= 3 and outage.failed >= 6
    assert await deps.outbox.pending_count() >= 6
    assert (again.sent, again.failed) == (0, 0)
    assert await published(isolated.container, isolated.queues["admin_queue"]) == []

    class AfterBackoff:
        def now(self) -> Any:
            return deps.clock.now() + timedelta(minutes=1)

    back = await dispatch_all(replace(deps, clock=AfterBackoff()))
    assert back.failed == 0 and back.sent >= 6
    customer_messages = await published(isolated.container, isolated.queues["customer_queue"])
    admin_messages = await published(isolated.container, isolated.queues["admin_queue"])
    for session_id in paid_ids:
        short = session_id[:8]
        assert sum(f"order {short}" in body for body in customer_messages) == 1
        assert sum(session_id in body for body in admin_messages) == 1
