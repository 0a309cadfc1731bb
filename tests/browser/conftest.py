"""The storefront in a real browser: the local stack (``python -m infra.local.devstack``, as
``make run`` starts it) as a subprocess on free ports with its state in a temporary directory
(SQLite there), and Debian's Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.support.services import free_port, port_answers

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def devstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The running local stack's stack.json (URLs, Cognito pool, demo users, Razorpay)."""
    state = tmp_path_factory.mktemp("devstack")
    api_port, aws_port, rzp_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    log_path = state / "devstack.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra.local.devstack",
            "--port",
            str(api_port),
            "--aws-port",
            str(aws_port),
            "--razorpay-port",
            str(rzp_port),
            "--state-dir",
            str(state),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        stack_file = state / "stack.json"
        deadline = time.monotonic() + 60
        while not (stack_file.exists() and port_answers("127.0.0.1", api_port)):
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the local stack did not come up in 60 s"
            time.sleep(0.2)
        stack: dict[str, Any] = json.loads(stack_file.read_text())
        yield stack
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make browser)")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
    yield browser
    browser.close()
