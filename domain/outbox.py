"""The transactional outbox's messages: each outbox effect of a payment decision
(``domain.effects``) as a row written in the same transaction as the state change, and back.

A message has a ``dedupe_key`` (the effect's ``key``): enqueueing the same key twice keeps one
message, so an event applied twice never notifies, counts or refunds twice. The dispatcher
(``resolvers.outbox``) carries messages out with retries and exponential backoff; a message
that fails ``max_attempts`` times is parked (the dead letter) until an operator requeues it.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from domain.effects import (
    Capture,
    Count,
    CountKind,
    Notify,
    OutboxEffect,
    RequestRefund,
    SyncPayment,
    Timeline,
)
from domain.payment_ports import NotificationTopic

MAX_ATTEMPTS: Final = 20

Payload = Mapping[str, str | int | None]


class OutboxKind(StrEnum):
    NOTIFY_CUSTOMER = "notify.customer"  # an operator can requeue one audience's messages
    NOTIFY_ADMIN = "notify.admin"
    COUNT = "count"
    TIMELINE = "timeline"
    CAPTURE = "capture"
    REFUND = "refund"
    SYNC = "sync"


_CLASSES: Final[dict[OutboxKind, type[Any]]] = {
    OutboxKind.NOTIFY_CUSTOMER: Notify,
    OutboxKind.NOTIFY_ADMIN: Notify,
    OutboxKind.COUNT: Count,
    OutboxKind.TIMELINE: Timeline,
    OutboxKind.CAPTURE: Capture,
    OutboxKind.REFUND: RequestRefund,
    OutboxKind.SYNC: SyncPayment,
}
_KINDS: Final = {cls: kind for kind, cls in _CLASSES.items() if cls is not Notify}
_PARSERS: Final[dict[Any, Any]] = {
    date: date.fromisoformat,
    datetime: datetime.fromisoformat,
    NotificationTopic: NotificationTopic,
    CountKind: CountKind,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxMessage:
    kind: OutboxKind
    dedupe_key: str
    payload: Payload = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingMessage:
    id: str
    kind: OutboxKind
    dedupe_key: str
    payload: Payload
    attempts: int


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff, 2 s doubling up to 10 minutes."""
    return timedelta(seconds=min(2 ** max(attempts, 1), 600))


def _plain(value: object) -> str | int | None:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    if value is None or isinstance(value, str | int):
        return value
    raise TypeError(f"{type(value).__name__} cannot go into an outbox payload")


def message_of(effect: OutboxEffect) -> OutboxMessage:
    payload = {f.name: _plain(getattr(effect, f.name)) for f in dataclasses.fields(effect)}
    del payload["key"]
    if isinstance(effect, Notify):
        kind = (
            OutboxKind.NOTIFY_CUSTOMER
            if effect.topic is NotificationTopic.CUSTOMER
            else OutboxKind.NOTIFY_ADMIN
        )
    else:
        kind = _KINDS[type(effect)]
    return OutboxMessage(kind=kind, dedupe_key=effect.key, payload=payload)


_HINTS: Final = {kind: typing.get_type_hints(cls) for kind, cls in _CLASSES.items()}


def effect_of(message: PendingMessage | OutboxMessage) -> OutboxEffect:
    """The effect a stored message carries. Raises ValueError/KeyError/TypeError on a payload
    that does not fit its kind (the dispatcher parks such a message)."""
    cls = _CLASSES[message.kind]
    values: dict[str, Any] = {"key": message.dedupe_key}
    for name, hint in _HINTS[message.kind].items():
        if name == "key" or name not in message.payload:
            continue
        raw = message.payload[name]
        parser = _PARSERS.get(hint)
        values[name] = parser(raw) if parser is not None and raw is not None else raw
    effect: OutboxEffect = cls(**values)
    return effect
