"""The local AWS emulator: moto in server mode, on loopback, over HTTP.

moto's server handles requests on threads but its DynamoDB backend is not linearizable: a
conditional write is an unlocked check-then-write, and a cancelled TransactWriteItems restores
a copy of the whole table taken when it started, discarding writes other threads committed
meanwhile (seen: lost sales-counter updates in about one run in ten under 200 concurrent
calls). Real DynamoDB makes each request atomic, so the emulator is given the same guarantee:
one DynamoDB request at a time.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from moto.dynamodb.responses import DynamoHandler
from moto.server import ThreadedMotoServer

_patched = threading.Lock()
_applied = False


def make_dynamodb_linearizable() -> None:
    """Serialize the in-process moto server's DynamoDB requests (idempotent)."""
    global _applied
    with _patched:
        if _applied:
            return
        lock = threading.Lock()
        original = DynamoHandler.call_action

        def call_action(self: DynamoHandler) -> Any:
            with lock:
                return original(self)

        DynamoHandler.call_action = call_action  # type: ignore[method-assign]
        _applied = True


def start_emulator(*, host: str = "127.0.0.1", port: int) -> tuple[ThreadedMotoServer, str]:
    # clients need credentials; the emulator accepts any
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    make_dynamodb_linearizable()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    return server, f"http://{host}:{port}"


async def provision_topics(*, endpoint_url: str, region: str, prefix: str) -> dict[str, str]:
    """SNS topics for customer and admin notifications, each with an SQS queue subscribed (raw
    delivery) so a developer or a test can read back what was published. Answers
    ``{"customer": arn, "admin": arn, "customer_queue": url, "admin_queue": url}``."""
    from datasources.aws import AwsClients
    from datasources.sns.notifier import ensure_topics
    from domain.payment_ports import NotificationTopic

    clients = AwsClients(region=region, endpoint_url=endpoint_url)
    try:
        arns = await ensure_topics(
            clients, names={t: f"{prefix}-{t.value}" for t in NotificationTopic}
        )
        sqs = await clients.client("sqs")
        sns = await clients.client("sns")
        result = {t.value: arn for t, arn in arns.items()}
        for topic, arn in arns.items():
            queue = (await sqs.create_queue(QueueName=f"{prefix}-{topic.value}-inbox"))["QueueUrl"]
            queue_arn = (
                await sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
            )["Attributes"]["QueueArn"]
            await sns.subscribe(
                TopicArn=arn,
                Protocol="sqs",
                Endpoint=queue_arn,
                Attributes={"RawMessageDelivery": "true"},
            )
            result[f"{topic.value}_queue"] = queue
        return result
    finally:
        await clients.aclose()
