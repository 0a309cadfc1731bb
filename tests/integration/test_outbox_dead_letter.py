"""The outbox's dead letter on the real services: SqlOutbox on PostgreSQL and SQLite (parking,
claims skipping parked rows, counts, requeue filters), the dispatcher parking messages SNS
never takes (a dead endpoint) with an ERROR line and the metric, and the operator command
(``app.outbox_admin``, called in-process and as a subprocess) bringing them back, after which
they reach the SNS topics' SQS subscribers with their message attributes."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app import outbox_admin
from app.container import Container
from app.settings import Settings
from datasources.aws import AwsClients, default_config
from datasources.postgres import migrate
from datasources.postgres.outbox import SqlOutbox, enqueue
from datasources.sns.notifier import SnsNotifier
from domain.effects import Count, CountKind, Notify
from domain.outbox import OutboxKind, OutboxMessage, message_of
from domain.payment_ports import NotificationTopic
from domain.payment_session import PaymentSession
from domain.payments import merchant_date
from resolvers.outbox import PARKED_METRIC, Dispatched, dispatch, dispatch_all
from tests.support.metrics import Recorded, RecordingSink
from tests.support.payment_fakes import payment_session
from tests.support.services import free_port
from tests.support.stack import REGION, Databases, Stack

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime.fromisoformat("2026-04-01T06:00:00+00:00")
LEASE = timedelta(seconds=60)


@dataclass
class SetClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


def message(key: str, kind: OutboxKind = OutboxKind.NOTIFY_ADMIN) -> OutboxMessage:
    topic = (
        NotificationTopic.CUSTOMER
        if kind is OutboxKind.NOTIFY_CUSTOMER
        else NotificationTopic.ADMIN
    )
    return message_of(
        Notify(
            key=key,
            topic=topic,
            event="payment.paid",
            session_id=str(uuid.uuid4()),
            customer_id="customer-1",
            subject=key,
            message=key,
        )
    )


def on_paid(session: PaymentSession, *, at: datetime) -> list[OutboxMessage]:
    """What a session becoming PAID writes that goes to SNS and the sales counters."""
    notices = [
        Notify(
            key=f"paid:{session.id}:{topic.value}",
            topic=topic,
            event="payment.paid",
            session_id=session.id,
            customer_id=session.customer_id,
            subject=f"Order {session.id[:8]} paid",
            message=f"Session {session.id} paid.",
            amount=session.amount,
        )
        for topic in (NotificationTopic.CUSTOMER, NotificationTopic.ADMIN)
    ]
    counter = Count(
        key=f"paid:{session.id}",
        kind=CountKind.PAID,
        day=merchant_date(at),
        amount=session.amount,
    )
    return [message_of(e) for e in (*notices, counter)]


async def add(container: Container, *messages: OutboxMessage, now: datetime = T0) -> None:
    async with container.sessions() as session, session.begin():
        await enqueue(session, messages, now=now)


# --- SqlOutbox on both databases ---------------------------------------------------------------


@pytest.fixture(params=["postgresql", "sqlite"])
async def own_database(
    request: pytest.FixtureRequest, databases: Databases, tmp_path: Path
) -> AsyncIterator[Container]:
    """An empty outbox on a migrated database of the test's own."""
    if request.param == "postgresql":
        url = await databases.clone("deadletter")
        container = Container(Settings(environment="test", database_url=url))
    else:
        url = f"sqlite+aiosqlite:///{tmp_path}/outbox.db"
        container = Container(Settings(environment="test", database_url=url))
        await migrate.upgrade(container.engine)
    try:
        yield container
    finally:
        await container.aclose()
        if request.param == "postgresql":
            await databases.drop(url)


async def test_parked_rows_are_not_claimed_counted_apart_and_listed(
    own_database: Container,
) -> None:
    outbox = SqlOutbox(own_database.sessions)
    await add(own_database, message("review:a"), message("review:b"), message("review:c"))
    claimed = await outbox.claim(limit=10, now=T0, lease=LEASE)
    by_key = {m.dedupe_key: m.id for m in claimed}
    assert list(by_key) == ["review:a", "review:b", "review:c"]

    await outbox.mark_failed(by_key["review:a"], error="first", retry_at=T0)
    await outbox.park(by_key["review:a"], error="sns unreachable", now=T0 + timedelta(seconds=1))
    await outbox.park(by_key["review:b"], error="x" * 3000, now=T0 + timedelta(seconds=2))
    await outbox.mark_sent(by_key["review:c"], now=T0)
    await outbox.park(by_key["review:c"], error="too late", now=T0)  # a sent row stays sent

    assert await outbox.claim(limit=10, now=T0 + timedelta(days=1), lease=LEASE) == []
    assert await outbox.pending_count() == 0
    assert await outbox.parked_count() == 2
    first, second = await outbox.parked(limit=10)
    assert (first.id, first.kind, first.dedupe_key) == (
        by_key["review:a"],
        OutboxKind.NOTIFY_ADMIN,
        "review:a",
    )
    assert (first.attempts, first.last_error) == (2, "sns unreachable")
    assert first.parked_at == T0 + timedelta(seconds=1)
    assert first.created_at == T0
    assert second.dedupe_key == "review:b"
    assert second.last_error == "x" * 2000  # bounded, like mark_failed's
    assert [m.dedupe_key for m in await outbox.parked(limit=1)] == ["review:a"]
    assert [m.dedupe_key for m in await outbox.parked(limit=9, ids=[second.id])] == ["review:b"]


