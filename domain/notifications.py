"""Notification events (API.md "Notifications"): the ``event`` attribute of every message
published to the customer and admin topics.

Notify payloads in the outbox carry their event under ``"event"``; a message written before
they did is named from its dedupe key (``paid:<session>:customer`` → ``payment.paid``), and
anything else by its outbox kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final


class NotificationEvent(StrEnum):
    PAYMENT_PAID = "payment.paid"
    PAYMENT_REVIEW = "payment.review"
    PAYMENT_FAILED = "payment.failed"
    REFUND_PROCESSED = "refund.processed"


_BY_KEY_PREFIX: Final[Mapping[str, NotificationEvent]] = {
    "paid": NotificationEvent.PAYMENT_PAID,
    "review": NotificationEvent.PAYMENT_REVIEW,
    "failed": NotificationEvent.PAYMENT_FAILED,
    "refund": NotificationEvent.REFUND_PROCESSED,
}


def notification_event(*, kind: str, dedupe_key: str, payload: Mapping[str, str | int]) -> str:
    """The message's event: its payload's ``"event"``, else named from the dedupe key's first
    part, else the outbox kind's value. Never empty."""
    event = payload.get("event")
    if isinstance(event, str) and event:
        return event
    known = _BY_KEY_PREFIX.get(dedupe_key.split(":", 1)[0])
    return known.value if known is not None else kind
