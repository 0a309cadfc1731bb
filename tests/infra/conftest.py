"""Fixtures for the Razorpay sandbox suite: one sandbox and one webhook receiver per session.

Both run with uvicorn in background threads on free loopback ports; every test starts from a
reset sandbox whose webhooks point at a cleared receiver.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import razorpay
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from infra.local.razorpay_sandbox import SandboxConfig, SandboxServer, ThreadedServer
from infra.local.razorpay_sandbox.control_client import SandboxControl

KEY_ID = "rzp_test_Ab12Cd34Ef56Gh"
KEY_SECRET = "sandbox-test-key-secret"
WEBHOOK_SECRET = "sandbox-test-webhook-secret"
SDK_TIMEOUT = 5


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    form: dict[str, str]


@dataclass
class Receiver:
    """A merchant endpoint: records every request; answers from ``plan`` then 200."""

    base_url: str = ""
    requests: list[Received] = field(default_factory=list)
    plan: list[tuple[int, float]] = field(default_factory=list)  # (status, delay seconds)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/webhooks"

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
            self.plan.clear()

    def respond(self, *answers: tuple[int, float]) -> None:
        with self.lock:
            self.plan.extend(answers)

    def received(self, path: str = "/webhooks") -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        form: dict[str, str] = {}
        if request.headers.get("content-type", "").startswith("application/x-www-form"):
            form = {k: str(v) for k, v in (await request.form()).items()}
        with self.lock:
            self.requests.append(
                Received(request.url.path, dict(request.headers), body, form)
            )
            status, delay = self.plan.pop(0) if self.plan else (200, 0.0)
        if delay:
            await asyncio.sleep(delay)
        return PlainTextResponse("ok", status_code=status)


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    recorder = Receiver()
    app = Starlette(
        routes=[
            Route("/webhooks", recorder.handle, methods=["POST"]),
            Route("/callback", recorder.handle, methods=["POST"]),
            Route("/cancel", recorder.handle, methods=["GET"]),
        ]
    )
    server = ThreadedServer(app)
    recorder.base_url = server.start()
    yield recorder
    server.stop()


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    config = SandboxConfig(
        key_id=KEY_ID,
        key_secret=KEY_SECRET,
        webhook_secret=WEBHOOK_SECRET,
        time_scale=0.001,
        webhook_timeout=2.0,
        refund_processing_delay=5.0,
    )
    server = SandboxServer(config=config)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def control(sandbox_server: SandboxServer, receiver: Receiver) -> Iterator[SandboxControl]:
    """Test control, on a freshly reset sandbox whose webhooks go to the cleared receiver."""
    with SandboxControl(base_url=sandbox_server.base_url) as client:
        client.reset()
        receiver.clear()
        client.configure(webhook_url=receiver.webhook_url)
        yield client


@pytest.fixture
def rzp(sandbox_server: SandboxServer, control: SandboxControl) -> Iterator[razorpay.Client]:
    client = razorpay.Client(auth=(KEY_ID, KEY_SECRET), base_url=sandbox_server.base_url)
    yield client
    client.session.close()


@pytest.fixture
def base_url(sandbox_server: SandboxServer) -> str:
    return sandbox_server.base_url
