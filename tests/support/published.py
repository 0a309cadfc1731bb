"""What the app published over SNS, read back from the SQS queues subscribed to its topics
(raw delivery, so SNS message attributes arrive as SQS message attributes), and the sales
dashboard as an admin reads it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from domain.payments import merchant_date
from resolvers.deps import SystemClock
from tests.support.shop import data
from tests.support.stack import GraphQLClient, Stack

DASHBOARD = """query($from: Date!, $to: Date!) { salesDashboard(from: $from, to: $to) {
  totals { paidCount paidAmount { amount } refundedAmount { amount } failedCount } } }"""


@dataclass(frozen=True, slots=True)
class Published:
    queue: str  # "customer" or "admin"
    body: str
    attributes: dict[str, str]
    message_id: str

    @property
    def notification_id(self) -> str:
        """API.md "Notifications": ``notification_id`` (the outbox dedupe key, the same on every
        retry); today's messages carry it as ``dedupe_key``."""
        return (
            self.attributes.get("notification_id")
            or self.attributes.get("dedupe_key")
            or f"(none: {self.message_id})"
        )

    def about(self, session_id: str) -> bool:
        """Customer bodies name the order by the session id's first 8 characters, admin bodies
        by the whole id (a JSON body with the session id matches too)."""
        return session_id[:8] in self.body


async def drain(stack: Stack, queue: str) -> list[Published]:
    """Every message in one of the stack's subscribed queues (``"customer"``/``"admin"``),
    deleted as read."""
    queue_url = stack.queues[f"{queue}_queue"]
    sqs = await stack.container.aws.client("sqs")
    found: list[Published] = []
    while True:
        answer = await sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            return found
        for message in messages:
            attributes = {
                name: str(value.get("StringValue", ""))
                for name, value in message.get("MessageAttributes", {}).items()
            }
            found.append(
                Published(
                    queue=queue,
                    body=message["Body"],
                    attributes=attributes,
                    message_id=message["MessageId"],
                )
            )
            await sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def repeated(messages: list[Published]) -> dict[str, int]:
    """Notification ids published more than once, with how many times."""
    counts: dict[str, int] = {}
    for message in messages:
        key = f"{message.queue}:{message.notification_id}"
        counts[key] = counts.get(key, 0) + 1
    return {key: n for key, n in counts.items() if n > 1}


def around_today() -> tuple[date, date]:
    """Yesterday to tomorrow in the merchant's days: covers a run that crosses midnight."""
    today = merchant_date(SystemClock().now())
    return today - timedelta(days=1), today + timedelta(days=1)


async def dashboard_totals(gql: GraphQLClient, admin: dict[str, str]) -> dict[str, Any]:
    start, end = around_today()
    answer = await data(gql, DASHBOARD, admin, **{"from": str(start), "to": str(end)})
    totals: dict[str, Any] = answer["salesDashboard"]["totals"]
    return {
        "paidCount": totals["paidCount"],
        "paidAmount": totals["paidAmount"]["amount"],
        "refundedAmount": totals["refundedAmount"]["amount"],
        "failedCount": totals["failedCount"],
    }
