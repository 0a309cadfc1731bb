"""Scheduled work: what EventBridge runs on Lambda every minute (``rate(1 minute)`` in
infra/aws/template.yaml) and the local stack runs in the background. Each job is idempotent,
safe to run concurrently with itself, has its own time budget, and one failing never stops the
others: expiry releases stock even when Razorpay cannot be reached for reconciliation. Each run
ends with the outbox's two gauges: ``OutboxBacklog`` (messages not sent and not parked, due or
waiting for a retry) and ``OutboxParked`` (parked messages)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from app.container import Container
from resolvers import metrics
from resolvers.deps import Deps
from resolvers.outbox import dispatch_all
from resolvers.payments import expire_due
from resolvers.reconcile import reconcile

logger = logging.getLogger(__name__)

# seconds each job may take; together well inside the Lambda's 29 s
BUDGETS = {"reconciled": 12.0, "expired": 6.0, "published": 6.0}
GAUGES_BUDGET = 2.0


async def _published(deps: Deps) -> int:
    # stop starting messages a second before the budget's hard stop: a notification is never
    # cut off half-sent (that could send it twice)
    return (await dispatch_all(deps, budget=BUDGETS["published"] - 1.0)).sent


async def _reconciled(deps: Deps) -> int:
    # no session started in the budget's last 2 s (its Razorpay reads are cut off safely at
    # the hard stop; its notifications are never started after the soft one)
    return await reconcile(deps, budget=BUDGETS["reconciled"] - 2.0)


JOBS: dict[str, Callable[[Deps], Awaitable[int]]] = {
    # reconcile first: money Razorpay took must win over the 30-minute clock
    "reconciled": _reconciled,
    "expired": expire_due,
    "published": _published,
}


async def run_scheduled(container: Container) -> dict[str, int]:
    try:
        await container.refresh_secrets()
    except Exception:  # SecretsNotReady or a bug: no job can talk to Razorpay without its keys
        logger.exception("secrets not ready; the jobs wait for the next run")
        return {}
    deps = container.deps
    results: dict[str, int] = {}
    for name, job in JOBS.items():
        try:
            results[name] = await asyncio.wait_for(job(deps), timeout=BUDGETS[name])
        except TimeoutError:
            logger.warning(
                "job %s ran out of its %s s budget; the rest waits for next time",
                name,
                BUDGETS[name],
            )
            results[name] = -1
        except Exception:
            logger.exception("job %s failed; the others still run", name)
            results[name] = -1
    if any(results.values()):
        logger.info("scheduled jobs", extra={"results": results})
    await _outbox_gauges(deps)
    return results


async def _outbox_gauges(deps: Deps) -> None:
    try:
        async with asyncio.timeout(GAUGES_BUDGET):
            backlog = await deps.outbox.pending_count()
            parked = await deps.outbox.parked_count()
    except Exception:  # a gauge missing for a minute is no reason to fail the run
        logger.warning("outbox gauges not measured", exc_info=True)
        return
    metrics.record(metrics.OUTBOX_BACKLOG, value=backlog)
    metrics.record(metrics.OUTBOX_PARKED, value=parked)
