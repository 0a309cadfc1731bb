"""The outbox dispatcher's loop (``resolvers/outbox.py``) on in-memory fakes
(tests/support/outbox_fakes.py): retries with backoff, the dead letter after
``deps.outbox_max_attempts`` failed attempts (ERROR line + metric), unexpected exceptions and
payloads that do not fit their kind counted as failed attempts without stopping the batch,
requeue, dispatch by dedupe keys, and the SNS attributes it passes."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import date, timedelta
from typing import Any

import pytest

from domain.effects import Count, CountKind, Notify
from domain.outbox import OutboxKind, OutboxMessage, message_of
from domain.payment_ports import NotificationError, NotificationTopic
from domain.payment_rules import Ledger, PaymentReported, decide
from resolvers.outbox import PARKED_METRIC, Dispatched, dispatch, dispatch_all
from tests.support.metrics import Recorded, RecordingSink
from tests.support.outbox_fakes import OutboxFakes, outbox_deps
from tests.support.payment_fakes import gateway_payment, payment_session

LOGGER = "resolvers.outbox"
LATER = timedelta(minutes=11)  # past the longest backoff (10 minutes)


def notify(key: str, *, topic: NotificationTopic = NotificationTopic.ADMIN) -> OutboxMessage:
    return message_of(
        Notify(
            key=key,
            topic=topic,
            event="payment.review",
            session_id="s",
            customer_id="c",
            subject=f"s {key}",
            message=f"m {key}",
        )
    )


def count(key: str) -> OutboxMessage:
    return message_of(Count(key=key, kind=CountKind.PAID, day=date(2025, 1, 15), amount=500))


async def rounds(fakes: OutboxFakes, count: int) -> list[Dispatched]:
    """``count`` dispatcher runs, the clock moved past every backoff between them."""
    results = []
    for _ in range(count):
        results.append(await dispatch(fakes.deps))
        fakes.clock.at += LATER
    return results


def unavailable() -> NotificationError:
    return NotificationError("sns publish to admin failed: EndpointConnectionError", retryable=True)


async def test_a_message_that_always_fails_is_parked_after_max_attempts() -> None:
    fakes = outbox_deps(max_attempts=3)
    fakes.outbox.add(notify("review:s1:stuck"), now=fakes.clock.at)
    fakes.notifier.failures["review:s1:stuck"] = unavailable()

    results = await rounds(fakes, 5)

    assert results == [
        Dispatched(sent=0, failed=1, parked=0),
        Dispatched(sent=0, failed=1, parked=0),
        Dispatched(sent=0, failed=1, parked=1),
        Dispatched(sent=0, failed=0, parked=0),  # parked: never claimed again
        Dispatched(sent=0, failed=0, parked=0),
    ]
    row = fakes.outbox.by_key("review:s1:stuck")
    assert row.attempts == 3
    assert row.parked_at is not None
    assert row.last_error == "sns publish to admin failed: EndpointConnectionError"
    assert fakes.notifier.calls == 3
    assert await fakes.outbox.pending_count() == 0
    assert await fakes.outbox.parked_count() == 1


async def test_failures_before_the_last_are_retried_with_backoff() -> None:
    fakes = outbox_deps(max_attempts=3)
    fakes.outbox.add(notify("review:s1:slow"), now=fakes.clock.at)
    fakes.notifier.failures["review:s1:slow"] = unavailable()
    start = fakes.clock.at

    assert await dispatch(fakes.deps) == Dispatched(sent=0, failed=1, parked=0)
    row = fakes.outbox.by_key("review:s1:slow")
    assert row.next_attempt_at == start + timedelta(seconds=2)
    assert await dispatch(fakes.deps) == Dispatched(sent=0, failed=0, parked=0)  # not due yet

    del fakes.notifier.failures["review:s1:slow"]
    fakes.clock.at = start + timedelta(seconds=2)
    assert await dispatch(fakes.deps) == Dispatched(sent=1, failed=0, parked=0)
    assert row.sent_at is not None
    assert row.last_error is None


async def test_parking_logs_one_error_with_kind_key_last_error_and_the_metric(
    caplog: pytest.LogCaptureFixture, recorded: RecordingSink
) -> None:
    fakes = outbox_deps(max_attempts=2)
    fakes.outbox.add(
        notify("paid:s2:customer", topic=NotificationTopic.CUSTOMER), now=fakes.clock.at
    )
    fakes.notifier.failures["paid:s2:customer"] = unavailable()

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await rounds(fakes, 3)

    records = [r for r in caplog.records if r.name == LOGGER]
    assert [r.levelno for r in records] == [logging.WARNING, logging.ERROR]
    error = records[1]
    assert error.kind == "notify.customer"  # type: ignore[attr-defined]
    assert error.dedupe_key == "paid:s2:customer"  # type: ignore[attr-defined]
    assert error.attempts == 2  # type: ignore[attr-defined]
    assert error.last_error == "sns publish to admin failed: EndpointConnectionError"  # type: ignore[attr-defined]
    assert error.outbox_id == fakes.outbox.by_key("paid:s2:customer").id  # type: ignore[attr-defined]
    assert error.metric == "OutboxMessagesParked" == PARKED_METRIC  # type: ignore[attr-defined]
    assert "parked after 2 failed attempts" in error.getMessage()
    assert not hasattr(records[0], "metric")
    assert recorded.recorded == [
        Recorded("OutboxMessagesParked", 1, "Count", (("kind", "notify.customer"),))
    ]


async def test_an_unexpected_exception_is_a_failed_attempt_and_the_batch_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fakes = outbox_deps(max_attempts=2)
    for key in ("review:s3:a", "review:s3:bug", "review:s3:b"):
        fakes.outbox.add(notify(key), now=fakes.clock.at)
    fakes.notifier.failures["review:s3:bug"] = KeyError("subject")

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        first, second = await rounds(fakes, 2)

    assert first == Dispatched(sent=2, failed=1, parked=0)
    assert second == Dispatched(sent=0, failed=1, parked=1)
    assert [p.dedupe_key for p in fakes.notifier.published] == ["review:s3:a", "review:s3:b"]
    bug = fakes.outbox.by_key("review:s3:bug")
    assert (bug.attempts, bug.last_error) == (2, "KeyError: 'subject'")
    assert bug.parked_at is not None
    records = [r for r in caplog.records if r.name == LOGGER]
    assert all(r.exc_info is not None for r in records)  # the traceback of the bug is kept
    assert records[-1].levelno == logging.ERROR


async def test_cancellation_is_not_a_failed_attempt() -> None:
    fakes = outbox_deps(max_attempts=1)
    fakes.outbox.add(notify("review:s4:cancel"), now=fakes.clock.at)
    fakes.notifier.failures["review:s4:cancel"] = asyncio.CancelledError()

    with pytest.raises(asyncio.CancelledError):
        await dispatch(fakes.deps)

    row = fakes.outbox.by_key("review:s4:cancel")
    assert (row.attempts, row.parked_at, row.last_error) == (0, None, None)  # the lease expires


async def test_a_stopped_dispatch_gives_the_untried_messages_back_at_once() -> None:
    fakes = outbox_deps()
    for key in ("review:s4:first", "review:s4:stopped", "review:s4:untried"):
        fakes.outbox.add(notify(key), now=fakes.clock.at)
    fakes.notifier.failures["review:s4:stopped"] = asyncio.CancelledError()

    with pytest.raises(asyncio.CancelledError):
        await dispatch(fakes.deps, concurrency=1)  # one at a time: the third not started yet

    first, stopped, untried = (
        fakes.outbox.by_key(k)
        for k in ("review:s4:first", "review:s4:stopped", "review:s4:untried")
    )
    assert first.sent_at is not None
    assert stopped.next_attempt_at > fakes.clock.at  # in flight: it keeps its lease
    assert untried.next_attempt_at == fakes.clock.at  # due again now
    del fakes.notifier.failures["review:s4:stopped"]
    assert await dispatch(fakes.deps) == Dispatched(sent=1, failed=0, parked=0)
    assert fakes.outbox.by_key("review:s4:untried").sent_at is not None


async def test_a_cancelled_dispatch_ends_only_after_the_notification_it_started_is_marked() -> None:
    # a job's hard budget cancels its dispatcher mid-publish: had the dispatch returned with
    # the publish still running, a later dispatcher could see the lease run out and send the
    # notification again (the money storm caught that)
    fakes = outbox_deps()
    fakes.outbox.add(notify("review:s4:slow"), now=fakes.clock.at)
    publishing, finish = asyncio.Event(), asyncio.Event()
    publish = fakes.notifier.publish

    async def slow_publish(**message: Any) -> str:
        publishing.set()
        await finish.wait()
        return await publish(**message)

    fakes.notifier.publish = slow_publish  # type: ignore[method-assign]
    dispatcher = asyncio.ensure_future(dispatch(fakes.deps))
    await publishing.wait()
    dispatcher.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    assert not dispatcher.done()  # still waiting for the publish in flight
    finish.set()
    with pytest.raises(asyncio.CancelledError):
        await dispatcher

    assert fakes.outbox.by_key("review:s4:slow").sent_at is not None
    assert [p.dedupe_key for p in fakes.notifier.published] == ["review:s4:slow"]
    assert await dispatch(fakes.deps, limit=10) == Dispatched(sent=0, failed=0)


async def test_max_attempts_one_parks_on_the_first_failure() -> None:
    fakes = outbox_deps(max_attempts=1)
    fakes.outbox.add(notify("review:s5:once"), now=fakes.clock.at)
    fakes.notifier.failures["review:s5:once"] = unavailable()
    assert await dispatch_all(fakes.deps) == Dispatched(sent=0, failed=1, parked=1)
    assert fakes.outbox.by_key("review:s5:once").attempts == 1


async def test_a_payload_that_does_not_fit_its_kind_is_a_failed_attempt_then_parked() -> None:
    fakes = outbox_deps(max_attempts=2)
    fakes.outbox.add(
        OutboxMessage(kind=OutboxKind.NOTIFY_ADMIN, dedupe_key="bad:1", payload={"subject": "s"}),
        now=fakes.clock.at,
    )
    fakes.outbox.add(notify("review:s8:fine"), now=fakes.clock.at)

    first, second = await rounds(fakes, 2)

    assert first == Dispatched(sent=1, failed=1, parked=0)
    assert second == Dispatched(sent=0, failed=1, parked=1)
    bad = fakes.outbox.by_key("bad:1")
    assert bad.parked_at is not None
    assert bad.last_error is not None and bad.last_error.startswith("TypeError")
    assert [p.dedupe_key for p in fakes.notifier.published] == ["review:s8:fine"]


async def test_requeued_messages_are_delivered_and_others_stay_parked() -> None:
    fakes = outbox_deps(max_attempts=1)
    message = fakes.outbox.add(notify("paid:s6:customer"), now=fakes.clock.at)
    counter = fakes.outbox.add(count("paid:s6"), now=fakes.clock.at)
    fakes.notifier.failures["paid:s6:customer"] = unavailable()
    fakes.sales.down = True
    await rounds(fakes, 1)
    assert await fakes.outbox.parked_count() == 2
    fakes.notifier.failures.clear()
    fakes.sales.down = False

    requeued = await fakes.outbox.requeue(now=fakes.clock.at, kind=OutboxKind.NOTIFY_ADMIN)

    assert requeued == 1
    assert await dispatch(fakes.deps) == Dispatched(sent=1, failed=0, parked=0)
    assert [p.dedupe_key for p in fakes.notifier.published] == ["paid:s6:customer"]
    assert fakes.outbox.rows[message].sent_at is not None
    assert [m.id for m in await fakes.outbox.parked(limit=10)] == [counter]
    assert await fakes.outbox.requeue(now=fakes.clock.at, ids=[]) == 0
    assert await fakes.outbox.requeue(now=fakes.clock.at, ids=[counter]) == 1
    assert await dispatch(fakes.deps) == Dispatched(sent=1, failed=0, parked=0)
    assert fakes.sales.days[date(2025, 1, 15)].paid_amount == 500


async def test_a_count_is_counted_once_however_often_it_is_delivered() -> None:
    fakes = outbox_deps()
    fakes.outbox.add(count("paid:s9"), now=fakes.clock.at)
    await dispatch(fakes.deps)
    fakes.outbox.rows.clear()  # a dispatcher that died between the count and its mark
    fakes.outbox.add(count("paid:s9"), now=fakes.clock.at)
    assert await dispatch(fakes.deps) == Dispatched(sent=1, failed=0, parked=0)
    day = fakes.sales.days[date(2025, 1, 15)]
    assert (day.paid_count, day.paid_amount) == (1, 500)


async def test_dispatch_by_keys_sends_only_those_messages() -> None:
    fakes = outbox_deps()
    for key in ("review:a", "review:b", "review:c"):
        fakes.outbox.add(notify(key), now=fakes.clock.at)

    result = await dispatch(fakes.deps, keys=["review:c", "review:a", "review:elsewhere"])

    assert result == Dispatched(sent=2, failed=0, parked=0)
    assert [p.dedupe_key for p in fakes.notifier.published] == ["review:a", "review:c"]
    assert await fakes.outbox.pending_count() == 1


async def test_notifications_carry_event_notification_id_and_the_customer_on_its_topic() -> None:
    fakes = outbox_deps()
    session = payment_session()
    decision = decide(
        Ledger(session=session),
        PaymentReported(payment=gateway_payment(), source="webhook"),
        now=fakes.clock.at,
        key="evt_1",
    )
    for effect in decision.effects:
        if isinstance(effect, Notify):
            fakes.outbox.add(message_of(effect), now=fakes.clock.at)

    assert await dispatch(fakes.deps) == Dispatched(sent=2, failed=0, parked=0)

    sent = {p.topic: p for p in fakes.notifier.published}
    customer, admin = sent[NotificationTopic.CUSTOMER], sent[NotificationTopic.ADMIN]
    assert (customer.event, customer.dedupe_key, customer.customer_id) == (
        "payment.paid",
        f"paid:{session.id}:customer",
        "customer-asha",
    )
    assert (admin.event, admin.dedupe_key, admin.customer_id) == (
        "payment.paid",
        f"paid:{session.id}:admin",
        None,  # customer_id goes on the customer topic only
    )
    body = json.loads(customer.message)
    assert body["notification_id"] == customer.dedupe_key
    assert (body["payment_session_id"], body["amount"], body["currency"]) == (
        session.id,
        11_800,
        "INR",
    )
    assert (body["customer_id"], body["email"]) == ("customer-asha", "asha@example.com")
    assert "email" not in json.loads(admin.message)
