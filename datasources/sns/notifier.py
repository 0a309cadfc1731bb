"""Customer and admin notifications over SNS: one topic per :class:`NotificationTopic`.

Every message carries the String message attributes of API.md "Notifications": ``event``
(e.g. ``payment.paid``), ``notification_id`` (the outbox dedupe key, the same on every retry, so
subscribers drop re-sent messages) and, on the customer topic only, ``customer_id`` (for a
subscription filter policy), plus ``audience`` (the topic: customer or admin). On a FIFO topic
(ARN ending ``.fifo``) the key is also the ``MessageDeduplicationId`` (hashed when longer than
SNS's 128 characters) and the audience the ``MessageGroupId``, so SNS itself drops duplicates
within its 5-minute window.

SNS subjects must be ASCII, one line, at most 100 characters: :func:`sns_subject` makes any
subject fit (``₹`` becomes ``Rs.``). botocore errors become :class:`NotificationError` here,
with ``retryable`` set for throttling, server errors and unreachable endpoints, so the outbox
dispatcher can retry.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from datasources.aws import ClientFactory
from domain.payment_ports import NotificationError, NotificationTopic

logger = logging.getLogger(__name__)

MAX_SUBJECT: Final = 100
MAX_DEDUPLICATION_ID: Final = 128
RETRYABLE_CODES: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "KMSThrottling",
        "RequestTimeout",
    }
)


def sns_subject(subject: str) -> str:
    """One ASCII line of at most 100 characters, starting with a printable character."""
    text = subject.replace("₹", "Rs.")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"\s+", " ", text).strip()
    text = "".join(ch for ch in text if ch.isprintable())
    if len(text) > MAX_SUBJECT:
        text = text[: MAX_SUBJECT - 3].rstrip() + "..."
    return text or "Notification"


def deduplication_id(dedupe_key: str) -> str:
    if len(dedupe_key) <= MAX_DEDUPLICATION_ID and dedupe_key.isascii():
        return dedupe_key
    return hashlib.sha256(dedupe_key.encode()).hexdigest()


def _string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def message_attributes(
    *, topic: NotificationTopic, dedupe_key: str, event: str, customer_id: str | None
) -> dict[str, dict[str, str]]:
    """The SNS ``MessageAttributes`` of a message (String values must not be empty)."""
    if not dedupe_key:
        raise ValueError("dedupe_key must not be empty")
    if not event:
        raise ValueError("event must not be empty")
    attributes = {
        "event": _string(event),
        "notification_id": _string(dedupe_key),
        "audience": _string(topic.value),
    }
    if topic is NotificationTopic.CUSTOMER:
        if not customer_id:
            raise ValueError("a customer notification needs its customer_id")
        attributes["customer_id"] = _string(customer_id)
    return attributes


class SnsNotifier:
    def __init__(
        self, *, clients: ClientFactory, topic_arns: Mapping[NotificationTopic, str]
    ) -> None:
        missing = set(NotificationTopic) - set(topic_arns)
        if missing:
            raise ValueError(f"no topic ARN for {sorted(missing)}")
        self._clients = clients
        self._arns = dict(topic_arns)

    async def publish(
        self,
        *,
        topic: NotificationTopic,
        subject: str,
        message: str,
        dedupe_key: str,
        event: str,
        customer_id: str | None = None,
    ) -> str:
        arn = self._arns[topic]
        request: dict[str, Any] = {
            "TopicArn": arn,
            "Subject": sns_subject(subject),
            "Message": message,
            "MessageAttributes": message_attributes(
                topic=topic, dedupe_key=dedupe_key, event=event, customer_id=customer_id
            ),
        }
        if arn.endswith(".fifo"):
            request["MessageDeduplicationId"] = deduplication_id(dedupe_key)
            request["MessageGroupId"] = topic.value
        try:
            client = await self._clients.client("sns")
            answer = await client.publish(**request)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            raise NotificationError(
                f"sns publish to {topic.value} failed: {code or 'error'}",
                retryable=code in RETRYABLE_CODES,
            ) from exc
        except BotoCoreError as exc:  # unreachable endpoint, timeouts, no credentials…
            raise NotificationError(
                f"sns publish to {topic.value} failed: {type(exc).__name__}", retryable=True
            ) from exc
        retries = int(answer.get("ResponseMetadata", {}).get("RetryAttempts", 0) or 0)
        if retries:
            # botocore re-sent the publish (a timeout or a 5xx): when the first one had reached
            # SNS, subscribers get it twice and drop the repeat by its notification_id
            logger.warning(
                "sns publish to %s (%s) answered after %d retries: it may have gone out twice",
                topic.value,
                dedupe_key,
                retries,
                extra={"notification_id": dedupe_key, "retry_attempts": retries},
            )
        return str(answer["MessageId"])


async def ensure_topics(
    clients: ClientFactory, *, names: Mapping[NotificationTopic, str]
) -> dict[NotificationTopic, str]:
    """Create (or find: CreateTopic is idempotent) a topic per audience; answer their ARNs.
    For the local emulator and tests; production topics come from CloudFormation."""
    client = await clients.client("sns")
    arns: dict[NotificationTopic, str] = {}
    for topic, name in names.items():
        attributes = {"FifoTopic": "true"} if name.endswith(".fifo") else {}
        try:
            answer = await client.create_topic(Name=name, Attributes=attributes)
        except (ClientError, BotoCoreError) as exc:
            raise NotificationError(
                f"sns create_topic {name} failed: {exc}", retryable=isinstance(exc, BotoCoreError)
            ) from exc
        arns[topic] = str(answer["TopicArn"])
    return arns
