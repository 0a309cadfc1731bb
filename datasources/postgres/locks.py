"""The one lock order of the money path. Every transaction that takes more than one of these
locks takes them in this order, so two transactions can never wait for each other:

1. the customer's advisory lock (:func:`lock_customer`): taken first by a checkout and by every
   change of a payment session (webhooks, verify, callback, cancel, expiry, reconciliation,
   refunds). It serialises everything about one customer's money, so the rows below it that
   belong to the customer (their payment sessions, then their cart) are never contended by
   two of these transactions at once.
2. payment session rows, ``FOR UPDATE``, in id order;
3. the customer's cart row (cart mutations take only this lock);
4. the offer row (coupon uses are counted under it);
5. product rows, in product id order (``datasources.postgres.stock``).

SQLite (the local default) has a single writer: a transaction takes the write lock at its start
(:func:`lock_customer` does that too), so the order holds trivially.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from datasources.postgres.sql import dialect_name


async def lock_customer(session: AsyncSession, customer_id: str) -> None:
    """Level 1: until the transaction ends, no other money-path transaction of this customer."""
    if dialect_name(session) == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"customer:{customer_id}"},
        )
    else:  # SQLite: take the single write lock now, not at the first write
        await session.execute(text("UPDATE carts SET version = version WHERE 0"))
