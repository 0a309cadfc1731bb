"""Payment timeline: append-only, listed in time order per session."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from datasources.aws import AwsClients
from datasources.dynamodb import DynamoPaymentTimeline
from datasources.dynamodb.timeline import MonotonicUlid, timestamp_key
from domain.payment_ports import TimelineEntry

T0 = datetime(2025, 1, 15, 6, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def timeline(aws: AwsClients, table_name: str) -> DynamoPaymentTimeline:
    return DynamoPaymentTimeline(clients=aws, table_name=table_name)


async def test_entries_come_back_in_time_order(timeline: DynamoPaymentTimeline) -> None:
    # Appended out of order, as late webhooks arrive.
    await timeline.append(session_id="ps_1", at=T0 + timedelta(seconds=5), type="b", source="x")
    await timeline.append(
        session_id="ps_1",
        at=T0,
        type="status.CREATED",
        source="customer",
        detail='{"amount": 50000}',
    )
    await timeline.append(
        session_id="ps_1", at=T0 + timedelta(microseconds=1), type="a", source="webhook"
    )
    await timeline.append(session_id="ps_other", at=T0, type="elsewhere", source="x")

    entries = await timeline.list("ps_1")

    assert entries == [
        TimelineEntry(
            session_id="ps_1",
            at=T0,
            type="status.CREATED",
            source="customer",
            detail='{"amount": 50000}',
        ),
        TimelineEntry(
            session_id="ps_1", at=T0 + timedelta(microseconds=1), type="a", source="webhook"
        ),
        TimelineEntry(session_id="ps_1", at=T0 + timedelta(seconds=5), type="b", source="x"),
    ]


async def test_equal_instants_keep_append_order(timeline: DynamoPaymentTimeline) -> None:
    for index in range(10):
        await timeline.append(session_id="ps_same", at=T0, type=f"e{index}", source="webhook")
    assert [e.type for e in await timeline.list("ps_same")] == [f"e{i}" for i in range(10)]


async def test_many_concurrent_appends_are_all_kept_in_order(
    aws: AwsClients, table_name: str
) -> None:
    timeline = DynamoPaymentTimeline(clients=aws, table_name=table_name, page_size=7)
    offsets = list(range(150))
    random.Random(3).shuffle(offsets)
    await asyncio.gather(
        *(
            timeline.append(
                session_id="ps_many",
                at=T0 + timedelta(milliseconds=offset),
                type=f"t{offset:03d}",
                source="webhook",
                detail="x" * 2_000,
            )
            for offset in offsets
        )
    )
    entries = await timeline.list("ps_many")  # 22 pages of 7
    assert [e.type for e in entries] == [f"t{i:03d}" for i in range(150)]
    assert [e.at for e in entries] == sorted(e.at for e in entries)


async def test_instants_are_stored_in_utc(timeline: DynamoPaymentTimeline) -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    entry = await timeline.append(
        session_id="ps_tz", at=datetime(2025, 1, 15, 12, 0, tzinfo=ist), type="t", source="s"
    )
    assert entry.at == datetime(2025, 1, 15, 6, 30, tzinfo=UTC)
    [stored] = await timeline.list("ps_tz")
    assert stored.at == entry.at
    assert stored.at.tzinfo is UTC


async def test_unknown_session_has_an_empty_timeline(timeline: DynamoPaymentTimeline) -> None:
    assert await timeline.list("ps_none") == []


async def test_naive_instants_and_empty_ids_are_refused(timeline: DynamoPaymentTimeline) -> None:
    with pytest.raises(ValueError):
        await timeline.append(
            session_id="ps_1",
            at=datetime(2025, 1, 1),  # naive on purpose
            type="t",
            source="s",
        )
    with pytest.raises(ValueError):
        await timeline.append(session_id="", at=T0, type="t", source="s")


def test_sort_keys_sort_like_instants() -> None:
    instants = [
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2025, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(2025, 1, 1, 0, 0, 1, tzinfo=UTC),
        datetime(2025, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    ]
    keys = [timestamp_key(at) for at in instants]
    assert keys == sorted(keys)
    ulid = MonotonicUlid()
    ids = [ulid() for _ in range(1_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 1_000
    assert all(len(i) == 26 for i in ids)


# --- idempotent appends (entry_id: the outbox dedupe key of the entry) -------------------------


async def test_the_same_entry_id_twice_keeps_one_entry(timeline: DynamoPaymentTimeline) -> None:
    first = await timeline.append(
        session_id="ps_idem",
        at=T0,
        type="status.PAID",
        source="webhook",
        detail="captured",
        entry_id="timeline:ps_idem:evt_1",
    )
    # a retry by the dispatcher: later, even with other arguments, still the first entry
    again = await timeline.append(
        session_id="ps_idem",
        at=T0 + timedelta(minutes=3),
        type="status.PAID",
        source="system",
        entry_id="timeline:ps_idem:evt_1",
    )
    other = await timeline.append(
        session_id="ps_idem",
        at=T0 + timedelta(seconds=1),
        type="status.REFUNDED",
        source="webhook",
        entry_id="timeline:ps_idem:evt_2",
    )
    assert again == first
    assert first == TimelineEntry(
        session_id="ps_idem", at=T0, type="status.PAID", source="webhook", detail="captured"
    )
    assert await timeline.list("ps_idem") == [first, other]


async def test_entry_ids_are_per_session(timeline: DynamoPaymentTimeline) -> None:
    for session_id in ("ps_idem_a", "ps_idem_b"):
        await timeline.append(
            session_id=session_id, at=T0, type="t", source="s", entry_id="same-id"
        )
    assert [e.type for e in await timeline.list("ps_idem_a")] == ["t"]
    assert [e.type for e in await timeline.list("ps_idem_b")] == ["t"]


async def test_without_an_entry_id_every_append_is_an_entry(
    timeline: DynamoPaymentTimeline,
) -> None:
    for _ in range(2):
        await timeline.append(session_id="ps_noid", at=T0, type="callback", source="callback")
    assert [e.type for e in await timeline.list("ps_noid")] == ["callback", "callback"]


async def test_concurrent_appends_of_one_entry_id_keep_one(
    timeline: DynamoPaymentTimeline,
) -> None:
    answers = await asyncio.gather(
        *(
            timeline.append(
                session_id="ps_race",
                at=T0 + timedelta(milliseconds=index),
                type="status.PAID",
                source=f"dispatcher-{index}",
                entry_id="timeline:ps_race:evt_1",
            )
            for index in range(12)
        )
    )
    [kept] = await timeline.list("ps_race")
    assert all(answer == kept for answer in answers)


async def test_an_empty_entry_id_is_refused(timeline: DynamoPaymentTimeline) -> None:
    with pytest.raises(ValueError):
        await timeline.append(session_id="ps_1", at=T0, type="t", source="s", entry_id="")
