"""Run an ASGI app with uvicorn in a background thread on a free loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any, Self

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from infra.local.razorpay_sandbox.app import create_sandbox_app
from infra.local.razorpay_sandbox.config import SandboxConfig
from infra.local.razorpay_sandbox.runtime import Sandbox


class ThreadLog(logging.FileHandler):
    """On the root logger: every line logged on one thread (whatever its logger), into a file."""

    def __init__(self, path: Path, *, thread_name: str) -> None:
        super().__init__(path, encoding="utf-8")
        self.thread_name = thread_name
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        self.addFilter(self.owns)

    def owns(self, record: logging.LogRecord) -> bool:
        return record.threadName == self.thread_name


ACCESS_LOGGER = f"{__name__}.access"


class _OwnAccessLog(H11Protocol):
    """uvicorn's h11 protocol, writing its access lines to :data:`ACCESS_LOGGER`: uvicorn's
    own access logger is shared by every server of the process, and any one of them may turn
    it off for all (``access_log=False``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access_logger = logging.getLogger(ACCESS_LOGGER)
        self.access_log = True


class ThreadedServer:
    """``start()`` answers the base URL once the server accepts connections; ``stop()``.

    Without ``log`` the server logs only its warnings, and no access lines. With ``log``,
    everything logged on its thread (uvicorn's access lines and messages, the app's own lines)
    goes to that file: other handlers of the process leave those lines out with :meth:`owns`
    (uvicorn's loggers are the process's, shared with any other server in it).
    """

    def __init__(
        self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, log: Path | None = None
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.log = log
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._log_handler: ThreadLog | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def owns(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` was logged on this server's thread (and so went to ``log``)."""
        return self._log_handler is not None and self._log_handler.owns(record)

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
        name = f"uvicorn-{self.port}"
        logs: dict[str, Any] = {"log_level": "warning", "access_log": False, "http": "h11"}
        if self.log is not None:
            # uvicorn's logging left as the process has it (its access logger may be switched
            # off there: this server's access lines have a logger of their own); its lines
            # reach the root logger, where this thread's go to the file
            logs = {"log_config": None, "log_level": None, "http": _OwnAccessLog}
            self._log_handler = ThreadLog(self.log, thread_name=name)
            logging.getLogger().addHandler(self._log_handler)
        config = uvicorn.Config(
            self.app,
            lifespan="on",
            ws="none",
            loop="asyncio",
            timeout_graceful_shutdown=2,
            **logs,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
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
        if self._log_handler is not None:
            logging.getLogger().removeHandler(self._log_handler)
            self._log_handler.close()
        self._server = self._thread = self._socket = self._log_handler = None

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
        self,
        *,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log: Path | None = None,
    ) -> None:
        self.config = config or SandboxConfig()
        app = create_sandbox_app(config=self.config)
        super().__init__(app, host=host, port=port, log=log)
        self.sandbox: Sandbox = app.state.sandbox

    def before_stop(self) -> None:
        self.sandbox.abort_sleepers()
