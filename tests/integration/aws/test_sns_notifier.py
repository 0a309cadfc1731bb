"""SNS notifier: messages reach each audience's topic (read back through subscribed SQS
queues in the emulator, RawMessageDelivery false: the SNS envelope is the SQS body) with the
attributes of API.md "Notifications"; failures surface as NotificationError."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from datasources.aws import AwsClients, default_config
from datasources.sns import SnsNotifier, ensure_topics
from datasources.sns.notifier import deduplication_id, sns_subject
from domain.payment_ports import NotificationError, NotificationTopic
from tests.support.services import free_port
from tests.support.stack import REGION, unique

Topic = NotificationTopic


async def subscribed_queue(aws: AwsClients, topic_arn: str, *, fifo: bool = False) -> str:
    sqs = await aws.client("sqs")
    sns = await aws.client("sns")
    name = unique("inbox") + (".fifo" if fifo else "")
    attributes = {"FifoQueue": "true"} if fifo else {}
    queue_url: str = (await sqs.create_queue(QueueName=name, Attributes=attributes))["QueueUrl"]
    queue_arn = (await sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"]))[
        "Attributes"
    ]["QueueArn"]
    await sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return queue_url


async def drain(aws: AwsClients, queue_url: str) -> list[dict[str, Any]]:
    """Every SNS envelope waiting in the queue."""
    sqs = await aws.client("sqs")
    envelopes: list[dict[str, Any]] = []
    while True:
        answer = await sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        messages = answer.get("Messages", [])
        if not messages:
            return envelopes
        for message in messages:
            envelopes.append(json.loads(message["Body"]))
            await sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture(scope="module")
async def topics(aws: AwsClients) -> dict[NotificationTopic, str]:
    return await ensure_topics(
        aws, names={Topic.CUSTOMER: unique("customer"), Topic.ADMIN: unique("admin")}
    )


async def test_publish_reaches_only_the_audience_topic(
    aws: AwsClients, topics: dict[NotificationTopic, str]
) -> None:
    customer_inbox = await subscribed_queue(aws, topics[Topic.CUSTOMER])
    admin_inbox = await subscribed_queue(aws, topics[Topic.ADMIN])
    notifier = SnsNotifier(clients=aws, topic_arns=topics)

    message_id = await notifier.publish(
        topic=Topic.ADMIN,
        subject="Review payment ps_9: ₹1,234.00 captured\nafter expiry",
        message='{"session": "ps_9", "amount": 123400}',
        dedupe_key="review:ps_9:late capture",
        event="payment.review",
        customer_id="cust-1",  # not for the admin topic
    )

    [envelope] = await drain(aws, admin_inbox)
    assert await drain(aws, customer_inbox) == []
    assert envelope["MessageId"] == message_id
    assert envelope["TopicArn"] == topics[Topic.ADMIN]
    assert envelope["Subject"] == "Review payment ps_9: Rs.1,234.00 captured after expiry"
    assert json.loads(envelope["Message"]) == {"session": "ps_9", "amount": 123400}
    assert attributes_of(envelope) == {
        "event": "payment.review",
        "notification_id": "review:ps_9:late capture",
        "audience": "admin",
    }


def attributes_of(envelope: dict[str, Any]) -> dict[str, str]:
    attributes = envelope["MessageAttributes"]
    assert {value["Type"] for value in attributes.values()} == {"String"}
    return {name: value["Value"] for name, value in attributes.items()}


async def test_customer_messages_carry_event_notification_id_and_customer_id(
    aws: AwsClients, topics: dict[NotificationTopic, str]
) -> None:
    inbox = await subscribed_queue(aws, topics[Topic.CUSTOMER])
    notifier = SnsNotifier(clients=aws, topic_arns=topics)
    for _ in range(2):  # a retry carries the same notification_id
        await notifier.publish(
            topic=Topic.CUSTOMER,
            subject="Payment received",
            message="We received Rs.118.00",
            dedupe_key="paid:ps_3:customer",
            event="payment.paid",
            customer_id="cust-asha",
        )
    envelopes = await drain(aws, inbox)
    assert [attributes_of(e) for e in envelopes] == 2 * [
        {
            "event": "payment.paid",
            "notification_id": "paid:ps_3:customer",
            "customer_id": "cust-asha",
            "audience": "customer",
        }
    ]


async def test_a_filter_policy_on_customer_id_routes_one_customers_messages(
    aws: AwsClients, topics: dict[NotificationTopic, str]
) -> None:
    sqs, sns = await aws.client("sqs"), await aws.client("sns")
    queue_url = (await sqs.create_queue(QueueName=unique("asha")))["QueueUrl"]
    queue_arn = (await sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"]))[
        "Attributes"
    ]["QueueArn"]
    await sns.subscribe(
        TopicArn=topics[Topic.CUSTOMER],
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"FilterPolicy": json.dumps({"customer_id": ["cust-only-asha"]})},
    )
    notifier = SnsNotifier(clients=aws, topic_arns=topics)
    for customer in ("cust-only-asha", "cust-ravi", "cust-only-asha"):
        await notifier.publish(
            topic=Topic.CUSTOMER,
            subject="Paid",
            message=f"for {customer}",
            dedupe_key=unique("paid"),
            event="payment.paid",
            customer_id=customer,
        )
    assert [e["Message"] for e in await drain(aws, queue_url)] == 2 * ["for cust-only-asha"]


@pytest.mark.parametrize(
    ("topic", "overrides", "complaint"),
    [
        (Topic.CUSTOMER, {"customer_id": None}, "customer_id"),
        (Topic.CUSTOMER, {"customer_id": ""}, "customer_id"),
        (Topic.ADMIN, {"event": ""}, "event"),
        (Topic.ADMIN, {"dedupe_key": ""}, "dedupe_key"),
    ],
)
async def test_attributes_sns_would_refuse_are_refused_before_publishing(
    topic: NotificationTopic, overrides: dict[str, Any], complaint: str
) -> None:
    arn = f"arn:aws:sns:{REGION}:123456789012:never-called"
    unreachable = AwsClients(region=REGION, endpoint_url=f"http://127.0.0.1:{free_port()}")
    notifier = SnsNotifier(clients=unreachable, topic_arns={Topic.CUSTOMER: arn, Topic.ADMIN: arn})
    arguments: dict[str, Any] = {
        "dedupe_key": "k",
        "event": "payment.paid",
        "customer_id": "c",
        **overrides,
    }
    try:
        with pytest.raises(ValueError, match=complaint):
            await notifier.publish(topic=topic, subject="s", message="m", **arguments)
    finally:
        await unreachable.aclose()


async def test_ensure_topics_is_idempotent(
    aws: AwsClients, topics: dict[NotificationTopic, str]
) -> None:
    names = {topic: arn.rsplit(":", 1)[1] for topic, arn in topics.items()}
    assert await ensure_topics(aws, names=names) == topics


async def test_fifo_topics_drop_duplicates_by_dedupe_key(aws: AwsClients) -> None:
    arns = await ensure_topics(
        aws,
        names={
            Topic.CUSTOMER: unique("customer") + ".fifo",
            Topic.ADMIN: unique("admin") + ".fifo",
        },
    )
    inbox = await subscribed_queue(aws, arns[Topic.CUSTOMER], fifo=True)
    notifier = SnsNotifier(clients=aws, topic_arns=arns)
    for body in ("first", "resent"):
        await notifier.publish(
            topic=Topic.CUSTOMER,
            subject="Paid",
            message=body,
            dedupe_key="outbox-7",
            event="payment.paid",
            customer_id="c",
        )
    await notifier.publish(
        topic=Topic.CUSTOMER,
        subject="Paid",
        message="other",
        dedupe_key="o-8",
        event="payment.paid",
        customer_id="c",
    )
    assert [envelope["Message"] for envelope in await drain(aws, inbox)] == ["first", "other"]


async def test_a_dead_endpoint_raises_a_retryable_notification_error() -> None:
    dead = AwsClients(
        region=REGION,
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        config=default_config(connect_timeout=0.5, read_timeout=0.5, max_attempts=1),
    )
    arn = f"arn:aws:sns:{REGION}:123456789012:nowhere"
    notifier = SnsNotifier(clients=dead, topic_arns={Topic.CUSTOMER: arn, Topic.ADMIN: arn})
    try:
        with pytest.raises(NotificationError) as caught:
            await notifier.publish(
                topic=Topic.CUSTOMER,
                subject="s",
                message="m",
                dedupe_key="d",
                event="payment.paid",
                customer_id="c",
            )
    finally:
        await dead.aclose()
    assert caught.value.retryable
    assert caught.value.__cause__ is not None


async def test_a_missing_topic_raises_a_final_notification_error(
    aws: AwsClients, topics: dict[NotificationTopic, str]
) -> None:
    missing = f"arn:aws:sns:{REGION}:123456789012:{unique('missing')}"
    notifier = SnsNotifier(clients=aws, topic_arns={**topics, Topic.CUSTOMER: missing})
    with pytest.raises(NotificationError) as caught:
        await notifier.publish(
            topic=Topic.CUSTOMER,
            subject="s",
            message="m",
            dedupe_key="d",
            event="payment.paid",
            customer_id="c",
        )
    assert not caught.value.retryable


def test_every_audience_needs_a_topic() -> None:
    with pytest.raises(ValueError):
        SnsNotifier(clients=AwsClients(region=REGION), topic_arns={Topic.ADMIN: "arn"})


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Payment received", "Payment received"),
        ("₹500.00 paid", "Rs.500.00 paid"),
        ("line one\r\nline two\tend", "line one line two end"),
        ("Café naïve", "Cafe naive"),
        ("", "Notification"),
        ("\x00\x07", "Notification"),
        ("x" * 150, "x" * 97 + "..."),
    ],
)
def test_subjects_fit_sns_rules(subject: str, expected: str) -> None:
    cleaned = sns_subject(subject)
    assert cleaned == expected
    assert cleaned.isascii()
    assert len(cleaned) <= 100


def test_long_dedupe_keys_are_hashed_for_fifo() -> None:
    assert deduplication_id("outbox-1") == "outbox-1"
    hashed = deduplication_id("k" * 200)
    assert len(hashed) == 64
    assert hashed == deduplication_id("k" * 200)


async def _delay_first_answer(upstream_port: int, *, delay: float) -> tuple[asyncio.Server, int]:
    """A TCP relay to the emulator that holds back the answer on its first connection: the
    publish reaches SNS, its answer comes too late for the client's read timeout."""
    first = True

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hold: float) -> None:
        try:
            while chunk := await reader.read(65536):
                if hold:
                    await asyncio.sleep(hold)
                    hold = 0.0
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        nonlocal first
        hold, first = (delay if first else 0.0), False
        up_r, up_w = await asyncio.open_connection("127.0.0.1", upstream_port)
        await asyncio.gather(pipe(client_r, up_w, 0.0), pipe(up_r, client_w, hold))

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_a_publish_botocore_re_sent_after_a_late_answer_is_logged_as_maybe_twice(
    aws: AwsClients,
    aws_endpoint_url: str,
    topics: dict[NotificationTopic, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SNS standard topics are at least once: a read timeout after the publish reached SNS
    makes botocore send it again. The notifier says so (the dedupe key, the retries), and
    both copies carry the same notification_id for subscribers to drop the repeat."""
    inbox = await subscribed_queue(aws, topics[Topic.ADMIN])
    relay, port = await _delay_first_answer(int(aws_endpoint_url.rsplit(":", 1)[1]), delay=1.5)
    slow = AwsClients(
        region=REGION,
        endpoint_url=f"http://127.0.0.1:{port}",
        config=default_config(read_timeout=0.5, max_attempts=2),
    )
    notifier = SnsNotifier(clients=slow, topic_arns=topics)
    try:
        with caplog.at_level(logging.WARNING, logger="datasources.sns.notifier"):
            await notifier.publish(
                topic=Topic.ADMIN,
                subject="Paid",
                message="once",
                dedupe_key="late-answer-1",
                event="payment.paid",
            )
    finally:
        await slow.aclose()
        relay.close()
    envelopes = await drain(aws, inbox)
    assert [e["Message"] for e in envelopes] == ["once", "once"]
    assert {e["MessageAttributes"]["notification_id"]["Value"] for e in envelopes} == {
        "late-answer-1"
    }
    [warning] = [r for r in caplog.records if r.name == "datasources.sns.notifier"]
    assert "late-answer-1" in warning.getMessage() and "1 retries" in warning.getMessage()
