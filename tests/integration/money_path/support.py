"""Helpers for the money-path defect tests (issue 9): everything through public surfaces.

The app is driven over GraphQL and the webhook route, Razorpay through its API (as the
merchant's dashboard would) and the sandbox's control API, the jobs through
``app.jobs.run_scheduled``, notifications read back from the stack's SQS queues. SQL is used
only to read what no API shows, or to hold a row lock (to force one interleaving).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from app.jobs import run_scheduled
from infra.local.razorpay_sandbox.control_client import SandboxControl
from resolvers.outbox import dispatch_all
from tests.support.shop import GET, data
from tests.support.stack import (
    RAZORPAY_KEY_ID,
    RAZORPAY_KEY_SECRET,
    GraphQLClient,
    Stack,
    asyncpg_dsn,
)
from tests.support.webhooks import deliver, event_body, sandbox_entity, signed_headers

Headers = dict[str, str]

SESSION = """query($id: ID!) { paymentSession(id: $id) {
  id status amount { amount } couponCode cost { discount { amount } }
  refundedAmount { amount } refunds { amount { amount } status reason } } }"""
STOCK = "query($id: ID!) { product(id: $id) { stock } }"
OFFER_UPSERT = """mutation($input: OfferInput!) {
  offerUpsert(input: $input) { offer { id code } errors { code message } } }"""
LATE_REASON = "late payment: could not be fulfilled"
LOCKABLE = frozenset({"payment_sessions", "products"})


@dataclass
class SetClock:
    """The app's clock, set by the test (every use case, job and route reads it)."""

    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


def install_clock(stack: Stack) -> SetClock:
    clock = SetClock()
    stack.container.__dict__["deps"] = replace(stack.container.deps, clock=clock)
    return clock


async def session_of(gql: GraphQLClient, who: Headers, session_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await data(gql, SESSION, who, id=session_id))["paymentSession"]
    assert found is not None, session_id
    return found


async def status_of(gql: GraphQLClient, who: Headers, session_id: str) -> str:
    return str((await data(gql, GET, who, id=session_id))["paymentSession"]["status"])


async def stock_of(gql: GraphQLClient, who: Headers, product_id: str) -> int:
    """``Product.stock`` read with a token (never a cached anonymous answer)."""
    return int((await data(gql, STOCK, who, id=product_id))["product"]["stock"])


async def make_offer(gql: GraphQLClient, admin: Headers, **spec: Any) -> str:
    code = f"MP{secrets.token_hex(4).upper()}"
    made = (await data(gql, OFFER_UPSERT, admin, input={"code": code, **spec}))["offerUpsert"]
    assert made["errors"] == [], made
    return code


async def razorpay(method: str, base_url: str, path: str, **kwargs: Any) -> dict[str, Any]:
    """Razorpay's API as the merchant's dashboard (or a script with the keys) calls it."""
    async with httpx.AsyncClient(auth=(RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET)) as client:
        response = await client.request(method, f"{base_url}/v1/{path}", **kwargs)
    answer: dict[str, Any] = response.json()
    assert response.status_code == 200, answer
    return answer


async def payment(sandbox: SandboxControl, payment_id: str) -> dict[str, Any]:
    return await sandbox_entity(sandbox.base_url, f"payments/{payment_id}")


