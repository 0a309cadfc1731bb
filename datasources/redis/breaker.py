"""Redis that may be down: after a failure it is left alone for ``retry_after`` seconds (a dead
cache costs one timeout, not one per request), and the outage is logged once, when it starts."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from redis.exceptions import RedisError

CACHE_ERRORS = (RedisError, OSError, TimeoutError)


class Breaker:
    def __init__(
        self,
        *,
        what: str,
        logger: logging.Logger,
        retry_after: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._what = what
        self._logger = logger
        self._retry_after = retry_after
        self._monotonic = monotonic
        self._skip_until = 0.0
        self._down = False

    def usable(self) -> bool:
        return self._monotonic() >= self._skip_until

    def failed(self, exc: BaseException, doing: str) -> None:
        self._skip_until = self._monotonic() + self._retry_after
        if not self._down:
            self._down = True
            self._logger.warning(
                "%s unavailable while %s, going on without it: %s: %s",
                self._what,
                doing,
                type(exc).__name__,
                exc,
            )

    def succeeded(self) -> None:
        if self._down:
            self._down = False
            self._logger.info("%s is back", self._what)
