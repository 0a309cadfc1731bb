"""Small SQL helpers shared by the repositories: dialect-aware INSERT … ON CONFLICT."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def insert_on_conflict(session: AsyncSession, entity: Any) -> postgresql.Insert | sqlite.Insert:
    """``INSERT`` with ``on_conflict_do_*`` for the session's database (PostgreSQL or SQLite)."""
    if dialect_name(session) == "sqlite":
        return sqlite.insert(entity)
    return postgresql.insert(entity)


def is_unique_violation(exc: Exception, *, column: str) -> bool:
    """Whether an IntegrityError is a unique violation on ``column`` (PostgreSQL or SQLite)."""
    message = str(getattr(exc, "orig", exc)).lower()
    return ("unique" in message or "duplicate key" in message) and column in message


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
