"""Run an ASGI app with uvicorn in a background thread on a free loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from typing import Self

import uvicorn
from starlette.types import ASGIApp

from infra.local.razorpay_sandbox.app import create_sandbox_app
from infra.local.razorpay_sandbox.config import SandboxConfig
from infra.local.razorpay_sandbox.runtime import Sandbox


class ThreadedServer:
    """``start()`` answers the base URL once the server accepts connections; ``stop()``."""

    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, *, timeout: float = 10.0) -> str:
        if self._thread is not None:
            return self.base_url
        # proto=IPPROTO_TCP makes asyncio set TCP_NODELAY on accepted connections; without it
        # every response waits ~40 ms on Nagle + delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._socket = sock
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            http="h11",
            ws="none",
            loop="asyncio",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server on {self.base_url} did not start")
            time.sleep(0.005)
        return self.base_url

    def _run(self) -> None:
        assert self._server is not None and self._socket is not None
        with asyncio.Runner() as runner:  # closing it cancels what is left on the loop
            self.loop = runner.get_loop()
            runner.run(self._server.serve(sockets=[self._socket]))

    def before_stop(self) -> None:
        """Hook run on the server's loop before shutting down (e.g. to free hung requests)."""

    def stop(self, *, timeout: float = 10.0) -> None:
        if self._server is not None:
            if self.loop is not None and not self.loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    self.loop.call_soon_threadsafe(self.before_stop)
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SandboxServer(ThreadedServer):
    """The Razorpay sandbox on a free loopback port.

    Example::

        server = SandboxServer(config=SandboxConfig(time_scale=0.001))
        base_url = server.start()   # razorpay.Client(auth=..., base_url=base_url)
        ...
        server.stop()
    """

    def __init__(
        self, *, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or SandboxConfig()
        app = create_sandbox_app(config=self.config)
        super().__init__(app, host=host, port=port)
        self.sandbox: Sandbox = app.state.sandbox

    def before_stop(self) -> None:
        self.sandbox.abort_sleepers()
