"""The DynamoDB adapters under real conflicts: concurrent transactions on one item, and
conditional claims racing for one key.

Why not the emulator without its lock: moto (5.x) never answers ``TransactionConflict``. It
has no notion of a transaction in flight; unlocked, concurrent TransactWriteItems instead fail
with HTTP 500 ("dictionary changed size during iteration", while one request deep-copies the
table another is writing) or silently lose a write it acknowledged (a cancelled transaction
restores the whole table as it was when it started). Neither is what DynamoDB does, and no
adapter could make them exact, so ``infra/local/emulator.py`` keeps its lock.

So the conflicts come from DynamoDB's own rule, applied in front of the (linearizable)
emulator by :class:`ConflictingProxy`, a loopback HTTP proxy: a TransactWriteItems that
touches an item another transaction is still writing is cancelled with
``TransactionCanceledException`` and reason ``TransactionConflict`` for that item, in the
wire format DynamoDB uses; everything else goes through to the emulator unchanged. Which calls
conflict is decided by the adapter's real concurrency, not scripted: the first transaction is
held until another one has run into it, so at least one conflict always happens.

The conditional claims (webhook ledger, idempotency records) race through their conditions on
the emulator itself, over an expired record, where the condition has two ways to be true.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import random
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from datasources.aws import AwsClients, default_config
from datasources.dynamodb import DynamoSalesCounters
from datasources.dynamodb.sales import MAX_CONFLICT_RETRIES
from domain.payment_ports import RecordStoreError, SalesDay
from tests.support.stack import REGION

ItemKey = tuple[str, str, str]  # table, pk, sk
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


def _item_key(entry: dict[str, Any]) -> ItemKey:
    [(operation, request)] = entry.items()
    key = request["Item"] if operation == "Put" else request["Key"]
    return request["TableName"], key["pk"]["S"], key["sk"]["S"]


def cancelled_body(codes: list[str]) -> bytes:
    """A TransactionCanceledException as DynamoDB sends it."""
    reasons = [
        {"Code": code, "Message": "Transaction is ongoing for the item"}
        if code == "TransactionConflict"
        else {"Code": code}
        for code in codes
    ]
    return json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "CancellationReasons": reasons,
            "Message": "Transaction cancelled, please refer cancellation reasons for specific"
            f" reasons [{', '.join(codes)}]",
        }
    ).encode()


class ConflictingProxy:
    """DynamoDB's transaction-conflict rule in front of the emulator, over HTTP on loopback."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._lock = threading.Lock()
        self._collided = threading.Condition(self._lock)
        self._in_flight: Counter[ItemKey] = Counter()
        self.reset()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                target = self.headers.get("x-amz-target", "")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                if target.endswith(".TransactWriteItems"):
                    status, reply_headers, reply = proxy.transact(self.path, headers, body)
                else:
                    status, reply_headers, reply = proxy.forward(self.path, headers, body)
                self.send_response(status)
                for name, value in reply_headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def reset(self, *, hold_first: bool = False, always_conflict: bool = False) -> None:
        with self._lock:
            self.hold_first = hold_first
            self.always_conflict = always_conflict
            self.scripted: list[list[str]] = []
            self.attempts = 0  # TransactWriteItems received
            self.conflicts = 0  # of them, answered TransactionConflict
            self.forwarded = 0  # of them, passed to the emulator
            self.held_until_conflict: bool | None = None
            self._first_seen = False

    def script(self, *codes: list[str]) -> None:
        """Reasons for the next transactions, whatever else is in flight."""
        with self._lock:
            self.scripted.extend(codes)

    def forward(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self._upstream, timeout=30)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            reply = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            return response.status, kept, reply
        finally:
            connection.close()

    def transact(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        keys = [_item_key(entry) for entry in json.loads(body)["TransactItems"]]
        with self._lock:
            self.attempts += 1
            codes: list[str] | None = None
            if self.scripted:
                codes = self.scripted.pop(0)
            elif self.always_conflict:
                codes = ["TransactionConflict"] * len(keys)
            elif any(self._in_flight[k] for k in keys):
                codes = ["TransactionConflict" if self._in_flight[k] else "None" for k in keys]
            if codes is not None:
                self.conflicts += "TransactionConflict" in codes
                self._collided.notify_all()
                reply_headers = [
                    ("Content-Type", "application/x-amz-json-1.0"),
                    ("x-amzn-RequestId", uuid.uuid4().hex),
                ]
                return 400, reply_headers, cancelled_body(codes)
            self._in_flight.update(keys)
            hold = self.hold_first and not self._first_seen
            self._first_seen = True
            if hold:  # keep it in flight until another transaction has run into it
                self.held_until_conflict = self._collided.wait_for(
                    lambda: self.conflicts > 0, timeout=20
                )
        try:
            return self.forward(path, headers, body)
        finally:
            with self._lock:
                self._in_flight.subtract(keys)
                self.forwarded += 1

    def __enter__(self) -> ConflictingProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture(scope="module")
def proxy(aws_endpoint_url: str) -> Iterator[ConflictingProxy]:
    with ConflictingProxy(aws_endpoint_url) as running:
        yield running


@pytest.fixture
def conflicts(proxy: ConflictingProxy) -> Iterator[ConflictingProxy]:
    proxy.reset()
    yield proxy
    proxy.reset()


@pytest.fixture(scope="module")
async def through_proxy(proxy: ConflictingProxy) -> AsyncIterator[AwsClients]:
    """Clients as the app configures them (botocore's standard retries), via the proxy."""
    clients = AwsClients(region=REGION, endpoint_url=proxy.url, config=default_config())
    yield clients
    await clients.aclose()


@pytest.fixture
def counters(through_proxy: AwsClients, table_name: str) -> DynamoSalesCounters:
    return DynamoSalesCounters(clients=through_proxy, table_name=table_name)


@pytest.fixture
def truth(aws: AwsClients, table_name: str) -> DynamoSalesCounters:
    """The same table read straight from the emulator."""
    return DynamoSalesCounters(clients=aws, table_name=table_name)


def a_day() -> date:
    """A day no other test of the module writes to (tests share the module's table)."""
    return date(2030, 1, 1) + timedelta(days=random.randrange(20_000))


async def outbox_style(calls: Sequence[Callable[[], Awaitable[bool]]]) -> list[bool]:
    """Run the calls at once; one that gives up after its retries (a retryable store error)
    is called again afterwards, as the outbox dispatcher does on its next round."""
    results = await asyncio.gather(*(call() for call in calls), return_exceptions=True)
    settled: list[bool] = []
    for call, result in zip(calls, results, strict=True):
        if isinstance(result, RecordStoreError):
            assert result.retryable, result
            result = await call()
        elif isinstance(result, BaseException):
            raise result
        settled.append(result)
    return settled


# --- sales counters: transactions on one day item --------------------------------------------


async def test_concurrent_events_of_one_day_conflict_and_each_counts_once(
    counters: DynamoSalesCounters, truth: DynamoSalesCounters, conflicts: ConflictingProxy
) -> None:
    day = a_day()
    rng = random.Random(day.toordinal())
    amounts = {f"pay_{i:02d}": rng.randint(100, 9_999_999) for i in range(12)}
    conflicts.reset(hold_first=True)

    def record(event_key: str, amount: int) -> Callable[[], Awaitable[bool]]:
        return lambda: counters.record_paid(day=day, amount=amount, event_key=event_key)

    results = await outbox_style([record(k, a) for k, a in amounts.items()])

    assert results == [True] * 12
    assert conflicts.held_until_conflict is True
    assert conflicts.conflicts >= 1  # real conflicts on the day item...
    assert conflicts.forwarded == 12  # ...each event reached DynamoDB exactly once...
    assert conflicts.attempts == 12 + conflicts.conflicts  # ...after one retry per conflict
    [counted] = await truth.read(from_day=day, to_day=day)
    assert counted == SalesDay(day=day, paid_count=12, paid_amount=sum(amounts.values()))


async def test_concurrent_duplicates_conflict_then_lose_on_the_marker(
    counters: DynamoSalesCounters, truth: DynamoSalesCounters, conflicts: ConflictingProxy
) -> None:
    """Each event twice at once: the copies conflict on the marker and the day; retried, the
    later copy finds the marker (ConditionalCheckFailed) and answers False."""
    day = a_day()
    events = {f"refund_{i}": 1_000 * (i + 1) + i for i in range(8)}
    calls = [
        (lambda k=k, a=a: counters.record_refund(day=day, amount=a, event_key=k))
        for k, a in events.items()
        for _ in range(2)
    ]
    random.Random(3).shuffle(calls)
    conflicts.reset(hold_first=True)

    results = await outbox_style(calls)

    assert results.count(True) == 8 and results.count(False) == 8
    assert conflicts.held_until_conflict is True and conflicts.conflicts >= 1
    [counted] = await truth.read(from_day=day, to_day=day)
    assert counted == SalesDay(day=day, refund_count=8, refunded_amount=sum(events.values()))


async def test_a_conflict_as_dynamodb_words_it_is_retried(
    counters: DynamoSalesCounters, truth: DynamoSalesCounters, conflicts: ConflictingProxy
) -> None:
    day = a_day()
    conflicts.script(
        ["None", "TransactionConflict"], ["TransactionConflict", "TransactionConflict"]
    )
    assert await counters.record_paid(day=day, amount=250_075, event_key="pay_wire")
    assert (conflicts.attempts, conflicts.forwarded) == (3, 1)
    # the same event again, conflicting once more: retried, then a duplicate
    conflicts.script(["TransactionConflict", "None"])
    assert not await counters.record_paid(day=day, amount=250_075, event_key="pay_wire")
    assert (conflicts.attempts, conflicts.forwarded) == (5, 2)
    [counted] = await truth.read(from_day=day, to_day=day)
    assert counted == SalesDay(day=day, paid_count=1, paid_amount=250_075)


async def test_endless_conflicts_are_a_retryable_error_that_counted_nothing(
    counters: DynamoSalesCounters, truth: DynamoSalesCounters, conflicts: ConflictingProxy
) -> None:
    day = a_day()
    conflicts.reset(always_conflict=True)
    with pytest.raises(RecordStoreError) as caught:
        await counters.record_failed(day=day, event_key="failed:pay_endless")
    assert caught.value.retryable  # the outbox keeps the message and tries again later
    assert conflicts.attempts == MAX_CONFLICT_RETRIES
    assert conflicts.forwarded == 0
    assert await truth.read(from_day=day, to_day=day) == [SalesDay(day=day)]

    conflicts.reset()  # the other writer is done: the next round counts it, once
    assert await counters.record_failed(day=day, event_key="failed:pay_endless")
    assert not await counters.record_failed(day=day, event_key="failed:pay_endless")
    assert await truth.read(from_day=day, to_day=day) == [SalesDay(day=day, failed_count=1)]
