"""The local stack (``python -m infra.local.devstack``, what ``make run`` starts) as a
subprocess for tests: on free ports (the same ones again for a restart), with its state in a
directory of the test's, its terminal output in a log file there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from infra.local.cognito import sign_in
from tests.support.services import free_port, port_answers

ROOT = Path(__file__).resolve().parents[2]
STARTED = "Ctrl-C stops"  # the banner's last line: everything answers


def tokens_of(stack: dict[str, Any], username: str, password: str | None = None) -> dict[str, Any]:
    """A user of the running stack signed in as a frontend would (USER_PASSWORD_AUTH against
    its emulator): Cognito's ``AuthenticationResult`` (``AccessToken``, ``IdToken``, …). The
    password is the demo user's in stack.json unless given."""
    if password is None:
        password = next(u["password"] for u in stack["users"] if u["username"] == username)
    result: dict[str, Any] = sign_in(
        endpoint_url=stack["aws_endpoint_url"],
        region=stack["aws_region"],
        client_id=stack["cognito"]["client_id"],
        username=username,
        password=password,
    )
    return result


class LocalStack:
    """``start()`` waits for the banner; ``stop()`` is Ctrl-C (SIGINT) and answers the exit
    code. ``output`` is the terminal's text of this start only."""

    def __init__(
        self,
        state_dir: Path,
        *,
        ports: tuple[int, int, int] | None = None,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.api_port, self.aws_port, self.razorpay_port = ports or (
            free_port(),
            free_port(),
            free_port(),
        )
        self.args = args
        base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        self.env = base | (env or {})
        self.log_path = state_dir / "devstack.log"
        self._offset = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def ports(self) -> tuple[int, int, int]:
        return self.api_port, self.aws_port, self.razorpay_port

    @property
    def output(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[self._offset :].decode(errors="replace")

    @property
    def stack(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads((self.state_dir / "stack.json").read_text())
        return found

    def start(self, *, timeout: float = 90.0) -> LocalStack:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        command = [sys.executable, "-m", "infra.local.devstack", *self._port_args(), *self.args]
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while not (STARTED in self.output and port_answers("127.0.0.1", self.api_port)):
            if self._proc.poll() is not None:
                raise AssertionError(f"the local stack exited:\n{self.output[-4000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"no local stack in {timeout:.0f} s:\n{self.output[-4000:]}")
            time.sleep(0.2)
        return self

    def stop(self, *, timeout: float = 30.0) -> int:
        proc, self._proc = self._proc, None
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _port_args(self) -> list[str]:
        return [
            "--port",
            str(self.api_port),
            "--aws-port",
            str(self.aws_port),
            "--razorpay-port",
            str(self.razorpay_port),
            "--state-dir",
            str(self.state_dir),
        ]
