"""Test support: a merchant endpoint that records what the sandbox (or a browser) sends it.

``WebhookReceiver().start()`` serves, on a free loopback port, ``POST /webhooks`` (webhook
deliveries), ``POST /callback`` (Checkout's form posts) and ``GET /cancel``; it records every
request and answers from a programmable plan of ``(status, delay)`` pairs, then 200.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Self

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from infra.local.razorpay_sandbox.server import ThreadedServer


@dataclass(frozen=True, kw_only=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    form: dict[str, str]


class WebhookReceiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Received] = []
        self._plan: list[tuple[int, float]] = []
        app = Starlette(
            routes=[
                Route("/webhooks", self._handle, methods=["POST"]),
                Route("/callback", self._handle, methods=["POST"]),
                Route("/cancel", self._handle, methods=["GET"]),
            ]
        )
        self._server = ThreadedServer(app)

    @property
    def base_url(self) -> str:
        return self._server.base_url

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/webhooks"

    @property
    def callback_url(self) -> str:
        return f"{self.base_url}/callback"

    @property
    def cancel_url(self) -> str:
        return f"{self.base_url}/cancel"

    def start(self) -> str:
        return self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._plan.clear()

    def respond(self, *answers: tuple[int, float]) -> None:
        """Answer the next requests with these ``(status, delay seconds)``, then 200."""
        with self._lock:
            self._plan.extend(answers)

    def received(self, path: str = "/webhooks") -> list[Received]:
        with self._lock:
            return [r for r in self._requests if r.path == path]

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        form: dict[str, str] = {}
        if request.headers.get("content-type", "").startswith("application/x-www-form"):
            form = {k: str(v) for k, v in (await request.form()).items()}
        received = Received(
            path=request.url.path, headers=dict(request.headers), body=body, form=form
        )
        with self._lock:
            self._requests.append(received)
            status, delay = self._plan.pop(0) if self._plan else (200, 0.0)
        if delay:
            await asyncio.sleep(delay)
        return PlainTextResponse("ok", status_code=status)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
