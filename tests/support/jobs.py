"""Running the scheduled jobs until the outbox is empty, as the minute-by-minute schedule would
eventually do: messages a killed dispatcher had claimed wait for their lease, failed ones for
their backoff, so later rounds run the dispatcher on a clock moved past both."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from app.jobs import run_scheduled
from resolvers.outbox import dispatch_all
from tests.support.stack import Stack, asyncpg_dsn


class Later:
    def __init__(self, by: timedelta) -> None:
        self.by = by

    def now(self) -> datetime:
        from resolvers.deps import SystemClock

        return SystemClock().now() + self.by


async def unsent(database_url: str) -> list[dict[str, Any]]:
    """Outbox rows not sent yet (pending, leased, backing off or parked)."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch("SELECT * FROM outbox WHERE sent_at IS NULL")
    finally:
        await connection.close()
    return [dict(row) for row in rows]


async def run_jobs_until_outbox_empty(stack: Stack, *, rounds: int = 6) -> int:
    """``run_scheduled`` on the real clock, then the dispatcher 11, 22, … minutes ahead (past
    any lease and backoff) until nothing is left unsent; answers the rounds it took."""
    deps = stack.container.deps
    for round_ in range(1, rounds + 1):
        await run_scheduled(stack.container)
        if not await unsent(stack.settings.database_url):
            return round_
        await dispatch_all(replace(deps, clock=Later(timedelta(minutes=11 * round_))))
        if not await unsent(stack.settings.database_url):
            return round_
    left = await unsent(stack.settings.database_url)
    raise AssertionError(
        f"the outbox still holds {len(left)} unsent messages after {rounds} job rounds: "
        + "; ".join(f"{r['kind']} {r['dedupe_key']} ({r.get('last_error')})" for r in left[:10])
    )
