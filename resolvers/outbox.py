"""The outbox dispatcher: publish what state changes wrote to the outbox, with retries.

Nothing is lost while SNS or DynamoDB are unreachable: a message stays in PostgreSQL until its
publish succeeds, retried with exponential backoff. Messages are claimed with a lease (SKIP
LOCKED), so dispatchers running at once (the job, a webhook's inline dispatch) never take the
same one; only a dispatcher dying between a publish and its mark can send a message again (the
message carries its dedupe key for subscribers, and FIFO topics drop such repeats themselves).

A failed delivery (a :class:`PaymentPortError`, or any other exception: one bad message never
stops the batch) counts as an attempt. After ``deps.outbox_max_attempts`` of them the message
is parked, the dead letter: logged at ERROR with its kind, dedupe key and last error, counted
as the metric ``OutboxMessagesParked`` (dimension ``kind``), and never retried until an
operator requeues it (``python -m app.outbox_admin``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.dead_letter import exhausted
from domain.effects import Capture, Count, Effect, Notify, RequestRefund, SyncPayment, Timeline
from domain.outbox import OutboxKind, PendingMessage, retry_delay
from domain.payment_ports import PaymentPortError
from resolvers import metrics
from resolvers.deps import Deps
from resolvers.effects import carry_out

logger = logging.getLogger(__name__)


PARKED_METRIC = metrics.OUTBOX_MESSAGES_PARKED


@dataclass(frozen=True, slots=True)
class Dispatched:
    sent: int
    failed: int  # failed attempts, the parked ones included
    parked: int = 0
    follow_ups: tuple[Effect, ...] = ()  # effects of what the gateway's answers changed


async def _deliver(deps: Deps, message: PendingMessage) -> list[Effect]:
    return await carry_out(deps, message)


LEASE = timedelta(seconds=60)
CONCURRENCY = 8  # messages carried out at once by one dispatcher
GATEWAY_KINDS = frozenset({OutboxKind.CAPTURE, OutboxKind.REFUND, OutboxKind.SYNC})


async def dispatch(
    deps: Deps,
    *,
    limit: int = 100,
    keys: Sequence[str] | None = None,
    deadline: float | None = None,
    concurrency: int = CONCURRENCY,
) -> Dispatched:
    """Send one batch of due messages (only those with these dedupe keys, when given), up to
    ``concurrency`` at a time (a slow Razorpay must not hold up everything behind it);
    answers how many went out, how many failed (and must wait for a retry) and how many of
    those were parked. ``deadline`` (event-loop time): start no message after it; the ones
    not started are given back at once, and so are they when the dispatch is cancelled (the
    gateway calls in flight keep their lease: they may have gone out; the notifications,
    counters and timeline writes in flight are finished before the cancellation goes on)."""
    now = deps.clock.now()
    claimed = await deps.outbox.claim(limit=limit, now=now, lease=LEASE, keys=keys)
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(max(1, concurrency))
    started: set[str] = set()
    tally = {"sent": 0, "failed": 0, "parked": 0}
    follow_ups: list[Effect] = []

    stopping = asyncio.Event()
    in_flight: set[asyncio.Future[None]] = set()  # local deliveries started, shielded

    async def attempt(message: PendingMessage) -> None:
        try:
            if deadline is not None and message.kind in GATEWAY_KINDS:
                # a gateway call may hang (a slow Razorpay): cut off at the deadline; safe to
                # repeat, so it is given back untried
                async with asyncio.timeout(max(deadline - loop.time(), 0.05)):
                    follow_ups.extend(await _deliver(deps, message))
            else:
                follow_ups.extend(await _deliver(deps, message))
        except TimeoutError:
            started.discard(message.id)
            return
        except PaymentPortError as exc:
            error, unexpected = exc.message, None
        except Exception as exc:  # a bug or an untranslated error: this message only
            error, unexpected = f"{type(exc).__name__}: {exc}", exc
        else:
            tally["sent"] += 1
            await deps.outbox.mark_sent(message.id, now=deps.clock.now())
            return
        tally["failed"] += 1
        if await _failed(deps, message, error=error, unexpected=unexpected, now=now):
            tally["parked"] += 1

    async def one(message: PendingMessage) -> None:
        async with gate:
            if stopping.is_set() or (deadline is not None and loop.time() > deadline):
                return
            started.add(message.id)
            try:
                if message.kind in GATEWAY_KINDS:
                    await attempt(message)
                else:
                    # a notification, counter or timeline write once started is finished and
                    # marked even if the dispatcher is stopped meanwhile: cut between its
                    # publish and its mark, it would go out twice
                    delivery = asyncio.ensure_future(attempt(message))
                    in_flight.add(delivery)
                    await asyncio.shield(delivery)
            except asyncio.CancelledError:
                stopping.set()  # no sibling starts after this
                raise

    tasks = [asyncio.ensure_future(one(m)) for m in claimed]
    try:
        await asyncio.gather(*tasks)
    except BaseException:  # cancelled (a budget ran out): stop the rest as well
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # and the dispatch ends only when the shielded deliveries it started have ended (each
        # bounded by its client's timeouts): one left running after its dispatcher returned
        # would still hold a lease a later dispatcher may see run out, and be sent twice
        running = {d for d in in_flight if not d.done()}
        if running:
            await asyncio.wait(running)
        raise
    finally:
        untried = [m.id for m in claimed if m.id not in started]
        if untried:
            await asyncio.shield(deps.outbox.release(untried, now=now))
    return Dispatched(
        sent=tally["sent"],
        failed=tally["failed"],
        parked=tally["parked"],
        follow_ups=tuple(follow_ups),
    )


async def _failed(
    deps: Deps,
    message: PendingMessage,
    *,
    error: str,
    unexpected: Exception | None,
    now: datetime,
) -> bool:
    """Record a failed attempt: park the message when it was its last one (answers True), or
    retry it later with backoff."""
    attempts = message.attempts + 1
    if not exhausted(attempts=attempts, max_attempts=deps.outbox_max_attempts):
        await deps.outbox.mark_failed(message.id, error=error, retry_at=now + retry_delay(attempts))
        logger.warning(
            "outbox %s (%s) not delivered (attempt %d of %d): %s",
            message.kind.value,
            message.dedupe_key,
            attempts,
            deps.outbox_max_attempts,
            error,
            exc_info=unexpected,
        )
        return False
    await deps.outbox.park(message.id, error=error, now=now)
    logger.error(
        "outbox %s (%s) parked after %d failed attempts: %s",
        message.kind.value,
        message.dedupe_key,
        attempts,
        error,
        exc_info=unexpected,
        extra={
            "outbox_id": message.id,
            "kind": message.kind.value,
            "dedupe_key": message.dedupe_key,
            "attempts": attempts,
            "last_error": error,
            "metric": PARKED_METRIC,
        },
    )
    metrics.record(PARKED_METRIC, kind=message.kind.value)
    return True


async def dispatch_all(
    deps: Deps, *, rounds: int = 20, limit: int = 100, budget: float | None = None
) -> Dispatched:
    """Batches until nothing due is left (or ``rounds`` batches ran). With a ``budget``
    (seconds) no message starts after it and gateway calls are cut off at it, so a caller's
    own time limit never cuts a notification half-sent."""
    loop = asyncio.get_running_loop()
    deadline = None if budget is None else loop.time() + budget
    sent = failed = parked = 0
    for _ in range(rounds):
        result = await dispatch(deps, limit=limit, deadline=deadline)
        sent += result.sent
        failed += result.failed
        parked += result.parked
        if result.sent + result.failed < limit:
            break
        if deadline is not None and loop.time() > deadline:
            break
    return Dispatched(sent=sent, failed=failed, parked=parked)


async def dispatch_effects(
    deps: Deps, effects: Sequence[Effect], *, budget: float | None = None
) -> None:
    """Carry out these outbox effects now, and what the gateway's answers changed, a few
    rounds deep: notifications, counters and the timeline first, then gateway calls.

    With a ``budget`` (seconds): no message starts after it, so a notification is never cut
    off half-sent (that could send it twice); a gateway call still going when it runs out is
    cut off (captures, refunds and read-backs are safe to repeat). What is left waits for the
    dispatcher job."""
    loop = asyncio.get_running_loop()
    deadline = None if budget is None else loop.time() + budget
    for _ in range(FOLLOW_UP_ROUNDS):
        follow_ups: list[Effect] = []
        local = [e.key for e in effects if isinstance(e, Notify | Count | Timeline)]
        remote = [e.key for e in effects if isinstance(e, Capture | RequestRefund | SyncPayment)]
        for keys in (local, remote):
            if keys and (deadline is None or loop.time() < deadline):
                result = await dispatch(deps, limit=len(keys), keys=keys, deadline=deadline)
                follow_ups += result.follow_ups
        if not follow_ups:
            return
        effects = follow_ups


async def dispatch_inline(
    deps: Deps, effects: Sequence[Effect], *, budget: float | None = None
) -> None:
    """:func:`dispatch_effects` for one event before its answer, within ``budget`` (default:
    ``CheckoutConfig.inline_dispatch_seconds``): nothing is lost when it runs out."""
    budget = deps.checkout.inline_dispatch_seconds if budget is None else budget
    if budget > 0:
        await dispatch_effects(deps, effects, budget=budget)


FOLLOW_UP_ROUNDS = 4  # an event's effects, what a capture's answer changed, and so on