async def test_requeue_filters_by_kind_and_ids_and_resets_attempts(
    own_database: Container,
) -> None:
    outbox = SqlOutbox(own_database.sessions)
    customer = OutboxKind.NOTIFY_CUSTOMER
    await add(
        own_database,
        message("paid:1:customer", customer),
        message("paid:2:customer", customer),
        message("paid:1:admin"),
        message("paid:2:admin"),
    )
    for pending in await outbox.claim(limit=10, now=T0, lease=LEASE):
        await outbox.park(pending.id, error="down", now=T0)
    ids = {m.dedupe_key: m.id for m in await outbox.parked(limit=10)}
    later = T0 + timedelta(hours=1)

    assert await outbox.requeue(now=later, ids=[]) == 0
    assert await outbox.requeue(now=later, ids=[str(uuid.uuid4())]) == 0
    assert await outbox.requeue(now=later, kind=customer, ids=[ids["paid:1:admin"]]) == 0
    assert await outbox.requeue(now=later, kind=customer) == 2
    assert await outbox.requeue(now=later, kind=customer) == 0  # nothing parked of that kind
    assert await outbox.requeue(now=later, ids=[ids["paid:2:admin"]]) == 1
    assert [m.dedupe_key for m in await outbox.parked(limit=10)] == ["paid:1:admin"]
    assert (await outbox.pending_count(), await outbox.parked_count()) == (3, 1)

    assert await outbox.claim(limit=10, now=later - timedelta(seconds=1), lease=LEASE) == []
    back = await outbox.claim(limit=10, now=later, lease=LEASE)
    assert sorted(m.dedupe_key for m in back) == [
        "paid:1:customer",
        "paid:2:admin",
        "paid:2:customer",
    ]
    assert {m.attempts for m in back} == {0}
    assert await outbox.requeue(now=later) == 1  # no filter: every parked message


# --- the dispatcher and the operator command on a whole stack ---------------------------------


def sns_down() -> AwsClients:
    return AwsClients(
        region=REGION,
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        config=default_config(connect_timeout=0.5, read_timeout=0.5, max_attempts=1),
    )


async def received(stack: Stack, queue: str) -> list[dict[str, Any]]:
    """Every message in one of the stack's raw-delivery queues (drained): the body and the
    SNS message attributes, which raw delivery turns into SQS message attributes."""
    sqs = await stack.container.aws.client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        answer = await sqs.receive_message(
            QueueUrl=stack.queues[queue],
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
        )
        if not answer.get("Messages"):
            return found
        for item in answer["Messages"]:
            attributes = {
                name: value["StringValue"]
                for name, value in item.get("MessageAttributes", {}).items()
            }
            found.append({"body": item["Body"], "attributes": attributes})
            await sqs.delete_message(
                QueueUrl=stack.queues[queue], ReceiptHandle=item["ReceiptHandle"]
            )


def cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    """``python -m app.outbox_admin`` as an operator runs it: the app's Settings from the
    environment, nothing inherited but what a shell has."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key in {"PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT"}
    }
    env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "app.outbox_admin", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_undeliverable_messages_are_parked_then_requeued_and_delivered(
    private_stack: Stack, caplog: pytest.LogCaptureFixture, recorded: RecordingSink
) -> None:
    container = private_stack.container
    healthy = container.deps
    clock = SetClock(T0)
    dead = sns_down()
    down = SnsNotifier(
        clients=dead,
        topic_arns={
            NotificationTopic.CUSTOMER: private_stack.settings.sns_customer_topic_arn,
            NotificationTopic.ADMIN: private_stack.settings.sns_admin_topic_arn,
        },
    )
    container.__dict__["deps"] = replace(healthy, clock=clock, notifier=down, outbox_max_attempts=3)
    session = payment_session(id=str(uuid.uuid4()))
    await add(container, *on_paid(session, at=T0))  # customer + admin notices, the sales counter

    results = []
    try:
        with caplog.at_level(logging.WARNING, logger="resolvers.outbox"):
            for _ in range(4):
                results.append(await dispatch(container.deps))
                clock.at += timedelta(minutes=11)  # past every backoff
    finally:
        await dead.aclose()

    assert results == [
        Dispatched(sent=1, failed=2, parked=0),  # the counter went to DynamoDB
        Dispatched(sent=0, failed=2, parked=0),
        Dispatched(sent=0, failed=2, parked=2),
        Dispatched(sent=0, failed=0, parked=0),
    ]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert sorted((r.kind, r.dedupe_key) for r in errors) == [  # type: ignore[attr-defined]
        ("notify.admin", f"paid:{session.id}:admin"),
        ("notify.customer", f"paid:{session.id}:customer"),
    ]
    for record in errors:
        assert "sns publish" in record.last_error  # type: ignore[attr-defined]
        assert record.metric == PARKED_METRIC  # type: ignore[attr-defined]  # to grep for
    assert sorted(recorded.named(PARKED_METRIC), key=lambda r: r.dimensions) == [
        Recorded(PARKED_METRIC, 1, "Count", (("kind", "notify.admin"),)),
        Recorded(PARKED_METRIC, 1, "Count", (("kind", "notify.customer"),)),
    ]
    outbox = container.deps.outbox
    assert (await outbox.pending_count(), await outbox.parked_count()) == (0, 2)

    # the operator lists them, then requeues the customer's (in-process, on this container)
    out = io.StringIO()
    assert await outbox_admin.run(["list"], container=container, out=out) == 0
    listing = out.getvalue().splitlines()
    assert listing[-1] == "2 shown, 2 parked"
    assert all("attempts=3" in line and "sns publish" in line for line in listing[:2])
    out = io.StringIO()
    code = await outbox_admin.run(
        ["requeue", "--kind", "notify.customer"], container=container, out=out
    )
    assert code == 0
    assert out.getvalue().splitlines()[-1] == "requeued 1 message(s); 1 still parked, 1 pending"

    container.__dict__["deps"] = replace(container.deps, notifier=healthy.notifier)  # SNS is back
    assert await dispatch_all(container.deps) == Dispatched(sent=1, failed=0, parked=0)
    [customer] = await received(private_stack, "customer_queue")
    assert customer["attributes"] == {
        "event": "payment.paid",
        "notification_id": f"paid:{session.id}:customer",
        "customer_id": session.customer_id,
        "audience": "customer",
    }
    assert await received(private_stack, "admin_queue") == []

    # the rest, as an operator would from a shell: the app's settings from the environment
    database_url = private_stack.settings.database_url
    listed = cli("list", "--kind", "notify.admin", database_url=database_url)
    assert listed.returncode == 0, listed.stderr
    assert f"paid:{session.id}:admin" in listed.stdout
    requeued = cli("requeue", database_url=database_url)
    assert requeued.returncode == 0, requeued.stderr
    assert requeued.stdout.splitlines()[-1] == "requeued 1 message(s); 0 still parked, 1 pending"
    clock.at = datetime.now(UTC)  # the command made it due on the system clock
    assert await dispatch_all(container.deps) == Dispatched(sent=1, failed=0, parked=0)
    [admin] = await received(private_stack, "admin_queue")
    assert admin["attributes"] == {
        "event": "payment.paid",
        "notification_id": f"paid:{session.id}:admin",
        "audience": "admin",
    }
    body = json.loads(admin["body"])  # raw delivery: the message, JSON (API.md Notifications)
    assert (body["event"], body["payment_session_id"]) == ("payment.paid", session.id)
    assert body["message"].startswith(f"Session {session.id} paid")
    assert (await outbox.pending_count(), await outbox.parked_count()) == (0, 0)


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["requeue", "--id", "not-a-uuid"], "not an outbox message id"),
        (["list", "--kind", "nope"], "invalid choice"),
        (["forget"], "invalid choice"),
        ([], "required"),
    ],
)
async def test_the_command_refuses_bad_arguments(
    args: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        await outbox_admin.run(args, container=None)  # refused before any connection
    assert exited.value.code == 2
    assert complaint in capsys.readouterr().err


async def test_requeueing_nothing_says_so(own_database: Container) -> None:
    out = io.StringIO()
    code = await outbox_admin.run(
        ["requeue", "--id", str(uuid.uuid4())], container=own_database, out=out
    )
    assert code == 0
    assert out.getvalue().splitlines() == ["requeued 0 message(s); 0 still parked, 0 pending"]
