"""Process-scoped aiobotocore clients, shared by the DynamoDB and SNS adapters.

:class:`AwsClients` creates one client per service on first use (never at import, never per
request) and closes them all in :meth:`AwsClients.aclose`. ``endpoint_url`` points every client
at the local emulator; None means real AWS. Adapters depend on the small :class:`ClientFactory`
protocol, so a test can hand them anything with an async ``client(service)``.

aiobotocore clients belong to the event loop that created them: use one ``AwsClients`` per
loop (one per process with Mangum's single loop, one per test session with pytest-asyncio's
session loop).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from typing import Any, Protocol

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session

logger = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_READ_TIMEOUT = 5.0
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_POOL_SIZE = 50


class ClientFactory(Protocol):
    async def client(self, service: str) -> Any:
        """A ready aiobotocore client for ``service`` ("dynamodb", "sns", …)."""
        ...


def default_config(
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    max_pool_connections: int = DEFAULT_POOL_SIZE,
) -> AioConfig:
    """Bounded timeouts (Lambda has a deadline) and botocore's standard retry mode."""
    return AioConfig(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        max_pool_connections=max_pool_connections,
    )


def _log_failed_attempt(
    *,
    response: Any,
    attempts: int,
    caught_exception: Exception | None,
    operation: Any = None,
    **_: Any,
) -> None:
    """``needs-retry`` hook: say why an attempt failed (botocore may send it again: for a
    publish whose first attempt reached the service, the message goes out twice)."""
    if caught_exception is not None:
        cause = f"{type(caught_exception).__name__}: {caught_exception}"
    elif response is not None and response[0].status_code >= 500:
        error = response[1].get("Error", {}) if isinstance(response[1], dict) else {}
        cause = f"HTTP {response[0].status_code} {error.get('Code', '')}".strip()
    else:
        return None
    name = getattr(operation, "name", "?")
    logger.warning("aws %s attempt %d failed: %s", name, attempts, cause)
    return None


class AwsClients:
    """One aiobotocore session and, lazily, one client per service (aioboto3 would add
    nothing here but its resource layer, which nothing uses)."""

    def __init__(
        self,
        *,
        region: str,
        endpoint_url: str | None = None,
        session: AioSession | None = None,
        config: AioConfig | None = None,
    ) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self._session = session
        self._config = config if config is not None else default_config()
        self._clients: dict[str, Any] = {}
        self._stack: AsyncExitStack | None = None
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def client(self, service: str) -> Any:
        existing = self._clients.get(service)
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:
            raise RuntimeError("AwsClients is bound to another event loop; make one per loop")
        if existing is not None:
            return existing
        self._loop = loop
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            existing = self._clients.get(service)
            if existing is not None:
                return existing
            if self._session is None:
                self._session = get_session()
            if self._stack is None:
                self._stack = AsyncExitStack()
            created = await self._stack.enter_async_context(
                self._session.create_client(
                    service,
                    region_name=self.region,
                    endpoint_url=self.endpoint_url,
                    config=self._config,
                )
            )
            created.meta.events.register(f"needs-retry.{service}", _log_failed_attempt)
            self._clients[service] = created
            return created

    async def aclose(self) -> None:
        """Close every client created so far; the factory may be used again afterwards."""
        stack, self._stack = self._stack, None
        self._clients.clear()
        self._loop = None
        if stack is not None:
            await stack.aclose()
