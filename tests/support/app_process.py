"""The app as a real process, for tests that kill it: uvicorn serving ``app.main:create_app`` on
a loopback port, configured only through the environment (as in production), plus a job run
(``app.jobs.run_scheduled``) as a process of its own, and a TCP proxy that can hold what a
process sends to the AWS emulator.

Settings go in as environment variables made from a :class:`Settings` of the test's own (its
database clone, table, topics, the sandbox), so the process and the test see the same stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from pydantic import SecretStr

from app.settings import Settings
from tests.support.services import free_port, port_answers

ROOT = Path(__file__).resolve().parents[2]

JOB_RUN = """
import asyncio
from app.container import get_container
from app.jobs import run_scheduled

async def main() -> None:
    container = get_container()
    try:
        print(await run_scheduled(container), flush=True)
    finally:
        await container.aclose()

asyncio.run(main())
"""


def app_env(settings: Settings, **extra: object) -> dict[str, str]:
    """The process environment that makes ``Settings()`` equal ``settings`` (plus ``extra``,
    e.g. settings the app may not know yet: unknown names are ignored by Settings)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k.upper() not in {name.upper() for name in Settings.model_fields}
    }
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[name.upper()] = str(value)
    for name, value in extra.items():
        env[name.upper()] = str(value)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class AppProcess:
    """``uvicorn app.main:create_app --factory`` on a free loopback port."""

    def __init__(self, env: dict[str, str], *, log: Path) -> None:
        self.env = env
        self.port = free_port()
        self.log_path = log
        self._log: IO[bytes] | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 30.0) -> AppProcess:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while not port_answers("127.0.0.1", self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited at start-up:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app did not listen within {timeout} s:\n{self.log()}")
            time.sleep(0.05)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no cleanup, no lifespan shutdown, open sockets reset by the kernel."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._close_log()

    def stop(self) -> None:
        """A clean stop (SIGTERM, lifespan shutdown); SIGKILL if it hangs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class JobProcess:
    """One run of the scheduled jobs (what EventBridge starts every minute) as a process."""

    def __init__(self, env: dict[str, str], *, log: Path) -> None:
        self.log_path = log
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", JOB_RUN],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def running(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL if it still runs; safe to call again."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        if not self._log.closed:
            self._log.close()


class HoldingProxy:
    """A TCP proxy on loopback in front of ``upstream`` (``http://host:port``). While
    ``delay`` is above 0, every chunk a client sends waits that long before it is forwarded; a
    chunk whose client went away meanwhile (killed) is dropped, never forwarded."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname is not None and parts.port is not None, upstream
        self._upstream = (parts.hostname, parts.port)
        self.delay = 0.0
        self.held = 0  # chunks that waited
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def start(self) -> HoldingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_r, up_w = await asyncio.open_connection(*self._upstream)
        except OSError:
            client_w.close()
            self._tasks.discard(task)
            return

        async def to_upstream() -> None:
            try:
                while data := await client_r.read(65536):
                    if self.delay > 0:
                        self.held += 1
                        await asyncio.sleep(self.delay)
                        if client_r.at_eof() or client_r.exception() is not None:
                            return  # the client died while its request was held
                    up_w.write(data)
                    await up_w.drain()
            finally:
                up_w.close()

        async def to_client() -> None:
            try:
                while data := await up_r.read(65536):
                    client_w.write(data)
                    await client_w.drain()
            finally:
                client_w.close()

        try:
            await asyncio.gather(to_upstream(), to_client(), return_exceptions=True)
        finally:
            self._tasks.discard(task)
