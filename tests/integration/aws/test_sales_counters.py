"""Daily sales counters: exactly once per event key, under duplicates and concurrency."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from datasources.aws import AwsClients, default_config
from datasources.dynamodb import DynamoSalesCounters
from domain.payment_ports import RecordStoreError, SalesDay
from domain.payments import merchant_date
from tests.support.services import free_port
from tests.support.stack import REGION


@pytest.fixture(scope="module")
def counters(aws: AwsClients, table_name: str) -> DynamoSalesCounters:
    return DynamoSalesCounters(clients=aws, table_name=table_name)


async def test_concurrent_duplicates_count_each_event_once(counters: DynamoSalesCounters) -> None:
    day = date(2025, 2, 10)
    rng = random.Random(7)
    amounts = {f"pay_{index:03d}": rng.randint(100, 5_000_000) for index in range(50)}
    calls = [(event_key, amount) for event_key, amount in amounts.items() for _ in range(4)]
    rng.shuffle(calls)
    assert len(calls) == 200

    results = await asyncio.gather(
        *(counters.record_paid(day=day, amount=amount, event_key=key) for key, amount in calls)
    )

    assert sum(results) == 50  # exactly one call per key counted it
    [totals] = await counters.read(from_day=day, to_day=day)
    assert totals == SalesDay(day=day, paid_count=50, paid_amount=sum(amounts.values()))


async def test_days_are_merchant_days_in_kolkata(counters: DynamoSalesCounters) -> None:
    before_midnight = datetime(2025, 3, 31, 18, 29, 59, tzinfo=UTC)  # 23:59:59 IST, 31 March
    at_midnight = datetime(2025, 3, 31, 18, 30, 0, tzinfo=UTC)  # 00:00:00 IST, 1 April
    assert await counters.record_paid(
        day=merchant_date(before_midnight), amount=1_000, event_key="ist-a"
    )
    assert await counters.record_paid(
        day=merchant_date(at_midnight), amount=2_000, event_key="ist-b"
    )

    days = await counters.read(from_day=date(2025, 3, 30), to_day=date(2025, 4, 2))

    assert days == [
        SalesDay(day=date(2025, 3, 30)),
        SalesDay(day=date(2025, 3, 31), paid_count=1, paid_amount=1_000),
        SalesDay(day=date(2025, 4, 1), paid_count=1, paid_amount=2_000),
        SalesDay(day=date(2025, 4, 2)),
    ]


async def test_failed_and_refunds_each_count_once_per_kind(counters: DynamoSalesCounters) -> None:
    day = date(2025, 5, 5)
    assert await counters.record_failed(day=day, event_key="pay_X")
    assert not await counters.record_failed(day=day, event_key="pay_X")
    assert await counters.record_refund(day=day, amount=1_234, event_key="rfnd_1")
    assert not await counters.record_refund(day=day, amount=1_234, event_key="rfnd_1")
    assert await counters.record_refund(day=day, amount=766, event_key="rfnd_2")
    # The same key under another kind is another event.
    assert await counters.record_paid(day=day, amount=9_999, event_key="pay_X")
    # A duplicate reported with another day or amount is still the same event: ignored.
    assert not await counters.record_paid(day=date(2025, 5, 6), amount=1, event_key="pay_X")

    assert await counters.read(from_day=day, to_day=date(2025, 5, 6)) == [
        SalesDay(
            day=day,
            paid_count=1,
            paid_amount=9_999,
            refund_count=2,
            refunded_amount=2_000,
            failed_count=1,
        ),
        SalesDay(day=date(2025, 5, 6)),
    ]


async def test_amounts_stay_exact_integers_beyond_float_precision(
    counters: DynamoSalesCounters,
) -> None:
    day = date(2025, 6, 1)
    big = 2**53 + 1  # not representable as a float
    assert await counters.record_paid(day=day, amount=big, event_key="big-1")
    assert await counters.record_paid(day=day, amount=2, event_key="big-2")
    [totals] = await counters.read(from_day=day, to_day=day)
    assert totals.paid_amount == big + 2
    assert isinstance(totals.paid_amount, int)


async def test_bad_arguments_are_refused_before_any_io(counters: DynamoSalesCounters) -> None:
    with pytest.raises(TypeError):
        await counters.record_paid(day=datetime(2025, 1, 1, tzinfo=UTC), amount=1, event_key="dt")
    with pytest.raises(ValueError):
        await counters.record_paid(day=date(2025, 1, 1), amount=-1, event_key="neg")
    with pytest.raises(ValueError):
        await counters.record_paid(day=date(2025, 1, 1), amount=1, event_key="")
    with pytest.raises(ValueError):
        await counters.read(from_day=date(2025, 1, 2), to_day=date(2025, 1, 1))
    with pytest.raises(ValueError):
        await counters.read(from_day=date(2024, 1, 1), to_day=date(2025, 1, 1))


class ConflictingDynamo:
    """A DynamoDB client whose first transactions are cancelled, as DynamoDB cancels
    concurrent transactions on one item (``TransactionConflict``)."""

    def __init__(self, reasons: list[list[str]]) -> None:
        self.reasons = reasons
        self.calls = 0

    async def client(self, service: str) -> Any:
        return self

    async def transact_write_items(self, **request: Any) -> dict[str, Any]:
        self.calls += 1
        if self.reasons:
            codes = self.reasons.pop(0)
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                    "CancellationReasons": [{"Code": code} for code in codes],
                },
                "TransactWriteItems",
            )
        return {}


async def test_transaction_conflicts_are_retried() -> None:
    fake = ConflictingDynamo([["None", "TransactionConflict"], ["TransactionConflict", "None"]])
    counters = DynamoSalesCounters(clients=fake, table_name="t")
    assert await counters.record_paid(day=date(2025, 1, 1), amount=5, event_key="k")
    assert fake.calls == 3


async def test_a_condition_failure_after_a_conflict_is_a_duplicate() -> None:
    fake = ConflictingDynamo([["None", "TransactionConflict"], ["ConditionalCheckFailed", "None"]])
    counters = DynamoSalesCounters(clients=fake, table_name="t")
    assert not await counters.record_paid(day=date(2025, 1, 1), amount=5, event_key="k")


async def test_other_cancellations_are_store_errors() -> None:
    fake = ConflictingDynamo([["None", "ValidationError"]])
    counters = DynamoSalesCounters(clients=fake, table_name="t")
    with pytest.raises(RecordStoreError) as caught:
        await counters.record_paid(day=date(2025, 1, 1), amount=5, event_key="k")
    assert not caught.value.retryable


async def test_an_unreachable_endpoint_is_a_retryable_store_error() -> None:
    dead = AwsClients(
        region=REGION,
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        config=default_config(connect_timeout=0.5, read_timeout=0.5, max_attempts=1),
    )
    try:
        counters = DynamoSalesCounters(clients=dead, table_name="t")
        with pytest.raises(RecordStoreError) as caught:
            await counters.record_paid(day=date(2025, 1, 1), amount=5, event_key="k")
        assert caught.value.retryable
    finally:
        await dead.aclose()
