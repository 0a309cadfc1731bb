"""Scheduled work: what EventBridge runs on Lambda every minute and the local stack runs in
the background. Each job is idempotent and safe to run concurrently with itself."""

from __future__ import annotations

import logging

from app.container import Container
from resolvers.payments import expire_due

logger = logging.getLogger(__name__)


async def run_scheduled(container: Container) -> dict[str, int]:
    deps = container.deps
    results = {"expired": await expire_due(deps)}
    if any(results.values()):
        logger.info("scheduled jobs", extra={"results": results})
    return results
