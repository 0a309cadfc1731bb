"""The outbox's dead letter: a message whose delivery failed ``max_attempts`` times is parked
(not retried) until an operator requeues it (``python -m app.outbox_admin``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.outbox import OutboxKind


@dataclass(frozen=True, slots=True, kw_only=True)
class ParkedMessage:
    id: str
    kind: OutboxKind
    dedupe_key: str
    attempts: int
    last_error: str | None
    created_at: datetime
    parked_at: datetime


def exhausted(*, attempts: int, max_attempts: int) -> bool:
    """Whether a message that has failed ``attempts`` times (this one included) is parked."""
    return attempts >= max(max_attempts, 1)
