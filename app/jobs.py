"""Scheduled work: what EventBridge runs on Lambda every minute and the local stack runs in
the background. Each job is idempotent and safe to run concurrently with itself."""

from __future__ import annotations

import logging

from app.container import Container
from resolvers.outbox import dispatch_all
from resolvers.payments import expire_due
from resolvers.reconcile import reconcile

logger = logging.getLogger(__name__)


async def run_scheduled(container: Container) -> dict[str, int]:
    deps = container.deps
    # reconcile before expiring: money Razorpay took must win over the 30-minute clock
    results = {"reconciled": await reconcile(deps)}
    results["expired"] = await expire_due(deps)
    dispatched = await dispatch_all(deps)
    results |= {"published": dispatched.sent, "publish_failures": dispatched.failed}
    if any(results.values()):
        logger.info("scheduled jobs", extra={"results": results})
    return results
