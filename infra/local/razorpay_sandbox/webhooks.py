"""Webhook delivery: sign, send, retry with backoff on the compressible clock, record.

One worker sends first attempts in emit order; a failed delivery waits out its backoff in
its own task and rejoins the queue, so retries never block other events. Everything runs on
the server's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx

from infra.local.razorpay_sandbox.config import SandboxConfig
from infra.local.razorpay_sandbox.entities import Event
from infra.local.razorpay_sandbox.faults import FaultBook
from infra.local.razorpay_sandbox.ids import new_id, now, webhook_signature

USER_AGENT = "Razorpay-Webhook/v1"


@dataclass(kw_only=True)
class Attempt:
    number: int
    at: float
    status_code: int | None
    error: str | None
    duration_ms: float
    signature: str


@dataclass(kw_only=True)
class Delivery:
    id: str
    event_id: str
    event: str
    url: str | None
    body: bytes
    secret: str
    status: str = "queued"  # queued held in_flight retrying delivered failed skipped disabled
    attempts: list[Attempt] = field(default_factory=list)
    backoff_used: float = 0.0  # sandbox seconds waited between attempts so far
    generation: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "event": self.event,
            "url": self.url,
            "status": self.status,
            "status_codes": [a.status_code for a in self.attempts],
            "attempts": [vars(a).copy() for a in self.attempts],
            "signing_secret": self.secret,
            "backoff_seconds": self.backoff_used,
            "payload": json.loads(self.body),
        }


def event_body(*, event: Event, account_id: str) -> bytes:
    document = {
        "entity": "event",
        "account_id": account_id,
        "event": event.name,
        "contains": list(event.entities),
        "payload": {kind: {"entity": entity} for kind, entity in event.entities.items()},
        "created_at": now(),
    }
    return json.dumps(document, separators=(",", ":")).encode()


class Dispatcher:
    def __init__(self, *, config: Callable[[], SandboxConfig], faults: FaultBook) -> None:
        self._config = config
        self._faults = faults
        self.deliveries: list[Delivery] = []
        self.held: list[Delivery] = []
        self._generation = 0
        self._pending = 0
        self._queue: asyncio.Queue[Delivery] | None = None
        self._idle: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    # -- bookkeeping -----------------------------------------------------------------------

    def _idle_event(self) -> asyncio.Event:
        if self._idle is None:
            self._idle = asyncio.Event()
            if self._pending == 0:
                self._idle.set()
        return self._idle

    def _begin(self) -> None:
        self._pending += 1
        self._idle_event().clear()

    def _end(self, generation: int) -> None:
        if generation != self._generation:
            return
        self._pending -= 1
        if self._pending == 0:
            self._idle_event().set()

    def track(self, work: Coroutine[Any, Any, None]) -> None:
        """Run background work (a refund settling) that ``flush`` must wait for."""
        self._begin()
        generation = self._generation

        async def run() -> None:
            try:
                await work
            finally:
                self._end(generation)

        self._spawn(run())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- emitting ----------------------------------------------------------------------------

    def emit(self, event: Event) -> list[Delivery]:
        """Create the deliveries for one event (after webhook faults) and queue them."""
        cfg = self._config()
        body = event_body(event=event, account_id=cfg.account_id)
        secret = cfg.webhook_secret
        signer = self._faults.take_event(kind="webhook_sign_with", event=event.name)
        if signer is not None and signer.secret:
            secret = signer.secret
        duplicate = self._faults.take_event(kind="webhook_duplicate", event=event.name)
        times = duplicate.times if duplicate is not None else 1
        event_id = new_id("")
        made = [
            Delivery(
                id=new_id("whd"),
                event_id=event_id,
                event=event.name,
                url=cfg.webhook_url,
                body=body,
                secret=secret,
                generation=self._generation,
            )
            for _ in range(times)
        ]
        self.deliveries.extend(made)
        if cfg.webhook_url is None or not cfg.webhook_enabled:
            for delivery in made:
                delivery.status = "skipped" if cfg.webhook_url is None else "disabled"
            return made
        reorder = self._faults.take_event(kind="webhook_reorder", event=event.name)
        if reorder is None:
            for delivery in made:
                self._enqueue(delivery)
            return made
        for delivery in made:
            delivery.status = "held"
        self.held.extend(made)
        if reorder.count == 0:
            self.release(order=reorder.order, seed=reorder.seed)
        return made

    def redeliver(self, *, event_id: str, times: int, secret: str | None) -> list[Delivery]:
        original = next((d for d in self.deliveries if d.event_id == event_id), None)
        if original is None:
            return []
        cfg = self._config()
        made = [
            Delivery(
                id=new_id("whd"),
                event_id=event_id,
                event=original.event,
                url=cfg.webhook_url or original.url,
                body=original.body,
                secret=secret or original.secret,
                generation=self._generation,
            )
            for _ in range(times)
        ]
        self.deliveries.extend(made)
        for delivery in made:
            if delivery.url is None:
                delivery.status = "skipped"
            else:
                self._enqueue(delivery)
        return made

    def release(self, *, order: str = "fifo", seed: int | None = None) -> int:
        """Send the held deliveries in ``fifo``, ``reverse`` or ``shuffle`` order."""
        batch, self.held = self.held, []
        if order == "reverse":
            batch.reverse()
        elif order == "shuffle":
            random.Random(seed).shuffle(batch)
        for delivery in batch:
            self._enqueue(delivery)
        return len(batch)

    def _enqueue(self, delivery: Delivery) -> None:
        self._begin()
        delivery.status = "queued"
        self._ensure_worker().put_nowait(delivery)

    def _ensure_worker(self) -> asyncio.Queue[Delivery]:
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work(self._queue))
        return self._queue

    # -- sending -----------------------------------------------------------------------------

    async def _work(self, queue: asyncio.Queue[Delivery]) -> None:
        while True:
            delivery = await queue.get()
            if delivery.generation != self._generation:
                continue
            try:
                await self._attempt(delivery)
            except Exception as exc:  # keep the worker alive whatever happens
                delivery.status = "failed"
                delivery.attempts.append(_attempt(delivery, code=None, error=repr(exc), t0=0.0))
                self._end(delivery.generation)

    async def _attempt(self, delivery: Delivery) -> None:
        cfg = self._config()
        assert delivery.url is not None
        if self._client is None:
            self._client = httpx.AsyncClient()
        signature = webhook_signature(secret=delivery.secret, body=delivery.body)
        headers = {
            "Content-Type": "application/json",
            "X-Razorpay-Signature": signature,
            "X-Razorpay-Event-Id": delivery.event_id,
            "User-Agent": USER_AGENT,
        }
        delivery.status = "in_flight"
        started = time.perf_counter()
        code: int | None = None
        error: str | None = None
        try:
            response = await self._client.post(
                delivery.url, content=delivery.body, headers=headers, timeout=cfg.webhook_timeout
            )
            code = response.status_code
        except httpx.TimeoutException:
            error = "timeout"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery.attempts.append(_attempt(delivery, code=code, error=error, t0=started))
        if code is not None and 200 <= code < 300:
            delivery.status = "delivered"
            self._end(delivery.generation)
            return
        number = len(delivery.attempts)
        delay = cfg.backoff(attempt=number)
        out_of_attempts = cfg.webhook_max_attempts is not None and (
            number >= cfg.webhook_max_attempts
        )
        out_of_time = delivery.backoff_used + delay > cfg.webhook_retry_window
        if out_of_attempts or out_of_time:
            delivery.status = "failed"
            if out_of_time:  # Razorpay disables a webhook that failed for 24 hours
                cfg.webhook_enabled = False
            self._end(delivery.generation)
            return
        delivery.status = "retrying"
        delivery.backoff_used += delay
        self._spawn(self._retry_later(delivery, seconds=cfg.scaled(delay)))

    async def _retry_later(self, delivery: Delivery, *, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if delivery.generation == self._generation and self._queue is not None:
            delivery.status = "queued"
            self._queue.put_nowait(delivery)

    # -- waiting and resetting -----------------------------------------------------------------

    @property
    def pending(self) -> int:
        return self._pending

    async def flush(self, *, wait: float, release_held: bool = False) -> bool:
        """Wait until nothing is queued, in flight, retrying or settling; False on timeout."""
        if release_held:
            self.release()
        try:
            await asyncio.wait_for(self._idle_event().wait(), wait)
        except TimeoutError:
            return False
        return True

    def reset(self) -> None:
        self._generation += 1
        for task in list(self._tasks):
            task.cancel()
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None
        self._queue = None
        self.deliveries = []
        self.held = []
        self._pending = 0
        self._idle_event().set()

    async def close(self) -> None:
        self.reset()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None


def _attempt(delivery: Delivery, *, code: int | None, error: str | None, t0: float) -> Attempt:
    return Attempt(
        number=len(delivery.attempts) + 1,
        at=time.time(),
        status_code=code,
        error=error,
        duration_ms=round((time.perf_counter() - t0) * 1000, 3) if t0 else 0.0,
        signature=webhook_signature(secret=delivery.secret, body=delivery.body),
    )
