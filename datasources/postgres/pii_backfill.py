"""Seal the customer PII that rows written before encryption still hold in plain text.

``payment_sessions.customer_email`` / ``customer_contact`` and the ``email`` / ``contact`` of
notification payloads in ``outbox``: every value not starting with ``pii:`` is sealed for the
row's customer (domain.pii). Idempotent: sealed values are skipped, so a second run changes
nothing. Safe next to a running app: each row is updated only if it still holds the value that
was read (a row changed meanwhile is left for the next run), one short transaction per batch.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from datasources.postgres.payment_tables import OutboxRow, PaymentSessionRow
from domain.outbox import OutboxKind
from domain.pii import SEALED_PREFIX, PiiVault, is_sealed

BATCH: Final = 200
_NOTIFY_KINDS: Final = (OutboxKind.NOTIFY_CUSTOMER.value, OutboxKind.NOTIFY_ADMIN.value)
_PAYLOAD_FIELDS: Final = ("email", "contact")


@dataclass(frozen=True, slots=True)
class Sealed:
    sessions: int
    outbox_messages: int


def _plain(column: Any) -> Any:
    return and_(column.is_not(None), ~column.startswith(SEALED_PREFIX))


async def _seal_sessions(
    factory: async_sessionmaker[AsyncSession], vault: PiiVault, batch: int
) -> int:
    email, contact = col(PaymentSessionRow.customer_email), col(PaymentSessionRow.customer_contact)
    sealed = 0
    after: uuid.UUID | None = None
    while True:
        statement = (
            select(col(PaymentSessionRow.id), col(PaymentSessionRow.customer_id), email, contact)
            .where(or_(_plain(email), _plain(contact)))
            .order_by(col(PaymentSessionRow.id))
            .limit(batch)
        )
        if after is not None:
            statement = statement.where(col(PaymentSessionRow.id) > after)
        async with factory() as session, session.begin():
            rows = (await session.execute(statement)).all()
            for row_id, customer_id, old_email, old_contact in rows:
                new_email = await vault.seal(old_email, customer_id=customer_id)
                new_contact = await vault.seal(old_contact, customer_id=customer_id)
                changed = await session.execute(
                    update(PaymentSessionRow)
                    .where(
                        col(PaymentSessionRow.id) == row_id,
                        email.is_not_distinct_from(old_email),
                        contact.is_not_distinct_from(old_contact),
                    )
                    .values(customer_email=new_email, customer_contact=new_contact)
                )
                sealed += int(getattr(changed, "rowcount", 0) or 0)
        if len(rows) < batch:
            return sealed
        after = rows[-1][0]


async def _seal_outbox(
    factory: async_sessionmaker[AsyncSession], vault: PiiVault, batch: int
) -> int:
    sealed = 0
    after: uuid.UUID | None = None
    while True:
        statement = (
            select(col(OutboxRow.id), col(OutboxRow.payload))
            .where(col(OutboxRow.kind).in_(_NOTIFY_KINDS))
            .order_by(col(OutboxRow.id))
            .limit(batch)
        )
        if after is not None:
            statement = statement.where(col(OutboxRow.id) > after)
        async with factory() as session, session.begin():
            rows = (await session.execute(statement)).all()
            for row_id, payload in rows:
                plain = {
                    name: value
                    for name in _PAYLOAD_FIELDS
                    if isinstance(value := payload.get(name), str)
                    and value
                    and not is_sealed(value)
                }
                customer_id = payload.get("customer_id")
                if not plain or not isinstance(customer_id, str) or not customer_id:
                    continue
                new = dict(payload)
                for name, value in plain.items():
                    new[name] = await vault.seal(value, customer_id=customer_id)
                row = await session.get(OutboxRow, row_id, with_for_update=True)
                if row is None or row.payload != payload:
                    continue  # changed meanwhile: the next run looks again
                row.payload = new
                sealed += 1
        if len(rows) < batch:
            return sealed
        after = rows[-1][0]


async def seal_plain_pii(
    factory: async_sessionmaker[AsyncSession], vault: PiiVault, *, batch: int = BATCH
) -> Sealed:
    """Seal every plain e-mail and phone left in the database; answers how many rows changed."""
    return Sealed(
        sessions=await _seal_sessions(factory, vault, batch),
        outbox_messages=await _seal_outbox(factory, vault, batch),
    )