async def refunds_at_razorpay(sandbox: SandboxControl, payment_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (
        await sandbox_entity(sandbox.base_url, f"payments/{payment_id}/refunds")
    )["items"]
    return items


async def send(
    client: httpx.AsyncClient, name: str, *, event_id: str | None = None, **entities: Any
) -> httpx.Response:
    """A signed webhook delivery, as Razorpay sends it (same event id on every retry)."""
    body = event_body(name, **entities)
    response = await deliver(client, body, signed_headers(body, event_id=event_id))
    return response


async def refund_webhooks(stack: Stack, sandbox: SandboxControl, payment_id: str) -> None:
    """The ``refund.processed`` webhooks Razorpay sends for the payment's processed refunds,
    one event id per refund (a second call redelivers the same events)."""
    current = await payment(sandbox, payment_id)
    for refund in await refunds_at_razorpay(sandbox, payment_id):
        if refund["status"] == "processed":
            answer = await send(
                stack.client,
                "refund.processed",
                event_id=f"evt_rp_{refund['id'][5:]}",
                refund=refund,
                payment=current,
            )
            assert answer.status_code == 200, answer.text


async def run_jobs(stack: Stack, clock: SetClock | None = None, *, minutes: float = 6) -> None:
    """The scheduled jobs, ``minutes`` later on the app's clock (when the test set one)."""
    if clock is not None:
        clock.advance(minutes=minutes)
    await run_scheduled(stack.container)
    await dispatch_all(stack.container.deps)


async def settle(
    stack: Stack,
    sandbox: SandboxControl,
    clock: SetClock,
    payment_ids: list[str],
    *,
    refund_webhooks_too: bool = True,
) -> None:
    """Let everything that is due happen: the jobs (reconciliation, expiry, the outbox),
    Razorpay's refund webhooks for refunds made meanwhile, and the jobs again."""
    for _ in range(2):
        await run_jobs(stack, clock)
        if refund_webhooks_too:
            for payment_id in payment_ids:
                await refund_webhooks(stack, sandbox, payment_id)
    await run_jobs(stack, clock)


@dataclass
class Queue:
    """One of the stack's SQS queues subscribed to an SNS topic (raw delivery); ``read``
    drains what arrived since the last read and keeps everything in ``seen``."""

    stack: Stack
    name: str
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def read(self) -> list[dict[str, Any]]:
        sqs = await self.stack.container.aws.client("sqs")
        url = self.stack.queues[self.name]
        new: list[dict[str, Any]] = []
        while True:
            answer = await sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
            )
            messages = answer.get("Messages", [])
            if not messages:
                break
            for message in messages:
                attributes = {
                    k: v.get("StringValue", "")
                    for k, v in message.get("MessageAttributes", {}).items()
                }
                new.append({"body": message["Body"], "attributes": attributes})
                await sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        self.seen += new
        return new


def about(messages: list[dict[str, Any]], session_id: str) -> list[dict[str, Any]]:
    """Messages naming the session (customer texts name it by its first 8 characters)."""
    return [m for m in messages if session_id[:8] in m["body"]]


def reviews(messages: list[dict[str, Any]], session_id: str) -> list[dict[str, Any]]:
    """Messages about the session that ask an admin to review it."""
    return [
        m
        for m in about(messages, session_id)
        if "review" in (m["body"] + " ".join(m["attributes"].values())).lower()
    ]


def cursor(key: str) -> str:
    """A ``paymentSessions(after:)`` cursor as the API encodes them (base64url, no padding,
    of ``v1:<created_at iso>|<session id>``)."""
    return base64.urlsafe_b64encode(f"v1:{key}".encode()).decode().rstrip("=")


@contextlib.asynccontextmanager
async def database(stack: Stack) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(asyncpg_dsn(stack.settings.database_url))
    try:
        yield connection
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def row_locked(stack: Stack, table: str, row_id: str) -> AsyncIterator[None]:
    """Hold ``SELECT ... FOR UPDATE`` on one row from a connection of the test's own."""
    assert table in LOCKABLE, table
    async with database(stack) as connection:
        transaction = connection.transaction()
        await transaction.start()
        try:
            found = await connection.fetchval(
                f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE id = $1::uuid FOR UPDATE) t",  # noqa: S608
                row_id,
            )
            assert found == 1, (table, row_id)
            yield
        finally:
            await transaction.rollback()


async def lock_waiters(stack: Stack) -> int:
    """Backends of the stack's database waiting for a lock right now."""
    async with database(stack) as connection:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE NOT l.granted AND a.datname = current_database()"
        )
        return count


async def wait_for_lock_waiters(
    stack: Stack, count: int, *, tasks: list[asyncio.Task[Any]], seconds: float = 10.0
) -> bool:
    """Wait until ``count`` backends wait for a lock (True), or one of ``tasks`` finished
    first (False)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await lock_waiters(stack) >= count:
            return True
        if any(t.done() for t in tasks):
            return False
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {count} lock waiters within {seconds} s")
