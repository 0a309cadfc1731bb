"""``create_sandbox_app``: the Starlette app serving the API, Checkout and the control API."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware

from infra.local.razorpay_sandbox.api import api_routes, http_error
from infra.local.razorpay_sandbox.checkout import checkout_routes
from infra.local.razorpay_sandbox.config import SandboxConfig
from infra.local.razorpay_sandbox.control import control_routes
from infra.local.razorpay_sandbox.faults import FaultBook, FaultMiddleware
from infra.local.razorpay_sandbox.runtime import Sandbox


def create_sandbox_app(*, config: SandboxConfig) -> Starlette:
    """A fresh sandbox (its own in-memory state) at ``app.state.sandbox``."""
    sandbox = Sandbox(config=config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await sandbox.close()

    def book() -> FaultBook:
        return sandbox.faults

    app = Starlette(
        routes=[*checkout_routes(), *api_routes(), *control_routes()],
        middleware=[Middleware(FaultMiddleware, book=book, sleep=sandbox.sleep)],
        exception_handlers={404: http_error, 405: http_error},
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    return app
